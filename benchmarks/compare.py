"""Times train.py's training step here against another checkout, in one run.

  git worktree add /tmp/before <commit>
  python -m benchmarks.compare --other=/tmp/before --configs=C1,C3

For each round, each configuration (`common.CONFIGS`) and each mode, it
runs `benchmarks.train_step`'s worker in this checkout and in the other,
each in a fresh process (the order alternating from round to round, so
that drift in the machine's speed falls on both), and prints the median
training step of each (the median over rounds of each process's median,
and the range over rounds) and their ratio. A change is within noise when
the ratio's range over rounds spans 1. The other checkout must have
`benchmarks/train_step.py` with the same worker interface (any commit
since the speed kernels' switch).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys


def run_worker(root: str, config: str, mode: str, steps: int) -> float:
  """The median ms of a training step of `config` in checkout `root`."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', PYTHONPATH=root)
  result = subprocess.run(
    [
      sys.executable,
      '-m',
      'benchmarks.train_step',
      f'--worker=tf:{config}:{mode}',
      f'--steps={steps}',
    ],
    capture_output=True,
    text=True,
    env=env,
    timeout=1800,
    cwd=root,
  )
  if result.returncode != 0:
    raise RuntimeError(
      f'{root}: {config} {mode} failed:\n{result.stderr[-3000:]}'
    )
  return json.loads(result.stdout.strip().splitlines()[-1])['train'][
    'median_ms'
  ]


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--other', required=True, help='another checkout')
  parser.add_argument('--configs', default='C1,C3')
  parser.add_argument('--modes', default='xla')
  parser.add_argument('--steps', type=int, default=100)
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--json', default='', help='write the results here')
  args = parser.parse_args()
  here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  other = os.path.abspath(args.other)
  if not os.path.isfile(os.path.join(other, 'benchmarks', 'train_step.py')):
    parser.error(f'--other={args.other}: no benchmarks/train_step.py there')

  times = {}  # (config, mode, 'here' | 'other') -> [ms per round]
  for round_ in range(args.rounds):
    for config in args.configs.split(','):
      for mode in args.modes.split(','):
        sides = [('here', here), ('other', other)]
        for side, root in sides if round_ % 2 else sides[::-1]:
          ms = run_worker(root, config, mode, args.steps)
          times.setdefault((config, mode, side), []).append(ms)
          print(f'round {round_}: {config} {mode} {side} {ms:.2f} ms')

  print(
    f'\nMedian ms per training step over {args.rounds} rounds (range), '
    f'{args.steps} steps each:\n'
  )
  print('| config | mode | other | here | here / other (range) |')
  print('|---|---|---:|---:|---:|')
  results = []
  for config in args.configs.split(','):
    for mode in args.modes.split(','):
      mine, theirs = (times[config, mode, side] for side in ('here', 'other'))
      ratios = [m / t for m, t in zip(mine, theirs, strict=True)]
      print(
        f'| {config} | {mode} | {statistics.median(theirs):.2f} '
        f'({min(theirs):.2f}-{max(theirs):.2f}) | '
        f'{statistics.median(mine):.2f} ({min(mine):.2f}-{max(mine):.2f}) | '
        f'{statistics.median(ratios):.3f} '
        f'({min(ratios):.3f}-{max(ratios):.3f}) |'
      )
      results.append(
        dict(config=config, mode=mode, here_ms=mine, other_ms=theirs)
      )
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(results, f, indent=2)


if __name__ == '__main__':
  main()
