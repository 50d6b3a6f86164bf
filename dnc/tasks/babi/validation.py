"""A seeded validation split of the training stories.

The paper (Graves et al. 2016, Methods) held out 10% of the bAbI training
data for validation, to choose among runs and checkpoints without looking
at the test set. `split_validation` holds out the same share of every
task's stories, chosen by a seed alone, so that any run with the same
fraction and seed (and `--mode=eval --eval_split=valid` on any of its
checkpoints) sees the same two disjoint sets.
"""

from collections.abc import Sequence

import numpy as np

from dnc.tasks.babi.encoding import Story


def split_validation(
  stories: Sequence[Story], fraction: float, seed: int = 0
) -> tuple[list[Story], list[Story]]:
  """Splits training stories into training and validation stories.

  From each task, `round(fraction * n)` of its `n` stories (at least one
  when `fraction > 0` and the task has two or more) are drawn at random,
  seeded by `seed` and the task id, so a task's draw does not depend on
  which other tasks are read.

  Args:
    stories: the encoded training stories, any task order.
    fraction: the share to hold out, in [0, 1).
    seed: seeds the draw.

  Returns:
    `(train, valid)`: disjoint lists that together hold every story once,
    each in the order of `stories`.

  Raises:
    ValueError: `fraction` is outside [0, 1).
  """
  if not 0 <= fraction < 1:
    raise ValueError(f'`fraction` must be in [0, 1), got {fraction!r}.')
  by_task: dict[int, list[int]] = {}
  for index, story in enumerate(stories):
    by_task.setdefault(story.task, []).append(index)
  held_out = set()
  for task, indices in by_task.items():
    count = int(round(fraction * len(indices)))
    if fraction > 0 and len(indices) > 1:
      count = min(max(count, 1), len(indices) - 1)
    rng = np.random.default_rng([seed, task])
    held_out.update(rng.choice(indices, size=count, replace=False).tolist())
  train = [s for i, s in enumerate(stories) if i not in held_out]
  valid = [s for i, s in enumerate(stories) if i in held_out]
  return train, valid
