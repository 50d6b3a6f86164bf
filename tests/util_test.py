"""Tests for dnc.util against numpy oracles."""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from dnc import util
from tests import oracles

_MODES = oracles.MODES
_in_mode = oracles.in_mode


def _np_prod_grad(x, axis):
  """d prod(x, axis) / dx: the product of the other factors, by a loop."""
  moved = np.moveaxis(x, axis, -1)
  grad = np.zeros_like(moved)
  for index in np.ndindex(moved.shape[:-1]):
    row = moved[index]
    for k in range(row.shape[0]):
      grad[index + (k,)] = np.prod(np.delete(row, k))
  return np.moveaxis(grad, -1, axis)


class BatchInvertPermutationTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.parameters(*_MODES)
  def test_matches_numpy(self, mode):
    rng = np.random.RandomState(0)
    batch_size, size = 4, 7
    perms = np.stack([rng.permutation(size) for _ in range(batch_size)])
    expected = np.zeros_like(perms)
    for b in range(batch_size):
      for i in range(size):
        expected[b, perms[b, i]] = i
    got = _in_mode(util.batch_invert_permutation, mode)(
      tf.constant(perms, tf.int32)
    )
    self.assertEqual(got.dtype, tf.int32)
    self.assertAllEqual(got, expected)

  def test_inverse_composes_to_identity(self):
    rng = np.random.RandomState(1)
    perms = np.stack([rng.permutation(40) for _ in range(3)]).astype(np.int32)
    inverse = util.batch_invert_permutation(perms).numpy()
    self.assertAllEqual(
      np.take_along_axis(perms, inverse, axis=1),
      np.tile(np.arange(40), (3, 1)),
    )


class BatchGatherTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.product(mode=_MODES, index_dtype=(tf.int32, tf.int64))
  def test_matches_numpy(self, mode, index_dtype):
    rng = np.random.RandomState(2)
    batch_size, size, num_indices = 3, 6, 8
    values = rng.randn(batch_size, size).astype(np.float32)
    # Repeated indices and a k different from n are allowed.
    indices = rng.randint(0, size, size=(batch_size, num_indices))
    expected = np.zeros((batch_size, num_indices), np.float32)
    for b in range(batch_size):
      for i in range(num_indices):
        expected[b, i] = values[b, indices[b, i]]
    got = _in_mode(util.batch_gather, mode)(
      tf.constant(values), tf.constant(indices, index_dtype)
    )
    self.assertAllEqual(got, expected)

  def test_gather_by_inverse_permutation_undoes_gather(self):
    rng = np.random.RandomState(3)
    values = rng.randn(2, 9)
    perms = np.stack([rng.permutation(9) for _ in range(2)]).astype(np.int32)
    permuted = util.batch_gather(values, perms)
    restored = util.batch_gather(permuted, util.batch_invert_permutation(perms))
    self.assertAllEqual(restored, values)

  def test_batch_mismatch_raises(self):
    with self.assertRaisesRegex(ValueError, 'indices'):
      util.batch_gather(tf.zeros([2, 4]), tf.zeros([3, 4], tf.int32))


class ScatterAddTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.product(mode=_MODES, index_dtype=(tf.int32, tf.float64))
  def test_matches_numpy_with_repeats(self, mode, index_dtype):
    rng = np.random.RandomState(4)
    size = 7
    indices = rng.randint(0, size, size=(2, 3, 5))
    indices[..., 4] = indices[..., 1]  # A repeat, whose values add up.
    values = rng.randn(2, 3, 5)
    expected = np.zeros((2, 3, size))
    for index in np.ndindex(*indices.shape):
      expected[index[:2] + (indices[index],)] += values[index]
    got = _in_mode(util.scatter_add, mode)(
      tf.constant(indices, index_dtype), tf.constant(values), size
    )
    self.assertAllClose(got, expected, atol=1e-12)


class OneHotTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.parameters((1, 0), (5, 0), (5, 3), (5, 4))
  def test_values(self, length, index):
    got = util.one_hot(length, index)
    expected = np.zeros(length)
    expected[index] = 1.0
    self.assertIsInstance(got, np.ndarray)
    self.assertEqual(got.dtype.kind, 'f')
    self.assertAllEqual(got, expected)

  @parameterized.parameters(5, -1)
  def test_bad_index_raises(self, index):
    with self.assertRaisesRegex(ValueError, 'index'):
      util.one_hot(5, index)


