"""Memory addressing of the DNC: content lookup, temporal links, free space.

Each equation of the paper (Graves et al. 2016, Methods) is one plain
function of tensors here, with the paper's symbols in its docstring:
`content_weights` (C(M, k, beta)), `temporal_link` (L_t),
`precedence_weights` (p_t), `directional_read_weights` (f_t and b_t),
`retention` (psi_t), `usage` (u_t), `allocation` (a_t) and
`write_allocation_weights` (a_t of several write heads). The modules
(`CosineWeights`, `TemporalLinkage`, `Freeness`) own the sizes and the
state and call them. Where a module is built with `fast_kernels=True` it
calls the speed kernel of `dnc.kernels` instead, whose forward pass calls
the same function and whose gradient is written by hand.

Two of the memory options of Csordás and Schmidhuber (*Improving
Differentiable Neural Computers Through Memory Masking, De-allocation, and
Link Distribution Sharpness Control*, ICLR 2019) live here too, off unless
asked for: the masked lookup (`masks` of `cosine_similarity`) and
`sharpen_link_weights`, the sharpened link distributions.

Shapes use B (batch_size), N (memory_size), W (word_size), H (heads of a
content lookup), R (num_reads) and Wr (num_writes).
"""

import collections
from collections.abc import Callable

import sonnet as snt
import tensorflow as tf

from dnc import kernels
from dnc import sparse_link
from dnc import util

# Keeps norms, divisions and the allocation's products away from zero.
EPSILON = 1e-6

TemporalLinkageState = collections.namedtuple(
  'TemporalLinkageState', ('link', 'precedence_weights')
)


def _vector_norms(m: tf.Tensor) -> tf.Tensor:
  # The epsilon inside the root keeps the gradient finite for all-zero rows.
  return tf.sqrt(tf.reduce_sum(m * m, axis=-1, keepdims=True) + EPSILON)


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


def cosine_similarity(
  memory: tf.Tensor, keys: tf.Tensor, masks: tf.Tensor | None = None
) -> tf.Tensor:
  """D(k, M[i]) = k . M[i] / (|k| |M[i]|), of every key with every row.

  With `masks` s, the masked similarity of Csordás and Schmidhuber (2019),
  D(k * s, M[i] * s): a head compares only the part of the words that its
  mask selects (the key part) and ignores the rest (the value). Masks of
  ones give the plain similarity.

  Args:
    memory: `[batch_size, memory_size, word_size]`, M.
    keys: `[batch_size, num_heads, word_size]`, k.
    masks: None, or `[batch_size, num_heads, word_size]`, s, in [0, 1].

  Returns:
    `[batch_size, num_heads, memory_size]`, in [-1, 1].
  """
  if masks is None:
    dot = tf.matmul(keys, memory, adjoint_b=True)  # [B, H, N]
    memory_norms = _vector_norms(memory)  # [B, N, 1]
    key_norms = _vector_norms(keys)  # [B, H, 1]
    norm = tf.matmul(key_norms, memory_norms, adjoint_b=True)  # [B, H, N]
  else:
    # Each head masks the memory differently; written as matmuls against
    # M, neither the dot products nor the masked rows' norms need the
    # masked memory itself, [B, H, N, W].
    squared_masks = masks * masks
    dot = tf.matmul(keys * squared_masks, memory, adjoint_b=True)
    memory_norms = tf.sqrt(
      tf.matmul(squared_masks, memory * memory, adjoint_b=True) + EPSILON
    )  # |M[i] * s|: [B, H, N]
    norm = _vector_norms(keys * masks) * memory_norms
  return dot / (norm + EPSILON)


