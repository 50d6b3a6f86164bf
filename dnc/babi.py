"""The bAbI question-answering tasks as word sequences for the DNC.

Data: the 20 bAbI tasks of Weston et al., "Towards AI-Complete Question
Answering: A Set of Prerequisite Toy Tasks", arXiv:1502.05698 (2015),
distributed by Facebook AI Research under the Creative Commons Attribution 3.0
licence (CC BY 3.0). The data are not shipped with this package: download
`tasks_1-20_v1-2` and pass the directory of one of its splits, e.g.
`.../tasks_1-20_v1-2/en-10k` (10,000 training questions per task) or
`.../tasks_1-20_v1-2/en` (1,000), as `data_dir`. That directory holds files
named `qa{N}_{name}_{train,test}.txt`; they are found by their `qa{N}_` prefix.

File format (see the dataset's README.txt): numbered lines, a story restarting
whenever the number is 1; statements `N text.` and questions
`N question?<TAB>answer<TAB>supporting ids`, where an answer may be a
comma-separated list of words (task 8 `football,milk`, task 19 `n,w`).

Encoding, as in the Methods of Graves et al., "Hybrid computing using a neural
network with dynamic external memory", Nature 2016: a whole story (all its
statements and questions) is one sequence of lower-cased words, with '.' and
'?' as separate tokens and line numbers and supporting-fact ids dropped. After
each question's '?', every answer word is replaced in the input by the marker
token '-', at which the model must output that answer word. For

  1 Mary moved to the bathroom.
  2 Where is Mary? <TAB>bathroom<TAB>1

the input is `mary moved to the bathroom . where is mary ? -` and the only
target is `bathroom`, at the '-'.

Vocabulary: one for all tasks, built from the words of the stories given to
`Vocabulary.build` (`load_dataset` uses the train and test files of the tasks
it reads, so the test set has no unknown words). Id 0 is padding ('<pad>'),
id 1 the answer marker ('-'); the other words follow in sorted order, so the
same files always give the same ids. It round-trips through JSON so that a
checkpoint can carry it.

Batches are time-major numpy arrays (`inputs`, `targets`, `mask`, each
`[time, batch]`), zero-padded; see `make_batch` and `BatchIterator`.

This module uses only numpy and the standard library (no TensorFlow).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
import json
import logging
import os
import pathlib
import re
import sys
from typing import Any
from typing import NamedTuple

import numpy as np

_log = logging.getLogger(__name__)

NUM_TASKS = 20
ALL_TASKS = tuple(range(1, NUM_TASKS + 1))
SPLITS = ('train', 'test')

# The file names of bAbI v1.2, used to name files that are missing.
TASK_NAMES = {
  1: 'single-supporting-fact',
  2: 'two-supporting-facts',
  3: 'three-supporting-facts',
  4: 'two-arg-relations',
  5: 'three-arg-relations',
  6: 'yes-no-questions',
  7: 'counting',
  8: 'lists-sets',
  9: 'simple-negation',
  10: 'indefinite-knowledge',
  11: 'basic-coreference',
  12: 'conjunction',
  13: 'compound-coreference',
  14: 'time-reasoning',
  15: 'basic-deduction',
  16: 'basic-induction',
  17: 'positional-reasoning',
  18: 'size-reasoning',
  19: 'path-finding',
  20: 'agents-motivations',
}

PAD = '<pad>'
MARKER = '-'
PAD_ID = 0
MARKER_ID = 1
_RESERVED = (PAD, MARKER)

# Words, or '.' / '?' on their own.
_TOKEN_RE = re.compile(r'[^\s.?]+|[.?]')

PathLike = str | os.PathLike


class MissingTaskFilesError(FileNotFoundError):
  """Some requested bAbI files are not in the data directory.

  Attributes:
    missing: the expected file names that were not found.
    directory: the directory searched.
  """

  def __init__(self, missing: Sequence[str], directory: PathLike, hint: str):
    self.missing = list(missing)
    self.directory = str(directory)
    message = (
      f'{len(self.missing)} bAbI file(s) not found in {self.directory}: '
      + ', '.join(self.missing)
    )
    if hint:
      message += f'. {hint}'
    super().__init__(message)


class Sentence(NamedTuple):
  """One line of a bAbI story, with its line number dropped.

  Attributes:
    words: lower-cased tokens, ending in '.' (statement) or '?' (question).
    answers: the answer words of a question, in order; empty for a statement.
    supporting_facts: a question's supporting line numbers (unused by the
      encoding, kept for inspection); empty for a statement.
  """

  words: tuple[str, ...]
  answers: tuple[str, ...] = ()
  supporting_facts: tuple[int, ...] = ()

  @property
  def is_question(self) -> bool:
    """Whether the line is a question (it has answers)."""
    return bool(self.answers)


class RawStory(NamedTuple):
  """A parsed story: its task id and its lines in order."""

  task: int
  sentences: tuple[Sentence, ...]

  @property
  def num_questions(self) -> int:
    """The number of question lines in the story."""
    return sum(s.is_question for s in self.sentences)


class Story(NamedTuple):
  """An encoded story: one input sequence and its answer targets.

  Attributes:
    task: bAbI task id, 1..20.
    tokens: word ids of the input sequence, `[length]`, with `MARKER_ID` at
      each answer position.
    answer_positions: the indices into `tokens` of the markers, increasing.
    answers: the answer word id to output at each of `answer_positions`.
    question_index: for each answer word, the 0-based index of its question
      within the story (a question with a 2-word answer has 2 entries).
  """

  task: int
  tokens: tuple[int, ...]
  answer_positions: tuple[int, ...]
  answers: tuple[int, ...]
  question_index: tuple[int, ...]

  @property
  def num_questions(self) -> int:
    """The number of questions (not answer words) in the story."""
    return len(set(self.question_index))


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


# ----------------------------------------------------------------------------
# Finding and parsing files.


def _check_tasks(tasks: Iterable[int] | None) -> tuple[int, ...]:
  if tasks is None:
    return ALL_TASKS
  checked = []
  for task in tasks:
    if isinstance(task, bool) or int(task) != task or task not in TASK_NAMES:
      raise ValueError(f'bAbI task ids are 1..{NUM_TASKS}, got {task!r}')
    checked.append(int(task))
  if not checked:
    raise ValueError('No bAbI tasks given')
  return tuple(sorted(set(checked)))


def _check_split(split: str) -> None:
  if split not in SPLITS:
    raise ValueError(f'split must be one of {SPLITS}, got {split!r}')


def expected_file_name(task: int, split: str) -> str:
  """The bAbI v1.2 file name of a task, e.g. `qa3_three-supporting-facts_...`.

  Args:
    task: task id, 1..20.
    split: 'train' or 'test'.

  Returns:
    The file name, without a directory.
  """
  (task,) = _check_tasks([task])
  _check_split(split)
  return f'qa{task}_{TASK_NAMES[task]}_{split}.txt'


def _find_in(directory: pathlib.Path, task: int, split: str):
  """The file of `task` and `split` in `directory` or None; by prefix."""
  matches = sorted(directory.glob(f'qa{task}_*_{split}.txt'))
  if len(matches) > 1:
    raise ValueError(
      f'Several bAbI files for task {task} ({split}) in {directory}: '
      + ', '.join(m.name for m in matches)
    )
  return matches[0] if matches else None


def find_task_files(
  data_dir: PathLike,
  split: str,
  tasks: Iterable[int] | None = None,
  allow_1k_fallback: bool = False,
) -> dict[int, pathlib.Path]:
  """Finds the file of each task for one split.

  Args:
    data_dir: a split directory of bAbI v1.2, e.g. `.../tasks_1-20_v1-2/en-10k`.
    split: 'train' or 'test'.
    tasks: task ids in 1..20; all 20 if None.
    allow_1k_fallback: when a file is missing from `data_dir`, take the same
      task's file from the sibling directory `en` (`data_dir/../en`) instead,
      logging a warning that names it. This covers copies of en-10k that lack
      `qa3_three-supporting-facts_train.txt`; the fallback file holds 1,000
      training questions instead of 10,000.

  Returns:
    A dict from task id to file path, in increasing task order.

  Raises:
    FileNotFoundError: if `data_dir` is not a directory.
    MissingTaskFilesError: (a FileNotFoundError) naming every file that could
      not be found and the directory searched.
  """
  directory = pathlib.Path(data_dir)
  tasks = _check_tasks(tasks)
  _check_split(split)
  if not directory.is_dir():
    raise FileNotFoundError(f'bAbI data directory not found: {directory}')
  fallback = directory.parent / 'en'
  found, missing = {}, []
  for task in tasks:
    path = _find_in(directory, task, split)
    if path is None and allow_1k_fallback and fallback.is_dir():
      if fallback.resolve() != directory.resolve():
        path = _find_in(fallback, task, split)
        if path is not None:
          _log.warning(
            'bAbI: %s is missing from %s; falling back to %s, from the 1k '
            'set (fewer training examples than the other tasks of %s)',
            expected_file_name(task, split),
            directory,
            path,
            directory.name,
          )
    if path is None:
      missing.append(expected_file_name(task, split))
    else:
      found[task] = path
  if missing:
    hints = []
    subdirs = [d for d in ('en-10k', 'en') if (directory / d).is_dir()]
    if subdirs and not any(directory.glob('qa*_*.txt')):
      hints.append(
        f'data_dir should be a split directory such as {directory / subdirs[0]}'
      )
    elif allow_1k_fallback and not fallback.is_dir():
      hints.append(f'The fallback directory {fallback} does not exist')
    elif allow_1k_fallback:
      hints.append(f'Not in the fallback directory {fallback} either')
    elif (fallback.is_dir()) and fallback.resolve() != directory.resolve():
      hints.append(
        'Pass allow_1k_fallback=True (--allow_1k_fallback) to use the files '
        'of the 1k set in '
        f'{fallback} instead'
      )
    raise MissingTaskFilesError(missing, directory, '; '.join(hints))
  return found


def tokenize(text: str) -> list[str]:
  """Lower-cases `text` and splits it into words, '.' and '?'.

  Args:
    text: e.g. 'Where is Mary? '.

  Returns:
    The tokens, e.g. `['where', 'is', 'mary', '?']`.
  """
  return _TOKEN_RE.findall(text.lower())


def parse_lines(
  lines: Iterable[str], task: int, source: str = '<lines>'
) -> list[RawStory]:
  """Parses bAbI lines into stories.

  Args:
    lines: the lines of one bAbI file (line ends are stripped; blank lines are
      skipped).
    task: the task id recorded in each story.
    source: a name for error messages, e.g. the file path.

  Returns:
    The stories, in file order. A story starts at each line numbered 1.

  Raises:
    ValueError: on a line without a number, a question without an answer, or
      a file that does not start at line 1.
  """
  stories = []
  sentences = None
  # Sentences repeat a lot across stories; parse each distinct text once.
  statements: dict[str, Sentence] = {}
  question_words: dict[str, tuple[str, ...]] = {}
  for line_number, line in enumerate(lines, 1):
    number, _, text = line.strip().partition(' ')
    if not number:
      continue
    if not number.isdigit():
      raise ValueError(f'{source}:{line_number}: no line number in {line!r}')
    if int(number) == 1:
      if sentences is not None:
        stories.append(RawStory(task, tuple(sentences)))
      sentences = []
    elif sentences is None:
      raise ValueError(
        f'{source}:{line_number}: the first story starts at {number}, not 1'
      )
    if '\t' not in text:
      sentence = statements.get(text)
      if sentence is None:
        sentence = statements[text] = Sentence(tuple(tokenize(text)))
      sentences.append(sentence)
      continue
    fields = text.split('\t')
    answers = tuple(
      word
      for part in fields[1].split(',')
      for word in part.strip().lower().split()
    )
    if not answers:
      raise ValueError(f'{source}:{line_number}: question without answer')
    try:
      support = tuple(
        int(x) for f in fields[2:] for x in f.replace(',', ' ').split()
      )
    except ValueError as e:
      raise ValueError(
        f'{source}:{line_number}: bad supporting fact ids in {line!r}'
      ) from e
    words = question_words.get(fields[0])
    if words is None:
      words = question_words[fields[0]] = tuple(tokenize(fields[0]))
    sentences.append(Sentence(words, answers, support))
  if sentences is not None:
    stories.append(RawStory(task, tuple(sentences)))
  return stories


def parse_file(path: PathLike, task: int) -> list[RawStory]:
  """Parses one bAbI file; see `parse_lines`.

  Args:
    path: the file.
    task: its task id.

  Returns:
    The stories of the file, in order.
  """
  with open(path, encoding='utf-8') as f:
    return parse_lines(f, task, source=str(path))


def read_split(
  data_dir: PathLike,
  split: str,
  tasks: Iterable[int] | None = None,
  allow_1k_fallback: bool = False,
) -> dict[int, list[RawStory]]:
  """Reads and parses the files of one split.

  Args:
    data_dir: a split directory such as `.../tasks_1-20_v1-2/en-10k`.
    split: 'train' or 'test'.
    tasks: task ids in 1..20; all 20 if None.
    allow_1k_fallback: see `find_task_files`.

  Returns:
    A dict from task id to that task's stories, in increasing task order.

  Raises:
    MissingTaskFilesError: see `find_task_files`.
  """
  files = find_task_files(data_dir, split, tasks, allow_1k_fallback)
  return {task: parse_file(path, task) for task, path in files.items()}


# ----------------------------------------------------------------------------
# Vocabulary and encoding.


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
      ValueError: naming the words that are not in the vocabulary.
    """
    words = list(words)
    try:
      return [self._ids[w] for w in words]
    except KeyError:
      unknown = sorted({w for w in words if w not in self._ids})
      raise ValueError(f'Words not in the vocabulary: {unknown}') from None

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


