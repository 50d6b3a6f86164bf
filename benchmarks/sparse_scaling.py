"""Step time and peak memory against memory size: dense DNC, sparse link, SDNC.

  python -m benchmarks.sparse_scaling --output=images/sparse_scaling.png \\
    --json=sparse_scaling.json

(all N from 64 to 1,048,576, batch 8, sequences of 1,000 steps: hours); a
smoke run at tiny sizes:

  python -m benchmarks.sparse_scaling --memory_sizes=64,256 \\
    --time_steps=20 --steps=2

For each memory size N and each variant, a fresh process (so that its peak
resident memory is its own) times the XLA training step of
`dnc.train.trainer` (unroll, sigmoid cross-entropy, gradients, clipping,
RMSProp) on repeat-copy-like random inputs: `[T, B, num_bits + 2]` random
bits in, `[T, B, num_bits + 1]` random bits to predict, drawn once
(the task's generator would only add time that does not depend on N).
The variants:

- `dnc`: the DNC with its dense N x N link matrix, backpropagated as
  `snt.dynamic_unroll` does (every step's state kept: O(T B N^2));
- `dnc_sparse_link`: the same with the paper's sparse link
  (`link_sparsity=8`): O(T B N (W + K_L)) kept, the memory M_t of every
  step among it;
- `sdnc`: the SDNC (`sparse_reads` K = 8, `link_sparsity` K_L = 8)
  backpropagated through the journal of its sparse writes
  (`dnc.sparse_journal`, `--journal`): no M_t kept per step, only the rows
  it writes; what stays O(N) per step is the rest of its state (the last
  access times, the precedence and the sparse link's rows, O(N K_L));
- `sdnc_chunks`: the same, with that rest kept only every C = ceil(sqrt(T))
  steps and recomputed in chunks from the journal
  (`--recompute_chunk_length=-1` with `--journal`): O((T / C + C) N K_L).

A point "does not fit" when the lower bound `kept_bytes` of what
backpropagation keeps (the per-step state above, 4 bytes a number)
exceeds `--max_memory_gib` (not run), when its measured peak does, or when
it fails for lack of memory; the larger N of that variant are then skipped.
A point that runs past `--timeout` seconds, or fails otherwise, is
reported as such and ends its variant too. Prints a markdown table (one
row per N, the variants side by side), writes JSON (`--json`) and, with
matplotlib (the `viz` extra), a log-log PNG of step time and peak memory
against N (`--output`).
"""

import argparse
import json
import math
import subprocess
import sys
import time

from benchmarks import common

_NO_CHUNKS = dict(recompute_chunk_length=0)
VARIANTS = {
  'dnc': dict(memory_type='dnc', link_sparsity=0, journal=False, **_NO_CHUNKS),
  'dnc_sparse_link': dict(
    memory_type='dnc', link_sparsity=8, journal=False, **_NO_CHUNKS
  ),
  'sdnc': dict(
    memory_type='sdnc',
    sparse_reads=8,
    link_sparsity=8,
    journal=True,
    **_NO_CHUNKS,
  ),
  'sdnc_chunks': dict(
    memory_type='sdnc',
    sparse_reads=8,
    link_sparsity=8,
    journal=True,
    recompute_chunk_length=-1,  # ceil(sqrt(T)).
  ),
}
_MEMORY_SIZES = (64, 256, 1024, 4096, 16384, 65536, 262144, 1048576)
_NUM_BITS = 4
_GIB = 2**30


