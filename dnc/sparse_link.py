"""The sparse link matrix (Graves et al. 2016, Methods, "Sparse link matrix").

The link matrix L_t is N x N, so its update and the directional reads cost
O(N^2) a step. The paper approximates it with O(N log N) computation and
O(N K) memory: for a fixed K (8 "appears to be sufficient, regardless of
memory size"),

1. w^_t and p^_{t-1} keep the K largest entries of the write weighting
   w_t^w and of the precedence weighting p_{t-1}, divided by their sum
   (`top_k_normalised`);
2. L^_t[i, j] = (1 - w^_t[i] - w^_t[j]) L^_{t-1}[i, j] + w^_t[i] p^_{t-1}[j],
   the dense update on those sparse vectors, with a zero diagonal;
3. every entry of L^_t below 1/K is set to zero. Rows and columns of L^_t
   sum to at most 1, so at most K entries of each survive
   (`sparse_temporal_link`);
4. f_t = L^_t w_{t-1}^r and b_t = L^_t^T w_{t-1}^r
   (`sparse_directional_read_weights`).

The precedence weighting itself stays dense (`addressing.precedence_weights`,
O(N)). Only the K rows that w^_t writes gain entries; every other row only
decays, so the update touches O(N K) numbers.

`SparseLink` stores L^ by rows, K slots each: row i holds `values[..., i, e]`
at column `indices[..., i, e]`; a slot of value 0 is empty (its index means
nothing). The indices are held in the values' dtype, so that the DNC's state
keeps one dtype for everything that carries it (masking by `tf.where`,
recomputation, the Keras layer); float32 holds them exactly up to 2^24
locations (`check_memory_size`).

Shapes use B (batch_size), N (memory_size), K (the sparsity), R (num_reads)
and Wr (num_writes).
"""

import collections

import tensorflow as tf

from dnc import util

# Keeps the normalisation of an all-zero weighting (p_0) finite.
EPSILON = 1e-6

# L^ by rows: `indices` and `values`, each `[batch_size, num_writes, N, K]`.
SparseLink = collections.namedtuple('SparseLink', ('indices', 'values'))

# The largest integer below which every integer is a float32.
_FLOAT32_EXACT = 2**24


def check_memory_size(memory_size: int, dtype: tf.DType) -> None:
  """Raises unless `dtype` holds every location index exactly."""
  if tf.as_dtype(dtype) == tf.float32 and memory_size > _FLOAT32_EXACT:
    raise ValueError(
      f'`memory_size` must be at most 2^24 with the sparse link in float32 '
      f'(its indices are stored as floats), got {memory_size}.'
    )


def top_k_normalised(weights: tf.Tensor, k: int) -> tuple[tf.Tensor, tf.Tensor]:
  """The K largest entries of a weighting, divided by their sum: w^ or p^.

  Args:
    weights: `[..., memory_size]`, non-negative (w_t^w or p_{t-1}).
    k: K, at most `memory_size`.

  Returns:
    indices: int32 `[..., k]`, the locations of the K largest entries (ties
      to the lower location, as `tf.math.top_k` breaks them).
    values: `[..., k]`, those entries divided by their sum (by EPSILON
      where the sum is smaller, so that an all-zero weighting stays zero).
  """
  values, indices = tf.math.top_k(weights, k)
  total = tf.reduce_sum(values, axis=-1, keepdims=True)
  return indices, values / tf.maximum(total, EPSILON)


def _with_group(indices: tf.Tensor) -> tf.Tensor:
  """int32 `[G, ...]` indices into axis 1 -> `[G, ..., 2]` (group, index)."""
  groups = tf.range(tf.shape(indices)[0])
  groups = tf.reshape(groups, [-1] + [1] * (indices.shape.rank - 1))
  groups = tf.broadcast_to(groups, tf.shape(indices))
  return tf.stack([groups, indices], axis=-1)


