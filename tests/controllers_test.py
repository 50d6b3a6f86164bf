"""Tests for DNC(controller=...) and dnc.controllers: any Sonnet core."""

from absl.testing import parameterized
import numpy as np
import pytest
import sonnet as snt
import tensorflow as tf

from dnc import access
from dnc import controllers
from dnc import dnc
from dnc import internals
from tests import oracles

_ACCESS_CONFIG = dict(memory_size=6, word_size=4, num_reads=2, num_writes=1)
_INPUT_SIZE = 3

# Each controller and the size of its output h_t.
_CONTROLLERS = {
  'lstm_projection': (lambda: snt.LSTM(8, projection_size=5), 5),
  'gru': (lambda: snt.GRU(7), 7),
  'deep_rnn': (lambda: snt.DeepRNN([snt.LSTM(6), snt.LSTM(5)]), 5),
  'deep_lstm_dropout': (
    lambda: controllers.DeepLSTM([6, 5], dropout_rate=0.5),
    5,
  ),
  'feed_forward': (
    lambda: controllers.FeedForward(snt.nets.MLP([9, 4])),
    4,
  ),
}


def _core(name, **kwargs):
  tf.random.set_seed(0)
  make, _ = _CONTROLLERS[name]
  return dnc.DNC(_ACCESS_CONFIG, output_size=3, controller=make(), **kwargs)


def _inputs(time=4, batch_size=2, seed=0):
  rng = np.random.RandomState(seed)
  return tf.constant(rng.randn(time, batch_size, _INPUT_SIZE), tf.float32)


def _by_hand(core, h_size, inputs, state):
  """The DNC's step assembled from its parts, as the paper writes it:
  h_t = controller([x_t; r_{t-1}]), r_t = memory(h_t), y_t = W_y [h_t; r_t].
  Its memory and output layer are fresh modules given the core's weights.
  """
  memory = access.MemoryAccess(**_ACCESS_CONFIG, fast_kernels=False)
  linear = snt.Linear(3, name='output_linear')
  batch_size = inputs.shape[1]
  memory(tf.zeros([batch_size, h_size]), state.access_state)  # Builds it.
  linear(tf.zeros([batch_size, h_size + 2 * 4]))
  theirs = {v.name.split('/', 1)[1]: v for v in core.trainable_variables}
  for v in memory.trainable_variables + linear.trainable_variables:
    v.assign(theirs[v.name])
  outputs = []
  for x in tf.unstack(inputs):
    reads = tf.reshape(state.access_output, [batch_size, -1])
    h, controller_state = core.controller(
      tf.concat([x, reads], 1), state.controller_state
    )
    r, access_state = memory(h, state.access_state)
    outputs.append(linear(tf.concat([h, tf.reshape(r, [batch_size, -1])], 1)))
    state = dnc.DNCState(r, access_state, controller_state)
  return tf.stack(outputs), state


class ControllerTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.parameters(*_CONTROLLERS)
  def test_step_is_controller_then_memory_then_output(self, name):
    core = _core(name)
    inputs = _inputs()
    state = core.initial_state(2)
    outputs, final_state = snt.dynamic_unroll(core, inputs, state)
    expected, expected_state = _by_hand(
      core, _CONTROLLERS[name][1], inputs, state
    )
    self.assertAllClose(outputs, expected, atol=1e-6, rtol=1e-6)
    tf.nest.map_structure(
      lambda a, b: self.assertAllClose(a, b, atol=1e-6, rtol=1e-6),
      final_state,
      expected_state,
    )
    self.assertGreater(np.abs(outputs).max(), 1e-3)

  @parameterized.product(name=list(_CONTROLLERS), mode=('eager', 'function'))
  def test_modes_agree_and_gradients_reach_the_controller(self, name, mode):
    self._check_mode(name, mode)

  def _check_mode(self, name, mode):
    core = _core(name)
    inputs = _inputs()
    core(inputs[0], core.initial_state(2))  # Creates the variables.

    def run(inputs):
      with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs, _ = snt.dynamic_unroll(core, inputs, core.initial_state(2))
        loss = tf.reduce_sum(outputs**2)
      return outputs, tape.gradient(loss, [inputs, *core.trainable_variables])

    expected_outputs, expected_grads = run(inputs)  # Eagerly.
    outputs, grads = oracles.in_mode(run, mode)(inputs)
    self.assertAllClose(outputs, expected_outputs, atol=1e-5, rtol=1e-5)
    controller_variables = {v.ref() for v in core.controller.variables}
    self.assertNotEmpty(controller_variables)
    for variable, grad, expected in zip(
      [inputs, *core.trainable_variables], grads, expected_grads, strict=True
    ):
      self.assertAllClose(grad, expected, atol=1e-5, rtol=1e-4)
      if variable is inputs or variable.ref() in controller_variables:
        self.assertGreater(np.abs(grad).max(), 0)

  @parameterized.parameters(*_CONTROLLERS)
  def test_state_size_comes_from_the_controller(self, name):
    core = _core(name)
    controller_state = core.controller.initial_state(4)
    state = core.initial_state(4)
    tf.nest.assert_same_structure(state.controller_state, controller_state)
    tf.nest.map_structure(
      lambda size, x: self.assertEqual([4, *size], x.shape.as_list()),
      core.state_size,
      state,
    )
    output, next_state = core(tf.zeros([4, _INPUT_SIZE]), state)
    self.assertEqual(output.shape, (4, 3))
    tf.nest.assert_same_structure(next_state, state)

  def test_dtype_comes_from_the_controller(self):
    core = dnc.DNC(
      _ACCESS_CONFIG, output_size=3, controller=snt.GRU(4, dtype=tf.float64)
    )
    state = core.initial_state(2)
    for x in tf.nest.flatten(state):
      self.assertEqual(x.dtype, tf.float64)
    output, _ = core(tf.ones([2, _INPUT_SIZE], tf.float64), state)
    self.assertEqual(output.dtype, tf.float64)
    with self.assertRaisesRegex(TypeError, 'inputs.*float64'):
      core(tf.ones([2, _INPUT_SIZE]), state)
    feed_forward = dnc.DNC(
      _ACCESS_CONFIG,
      output_size=3,
      controller=controllers.FeedForward(snt.Linear(4), dtype=tf.float64),
    )
    self.assertEqual(
      feed_forward.initial_state(2).access_state.memory.dtype, tf.float64
    )
    wrapper = internals.WithInternals(core)
    (output, steps), _ = wrapper(
      tf.ones([2, _INPUT_SIZE], tf.float64), wrapper.initial_state(2)
    )
    self.assertEqual(steps['usage'].dtype, tf.float64)
    self.assertAllClose(
      output, core(tf.ones([2, _INPUT_SIZE], tf.float64), state)[0]
    )

  @parameterized.parameters(False, True)
  def test_projection_size_in_controller_config(self, fast_kernels):
    # The controller's output (and hidden state) has projection_size units.
    core = dnc.DNC(
      _ACCESS_CONFIG,
      controller_config=dict(hidden_size=8, projection_size=5),
      output_size=3,
      fast_kernels=fast_kernels,
    )
    state = core.initial_state(2)
    self.assertEqual(state.controller_state.hidden.shape, (2, 5))
    self.assertEqual(state.controller_state.cell.shape, (2, 8))
    outputs, _ = snt.dynamic_unroll(core, _inputs(), state)
    reference = dnc.DNC(
      _ACCESS_CONFIG,
      output_size=3,
      controller=snt.LSTM(8, projection_size=5),
      fast_kernels=False,
    )
    reference(_inputs()[0], reference.initial_state(2))
    for mine, theirs in zip(
      sorted(core.trainable_variables, key=lambda v: v.name),
      sorted(reference.trainable_variables, key=lambda v: v.name[4:]),
      strict=True,
    ):
      theirs.assign(mine)
    expected, _ = snt.dynamic_unroll(
      reference, _inputs(), reference.initial_state(2)
    )
    self.assertAllClose(outputs, expected, atol=1e-6)

  def test_with_internals_works_with_every_controller(self):
    for name in _CONTROLLERS:
      with self.subTest(controller=name):
        core = _core(name)
        inputs = _inputs()
        state = core.initial_state(2)
        (outputs, steps), final = snt.dynamic_unroll(
          internals.WithInternals(core), inputs, state
        )
        expected, expected_final = snt.dynamic_unroll(core, inputs, state)
        self.assertAllClose(outputs, expected, atol=1e-6)
        self.assertAllClose(
          steps['usage'][-1], expected_final.access_state.usage, atol=1e-6
        )
        self.assertAllClose(
          steps['read_words'][-1], expected_final.access_output, atol=1e-6
        )

  def test_bad_controllers_raise(self):
    with self.assertRaisesRegex(TypeError, 'controller_config'):
      dnc.DNC(
        _ACCESS_CONFIG,
        dict(hidden_size=4),
        output_size=3,
        controller=snt.GRU(4),
      )
    with self.assertRaisesRegex(TypeError, '`controller` must be'):
      dnc.DNC(_ACCESS_CONFIG, output_size=3, controller=snt.Linear(4))
    with self.assertRaisesRegex(TypeError, 'prev_state'):
      controllers.FeedForward(snt.Linear(2))(tf.zeros([1, 2]), (tf.zeros(1),))
    with self.assertRaisesRegex(ValueError, 'dropout_rate'):
      controllers.DeepLSTM([4, 4], dropout_rate=1.0)
    with self.assertRaisesRegex(ValueError, 'hidden_sizes'):
      controllers.DeepLSTM([])