def content_weights(
  memory: tf.Tensor,
  keys: tf.Tensor,
  strengths: tf.Tensor,
  strength_op: Callable[[tf.Tensor], tf.Tensor] = tf.nn.softplus,
  masks: tf.Tensor | None = None,
) -> tf.Tensor:
  """Content-based addressing, C(M, k, beta)[i] = softmax_i(beta D(k, M[i])).

  Args:
    memory: `[batch_size, memory_size, word_size]`, M.
    keys: `[batch_size, num_heads, word_size]`, k.
    strengths: `[batch_size, num_heads]`, beta before `strength_op`.
    strength_op: makes the strengths positive (the reference's softplus;
      the paper's oneplus is 1 + softplus).
    masks: None, or `[batch_size, num_heads, word_size]` (see
      `cosine_similarity`).

  Returns:
    `[batch_size, num_heads, memory_size]`, rows summing to 1.
  """
  similarity = cosine_similarity(memory, keys, masks)
  return weighted_softmax(similarity, strengths, strength_op)


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
    self,
    memory: tf.Tensor,
    keys: tf.Tensor,
    strengths: tf.Tensor,
    masks: tf.Tensor | None = None,
  ) -> tf.Tensor:
    """Looks up `keys` in `memory` (`content_weights`).

    Args:
      memory: `[batch_size, memory_size, word_size]`, M.
      keys: `[batch_size, num_heads, word_size]`, k.
      strengths: `[batch_size, num_heads]`, beta before `strength_op`.
      masks: None, or `[batch_size, num_heads, word_size]`, s, each head's
        mask over the word (in [0, 1]; `MemoryAccess` takes a sigmoid), for
        the masked lookup C(M, k, beta, s) = softmax(beta D(k * s, M * 1 s^T))
        of Csordás and Schmidhuber (2019).

    Returns:
      `[batch_size, num_heads, memory_size]` content weights, rows summing to 1.
    """
    util.check_shape(memory, [None, None, self._word_size], 'memory')
    batch_size = memory.shape[0]
    head_shape = [batch_size, self._num_heads, self._word_size]
    util.check_shape(keys, head_shape, 'keys')
    util.check_shape(strengths, head_shape[:2], 'strengths')
    if masks is not None:
      util.check_shape(masks, head_shape, 'masks')
    return content_weights(memory, keys, strengths, self._strength_op, masks)


def sharpen_link_weights(weights: tf.Tensor, sharpness: tf.Tensor) -> tf.Tensor:
  """Sharpness control of the link distributions (Csordás, Schmidhuber 2019).

  S(d, s)[i] = d[i]^s / sum_j d[j]^s, applied
  to the forward and backward weightings, f_t = S(L_t w_{t-1}^r, s^f) and
  b_t = S(L_t^T w_{t-1}^r, s^b). An exponent s > 1 undoes some of the
  blurring that every step through the link matrix adds. As in the authors'
  code, epsilon is added to d first and the result is normalised, so it
  sums to 1 even where d sums to less (and is uniform where d is zero, as
  before anything is written); with s = 1 it is d renormalised, equal to d
  where d sums to 1. Its gradient with respect to d grows as 1 / (d + eps)
  where d is near zero, as in the authors' code (the training scripts clip
  gradients by their global norm).

  Args:
    weights: `[batch_size, num_reads, num_writes, memory_size]`, d, the
      link weightings (non-negative).
    sharpness: `[batch_size, num_reads, num_writes]`, s, positive (>= 1 as
      `MemoryAccess` makes them: 1 + softplus).

  Returns:
    `[batch_size, num_reads, num_writes, memory_size]`, rows summing to 1.
  """
  weights = tf.convert_to_tensor(weights)
  util.check_shape(weights, [None, None, None, None], 'weights')
  sharpness = tf.convert_to_tensor(sharpness, weights.dtype)
  util.check_shape(sharpness, weights.shape[:3], 'sharpness')
  # Rounding may leave a zero as a tiny negative number. The clamp only
  # undoes that rounding, so the gradient passes it unchanged.
  weights += tf.stop_gradient(tf.nn.relu(weights) - weights)
  # d^s / sum d^s as a softmax of s log d, which is stable for any s.
  log_weights = tf.math.log(weights + EPSILON)
  return tf.nn.softmax(tf.expand_dims(sharpness, -1) * log_weights, axis=-1)


