"""Tests for dnc.dnc: the reference fixture, every way to unroll, errors."""

import json

from absl.testing import parameterized
import numpy as np
import sonnet as snt
import tensorflow as tf

from dnc import dnc
from tests import shared_data

_ACCESS_CONFIG = dict(memory_size=8, word_size=5, num_reads=2, num_writes=2)
_CONTROLLER_CONFIG = dict(hidden_size=10)


def _final_fields(state):
  """The fixture's `final/<field>` names mapped to a DNCState's tensors."""
  access_state = state.access_state
  return {
    'access_output': state.access_output,
    'memory': access_state.memory,
    'read_weights': access_state.read_weights,
    'write_weights': access_state.write_weights,
    'link': access_state.linkage.link,
    'precedence_weights': access_state.linkage.precedence_weights,
    'usage': access_state.usage,
    'controller_hidden': state.controller_state.hidden,
    'controller_cell': state.controller_state.cell,
  }


def _slot_permutation(expected_memory, actual_memory):
  """perm[i]: the slot of `actual_memory` ([N, W]) matching slot i of
  `expected_memory`, pairing the closest rows first."""
  distances = np.linalg.norm(
    expected_memory[:, None] - actual_memory[None], axis=-1
  )
  perm = {}
  for flat in np.argsort(distances, axis=None):
    i, j = np.unravel_index(flat, distances.shape)
    if i not in perm and j not in perm.values():
      perm[i] = j
  return np.array([perm[i] for i in range(len(perm))])


def _relabel_slots(fields, expected_memory):
  """Reorders the memory slots of `_final_fields` to match `expected_memory`.

  In float32, usages that differ by less than rounding (e.g. by eps^2 after
  the first write) tie, and which equally free slot the allocation picks then
  depends on rounding order (float64 vs float32, XLA's fusion vs eager). The
  DNC is symmetric under relabelling memory slots, so outputs agree exactly
  and the state agrees once slots are matched up.

  Args:
    fields: dict of `_final_fields` (tensors or arrays, batch first).
    expected_memory: `[batch_size, memory_size, word_size]`.

  Returns:
    dict of numpy arrays, slots reordered per batch element.
  """
  fields = {k: np.array(v) for k, v in fields.items()}
  out = {k: v.copy() for k, v in fields.items()}
  for b in range(expected_memory.shape[0]):
    perm = _slot_permutation(expected_memory[b], fields['memory'][b])
    out['memory'][b] = fields['memory'][b][perm]
    out['usage'][b] = fields['usage'][b][perm]
    for key in ('read_weights', 'write_weights', 'precedence_weights'):
      out[key][b] = fields[key][b][:, perm]
    out['link'][b] = fields['link'][b][:, perm][:, :, perm]
  return out


def _max_relative_error(actual, expected):
  scale = max(np.max(np.abs(expected)), 1e-30)
  return np.max(np.abs(np.asarray(actual) - expected)) / scale


