"""The Differentiable Neural Computer core: an LSTM controller with memory.

Each step the controller sees the input and last step's read words; its
output drives the memory access (`MemoryAccess`), and the output of the core
is a linear map of the controller output and the new read words.
"""

import collections
from collections.abc import Mapping
from typing import Any

import sonnet as snt
import tensorflow as tf

from dnc import access
from dnc import util

DNCState = collections.namedtuple(
  'DNCState', ('access_output', 'access_state', 'controller_state')
)


class _LSTM(snt.LSTM):
  """`snt.LSTM`, same variables and maths, storing less for backpropagation.

  The gradients of its matmuls re-read the weights
  (`util.matmul_by_variables`) instead of keeping a copy of them for every
  step of a differentiated `while` loop.
  """

  def __init__(self, hidden_size: int, name: str = 'lstm', **kwargs: Any):
    """Takes the arguments of `snt.LSTM`, with its default name."""
    super().__init__(hidden_size, name=name, **kwargs)

  def __call__(
    self, inputs: tf.Tensor, prev_state: snt.LSTMState
  ) -> tuple[tf.Tensor, snt.LSTMState]:
    self._initialize(inputs)  # Sonnet's checks; creates the variables.
    gates = (
      util.matmul_by_variables(inputs, [self._w_i])
      + util.matmul_by_variables(prev_state.hidden, [self._w_h])
      + self.b
    )
    input_gate, forget_gate, cell_update, output_gate = tf.split(gates, 4, 1)
    next_cell = tf.sigmoid(forget_gate) * prev_state.cell
    next_cell += tf.sigmoid(input_gate) * tf.tanh(cell_update)
    next_hidden = tf.sigmoid(output_gate) * tf.tanh(next_cell)
    if self.projection is not None:
      next_hidden = util.matmul_by_variables(next_hidden, [self.projection])
    return next_hidden, snt.LSTMState(hidden=next_hidden, cell=next_cell)


