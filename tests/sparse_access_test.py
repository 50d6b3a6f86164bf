"""Tests for dnc.sparse_access and dnc.sam against numpy oracles of SAM."""

from absl.testing import parameterized
import numpy as np
import sonnet as snt
import tensorflow as tf

import dnc
from dnc import addressing
from dnc import sam
from dnc import sparse_access
from tests import oracles

_PIECES = (
  'write_vector',
  'write_gate',
  'interpolation_gate',
  'read_keys',
  'read_strengths',
)
_DELTA = sparse_access.ACCESS_THRESHOLD


def _np_interface(inputs, variables, prefix, num_reads, word_size):
  """The interface of `SparseMemoryAccess._read_inputs`, from its weights
  (with the SDNC's read modes where it has their layer)."""
  pieces = _PIECES
  if f'{prefix}/read_mode/w' in variables:
    pieces += ('read_mode',)
  raw = {
    p: inputs @ variables[f'{prefix}/{p}/w'] + variables[f'{prefix}/{p}/b']
    for p in pieces
  }
  batch_size = inputs.shape[0]
  interface = {
    'read_content_keys': raw['read_keys'].reshape(
      batch_size, num_reads, word_size
    ),
    'read_content_strengths': raw['read_strengths'],
    'write_vector': raw['write_vector'],
    'write_gate': oracles.np_sigmoid(raw['write_gate'][:, 0]),
    'interpolation_gate': oracles.np_sigmoid(raw['interpolation_gate'][:, 0]),
  }
  if 'read_mode' in raw:
    interface['read_mode'] = oracles.np_softmax(
      raw['read_mode'].reshape(batch_size, num_reads, 3)
    )
  return interface


def _variables(module):
  return {v.name[: -len(':0')]: v.numpy() for v in module.trainable_variables}


def _dense(weights, memory_size):
  """A `SparseWeights` as N-vectors by numpy, repeated slots added up."""
  indices = np.asarray(weights.indices).astype(int)
  values = np.asarray(weights.values)
  dense = np.zeros(values.shape[:-1] + (memory_size,))
  for index in np.ndindex(*values.shape):
    dense[index[:-1]][indices[index]] += values[index]
  return dense


def _random_sparse_weights(rng, batch_size, reads, memory_size, k):
  """(int32 indices, values) `[B, R, K]`, distinct slots per head."""
  indices = np.stack(
    [
      [rng.permutation(memory_size)[:k] for _ in range(reads)]
      for _ in range(batch_size)
    ]
  ).astype(np.int32)
  return indices, oracles.np_softmax(rng.normal(size=(batch_size, reads, k)))


class SparseAccessFunctionsTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.parameters(*oracles.MODES)
  def test_each_function_matches_numpy_oracle_over_a_sequence(self, mode):
    # Each plain function on its own, fed the oracle's state every step,
    # so that an error in one is not hidden by the others.
    rng = np.random.default_rng(0)
    batch_size, n, w, reads, k = 3, 7, 4, 2, 3
    prev, (indices, values) = oracles.random_sam_state(
      rng, batch_size, n, w, reads, k
    )
    indices = indices.astype(np.int32)
    functions = {
      name: oracles.in_mode(getattr(sparse_access, name), mode)
      for name in (
        'least_recently_used',
        'sparse_write_weights',
        'sparse_erase_and_write',
        'sparse_content_read_weights',
        'update_last_access',
        'sparse_read_words',
      )
    }
    for _ in range(5):
      interface = {
        'read_content_keys': rng.normal(size=(batch_size, reads, w)),
        'read_content_strengths': rng.normal(size=(batch_size, reads)),
        'write_vector': rng.normal(size=(batch_size, w)),
        'write_gate': rng.uniform(size=batch_size),
        'interpolation_gate': rng.uniform(size=batch_size),
      }
      words, expected = oracles.np_sam_step(interface, prev, k)
      least_used = functions['least_recently_used'](tf.constant(prev['usage']))
      self.assertAllEqual(
        least_used, oracles.py_least_recently_used(prev['usage'])
      )
      write = functions['sparse_write_weights'](
        sparse_access.SparseWeights(tf.constant(indices), tf.constant(values)),
        least_used,
        tf.constant(interface['write_gate']),
        tf.constant(interface['interpolation_gate']),
      )
      self.assertEqual(write.values.shape, [batch_size, reads * k + 1])
      self.assertAllClose(
        _dense(write, n), expected['write_weights'], atol=1e-6
      )
      memory = functions['sparse_erase_and_write'](
        tf.constant(prev['memory']),
        least_used,
        write,
        tf.constant(interface['write_vector']),
      )
      self.assertAllClose(memory, expected['memory'], atol=1e-6)
      read = functions['sparse_content_read_weights'](
        tf.constant(expected['memory']),
        tf.constant(interface['read_content_keys']),
        tf.constant(interface['read_content_strengths']),
        k,
      )
      self.assertEqual(read.indices.shape, [batch_size, reads, k])
      self.assertAllClose(_dense(read, n), expected['read_weights'], atol=1e-6)
      usage = functions['update_last_access'](
        tf.constant(prev['usage']), tf.constant(expected['time']), write, read
      )
      self.assertAllEqual(usage, expected['usage'])
      self.assertAllClose(
        functions['sparse_read_words'](read, tf.constant(expected['memory'])),
        words,
        atol=1e-6,
      )
      prev = expected
      indices, values = read.indices.numpy(), read.values.numpy()

  @parameterized.parameters(*oracles.MODES)
  def test_k_equal_to_n_is_dense_content_addressing(self, mode):
    rng = np.random.default_rng(1)
    memory = tf.constant(rng.normal(size=(2, 6, 4)))
    keys = tf.constant(rng.normal(size=(2, 3, 4)))
    strengths = tf.constant(rng.normal(size=(2, 3)))
    read = oracles.in_mode(sparse_access.sparse_content_read_weights, mode)(
      memory, keys, strengths, 6
    )
    self.assertAllClose(
      _dense(read, 6),
      addressing.content_weights(memory, keys, strengths),
      rtol=1e-12,
      atol=1e-12,
    )
    # Every slot once per head.
    self.assertAllEqual(
      np.sort(read.indices.numpy(), -1),
      np.broadcast_to(np.arange(6), [2, 3, 6]),
    )

  def test_read_keeps_the_k_most_similar_slots(self):
    # Rows along the key at decreasing angles: the first K are read.
    angles = np.array([0.5, 0.1, 1.2, 0.3, 0.9])
    memory = np.stack([np.cos(angles), np.sin(angles)], -1)[None]
    keys = np.array([[[1.0, 0.0]]])
    read = sparse_access.sparse_content_read_weights(
      tf.constant(memory),
      tf.constant(keys),
      tf.constant([[3.0]], tf.float64),
      2,
    )
    self.assertAllEqual(read.indices[0, 0], [1, 3])
    similarity = np.cos(angles[[1, 3]])
    self.assertAllClose(
      read.values[0, 0], oracles.np_softmax(oracles.np_softplus(3) * similarity)
    )

  def test_least_recently_used_and_last_access_against_python(self):
    # Many steps of random sparse accesses with ties in U (integer times,
    # weights at delta exactly and just above).
    rng = np.random.default_rng(2)
    batch_size, n, reads, k = 3, 9, 2, 3
    usage = np.zeros([batch_size, n])
    least_recently_used = tf.function(sparse_access.least_recently_used)
    update = tf.function(sparse_access.update_last_access)
    for t in range(1, 13):
      least_used = least_recently_used(tf.constant(usage))
      self.assertAllEqual(least_used, oracles.py_least_recently_used(usage))
      indices, values = _random_sparse_weights(rng, batch_size, reads, n, k)
      values *= rng.choice([0, 0.004, 1], size=values.shape)
      values[0, 0, 0] = _DELTA  # Not above delta: no access.
      write = sparse_access.sparse_write_weights(
        sparse_access.SparseWeights(indices, values),
        least_used,
        tf.constant(rng.choice([0.0, 0.5, 1.0], size=batch_size)),
        tf.constant(rng.choice([0.0, 0.5, 1.0], size=batch_size)),
      )
      read_indices, read_values = _random_sparse_weights(
        rng, batch_size, reads, n, k
      )
      read_values *= rng.choice([0, 0.004, 1], size=read_values.shape)
      read = sparse_access.SparseWeights(read_indices, read_values)
      time = np.full([batch_size], float(t))
      expected = oracles.py_update_last_access(
        usage, time, _dense(write, n), _dense(read, n), _DELTA
      )
      usage = update(tf.constant(usage), tf.constant(time), write, read)
      self.assertAllEqual(usage, expected)
      usage = usage.numpy()
    # Slots were left behind and later caught up: U is not all t.
    self.assertGreater(len(np.unique(usage)), 2)

  def test_bad_k_and_shapes_raise_one_line_with_name(self):
    memory = tf.zeros([2, 5, 3])
    keys, strengths = tf.zeros([2, 1, 3]), tf.zeros([2, 1])
    for k, error in ((0, ValueError), (6, ValueError), (2.0, TypeError)):
      with self.assertRaisesRegex(error, '^`k`[^\n]*$'):
        sparse_access.sparse_content_read_weights(memory, keys, strengths, k)
      with self.assertRaisesRegex(error, '^`k`[^\n]*$'):
        sparse_access.top_k_weights(tf.zeros([2, 1, 5]), k)
    with self.assertRaisesRegex(ValueError, '^`keys`[^\n]*$'):
      sparse_access.sparse_content_read_weights(
        memory, tf.zeros([2, 1, 4]), strengths, 2
      )
    with self.assertRaisesRegex(ValueError, '^`write_vector`[^\n]*$'):
      sparse_access.sparse_erase_and_write(
        memory,
        tf.zeros([2], tf.int32),
        sparse_access.SparseWeights(
          tf.zeros([2, 3], tf.int32), tf.zeros([2, 3])
        ),
        tf.zeros([2, 4]),
      )
    with self.assertRaisesRegex(ValueError, '^`time`[^\n]*$'):
      sparse_access.update_last_access(
        tf.zeros([2, 5]), tf.zeros([3]), None, None
      )

  def test_repeated_write_slots_add_up(self):
    # Two read heads on the same slot, and the least used slot among them:
    # the write weight of a slot is the sum of its entries.
    indices = np.array([[[2, 0], [2, 1]]], np.int32)
    values = np.array([[[0.5, 0.5], [1.0, 0.0]]])
    write = sparse_access.sparse_write_weights(
      sparse_access.SparseWeights(indices, values),
      tf.constant([2]),
      tf.constant([0.8], tf.float64),
      tf.constant([0.25], tf.float64),
    )
    # alpha (gamma mean_h w^R + (1 - gamma) I^U) = 0.8 (0.25 [0.25, 0, 0.75,
    # 0] + 0.75 e_2).
    self.assertAllClose(_dense(write, 4)[0], [0.05, 0, 0.75, 0])
    memory = sparse_access.sparse_erase_and_write(
      tf.ones([1, 4, 2], tf.float64),
      tf.constant([2]),
      write,
      tf.constant([[1.0, -2.0]], tf.float64),
    )
    self.assertAllClose(
      memory[0], [[1.05, 0.9], [1, 1], [0.75, -1.5], [1, 1]], atol=1e-12
    )


class SparseMemoryAccessTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.parameters(*oracles.MODES)
  def test_to_dense_adds_repeated_slots(self, mode):
    rng = np.random.default_rng(9)
    weights = sparse_access.SparseWeights(
      rng.integers(0, 4, size=(2, 3, 5)).astype(np.float64),
      rng.normal(size=(2, 3, 5)),
    )
    got = oracles.in_mode(sparse_access.to_dense, mode)(weights, 4)
    self.assertAllClose(got, _dense(weights, 4), rtol=1e-12, atol=1e-12)

  def test_read_inputs_match_linear_layers(self):
    rng = np.random.default_rng(3)
    module = sparse_access.SparseMemoryAccess(5, 3, num_reads=2, sparse_reads=2)
    inputs = 3 * rng.normal(size=(4, 6))
    got = {k: v.numpy() for k, v in module._read_inputs(inputs).items()}
    variables = _variables(module)
    self.assertCountEqual(
      variables,
      [f'sparse_memory_access/{p}/{v}' for p in _PIECES for v in ('w', 'b')],
    )
    expected = _np_interface(inputs, variables, 'sparse_memory_access', 2, 3)
    self.assertCountEqual(got, expected)
    for key, value in expected.items():
      self.assertAllClose(got[key], value, rtol=1e-12, atol=1e-12, msg=key)

  @parameterized.product(mode=oracles.MODES, start=('random', 'initial'))
  def test_steps_match_numpy_oracle(self, mode, start):
    rng = np.random.default_rng(4)
    batch_size, n, w, reads, k = 2, 8, 4, 2, 3
    module = sparse_access.SparseMemoryAccess(
      n, w, num_reads=reads, sparse_reads=k
    )
    prev, sparse_reads = oracles.random_sam_state(
      rng, batch_size, n, w, reads, k
    )
    state = oracles.to_sparse_access_state(prev, sparse_reads, tf.float64)
    if start == 'initial':
      state = module.initial_state(batch_size, tf.float64)
      prev = {
        'memory': np.zeros([batch_size, n, w]),
        'read_weights': np.zeros([batch_size, reads, n]),
        'usage': np.zeros([batch_size, n]),
        'time': np.zeros([batch_size]),
      }
    module(tf.zeros([batch_size, 5], tf.float64), state)  # Builds it.
    step = oracles.in_mode(module, mode)
    written = set()
    for _ in range(6):
      inputs = rng.normal(size=(batch_size, 5))
      words, state = step(tf.constant(inputs), state)
      interface = _np_interface(
        inputs, _variables(module), 'sparse_memory_access', reads, w
      )
      expected_words, prev = oracles.np_sam_step(interface, prev, k)
      self.assertAllClose(words, expected_words, atol=1e-6)
      self.assertAllClose(state.memory, prev['memory'], atol=1e-6)
      self.assertAllClose(
        _dense(state.read_weights, n), prev['read_weights'], atol=1e-6
      )
      self.assertAllClose(
        _dense(state.write_weights, n), prev['write_weights'], atol=1e-6
      )
      self.assertAllEqual(state.usage, prev['usage'])
      self.assertAllEqual(state.time, prev['time'])
      written.update(np.argmax(prev['write_weights'], -1))
    if start == 'initial':  # A fresh memory fills its slots in order.
      self.assertAllEqual(state.time, [6, 6])
      self.assertGreater(len(written), 2)

  def test_open_gates_write_to_the_least_used_slots_in_order(self):
    # alpha = 1, gamma = 0: each step erases the least used slot and writes
    # a_t there; reads of weight below delta leave U alone, so the memory
    # fills slot by slot and then wraps around to the oldest.
    n, w = 4, 3
    module = sparse_access.SparseMemoryAccess(
      n, w, num_reads=1, sparse_reads=2, access_threshold=0.5
    )
    inputs = tf.constant(np.ones([1, 2]))
    module(inputs, module.initial_state(1, tf.float64))
    layers = module._interface_linears
    for piece, bias in (('write_gate', 30.0), ('interpolation_gate', -30.0)):
      layers[piece].w.assign(tf.zeros_like(layers[piece].w))
      layers[piece].b.assign([bias])
    layers['read_strengths'].b.assign([-30.0])  # A flat read: below delta.
    layers['read_strengths'].w.assign(tf.zeros_like(layers['read_strengths'].w))
    layers['read_keys'].w.assign(tf.zeros_like(layers['read_keys'].w))
    layers['read_keys'].b.assign([1.0, 0, 0])
    state = module.initial_state(1, tf.float64)
    slots = []
    for t in range(6):
      layers['write_vector'].b.assign([t + 1.0, 0, 0])
      _, state = module(inputs, state)
      slots.append(int(np.argmax(_dense(state.write_weights, n))))
    self.assertEqual(slots, [0, 1, 2, 3, 0, 1])
    memory = state.memory.numpy()[0]
    w_vector = layers['write_vector'].w.numpy().sum(0)
    # Slot 0 was erased before t = 5 was written: only the last write.
    self.assertAllClose(memory[0], w_vector + [5, 0, 0], atol=1e-9)
    self.assertAllClose(memory[3], w_vector + [4, 0, 0], atol=1e-9)
    self.assertAllEqual(state.usage[0], [5, 6, 3, 4])

  def test_state_size_and_initial_state(self):
    module = sparse_access.SparseMemoryAccess(6, 3, num_reads=2, sparse_reads=4)
    reads, writes = tf.TensorShape([2, 4]), tf.TensorShape([9])
    expected = sparse_access.SparseAccessState(
      memory=tf.TensorShape([6, 3]),
      read_weights=sparse_access.SparseWeights(reads, reads),
      write_weights=sparse_access.SparseWeights(writes, writes),
      usage=tf.TensorShape([6]),
      time=tf.TensorShape([]),
    )
    self.assertEqual(module.state_size, expected)
    self.assertEqual(module.output_size, tf.TensorShape([2, 3]))
    state = module.initial_state(tf.constant(3))
    for leaf, shape in zip(
      tf.nest.flatten(state), tf.nest.flatten(expected), strict=True
    ):
      self.assertAllEqual(leaf, np.zeros([3, *shape]))

  @parameterized.parameters(
    ('memory_size', dict(memory_size=0)),
    ('word_size', dict(word_size=-1)),
    ('num_reads', dict(num_reads=0)),
    ('sparse_reads', dict(sparse_reads=0)),
    ('sparse_reads', dict(sparse_reads=9)),
    ('access_threshold', dict(access_threshold=1.0)),
    ('access_threshold', dict(access_threshold=-0.1)),
  )
  def test_bad_arguments_raise_one_line_with_name(self, name, change):
    arguments = dict(memory_size=8, word_size=4, num_reads=1, sparse_reads=4)
    with self.assertRaisesRegex(ValueError, f'^`{name}`[^\n]*$'):
      sparse_access.SparseMemoryAccess(**{**arguments, **change})
    with self.assertRaisesRegex(ValueError, f'^`{name}`[^\n]*$'):
      sam.SAM({**arguments, **change}, dict(hidden_size=4), output_size=2)

  def test_wrong_state_raises_with_name(self):
    module = sparse_access.SparseMemoryAccess(5, 3, sparse_reads=2)
    state = module.initial_state(2)
    inputs = tf.zeros([2, 4])
    with self.assertRaisesRegex(TypeError, '`prev_state` must be a Sparse'):
      module(inputs, tuple(state))
    bad = state._replace(read_weights=state.read_weights.values)
    with self.assertRaisesRegex(TypeError, '`prev_state.read_weights`'):
      module(inputs, bad)
    bad = state._replace(usage=tf.zeros([2, 6]))
    with self.assertRaisesRegex(ValueError, '`prev_state.usage`'):
      module(inputs, bad)