class FixtureTest(tf.test.TestCase, parameterized.TestCase):
  """Reproduces an independent implementation's outputs and gradients."""

  def setUp(self):
    super().setUp()
    self.fixture = np.load(shared_data.require_fixture())
    self.config = json.loads(str(self.fixture['config']))

  def _run(self, dtype, mode='eager'):
    """Builds the fixture's DNC, loads its weights and unrolls it.

    Eagerly, `snt.dynamic_unroll` is a Python loop; in a `tf.function` (and
    under XLA) it is a `while` loop with its own gradient, which the custom
    gradients of the core must also get right.
    """
    config, fixture = self.config, self.fixture
    core = dnc.DNC(
      access_config=dict(
        memory_size=config['memory_size'],
        word_size=config['word_size'],
        num_reads=config['num_reads'],
        num_writes=config['num_writes'],
      ),
      controller_config=dict(hidden_size=config['hidden_size'], dtype=dtype),
      output_size=config['output_size'],
      clip_value=config['clip_value'],
    )
    inputs = tf.constant(fixture['inputs'], dtype)
    initial_state = core.initial_state(config['batch_size'], dtype)
    core(inputs[0], initial_state)  # Creates the variables.
    variables = {v.name[: -len(':0')]: v for v in core.trainable_variables}
    names = sorted(k[len('weights/') :] for k in fixture if 'weights/' in k)
    self.assertCountEqual(variables, names)
    for name in names:
      variables[name].assign(fixture['weights/' + name])

    def unroll_and_differentiate(inputs):
      with tf.GradientTape() as tape:
        outputs, final_state = snt.dynamic_unroll(core, inputs, initial_state)
        loss = tf.reduce_sum(
          outputs * fixture['loss_output_weights']
        ) + tf.reduce_sum(final_state.access_state.memory**2)
      grads = tape.gradient(loss, [variables[name] for name in names])
      return outputs, final_state, grads

    if mode != 'eager':
      unroll_and_differentiate = tf.function(
        unroll_and_differentiate, jit_compile=mode == 'xla'
      )
    outputs, final_state, grads = unroll_and_differentiate(inputs)
    return outputs, final_state, dict(zip(names, grads, strict=True))

  @parameterized.parameters('eager', 'function', 'xla')
  def test_float64_reproduces_outputs_state_and_gradients(self, mode):
    outputs, final_state, grads = self._run(tf.float64, mode)
    self.assertLess(_max_relative_error(outputs, self.fixture['outputs']), 1e-8)
    for field, value in _final_fields(final_state).items():
      with self.subTest(field=field):
        self.assertLess(
          _max_relative_error(value, self.fixture['final/' + field]), 1e-8
        )
    for name, grad in grads.items():
      with self.subTest(grad=name):
        self.assertLess(
          _max_relative_error(grad, self.fixture['grads/' + name]), 1e-8
        )

  def test_float32_reproduces_up_to_a_relabelling_of_memory_slots(self):
    outputs, final_state, grads = self._run(tf.float32)
    self.assertLess(_max_relative_error(outputs, self.fixture['outputs']), 1e-4)
    for name, grad in grads.items():
      with self.subTest(grad=name):
        self.assertLess(
          _max_relative_error(grad, self.fixture['grads/' + name]), 1e-4
        )

    # In this fixture, after the first write the usages of slots 2..7 differ
    # only by eps^2 = 1e-12 (relative 4e-11): float64 sees slot 2 as used,
    # float32 rounds them to a tie and allocates slot 2 where float64 takes
    # slot 3 (see `_relabel_slots`).
    expected = {
      k: self.fixture['final/' + k] for k in _final_fields(final_state)
    }
    actual = _relabel_slots(_final_fields(final_state), expected['memory'])
    for field, value in actual.items():
      with self.subTest(field=field):
        self.assertLess(_max_relative_error(value, expected[field]), 1e-4)


def _make_core(clip_value=None, dtype=tf.float32, output_size=3):
  return dnc.DNC(
    _ACCESS_CONFIG,
    dict(_CONTROLLER_CONFIG, dtype=dtype),
    output_size=output_size,
    clip_value=clip_value,
  )


def _python_loop(core, inputs, state):
  outputs = []
  for t in range(inputs.shape[0]):
    output, state = core(inputs[t], state)
    outputs.append(output)
  return tf.stack(outputs), state


_UNROLLS = {
  'python_loop': _python_loop,
  'static_unroll': snt.static_unroll,
  'dynamic_unroll': snt.dynamic_unroll,
}


class UnrollTest(tf.test.TestCase, parameterized.TestCase):
  """Every way a researcher runs a core gives the same numbers."""

  def setUp(self):
    super().setUp()
    tf.random.set_seed(0)
    self.core = _make_core(clip_value=20)
    rng = np.random.RandomState(0)
    self.inputs = tf.constant(rng.randn(6, 3, 4), tf.float32)
    self.state = self.core.initial_state(3)
    self.core(self.inputs[0], self.state)  # Creates the variables.
    self.expected_outputs, self.expected_state = _python_loop(
      self.core, self.inputs, self.state
    )

  @parameterized.product(
    unroll=list(_UNROLLS),
    mode=['eager', 'function', 'xla'],
  )
  def test_same_outputs(self, unroll, mode):
    def run(inputs, state):
      return _UNROLLS[unroll](self.core, inputs, state)

    if mode != 'eager':
      run = tf.function(run, jit_compile=mode == 'xla')
    outputs, final_state = run(self.inputs, self.state)
    self.assertAllClose(outputs, self.expected_outputs, atol=1e-5, rtol=1e-5)
    expected = _final_fields(self.expected_state)
    actual = _relabel_slots(_final_fields(final_state), expected['memory'])
    for field, value in actual.items():
      self.assertAllClose(value, expected[field], atol=1e-5, rtol=1e-5)

  def test_unknown_batch_size_in_function(self):
    @tf.function(input_signature=[tf.TensorSpec([None, None, 4], tf.float32)])
    def run(inputs):
      state = self.core.initial_state(tf.shape(inputs)[1])
      outputs, _ = snt.dynamic_unroll(self.core, inputs, state)
      return outputs

    self.assertAllClose(
      run(self.inputs), self.expected_outputs, atol=1e-5, rtol=1e-5
    )
    rng = np.random.RandomState(1)
    other = tf.constant(rng.randn(5, 7, 4), tf.float32)
    expected, _ = _python_loop(self.core, other, self.core.initial_state(7))
    self.assertAllClose(run(other), expected, atol=1e-5, rtol=1e-5)

  def test_gradients_reach_every_variable_and_the_inputs(self):
    with tf.GradientTape() as tape:
      tape.watch(self.inputs)
      outputs, final_state = snt.dynamic_unroll(
        self.core, self.inputs, self.state
      )
      loss = tf.reduce_sum(outputs**2) + tf.reduce_sum(
        final_state.access_state.memory
      )
    variables = self.core.trainable_variables
    grads = tape.gradient(loss, [self.inputs, *variables])
    self.assertLen(variables, 3 + 20 + 2)
    for variable, grad in zip([self.inputs, *variables], grads, strict=True):
      name = getattr(variable, 'name', 'inputs')
      with self.subTest(name=name):
        self.assertIsNotNone(grad)
        self.assertTrue(np.all(np.isfinite(grad)))
        self.assertGreater(np.max(np.abs(grad)), 0)


class ControllerTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.parameters(None, 3)
  def test_matches_snt_lstm_with_the_same_variables(self, projection_size):
    rng = np.random.RandomState(22)
    config = dict(hidden_size=4, projection_size=projection_size)
    ours, reference = dnc._LSTM(**config), snt.LSTM(**config)
    inputs = tf.constant(rng.randn(2, 5), tf.float32)
    hidden_size = projection_size or 4
    state = snt.LSTMState(
      hidden=tf.constant(rng.randn(2, hidden_size), tf.float32),
      cell=tf.constant(rng.randn(2, 4), tf.float32),
    )
    reference(inputs, state)
    ours(inputs, state)
    self.assertEqual(ours.name, 'lstm')
    for mine, theirs in zip(
      ours.trainable_variables, reference.trainable_variables, strict=True
    ):
      self.assertEqual(mine.name, theirs.name)
      mine.assign(theirs + rng.randn(*theirs.shape) * 0.1)
      theirs.assign(mine)

    loss_weights = tf.constant(rng.randn(2, hidden_size), tf.float32)

    def outputs_and_gradients(core):
      with tf.GradientTape() as tape:
        tape.watch([inputs, state])
        output, next_state = core(inputs, state)
        loss = tf.reduce_sum(output * loss_weights) + tf.reduce_sum(
          next_state.cell**2
        )
      grads = tape.gradient(loss, [inputs, state, core.trainable_variables])
      return output, next_state, grads

    for got, expected in zip(
      tf.nest.flatten(outputs_and_gradients(ours)),
      tf.nest.flatten(outputs_and_gradients(reference)),
      strict=True,
    ):
      self.assertAllClose(got, expected, rtol=1e-5, atol=1e-6)


