"""What `train.py --logdir` costs: training time with and without summaries.

  python -m benchmarks.logdir_overhead [--steps=2000 --repeats=3]

Runs train.py on its default flags (report every 100 steps) in alternating
subprocesses, with and without `--logdir`, and times the steady state from
the second report's log line to the last one, so that the summaries written
at every report are counted and one-off costs are not: compiling the
training step, and compiling the pass that collects the internals at the
first report (printed separately). Prints the median ms per step of each and
their ratio.
"""

from collections.abc import Sequence
import datetime
import os
import re
import statistics
import subprocess
import sys
import tempfile

from absl import app
from absl import flags

_STEPS = flags.DEFINE_integer('steps', 2000, 'Training steps per run.', 300)
_REPEATS = flags.DEFINE_integer('repeats', 3, 'Runs with and without.', 1)
_REPORT = flags.DEFINE_integer('report_interval', 100, 'As in train.py.', 1)

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# absl's log prefix, e.g. 'I1125 12:32:07.710981 ... 300: 250.1 steps/s.'
_REPORT_LINE = re.compile(
  r'^I\d{4} (\d\d:\d\d:\d\d\.\d+) .*\] (\d+): [\d.]+ steps/s'
)


def measure(logdir: str | None) -> tuple[float, float]:
  """ms per training step after the first report; seconds of the first."""
  with tempfile.TemporaryDirectory() as checkpoint_dir:
    args = [
      sys.executable,
      os.path.join(_ROOT, 'train.py'),
      f'--num_training_iterations={_STEPS.value}',
      f'--report_interval={_REPORT.value}',
      '--checkpoint_interval=0',
      f'--checkpoint_dir={checkpoint_dir}',
      '--seed=0',
    ]
    if logdir:
      args.append(f'--logdir={logdir}')
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
    result = subprocess.run(
      args, capture_output=True, text=True, env=env, check=True
    )
  reports = [
    (datetime.datetime.strptime(m.group(1), '%H:%M:%S.%f'), int(m.group(2)))
    for m in map(_REPORT_LINE.match, result.stderr.splitlines())
    if m
  ]
  (first_time, _), (second_time, second_step) = reports[:2]
  last_time, last_step = reports[-1]
  seconds = (last_time - second_time).total_seconds()
  ms_per_step = 1000 * seconds / (last_step - second_step)
  first_report_s = (second_time - first_time).total_seconds()
  return ms_per_step, first_report_s - ms_per_step * _REPORT.value / 1000


def main(argv: Sequence[str]) -> None:
  del argv
  without, with_logdir, one_off = [], [], []
  for _ in range(_REPEATS.value):
    without.append(measure(None)[0])
    with tempfile.TemporaryDirectory() as logdir:
      ms_per_step, first_report_s = measure(logdir)
    with_logdir.append(ms_per_step)
    one_off.append(first_report_s)
  off, on = statistics.median(without), statistics.median(with_logdir)
  print('| --logdir | ms per step (median) | runs |')
  print('|---|---:|---|')
  print(f'| off | {off:.3f} | {", ".join(f"{t:.3f}" for t in without)} |')
  print(f'| on | {on:.3f} | {", ".join(f"{t:.3f}" for t in with_logdir)} |')
  print(f'\nOverhead of --logdir: {100 * (on / off - 1):+.1f}%, plus a one-off')
  print(
    f'{statistics.median(one_off):.1f} s at the first report (compiling the '
    'pass that collects the internals).'
  )


if __name__ == '__main__':
  app.run(main)
