"""Backpropagation through long sequences by recomputation.

`snt.dynamic_unroll` under a `tf.GradientTape` keeps every step's
activations for the backward pass, so its memory grows with
`batch_size * num_steps` (for the DNC, each step keeps a
`[batch_size, num_writes, memory_size, memory_size]` link matrix). The
`dynamic_unroll` here gives the same outputs, final state and gradients but
keeps only the state at the start of every chunk of `chunk_length` steps.
The backward pass walks the chunks last to first, runs each chunk forward
again from its stored state under a tape, and backpropagates through it
alone, so memory holds `num_steps / chunk_length` states plus one chunk's
activations. The price is one more forward pass: the step costs about a
third more.

With `chunk_length` near `sqrt(num_steps)` both terms are `O(sqrt(T))`
(Chen et al. 2016, "Training deep nets with sublinear memory cost";
Gruslys et al. 2016, "Memory-efficient backpropagation through time").
"""

from collections.abc import Callable
import math
from typing import Any

import sonnet as snt
import tensorflow as tf


def default_chunk_length(num_steps: int) -> int:
  """`ceil(sqrt(num_steps))`, which balances stored states against a chunk."""
  if num_steps < 1:
    raise ValueError(f'`num_steps` must be positive, got {num_steps!r}.')
  return math.isqrt(num_steps - 1) + 1


def _has_variables(core: snt.Module) -> bool:
  try:
    return bool(core.trainable_variables)
  except ValueError:  # Sonnet's error for a module without variables yet.
    return False


def _unroll(
  core: snt.RNNCore, input_sequence: tf.Tensor, state: Any
) -> tuple[tf.Tensor, Any]:
  """`snt.dynamic_unroll`, with one step as a plain call.

  Under XLA the gradient of a one-step `snt.dynamic_unroll` fails (its
  empty `while` loop's accumulator is written to).
  """
  if input_sequence.shape[0] == 1:
    output, state = core(input_sequence[0], state)
    return output[tf.newaxis], state
  return snt.dynamic_unroll(core, input_sequence, state)


def _with_batch_size(state: tf.Tensor, batch_size: int) -> tf.Tensor:
  state = tf.convert_to_tensor(state)
  if state.shape.rank and state.shape[0] is None:  # Batch-major, as in Sonnet.
    return tf.ensure_shape(state, [batch_size, *state.shape[1:]])
  return state


def dynamic_unroll(
  core: snt.RNNCore,
  input_sequence: tf.Tensor,
  initial_state: Any,
  chunk_length: int | None = None,
) -> tuple[tf.Tensor, Any]:
  """`snt.dynamic_unroll` that recomputes chunks in the backward pass.

  The forward values are those of `snt.dynamic_unroll(core, input_sequence,
  initial_state)`; so are the gradients, to rounding, with respect to the
  inputs, the initial state and the core's variables. Works eagerly, in
  `tf.function` and under XLA. The number of steps must be known when the
  function is traced (`input_sequence.shape[0]`), as XLA needs anyway. The
  batch may be dynamic in `tf.function`; under XLA it must be known when
  traced (as it is unless an `input_signature` leaves it `None`), since
  XLA sizes the stored states by it; states are batch-major, as Sonnet's.

  The core must compute the same thing when a chunk is run again: a step
  that draws random numbers (dropout) would draw new ones, and its
  gradients would then belong to another sample. The core's variables are
  created by one extra step on `input_sequence[0]` if it has none yet.

  Args:
    core: an RNN core with one tensor output per step.
    input_sequence: `[num_steps, batch_size, ...]`, time-major.
    initial_state: the core's state before the first step (any nest).
    chunk_length: steps per recomputed chunk; `None` for
      `default_chunk_length(num_steps)`. The last `num_steps %
      chunk_length` steps are backpropagated in full.

  Returns:
    output_sequence: `[num_steps, batch_size, ...]`, the core's outputs.
    final_state: the core's state after the last step.
  """
  input_sequence = tf.convert_to_tensor(input_sequence)
  if input_sequence.shape.rank is None or input_sequence.shape.rank < 2:
    raise ValueError(
      '`input_sequence` must have a known rank >= 2 ([num_steps, '
      f'batch_size, ...]), got shape {input_sequence.shape}.'
    )
  num_steps = input_sequence.shape[0]
  if num_steps is None or num_steps < 1:
    raise ValueError(
      '`input_sequence` must have a static, positive number of steps '
      f'(its first dimension), got shape {input_sequence.shape}.'
    )
  if chunk_length is None:
    chunk_length = default_chunk_length(num_steps)
  if (
    isinstance(chunk_length, bool)
    or not isinstance(chunk_length, int)
    or chunk_length < 1
  ):
    raise ValueError(
      f'`chunk_length` must be a positive int or None, got {chunk_length!r}.'
    )
  if not _has_variables(core):
    core(input_sequence[0], initial_state)  # Creates the variables.

  batch_size = input_sequence.shape[1]
  if batch_size is not None:
    # A state made with a tensor batch size (`tf.shape(inputs)[1]`) has no
    # static batch dimension; XLA needs one to size the stored states.
    initial_state = tf.nest.map_structure(
      lambda s: _with_batch_size(s, batch_size), initial_state
    )

  num_chunks = num_steps // chunk_length
  head = num_chunks * chunk_length
  outputs, final_state = [], initial_state
  if num_chunks:
    recomputed = _recomputed_chunks(
      core, initial_state, num_chunks, chunk_length
    )
    flat = recomputed(input_sequence[:head], *tf.nest.flatten(initial_state))
    outputs.append(flat[0])
    final_state = tf.nest.pack_sequence_as(initial_state, flat[1:])
  if head < num_steps:  # Fewer steps than a chunk: kept in full.
    tail, final_state = _unroll(core, input_sequence[head:], final_state)
    outputs.append(tail)
  return tf.concat(outputs, 0) if len(outputs) > 1 else outputs[0], final_state


