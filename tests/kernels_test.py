"""Tests for dnc.kernels: the speed kernels hold to the plain functions.

Each kernel against TensorFlow's gradient of the plain function it stands
in for (`kernels.check_gradients`, float64, eagerly, in a `tf.function` and
under XLA); a change to a plain function reaches the compiled training
step through the kernel's forward pass, and the check reports the kernel's
stale gradient. The DNC with `fast_kernels=True` and with `False` is run on
the reference fixture's weights and inputs: outputs, final states and
gradients agree with each other and with the fixture. The kernels alone
are also checked against numpy and numerical gradients in
`addressing_test.py` (`update_and_read`, allocation).
"""

import json
import re
from unittest import mock

from absl.testing import parameterized
import numpy as np
import sonnet as snt
import tensorflow as tf

from dnc import addressing
from dnc import config as config_lib
from dnc import controllers
from dnc import dnc
from dnc import kernels
from dnc.tasks.repeat_copy import task as repeat_copy_task
from tests import oracles
from tests import shared_data

_MODES = oracles.MODES
_in_mode = oracles.in_mode


def _recurrence_gradients(matmul, variables, inputs):
  """Gradients of a tanh recurrence `h = tanh(matmul(h) + x_t)` over time.

  Args:
    matmul: maps `h` `[B, 5]` to `[B, 5]` using `variables`.
    variables: the weights.
    inputs: `[T, B, 5]`, the x_t.

  Returns:
    The gradients of a weighted sum of the last `h` with respect to
    `inputs` and each of `variables`.
  """
  with tf.GradientTape() as tape:
    tape.watch(inputs)

    def body(t, h):
      return t + 1, tf.tanh(matmul(h) + inputs[t])

    _, h = tf.while_loop(
      lambda t, _: t < inputs.shape[0],
      body,
      (0, tf.zeros_like(inputs[0])),
      maximum_iterations=inputs.shape[0],
    )
    loss = tf.reduce_sum(h * tf.range(5, dtype=h.dtype))
  return tape.gradient(loss, [inputs, *variables])


class RowMajorTransposeTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.product(mode=_MODES, shape=((3, 5), (2, 4, 3, 5)))
  def test_matches_numpy(self, mode, shape):
    x = np.random.RandomState(23).randn(*shape).astype(np.float32)
    got = _in_mode(kernels.row_major_transpose, mode)(tf.constant(x))
    self.assertAllEqual(got, np.swapaxes(x, -1, -2))

  def test_gradient_is_the_transposed_gradient(self):
    x = tf.constant(np.random.RandomState(24).randn(2, 3, 5))
    upstream = tf.constant(np.random.RandomState(25).randn(2, 5, 3))
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = kernels.row_major_transpose(x)
    self.assertAllEqual(
      tape.gradient(y, x, output_gradients=upstream),
      np.swapaxes(upstream.numpy(), -1, -2),
    )

  @parameterized.parameters(*_MODES)
  def test_without_the_barrier_it_is_a_plain_transpose(self, mode):
    # Where TensorFlow has no optimisation barrier (a private symbol), the
    # same values and gradients, and no barrier in the compiled graph.
    x = tf.constant(np.random.RandomState(26).randn(2, 3, 5))

    def transpose_and_gradient(x):
      with tf.GradientTape() as tape:
        tape.watch(x)
        y = kernels.row_major_transpose(x)
      return y, tape.gradient(y, x, output_gradients=y * 3)

    with mock.patch.object(kernels, '_optimization_barrier', lambda: None):
      y, grad = _in_mode(transpose_and_gradient, mode)(x)
      graph = tf.function(transpose_and_gradient).get_concrete_function(x)
    self.assertAllEqual(y, np.swapaxes(x.numpy(), -1, -2))
    self.assertAllEqual(grad, 3 * x.numpy())
    ops = {op.type for op in graph.graph.get_operations()}
    self.assertNotIn('XlaOptimizationBarrier', ops)
    self.assertIsNotNone(kernels._optimization_barrier())  # Here it exists.


