"""Tests for benchmarks/sparse_scaling.py: the rows and what does not fit."""

import argparse
import subprocess

import numpy as np
import pytest
import sonnet as snt
import tensorflow as tf

from benchmarks import sparse_scaling
from dnc import config as config_lib


def _args(**overrides):
  flags = dict(
    word_size=4,
    hidden_size=8,
    num_read_heads=1,
    batch_size=2,
    time_steps=5,
    steps=1,
    max_memory_gib=8.0,
    timeout=60.0,
  )
  return argparse.Namespace(**{**flags, **overrides})


def _variant(config):
  """The variant of a worker's configuration."""
  if config['memory_type'] == 'sdnc':
    return 'sdnc_chunks' if config['recompute_chunk_length'] else 'sdnc'
  return 'dnc_sparse_link' if config['link_sparsity'] else 'dnc'


class KeptBytesTest(tf.test.TestCase):
  def test_per_step_state_times_batch_and_time(self):
    # N = 16, W = 4, K_L = 8, B = 2, T = 5: 4 bytes a number; usage and
    # precedence 2 N = 32 each.
    self.assertEqual(
      sparse_scaling.kept_bytes('dnc', 16, 4, 2, 5), 4 * (256 + 64 + 32) * 10
    )
    self.assertEqual(
      sparse_scaling.kept_bytes('dnc_sparse_link', 16, 4, 2, 5),
      4 * (64 + 256 + 32) * 10,
    )
    self.assertEqual(
      sparse_scaling.kept_bytes('sdnc', 16, 4, 2, 5), 4 * (256 + 32) * 10
    )

  def test_the_sdnc_in_chunks_keeps_chunk_starts_and_one_chunk(self):
    # T = 1000: chunks of C = ceil(sqrt(T)) = 32, ceil(T / C) = 32 starts
    # and 32 steps of the chunk backpropagated, against 1,000 steps.
    self.assertEqual(
      sparse_scaling.kept_bytes('sdnc_chunks', 16, 4, 2, 1000),
      4 * (256 + 32) * 2 * (32 + 32),
    )
    # T = 5: C = 3, two chunk starts and three steps.
    self.assertEqual(
      sparse_scaling.kept_bytes('sdnc_chunks', 16, 4, 2, 5),
      4 * (256 + 32) * 2 * (2 + 3),
    )