class ReduceProdTest(tf.test.TestCase, parameterized.TestCase):
  # Axes of size <= 32 are unrolled into multiplies; 40 goes through
  # tf.reduce_prod.
  @parameterized.product(
    shape_axis=(
      ((3, 4, 5), 0),
      ((3, 4, 5), 1),
      ((3, 4, 5), 2),
      ((3, 4, 5), -1),
      ((1, 6), 1),
      ((7, 1), 1),
      ((2, 40), 1),
      ((40, 3), 0),
      ((2, 33, 2), -2),
    ),
    mode=_MODES,
  )
  def test_values_match_numpy(self, shape_axis, mode):
    shape, axis = shape_axis
    rng = np.random.RandomState(4)
    # Factors near 1 keep a product of 40 of them well inside float range.
    x = rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1, 1], size=shape)
    got = _in_mode(lambda t: util.reduce_prod(t, axis), mode)(tf.constant(x))
    self.assertAllClose(got, np.prod(x, axis=axis), rtol=1e-12, atol=0)

  @parameterized.product(size=(5, 40), num_zeros=(0, 1, 2), mode=_MODES)
  def test_gradient_with_zero_factors(self, size, num_zeros, mode):
    rng = np.random.RandomState(5)
    x = rng.uniform(0.5, 1.5, size=(3, size))
    # Zeros at the start, at the end and at random places of the rows.
    x[0, :num_zeros] = 0.0
    x[1, size - num_zeros :] = 0.0
    x[2, rng.choice(size, num_zeros, replace=False)] = 0.0

    def grad(t):
      with tf.GradientTape() as tape:
        tape.watch(t)
        y = tf.reduce_sum(util.reduce_prod(t, 1))
      return tape.gradient(y, t)

    got = _in_mode(grad, mode)(tf.constant(x)).numpy()
    self.assertFalse(np.isnan(got).any())
    expected = _np_prod_grad(x, 1)
    self.assertAllClose(got, expected, rtol=1e-12, atol=0)
    if num_zeros == 1:  # Only the zero factor has a nonzero gradient.
      self.assertTrue((got[x == 0] != 0).all())
    if num_zeros == 2:
      self.assertAllEqual(got, np.zeros_like(x))

  def test_gradient_inner_axis(self):
    rng = np.random.RandomState(6)
    x = rng.uniform(0.5, 1.5, size=(2, 3, 4))
    x[1, 1, 2] = 0.0
    x = tf.constant(x)
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = tf.reduce_sum(util.reduce_prod(x, 1))
    self.assertAllClose(
      tape.gradient(y, x), _np_prod_grad(x.numpy(), 1), rtol=1e-12, atol=0
    )


class CheckTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.parameters(
    ([2, 3], [None, 3]),
    ([2, 3], [2, None]),
    ([2, 3, 4], [2, 3, 4]),
    ([], []),
  )
  def test_check_shape_accepts(self, shape, expected):
    util.check_shape(tf.zeros(shape), expected, 'arg')

  @parameterized.parameters(
    ([2, 3], [None, 4]),
    ([2, 3], [3, None]),
    ([2, 3], [None]),
    ([2, 3], [None, None, None]),
  )
  def test_check_shape_raises_with_name(self, shape, expected):
    with self.assertRaisesRegex(ValueError, 'my_arg'):
      util.check_shape(tf.zeros(shape), expected, 'my_arg')

  def test_check_shape_unknown_sizes_match(self):
    """A dimension unknown at trace time cannot be checked, so it passes."""

    @tf.function(input_signature=[tf.TensorSpec([None, 3])])
    def check(x):
      util.check_shape(x, [5, 3], 'x')
      return x

    self.assertAllEqual(check(tf.zeros([2, 3])), np.zeros([2, 3]))

  @parameterized.parameters(1, 7, np.int32(3), np.int64(2))
  def test_check_positive_int_accepts(self, value):
    util.check_positive_int(value, 'count')

  @parameterized.parameters(0, -3, np.int64(0))
  def test_check_positive_int_value_error(self, value):
    with self.assertRaisesRegex(ValueError, 'count'):
      util.check_positive_int(value, 'count')

  @parameterized.parameters(1.0, 2.5, '3', None, True)
  def test_check_positive_int_type_error(self, value):
    with self.assertRaisesRegex(TypeError, 'count'):
      util.check_positive_int(value, 'count')


class ZeroStateTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.parameters(3, 'tensor')
  def test_zeros_of_nested_shapes(self, batch_size):
    if batch_size == 'tensor':
      batch_size = tf.constant(3)
    state_size = (tf.TensorShape([2]), {'a': tf.TensorShape([4, 5])})
    state = util.zero_state(state_size, batch_size, tf.float64)
    self.assertAllEqual(state[0], np.zeros([3, 2]))
    self.assertAllEqual(state[1]['a'], np.zeros([3, 4, 5]))
    self.assertEqual(state[1]['a'].dtype, tf.float64)

  def test_bad_batch_size_raises(self):
    with self.assertRaisesRegex(ValueError, 'batch_size'):
      util.zero_state(tf.TensorShape([2]), 0, tf.float32)


if __name__ == '__main__':
  tf.test.main()
