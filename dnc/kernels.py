"""Speed kernels: the DNC's maths with hand-written gradients.

A module built with `fast_kernels=True` (`dnc.DNC`, `MemoryAccess`,
`TemporalLinkage`, `Freeness`, the LSTMs of `dnc.controllers`) calls these
instead of TensorFlow's gradient of the plain functions. Each kernel is a
`tf.custom_gradient` whose forward pass *calls the plain function* of
`dnc.addressing` or `dnc.util`, so the values are those of the equation as
written there, and whose backward pass is written by hand:

- `matmul` (for `util.matmul`: the LSTM, the interface and the output
  layer): its gradient reads the weights again from their variables
  instead of keeping a copy of them for every step of the loop.
- `link_update_and_read` (for `addressing.temporal_link` followed by
  `addressing.directional_read_weights` both ways): its gradient keeps the
  previous link matrix alone and does the N^2 work of the backward pass as
  fused elementwise reductions.
- `allocation` (for `addressing.allocation`): its gradient keeps only the
  usage and rebuilds the order of the locations from it.

Their gradients are checked against TensorFlow's gradient of the plain
functions by `check_gradients`, which the tests run in float64, eagerly,
in `tf.function` and under XLA. **If you change one of those plain
functions, either build with `fast_kernels=False` or update the kernel's
gradient here, and run `check_gradients()`:** the forward pass follows
your change, the hand-written gradient does not.

The kernels pay off where a step differentiated through a `tf.while_loop`
is compiled with XLA (as `train.py` compiles it); the figures are in
`benchmarks/README.md`.
"""

from collections.abc import Callable
from collections.abc import Sequence
import functools
from typing import Any

import numpy as np
import tensorflow as tf

from dnc import addressing
from dnc import util


@functools.cache
def _optimization_barrier() -> Callable[..., Any] | None:
  """XLA's optimisation barrier, or None where TensorFlow does not have it.

  The one symbol this library takes from outside TensorFlow's public API,
  imported here alone and lazily, for the measured gain of
  `row_major_transpose` (`benchmarks/README.md`); without it the transpose
  is a plain one (same values, slower backward matmuls under XLA).
  """
  try:
    from tensorflow.compiler.tf2xla.python import xla
  except ImportError:
    return None
  return getattr(xla, 'optimization_barrier', None)


def row_major_transpose(x: tf.Tensor) -> tf.Tensor:
  """`x` with its last two axes swapped, for a matmul to read row-major.

  XLA folds a plain transpose back into the matmul that consumes it, which
  then reads its operand along the columns at about half the speed; behind
  an optimisation barrier it writes the transposed tensor instead. Made of
  loop invariants, as the weights in a backward pass are, that copy is
  made once, outside the loop.

  Args:
    x: `[..., rows, columns]`.

  Returns:
    `[..., columns, rows]`, the same values as `tf.linalg.matrix_transpose`.
  """
  transposed = tf.linalg.matrix_transpose(x)
  barrier = _optimization_barrier()
  if barrier is None:
    return transposed
  return _kept(transposed, barrier)


def _kept(x: tf.Tensor, barrier: Callable[..., Any]) -> tf.Tensor:
  """`x` through an optimisation barrier, which has no gradient of its own."""

  @tf.custom_gradient
  def kept(x):
    (y,) = barrier(x)
    return y, lambda upstream: upstream

  return kept(x)


def _builds_from(graph: Any, forward_graph: Any) -> bool:
  """Whether ops built in `graph` can read what `forward_graph` captured.

  True in `forward_graph` itself, in a graph nested in it, and in the
  gradient graph of a `while` body built beside it (a graph nested in the
  same function). False where `tf.saved_model.save` traces the gradient on
  its own, outside the function.
  """
  parents = {id(forward_graph)}
  outer = getattr(forward_graph, 'outer_graph', None)
  if getattr(outer, 'outer_graph', None) is not None:
    # A function graph (the root graph, where a SavedModel traces the
    # gradient again, has no `outer_graph` of its own).
    parents.add(id(outer))
  while graph is not None:
    if id(graph) in parents:
      return True
    graph = getattr(graph, 'outer_graph', None)
  return False


