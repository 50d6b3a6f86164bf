"""Controllers for `dnc.DNC`: its default LSTM, and others.

`LSTM` is the DNC's default controller: `snt.LSTM`'s maths and variables
(`lstm/w_i`, `lstm/w_h`, `lstm/b`, as in the reference), its step the
plain function `lstm_fn`, so that its products can run through the speed
kernel `dnc.kernels.matmul`. `DNC(controller=...)` takes any Sonnet RNN
core; these are the ones that Sonnet does not offer ready-made:

  dnc.DNC(access_config, output_size=5,
          controller=controllers.FeedForward(snt.nets.MLP([64, 64])))
  dnc.DNC(access_config, output_size=5,
          controller=controllers.DeepLSTM([64, 64], dropout_rate=0.2))
  dnc.DNC(access_config, output_size=5,
          controller=controllers.LayerNormLSTM(64))
  dnc.DNC(access_config, output_size=5,
          controller=controllers.PassThrough(snt.LSTM(64), pass_size=32))

`snt.GRU`, `snt.LSTM` (also with `projection_size`) and `snt.DeepRNN` work
as they are. Dropout is on only inside `with controllers.training(module):`
(or while a module's `is_training` is set).
"""

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
import contextlib
import functools

import sonnet as snt
import tensorflow as tf

from dnc import kernels
from dnc import util

# How a step multiplies by its weights: `util.matmul` or `kernels.matmul`.
Matmul = Callable[..., tf.Tensor]


def lstm_fn(
  inputs: tf.Tensor,
  prev_state: snt.LSTMState,
  w_i: tf.Tensor | tf.Variable,
  w_h: tf.Tensor | tf.Variable,
  b: tf.Tensor | tf.Variable,
  projection: tf.Tensor | tf.Variable | None = None,
  matmul: Matmul = util.matmul,
) -> tuple[tf.Tensor, snt.LSTMState]:
  """One step of an LSTM (Hochreiter and Schmidhuber 1997), as `snt.LSTM`'s.

    (i, f, g, o) = x_t W_i + h_{t-1} W_h + b               # [B, 4H]
    c_t = sigmoid(f) c_{t-1} + sigmoid(i) tanh(g)
    h_t = sigmoid(o) tanh(c_t)                  (then h_t P with a projection)

  Args:
    inputs: `[batch_size, input_size]`, x_t.
    prev_state: `snt.LSTMState` of `[batch_size, H]` tensors (hidden `[B,
      P]` with a projection of size P).
    w_i: `[input_size, 4 H]`.
    w_h: `[H or P, 4 H]`.
    b: `[4 H]`.
    projection: None, or `[H, P]`.
    matmul: `util.matmul` or the kernel `kernels.matmul` (which needs the
      weights as variables).

  Returns:
    output: `[batch_size, H or P]`, h_t.
    next_state: `snt.LSTMState(hidden=h_t, cell=c_t)`.
  """
  gates = matmul(inputs, [w_i]) + matmul(prev_state.hidden, [w_h]) + b
  input_gate, forget_gate, cell_update, output_gate = tf.split(gates, 4, 1)
  next_cell = tf.sigmoid(forget_gate) * prev_state.cell
  next_cell += tf.sigmoid(input_gate) * tf.tanh(cell_update)
  next_hidden = tf.sigmoid(output_gate) * tf.tanh(next_cell)
  if projection is not None:
    next_hidden = matmul(next_hidden, [projection])
  return next_hidden, snt.LSTMState(hidden=next_hidden, cell=next_cell)


def _lstm_weights(fan_in: int, shape: list[int], dtype: tf.DType) -> tf.Tensor:
  """`snt.LSTM`'s initial weights: truncated normal, stddev 1 / sqrt(fan_in)."""
  stddev = 1 / tf.sqrt(tf.cast(fan_in, dtype))
  return snt.initializers.TruncatedNormal(stddev=stddev)(shape, dtype)


