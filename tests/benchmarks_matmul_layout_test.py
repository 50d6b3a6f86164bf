"""Tests for benchmarks/matmul_layout.py's compiled loops against numpy."""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from benchmarks import matmul_layout


class LoopTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.product(row_major=(False, True))
  def test_right_side_invariant_weights(self, row_major):
    rng = np.random.RandomState(30)
    weights = rng.randn(3, 5).astype(np.float32)  # Read as weights^T.
    others = rng.randn(4, 2, 5).astype(np.float32)
    loop = matmul_layout._loop(
      tf.constant(weights), tf.constant(others), 'right', row_major
    )
    expected = sum(others[t] @ weights.T for t in range(4)).sum()
    self.assertAllClose(loop(), expected, rtol=1e-5)

  @parameterized.product(row_major=(False, True))
  def test_left_side_per_step_operands(self, row_major):
    rng = np.random.RandomState(31)
    transposed = rng.randn(4, 2, 3, 5).astype(np.float32)
    others = rng.randn(4, 2, 3, 6).astype(np.float32)
    loop = matmul_layout._loop(
      tf.constant(transposed), tf.constant(others), 'left', row_major
    )
    expected = sum(
      np.swapaxes(transposed[t], -1, -2) @ others[t] for t in range(4)
    ).sum()
    self.assertAllClose(loop(), expected, rtol=1e-5)


if __name__ == '__main__':
  tf.test.main()
