"""Data-parallel training speed: one process on 2 cores against 2 workers.

  python -m benchmarks.distribute [--configs=C1,C3] [--steps=200]

For each configuration (`common.CONFIGS`, at their global batch), runs
`train.py` for `--steps` steps as:

- `none`: one process, one replica, free to use both cores;
- `mirrored`: one process, `--cpu_devices=2`, two replicas;
- `multi_worker`: two processes (`tests/local_cluster.py`), each pinned to one
  core, one replica each;

and prints steps and sequences per second (median and range over the
reports after the first, which includes compilation), their ratio to
`none`, and whether each worker compiled its per-replica step with XLA (its
log says "Compiled cluster using XLA"). It also tries XLA around the whole
step under `MirroredStrategy`, which TensorFlow refuses on CPU, and prints
the error.
"""

from collections.abc import Sequence
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

from absl import app
from absl import flags

from benchmarks import common
from tests import local_cluster

_CONFIGS = flags.DEFINE_list('configs', ['C1', 'C3'], 'common.CONFIGS keys.')
_STEPS = flags.DEFINE_integer('steps', 200, 'Training steps of each run.')
_REPORTS = flags.DEFINE_integer('reports', 10, 'Reports of each run.')
_JSON = flags.DEFINE_string('json', '', 'Write the results here too.')

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SPEED = re.compile(r'^\d+: ([\d.]+) steps/s\.$', re.MULTILINE)


def _run(config, setup, steps, reports, directory):
  """One run's reported speeds and whether every worker compiled with XLA."""
  interval = max(steps // reports, 1)
  command = [sys.executable, os.path.join(_ROOT, 'train.py')]
  command += [f'--{key}={value}' for key, value in config.items()]
  command += [
    f'--num_training_iterations={interval * reports}',
    f'--report_interval={interval}',
    '--seed=0',
    f'--checkpoint_dir={os.path.join(directory, setup)}',
  ]
  workers, cores = 1, [range(os.cpu_count())]
  if setup == 'mirrored':
    command += ['--distribute=mirrored', '--cpu_devices=2']
  elif setup == 'multi_worker':
    command += ['--distribute=multi_worker']
    workers, cores = 2, [[0], [1]]
  os.environ['TF_CPP_MIN_LOG_LEVEL'] = '0'  # For XLA's "Compiled cluster".
  cluster = local_cluster.LocalCluster(
    command, workers, directory, name=setup, cores=cores, cwd=_ROOT
  )
  codes = cluster.wait(timeout=3600)
  if any(codes):
    raise RuntimeError(f'{setup} failed ({codes}):\n{cluster.output()}')
  speeds = [float(s) for s in _SPEED.findall(cluster.output(0))][1:]
  xla = all(
    'Compiled cluster using XLA' in cluster.output(i) for i in range(workers)
  )
  return speeds, xla


def whole_step_xla_error() -> str:
  """What TensorFlow says to XLA around a mirrored step (2 logical CPUs)."""
  code = """
import tensorflow as tf
import sonnet as snt
cpu = tf.config.list_physical_devices('CPU')[0]
tf.config.set_logical_device_configuration(
  cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
strategy = tf.distribute.MirroredStrategy(
  ['/cpu:0', '/cpu:1'], cross_device_ops=tf.distribute.ReductionToOneDevice())
with strategy.scope():
  linear = snt.Linear(2)
  linear(tf.zeros([1, 2]))
@tf.function(jit_compile=True)
def step():
  strategy.run(lambda: linear(tf.ones([1, 2])))
try:
  step()
  print('compiled')
except Exception as e:
  print(type(e).__name__ + ': ' + str(e).strip().splitlines()[0])
"""
  result = subprocess.run(
    [sys.executable, '-c', code],
    capture_output=True,
    text=True,
    timeout=600,
    env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'),
  )
  return result.stdout.strip().splitlines()[-1]


def main(argv: Sequence[str]) -> None:
  del argv
  results = []
  print(
    '| config | global batch | setup | steps/s (median, range) | '
    'sequences/s | vs none | XLA per replica |'
  )
  print('|---|---:|---|---:|---:|---:|---|')
  for name in _CONFIGS.value:
    config = common.CONFIGS[name]
    base = None
    for setup in ('none', 'mirrored', 'multi_worker'):
      with tempfile.TemporaryDirectory() as directory:
        speeds, xla = _run(
          config, setup, _STEPS.value, _REPORTS.value, directory
        )
      median = statistics.median(speeds)
      base = base or median
      batch = config['batch_size']
      results.append(
        dict(config=name, setup=setup, steps_per_second=speeds, xla=xla)
      )
      print(
        f'| {name} | {batch} | {setup} | {median:.1f} '
        f'({min(speeds):.1f}-{max(speeds):.1f}) | {median * batch:.0f} | '
        f'{median / base:.2f}x | {"yes" if xla else "no"} |',
        flush=True,
      )
  error = whole_step_xla_error()
  print(f'\nXLA around the whole mirrored step: {error}')
  if _JSON.value:
    with open(_JSON.value, 'w') as f:
      json.dump(dict(runs=results, whole_step_xla=error), f, indent=2)


if __name__ == '__main__':
  app.run(main)
