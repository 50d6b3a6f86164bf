"""The memory options of DNC-MD (Csordás and Schmidhuber 2019) in the DNC.

Their maths is tested against numpy oracles in `addressing_test.py`
(masked lookup, sharpening) and `access_test.py` (a memory step with each
option). Here: the variables and checkpoint keys each option adds (and that
the default DNC keeps its own), the speed kernels against the plain path
with the options on, and the configs of the training scripts.
"""

import os

from absl.testing import parameterized
import numpy as np
import pytest
import sonnet as snt
import tensorflow as tf

from dnc import access
from dnc import dnc
from dnc import internals
from tests import oracles

_ACCESS = dict(memory_size=5, word_size=4, num_reads=2, num_writes=2)
_OPTIONS = {
  'content_masking': dict(content_masking=True),
  'deallocate_content': dict(deallocate_content=True),
  'link_sharpness': dict(link_sharpness=True),
  'all': dict(
    content_masking=True, deallocate_content=True, link_sharpness=True
  ),
}
# The interface layers each option adds to `memory_access`.
_LAYERS = {
  'content_masking': ('read_masks', 'write_masks'),
  'deallocate_content': (),
  'link_sharpness': ('link_sharpness',),
}
# The reference DNC's 25 variables.
_DEFAULT_NAMES = sorted(
  [f'dnc/lstm/{v}:0' for v in ('w_i', 'w_h', 'b')]
  + [
    f'dnc/memory_access/{piece}/{v}:0'
    for piece in oracles.INTERFACE_LAYERS
    for v in 'wb'
  ]
  + [f'dnc/output_linear/{v}:0' for v in 'wb']
)


def _core(options, fast_kernels=False, dtype=tf.float32):
  """A small DNC with `options`, built by one step."""
  core = dnc.DNC(
    dict(_ACCESS, **options),
    dict(hidden_size=8, dtype=dtype),
    output_size=3,
    clip_value=20,
    fast_kernels=fast_kernels,
  )
  core(tf.zeros([2, 3], dtype), core.initial_state(2))
  return core


def _copy_variables(source, target):
  values = {v.name: v for v in source.trainable_variables}
  for variable in target.trainable_variables:
    if variable.name in values:  # An option's own layers keep theirs.
      variable.assign(values[variable.name])


def _option_names(option):
  options = (
    ('content_masking', 'link_sharpness') if option == 'all' else (option,)
  )
  return sorted(
    f'dnc/memory_access/{layer}/{v}:0'
    for name in options
    for layer in _LAYERS.get(name, ())
    for v in 'wb'
  )


def _checkpoint_keys(core, directory):
  path = tf.train.Checkpoint(model=core).write(os.path.join(directory, 'ckpt'))
  return {name for name, _ in tf.train.list_variables(path)}


class VariablesTest(tf.test.TestCase, parameterized.TestCase):
  def test_default_core_has_the_reference_variables(self):
    core = _core({})
    self.assertEqual(
      sorted(v.name for v in core.trainable_variables), _DEFAULT_NAMES
    )
    self.assertLen(_DEFAULT_NAMES, 25)
    explicit = _core(
      dict(
        content_masking=False, deallocate_content=False, link_sharpness=False
      )
    )
    self.assertEqual(
      [v.name for v in explicit.trainable_variables],
      [v.name for v in core.trainable_variables],
    )

  @parameterized.parameters(*_OPTIONS)
  def test_each_option_adds_only_its_layers(self, option):
    core = _core(_OPTIONS[option])
    names = sorted(v.name for v in core.trainable_variables)
    self.assertEqual(names, sorted(_DEFAULT_NAMES + _option_names(option)))
    directory = self.create_tempdir().full_path
    default_keys = _checkpoint_keys(
      _core({}), os.path.join(directory, 'default')
    )
    layers = {tuple(name.split('/')[2:4]) for name in _option_names(option)}
    self.assertEqual(
      _checkpoint_keys(core, directory),
      default_keys
      | {
        f'model/_access/_interface_linears/{layer}/{variable[0]}/'
        '.ATTRIBUTES/VARIABLE_VALUE'
        for layer, variable in layers
      },
    )

  def test_internals_include_the_options_interface(self):
    core = _core(_OPTIONS['all'])
    inputs = tf.random.stateless_normal([4, 2, 3], seed=[1, 2])
    (_, steps), _ = snt.dynamic_unroll(
      internals.WithInternals(core), inputs, core.initial_state(2)
    )
    shapes = {
      'read_content_masks': [4, 2, 2, 4],
      'write_content_masks': [4, 2, 2, 4],
      'backward_sharpness': [4, 2, 2, 2],
      'forward_sharpness': [4, 2, 2, 2],
    }
    self.assertCountEqual(internals.OPTION_FIELDS, shapes)
    for key, shape in shapes.items():
      self.assertEqual(steps[key].shape.as_list(), shape, key)
    self.assertTrue((steps['forward_sharpness'].numpy() >= 1).all())
    plain = _core({})
    (_, plain_steps), _ = snt.dynamic_unroll(
      internals.WithInternals(plain), inputs, plain.initial_state(2)
    )
    self.assertNoCommonElements(plain_steps, shapes)


