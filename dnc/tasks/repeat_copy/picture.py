"""A repeat-copy example drawn with the model's memory (`dnc.visualize`)."""

import numpy as np
import tensorflow as tf

from dnc.tasks.repeat_copy import data as repeat_copy
from dnc.tools import visualize


def run_repeat_copy(
  core,
  num_bits: int,
  length: int,
  repeats: int,
  seed: int = 0,
  batch_index: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
  """Runs `core` on a repeat-copy example and keeps every step's internals.

  Draws a batch of `batch_index + 1` examples of pattern length `length` and
  `repeats` repeats (seeded by `seed`) and returns element `batch_index`.

  Args:
    core: a `dnc.DNC` (or a `dnc.model.Model` around one) of `num_bits + 2`
      inputs and `num_bits + 1` outputs.
    num_bits, length, repeats: the example's bits, pattern length, repeats.
    seed: seeds the example.
    batch_index: which example of the seeded batch.

  Returns:
    observations `[T, num_bits + 2]`, target `[T, num_bits + 1]`, output
    `[T, num_bits + 1]` (sigmoid of the logits) and the internals of
    `dnc.internals.WithInternals` without the batch axis (e.g.
    `write_weights` `[T, Wr, N]`), with T = length * (repeats + 1) + 3:
    the arguments of `dnc.tools.visualize.plot_internals`.
  """
  task = repeat_copy.RepeatCopy(
    num_bits,
    batch_size=batch_index + 1,
    min_length=length,
    max_length=length,
    min_repeats=repeats,
    max_repeats=repeats,
    seed=seed,
  )

  @tf.function(autograph=False)
  def unroll():
    data = task()
    logits, steps = visualize.unroll_with_internals(core, data.observations)
    return data, tf.sigmoid(logits), steps

  data, output, steps = unroll()
  pick = lambda x: np.asarray(x)[:, batch_index]
  return (
    pick(data.observations),
    pick(data.target),
    pick(output),
    {key: pick(value) for key, value in steps.items()},
  )


def repeat_copy_phases(length: int, repeats: int) -> list[tuple[str, int, int]]:
  """The pattern and recall phases of a repeat-copy example.

  Returns:
    `(name, first step, step after the last)` for each phase.
  """
  recall_start = length + 2
  return [
    ('pattern', 1, length + 1),
    ('recall', recall_start, recall_start + length * repeats),
  ]


def draw(
  core,
  num_bits: int,
  length: int,
  repeats: int,
  seed: int,
  batch_index: int,
  path: str,
  title: str,
) -> str:
  """Draws one example (see `run_repeat_copy`) as a PNG at `path`."""
  example = run_repeat_copy(core, num_bits, length, repeats, seed, batch_index)
  bits = [f'bit {i + 1}' for i in range(num_bits)]
  return visualize.plot_internals(
    *example,
    path,
    phases=repeat_copy_phases(length, repeats),
    title=(
      f'{title}: repeat-copy, length {length}, {repeats} repeats, seed {seed}'
    ),
    input_labels=bits + ['start', 'repeats'],
    output_labels=bits + ['end'],
  )
