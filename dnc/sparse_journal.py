"""Backpropagation through SAM with a journal of its sparse writes.

`snt.dynamic_unroll` under a `tf.GradientTape` keeps every step's memory
M_t, `[batch_size, N, W]`, for the backward pass: O(T N W). A step of SAM
(or of the SDNC) changes only the S rows its write weighting names (the
least recently used one, erased, among them), so Rae et al. (2016) keep a
journal of the writes instead and rebuild each M_{t-1} from M_t on the way
back. `dynamic_unroll` here does that: the forward pass
keeps, per step, the rows the write is about to change (`[batch_size, S,
W]`, S = R K + 1, or 3 R K + 1 for the SDNC) and the state without the
memory; the backward pass walks the steps last to first, puts the rows
back into M_t (exactly: they are copies, not a subtraction), runs the step
again from M_{t-1} under a tape and backpropagates through it alone. The
outputs, final state and gradients are those of `snt.dynamic_unroll`.

What it keeps is O(T (S W + N)) (the last access times U are N numbers a
step) instead of O(T N W), for one more forward pass of each step.
"""

from collections.abc import Callable

import tensorflow as tf

from dnc import dnc
from dnc import sam
from dnc import sparse_access


def _flat_positions(structure: dnc.DNCState) -> tuple[int, int]:
  """Where M and the write weighting's indices are in the flat state."""
  access_state = structure.access_state
  marked = structure._replace(
    access_state=access_state._replace(
      memory='memory',
      write_weights=access_state.write_weights._replace(indices='indices'),
    )
  )
  flat = tf.nest.flatten(marked)
  return tuple(
    next(i for i, x in enumerate(flat) if isinstance(x, str) and x == name)
    for name in ('memory', 'indices')
  )


def dynamic_unroll(
  core: sam.SAM, input_sequence: tf.Tensor, initial_state: dnc.DNCState
) -> tuple[tf.Tensor, dnc.DNCState]:
  """`snt.dynamic_unroll` of a SAM or SDNC core that keeps no memory per step.

  Works eagerly, in `tf.function` and under XLA. The number of steps and
  the batch size must be known when the function is traced (XLA sizes the
  journal by them). The core's step must compute the same thing when run
  again (no dropout in the controller). The core's variables are created
  by one extra step on `input_sequence[0]` if it has none yet.

  Args:
    core: a `dnc.SAM` or `dnc.SDNC` (any controller).
    input_sequence: `[num_steps, batch_size, input_size]`, time-major.
    initial_state: the core's `DNCState` before the first step.

  Returns:
    output_sequence: `[num_steps, batch_size, output_size]`.
    final_state: the core's `DNCState` after the last step.
  """
  if not isinstance(core, sam.SAM):
    raise TypeError(f'`core` must be a dnc.SAM or SDNC, got {type(core)}.')
  input_sequence = tf.convert_to_tensor(input_sequence)
  shape = input_sequence.shape
  if shape.rank != 3 or None in shape[:2]:
    raise ValueError(
      '`input_sequence` must be [num_steps, batch_size, input_size] with '
      f'the steps and the batch known when traced, got shape {shape}.'
    )
  sparse_states = (
    sparse_access.SparseAccessState,
    sparse_access.SparseTemporalAccessState,
  )
  if not isinstance(initial_state, dnc.DNCState) or not isinstance(
    initial_state.access_state, sparse_states
  ):
    raise TypeError(
      '`initial_state` must be the DNCState of a SAM or SDNC, got '
      f'{type(initial_state).__name__}.'
    )
  try:
    has_variables = bool(core.trainable_variables)
  except ValueError:  # Sonnet's error for a module without variables yet.
    has_variables = False
  if not has_variables:
    core(input_sequence[0], initial_state)
  journaled = _journaled_steps(core, initial_state, shape[0])
  flat = journaled(input_sequence, *tf.nest.flatten(initial_state))
  return flat[0], tf.nest.pack_sequence_as(initial_state, flat[1:])