class SpeedKernelsTest(tf.test.TestCase, parameterized.TestCase):
  """The options on the fast path (`fast_kernels`) and on the plain one."""

  def _run(self, core, inputs, mode):
    def unroll_and_differentiate(inputs):
      with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs, state = snt.dynamic_unroll(core, inputs, core.initial_state(2))
        loss = tf.reduce_sum(
          outputs * tf.range(3, dtype=outputs.dtype)
        ) + tf.reduce_sum(state.access_state.memory**2)
      variables = sorted(core.trainable_variables, key=lambda v: v.name)
      return outputs, state, tape.gradient(loss, [inputs, *variables])

    outputs, state, grads = oracles.in_mode(unroll_and_differentiate, mode)(
      inputs
    )
    return [outputs, *tf.nest.flatten(state), *grads]

  def _cores(self, options, switches):
    tf.random.set_seed(11)
    cores = [_core(options, switch, tf.float64) for switch in switches]
    for core in cores[1:]:
      _copy_variables(cores[0], core)
    return cores

  def _assert_same(self, values, expected):
    for got, want in zip(values, expected, strict=True):
      self.assertLess(oracles.max_relative_error(got, want), 1e-9)

  @parameterized.parameters(*_OPTIONS)
  def test_fast_kernels_give_the_plain_values_and_gradients(self, option):
    plain, fast = self._cores(_OPTIONS[option], (False, True))
    inputs = tf.random.stateless_normal(
      [5, 2, 3], seed=[3, 4], dtype=tf.float64
    )
    expected = self._run(plain, inputs, 'eager')
    self._assert_same(self._run(fast, inputs, 'eager'), expected)
    # The option's own layers learn.
    grads = dict(
      zip(
        sorted(v.name for v in plain.trainable_variables),
        expected[-len(plain.trainable_variables) :],
        strict=True,
      )
    )
    for name in _option_names(option):
      self.assertGreater(np.abs(grads[name]).max(), 1e-6, name)

  def _access_step(self, fast_kernels, mode, gradients):
    """One memory step with every option; with `gradients`, also those of
    a loss of its outputs with respect to its inputs and variables."""
    rng = np.random.RandomState(12)
    module = access.MemoryAccess(
      **_ACCESS, fast_kernels=fast_kernels, **_OPTIONS['all']
    )
    inputs = tf.constant(rng.randn(2, 7))
    state = oracles.to_access_state(
      oracles.random_access_state(rng, 2, 5, 4, 2, 2), tf.float64
    )
    module(inputs, state)  # Builds it.
    for variable in module.trainable_variables:  # The same for every switch.
      variable.assign(0.5 * rng.randn(*variable.shape))

    def step(inputs, state):
      with tf.GradientTape() as tape:
        tape.watch([inputs, state])
        read_words, next_state = module(inputs, state)
        loss = tf.reduce_sum(read_words) + tf.reduce_sum(
          next_state.read_weights * tf.range(5, dtype=tf.float64)
        )
      values = [read_words, *tf.nest.flatten(next_state)]
      if not gradients:
        return values
      variables = sorted(module.trainable_variables, key=lambda v: v.name)
      # Zeros for w_{t-1}^w, through which usage passes no gradient.
      return values + tape.gradient(
        loss,
        [inputs, *tf.nest.flatten(state), *variables],
        unconnected_gradients=tf.UnconnectedGradients.ZERO,
      )

    return oracles.in_mode(step, mode)(inputs, state)

  @pytest.mark.slow  # Two XLA compilations.
  def test_every_switch_under_xla_gives_the_plain_step(self):
    expected = self._access_step(False, 'eager', gradients=False)
    for fast_kernels in (True, False):
      with self.subTest(fast_kernels=fast_kernels):
        self._assert_same(
          self._access_step(fast_kernels, 'xla', gradients=False), expected
        )

  @pytest.mark.slow  # An XLA compilation of a backward pass.
  def test_xla_gradients_of_the_speed_kernels_are_the_plain_ones(self):
    self._assert_same(
      self._access_step(True, 'xla', gradients=True),
      self._access_step(False, 'eager', gradients=True),
    )

  def test_options_change_the_outputs(self):
    plain, dncmd = (
      _core(options, dtype=tf.float64) for options in ({}, _OPTIONS['all'])
    )
    _copy_variables(plain, dncmd)
    inputs = tf.random.stateless_normal(
      [5, 2, 3], seed=[7, 8], dtype=tf.float64
    )
    outputs = [
      snt.dynamic_unroll(c, inputs, c.initial_state(2))[0]
      for c in (plain, dncmd)
    ]
    self.assertGreater(np.abs(outputs[0] - outputs[1]).max(), 1e-4)


if __name__ == '__main__':
  tf.test.main()
