"""Tests for dnc.access.MemoryAccess against a numpy oracle of the paper."""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from dnc import access
from dnc import addressing
from tests import oracles

_MODES = oracles.MODES
_EPS = oracles.EPS
_in_mode = oracles.in_mode
_np_sigmoid = oracles.np_sigmoid
_np_softmax = oracles.np_softmax
_np_cosine_weights = oracles.np_cosine_weights
_PIECES = oracles.INTERFACE_LAYERS


_np_write_weights = oracles.np_write_weights
_np_step = oracles.np_access_step
_random_weights = oracles.random_write_weights
_random_state = oracles.random_access_state
_to_access_state = oracles.to_access_state


class MemoryAccessTest(tf.test.TestCase, parameterized.TestCase):
  def test_read_inputs_match_linear_layers(self):
    rng = np.random.RandomState(0)
    module = access.MemoryAccess(
      memory_size=5, word_size=3, num_reads=2, num_writes=2
    )
    inputs = 3 * rng.randn(4, 6)
    got = {k: v.numpy() for k, v in module._read_inputs(inputs).items()}
    variables = {v.name: v.numpy() for v in module.trainable_variables}
    # Variable names are part of the contract: one Linear per piece.
    self.assertCountEqual(
      variables,
      [f'memory_access/{p}/{v}:0' for p in _PIECES for v in ('w', 'b')],
    )
    raw = {
      p: inputs @ variables[f'memory_access/{p}/w:0']
      + variables[f'memory_access/{p}/b:0']
      for p in _PIECES
    }
    expected = {
      'read_content_keys': raw['read_keys'].reshape(4, 2, 3),
      'read_content_strengths': raw['read_strengths'],
      'write_content_keys': raw['write_keys'].reshape(4, 2, 3),
      'write_content_strengths': raw['write_strengths'],
      'write_vectors': raw['write_vectors'].reshape(4, 2, 3),
      'erase_vectors': _np_sigmoid(raw['erase_vectors'].reshape(4, 2, 3)),
      'free_gate': _np_sigmoid(raw['free_gate']),
      'allocation_gate': _np_sigmoid(raw['allocation_gate']),
      'write_gate': _np_sigmoid(raw['write_gate']),
      'read_mode': _np_softmax(raw['read_mode'].reshape(4, 2, 5)),
    }
    self.assertCountEqual(got, expected)
    for key, value in expected.items():
      self.assertAllClose(got[key], value, rtol=1e-12, atol=1e-12, msg=key)
    # Read modes are distributions; gates lie in [0, 1].
    self.assertTrue((got['read_mode'] >= 0).all())
    self.assertAllClose(got['read_mode'].sum(-1), np.ones([4, 2]))
    for key in ('erase_vectors', 'free_gate', 'allocation_gate', 'write_gate'):
      self.assertTrue((got[key] >= 0).all() and (got[key] <= 1).all(), key)

  def test_write_weights_allocate_to_free_slots(self):
    rng = np.random.RandomState(1)
    module = access.MemoryAccess(
      memory_size=6, word_size=4, num_reads=1, num_writes=2
    )
    memory = rng.randn(2, 6, 4)
    usage = np.array(
      [[0.9, 0.8, 0.0, 0.95, 0.7, 0.01], [0.0, 0.5, 0.6, 0.7, 0.02, 0.9]]
    )
    inputs = {
      'write_content_keys': rng.randn(2, 2, 4),
      'write_content_strengths': rng.randn(2, 2),
      'allocation_gate': np.ones([2, 2]),
      'write_gate': np.ones([2, 2]),
    }
    got = module._write_weights(inputs, memory, usage).numpy()
    self.assertAllEqual(got.argmax(-1), [[2, 5], [0, 4]])
    self.assertTrue((got.max(-1) > 0.97).all())
    self.assertAllClose(
      got, _np_write_weights(inputs, memory, usage), rtol=1e-12, atol=1e-14
    )

  def test_write_weights_without_allocation_are_content_weights(self):
    rng = np.random.RandomState(2)
    module = access.MemoryAccess(
      memory_size=5, word_size=4, num_reads=1, num_writes=2
    )
    memory = rng.randn(3, 5, 4)
    inputs = {
      'write_content_keys': rng.randn(3, 2, 4),
      'write_content_strengths': 2 * rng.randn(3, 2),
      'allocation_gate': np.zeros([3, 2]),
      'write_gate': rng.uniform(size=(3, 2)),
    }
    got = module._write_weights(inputs, memory, rng.uniform(size=(3, 5)))
    content = _np_cosine_weights(
      memory, inputs['write_content_keys'], inputs['write_content_strengths']
    )
    self.assertAllClose(
      got, inputs['write_gate'][..., None] * content, rtol=1e-12, atol=1e-14
    )

  def test_read_weights_content_mode_reads_matching_row(self):
    rng = np.random.RandomState(3)
    module = access.MemoryAccess(
      memory_size=6, word_size=8, num_reads=2, num_writes=1
    )
    memory = rng.randn(2, 6, 8)
    targets = np.array([[3, 0], [5, 5]])
    inputs = {
      'read_content_keys': np.stack([memory[b, targets[b]] for b in (0, 1)]),
      'read_content_strengths': np.full([2, 2], 100.0),
      'read_mode': np.tile([0.0, 0.0, 1.0], (2, 2, 1)),
    }
    # The link would send the reads elsewhere; content mode ignores it.
    link = np.ones([2, 1, 6, 6]) / 6
    got = module._read_weights(
      inputs, memory, _random_weights(rng, (2, 2, 6)), link
    ).numpy()
    self.assertAllEqual(got.argmax(-1), targets)
    self.assertTrue((got.max(-1) > 0.999).all())
    read_words = np.einsum('brn,bnw->brw', got, memory)
    expected_words = np.stack([memory[b, targets[b]] for b in (0, 1)])
    self.assertAllClose(read_words, expected_words, atol=1e-2)

  def test_read_weights_follow_links_per_write_head(self):
    module = access.MemoryAccess(
      memory_size=4, word_size=3, num_reads=4, num_writes=2
    )
    link = np.zeros([1, 2, 4, 4])
    link[0, 0, 2, 0] = 1  # Head 0 wrote slot 2 right after slot 0.
    link[0, 1, 3, 0] = 1  # Head 1 wrote slot 3 right after slot 0.
    # Modes are [backward 0, backward 1, forward 0, forward 1, content].
    read_mode = np.eye(5)[[2, 3, 0, 1]][None]
    prev_read_weights = np.eye(4)[[0, 0, 2, 3]][None]
    inputs = {
      'read_content_keys': np.ones([1, 4, 3]),
      'read_content_strengths': np.zeros([1, 4]),
      'read_mode': read_mode,
    }
    got = module._read_weights(
      inputs, np.ones([1, 4, 3]), prev_read_weights, link
    )
    self.assertAllEqual(got[0], np.eye(4)[[2, 3, 0, 0]])

  @parameterized.product(mode=_MODES, dtype=(np.float32, np.float64))
  def test_step_matches_numpy_oracle(self, mode, dtype):
    rng = np.random.RandomState(4)
    batch_size, memory_size, word_size, reads, writes = 2, 5, 4, 2, 2
    module = access.MemoryAccess(memory_size, word_size, reads, writes)
    inputs = tf.constant(rng.randn(batch_size, 7), dtype)
    interface = {
      k: v.numpy().astype(np.float64)
      for k, v in module._read_inputs(inputs).items()
    }
    prev = _random_state(rng, batch_size, memory_size, word_size, reads, writes)
    read_words, state = _in_mode(module, mode)(
      inputs, _to_access_state(prev, dtype)
    )
    expected_words, expected = _np_step(interface, prev)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    self.assertEqual(read_words.dtype, dtype)
    self.assertAllClose(read_words, expected_words, rtol=tol, atol=tol)
    got = {
      'memory': state.memory,
      'read_weights': state.read_weights,
      'write_weights': state.write_weights,
      'link': state.linkage.link,
      'precedence_weights': state.linkage.precedence_weights,
      'usage': state.usage,
    }
    for key, value in expected.items():
      self.assertAllClose(got[key], value, rtol=tol, atol=tol, msg=key)

  def test_steps_from_initial_state_keep_invariants(self):
    rng = np.random.RandomState(5)
    module = access.MemoryAccess(
      memory_size=6, word_size=3, num_reads=2, num_writes=2
    )
    step = _in_mode(module, 'function')
    state = module.initial_state(3)
    for _ in range(5):
      _, state = step(tf.constant(rng.randn(3, 4), tf.float32), state)
    usage = state.usage.numpy()
    self.assertTrue((usage >= 0).all() and (usage <= 1).all())
    self.assertGreater(usage.max(), 0.1)
    for weights in (state.read_weights, state.write_weights):
      self.assertTrue((weights.numpy() >= 0).all())
      self.assertTrue((weights.numpy().sum(-1) <= 1 + 1e-5).all())
    link = state.linkage.link.numpy()
    self.assertTrue((link >= 0).all() and (link.sum(-1) <= 1 + 1e-5).all())

  def test_step_gradient_matches_numeric(self):
    rng = np.random.RandomState(6)
    batch_size, memory_size, word_size, reads, writes = 2, 4, 3, 2, 2
    module = access.MemoryAccess(memory_size, word_size, reads, writes)
    prev = _random_state(rng, batch_size, memory_size, word_size, reads, writes)
    state = _to_access_state(prev, tf.float64)

    def loss(inputs, memory):
      read_words, next_state = module(inputs, state._replace(memory=memory))
      return tf.reduce_sum(read_words) + tf.reduce_sum(next_state.memory)

    inputs = tf.constant(rng.randn(batch_size, 5))
    theoretical, numerical = tf.test.compute_gradient(
      loss, [inputs, state.memory]
    )
    for got, want in zip(theoretical, numerical, strict=True):
      self.assertAllClose(got, want, rtol=1e-5, atol=1e-5)
      self.assertGreater(np.abs(got).max(), 1e-2)

  def test_float64_inputs_make_float64_variables(self):
    module = access.MemoryAccess(
      memory_size=3, word_size=2, num_reads=1, num_writes=1
    )
    read_words, state = module(
      tf.zeros([2, 4], tf.float64), module.initial_state(2, tf.float64)
    )
    self.assertLen(module.variables, 20)
    for variable in module.variables:
      self.assertEqual(variable.dtype, tf.float64, variable.name)
    self.assertEqual(read_words.dtype, tf.float64)
    for leaf in tf.nest.flatten(state):
      self.assertEqual(leaf.dtype, tf.float64)

  @parameterized.parameters(2, 'tensor')
  def test_state_size_and_initial_state(self, batch_size):
    module = access.MemoryAccess(
      memory_size=5, word_size=3, num_reads=2, num_writes=4
    )
    expected = access.AccessState(
      memory=tf.TensorShape([5, 3]),
      read_weights=tf.TensorShape([2, 5]),
      write_weights=tf.TensorShape([4, 5]),
      linkage=addressing.TemporalLinkageState(
        link=tf.TensorShape([4, 5, 5]),
        precedence_weights=tf.TensorShape([4, 5]),
      ),
      usage=tf.TensorShape([5]),
    )
    self.assertEqual(module.state_size, expected)
    self.assertEqual(module.output_size, tf.TensorShape([2, 3]))
    if batch_size == 'tensor':
      batch_size = tf.constant(2)
    state = module.initial_state(batch_size)
    self.assertIsInstance(state, access.AccessState)
    for leaf, shape in zip(
      tf.nest.flatten(state), tf.nest.flatten(expected), strict=True
    ):
      self.assertAllEqual(leaf, np.zeros([2, *shape]))

  def test_wrong_inputs_or_state_raise_with_name(self):
    module = access.MemoryAccess(
      memory_size=4, word_size=3, num_reads=1, num_writes=1
    )
    state = module.initial_state(2)
    with self.assertRaisesRegex(ValueError, 'inputs'):
      module(tf.zeros([2, 3, 5]), state)
    with self.assertRaisesRegex(ValueError, r'prev_state\.memory'):
      module(tf.zeros([3, 5]), state)
    other = access.MemoryAccess(
      memory_size=5, word_size=3, num_reads=1, num_writes=1
    )
    with self.assertRaisesRegex(ValueError, r'prev_state\.memory'):
      module(tf.zeros([2, 5]), other.initial_state(2))
    with self.assertRaisesRegex(ValueError, r'prev_state\.usage'):
      module(tf.zeros([2, 5]), state._replace(usage=tf.zeros([2, 5])))
    with self.assertRaisesRegex(ValueError, 'read_mode'):
      module._read_weights(
        {
          'read_content_keys': np.zeros([2, 1, 3]),
          'read_content_strengths': np.zeros([2, 1]),
          'read_mode': np.zeros([2, 1, 4]),
        },
        np.zeros([2, 4, 3]),
        np.zeros([2, 1, 4]),
        np.zeros([2, 1, 4, 4]),
      )

  @parameterized.parameters(
    (0, ValueError), (-1, ValueError), (2.0, TypeError), ('3', TypeError)
  )
  def test_bad_sizes_raise_with_name(self, value, error):
    for name in ('memory_size', 'word_size', 'num_reads', 'num_writes'):
      with self.assertRaisesRegex(error, name):
        access.MemoryAccess(**{name: value})