def matmul(
  inputs: tf.Tensor, variables: Sequence[tf.Variable], axis: int = 0
) -> tf.Tensor:
  """`util.matmul(inputs, variables, axis)`, for weights read inside a loop.

  Inside a `tf.while_loop` that is differentiated, TensorFlow keeps every
  value read from a variable in the loop body for the backward pass, one
  copy per time step, as if the weights changed from step to step. The
  gradient here reads the variables again instead, so a step keeps only
  its `inputs`; the variables must not change between the forward and the
  backward pass (they do not within a `GradientTape`). The backward body
  of a `while` loop can read only the handles that the forward body
  captured, so they are captured here. Where a SavedModel traces the
  gradient on its own it uses the weights the forward pass read.

  Args:
    inputs: `[batch_size, input_size]`.
    variables: 2-D `tf.Variable`s that, concatenated along `axis`, make the
      `[input_size, output_size]` weight matrix.
    axis: 0 to stack the variables' rows, 1 their columns.

  Returns:
    `[batch_size, output_size]`.
  """
  dtype = variables[0].dtype
  forward_graph, handles = None, None
  if not tf.executing_eagerly():
    # Only here: a distributed variable has handles in a replica's context
    # alone, where a training step runs, but a core may be built outside.
    forward_graph = tf.compat.v1.get_default_graph()
    handles = [variable.handle for variable in variables]
    capture = getattr(forward_graph, 'capture', None)
    if capture is not None:  # Not in a TF1-style tf.Graph.
      handles = [capture(handle) for handle in handles]

  @tf.custom_gradient
  def product(inputs, *weights):
    def grad(d_outputs):
      if forward_graph is None:
        weights_again = [tf.convert_to_tensor(v) for v in variables]
      elif _builds_from(tf.compat.v1.get_default_graph(), forward_graph):
        weights_again = [
          tf.raw_ops.ReadVariableOp(resource=handle, dtype=dtype)
          for handle in handles
        ]
      else:
        weights_again = weights
      matrix = (
        weights_again[0]
        if len(weights_again) == 1
        else tf.concat(weights_again, axis)
      )
      d_inputs = tf.matmul(d_outputs, row_major_transpose(matrix))
      d_matrix = tf.matmul(inputs, d_outputs, transpose_a=True)
      if len(weights) == 1:
        return d_inputs, d_matrix
      sizes = [w.shape[axis] for w in weights]
      return (d_inputs, *tf.split(d_matrix, sizes, axis))

    return util.matmul(inputs, weights, axis), grad

  # Reading the variables themselves here lets a tape watch them.
  return product(inputs, *[tf.convert_to_tensor(v) for v in variables])


