"""Sparse Access Memory (SAM; Rae et al., NeurIPS 2016), its memory access.

"Scaling Memory-Augmented Neural Networks with Sparse Reads and Writes":
each read head reads only K slots, the single write head writes only to
the slots read at the last step and to the least recently accessed slot,
and the state keeps the weightings as K (indices, values) per head instead
of N-vectors. Each equation is one plain function of tensors here:

- `sparse_content_read_weights`: w_t^R = softmax(beta D(q, M_t[i])) over
  the K slots i most similar to the key q (exact top-K over all N slots),
  0 elsewhere;
- `least_recently_used`: I_t^U, the slot of smallest U_{t-1};
- `sparse_write_weights`: w_t^W = alpha_t (gamma_t w_{t-1}^R + (1 -
  gamma_t) I_t^U), w_{t-1}^R the mean of the read heads' weightings;
- `sparse_erase_and_write`: M_t = (1 - R_t) M_{t-1} + w_t^W a_t^T, R_t =
  I_t^U 1^T (the least recently accessed row is erased entirely);
- `update_last_access`: U_t(i) = t where slot i was read or written this
  step with a weight above delta, else U_{t-1}(i);
- `sparse_read_words`: r_t = sum_i w_t^R(i) M_t(i) over the K read slots.

`SparseMemoryAccess` owns the interface layers and the state and calls
them, in the order write, then read, as `access.MemoryAccess` does.

The paper's Sparse DNC (SDNC) adds the DNC's temporal links:
`SparseTemporalMemoryAccess` updates the sparse link matrix of
`dnc.sparse_link` with each write, and each read head mixes its content
reads with the K largest entries of its forward and backward weightings
(`sparse_link.sparse_directional_top_k`) by its read modes
(`sparse_read_weights`).
Choices where the paper is silent are in docs/core.md ("Sparse Access
Memory").

A `SparseWeights(indices, values)` of `[..., S]` each means the N-vector
with `values[..., e]` added at `indices[..., e]`; indices may repeat (the
write weighting's read slots and its least recently used slot), and their
values then add up (`to_dense`). In the state the indices are held in the
values' dtype, so that the state has one dtype, as `sparse_link.SparseLink`
does; the functions take and return int32 indices.

Shapes use B (batch_size), N (memory_size), W (word_size), R (num_reads), K
(the reads per head) and S (the write weighting's entries: R K + 1, or
3 R K + 1 for the SDNC, whose heads keep 3 K entries each).
"""

import collections
from collections.abc import Callable
from collections.abc import Mapping

import sonnet as snt
import tensorflow as tf

from dnc import addressing
from dnc import kernels
from dnc import sparse_link
from dnc import util

# A sparse weighting: `indices` and `values`, each `[..., S]`.
SparseWeights = collections.namedtuple('SparseWeights', ('indices', 'values'))

SparseAccessState = collections.namedtuple(
  'SparseAccessState',
  ('memory', 'read_weights', 'write_weights', 'usage', 'time'),
)

# The SDNC's: SAM's state and the sparse link's (`TemporalLinkageState` of
# a `sparse_link.SparseLink` and the dense precedence weights).
SparseTemporalAccessState = collections.namedtuple(
  'SparseTemporalAccessState',
  ('memory', 'read_weights', 'write_weights', 'linkage', 'usage', 'time'),
)

# The paper's delta: an access of at most this weight is negligible and
# leaves U(i) as it was (pytorch-dnc's value).
ACCESS_THRESHOLD = 0.005


def _check_k(k: int, memory_size: int | None, name: str = 'k') -> None:
  """Raises unless `k` is an integer in [1, memory_size]."""
  util.check_positive_int(k, name)
  if memory_size is not None and k > memory_size:
    raise ValueError(
      f'`{name}` must be at most the memory size ({memory_size}), got {k}.'
    )