class CoreTest(tf.test.TestCase, parameterized.TestCase):
  def test_variable_names(self):
    core = _make_core()
    core(tf.zeros([2, 4]), core.initial_state(2))
    pieces = [
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
    ]
    expected = ['dnc/lstm/w_i', 'dnc/lstm/w_h', 'dnc/lstm/b']
    expected += ['dnc/output_linear/w', 'dnc/output_linear/b']
    expected += [f'dnc/memory_access/{p}/{v}' for p in pieces for v in 'wb']
    self.assertCountEqual(
      [v.name[: -len(':0')] for v in core.trainable_variables], expected
    )

  def test_state_size_and_zero_initial_state(self):
    core = _make_core()
    n, w, r, wr = 8, 5, 2, 2
    self.assertEqual(core.output_size, tf.TensorShape([3]))
    state = core.initial_state(4)
    self.assertIsInstance(state, dnc.DNCState)
    shapes = tf.nest.map_structure(lambda x: x.shape.as_list(), state)
    self.assertEqual(shapes.access_output, [4, r, w])
    self.assertEqual(shapes.access_state.memory, [4, n, w])
    self.assertEqual(shapes.access_state.linkage.link, [4, wr, n, n])
    self.assertEqual(shapes.controller_state.hidden, [4, 10])
    tf.nest.map_structure(
      lambda size, x: self.assertEqual([4, *size], x.shape.as_list()),
      core.state_size,
      state,
    )
    for x in tf.nest.flatten(state):
      self.assertAllEqual(x, tf.zeros_like(x))

  def test_clip_value_bounds_outputs_and_controller_state(self):
    core = _make_core(clip_value=0.05)
    state = core.initial_state(2)
    inputs = tf.constant(np.random.RandomState(0).randn(2, 4) * 50, tf.float32)
    for _ in range(3):
      output, state = core(inputs, state)
    for x in [output, *state.controller_state]:
      self.assertLessEqual(np.max(np.abs(x)), 0.05 + 1e-7)
    unclipped = _make_core(clip_value=None)
    self.assertIsNone(unclipped._clip_value or None)

  def test_long_unroll_with_large_inputs_stays_finite(self):
    tf.random.set_seed(3)
    core = _make_core(clip_value=20)
    inputs = tf.constant(
      np.random.RandomState(3).randn(200, 2, 4) * 100, tf.float32
    )

    @tf.function
    def run():
      with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs, state = snt.dynamic_unroll(core, inputs, core.initial_state(2))
        loss = tf.reduce_sum(outputs) + tf.reduce_sum(state.access_state.memory)
      return (
        outputs,
        state,
        tape.gradient(loss, [inputs, *core.trainable_variables]),
      )

    core(inputs[0], core.initial_state(2))
    for x in tf.nest.flatten(run()):
      self.assertTrue(np.all(np.isfinite(x)))

  def test_float64(self):
    core = _make_core(dtype=tf.float64)
    output, state = core(
      tf.zeros([2, 4], tf.float64), core.initial_state(2, tf.float64)
    )
    self.assertEqual(output.dtype, tf.float64)
    for v in core.variables:
      self.assertEqual(v.dtype, tf.float64)

  @parameterized.named_parameters(
    ('output_size', dict(output_size=0), 'output_size'),
    ('hidden_size', dict(controller_config=dict(hidden_size=-1)), 'hidden'),
    ('memory_size', dict(access_config=dict(memory_size=0)), 'memory_size'),
    ('word_size', dict(access_config=dict(word_size=-2)), 'word_size'),
    ('num_reads', dict(access_config=dict(num_reads=0)), 'num_reads'),
    ('num_writes', dict(access_config=dict(num_writes=0)), 'num_writes'),
    ('clip_value', dict(clip_value=-1.0), 'clip_value'),
  )
  def test_bad_config_raises(self, kwargs, name):
    config = dict(
      access_config=_ACCESS_CONFIG,
      controller_config=_CONTROLLER_CONFIG,
      output_size=3,
    )
    config.update(kwargs)
    with self.assertRaisesRegex(ValueError, name):
      dnc.DNC(**config)

  def test_bad_config_types_raise(self):
    with self.assertRaisesRegex(TypeError, 'controller_config'):
      dnc.DNC(_ACCESS_CONFIG, dict(), output_size=3)
    with self.assertRaisesRegex(TypeError, 'memory_size'):
      dnc.DNC(dict(memory_size=2.5), _CONTROLLER_CONFIG, output_size=3)
    with self.assertRaisesRegex(TypeError, 'batch_size'):
      _make_core().initial_state(2.0)
    with self.assertRaisesRegex(ValueError, 'batch_size'):
      _make_core().initial_state(0)

  def test_bad_inputs_raise(self):
    core = _make_core()
    state = core.initial_state(2)
    with self.assertRaisesRegex(ValueError, 'inputs'):
      core(tf.zeros([4]), state)
    with self.assertRaisesRegex(TypeError, 'inputs'):
      core(tf.zeros([2, 4], tf.float64), state)
    with self.assertRaisesRegex(TypeError, 'prev_state'):
      core(tf.zeros([2, 4]), tuple(state))
    with self.assertRaisesRegex(ValueError, 'dtype'):
      core.initial_state(2, tf.float64)

  def test_state_of_another_batch_or_memory_size_raises(self):
    core = _make_core()
    with self.assertRaisesRegex(ValueError, r'prev_state.access_output'):
      core(tf.zeros([3, 4]), core.initial_state(2))
    other = dnc.DNC(dict(_ACCESS_CONFIG, memory_size=16), _CONTROLLER_CONFIG, 3)
    with self.assertRaisesRegex(ValueError, r'prev_state.memory.*\[2, 8, 5\]'):
      core(tf.zeros([2, 4]), other.initial_state(2))


if __name__ == '__main__':
  tf.test.main()
