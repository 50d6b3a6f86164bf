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

The state without M is still O(N) a step: U, and for the SDNC the
precedence p_t (N) and the sparse link's rows (2 N K_L), about 18 N
numbers at K_L = 8. With `chunk_length` C > 0 it is kept only at the start
of every chunk of C steps (the journal still every step): the backward pass
takes the chunks last to first, puts back the chunk's rows to get M at its
start, runs the chunk forward again from there keeping each step's state
without M for that chunk alone, then backpropagates its steps one by one
as above. That keeps O(T S W + (T / C + C) N) for one more forward pass
of each step again (Chen et al. 2016; Gruslys et al. 2016, as
`dnc.recompute` does for the whole state); C = ceil(sqrt(T))
(`dnc.recompute.default_chunk_length`) balances the two O(N) terms.
"""

from collections.abc import Callable

import tensorflow as tf

from dnc import dnc
from dnc import recompute
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
  core: sam.SAM,
  input_sequence: tf.Tensor,
  initial_state: dnc.DNCState,
  chunk_length: int = 0,
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
    chunk_length: C. 0 (the default) keeps every step's state without M,
      O(T N) numbers, for one more forward pass of each step: what is
      cheapest in time, and enough while T N is small. C > 0 keeps it only
      every C steps and runs each chunk forward once more in the backward
      pass (a third forward pass of each step): O((T / C + C) N) kept; C
      near ceil(sqrt(T)) (`dnc.recompute.default_chunk_length`) is the
      least. The last chunk has the T mod C steps left, if any; C >= T is
      one chunk.

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
  if (
    isinstance(chunk_length, bool)
    or not isinstance(chunk_length, int)
    or chunk_length < 0
  ):
    raise ValueError(
      '`chunk_length` must be an int >= 0 (0: every step kept), got '
      f'{chunk_length!r}.'
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
  # Every step its own chunk is the journal without recomputation; a chunk
  # longer than the sequence would only size the rerun's records past T.
  chunk_length = min(chunk_length, shape[0]) if chunk_length else 1
  journaled = _journaled_steps(core, initial_state, shape[0], chunk_length)
  flat = journaled(input_sequence, *tf.nest.flatten(initial_state))
  return flat[0], tf.nest.pack_sequence_as(initial_state, flat[1:])


def _journaled_steps(
  core: sam.SAM,
  state_structure: dnc.DNCState,
  num_steps: int,
  chunk_length: int,
) -> Callable[..., list[tf.Tensor]]:
  """`(inputs, *flat_state) -> [outputs, *flat_final_state]`, with the
  custom gradient that rebuilds each step's memory from the journal.

  `chunk_length` C is in [1, T]: the state without M is kept at steps 0,
  C, 2 C, ...; C = 1 is every step, with nothing run again but each step.
  """
  memory_at, indices_at = _flat_positions(state_structure)
  num_chunks = -(-num_steps // chunk_length)

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

  def chunk_end(start):
    """One past chunk's last step: the last chunk may be shorter."""
    return tf.minimum(start + chunk_length, num_steps)

  def steps(body, first, loop_vars, condition):
    """`body(t, *loop_vars)` from t = `first` while `condition(t)`, at
    most C times; a plain call for C = 1, where the loop would only add
    each step's loop overhead."""
    if chunk_length == 1:
      return body(first, *loop_vars)
    return tf.while_loop(
      lambda t, *_: condition(t),
      body,
      (first, *loop_vars),
      maximum_iterations=chunk_length,  # XLA sizes the records by it.
    )

  @tf.custom_gradient
  def journaled(inputs, *flat_state):
    starts = [  # The state without M at each chunk's first step.
      tf.TensorArray(s.dtype, size=num_chunks, element_shape=s.shape)
      for s in without_memory(flat_state)
    ]
    memory = flat_state[memory_at]
    journal = [  # The slots each step writes, and their rows before.
      tf.TensorArray(tf.int32, size=num_steps),
      tf.TensorArray(memory.dtype, size=num_steps),
    ]
    outputs = tf.TensorArray(inputs.dtype, size=num_steps)

    def forward(t, state, journal, outputs):
      output, next_state = step(inputs[t], state)
      # Values only: the backward pass differentiates the rerun step.
      entries = written_rows(state[memory_at], next_state)
      journal = [
        ta.write(t, tf.stop_gradient(x))
        for ta, x in zip(journal, entries, strict=True)
      ]
      return t + 1, next_state, journal, outputs.write(t, output)

    def forward_chunk(c, state, starts, journal, outputs):
      starts = [
        ta.write(c, s)
        for ta, s in zip(starts, without_memory(state), strict=True)
      ]
      start = c * chunk_length
      end = chunk_end(start)
      _, state, journal, outputs = steps(
        forward, start, (state, journal, outputs), lambda t: t < end
      )
      return c + 1, state, starts, journal, outputs

    _, final_state, starts, journal, outputs = tf.while_loop(
      lambda c, *_: c < num_chunks,
      forward_chunk,
      (0, list(flat_state), starts, journal, outputs),
      maximum_iterations=num_chunks,  # XLA sizes the TensorArrays by it.
    )
    starts = [ta.stack() for ta in starts]  # [T / C, B, ...]
    journal = [ta.stack() for ta in journal]  # [T, B, S], [T, B, S, W]

    def undo(t, memory):
      """M_{t-1}: M_t with the rows step t wrote as they were before."""
      return tf.tensor_scatter_nd_update(
        memory, sparse_access.batch_index(journal[0][t]), journal[1][t]
      )

    def states_of_chunk(c, start, end, memory):
      """`t -> the state without M before step t`, for the chunk's steps
      [start, end); `memory` is M after its last step."""
      first = [s[c] for s in starts]
      if chunk_length == 1:
        return lambda t: first
      # M before the chunk: its writes undone, last to first (a row
      # written twice ends as it was before the first write).
      _, memory = tf.while_loop(
        lambda t, _: t >= start,
        lambda t, memory: (t - 1, undo(t, memory)),
        (end - 1, memory),
        maximum_iterations=chunk_length,
      )
      kept = [
        tf.TensorArray(s.dtype, size=chunk_length, element_shape=s.shape)
        for s in first
      ]
      kept = [ta.write(0, s) for ta, s in zip(kept, first, strict=True)]

      def rerun(t, state, kept):
        _, next_state = step(inputs[t], state)
        kept = [
          ta.write(t - start + 1, s)
          for ta, s in zip(kept, without_memory(next_state), strict=True)
        ]
        return t + 1, next_state, kept

      # The states before steps start + 1 .. end - 1: the last step's
      # own output state is not needed.
      _, _, kept = tf.while_loop(
        lambda t, *_: t < end - 1,
        rerun,
        (start, with_memory(first, memory), kept),
        maximum_iterations=chunk_length - 1,
      )
      return lambda t: [ta.read(t - start) for ta in kept]

    def grad(d_outputs, *d_final_state, variables=()):
      d_inputs = tf.TensorArray(inputs.dtype, size=num_steps)

      def backward_chunk(c, memory, d_state, d_variables, d_inputs):
        start = c * chunk_length
        end = chunk_end(start)
        state_before = states_of_chunk(c, start, end, memory)

        def backward(t, memory, d_state, d_variables, d_inputs):
          memory = undo(t, memory)  # M_{t-1}.
          d_step_inputs, d_state, d_variables = recompute.backpropagate(
            step,
            inputs[t],
            with_memory(state_before(t), memory),
            variables,
            d_outputs[t],
            d_state,
            d_variables,
          )
          return (
            t - 1,
            memory,
            d_state,
            d_variables,
            d_inputs.write(t, d_step_inputs),
          )

        _, memory, d_state, d_variables, d_inputs = steps(
          backward,
          end - 1,
          (memory, d_state, d_variables, d_inputs),
          lambda t: t >= start,
        )
        return c - 1, memory, d_state, d_variables, d_inputs

      d_final_state = [
        tf.zeros_like(s) if d is None else d
        for s, d in zip(final_state, d_final_state, strict=True)
      ]
      _, _, d_initial_state, d_variables, d_inputs = tf.while_loop(
        lambda c, *_: c >= 0,
        backward_chunk,
        (
          num_chunks - 1,
          final_state[memory_at],
          d_final_state,
          [tf.zeros_like(v) for v in variables],
          d_inputs,
        ),
        maximum_iterations=num_chunks,
      )
      return [d_inputs.stack(), *d_initial_state], d_variables

    return [outputs.stack(), *final_state], grad

  return journaled