def kept_bytes(
  variant: str, memory_size: int, word_size: int, batch_size: int, steps: int
) -> int:
  """A lower bound on the bytes backpropagation keeps for the N-sized state.

  Per step and sequence, float32 or int32 (4 bytes), every variant keeps
  two N-vectors (the usage, or last access times, and the precedence);
  besides, the dense DNC keeps its N x N link and M_t (N W); with the
  sparse link, M_t and the link's K_L values and indices per row
  (2 N K_L); the SDNC with the journal, the link's rows (2 N K_L) but not
  M_t. (That the SDNC keeps its link's rows each step is what bounds it:
  O(N K_L), not O(K W).) With chunks of C steps (`sdnc_chunks`) the SDNC
  keeps its usage, precedence and link rows at ceil(T / C) chunk starts,
  and for the chunk being backpropagated at C steps, instead of at T
  steps; the journal's rows, O(T K W), do not grow with N and are not
  counted.

  Args:
    variant: a key of `VARIANTS`.
    memory_size, word_size: N and W.
    batch_size, steps: B and T.
  """
  n, w = memory_size, word_size
  k = VARIANTS[variant]['link_sparsity']
  per_step = (
    2 * n
    + {
      'dnc': n * n + n * w,
      'dnc_sparse_link': n * w + 2 * n * k,
      'sdnc': 2 * n * k,
      'sdnc_chunks': 2 * n * k,
    }[variant]
  )
  chunk_length = VARIANTS[variant]['recompute_chunk_length']
  if chunk_length == -1:
    # `dnc.model.journal_chunk_length`'s ceil(sqrt(T)), without importing
    # TensorFlow into the parent process.
    chunk_length = math.isqrt(steps - 1) + 1
  kept_steps = steps
  if chunk_length:
    kept_steps = -(-steps // chunk_length) + chunk_length
  return 4 * per_step * batch_size * kept_steps


def config_for(variant: str, args: argparse.Namespace, n: int) -> dict:
  """The worker's configuration of one point."""
  return dict(
    VARIANTS[variant],
    memory_size=n,
    word_size=args.word_size,
    hidden_size=args.hidden_size,
    num_read_heads=args.num_read_heads,
    batch_size=args.batch_size,
    time_steps=args.time_steps,
  )


def worker(config: dict, steps: int) -> dict:
  """Compile time, median step time, loss and peak memory of one point.

  Args:
    config: `ModelConfig` fields, `journal`, `recompute_chunk_length`,
      `batch_size` and `time_steps`.
    steps: timed steps after the first (compiling) call and one warm-up.
  """
  import numpy as np
  import tensorflow as tf

  from dnc import config as config_lib
  from dnc.train import rmsprop
  from dnc.train import trainer as trainer_lib

  config = dict(config)
  journal = config.pop('journal')
  chunk_length = config.pop('recompute_chunk_length')
  batch_size, time_steps = config.pop('batch_size'), config.pop('time_steps')
  tf.random.set_seed(0)
  core = config_lib.make_core(
    config_lib.ModelConfig(**config),
    _NUM_BITS + 1,
    fast_kernels=trainer_lib.fast_kernels_for('xla'),
  )
  rng = np.random.default_rng(0)
  inputs = tf.constant(
    rng.integers(0, 2, (time_steps, batch_size, _NUM_BITS + 2)), tf.float32
  )
  targets = tf.constant(
    rng.integers(0, 2, (time_steps, batch_size, _NUM_BITS + 1)), tf.float32
  )
  trainer_lib.build_variables(core, _NUM_BITS + 2)
  optimizer = rmsprop.RMSProp(1e-4, decay=0.9, epsilon=1e-10)
  optimizer.build(core.trainable_variables)

  @tf.function(jit_compile=True, autograph=False)
  def train_step(inputs, targets):
    with tf.GradientTape() as tape:
      logits = trainer_lib.unroll(core, inputs, chunk_length, journal)
      loss = tf.reduce_mean(
        tf.nn.sigmoid_cross_entropy_with_logits(targets, logits)
      )
    grads = tape.gradient(loss, core.trainable_variables)
    grads, _ = tf.clip_by_global_norm(grads, 50.0)
    optimizer.apply(grads, core.trainable_variables)
    return loss

  train = lambda: float(train_step(inputs, targets))
  start = time.perf_counter()
  first_loss = train()
  first_call_s = time.perf_counter() - start
  return {
    'first_call_s': first_call_s,
    'first_loss': first_loss,
    'median_ms': common.time_calls(train, steps, warmup=1)['median_ms'],
    'peak_rss_mib': common.peak_rss_mib(),
  }


def _out_of_memory(error: Exception) -> bool:
  text = str(error)
  # Killed by the kernel's OOM killer (SIGKILL) leaves no Python traceback.
  return (
    any(
      s in text
      for s in ('ResourceExhausted', 'MemoryError', 'Out of memory', 'OOM')
    )
    or 'Traceback' not in text
  )


def measure(
  variants: list[str],
  memory_sizes: list[int],
  args: argparse.Namespace,
  run=None,
) -> list[dict]:
  """Every point's row, in order; larger N skipped once a variant fails.

  Args:
    variants: keys of `VARIANTS`.
    memory_sizes: the N, increasing.
    args: the parsed flags (sizes, `max_memory_gib`, `timeout`, `steps`).
    run: `(config) -> worker's dict`; by default a fresh process each.

  Returns:
    Dicts with `variant`, `memory_size`, `status` ('ok', 'does not fit',
    'timeout', 'failed' for another error, 'skipped'), `kept_gib`, for a
    point that does not fit or failed a `reason`, and for a point that ran
    the worker's fields.
  """
  if run is None:

    def run(config):
      return common.run_worker(
        'benchmarks.sparse_scaling',
        [f'--worker={json.dumps(config)}', f'--steps={args.steps}'],
        timeout=args.timeout,
      )

  limit_mib = args.max_memory_gib * 1024
  rows = []
  for variant in variants:
    stopped = False
    for n in memory_sizes:
      kept = kept_bytes(
        variant, n, args.word_size, args.batch_size, args.time_steps
      )
      row = dict(variant=variant, memory_size=n, kept_gib=kept / _GIB)
      rows.append(row)
      if stopped:
        row['status'] = 'skipped'
        continue
      if kept > args.max_memory_gib * _GIB:
        row['status'], row['reason'] = 'does not fit', 'predicted'
      else:
        try:
          row.update(run(config_for(variant, args, n)))
        except subprocess.TimeoutExpired:
          row['status'] = 'timeout'
        except RuntimeError as e:
          if _out_of_memory(e):
            row['status'], row['reason'] = 'does not fit', 'failed'
          else:  # Kept going: the other variants' hours are not lost.
            row['status'] = 'failed'
            row['reason'] = str(e).strip().splitlines()[-1]
        else:
          if row['peak_rss_mib'] > limit_mib:
            row['status'], row['reason'] = 'does not fit', 'measured'
          else:
            row['status'] = 'ok'
      stopped = row['status'] != 'ok'
      # Progress, off stdout (which holds the table): points take minutes.
      print(
        f'{variant} N={n}: {row["status"]}',
        {k: row[k] for k in ('median_ms', 'peak_rss_mib') if k in row},
        file=sys.stderr,
        flush=True,
      )
  return rows


def table(rows: list[dict], variants: list[str]) -> str:
  """A markdown table: one row per N, each variant's step ms and peak MiB."""
  header = '| N | ' + ' | '.join(
    f'{v} first call s | {v} step ms | {v} peak MiB' for v in variants
  )
  lines = [header + ' |', '|---:|' + '---:|---:|---:|' * len(variants)]
  by_point = {(r['variant'], r['memory_size']): r for r in rows}
  for n in sorted({r['memory_size'] for r in rows}):
    cells = []
    for v in variants:
      r = by_point.get((v, n))
      if r is None or r['status'] == 'skipped':
        cells += ['', '', '']
      elif r['status'] != 'ok':
        cells += [r['status'], '', '']
      else:
        cells += [
          f'{r["first_call_s"]:.1f}',
          f'{r["median_ms"]:.1f}',
          f'{r["peak_rss_mib"]:.0f}',
        ]
    lines.append(f'| {n} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def plot(rows: list[dict], variants: list[str], output: str, title: str):
  import matplotlib

  matplotlib.use('Agg')
  import matplotlib.pyplot as plt

  fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
  for v in variants:
    ok = [r for r in rows if r['variant'] == v and r['status'] == 'ok']
    x = [r['memory_size'] for r in ok]
    for ax, key in zip(axes, ('median_ms', 'peak_rss_mib'), strict=True):
      ax.plot(x, [r[key] for r in ok], 'o-', label=v)
  for ax, ylabel in zip(
    axes, ('train step, ms (median)', 'peak resident MiB'), strict=True
  ):
    ax.set_xscale('log', base=2)
    ax.set_yscale('log')
    ax.set_xlabel('memory_size N')
    ax.set_ylabel(ylabel)
    ax.grid(True, which='both', alpha=0.3)
    ax.legend()
  fig.suptitle(title)
  fig.savefig(output, dpi=80)


def _ints(text: str) -> list[int]:
  return [int(x) for x in text.split(',') if x]


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument(
    '--memory_sizes', default=','.join(map(str, _MEMORY_SIZES))
  )
  parser.add_argument('--variants', default=','.join(VARIANTS))
  parser.add_argument('--time_steps', type=int, default=1000)
  parser.add_argument('--batch_size', type=int, default=8)
  parser.add_argument('--steps', type=int, default=5, help='timed steps')
  parser.add_argument('--word_size', type=int, default=32)
  parser.add_argument('--hidden_size', type=int, default=64)
  parser.add_argument('--num_read_heads', type=int, default=4)
  parser.add_argument('--max_memory_gib', type=float, default=8.0)
  parser.add_argument(
    '--timeout', type=float, default=3600, help='seconds per point'
  )
  parser.add_argument('--output', default='', help='write the PNG here')
  parser.add_argument('--json', default='', help='write the results here')
  parser.add_argument('--worker', default='', help=argparse.SUPPRESS)
  args = parser.parse_args()

  if args.worker:
    print(json.dumps(worker(json.loads(args.worker), args.steps)))
    return

  variants = args.variants.split(',')
  unknown = sorted(set(variants) - set(VARIANTS))
  if unknown:
    parser.error(f'--variants: unknown {unknown}; known: {list(VARIANTS)}')
  rows = measure(variants, sorted(_ints(args.memory_sizes)), args)
  print(table(rows, variants))
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(dict(flags=vars(args), rows=rows), f, indent=2)
  if args.output:
    plot(
      rows,
      variants,
      args.output,
      f'dnc: XLA training step, batch {args.batch_size}, '
      f'{args.time_steps} steps',
    )


if __name__ == '__main__':
  main()
