"""Counts and story lengths of encoded stories, overall and per task."""

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import numpy as np

from dnc.tasks.babi.encoding import Story
from dnc.tasks.babi.vocabulary import Vocabulary


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
