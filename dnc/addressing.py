"""Memory addressing of the DNC: content lookup, temporal links, free space.

Shapes use B (batch_size), N (memory_size), W (word_size), H (heads of a
content lookup), R (num_reads) and Wr (num_writes).
"""

import collections
from collections.abc import Callable

import sonnet as snt
import tensorflow as tf

from dnc import util

# Keeps norms, divisions and the allocation's products away from zero.
_EPSILON = 1e-6

TemporalLinkageState = collections.namedtuple(
  'TemporalLinkageState', ('link', 'precedence_weights')
)


def _vector_norms(m: tf.Tensor) -> tf.Tensor:
  # The epsilon inside the root keeps the gradient finite for all-zero rows.
  return tf.sqrt(tf.reduce_sum(m * m, axis=-1, keepdims=True) + _EPSILON)


# The link update, the link reads and the allocation below have hand-written
# gradients. Differentiated automatically inside the time loop, each of them
# kept several [batch, N, N] intermediates per step for the backward pass and
# took their gradients with small-K batched matmuls (K = num_reads or 1),
# which XLA runs far below the speed of the same work done elementwise. These
# save only their inputs and do the N^2 work of the backward pass in fused
# elementwise reductions. Tests check them against numerical gradients.
# `_link_update_and_read` is what `MemoryAccess` runs; `_link_update` and
# `_link_read` serve `TemporalLinkage.__call__` and `directional_read_weights`.


def _next_link(
  prev_link: tf.Tensor,
  prev_precedence_weights: tf.Tensor,
  write_weights: tf.Tensor,
) -> tuple[tf.Tensor, Callable[[tf.Tensor], tuple[tf.Tensor, ...]]]:
  """L_t = (1 - w_i - w_j) L_{t-1} + w_i p_j, with a zero diagonal.

  Args:
    prev_link: `[batch_size, num_writes, memory_size, memory_size]`, L_{t-1}.
    prev_precedence_weights: `[batch_size, num_writes, memory_size]`, p_{t-1}.
    write_weights: `[batch_size, num_writes, memory_size]`, w_t^w.

  Returns:
    link: `[batch_size, num_writes, memory_size, memory_size]`, L_t.
    grad: maps dL_t to the gradients of the three arguments, for a
      `tf.custom_gradient`.
  """
  memory_size, dtype = prev_link.shape[-1], prev_link.dtype
  write_weights_i = tf.expand_dims(write_weights, 3)  # w[i]
  write_weights_j = tf.expand_dims(write_weights, 2)  # w[j]
  prev_precedence_weights_j = tf.expand_dims(prev_precedence_weights, 2)
  link = (
    1 - write_weights_i - write_weights_j
  ) * prev_link + write_weights_i * prev_precedence_weights_j

  def off_diagonal():
    # Built where it is used: a tensor of the forward pass that the backward
    # pass uses would be kept once per time step.
    return 1 - tf.eye(memory_size, dtype=dtype)

  def grad(d_link):
    d_link *= off_diagonal()
    d_prev_link = d_link * (1 - write_weights_i - write_weights_j)
    # w[k] enters row k (as w_i) and column k (as w_j).
    d_write_weights = tf.reduce_sum(
      d_link * (prev_precedence_weights_j - prev_link), 3
    ) - tf.reduce_sum(d_link * prev_link, 2)
    d_prev_precedence_weights = tf.reduce_sum(d_link * write_weights_i, 2)
    return d_prev_link, d_prev_precedence_weights, d_write_weights

  return link * off_diagonal(), grad


def _link_update(
  prev_link: tf.Tensor,
  prev_precedence_weights: tf.Tensor,
  write_weights: tf.Tensor,
) -> tf.Tensor:
  """`_next_link`'s L_t, with a gradient that keeps only its inputs."""
  link_update = tf.custom_gradient(_next_link)
  return link_update(prev_link, prev_precedence_weights, write_weights)


