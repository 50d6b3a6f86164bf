"""Tests for dnc.keras: the DNC as a Keras layer, against a plain `dnc.DNC`.

The expectation is always a `dnc.DNC` built by hand with the same
configuration and unrolled with `snt.dynamic_unroll` (time-major), or
Adam's first step computed from a `tf.GradientTape` over that core.
"""

import json
import os
import subprocess
import sys
import textwrap

from absl.testing import parameterized
import keras
import numpy as np
import pytest
import sonnet as snt
import tensorflow as tf

import dnc
from dnc import controllers
import dnc.keras
from tests import oracles

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_FEATURES = 4
_ACCESS = dict(memory_size=5, word_size=3, num_reads=2, num_writes=1)
_OUTPUT_SIZE = 3


@keras.saving.register_keras_serializable(package='dnc_test')
def _two_grus():
  return snt.DeepRNN([snt.GRU(4, name='gru_a'), snt.GRU(5, name='gru_b')])


# Each: the layer's `controller`, and a function making the same controller
# for a hand-built dnc.DNC (None: `controller_config` instead).
_CONTROLLERS = {
  'lstm': (dict(type='lstm', hidden_size=6), None),
  'lstm_projection': (
    dict(type='lstm', hidden_size=6, projection_size=4, forget_bias=0.5),
    None,
  ),
  'gru': (dict(type='gru', hidden_size=6), lambda: snt.GRU(6)),
  'deep_lstm': (
    dict(type='deep_lstm', hidden_sizes=[6, 5], dropout_rate=0.5),
    lambda: controllers.DeepLSTM([6, 5], dropout_rate=0.5),
  ),
  'feed_forward': (
    dict(type='feed_forward', hidden_sizes=[6, 5]),
    lambda: controllers.FeedForward(snt.nets.MLP([6, 5])),
  ),
  'registered_callable': (_two_grus, _two_grus),
}
_CONTROLLER_CONFIG = {
  'lstm': dict(hidden_size=6),
  'lstm_projection': dict(hidden_size=6, projection_size=4, forget_bias=0.5),
}


def _layer(controller='lstm', **kwargs):
  return dnc.keras.DNC(
    output_size=_OUTPUT_SIZE,
    **_ACCESS,
    controller=_CONTROLLERS[controller][0],
    **kwargs,
  )


def _reference(controller='lstm', dtype=tf.float32, **kwargs):
  """A built dnc.DNC of the configuration `_layer(controller)` has."""
  make = _CONTROLLERS[controller][1]
  if make is None:
    config = dict(_CONTROLLER_CONFIG[controller], dtype=dtype)
    core = dnc.DNC(_ACCESS, config, output_size=_OUTPUT_SIZE, **kwargs)
  else:
    core = dnc.DNC(
      _ACCESS, output_size=_OUTPUT_SIZE, controller=make(), **kwargs
    )
  core(tf.zeros([1, _FEATURES], dtype), core.initial_state(1, dtype))
  return core


def _unroll(core, inputs, initial_state=None):
  """Outputs `[B, T, O]` and the final state of batch-major `inputs`."""
  inputs = tf.transpose(tf.convert_to_tensor(inputs), [1, 0, 2])
  if initial_state is None:
    initial_state = core.initial_state(inputs.shape[1], inputs.dtype)
  outputs, state = snt.dynamic_unroll(core, inputs, initial_state)
  return tf.transpose(outputs, [1, 0, 2]).numpy(), state


def _inputs(batch_size=3, time=5, seed=0, dtype=np.float32):
  rng = np.random.RandomState(seed)
  return rng.randn(batch_size, time, _FEATURES).astype(dtype)


def _randomise(layer, seed=1):
  """Gives every weight random values (biases start at zero)."""
  rng = np.random.RandomState(seed)
  for weight in layer.weights:
    weight.assign(0.5 * rng.randn(*weight.shape).astype(weight.dtype))


def _adam_first_step(grads, learning_rate):
  """Keras Adam's first update: m_hat = g and v_hat = g^2, with its epsilon
  applied to sqrt(v) before the bias correction."""
  epsilon = 1e-7 / np.sqrt(1 - 0.999)
  return [-learning_rate * g / (np.abs(g) + epsilon) for g in grads]


def _mse(outputs, targets):
  return tf.reduce_mean(tf.square(outputs - targets))