def batch_index(indices: tf.Tensor) -> tf.Tensor:
  """int32 `[B, ...]` slots -> `[B, ..., 2]` (batch, slot), for the scatters
  into `[B, N, ...]` tensors."""
  batch = tf.range(tf.shape(indices)[0])
  batch = tf.reshape(batch, [-1] + [1] * (indices.shape.rank - 1))
  return tf.stack([tf.broadcast_to(batch, tf.shape(indices)), indices], -1)


def to_dense(weights: SparseWeights, memory_size: int) -> tf.Tensor:
  """A `SparseWeights` as N-vectors, repeated indices summed: O(N + S).

  Args:
    weights: `SparseWeights`, each `[..., S]`; indices int32 or floats.
    memory_size: N.

  Returns:
    `[..., memory_size]`.
  """
  util.check_positive_int(memory_size, 'memory_size')
  return util.scatter_add(weights.indices, weights.values, memory_size)


def sparse_content_read_weights(
  memory: tf.Tensor,
  keys: tf.Tensor,
  strengths: tf.Tensor,
  k: int,
  strength_op: Callable[[tf.Tensor], tf.Tensor] = tf.nn.softplus,
) -> SparseWeights:
  """w_t^R(i) = softmax_{i in top K}(beta D(q, M_t[i])), 0 off the top K.

  The K slots most similar to each key over all N (exact, not the paper's
  approximate nearest neighbours; ties to the lower slot, as
  `tf.math.top_k` breaks them), and the softmax of `addressing.
  content_weights` over those K only. With K = N it is `content_weights`.
  Gradients flow through the similarities of the K slots chosen, not the
  choice.

  Args:
    memory: `[batch_size, memory_size, word_size]`, M_t.
    keys: `[batch_size, num_reads, word_size]`, q_t.
    strengths: `[batch_size, num_reads]`, beta before `strength_op`.
    k: K, in [1, memory_size].
    strength_op: makes the strengths positive (softplus, as the DNC's).

  Returns:
    `SparseWeights` of int32 indices and values, each `[batch_size,
    num_reads, k]`, the values of each head summing to 1.
  """
  memory = tf.convert_to_tensor(memory)
  util.check_shape(memory, [None, None, None], 'memory')
  batch_size, memory_size, word_size = memory.shape
  util.check_shape(keys, [batch_size, None, word_size], 'keys')
  util.check_shape(strengths, keys.shape[:2], 'strengths')
  _check_k(k, memory_size)
  similarity = addressing.cosine_similarity(memory, keys)  # [B, R, N]
  top_similarity, indices = tf.math.top_k(similarity, k)
  values = addressing.weighted_softmax(top_similarity, strengths, strength_op)
  return SparseWeights(indices=indices, values=values)


def least_recently_used(usage: tf.Tensor) -> tf.Tensor:
  """The least recently accessed slot, argmin_i U_{t-1}(i) (I_t^U).

  Ties go to the lower slot, so a fresh memory (U = 0) fills in order.

  Args:
    usage: `[batch_size, memory_size]`, U_{t-1}.

  Returns:
    int32 `[batch_size]`.
  """
  util.check_shape(usage, [None, None], 'usage')
  # top_k, unlike argmin, documents its ties: the lower index first.
  _, index = tf.math.top_k(-tf.stop_gradient(usage), 1)
  return index[:, 0]