def temporal_link(
  prev_link: tf.Tensor,
  prev_precedence_weights: tf.Tensor,
  write_weights: tf.Tensor,
) -> tf.Tensor:
  """The link matrix, L_t[i, j] = (1 - w[i] - w[j]) L_{t-1}[i, j] + w[i] p[j].

  `L[i, j]` is how much location i was written right after location j.

  Args:
    prev_link: `[batch_size, num_writes, memory_size, memory_size]`, L_{t-1}.
    prev_precedence_weights: `[batch_size, num_writes, memory_size]`,
      p_{t-1}.
    write_weights: `[batch_size, num_writes, memory_size]`, w_t^w.

  Returns:
    `[batch_size, num_writes, memory_size, memory_size]`, L_t, with a zero
    diagonal (L_t[i, i] = 0: a location is never written right after
    itself).
  """
  write_weights_i = tf.expand_dims(write_weights, 3)  # w_t^w[i]
  write_weights_j = tf.expand_dims(write_weights, 2)  # w_t^w[j]
  prev_precedence_weights_j = tf.expand_dims(prev_precedence_weights, 2)
  link = (
    1 - write_weights_i - write_weights_j
  ) * prev_link + write_weights_i * prev_precedence_weights_j
  off_diagonal = 1 - tf.eye(link.shape[-1], dtype=link.dtype)
  return link * off_diagonal


def precedence_weights(
  prev_precedence_weights: tf.Tensor, write_weights: tf.Tensor
) -> tf.Tensor:
  """p_t = (1 - sum_i w_t^w[i]) p_{t-1} + w_t^w: where the last write went.

  Args:
    prev_precedence_weights: `[batch_size, num_writes, memory_size]`,
      p_{t-1}.
    write_weights: `[batch_size, num_writes, memory_size]`, w_t^w.

  Returns:
    `[batch_size, num_writes, memory_size]`, p_t.
  """
  write_sum = tf.reduce_sum(write_weights, axis=2, keepdims=True)
  return (1 - write_sum) * prev_precedence_weights + write_weights


def directional_read_weights(
  link: tf.Tensor, prev_read_weights: tf.Tensor, forward: bool
) -> tf.Tensor:
  """Each read head moved one write forwards, f_t = L_t w_{t-1}^r, or
  backwards, b_t = L_t^T w_{t-1}^r, through each write head's link.

  Args:
    link: `[batch_size, num_writes, memory_size, memory_size]`, L_t.
    prev_read_weights: `[batch_size, num_reads, memory_size]`, w_{t-1}^r.
    forward: forwards (f_t) or backwards (b_t).

  Returns:
    `[batch_size, num_reads, num_writes, memory_size]`: for each read head,
    one weighting per write head's link.
  """
  weights = tf.expand_dims(prev_read_weights, 1)  # [B, 1, R, N]
  # Products that read L along its rows, the layout it is stored in (XLA's
  # CPU matmul reads a transposed operand at about half the speed).
  if forward:  # f[i] = sum_j L[i, j] w[j]: (L w^T)^T
    weights = tf.linalg.matrix_transpose(
      tf.matmul(link, weights, transpose_b=True)
    )
  else:  # b[j] = sum_i w[i] L[i, j]: w L
    weights = tf.matmul(weights, link)
  return tf.transpose(weights, [0, 2, 1, 3])  # [B, R, Wr, N]


def retention(free_gate: tf.Tensor, read_weights: tf.Tensor) -> tf.Tensor:
  """The memory retention vector, psi_t = prod_i (1 - f_t^i w_{t-1}^{r,i}).

  How much of each location the read heads keep: usage is multiplied by
  it, and with the de-allocation of contents
  (`MemoryAccess(deallocate_content=True)`) the memory's rows too.

  Args:
    free_gate: `[batch_size, num_reads]`, f_t, in [0, 1].
    read_weights: `[batch_size, num_reads, memory_size]`, w_{t-1}^r.

  Returns:
    `[batch_size, memory_size]`, psi_t, in [0, 1].
  """
  free_read_weights = tf.expand_dims(free_gate, -1) * read_weights
  return util.reduce_prod(1 - free_read_weights, 1)


