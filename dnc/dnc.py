"""The Differentiable Neural Computer core: a controller with memory.

Each step the controller sees the input and last step's read words; its
output drives the memory access (`MemoryAccess`), and the output of the core
is a linear map of the controller output and the new read words
(Graves et al. 2016, Methods: y_t = W_y [h_t; r_t]).
"""

import collections
from collections.abc import Mapping
from typing import Any

import sonnet as snt
import tensorflow as tf

from dnc import access
from dnc import controllers
from dnc import kernels
from dnc import util

DNCState = collections.namedtuple(
  'DNCState', ('access_output', 'access_state', 'controller_state')
)


def _named_leaves(structure: Any, name: str) -> list[tuple[str, Any]]:
  """`(name, leaf)` pairs in `tf.nest.flatten` order, named as attributes.

  Args:
    structure: a nest of namedtuples, tuples, lists and dicts.
    name: the name of `structure`.

  Returns:
    e.g. `('prev_state.access_state.memory', tensor)`.
  """
  if isinstance(structure, dict):
    return [
      pair
      for key in sorted(structure)
      for pair in _named_leaves(structure[key], f'{name}[{key!r}]')
    ]
  if isinstance(structure, tuple) and hasattr(structure, '_fields'):
    return [
      pair
      for field, value in zip(structure._fields, structure, strict=True)
      for pair in _named_leaves(value, f'{name}.{field}')
    ]
  if isinstance(structure, (tuple, list)):
    return [
      pair
      for i, value in enumerate(structure)
      for pair in _named_leaves(value, f'{name}[{i}]')
    ]
  return [(name, structure)]


