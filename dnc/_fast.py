"""The speed kernels of the DNC, used where a module has `fast_kernels=True`.

`addressing`, `access` and `dnc` state the DNC's maths as plain Sonnet 2
modules, and TensorFlow differentiates them. That is exact, but a training
step differentiated through a `tf.while_loop` (`snt.dynamic_unroll` in a
`tf.function`) and compiled with XLA on a CPU spends most of its time on
work this module avoids. Everything here computes the same values as the
plain functions it stands in for, which `tests/fast_test.py` checks
(outputs, states and gradients, float32 and float64, eager, `tf.function`
and XLA) along with numerical gradients:

- `link_update_and_read` stands in for `TemporalLinkage.__call__` followed
  by `TemporalLinkage.directional_read_weights` in both directions. Its
  hand-written gradient keeps one link matrix per step instead of several
  `[batch, num_writes, N, N]` intermediates, and does the N^2 work of the
  backward pass as fused elementwise reductions rather than batched
  matmuls with a contracted axis of num_reads, which XLA runs slowly.
- `allocation` stands in for `Freeness._allocation`'s sort: the same
  function of the usage written with pairwise comparisons, a few dense ops
  that XLA fuses, with a gradient that keeps only the usage.
- `matmul_by_variables` and `LSTM` stand in for `snt.Linear` and `snt.LSTM`
  (same variables): their gradients read the weights again instead of
  keeping a copy of them for every step of the loop.
- `row_major_transpose` makes XLA write a transposed operand of the
  backward matmuls, which XLA's CPU matmul reads faster than one it has to
  contract along its columns.

The figures behind each choice are in `benchmarks/README.md`.
"""

from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

import sonnet as snt
import tensorflow as tf

# Not in TensorFlow's public API: if it moves, `row_major_transpose` is a
# plain transpose, which XLA folds into the matmul again (slower, same
# values).
try:
  from tensorflow.compiler.tf2xla.python.xla import optimization_barrier
except ImportError:
  optimization_barrier = None

# Not in TensorFlow's public API either: without it, `fast_kernels=None`
# means the plain path everywhere.
try:
  from tensorflow.python.ops import control_flow_util
except ImportError:
  control_flow_util = None

# As in `addressing`: keeps the allocation's products away from zero.
_EPSILON = 1e-6


def enabled(fast_kernels: bool | None) -> bool:
  """Whether a module built with `fast_kernels` runs these kernels now.

  `True` and `False` decide. `None` (the default of every module) means:
  where the step is being traced for XLA (`tf.function(jit_compile=True)`,
  as `train.py` and `benchmarks.train_step` compile it), which is where
  they were measured to pay off. Elsewhere (eagerly, in a plain
  `tf.function`) the modules run TensorFlow's own gradients, which a
  SavedModel also keeps for fine-tuning: a custom gradient inside a
  `while` loop can be saved but not differentiated after reloading.

  Args:
    fast_kernels: the module's constructor argument.

  Returns:
    Whether to use this module's kernels in the step being built.
  """
  if fast_kernels is not None:
    return bool(fast_kernels)
  if tf.executing_eagerly() or control_flow_util is None:
    return False
  return control_flow_util.GraphOrParentsInXlaContext(
    tf.compat.v1.get_default_graph()
  )


def check_switch(fast_kernels: Any) -> None:
  """Raises unless `fast_kernels` is `None`, `True` or `False`."""
  if fast_kernels is not None and not isinstance(fast_kernels, bool):
    raise TypeError(
      f'`fast_kernels` must be None (on under XLA), True or False, got '
      f'{fast_kernels!r}.'
    )


def row_major_transpose(x: tf.Tensor) -> tf.Tensor:
  """`x` with its last two axes swapped, for a matmul to read row-major.

  XLA folds a plain transpose back into the matmul that consumes it, which
  then reads its operand along the columns; behind an optimisation barrier
  it writes the transposed tensor instead. Made of loop invariants, as the
  weights in a backward pass are, that copy is made once, outside the loop.

  Args:
    x: `[..., rows, columns]`.

  Returns:
    `[..., columns, rows]`, the same values as `tf.linalg.matrix_transpose`.
  """
  transposed = tf.linalg.matrix_transpose(x)
  if optimization_barrier is None:
    return transposed
  return _kept(transposed)


@tf.custom_gradient
def _kept(x: tf.Tensor) -> tuple[tf.Tensor, Callable]:
  """`x` through an XLA optimisation barrier, which has no gradient."""
  (kept,) = optimization_barrier(x)
  return kept, lambda upstream: upstream