def _journaled_steps(
  core: sam.SAM, state_structure: dnc.DNCState, num_steps: int
) -> Callable[..., list[tf.Tensor]]:
  """`(inputs, *flat_state) -> [outputs, *flat_final_state]`, with the
  custom gradient that rebuilds each step's memory from the journal."""
  memory_at, indices_at = _flat_positions(state_structure)

  def step(step_inputs, flat_state):
    state = tf.nest.pack_sequence_as(state_structure, flat_state)
    output, state = core(step_inputs, state)
    return output, tf.nest.flatten(state)

  def without_memory(flat_state):
    return [s for i, s in enumerate(flat_state) if i != memory_at]

  def with_memory(small_state, memory):
    return [*small_state[:memory_at], memory, *small_state[memory_at:]]

  def written_rows(memory, next_flat_state):
    """The rows of M_{t-1} that step t writes: int32 `[B, S]`, `[B, S, W]`."""
    indices = tf.cast(next_flat_state[indices_at], tf.int32)
    return indices, tf.gather(memory, indices, batch_dims=1)

  @tf.custom_gradient
  def journaled(inputs, *flat_state):
    starts = [
      tf.TensorArray(s.dtype, size=num_steps, element_shape=s.shape)
      for s in without_memory(flat_state)
    ]
    memory = flat_state[memory_at]
    journal = [  # The slots each step writes, and their rows before.
      tf.TensorArray(tf.int32, size=num_steps),
      tf.TensorArray(memory.dtype, size=num_steps),
    ]
    outputs = tf.TensorArray(inputs.dtype, size=num_steps)

    def forward(t, state, starts, journal, outputs):
      starts = [
        ta.write(t, s)
        for ta, s in zip(starts, without_memory(state), strict=True)
      ]
      output, next_state = step(inputs[t], state)
      # Values only: the backward pass differentiates the rerun step.
      entries = written_rows(state[memory_at], next_state)
      journal = [
        ta.write(t, tf.stop_gradient(x))
        for ta, x in zip(journal, entries, strict=True)
      ]
      return t + 1, next_state, starts, journal, outputs.write(t, output)

    _, final_state, starts, journal, outputs = tf.while_loop(
      lambda t, *_: t < num_steps,
      forward,
      (0, list(flat_state), starts, journal, outputs),
      maximum_iterations=num_steps,  # XLA sizes the TensorArrays by it.
    )
    starts = [ta.stack() for ta in starts]  # [T, B, ...]
    journal = [ta.stack() for ta in journal]  # [T, B, S], [T, B, S, W]

    def grad(d_outputs, *d_final_state, variables=()):
      d_inputs = tf.TensorArray(inputs.dtype, size=num_steps)

      def backward(t, memory, d_state, d_variables, d_inputs):
        indices, rows = journal[0][t], journal[1][t]
        # M_{t-1}: M_t with the written rows as they were.
        memory = tf.tensor_scatter_nd_update(
          memory, sparse_access.batch_index(indices), rows
        )
        step_inputs = inputs[t]
        state = with_memory([s[t] for s in starts], memory)
        with tf.GradientTape() as tape:
          tape.watch([step_inputs, state])
          output, next_state = step(step_inputs, state)
        d_step_inputs, d_state, d_step_variables = tape.gradient(
          [output, next_state],
          [step_inputs, state, list(variables)],
          output_gradients=[d_outputs[t], d_state],
          unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )
        d_variables = [
          a + b for a, b in zip(d_variables, d_step_variables, strict=True)
        ]
        return (
          t - 1,
          memory,
          d_state,
          d_variables,
          d_inputs.write(t, d_step_inputs),
        )

      d_final_state = [
        tf.zeros_like(s) if d is None else d
        for s, d in zip(final_state, d_final_state, strict=True)
      ]
      _, _, d_initial_state, d_variables, d_inputs = tf.while_loop(
        lambda t, *_: t >= 0,
        backward,
        (
          num_steps - 1,
          final_state[memory_at],
          d_final_state,
          [tf.zeros_like(v) for v in variables],
          d_inputs,
        ),
        maximum_iterations=num_steps,
      )
      return [d_inputs.stack(), *d_initial_state], d_variables

    return [outputs.stack(), *final_state], grad

  return journaled