_OPTIONS = {
  'content_masking': dict(content_masking=True),
  'deallocate_content': dict(deallocate_content=True),
  'link_sharpness': dict(link_sharpness=True),
  'all': dict(
    content_masking=True, deallocate_content=True, link_sharpness=True
  ),
}


def _built(module, input_size, batch_size=2, dtype=tf.float64):
  """`module` with its variables created by one step on zeros."""
  module(
    tf.zeros([batch_size, input_size], dtype),
    module.initial_state(batch_size, dtype),
  )
  return module


def _copy_variables(source, target):
  """Gives `target` the values of `source`'s variables of the same names."""
  values = {v.name: v for v in source.trainable_variables}
  for variable in target.trainable_variables:
    variable.assign(values[variable.name])


class MemoryAccessOptionsTest(tf.test.TestCase, parameterized.TestCase):
  """The options of Csordás and Schmidhuber (2019) against the oracle."""

  def test_read_inputs_of_the_options_match_linear_layers(self):
    rng = np.random.RandomState(40)
    module = access.MemoryAccess(
      memory_size=5,
      word_size=3,
      num_reads=2,
      num_writes=2,
      content_masking=True,
      link_sharpness=True,
    )
    inputs = 3 * rng.randn(4, 6)
    got = {k: v.numpy() for k, v in module._read_inputs(inputs).items()}
    variables = {v.name: v.numpy() for v in module.trainable_variables}
    pieces = _PIECES + ('read_masks', 'write_masks', 'link_sharpness')
    self.assertCountEqual(
      variables,
      [f'memory_access/{p}/{v}:0' for p in pieces for v in ('w', 'b')],
    )
    raw = {
      p: inputs @ variables[f'memory_access/{p}/w:0']
      + variables[f'memory_access/{p}/b:0']
      for p in pieces
    }
    sharpness = 1 + oracles.np_softplus(raw['link_sharpness'].reshape(4, 2, 4))
    expected = {
      'read_content_masks': _np_sigmoid(raw['read_masks'].reshape(4, 2, 3)),
      'write_content_masks': _np_sigmoid(raw['write_masks'].reshape(4, 2, 3)),
      'backward_sharpness': sharpness[:, :, :2],
      'forward_sharpness': sharpness[:, :, 2:],
    }
    for key, value in expected.items():
      self.assertAllClose(got[key], value, rtol=1e-12, atol=1e-12, msg=key)
    self.assertTrue((got['forward_sharpness'] >= 1).all())
    self.assertTrue((got['backward_sharpness'] >= 1).all())
    self.assertNotAllClose(got['forward_sharpness'], got['backward_sharpness'])

  # Each option eagerly and in tf.function; under XLA (slow to compile) all
  # of them together.
  @parameterized.parameters(
    *[(mode, option) for mode in ('eager', 'function') for option in _OPTIONS],
    ('xla', 'all'),
  )
  def test_step_matches_numpy_oracle(self, mode, option):
    rng = np.random.RandomState(41)
    batch_size, memory_size, word_size, reads, writes = 2, 5, 4, 2, 2
    options = _OPTIONS[option]
    module = access.MemoryAccess(
      memory_size, word_size, reads, writes, **options
    )
    inputs = tf.constant(rng.randn(batch_size, 7))
    interface = {k: v.numpy() for k, v in module._read_inputs(inputs).items()}
    prev = _random_state(rng, batch_size, memory_size, word_size, reads, writes)
    read_words, state = _in_mode(module, mode)(
      inputs, _to_access_state(prev, tf.float64)
    )
    expected_words, expected = _np_step(interface, prev, **options)
    self.assertAllClose(read_words, expected_words, rtol=1e-12, atol=1e-12)
    got = {
      'memory': state.memory,
      'read_weights': state.read_weights,
      'write_weights': state.write_weights,
      'link': state.linkage.link,
      'precedence_weights': state.linkage.precedence_weights,
      'usage': state.usage,
    }
    for key, value in expected.items():
      self.assertAllClose(got[key], value, rtol=1e-12, atol=1e-12, msg=key)
    # The option changes the step (so that this test can fail).
    _, plain = _np_step(interface, prev)
    changed = 'memory' if option == 'deallocate_content' else 'read_weights'
    self.assertGreater(np.abs(plain[changed] - expected[changed]).max(), 1e-3)

  def test_float32_step_with_every_option_matches_numpy_oracle(self):
    rng = np.random.RandomState(42)
    module = access.MemoryAccess(5, 4, 2, 2, **_OPTIONS['all'])
    inputs = tf.constant(rng.randn(2, 7), tf.float32)
    interface = {
      k: v.numpy().astype(np.float64)
      for k, v in module._read_inputs(inputs).items()
    }
    prev = _random_state(rng, 2, 5, 4, 2, 2)
    read_words, state = _in_mode(module, 'function')(
      inputs, _to_access_state(prev, tf.float32)
    )
    expected_words, expected = _np_step(interface, prev, **_OPTIONS['all'])
    self.assertEqual(read_words.dtype, tf.float32)
    self.assertAllClose(read_words, expected_words, rtol=1e-5, atol=1e-5)
    self.assertAllClose(
      state.read_weights, expected['read_weights'], rtol=1e-5, atol=1e-5
    )

  def test_masks_of_ones_give_the_plain_weights(self):
    rng = np.random.RandomState(43)
    plain = access.MemoryAccess(6, 4, num_reads=2, num_writes=2)
    masked = access.MemoryAccess(6, 4, 2, 2, content_masking=True)
    memory = rng.randn(2, 6, 4)
    inputs = {
      'write_content_keys': rng.randn(2, 2, 4),
      'write_content_strengths': 2 * rng.randn(2, 2),
      'allocation_gate': rng.uniform(size=(2, 2)),
      'write_gate': rng.uniform(size=(2, 2)),
      'read_content_keys': rng.randn(2, 2, 4),
      'read_content_strengths': 2 * rng.randn(2, 2),
      'read_mode': _np_softmax(rng.randn(2, 2, 5)),
    }
    ones = dict(
      inputs,
      write_content_masks=np.ones([2, 2, 4]),
      read_content_masks=np.ones([2, 2, 4]),
    )
    usage = rng.uniform(size=(2, 6))
    self.assertAllClose(
      masked._write_weights(ones, memory, usage),
      plain._write_weights(inputs, memory, usage),
      rtol=1e-12,
    )
    prev_read_weights = _random_weights(rng, (2, 2, 6))
    link = _random_weights(rng, (2, 2, 6, 6)) * (1 - np.eye(6)) / 6
    self.assertAllClose(
      masked._read_weights(ones, memory, prev_read_weights, link),
      plain._read_weights(inputs, memory, prev_read_weights, link),
      rtol=1e-12,
    )
    # Masks that are not all ones change the lookup.
    halves = dict(ones, read_content_masks=np.full([2, 2, 4], 0.5))
    halves['read_content_masks'][..., :2] = 1
    self.assertNotAllClose(
      masked._read_weights(halves, memory, prev_read_weights, link),
      plain._read_weights(inputs, memory, prev_read_weights, link),
    )

  def test_sharpness_one_gives_the_plain_link_read(self):
    rng = np.random.RandomState(44)
    memory_size = 6
    plain = access.MemoryAccess(memory_size, 4, num_reads=2, num_writes=2)
    sharp = access.MemoryAccess(memory_size, 4, 2, 2, link_sharpness=True)
    # Each write head's link a cycle through the locations (zero diagonal),
    # and read weights that sum to 1: then L w and L^T w sum to 1 as well,
    # and with exponents of 1 their sharpened forms are themselves.
    cycle = np.roll(np.eye(memory_size), 1, axis=1)
    link = np.stack([np.stack([cycle, cycle.T])] * 2)
    prev_read_weights = _np_softmax(rng.randn(2, 2, memory_size))
    inputs = {
      'read_content_keys': rng.randn(2, 2, 4),
      'read_content_strengths': rng.randn(2, 2),
      'read_mode': _np_softmax(rng.randn(2, 2, 5)),
    }
    ones = dict(
      inputs,
      forward_sharpness=np.ones([2, 2, 2]),
      backward_sharpness=np.ones([2, 2, 2]),
    )
    memory = rng.randn(2, memory_size, 4)
    expected = plain._read_weights(inputs, memory, prev_read_weights, link)
    self.assertAllClose(
      sharp._read_weights(ones, memory, prev_read_weights, link),
      expected,
      atol=memory_size * _EPS,
      rtol=0,
    )
    # Larger exponents give other (sharper) weights.
    sharper = dict(ones, forward_sharpness=np.full([2, 2, 2], 4.0))
    self.assertNotAllClose(
      sharp._read_weights(sharper, memory, prev_read_weights, link),
      expected,
      atol=1e-3,
    )

  def _free_gates_fixed(self, module, gate_bias, write_gate_bias=None):
    """Makes every free gate (and write gate) of `module` a constant."""
    layers = module._interface_linears
    for name, bias in (
      ('free_gate', gate_bias),
      ('write_gate', write_gate_bias),
    ):
      if bias is not None:
        layers[name].w.assign(tf.zeros_like(layers[name].w))
        layers[name].b.assign(
          tf.fill(layers[name].b.shape, tf.constant(bias, tf.float64))
        )

  def test_deallocation_with_closed_free_gates_is_the_plain_step(self):
    rng = np.random.RandomState(45)
    plain = _built(access.MemoryAccess(5, 4, 2, 2), input_size=7)
    deallocating = _built(
      access.MemoryAccess(5, 4, 2, 2, deallocate_content=True), input_size=7
    )
    _copy_variables(plain, deallocating)
    for module in (plain, deallocating):
      self._free_gates_fixed(module, gate_bias=-1e3)  # f_t = 0: psi_t = 1.
    inputs = tf.constant(rng.randn(2, 7))
    state = _to_access_state(_random_state(rng, 2, 5, 4, 2, 2), tf.float64)
    expected_words, expected_state = plain(inputs, state)
    words, next_state = deallocating(inputs, state)
    self.assertAllClose(words, expected_words, rtol=1e-15, atol=0)
    for got, want in zip(
      tf.nest.flatten(next_state), tf.nest.flatten(expected_state), strict=True
    ):
      self.assertAllClose(got, want, rtol=1e-15, atol=0)

  def test_deallocation_erases_what_is_freed(self):
    rng = np.random.RandomState(46)
    plain = _built(access.MemoryAccess(5, 4, 2, 1), input_size=7)
    deallocating = _built(
      access.MemoryAccess(5, 4, 2, 1, deallocate_content=True), input_size=7
    )
    _copy_variables(plain, deallocating)
    for module in (plain, deallocating):
      # f_t = 1 and no write (g_t^w = 0): only the frees change the memory.
      self._free_gates_fixed(module, gate_bias=1e3, write_gate_bias=-1e3)
    prev = _random_state(rng, 2, 5, 4, 2, 1)
    prev['read_weights'] = np.zeros([2, 2, 5])
    prev['read_weights'][0, :, 3] = 1  # Both heads read slot 3...
    prev['read_weights'][1, 0, 1] = 1  # ... and slots 1 and 4.
    prev['read_weights'][1, 1, 4] = 1
    state = _to_access_state(prev, tf.float64)
    inputs = tf.constant(rng.randn(2, 7))
    memory = deallocating(inputs, state)[1].memory.numpy()
    expected = prev['memory'].copy()
    expected[0, 3] = expected[1, [1, 4]] = 0
    self.assertAllClose(memory, expected, rtol=1e-15, atol=0)
    # Without the option the freed rows keep their words.
    self.assertAllClose(
      plain(inputs, state)[1].memory, prev['memory'], rtol=1e-15, atol=0
    )

  def test_step_gradient_with_every_option_matches_numeric(self):
    rng = np.random.RandomState(47)
    batch_size, memory_size, word_size, reads, writes = 1, 4, 3, 2, 2
    module = access.MemoryAccess(
      memory_size, word_size, reads, writes, **_OPTIONS['all']
    )
    prev = _random_state(rng, batch_size, memory_size, word_size, reads, writes)
    state = _to_access_state(prev, tf.float64)

    def loss(inputs, memory, read_weights):
      read_words, next_state = module(
        inputs, state._replace(memory=memory, read_weights=read_weights)
      )
      return tf.reduce_sum(read_words) + tf.reduce_sum(next_state.memory)

    inputs = tf.constant(rng.randn(batch_size, 5))
    theoretical, numerical = tf.test.compute_gradient(
      loss, [inputs, state.memory, state.read_weights], delta=1e-6
    )
    for got, want in zip(theoretical, numerical, strict=True):
      self.assertAllClose(got, want, rtol=1e-5, atol=1e-6)
      self.assertGreater(np.abs(got).max(), 1e-2)
    # Every option's layer gets a gradient.
    layers = module._interface_linears
    with tf.GradientTape() as tape:
      value = loss(inputs, state.memory, state.read_weights)
    grads = tape.gradient(
      value,
      [layers[n].w for n in ('read_masks', 'write_masks', 'link_sharpness')],
    )
    for grad in grads:
      self.assertGreater(np.abs(grad.numpy()).max(), 1e-4)

  @parameterized.parameters(
    'content_masking', 'deallocate_content', 'link_sharpness'
  )
  def test_options_must_be_booleans(self, option):
    with self.assertRaisesRegex(TypeError, f'`{option}` must be True or False'):
      access.MemoryAccess(**{option: 1})


if __name__ == '__main__':
  tf.test.main()