def sparse_write_weights(
  prev_read_weights: SparseWeights,
  least_used: tf.Tensor,
  write_gate: tf.Tensor,
  interpolation_gate: tf.Tensor,
) -> SparseWeights:
  """w_t^W = alpha_t (gamma_t w_{t-1}^R + (1 - gamma_t) I_t^U).

  w_{t-1}^R is the mean of the read heads' last weightings, so that w_t^W
  sums to at most alpha_t.

  Args:
    prev_read_weights: `SparseWeights` w_{t-1}^R, int32 indices and values
      `[batch_size, num_reads, k]`.
    least_used: int32 `[batch_size]`, the slot of I_t^U.
    write_gate: `[batch_size]`, alpha_t, in [0, 1].
    interpolation_gate: `[batch_size]`, gamma_t, in [0, 1].

  Returns:
    `SparseWeights` of int32 indices and values `[batch_size, S]`, S =
    num_reads * k + 1: the read slots (head by head), then the least used
    slot.
  """
  util.check_shape(
    prev_read_weights.values, [None, None, None], 'prev_read_weights.values'
  )
  batch_size = prev_read_weights.values.shape[0]
  util.check_shape(least_used, [batch_size], 'least_used')
  util.check_shape(write_gate, [batch_size], 'write_gate')
  util.check_shape(interpolation_gate, [batch_size], 'interpolation_gate')
  values = prev_read_weights.values
  num_reads, k = values.shape[1:]
  alpha = tf.expand_dims(write_gate, 1)
  gamma = tf.expand_dims(interpolation_gate, 1)
  read_values = tf.reshape(values, [-1, num_reads * k]) / num_reads
  indices = tf.concat(
    [
      tf.reshape(prev_read_weights.indices, [-1, num_reads * k]),
      tf.expand_dims(least_used, 1),
    ],
    1,
  )
  values = alpha * tf.concat([gamma * read_values, 1 - gamma], 1)
  return SparseWeights(indices=indices, values=values)


def sparse_erase_and_write(
  memory: tf.Tensor,
  least_used: tf.Tensor,
  write_weights: SparseWeights,
  write_vector: tf.Tensor,
) -> tf.Tensor:
  """M_t = (1 - R_t) M_{t-1} + w_t^W a_t^T, R_t = I_t^U 1^T.

  The least recently accessed row is set to zero, then a_t is added to
  each written row in proportion to its weight: O(S W) scatters.

  Args:
    memory: `[batch_size, memory_size, word_size]`, M_{t-1}.
    least_used: int32 `[batch_size]`, the slot of I_t^U.
    write_weights: `SparseWeights` w_t^W, int32 indices and values
      `[batch_size, S]`.
    write_vector: `[batch_size, word_size]`, a_t.

  Returns:
    `[batch_size, memory_size, word_size]`, M_t.
  """
  util.check_shape(memory, [None, None, None], 'memory')
  batch_size, _, word_size = memory.shape
  util.check_shape(least_used, [batch_size], 'least_used')
  util.check_shape(write_weights.values, [batch_size, None], 'write_weights')
  util.check_shape(write_vector, [batch_size, word_size], 'write_vector')
  erased = tf.tensor_scatter_nd_update(
    memory, batch_index(least_used), tf.zeros_like(write_vector)
  )
  added = tf.expand_dims(write_weights.values, 2) * tf.expand_dims(
    write_vector, 1
  )  # [B, S, W]
  return tf.tensor_scatter_nd_add(
    erased, batch_index(write_weights.indices), added
  )


def update_last_access(
  prev_usage: tf.Tensor,
  time: tf.Tensor,
  write_weights: SparseWeights,
  read_weights: SparseWeights,
  threshold: float = ACCESS_THRESHOLD,
) -> tf.Tensor:
  """U_t(i) = t if slot i was accessed with weight above delta, else U_{t-1}.

  A slot is accessed if its write weight or its weight in any one read
  head (repeated entries summed) exceeds delta: U_t is the step of each
  slot's last non-negligible access (the paper's U^(2), as a time stamp
  rather than the time since). Not differentiable.

  Args:
    prev_usage: `[batch_size, memory_size]`, U_{t-1}.
    time: `[batch_size]`, t, in the dtype of `prev_usage`.
    write_weights: `SparseWeights` w_t^W, int32 indices `[batch_size, S]`.
    read_weights: `SparseWeights` w_t^R, int32 indices `[batch_size,
      num_reads, k]` (a head's repeated slots add up).
    threshold: delta.

  Returns:
    `[batch_size, memory_size]`, U_t.
  """
  util.check_shape(prev_usage, [None, None], 'prev_usage')
  util.check_shape(time, prev_usage.shape[:1], 'time')
  memory_size = prev_usage.shape[1]
  written = to_dense(write_weights, memory_size)  # w_t^W, [B, N]
  read = to_dense(read_weights, memory_size)  # w_t^R, [B, R, N]
  accessed = (written > threshold) | tf.reduce_any(read > threshold, 1)
  time = tf.broadcast_to(tf.expand_dims(time, 1), tf.shape(prev_usage))
  return tf.stop_gradient(tf.where(accessed, time, prev_usage))


