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
# Checked in a DNC step by hand only (their maths has tests of its own).
_CONTROLLERS_BY_HAND = {
  'layer_norm_lstm': (lambda: controllers.LayerNormLSTM(6), 6),
  # Passes the first 2 input features through: h_t has 6 + 2.
  'pass_through': (lambda: controllers.PassThrough(snt.LSTM(6), 2), 8),
}


def _core(name, **kwargs):
  tf.random.set_seed(0)
  make, _ = {**_CONTROLLERS, **_CONTROLLERS_BY_HAND}[name]
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
  @parameterized.parameters(*_CONTROLLERS, *_CONTROLLERS_BY_HAND)
  def test_step_is_controller_then_memory_then_output(self, name):
    core = _core(name)
    inputs = _inputs()
    state = core.initial_state(2)
    outputs, final_state = snt.dynamic_unroll(core, inputs, state)
    (_, h_size) = {**_CONTROLLERS, **_CONTROLLERS_BY_HAND}[name]
    expected, expected_state = _by_hand(core, h_size, inputs, state)
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
  # Two of the five under XLA (each compiles a DNC and its gradients, 10 s
  # or more): ours, with its dropout's random masks, and the feed-forward
  # one, which has no state. Sonnet's LSTM, GRU and DeepRNN compile as
  # the LSTM of every other XLA test does.
  @parameterized.parameters('deep_lstm_dropout', 'feed_forward')
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


def _layer_norm_lstm(rng, input_size, hidden_size, dtype, **kwargs):
  """A built LayerNormLSTM with random weights, gains and biases."""
  lstm = controllers.LayerNormLSTM(hidden_size, dtype=dtype, **kwargs)
  lstm(tf.zeros([1, input_size], dtype), lstm.initial_state(1))
  for v in lstm.trainable_variables:
    v.assign(rng.randn(*v.shape) * 0.5 + ('scale' in v.name))
  return lstm


def _np_layer_norm_lstm_unroll(lstm, inputs, state):
  """The oracle over time, with the module's weights."""
  w = {v.name.split('/')[-1].split(':')[0]: v.numpy() for v in lstm.variables}
  h, c = (np.asarray(x) for x in state)
  outputs = []
  for x in np.asarray(inputs):
    h, c = oracles.np_layer_norm_lstm_step(
      x, h, c, w['w_i'], w['w_h'], w['b'],
      (w['gates_scale'], w['cell_scale']),
      (w['gates_offset'], w['cell_offset']),
    )  # fmt: skip
    outputs.append(h)
  return np.stack(outputs), (h, c)


class LayerNormLSTMTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.parameters(*oracles.MODES)
  def test_matches_the_numpy_oracle(self, mode):
    rng = np.random.RandomState(0)
    lstm = _layer_norm_lstm(rng, 4, 5, tf.float64)
    inputs = tf.constant(rng.randn(6, 3, 4))
    state = snt.LSTMState(
      hidden=tf.constant(rng.randn(3, 5)), cell=tf.constant(rng.randn(3, 5))
    )
    run = oracles.in_mode(lambda x, s: snt.dynamic_unroll(lstm, x, s), mode)
    outputs, final_state = run(inputs, state)
    expected, (h, c) = _np_layer_norm_lstm_unroll(lstm, inputs, state)
    self.assertAllClose(outputs, expected, atol=1e-10, rtol=1e-10)
    self.assertAllClose(final_state.hidden, h, atol=1e-10, rtol=1e-10)
    self.assertAllClose(final_state.cell, c, atol=1e-10, rtol=1e-10)

  def test_at_initialisation_is_an_lstm_of_standardised_pre_activations(self):
    # With gains 1 and biases 0 (their initial values), pre-activations
    # that already have zero mean and unit variance pass unchanged, so the
    # cell is snt.LSTM's with the same weights; the output gate is too, and
    # the output reads the standardised cell.
    rng = np.random.RandomState(1)
    lstm = controllers.LayerNormLSTM(4, dtype=tf.float64)
    plain = snt.LSTM(4, dtype=tf.float64)
    x = tf.one_hot([0, 2, 1], 3, dtype=tf.float64)  # Picks a row of w_i.
    for module in (lstm, plain):
      module(x, module.initial_state(3))
    w_i = rng.randn(3, 16)
    w_i = (w_i - w_i.mean(1, keepdims=True)) / w_i.std(1, keepdims=True)
    lstm.w_i.assign(w_i)
    plain.input_to_hidden.assign(w_i)
    self.assertAllEqual(lstm.b, plain.b)  # Both with forget bias 1.
    h, state = lstm(x, lstm.initial_state(3))
    plain_h, plain_state = plain(x, plain.initial_state(3))
    self.assertAllClose(state.cell, plain_state.cell, atol=1e-6)
    c = plain_state.cell.numpy()
    centred = c - c.mean(1, keepdims=True)
    standardised = centred / np.sqrt(c.var(1, keepdims=True) + 1e-6)
    output_gate = plain_h.numpy() / np.tanh(c)
    self.assertAllClose(h, output_gate * np.tanh(standardised), atol=1e-6)
    self.assertGreater(np.abs(h - plain_h).max(), 1e-2)

  def test_invariant_to_a_rescaling_of_the_weights(self):
    # Ba et al. 2016, section 5.1: the normalised pre-activations do not
    # change when the weight matrices are scaled.
    rng = np.random.RandomState(2)
    lstm = _layer_norm_lstm(rng, 4, 5, tf.float64)
    inputs = tf.constant(rng.randn(5, 2, 4))
    expected, _ = snt.dynamic_unroll(lstm, inputs, lstm.initial_state(2))
    lstm.w_i.assign(lstm.w_i * 10)
    lstm.w_h.assign(lstm.w_h * 10)
    outputs, _ = snt.dynamic_unroll(lstm, inputs, lstm.initial_state(2))
    self.assertAllClose(outputs, expected, atol=1e-6)

  def test_fast_kernels_give_the_plain_values_and_gradients_under_xla(self):
    rng = np.random.RandomState(3)
    fast = _layer_norm_lstm(rng, 4, 5, tf.float32, fast_kernels=True)
    plain = _layer_norm_lstm(rng, 4, 5, tf.float32, fast_kernels=False)
    for mine, theirs in zip(plain.variables, fast.variables, strict=True):
      mine.assign(theirs)
    inputs = tf.constant(rng.randn(4, 3, 4), tf.float32)

    def run(lstm, inputs):
      with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs, _ = snt.dynamic_unroll(lstm, inputs, lstm.initial_state(3))
        loss = tf.reduce_sum(tf.sin(outputs))
      return outputs, tape.gradient(loss, [inputs, *lstm.trainable_variables])

    @tf.function(jit_compile=True)
    def both(inputs):  # One compilation.
      return run(fast, inputs), run(plain, inputs)

    (outputs, grads), (expected_outputs, expected_grads) = both(inputs)
    self.assertAllClose(outputs, expected_outputs, atol=1e-5)
    for grad, expected in zip(grads, expected_grads, strict=True):
      self.assertAllClose(grad, expected, atol=1e-5, rtol=1e-4)
      self.assertGreater(np.abs(expected).max(), 1e-4)

  def test_bad_arguments_raise(self):
    lstm = controllers.LayerNormLSTM(3)
    state = lstm.initial_state(2)
    with self.assertRaisesRegex(ValueError, '`inputs` must be'):
      lstm(tf.zeros([2, 3, 1]), state)
    with self.assertRaisesRegex(TypeError, 'dtype float32, got float64'):
      lstm(tf.zeros([2, 4], tf.float64), state)
    lstm(tf.zeros([2, 4]), state)
    with self.assertRaisesRegex(ValueError, '`inputs` must have shape'):
      lstm(tf.zeros([2, 5]), state)
    with self.assertRaisesRegex(ValueError, '`hidden_size`'):
      controllers.LayerNormLSTM(0)


class PassThroughTest(tf.test.TestCase):
  def test_output_is_the_controller_output_then_the_passed_features(self):
    inner = snt.LSTM(4)
    core = controllers.PassThrough(inner, pass_size=2)
    inputs = tf.constant(np.random.RandomState(0).randn(3, 5), tf.float32)
    state = core.initial_state(3)
    output, next_state = core(inputs, state)
    expected, expected_state = inner(inputs[:, 2:], state)
    self.assertAllClose(output[:, :4], expected)
    self.assertAllEqual(output[:, 4:], inputs[:, :2])
    tf.nest.map_structure(self.assertAllClose, next_state, expected_state)

  def test_bad_arguments_raise(self):
    with self.assertRaisesRegex(TypeError, '`controller`'):
      controllers.PassThrough(lambda x: x, 2)
    with self.assertRaisesRegex(ValueError, '`pass_size`'):
      controllers.PassThrough(snt.LSTM(3), 0)
    core = controllers.PassThrough(snt.LSTM(3), 2)
    with self.assertRaisesRegex(ValueError, 'more than pass_size=2'):
      core(tf.zeros([1, 2]), core.initial_state(1))


class TrainingTest(tf.test.TestCase):
  def test_sets_is_training_inside_and_restores_it(self):
    core = _core('deep_lstm_dropout')
    (dropout,) = core.controller._dropouts
    with controllers.training(core):
      self.assertTrue(core.controller.is_training)
      self.assertTrue(dropout.is_training)
    self.assertFalse(dropout.is_training)
    dropout.is_training = True
    with self.assertRaises(KeyError):
      with controllers.training(core, False):
        self.assertFalse(dropout.is_training)
        raise KeyError
    self.assertTrue(dropout.is_training)


if __name__ == '__main__':
  tf.test.main()
