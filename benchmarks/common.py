"""Configurations, FLOP counts and a subprocess runner shared by benchmarks.

Every measurement runs in a fresh subprocess, so that each reports its own
peak resident memory and compiles from a cold cache.
"""

from collections.abc import Callable
import json
import math
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np

# C1 is train.py's defaults; C2 the same with a 4x larger memory; C3 a larger
# model on longer sequences (the configurations of the speed issue).
CONFIGS = {
  'C1': dict(
    memory_size=16, word_size=16, num_read_heads=4, num_write_heads=1,
    hidden_size=64, batch_size=16, num_bits=4, min_length=1, max_length=2,
    min_repeats=1, max_repeats=2,
  ),
  'C2': dict(
    memory_size=64, word_size=16, num_read_heads=4, num_write_heads=1,
    hidden_size=64, batch_size=16, num_bits=4, min_length=1, max_length=2,
    min_repeats=1, max_repeats=2,
  ),
  'C3': dict(
    memory_size=128, word_size=32, num_read_heads=4, num_write_heads=1,
    hidden_size=256, batch_size=16, num_bits=8, min_length=4, max_length=8,
    min_repeats=1, max_repeats=3,
  ),
}  # fmt: skip

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sequence_length(config: dict[str, Any]) -> int:
  """The padded length of every batch: max_length * (max_repeats + 1) + 3."""
  return config['max_length'] * (config['max_repeats'] + 1) + 3


def step_flops(config: dict[str, Any]) -> float:
  """Floating-point operations of one training step, counted analytically.

  Multiply-adds count 2. Per time step and sequence: the LSTM, the
  interface and output layers, content lookups, erase and write, read-out,
  and the N^2 terms (pairwise allocation, link update, forward and backward
  link reads). With `link_sparsity` K > 0 the link terms are N K instead of
  N^2 and the allocation a sort, about N log2 N comparisons. Backpropagation
  is counted as twice the forward pass.
  """
  n, w = config['memory_size'], config['word_size']
  k = config.get('link_sparsity', 0)
  link = n * k if k else n * n
  allocation = n * max(1, math.ceil(math.log2(n))) if k else n * n
  r, wr = config['num_read_heads'], config['num_write_heads']
  h, bits = config['hidden_size'], config['num_bits']
  controller_in = bits + 2 + r * w
  interface = wr * (3 * w + 3) + r * (w + 3 + 2 * wr)
  per_step = (
    2 * (controller_in + h) * 4 * h  # LSTM
    + 2 * h * interface  # interface linears
    + 2 * (h + r * w) * (bits + 1)  # output linear
    + 2 * (wr + r) * n * w
    + 4 * n * w  # content lookups and norms
    + wr * 4 * allocation  # pairwise allocation, or a sort
    + wr * 6 * link  # link update
    + 2 * 2 * r * wr * link  # forward and backward link reads
    + 4 * wr * n * w
    + 2 * r * n * w  # erase and write, read words
  )
  return 3.0 * per_step * config['batch_size'] * sequence_length(config)


def run_worker(module: str, args: list[str], timeout: float = 1800) -> dict:
  """Runs `python -m module args...` and returns the JSON of its last line."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  env['PYTHONPATH'] = os.pathsep.join(
    p for p in (_ROOT, env.get('PYTHONPATH')) if p
  )
  result = subprocess.run(
    [sys.executable, '-m', module, *args],
    capture_output=True,
    text=True,
    env=env,
    timeout=timeout,
    cwd=_ROOT,
  )
  if result.returncode != 0:
    raise RuntimeError(
      f'{module} {" ".join(args)} failed:\n{result.stderr[-3000:]}'
    )
  return json.loads(result.stdout.strip().splitlines()[-1])


def peak_rss_mib() -> float:
  """This process's peak resident memory, MiB.

  Linux's VmHWM, which starts afresh at exec; `getrusage`'s ru_maxrss does
  not, so a worker would report its parent's peak if that were larger.
  """
  with open('/proc/self/status') as f:
    for line in f:
      if line.startswith('VmHWM:'):
        return int(line.split()[1]) / 1024  # kB
  raise RuntimeError('no VmHWM in /proc/self/status (Linux only)')


def time_calls(fn: Callable[[], Any], steps: int, warmup: int) -> dict:
  """Median and spread, in ms, of `steps` calls after `warmup` calls."""
  for _ in range(warmup):
    fn()
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    fn()
    times.append(1000 * (time.perf_counter() - start))
  return {
    'median_ms': statistics.median(times),
    'p10_ms': float(np.percentile(times, 10)),
    'p90_ms': float(np.percentile(times, 90)),
    'steps': steps,
  }
