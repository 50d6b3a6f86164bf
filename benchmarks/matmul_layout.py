"""XLA matmuls against a transposed operand, and against a row-major copy.

  python -m benchmarks.matmul_layout

The backward pass's matmuls at C3's sizes, each inside a compiled 34-step
`while` loop as in the training step, once reading its operand transposed
(`transpose_a`/`transpose_b`, which XLA turns into a dot that contracts the
operand's columns) and once through `kernels.row_major_transpose`. Prints the
median microseconds per time step of each, timed in alternating calls, and
their ratio: the measurement behind `row_major_transpose`.
"""

import argparse
import statistics
import time

import numpy as np

# name: (shape of the transposed operand, of the other operand, which side
# the transposed one is on).
_CASES = {
  "LSTM backward, d_inputs for the hidden state's weights": (
    (256, 1024),
    (16, 1024),
    'right',
  ),
  "LSTM backward, d_inputs for the input's weights": (
    (138, 1024),
    (16, 1024),
    'right',
  ),
  "link gradient's outer products": ((16, 8, 128), (16, 8, 128), 'left'),
}


def _loop(transposed, others, side: str, row_major: bool):
  """A compiled loop summing `others[t] @ op(transposed)` over time steps.

  Args:
    transposed: the operand read transposed, `[rows, columns]` (a loop
      invariant, as weights are) or `[time_steps, ..., rows, columns]`.
    others: `[time_steps, ...]`, the other operand at each time step.
    side: which side of the product `transposed` is on, 'left' or 'right'.
    row_major: read `transposed` through `kernels.row_major_transpose`.
  """
  import tensorflow as tf

  from dnc import kernels

  time_steps = others.shape[0]
  invariant = transposed.shape.rank == 2

  def product(t):
    operand = transposed if invariant else transposed[t]
    if row_major:
      operand = kernels.row_major_transpose(operand)
    if side == 'right':
      return tf.matmul(others[t], operand, transpose_b=not row_major)
    return tf.matmul(operand, others[t], transpose_a=not row_major)

  @tf.function(jit_compile=True)
  def loop():
    def body(t, total):
      return t + 1, total + product(t)

    _, total = tf.while_loop(
      lambda t, _: t < time_steps, body, (0, tf.zeros_like(product(0)))
    )
    return tf.reduce_sum(total)

  return loop


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--calls', type=int, default=30)
  parser.add_argument('--time_steps', type=int, default=34)
  args = parser.parse_args()

  import tensorflow as tf

  rng = np.random.RandomState(0)
  print('| matmul | transposed operand, us | row-major copy, us | ratio |')
  print('|---|---:|---:|---:|')
  for name, (transposed_shape, other_shape, side) in _CASES.items():
    # Weights (on the right) are loop invariants; the outer products'
    # operands change with the time step.
    if side == 'left':
      transposed_shape = (args.time_steps, *transposed_shape)
    transposed = tf.constant(rng.randn(*transposed_shape), tf.float32)
    others = tf.constant(rng.randn(args.time_steps, *other_shape), tf.float32)
    loops = [_loop(transposed, others, side, row_major) for row_major in (0, 1)]
    values = [loop().numpy() for loop in loops]
    np.testing.assert_allclose(values[0], values[1], rtol=1e-4)
    times = [[], []]
    for _ in range(args.calls):
      for loop, loop_times in zip(loops, times, strict=True):
        start = time.perf_counter()
        loop().numpy()
        loop_times.append(1e6 * (time.perf_counter() - start))
    per_step = [statistics.median(t) / args.time_steps for t in times]
    print(
      f'| {name} | {per_step[0]:.1f} | {per_step[1]:.1f} '
      f'| {per_step[0] / per_step[1]:.2f}x |'
    )


if __name__ == '__main__':
  main()
