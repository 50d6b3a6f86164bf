"""Zero-padded, time-major batches of encoded stories; shuffled epochs.

Batches are numpy arrays (`inputs`, `targets`, `mask`, each `[time,
batch]`); `BatchIterator` serves shuffled training batches and saves and
restores its position exactly, so a resumed run sees the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import NamedTuple

import numpy as np

from dnc.tasks.babi.encoding import Story
from dnc.tasks.babi.vocabulary import PAD_ID


class Batch(NamedTuple):
  """A zero-padded, time-major batch of stories.

  Attributes:
    inputs: int32 `[time, batch]` word ids, `PAD_ID` after each story ends.
    targets: int32 `[time, batch]` answer ids at answer positions, 0 elsewhere.
    mask: float32 `[time, batch]`, 1 at answer positions, 0 elsewhere.
    lengths: int32 `[batch]`, each story's length (0 for a filler column).
    tasks: int32 `[batch]`, each story's task id (0 for a filler column).
  """

  inputs: np.ndarray
  targets: np.ndarray
  mask: np.ndarray
  lengths: np.ndarray
  tasks: np.ndarray


def padded_length(
  length: int,
  pad_to_multiple: int | None = None,
  max_length: int | None = None,
  buckets: Sequence[int] | None = None,
) -> int:
  """The time dimension of a batch whose longest story has `length` tokens.

  Args:
    length: the longest story length in the batch.
    pad_to_multiple: if given, round up to a multiple of this (e.g. 16), so
      that a compiled training step sees few distinct shapes.
    max_length: if given, always this (and `length` must not exceed it);
      takes precedence over `pad_to_multiple`.
    buckets: if given, the smallest of these lengths that holds `length`
      (e.g. `geometric_buckets(...)`, few shapes with little padding); a
      longer story falls back to `pad_to_multiple`.

  Returns:
    The padded length T.
  """
  if max_length is not None:
    if length > max_length:
      raise ValueError(f'A story of {length} tokens exceeds {max_length}')
    return max_length
  if buckets:
    fitting = [bucket for bucket in buckets if bucket >= length]
    if fitting:
      return min(fitting)
  if pad_to_multiple:
    return -(-max(length, 1) // pad_to_multiple) * pad_to_multiple
  return length


def geometric_buckets(
  smallest: int = 32, largest: int = 2048, ratio: float = 1.5
) -> tuple[int, ...]:
  """Bucket lengths growing by about `ratio`, rounded up to multiples of 8.

  With the default ratio a batch is padded by at most 50%, and a compiled
  step sees about a dozen shapes for bAbI's 24 to 1,378 token stories.
  """
  buckets, length = [], float(smallest)
  while True:
    bucket = -(-int(round(length)) // 8) * 8
    buckets.append(min(bucket, largest))
    if bucket >= largest:
      return tuple(sorted(set(buckets)))
    length *= ratio


def make_batch(
  stories: Sequence[Story],
  pad_to_multiple: int | None = None,
  max_length: int | None = None,
  batch_size: int | None = None,
  buckets: Sequence[int] | None = None,
) -> Batch:
  """Pads encoded stories into one time-major batch.

  Args:
    stories: B encoded stories.
    pad_to_multiple: round the time dimension up to a multiple of this.
    max_length: make the time dimension exactly this.
    batch_size: if given (>= B), add filler columns of padding with zero mask,
      so that a final partial batch keeps the compiled batch size.
    buckets: see `padded_length`.

  Returns:
    A Batch with `inputs`, `targets` (int32) and `mask` (float32) of shape
    `[T, batch_size or B]`, where T is the longest story length padded as
    `padded_length` says, and `lengths` and `tasks` of shape `[batch]`.
  """
  columns = batch_size if batch_size is not None else len(stories)
  if columns < len(stories):
    raise ValueError(f'{len(stories)} stories for batch size {columns}')
  longest = max((len(s.tokens) for s in stories), default=0)
  time = padded_length(longest, pad_to_multiple, max_length, buckets)
  inputs = np.full((time, columns), PAD_ID, np.int32)
  targets = np.zeros((time, columns), np.int32)
  mask = np.zeros((time, columns), np.float32)
  lengths = np.zeros((columns,), np.int32)
  tasks = np.zeros((columns,), np.int32)
  for b, story in enumerate(stories):
    inputs[: len(story.tokens), b] = story.tokens
    targets[list(story.answer_positions), b] = story.answers
    mask[list(story.answer_positions), b] = 1.0
    lengths[b] = len(story.tokens)
    tasks[b] = story.task
  return Batch(inputs, targets, mask, lengths, tasks)


def permute_words(
  batch: Batch, groups: Sequence[Sequence[int]], rng: np.random.Generator
) -> Batch:
  """Renames interchangeable words, independently in each story of a batch.

  Data augmentation for training: in bAbI the names of people (or places, or
  objects) play interchangeable roles, so swapping them consistently within
  a story (inputs and answers alike) gives another valid story. A model can
  then no longer memorise which story has which answer.

  Args:
    batch: a `Batch` with `inputs` and `targets` `[T, B]` of word ids.
    groups: disjoint groups of word ids; each story gets its own random
      permutation within each group.
    rng: the source of the permutations.

  Returns:
    The batch with `inputs` and `targets` renamed, the rest as it was.
  """
  size = int(max(batch.inputs.max(), batch.targets.max(), *map(max, groups)))
  columns = batch.inputs.shape[1]
  tables = np.tile(np.arange(size + 1), (columns, 1))  # [B, vocab]
  for group in groups:
    group = np.asarray(group)
    tables[:, group] = rng.permuted(np.tile(group, (columns, 1)), axis=1)
  column = np.arange(columns)[None, :]
  return batch._replace(
    inputs=tables[column, batch.inputs].astype(batch.inputs.dtype),
    targets=tables[column, batch.targets].astype(batch.targets.dtype),
  )


def evaluation_batches(
  stories: Sequence[Story],
  batch_size: int,
  pad_to_multiple: int | None = None,
  max_length: int | None = None,
  buckets: Sequence[int] | None = None,
) -> Iterator[Batch]:
  """One pass over `stories` in order, in batches of exactly `batch_size`.

  The last batch is completed with filler columns (zero mask, task 0).

  Args:
    stories: encoded stories.
    batch_size: B.
    pad_to_multiple: see `make_batch`.
    max_length: see `make_batch`.
    buckets: see `make_batch`.

  Yields:
    Batches of shape `[T, batch_size]`.
  """
  for start in range(0, len(stories), batch_size):
    yield make_batch(
      stories[start : start + batch_size],
      pad_to_multiple,
      max_length,
      batch_size=batch_size,
      buckets=buckets,
    )


class BatchIterator:
  """An endless stream of shuffled training batches, resumable exactly.

  Each epoch visits every story once in a fresh random order; a batch that
  crosses an epoch boundary takes the rest from the next epoch, so every
  batch has exactly `batch_size` stories. `get_state()` returns a JSON-ready
  dict, and `set_state()` on an iterator over the same stories continues
  with the very same batches.
  """

  def __init__(
    self,
    stories: Sequence[Story],
    batch_size: int,
    seed: int = 0,
    pad_to_multiple: int | None = None,
    max_length: int | None = None,
    sort_window: int = 1,
    buckets: Sequence[int] | None = None,
  ):
    """Makes the iterator.

    Args:
      stories: encoded training stories (not copied; do not change them).
      batch_size: B, stories per batch.
      seed: seeds the numpy Generator (PCG64) that shuffles.
      pad_to_multiple: see `make_batch`.
      max_length: see `make_batch`.
      sort_window: batches drawn together and sorted by story length.
      buckets: see `make_batch`.
    """
    if not stories:
      raise ValueError('No stories to iterate over')
    if batch_size < 1:
      raise ValueError(f'batch_size must be positive, got {batch_size}')
    if sort_window < 1:
      raise ValueError(f'sort_window must be positive, got {sort_window}')
    self._stories = stories
    self._batch_size = batch_size
    self._pad_to_multiple = pad_to_multiple
    self._max_length = max_length
    self._sort_window = sort_window
    self._buckets = buckets
    self._pending: list[list[int]] = []  # Sorted batches not yet served.
    self._rng = np.random.Generator(np.random.PCG64(seed))
    self._epoch = -1
    self._order = np.zeros((0,), np.int64)
    self._position = 0
    self._epoch_rng_state = None

  def _new_epoch(self) -> None:
    self._epoch_rng_state = self._rng.bit_generator.state
    self._order = self._rng.permutation(len(self._stories))
    self._epoch += 1
    self._position = 0

  def _draw(self, count: int) -> list[int]:
    """The next `count` story indices of the shuffled epochs."""
    indices = []
    while len(indices) < count:
      if self._position >= len(self._order):
        self._new_epoch()
      take = min(count - len(indices), len(self._order) - self._position)
      indices.extend(
        int(i) for i in self._order[self._position : self._position + take]
      )
      self._position += take
    return indices

  def next_indices(self) -> np.ndarray:
    """Advances by one batch; returns its story indices, `[batch_size]`."""
    if self._sort_window == 1:
      return np.asarray(self._draw(self._batch_size), np.int64)
    if not self._pending:
      window = self._draw(self._batch_size * self._sort_window)
      window.sort(key=lambda i: len(self._stories[i].tokens))
      batches = [
        window[start : start + self._batch_size]
        for start in range(0, len(window), self._batch_size)
      ]
      self._pending = [batches[i] for i in self._rng.permutation(len(batches))]
    return np.asarray(self._pending.pop(), np.int64)

  def __iter__(self) -> BatchIterator:
    return self

  def __next__(self) -> Batch:
    """The next Batch: `[T, batch_size]` arrays, see `make_batch`."""
    stories = [self._stories[i] for i in self.next_indices()]
    return make_batch(
      stories, self._pad_to_multiple, self._max_length, buckets=self._buckets
    )

  @property
  def epoch(self) -> int:
    """Epochs begun so far, minus one (-1 before the first batch)."""
    return self._epoch

  def get_state(self) -> dict[str, Any]:
    """The shuffling state, as plain JSON-serialisable data.

    Returns:
      A dict with the epoch, the position in it, the generator state when the
      epoch's order was drawn, and the number of stories (checked on restore).
    """
    return {
      'num_stories': len(self._stories),
      'epoch': self._epoch,
      'position': self._position,
      'epoch_rng_state': self._epoch_rng_state,
      'rng_state': self._rng.bit_generator.state,
      'pending': [list(batch) for batch in self._pending],
    }

  def set_state(self, state: Mapping[str, Any]) -> None:
    """Restores a `get_state()` dict (possibly through JSON).

    Args:
      state: from `get_state()` of an iterator over the same stories.
    """
    if state['num_stories'] != len(self._stories):
      raise ValueError(
        f'State is for {state["num_stories"]} stories, this iterator has '
        f'{len(self._stories)}'
      )
    if state['epoch_rng_state'] is None:
      self._order = np.zeros((0,), np.int64)
      self._epoch_rng_state = None
    else:
      self._rng.bit_generator.state = dict(state['epoch_rng_state'])
      self._order = self._rng.permutation(len(self._stories))
      self._epoch_rng_state = dict(state['epoch_rng_state'])
    self._rng.bit_generator.state = dict(state['rng_state'])
    self._epoch = int(state['epoch'])
    self._position = int(state['position'])
    self._pending = [list(batch) for batch in state.get('pending', [])]
