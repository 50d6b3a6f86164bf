"""Characters per second of train_char_lm.py's training step.

  python -m benchmarks.char_lm                     # both configurations
  python -m benchmarks.char_lm --configs=numpy --steps=200 --json=F

For each configuration and model it measures, in a fresh process, the
training step that train_char_lm.py runs (the next window of every row fed
from the host, the unroll from the carried state, loss, gradients,
clipping, RMSProp; under XLA): the first call (trace and compile), the
median and spread of a step, and the characters per second that gives
(batch x window / step). The models are the DNC and the baseline without
memory at about its number of weights (`--controller_only`, its hidden size
chosen as train_char_lm.py chooses it).

- `numpy`: the sizes of the numpy DNC after Karpathy's min-char-rnn
  (krocki/dnc, `dnc-debug.py`): LSTM 128, memory 12 x 12, 1 read and 1
  write head, windows of 32, batch 32, the 74 characters of Alice's
  Adventures in Wonderland; its published log reads 1,488 characters/s.
  That DNC has content addressing only; this one the full DNC (allocation,
  temporal links) at these sizes.
- `readme`: train_char_lm.py's defaults (the command of docs/char_lm.md):
  LSTM 256, memory 64 x 32, 4 read heads, windows of 100, batch 32, the 65
  characters of Tiny Shakespeare.

The text is random characters (the speed does not depend on them); nothing
is read from disk.
"""

import argparse
import json
import time

from benchmarks import common

CONFIGS = {
  'numpy': dict(
    hidden_size=128,
    memory_size=12,
    word_size=12,
    num_read_heads=1,
    num_write_heads=1,
    batch_size=32,
    window_length=32,
    characters=74,
  ),
  'readme': dict(
    hidden_size=256,
    memory_size=64,
    word_size=32,
    num_read_heads=4,
    num_write_heads=1,
    batch_size=32,
    window_length=100,
    characters=65,
  ),
}
MODELS = ('dnc', 'baseline')
# The numpy DNC's published speed (krocki/dnc, README: iteration 104,800).
NUMPY_CHARS_PER_SECOND = 1488.38


def worker(config_name: str, model: str, steps: int) -> dict:
  """Times one configuration and model in this process."""
  import numpy as np

  from dnc import config as config_lib
  from dnc.tasks.char_lm import task as char_lm
  from dnc.tasks.char_lm import text as text_lib
  from dnc.train import trainer as trainer_lib

  c = CONFIGS[config_name]
  characters = ''.join(chr(ord('!') + i) for i in range(c['characters']))
  vocabulary = text_lib.Vocabulary(characters)
  rng = np.random.default_rng(0)
  # Enough text for every timed window to be new.
  n = c['batch_size'] * (c['window_length'] * (steps + 30) + 1)
  ids = rng.integers(1, vocabulary.size, n).astype(np.int32)
  task = char_lm.CharLMTask(
    vocabulary,
    dict(
      batch_size=c['batch_size'],
      window_length=c['window_length'],
      reset_state=False,
      valid_fraction=0.05,
      test_fraction=0.05,
    ),
    {'train': ids},
  )
  sizes = {k: c[k] for k in config_lib.ModelConfig.fields() if k in c}
  model_config = config_lib.ModelConfig(**sizes)
  weights = {'dnc': char_lm.parameter_count(model_config, vocabulary.size)}
  if model == 'baseline':
    hidden, weights['baseline'], _ = char_lm.matched_hidden_size(
      model_config, vocabulary.size
    )
    model_config = config_lib.ModelConfig(
      **{**sizes, 'hidden_size': hidden, 'controller_only': True}
    )
  core = config_lib.make_core(model_config, vocabulary.size, fast_kernels=True)
  # train_char_lm.py's optimiser defaults.
  trainer = trainer_lib.Trainer(
    task,
    core,
    learning_rate=1e-3,
    optimizer_epsilon=1e-10,
    max_grad_norm=10,
    compile_mode='xla',
  )
  # `.numpy()` waits for the step to finish.
  step = lambda: trainer.run_step()[0].numpy()
  start = time.perf_counter()
  step()
  first_call_s = time.perf_counter() - start
  timed = common.time_calls(step, steps, warmup=10)
  chars = c['batch_size'] * c['window_length']
  return {
    'first_call_s': first_call_s,
    'train': timed,
    'chars_per_second': 1000 * chars / timed['median_ms'],
    'hidden_size': model_config.hidden_size,
    'weights': weights[model],
    'peak_rss_mib': common.peak_rss_mib(),
  }


def _table(runs: dict) -> str:
  lines = [
    '| config | model | hidden | weights | first call s | step ms '
    '| characters/s | vs numpy DNC |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  ]
  for name, run in runs.items():
    config, model = name.split(':')
    t = run['train']
    lines.append(
      f'| {config} | {model} | {run["hidden_size"]} | {run["weights"]:,} | '
      f'{run["first_call_s"]:.1f} | {t["median_ms"]:.2f} '
      f'({t["p10_ms"]:.2f}-{t["p90_ms"]:.2f}) | '
      f'{run["chars_per_second"]:,.0f} | '
      f'{run["chars_per_second"] / NUMPY_CHARS_PER_SECOND:.1f}x |'
    )
  return '\n'.join(lines)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--configs', default=','.join(CONFIGS))
  parser.add_argument('--models', default=','.join(MODELS))
  parser.add_argument('--steps', type=int, default=100)
  parser.add_argument('--json', default='', help='Also write the numbers.')
  parser.add_argument('--worker', default='', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    config, model = args.worker.split(':')
    print(json.dumps(worker(config, model, args.steps)))
    return
  runs = {}
  for config in args.configs.split(','):
    for model in args.models.split(','):
      name = f'{config}:{model}'
      runs[name] = common.run_worker(
        'benchmarks.char_lm', [f'--worker={name}', f'--steps={args.steps}']
      )
  print(_table(runs))
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(runs, f, indent=1)


if __name__ == '__main__':
  main()
