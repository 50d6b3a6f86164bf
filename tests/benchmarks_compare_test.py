"""Tests for benchmarks.compare: alternation, pairing and the table."""

import contextlib
import io
import os
import sys
from unittest import mock

from absl.testing import absltest

from benchmarks import compare

_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class CompareTest(absltest.TestCase):
  def _main(self, *args):
    with mock.patch.object(sys, 'argv', ['compare', *args]):
      output = io.StringIO()
      with contextlib.redirect_stdout(output):
        compare.main()
    return output.getvalue()

  def test_alternates_and_reports_paired_ratios(self):
    other = self.create_tempdir().full_path
    os.makedirs(os.path.join(other, 'benchmarks'))
    open(os.path.join(other, 'benchmarks', 'train_step.py'), 'w').close()
    calls = []
    # Here takes 2 ms in round 0 and 3 ms in round 1; the other 4 and 4.
    times = {(_HERE, 0): 2.0, (_HERE, 1): 3.0, (other, 0): 4.0, (other, 1): 4.0}

    def worker(root, config, mode, steps):
      calls.append(root)
      self.assertEqual((config, mode, steps), ('C1', 'xla', 7))
      return times[root, sum(c == root for c in calls) - 1]

    with mock.patch.object(compare, 'run_worker', worker):
      output = self._main(
        f'--other={other}', '--configs=C1', '--rounds=2', '--steps=7'
      )
    # The other first in round 0, this checkout first in round 1.
    self.assertEqual(calls, [other, _HERE, _HERE, other])
    self.assertIn(
      '| C1 | xla | 4.00 (4.00-4.00) | 2.50 (2.00-3.00) | 0.625 '
      '(0.500-0.750) |',
      output,
    )

  def test_other_without_the_benchmark_is_refused(self):
    with self.assertRaises(SystemExit):
      with contextlib.redirect_stderr(io.StringIO()) as error:
        self._main(f'--other={self.create_tempdir().full_path}')
    self.assertIn('no benchmarks/train_step.py', error.getvalue())


if __name__ == '__main__':
  absltest.main()