class DNC(snt.RNNCore):
  """The DNC as a Sonnet RNN core (Graves et al., Nature 2016).

  Works with `snt.static_unroll` and `snt.dynamic_unroll` (time-major), in
  eager mode, inside `tf.function` and under XLA (`jit_compile=True`).
  Shapes use B (batch_size), R (num_reads), W (word_size), H (hidden_size).
  """

  def __init__(
    self,
    access_config: Mapping[str, Any],
    controller_config: Mapping[str, Any],
    output_size: int,
    clip_value: float | None = None,
    name: str = 'dnc',
  ):
    """Constructs a DNC.

    Args:
      access_config: keyword arguments of `MemoryAccess` (`memory_size`,
        `word_size`, `num_reads`, `num_writes`).
      controller_config: keyword arguments of `snt.LSTM`; `hidden_size` is
        required. Pass `dtype=tf.float64` (with a float64 state and inputs)
        to run the whole core in float64.
      output_size: size of the output at each step.
      clip_value: if positive, the controller output, its state and the core
        output are clipped to `[-clip_value, clip_value]`.
      name: module name.
    """
    super().__init__(name=name)
    if not isinstance(access_config, Mapping):
      raise TypeError(
        '`access_config` must be a dict of MemoryAccess arguments, got '
        f'{access_config!r}.'
      )
    if not isinstance(controller_config, Mapping) or (
      'hidden_size' not in controller_config
    ):
      raise TypeError(
        '`controller_config` must be a dict of snt.LSTM arguments with '
        f'`hidden_size`, got {controller_config!r}.'
      )
    util.check_positive_int(output_size, 'output_size')
    if clip_value is not None and not clip_value >= 0:
      raise ValueError(
        f'`clip_value` must be None or a non-negative number, got '
        f'{clip_value!r}.'
      )
    util.check_positive_int(
      controller_config['hidden_size'], "controller_config['hidden_size']"
    )
    self._controller = _LSTM(**controller_config)
    self._access = access.MemoryAccess(**access_config)
    self._output_linear = snt.Linear(output_size, name='output_linear')
    self._output_size = output_size
    self._clip_value = clip_value or 0
    self._hidden_size = controller_config['hidden_size']
    self._dtype = tf.as_dtype(controller_config.get('dtype', tf.float32))

  def _clip_if_enabled(self, x: tf.Tensor) -> tf.Tensor:
    if self._clip_value > 0:
      return tf.clip_by_value(x, -self._clip_value, self._clip_value)
    return x

  # The step has no data-dependent Python control flow, so autograph has
  # nothing to convert; skipping it makes tracing several times faster.
  @tf.autograph.experimental.do_not_convert
  def __call__(
    self, inputs: tf.Tensor, prev_state: DNCState
  ) -> tuple[tf.Tensor, DNCState]:
    """Runs one step.

    Args:
      inputs: `[batch_size, ...]`, flattened to `[batch_size, input_size]`.
      prev_state: `DNCState` of the previous step (see `state_size`).

    Returns:
      output: `[batch_size, output_size]`.
      next_state: `DNCState`.
    """
    output, next_state, _ = self.call_with_interface(inputs, prev_state)
    return output, next_state

  @tf.autograph.experimental.do_not_convert
  def call_with_interface(
    self, inputs: tf.Tensor, prev_state: DNCState
  ) -> tuple[tf.Tensor, DNCState, dict[str, tf.Tensor]]:
    """`__call__`, also returning the memory interface of this step.

    `dnc.internals.WithInternals` uses it to expose the addressing of every
    step of an unroll.

    Returns:
      output: `[batch_size, output_size]`.
      next_state: `DNCState`.
      interface: the interface vector of `MemoryAccess._read_inputs`.
    """
    inputs = tf.convert_to_tensor(inputs)
    if inputs.shape.rank is not None and inputs.shape.rank < 2:
      raise ValueError(
        '`inputs` must have rank >= 2 ([batch_size, input_size]), got shape '
        f'{inputs.shape.as_list()}.'
      )
    if not isinstance(prev_state, DNCState):
      raise TypeError(
        f'`prev_state` must be a DNCState, got {type(prev_state).__name__}.'
      )
    if inputs.dtype != self._dtype:
      raise TypeError(
        f'`inputs` must have the controller dtype {self._dtype.name}, got '
        f'{inputs.dtype.name}; set controller_config dtype to change it.'
      )
    batch_size = inputs.shape[0]
    util.check_shape(
      prev_state.access_output,
      [batch_size, *self._access.output_size],
      'prev_state.access_output',
    )
    for field, value in zip(
      ('hidden', 'cell'), prev_state.controller_state, strict=True
    ):
      util.check_shape(
        value,
        [batch_size, self._hidden_size],
        f'prev_state.controller_state.{field}',
      )

    batch_flatten = snt.Flatten()
    controller_input = tf.concat(
      [batch_flatten(inputs), batch_flatten(prev_state.access_output)], 1
    )
    controller_output, controller_state = self._controller(
      controller_input, prev_state.controller_state
    )
    controller_output = self._clip_if_enabled(controller_output)
    controller_state = tf.nest.map_structure(
      self._clip_if_enabled, controller_state
    )

    access_output, access_state, interface = self._access.call_with_interface(
      controller_output, prev_state.access_state
    )
    output = tf.concat([controller_output, batch_flatten(access_output)], 1)
    if not hasattr(self._output_linear, 'w'):
      self._output_linear(output)  # Creates its variables; output unused.
    output = util.matmul_by_variables(output, [self._output_linear.w])
    output = self._clip_if_enabled(output + self._output_linear.b)
    next_state = DNCState(
      access_output=access_output,
      access_state=access_state,
      controller_state=controller_state,
    )
    return output, next_state, interface

  def initial_state(
    self, batch_size: int | tf.Tensor, dtype: tf.DType = tf.float32
  ) -> DNCState:
    """All-zero `DNCState`.

    Args:
      batch_size: a positive int or a scalar int tensor (it may be dynamic,
        e.g. `tf.shape(inputs)[1]` inside a `tf.function`).
      dtype: must match the controller's dtype (`controller_config`).

    Returns:
      A `DNCState` of zeros.
    """
    dtype = tf.as_dtype(dtype)
    if dtype != self._dtype:
      raise ValueError(
        f'`dtype` must be the controller dtype {self._dtype.name}, got '
        f'{dtype.name}; pass controller_config dtype to change it.'
      )
    return util.zero_state(self.state_size, batch_size, dtype)

  @property
  def state_size(self) -> DNCState:
    return DNCState(
      access_output=self._access.output_size,
      access_state=self._access.state_size,
      controller_state=snt.LSTMState(
        hidden=tf.TensorShape([self._hidden_size]),
        cell=tf.TensorShape([self._hidden_size]),
      ),
    )

  @property
  def output_size(self) -> tf.TensorShape:
    return tf.TensorShape([self._output_size])