def _below_threshold_to_zero(values: tf.Tensor, k: int) -> tf.Tensor:
  """Sets entries below 1/K to zero (step 3 of the Methods)."""
  return tf.where(values < 1 / k, tf.zeros_like(values), values)


def sparse_temporal_link(
  prev_link: SparseLink,
  prev_precedence_weights: tf.Tensor,
  write_weights: tf.Tensor,
  k: int,
) -> SparseLink:
  """L^_t[i, j] = (1 - w^[i] - w^[j]) L^_{t-1}[i, j] + w^[i] p^[j], then
  the entries below 1/K set to zero.

  `addressing.temporal_link` on the K largest entries of w_t^w and p_{t-1}
  (each renormalised to sum to 1), with at most K entries per row kept.

  Args:
    prev_link: `SparseLink` L^_{t-1}, each `[batch_size, num_writes,
      memory_size, k]`.
    prev_precedence_weights: `[batch_size, num_writes, memory_size]`,
      p_{t-1} (dense).
    write_weights: `[batch_size, num_writes, memory_size]`, w_t^w.
    k: K.

  Returns:
    `SparseLink` L^_t, each `[batch_size, num_writes, memory_size, k]`:
    entries 0 or at least 1/K, none on the diagonal.
  """
  dtype = write_weights.dtype
  n = write_weights.shape[-1]
  leading = tf.shape(write_weights)[:-1]  # [B, Wr]
  # One group per batch element and write head: G = B Wr.
  w = tf.reshape(write_weights, [-1, n])
  p = tf.reshape(prev_precedence_weights, [-1, n])
  indices = tf.reshape(tf.cast(prev_link.indices, tf.int32), [-1, n, k])
  values = tf.reshape(prev_link.values, [-1, n, k])
  shape = tf.shape(w)
  w_rows, w_hat = top_k_normalised(w, k)  # [G, K]
  p_columns, p_hat = top_k_normalised(p, k)
  w_dense = tf.scatter_nd(_with_group(w_rows), w_hat, shape)  # w^
  p_dense = tf.scatter_nd(_with_group(p_columns), p_hat, shape)  # p^
  stored = values != 0

  # (1 - w^[i] - w^[j]) L^_{t-1}[i, j] at every stored entry.
  w_at_columns = tf.gather(w_dense, indices, batch_dims=1)  # [G, N, K]
  decayed = (1 - tf.expand_dims(w_dense, 2) - w_at_columns) * values

  # The K written rows also gain w^[i] p^[j]: at the columns they store,
  # and at those of p^ they do not (never on the diagonal).
  row_stored = tf.gather(stored, w_rows, batch_dims=1)  # [G, K, K]
  row_indices = tf.gather(indices, w_rows, batch_dims=1)
  row_values = tf.gather(decayed, w_rows, batch_dims=1)
  w_row = tf.expand_dims(w_hat, 2)  # [G, K, 1]
  p_at_stored = tf.gather(p_dense, row_indices, batch_dims=1)
  old = row_values + tf.where(
    row_stored, w_row * p_at_stored, tf.zeros_like(row_values)
  )
  p_columns_row = tf.expand_dims(p_columns, 1)  # [G, 1, K]
  already = tf.reduce_any(
    tf.expand_dims(row_stored, 3)
    & (tf.expand_dims(row_indices, 3) == tf.expand_dims(p_columns_row, 2)),
    axis=2,
  )  # [G, K rows, K columns of p^]
  is_new = ~already & (p_columns_row != tf.expand_dims(w_rows, 2))
  new = tf.where(is_new, w_row * tf.expand_dims(p_hat, 1), tf.zeros([], dtype))
  candidates = _below_threshold_to_zero(tf.concat([old, new], 2), k)
  candidate_indices = tf.concat(
    [row_indices, tf.broadcast_to(p_columns_row, tf.shape(row_indices))], 2
  )
  # At most K candidates are left non-zero; keep them.
  kept, position = tf.math.top_k(candidates, k)
  kept_indices = tf.gather(candidate_indices, position, batch_dims=2)

  rows = _with_group(w_rows)
  values = tf.tensor_scatter_nd_update(
    _below_threshold_to_zero(decayed, k), rows, kept
  )
  indices = tf.tensor_scatter_nd_update(indices, rows, kept_indices)
  full_shape = tf.concat([leading, [n, k]], 0)
  return SparseLink(
    indices=tf.reshape(tf.cast(indices, dtype), full_shape),
    values=tf.reshape(values, full_shape),
  )