def usage(
  prev_usage: tf.Tensor,
  write_weights: tf.Tensor,
  free_gate: tf.Tensor,
  read_weights: tf.Tensor,
) -> tf.Tensor:
  """u_t = (u_{t-1} + w - u_{t-1} w) psi_t, w = 1 - prod_i (1 - w_{t-1}^{w,i}).

  Usage rises where the heads wrote at the last step and falls where the
  read heads free what they read (`retention`). As in the reference code,
  no gradient flows into the past write weights through the usage; only
  the allocation of the current step is learnt.

  Args:
    prev_usage: `[batch_size, memory_size]`, u_{t-1}.
    write_weights: `[batch_size, num_writes, memory_size]`, w_{t-1}^w.
    free_gate: `[batch_size, num_reads]`, f_t, in [0, 1].
    read_weights: `[batch_size, num_reads, memory_size]`, w_{t-1}^r.

  Returns:
    `[batch_size, memory_size]`, u_t, in [0, 1].
  """
  write_weights = tf.stop_gradient(write_weights)
  return usage_after_write(prev_usage, write_weights) * retention(
    free_gate, read_weights
  )


def usage_after_write(
  prev_usage: tf.Tensor, write_weights: tf.Tensor
) -> tf.Tensor:
  """u + (1 - u) w with w = 1 - prod_i (1 - w^{w,i}): the usage's rise.

  Args:
    prev_usage: `[batch_size, memory_size]`, u_{t-1}.
    write_weights: `[batch_size, num_writes, memory_size]`, w_{t-1}^w.

  Returns:
    `[batch_size, memory_size]`.
  """
  written = 1 - util.reduce_prod(1 - write_weights, 1)
  return prev_usage + (1 - prev_usage) * written


def allocation(usage: tf.Tensor) -> tf.Tensor:
  """Allocation weights a_t of one write head: free space, least used first.

  With phi_t the locations sorted by ascending usage (the free list),
    a_t[phi_t[j]] = (1 - u_t[phi_t[j]]) prod_{i<j} u_t[phi_t[i]]:
  the least used location gets almost everything. Written here without
  the sort: each location multiplies the usages of the locations that
  come before it in phi_t, found by comparing all pairs (a lower usage, or
  the same usage and a lower index, as a stable sort orders ties). For
  the memory sizes of the dense DNC a few elementwise ops, which XLA
  fuses, are much faster than a sort, a cumulative product and a scatter;
  the order itself has no gradient either way. The usages are clamped to
  [eps, 1] in the product (so its gradient, which divides by its factors,
  stays finite) but compared unclamped (in float32 the clamp would round
  distinct small usages to ties).

  Args:
    usage: `[batch_size, memory_size]`, u_t.

  Returns:
    `[batch_size, memory_size]`, a_t, summing to at most 1.
  """
  return (1 - clamped_usage(usage)) * free_list_products(usage)


def sorted_allocation(usage: tf.Tensor) -> tf.Tensor:
  """`allocation` through a sort of the usages, in O(N log N).

  The same a_t, written as the paper writes it: phi_t sorts the usages in
  ascending order (a stable sort, so ties go to the lower index, as
  `comes_before` orders them), a_t[phi_t[j]] = (1 - u_t[phi_t[j]])
  prod_{i<j} u_t[phi_t[i]], the product an exclusive cumulative sum of
  logs. What the sparse link (`MemoryAccess(link_sparsity=K)`) runs, so
  that no part of its step grows as N^2.

  Args:
    usage: `[batch_size, memory_size]`, u_t.

  Returns:
    `[batch_size, memory_size]`, a_t, summing to at most 1.
  """
  free_list = tf.argsort(usage, axis=1, stable=True)  # phi_t
  sorted_usage = clamped_usage(tf.gather(usage, free_list, batch_dims=1))
  log_usage = tf.math.log(sorted_usage)
  products = tf.exp(tf.math.cumsum(log_usage, 1, exclusive=True))
  sorted_allocation = (1 - sorted_usage) * products
  return tf.gather(
    sorted_allocation, util.batch_invert_permutation(free_list), batch_dims=1
  )