class LSTM(snt.RNNCore):
  """An LSTM with `snt.LSTM`'s maths, variables and initialisation.

  Its own module rather than `snt.LSTM` so that the step (`lstm_fn`) can
  run its products through the speed kernel; the variables keep
  `snt.LSTM`'s names and attributes, so checkpoints of either load into the
  other, and a seed draws the same initial weights.
  """

  def __init__(
    self,
    hidden_size: int,
    projection_size: int | None = None,
    forget_bias: float = 1.0,
    dtype: tf.DType = tf.float32,
    name: str = 'lstm',
    *,
    fast_kernels: bool = False,
  ):
    """Constructs the LSTM; its variables are created on the first call.

    Args:
      hidden_size: H, the size of the cell.
      projection_size: if set, P: the output and hidden state are h_t P.
      forget_bias: added to the forget gate's bias at initialisation.
      dtype: the dtype of the variables and the state.
      name: module name.
      fast_kernels: whether the products re-read their weights in the
        backward pass (`kernels.matmul`; same values).
    """
    super().__init__(name=name)
    util.check_positive_int(hidden_size, 'hidden_size')
    if projection_size is not None:
      util.check_positive_int(projection_size, 'projection_size')
    util.check_bool(fast_kernels, 'fast_kernels')
    self._hidden_size = hidden_size
    self._projection_size = projection_size
    self._forget_bias = forget_bias
    self._dtype = tf.as_dtype(dtype)
    self._matmul = kernels.matmul if fast_kernels else util.matmul
    self.projection = None

  @snt.once
  def _initialize(self, input_size: int) -> None:
    """Creates the variables as `snt.LSTM` does, in its order."""
    hidden = self._hidden_size
    recurrent = self._projection_size or hidden
    dtype = self._dtype
    normal = functools.partial(_lstm_weights, dtype=dtype)
    # The attribute names are `snt.LSTM`'s, which checkpoints record.
    self._w_i = tf.Variable(
      normal(input_size, [input_size, 4 * hidden]), name='w_i'
    )
    self._w_h = tf.Variable(
      normal(recurrent, [recurrent, 4 * hidden]), name='w_h'
    )
    forget = tf.one_hot(1, 4, on_value=self._forget_bias, dtype=dtype)
    self.b = tf.Variable(tf.repeat(forget, hidden), name='b')
    if self._projection_size is not None:
      self.projection = tf.Variable(
        normal(hidden, [hidden, self._projection_size]), name='projection'
      )

  @property
  def w_i(self) -> tf.Variable:
    """`[input_size, 4 H]`, W_i (after the first call)."""
    return self._w_i

  @property
  def w_h(self) -> tf.Variable:
    """`[H or P, 4 H]`, W_h (after the first call)."""
    return self._w_h

  def __call__(
    self, inputs: tf.Tensor, prev_state: snt.LSTMState
  ) -> tuple[tf.Tensor, snt.LSTMState]:
    """One step (`lstm_fn`).

    Args:
      inputs: `[batch_size, input_size]`, x_t.
      prev_state: `snt.LSTMState` of `[batch_size, H]` tensors.

    Returns:
      output: `[batch_size, H or P]`, h_t.
      next_state: `snt.LSTMState(hidden=h_t, cell=c_t)`.
    """
    inputs = _check_step_inputs(inputs, self._dtype)
    self._initialize(inputs.shape[1])
    util.check_shape(inputs, [None, self._w_i.shape[0]], 'inputs')
    return lstm_fn(
      inputs,
      prev_state,
      self._w_i,
      self._w_h,
      self.b,
      self.projection,
      self._matmul,
    )

  def initial_state(self, batch_size: int | tf.Tensor) -> snt.LSTMState:
    """Zeros: `snt.LSTMState(hidden=[B, H or P], cell=[B, H])`."""
    return snt.LSTMState(
      hidden=tf.zeros(
        [batch_size, self._projection_size or self._hidden_size], self._dtype
      ),
      cell=tf.zeros([batch_size, self._hidden_size], self._dtype),
    )