def sparse_directional_read_weights(
  link: SparseLink, prev_read_weights: tf.Tensor, forward: bool
) -> tf.Tensor:
  """f_t = L^_t w_{t-1}^r (forward) or b_t = L^_t^T w_{t-1}^r (backward).

  `addressing.directional_read_weights` through the sparse link, in O(N K)
  per read head: f gathers w at each row's stored columns; b adds each
  stored entry's share to its column.

  Args:
    link: `SparseLink` L^_t, each `[batch_size, num_writes, memory_size, k]`.
    prev_read_weights: `[batch_size, num_reads, memory_size]`, w_{t-1}^r.
    forward: forwards (f_t) or backwards (b_t).

  Returns:
    `[batch_size, num_reads, num_writes, memory_size]`: for each read head,
    one weighting per write head's link.
  """
  batch_size = tf.shape(link.values)[0]
  num_writes, n, k = link.values.shape[1:]
  read_weights = tf.transpose(prev_read_weights, [0, 2, 1])  # [B, N, R]
  num_reads = read_weights.shape[-1]
  indices = tf.cast(link.indices, tf.int32)
  values = tf.expand_dims(link.values, -1)  # [B, Wr, N, K, 1]
  if forward:  # f[i] = sum_e L^[i, col_e] w[col_e]
    at_columns = tf.gather(
      read_weights, tf.reshape(indices, [batch_size, -1]), batch_dims=1
    )
    at_columns = tf.reshape(at_columns, [batch_size, num_writes, n, k, -1])
    weights = tf.reduce_sum(values * at_columns, axis=3)  # [B, Wr, N, R]
  else:  # b[j] = sum over entries (i, j) of L^[i, j] w[i]
    shares = values * read_weights[:, None, :, None, :]  # [B, Wr, N, K, R]
    groups = tf.reshape(
      tf.range(batch_size * num_writes), [batch_size, num_writes, 1, 1]
    )
    columns = groups * n + indices  # [B, Wr, N, K]
    weights = tf.math.unsorted_segment_sum(
      tf.reshape(shares, [-1, num_reads]),
      tf.reshape(columns, [-1]),
      batch_size * num_writes * n,
    )
    weights = tf.reshape(weights, [batch_size, num_writes, n, num_reads])
  return tf.transpose(weights, [0, 3, 1, 2])  # [B, R, Wr, N]


