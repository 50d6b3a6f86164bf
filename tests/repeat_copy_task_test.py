"""Tests for dnc.tasks.repeat_copy.task: the validation records of train.py."""

import numpy as np
import tensorflow as tf

from dnc.tasks.repeat_copy import data as repeat_copy
from dnc.tasks.repeat_copy import task as task_lib

_CONFIG = dict(task_lib.DEFAULTS, batch_size=3, max_length=3)


class ValidateTest(tf.test.TestCase):
  def test_fixed_batches_scored_against_numpy(self):
    # The held-out batches, drawn as the task says it draws them.
    held_out = repeat_copy.RepeatCopy(
      **{key: _CONFIG[key] for key in task_lib.TASK_KEYS},
      seed=task_lib.VALIDATION_SEED,
      pad_to_max_length=True,
    )
    batches = [held_out() for _ in range(task_lib.VALIDATION_BATCHES)]
    # Logits of +1 on the first bit, -1 elsewhere: cross-entropy
    # log(1 + e^-x) where the target is 1, log(1 + e^x) where it is 0.
    width = _CONFIG['num_bits'] + 1
    sign = np.where(np.arange(width) == 0, 1.0, -1.0)
    losses, wrong, bits = [], 0.0, 0.0
    for batch in batches:
      target, mask = batch.target.numpy(), batch.mask.numpy()[..., None]
      logits = np.broadcast_to(sign, target.shape)
      xent = np.log1p(np.exp(-logits)) * target + np.log1p(np.exp(logits)) * (
        1 - target
      )
      losses.append(np.sum(xent * mask) / target.shape[1])
      wrong += np.sum(((logits > 0) != (target > 0.5)) * mask)
      bits += np.sum(mask * np.ones_like(target))

    def logits_of(observations):
      shape = [*np.shape(observations)[:2], width]
      return tf.broadcast_to(tf.constant(sign, tf.float32), shape)

    records = [
      task_lib.RepeatCopyTask(_CONFIG, seed=seed).validate(logits_of, 5)
      for seed in (1, 2)
    ]
    # Every run of the config scores the same batches.
    self.assertEqual(records[0], records[1])
    self.assertAllClose(records[0]['score'], np.mean(losses), rtol=1e-5)
    self.assertAllClose(records[0]['bit_error_rate'], wrong / bits)
    self.assertGreater(wrong, 0)
    self.assertIn('validation loss', records[0]['summary'])


if __name__ == '__main__':
  tf.test.main()