class SAMTest(tf.test.TestCase, parameterized.TestCase):
  _ACCESS = dict(memory_size=8, word_size=4, num_reads=2, sparse_reads=3)

  def _core(self, **kwargs):
    return sam.SAM(
      self._ACCESS,
      dict(hidden_size=6, dtype=tf.float64),
      output_size=3,
      **kwargs,
    )

  @parameterized.parameters(*oracles.MODES)
  def test_unroll_matches_numpy_oracle(self, mode):
    tf.random.set_seed(5)
    rng = np.random.default_rng(5)
    core = self._core()
    batch_size, steps = 2, 5
    inputs = rng.normal(size=(steps, batch_size, 4))
    initial = core.initial_state(batch_size)
    core(tf.constant(inputs[0]), initial)  # Builds the variables.

    def unroll(inputs):
      return snt.dynamic_unroll(core, inputs, core.initial_state(batch_size))

    outputs, final = oracles.in_mode(unroll, mode)(tf.constant(inputs))
    v = _variables(core)
    n, w, reads = 8, 4, 2
    h = c = np.zeros([batch_size, 6])
    words = np.zeros([batch_size, reads * w])
    prev = {
      'memory': np.zeros([batch_size, n, w]),
      'read_weights': np.zeros([batch_size, reads, n]),
      'usage': np.zeros([batch_size, n]),
      'time': np.zeros([batch_size]),
    }
    for t in range(steps):
      h, c = oracles.np_lstm_step(
        np.concatenate([inputs[t], words], 1),
        h,
        c,
        v['sam/lstm/w_i'],
        v['sam/lstm/w_h'],
        v['sam/lstm/b'],
      )
      interface = _np_interface(h, v, 'sam/sparse_memory_access', reads, w)
      read_words, prev = oracles.np_sam_step(interface, prev, 3)
      words = read_words.reshape(batch_size, -1)
      output = (
        np.concatenate([h, words], 1) @ v['sam/output_linear/w']
        + v['sam/output_linear/b']
      )
      self.assertAllClose(outputs[t], output, atol=1e-6, msg=f'step {t}')
    access_state = final.access_state
    self.assertAllClose(access_state.memory, prev['memory'], atol=1e-6)
    self.assertAllEqual(access_state.usage, prev['usage'])
    self.assertAllClose(final.controller_state.hidden, h, atol=1e-6)

  def test_eager_function_and_xla_agree_with_gradients(self):
    tf.random.set_seed(6)
    core = self._core()
    inputs = tf.random.normal([2, 2, 5], dtype=tf.float64)

    def run(inputs):
      with tf.GradientTape() as tape:
        state = core.initial_state(2)
        loss = 0
        for t in range(inputs.shape[0]):  # A static unroll traces faster.
          output, state = core(inputs[t], state)
          loss += tf.reduce_sum(output**2)
      return loss, tape.gradient(loss, core.trainable_variables)

    run(inputs)  # Creates the variables.
    results = [oracles.in_mode(run, mode)(inputs) for mode in oracles.MODES]
    for loss, gradients in results[1:]:
      self.assertAllClose(loss, results[0][0], rtol=1e-9)
      self.assertAllClose(gradients, results[0][1], rtol=1e-7, atol=1e-9)
    for gradient, variable in zip(
      results[0][1], core.trainable_variables, strict=True
    ):
      self.assertGreater(np.abs(gradient).max(), 0, variable.name)

  def test_gradients_match_numerical_differences(self):
    tf.random.set_seed(7)
    rng = np.random.default_rng(7)
    core = self._core()
    batch_size = 1
    inputs = tf.constant(rng.normal(size=(2, batch_size, 4)))
    initial = core.initial_state(batch_size)
    core(inputs[0], initial)
    # A memory of distinct rows, so that the top K holds under the
    # numerical differences.
    memory = tf.constant(rng.normal(size=(batch_size, 8, 4)))

    def loss(inputs, memory):
      state = initial._replace(
        access_state=initial.access_state._replace(memory=memory)
      )
      total = 0
      for t in range(inputs.shape[0]):
        output, state = core(inputs[t], state)
        total += tf.reduce_sum(output * output)
      return total + tf.reduce_sum(state.access_state.memory)

    theoretical, numerical = tf.test.compute_gradient(
      tf.function(loss), [inputs, memory], delta=1e-6
    )
    for name, got, want in zip(
      ('inputs', 'memory'), theoretical, numerical, strict=True
    ):
      self.assertAllClose(got, want, rtol=1e-5, atol=1e-6, msg=name)
      self.assertGreater(np.abs(got).max(), 1e-2, msg=name)

  def test_recomputed_unroll_and_another_controller(self):
    # `dnc.recompute` keeps only some states and runs chunks again: the
    # step must be a function of its state (the step t is in it).
    core = sam.SAM(self._ACCESS, output_size=3, controller=snt.GRU(5))
    inputs = tf.random.stateless_normal([4, 2, 3], seed=[3, 4])
    initial = core.initial_state(2)
    core(inputs[0], initial)

    def loss_and_gradients(unroll):
      with tf.GradientTape() as tape:
        outputs, final = unroll(core, inputs, initial)
        loss = tf.reduce_sum(outputs**2) + tf.reduce_sum(
          final.access_state.memory
        )
      return loss, tape.gradient(loss, core.trainable_variables)

    expected = loss_and_gradients(snt.dynamic_unroll)
    got = loss_and_gradients(
      lambda *args: dnc.recompute.dynamic_unroll(*args, chunk_length=2)
    )
    self.assertAllClose(got, expected, rtol=1e-5, atol=1e-6)
    self.assertIn('gru/w_i:0', [v.name for v in core.trainable_variables])

  def test_public_names_and_variables(self):
    self.assertIs(dnc.SAM, sam.SAM)
    self.assertIs(dnc.SparseMemoryAccess, sparse_access.SparseMemoryAccess)
    core = self._core()
    state = core.initial_state(2)
    self.assertIsInstance(state, dnc.DNCState)
    self.assertIsInstance(state.access_state, dnc.SparseAccessState)
    core(tf.zeros([2, 5], tf.float64), state)
    self.assertCountEqual(
      _variables(core),
      [f'sam/sparse_memory_access/{p}/{v}' for p in _PIECES for v in 'wb']
      + ['sam/lstm/w_i', 'sam/lstm/w_h', 'sam/lstm/b']
      + ['sam/output_linear/w', 'sam/output_linear/b'],
    )


