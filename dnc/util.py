"""Small tensor utilities used by the DNC modules.

`batch_invert_permutation`, `batch_gather`, `one_hot` and `reduce_prod` are the
helpers of the reference design; `check_shape` and `check_positive_int` give
the argument checks of every public entry point one wording;
`matmul_by_variables` is a linear map whose weights backpropagation through
a time loop does not copy at every step; `row_major_transpose` gives XLA's
matmuls a transposed operand they read at full speed.
"""

from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

# Not in TensorFlow's public API: if it moves, `row_major_transpose` is a
# plain transpose, which XLA folds into the matmul again.
try:
  from tensorflow.compiler.tf2xla.python.xla import optimization_barrier
except ImportError:
  optimization_barrier = None

# Products over at most this many factors are written out as a chain of
# multiplies: XLA fuses them, and autodiff through them is exact at zero.
_MAX_UNROLLED_PRODUCT = 32


def batch_invert_permutation(permutations: tf.Tensor) -> tf.Tensor:
  """Inverts each permutation in a batch.

  Args:
    permutations: int32 `[batch_size, n]`; each row a permutation of `0..n-1`.

  Returns:
    int32 `[batch_size, n]`, `out[b, permutations[b, i]] = i`.
  """
  permutations = tf.convert_to_tensor(permutations)
  check_shape(permutations, [None, None], 'permutations')
  # The position of value j in a permutation is where argsort puts j.
  return tf.argsort(permutations, axis=1, stable=True)


def batch_gather(values: tf.Tensor, indices: tf.Tensor) -> tf.Tensor:
  """Gathers along the second axis, separately for each batch element.

  Args:
    values: `[batch_size, n]`.
    indices: int32 or int64 `[batch_size, k]`, entries in `[0, n)`.

  Returns:
    `[batch_size, k]`, `out[b, i] = values[b, indices[b, i]]`.
  """
  values = tf.convert_to_tensor(values)
  indices = tf.convert_to_tensor(indices)
  check_shape(values, [None, None], 'values')
  check_shape(indices, [values.shape[0], None], 'indices')
  return tf.gather(values, indices, batch_dims=1)


def one_hot(length: int, index: int) -> np.ndarray:
  """Returns a float numpy vector of `length` zeros with a 1 at `index`."""
  check_positive_int(length, 'length')
  if not 0 <= index < length:
    raise ValueError(f'`index` must be in [0, {length}), got {index}.')
  result = np.zeros(length)
  result[index] = 1
  return result


def reduce_prod(x: tf.Tensor, axis: int, name: str | None = None) -> tf.Tensor:
  """Product of `x` over `axis`, with a correct gradient when factors are 0.

  TensorFlow's `cumprod` gradient divides by its input, so a product built
  from it gives NaN (or a silently wrong gradient) at exactly zero factors,
  which the DNC produces with a full erase or a full free. Over a short static
  axis (the read or write heads) this multiplies the slices in turn; otherwise
  it uses `tf.reduce_prod`, whose gradient multiplies exclusive products
  instead of dividing.

  Args:
    x: tensor of any rank.
    axis: the axis to reduce.
    name: optional name scope.

  Returns:
    `x` with `axis` removed.
  """
  with tf.name_scope(name or 'reduce_prod'):
    x = tf.convert_to_tensor(x)
    size = x.shape[axis]
    if size is None or size > _MAX_UNROLLED_PRODUCT:
      return tf.reduce_prod(x, axis=axis)
    factors = tf.unstack(x, axis=axis)
    result = factors[0]
    for factor in factors[1:]:
      result = result * factor
    return result


def zero_state(
  state_size: Any, batch_size: int | tf.Tensor, dtype: tf.DType
) -> Any:
  """All-zero state of a core.

  Args:
    state_size: a nest of `tf.TensorShape`s, the shape of each state tensor
      without the batch dimension.
    batch_size: a positive int or a scalar int tensor (it may be dynamic).
    dtype: the dtype of every state tensor.

  Returns:
    The nest of `state_size`, each leaf zeros `[batch_size, *shape]`.
  """
  if not isinstance(batch_size, tf.Tensor):
    check_positive_int(batch_size, 'batch_size')
  return tf.nest.map_structure(
    lambda shape: tf.zeros([batch_size, *shape], dtype=dtype), state_size
  )


