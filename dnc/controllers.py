"""Controllers for `dnc.DNC` other than its default LSTM.

`DNC(controller=...)` takes any Sonnet RNN core; these are the two that
Sonnet does not offer ready-made:

  dnc.DNC(access_config, output_size=5,
          controller=controllers.FeedForward(snt.nets.MLP([64, 64])))
  dnc.DNC(access_config, output_size=5,
          controller=controllers.DeepLSTM([64, 64], dropout_rate=0.2))

`snt.GRU`, `snt.LSTM` (also with `projection_size`) and `snt.DeepRNN` work
as they are.
"""

from collections.abc import Callable
from collections.abc import Sequence

import sonnet as snt
import tensorflow as tf

from dnc import util


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
