"""Where the XLA training step spends its time, kernel by kernel.

  python -m benchmarks.profile --config=C3 --top=25

Compiles train.py's step (`repeat_copy_task.make_trainer`, XLA) for one
configuration of `common.CONFIGS`, runs it under the TensorFlow profiler and
prints, per training step, the time and number of calls of the XLA CPU kernels
that took longest, each with the TensorFlow op it came from (from the optimised
HLO, which XLA dumps to a temporary directory). Times are summed over both
threads and include the profiler's own overhead, so read them as shares of
the step rather than as its duration; `benchmarks.train_step` times it.
"""

import argparse
import collections
import glob
import os
import re
import shutil
import tempfile

from benchmarks import common

# `name = shape op(...)` lines of the optimised HLO, with their TF op name.
_HLO_LINE = re.compile(r'^\s*(?:ROOT )?%?(\S+) = .*op_name="([^"]+)"')


def hlo_op_names(dump_dir: str) -> dict[str, str]:
  """Maps each instruction of the dumped training step to its TF op name."""
  names = {}
  pattern = os.path.join(dump_dir, '*train_step*cpu_after_optimizations.txt')
  for path in glob.glob(pattern):
    with open(path) as f:
      for line in f:
        match = _HLO_LINE.match(line)
        if match:
          names[match.group(1)] = match.group(2)
  return names


def kernel_times(profile_dir: str, steps: int) -> tuple[dict, dict]:
  """Per-step milliseconds and calls of each kernel in an XLA profile."""
  from tensorflow.tsl.profiler.protobuf import xplane_pb2

  (path,) = glob.glob(
    os.path.join(profile_dir, '**/*.xplane.pb'), recursive=True
  )
  space = xplane_pb2.XSpace()
  with open(path, 'rb') as f:
    space.ParseFromString(f.read())
  (plane,) = [p for p in space.planes if p.name == '/host:CPU']
  milliseconds, calls = collections.Counter(), collections.Counter()
  for line in plane.lines:
    if line.name == 'python':  # The host thread: the step as a whole.
      continue
    for event in line.events:
      name = plane.event_metadata[event.metadata_id].name
      if name == 'ThunkExecutor::Execute':  # Encloses the kernels.
        continue
      milliseconds[name] += event.duration_ps / 1e9 / steps
      calls[name] += 1 / steps
  return milliseconds, calls


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--config', default='C3', choices=sorted(common.CONFIGS))
  parser.add_argument('--steps', type=int, default=10)
  parser.add_argument('--top', type=int, default=25)
  args = parser.parse_args()

  work_dir = tempfile.mkdtemp(prefix='dnc_profile_')
  dump_dir = os.path.join(work_dir, 'hlo')
  # XLA reads its flags when TensorFlow first compiles, so set them first.
  os.environ['XLA_FLAGS'] = (
    os.environ.get('XLA_FLAGS', '')
    + f' --xla_dump_to={dump_dir} --xla_dump_hlo_as_text'
  )
  import tensorflow as tf

  from dnc.tasks.repeat_copy import task as repeat_copy_task

  trainer = repeat_copy_task.make_trainer(
    common.CONFIGS[args.config], seed=0, compile_mode='xla'
  )
  for _ in range(5):
    trainer.train_step()[0].numpy()
  profile_dir = os.path.join(work_dir, 'profile')
  tf.profiler.experimental.start(profile_dir)
  for _ in range(args.steps):
    trainer.train_step()[0].numpy()
  tf.profiler.experimental.stop()

  op_names = hlo_op_names(dump_dir)
  milliseconds, calls = kernel_times(profile_dir, args.steps)
  total = sum(milliseconds.values())
  print(
    f'{args.config}: {sum(calls.values()):.0f} kernels and {total:.1f} ms '
    f'of kernel time per training step (both threads, profiled)\n'
  )
  print('| kernel | ms per step | share | calls per step | TensorFlow op |')
  print('|---|---:|---:|---:|---|')
  for name, ms in milliseconds.most_common(args.top):
    print(
      f'| {name} | {ms:.2f} | {100 * ms / total:.1f}% | {calls[name]:.0f} '
      f'| {op_names.get(name, "")} |'
    )
  shutil.rmtree(work_dir)


if __name__ == '__main__':
  main()
