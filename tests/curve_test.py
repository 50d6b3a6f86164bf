"""Tests for dnc.tools.curve: any task's validation records as a curve."""

import json
import os
import subprocess
import sys

from absl.testing import absltest
from matplotlib import image

from dnc.tools import curve
from dnc.train import loop
from tests import shared_data


def _write_records(directory, records):
  with open(os.path.join(directory, loop.VALIDATION_FILE), 'w') as f:
    for record in records:
      f.write(json.dumps(record) + '\n')


class CurveTest(absltest.TestCase):
  def test_points_scale_the_field(self):
    records = [{'step': 1000, 'score': 3.5}, {'step': 2000, 'score': 2.75}]
    self.assertEqual(
      curve.points(records, 'step', 3200), ([3.2e6, 6.4e6], [3.5, 2.75])
    )
    with self.assertRaisesRegex(ValueError, "no field 'stories_seen'"):
      curve.points(records, 'stories_seen')

  def test_draws_the_runs_and_references(self):
    runs = [
      ('a', [{'step': i, 'score': 4 - 0.5 * i} for i in range(5)]),
      ('b', [{'step': i, 'score': 3 - 0.1 * i} for i in range(5)]),
    ]
    path = os.path.join(self.create_tempdir().full_path, 'curve.png')
    references = [('unigram', 4.2, ':')]
    self.assertEqual(curve.plot_curves(runs, path, references=references), path)
    rgb = image.imread(path)[..., :3]
    self.assertEqual(rgb.shape[:2], (420, 700))
    # Coloured lines (not only black text and grey references) were drawn.
    self.assertGreater(((rgb.max(-1) - rgb.min(-1)) > 0.3).sum(), 200)

  def test_command(self):
    run = self.create_tempdir().full_path
    _write_records(run, [{'step': 100, 'score': 3.0}])
    output = os.path.join(self.create_tempdir().full_path, 'curve.png')
    env = dict(os.environ, PYTHONPATH=str(shared_data.REPO))
    command = [sys.executable, '-m', 'dnc.tools.curve', f'--output={output}']
    done = subprocess.run(
      [*command, '--x_scale=3200', run],
      capture_output=True,
      text=True,
      env=env,
      timeout=120,
    )
    self.assertEqual(done.returncode, 0, done.stderr)
    self.assertGreater(os.path.getsize(output), 1000)
    done = subprocess.run(
      [*command, '--x=characters_seen', run],
      capture_output=True,
      text=True,
      env=env,
      timeout=120,
    )
    self.assertEqual(done.returncode, 1)
    self.assertIn("no field 'characters_seen'", done.stderr)
    self.assertNotIn('Traceback', done.stderr)


if __name__ == '__main__':
  absltest.main()