class MatmulTest(tf.test.TestCase, parameterized.TestCase):
  def _variables(self, axis, dtype):
    rng = np.random.RandomState(20)
    shapes = [(3, 5), (2, 5)] if axis == 0 else [(5, 3), (5, 2)]
    return [tf.Variable(rng.randn(*shape).astype(dtype)) for shape in shapes]

  @parameterized.product(
    mode=_MODES, axis=(0, 1), dtype=(np.float32, np.float64)
  )
  def test_values_and_gradients_in_a_while_loop_match_matmul(
    self, mode, axis, dtype
  ):
    variables = self._variables(axis, dtype)
    inputs = tf.constant(np.random.RandomState(21).randn(4, 2, 5), dtype)
    plain = lambda h: tf.matmul(h, tf.concat(variables, axis))
    ours = lambda h: kernels.matmul(h, variables, axis)
    h = inputs[0]
    self.assertAllClose(ours(h), plain(h), rtol=1e-6, atol=1e-6)
    expected = _recurrence_gradients(plain, variables, inputs)
    got = _in_mode(
      lambda inputs: _recurrence_gradients(ours, variables, inputs), mode
    )(inputs)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for g, e in zip(got, expected, strict=True):
      self.assertAllClose(g, e, rtol=tol, atol=tol)
      self.assertGreater(np.abs(e).max(), 0.01)

  def test_loop_keeps_the_inputs_but_not_the_weights(self):
    variables = self._variables(0, np.float32)
    inputs = tf.zeros([4, 2, 5])

    def pushes(matmul):
      fn = tf.function(
        lambda inputs: _recurrence_gradients(matmul, variables, inputs)
      )
      graph_def = fn.get_concrete_function(inputs).graph.as_graph_def()
      return sum(
        node.op == 'TensorListPushBack'
        for function in graph_def.library.function
        for node in function.node_def
      )

    plain = pushes(lambda h: tf.matmul(h, tf.concat(variables, 0)))
    ours = pushes(lambda h: kernels.matmul(h, variables))
    # Plain keeps h and the concatenated weights; ours keeps h.
    self.assertEqual(plain - ours, 1)
    self.assertGreater(ours, 0)

  def test_xla_backward_matmul_reads_a_row_major_transposed_copy(self):
    # [5, 7] weights: the backward matmul makes `[2, 5]` input gradients.
    rng = np.random.RandomState(22)
    variables = [
      tf.Variable(rng.randn(3, 7).astype(np.float32)),
      tf.Variable(rng.randn(2, 7).astype(np.float32)),
    ]
    inputs = tf.constant(rng.randn(4, 2, 5).astype(np.float32))

    def matmul(h):
      return kernels.matmul(h, variables)[:, :5]

    fn = tf.function(
      lambda inputs: _recurrence_gradients(matmul, variables, inputs),
      jit_compile=True,
    )
    hlo = fn.experimental_get_compiler_ir(inputs)(stage='optimized_hlo')
    backward_matmuls = [
      line
      for line in hlo.splitlines()
      if re.search(r'= f32\[2,5\]\S* dot\(', line)
    ]
    self.assertNotEmpty(backward_matmuls)
    for line in backward_matmuls:
      # Without the transposed copy, XLA contracts the weights' columns.
      self.assertIn('rhs_contracting_dims={0}', line)
    # The copy is made once, outside the loops, in the entry computation.
    entry = hlo[hlo.index('\nENTRY') :]
    self.assertRegex(entry, r'= f32\[7,5\]\S* (fusion|transpose|copy)\(')


class LSTMTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.product(projection_size=(None, 3), fast_kernels=(False, True))
  def test_matches_snt_lstm_with_the_same_variables(
    self, projection_size, fast_kernels
  ):
    rng = np.random.RandomState(22)
    config = dict(hidden_size=4, projection_size=projection_size)
    ours = controllers.LSTM(fast_kernels=fast_kernels, **config)
    reference = snt.LSTM(**config)
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

  @parameterized.parameters(None, 3)
  def test_a_seed_draws_snt_lstms_initial_weights(self, projection_size):
    inputs = tf.ones([2, 5])
    weights = []
    for lstm in (controllers.LSTM, snt.LSTM):
      tf.random.set_seed(5)
      core = lstm(4, projection_size=projection_size, forget_bias=0.5)
      core(inputs, core.initial_state(2))
      weights.append({v.name: v.numpy() for v in core.trainable_variables})
    self.assertEqual(sorted(weights[0]), sorted(weights[1]))
    for name, value in weights[1].items():
      self.assertAllEqual(weights[0][name], value)
    self.assertAllEqual(weights[0]['lstm/b:0'][4:8], [0.5] * 4)


def _custom_gradient_ops(fn, *args):
  """How many ops with a custom gradient `fn`'s graph (and its functions)
  holds: `tf.custom_gradient` marks each with an `IdentityN`."""
  graph_def = fn.get_concrete_function(*args).graph.as_graph_def()
  nodes = list(graph_def.node)
  for function in graph_def.library.function:
    nodes += function.node_def
  return sum(node.op == 'IdentityN' for node in nodes)


class SwitchTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.product(fast_kernels=(False, True), jit_compile=(False, True))
  def test_dnc_runs_the_kernels_where_it_was_built_to(
    self, fast_kernels, jit_compile
  ):
    # Chosen when the core is built, whatever the step is traced for.
    core = dnc.DNC(
      dict(memory_size=4, word_size=3, num_reads=2, num_writes=1),
      dict(hidden_size=5),
      output_size=2,
      fast_kernels=fast_kernels,
    )
    inputs = tf.zeros([3, 2, 4])

    @tf.function(jit_compile=jit_compile)
    def step(inputs):
      outputs, _ = snt.dynamic_unroll(core, inputs, core.initial_state(2))
      return outputs

    # The LSTM's 2 matmuls, the interface's, the output layer's, the link
    # update and reads, and the allocation: 6 in each of the 2 steps that
    # `snt.dynamic_unroll` traces (the first one runs before its loop).
    self.assertEqual(
      _custom_gradient_ops(step, inputs), 12 if fast_kernels else 0
    )

  @parameterized.parameters(None, 'yes', 1)
  def test_anything_but_a_bool_raises(self, value):
    with self.assertRaisesRegex(TypeError, '`fast_kernels` must be True or'):
      dnc.DNC(dict(memory_size=4), dict(hidden_size=5), 2, fast_kernels=value)


class CheckGradientsTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.parameters(*_MODES)
  def test_every_kernel_gives_tensorflows_gradient_of_its_function(self, mode):
    errors = kernels.check_gradients(mode)
    self.assertEqual(
      sorted(errors), ['allocation', 'link_update_and_read', 'matmul']
    )
    for name, error in errors.items():
      self.assertLess(error, 1e-9, name)

  def test_bad_mode_raises(self):
    with self.assertRaisesRegex(ValueError, '`mode`'):
      kernels.check_gradients('jit')


