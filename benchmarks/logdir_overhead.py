"""What `train.py --logdir` costs: training time with and without summaries.

  python -m benchmarks.logdir_overhead [--steps=2000 --repeats=3]

Runs train.py on its default flags (report every 100 steps) in alternating
subprocesses, with and without `--logdir`, and times the steady state from
the first report's log line to the last one, so that compilation is left
out and the summaries written at every report are counted. Prints the
median ms per step of each and their ratio.
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


def steady_ms_per_step(logdir: str | None) -> float:
  """ms per training step between the first and the last report."""
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
  (first_time, first_step), (last_time, last_step) = reports[0], reports[-1]
  seconds = (last_time - first_time).total_seconds()
  return 1000 * seconds / (last_step - first_step)


def main(argv: Sequence[str]) -> None:
  del argv
  without, with_logdir = [], []
  for _ in range(_REPEATS.value):
    without.append(steady_ms_per_step(None))
    with tempfile.TemporaryDirectory() as logdir:
      with_logdir.append(steady_ms_per_step(logdir))
  off, on = statistics.median(without), statistics.median(with_logdir)
  print('| --logdir | ms per step (median) | runs |')
  print('|---|---:|---|')
  print(f'| off | {off:.3f} | {", ".join(f"{t:.3f}" for t in without)} |')
  print(f'| on | {on:.3f} | {", ".join(f"{t:.3f}" for t in with_logdir)} |')
  print(f'\nOverhead of --logdir: {100 * (on / off - 1):+.1f}%')


if __name__ == '__main__':
  app.run(main)