def encode_story(story: RawStory, vocab: Vocabulary) -> Story:
  """Encodes a parsed story as one input sequence with answer targets.

  Each sentence's tokens are followed, for a question, by one marker per
  answer word; the answer words become the targets at the markers.

  Args:
    story: a parsed story.
    vocab: a vocabulary containing all its words and answers.

  Returns:
    The encoded Story.

  Raises:
    ValueError: if a word is not in `vocab`.
  """
  return _encode_story(story, vocab, {})


def _encode_story(
  story: RawStory, vocab: Vocabulary, cache: dict[tuple[str, ...], list[int]]
) -> Story:
  """`encode_story`, caching the ids of each distinct sentence in `cache`."""
  tokens, positions, answers, question_index = [], [], [], []
  question = 0
  for sentence in story.sentences:
    ids = cache.get(sentence.words)
    if ids is None:
      ids = cache[sentence.words] = vocab.encode(sentence.words)
    tokens.extend(ids)
    if sentence.is_question:
      for answer in vocab.encode(sentence.answers):
        positions.append(len(tokens))
        tokens.append(MARKER_ID)
        answers.append(answer)
        question_index.append(question)
      question += 1
  return Story(
    story.task,
    tuple(tokens),
    tuple(positions),
    tuple(answers),
    tuple(question_index),
  )