def _check_step_inputs(inputs: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
  """`inputs` as a tensor, or a clear error for those a step cannot take."""
  inputs = tf.convert_to_tensor(inputs)
  if inputs.shape.rank != 2 or inputs.shape[1] is None:
    raise ValueError(
      '`inputs` must be [batch_size, input_size] with a known input size, '
      f'got shape {inputs.shape}.'
    )
  if inputs.dtype != dtype:
    raise TypeError(
      f'`inputs` must have the dtype {dtype.name}, got {inputs.dtype.name}.'
    )
  return inputs


class FeedForward(snt.RNNCore):
  """A network with no recurrent state as a controller: h_t = f([x_t; r_{t-1}]).

  The paper's feed-forward controller: it sees the input and last step's
  read words, and remembers only through the memory.
  """

  def __init__(
    self,
    network: Callable[[tf.Tensor], tf.Tensor],
    dtype: tf.DType = tf.float32,
    name: str = 'feed_forward',
  ):
    """Wraps `network`.

    Args:
      network: maps `[batch_size, input_size]` to `[batch_size, H]`, e.g.
        `snt.nets.MLP([64, 64])`.
      dtype: the dtype of the core's inputs; the DNC reads it to build its
        own state, since this core has none.
      name: module name.
    """
    super().__init__(name=name)
    if not callable(network):
      raise TypeError(
        f'`network` must be callable, got {type(network).__name__}.'
      )
    self._network = network
    self.dtype = tf.as_dtype(dtype)

  def __call__(self, inputs: tf.Tensor, prev_state: tuple) -> tuple:
    """One step.

    Args:
      inputs: `[batch_size, input_size]`.
      prev_state: `()`.

    Returns:
      output: `[batch_size, H]`, the network's output.
      next_state: `()`.
    """
    if prev_state != ():
      raise TypeError(
        f'`prev_state` of a FeedForward controller must be (), got '
        f'{prev_state!r}.'
      )
    return self._network(inputs), ()

  def initial_state(self, batch_size: int | tf.Tensor) -> tuple:
    """No state: `()`."""
    del batch_size  # Unused.
    return ()


class Dropout(snt.Module):
  """Dropout that is on only while `is_training` is set.

  An RNN core's `__call__(inputs, prev_state)` has no `is_training`
  argument, so this module carries it as an attribute (`DeepLSTM` sets it
  on all of its layers).
  """

  def __init__(self, rate: float, name: str = 'dropout'):
    """Constructs a dropout layer.

    Args:
      rate: the probability of dropping each unit, in `[0, 1)`.
      name: module name.
    """
    super().__init__(name=name)
    if not 0 <= rate < 1:
      raise ValueError(f'`rate` must be in [0, 1), got {rate!r}.')
    self.rate = rate
    self.is_training = False

  def __call__(self, inputs: tf.Tensor) -> tf.Tensor:
    """`[batch_size, size]` in and out; scaled by 1 / (1 - rate) in training."""
    if self.is_training and self.rate > 0:
      return tf.nn.dropout(inputs, rate=self.rate)
    return inputs


class DeepLSTM(snt.DeepRNN):
  """Stacked `snt.LSTM`s, optionally with dropout between them.

  The state is a tuple of one `snt.LSTMState` per layer. Dropout (between
  layers, not on the input or the output) applies only while
  `is_training` is `True`; set it before tracing a training step and unset
  it for evaluation (a `tf.function` traced with one value keeps it).
  """

  def __init__(
    self,
    hidden_sizes: Sequence[int],
    dropout_rate: float = 0.0,
    dtype: tf.DType = tf.float32,
    name: str = 'deep_lstm',
  ):
    """Constructs the stack.

    Args:
      hidden_sizes: the hidden size of each layer, first to last.
      dropout_rate: the probability of dropping each unit between layers.
      dtype: the LSTMs' dtype.
      name: module name.
    """
    if not hidden_sizes:
      raise ValueError('`hidden_sizes` must name at least one layer.')
    for i, size in enumerate(hidden_sizes):
      util.check_positive_int(size, f'hidden_sizes[{i}]')
    if not 0 <= dropout_rate < 1:
      raise ValueError(
        f'`dropout_rate` must be in [0, 1), got {dropout_rate!r}.'
      )
    layers, dropouts = [], []
    for i, size in enumerate(hidden_sizes):
      if i > 0 and dropout_rate > 0:
        dropouts.append(Dropout(dropout_rate, name=f'dropout_{i}'))
        layers.append(dropouts[-1])
      layers.append(snt.LSTM(size, dtype=dtype, name=f'lstm_{i}'))
    super().__init__(layers, name=name)
    self._dropouts = tuple(dropouts)

  @property
  def is_training(self) -> bool:
    """Whether the dropout between layers is on."""
    return any(dropout.is_training for dropout in self._dropouts)

  @is_training.setter
  def is_training(self, value: bool) -> None:
    for dropout in self._dropouts:
      dropout.is_training = bool(value)


@contextlib.contextmanager
def training(module: snt.Module, is_training: bool = True) -> Iterator[None]:
  """Sets `is_training` on `module` and its submodules that have it, then
  puts the old values back.

  Wrap the building of a training step in it (`dnc.trainer.Trainer` does):
  a `tf.function` keeps what it saw when it was traced, so its evaluation
  step, traced outside, has no dropout.

  Args:
    module: e.g. a `dnc.DNC` with a `DeepLSTM` controller, or a
      `dnc.model.Model` with bypass dropout.
    is_training: the value to set.
  """
  submodules = getattr(module, 'submodules', ())
  modules = [m for m in (module, *submodules) if hasattr(m, 'is_training')]
  previous = [m.is_training for m in modules]
  try:
    for m in modules:
      m.is_training = is_training
    yield
  finally:
    for m, value in zip(modules, previous, strict=True):
      m.is_training = value


# As in the ADNC's layer normalisation.
_LAYER_NORM_EPSILON = 1e-6


def _layer_norm(x: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor) -> tf.Tensor:
  """gamma (x - mean(x)) / sqrt(var(x) + eps) + beta over the last axis.

  Args:
    x: `[batch_size, size]`.
    scale: `[size]`, gamma.
    offset: `[size]`, beta.

  Returns:
    `[batch_size, size]`.
  """
  mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
  normalised = (x - mean) * tf.math.rsqrt(variance + _LAYER_NORM_EPSILON)
  return normalised * scale + offset


def layer_norm_lstm_fn(
  inputs: tf.Tensor,
  prev_state: snt.LSTMState,
  w_i: tf.Tensor | tf.Variable,
  w_h: tf.Tensor | tf.Variable,
  b: tf.Tensor | tf.Variable,
  gates_scale: tf.Tensor,
  gates_offset: tf.Tensor,
  cell_scale: tf.Tensor,
  cell_offset: tf.Tensor,
  matmul: Matmul = util.matmul,
) -> tuple[tf.Tensor, snt.LSTMState]:
  """One step of the layer-normalised LSTM (see `LayerNormLSTM`).

  Args:
    inputs: `[batch_size, input_size]`, x_t.
    prev_state: `snt.LSTMState` of `[batch_size, H]` tensors.
    w_i: `[input_size, 4 H]`.
    w_h: `[H, 4 H]`.
    b: `[4 H]`.
    gates_scale: `[4 H]`, gamma_a.
    gates_offset: `[4 H]`, beta_a.
    cell_scale: `[H]`, gamma_c.
    cell_offset: `[H]`, beta_c.
    matmul: `util.matmul` or the kernel `kernels.matmul`.

  Returns:
    output: `[batch_size, H]`, h_t.
    next_state: `snt.LSTMState(hidden=h_t, cell=c_t)`.
  """
  pre_activations = matmul(inputs, [w_i]) + matmul(prev_state.hidden, [w_h])
  gates = _layer_norm(pre_activations, gates_scale, gates_offset) + b
  input_gate, forget_gate, cell_update, output_gate = tf.split(gates, 4, 1)
  next_cell = tf.sigmoid(forget_gate) * prev_state.cell
  next_cell += tf.sigmoid(input_gate) * tf.tanh(cell_update)
  normalised_cell = _layer_norm(next_cell, cell_scale, cell_offset)
  next_hidden = tf.sigmoid(output_gate) * tf.tanh(normalised_cell)
  return next_hidden, snt.LSTMState(hidden=next_hidden, cell=next_cell)


class LayerNormLSTM(snt.RNNCore):
  """An LSTM with layer normalisation, as the ADNC uses it.

  Franke et al. 2018 ("Robust and Scalable Differentiable Neural Computer
  for Question Answering") normalise, as Ba et al. 2016 ("Layer
  Normalization", its supplementary material) do, the gate pre-activations
  and the cell before its output non-linearity, each with a learned gain
  gamma and bias beta. With a_t the pre-activations of all four gates:

    a_t = W_i x_t + W_h h_{t-1}                              # [B, 4H]
    (i, f, g, o) = LN(a_t; gamma_a, beta_a) + b
    c_t = sigmoid(f) c_{t-1} + sigmoid(i) tanh(g)
    h_t = sigmoid(o) tanh(LN(c_t; gamma_c, beta_c))
    LN(a; gamma, beta) = gamma (a - mean(a)) / sqrt(var(a) + eps) + beta

  where mean and var are taken over the features of each example (all 4H
  pre-activations at once), eps = 1e-6, gamma starts at 1 and beta at 0.
  As in the ADNC's code (its `CustomLSTMCell`), one normalisation covers
  the input and recurrent terms together; Ba et al. normalise W_i x_t and
  W_h h_{t-1} separately. The state `c_t` is kept unnormalised. The
  weights are initialised as `snt.LSTM`'s, with the same `forget_bias`
  (added to b_f; the ADNC starts it at 0). The state is an
  `snt.LSTMState(hidden, cell)`.
  """

  def __init__(
    self,
    hidden_size: int,
    forget_bias: float = 1.0,
    dtype: tf.DType = tf.float32,
    name: str = 'lstm',
    *,
    fast_kernels: bool = False,
  ):
    """Constructs the LSTM; its variables are created on the first call.

    Args:
      hidden_size: H, the size of the hidden state and of the output.
      forget_bias: added to the forget gate's bias at initialisation.
      dtype: the dtype of the variables and the state.
      name: module name.
      fast_kernels: whether the products re-read their weights in the
        backward pass (`kernels.matmul`; same values).
    """
    super().__init__(name=name)
    util.check_positive_int(hidden_size, 'hidden_size')
    util.check_bool(fast_kernels, 'fast_kernels')
    self._hidden_size = hidden_size
    self._forget_bias = forget_bias
    self._dtype = tf.as_dtype(dtype)
    self._matmul = kernels.matmul if fast_kernels else util.matmul

  @snt.once
  def _initialize(self, input_size: int) -> None:
    hidden, dtype = self._hidden_size, self._dtype

    normal = functools.partial(_lstm_weights, dtype=dtype)

    self.w_i = tf.Variable(
      normal(input_size, [input_size, 4 * hidden]), name='w_i'
    )
    self.w_h = tf.Variable(normal(hidden, [hidden, 4 * hidden]), name='w_h')
    forget = tf.one_hot(1, 4, on_value=self._forget_bias, dtype=dtype)
    self.b = tf.Variable(tf.repeat(forget, hidden), name='b')
    self.gates_scale = tf.Variable(
      tf.ones([4 * hidden], dtype), name='gates_scale'
    )
    self.gates_offset = tf.Variable(
      tf.zeros([4 * hidden], dtype), name='gates_offset'
    )
    self.cell_scale = tf.Variable(tf.ones([hidden], dtype), name='cell_scale')
    self.cell_offset = tf.Variable(
      tf.zeros([hidden], dtype), name='cell_offset'
    )

  def __call__(
    self, inputs: tf.Tensor, prev_state: snt.LSTMState
  ) -> tuple[tf.Tensor, snt.LSTMState]:
    """One step (`layer_norm_lstm_fn`).

    Args:
      inputs: `[batch_size, input_size]`, x_t.
      prev_state: `snt.LSTMState` of `[batch_size, H]` tensors.

    Returns:
      output: `[batch_size, H]`, h_t.
      next_state: `snt.LSTMState(hidden=h_t, cell=c_t)`.
    """
    inputs = _check_step_inputs(inputs, self._dtype)
    self._initialize(inputs.shape[1])
    util.check_shape(inputs, [None, self.w_i.shape[0]], 'inputs')
    return layer_norm_lstm_fn(
      inputs,
      prev_state,
      self.w_i,
      self.w_h,
      self.b,
      self.gates_scale,
      self.gates_offset,
      self.cell_scale,
      self.cell_offset,
      self._matmul,
    )

  def initial_state(self, batch_size: int | tf.Tensor) -> snt.LSTMState:
    """Zeros: `snt.LSTMState` of `[batch_size, H]` tensors."""
    zeros = tf.zeros([batch_size, self._hidden_size], self._dtype)
    return snt.LSTMState(hidden=zeros, cell=zeros)


class PassThrough(snt.RNNCore):
  """A controller whose output carries its first input features unchanged.

  With inputs `[p_t; z_t]` it outputs `[controller(z_t); p_t]`. In a DNC
  the controller's output drives the memory and (beside the read words)
  the output layer, so `p_t` reaches both without passing through the
  controller: the BiADNC's route for its backward LSTM's outputs (Franke
  et al. 2018; `dnc.model.Model`, whose DNC inputs are `[b_t; x_t]`).
  """

  def __init__(
    self, controller: snt.RNNCore, pass_size: int, name: str = 'pass_through'
  ):
    """Wraps `controller`.

    Args:
      controller: the RNN core that reads the rest of the inputs.
      pass_size: how many leading input features to pass through.
      name: module name.
    """
    super().__init__(name=name)
    if not callable(controller) or not hasattr(controller, 'initial_state'):
      raise TypeError(
        '`controller` must be a Sonnet RNN core, got '
        f'{type(controller).__name__}.'
      )
    util.check_positive_int(pass_size, 'pass_size')
    self._controller = controller
    self._pass_size = pass_size
    self.dtype = getattr(controller, 'dtype', tf.float32)

  @property
  def controller(self) -> snt.RNNCore:
    """The wrapped core."""
    return self._controller

  def __call__(self, inputs: tf.Tensor, prev_state) -> tuple:
    """One step.

    Args:
      inputs: `[batch_size, pass_size + input_size]`, `[p_t; z_t]`.
      prev_state: the wrapped controller's state.

    Returns:
      output: `[batch_size, H + pass_size]`, `[controller(z_t); p_t]`.
      next_state: the wrapped controller's.
    """
    inputs = tf.convert_to_tensor(inputs)
    if inputs.shape.rank != 2 or not inputs.shape[1] > self._pass_size:
      raise ValueError(
        f'`inputs` must be [batch_size, more than pass_size='
        f'{self._pass_size}], got shape {inputs.shape}.'
      )
    passed, rest = inputs[:, : self._pass_size], inputs[:, self._pass_size :]
    output, next_state = self._controller(rest, prev_state)
    return tf.concat([output, passed], 1), next_state

  def initial_state(self, batch_size: int | tf.Tensor):
    """The wrapped controller's."""
    return self._controller.initial_state(batch_size)


def lstm(
  hidden_size: int,
  *,
  layer_norm: bool = False,
  fast_kernels: bool = False,
  name: str = 'lstm',
) -> snt.RNNCore:
  """The LSTM `dnc.DNC` builds by default, or its layer-normalised form.

  Args:
    hidden_size: H.
    layer_norm: `LayerNormLSTM` if set, else `LSTM`.
    fast_kernels: whether its products run through `kernels.matmul`.
    name: module name.

  Returns:
    An RNN core with `snt.LSTMState` states and `[batch_size, H]` outputs.
  """
  if layer_norm:
    return LayerNormLSTM(hidden_size, name=name, fast_kernels=fast_kernels)
  return LSTM(hidden_size, name=name, fast_kernels=fast_kernels)


class ControllerOnly(snt.RNNCore):
  """A controller and an output layer, without memory: a DNC's baseline.

    y_t = W_y clip(h_t)          h_t = controller(x_t), the DNC's h_t

  The DNC without its reads: what a task's results owe to the memory shows
  against this core at about the same number of weights (a larger
  controller). Clipped as `dnc.DNC` clips its controller and its output.
  """

  def __init__(
    self,
    controller: snt.RNNCore,
    output_size: int,
    clip_value: float | None = None,
    name: str = 'controller_only',
  ):
    """Wraps `controller`.

    Args:
      controller: a Sonnet RNN core (e.g. `lstm(H)`).
      output_size: outputs per step.
      clip_value: if positive, the controller's output and state and the
        core's output are clipped to `[-clip_value, clip_value]`.
      name: module name.
    """
    super().__init__(name=name)
    if not callable(controller) or not hasattr(controller, 'initial_state'):
      raise TypeError(
        '`controller` must be a Sonnet RNN core, got '
        f'{type(controller).__name__}.'
      )
    util.check_positive_int(output_size, 'output_size')
    if clip_value is not None and not clip_value >= 0:
      raise ValueError(
        f'`clip_value` must be None or >= 0, got {clip_value!r}.'
      )
    self._controller = controller
    self._clip_value = clip_value or 0
    self._output = snt.Linear(output_size, name='output_linear')
    self.dtype = getattr(controller, 'dtype', tf.float32)

  @property
  def controller(self) -> snt.RNNCore:
    """The wrapped core."""
    return self._controller

  def _clip(self, x: tf.Tensor) -> tf.Tensor:
    if self._clip_value > 0:
      return tf.clip_by_value(x, -self._clip_value, self._clip_value)
    return x

  def __call__(self, inputs: tf.Tensor, prev_state) -> tuple:
    """One step.

    Args:
      inputs: `[batch_size, input_size]`, x_t.
      prev_state: the controller's state.

    Returns:
      output: `[batch_size, output_size]`, y_t.
      next_state: the controller's state.
    """
    output, state = self._controller(tf.convert_to_tensor(inputs), prev_state)
    state = tf.nest.map_structure(self._clip, state)
    return self._clip(self._output(self._clip(output))), state

  def initial_state(self, batch_size: int | tf.Tensor):
    """The controller's."""
    return self._controller.initial_state(batch_size)