# The one rule of `dnc.DNC` and the layer (dnc.util.check_dtype), stated
# the same in both; tests/dnc_test.py checks the core's message.
_DTYPE_RULE = (
  r'must be float32 or float64 \(the DNC computes in one of them; float16, '
  r'bfloat16 and mixed precision are not supported\), got '
)


class LayerTest(tf.test.TestCase, parameterized.TestCase):
  def setUp(self):
    super().setUp()
    keras.utils.set_random_seed(0)

  @parameterized.named_parameters(*((name, name) for name in _CONTROLLERS))
  def test_same_outputs_as_the_core_given_its_weights(self, controller):
    reference = _reference(controller)
    layer = _layer(controller, return_sequences=True)
    layer.build((None, None, _FEATURES))
    # The mapping: one Keras weight per core variable, whose path ends in
    # the variable's name.
    names = sorted(v.name[: -len(':0')] for v in reference.variables)
    self.assertLen(layer.weights, len(names))
    self.assertLen(layer.trainable_weights, len(names))
    ours = sorted(
      next(name for name in names if w.path.endswith('/' + name))
      for w in layer.weights
    )
    self.assertEqual(ours, names)
    self.assertNotAllClose(
      layer(_inputs()), _unroll(reference, _inputs())[0], atol=1e-3
    )
    layer.set_core_weights(reference)
    expected, _ = _unroll(reference, _inputs())
    self.assertAllClose(layer(_inputs()), expected, atol=1e-6)
    if controller == 'deep_lstm':  # Dropout only while training.
      self.assertNotAllClose(
        layer(_inputs(), training=True), expected, atol=1e-3
      )

  def test_keras_weights_are_the_cores_variables(self):
    layer = _layer()
    layer.build((None, None, _FEATURES))
    core_variables = {id(v): v for v in layer.core.variables}
    self.assertLen(core_variables, 25)
    self.assertCountEqual([id(w.value) for w in layer.weights], core_variables)
    weight = layer.weights[0]
    weight.assign(np.full(weight.shape, 0.25, np.float32))
    self.assertAllEqual(
      core_variables[id(weight.value)], np.full(weight.shape, 0.25)
    )

  @parameterized.parameters(True, False)
  def test_fast_kernels_give_the_plain_outputs(self, fast_kernels):
    layer = _layer(return_sequences=True, fast_kernels=fast_kernels)
    layer.build((None, None, _FEATURES))
    _randomise(layer)
    reference = _reference(fast_kernels=False)
    reference_names = {v.name: v for v in reference.variables}
    for variable in layer.core.variables:
      reference_names[variable.name].assign(variable)
    expected, _ = _unroll(reference, _inputs())
    self.assertAllClose(layer(_inputs()), expected, atol=1e-5)

  def test_float64(self):
    layer = _layer(return_sequences=True, dtype='float64')
    layer.build((None, None, _FEATURES))
    self.assertEqual(layer.weights[0].dtype, 'float64')
    reference = _reference(dtype=tf.float64)
    layer.set_core_weights(reference)
    inputs = _inputs(dtype=np.float64)
    self.assertAllClose(
      layer(inputs), _unroll(reference, inputs)[0], atol=1e-12
    )

  def test_masked_steps_keep_the_state_and_repeat_the_output(self):
    inputs = _inputs(time=6)
    mask = np.array(
      [[1, 1, 1, 1, 0, 0], [1, 1, 0, 1, 0, 1], [0, 1, 1, 1, 1, 1]], bool
    )
    layer = _layer(return_sequences=True, return_state=True)
    zeroed = _layer(return_sequences=True, zero_output_for_mask=True)
    last = _layer()
    for other in (layer, zeroed, last):
      other.build((None, None, _FEATURES))
    _randomise(layer)
    for other in (zeroed, last):
      for weight, source in zip(other.weights, layer.weights, strict=True):
        weight.assign(source)
    outputs, *states = layer(inputs, mask=mask)
    final = layer.pack_state(states)
    zeroed_outputs = zeroed(inputs, mask=mask)
    last_outputs = last(inputs, mask=mask)

    for b in range(len(inputs)):
      # The expectation: the core on the unmasked steps alone.
      kept, state = _unroll(layer.core, inputs[b : b + 1, mask[b]])
      steps = np.cumsum(mask[b]) - 1  # The last unmasked step so far.
      expected = np.where(
        steps[:, None] >= 0, kept[0][np.maximum(steps, 0)], 0.0
      )
      self.assertAllClose(outputs[b], expected, atol=1e-5)
      self.assertAllClose(
        zeroed_outputs[b], expected * mask[b][:, None], atol=1e-5
      )
      self.assertAllClose(last_outputs[b], kept[0][-1], atol=1e-5)
      actual_fields = oracles.final_fields(
        tf.nest.map_structure(lambda x, b=b: x[b : b + 1], final)
      )
      expected_fields = oracles.final_fields(state)
      relabelled = oracles.relabel_slots(
        actual_fields, expected_fields['memory'].numpy()
      )
      for key, value in expected_fields.items():
        self.assertAllClose(relabelled[key], value, atol=1e-5, msg=key)

  def test_keras_mask_is_passed_on(self):
    inputs = _inputs(time=4)
    inputs[0, 2:] = 0.0  # Padding, which keras.layers.Masking masks.
    model = keras.Sequential(
      [
        keras.Input((None, _FEATURES)),
        keras.layers.Masking(),
        _layer(return_sequences=True),
      ]
    )
    outputs = model(inputs)
    expected = np.ones([3, 4], bool)
    expected[0, 2:] = False
    self.assertAllEqual(outputs._keras_mask, expected)
    self.assertAllClose(outputs[0, 2], outputs[0, 1])

  def test_go_backwards_reads_the_sequence_reversed(self):
    layer = _layer(go_backwards=True)
    layer.build((None, None, _FEATURES))
    expected, _ = _unroll(layer.core, _inputs()[:, ::-1])
    self.assertAllClose(layer(_inputs()), expected[:, -1], atol=1e-6)

  def test_initial_state_and_stateful_continue_a_sequence(self):
    inputs = _inputs(time=6)
    layer = _layer(return_sequences=True, return_state=True)
    stateful = _layer(return_sequences=True, stateful=True)
    layer.build((None, None, _FEATURES))
    stateful.build((3, None, _FEATURES))
    for weight, source in zip(stateful.weights, layer.weights, strict=True):
      weight.assign(source)
    whole, _ = _unroll(layer.core, inputs)

    first, *states = layer(inputs[:, :2])
    self.assertAllClose(first, whole[:, :2], atol=1e-6)
    for initial_state in (states, layer.pack_state(states)):
      rest, *_ = layer(inputs[:, 2:], initial_state=initial_state)
      self.assertAllClose(rest, whole[:, 2:], atol=1e-5)
    with self.assertRaisesRegex(ValueError, 'A DNC state is 9 tensors'):
      layer(inputs, initial_state=states[:-1])

    self.assertAllClose(stateful(inputs[:, :2]), whole[:, :2], atol=1e-6)
    self.assertAllClose(stateful(inputs[:, 2:]), whole[:, 2:], atol=1e-5)
    stateful.reset_state()
    self.assertAllClose(stateful(inputs[:, :2]), whole[:, :2], atol=1e-6)

  def test_state_names_give_the_order_of_the_state(self):
    layer = _layer(return_state=True)
    _, *states = layer(_inputs())
    self.assertEqual(
      layer.state_names,
      [
        'access_output',
        'access_state.memory',
        'access_state.read_weights',
        'access_state.write_weights',
        'access_state.linkage.link',
        'access_state.linkage.precedence_weights',
        'access_state.usage',
        'controller_state.hidden',
        'controller_state.cell',
      ],
    )
    n, w, r = _ACCESS['memory_size'], _ACCESS['word_size'], 2
    self.assertEqual(
      [tuple(s.shape) for s in states],
      [(3, r, w), (3, n, w), (3, r, n), (3, 1, n), (3, 1, n, n), (3, 1, n)]
      + [(3, n), (3, 6), (3, 6)],
    )
    # Usage starts at zero and only grows where the memory was written.
    self.assertAllGreaterEqual(layer.pack_state(states).access_state.usage, 0)


