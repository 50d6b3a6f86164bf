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

from absl import app
from absl import flags
from absl import logging

from dnc.tasks.babi import results
from dnc.tools import curve


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
  references = [
    (f'{name} (paper, test) {results.PAPER_MEANS[name][0]}%',)
    + (results.PAPER_MEANS[name][0], style)
    for name, style in (('LSTM', ':'), ('DNC1', '--'))
  ]
  return curve.plot_curves(
    runs,
    path,
    x='stories_seen',
    x_scale=1e-3,
    x_label='training stories seen (thousands)',
    y_label='validation mean error over tasks (%)',
    references=references,
  )


FLAGS = flags.FLAGS
flags.DEFINE_string('output', 'babi_learning_curve.png', 'The PNG to write.')
flags.DEFINE_list('labels', [], 'A label per run (default: directory names).')


def main(argv: Sequence[str]) -> int:
  runs = curve.read_runs(argv[1:], FLAGS.labels)
  logging.info('Wrote %s.', plot_curves(runs, FLAGS.output))
  return 0


if __name__ == '__main__':
  app.run(main)