def _link_grad(
  prev_link: tf.Tensor,
  prev_precedence_weights: tf.Tensor,
  write_weights: tf.Tensor,
  d_link: tf.Tensor,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """The gradient of `addressing.temporal_link` with respect to its inputs.

  Args:
    prev_link: `[B, Wr, N, N]`, L_{t-1}.
    prev_precedence_weights: `[B, Wr, N]`, p_{t-1}.
    write_weights: `[B, Wr, N]`, w_t^w.
    d_link: `[B, Wr, N, N]`, the gradient of L_t.

  Returns:
    The gradients of L_{t-1}, p_{t-1} and w_t^w.
  """
  memory_size, dtype = prev_link.shape[-1], prev_link.dtype
  write_weights_i = tf.expand_dims(write_weights, 3)  # w[i]
  write_weights_j = tf.expand_dims(write_weights, 2)  # w[j]
  prev_precedence_weights_j = tf.expand_dims(prev_precedence_weights, 2)
  d_link *= 1 - tf.eye(memory_size, dtype=dtype)
  d_prev_link = d_link * (1 - write_weights_i - write_weights_j)
  # w[k] enters row k (as w_i) and column k (as w_j).
  d_write_weights = tf.reduce_sum(
    d_link * (prev_precedence_weights_j - prev_link), 3
  ) - tf.reduce_sum(d_link * prev_link, 2)
  d_prev_precedence_weights = tf.reduce_sum(d_link * write_weights_i, 2)
  return d_prev_link, d_prev_precedence_weights, d_write_weights


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
  One matmul against L_{t-1}, which the backward pass keeps anyway, instead
  of one against L_t, which it would then keep as well.

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

  The forward pass is `addressing.temporal_link` and
  `addressing.directional_read_weights` both ways. The gradient keeps only
  the inputs, L_{t-1} among them (not L_t, which the next step carries),
  and takes the reads' gradients through L_{t-1} (`_through_next_link`).

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
    link = addressing.temporal_link(
      prev_link, prev_precedence_weights, write_weights
    )
    forward = addressing.directional_read_weights(link, read_weights, True)
    backward = addressing.directional_read_weights(link, read_weights, False)

    def grad(d_link, d_forward, d_backward):
      heads = per_write_head(read_weights)
      d_forward, d_backward = map(per_read_head, (d_forward, d_backward))
      # dL_t: the next step's and, from the reads, df w^T + w db^T.
      # `_link_grad` uses it in four passes: XLA would recompute an
      # elementwise sum of outer products in each, but writes the result
      # of a matmul (here with K = 2 num_reads) once. Its left operand is
      # transposed in memory first, which XLA's matmul reads faster.
      d_link += tf.matmul(
        row_major_transpose(tf.concat([d_forward, heads], 2)),
        tf.concat([heads, d_backward], 2),
      )
      d_prev_link, d_prev_precedence_weights, d_write_weights = _link_grad(
        prev_link, prev_precedence_weights, write_weights, d_link
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

    return (link, forward, backward), grad

  return update_and_read(
    prev_link, prev_precedence_weights, write_weights, read_weights
  )


def allocation(usage: tf.Tensor) -> tf.Tensor:
  """`addressing.allocation(usage)`, with a gradient that keeps the usage.

  The backward pass builds the order of the locations again from the usage
  instead of keeping the `[batch_size, N, N]` comparison of every step; it
  keeps the usage and the free list's products.
  The usage is kept in both shapes it is compared in: inside a
  differentiated while loop, XLA fuses the backward pass's read of a kept
  tensor into the comparison, and one tensor read there as both column and
  row was read again for every pair.

  Args:
    usage: `[batch_size, memory_size]`, u_t.

  Returns:
    `[batch_size, memory_size]`, a_t.
  """

  @tf.custom_gradient
  def kernel(usage):
    usage_j = tf.expand_dims(usage, 2)  # Kept for the backward pass.
    usage_i = tf.expand_dims(usage, 1)
    # Kept too. The same ops as inside `allocation`, which XLA computes once.
    prefix = addressing.free_list_products(usage)

    def grad(d_allocation):
      # a_j = (1 - c_j) prod_{i before j} c_i, c = eps + (1 - eps) u.
      clamped_usage = addressing.clamped_usage(tf.squeeze(usage_j, 2))
      before = addressing.comes_before(usage_j, usage_i)  # [B, j, i]
      d_log_prefix = d_allocation * (1 - clamped_usage) * prefix
      d_log_usage = tf.reduce_sum(before * tf.expand_dims(d_log_prefix, 2), 1)
      d_clamped_usage = d_log_usage / clamped_usage - d_allocation * prefix
      return (1 - addressing.EPSILON) * d_clamped_usage

    return addressing.allocation(usage), grad

  return kernel(usage)


def _random_inputs(
  rng: np.random.RandomState, shapes: Sequence[Sequence[int]]
) -> list[tf.Tensor]:
  """Weights in (0, 1), each row summing to less than 1, in float64."""
  tensors = []
  for shape in shapes:
    x = rng.uniform(0.01, 1.0, size=shape)
    tensors.append(tf.constant(x / (x.sum(-1, keepdims=True) + 0.5)))
  return tensors


def _cases() -> dict[str, tuple[Callable, Callable, list[tf.Tensor]]]:
  """Each kernel, its plain function and float64 inputs to compare them on."""
  rng = np.random.RandomState(0)
  batch_size, num_writes, num_reads, memory_size = 2, 2, 3, 5
  link_inputs = _random_inputs(
    rng,
    [
      (batch_size, num_writes, memory_size, memory_size),
      (batch_size, num_writes, memory_size),
      (batch_size, num_writes, memory_size),
      (batch_size, num_reads, memory_size),
    ],
  )

  def plain_link_update_and_read(prev_link, prev_precedence, write, read):
    link = addressing.temporal_link(prev_link, prev_precedence, write)
    return (
      link,
      addressing.directional_read_weights(link, read, True),
      addressing.directional_read_weights(link, read, False),
    )

  usage = tf.constant(rng.uniform(size=(batch_size, 7)))
  weights = [
    tf.Variable(rng.randn(4, 3)),
    tf.Variable(rng.randn(4, 2)),
  ]
  inputs = tf.constant(rng.randn(batch_size, 4))
  return {
    'matmul': (
      lambda x: matmul(x, weights, axis=1),
      lambda x: util.matmul(x, weights, axis=1),
      [inputs],
    ),
    'link_update_and_read': (
      link_update_and_read,
      plain_link_update_and_read,
      link_inputs,
    ),
    'allocation': (allocation, addressing.allocation, [usage]),
  }


def check_gradients(
  mode: str = 'eager', tolerance: float = 1e-9
) -> dict[str, float]:
  """Compares each kernel with TensorFlow's gradient of its plain function.

  On float64 inputs, for random output cotangents: the outputs and the
  gradients with respect to every input (and, for `matmul`, every
  variable). Run it after changing a plain function of `dnc.addressing`
  or `dnc.util` that a kernel stands in for.

  Args:
    mode: 'eager', 'function' (`tf.function`) or 'xla'
      (`tf.function(jit_compile=True)`).
    tolerance: the largest absolute difference allowed.

  Returns:
    For each kernel, the largest absolute difference found.

  Raises:
    ValueError: an unknown `mode`.
    AssertionError: a kernel differs from its plain function by more than
      `tolerance`, naming the kernel and what differs.
  """
  if mode not in ('eager', 'function', 'xla'):
    raise ValueError(
      f"`mode` must be 'eager', 'function' or 'xla', got {mode!r}."
    )
  errors = {}
  for name, (kernel, plain, inputs) in _cases().items():

    def values_and_gradients(fn, inputs=inputs):
      rng = np.random.RandomState(1)  # The same cotangents for both.
      outputs = tf.nest.flatten(fn(*inputs))
      cotangents = [tf.constant(rng.randn(*o.shape), o.dtype) for o in outputs]

      def run(*inputs):
        with tf.GradientTape() as tape:
          tape.watch(inputs)
          outputs = tf.nest.flatten(fn(*inputs))
          pairs = zip(outputs, cotangents, strict=True)
          loss = sum(tf.reduce_sum(o * c) for o, c in pairs)
        return outputs, tape.gradient(
          loss, [*inputs, *tape.watched_variables()]
        )

      if mode != 'eager':
        run = tf.function(run, jit_compile=mode == 'xla')
      return run(*inputs)

    got_outputs, got_gradients = values_and_gradients(kernel)
    want_outputs, want_gradients = values_and_gradients(plain)
    worst = 0.0
    for what, got, want in (
      ('output', got_outputs, want_outputs),
      ('gradient', got_gradients, want_gradients),
    ):
      for i, (g, w) in enumerate(zip(got, want, strict=True)):
        error = float(np.max(np.abs(np.asarray(g) - np.asarray(w))))
        if not error <= tolerance:
          raise AssertionError(
            f"kernels.{name}: {what} {i} differs from TensorFlow's of the "
            f'plain function by {error:.3g} (tolerance {tolerance:g}); '
            'update its gradient in dnc/kernels.py or build with '
            'fast_kernels=False.'
          )
        worst = max(worst, error)
    errors[name] = worst
  return errors