def encode_stories(
  stories: Iterable[RawStory], vocab: Vocabulary
) -> list[Story]:
  """`encode_story` over `stories`, in order.

  Args:
    stories: parsed stories.
    vocab: a vocabulary containing all their words.

  Returns:
    The encoded stories, in the same order.
  """
  cache = {}
  return [_encode_story(story, vocab, cache) for story in stories]


def decode_story(
  story: Story,
  vocab: Vocabulary,
  predictions: Sequence[int] | np.ndarray | None = None,
) -> list[str]:
  """Turns an encoded story back into bAbI-style lines, numbers dropped.

  Statements read 'mary moved to the bathroom.' and questions
  'where is mary?\\tbathroom' (answer words joined by ',').

  Args:
    story: an encoded story.
    vocab: its vocabulary.
    predictions: optional word ids, one per answer position (`[num_answers]`),
      to show in place of the true answers, e.g. a model's outputs.

  Returns:
    One string per line of the story.
  """
  fill = story.answers if predictions is None else predictions
  if len(fill) != len(story.answer_positions):
    raise ValueError(
      f'{len(fill)} predictions for {len(story.answer_positions)} answers'
    )
  fill_at = dict(zip(story.answer_positions, vocab.decode(fill), strict=True))
  words = vocab.decode(story.tokens)
  lines, current, answers = [], [], []

  def flush():
    text = re.sub(r' ([.?])', r'\1', ' '.join(current))
    lines.append(text + ('\t' + ','.join(answers) if answers else ''))
    current.clear()
    answers.clear()

  for position, word in enumerate(words):
    if position in fill_at:
      answers.append(fill_at[position])
      continue
    if answers or (current and current[-1] == '?'):
      flush()
    current.append(word)
    if word == '.':
      flush()
  if current or answers:
    flush()
  return lines