def _builds_from(graph: Any, forward_graph: Any) -> bool:
  """Whether ops built in `graph` can use tensors of `forward_graph`.

  They can in the graph itself, in functions nested in it (`outer_graph`)
  and in the gradient graph of a `while` or `cond` body built there (its
  `_forward_graph`, a private attribute of TensorFlow's control flow v2).
  """
  graphs = [graph]
  for _ in range(1000):  # Far deeper than any nesting of functions.
    if not graphs:
      return False
    graph = graphs.pop()
    if graph is forward_graph:
      return True
    for parent in ('outer_graph', '_forward_graph'):
      if getattr(graph, parent, None) is not None:
        graphs.append(getattr(graph, parent))
  return False


def matmul_by_variables(
  inputs: tf.Tensor, variables: Sequence[tf.Variable], axis: int = 0
) -> tf.Tensor:
  """`inputs @ concat(variables, axis)`, for weights read inside a loop.

  Inside a `tf.while_loop` that is differentiated, TensorFlow keeps every
  value read from a variable in the loop body for the backward pass, one
  copy per time step, as if the weights changed from step to step. The
  gradient here reads the variables again instead, so a step keeps only its
  `inputs`. The variables must not change between the forward and the
  backward pass (they do not within a `GradientTape`).

  The backward body of a `while` loop reads the handles captured by the
  forward body, which it takes as loop invariants (it cannot capture a
  handle that the forward body did not). `tf.saved_model.save` traces the
  gradient again, outside the forward function, where those handles are
  out of reach and a captured handle cannot be saved: that trace uses the
  weights the forward pass read, so a reloaded model's gradient is the
  same, and keeps the weights once per step as a plain matmul would.

  Args:
    inputs: `[batch_size, input_size]`.
    variables: 2-D weights that, concatenated along `axis`, make the
      `[input_size, output_size]` weight matrix.
    axis: 0 to stack the variables' rows, 1 their columns.

  Returns:
    `[batch_size, output_size]`.
  """
  handles = [variable.handle for variable in variables]
  forward_graph = None
  if not tf.executing_eagerly():
    forward_graph = tf.compat.v1.get_default_graph()
    capture = getattr(forward_graph, 'capture', None)
    if capture is not None:  # Not in a TF1-style tf.Graph.
      handles = [capture(handle) for handle in handles]
  dtype = variables[0].dtype

  def concat(values):
    return values[0] if len(values) == 1 else tf.concat(values, axis)

  @tf.custom_gradient
  def matmul(inputs, weights):
    def grad(d_outputs):
      if forward_graph is None or _builds_from(
        tf.compat.v1.get_default_graph(), forward_graph
      ):
        read = concat(
          [
            tf.raw_ops.ReadVariableOp(resource=handle, dtype=dtype)
            for handle in handles
          ]
        )
      else:
        read = weights  # What the forward pass read.
      d_inputs = tf.matmul(d_outputs, row_major_transpose(read))
      d_weights = tf.matmul(inputs, d_outputs, transpose_a=True)
      return d_inputs, d_weights

    return tf.matmul(inputs, weights), grad

  # Reading the variables themselves here lets a tape watch them.
  return matmul(inputs, concat([tf.convert_to_tensor(v) for v in variables]))


def linear(module: snt.Linear, inputs: tf.Tensor) -> tf.Tensor:
  """`module(inputs)` through `matmul_by_variables`; the same variables.

  Args:
    module: an `snt.Linear` (with a bias), built here on first use.
    inputs: `[batch_size, input_size]`.

  Returns:
    `[batch_size, module.output_size]`.
  """
  if not hasattr(module, 'w'):
    module(inputs)  # Creates its variables; the output is not used.
  return matmul_by_variables(inputs, [module.w]) + module.b


def linears(modules: Sequence[snt.Linear], inputs: tf.Tensor) -> tf.Tensor:
  """The outputs of several `snt.Linear`s of `inputs`, concatenated.

  One matmul for all of them instead of one each: at the DNC's interface
  sizes per-op overhead, not arithmetic, dominates.

  Args:
    modules: `snt.Linear`s (with biases), built here on first use.
    inputs: `[batch_size, input_size]`.

  Returns:
    `[batch_size, sum of the modules' output sizes]`.
  """
  for module in modules:
    if not hasattr(module, 'w'):
      module(inputs)  # Creates its variables; the output is not used.
  weights = [module.w for module in modules]
  biases = tf.concat([module.b for module in modules], axis=0)
  return matmul_by_variables(inputs, weights, axis=1) + biases