def sparse_read_words(
  read_weights: SparseWeights, memory: tf.Tensor
) -> tf.Tensor:
  """r_t = sum_i w_t^R(i) M_t[i], over each head's K slots.

  Args:
    read_weights: `SparseWeights` w_t^R, int32 indices and values
      `[batch_size, num_reads, k]`.
    memory: `[batch_size, memory_size, word_size]`, M_t.

  Returns:
    `[batch_size, num_reads, word_size]`, r_t.
  """
  util.check_shape(memory, [None, None, None], 'memory')
  util.check_shape(
    read_weights.values, [memory.shape[0], None, None], 'read_weights'
  )
  rows = tf.gather(memory, read_weights.indices, batch_dims=1)  # [B, R, K, W]
  return tf.reduce_sum(tf.expand_dims(read_weights.values, 3) * rows, 2)


def top_k_weights(weights: tf.Tensor, k: int) -> SparseWeights:
  """The K largest entries of each weighting, as they are (f^_t, b^_t).

  The SDNC's forward and backward weightings kept sparse: not
  renormalised, so each still sums to at most what the link read gave.
  Ties go to the lower slot.

  Args:
    weights: `[..., memory_size]`, non-negative.
    k: K, at most `memory_size`.

  Returns:
    `SparseWeights` of int32 indices and values, each `[..., k]`.
  """
  weights = tf.convert_to_tensor(weights)
  _check_k(k, weights.shape[-1])
  values, indices = tf.math.top_k(weights, k)
  return SparseWeights(indices=indices, values=values)


def sparse_read_weights(
  read_mode: tf.Tensor,
  content_weights: SparseWeights,
  forward_weights: SparseWeights,
  backward_weights: SparseWeights,
) -> SparseWeights:
  """w_t^R = pi_t[b] b^_t + pi_t[c] c_t^R + pi_t[f] f^_t (the SDNC's read).

  `access.read_weights` of one write head on sparse weightings: their
  entries side by side, each scaled by its read mode.

  Args:
    read_mode: `[batch_size, num_reads, 3]`, pi_t, laid out backward,
      forward, content (as `access.MemoryAccess`'s with one write head).
    content_weights: `SparseWeights` c_t^R, each `[batch_size, num_reads,
      k]`.
    forward_weights: the same shapes, f^_t.
    backward_weights: the same shapes, b^_t.

  Returns:
    `SparseWeights` of int32 indices and values `[batch_size, num_reads, 3
    k]`: the backward entries, the forward ones, then the content ones.
  """
  parts = (backward_weights, forward_weights, content_weights)
  indices = tf.concat([part.indices for part in parts], 2)
  values = tf.concat(
    [read_mode[:, :, i : i + 1] * part.values for i, part in enumerate(parts)],
    2,
  )
  return SparseWeights(indices=indices, values=values)


