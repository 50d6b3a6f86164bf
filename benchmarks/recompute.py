"""Peak memory and step time of bAbI-sized training, with and without recompute.

  python -m benchmarks.recompute [--sweeps=batch,memory,length] [--json=F]

One XLA training step (unroll, softmax cross-entropy over the vocabulary,
gradients, global-norm clipping, RMSProp with momentum) on random one-hot
stories, at the paper's DNC1 size unless a sweep changes it (LSTM 256,
memory 256 x 64, 4 read heads, 1 write head), through `snt.dynamic_unroll`
('full': backprop keeps every step) or `dnc.recompute.dynamic_unroll`
('recompute': chunks of ceil(sqrt(T)) steps, run again in the backward
pass). Each point runs in a fresh process, so that its peak resident memory
is its own. Sweeps: the batch size (T = 1378, the longest en-10k story), the
memory size (batch 8, T = 1378) and the story length (batch 8, N = 256);
the memory's share (batch 8 and 32, the LSTM at 256 units and at one); and
the sparse link matrix (`link_sparsity`, K = 8, against the dense link at
N = 256, and at N = 64 and 1,024) and the SDNC at N = 256 and 1,024.
'full' is skipped where it would need more than `--max_full_batch_tokens`
batch x length (about 0.8 GiB per 1,378-token story at DNC1 size), so that
no point can take the machine's memory.

Also printed: tokens per second, the time an epoch of en-10k (4.85 million
tokens) would take at that rate, and the bound that the machine's matmul
rate sets on the step (its FLOPs, counted by `common.step_flops`, at the
measured 2048 x 2048 float32 matmul rate).
"""

import argparse
import json
import time

from benchmarks import common

_DNC1 = dict(
  memory_size=256,
  word_size=64,
  num_read_heads=4,
  num_write_heads=1,
  hidden_size=256,
  batch_size=8,
  length=1378,
)
_VOCABULARY = 160  # About en-10k's vocabulary with the answer marker.
_EPOCH_TOKENS = 4.85e6
_SWEEPS = {
  'batch': [dict(_DNC1, batch_size=b) for b in (1, 4, 8, 32)],
  'memory': [dict(_DNC1, memory_size=n) for n in (64, 128, 256)],
  'length': [dict(_DNC1, length=t) for t in (100, 400, 1378)],
  # The memory's share of the step: the same batch with an LSTM of one unit,
  # whose step is nearly all memory work (the [B, N, N] link update and
  # reads, the allocation, the content lookups). Its rate is a ceiling on
  # any controller's with these memory kernels.
  'memory_share': [
    dict(_DNC1, batch_size=b, hidden_size=h) for b in (8, 32) for h in (256, 1)
  ],
  # The paper's sparse link matrix (K = 8) against the dense link at DNC1
  # size, and how the sparse link's rate holds from N = 64 to 1,024; then
  # the SDNC (K = 8 reads a head, the sparse link K_L = 8) at N = 256 and
  # 1,024.
  'link_sparsity': [
    *(
      dict(_DNC1, memory_size=n, link_sparsity=k)
      for n, k in ((256, 0), (256, 8), (64, 8), (1024, 8))
    ),
    *(
      dict(
        _DNC1,
        memory_size=n,
        link_sparsity=8,
        memory_type='sdnc',
        sparse_reads=8,
      )
      for n in (256, 1024)
    ),
  ],
}


