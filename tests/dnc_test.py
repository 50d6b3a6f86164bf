"""Tests for dnc.dnc: the reference fixture, every way to unroll, errors."""

import json

from absl.testing import parameterized
import numpy as np
import sonnet as snt
import tensorflow as tf

from dnc import dnc
from tests import oracles
from tests import shared_data

_ACCESS_CONFIG = dict(memory_size=8, word_size=5, num_reads=2, num_writes=2)
_CONTROLLER_CONFIG = dict(hidden_size=10)


_final_fields = oracles.final_fields
_relabel_slots = oracles.relabel_slots
_max_relative_error = oracles.max_relative_error


class FixtureTest(tf.test.TestCase, parameterized.TestCase):
  """Reproduces an independent implementation's outputs and gradients."""

  def setUp(self):
    super().setUp()
    self.fixture = np.load(shared_data.require_fixture())
    self.config = json.loads(str(self.fixture['config']))

  def _run(self, dtype, mode='eager', fast_kernels=False):
    """Builds the fixture's DNC, loads its weights and unrolls it.

    Eagerly, `snt.dynamic_unroll` is a Python loop; in a `tf.function` (and
    under XLA) it is a `while` loop with its own gradient, which the custom
    gradients of the fast kernels must also get right.
    """
    config, fixture = self.config, self.fixture
    core, names, variables = oracles.fixture_core(
      fixture, config, dtype, fast_kernels=fast_kernels
    )
    self.assertCountEqual(
      [v.name[: -len(':0')] for v in core.trainable_variables], names
    )
    inputs = tf.constant(fixture['inputs'], dtype)
    initial_state = core.initial_state(config['batch_size'], dtype)

    def unroll_and_differentiate(inputs):
      with tf.GradientTape() as tape:
        outputs, final_state = snt.dynamic_unroll(core, inputs, initial_state)
        loss = tf.reduce_sum(
          outputs * fixture['loss_output_weights']
        ) + tf.reduce_sum(final_state.access_state.memory**2)
      grads = tape.gradient(loss, [variables[name] for name in names])
      return outputs, final_state, grads

    outputs, final_state, grads = oracles.in_mode(
      unroll_and_differentiate, mode
    )(inputs)
    return outputs, final_state, dict(zip(names, grads, strict=True))

  # The default kernels (fast_kernels=False), eagerly. In a `tf.function`
  # and under XLA, kernels_test's DNCEquivalenceTest checks this same path
  # (and fast_kernels=True) against the fixture to the same 1e-8, and the
  # two paths against each other.
  def test_float64_reproduces_outputs_state_and_gradients(self):
    outputs, final_state, grads = self._run(tf.float64)
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


