"""Stories as word-id sequences with answer targets, and back.

As in the Methods of Graves et al. (2016): a whole story (all its statements
and questions) is one sequence of lower-cased words, with '.' and '?' as
separate tokens and line numbers and supporting-fact ids dropped. After each
question's '?', every answer word is replaced in the input by the marker
token '-', at which the model must output that answer word.
"""

from collections.abc import Iterable
from collections.abc import Sequence
import re
from typing import NamedTuple

import numpy as np

from dnc.tasks.babi.files import SPLITS
from dnc.tasks.babi.files import PathLike
from dnc.tasks.babi.files import RawStory
from dnc.tasks.babi.files import read_split
from dnc.tasks.babi.vocabulary import MARKER_ID
from dnc.tasks.babi.vocabulary import Vocabulary


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
  vocab_tasks: Iterable[int] = (),
) -> tuple[Vocabulary, dict[str, list[Story]]]:
  """Reads, parses and encodes the given tasks and splits.

  Args:
    data_dir: a split directory such as `.../tasks_1-20_v1-2/en-10k`.
    tasks: task ids in 1..20; all 20 if None.
    splits: which of 'train' and 'test' to read.
    vocab: the vocabulary to encode with, e.g. one restored from a
      checkpoint; if None, `Vocabulary.from_stories` over all files read and
      the test files of `vocab_tasks`.
    allow_1k_fallback: see `find_task_files`.
    vocab_tasks: tasks whose test files the vocabulary covers too, even if
      not read: `ALL_TASKS` makes the word ids independent of `tasks` (as
      train_babi.py wants, so that a model trained on some tasks reads the
      others). Ignored when `vocab` is given.

  Returns:
    `(vocab, stories)`, where `stories[split]` lists the encoded stories of
    that split, task by task in increasing order, each task in file order.
  """
  raw = {}
  for split in splits:
    by_task = read_split(data_dir, split, tasks, allow_1k_fallback)
    raw[split] = [story for task in by_task for story in by_task[task]]
  if vocab is None:
    vocab_stories = [s for split in raw for s in raw[split]]
    vocab_tasks = list(vocab_tasks)
    if vocab_tasks:
      extra = read_split(data_dir, 'test', vocab_tasks)
      vocab_stories += [s for by_task in extra.values() for s in by_task]
    vocab = Vocabulary.from_stories(vocab_stories)
  return vocab, {split: encode_stories(raw[split], vocab) for split in raw}
