"""Repeat-copy (`dnc.tasks.repeat_copy.data`) as a task of the training loop.

`train.py` builds `RepeatCopyTask` from its flags; `make_trainer` builds the
same task, model and step from a config dict, for benchmarks and notebooks.
A config maps train.py's flag names to values.
"""

from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from absl import flags
import numpy as np
import sonnet as snt
import tensorflow as tf

from dnc import config as config_lib
from dnc import tasks
from dnc.tasks import base as task_lib
from dnc.tasks.repeat_copy import data as repeat_copy
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

# `validate`'s held-out batches: how many, and the seed that draws them.
VALIDATION_BATCHES = 4
VALIDATION_SEED = 20161012  # The paper's publication date.

# The reference script's defaults (its model is `ModelConfig`'s default).
DEFAULTS = {
  **config_lib.ModelConfig().to_dict(),
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


@tasks.register('repeat_copy')
class RepeatCopyTask(task_lib.Task):
  """Batches drawn in the compiled step, sigmoid cross-entropy, bit errors."""

  in_graph = True
  eval_may_differ = TASK_KEYS[1:]
  # A warm start may go on to longer or more repeated patterns.
  warm_start_may_differ = TASK_KEYS[1:]

  def __init__(self, config: Mapping[str, Any], seed: int | None = None):
    """Builds the task, padded to its longest sequence (static for XLA).

    Args:
      config: `TASK_KEYS` (and `eval_batches` for `evaluate`, default 20).
      seed: seeds the task's generator (random if None).
    """
    self._config = {key: config[key] for key in TASK_KEYS}
    self._eval_batches = config.get('eval_batches', 20)
    self._validation = None  # `validate`'s batches, drawn when first asked.
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

  @classmethod
  def from_config(cls, config: Mapping[str, Any]) -> 'RepeatCopyTask':
    # Entries a config lacks are train.py's defaults.
    return cls({**DEFAULTS, **config}, seed=0)

  @classmethod
  def recognises_legacy_config(cls, config: Mapping[str, Any]) -> bool:
    return 'num_bits' in config and 'vocabulary' not in config

  def probabilities(self, logits: tf.Tensor) -> tf.Tensor:
    return tf.sigmoid(logits)  # Each bit, and the end marker, on its own.

  @classmethod
  def define_example_flags(cls) -> None:
    flags.DEFINE_integer(
      'length',
      None,
      "Repeat-copy: pattern length (default: the run's --max_length).",
      lower_bound=1,
    )
    flags.DEFINE_integer(
      'repeats',
      None,
      "Repeat-copy: number of repeats (default: the run's --max_repeats).",
      lower_bound=1,
    )

  def draw_example(self, core, path, options, title) -> str:
    # Imported here: drawing needs matplotlib, training does not.
    from dnc.tasks.repeat_copy import picture

    return picture.draw(
      core,
      self._config['num_bits'],
      options.get('length') or self._config['max_length'],
      options.get('repeats') or self._config['max_repeats'],
      options.get('seed', 0),
      options.get('batch_index', 0),
      path,
      title,
    )

  def validate(
    self, logits_of: Callable[[Any], tf.Tensor], step: int
  ) -> dict[str, Any]:
    """The average loss of `VALIDATION_BATCHES` fixed batches.

    The same batches at every checkpoint of every run of this config (drawn
    once from a generator of their own, seeded with `VALIDATION_SEED`), so
    that learning curves of runs and models compare.
    """
    del step
    if self._validation is None:
      data = repeat_copy.RepeatCopy(
        **self._config, seed=VALIDATION_SEED, pad_to_max_length=True
      )
      self._validation = [data() for _ in range(VALIDATION_BATCHES)]
    loss, errors = self._loss_and_bit_errors(logits_of, self._validation)
    return {
      'score': loss,
      'bit_error_rate': errors,
      'summary': (
        f'validation loss {loss:.4f}, bit error rate {errors:.4%} '
        f'({VALIDATION_BATCHES} batches)'
      ),
    }

  def _loss_and_bit_errors(
    self,
    logits_of: Callable[[Any], tf.Tensor],
    batches: list[task_lib.DatasetTensors],
  ) -> tuple[float, float]:
    """The average loss and the bit error rate of `batches`."""
    losses, errors, bits = [], 0.0, 0.0
    for data in batches:
      logits = logits_of(data.observations)
      losses.append(float(self.cost(logits, data.target, data.mask)))
      mask = data.mask.numpy()[..., None]
      wrong = (logits.numpy() > 0) != (data.target.numpy() > 0.5)
      errors += float(np.sum(wrong * mask))
      bits += float(np.sum(mask * np.ones_like(data.target.numpy())))
    return float(np.mean(losses)), errors / bits

  def evaluate(
    self, logits_of: Callable[[Any], tf.Tensor], checkpoint: str, step: int
  ) -> str:
    """Average loss and bit error rate over fresh batches."""
    del step
    batches = [self.data() for _ in range(self._eval_batches)]
    loss, errors = self._loss_and_bit_errors(logits_of, batches)
    c = self._config
    return (
      f'Evaluated {checkpoint} on {self._eval_batches} batches of '
      f'{c["batch_size"]} (lengths {c["min_length"]}-{c["max_length"]}, '
      f'repeats {c["min_repeats"]}-{c["max_repeats"]}): '
      f'average loss {loss:.4f}, bit error rate {errors:.4%}.'
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
    core = config_lib.make_core(
      config_lib.ModelConfig.from_dict(config),
      task.output_size,
      fast_kernels=trainer_lib.fast_kernels_for(compile_mode),
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
    journal=config.get('journal', False),
  )