class ChangedMathsTest(tf.test.TestCase):
  """A researcher changes a plain function: what training runs, and is told.

  The link update `addressing.temporal_link` is patched to return 0.5 L_t.
  The XLA training step built as train.py builds it (speed kernels on)
  computes the patched forward pass: the outputs of the plain functions
  with the patch, not those of the unpatched step. The kernel's
  hand-written gradient is the unpatched one, which `check_gradients`
  reports. The two references are eager steps (no compilation), which
  agree with the XLA step to float32 rounding.
  """

  _CONFIG = dict(
    hidden_size=8,
    memory_size=6,
    word_size=4,
    num_read_heads=2,
    batch_size=3,
    num_bits=3,
    max_length=2,
    max_repeats=2,
  )

  def _first_logits(self, fast_kernels, mode):
    """The outputs of the first training step (before its update)."""
    # Under XLA with the speed kernels, the core train.py builds.
    config = config_lib.ModelConfig.from_dict(
      {**repeat_copy_task.DEFAULTS, **self._CONFIG}
    )
    core = config_lib.make_core(
      config, self._CONFIG['num_bits'] + 1, fast_kernels=fast_kernels
    )
    trainer = repeat_copy_task.make_trainer(
      self._CONFIG, seed=7, compile_mode=mode, core=core
    )
    trainer.build()  # Else the first call traces the step twice.
    return trainer.run_step()[3].numpy()

  def test_training_step_sees_the_change_and_the_check_reports_it(self):
    unpatched = self._first_logits(fast_kernels=True, mode='eager')
    link = addressing.temporal_link
    with mock.patch.object(
      addressing, 'temporal_link', lambda *args: 0.5 * link(*args)
    ):
      patched = self._first_logits(fast_kernels=True, mode='xla')
      patched_plain = self._first_logits(fast_kernels=False, mode='eager')
      with self.assertRaisesRegex(
        AssertionError, 'kernels.link_update_and_read: gradient'
      ):
        kernels.check_gradients('xla')
    change = np.abs(patched - unpatched).max()
    self.assertGreater(change, 1e-4)
    # The kernel's forward pass is the patched function's: the two paths
    # differ by float32 rounding only, far less than the change.
    self.assertLess(np.abs(patched - patched_plain).max(), change / 100)
    # The check passes again once the plain function is the one it was.
    self.assertLess(max(kernels.check_gradients('eager').values()), 1e-9)


class DNCEquivalenceTest(tf.test.TestCase, parameterized.TestCase):
  """The fast and the plain path on the fixture: values and gradients."""

  def setUp(self):
    super().setUp()
    self.fixture = np.load(shared_data.require_fixture())
    self.config = json.loads(str(self.fixture['config']))

  def _run(self, fast_kernels, dtype, mode):
    core, names, variables = oracles.fixture_core(
      self.fixture, self.config, dtype, fast_kernels=fast_kernels
    )
    self.assertCountEqual(
      [v.name[: -len(':0')] for v in core.trainable_variables], names
    )
    fixture = self.fixture
    inputs = tf.constant(fixture['inputs'], dtype)
    initial_state = core.initial_state(self.config['batch_size'])

    def unroll_and_differentiate(inputs):
      with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs, final_state = snt.dynamic_unroll(core, inputs, initial_state)
        loss = tf.reduce_sum(
          outputs * fixture['loss_output_weights']
        ) + tf.reduce_sum(final_state.access_state.memory**2)
      grads = tape.gradient(
        loss, [inputs] + [variables[name] for name in names]
      )
      return outputs, final_state, grads

    outputs, final_state, grads = _in_mode(unroll_and_differentiate, mode)(
      inputs
    )
    named_grads = dict(zip(['inputs', *names], grads, strict=True))
    return outputs, oracles.final_fields(final_state), named_grads

  # XLA in float32 only: compiling the float64 DNC and its gradients took
  # 25 s of the suite, and each kernel's float64 gradient under XLA is
  # checked against TensorFlow's on its own (CheckGradientsTest).
  @parameterized.parameters(
    ('eager', tf.float32),
    ('eager', tf.float64),
    ('function', tf.float32),
    ('function', tf.float64),
    ('xla', tf.float32),
  )
  def test_fast_and_plain_agree_with_each_other_and_the_fixture(
    self, mode, dtype
  ):
    plain = self._run(False, dtype, mode)
    fast = self._run(True, dtype, mode)
    between = 1e-10 if dtype == tf.float64 else 5e-5
    to_fixture = 1e-8 if dtype == tf.float64 else 1e-4
    (plain_outputs, plain_state, plain_grads) = plain
    (fast_outputs, fast_state, fast_grads) = fast
    error = oracles.max_relative_error
    self.assertLess(error(fast_outputs, plain_outputs), between)
    # float32 may break near-ties of usage differently (oracles.relabel_slots)
    fast_state = oracles.relabel_slots(
      fast_state, np.array(plain_state['memory'])
    )
    for field, value in plain_state.items():
      with self.subTest(field=field):
        self.assertLess(error(fast_state[field], value), between)
    self.assertLen(plain_grads, 1 + 3 + 20 + 2)
    for name, grad in plain_grads.items():
      with self.subTest(grad=name):
        self.assertGreater(np.max(np.abs(grad)), 0)
        self.assertLess(error(fast_grads[name], grad), between)
    # Each path against the fixture: outputs, final state and gradients.
    expected_state = {
      field: self.fixture['final/' + field] for field in plain_state
    }
    for outputs, state, grads in (
      (plain_outputs, plain_state, plain_grads),
      (fast_outputs, fast_state, fast_grads),
    ):
      self.assertLess(error(outputs, self.fixture['outputs']), to_fixture)
      if dtype == tf.float32:  # Up to a relabelling, as dnc_test explains.
        state = oracles.relabel_slots(state, expected_state['memory'])
      for field, value in expected_state.items():
        with self.subTest(fixture_state=field):
          self.assertLess(error(state[field], value), to_fixture)
      for name, grad in grads.items():
        if name != 'inputs':  # The fixture has the variables' gradients.
          with self.subTest(fixture_grad=name):
            self.assertLess(
              error(grad, self.fixture['grads/' + name]), to_fixture
            )