class SparseMemoryTest(tf.test.TestCase, parameterized.TestCase):
  """The layer runs SAM and the SDNC as their hand-built cores do."""

  @parameterized.parameters(('sam', {}), ('sdnc', dict(link_sparsity=2)))
  def test_same_outputs_as_the_core_and_from_config(self, memory_type, link):
    keras.utils.set_random_seed(0)
    sparse = dict(memory_type=memory_type, sparse_reads=2, **link)
    layer = _layer(return_sequences=True, **sparse)
    layer.build((None, None, _FEATURES))
    access = dict(_ACCESS, sparse_reads=2, **link)
    del access['num_writes']  # One write head.
    make = dnc.SAM if memory_type == 'sam' else dnc.SDNC
    reference = make(access, dict(hidden_size=6), output_size=_OUTPUT_SIZE)
    reference(tf.zeros([1, _FEATURES]), reference.initial_state(1))
    _randomise(layer)
    self.assertNotAllClose(
      layer(_inputs()), _unroll(reference, _inputs())[0], atol=1e-3
    )
    layer.set_core_weights(reference)
    expected, _ = _unroll(reference, _inputs())
    self.assertAllClose(layer(_inputs()), expected, atol=1e-6)

    config = layer.get_config()
    self.assertEqual(config['memory_type'], memory_type)
    again = dnc.keras.DNC.from_config(json.loads(json.dumps(config)))
    again.build((None, None, _FEATURES))
    again.set_core_weights(reference)
    self.assertAllClose(again(_inputs()), expected, atol=1e-6)


class ConfigTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.named_parameters(*((name, name) for name in _CONTROLLERS))
  def test_from_config_rebuilds_the_same_layer(self, controller):
    layer = _layer(controller, return_sequences=True, clip_value=5.0)
    config = layer.get_config()
    json.dumps(config)  # Keras stores it as JSON.
    again = dnc.keras.DNC.from_config(config)
    self.assertEqual(again.get_config(), config)
    for built in (layer, again):
      built.build((None, None, _FEATURES))
    self.assertEqual(
      [w.path.split('/', 1)[1] for w in again.weights],
      [w.path.split('/', 1)[1] for w in layer.weights],
    )
    for weight, source in zip(again.weights, layer.weights, strict=True):
      weight.assign(source)
    self.assertAllClose(again(_inputs()), layer(_inputs()), atol=1e-6)

  def test_unregistered_controller_trains_but_cannot_be_serialised(self):
    layer = dnc.keras.DNC(
      output_size=2, **_ACCESS, controller=lambda: snt.GRU(3)
    )
    self.assertEqual(layer(_inputs()).shape, (3, 2))
    self.assertLen(layer.trainable_weights, len(layer.core.variables))
    with self.assertRaisesRegex(TypeError, 'register_keras_serializable'):
      layer.get_config()

  @parameterized.named_parameters(
    ('unknown_type', dict(controller=dict(type='rnn')), "controller\\['type'"),
    (
      'missing_size',
      dict(controller=dict(type='gru')),
      "'gru' needs \\['hidden_size'\\]",
    ),
    (
      'unknown_key',
      dict(controller=dict(type='lstm', hidden_size=3, size=2)),
      "unknown keys \\['size'\\]",
    ),
    (
      'bad_sizes',
      dict(controller=dict(type='deep_lstm', hidden_sizes=[3, 0])),
      "hidden_sizes'\\]\\[1\\]",
    ),
    ('not_a_controller', dict(controller=3), '`controller` must be a dict'),
    ('memory_size', dict(memory_size=0), '`memory_size`'),
    ('output_size', dict(output_size=-1), '`output_size`'),
    ('mixed_precision', dict(dtype='mixed_float16'), _DTYPE_RULE + 'float16'),
    ('float16', dict(dtype='float16'), _DTYPE_RULE + 'float16'),
    ('bfloat16', dict(dtype='bfloat16'), _DTYPE_RULE + 'bfloat16'),
    ('unroll', dict(unroll=True), '`unroll`'),
  )
  def test_bad_arguments_are_named(self, kwargs, message):
    kwargs = {'output_size': 2, **kwargs}
    with self.assertRaisesRegex((TypeError, ValueError), message):
      dnc.keras.DNC(**kwargs)

  def test_inputs_must_be_batch_time_features(self):
    with self.assertRaisesRegex(ValueError, r'\[batch_size, time, features\]'):
      _layer()(np.zeros([2, _FEATURES], np.float32))

  def test_import_dnc_does_not_need_keras(self):
    # With keras hidden from the import system (as if not installed), dnc
    # imports and runs, and only dnc.keras asks for Keras.
    code = textwrap.dedent(
      """
      import sys
      class Hide:
        def __init__(self, finder):
          self.finder = finder
        def find_spec(self, name, path=None, target=None):
          if name.split('.')[0] == 'keras':
            return None
          return self.finder.find_spec(name, path, target)
        def __getattr__(self, name):
          return getattr(self.finder, name)
      sys.meta_path[:] = [Hide(finder) for finder in sys.meta_path]
      import tensorflow as tf
      import dnc, dnc.tools.restore
      core = dnc.DNC(dict(memory_size=3, word_size=2, num_reads=1,
                          num_writes=1), dict(hidden_size=2), output_size=2)
      core(tf.zeros([1, 2]), core.initial_state(1))
      assert not [m for m in sys.modules if m.split('.')[0] == 'keras']
      try:
        import dnc.keras
      except ImportError as e:
        print(e)
      """
    )
    result = subprocess.run(
      [sys.executable, '-c', code],
      capture_output=True,
      text=True,
      cwd=_ROOT,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'),
      timeout=120,
    )
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    self.assertIn('dnc.keras needs Keras 3', result.stdout)


