"""Times train.py's training step: this library against itself and PyTorch.

  python -m benchmarks.train_step                 # C1, C2, C3; all modes
  python -m benchmarks.train_step --configs=C1 --steps=200 --torch
  python -m benchmarks.train_step --configs=C1,C3 \
      --modes=function,function_fast,xla,xla_plain   # the kernels' switch

For each configuration (see `common.CONFIGS`) and mode (eager,
`tf.function`, XLA; and 'controller', the DNC's controller alone under XLA,
with no memory: `controller.ControllerOnly`, a floor for the DNC's step;
and `<mode>_plain` / `<mode>_fast`, the DNC built with `fast_kernels=False` /
`True` instead of train.py's choice, the kernels of `dnc.kernels` under XLA
only) it measures, each in a fresh process: the first call
(tracing and compilation), the median and spread of a full training step
(batch generation, unroll, loss, gradients, clipping, RMSProp update; the
`repeat_copy_task.make_trainer` step that train.py runs), the forward pass
alone, the number of traces and the peak resident memory. With `--torch` it
times the PyTorch port (`benchmarks/torch_dnc.py`, eager and
`torch.compile`) the same way. It prints a markdown table and writes JSON,
with the ratios that matter: compiled against eager, XLA against
`torch.compile`, and the step against its compute bound (its FLOPs at the
float32 matmul rate measured here).
"""

import argparse
import json
import time

from benchmarks import common


def tf_worker(config_name: str, mode: str, steps: int) -> dict:
  """Measures one configuration and mode of this library, in this process.

  Mode 'controller' is XLA with `controller.ControllerOnly` in place of the
  DNC: the same step without the memory, a floor for the DNC's.
  """
  from benchmarks import controller
  from dnc import config as config_lib
  from dnc.tasks.repeat_copy import task as repeat_copy_task

  config = common.CONFIGS[config_name]
  if mode == 'controller':
    core = controller.ControllerOnly({**repeat_copy_task.DEFAULTS, **config})
    trainer = repeat_copy_task.make_trainer(
      config, seed=0, compile_mode='xla', core=core
    )
  elif mode.endswith(('_plain', '_fast')):
    mode, kernels = mode.rsplit('_', 1)
    core = config_lib.make_core(
      config_lib.ModelConfig.from_dict({**repeat_copy_task.DEFAULTS, **config}),
      config['num_bits'] + 1,  # RepeatCopy's target size.
      fast_kernels=kernels == 'fast',
    )
    trainer = repeat_copy_task.make_trainer(
      config, seed=0, compile_mode=mode, core=core
    )
  else:
    trainer = repeat_copy_task.make_trainer(config, seed=0, compile_mode=mode)
  # `.numpy()` waits for the step to finish.
  train = lambda: trainer.train_step()[0].numpy()
  forward = lambda: trainer.forward_step().numpy()
  start = time.perf_counter()
  train()
  first_call_s = time.perf_counter() - start
  start = time.perf_counter()
  forward()
  forward_first_call_s = time.perf_counter() - start
  result = {
    'first_call_s': first_call_s,
    'forward_first_call_s': forward_first_call_s,
    'train': common.time_calls(train, steps, warmup=10),
    'forward': common.time_calls(forward, steps, warmup=10),
  }
  if mode != 'eager':
    result['traces'] = trainer.train_step.experimental_get_tracing_count()
  result['peak_rss_mib'] = common.peak_rss_mib()
  return result


def torch_worker(config_name: str, mode: str, steps: int) -> dict:
  """Measures the PyTorch port, eager or `torch.compile`d."""
  import torch

  from benchmarks import torch_dnc

  torch.set_num_threads(2)
  config = dict(common.CONFIGS[config_name])
  config['num_reads'] = config.pop('num_read_heads')
  config['num_writes'] = config.pop('num_write_heads')
  config['clip_value'] = 20
  compile_ = mode == 'compile'
  train = torch_dnc.make_train_step(config, compile=compile_)
  forward = torch_dnc.make_forward_step(config, compile=compile_)
  start = time.perf_counter()
  train()
  first_call_s = time.perf_counter() - start
  start = time.perf_counter()
  forward()
  forward_first_call_s = time.perf_counter() - start
  return {
    'first_call_s': first_call_s,
    'forward_first_call_s': forward_first_call_s,
    'train': common.time_calls(lambda: train().item(), steps, warmup=5),
    'forward': common.time_calls(lambda: forward().item(), steps, warmup=5),
    'peak_rss_mib': common.peak_rss_mib(),
  }