class MeasureTest(tf.test.TestCase):
  """The status of each point, with a stand-in for the worker."""

  def test_statuses_and_skips(self):
    peaks = {  # (variant, N): the stand-in's peak MiB, or what it raises.
      ('dnc', 16): 100.0,
      ('dnc', 32): 3000.0,  # Over 2 GiB: measured.
      ('dnc_sparse_link', 16): RuntimeError('... ResourceExhaustedError'),
      ('sdnc', 16): 100.0,
      ('sdnc', 32): subprocess.TimeoutExpired('worker', 60),
    }
    calls = []

    def run(config):
      key = (_variant(config), config['memory_size'])
      calls.append(key)
      peak = peaks[key]
      if isinstance(peak, Exception):
        raise peak
      return dict(first_call_s=1.0, median_ms=2.0, peak_rss_mib=peak)

    variants = ['dnc', 'dnc_sparse_link', 'sdnc']
    args = _args(max_memory_gib=2.0)
    rows = sparse_scaling.measure(variants, [16, 32, 64], args, run)
    got = {(r['variant'], r['memory_size']): r['status'] for r in rows}
    self.assertEqual(
      got,
      {
        ('dnc', 16): 'ok',
        ('dnc', 32): 'does not fit',
        ('dnc', 64): 'skipped',
        ('dnc_sparse_link', 16): 'does not fit',
        ('dnc_sparse_link', 32): 'skipped',
        ('dnc_sparse_link', 64): 'skipped',
        ('sdnc', 16): 'ok',
        ('sdnc', 32): 'timeout',
        ('sdnc', 64): 'skipped',
      },
    )
    self.assertEqual(
      calls,
      [
        ('dnc', 16),
        ('dnc', 32),
        ('dnc_sparse_link', 16),
        ('sdnc', 16),
        ('sdnc', 32),
      ],
    )
    reasons = {(r['variant'], r['memory_size']): r.get('reason') for r in rows}
    self.assertEqual(reasons[('dnc', 32)], 'measured')
    self.assertEqual(reasons[('dnc_sparse_link', 16)], 'failed')
    table = sparse_scaling.table(rows, variants)
    self.assertIn('| 16 | 1.0 | 2.0 | 100 | does not fit |', table)

  def test_another_error_is_reported_and_ends_only_its_variant(self):
    def run(config):
      if config['memory_type'] == 'sdnc':
        raise RuntimeError('Traceback ...\nValueError: bad shape')
      return dict(first_call_s=0.0, median_ms=0.0, peak_rss_mib=0.0)

    rows = sparse_scaling.measure(['sdnc', 'dnc'], [16, 32], _args(), run)
    self.assertEqual(
      [(r['status'], r.get('reason')) for r in rows],
      [
        ('failed', 'ValueError: bad shape'),
        ('skipped', None),
        ('ok', None),
        ('ok', None),
      ],
    )

  def test_a_prediction_over_the_limit_is_not_run(self):
    # The dense DNC at N = 64 keeps 4 (64^2 + 64 * 4 + 128) 2 * 5 bytes:
    # 179 KB; at N = 16, 14 KB.
    limit_gib = 100_000 / 2**30
    ran = []

    def run(config):
      ran.append(config['memory_size'])
      return dict(first_call_s=0.0, median_ms=0.0, peak_rss_mib=0.0)

    rows = sparse_scaling.measure(
      ['dnc'], [16, 64, 256], _args(max_memory_gib=limit_gib), run
    )
    self.assertEqual(ran, [16])
    self.assertEqual(
      [(r['status'], r.get('reason')) for r in rows],
      [('ok', None), ('does not fit', 'predicted'), ('skipped', None)],
    )
    self.assertAllClose(
      rows[1]['kept_gib'], 4 * (4096 + 256 + 128) * 10 / 2**30
    )


@pytest.mark.slow
class WorkerTest(tf.test.TestCase):
  def test_sdnc_with_the_journal_at_tiny_sizes(self):
    args = _args(max_memory_gib=0.01)  # 10 MiB: less than any process.
    rows = sparse_scaling.measure(
      ['sdnc'],
      [16, 32],
      args,
      lambda config: sparse_scaling.worker(config, steps=1),
    )
    ran, skipped = rows
    self.assertEqual(
      (ran['status'], ran['reason']), ('does not fit', 'measured')
    )
    self.assertEqual(skipped['status'], 'skipped')
    self.assertGreater(ran['peak_rss_mib'], 10)
    self.assertGreater(ran['first_call_s'], 0)
    self.assertGreater(ran['median_ms'], 0)
    # The first step's loss: the same SDNC, seeded alike, run eagerly.
    config = dict(sparse_scaling.config_for('sdnc', args, 16))
    for name in (
      'journal',
      'recompute_chunk_length',
      'batch_size',
      'time_steps',
    ):
      config.pop(name)
    tf.random.set_seed(0)
    core = config_lib.make_core(
      config_lib.ModelConfig(**config), 5, fast_kernels=False
    )
    rng = np.random.default_rng(0)
    inputs = rng.integers(0, 2, (5, 2, 6)).astype(np.float32)
    targets = rng.integers(0, 2, (5, 2, 5)).astype(np.float32)
    logits, _ = snt.dynamic_unroll(core, inputs, core.initial_state(2))
    expected = np.mean(
      np.maximum(logits, 0)
      - logits * targets
      + np.log1p(np.exp(-np.abs(logits)))
    )
    self.assertAllClose(ran['first_loss'], expected, rtol=1e-5)


if __name__ == '__main__':
  tf.test.main()
