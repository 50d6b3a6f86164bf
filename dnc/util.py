"""Small tensor utilities used by the DNC modules.

`batch_invert_permutation`, `batch_gather`, `one_hot` and `reduce_prod` are
the helpers of the reference design; `matmul` and `linear` are the plain
products by weights that `dnc.kernels.matmul` speeds up; `check_shape`,
`check_positive_int` and `check_bool` give the argument checks of every
public entry point one wording.
"""

from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

import numpy as np
import sonnet as snt
import tensorflow as tf

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
  # out[b, p[b, i]] = i: one scatter, O(n) (a second sort would be O(n log
  # n), and XLA's sort on CPU is slow: benchmarks/README.md).
  shape = tf.shape(permutations)
  rows = tf.broadcast_to(tf.range(shape[0])[:, None], shape)
  positions = tf.broadcast_to(
    tf.range(shape[1], dtype=permutations.dtype)[None], shape
  )
  return tf.scatter_nd(
    tf.stack([tf.cast(rows, permutations.dtype), permutations], -1),
    positions,
    tf.cast(shape, permutations.dtype),
  )


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


def scatter_add(indices: tf.Tensor, values: tf.Tensor, size: int) -> tf.Tensor:
  """Entries as vectors: `values[..., e]` added at `indices[..., e]`.

  Args:
    indices: `[..., S]`, in `[0, size)`, int32 or floats holding integers;
      they may repeat (their values add up).
    values: `[..., S]`.
    size: the vectors' length.

  Returns:
    `[..., size]`.
  """
  values = tf.convert_to_tensor(values)
  leading = tf.shape(values)[:-1]
  entries = values.shape[-1]
  values = tf.reshape(values, [-1, entries])  # [G, S]
  groups = tf.shape(values)[0]
  slots = tf.reshape(tf.range(groups) * size, [-1, 1]) + tf.reshape(
    tf.cast(indices, tf.int32), [-1, entries]
  )
  dense = tf.math.unsorted_segment_sum(values, slots, groups * size)
  return tf.reshape(dense, tf.concat([leading, [size]], 0))


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


def matmul(
  inputs: tf.Tensor,
  weights: Sequence[tf.Tensor | tf.Variable],
  axis: int = 0,
) -> tf.Tensor:
  """`inputs @ concat(weights, axis)`: a product by weights, plainly.

  `dnc.kernels.matmul` takes the same arguments and gives the same values
  with a gradient that reads variables again instead of keeping them; the
  modules take either as their `matmul`.

  Args:
    inputs: `[batch_size, input_size]`.
    weights: 2-D weights that, concatenated along `axis`, make the
      `[input_size, output_size]` weight matrix (0 stacks their rows, 1
      their columns).
    axis: 0 or 1.

  Returns:
    `[batch_size, output_size]`.
  """
  weights = [tf.convert_to_tensor(w) for w in weights]
  matrix = weights[0] if len(weights) == 1 else tf.concat(weights, axis)
  return tf.matmul(inputs, matrix)


def linear(
  modules: Sequence[snt.Linear],
  inputs: tf.Tensor,
  matmul: Callable[..., tf.Tensor] = matmul,
) -> tf.Tensor:
  """The outputs of several `snt.Linear`s of `inputs`, concatenated.

  One product by all their weights at once (at the DNC's interface sizes
  per-op overhead, not arithmetic, dominates), so the same variables and
  values as calling each module.

  Args:
    modules: `snt.Linear`s with biases, built here on first use.
    inputs: `[batch_size, input_size]`.
    matmul: `matmul` above or `dnc.kernels.matmul`.

  Returns:
    `[batch_size, sum of the modules' output sizes]`.
  """
  for module in modules:
    if not hasattr(module, 'w'):
      module(inputs)  # Creates its variables; the output is not used.
  biases = [module.b for module in modules]
  bias = biases[0] if len(biases) == 1 else tf.concat(biases, 0)
  return matmul(inputs, [module.w for module in modules], axis=1) + bias


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


# The dtypes the DNC computes in. float16 and bfloat16 lose what its
# products of many usages (the allocation) and sums of many small weights
# (the reads) need; mixed precision (a low-precision compute dtype over
# float32 variables) is refused for the same reason.
DTYPES = (tf.float32, tf.float64)


def check_dtype(dtype: Any, name: str) -> tf.DType:
  """`dtype` as a `tf.DType`, unless it is not one the DNC computes in.

  Args:
    dtype: anything `tf.as_dtype` takes.
    name: what to call it in the message.

  Returns:
    `tf.float32` or `tf.float64`.
  """
  dtype = tf.as_dtype(dtype)
  if dtype not in DTYPES:
    raise TypeError(
      f'`{name}` must be float32 or float64 (the DNC computes in one of '
      f'them; float16, bfloat16 and mixed precision are not supported), '
      f'got {dtype.name}.'
    )
  return dtype


def check_bool(value: Any, name: str) -> None:
  """Raises unless `value` is `True` or `False`."""
  if not isinstance(value, bool):
    raise TypeError(f'`{name}` must be True or False, got {value!r}.')


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