def worker(
  config: dict, mode: str, steps: int, jit_compile: bool = True
) -> dict:
  """Compile time, step times and peak memory of one point.

  `jit_compile=False` runs the same step as a graph (the tests, which
  check the two modes' losses without spending on XLA compilation).
  """
  import sonnet as snt
  import tensorflow as tf

  from dnc import config as config_lib
  from dnc import recompute

  tf.random.set_seed(0)
  # The step below is compiled with XLA: the speed kernels are on (and
  # give the same values and gradients in a graph).
  core = config_lib.make_core(
    config_lib.ModelConfig.from_dict(dict(config, clip_value=20)),
    _VOCABULARY,
    fast_kernels=True,
  )
  optimizer = snt.optimizers.RMSProp(1e-4, decay=0.9, momentum=0.9)
  shape = [config['length'], config['batch_size']]
  words = tf.random.stateless_uniform(shape, [0, 1], 0, _VOCABULARY, tf.int32)
  answers = tf.random.stateless_uniform(shape, [0, 2], 0, _VOCABULARY, tf.int32)
  unroll = snt.dynamic_unroll if mode == 'full' else recompute.dynamic_unroll

  @tf.function(jit_compile=jit_compile)
  def train_step():
    observations = tf.one_hot(words, _VOCABULARY)
    with tf.GradientTape() as tape:
      logits, _ = unroll(
        core, observations, core.initial_state(config['batch_size'])
      )
      loss = tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(answers, logits)
      )
    variables = core.trainable_variables
    grads, _ = tf.clip_by_global_norm(tape.gradient(loss, variables), 10.0)
    optimizer.apply(grads, variables)
    return loss

  losses = []
  run = lambda: losses.append(float(train_step()))
  start = time.perf_counter()
  run()
  first_call_s = time.perf_counter() - start
  timing = common.time_calls(run, steps, warmup=0)
  return {
    'first_call_s': first_call_s,
    **timing,
    'peak_rss_mib': common.peak_rss_mib(),
    'losses': losses,  # Before each update: the same in both modes.
  }


def _flop_config(config: dict) -> dict:
  # common.step_flops counts a repeat-copy step: num_bits + 2 inputs and
  # num_bits + 1 outputs; a vocabulary of V in and out is close to that.
  return dict(
    config,
    num_bits=_VOCABULARY - 2,
    max_length=config['length'] - 3,
    max_repeats=0,
  )


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--sweeps', default='batch,memory,length')
  parser.add_argument('--steps', type=int, default=2)
  parser.add_argument('--max_full_batch_tokens', type=int, default=8 * 1378)
  parser.add_argument('--json', default=None, help='also write results here')
  parser.add_argument('--worker', default=None, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    mode, config = args.worker.split(':', 1)
    print(json.dumps(worker(json.loads(config), mode, args.steps)))
    return

  from benchmarks import train_step

  gflops = train_step.matmul_gflops()
  print(f'float32 matmul: {gflops:.0f} GFLOP/s (2048 x 2048)\n')
  print(
    '| sweep | memory | batch | N | K | LSTM | length | mode | step (s) | '
    'p10-p90 (s) | '
    'peak memory (GiB) | tokens/s | en-10k epoch (h) | matmul bound (s) | '
    'first call (s) |'
  )
  print(
    '|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|'
  )
  results = []
  for sweep in args.sweeps.split(','):
    if sweep not in _SWEEPS:
      parser.error(f'--sweeps: unknown sweep {sweep!r}; use {list(_SWEEPS)}')
    for config in _SWEEPS[sweep]:
      tokens = config['batch_size'] * config['length']
      memory = config.get('memory_type', 'dnc')
      # common.step_flops counts the DNC's operations, not the SDNC's.
      bound = (
        f'{common.step_flops(_flop_config(config)) / (gflops * 1e9):.3f}'
        if memory == 'dnc'
        else '-'
      )
      for mode in ('full', 'recompute'):
        if mode == 'full' and tokens > args.max_full_batch_tokens:
          continue
        point = common.run_worker(
          'benchmarks.recompute',
          [f'--worker={mode}:{json.dumps(config)}', f'--steps={args.steps}'],
          timeout=3600,
        )
        step_s = point['median_ms'] / 1000
        rate = tokens / step_s
        results.append(dict(sweep=sweep, mode=mode, **config, **point))
        print(
          f'| {sweep} | {memory} | {config["batch_size"]} | '
          f'{config["memory_size"]} | '
          f'{config.get("link_sparsity", 0)} | {config["hidden_size"]} | '
          f'{config["length"]} | {mode} | '
          f'{step_s:.2f} | '
          f'{point["p10_ms"] / 1000:.2f}-{point["p90_ms"] / 1000:.2f} | '
          f'{point["peak_rss_mib"] / 1024:.2f} | {rate:,.0f} | '
          f'{_EPOCH_TOKENS / rate / 3600:.2f} | {bound} | '
          f'{point["first_call_s"]:.0f} |',
          flush=True,
        )
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(dict(matmul_gflops=gflops, points=results), f, indent=1)


if __name__ == '__main__':
  main()