class SDNCTest(tf.test.TestCase, parameterized.TestCase):
  _ACCESS = dict(
    memory_size=8, word_size=4, num_reads=2, sparse_reads=2, link_sparsity=2
  )

  def test_sparse_read_weights_mix_the_three_reads_by_mode(self):
    dense = np.array([[[0.1, 0.5, 0.0, 0.3, 0.1]]])
    forward = sparse_access.top_k_weights(tf.constant(dense), 2)
    self.assertAllEqual(forward.indices, [[[1, 3]]])
    self.assertAllClose(forward.values, [[[0.5, 0.3]]])  # Not renormalised.
    backward = sparse_access.top_k_weights(tf.constant(dense[..., ::-1]), 2)
    content = sparse_access.SparseWeights(
      tf.constant([[[0, 4]]]), tf.constant([[[0.75, 0.25]]], tf.float64)
    )
    mode = tf.constant([[[0.2, 0.3, 0.5]]], tf.float64)  # b, f, c
    read = sparse_access.sparse_read_weights(mode, content, forward, backward)
    self.assertEqual(read.indices.shape, [1, 1, 6])
    expected = (
      0.2 * np.array([0, 0.3, 0, 0.5, 0])
      + 0.3 * np.array([0, 0.5, 0, 0.3, 0])
      + 0.5 * np.array([0.75, 0, 0, 0, 0.25])
    )
    self.assertAllClose(_dense(read, 5)[0, 0], expected, atol=1e-12)

  @parameterized.parameters(*oracles.MODES)
  def test_steps_match_numpy_oracle(self, mode):
    rng = np.random.default_rng(10)
    batch_size, n, w, reads, k, link_k = 2, 8, 4, 2, 2, 2
    module = sparse_access.SparseTemporalMemoryAccess(**self._ACCESS)
    state = module.initial_state(batch_size, tf.float64)
    module(tf.zeros([batch_size, 5], tf.float64), state)  # Builds it.
    variables = _variables(module)
    prefix = 'sparse_temporal_memory_access'
    self.assertCountEqual(
      variables,
      [f'{prefix}/{p}/{v}' for p in _PIECES + ('read_mode',) for v in 'wb'],
    )
    prev = {
      'memory': np.zeros([batch_size, n, w]),
      'read_weights': np.zeros([batch_size, reads, n]),
      'usage': np.zeros([batch_size, n]),
      'time': np.zeros([batch_size]),
      'link': np.zeros([batch_size, 1, n, n]),
      'precedence_weights': np.zeros([batch_size, 1, n]),
    }
    step = oracles.in_mode(module, mode)
    links = 0
    for _ in range(6):
      inputs = rng.normal(size=(batch_size, 5))
      words, state = step(tf.constant(inputs), state)
      interface = _np_interface(inputs, variables, prefix, reads, w)
      expected_words, prev = oracles.np_sdnc_step(interface, prev, k, link_k)
      self.assertAllClose(words, expected_words, atol=1e-6)
      self.assertAllClose(state.memory, prev['memory'], atol=1e-6)
      self.assertEqual(state.read_weights.values.shape, [2, reads, 3 * k])
      self.assertAllClose(
        _dense(state.read_weights, n), prev['read_weights'], atol=1e-6
      )
      self.assertAllClose(
        _dense(state.write_weights, n), prev['write_weights'], atol=1e-6
      )
      self.assertAllClose(
        dnc.sparse_link.to_dense(state.linkage.link), prev['link'], atol=1e-6
      )
      self.assertAllClose(
        state.linkage.precedence_weights,
        prev['precedence_weights'],
        atol=1e-6,
      )
      self.assertAllEqual(state.usage, prev['usage'])
      links += np.count_nonzero(prev['link'])
    self.assertGreater(links, 0)  # The link reads were not all zero.

  def test_step_gradients_match_numerical_differences(self):
    rng = np.random.default_rng(11)
    module = sparse_access.SparseTemporalMemoryAccess(
      memory_size=6, word_size=3, num_reads=2, sparse_reads=2, link_sparsity=2
    )
    state = module.initial_state(1, tf.float64)
    module(tf.zeros([1, 5], tf.float64), state)  # Builds it.
    # Open write gates and writes to the least used slots: one-hot writes
    # that chain slots 0, 1, 2, ... in the link.
    layers = module._interface_linears
    layers['write_gate'].b.assign([4.0])
    layers['interpolation_gate'].b.assign([-4.0])
    step = tf.function(module)
    for _ in range(4):
      _, state = step(tf.constant(rng.normal(size=(1, 5))), state)
    link = state.linkage.link
    self.assertGreaterEqual(np.count_nonzero(link.values), 2)
    inputs = tf.constant(rng.normal(size=(1, 5)))
    # Distinct rows (no zero ones, whose similarities tie), so that the top
    # K holds under the numerical differences.
    memory = tf.constant(rng.normal(size=(1, 6, 3)))

    def loss(inputs, memory, link_values, read_values):
      prev = state._replace(
        memory=memory,
        linkage=state.linkage._replace(link=link._replace(values=link_values)),
        read_weights=state.read_weights._replace(values=read_values),
      )
      words, next_state = module(inputs, prev)
      return (
        tf.reduce_sum(words * words)
        + tf.reduce_sum(next_state.memory)
        + tf.reduce_sum(next_state.linkage.link.values)
      )

    values = [inputs, memory, link.values, state.read_weights.values]
    theoretical, numerical = tf.test.compute_gradient(
      tf.function(loss), values, delta=1e-6
    )
    for name, got, want in zip(
      ('inputs', 'memory', 'link', 'read_weights'),
      theoretical,
      numerical,
      strict=True,
    ):
      self.assertAllClose(got, want, rtol=1e-5, atol=1e-6, msg=name)
      self.assertGreater(np.abs(got).max(), 1e-2, msg=name)

  def test_core_unrolls_with_its_state(self):
    core = sam.SDNC(self._ACCESS, dict(hidden_size=6), output_size=3)
    inputs = tf.random.stateless_normal([4, 2, 5], seed=[1, 2])
    outputs, final = snt.dynamic_unroll(core, inputs, core.initial_state(2))
    self.assertEqual(outputs.shape, [4, 2, 3])
    self.assertIsInstance(final.access_state, dnc.SparseTemporalAccessState)
    self.assertAllEqual(final.access_state.time, [4, 4])
    self.assertIn(
      'sdnc/sparse_temporal_memory_access/read_mode/w:0',
      [v.name for v in core.trainable_variables],
    )

  def test_no_tensor_of_the_training_step_grows_as_n_squared(self):
    # Every tensor of a step and its gradient (traced, not run), with N
    # large enough that N^2 stands out from B N W, B R N and the layers.
    memory_size = 3000
    core = sam.SDNC(
      dict(memory_size=memory_size, word_size=4, num_reads=2, sparse_reads=4),
      dict(hidden_size=8),
      output_size=3,
      fast_kernels=True,
    )

    @tf.function
    def step(inputs):
      with tf.GradientTape() as tape:
        output, _ = core(inputs, core.initial_state(2))
        loss = tf.reduce_sum(output)
      return tape.gradient(loss, core.trainable_variables)

    core(tf.zeros([2, 5]), core.initial_state(2))
    graph = step.get_concrete_function(tf.TensorSpec([2, 5])).graph
    largest = max(
      output.shape.num_elements() or 0
      for op in graph.get_operations()
      for output in op.outputs
    )
    self.assertLess(largest, memory_size**2 // 10)
    self.assertGreaterEqual(largest, memory_size * 4)  # The memory M.

  @parameterized.parameters(0, 9, True)
  def test_bad_link_sparsity_raises_one_line_with_name(self, link_sparsity):
    with self.assertRaisesRegex(ValueError, '^`link_sparsity`[^\n]*$'):
      sparse_access.SparseTemporalMemoryAccess(
        **{**self._ACCESS, 'link_sparsity': link_sparsity}
      )


if __name__ == '__main__':
  tf.test.main()
