"""The word <-> id map shared by all bAbI tasks.

Id 0 is padding ('<pad>'), id 1 the answer marker ('-'); the other words
follow in sorted order, so the same files always give the same ids. It
round-trips through JSON so that a checkpoint can carry it.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
import json
import pathlib

from dnc.tasks.babi.files import PathLike
from dnc.tasks.babi.files import RawStory

PAD = '<pad>'
MARKER = '-'
PAD_ID = 0
MARKER_ID = 1
_RESERVED = (PAD, MARKER)


class UnknownWordsError(ValueError):
  """Words to encode that a vocabulary lacks.

  Attributes:
    words: those words, sorted.
  """

  def __init__(self, words: Iterable[str]):
    self.words = sorted(words)
    super().__init__(f'Words not in the vocabulary: {self.words}')


class Vocabulary:
  """Word <-> id map shared by all tasks.

  Id `PAD_ID` (0) is '<pad>' and `MARKER_ID` (1) is the answer marker '-';
  `Vocabulary.build` puts the other words after them in sorted order.
  """

  def __init__(self, words: Sequence[str]):
    """Makes a vocabulary from its words in id order.

    Args:
      words: word i has id i; must start with '<pad>', '-' and be unique.
        Use `Vocabulary.build` to make one from arbitrary words.
    """
    words = tuple(words)
    if words[: len(_RESERVED)] != _RESERVED:
      raise ValueError(f'A vocabulary must start with {_RESERVED}')
    if len(set(words)) != len(words):
      raise ValueError('A vocabulary has repeated words')
    self._words = words
    self._ids = {w: i for i, w in enumerate(words)}

  @classmethod
  def build(cls, words: Iterable[str]) -> Vocabulary:
    """The reserved tokens, then the distinct `words` in sorted order.

    Args:
      words: any words (repeats and reserved tokens are ignored).

    Returns:
      A Vocabulary.
    """
    return cls(_RESERVED + tuple(sorted(set(words) - set(_RESERVED))))

  @classmethod
  def from_stories(cls, stories: Iterable[RawStory]) -> Vocabulary:
    """`build` over every word and answer word of `stories`.

    Args:
      stories: parsed stories of any tasks and splits.

    Returns:
      A Vocabulary.
    """
    sentences = {sentence for story in stories for sentence in story.sentences}
    words = set()
    for sentence in sentences:
      words.update(sentence.words)
      words.update(sentence.answers)
    return cls.build(words)

  @property
  def words(self) -> tuple[str, ...]:
    """All words in id order."""
    return self._words

  @property
  def size(self) -> int:
    """The number of ids, reserved ones included (the one-hot width)."""
    return len(self._words)

  def __len__(self) -> int:
    return len(self._words)

  def __contains__(self, word: object) -> bool:
    return word in self._ids

  def __eq__(self, other: object) -> bool:
    return isinstance(other, Vocabulary) and self._words == other._words

  def __hash__(self) -> int:
    return hash(self._words)

  def __repr__(self) -> str:
    return f'Vocabulary(size={self.size})'

  def encode(self, words: Iterable[str]) -> list[int]:
    """Word ids of `words`.

    Args:
      words: words in the vocabulary.

    Returns:
      Their ids, in order.

    Raises:
      UnknownWordsError: (a ValueError) naming the words that are not in the
        vocabulary.
    """
    words = list(words)
    try:
      return [self._ids[w] for w in words]
    except KeyError:
      unknown = {w for w in words if w not in self._ids}
      raise UnknownWordsError(unknown) from None

  def decode(self, ids: Iterable[int]) -> list[str]:
    """Words of `ids`.

    Args:
      ids: ids in `[0, size)`, e.g. a list or a 1-D numpy array.

    Returns:
      The words, in order.
    """
    return [self._words[int(i)] for i in ids]

  def to_json(self) -> str:
    """A JSON string that `from_json` turns back into this vocabulary."""
    return json.dumps({'format': 'dnc.babi.Vocabulary', 'words': self._words})

  @classmethod
  def from_json(cls, text: str) -> Vocabulary:
    """The vocabulary of a `to_json` string.

    Args:
      text: JSON with a 'words' list in id order.

    Returns:
      A Vocabulary with exactly those ids.
    """
    return cls(json.loads(text)['words'])

  def save(self, path: PathLike) -> None:
    """Writes `to_json()` to `path`."""
    pathlib.Path(path).write_text(self.to_json() + '\n', encoding='utf-8')

  @classmethod
  def load(cls, path: PathLike) -> Vocabulary:
    """Reads a vocabulary written by `save`."""
    return cls.from_json(pathlib.Path(path).read_text(encoding='utf-8'))
