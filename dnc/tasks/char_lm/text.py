"""The text of a character-level language model, as ids and windows.

A run reads one UTF-8 file, split into contiguous training, validation and
test parts, or a directory holding `train`, `valid` and `test` files
(`read_splits`). Its vocabulary is the training part's characters
(`Vocabulary`); any other character is the one unknown symbol, id 0.

Training reads the training ids as `batch_size` streams, row b the b-th
contiguous part of the text, each cut into consecutive windows of
`window_length` characters (`Windows`): window k of row b holds the inputs
`stream_b[k T : (k + 1) T]` and the targets one character on, so that the
windows of a row tile its stream in order and the core's state, carried
from one window to the next, has read exactly the text before each window.
"""

from collections.abc import Mapping
import os

import numpy as np

from dnc.tasks import base as task_lib

# Shown for the unknown id when ids are turned back into text.
UNKNOWN_SYMBOL = '\ufffd'
UNKNOWN_ID = 0
SPLITS = ('train', 'valid', 'test')


class Vocabulary:
  """Characters and their ids: 0 the unknown symbol, then the characters.

  Attributes:
    characters: the known characters, in id order (id i + 1 for the i-th),
      as one string (what a run's config records).
    size: the number of ids, `len(characters) + 1`.
  """

  def __init__(self, characters: str):
    """The vocabulary of `characters`, distinct, in the order given.

    Raises:
      TaskError: `characters` is empty or repeats one.
    """
    if not characters:
      raise task_lib.TaskError('The vocabulary has no characters.')
    if len(set(characters)) != len(characters):
      raise task_lib.TaskError('The vocabulary repeats a character.')
    self.characters = characters
    self.size = len(characters) + 1
    codes = _code_points(characters)
    self._order = np.argsort(codes, kind='stable')
    self._sorted = codes[self._order]

  @classmethod
  def of_text(cls, text: str) -> 'Vocabulary':
    """The characters of `text`, sorted by code point."""
    return cls(''.join(sorted(set(text))))

  def encode(self, text: str) -> np.ndarray:
    """The ids `[len(text)]` (int32) of `text`; unknown characters are 0."""
    codes = _code_points(text)
    index = np.searchsorted(self._sorted, codes)
    index = np.minimum(index, len(self._sorted) - 1)
    known = self._sorted[index] == codes
    return np.where(known, self._order[index] + 1, UNKNOWN_ID).astype(np.int32)

  def decode(self, ids) -> str:
    """The text of ids (`UNKNOWN_SYMBOL` for 0)."""
    table = UNKNOWN_SYMBOL + self.characters
    return ''.join(table[i] for i in np.asarray(ids).reshape(-1))

  def code_points(self) -> list[int]:
    """The code point of each id, -1 for the unknown symbol."""
    return [-1] + _code_points(self.characters).tolist()


def _code_points(text: str) -> np.ndarray:
  return np.frombuffer(text.encode('utf-32-le'), np.uint32).astype(np.int64)


def _read(path: str, flag: str) -> str:
  """The text of one file, or a one-line `TaskError` naming `flag`."""
  try:
    with open(path, 'rb') as f:
      data = f.read()
  except OSError as e:
    raise task_lib.TaskError(
      f'--{flag}: cannot read {path}: {e.strerror}.'
    ) from e
  try:
    text = data.decode('utf-8')
  except UnicodeDecodeError as e:
    raise task_lib.TaskError(
      f'--{flag}: {path} is not UTF-8 text (byte {e.start}: {e.reason}).'
    ) from e
  if not text:
    raise task_lib.TaskError(f'--{flag}: {path} is empty.')
  return text


def _split_file(directory: str, split: str) -> str | None:
  for name in (split, f'{split}.txt'):
    path = os.path.join(directory, name)
    if os.path.isfile(path):
      return path
  return None


