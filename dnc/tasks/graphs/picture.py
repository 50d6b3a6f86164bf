"""A graph episode drawn with the model's memory (`dnc.visualize`).

As the paper's Fig. 3 shows a London traversal: each step's triple along
the time axis, the probability of the target triple at the answer steps,
then the write and read weightings, usage, gates and read modes. Memories
larger than `MAX_SLOTS` show only their most used slots (by the largest
write or read weight each got), so that the picture stays legible.
"""

from collections.abc import Mapping
from collections.abc import Sequence

import numpy as np

from dnc.tasks.graphs import encoding
from dnc.tools import visualize

MAX_SLOTS = 48
# Time labels are drawn for episodes up to this length (longer ones, e.g.
# London's 200-triple description, would overlap).
MAX_LABELLED_STEPS = 64


def phases(inputs: np.ndarray) -> list[tuple[str, int, int]]:
  """The phases of one episode, from its phase channel.

  Args:
    inputs: `[T, 92]`, one episode (`encoding.episode` layout: the channel
      is 1 on the first step of each phase after the description).

  Returns:
    `(name, first step, step after the last)`: description, query,
    planning (if the episode has it) and answer.
  """
  starts = np.flatnonzero(np.asarray(inputs)[:, encoding.PHASE_CHANNEL])
  names = {2: ['query', 'answer'], 3: ['query', 'planning', 'answer']}.get(
    len(starts), []
  )
  if not names:
    raise ValueError(
      f'`inputs` marks {len(starts)} phases after the description; an '
      'episode has 2 (query, answer) or 3 (with planning).'
    )
  bounds = [0, *starts.tolist(), len(inputs)]
  return [
    (name, bounds[i], bounds[i + 1])
    for i, name in enumerate(['description', *names])
  ]


def _text(triple: Sequence[int]) -> str:
  return ' '.join('_' if x == encoding.UNSPECIFIED else str(x) for x in triple)


def time_labels(
  inputs: np.ndarray, target: np.ndarray, mask: np.ndarray, logits: np.ndarray
) -> list[str]:
  """Each step's input triple; at answer steps, the predicted triple too
  (and the target when they differ).

  Args:
    inputs: `[T, 92]`; target: int `[T, 9]`; mask: `[T]`; logits: `[T, 90]`.

  Returns:
    T labels, e.g. '614 763 _' or '_ _ _ -> 645 33 256 (not 645 33 764)'.
  """
  shown = encoding.decode_triples(inputs)
  predicted = encoding.predicted_triples(logits)
  wanted = encoding.triples_of_digits(target)
  labels = []
  for t in range(len(shown)):
    label = _text(shown[t])
    if mask[t]:
      label += f' -> {_text(predicted[t])}'
      if not np.array_equal(predicted[t], wanted[t]):
        label += f' (not {_text(wanted[t])})'
    labels.append(label)
  return labels


def target_probability(
  logits: np.ndarray, target: np.ndarray, mask: np.ndarray
) -> np.ndarray:
  """`[T, 1]`: the probability of the target triple (the product of its
  nine digits' softmax probabilities) at answer steps, 0 elsewhere."""
  log_p = encoding.log_softmax_digits(logits)  # [T, 9, 10]
  picked = np.take_along_axis(log_p, np.asarray(target)[..., None], -1)
  return (np.exp(picked[..., 0].sum(-1)) * (np.asarray(mask) > 0))[:, None]


def busiest_slots(steps: Mapping[str, np.ndarray], limit: int) -> np.ndarray:
  """The at most `limit` slots with the largest write or read weight over
  the episode, in slot order.

  Args:
    steps: `write_weights` `[T, Wr, N]` and `read_weights` `[T, R, N]`.
    limit: how many slots to keep.

  Returns:
    int `[min(N, limit)]`, increasing.
  """
  weights = np.concatenate([steps['write_weights'], steps['read_weights']], 1)
  peak = weights.max((0, 1))
  if len(peak) <= limit:
    return np.arange(len(peak))
  # Stable, so that ties keep the lower slots.
  return np.sort(np.argsort(-peak, kind='stable')[:limit])


def select_slots(
  steps: Mapping[str, np.ndarray], slots: np.ndarray
) -> dict[str, np.ndarray]:
  """`steps` with the memory-slot axis of each per-slot field cut to
  `slots` (the weightings, usage or recency); the other fields as they
  are."""
  size = np.shape(steps['write_weights'])[-1]
  per_slot = ('write_weights', 'read_weights', 'usage', 'recency')
  return {
    key: (
      np.take(value, slots, -1)
      if key in per_slot and np.shape(value)[-1] == size
      else value
    )
    for key, value in steps.items()
  }


def plot_episode(
  inputs: np.ndarray,
  target: np.ndarray,
  mask: np.ndarray,
  logits: np.ndarray,
  steps: Mapping[str, np.ndarray],
  path: str,
  title: str,
  max_slots: int = MAX_SLOTS,
) -> str:
  """Draws one graph episode and the memory's internals as a PNG.

  Args:
    inputs: `[T, 92]`, target: int `[T, 9]`, mask: `[T]`, logits: `[T, 90]`:
      the episode and the model's outputs on it.
    steps: the `dnc.internals.WithInternals` outputs without the batch axis.
    path: where to write the PNG.
    title: over the figure.
    max_slots: the most memory slots drawn (`busiest_slots`).

  Returns:
    `path`.
  """
  visualize.require_matplotlib()
  time_steps = len(inputs)
  memory_size = np.shape(steps['write_weights'])[-1]
  slots = busiest_slots(steps, max_slots)
  if len(slots) < memory_size:
    title += (
      f'\n{len(slots)} of {memory_size} memory slots: those most written '
      'or read'
    )
  panels = [
    (
      'P(target triple) at each answer step',
      ['answer'],
      target_probability(logits, target, mask),
    ),
    *visualize.memory_panels(select_slots(steps, slots), time_steps),
  ]
  labels = None
  if time_steps <= MAX_LABELLED_STEPS:
    labels = time_labels(inputs, target, mask, logits)
  return visualize.draw(
    panels,
    time_steps,
    path,
    phases=phases(inputs),
    title=title,
    time_labels=labels,
  )