def backpropagate(
  fn: Callable[[Any, list[tf.Tensor]], tuple[Any, list[tf.Tensor]]],
  inputs: tf.Tensor,
  state: list[tf.Tensor],
  variables: list[tf.Variable],
  d_outputs: Any,
  d_next_state: list[tf.Tensor],
  d_variables: list[tf.Tensor],
) -> tuple[tf.Tensor, list[tf.Tensor], list[tf.Tensor]]:
  """Runs `fn(inputs, state) -> (outputs, next_state)` again under a tape and
  backpropagates through it alone: the backward pass of one recomputed
  chunk (here) or journaled step (`dnc.sparse_journal`).

  Args:
    fn: the chunk's or the step's forward computation.
    inputs: its inputs, e.g. `[chunk_length, batch_size, input_size]`.
    state: the flat state before it.
    variables: the variables it reads.
    d_outputs: the loss's gradient with respect to its outputs.
    d_next_state: ... and to the flat state after it.
    d_variables: the variables' gradients summed so far (later steps').

  Returns:
    d_inputs, d_state (the flat state before it) and `d_variables` plus
    this part's share.
  """
  with tf.GradientTape() as tape:
    tape.watch([inputs, state])
    outputs, next_state = fn(inputs, state)
  d_inputs, d_state, d_part = tape.gradient(
    [outputs, next_state],
    [inputs, state, list(variables)],
    output_gradients=[d_outputs, d_next_state],
    unconnected_gradients=tf.UnconnectedGradients.ZERO,
  )
  d_variables = [a + b for a, b in zip(d_variables, d_part, strict=True)]
  return d_inputs, d_state, d_variables


def _recomputed_chunks(
  core: snt.RNNCore, state_structure: Any, num_chunks: int, chunk_length: int
) -> Callable[..., list[tf.Tensor]]:
  """`(inputs, *flat_state) -> [outputs, *flat_final_state]` over chunks.

  `inputs` is `[num_chunks * chunk_length, batch_size, ...]`; the function
  has the custom gradient that recomputes each chunk.
  """

  def run_chunk(chunk_inputs, flat_state):
    state = tf.nest.pack_sequence_as(state_structure, flat_state)
    chunk_outputs, state = _unroll(core, chunk_inputs, state)
    return chunk_outputs, tf.nest.flatten(state)

  def by_chunk(x):
    # [num_chunks * K, ...] -> [num_chunks, K, ...]: indexing it with the
    # loop counter keeps the chunk's static shape, which XLA's loops need.
    shape = tf.concat([[num_chunks, -1], tf.shape(x)[1:]], 0)
    chunks = tf.reshape(x, shape)
    if x.shape.rank is not None:
      chunks.set_shape([num_chunks, chunk_length, *x.shape[1:]])
    return chunks

  @tf.custom_gradient
  def recomputed(inputs, *flat_state):
    input_chunks = by_chunk(inputs)
    starts = [
      tf.TensorArray(s.dtype, size=num_chunks, element_shape=s.shape)
      for s in flat_state
    ]
    chunk_outputs = tf.TensorArray(inputs.dtype, size=num_chunks)

    def forward(c, state, starts, chunk_outputs):
      starts = [ta.write(c, s) for ta, s in zip(starts, state, strict=True)]
      out, state = run_chunk(input_chunks[c], state)
      return c + 1, state, starts, chunk_outputs.write(c, out)

    _, final_state, starts, chunk_outputs = tf.while_loop(
      lambda c, *_: c < num_chunks,
      forward,
      (0, list(flat_state), starts, chunk_outputs),
      maximum_iterations=num_chunks,  # XLA sizes the TensorArrays by it.
    )
    starts = [ta.stack() for ta in starts]  # [num_chunks, batch_size, ...]

    def grad(d_outputs, *d_final_state, variables=()):
      d_output_chunks = by_chunk(d_outputs)
      d_inputs = tf.TensorArray(inputs.dtype, size=num_chunks)

      def backward(c, d_state, d_variables, d_inputs):
        d_chunk_inputs, d_state, d_variables = backpropagate(
          run_chunk,
          input_chunks[c],
          [s[c] for s in starts],
          variables,
          d_output_chunks[c],
          d_state,
          d_variables,
        )
        return c - 1, d_state, d_variables, d_inputs.write(c, d_chunk_inputs)

      d_final_state = [
        tf.zeros_like(s) if d is None else d
        for s, d in zip(final_state, d_final_state, strict=True)
      ]
      _, d_initial_state, d_variables, d_inputs = tf.while_loop(
        lambda c, *_: c >= 0,
        backward,
        (
          num_chunks - 1,
          d_final_state,
          [tf.zeros_like(v) for v in variables],
          d_inputs,
        ),
        maximum_iterations=num_chunks,
      )
      return [d_inputs.concat(), *d_initial_state], d_variables

    return [chunk_outputs.concat(), *final_state], grad

  return recomputed