def _make_core(clip_value=None, dtype=tf.float32, output_size=3, **kwargs):
  return dnc.DNC(
    _ACCESS_CONFIG,
    dict(_CONTROLLER_CONFIG, dtype=dtype),
    output_size=output_size,
    clip_value=clip_value,
    **kwargs,
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
  """Every way a researcher runs a core reproduces the fixture."""

  def setUp(self):
    super().setUp()
    self.fixture = np.load(shared_data.require_fixture())
    self.config = json.loads(str(self.fixture['config']))
    self.core, _, _ = oracles.fixture_core(
      self.fixture, self.config, tf.float64
    )
    self.inputs = tf.constant(self.fixture['inputs'])

  def _assert_reproduces(self, outputs, final_state, batch=slice(None)):
    self.assertLess(
      _max_relative_error(outputs, self.fixture['outputs'][:, batch]), 1e-8
    )
    if final_state is None:
      return
    for field, value in _final_fields(final_state).items():
      with self.subTest(field=field):
        expected = self.fixture['final/' + field][batch]
        self.assertLess(_max_relative_error(value, expected), 1e-8)

  @parameterized.product(
    unroll=list(_UNROLLS),
    mode=['eager', 'function', 'xla'],
  )
  def test_reproduces_the_fixture(self, unroll, mode):
    def run(inputs):
      state = self.core.initial_state(self.config['batch_size'])
      return _UNROLLS[unroll](self.core, inputs, state)

    outputs, final_state = oracles.in_mode(run, mode)(self.inputs)
    self._assert_reproduces(outputs, final_state)

  def test_unknown_batch_size_and_length_in_function(self):
    @tf.function(input_signature=[tf.TensorSpec([None, None, 5], tf.float64)])
    def run(inputs):
      state = self.core.initial_state(tf.shape(inputs)[1])
      outputs, _ = snt.dynamic_unroll(self.core, inputs, state)
      return outputs

    self._assert_reproduces(run(self.inputs), None)
    # The examples of a batch do not interact: any of them alone, or a
    # shorter run, gives the same outputs.
    self._assert_reproduces(run(self.inputs[:, 1:2]), None, slice(1, 2))
    shorter = run(self.inputs[:4, :2])
    self.assertLess(
      _max_relative_error(shorter, self.fixture['outputs'][:4, :2]), 1e-8
    )

  def test_gradients_reach_every_variable_and_the_inputs(self):
    core = _make_core(clip_value=20)
    inputs = tf.constant(np.random.RandomState(0).randn(6, 3, 4), tf.float32)
    state = core.initial_state(3)
    with tf.GradientTape() as tape:
      tape.watch(inputs)
      outputs, final_state = snt.dynamic_unroll(core, inputs, state)
      loss = tf.reduce_sum(outputs**2) + tf.reduce_sum(
        final_state.access_state.memory
      )
    variables = core.trainable_variables
    grads = tape.gradient(loss, [inputs, *variables])
    self.assertLen(variables, 3 + 20 + 2)
    for variable, grad in zip([inputs, *variables], grads, strict=True):
      name = getattr(variable, 'name', 'inputs')
      with self.subTest(name=name):
        self.assertIsNotNone(grad)
        self.assertTrue(np.all(np.isfinite(grad)))
        self.assertGreater(np.max(np.abs(grad)), 0)


class BypassMaskTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.parameters(*oracles.MODES)
  def test_masks_the_controller_output_on_its_way_to_the_output_only(
    self, mode
  ):
    # Under XLA with the speed kernels (the default there).
    tf.random.set_seed(0)
    core = _make_core()
    rng = np.random.RandomState(0)
    inputs = tf.constant(rng.randn(2, 2, 4), tf.float32)
    masks = tf.constant((rng.rand(2, 2, 10) > 0.3) / 0.7, tf.float32)
    core(inputs[0], core.initial_state(2))  # Builds it.

    def run(inputs, masks):
      state, steps = core.initial_state(2), []
      for t in range(2):
        masked, masked_state = core(inputs[t], state, bypass_mask=masks[t])
        ones, _ = core(inputs[t], state, bypass_mask=tf.ones([2, 10]))
        plain, state = core(inputs[t], state)
        steps.append((masked, masked_state, ones, plain, state))
      return steps

    w = core._output_linear.w.numpy()
    b = core._output_linear.b.numpy()
    for t, (masked, masked_state, ones, plain, state) in enumerate(
      oracles.in_mode(run, mode)(inputs, masks)
    ):
      # The memory and the next step see h_t unmasked.
      tf.nest.map_structure(self.assertAllEqual, masked_state, state)
      h = state.controller_state.hidden.numpy()
      reads = state.access_output.numpy().reshape(2, -1)
      expected = np.concatenate([h * masks[t].numpy(), reads], 1) @ w + b
      self.assertAllClose(masked, expected, atol=1e-5)
      self.assertAllClose(ones, plain, atol=1e-6)
      self.assertGreater(np.abs(masked - plain).max(), 1e-3)

  def test_bad_mask_shape_raises(self):
    core = _make_core()
    with self.assertRaisesRegex(ValueError, '`bypass_mask` must have shape'):
      core(tf.zeros([2, 4]), core.initial_state(2), bypass_mask=tf.ones([2, 9]))


class CoreTest(tf.test.TestCase, parameterized.TestCase):
  def test_variable_names(self):
    core = _make_core()
    core(tf.zeros([2, 4]), core.initial_state(2))
    pieces = oracles.INTERFACE_LAYERS
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
    inputs = tf.constant(np.random.RandomState(0).randn(2, 4) * 50, tf.float32)

    def run(clip_value):
      tf.random.set_seed(0)  # The same initial weights for both.
      core = _make_core(clip_value=clip_value)
      state = core.initial_state(2)
      for _ in range(3):
        output, state = core(inputs, state)
      return [output, *state.controller_state]

    clipped, unclipped = run(0.05), run(None)
    for x, y in zip(clipped, unclipped, strict=True):
      self.assertLessEqual(np.max(np.abs(x)), 0.05 + 1e-7)
      # Without clipping the same weights go past the bound.
      self.assertGreater(np.max(np.abs(y)), 0.1)

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

  @parameterized.parameters(tf.float16, tf.bfloat16)
  def test_low_precision_is_refused_with_the_keras_layers_rule(self, dtype):
    with self.assertRaisesRegex(
      TypeError,
      r'`controller dtype` must be float32 or float64 \(the DNC computes in '
      r'one of them; float16, bfloat16 and mixed precision are not '
      rf'supported\), got {dtype.name}\.',
    ):
      dnc.DNC(_ACCESS_CONFIG, dict(hidden_size=4, dtype=dtype), 3)

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
    with self.assertRaisesRegex(
      ValueError, r'`inputs` has batch size 3 but `prev_state` has 2'
    ):
      core(tf.zeros([3, 4]), core.initial_state(2))
    other = dnc.DNC(dict(_ACCESS_CONFIG, memory_size=16), _CONTROLLER_CONFIG, 3)
    with self.assertRaisesRegex(
      ValueError, r'prev_state.access_state.memory.*\[2, 8, 5\]'
    ):
      core(tf.zeros([2, 4]), other.initial_state(2))

  def test_inputs_of_another_feature_size_raise(self):
    core = _make_core()
    core(tf.zeros([2, 4]), core.initial_state(2))
    with self.assertRaisesRegex(
      ValueError, r'`inputs` must be \[batch_size, 4\].*got shape \[2, 6\]'
    ):
      core(tf.zeros([2, 6]), core.initial_state(2))

  def test_a_sequence_or_higher_rank_passed_to_one_step_raises(self):
    core = _make_core()
    # Refused, not flattened: [2, 2, 2] would have been 4 features.
    with self.assertRaisesRegex(
      ValueError,
      r'`inputs` of one step must be \[batch_size, input_size\], got shape '
      r'\[2, 2, 2\]: to run a sequence, unroll the core over time-major',
    ):
      core(tf.zeros([2, 2, 2]), core.initial_state(2))
    with self.assertRaisesRegex(ValueError, r'got shape \[2, 1, 2, 2\]\.$'):
      core(tf.zeros([2, 1, 2, 2]), core.initial_state(2))

  @parameterized.parameters('dynamic', 'static')
  def test_batch_major_inputs_to_a_time_major_unroll_name_the_cause(
    self, unroll
  ):
    core = _make_core()
    batch_major = tf.zeros([2, 5, 4])  # [batch, time, features]
    unroll = getattr(snt, f'{unroll}_unroll')
    with self.assertRaisesRegex(
      ValueError,
      r'`inputs` has batch size 5 but `prev_state` has 2 .*batch-major '
      r'\[batch, time, features\].*time-major \[time, batch, features\]',
    ):
      unroll(core, batch_major, core.initial_state(2))
    outputs, _ = unroll(
      core, tf.transpose(batch_major, [1, 0, 2]), core.initial_state(2)
    )
    self.assertEqual(outputs.shape, (5, 2, 3))

  def test_state_of_another_dtype_raises(self):
    core = _make_core()
    state = core.initial_state(2)
    memory = tf.cast(state.access_state.memory, tf.float64)
    state = state._replace(
      access_state=state.access_state._replace(memory=memory)
    )
    with self.assertRaisesRegex(
      TypeError,
      r'`prev_state.access_state.memory` must have the dtype of '
      r'`inputs`, float32, got float64',
    ):
      core(tf.zeros([2, 4]), state)

  def test_state_of_another_structure_raises(self):
    core = _make_core()
    state = core.initial_state(2)
    state = state._replace(controller_state=state.controller_state.hidden)
    with self.assertRaisesRegex(TypeError, 'prev_state.*structure'):
      core(tf.zeros([2, 4]), state)

  def test_batch_mismatch_with_a_dynamic_batch_raises_when_run(self):
    core = _make_core()
    core(tf.zeros([2, 4]), core.initial_state(2))

    @tf.function(
      input_signature=[
        tf.TensorSpec([None, 4]),
        tf.nest.map_structure(
          lambda size: tf.TensorSpec([None, *size]), core.state_size
        ),
      ]
    )
    def step(inputs, state):
      return core(inputs, state)[0]

    self.assertEqual(
      step(tf.zeros([3, 4]), core.initial_state(3)).shape, (3, 3)
    )
    with self.assertRaisesRegex(
      tf.errors.InvalidArgumentError,
      r'`prev_state.access_output` must have the batch size of `inputs`',
    ):
      step(tf.zeros([3, 4]), core.initial_state(2))


if __name__ == '__main__':
  tf.test.main()