# Compiling each controller's unroll and gradient takes 7-25 s here.
@pytest.mark.slow
class ControllerXlaTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.parameters(*_CONTROLLERS)
  def test_xla_agrees_and_gradients_reach_the_controller(self, name):
    ControllerTest._check_mode(self, name, 'xla')


class DropoutTest(tf.test.TestCase):
  def test_dropout_only_in_training(self):
    layer = controllers.Dropout(0.25)
    x = tf.ones([200, 50])
    self.assertAllEqual(layer(x), x)
    layer.is_training = True
    tf.random.set_seed(1)
    y = layer(x).numpy()
    kept = y != 0
    # Kept units are scaled so the expectation is unchanged.
    self.assertAllClose(y[kept], np.full(kept.sum(), 1 / 0.75))
    self.assertAllClose(1 - kept.mean(), 0.25, atol=0.02)

  def test_deep_lstm_dropout_between_layers_in_training_only(self):
    core = _core('deep_lstm_dropout')
    inputs = _inputs()
    state = core.initial_state(2)
    evaluation, _ = snt.dynamic_unroll(core, inputs, state)
    # The same LSTMs without dropout give the evaluation outputs.
    lstms = [m for m in core.controller._layers if isinstance(m, snt.LSTM)]
    self.assertLen(lstms, 2)
    plain = dnc.DNC(
      _ACCESS_CONFIG, output_size=3, controller=snt.DeepRNN(lstms)
    )
    plain(inputs[0], plain.initial_state(2))
    for mine, theirs in zip(
      plain.trainable_variables, core.trainable_variables, strict=True
    ):
      mine.assign(theirs)
    expected, _ = snt.dynamic_unroll(plain, inputs, plain.initial_state(2))
    self.assertAllClose(evaluation, expected, atol=1e-6)

    core.controller.is_training = True
    self.assertTrue(core.controller.is_training)
    tf.random.set_seed(2)
    training, _ = snt.dynamic_unroll(core, inputs, state)
    self.assertGreater(np.abs(training - evaluation).max(), 1e-3)
    core.controller.is_training = False
    again, _ = snt.dynamic_unroll(core, inputs, state)
    self.assertAllClose(again, evaluation, atol=1e-7)


if __name__ == '__main__':
  tf.test.main()
