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
_np_allocation = oracles.np_allocation
_PIECES = (
  'write_vectors',
  'erase_vectors',
  'free_gate',
  'allocation_gate',
  'write_gate',
  'read_mode',
  'write_keys',
  'write_strengths',
  'read_keys',
  'read_strengths',
)


def _np_write_weights(interface, memory, usage):
  alloc_gate = interface['allocation_gate']
  write_gate = interface['write_gate']
  content = _np_cosine_weights(
    memory,
    interface['write_content_keys'],
    interface['write_content_strengths'],
  )
  allocation = np.zeros_like(content)
  usage = usage.copy()
  for i in range(content.shape[1]):
    allocation[:, i] = _np_allocation(usage)
    usage = usage + (1 - usage) * (
      alloc_gate[:, i, None] * write_gate[:, i, None] * allocation[:, i]
    )
  return write_gate[..., None] * (
    alloc_gate[..., None] * allocation + (1 - alloc_gate[..., None]) * content
  )


def _np_read_weights(interface, memory, prev_read_weights, link):
  mode = interface['read_mode']
  num_writes = link.shape[1]
  weights = mode[:, :, 2 * num_writes, None] * _np_cosine_weights(
    memory,
    interface['read_content_keys'],
    interface['read_content_strengths'],
  )
  for b in range(memory.shape[0]):
    for r in range(mode.shape[1]):
      for i in range(num_writes):
        forward = prev_read_weights[b, r] @ link[b, i].T
        backward = prev_read_weights[b, r] @ link[b, i]
        weights[b, r] += mode[b, r, num_writes + i] * forward
        weights[b, r] += mode[b, r, i] * backward
  return weights


def _np_step(interface, prev):
  """One memory access step of the reference DNC, on numpy arrays."""
  # 1. Usage from the previous writes, then frees.
  not_written = np.prod(1 - prev['write_weights'], axis=1)
  usage = prev['usage'] + (1 - prev['usage']) * (1 - not_written)
  for j in range(prev['read_weights'].shape[1]):
    usage *= 1 - interface['free_gate'][:, j, None] * prev['read_weights'][:, j]
  # 2. Write weights.
  write_weights = _np_write_weights(interface, prev['memory'], usage)
  # 3. Erase, then write.
  memory = prev['memory'].copy()
  erase = interface['erase_vectors']
  for i in range(write_weights.shape[1]):
    memory *= 1 - write_weights[:, i, :, None] * erase[:, i, None, :]
  memory += np.einsum('bin,biw->bnw', write_weights, interface['write_vectors'])
  # 4. Temporal links and precedence, per write head.
  link = np.zeros_like(prev['link'])
  batch_size, num_writes, memory_size = write_weights.shape
  for b in range(batch_size):
    for h in range(num_writes):
      w, p = write_weights[b, h], prev['precedence_weights'][b, h]
      for i in range(memory_size):
        for j in range(memory_size):
          if i != j:
            link[b, h, i, j] = (1 - w[i] - w[j]) * prev['link'][b, h, i, j]
            link[b, h, i, j] += w[i] * p[j]
  write_sum = write_weights.sum(-1, keepdims=True)
  precedence = (1 - write_sum) * prev['precedence_weights'] + write_weights
  # 5. Read weights on the new memory; 6. read words.
  read_weights = _np_read_weights(interface, memory, prev['read_weights'], link)
  read_words = np.einsum('brn,bnw->brw', read_weights, memory)
  return read_words, {
    'memory': memory,
    'read_weights': read_weights,
    'write_weights': write_weights,
    'link': link,
    'precedence_weights': precedence,
    'usage': usage,
  }


def _random_weights(rng, shape):
  """Nonnegative weights whose rows sum to a random total in [0, 1]."""
  weights = rng.exponential(size=shape)
  weights /= weights.sum(-1, keepdims=True)
  return weights * rng.uniform(size=shape[:-1] + (1,))


def _random_state(rng, batch_size, memory_size, word_size, reads, writes):
  """A nonzero previous state, so every term of the step matters."""
  link = _random_weights(rng, (batch_size, writes, memory_size, memory_size))
  link *= 1 - np.eye(memory_size)
  return {
    'memory': rng.randn(batch_size, memory_size, word_size),
    'read_weights': _random_weights(rng, (batch_size, reads, memory_size)),
    'write_weights': _random_weights(rng, (batch_size, writes, memory_size)),
    'link': link / memory_size,
    'precedence_weights': _random_weights(
      rng, (batch_size, writes, memory_size)
    ),
    'usage': rng.uniform(size=(batch_size, memory_size)),
  }


def _to_access_state(state, dtype):
  c = lambda x: tf.constant(x, dtype)
  return access.AccessState(
    memory=c(state['memory']),
    read_weights=c(state['read_weights']),
    write_weights=c(state['write_weights']),
    linkage=addressing.TemporalLinkageState(
      link=c(state['link']),
      precedence_weights=c(state['precedence_weights']),
    ),
    usage=c(state['usage']),
  )


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


if __name__ == '__main__':
  tf.test.main()