def read_splits(
  path: str,
  valid_fraction: float = 0.05,
  test_fraction: float = 0.05,
  splits: tuple[str, ...] = SPLITS,
) -> dict[str, str]:
  """The texts of a run's splits (`--data`).

  Args:
    path: a UTF-8 file, cut into contiguous training, validation and test
      parts (in that order) by the fractions; or a directory with files
      `train`, `valid` and `test` (or `train.txt`, ...).
    valid_fraction: the validation part's share of a single file.
    test_fraction: the test part's.
    splits: the splits wanted (of a directory, only those are read).

  Returns:
    By split name, its text (a single file's parts may be empty when their
    fraction is 0).

  Raises:
    TaskError: a missing, unreadable, empty or non-UTF-8 file, or fractions
      that leave no training text, naming the flag.
  """
  if not path:
    raise task_lib.TaskError('--data is required: a text file or directory.')
  if os.path.isdir(path):
    texts = {}
    for split in splits:
      file = _split_file(path, split)
      if file is None:
        raise task_lib.TaskError(
          f'--data={path} is a directory without a {split!r} (or '
          f"'{split}.txt') file: give train, valid and test files, or one "
          'text file.'
        )
      texts[split] = _read(file, 'data')
    return texts
  if not os.path.exists(path):
    raise task_lib.TaskError(f'--data={path}: no such file or directory.')
  for flag, value in (
    ('valid_fraction', valid_fraction),
    ('test_fraction', test_fraction),
  ):
    if not 0 <= value < 1:
      raise task_lib.TaskError(f'--{flag} must be in [0, 1), got {value}.')
  if valid_fraction + test_fraction >= 1:
    raise task_lib.TaskError(
      '--valid_fraction + --test_fraction must be below 1: they leave no '
      'training text.'
    )
  text = _read(path, 'data')
  n = len(text)
  n_test = int(round(n * test_fraction))
  n_valid = int(round(n * valid_fraction))
  n_train = n - n_valid - n_test
  parts = {
    'train': text[:n_train],
    'valid': text[n_train : n_train + n_valid],
    'test': text[n_train + n_valid :],
  }
  return {split: parts[split] for split in splits}


class Windows:
  """The training batches: each row a stream through the text, in windows.

  Row b's stream is `ids[b S : (b + 1) S]`, S = `len(ids) // batch_size`
  (the last `len(ids) % batch_size` ids are not read). Window k (taken
  modulo the `per_epoch` windows that fit) of row b holds the inputs
  `stream_b[j T : j T + T]` and the targets `stream_b[j T + 1 : j T + T +
  1]`, j = k mod `per_epoch`.
  """

  def __init__(self, ids: np.ndarray, batch_size: int, window_length: int):
    """Cuts `ids` into streams.

    Args:
      ids: `[n]` int32 character ids.
      batch_size: B, the streams (rows of every batch).
      window_length: T, the characters of a window.

    Raises:
      TaskError: the text holds less than one window (and its next
        character) per row.
    """
    ids = np.asarray(ids, np.int32)
    self.batch_size = batch_size
    self.window_length = window_length
    self.stream_length = len(ids) // batch_size
    if self.stream_length < window_length + 1:
      raise task_lib.TaskError(
        f'--window_length={window_length}: the training text of '
        f'{len(ids)} characters gives each of the --batch_size={batch_size} '
        f'rows {self.stream_length}, less than one window and the character '
        'after it; shorten the window or the batch, or give more text.'
      )
    self.per_epoch = (self.stream_length - 1) // window_length
    self._streams = ids[: batch_size * self.stream_length].reshape(
      batch_size, self.stream_length
    )

  def __call__(self, k: int) -> task_lib.DatasetTensors:
    """Window k of every row: observations and target `[T, B]` int32,
    mask `[T, B]` float32 ones."""
    start = (k % self.per_epoch) * self.window_length
    window = self._streams[:, start : start + self.window_length + 1].T
    return task_lib.DatasetTensors(
      np.ascontiguousarray(window[:-1]),
      np.ascontiguousarray(window[1:]),
      np.ones(window[1:].shape, np.float32),
    )


def bits_per_character(
  logits: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None
) -> float:
  """The mean of -log2 p(target) under softmax(logits), in float64.

  Args:
    logits: `[..., vocab_size]`.
    targets: `[...]` ids.
    mask: `[...]`, 1 where a target counts (None: all).
  """
  logits = np.asarray(logits, np.float64)
  shifted = logits - logits.max(-1, keepdims=True)
  log_z = np.log(np.exp(shifted).sum(-1))
  picked = np.take_along_axis(
    shifted, np.asarray(targets)[..., None].astype(np.int64), -1
  )[..., 0]
  nats = log_z - picked
  mask = np.ones_like(nats) if mask is None else np.asarray(mask, np.float64)
  return float((nats * mask).sum() / mask.sum() / np.log(2))


def unigram_entropy(ids: np.ndarray) -> float:
  """The entropy in bits of the ids' character frequencies."""
  counts = np.bincount(np.asarray(ids).reshape(-1)).astype(np.float64)
  p = counts[counts > 0] / counts.sum()
  return float(-(p * np.log2(p)).sum())


def count_unknown(ids_by_split: Mapping[str, np.ndarray]) -> dict[str, int]:
  """How many unknown characters each split holds."""
  return {k: int(np.sum(v == UNKNOWN_ID)) for k, v in ids_by_split.items()}
