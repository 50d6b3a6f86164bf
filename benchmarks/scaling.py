"""How the compiled training step scales with memory size and sequence length.

  python -m benchmarks.scaling --output=images/scaling.png --json=scaling.json

Times train.py's XLA training step (`repeat_copy_task.make_trainer`, as in
`benchmarks.train_step`), each point in a fresh process so that its peak
resident memory is its own: against memory_size N (16 to 1024, batch 16,
sequences of 21 steps) and against the sequence length (N = 64). Prints a
markdown table, writes JSON and, with matplotlib (the `viz` extra), a PNG.

The N^2 parts of a step are the link matrix L_t (its update and the forward
and backward reads, per write head) and the pairwise comparison behind the
allocation; the rest (content lookups, erase and write, read-out) grows as
N * word_size. Backpropagation through the unroll keeps every step's link
matrix, so memory grows as batch * time * N^2 * 4 bytes, plus the same
again for temporaries of the update.
"""

import argparse
import json
import time

from benchmarks import common

# C1 with longer patterns: 6 rows, 2 repeats, so 6 * 3 + 3 = 21 steps.
_BASE = dict(
  common.CONFIGS['C1'], min_length=6, max_length=6, min_repeats=2, max_repeats=2
)
_MEMORY_SIZES = (16, 32, 64, 128, 256, 512, 1024)
_LENGTHS = (2, 6, 14, 30, 62)  # Sequences of 9, 21, 45, 93 and 189 steps.


def worker(config: dict, steps: int) -> dict:
  """Compile time, median step time and peak memory of one configuration."""
  from dnc.tasks.repeat_copy import task as repeat_copy_task

  trainer = repeat_copy_task.make_trainer(config, seed=0, compile_mode='xla')
  train = lambda: trainer.train_step()[0].numpy()
  start = time.perf_counter()
  train()
  first_call_s = time.perf_counter() - start
  return {
    'first_call_s': first_call_s,
    'median_ms': common.time_calls(train, steps, warmup=1)['median_ms'],
    'peak_rss_mib': common.peak_rss_mib(),
  }


def _points() -> list[tuple[str, int, dict]]:
  points = [
    ('memory_size', n, dict(_BASE, memory_size=n)) for n in _MEMORY_SIZES
  ]
  points += [
    (
      'sequence_length',
      common.sequence_length(dict(_BASE, max_length=length)),
      dict(_BASE, memory_size=64, min_length=length, max_length=length),
    )
    for length in _LENGTHS
  ]
  return points


def plot(results: list[dict], output: str) -> None:
  import matplotlib

  matplotlib.use('Agg')
  import matplotlib.pyplot as plt

  fig, axes = plt.subplots(2, 2, figsize=(9, 6.5), constrained_layout=True)
  for column, (axis, label) in enumerate(
    [
      ('memory_size', 'memory_size N (batch 16, 21 steps)'),
      ('sequence_length', 'sequence length (N = 64, batch 16)'),
    ]
  ):
    points = [r for r in results if r['axis'] == axis]
    x = [r['value'] for r in points]
    for row, (key, ylabel) in enumerate(
      [('median_ms', 'train step, ms (median)'), ('peak_rss_mib', 'peak MiB')]
    ):
      ax = axes[row, column]
      ax.plot(x, [r[key] for r in points], 'o-')
      ax.set_xscale('log', base=2)
      ax.set_yscale('log')
      ax.set_xlabel(label)
      ax.set_ylabel(ylabel)
      ax.grid(True, which='both', alpha=0.3)
  fig.suptitle('dnc: XLA training step on 2 CPU cores')
  fig.savefig(output, dpi=80)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--steps', type=int, default=20)
  parser.add_argument('--output', default='', help='write the PNG here')
  parser.add_argument('--json', default='', help='write the results here')
  parser.add_argument('--worker', default='', help=argparse.SUPPRESS)
  args = parser.parse_args()

  if args.worker:
    print(json.dumps(worker(json.loads(args.worker), args.steps)))
    return

  print('| axis | value | first call s | train step ms | peak MiB |')
  print('|---|---:|---:|---:|---:|')
  results = []
  for axis, value, config in _points():
    result = common.run_worker(
      'benchmarks.scaling',
      [f'--worker={json.dumps(config)}', f'--steps={args.steps}'],
    )
    results.append(dict(result, axis=axis, value=value, config=config))
    print(
      f'| {axis} | {value} | {result["first_call_s"]:.1f} | '
      f'{result["median_ms"]:.1f} | {result["peak_rss_mib"]:.0f} |',
      flush=True,
    )
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(results, f, indent=2)
  if args.output:
    plot(results, args.output)


if __name__ == '__main__':
  main()
