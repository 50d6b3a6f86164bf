"""Tests for benchmarks/recompute.py: both modes train the same model."""

import numpy as np
import pytest
import tensorflow as tf

from benchmarks import recompute

_TINY = dict(
  memory_size=8,
  word_size=4,
  num_read_heads=2,
  num_write_heads=1,
  hidden_size=16,
  batch_size=2,
  # Two chunks of ceil(sqrt(4)) = 2 steps, no tail: the fewest ops to
  # compile that still recompute across a chunk boundary.
  length=4,
)


@pytest.mark.slow
class WorkerTest(tf.test.TestCase):
  def test_full_and_recompute_take_the_same_steps(self):
    # In a graph: recomputation under XLA is tested in tests/model_test.py
    # and tests/trainer_test.py; this is the worker's own bookkeeping.
    full = recompute.worker(_TINY, 'full', steps=2, jit_compile=False)
    chunked = recompute.worker(_TINY, 'recompute', steps=2, jit_compile=False)
    # The losses before each of three updates: equal only if the gradients
    # of every update were.
    self.assertLen(full['losses'], 3)
    self.assertAllClose(full['losses'], chunked['losses'], rtol=1e-5)
    self.assertGreater(np.ptp(full['losses']), 0)
    for point in (full, chunked):
      self.assertGreater(point['peak_rss_mib'], 0)
      self.assertLessEqual(point['p10_ms'], point['median_ms'])


if __name__ == '__main__':
  tf.test.main()
