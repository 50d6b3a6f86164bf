"""The DNC's controller without its memory: a floor for the DNC's step.

`ControllerOnly` is the part of `dnc.DNC`'s step that does not touch the
memory: the same LSTM class (`dnc.controllers.LSTM`) with the same input width,
the clipping and the output layer (matmuls that re-read their weights in the
backward pass, as in the DNC), with zeros where the read words would be. A DNC
step does all of this work and the memory's besides, so the time this core
takes for a training step on the same task, compiled the same way, is a floor
for the DNC's (`python -m benchmarks.train_step --modes=controller`).
"""

from collections.abc import Mapping
from typing import Any

import sonnet as snt
import tensorflow as tf

from dnc import controllers
from dnc import kernels


class ControllerOnly(snt.RNNCore):
  """The DNC's controller and output layer, reading zeros from no memory."""

  def __init__(self, config: Mapping[str, Any], name: str = 'controller_only'):
    """Builds the core of a train.py config (`repeat_copy_task.DEFAULTS`)."""
    super().__init__(name=name)
    self._read_size = config['num_read_heads'] * config['word_size']
    self._clip_value = config['clip_value']
    self._controller = controllers.LSTM(
      config['hidden_size'], fast_kernels=True
    )
    self._output_linear = snt.Linear(
      config['num_bits'] + 1, name='output_linear'
    )

  def __call__(
    self, inputs: tf.Tensor, prev_state: snt.LSTMState
  ) -> tuple[tf.Tensor, snt.LSTMState]:
    """One step.

    Args:
      inputs: `[batch_size, input_size]`.
      prev_state: `snt.LSTMState`, hidden and cell `[batch_size, hidden_size]`.

    Returns:
      output: `[batch_size, num_bits + 1]`.
      next_state: `snt.LSTMState`.
    """
    clip = lambda x: tf.clip_by_value(x, -self._clip_value, self._clip_value)
    no_reads = tf.zeros([tf.shape(inputs)[0], self._read_size], inputs.dtype)
    output, state = self._controller(
      tf.concat([inputs, no_reads], 1), prev_state
    )
    output = clip(output)
    state = tf.nest.map_structure(clip, state)
    output = tf.concat([output, no_reads], 1)
    if not hasattr(self._output_linear, 'w'):
      self._output_linear(output)  # Creates its variables, as dnc.DNC does.
    output = kernels.matmul(output, [self._output_linear.w])
    return clip(output + self._output_linear.b), state

  def initial_state(self, batch_size: int | tf.Tensor) -> snt.LSTMState:
    """All-zero `snt.LSTMState` for `batch_size` sequences."""
    return self._controller.initial_state(batch_size)
