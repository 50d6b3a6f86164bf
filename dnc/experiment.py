"""The repeat-copy experiment of `train.py`, built from its flag values.

`train.py`, `dnc.visualize` and the benchmarks build the task, the model and
the compiled training step here, so that all of them run the same code.
A config is a mapping from train.py's flag names to values.
"""

from collections.abc import Mapping
from typing import Any

import sonnet as snt
import tensorflow as tf

from dnc import dnc
from dnc import repeat_copy

# Flags that shape the model's variables, and flags that define the task: a
# checkpoint resumes only with the values it was made with.
MODEL_KEYS = (
  'hidden_size',
  'memory_size',
  'word_size',
  'num_write_heads',
  'num_read_heads',
  'clip_value',
  'num_bits',
)
TASK_KEYS = (
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


def make_task(
  config: Mapping[str, Any], seed: int | None = None
) -> repeat_copy.RepeatCopy:
  """The repeat-copy task, padded to its longest sequence (static for XLA)."""
  return repeat_copy.RepeatCopy(
    num_bits=config['num_bits'],
    batch_size=config['batch_size'],
    min_length=config['min_length'],
    max_length=config['max_length'],
    min_repeats=config['min_repeats'],
    max_repeats=config['max_repeats'],
    seed=seed,
    pad_to_max_length=True,
  )


def make_core(config: Mapping[str, Any]) -> dnc.DNC:
  """The DNC, with one output per target channel of the task."""
  return dnc.DNC(
    access_config=dict(
      memory_size=config['memory_size'],
      word_size=config['word_size'],
      num_reads=config['num_read_heads'],
      num_writes=config['num_write_heads'],
    ),
    controller_config=dict(hidden_size=config['hidden_size']),
    output_size=config['num_bits'] + 1,  # RepeatCopy.target_size
    clip_value=config['clip_value'],
  )


def unroll(core: dnc.DNC, observations: tf.Tensor) -> tf.Tensor:
  """Logits `[T, B, target_size]` of observations `[T, B, num_bits + 2]`."""
  initial_state = core.initial_state(tf.shape(observations)[1])
  logits, _ = snt.dynamic_unroll(core, observations, initial_state)
  return logits


class Trainer:
  """Task, model, RMSProp and the compiled training step of train.py.

  Attributes:
    task, core, optimizer: the task, the DNC (or the `core` passed in) and
      `snt.optimizers.RMSProp`.
    step: int64 variable, training steps taken.
    loss_sum: the sum of losses since it was last reset (by the caller).
    train_step: one training step (batch generation, unroll, loss,
      gradients, global-norm clipping, update), compiled as asked; returns
      `(loss, gradient_norm_before_clipping, batch, logits)`.
    forward_step: batch generation, unroll and loss only; returns the loss.
  """

  def __init__(
    self,
    config: Mapping[str, Any],
    seed: int | None = None,
    compile_mode: str = 'xla',
    core: snt.RNNCore | None = None,
  ):
    """Builds everything; variables are created when a step first runs.

    Args:
      config: train.py's flag values (`DEFAULTS` fills what is missing).
      seed: seeds the initial weights and the task's generator.
      compile_mode: 'xla' (`tf.function(jit_compile=True)`), 'function'
        (`tf.function`) or 'eager'.
      core: the core to train instead of `make_core(config)`: an RNN core
        with `initial_state(batch_size)` and `num_bits + 1` outputs per step.
    """
    if compile_mode not in ('xla', 'function', 'eager'):
      raise ValueError(
        "`compile_mode` must be 'xla', 'function' or 'eager', got "
        f'{compile_mode!r}.'
      )
    config = {**DEFAULTS, **config}
    if seed is not None:
      tf.random.set_seed(seed)
    self.task = make_task(config, seed)
    self.core = make_core(config) if core is None else core
    self.optimizer = snt.optimizers.RMSProp(
      config['learning_rate'], decay=0.9, epsilon=config['optimizer_epsilon']
    )
    self.step = tf.Variable(0, dtype=tf.int64, name='step')
    # Kept in the checkpoint so that a run resumed between two reports
    # reports what an uninterrupted run would.
    self.loss_sum = tf.Variable(0.0, name='loss_sum')
    self._max_grad_norm = config['max_grad_norm']
    if compile_mode == 'eager':
      self.train_step, self.forward_step = self._train_step, self._forward_step
    else:
      jit_compile = compile_mode == 'xla'
      self.train_step = tf.function(self._train_step, jit_compile=jit_compile)
      self.forward_step = tf.function(
        self._forward_step, jit_compile=jit_compile
      )

  def _train_step(self):
    data = self.task()
    with tf.GradientTape() as tape:
      logits = unroll(self.core, data.observations)
      loss = self.task.cost(logits, data.target, data.mask)
    variables = self.core.trainable_variables
    grads = tape.gradient(loss, variables)
    grads, grad_norm = tf.clip_by_global_norm(grads, self._max_grad_norm)
    self.optimizer.apply(grads, variables)
    self.step.assign_add(1)
    self.loss_sum.assign_add(loss)
    return loss, grad_norm, data, logits

  def _forward_step(self):
    data = self.task()
    logits = unroll(self.core, data.observations)
    return self.task.cost(logits, data.target, data.mask)

  def trackables(self) -> dict[str, Any]:
    """What a checkpoint must hold to resume exactly."""
    return dict(
      core=self.core,
      optimizer=self.optimizer,
      task=self.task,
      step=self.step,
      loss_sum=self.loss_sum,
    )