def _model(kind, layer):
  """A Sequential, functional or subclassed model around `layer`."""
  if kind == 'sequential':
    return keras.Sequential([keras.Input((None, _FEATURES)), layer])
  if kind == 'functional':
    inputs = keras.Input((None, _FEATURES))
    return keras.Model(inputs, layer(inputs))

  class Subclassed(keras.Model):
    def __init__(self):
      super().__init__()
      self.dnc = layer

    def call(self, inputs):
      return self.dnc(inputs)

  return Subclassed()


def _sgd_update(core, inputs, targets, learning_rate):
  """The loss and an SGD step's update of each trainable variable of
  `core`, from a tape over the plain core."""
  with tf.GradientTape() as tape:
    outputs = snt.dynamic_unroll(
      core, tf.transpose(inputs, [1, 0, 2]), core.initial_state(len(inputs))
    )[0]
    loss = _mse(tf.transpose(outputs, [1, 0, 2]), targets)
  grads = tape.gradient(loss, core.trainable_variables)
  return loss, [-learning_rate * g.numpy() for g in grads]


def _targets():
  return np.random.RandomState(2).randn(3, 5, _OUTPUT_SIZE).astype(np.float32)


class ModelTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.parameters('sequential', 'functional', 'subclassed')
  def test_fit_trains_the_dnc_weights(self, kind):
    keras.utils.set_random_seed(0)
    layer = _layer(return_sequences=True)
    model = _model(kind, layer)
    learning_rate = 0.1
    model.compile(keras.optimizers.SGD(learning_rate), 'mse', run_eagerly=True)
    inputs, targets = _inputs(), _targets()
    model(inputs)  # Builds it.
    self.assertLen(model.trainable_weights, 25)
    core = layer.core
    before = [v.numpy() for v in core.trainable_variables]
    loss, updates = _sgd_update(core, inputs, targets, learning_rate)

    history = model.fit(inputs, targets, batch_size=3, epochs=1, verbose=0)
    self.assertAllClose(history.history['loss'][0], loss, rtol=1e-5)
    for variable, start, update in zip(
      core.trainable_variables, before, updates, strict=True
    ):
      self.assertGreater(np.abs(update).max(), 0, variable.name)
      self.assertAllClose(variable - start, update, atol=1e-6)

  @pytest.mark.slow
  def test_fit_builds_a_subclassed_model_in_a_graph(self):
    # Keras builds a subclassed model while tracing the first training step,
    # in a stateless scope inside the tf.function: here without XLA.
    keras.utils.set_random_seed(0)
    layer = _layer(return_sequences=True)
    model = _model('subclassed', layer)
    learning_rate = 0.1
    model.compile(keras.optimizers.SGD(learning_rate), 'mse', jit_compile=False)
    inputs, targets = _inputs(), _targets()
    expected = {}

    class AfterFirstStep(keras.callbacks.Callback):
      def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
          core = layer.core
          expected['before'] = [v.numpy() for v in core.trainable_variables]
          expected['loss'], expected['updates'] = _sgd_update(
            core, inputs, targets, learning_rate
          )

    history = model.fit(
      inputs,
      targets,
      batch_size=3,
      epochs=2,
      verbose=0,
      callbacks=[AfterFirstStep()],
    )
    self.assertLen(model.trainable_weights, 25)
    self.assertAllClose(history.history['loss'][1], expected['loss'], rtol=1e-5)
    for variable, start, update in zip(
      layer.core.trainable_variables,
      expected['before'],
      expected['updates'],
      strict=True,
    ):
      self.assertGreater(np.abs(update).max(), 0, variable.name)
      self.assertAllClose(variable - start, update, atol=1e-6)


def _recall_task(batch_size=256, bits=4, time=6):
  """Bits at the first step, to be output at the last (a query flag)."""
  rng = np.random.RandomState(0)
  inputs = np.zeros((batch_size, time, bits + 1), np.float32)
  inputs[:, 0, :bits] = rng.randint(2, size=(batch_size, bits))
  inputs[:, -1, -1] = 1
  return inputs, inputs[:, 0, :bits].copy()


