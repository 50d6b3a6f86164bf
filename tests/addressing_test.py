"""Tests for dnc.addressing against numpy oracles of the paper's equations."""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from dnc import addressing
from dnc import kernels
from dnc import util
from tests import oracles

_MODES = oracles.MODES
_EPS = oracles.EPS
_in_mode = oracles.in_mode
_np_softplus = oracles.np_softplus
_np_softmax = oracles.np_softmax
_np_link = oracles.np_link
_np_precedence = oracles.np_precedence
_np_allocation = oracles.np_allocation
_np_write_allocation_weights = oracles.np_write_allocation_weights
_random_write_weights = oracles.random_write_weights
_random_usage_without_ties = oracles.random_usage_without_ties


def _np_cosine_weights(memory, keys, strengths):
  batch_size, num_heads, _ = keys.shape
  memory_size = memory.shape[1]
  similarity = np.zeros((batch_size, num_heads, memory_size))
  for b in range(batch_size):
    for h in range(num_heads):
      key = keys[b, h]
      key_norm = np.sqrt(np.sum(key * key) + _EPS)
      for i in range(memory_size):
        row = memory[b, i]
        row_norm = np.sqrt(np.sum(row * row) + _EPS)
        similarity[b, h, i] = np.dot(key, row) / (key_norm * row_norm + _EPS)
  return _np_softmax(similarity * _np_softplus(strengths)[..., None])


def _np_usage_after_write(prev_usage, write_weights):
  retained = np.ones_like(prev_usage)
  for i in range(write_weights.shape[1]):
    retained *= 1 - write_weights[:, i]
  return prev_usage + (1 - prev_usage) * (1 - retained)


def _np_usage_after_read(prev_usage, free_gate, read_weights):
  usage = prev_usage.copy()
  for j in range(read_weights.shape[1]):
    usage *= 1 - free_gate[:, j, None] * read_weights[:, j]
  return usage


_ALLOCATIONS = {
  'pairs': addressing.allocation,
  'kernel': kernels.allocation,
  'sort': addressing.sorted_allocation,
}


def _allocation(kind):
  """`addressing.allocation`, its kernel, or `sorted_allocation`."""
  return _ALLOCATIONS[kind]


class WeightedSoftmaxTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.product(
    mode=_MODES,
    op=(('softplus', tf.nn.softplus, _np_softplus), ('exp', tf.exp, np.exp)),
  )
  def test_matches_numpy(self, mode, op):
    _, tf_op, np_op = op
    rng = np.random.RandomState(0)
    activations = rng.randn(2, 3, 5)
    strengths = rng.randn(2, 3)
    got = _in_mode(lambda a, s: addressing.weighted_softmax(a, s, tf_op), mode)(
      tf.constant(activations), tf.constant(strengths)
    )
    expected = _np_softmax(activations * np_op(strengths)[..., None])
    self.assertAllClose(got, expected, rtol=1e-12, atol=1e-14)


class CosineWeightsTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.product(mode=_MODES, dtype=(np.float32, np.float64))
  def test_matches_numpy(self, mode, dtype):
    rng = np.random.RandomState(1)
    batch_size, num_heads, memory_size, word_size = 2, 3, 5, 4
    memory = rng.randn(batch_size, memory_size, word_size).astype(dtype)
    keys = rng.randn(batch_size, num_heads, word_size).astype(dtype)
    strengths = (3 * rng.randn(batch_size, num_heads)).astype(dtype)
    module = addressing.CosineWeights(num_heads, word_size)
    got = _in_mode(module, mode)(memory, keys, strengths)
    self.assertEqual(got.dtype, dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    self.assertAllClose(
      got,
      _np_cosine_weights(
        memory.astype(np.float64),
        keys.astype(np.float64),
        strengths.astype(np.float64),
      ),
      rtol=tol,
      atol=tol,
    )

  @parameterized.parameters(
    ('zero_memory',), ('zero_keys',), ('zero_both',), ('zero_row',)
  )
  def test_zero_vectors_give_finite_values_and_gradients(self, case):
    rng = np.random.RandomState(2)
    memory = rng.randn(2, 4, 3).astype(np.float32)
    keys = rng.randn(2, 2, 3).astype(np.float32)
    if case in ('zero_memory', 'zero_both'):
      memory[:] = 0
    if case in ('zero_keys', 'zero_both'):
      keys[:] = 0
    if case == 'zero_row':
      memory[:, 1] = 0
      keys[:, 0] = memory[:, 2]
    memory, keys = tf.constant(memory), tf.constant(keys)
    strengths = tf.constant(rng.randn(2, 2).astype(np.float32))
    module = addressing.CosineWeights(2, 3)
    with tf.GradientTape() as tape:
      tape.watch([memory, keys, strengths])
      weights = module(memory, keys, strengths)
      loss = tf.reduce_sum(weights * tf.range(4, dtype=tf.float32))
    grads = tape.gradient(loss, [memory, keys, strengths])
    self.assertTrue(np.isfinite(weights.numpy()).all())
    for grad in grads:
      self.assertIsNotNone(grad)
      self.assertTrue(np.isfinite(grad.numpy()).all())
    self.assertAllClose(
      weights,
      _np_cosine_weights(memory.numpy(), keys.numpy(), strengths.numpy()),
      atol=1e-6,
    )
    if case != 'zero_row':  # All similarities are 0: uniform weights.
      self.assertAllClose(weights, np.full([2, 2, 4], 0.25), atol=1e-6)

  def test_large_strength_selects_matching_row(self):
    rng = np.random.RandomState(3)
    batch_size, memory_size, word_size = 3, 6, 8
    memory = rng.randn(batch_size, memory_size, word_size)
    targets = np.array([[4, 0], [1, 1], [5, 2]])
    # Keys are scaled copies of the target rows: cosine ignores scale.
    keys = np.stack([memory[b, targets[b]] * 2.5 for b in range(batch_size)])
    module = addressing.CosineWeights(2, word_size)
    weights = module(memory, keys, np.full([batch_size, 2], 100.0)).numpy()
    self.assertAllEqual(weights.argmax(-1), targets)
    self.assertTrue((weights.max(-1) > 0.999).all())

  def test_wrong_key_shape_raises_with_name(self):
    module = addressing.CosineWeights(2, 3)
    with self.assertRaisesRegex(ValueError, 'keys'):
      module(tf.zeros([1, 4, 3]), tf.zeros([1, 3, 3]), tf.zeros([1, 2]))
    with self.assertRaisesRegex(ValueError, 'strengths'):
      module(tf.zeros([1, 4, 3]), tf.zeros([1, 2, 3]), tf.zeros([1, 3]))
    with self.assertRaisesRegex(ValueError, 'memory'):
      module(tf.zeros([1, 4, 2]), tf.zeros([1, 2, 3]), tf.zeros([1, 2]))


class MaskedCosineWeightsTest(tf.test.TestCase, parameterized.TestCase):
  """The masked lookup of Csordás and Schmidhuber (2019)."""

  def _arrays(self, seed, dtype=np.float64):
    rng = np.random.RandomState(seed)
    batch_size, num_heads, memory_size, word_size = 2, 3, 5, 4
    return (
      rng.randn(batch_size, memory_size, word_size).astype(dtype),
      rng.randn(batch_size, num_heads, word_size).astype(dtype),
      (3 * rng.randn(batch_size, num_heads)).astype(dtype),
      rng.uniform(size=(batch_size, num_heads, word_size)).astype(dtype),
    )

  @parameterized.product(mode=_MODES, dtype=(np.float32, np.float64))
  def test_matches_numpy(self, mode, dtype):
    memory, keys, strengths, masks = self._arrays(20, dtype)
    module = addressing.CosineWeights(3, 4)
    got = _in_mode(module, mode)(memory, keys, strengths, masks)
    self.assertEqual(got.dtype, dtype)
    expected = oracles.np_masked_cosine_weights(
      *(x.astype(np.float64) for x in (memory, keys, strengths, masks))
    )
    tol = 1e-5 if dtype == np.float32 else 1e-12
    self.assertAllClose(got, expected, rtol=tol, atol=tol)
    # The masks matter: the plain lookup differs.
    plain = _np_cosine_weights(
      *(x.astype(np.float64) for x in (memory, keys, strengths))
    )
    self.assertGreater(np.abs(expected - plain).max(), 1e-2)

  @parameterized.parameters(*_MODES)
  def test_masks_of_ones_give_the_plain_lookup(self, mode):
    memory, keys, strengths, _ = self._arrays(21)
    module = addressing.CosineWeights(3, 4)
    got = _in_mode(module, mode)(memory, keys, strengths, np.ones_like(keys))
    self.assertAllClose(got, module(memory, keys, strengths), rtol=1e-12)

  def test_masked_out_part_of_the_words_is_ignored(self):
    # The key half of each word (masked in) finds the row whose key half
    # matches, whatever the value halves (masked out) hold.
    memory, keys, strengths, _ = self._arrays(22)
    masks = np.zeros_like(keys)
    masks[..., :2] = 1
    keys[:, :, :2] = memory[:, [3, 0, 3], :2]
    module = addressing.CosineWeights(3, 4)
    weights = module(memory, keys, np.full_like(strengths, 200.0), masks)
    self.assertAllEqual(np.argmax(weights, -1), [[3, 0, 3], [3, 0, 3]])
    other_values = memory.copy()
    other_values[..., 2:] = 10 * np.random.RandomState(23).randn(2, 5, 2)
    other_keys = keys.copy()
    other_keys[..., 2:] = 0
    self.assertAllClose(
      module(other_values, other_keys, strengths, masks),
      module(memory, keys, strengths, masks),
      rtol=1e-12,
    )

  def test_gradient_matches_numeric(self):
    memory, keys, strengths, masks = (tf.constant(x) for x in self._arrays(24))
    module = addressing.CosineWeights(3, 4)
    theoretical, numerical = tf.test.compute_gradient(
      lambda m, k, s, z: module(m, k, s, z) * tf.range(5, dtype=tf.float64),
      [memory, keys, strengths, masks],
    )
    for got, want in zip(theoretical, numerical, strict=True):
      self.assertAllClose(got, want, rtol=1e-5, atol=1e-6)
      self.assertGreater(np.abs(got).max(), 1e-3)

  def test_wrong_mask_shape_raises_with_name(self):
    module = addressing.CosineWeights(2, 3)
    with self.assertRaisesRegex(ValueError, '`masks`'):
      module(
        tf.zeros([1, 4, 3]),
        tf.zeros([1, 2, 3]),
        tf.zeros([1, 2]),
        tf.zeros([1, 2, 4]),
      )


class SharpenLinkWeightsTest(tf.test.TestCase, parameterized.TestCase):
  """Their link distribution sharpness S(d, s)."""

  def _arrays(self, seed, dtype=np.float64):
    rng = np.random.RandomState(seed)
    weights = _random_write_weights(rng, (2, 3, 2, 6)).astype(dtype)
    sharpness = (1 + 3 * rng.uniform(size=(2, 3, 2))).astype(dtype)
    return weights, sharpness

  @parameterized.product(mode=_MODES, dtype=(np.float32, np.float64))
  def test_matches_numpy(self, mode, dtype):
    weights, sharpness = self._arrays(25, dtype)
    got = _in_mode(addressing.sharpen_link_weights, mode)(weights, sharpness)
    self.assertEqual(got.dtype, dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    self.assertAllClose(
      got,
      oracles.np_sharpen(
        weights.astype(np.float64), sharpness.astype(np.float64)
      ),
      rtol=tol,
      atol=tol,
    )

  def test_sharpness_one_keeps_distributions_and_renormalises(self):
    weights, _ = self._arrays(26)
    ones = np.ones(weights.shape[:3])
    distributions = weights / weights.sum(-1, keepdims=True)
    n = weights.shape[-1]
    # Equal to d up to the epsilon added to each entry.
    self.assertAllClose(
      addressing.sharpen_link_weights(distributions, ones),
      distributions,
      atol=n * _EPS,
      rtol=0,
    )
    self.assertAllClose(
      addressing.sharpen_link_weights(weights, ones),
      distributions,
      atol=n * _EPS / weights.sum(-1).min(),
      rtol=0,
    )
    # Nothing to follow (no write yet): uniform, as in the authors' code.
    self.assertAllClose(
      addressing.sharpen_link_weights(np.zeros_like(weights), 3 * ones),
      np.full(weights.shape, 1 / n),
      rtol=1e-12,
    )

  def test_larger_exponents_concentrate_on_the_largest_entry(self):
    rng = np.random.RandomState(27)
    # One entry of each row at least 0.6, the others at most 0.4.
    peak = rng.randint(6, size=(2, 3, 2))
    weights = 0.4 * rng.uniform(size=(2, 3, 2, 6)) + 0.6 * np.eye(6)[peak]
    ones = np.ones(weights.shape[:3])
    peaks = [
      addressing.sharpen_link_weights(weights, s * ones).numpy().max(-1)
      for s in (1.0, 2.0, 50.0)
    ]
    self.assertTrue((peaks[0] < peaks[1]).all() and (peaks[1] < peaks[2]).all())
    self.assertTrue((peaks[2] > 0.99).all())
    sharp = addressing.sharpen_link_weights(weights, 50 * ones).numpy()
    self.assertAllEqual(sharp.argmax(-1), weights.argmax(-1))
    self.assertAllEqual(weights.argmax(-1), peak)

  def test_gradient_matches_numeric(self):
    weights, sharpness = self._arrays(28)
    # Away from 0, where the log's slope (1 / (d + eps)) is far too steep
    # for finite differences.
    weights, sharpness = tf.constant(0.05 + weights), tf.constant(sharpness)
    theoretical, numerical = tf.test.compute_gradient(
      lambda w, s: (
        addressing.sharpen_link_weights(w, s) * tf.range(6, dtype=tf.float64)
      ),
      [weights, sharpness],
      delta=1e-6,
    )
    for got, want in zip(theoretical, numerical, strict=True):
      self.assertAllClose(got, want, rtol=1e-5, atol=1e-6)
      self.assertGreater(np.abs(got).max(), 1e-3)

  def test_wrong_sharpness_shape_raises_with_name(self):
    with self.assertRaisesRegex(ValueError, '`sharpness`'):
      addressing.sharpen_link_weights(tf.zeros([2, 3, 1, 4]), tf.zeros([2, 3]))


class TemporalLinkageTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.parameters(*_MODES)
  def test_random_sequence_matches_numpy_and_keeps_invariants(self, mode):
    rng = np.random.RandomState(4)
    batch_size, memory_size, num_writes, steps = 2, 5, 2, 8
    module = addressing.TemporalLinkage(memory_size, num_writes)
    step = _in_mode(module, mode)
    state = module.initial_state(batch_size, tf.float64)
    link = np.zeros([batch_size, num_writes, memory_size, memory_size])
    precedence = np.zeros([batch_size, num_writes, memory_size])
    for t in range(steps):
      write_weights = _random_write_weights(
        rng, (batch_size, num_writes, memory_size)
      )
      if t == 3:  # A full one-hot write stresses the bounds.
        write_weights[:, :, :] = 0
        write_weights[:, :, t] = 1
      state = step(tf.constant(write_weights), state)
      link, precedence = (
        _np_link(link, precedence, write_weights),
        _np_precedence(precedence, write_weights),
      )
      self.assertAllClose(state.link, link, rtol=1e-12, atol=1e-14)
      self.assertAllClose(
        state.precedence_weights, precedence, rtol=1e-12, atol=1e-14
      )
      got = state.link.numpy()
      self.assertTrue((got >= 0).all() and (got <= 1).all())
      self.assertAllEqual(
        np.diagonal(got, axis1=2, axis2=3), np.zeros(precedence.shape)
      )
      self.assertTrue((got.sum(axis=3) <= 1 + 1e-9).all())
      self.assertTrue((got.sum(axis=2) <= 1 + 1e-9).all())
      prec = state.precedence_weights.numpy()
      self.assertTrue((prec >= 0).all() and (prec.sum(-1) <= 1 + 1e-9).all())
    self.assertGreater(link.max(), 0.1)  # The sequence did record links.

  def test_write_slot0_then_slot1_links_1_after_0(self):
    module = addressing.TemporalLinkage(memory_size=4, num_writes=1)
    hot = lambda i: util.one_hot(4, i)[None, None].astype(np.float32)
    state = module(hot(0), module.initial_state(1))
    state = module(hot(1), state)
    expected = np.zeros([4, 4])
    expected[1, 0] = 1  # L[i, j]: i was written right after j.
    self.assertAllEqual(state.link[0, 0], expected)
    self.assertAllEqual(state.precedence_weights[0, 0], util.one_hot(4, 1))
    read = module.directional_read_weights
    self.assertAllEqual(read(state.link, hot(0), True)[0, 0, 0], hot(1)[0, 0])
    self.assertAllEqual(read(state.link, hot(1), False)[0, 0, 0], hot(0)[0, 0])
    # Nothing was written after slot 1 or before slot 0.
    self.assertAllEqual(read(state.link, hot(1), True), np.zeros([1, 1, 1, 4]))
    self.assertAllEqual(read(state.link, hot(0), False), np.zeros([1, 1, 1, 4]))

  @parameterized.parameters(*_MODES)
  def test_directional_read_weights_match_numpy(self, mode):
    rng = np.random.RandomState(5)
    batch_size, num_reads, num_writes, memory_size = 2, 3, 2, 4
    module = addressing.TemporalLinkage(memory_size, num_writes)
    link = rng.uniform(size=(batch_size, num_writes, memory_size, memory_size))
    read_weights = rng.uniform(size=(batch_size, num_reads, memory_size))
    forward = np.zeros([batch_size, num_reads, num_writes, memory_size])
    backward = np.zeros_like(forward)
    for b in range(batch_size):
      for r in range(num_reads):
        for w in range(num_writes):
          # f = matmul(w_read, transpose(L)), b = matmul(w_read, L).
          forward[b, r, w] = read_weights[b, r] @ link[b, w].T
          backward[b, r, w] = read_weights[b, r] @ link[b, w]
    fn = _in_mode(module.directional_read_weights, mode)
    self.assertAllClose(fn(link, read_weights, True), forward, rtol=1e-12)
    self.assertAllClose(fn(link, read_weights, False), backward, rtol=1e-12)

  @parameterized.parameters(*_MODES)
  def test_link_and_precedence_match_numpy(self, mode):
    rng = np.random.RandomState(6)
    shape = (3, 2, 5)
    module = addressing.TemporalLinkage(memory_size=5, num_writes=2)
    prev_link = rng.uniform(size=shape + (5,))
    prev_precedence = rng.uniform(size=shape)
    write_weights = rng.uniform(size=shape)
    self.assertAllClose(
      _in_mode(addressing.temporal_link, mode)(
        prev_link, prev_precedence, write_weights
      ),
      _np_link(prev_link, prev_precedence, write_weights),
      rtol=1e-12,
      atol=1e-14,
    )
    self.assertAllClose(
      _in_mode(module._precedence_weights, mode)(
        prev_precedence, write_weights
      ),
      _np_precedence(prev_precedence, write_weights),
      rtol=1e-12,
    )

  def test_precedence_zero_write_keeps_full_write_replaces(self):
    rng = np.random.RandomState(7)
    module = addressing.TemporalLinkage(memory_size=5, num_writes=2)
    prev = _random_write_weights(rng, (2, 2, 5))
    kept = module._precedence_weights(prev, np.zeros([2, 2, 5]))
    self.assertAllEqual(kept, prev)
    full = np.zeros([2, 2, 5])
    full[:, 0, 3] = 1
    full[:, 1, 0] = 1
    self.assertAllClose(module._precedence_weights(prev, full), full, atol=0)

  def _assert_gradients_match_numeric(self, fn, inputs, names):
    """Float64 `fn`'s Jacobian against finite differences, per input."""
    theoretical, numerical = tf.test.compute_gradient(fn, inputs)
    for name, got, expected in zip(names, theoretical, numerical, strict=True):
      with self.subTest(name):
        self.assertAllClose(got, expected, atol=1e-8, rtol=1e-8)
        self.assertGreater(np.abs(got).max(), 0.1)

  def test_link_gradient_matches_numeric(self):
    rng = np.random.RandomState(16)
    shape = (2, 2, 4)  # Two write heads.
    module = addressing.TemporalLinkage(memory_size=4, num_writes=2)
    inputs = [
      tf.constant(rng.uniform(size=shape + (4,))),  # prev_link
      tf.constant(rng.uniform(size=shape)),  # prev_precedence_weights
      tf.constant(_random_write_weights(rng, shape)),
    ]
    self._assert_gradients_match_numeric(
      module._link,
      inputs,
      ('prev_link', 'prev_precedence_weights', 'write_weights'),
    )

  @parameterized.parameters(True, False)
  def test_directional_read_gradient_matches_numeric(self, forward):
    rng = np.random.RandomState(17)
    module = addressing.TemporalLinkage(memory_size=4, num_writes=2)
    link = tf.constant(rng.uniform(size=(2, 2, 4, 4)))
    read_weights = tf.constant(_random_write_weights(rng, (2, 3, 4)))
    theoretical, numerical = tf.test.compute_gradient(
      lambda link, weights: module.directional_read_weights(
        link, weights, forward
      ),
      [link, read_weights],
    )
    for got, expected in zip(theoretical, numerical, strict=True):
      self.assertAllClose(got, expected, atol=1e-8, rtol=1e-8)
      self.assertGreater(np.abs(got).max(), 0.1)

  @parameterized.product(
    mode=_MODES, dtype=('float32', 'float64'), fast=(False, True)
  )
  def test_update_and_read_matches_numpy(self, mode, dtype, fast):
    rng = np.random.RandomState(19)
    batch_size, num_reads, num_writes, memory_size = 2, 3, 2, 5
    module = addressing.TemporalLinkage(
      memory_size, num_writes, fast_kernels=fast
    )
    shape = (batch_size, num_writes, memory_size)
    # A diagonal that is not zero: the reads must not depend on it.
    prev_link = rng.uniform(size=shape + (memory_size,)).astype(dtype)
    prev_precedence = rng.uniform(size=shape).astype(dtype) / memory_size
    write_weights = _random_write_weights(rng, shape).astype(dtype)
    read_weights = _random_write_weights(
      rng, (batch_size, num_reads, memory_size)
    ).astype(dtype)
    link = _np_link(prev_link, prev_precedence, write_weights)
    forward = np.einsum('bwij,brj->brwi', link, read_weights)
    backward = np.einsum('bwij,bri->brwj', link, read_weights)

    state, got_forward, got_backward = _in_mode(module.update_and_read, mode)(
      write_weights,
      addressing.TemporalLinkageState(prev_link, prev_precedence),
      read_weights,
    )
    tolerance = 1e-12 if dtype == 'float64' else 1e-6
    self.assertEqual(state.link.dtype, dtype)
    self.assertAllClose(state.link, link, rtol=tolerance, atol=tolerance)
    self.assertAllClose(
      state.precedence_weights,
      _np_precedence(prev_precedence, write_weights),
      rtol=tolerance,
    )
    self.assertAllClose(got_forward, forward, rtol=tolerance, atol=tolerance)
    self.assertAllClose(got_backward, backward, rtol=tolerance, atol=tolerance)
    self.assertGreater(np.abs(forward).max(), 0.1)

  @parameterized.parameters(False, True)
  def test_update_and_read_gradient_matches_numeric(self, fast):
    rng = np.random.RandomState(20)
    shape = (2, 2, 4)  # Two write heads, three read heads.
    module = addressing.TemporalLinkage(
      memory_size=4, num_writes=2, fast_kernels=fast
    )

    def update_and_read(prev_link, prev_precedence, write_weights, weights):
      state, forward, backward = module.update_and_read(
        write_weights,
        addressing.TemporalLinkageState(prev_link, prev_precedence),
        weights,
      )
      return tf.concat(
        [tf.reshape(x, [-1]) for x in (state.link, forward, backward)], 0
      )

    inputs = [
      tf.constant(rng.uniform(size=shape + (4,))),  # prev_link
      tf.constant(rng.uniform(size=shape) / 4),  # prev_precedence_weights
      tf.constant(_random_write_weights(rng, shape)),
      tf.constant(_random_write_weights(rng, (2, 3, 4))),  # read weights
    ]
    self._assert_gradients_match_numeric(
      update_and_read,
      inputs,
      ('prev_link', 'prev_precedence_weights', 'write_weights', 'read'),
    )

  @parameterized.parameters(
    ('function', 'separate'),
    ('xla', 'separate'),
    ('eager', 'fused'),
    ('function', 'fused'),
    ('xla', 'fused'),
  )
  def test_gradients_through_a_while_loop_match_eager(self, mode, step):
    # In a while loop the backward pass runs in a loop of its own, with the
    # forward values it kept: the hand-written gradients must work there,
    # and the fused step must give those of the separate update and reads.
    rng = np.random.RandomState(21)
    batch_size, memory_size, num_writes, num_reads, steps = 2, 5, 2, 3, 4
    module = addressing.TemporalLinkage(memory_size, num_writes)
    kernel = addressing.TemporalLinkage(
      memory_size, num_writes, fast_kernels=True
    )
    write_weights = tf.constant(
      _random_write_weights(rng, (steps, batch_size, num_writes, memory_size))
    )
    read_weights = tf.constant(
      _random_write_weights(rng, (steps, batch_size, num_reads, memory_size))
    )
    loss_weights = tf.constant(rng.randn(2, num_reads, num_writes, memory_size))

    def separate(write_weights, state, read_weights):
      state = module(write_weights, state)
      reads = [
        module.directional_read_weights(state.link, read_weights, forward)
        for forward in (True, False)
      ]
      return state, reads

    def fused(write_weights, state, read_weights):
      state, forward, backward = kernel.update_and_read(
        write_weights, state, read_weights
      )
      return state, [forward, backward]

    def gradients(step, write_weights, read_weights):
      with tf.GradientTape() as tape:
        tape.watch([write_weights, read_weights])

        def body(t, state, loss):
          state, reads = step(write_weights[t], state, read_weights[t])
          loss += tf.reduce_sum(tf.stack(reads, 1) * loss_weights)
          return t + 1, state, loss

        _, state, loss = tf.while_loop(
          lambda t, *_: t < steps,
          body,
          (
            0,
            module.initial_state(batch_size, tf.float64),
            tf.zeros([], tf.float64),
          ),
          maximum_iterations=steps,
        )
        loss += tf.reduce_sum(state.link**2)
        loss += tf.reduce_sum(state.precedence_weights**2)
      return tape.gradient(loss, [write_weights, read_weights])

    expected = gradients(separate, write_weights, read_weights)
    step = fused if step == 'fused' else separate
    got = _in_mode(lambda *args: gradients(step, *args), mode)(
      write_weights, read_weights
    )
    for g, e in zip(got, expected, strict=True):
      self.assertAllClose(g, e, rtol=1e-12, atol=1e-14)
      self.assertGreater(np.abs(e).max(), 0.1)

  def test_update_and_read_checks_read_weights(self):
    module = addressing.TemporalLinkage(memory_size=4, num_writes=1)
    with self.assertRaisesRegex(ValueError, 'prev_read_weights'):
      module.update_and_read(
        tf.zeros([3, 1, 4]), module.initial_state(3), tf.zeros([3, 2, 5])
      )

  @parameterized.parameters(2, 'tensor')
  def test_state_size_and_initial_state(self, batch_size):
    module = addressing.TemporalLinkage(memory_size=4, num_writes=3)
    self.assertEqual(
      module.state_size,
      addressing.TemporalLinkageState(
        link=tf.TensorShape([3, 4, 4]),
        precedence_weights=tf.TensorShape([3, 4]),
      ),
    )
    if batch_size == 'tensor':
      batch_size = tf.constant(2)
    state = module.initial_state(batch_size, tf.float64)
    self.assertIsInstance(state, addressing.TemporalLinkageState)
    self.assertEqual(state.link.dtype, tf.float64)
    self.assertAllEqual(state.link, np.zeros([2, 3, 4, 4]))
    self.assertAllEqual(state.precedence_weights, np.zeros([2, 3, 4]))

  def test_wrong_state_shape_raises_with_name(self):
    module = addressing.TemporalLinkage(memory_size=4, num_writes=1)
    state = module.initial_state(3)
    with self.assertRaisesRegex(ValueError, r'prev_state\.link'):
      module(tf.zeros([2, 1, 4]), state)
    with self.assertRaisesRegex(ValueError, 'write_weights'):
      module(tf.zeros([3, 2, 4]), state)


class FreenessTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.parameters(*_MODES)
  def test_call_matches_numpy_and_stays_in_unit_interval(self, mode):
    rng = np.random.RandomState(8)
    batch_size, memory_size, num_writes, num_reads = 2, 6, 2, 3
    module = addressing.Freeness(memory_size)
    step = _in_mode(module, mode)
    usage = np.zeros([batch_size, memory_size])
    for _ in range(6):
      write_weights = _random_write_weights(
        rng, (batch_size, num_writes, memory_size)
      )
      read_weights = _random_write_weights(
        rng, (batch_size, num_reads, memory_size)
      )
      free_gate = rng.uniform(size=(batch_size, num_reads))
      got = step(write_weights, free_gate, read_weights, usage).numpy()
      usage = _np_usage_after_read(
        _np_usage_after_write(usage, write_weights), free_gate, read_weights
      )
      self.assertAllClose(got, usage, rtol=1e-12, atol=1e-14)
      self.assertTrue((got >= 0).all() and (got <= 1).all())
    self.assertGreater(usage.max(), 0.2)

  def test_full_write_sets_usage_one_full_free_sets_zero(self):
    rng = np.random.RandomState(9)
    module = addressing.Freeness(memory_size=5)
    prev_usage = rng.uniform(0.2, 0.8, size=(2, 5))
    write_weights = np.zeros([2, 1, 5])
    write_weights[0, 0, 3] = 1
    write_weights[1, 0, 0] = 1
    no_read = np.zeros([2, 2, 5])
    usage = module(write_weights, np.zeros([2, 2]), no_read, prev_usage)
    self.assertAllClose(usage.numpy()[[0, 1], [3, 0]], [1, 1], atol=1e-15)
    # Other slots are untouched.
    self.assertAllClose(usage.numpy()[0, :3], prev_usage[0, :3], atol=0)

    read_weights = np.zeros([2, 2, 5])
    read_weights[0, 1, 2] = 1
    read_weights[1, 0, 4] = 1
    free_gate = np.array([[0.0, 1.0], [1.0, 0.0]])
    usage = module(np.zeros([2, 1, 5]), free_gate, read_weights, prev_usage)
    self.assertAllEqual(usage.numpy()[[0, 1], [2, 4]], [0, 0])
    self.assertAllClose(usage.numpy()[1, :4], prev_usage[1, :4], atol=0)

  @parameterized.parameters(*_MODES)
  def test_usage_after_write_and_read_match_numpy(self, mode):
    rng = np.random.RandomState(10)
    module = addressing.Freeness(memory_size=4)
    prev_usage = rng.uniform(size=(3, 4))
    write_weights = _random_write_weights(rng, (3, 3, 4))
    read_weights = _random_write_weights(rng, (3, 2, 4))
    free_gate = rng.uniform(size=(3, 2))
    self.assertAllClose(
      _in_mode(module._usage_after_write, mode)(prev_usage, write_weights),
      _np_usage_after_write(prev_usage, write_weights),
      rtol=1e-12,
    )
    self.assertAllClose(
      _in_mode(module._usage_after_read, mode)(
        prev_usage, free_gate, read_weights
      ),
      _np_usage_after_read(prev_usage, free_gate, read_weights),
      rtol=1e-12,
    )

  def test_no_gradient_into_previous_write_weights(self):
    rng = np.random.RandomState(11)
    module = addressing.Freeness(memory_size=4)
    write_weights = _random_write_weights(rng, (2, 2, 4))
    read_weights = _random_write_weights(rng, (2, 3, 4))
    free_gate = rng.uniform(size=(2, 3))
    prev_usage = rng.uniform(size=(2, 4))
    tf_write_weights, tf_free_gate = map(
      tf.constant, (write_weights, free_gate)
    )
    with tf.GradientTape(persistent=True) as tape:
      tape.watch([tf_write_weights, tf_free_gate])
      usage = tf.reduce_sum(
        module(tf_write_weights, tf_free_gate, read_weights, prev_usage)
      )
    write_grad = tape.gradient(usage, tf_write_weights)
    if write_grad is not None:  # None and zeros both mean no gradient.
      self.assertAllEqual(write_grad, np.zeros([2, 2, 4]))
    # d sum(u psi) / d f_j = -sum_n u_n w_jn prod_{k != j} (1 - f_k w_kn).
    usage_after_write = _np_usage_after_write(prev_usage, write_weights)
    retention = 1 - free_gate[..., None] * read_weights  # [B, R, N]
    expected = np.zeros_like(free_gate)
    for j in range(3):
      others = np.prod(np.delete(retention, j, axis=1), axis=1)
      expected[:, j] = -np.sum(
        usage_after_write * read_weights[:, j] * others, axis=-1
      )
    self.assertAllClose(
      tape.gradient(usage, tf_free_gate), expected, rtol=1e-12
    )
    self.assertTrue((expected < 0).all())

  @parameterized.product(
    mode=_MODES,
    dtype=(np.float32, np.float64),
    memory_size=(1, 6, 40),
    kind=tuple(_ALLOCATIONS),
  )
  def test_allocation_matches_sort_oracle(self, mode, dtype, memory_size, kind):
    rng = np.random.RandomState(12)
    usage = _random_usage_without_ties(rng, 3, memory_size)
    usage[0] = rng.uniform(size=memory_size)  # Plain random usages too.
    usage = usage.astype(dtype)
    got = _in_mode(_allocation(kind), mode)(usage)
    self.assertEqual(got.dtype, dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    self.assertAllClose(
      got, _np_allocation(usage.astype(np.float64)), rtol=tol, atol=tol
    )

  @parameterized.product(mode=_MODES, kind=tuple(_ALLOCATIONS))
  def test_allocation_ties_go_to_lower_index(self, mode, kind):
    usage = np.array(
      [
        [0.5, 0.2, 0.5, 0.2, 0.9],
        [0.0, 0.0, 0.0, 0.0, 0.0],
        [1.0, 1.0, 0.3, 1.0, 0.3],
        [0.7, 0.1, 0.7, 0.7, 0.4],
      ]
    )
    got = _in_mode(_allocation(kind), mode)(usage).numpy()
    self.assertAllClose(got, _np_allocation(usage), rtol=1e-12, atol=1e-15)
    self.assertAllEqual(got.argmax(-1), [1, 0, 2, 1])
    # The tied partner waits behind the winner: (1 - u) * u.
    self.assertAllClose(got[0, 3], (1 - 0.2) * 0.2, rtol=1e-5)
    self.assertAllClose(got[2, 4], (1 - 0.3) * 0.3, rtol=1e-5)

  @parameterized.parameters(*_ALLOCATIONS)
  def test_allocation_prefers_least_used_and_sums_to_one(self, kind):
    rng = np.random.RandomState(13)
    usage = rng.uniform(0, 0.01, size=(4, 8)).astype(np.float32)
    got = _allocation(kind)(usage).numpy()
    self.assertAllEqual(got.argmax(-1), usage.argmin(-1))
    self.assertAllClose(got.sum(-1), np.ones(4), atol=1e-5)
    self.assertTrue((got >= 0).all())
    # With high usages the least used slot still gets the most.
    usage = rng.uniform(0.5, 1.0, size=(4, 8)).astype(np.float32)
    got = _allocation(kind)(usage).numpy()
    self.assertAllEqual(got.argmax(-1), usage.argmin(-1))
    self.assertTrue((got.sum(-1) <= 1 + 1e-6).all())

  @parameterized.product(memory_size=(3, 7), kind=tuple(_ALLOCATIONS))
  def test_allocation_gradient_matches_numeric(self, memory_size, kind):
    rng = np.random.RandomState(14)
    usage = _random_usage_without_ties(rng, 2, memory_size)
    theoretical, numerical = tf.test.compute_gradient(
      _allocation(kind), [tf.constant(usage)]
    )
    self.assertAllClose(theoretical, numerical, atol=1e-6, rtol=1e-6)
    self.assertGreater(np.abs(theoretical[0]).max(), 0.1)

  @parameterized.product(mode=_MODES, fast=(False, True))
  def test_write_allocation_weights_match_numpy(self, mode, fast):
    rng = np.random.RandomState(15)
    batch_size, memory_size, num_writes = 3, 6, 3
    module = addressing.Freeness(memory_size, fast_kernels=fast)
    usage = rng.uniform(size=(batch_size, memory_size))
    write_gates = rng.uniform(size=(batch_size, num_writes))
    usage[0] = [0.9, 0.01, 0.8, 0.0, 0.02, 0.7]
    write_gates[0] = 1
    got = _in_mode(
      lambda u, g: module.write_allocation_weights(u, g, num_writes), mode
    )(usage, write_gates).numpy()
    self.assertAllClose(
      got,
      _np_write_allocation_weights(usage, write_gates),
      rtol=1e-12,
      atol=1e-14,
    )
    # With full gates and nearly free slots, each head fills one of them.
    self.assertAllEqual(got[0].argmax(-1), [3, 1, 4])
    self.assertTrue((got[0].max(-1) > 0.97).all())

  def test_heads_after_closed_gates_see_same_usage(self):
    rng = np.random.RandomState(16)
    module = addressing.Freeness(memory_size=5)
    usage = rng.uniform(0.3, 1.0, size=(2, 5))
    usage[1, 2] = 0.0  # Head 1 fills this slot, so head 2 cannot pick it.
    got = module.write_allocation_weights(
      usage, np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]), 3
    ).numpy()
    self.assertAllEqual(got[0, 1], got[0, 0])
    self.assertAllEqual(got[0, 2], got[0, 0])
    self.assertAllEqual(got[1, 1], got[1, 0])
    self.assertEqual(got[1, 0].argmax(), 2)
    self.assertNotEqual(got[1, 2].argmax(), 2)
    self.assertAllClose(got[0, 0], _np_allocation(usage)[0], rtol=1e-12)

  @parameterized.parameters(3, 'tensor')
  def test_state_size_and_initial_state(self, batch_size):
    module = addressing.Freeness(memory_size=7)
    self.assertEqual(module.state_size, tf.TensorShape([7]))
    if batch_size == 'tensor':
      batch_size = tf.constant(3)
    state = module.initial_state(batch_size)
    self.assertEqual(state.dtype, tf.float32)
    self.assertAllEqual(state, np.zeros([3, 7]))

  def test_wrong_shapes_raise_with_name(self):
    module = addressing.Freeness(memory_size=4)
    with self.assertRaisesRegex(ValueError, 'prev_usage'):
      module(
        tf.zeros([2, 1, 4]),
        tf.zeros([2, 1]),
        tf.zeros([2, 1, 4]),
        tf.zeros([2, 5]),
      )
    with self.assertRaisesRegex(ValueError, 'read_weights'):
      module(
        tf.zeros([2, 1, 4]),
        tf.zeros([2, 2]),
        tf.zeros([2, 1, 4]),
        tf.zeros([2, 4]),
      )
    with self.assertRaisesRegex(ValueError, 'write_gates'):
      module.write_allocation_weights(tf.zeros([2, 4]), tf.zeros([2, 3]), 2)


class ConstructorTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.product(
    module_kwargs=(
      (addressing.Freeness, {'memory_size': 4}),
      (addressing.TemporalLinkage, {'memory_size': 4, 'num_writes': 1}),
      (addressing.CosineWeights, {'num_heads': 2, 'word_size': 3}),
    ),
    bad=((0, ValueError), (-2, ValueError), (2.0, TypeError), ('3', TypeError)),
  )
  def test_bad_sizes_raise_with_name(self, module_kwargs, bad):
    module, kwargs = module_kwargs
    value, error = bad
    module(**kwargs)  # The valid sizes construct.
    for name in kwargs:
      with self.assertRaisesRegex(error, name):
        module(**{**kwargs, name: value})

  def test_zero_write_heads_allocation_raises(self):
    with self.assertRaisesRegex(ValueError, 'num_writes'):
      addressing.Freeness(4).write_allocation_weights(
        tf.zeros([1, 4]), tf.zeros([1, 0]), 0
      )


if __name__ == '__main__':
  tf.test.main()