def _link_read(
  link: tf.Tensor, read_weights: tf.Tensor, forward: bool
) -> tf.Tensor:
  """f = L w (forward) or b = L^T w (backward), per read and write head.

  Args:
    link: `[batch_size, num_writes, memory_size, memory_size]`, L_t.
    read_weights: `[batch_size, num_reads, memory_size]`, w_{t-1}^r.
    forward: which direction.

  Returns:
    `[batch_size, num_reads, num_writes, memory_size]`.
  """

  @tf.custom_gradient
  def link_read(link, read_weights):
    if forward:  # f[i] = sum_j L[i, j] w[j]
      read = tf.einsum('bwij,brj->brwi', link, read_weights)
    else:  # b[j] = sum_i w[i] L[i, j]
      read = tf.einsum('bwij,bri->brwj', link, read_weights)

    def grad(d_read):
      # dL is a sum of num_reads outer products, done elementwise rather
      # than as a batched matmul with K = num_reads.
      if forward:  # dL[i, j] = sum_r df[r, i] w[r, j]
        outer = d_read[:, :, :, :, None] * read_weights[:, :, None, None, :]
        d_read_weights = tf.einsum('brwi,bwij->brj', d_read, link)
      else:  # dL[i, j] = sum_r w[r, i] db[r, j]
        outer = read_weights[:, :, None, :, None] * d_read[:, :, :, None, :]
        d_read_weights = tf.einsum('brwj,bwij->bri', d_read, link)
      return tf.reduce_sum(outer, 1), d_read_weights

    return read, grad

  return link_read(link, read_weights)


def _through_next_link(
  prev_link: tf.Tensor,
  prev_precedence_weights: tf.Tensor,
  write_weights: tf.Tensor,
  vectors: tf.Tensor,
  transpose: bool,
) -> tf.Tensor:
  """`L_t v` (or `L_t^T v`) for each row v of `vectors`, from L_{t-1}.

  With L_t[i, j] = (1 - w_i - w_j) L_{t-1}[i, j] + w_i p_j off the diagonal,
  and L = L_{t-1} with diagonal d:
    (L_t v)_i = (1 - w_i) (L v)_i - (L (w v))_i + w_i (p.v - p_i v_i)
                - (1 - 2 w_i) d_i v_i
    (L_t^T v)_j = (1 - w_j) (v L)_j - ((w v) L)_j + p_j (w.v - w_j v_j)
                  - (1 - 2 w_j) d_j v_j
  One matmul against L_{t-1}, which backpropagation keeps anyway, instead of
  one against L_t, which it would then keep as well.

  Args:
    prev_link: `[batch_size, num_writes, memory_size, memory_size]`, L_{t-1}.
    prev_precedence_weights: `[batch_size, num_writes, memory_size]`, p_{t-1}.
    write_weights: `[batch_size, num_writes, memory_size]`, w_t^w.
    vectors: `[batch_size, num_writes, num_vectors, memory_size]`, v.
    transpose: whether to multiply by L_t^T instead of L_t.

  Returns:
    `[batch_size, num_writes, num_vectors, memory_size]`.
  """
  num_vectors = vectors.shape[2]
  write_weights = tf.expand_dims(write_weights, 2)  # [B, Wr, 1, N]
  precedence_weights = tf.expand_dims(prev_precedence_weights, 2)
  both = tf.concat([vectors, write_weights * vectors], 2)  # (v; w v)
  if transpose:
    products = tf.matmul(both, prev_link)  # (v; w v) L
    row, column = precedence_weights, write_weights
  else:
    # (L (v; w v)^T)^T: the transposed operand is the small one.
    products = tf.linalg.matrix_transpose(
      tf.matmul(prev_link, both, transpose_b=True)
    )
    row, column = write_weights, precedence_weights
  diagonal = tf.expand_dims(tf.linalg.diag_part(prev_link), 2)
  return (
    (1 - write_weights) * products[:, :, :num_vectors]
    - products[:, :, num_vectors:]
    + row
    * (tf.reduce_sum(column * vectors, 3, keepdims=True) - column * vectors)
    - (1 - 2 * write_weights) * diagonal * vectors
  )