class DNC(snt.RNNCore):
  """The DNC as a Sonnet RNN core (Graves et al., Nature 2016).

  Works with `snt.static_unroll` and `snt.dynamic_unroll` (time-major), in
  eager mode, inside `tf.function` and under XLA (`jit_compile=True`).
  Shapes use B (batch_size), R (num_reads), W (word_size).

  The controller is any Sonnet RNN core (`controller=`); by default an
  LSTM built from `controller_config`, with the reference's variable names.
  `fast_kernels` chooses how the maths is differentiated (see `__init__`).
  """

  def __init__(
    self,
    access_config: Mapping[str, Any],
    controller_config: Mapping[str, Any] | None = None,
    output_size: int | None = None,
    clip_value: float | None = None,
    name: str = 'dnc',
    *,
    controller: snt.RNNCore | None = None,
    fast_kernels: bool = False,
  ):
    """Constructs a DNC.

    Args:
      access_config: keyword arguments of `MemoryAccess` (`memory_size`,
        `word_size`, `num_reads`, `num_writes`, and the options of Csordás
        and Schmidhuber 2019, `content_masking`, `deallocate_content`,
        `link_sharpness`, all False by default).
      controller_config: keyword arguments of `controllers.LSTM` (those of
        `snt.LSTM`: `hidden_size`, required, `projection_size`,
        `forget_bias`, `dtype`) for the default controller. Pass
        `dtype=tf.float64` (with float64 inputs) to run the whole core in
        float64. Leave it out when passing `controller`.
      output_size: size of the output at each step.
      clip_value: if positive, the controller output, its state and the core
        output are clipped to `[-clip_value, clip_value]`.
      name: module name.
      controller: a Sonnet RNN core mapping `[batch_size, input_size +
        num_reads * word_size]` inputs and its state to `[batch_size, H]`
        outputs (e.g. `snt.GRU`, `snt.DeepRNN`, `dnc.controllers`). Its
        `initial_state(batch_size)` gives the state's structure and dtype;
        a controller without state (`controllers.FeedForward`) gives its
        dtype as a `dtype` attribute. Its variables are named in its own
        scope (e.g. `gru/...`), not under `dnc/`.
      fast_kernels: `True` runs the speed kernels of `dnc.kernels` (the
        same values, hand-written gradients: the links and the allocation,
        and products whose gradients re-read their weights in the default
        LSTM, the interface and the output layer), which pay off where the
        training step is compiled with XLA (`train.py` builds with `True`);
        `False` (default) runs the plain functions and TensorFlow's
        gradients, what to use when changing the maths, and what a
        SavedModel should hold. Chosen here, once; both give the same
        values, variables and checkpoints.
    """
    super().__init__(name=name)
    if not isinstance(access_config, Mapping):
      raise TypeError(
        '`access_config` must be a dict of MemoryAccess arguments, got '
        f'{access_config!r}.'
      )
    util.check_bool(fast_kernels, 'fast_kernels')
    if output_size is None:
      raise TypeError('`output_size` is required (a positive integer).')
    util.check_positive_int(output_size, 'output_size')
    if clip_value is not None and not clip_value >= 0:
      raise ValueError(
        f'`clip_value` must be None or a non-negative number, got '
        f'{clip_value!r}.'
      )
    if controller is not None:
      if controller_config is not None:
        raise TypeError(
          'Pass either `controller` or `controller_config`, not both.'
        )
      if not callable(controller) or not hasattr(controller, 'initial_state'):
        raise TypeError(
          '`controller` must be a Sonnet RNN core (callable with '
          f'`initial_state`), got {type(controller).__name__}.'
        )
      self._controller = controller
    else:
      if not isinstance(controller_config, Mapping) or (
        'hidden_size' not in controller_config
      ):
        raise TypeError(
          '`controller_config` must be a dict of snt.LSTM arguments with '
          f'`hidden_size`, got {controller_config!r}.'
        )
      util.check_positive_int(
        controller_config['hidden_size'], "controller_config['hidden_size']"
      )
      self._controller = controllers.LSTM(
        **{'name': 'lstm', **controller_config}, fast_kernels=fast_kernels
      )
    self._access = self._make_access(access_config, fast_kernels)
    self._output_linear = snt.Linear(output_size, name='output_linear')
    self._matmul = kernels.matmul if fast_kernels else util.matmul
    self._output_size = output_size
    self._clip_value = clip_value or 0
    self._input_size = None  # The flattened input size of the first call.
    # The structure, shapes and dtype of the controller's state.
    state = self._controller.initial_state(1)
    self._controller_state_size = tf.nest.map_structure(
      lambda x: tf.TensorShape(x.shape[1:]), state
    )
    leaves = tf.nest.flatten(state)
    if leaves:
      self._dtype = leaves[0].dtype
    else:
      self._dtype = tf.as_dtype(getattr(self._controller, 'dtype', tf.float32))
    self._dtype = util.check_dtype(self._dtype, 'controller dtype')

  def _make_access(
    self, access_config: Mapping[str, Any], fast_kernels: bool
  ) -> snt.RNNCore:
    """The memory access module of `access_config` (`MemoryAccess` here;
    `dnc.sam.SAM` builds its sparse one)."""
    return access.MemoryAccess(**access_config, fast_kernels=fast_kernels)

  @property
  def controller(self) -> snt.RNNCore:
    """The controller core."""
    return self._controller

  def _clip_if_enabled(self, x: tf.Tensor) -> tf.Tensor:
    if self._clip_value > 0:
      return tf.clip_by_value(x, -self._clip_value, self._clip_value)
    return x

  # The step has no data-dependent Python control flow, so autograph has
  # nothing to convert; skipping it makes tracing several times faster.
  @tf.autograph.experimental.do_not_convert
  def __call__(
    self,
    inputs: tf.Tensor,
    prev_state: DNCState,
    bypass_mask: tf.Tensor | None = None,
  ) -> tuple[tf.Tensor, DNCState]:
    """Runs one step.

    Args:
      inputs: `[batch_size, input_size]`, x_t.
      prev_state: `DNCState` of the previous step (see `state_size`).
      bypass_mask: if given, `[batch_size, H]` (H the controller output's
        width), multiplying the controller output on its way to the output
        layer only: y_t = W_y [m_t h_t; r_t], while the memory reads h_t.
        With a dropout mask (zeros and 1 / (1 - rate)) this is the ADNC's
        bypass dropout (Franke et al. 2018); `dnc.model.Model` draws it.
        An argument rather than a draw inside the step, so that the step
        stays a function of its inputs (as `dnc.recompute` needs).

    Returns:
      output: `[batch_size, output_size]`, y_t.
      next_state: `DNCState`.
    """
    output, next_state, _ = self.call_with_interface(
      inputs, prev_state, bypass_mask
    )
    return output, next_state

  @tf.autograph.experimental.do_not_convert
  def call_with_interface(
    self,
    inputs: tf.Tensor,
    prev_state: DNCState,
    bypass_mask: tf.Tensor | None = None,
  ) -> tuple[tf.Tensor, DNCState, dict[str, tf.Tensor]]:
    """`__call__`, also returning the memory interface of this step.

    `dnc.internals.WithInternals` uses it to expose the addressing of every
    step of an unroll.

    Args:
      inputs: `[batch_size, input_size]`, x_t.
      prev_state: `DNCState` of the previous step.
      bypass_mask: see `__call__`.

    Returns:
      output: `[batch_size, output_size]`, y_t.
      next_state: `DNCState`.
      interface: the interface vector xi_t (`MemoryAccess._read_inputs`).
    """
    inputs, prev_state = self._check_step(
      tf.convert_to_tensor(inputs), prev_state
    )

    batch_flatten = snt.Flatten()
    controller_input = tf.concat(
      [inputs, batch_flatten(prev_state.access_output)], 1
    )  # [x_t; r_{t-1}]
    controller_output, controller_state = self._controller(
      controller_input, prev_state.controller_state
    )  # h_t
    controller_output = self._clip_if_enabled(controller_output)
    controller_state = tf.nest.map_structure(
      self._clip_if_enabled, controller_state
    )

    access_output, access_state, interface = self._access.call_with_interface(
      controller_output, prev_state.access_state
    )  # r_t
    bypass = controller_output
    if bypass_mask is not None:
      bypass_mask = tf.convert_to_tensor(bypass_mask, controller_output.dtype)
      util.check_shape(bypass_mask, controller_output.shape, 'bypass_mask')
      bypass *= bypass_mask
    output = tf.concat([bypass, batch_flatten(access_output)], 1)
    output = util.linear([self._output_linear], output, self._matmul)
    output = self._clip_if_enabled(output)  # y_t = W_y [h_t; r_t]
    next_state = DNCState(
      access_output=access_output,
      access_state=access_state,
      controller_state=controller_state,
    )
    return output, next_state, interface

  def _check_step(
    self, inputs: tf.Tensor, prev_state: DNCState
  ) -> tuple[tf.Tensor, DNCState]:
    """Raises a clear error for inputs or a state this core cannot run.

    Args:
      inputs: `[batch_size, input_size]`.
      prev_state: what `__call__` was given as the `DNCState`.

    Returns:
      `inputs` and `prev_state`; where batch sizes are only known when the
      step runs, they wait for the check (so it fails before any op that
      would fail with a less clear message).
    """
    if inputs.shape.rank is not None and inputs.shape.rank != 2:
      raise ValueError(
        '`inputs` of one step must be [batch_size, input_size], got shape '
        f'{inputs.shape.as_list()}'
        + (
          ': to run a sequence, unroll the core over time-major [time, '
          'batch_size, input_size] inputs (snt.dynamic_unroll).'
          if inputs.shape.rank == 3
          else '.'
        )
      )
    if not isinstance(prev_state, DNCState):
      raise TypeError(
        f'`prev_state` must be a DNCState, got {type(prev_state).__name__}.'
      )
    if inputs.dtype != self._dtype:
      raise TypeError(
        f'`inputs` must have the controller dtype {self._dtype.name}, got '
        f'{inputs.dtype.name}; set the controller dtype to change it.'
      )
    input_size = inputs.shape[1]
    if input_size is not None:
      if self._input_size is None:
        self._input_size = input_size
      elif input_size != self._input_size:
        raise ValueError(
          f'`inputs` must be [batch_size, {self._input_size}] (the input size '
          f'of the first call, which built the weights), got shape '
          f'{inputs.shape.as_list()}.'
        )
    try:
      tf.nest.assert_same_structure(prev_state, self.state_size)
    except (TypeError, ValueError) as error:
      raise TypeError(
        '`prev_state` must have the structure of `state_size` (a DNCState '
        f'of this core, e.g. from `initial_state`): {error}'
      ) from None
    paths_and_values = _named_leaves(prev_state, 'prev_state')
    batch_size = inputs.shape[0]
    state_batch_size = tf.TensorShape(prev_state.access_output.shape)[0]
    if None not in (batch_size, state_batch_size) and (
      batch_size != state_batch_size
    ):
      raise ValueError(
        f'`inputs` has batch size {batch_size} but `prev_state` has '
        f'{state_batch_size} (inputs {inputs.shape.as_list()}): a step takes '
        '[batch_size, input_size]. Unrolled over batch-major [batch, time, '
        'features] inputs? snt.dynamic_unroll and snt.static_unroll take '
        'time-major [time, batch, features] (the Keras layer dnc.keras.DNC '
        'takes batch-major).'
      )
    dynamic_batch = []
    for (path, value), size in zip(
      paths_and_values, tf.nest.flatten(self.state_size), strict=True
    ):
      name = path
      value = tf.convert_to_tensor(value)
      if value.dtype != inputs.dtype:
        raise TypeError(
          f'`{name}` must have the dtype of `inputs`, {inputs.dtype.name}, '
          f'got {value.dtype.name}.'
        )
      util.check_shape(value, [batch_size, *size.as_list()], name)
      if batch_size is None or value.shape[0] is None:
        dynamic_batch.append((name, value))
    if not dynamic_batch or tf.executing_eagerly():
      return inputs, prev_state
    # Batch sizes only known when the step runs (a `tf.function` with a
    # `None` batch dimension) are checked then. XLA compiles the asserts
    # away; it knows every shape when it compiles.
    inputs_batch = tf.shape(inputs)[0]
    checks = [
      tf.debugging.assert_equal(
        tf.shape(value)[0],
        inputs_batch,
        message=f'`{name}` must have the batch size of `inputs`',
      )
      for name, value in dynamic_batch
    ]
    with tf.control_dependencies(checks):
      return tf.nest.map_structure(tf.identity, (inputs, prev_state))

  def initial_state(
    self, batch_size: int | tf.Tensor, dtype: tf.DType | None = None
  ) -> DNCState:
    """All-zero memory and read words, and the controller's initial state.

    Args:
      batch_size: a positive int or a scalar int tensor (it may be dynamic,
        e.g. `tf.shape(inputs)[1]` inside a `tf.function`).
      dtype: if given, must be the controller dtype (`controller_config`'s
        `dtype`, or the controller's state dtype).

    Returns:
      A `DNCState`.
    """
    if dtype is not None and tf.as_dtype(dtype) != self._dtype:
      raise ValueError(
        f'`dtype` must be the controller dtype {self._dtype.name}, got '
        f'{tf.as_dtype(dtype).name}; set the controller dtype to change it.'
      )
    if not isinstance(batch_size, tf.Tensor):
      util.check_positive_int(batch_size, 'batch_size')
    return DNCState(
      access_output=util.zero_state(
        self._access.output_size, batch_size, self._dtype
      ),
      access_state=self._access.initial_state(batch_size, self._dtype),
      controller_state=self._controller.initial_state(batch_size),
    )

  @property
  def state_size(self) -> DNCState:
    """Shapes without the batch: r `[R, W]`, `MemoryAccess.state_size` and
    the controller's state (from its `initial_state`)."""
    return DNCState(
      access_output=self._access.output_size,
      access_state=self._access.state_size,
      controller_state=self._controller_state_size,
    )

  @property
  def output_size(self) -> tf.TensorShape:
    """y_t without the batch: `[output_size]`."""
    return tf.TensorShape([self._output_size])
