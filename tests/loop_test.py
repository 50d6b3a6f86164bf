"""Tests of dnc.train.loop's pieces that run without a script (train_test.py
and train_babi_test.py run the loop end to end)."""

import numpy as np
import sonnet as snt
import tensorflow as tf

from dnc import config as config_lib
from dnc import internals
from dnc.tasks.babi import task as babi_task
from dnc.tasks.babi import vocabulary
from dnc.train import loop

_MODEL = dict(
  hidden_size=6, memory_size=4, word_size=3, num_read_heads=1,
  num_write_heads=1, clip_value=20,
)  # fmt: skip


class MakeInspectTest(tf.test.TestCase):
  def test_internals_of_a_model_with_embeddings_and_a_backward_lstm(self):
    words = ['<pad>', '-', 'mary', 'went', 'home', '.', '?']
    task = babi_task.BabiTask(vocabulary.Vocabulary(words), [1], 1)
    tf.random.set_seed(0)
    core = config_lib.make_core(
      config_lib.ModelConfig.from_dict(
        dict(_MODEL, embedding_size=4, backward_size=2)
      ),
      task.output_size,
      fast_kernels=False,
      vocabulary_size=task.vocabulary_size,
    )
    observations = np.array([[2], [3], [4], [5], [1]], np.int32)  # [T, 1]
    steps = loop.make_inspect(core, task, jit_compile=False)(observations)
    # The DNC's internals on what it reads: embedded words, b_t beside them.
    inspected = internals.WithInternals(core.core)
    (_, expected), _ = snt.dynamic_unroll(
      inspected, core.dnc_inputs(observations), inspected.initial_state(1)
    )
    self.assertCountEqual(steps, expected)
    for key, value in expected.items():
      self.assertAllClose(steps[key], value, atol=1e-6, msg=key)
    self.assertEqual(steps['write_weights'].shape[0], 5)
    self.assertGreater(np.abs(steps['write_weights']).max(), 1e-4)


if __name__ == '__main__':
  tf.test.main()