@pytest.mark.slow
class TrainingTest(tf.test.TestCase):
  def test_xla_learns_a_memory_task(self):
    # Under XLA (Keras' 'auto' on a GPU; asked for here, on a CPU) the core
    # runs its speed kernels: the first step must still be Adam's on the
    # plain core's gradients, and the outputs the plain core's.
    keras.utils.set_random_seed(0)
    inputs, targets = _recall_task()
    layer = dnc.keras.DNC(
      output_size=4,
      memory_size=8,
      word_size=4,
      num_reads=1,
      controller=dict(type='lstm', hidden_size=16),
    )
    features = keras.Input((None, 5))
    model = keras.Model(features, layer(features))
    learning_rate = 0.01
    loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
    model.compile(
      keras.optimizers.Adam(learning_rate), loss_fn, jit_compile=True
    )
    self.assertTrue(model.jit_compile)
    core = layer.core
    start = {v.name: v.numpy() for v in core.trainable_variables}
    batch = inputs[:32], targets[:32]
    with tf.GradientTape() as tape:
      outputs = snt.dynamic_unroll(
        core, tf.transpose(batch[0], [1, 0, 2]), core.initial_state(32)
      )[0]
      first_loss = loss_fn(batch[1], outputs[-1])
    grads = tape.gradient(first_loss, core.trainable_variables)
    updates = _adam_first_step([g.numpy() for g in grads], learning_rate)

    history = model.fit(*batch, batch_size=32, epochs=1, verbose=0)
    self.assertAllClose(history.history['loss'][0], first_loss, rtol=1e-5)
    for variable, update in zip(core.trainable_variables, updates, strict=True):
      self.assertAllClose(
        variable - start[variable.name],
        update,
        atol=1e-3 * learning_rate,
        msg=variable.name,
      )

    history = model.fit(inputs, targets, batch_size=32, epochs=6, verbose=0)
    losses = history.history['loss']
    self.assertAllClose(first_loss, np.log(2), atol=0.05)  # Chance.
    self.assertLess(losses[-1], 0.5 * first_loss, losses)
    moved = [
      np.abs(v.numpy() - start[v.name]).max() for v in core.trainable_variables
    ]
    self.assertGreater(min(moved), 1e-3)


@pytest.mark.slow
class SavingTest(tf.test.TestCase):
  def test_model_save_and_save_weights_round_trip(self):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, _FEATURES))
    layer = _layer('deep_lstm', return_sequences=True)
    model = keras.Model(inputs, keras.layers.Dense(2)(layer(inputs)))
    _randomise(layer)
    data = _inputs()
    expected = model(data)
    directory = self.create_tempdir().full_path

    path = os.path.join(directory, 'model.keras')
    model.save(path)
    loaded = keras.models.load_model(path)
    self.assertEqual(
      loaded.layers[1].get_config(), model.layers[1].get_config()
    )
    self.assertAllClose(loaded(data), expected, atol=1e-6)
    # In a graph (no XLA): the same outputs as the plain core.
    loaded.compile(jit_compile=False)
    core_outputs, _ = _unroll(loaded.layers[1].core, data)
    dense = loaded.layers[2]
    self.assertAllClose(
      loaded.predict(data, verbose=0), dense(core_outputs), atol=1e-5
    )

    weights_path = os.path.join(directory, 'model.weights.h5')
    model.save_weights(weights_path)
    import h5py  # A dependency of Keras.

    with h5py.File(weights_path) as f:
      arrays = []
      f.visititems(
        lambda name, item: (
          arrays.append(name) if isinstance(item, h5py.Dataset) else None
        )
      )
    core_arrays = [a for a in arrays if a.startswith('layers/dnc/cell/vars/')]
    self.assertLen(core_arrays, len(layer.core.variables))
    fresh = keras.Model.from_config(model.get_config())
    self.assertNotAllClose(fresh(data), expected, atol=1e-3)
    fresh.load_weights(weights_path)
    self.assertAllClose(fresh(data), expected, atol=1e-6)

    # Keras' own SavedModel export: the core's variables go with it.
    export_dir = os.path.join(directory, 'exported')
    model.export(export_dir, verbose=False)
    reloaded = tf.saved_model.load(export_dir)
    self.assertAllClose(reloaded.serve(data), expected, atol=1e-5)


if __name__ == '__main__':
  tf.test.main()
