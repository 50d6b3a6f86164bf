"""Learning curves: the validation score of runs against training progress.

  python -m dnc.tools.curve --output=curve.png RUN_DIR [RUN_DIR ...] \
      [--labels=name,...] [--x=step] [--x_scale=1] [--x_label=...] \
      [--y_label=...]

reads the `validation.jsonl` that the training loop writes beside a run's
checkpoints (and that a pretrained folder keeps: one record per checkpoint,
with the step, the task's `score` and what else the task records) and draws
one line per run: `score` against the record's `--x` field times
`--x_scale` (e.g. `--x=step --x_scale=3200` for the characters of
character-level steps of 32 windows of 100). Needs matplotlib
(`pip install 'dnc[viz]'`).
"""

from collections.abc import Sequence
import os

from absl import app
from absl import flags
from absl import logging

from dnc.train import loop

# A horizontal reference line: its label, its value and its line style.
Reference = tuple[str, float, str]


def points(
  records: Sequence[dict], x: str = 'step', x_scale: float = 1.0
) -> tuple[list[float], list[float]]:
  """A run's curve: `x_scale` times each record's field `x`, and its score.

  Raises:
    ValueError: a record lacks the field `x`.
  """
  if any(x not in r for r in records):
    raise ValueError(f'--x: a validation record has no field {x!r}.')
  return [r[x] * x_scale for r in records], [r['score'] for r in records]


def plot_curves(
  runs: Sequence[tuple[str, Sequence[dict]]],
  path: str,
  x: str = 'step',
  x_scale: float = 1.0,
  x_label: str = 'training steps',
  y_label: str = 'validation score',
  references: Sequence[Reference] = (),
  y_max: float | None = None,
) -> str:
  """Draws each run's `score` against `x_scale` times its field `x`.

  Args:
    runs: `(label, records)` per run, records as `loop.read_validation`
      returns them.
    path: the PNG to write.
    x: the records' field along the horizontal axis.
    x_scale: what each unit of `x` stands for on the axis.
    x_label, y_label: the axes' labels.
    references: horizontal lines, each `(label, value, line style)`.
    y_max: the top of the y axis (None: to fit every point; a lower one
      leaves an early spike off the chart).

  Returns:
    `path`.

  Raises:
    ImportError: matplotlib is not installed.
    ValueError: a record lacks the field `x`.
  """
  try:
    from matplotlib import figure
  except ImportError as e:
    raise ImportError(
      "Drawing needs matplotlib: pip install 'dnc[viz]'."
    ) from e
  curves = [(label, points(records, x, x_scale)) for label, records in runs]
  fig = figure.Figure(figsize=(7, 4.2), layout='constrained')
  ax = fig.subplots()
  for label, (along, scores) in curves:
    ax.plot(along, scores, marker='o', label=label)
  for label, value, style in references:
    ax.axhline(value, color='grey', linestyle=style, linewidth=1)
    ax.annotate(
      label,
      (0, value),
      xycoords=('axes fraction', 'data'),
      xytext=(4, 3),
      textcoords='offset points',
      fontsize=8,
      color='grey',
    )
  ax.set_xlabel(x_label)
  ax.set_ylabel(y_label)
  ax.set_ylim(bottom=0, top=y_max)
  ax.grid(alpha=0.3)
  ax.legend()
  fig.savefig(path, dpi=100)
  return path


def read_runs(
  run_dirs: Sequence[str], labels: Sequence[str]
) -> list[tuple[str, list[dict]]]:
  """`(label, records)` of each run directory (or pretrained folder).

  Args:
    run_dirs: directories holding a `validation.jsonl`.
    labels: one per directory; empty for the directories' names.

  Raises:
    app.UsageError: in one line, no directory, a label count that differs,
      or a directory without validation records.
  """
  if not run_dirs:
    raise app.UsageError('Name one or more run directories.')
  labels = list(labels) or [
    os.path.basename(os.path.normpath(d)) for d in run_dirs
  ]
  if len(labels) != len(run_dirs):
    raise app.UsageError(
      f'--labels: {len(labels)} labels for {len(run_dirs)} runs.'
    )
  runs = []
  for label, run_dir in zip(labels, run_dirs, strict=True):
    records = loop.read_validation(run_dir)
    if not records:
      raise app.UsageError(
        f'No validation records in {run_dir}: is it a training run (or a '
        'pretrained folder) whose task validates?'
      )
    runs.append((label, records))
  return runs


FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command's flags (defined by the command only, so that a task's own
  curve command can import this module and define its own)."""
  flags.DEFINE_string('output', 'learning_curve.png', 'The PNG to write.')
  flags.DEFINE_list('labels', [], 'A label per run (default: directories).')
  flags.DEFINE_string('x', 'step', "The records' field along the x axis.")
  flags.DEFINE_float('x_scale', 1.0, 'What each unit of --x stands for.')
  flags.DEFINE_string('x_label', 'training steps', 'The x axis label.')
  flags.DEFINE_string('y_label', 'validation score', 'The y axis label.')
  flags.DEFINE_float('y_max', None, 'The top of the y axis (default: fit).')
  flags.DEFINE_float(
    'reference', None, 'A horizontal reference line at this score.'
  )
  flags.DEFINE_string('reference_label', '', 'The reference line label.')


def main(argv: Sequence[str]) -> int:
  runs = read_runs(argv[1:], FLAGS.labels)
  try:
    path = plot_curves(
      runs,
      FLAGS.output,
      FLAGS.x,
      FLAGS.x_scale,
      FLAGS.x_label,
      FLAGS.y_label,
      references=[]
      if FLAGS.reference is None
      else [(FLAGS.reference_label, FLAGS.reference, ':')],
      y_max=FLAGS.y_max,
    )
  except ValueError as e:
    logging.error('%s', e)
    return 1
  logging.info('Wrote %s.', path)
  return 0


if __name__ == '__main__':
  define_flags()
  app.run(main)
