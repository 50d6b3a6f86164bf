"""Per-task error of a model's answers, and the table beside the paper's.

A question counts as answered only if every one of its answer words is
(task 8 `milk,football`, task 19 `n,w`); the error of a task is the share of
its questions answered wrongly, in percent, as in Extended Data Table 1 of
Graves et al. (2016), whose figures for DNC1 and the LSTM baseline are here.
"""

from collections.abc import Iterable
from collections.abc import Mapping
import json
from typing import Any

import numpy as np

from dnc.tasks.babi.encoding import Story
from dnc.tasks.babi.files import TASK_NAMES

# Extended Data Table 1 of Graves et al. (2016): mean +- s.d. test error (%)
# over 20 runs, per task, for DNC1 and the LSTM baseline. The LSTM figure for
# task 18 is not legible in our copy of the table.
PAPER_DNC1 = (
  (9.0, 12.6), (39.2, 20.5), (39.6, 16.4), (0.4, 0.7), (1.5, 1.0),
  (6.9, 7.5), (9.8, 7.0), (5.5, 5.9), (7.7, 8.3), (9.6, 11.4),
  (3.3, 5.7), (5.0, 6.3), (3.1, 3.6), (11.0, 7.5), (27.2, 20.1),
  (53.6, 1.9), (32.4, 8.0), (4.2, 1.8), (64.6, 37.4), (0.0, 0.1),
)  # fmt: skip
PAPER_LSTM = (
  (28.4, 1.5), (56.0, 1.5), (51.3, 1.4), (0.8, 0.5), (3.2, 0.5),
  (15.2, 1.5), (16.4, 1.4), (17.7, 1.2), (15.4, 1.5), (28.7, 1.7),
  (12.2, 3.5), (5.4, 0.6), (7.2, 2.3), (55.9, 1.2), (47.0, 1.7),
  (53.3, 1.3), (34.8, 4.1), None, (90.9, 1.1), (1.3, 0.4),
)  # fmt: skip
# Mean error and failed tasks (> 5% error), mean +- s.d., over the 20 tasks.
PAPER_MEANS = {'DNC1': (16.7, 7.6, 11.2, 5.4), 'LSTM': (27.3, 0.8, 17.1, 1.0)}
FAILED_ABOVE = 5.0  # Percent: the paper's threshold for a failed task.
SPLIT_CAPTIONS = {
  'test': 'Test',
  'train': 'Training-set',
  'valid': 'Validation',
}


class QuestionErrors:
  """Counts wrong and total questions per task, batch by batch."""

  def __init__(self):
    self.wrong: dict[int, int] = {}
    self.total: dict[int, int] = {}

  def add(self, stories: Iterable[Story], predictions: np.ndarray) -> None:
    """Adds the questions of a batch.

    Args:
      stories: the batch's B stories, column by column (filler columns
        after them are ignored).
      predictions: int `[T, batch_size]`, the predicted word id per step.
    """
    for column, story in enumerate(stories):
      predicted = predictions[list(story.answer_positions), column]
      missed = {
        question
        for question, ok in zip(
          story.question_index, predicted == story.answers, strict=True
        )
        if not ok
      }
      self.wrong[story.task] = self.wrong.get(story.task, 0) + len(missed)
      self.total[story.task] = (
        self.total.get(story.task, 0) + story.num_questions
      )

  def percent(self) -> dict[int, float]:
    """The error (%) of each task seen, in task order."""
    return {
      task: 100 * self.wrong[task] / self.total[task]
      for task in sorted(self.total)
    }


def error_table(
  errors: Mapping[int, float], checkpoint: str, steps: int, split: str = 'test'
) -> str:
  """Markdown in the layout of Extended Data Table 1, with our column.

  Args:
    errors: task id to error (%).
    checkpoint: the checkpoint evaluated, for the caption.
    steps: its training steps, for the caption.
    split: 'test', 'train' or 'valid', for the caption.

  Returns:
    The table, one row per task, then the mean error and the failed tasks.
  """

  def paper(value):
    return '-' if value is None else f'{value[0]:.1f} ± {value[1]:.1f}'

  lines = [
    f'{SPLIT_CAPTIONS.get(split, split)} error (%) of '
    f'{checkpoint} after {steps} steps.',
    '',
    '| task | ours | DNC1 (paper, mean ± s.d.) | LSTM (paper) |',
    '|---|---:|---:|---:|',
  ]
  for task, error in sorted(errors.items()):
    name = TASK_NAMES[task].replace('-', ' ')
    lines.append(
      f'| {task}: {name} | {error:.1f} | {paper(PAPER_DNC1[task - 1])} | '
      f'{paper(PAPER_LSTM[task - 1])} |'
    )
  mean = np.mean(list(errors.values()))
  failed = sum(error > FAILED_ABOVE for error in errors.values())
  dnc1, lstm = PAPER_MEANS['DNC1'], PAPER_MEANS['LSTM']
  lines.append(
    f'| **mean error** | **{mean:.1f}** | {dnc1[0]} ± {dnc1[1]} | '
    f'{lstm[0]} ± {lstm[1]} |'
  )
  lines.append(
    f'| **failed tasks (> 5%)** | **{failed}** | {dnc1[2]} ± {dnc1[3]} | '
    f'{lstm[2]} ± {lstm[3]} |'
  )
  return '\n'.join(lines)


def results_record(
  errors: QuestionErrors, checkpoint: str, steps: int, split: str
) -> dict[str, Any]:
  """The evaluation as JSON-ready data (what `--results=PATH.json` holds)."""
  percent = errors.percent()
  return {
    'checkpoint': checkpoint,
    'steps': steps,
    'split': split,
    'error_percent': {str(t): e for t, e in percent.items()},
    'questions': {str(t): errors.total[t] for t in sorted(errors.total)},
    'mean_error_percent': float(np.mean(list(percent.values()))),
    'failed_tasks': int(sum(e > FAILED_ABOVE for e in percent.values())),
  }


def write_results(path: str, table: str, record: Mapping[str, Any]) -> None:
  """Writes `path.md` (the table) and `path.json` (the record)."""
  with open(path + '.md', 'w') as f:
    f.write(table + '\n')
  with open(path + '.json', 'w') as f:
    json.dump(record, f, indent=2)