def _link_update_and_read(
  prev_link: tf.Tensor,
  prev_precedence_weights: tf.Tensor,
  write_weights: tf.Tensor,
  read_weights: tf.Tensor,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """`_link_update`, then `_link_read` of L_t in both directions, in one.

  The values are those of the separate functions. The reads are taken
  through L_{t-1} (`_through_next_link`), so L_t has a single use (the next
  step), XLA writes it once, and the backward pass keeps L_{t-1} alone:
  one `[batch, num_writes, N, N]` tensor per step instead of two.

  Args:
    prev_link: `[batch_size, num_writes, memory_size, memory_size]`, L_{t-1}.
    prev_precedence_weights: `[batch_size, num_writes, memory_size]`, p_{t-1}.
    write_weights: `[batch_size, num_writes, memory_size]`, w_t^w.
    read_weights: `[batch_size, num_reads, memory_size]`, w_{t-1}^r.

  Returns:
    link: `[batch_size, num_writes, memory_size, memory_size]`, L_t.
    forward: `[batch_size, num_reads, num_writes, memory_size]`, f_t.
    backward: `[batch_size, num_reads, num_writes, memory_size]`, b_t.
  """
  num_writes, memory_size = prev_link.shape[1], prev_link.shape[-1]

  def per_write_head(x):  # [B, R, N] -> [B, Wr, R, N]
    x = tf.expand_dims(x, 1)
    return tf.broadcast_to(
      x, [tf.shape(x)[0], num_writes, x.shape[2], memory_size]
    )

  def per_read_head(x):  # [B, Wr, R, N] <-> [B, R, Wr, N]
    return tf.transpose(x, [0, 2, 1, 3])

  @tf.custom_gradient
  def update_and_read(
    prev_link, prev_precedence_weights, write_weights, read_weights
  ):
    link, link_grad = _next_link(
      prev_link, prev_precedence_weights, write_weights
    )
    heads = per_write_head(read_weights)
    forward = _through_next_link(
      prev_link, prev_precedence_weights, write_weights, heads, False
    )
    backward = _through_next_link(
      prev_link, prev_precedence_weights, write_weights, heads, True
    )

    def grad(d_link, d_forward, d_backward):
      d_forward, d_backward = map(per_read_head, (d_forward, d_backward))
      # dL_t: the next step's and, from the reads, df w^T + w db^T.
      # `link_grad` uses it in four passes: XLA would recompute an
      # elementwise sum of outer products in each (several times slower),
      # but writes the result of a matmul (here with K = 2 num_reads) once.
      # Its left operand is transposed in memory first: XLA's matmul took
      # 1.6-1.9x as long reading it transposed (`benchmarks.matmul_layout`).
      d_link += tf.matmul(
        util.row_major_transpose(tf.concat([d_forward, heads], 2)),
        tf.concat([heads, d_backward], 2),
      )
      d_prev_link, d_prev_precedence_weights, d_write_weights = link_grad(
        d_link
      )
      # d w^r = L_t^T df + L_t db, also through L_{t-1}.
      from_forward = _through_next_link(
        prev_link, prev_precedence_weights, write_weights, d_forward, True
      )
      from_backward = _through_next_link(
        prev_link, prev_precedence_weights, write_weights, d_backward, False
      )
      d_read_weights = tf.reduce_sum(from_forward + from_backward, 1)
      return (
        d_prev_link,
        d_prev_precedence_weights,
        d_write_weights,
        d_read_weights,
      )

    return (link, per_read_head(forward), per_read_head(backward)), grad

  return update_and_read(
    prev_link, prev_precedence_weights, write_weights, read_weights
  )


def _allocation(usage: tf.Tensor) -> tf.Tensor:
  """Allocation weights a_t for one write head.

  Sorting locations by ascending usage phi,
  `a[phi_k] = (1 - u[phi_k]) * prod_{m < k} u[phi_m]`: the least used
  location gets almost everything. Ties go to the lower index.

  Instead of sorting, each location multiplies the usages of the locations
  that come before it in that order, found by comparing all pairs. This is
  the same function with the same gradient (the order itself has none), and
  for the memory sizes used in practice a few fused dense ops are much
  faster than a sort, a cumulative product and a scatter.

  Args:
    usage: `[batch_size, memory_size]`, u_t.

  Returns:
    `[batch_size, memory_size]`, a_t, summing to at most 1.
  """
  memory_size = usage.shape[-1]

  def comes_before(usage_i, usage_j):
    """`[B, i, j]`, 1 where location j comes before location i.

    Args:
      usage_i: `[batch_size, memory_size, 1]`, the usages as a column.
      usage_j: `[batch_size, 1, memory_size]`, the same usages as a row.
    """
    # Order by the raw usage: in float32, 1 - u (which the reference sorts)
    # and eps + (1 - eps) u round distinct small usages to ties.
    index = tf.range(memory_size)
    lower_index = tf.expand_dims(index, 0) < tf.expand_dims(index, 1)
    before = (usage_j < usage_i) | ((usage_j == usage_i) & lower_index)
    return tf.cast(before, usage_i.dtype)

  def clamp(usage):
    return _EPSILON + (1 - _EPSILON) * usage

  @tf.custom_gradient
  def allocation(usage):
    # The backward pass recomputes the order instead of keeping it, from
    # the usage kept in both shapes it is compared in. Inside a
    # differentiated while loop, XLA fuses the backward pass's read of a
    # kept tensor into the `[B, N, N]` comparison; one tensor read there
    # as both column and row was read again for every pair, which made
    # this gradient 6x slower at memory_size 128 (benchmarks/README.md).
    # It recomputes the clamped usage too, so a step keeps three tensors:
    # the usage in its two shapes and the prefix products.
    usage_i = tf.expand_dims(usage, 2)
    usage_j = tf.expand_dims(usage, 1)
    clamped_usage = clamp(usage)
    prefix = tf.exp(
      tf.reduce_sum(
        comes_before(usage_i, usage_j)
        * tf.expand_dims(tf.math.log(clamped_usage), 1),
        2,
      )
    )

    def grad(d_allocation):
      clamped_usage = clamp(tf.squeeze(usage_i, 2))
      d_log_prefix = d_allocation * (1 - clamped_usage) * prefix
      d_log_usage = tf.reduce_sum(
        comes_before(usage_i, usage_j) * tf.expand_dims(d_log_prefix, 2), 1
      )
      d_clamped_usage = d_log_usage / clamped_usage - d_allocation * prefix
      return (1 - _EPSILON) * d_clamped_usage

    return (1 - clamped_usage) * prefix, grad

  return allocation(usage)


def weighted_softmax(
  activations: tf.Tensor,
  strengths: tf.Tensor,
  strengths_op: Callable[[tf.Tensor], tf.Tensor],
) -> tf.Tensor:
  """Softmax over the last axis, each row sharpened by its strength.

  Args:
    activations: `[batch_size, num_heads, memory_size]`.
    strengths: `[batch_size, num_heads]`, one sharpness per head (beta).
    strengths_op: maps raw strengths to positive ones (e.g. softplus).

  Returns:
    `[batch_size, num_heads, memory_size]`, rows summing to 1.
  """
  transformed_strengths = tf.expand_dims(strengths_op(strengths), -1)
  return tf.nn.softmax(activations * transformed_strengths, axis=-1)


class CosineWeights(snt.Module):
  """Content-based addressing: a softmax over cosine similarities (C(M,k,b))."""

  def __init__(
    self,
    num_heads: int,
    word_size: int,
    strength_op: Callable[[tf.Tensor], tf.Tensor] = tf.nn.softplus,
    name: str = 'cosine_weights',
  ):
    """Constructs a content lookup.

    Args:
      num_heads: number of keys looked up at once.
      word_size: size of each memory word and key.
      strength_op: makes the strengths positive. The reference code uses
        softplus; the paper's `oneplus` is `1 + softplus`.
      name: module name.
    """
    super().__init__(name=name)
    util.check_positive_int(num_heads, 'num_heads')
    util.check_positive_int(word_size, 'word_size')
    self._num_heads = num_heads
    self._word_size = word_size
    self._strength_op = strength_op

  def __call__(
    self, memory: tf.Tensor, keys: tf.Tensor, strengths: tf.Tensor
  ) -> tf.Tensor:
    """Looks up `keys` in `memory`.

    Args:
      memory: `[batch_size, memory_size, word_size]`, M.
      keys: `[batch_size, num_heads, word_size]`, k.
      strengths: `[batch_size, num_heads]`, beta before `strength_op`.

    Returns:
      `[batch_size, num_heads, memory_size]` content weights, rows summing to 1.
    """
    util.check_shape(memory, [None, None, self._word_size], 'memory')
    batch_size = memory.shape[0]
    util.check_shape(
      keys, [batch_size, self._num_heads, self._word_size], 'keys'
    )
    util.check_shape(strengths, [batch_size, self._num_heads], 'strengths')
    dot = tf.matmul(keys, memory, adjoint_b=True)  # [B, H, N]
    memory_norms = _vector_norms(memory)  # [B, N, 1]
    key_norms = _vector_norms(keys)  # [B, H, 1]
    norm = tf.matmul(key_norms, memory_norms, adjoint_b=True)  # [B, H, N]
    similarity = dot / (norm + _EPSILON)  # D(k, M[i])
    return weighted_softmax(similarity, strengths, self._strength_op)


class TemporalLinkage(snt.RNNCore):
  """Keeps the order of writes: the link matrix L and precedence weights p.

  `L[i, j]` is how much location i was written right after location j, so
  reading through L walks memory forwards in write order and through its
  transpose walks backwards. Each write head has its own L and p.
  """

  def __init__(
    self, memory_size: int, num_writes: int, name: str = 'temporal_linkage'
  ):
    """Constructs a temporal linkage.

    Args:
      memory_size: number of memory locations, N.
      num_writes: number of write heads, Wr.
      name: module name.
    """
    super().__init__(name=name)
    util.check_positive_int(memory_size, 'memory_size')
    util.check_positive_int(num_writes, 'num_writes')
    self._memory_size = memory_size
    self._num_writes = num_writes

  def __call__(
    self, write_weights: tf.Tensor, prev_state: TemporalLinkageState
  ) -> TemporalLinkageState:
    """Records this step's writes.

    Args:
      write_weights: `[batch_size, num_writes, memory_size]`, w_t^w.
      prev_state: `TemporalLinkageState` with `link`
        `[batch_size, num_writes, memory_size, memory_size]` and
        `precedence_weights` `[batch_size, num_writes, memory_size]`.

    Returns:
      The new `TemporalLinkageState`.
    """
    self._check_step(write_weights, prev_state)
    link = self._link(
      prev_state.link, prev_state.precedence_weights, write_weights
    )
    precedence_weights = self._precedence_weights(
      prev_state.precedence_weights, write_weights
    )
    return TemporalLinkageState(link, precedence_weights)

  def _check_step(
    self, write_weights: tf.Tensor, prev_state: TemporalLinkageState
  ) -> None:
    n, wr = self._memory_size, self._num_writes
    util.check_shape(write_weights, [None, wr, n], 'write_weights')
    batch_size = write_weights.shape[0]
    util.check_shape(prev_state.link, [batch_size, wr, n, n], 'prev_state.link')
    util.check_shape(
      prev_state.precedence_weights,
      [batch_size, wr, n],
      'prev_state.precedence_weights',
    )

  def directional_read_weights(
    self, link: tf.Tensor, prev_read_weights: tf.Tensor, forward: bool
  ) -> tf.Tensor:
    """Moves each read head one write step forwards or backwards.

    Args:
      link: `[batch_size, num_writes, memory_size, memory_size]`, L.
      prev_read_weights: `[batch_size, num_reads, memory_size]`, w_{t-1}^r.
      forward: forwards (f_t = L w) or backwards (b_t = L^T w).

    Returns:
      `[batch_size, num_reads, num_writes, memory_size]`: for each read head,
      one weighting per write head's link.
    """
    n, wr = self._memory_size, self._num_writes
    util.check_shape(link, [None, wr, n, n], 'link')
    util.check_shape(
      prev_read_weights, [link.shape[0], None, n], 'prev_read_weights'
    )
    return _link_read(link, prev_read_weights, forward)

  def update_and_read(
    self,
    write_weights: tf.Tensor,
    prev_state: TemporalLinkageState,
    prev_read_weights: tf.Tensor,
  ) -> tuple[TemporalLinkageState, tf.Tensor, tf.Tensor]:
    """`__call__`, then `directional_read_weights` of the new link both ways.

    The same values, computed so that backpropagation through a time loop
    keeps one link matrix per step instead of two, and XLA writes L_t once.

    Args:
      write_weights: `[batch_size, num_writes, memory_size]`, w_t^w.
      prev_state: `TemporalLinkageState` of the previous step.
      prev_read_weights: `[batch_size, num_reads, memory_size]`, w_{t-1}^r.

    Returns:
      next_state: the new `TemporalLinkageState`.
      forward_weights: `[batch_size, num_reads, num_writes, memory_size]`,
        f_t = L_t w_{t-1}^r.
      backward_weights: `[batch_size, num_reads, num_writes, memory_size]`,
        b_t = L_t^T w_{t-1}^r.
    """
    self._check_step(write_weights, prev_state)
    util.check_shape(
      prev_read_weights,
      [write_weights.shape[0], None, self._memory_size],
      'prev_read_weights',
    )
    link, forward_weights, backward_weights = _link_update_and_read(
      prev_state.link,
      prev_state.precedence_weights,
      write_weights,
      prev_read_weights,
    )
    precedence_weights = self._precedence_weights(
      prev_state.precedence_weights, write_weights
    )
    next_state = TemporalLinkageState(link, precedence_weights)
    return next_state, forward_weights, backward_weights

  def _link(
    self,
    prev_link: tf.Tensor,
    prev_precedence_weights: tf.Tensor,
    write_weights: tf.Tensor,
  ) -> tf.Tensor:
    """Updates the link matrix.

    Args:
      prev_link: `[batch_size, num_writes, memory_size, memory_size]`.
      prev_precedence_weights: `[batch_size, num_writes, memory_size]`.
      write_weights: `[batch_size, num_writes, memory_size]`.

    Returns:
      `[batch_size, num_writes, memory_size, memory_size]`, zero diagonal.
    """
    return _link_update(prev_link, prev_precedence_weights, write_weights)

  def _precedence_weights(
    self, prev_precedence_weights: tf.Tensor, write_weights: tf.Tensor
  ) -> tf.Tensor:
    """Updates the precedence weights, p_t = (1 - sum w) p_{t-1} + w.

    Args:
      prev_precedence_weights: `[batch_size, num_writes, memory_size]`.
      write_weights: `[batch_size, num_writes, memory_size]`.

    Returns:
      `[batch_size, num_writes, memory_size]`.
    """
    write_sum = tf.reduce_sum(write_weights, axis=2, keepdims=True)
    return (1 - write_sum) * prev_precedence_weights + write_weights

  @property
  def state_size(self) -> TemporalLinkageState:
    n, wr = self._memory_size, self._num_writes
    return TemporalLinkageState(
      link=tf.TensorShape([wr, n, n]),
      precedence_weights=tf.TensorShape([wr, n]),
    )

  def initial_state(
    self, batch_size: int | tf.Tensor, dtype: tf.DType = tf.float32
  ) -> TemporalLinkageState:
    """All-zero state for `batch_size` (an int or a scalar tensor)."""
    return util.zero_state(self.state_size, batch_size, dtype)


class Freeness(snt.RNNCore):
  """Memory usage u and the allocation weights that write to free locations.

  Usage rises where heads write and falls where read heads free what they
  read. Allocation prefers the least used locations.
  """

  def __init__(self, memory_size: int, name: str = 'freeness'):
    """Constructs a freeness module.

    Args:
      memory_size: number of memory locations, N.
      name: module name.
    """
    super().__init__(name=name)
    util.check_positive_int(memory_size, 'memory_size')
    self._memory_size = memory_size

  def __call__(
    self,
    write_weights: tf.Tensor,
    free_gate: tf.Tensor,
    read_weights: tf.Tensor,
    prev_usage: tf.Tensor,
  ) -> tf.Tensor:
    """Updates usage with the previous step's writes and this step's frees.

    Args:
      write_weights: `[batch_size, num_writes, memory_size]`, w_{t-1}^w.
      free_gate: `[batch_size, num_reads]`, f_t, in [0, 1].
      read_weights: `[batch_size, num_reads, memory_size]`, w_{t-1}^r.
      prev_usage: `[batch_size, memory_size]`, u_{t-1}.

    Returns:
      `[batch_size, memory_size]`, u_t, in [0, 1].
    """
    n = self._memory_size
    util.check_shape(prev_usage, [None, n], 'prev_usage')
    batch_size = prev_usage.shape[0]
    util.check_shape(write_weights, [batch_size, None, n], 'write_weights')
    util.check_shape(free_gate, [batch_size, None], 'free_gate')
    util.check_shape(
      read_weights, [batch_size, free_gate.shape[1], n], 'read_weights'
    )
    # As in the reference code: no gradient flows into past write weights
    # through usage; only the allocation path of the current step is learnt.
    write_weights = tf.stop_gradient(write_weights)
    usage = self._usage_after_write(prev_usage, write_weights)
    return self._usage_after_read(usage, free_gate, read_weights)

  def write_allocation_weights(
    self, usage: tf.Tensor, write_gates: tf.Tensor, num_writes: int
  ) -> tf.Tensor:
    """Allocation weights for each write head in turn (a_t).

    Each head allocates as if the heads before it had written where they
    allocated (scaled by their gate), so that heads pick different locations.

    Args:
      usage: `[batch_size, memory_size]`, u_t.
      write_gates: `[batch_size, num_writes]`, allocation gate times write
        gate of each head.
      num_writes: number of write heads.

    Returns:
      `[batch_size, num_writes, memory_size]`.
    """
    util.check_positive_int(num_writes, 'num_writes')
    util.check_shape(usage, [None, self._memory_size], 'usage')
    util.check_shape(write_gates, [usage.shape[0], num_writes], 'write_gates')
    write_gates = tf.expand_dims(write_gates, -1)  # [B, Wr, 1]
    allocation_weights = []
    for i in range(num_writes):
      allocation_weights.append(_allocation(usage))
      usage += (1 - usage) * write_gates[:, i, :] * allocation_weights[i]
    return tf.stack(allocation_weights, axis=1)

  def _usage_after_write(
    self, prev_usage: tf.Tensor, write_weights: tf.Tensor
  ) -> tf.Tensor:
    """u + (1 - u) * (1 - prod_i (1 - w_i)): `[batch_size, memory_size]`."""
    write_weights = 1 - util.reduce_prod(1 - write_weights, 1)
    return prev_usage + (1 - prev_usage) * write_weights

  def _usage_after_read(
    self, prev_usage: tf.Tensor, free_gate: tf.Tensor, read_weights: tf.Tensor
  ) -> tf.Tensor:
    """u * psi, psi = prod_j (1 - f_j w_j^r): `[batch_size, memory_size]`."""
    free_read_weights = tf.expand_dims(free_gate, -1) * read_weights
    retention = util.reduce_prod(1 - free_read_weights, 1)  # psi_t
    return prev_usage * retention

  @property
  def state_size(self) -> tf.TensorShape:
    return tf.TensorShape([self._memory_size])

  def initial_state(
    self, batch_size: int | tf.Tensor, dtype: tf.DType = tf.float32
  ) -> tf.Tensor:
    """All-zero usage `[batch_size, memory_size]`."""
    return util.zero_state(self.state_size, batch_size, dtype)