def load_dataset(
  data_dir: PathLike,
  tasks: Iterable[int] | None = None,
  splits: Sequence[str] = SPLITS,
  vocab: Vocabulary | None = None,
  allow_1k_fallback: bool = False,
) -> tuple[Vocabulary, dict[str, list[Story]]]:
  """Reads, parses and encodes the given tasks and splits.

  Args:
    data_dir: a split directory such as `.../tasks_1-20_v1-2/en-10k`.
    tasks: task ids in 1..20; all 20 if None.
    splits: which of 'train' and 'test' to read.
    vocab: the vocabulary to encode with, e.g. one restored from a
      checkpoint; if None, `Vocabulary.from_stories` over all files read.
    allow_1k_fallback: see `find_task_files`.

  Returns:
    `(vocab, stories)`, where `stories[split]` lists the encoded stories of
    that split, task by task in increasing order, each task in file order.
  """
  raw = {}
  for split in splits:
    by_task = read_split(data_dir, split, tasks, allow_1k_fallback)
    raw[split] = [story for task in by_task for story in by_task[task]]
  if vocab is None:
    vocab = Vocabulary.from_stories(s for split in raw for s in raw[split])
  return vocab, {split: encode_stories(raw[split], vocab) for split in raw}


# ----------------------------------------------------------------------------
# Batching.


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