def clamped_usage(usage: tf.Tensor) -> tf.Tensor:
  """eps + (1 - eps) u: the usages in [eps, 1], as the allocation takes them.

  Args:
    usage: `[batch_size, memory_size]`, u_t.

  Returns:
    `[batch_size, memory_size]`.
  """
  return EPSILON + (1 - EPSILON) * usage


def free_list_products(usage: tf.Tensor) -> tf.Tensor:
  """prod_{i<j} u_t[phi_t[i]] at each location phi_t[j]: `allocation`'s product.

  The product of the (clamped) usages of the locations before each one in
  the free list phi_t, as exp(sum log u) over one `[B, N, N]` mask.

  Args:
    usage: `[batch_size, memory_size]`, u_t.

  Returns:
    `[batch_size, memory_size]`, in (0, 1].
  """
  before = comes_before(tf.expand_dims(usage, 2), tf.expand_dims(usage, 1))
  log_usage = tf.expand_dims(tf.math.log(clamped_usage(usage)), 1)
  return tf.exp(tf.reduce_sum(before * log_usage, 2))


def comes_before(usage_j: tf.Tensor, usage_i: tf.Tensor) -> tf.Tensor:
  """`[batch_size, N, N]`, 1 where location i comes before location j in phi_t.

  Args:
    usage_j: `[batch_size, memory_size, 1]`, u_t as a column.
    usage_i: `[batch_size, 1, memory_size]`, the same usages as a row.

  Returns:
    `[batch_size, memory_size, memory_size]` of 0 and 1 in the usages'
    dtype: entry [b, j, i] is 1 where u[i] < u[j], or u[i] = u[j] and i < j.
  """
  memory_size = usage_j.shape[1]
  index = tf.range(memory_size)
  lower_index = tf.expand_dims(index, 0) < tf.expand_dims(index, 1)
  before = (usage_i < usage_j) | ((usage_i == usage_j) & lower_index)
  return tf.cast(before, usage_j.dtype)


def write_allocation_weights(
  usage: tf.Tensor,
  write_gates: tf.Tensor,
  num_writes: int,
  allocation: Callable[[tf.Tensor], tf.Tensor] = allocation,
) -> tf.Tensor:
  """Allocation weights a_t for each write head in turn.

  Each head allocates as if the heads before it had written where they
  allocated (scaled by their gate), so that heads pick different locations:
  u <- u + (1 - u) g^i a^i after head i.

  Args:
    usage: `[batch_size, memory_size]`, u_t.
    write_gates: `[batch_size, num_writes]`, allocation gate times write
      gate of each head.
    num_writes: number of write heads.
    allocation: the allocation of one head (`allocation` above, or its
      kernel `dnc.kernels.allocation`).

  Returns:
    `[batch_size, num_writes, memory_size]`.
  """
  write_gates = tf.expand_dims(write_gates, -1)  # [B, Wr, 1]
  allocation_weights = []
  for i in range(num_writes):
    allocation_weights.append(allocation(usage))
    usage += (1 - usage) * write_gates[:, i, :] * allocation_weights[i]
  return tf.stack(allocation_weights, axis=1)


