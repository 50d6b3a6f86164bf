"""Draws bAbI learning curves: validation error against stories seen.

  python -m dnc.babi.curve --output=images/babi_learning_curve.png \
      RUN_DIR [RUN_DIR ...] [--labels=name,...]

reads the `validation.jsonl` that train_babi.py writes beside its
checkpoints (one record per checkpoint: the mean error over the tasks of
the held-out training stories, and the stories seen) and draws one line per
run, with the paper's test-set means for DNC1 and the LSTM for reference.
Needs matplotlib (`pip install 'dnc[viz]'`).
"""

from collections.abc import Sequence
import os

from absl import app
from absl import flags
from absl import logging

from dnc.tasks.babi import results
from dnc.train import loop


def plot_curves(runs: Sequence[tuple[str, Sequence[dict]]], path: str) -> str:
  """Draws validation mean error (%) against stories seen; writes `path`.

  Args:
    runs: `(label, records)` per run, records as `loop.read_validation`
      returns them.
    path: the PNG to write.

  Returns:
    `path`.

  Raises:
    ImportError: matplotlib is not installed.
  """
  try:
    from matplotlib import figure
  except ImportError as e:
    raise ImportError(
      "Drawing needs matplotlib: pip install 'dnc[viz]'."
    ) from e

  fig = figure.Figure(figsize=(7, 4.2), layout='constrained')
  ax = fig.subplots()
  for label, records in runs:
    seen = [r['stories_seen'] / 1e3 for r in records]
    ax.plot(seen, [r['score'] for r in records], marker='o', label=label)
  for name, style in (('LSTM', ':'), ('DNC1', '--')):
    mean = results.PAPER_MEANS[name][0]
    ax.axhline(mean, color='grey', linestyle=style, linewidth=1)
    ax.annotate(
      f'{name} (paper, test) {mean}%',
      (0, mean),
      xycoords=('axes fraction', 'data'),
      xytext=(4, 3),
      textcoords='offset points',
      fontsize=8,
      color='grey',
    )
  ax.set_xlabel('training stories seen (thousands)')
  ax.set_ylabel('validation mean error over tasks (%)')
  ax.set_ylim(bottom=0)
  ax.grid(alpha=0.3)
  ax.legend()
  fig.savefig(path, dpi=100)
  return path


FLAGS = flags.FLAGS
flags.DEFINE_string('output', 'babi_learning_curve.png', 'The PNG to write.')
flags.DEFINE_list('labels', [], 'A label per run (default: directory names).')


def main(argv: Sequence[str]) -> int:
  run_dirs = argv[1:]
  if not run_dirs:
    raise app.UsageError('Name one or more train_babi.py run directories.')
  labels = FLAGS.labels or [
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
      logging.error(
        'No validation records in %s: is it a train_babi.py run with '
        '--validation_fraction > 0?',
        run_dir,
      )
      return 1
    runs.append((label, records))
  logging.info('Wrote %s.', plot_curves(runs, FLAGS.output))
  return 0


if __name__ == '__main__':
  app.run(main)