class SparseMemoryAccess(snt.RNNCore):
  """SAM's memory access: K-sparse content reads, a write to the slots
  just read or to the least recently accessed slot.

  Each step takes the controller output, turns it into the interface
  (read keys and strengths, write vector, write and interpolation gates)
  with one linear layer per piece, then writes (`sparse_write_weights`,
  `sparse_erase_and_write`), reads (`sparse_content_read_weights`,
  `sparse_read_words`) and updates the last access times
  (`update_last_access`).
  """

  def __init__(
    self,
    memory_size: int = 128,
    word_size: int = 20,
    num_reads: int = 1,
    sparse_reads: int = 4,
    access_threshold: float = ACCESS_THRESHOLD,
    name: str = 'sparse_memory_access',
    fast_kernels: bool = False,
  ):
    """Constructs a sparse memory access module.

    Args:
      memory_size: number of memory slots, N.
      word_size: size of each memory word, W.
      num_reads: number of read heads, R (one write head, as the paper's).
      sparse_reads: K, the slots each read head reads, in [1, N] (the
        paper's K = 4 and pytorch-dnc's default).
      access_threshold: delta in [0, 1): an access of at most this weight
        leaves a slot's last access time U(i) unchanged.
      name: module name.
      fast_kernels: whether the interface's product runs through
        `dnc.kernels.matmul` (same values; a gradient that re-reads the
        weights), as `access.MemoryAccess`'s does.
    """
    super().__init__(name=name)
    util.check_positive_int(memory_size, 'memory_size')
    util.check_positive_int(word_size, 'word_size')
    util.check_positive_int(num_reads, 'num_reads')
    util.check_positive_int(sparse_reads, 'sparse_reads')
    if sparse_reads > memory_size:
      raise ValueError(
        f'`sparse_reads` must be at most `memory_size` ({memory_size}), got '
        f'{sparse_reads}.'
      )
    if isinstance(access_threshold, bool) or not (
      isinstance(access_threshold, (int, float)) and 0 <= access_threshold < 1
    ):
      raise ValueError(
        f'`access_threshold` must be a number in [0, 1), got '
        f'{access_threshold!r}.'
      )
    util.check_bool(fast_kernels, 'fast_kernels')
    self._memory_size = memory_size
    self._word_size = word_size
    self._num_reads = num_reads
    self._sparse_reads = sparse_reads
    self._access_threshold = float(access_threshold)
    self._state_type = SparseAccessState
    self._read_entries = sparse_reads  # Of each head's w^R.
    self._matmul = kernels.matmul if fast_kernels else util.matmul

    # One linear layer per interface piece: (name, rows, columns), as in
    # `access.MemoryAccess`; the output is reshaped to [B, rows, columns],
    # or kept [B, rows] without columns.
    self._interface_shapes = {
      'write_vector': (word_size, None),
      'write_gate': (1, None),
      'interpolation_gate': (1, None),
      'read_keys': (num_reads, word_size),
      'read_strengths': (num_reads, None),
    }
    self._interface_linears = {
      piece: snt.Linear(rows * (columns or 1), name=piece)
      for piece, (rows, columns) in self._interface_shapes.items()
    }

  @tf.autograph.experimental.do_not_convert
  def __call__(
    self, inputs: tf.Tensor, prev_state: SparseAccessState
  ) -> tuple[tf.Tensor, SparseAccessState]:
    """Runs one step of memory access.

    Args:
      inputs: `[batch_size, input_size]`, the controller output.
      prev_state: `SparseAccessState` of the previous step (see
        `state_size`).

    Returns:
      read_words: `[batch_size, num_reads, word_size]`, r_t.
      next_state: `SparseAccessState`.
    """
    read_words, next_state, _ = self.call_with_interface(inputs, prev_state)
    return read_words, next_state

  @tf.autograph.experimental.do_not_convert
  def call_with_interface(
    self, inputs: tf.Tensor, prev_state: SparseAccessState
  ) -> tuple[tf.Tensor, SparseAccessState, dict[str, tf.Tensor]]:
    """`__call__`, also returning the interface it read from `inputs`.

    Args:
      inputs: `[batch_size, input_size]`, the controller output h_t.
      prev_state: `SparseAccessState` of the previous step.

    Returns:
      read_words: `[batch_size, num_reads, word_size]`, r_t.
      next_state: `SparseAccessState`.
      interface: the dict of `_read_inputs`.
    """
    inputs = tf.convert_to_tensor(inputs)
    util.check_shape(inputs, [None, None], 'inputs')
    self._check_state(prev_state, inputs.shape[0])
    interface = self._read_inputs(inputs)
    dtype = prev_state.memory.dtype
    time = prev_state.time + 1  # t
    prev_read_weights = SparseWeights(
      indices=tf.cast(prev_state.read_weights.indices, tf.int32),
      values=prev_state.read_weights.values,
    )  # w_{t-1}^R
    least_used = least_recently_used(prev_state.usage)  # I_t^U
    write_weights = sparse_write_weights(
      prev_read_weights,
      least_used,
      write_gate=interface['write_gate'],
      interpolation_gate=interface['interpolation_gate'],
    )  # w_t^W
    memory = sparse_erase_and_write(
      prev_state.memory, least_used, write_weights, interface['write_vector']
    )  # M_t
    read_weights, more_state = self._read_weights(
      interface, memory, write_weights, prev_read_weights, prev_state
    )  # w_t^R
    usage = update_last_access(
      prev_state.usage,
      time,
      write_weights,
      read_weights,
      self._access_threshold,
    )  # U_t
    next_state = self._state_type(
      memory=memory,
      read_weights=SparseWeights(
        tf.cast(read_weights.indices, dtype), read_weights.values
      ),
      write_weights=SparseWeights(
        tf.cast(write_weights.indices, dtype), write_weights.values
      ),
      usage=usage,
      time=time,
      **more_state,
    )
    return sparse_read_words(read_weights, memory), next_state, interface

  def _read_weights(
    self,
    interface: Mapping[str, tf.Tensor],
    memory: tf.Tensor,
    write_weights: SparseWeights,
    prev_read_weights: SparseWeights,
    prev_state: SparseAccessState,
  ) -> tuple[SparseWeights, dict[str, object]]:
    """w_t^R: the content reads (`sparse_content_read_weights`).

    Args:
      interface: the dict of `_read_inputs`.
      memory: `[batch_size, memory_size, word_size]`, M_t.
      write_weights: `SparseWeights` w_t^W (int32 indices).
      prev_read_weights: `SparseWeights` w_{t-1}^R (int32 indices).
      prev_state: the state of the previous step.

    Returns:
      `SparseWeights` of int32 indices and values `[batch_size, num_reads,
      k]`, and the fields of the next state that only the subclass has
      (none here).
    """
    del write_weights, prev_read_weights, prev_state  # The SDNC's.
    read_weights = sparse_content_read_weights(
      memory,
      interface['read_content_keys'],
      interface['read_content_strengths'],
      self._sparse_reads,
    )
    return read_weights, {}

  def _read_inputs(self, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
    """Splits the controller output into the interface.

    Args:
      inputs: `[batch_size, input_size]`.

    Returns:
      A dict of tensors: read_content_keys `[B, R, W]`,
      read_content_strengths `[B, R]` (beta before softplus), write_vector
      `[B, W]` (a_t), write_gate and interpolation_gate `[B]` (sigmoids,
      alpha_t and gamma_t); the SDNC's also read_mode `[B, R, 3]` (a
      softmax, pi_t, laid out backward, forward, content).
    """
    linears = list(self._interface_linears.values())
    flat_pieces = tf.split(
      util.linear(linears, inputs, self._matmul),
      [linear.output_size for linear in linears],
      axis=1,
    )
    pieces = {}
    for (piece, (rows, columns)), value in zip(
      self._interface_shapes.items(), flat_pieces, strict=True
    ):
      if columns is not None:
        value = tf.reshape(value, [-1, rows, columns])
      pieces[piece] = value
    interface = {
      'read_content_keys': pieces['read_keys'],
      'read_content_strengths': pieces['read_strengths'],
      'write_vector': pieces['write_vector'],
      'write_gate': tf.sigmoid(pieces['write_gate'][:, 0]),
      'interpolation_gate': tf.sigmoid(pieces['interpolation_gate'][:, 0]),
    }
    if 'read_mode' in pieces:  # The SDNC's.
      interface['read_mode'] = tf.nn.softmax(pieces['read_mode'], axis=-1)
    return interface

  def _check_state(
    self, state: SparseAccessState, batch_size: int | None
  ) -> None:
    """Raises unless `state` is a `SparseAccessState` of this module's sizes."""
    name = self._state_type.__name__
    if not isinstance(state, self._state_type):
      raise TypeError(
        f'`prev_state` must be a {name}, got {type(state).__name__}.'
      )
    size = self.state_size
    util.check_shape(
      state.memory, [batch_size, *size.memory], 'prev_state.memory'
    )
    for name in ('read_weights', 'write_weights'):
      value = getattr(state, name)
      if not isinstance(value, SparseWeights):
        raise TypeError(
          f'`prev_state.{name}` must be a SparseWeights, got '
          f'{type(value).__name__}.'
        )
      for field, leaf in zip(SparseWeights._fields, value, strict=True):
        util.check_shape(
          leaf,
          [batch_size, *getattr(getattr(size, name), field)],
          f'prev_state.{name}.{field}',
        )
    util.check_shape(
      state.usage, [batch_size, self._memory_size], 'prev_state.usage'
    )
    util.check_shape(state.time, [batch_size], 'prev_state.time')

  @property
  def state_size(self) -> SparseAccessState:
    """Shapes of the state without the batch: M `[N, W]`, w^R `[R, K]`
    indices and values, w^W `[S]` indices and values (S = R K + 1), U
    `[N]`, t `[]`."""
    n, w = self._memory_size, self._word_size
    reads = tf.TensorShape([self._num_reads, self._read_entries])
    writes = tf.TensorShape([self._num_reads * self._read_entries + 1])
    return SparseAccessState(
      memory=tf.TensorShape([n, w]),
      read_weights=SparseWeights(indices=reads, values=reads),
      write_weights=SparseWeights(indices=writes, values=writes),
      usage=tf.TensorShape([n]),
      time=tf.TensorShape([]),
    )

  @property
  def output_size(self) -> tf.TensorShape:
    """The read words r_t without the batch: `[num_reads, word_size]`."""
    return tf.TensorShape([self._num_reads, self._word_size])

  def initial_state(
    self, batch_size: int | tf.Tensor, dtype: tf.DType = tf.float32
  ) -> SparseAccessState:
    """All-zero `SparseAccessState` for `batch_size` (int or scalar tensor):
    an empty memory, no reads yet, every slot last accessed at t = 0."""
    sparse_link.check_memory_size(self._memory_size, dtype)
    return util.zero_state(self.state_size, batch_size, dtype)


class SparseTemporalMemoryAccess(SparseMemoryAccess):
  """The SDNC's memory access: SAM's, with the DNC's temporal links.

  The writes and the last access times are SAM's. The link is the DNC's
  sparse link matrix (`sparse_link.sparse_temporal_link`, K_L entries per
  row), updated with each step's write weighting; each read head mixes
  its K content reads with the K largest entries of its forward and
  backward weightings (`top_k_weights` of
  `sparse_link.sparse_directional_read_weights` of w_{t-1}^R, both at once
  by `sparse_link.sparse_directional_top_k`) by its read modes
  (`sparse_read_weights`), so that w^R keeps 3 K entries per head.
  """

  def __init__(
    self,
    memory_size: int = 128,
    word_size: int = 20,
    num_reads: int = 1,
    sparse_reads: int = 4,
    link_sparsity: int = 8,
    access_threshold: float = ACCESS_THRESHOLD,
    name: str = 'sparse_temporal_memory_access',
    fast_kernels: bool = False,
  ):
    """Constructs the SDNC's memory access.

    Args:
      memory_size: number of memory slots, N.
      word_size: size of each memory word, W.
      num_reads: number of read heads, R (one write head).
      sparse_reads: K, the content reads of each head and the entries
        kept of each of its forward and backward weightings, in [1, N].
      link_sparsity: K_L, the sparse link matrix's entries per row, in
        [1, N] (8, the DNC paper's suggestion).
      access_threshold: delta in [0, 1) (see `SparseMemoryAccess`).
      name: module name.
      fast_kernels: see `SparseMemoryAccess`.
    """
    super().__init__(
      memory_size,
      word_size,
      num_reads,
      sparse_reads,
      access_threshold,
      name=name,
      fast_kernels=fast_kernels,
    )
    if (
      isinstance(link_sparsity, bool)
      or not isinstance(link_sparsity, int)
      or not 1 <= link_sparsity <= memory_size
    ):
      raise ValueError(
        f'`link_sparsity` must be an integer in [1, memory_size = '
        f'{memory_size}], got {link_sparsity!r}.'
      )
    self._state_type = SparseTemporalAccessState
    self._read_entries = 3 * sparse_reads
    self._linkage = addressing.TemporalLinkage(
      memory_size, 1, sparsity=link_sparsity
    )
    # Backward, forward and content, as `access.MemoryAccess`'s modes.
    self._interface_shapes['read_mode'] = (num_reads, 3)
    self._interface_linears['read_mode'] = snt.Linear(
      3 * num_reads, name='read_mode'
    )

  def _read_weights(
    self,
    interface: Mapping[str, tf.Tensor],
    memory: tf.Tensor,
    write_weights: SparseWeights,
    prev_read_weights: SparseWeights,
    prev_state: SparseTemporalAccessState,
  ) -> tuple[SparseWeights, dict[str, object]]:
    """w_t^R: content reads and the link followed, mixed by read mode.

    Args:
      interface: the dict of `_read_inputs`.
      memory: `[batch_size, memory_size, word_size]`, M_t.
      write_weights: `SparseWeights` w_t^W (int32 indices).
      prev_read_weights: `SparseWeights` w_{t-1}^R (int32 indices).
      prev_state: the state of the previous step.

    Returns:
      `SparseWeights` of int32 indices and values `[batch_size, num_reads,
      3 k]`, and {'linkage': the new `TemporalLinkageState`}.
    """
    n, k = self._memory_size, self._sparse_reads
    linkage = self._linkage(
      tf.expand_dims(to_dense(write_weights, n), 1), prev_state.linkage
    )  # L_t
    # f^_t and b^_t: `top_k_weights` of the link read both ways, without
    # densifying w_{t-1}^R (`sparse_directional_top_k`).
    forward, backward = (
      sparse_link.sparse_directional_top_k(
        linkage.link, *prev_read_weights, k, direction
      )
      for direction in (True, False)
    )
    # The one write head's link: [B, R, 1, K] -> [B, R, K].
    forward, backward = (
      SparseWeights(indices[:, :, 0], values[:, :, 0])
      for indices, values in (forward, backward)
    )
    content_weights = sparse_content_read_weights(
      memory,
      interface['read_content_keys'],
      interface['read_content_strengths'],
      k,
    )  # c_t^R
    read_weights = sparse_read_weights(
      interface['read_mode'],
      content_weights,
      forward,
      backward,
    )
    return read_weights, {'linkage': linkage}

  def _check_state(
    self, state: SparseTemporalAccessState, batch_size: int | None
  ) -> None:
    """`SparseMemoryAccess._check_state`, and the link's shapes."""
    super()._check_state(state, batch_size)
    self._linkage.check_link(
      state.linkage.link, batch_size, 'prev_state.linkage.link'
    )
    util.check_shape(
      state.linkage.precedence_weights,
      [batch_size, 1, self._memory_size],
      'prev_state.linkage.precedence_weights',
    )

  @property
  def state_size(self) -> SparseTemporalAccessState:
    """`SparseMemoryAccess.state_size` with w^R `[R, 3 K]` and w^W `[3 R K
    + 1]`, and the link: `SparseLink` of `[1, N, K_L]` indices and values,
    precedence `[1, N]`."""
    return SparseTemporalAccessState(
      linkage=self._linkage.state_size, **super().state_size._asdict()
    )