def matmul_gflops(size: int = 2048, repeats: int = 20) -> float:
  """The float32 matmul rate of this machine through TensorFlow, GFLOP/s."""
  import tensorflow as tf

  a = tf.random.normal([size, size])
  b = tf.random.normal([size, size])
  tf.matmul(a, b).numpy()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    tf.matmul(a, b).numpy()
    times.append(time.perf_counter() - start)
  return 2 * size**3 / min(times) / 1e9


def _ratio(reference_ms: float | None, ms: float) -> str:
  return f'{reference_ms / ms:.1f}x' if reference_ms else ''


def _median_ms(runs: dict, name: str) -> float | None:
  """The median training step of worker `name`, if it ran."""
  return runs.get(name, {}).get('train', {}).get('median_ms')


def table_rows(config: str, runs: dict, bound_ms: float) -> list[str]:
  """Markdown rows of one configuration; speed-ups are reference / this."""
  eager = _median_ms(runs, 'tf:eager')
  torch_compiled = _median_ms(runs, 'torch:compile')
  rows = []
  for name, result in runs.items():
    train = result['train']
    ms = train['median_ms']
    # The controller alone does less than the step the bound counts.
    dnc_step = name != 'tf:controller'
    rows.append(
      f'| {config} | {name} | {result["first_call_s"]:.1f} | {ms:.2f} '
      f'({train["p10_ms"]:.2f}-{train["p90_ms"]:.2f}) | '
      f'{result["forward"]["median_ms"]:.2f} | '
      f'{f"{ms / bound_ms:.1f}x" if dnc_step else ""} | '
      f'{_ratio(eager, ms) if name.startswith("tf") and dnc_step else ""} | '
      f'{_ratio(torch_compiled, ms)} | {result["peak_rss_mib"]:.0f} |'
    )
  return rows


HEADER = (
  '| config | framework:mode | first call s | train step ms, median (p10-p90) '
  '| forward ms | x compute bound | speed-up vs TF eager | speed-up vs '
  'torch.compile | peak MiB |\n|---|---|---:|---:|---:|---:|---:|---:|---:|'
)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--configs', default='C1,C2,C3')
  parser.add_argument('--modes', default='eager,function,xla,controller')
  parser.add_argument('--steps', type=int, default=100)
  parser.add_argument('--torch', action='store_true', help='also PyTorch')
  parser.add_argument('--json', default='', help='write the results here')
  parser.add_argument('--worker', default='', help=argparse.SUPPRESS)
  args = parser.parse_args()

  if args.worker:
    framework, config, mode = args.worker.split(':')
    worker = tf_worker if framework == 'tf' else torch_worker
    print(json.dumps(worker(config, mode, args.steps)))
    return

  gflops = matmul_gflops()
  print(f'float32 matmul: {gflops:.0f} GFLOP/s (2048 x 2048)\n')
  results = {'matmul_gflops': gflops, 'configs': {}}
  rows = [HEADER]
  for config in args.configs.split(','):
    flops = common.step_flops(common.CONFIGS[config])
    bound_ms = 1000 * flops / (gflops * 1e9)
    runs = {}
    workers = [f'tf:{mode}' for mode in args.modes.split(',')]
    if args.torch:
      workers += ['torch:eager', 'torch:compile']
    for name in workers:
      framework, mode = name.split(':')
      runs[name] = common.run_worker(
        'benchmarks.train_step',
        [f'--worker={framework}:{config}:{mode}', f'--steps={args.steps}'],
      )
    results['configs'][config] = {
      'flops_per_step': flops,
      'compute_bound_ms': bound_ms,
      'runs': runs,
    }
    config_rows = table_rows(config, runs, bound_ms)
    print(
      f'{config}: {flops / 1e6:.0f} MFLOP per step, compute bound '
      f'{bound_ms:.2f} ms',
      flush=True,
    )
    print('\n'.join(config_rows), flush=True)
    xla, floor = _median_ms(runs, 'tf:xla'), _median_ms(runs, 'tf:controller')
    if xla and floor:
      print(
        f'{config}: the XLA step is {xla / floor:.1f}x the controller '
        f'alone; the memory adds {xla - floor:.2f} ms',
        flush=True,
      )
    rows += config_rows
  print()
  print('\n'.join(rows))
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(results, f, indent=2)


if __name__ == '__main__':
  main()