def sparse_directional_top_k(
  link: SparseLink,
  read_indices: tf.Tensor,
  read_values: tf.Tensor,
  k: int,
  forward: bool,
) -> tuple[tf.Tensor, tf.Tensor]:
  """f^_t or b^_t: the K largest entries of L^_t w or L^_t^T w, w sparse.

  The SDNC's forward and backward weightings: `tf.math.top_k` of
  `sparse_directional_read_weights` with w_{t-1}^r given by its S entries,
  to the same values and gradients, but without the segment sums over all
  N K_L entries of the link that the dense read and its gradient take (in
  XLA's CPU backend a scatter is a serial loop; they were a fifth of the
  SDNC's step at N = 4,096). The choice of the K entries is made on values
  computed without gradient (b from the S rows of L^ that w reads, f from
  every row, as a gather); the chosen entries are then computed again
  from the few rows they need, differentiably, and only those carry
  gradients, as they do through `tf.math.top_k`.

  Args:
    link: `SparseLink` L^_t, each `[batch_size, num_writes, memory_size,
      k_link]`.
    read_indices: int32 `[batch_size, num_reads, S]`, the slots of
      w_{t-1}^r (repeats add up).
    read_values: `[batch_size, num_reads, S]`, their weights.
    k: K, at most `memory_size`.
    forward: f^ (forwards) or b^ (backwards).

  Returns:
    indices: int32 `[batch_size, num_reads, num_writes, k]`, the slots of
      the K largest entries (ties to the lower slot).
    values: `[batch_size, num_reads, num_writes, k]`, those entries of f_t
      or b_t.
  """
  batch_size = tf.shape(link.values)[0]
  num_writes, n = link.values.shape[1:3]
  num_reads = read_values.shape[1]
  zero = tf.zeros([], read_values.dtype)
  link_indices = tf.cast(link.indices, tf.int32)
  read_indices = tf.cast(read_indices, tf.int32)
  if forward:
    # Which K: every row's f[i], as a gather, without gradient.
    dense = sparse_directional_read_weights(
      tf.nest.map_structure(tf.stop_gradient, link),
      util.scatter_add(read_indices, tf.stop_gradient(read_values), n),
      forward=True,
    )  # [B, R, Wr, N]
    _, chosen = tf.math.top_k(tf.transpose(dense, [0, 2, 1, 3]), k)
    # f[i] = sum_e L^[i, col_e] w[col_e] again for the K rows i chosen, w at
    # the columns by comparison with its S slots.
    chosen_indices = tf.gather(link_indices, chosen, axis=2, batch_dims=2)
    chosen_values = tf.gather(link.values, chosen, axis=2, batch_dims=2)
    same = tf.equal(  # [B, Wr, R, K, K_L, S]
      chosen_indices[..., None], read_indices[:, None, :, None, None, :]
    )
    w_at_columns = tf.reduce_sum(
      tf.where(same, read_values[:, None, :, None, None, :], zero), -1
    )
    values = tf.reduce_sum(chosen_values * w_at_columns, -1)  # [B, Wr, R, K]
  else:
    # b[j] = sum over the S rows i that w reads and their entries (i, j).
    rows_indices = tf.gather(link_indices, read_indices, axis=2, batch_dims=1)
    rows_values = tf.gather(link.values, read_indices, axis=2, batch_dims=1)
    shares = (
      rows_values * read_values[:, None, :, :, None]
    )  # [B, Wr, R, S, K_L]
    groups = tf.reshape(
      tf.range(batch_size * num_writes * num_reads),
      [batch_size, num_writes, num_reads, 1, 1],
    )
    dense = tf.math.unsorted_segment_sum(
      tf.reshape(tf.stop_gradient(shares), [-1]),
      tf.reshape(groups * n + rows_indices, [-1]),
      batch_size * num_writes * num_reads * n,
    )
    dense = tf.reshape(dense, [batch_size, num_writes, num_reads, n])
    _, chosen = tf.math.top_k(dense, k)  # [B, Wr, R, K]
    # The K columns chosen again, differentiably.
    same = tf.equal(  # [B, Wr, R, K, S, K_L]
      rows_indices[:, :, :, None], chosen[..., None, None]
    )
    values = tf.reduce_sum(
      tf.where(same, shares[:, :, :, None], zero), axis=[-2, -1]
    )
  return (
    tf.transpose(chosen, [0, 2, 1, 3]),
    tf.transpose(values, [0, 2, 1, 3]),
  )


def to_dense(link: SparseLink) -> tf.Tensor:
  """L^ as a dense matrix, for pictures and tests: O(N^2).

  Args:
    link: `SparseLink`, each `[batch_size, num_writes, memory_size, k]`.

  Returns:
    `[batch_size, num_writes, memory_size, memory_size]`.
  """
  n = link.values.shape[2]
  columns = tf.one_hot(
    tf.cast(link.indices, tf.int32), n, dtype=link.values.dtype
  )  # [B, Wr, N, K, N]
  return tf.reduce_sum(tf.expand_dims(link.values, -1) * columns, axis=3)