class TemporalLinkage(snt.RNNCore):
  """Keeps the order of writes: the link matrix L and precedence weights p.

  `L[i, j]` is how much location i was written right after location j, so
  reading through L walks memory forwards in write order and through its
  transpose walks backwards. Each write head has its own L and p.

  With `sparsity=K`, L is the paper's sparse link matrix (`dnc.sparse_link`):
  at most K entries per row, stored as a `sparse_link.SparseLink` in the
  state's `link`, updated and read in O(N K) instead of O(N^2).
  """

  def __init__(
    self,
    memory_size: int,
    num_writes: int,
    name: str = 'temporal_linkage',
    fast_kernels: bool = False,
    sparsity: int = 0,
  ):
    """Constructs a temporal linkage.

    Args:
      memory_size: number of memory locations, N.
      num_writes: number of write heads, Wr.
      name: module name.
      fast_kernels: whether `update_and_read` runs the speed kernel
        `dnc.kernels.link_update_and_read` (same values, a hand-written
        gradient) instead of the plain functions (the dense link only).
      sparsity: K, the sparse link matrix's entries per row (0: the dense
        link matrix); at most `memory_size`.
    """
    super().__init__(name=name)
    util.check_positive_int(memory_size, 'memory_size')
    util.check_positive_int(num_writes, 'num_writes')
    util.check_bool(fast_kernels, 'fast_kernels')
    if (
      isinstance(sparsity, bool)
      or not isinstance(sparsity, int)
      or not 0 <= sparsity <= memory_size
    ):
      raise ValueError(
        f'`sparsity` must be an integer in [0, memory_size = {memory_size}] '
        f'(0: the dense link), got {sparsity!r}.'
      )
    self._memory_size = memory_size
    self._num_writes = num_writes
    self._fast_kernels = fast_kernels
    self._sparsity = sparsity

  def __call__(
    self, write_weights: tf.Tensor, prev_state: TemporalLinkageState
  ) -> TemporalLinkageState:
    """Records this step's writes (`temporal_link`, `precedence_weights`).

    Args:
      write_weights: `[batch_size, num_writes, memory_size]`, w_t^w.
      prev_state: `TemporalLinkageState` with `link`
        `[batch_size, num_writes, memory_size, memory_size]` and
        `precedence_weights` `[batch_size, num_writes, memory_size]`.

    Returns:
      The new `TemporalLinkageState`.
    """
    self._check_step(write_weights, prev_state)
    return TemporalLinkageState(
      link=self._link(
        prev_state.link, prev_state.precedence_weights, write_weights
      ),
      precedence_weights=precedence_weights(
        prev_state.precedence_weights, write_weights
      ),
    )

  def _check_step(
    self, write_weights: tf.Tensor, prev_state: TemporalLinkageState
  ) -> None:
    """Raises unless the arguments of a step have this module's shapes."""
    n, wr = self._memory_size, self._num_writes
    util.check_shape(write_weights, [None, wr, n], 'write_weights')
    batch_size = write_weights.shape[0]
    self.check_link(prev_state.link, batch_size, 'prev_state.link')
    util.check_shape(
      prev_state.precedence_weights,
      [batch_size, wr, n],
      'prev_state.precedence_weights',
    )

  def check_link(self, link, batch_size: int | None, name: str) -> None:
    """Raises unless `link` is this module's L (dense, or sparse)."""
    n, wr, k = self._memory_size, self._num_writes, self._sparsity
    if not k:
      util.check_shape(link, [batch_size, wr, n, n], name)
      return
    if not isinstance(link, sparse_link.SparseLink):
      raise TypeError(
        f'`{name}` must be a sparse_link.SparseLink (the module has '
        f'sparsity {k}), got {type(link).__name__}.'
      )
    util.check_shape(link.indices, [batch_size, wr, n, k], f'{name}.indices')
    util.check_shape(link.values, [batch_size, wr, n, k], f'{name}.values')
    sparse_link.check_memory_size(n, link.values.dtype)

  # The reference's names of the two updates (its tests call them).
  def _link(
    self,
    prev_link: tf.Tensor | sparse_link.SparseLink,
    prev_precedence_weights: tf.Tensor,
    write_weights: tf.Tensor,
  ) -> tf.Tensor | sparse_link.SparseLink:
    """`temporal_link` (`[batch_size, num_writes, N, N]`, L_t), or
    `sparse_link.sparse_temporal_link` with `sparsity`."""
    if self._sparsity:
      return sparse_link.sparse_temporal_link(
        prev_link, prev_precedence_weights, write_weights, self._sparsity
      )
    return temporal_link(prev_link, prev_precedence_weights, write_weights)

  def _precedence_weights(
    self, prev_precedence_weights: tf.Tensor, write_weights: tf.Tensor
  ) -> tf.Tensor:
    """`precedence_weights`: `[batch_size, num_writes, N]`, p_t."""
    return precedence_weights(prev_precedence_weights, write_weights)

  def directional_read_weights(
    self,
    link: tf.Tensor | sparse_link.SparseLink,
    prev_read_weights: tf.Tensor,
    forward: bool,
  ) -> tf.Tensor:
    """`directional_read_weights` with this module's shapes checked.

    Args:
      link: `[batch_size, num_writes, memory_size, memory_size]`, L (a
        `sparse_link.SparseLink` with `sparsity`).
      prev_read_weights: `[batch_size, num_reads, memory_size]`, w_{t-1}^r.
      forward: forwards (f_t = L w) or backwards (b_t = L^T w).

    Returns:
      `[batch_size, num_reads, num_writes, memory_size]`.
    """
    self.check_link(link, None, 'link')
    batch_size = tf.nest.flatten(link)[0].shape[0]
    util.check_shape(
      prev_read_weights,
      [batch_size, None, self._memory_size],
      'prev_read_weights',
    )
    if self._sparsity:
      return sparse_link.sparse_directional_read_weights(
        link, prev_read_weights, forward
      )
    return directional_read_weights(link, prev_read_weights, forward)

  def update_and_read(
    self,
    write_weights: tf.Tensor,
    prev_state: TemporalLinkageState,
    prev_read_weights: tf.Tensor,
  ) -> tuple[TemporalLinkageState, tf.Tensor, tf.Tensor]:
    """`__call__`, then `directional_read_weights` of the new link both ways.

    What `MemoryAccess` runs each step: with `fast_kernels`, through
    `dnc.kernels.link_update_and_read`, whose gradient keeps one link
    matrix per step instead of several.

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
    if self._sparsity:
      link = self._link(
        prev_state.link, prev_state.precedence_weights, write_weights
      )
      forward_weights = sparse_link.sparse_directional_read_weights(
        link, prev_read_weights, True
      )
      backward_weights = sparse_link.sparse_directional_read_weights(
        link, prev_read_weights, False
      )
    elif self._fast_kernels:
      link, forward_weights, backward_weights = kernels.link_update_and_read(
        prev_state.link,
        prev_state.precedence_weights,
        write_weights,
        prev_read_weights,
      )
    else:
      link = temporal_link(
        prev_state.link, prev_state.precedence_weights, write_weights
      )
      forward_weights = directional_read_weights(link, prev_read_weights, True)
      backward_weights = directional_read_weights(
        link, prev_read_weights, False
      )
    next_state = TemporalLinkageState(
      link,
      precedence_weights(prev_state.precedence_weights, write_weights),
    )
    return next_state, forward_weights, backward_weights

  @property
  def state_size(self) -> TemporalLinkageState:
    """L `[num_writes, N, N]` (with `sparsity`, a `SparseLink` of
    `[num_writes, N, K]` each) and p `[num_writes, N]`, without the batch."""
    n, wr, k = self._memory_size, self._num_writes, self._sparsity
    link = tf.TensorShape([wr, n, n])
    if k:
      link = sparse_link.SparseLink(
        indices=tf.TensorShape([wr, n, k]), values=tf.TensorShape([wr, n, k])
      )
    return TemporalLinkageState(
      link=link, precedence_weights=tf.TensorShape([wr, n])
    )

  def initial_state(
    self, batch_size: int | tf.Tensor, dtype: tf.DType = tf.float32
  ) -> TemporalLinkageState:
    """All-zero state for `batch_size` (an int or a scalar tensor)."""
    return util.zero_state(self.state_size, batch_size, dtype)


class Freeness(snt.RNNCore):
  """Memory usage u and the allocation weights that write to free locations.

  Usage rises where heads write and falls where read heads free what they
  read (`usage`). Allocation prefers the least used locations
  (`allocation`).
  """

  def __init__(
    self,
    memory_size: int,
    name: str = 'freeness',
    fast_kernels: bool = False,
    sort: bool = False,
  ):
    """Constructs a freeness module.

    Args:
      memory_size: number of memory locations, N.
      name: module name.
      fast_kernels: whether the allocation runs the speed kernel
        `dnc.kernels.allocation` (same values, a hand-written gradient that
        keeps less per step) instead of `allocation`.
      sort: whether the allocation sorts the usages (`sorted_allocation`,
        O(N log N)) instead of comparing all pairs (`allocation`, O(N^2),
        faster for the dense DNC's sizes); the same values either way.
    """
    super().__init__(name=name)
    util.check_positive_int(memory_size, 'memory_size')
    util.check_bool(fast_kernels, 'fast_kernels')
    util.check_bool(sort, 'sort')
    self._memory_size = memory_size
    self._fast_kernels = fast_kernels
    self._sort = sort

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
    return usage(prev_usage, write_weights, free_gate, read_weights)

  def write_allocation_weights(
    self, usage: tf.Tensor, write_gates: tf.Tensor, num_writes: int
  ) -> tf.Tensor:
    """`write_allocation_weights` with this module's allocation.

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
    return write_allocation_weights(
      usage, write_gates, num_writes, self._allocation
    )

  def _allocation(self, usage: tf.Tensor) -> tf.Tensor:
    """`allocation` (or its kernel) of one head: `[batch_size, N]`, a_t.

    Args:
      usage: `[batch_size, memory_size]`, u_t.
    """
    usage = tf.convert_to_tensor(usage)
    util.check_shape(usage, [None, self._memory_size], 'usage')
    if self._sort:
      return sorted_allocation(usage)
    return (
      kernels.allocation(usage) if self._fast_kernels else allocation(usage)
    )

  # The reference's names of the usage's two parts (its tests call them).
  def _usage_after_write(
    self, prev_usage: tf.Tensor, write_weights: tf.Tensor
  ) -> tf.Tensor:
    """`usage_after_write`: `[batch_size, memory_size]`."""
    return usage_after_write(prev_usage, write_weights)

  def _usage_after_read(
    self, prev_usage: tf.Tensor, free_gate: tf.Tensor, read_weights: tf.Tensor
  ) -> tf.Tensor:
    """u * psi (`retention`): `[batch_size, memory_size]`."""
    return prev_usage * retention(free_gate, read_weights)

  def retention(
    self, free_gate: tf.Tensor, read_weights: tf.Tensor
  ) -> tf.Tensor:
    """`retention` with this module's shapes checked.

    Args:
      free_gate: `[batch_size, num_reads]`, f_t, in [0, 1].
      read_weights: `[batch_size, num_reads, memory_size]`, w_{t-1}^r.

    Returns:
      `[batch_size, memory_size]`, psi_t, in [0, 1].
    """
    util.check_shape(free_gate, [None, None], 'free_gate')
    util.check_shape(
      read_weights,
      [free_gate.shape[0], free_gate.shape[1], self._memory_size],
      'read_weights',
    )
    return retention(free_gate, read_weights)

  @property
  def state_size(self) -> tf.TensorShape:
    """The usage u without the batch: `[memory_size]`."""
    return tf.TensorShape([self._memory_size])

  def initial_state(
    self, batch_size: int | tf.Tensor, dtype: tf.DType = tf.float32
  ) -> tf.Tensor:
    """All-zero usage `[batch_size, memory_size]`."""
    return util.zero_state(self.state_size, batch_size, dtype)