def check_positive_int(value: int, name: str) -> None:
  """Raises unless `value` is a positive Python (or numpy) integer."""
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise TypeError(f'`{name}` must be a positive integer, got {value!r}.')
  if value <= 0:
    raise ValueError(f'`{name}` must be a positive integer, got {value}.')


def check_shape(
  value: tf.Tensor, expected: Sequence[int | None], name: str
) -> None:
  """Raises `ValueError` unless `value`'s static shape fits `expected`.

  Args:
    value: a tensor (or anything with a `shape`).
    expected: the expected shape; `None` entries match any size, and a size
      that is not statically known in `value` matches anything.
    name: the argument name to put in the message.
  """
  shape = tf.TensorShape(value.shape)
  wanted = '[' + ', '.join('?' if d is None else str(d) for d in expected) + ']'
  if shape.rank is None:
    return
  if shape.rank != len(expected):
    raise ValueError(
      f'`{name}` must have rank {len(expected)} (shape {wanted}), got shape '
      f'{shape.as_list()}.'
    )
  for actual, want in zip(shape.as_list(), expected, strict=True):
    if actual is not None and want is not None and actual != want:
      raise ValueError(
        f'`{name}` must have shape {wanted}, got {shape.as_list()}.'
      )


def row_major_transpose(x: tf.Tensor) -> tf.Tensor:
  """`x` with its last two axes swapped, for a matmul to read row-major.

  XLA on the CPU multiplies by a transposed operand at about half the speed
  of a row-major one (the LSTM's backward matmuls at `benchmarks` C3 ran at
  35-45 GFLOP/s against 108 for its forward one; `benchmarks.matmul_layout`
  times both ways). It folds a plain transpose back into the matmul;
  behind an optimisation barrier it writes the transposed tensor instead.
  Made of loop invariants, as the weights in a backward pass are, that copy
  is made once, outside the loop.

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


def matmul_by_variables(
  inputs: tf.Tensor, variables: Sequence[tf.Variable], axis: int = 0
) -> tf.Tensor:
  """`inputs @ concat(variables, axis)`, for weights read inside a loop.

  Inside a `tf.while_loop` that is differentiated (`snt.dynamic_unroll`),
  TensorFlow keeps every value read from a variable in the loop body for
  the backward pass, one copy per time step, as if the weights changed from
  step to step. The gradient here reads the variables again instead, so a
  step stores only its `inputs`. The variables must not change between the
  forward and the backward pass (they do not within a `GradientTape`).
  The gradient for `inputs` multiplies by `row_major_transpose(weights)`.

  Args:
    inputs: `[batch_size, input_size]`.
    variables: 2-D weights that, concatenated along `axis`, make the
      `[input_size, output_size]` weight matrix.
    axis: 0 to stack the variables' rows, 1 their columns.

  Returns:
    `[batch_size, output_size]`.
  """
  handles = [variable.handle for variable in variables]
  if not tf.executing_eagerly():
    # The handles as captured by the function being built (the loop body):
    # the backward loop takes those as loop invariants, whereas it fails to
    # capture a variable that its forward body did not.
    capture = getattr(tf.compat.v1.get_default_graph(), 'capture', None)
    if capture is not None:  # Not in a TF1-style tf.Graph.
      handles = [capture(handle) for handle in handles]
  dtype = variables[0].dtype

  def concat(values):
    return values[0] if len(values) == 1 else tf.concat(values, axis)

  @tf.custom_gradient
  def matmul(inputs, weights):
    def grad(d_outputs):
      weights = concat(
        [
          tf.raw_ops.ReadVariableOp(resource=handle, dtype=dtype)
          for handle in handles
        ]
      )
      d_inputs = tf.matmul(d_outputs, row_major_transpose(weights))
      return d_inputs, tf.matmul(inputs, d_outputs, transpose_a=True)

    return tf.matmul(inputs, weights), grad

  # Reading the variables themselves here lets a tape watch them.
  return matmul(inputs, concat([tf.convert_to_tensor(v) for v in variables]))
