"""Tests for dnc.trainer: the training step with and without recomputation."""

from absl.testing import parameterized
import tensorflow as tf

from dnc import repeat_copy_task
from dnc import trainer

# Repeat-copy sequences of 3 * (2 + 1) + 3 = 12 steps.
_CONFIG = dict(
  hidden_size=16,
  memory_size=8,
  word_size=4,
  batch_size=3,
  min_length=3,
  max_length=3,
  min_repeats=2,
  max_repeats=2,
  learning_rate=1e-2,
)


class RecomputeTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.parameters(('function', 5), ('xla', -1))
  def test_same_steps_as_full_backpropagation(self, mode, chunk_length):
    runs = []
    for recompute_chunk_length in (0, chunk_length):
      config = dict(_CONFIG, recompute_chunk_length=recompute_chunk_length)
      train = repeat_copy_task.make_trainer(config, seed=3, compile_mode=mode)
      losses = [float(train.run_step()[0]) for _ in range(3)]
      runs.append((losses, [v.numpy() for v in train.core.trainable_variables]))
    (full_losses, full_weights), (losses, weights) = runs
    self.assertAllClose(full_losses, losses, rtol=1e-5)
    self.assertNotAllClose(full_losses[0], full_losses[-1])  # It trained.
    for expected, value in zip(full_weights, weights, strict=True):
      self.assertAllClose(expected, value, rtol=1e-4, atol=1e-6)

  @parameterized.parameters(-2, 1.5, '3')
  def test_bad_chunk_length(self, chunk_length):
    task = repeat_copy_task.RepeatCopyTask(repeat_copy_task.DEFAULTS)
    with self.assertRaisesRegex(ValueError, '`recompute_chunk_length`'):
      trainer.Trainer(
        task,
        core=None,
        learning_rate=1e-4,
        optimizer_epsilon=1e-10,
        max_grad_norm=50,
        recompute_chunk_length=chunk_length,
      )


if __name__ == '__main__':
  tf.test.main()
