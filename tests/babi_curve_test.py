"""Tests for dnc.tasks.babi.curve and the validation records it draws."""

import json
import os
import subprocess
import sys

from absl.testing import absltest
import numpy as np

from dnc.tasks.babi import curve
from dnc.train import loop
from tests import shared_data


def _write_records(directory, scores_by_step):
  with open(os.path.join(directory, loop.VALIDATION_FILE), 'w') as f:
    for step, score in scores_by_step:
      record = {'step': step, 'stories_seen': 8 * step, 'score': score}
      f.write(json.dumps(record) + '\n')


class CurveTest(absltest.TestCase):
  def test_read_validation_keeps_the_last_record_of_a_step(self):
    directory = self.create_tempdir().full_path
    # A run resumed from step 100 validated steps 200 again.
    _write_records(directory, [(100, 60.0), (200, 50.0), (200, 45.0)])
    records = loop.read_validation(directory)
    self.assertEqual([(r['step'], r['score']) for r in records],
                     [(100, 60.0), (200, 45.0)])  # fmt: skip
    self.assertEqual(loop.read_validation(self.create_tempdir().full_path), [])

  def test_draws_one_line_per_run(self):
    from matplotlib import image

    runs = [
      (
        'a',
        [{'stories_seen': 1000 * i, 'score': 80 - 5 * i} for i in range(5)],
      ),
      (
        'b',
        [{'stories_seen': 1000 * i, 'score': 70 - 2 * i} for i in range(5)],
      ),
    ]
    path = os.path.join(self.create_tempdir().full_path, 'curve.png')
    self.assertEqual(curve.plot_curves(runs, path), path)
    pixels = image.imread(path)
    self.assertEqual(pixels.shape[:2], (420, 700))
    # Coloured lines (not only black text and grey references) were drawn.
    rgb = pixels[..., :3]
    saturation = rgb.max(-1) - rgb.min(-1)
    self.assertGreater(np.sum(saturation > 0.3), 200)

  def test_command(self):
    runs = [self.create_tempdir().full_path for _ in range(2)]
    for run in runs:
      _write_records(run, [(100, 60.0), (200, 50.0)])
    output = os.path.join(self.create_tempdir().full_path, 'curve.png')
    command = [sys.executable, '-m', 'dnc.babi.curve', f'--output={output}']
    env = dict(os.environ, PYTHONPATH=str(shared_data.REPO))
    done = subprocess.run(
      [*command, *runs], capture_output=True, text=True, env=env, timeout=120
    )
    self.assertEqual(done.returncode, 0, done.stderr)
    self.assertTrue(os.path.getsize(output) > 1000)
    empty = self.create_tempdir().full_path
    done = subprocess.run(
      [*command, empty], capture_output=True, text=True, env=env, timeout=120
    )
    self.assertEqual(done.returncode, 1)
    self.assertIn(f'No validation records in {empty}', done.stderr)
    self.assertNotIn('Traceback', done.stderr)


if __name__ == '__main__':
  absltest.main()