# ----------------------------------------------------------------------------
# Statistics and command line.


def _length_stats(lengths: Sequence[int]) -> dict[str, float]:
  if not lengths:
    return {'min': 0, 'median': 0.0, 'max': 0, 'mean': 0.0}
  array = np.asarray(lengths)
  return {
    'min': int(array.min()),
    'median': float(np.median(array)),
    'max': int(array.max()),
    'mean': float(array.mean()),
  }


def statistics(stories: Iterable[Story], vocab: Vocabulary) -> dict[str, Any]:
  """Counts and story lengths, overall and per task.

  Args:
    stories: encoded stories of any tasks.
    vocab: their vocabulary.

  Returns:
    A dict with 'vocab_size', 'stories', 'questions', 'answer_words',
    'length' (min/median/max/mean tokens per story, markers included) and
    'tasks': {task id: the same counts and 'length' for that task}.
  """
  by_task: dict[int, list[Story]] = {}
  for story in stories:
    by_task.setdefault(story.task, []).append(story)

  def summarise(group):
    return {
      'stories': len(group),
      'questions': sum(s.num_questions for s in group),
      'answer_words': sum(len(s.answers) for s in group),
      'length': _length_stats([len(s.tokens) for s in group]),
    }

  everything = [s for task in sorted(by_task) for s in by_task[task]]
  result = {'vocab_size': vocab.size, **summarise(everything)}
  result['tasks'] = {task: summarise(by_task[task]) for task in sorted(by_task)}
  return result


def format_statistics(stats: Mapping[str, Any]) -> str:
  """A short table of a `statistics` dict.

  Args:
    stats: from `statistics`.

  Returns:
    Printable text, one row per task and a total row.
  """
  header = (
    f'{"task":>5} {"stories":>8} {"questions":>9} {"min":>5} {"median":>7} '
    f'{"max":>5} {"mean":>7}'
  )

  def row(name, s):
    n = s['length']
    return (
      f'{name:>5} {s["stories"]:>8} {s["questions"]:>9} {n["min"]:>5} '
      f'{n["median"]:>7.1f} {n["max"]:>5} {n["mean"]:>7.1f}'
    )

  lines = [
    f'vocabulary size: {stats["vocab_size"]} (with <pad> and -)',
    'story length in tokens:',
    header,
  ]
  lines += [row(str(task), s) for task, s in stats['tasks'].items()]
  lines.append(row('all', stats))
  return '\n'.join(lines)


def _parse_task_list(text: str) -> list[int]:
  try:
    return [int(t) for t in text.split(',') if t.strip()]
  except ValueError:
    raise argparse.ArgumentTypeError(
      f'not a list of task ids: {text}'
    ) from None


def main(argv: Sequence[str] | None = None) -> int:
  """Prints bAbI statistics: `python -m dnc.babi --data_dir=... [--tasks=...]`.

  Args:
    argv: command-line arguments without the program name; sys.argv if None.

  Returns:
    The exit status.
  """
  parser = argparse.ArgumentParser(
    prog='python -m dnc.babi', description=__doc__.split('\n')[0]
  )
  parser.add_argument(
    '--data_dir',
    required=True,
    help='a bAbI split directory, e.g. .../tasks_1-20_v1-2/en-10k',
  )
  parser.add_argument(
    '--tasks',
    type=_parse_task_list,
    default=None,
    help='comma-separated task ids (default: all 20)',
  )
  parser.add_argument('--split', choices=SPLITS, default='train')
  parser.add_argument(
    '--allow_1k_fallback',
    action='store_true',
    help='take files missing from data_dir from the sibling en/ directory',
  )
  parser.add_argument(
    '--save_vocab', default=None, help='write the vocabulary JSON here'
  )
  args = parser.parse_args(argv)
  logging.basicConfig(level=logging.INFO, format='%(levelname)s: %(message)s')
  try:
    vocab, stories = load_dataset(
      args.data_dir,
      args.tasks,
      allow_1k_fallback=args.allow_1k_fallback,
    )
  except (FileNotFoundError, ValueError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  print(f'{args.data_dir} ({args.split}); vocabulary from train and test')
  print(format_statistics(statistics(stories[args.split], vocab)))
  if args.save_vocab:
    vocab.save(args.save_vocab)
    print(f'vocabulary written to {args.save_vocab}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