_PIECES = sorted(oracles.INTERFACE_LAYERS)
# The checkpoint keys of a DNC before the switch existed (commit a39fb05).
_CHECKPOINT_KEYS = sorted(
  [
    f'model/_access/_interface_linears/{piece}/{v}/.ATTRIBUTES/VARIABLE_VALUE'
    for piece in _PIECES
    for v in 'bw'
  ]
  + [
    f'model/_controller/{v}/.ATTRIBUTES/VARIABLE_VALUE'
    for v in ('_w_h', '_w_i', 'b')
  ]
  + [f'model/_output_linear/{v}/.ATTRIBUTES/VARIABLE_VALUE' for v in 'bw']
  + ['_CHECKPOINTABLE_OBJECT_GRAPH']
)


class CheckpointTest(tf.test.TestCase, parameterized.TestCase):
  def _core(self, fast_kernels):
    core = dnc.DNC(
      dict(memory_size=4, word_size=3, num_reads=2, num_writes=1),
      dict(hidden_size=5),
      2,
      fast_kernels=fast_kernels,
    )
    core(tf.zeros([2, 3]), core.initial_state(2))
    return core

  @parameterized.product(writer=(False, True), reader=(False, True))
  def test_both_paths_keep_the_checkpoint_and_restore_each_other(
    self, writer, reader
  ):
    tf.random.set_seed(3)
    written = self._core(writer)
    path = tf.train.Checkpoint(model=written).write(
      self.create_tempdir().full_path + '/ckpt'
    )
    self.assertEqual(
      sorted(name for name, _ in tf.train.list_variables(path)),
      _CHECKPOINT_KEYS,
    )
    read = self._core(reader)
    tf.train.Checkpoint(model=read).read(path).assert_consumed()
    inputs = tf.constant(np.random.RandomState(4).randn(3, 2, 3), tf.float32)
    expected, _ = snt.dynamic_unroll(written, inputs, written.initial_state(2))
    got, _ = snt.dynamic_unroll(read, inputs, read.initial_state(2))
    self.assertAllClose(got, expected, atol=1e-6)
    self.assertGreater(np.abs(expected).max(), 1e-3)


if __name__ == '__main__':
  tf.test.main()