class LSTM(snt.LSTM):
  """`snt.LSTM`, same variables and maths, storing less for backpropagation.

  Its matmuls go through `matmul_by_variables` where `enabled(fast_kernels)`
  and are `snt.LSTM`'s own elsewhere. It reads Sonnet's private
  `_initialize`, `_w_i` and `_w_h` (dm-sonnet 2.0), which is why it lives
  here, and why `DNC(fast_kernels=False)` builds an `snt.LSTM` instead.
  """

  def __init__(
    self,
    hidden_size: int,
    name: str = 'lstm',
    fast_kernels: bool | None = None,
    **kwargs: Any,
  ):
    """Takes the arguments of `snt.LSTM`, with its default name."""
    super().__init__(hidden_size, name=name, **kwargs)
    check_switch(fast_kernels)
    self._fast_kernels = fast_kernels

  def __call__(
    self, inputs: tf.Tensor, prev_state: snt.LSTMState
  ) -> tuple[tf.Tensor, snt.LSTMState]:
    """`snt.LSTM.__call__`: `[batch_size, input_size]` in, same outputs."""
    if not enabled(self._fast_kernels):
      return super().__call__(inputs, prev_state)
    self._initialize(inputs)  # Sonnet's checks; creates the variables.
    gates = (
      matmul_by_variables(inputs, [self._w_i])
      + matmul_by_variables(prev_state.hidden, [self._w_h])
      + self.b
    )
    input_gate, forget_gate, cell_update, output_gate = tf.split(gates, 4, 1)
    next_cell = tf.sigmoid(forget_gate) * prev_state.cell
    next_cell += tf.sigmoid(input_gate) * tf.tanh(cell_update)
    next_hidden = tf.sigmoid(output_gate) * tf.tanh(next_cell)
    if self.projection is not None:
      next_hidden = matmul_by_variables(next_hidden, [self.projection])
    return next_hidden, snt.LSTMState(hidden=next_hidden, cell=next_cell)


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
    grad: maps dL_t to the gradients of the three arguments.
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


def link_update_and_read(
  prev_link: tf.Tensor,
  prev_precedence_weights: tf.Tensor,
  write_weights: tf.Tensor,
  read_weights: tf.Tensor,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """L_t, then f_t = L_t w and b_t = L_t^T w for each read head, in one.

  The values of `TemporalLinkage._link` and of
  `TemporalLinkage.directional_read_weights` in both directions. The reads
  are taken through L_{t-1} (`_through_next_link`), so L_t has a single use
  (the next step), XLA writes it once, and the backward pass keeps L_{t-1}
  alone: one `[batch, num_writes, N, N]` tensor per step instead of two.

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
      # elementwise sum of outer products in each, but writes the result
      # of a matmul (here with K = 2 num_reads) once. Its left operand is
      # transposed in memory first, which XLA's matmul reads faster.
      d_link += tf.matmul(
        row_major_transpose(tf.concat([d_forward, heads], 2)),
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


def allocation(usage: tf.Tensor) -> tf.Tensor:
  """`Freeness._allocation` without a sort: a_t for one write head.

  Sorting locations by ascending usage phi,
  `a[phi_k] = (1 - u[phi_k]) * prod_{m < k} u[phi_m]`. Instead of sorting,
  each location multiplies the usages of the locations that come before it
  in that order, found by comparing all pairs: the same function with the
  same gradient (the order itself has none), and for the memory sizes used
  in practice a few fused dense ops are much faster than a sort, a
  cumulative product and a scatter. Ties go to the lower index, as in the
  stable sort.

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
    index = tf.range(memory_size)
    lower_index = tf.expand_dims(index, 0) < tf.expand_dims(index, 1)
    before = (usage_j < usage_i) | ((usage_j == usage_i) & lower_index)
    return tf.cast(before, usage_i.dtype)

  def clamp(usage):
    return _EPSILON + (1 - _EPSILON) * usage

  @tf.custom_gradient
  def pairwise_allocation(usage):
    # The backward pass recomputes the order instead of keeping it, from
    # the usage kept in both shapes it is compared in: inside a
    # differentiated while loop, XLA fuses the backward pass's read of a
    # kept tensor into the `[B, N, N]` comparison, and one tensor read
    # there as both column and row was read again for every pair. It
    # recomputes the clamped usage too, so a step keeps three tensors: the
    # usage in its two shapes and the prefix products.
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

  return pairwise_allocation(usage)
