"""Repeat-copy (`dnc.tasks.repeat_copy.data`) as a task of the training loop.

`train.py` builds `RepeatCopyTask` from its flags; `make_trainer` builds the
same task, model and step from a config dict, for benchmarks and notebooks.
A config maps train.py's flag names to values.
"""

from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

import numpy as np
import sonnet as snt
import tensorflow as tf

from dnc.tasks import base as task_lib
from dnc.tasks.repeat_copy import data as repeat_copy
from dnc.train import flags as run_flags
from dnc.train import trainer as trainer_lib

# The task's flags that a checkpoint records. All but num_bits (the model's
# input and output widths) may differ when evaluating.
TASK_KEYS = (
  'num_bits',
  'batch_size',
  'min_length',
  'max_length',
  'min_repeats',
  'max_repeats',
)

# The reference script's defaults.
DEFAULTS = {
  'hidden_size': 64,
  'memory_size': 16,
  'word_size': 16,
  'num_write_heads': 1,
  'num_read_heads': 4,
  'clip_value': 20,
  **run_flags.MODEL_DEFAULTS,
  'num_bits': 4,
  'batch_size': 16,
  'min_length': 1,
  'max_length': 2,
  'min_repeats': 1,
  'max_repeats': 2,
  'learning_rate': 1e-4,
  'optimizer_epsilon': 1e-10,
  'max_grad_norm': 50,
}


def rounded_output(logits: tf.Tensor, mask: np.ndarray) -> np.ndarray:
  """The model's bits as the reference shows them: rounded, masked.

  Args:
    logits: `[T, B, num_bits + 1]`.
    mask: `[T, B]`.
  """
  return np.round(mask[..., None] * tf.sigmoid(logits).numpy())


class RepeatCopyTask(task_lib.Task):
  """Batches drawn in the compiled step, sigmoid cross-entropy, bit errors."""

  in_graph = True
  eval_may_differ = TASK_KEYS[1:]

  def __init__(self, config: Mapping[str, Any], seed: int | None = None):
    """Builds the task, padded to its longest sequence (static for XLA).

    Args:
      config: `TASK_KEYS` (and `eval_batches` for `evaluate`, default 20).
      seed: seeds the task's generator (random if None).
    """
    self._config = {key: config[key] for key in TASK_KEYS}
    self._eval_batches = config.get('eval_batches', 20)
    self.data = repeat_copy.RepeatCopy(
      num_bits=config['num_bits'],
      batch_size=config['batch_size'],
      min_length=config['min_length'],
      max_length=config['max_length'],
      min_repeats=config['min_repeats'],
      max_repeats=config['max_repeats'],
      seed=seed,
      pad_to_max_length=True,
    )

  @property
  def input_size(self) -> int:
    return self._config['num_bits'] + 2

  @property
  def output_size(self) -> int:
    return self.data.target_size

  def config(self) -> dict[str, Any]:
    return dict(self._config)

  def batch(self) -> task_lib.DatasetTensors:
    return self.data()

  def cost(self, logits, target, mask) -> tf.Tensor:
    return self.data.cost(logits, target, mask)

  def readable(self, batch, logits) -> str:
    mask = np.asarray(batch.mask)
    data = task_lib.DatasetTensors(*(np.asarray(x) for x in batch))
    return self.data.to_human_readable(data, rounded_output(logits, mask))

  def report(self, report: task_lib.Report) -> str:
    return (
      f'{report.step}: Avg training loss {report.loss:f}.\n'
      f'{self.readable(report.batch, report.logits)}\n'
      f'{report.step}: {report.steps_per_second:.1f} steps/s.'
    )

  def trackables(self) -> dict[str, Any]:
    # The generator, so that a resumed run draws the batches it would have.
    return {'task': self.data}

  def evaluate(
    self, logits_of: Callable[[Any], tf.Tensor], checkpoint: str, step: int
  ) -> str:
    """Average loss and bit error rate over fresh batches."""
    del step
    losses, errors, bits = [], 0.0, 0.0
    for _ in range(self._eval_batches):
      data = self.data()
      logits = logits_of(data.observations)
      losses.append(float(self.cost(logits, data.target, data.mask)))
      mask = data.mask.numpy()[..., None]
      wrong = (logits.numpy() > 0) != (data.target.numpy() > 0.5)
      errors += float(np.sum(wrong * mask))
      bits += float(np.sum(mask * np.ones_like(data.target.numpy())))
    c = self._config
    return (
      f'Evaluated {checkpoint} on {self._eval_batches} batches of '
      f'{c["batch_size"]} (lengths {c["min_length"]}-{c["max_length"]}, '
      f'repeats {c["min_repeats"]}-{c["max_repeats"]}): '
      f'average loss {np.mean(losses):.4f}, bit error rate '
      f'{errors / bits:.4%}.'
    )


def make_trainer(
  config: Mapping[str, Any],
  seed: int | None = None,
  compile_mode: str = 'xla',
  core: snt.RNNCore | None = None,
  strategy: tf.distribute.Strategy | None = None,
) -> trainer_lib.Trainer:
  """The task, the DNC, RMSProp and the compiled step of train.py.

  Args:
    config: train.py's flag values (`DEFAULTS` fills what is missing).
    seed: seeds the initial weights and the task's generator.
    compile_mode: 'xla', 'function' or 'eager' (see
      `dnc.train.trainer.Trainer`).
    core: the core to train instead of the DNC: an RNN core with
      `initial_state(batch_size)` and `num_bits + 1` outputs per step.
    strategy: a `tf.distribute` strategy to train under
      (`dnc.train.distribute`);
      then call the trainer's `build` before its first step.

  Returns:
    A `dnc.train.trainer.Trainer`; `trainer.task.data` is the `RepeatCopy`.
  """
  config = {**DEFAULTS, **config}
  if seed is not None:
    tf.random.set_seed(seed)
  task = RepeatCopyTask(config, seed)
  if core is None:
    core = trainer_lib.make_core(
      run_flags.model_config_of(config),
      task.output_size,
      fast_kernels=compile_mode == 'xla',
    )
  return trainer_lib.Trainer(
    task,
    core,
    learning_rate=config['learning_rate'],
    optimizer_epsilon=config['optimizer_epsilon'],
    max_grad_norm=config['max_grad_norm'],
    momentum=config.get('momentum', 0.0),
    compile_mode=compile_mode,
    recompute_chunk_length=config.get('recompute_chunk_length', 0),
    strategy=strategy,
  )
