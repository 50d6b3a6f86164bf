"""Finding and parsing the files of the bAbI tasks v1.2.

A split directory (e.g. `.../tasks_1-20_v1-2/en-10k`) holds files named
`qa{N}_{name}_{train,test}.txt`; they are found by their `qa{N}_` prefix.
File format (see the dataset's README.txt): numbered lines, a story restarting
whenever the number is 1; statements `N text.` and questions
`N question?<TAB>answer<TAB>supporting ids`, where an answer may be a
comma-separated list of words (task 8 `football,milk`, task 19 `n,w`).
"""

from collections.abc import Iterable
from collections.abc import Sequence
import logging
import os
import pathlib
import re
from typing import NamedTuple

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
  missing_ok: bool = False,
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
    missing_ok: leave out the tasks whose file is not found, rather than
      raising `MissingTaskFilesError`.

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
  if missing and not missing_ok:
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
