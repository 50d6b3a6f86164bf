"""The model, its optimiser and the compiled training step of any task.

`Trainer(task, core, ...)` builds RMSProp and one training step (batch, for
tasks that build it in the graph; unroll; loss; gradients; global-norm
clipping; update) compiled with XLA, with `tf.function` or not at all. The
loop (`dnc.loop`) calls it; benchmarks time it.
"""

from collections.abc import Mapping
from typing import Any

import sonnet as snt
import tensorflow as tf

from dnc import dnc
from dnc import recompute
from dnc import run_flags
from dnc import task as task_lib

COMPILE_MODES = ('xla', 'function', 'eager')


def make_core(
  config: Mapping[str, Any],
  output_size: int,
  fast_kernels: bool | None = None,
) -> dnc.DNC:
  """The DNC of a config's model flags (`run_flags.MODEL_KEYS`).

  Args:
    config: `hidden_size`, `memory_size`, `word_size`, `num_read_heads`,
      `num_write_heads`, `clip_value`; and those of `run_flags.MODEL_DEFAULTS`
      (the memory options `content_masking`, `deallocate_content`,
      `link_sharpness`),
      which take their default where absent (a config of an older version).
    output_size: outputs per step (the task's `output_size`).
    fast_kernels: `dnc.DNC`'s switch (None: its default).
  """
  config = {**run_flags.MODEL_DEFAULTS, **config}
  return dnc.DNC(
    access_config=dict(
      memory_size=config['memory_size'],
      word_size=config['word_size'],
      num_reads=config['num_read_heads'],
      num_writes=config['num_write_heads'],
      content_masking=config['content_masking'],
      deallocate_content=config['deallocate_content'],
      link_sharpness=config['link_sharpness'],
    ),
    controller_config=dict(hidden_size=config['hidden_size']),
    output_size=output_size,
    clip_value=config['clip_value'],
    fast_kernels=fast_kernels,
  )


def unroll(
  core: snt.RNNCore, inputs: tf.Tensor, recompute_chunk_length: int = 0
) -> tf.Tensor:
  """Logits `[T, B, output_size]` of float inputs `[T, B, input_size]`.

  Args:
    core: the RNN core.
    inputs: `[T, B, input_size]`.
    recompute_chunk_length: 0 to backpropagate through the unroll as
      `snt.dynamic_unroll` does, keeping every step; K > 0 to keep only the
      state every K steps and recompute the chunks in the backward pass
      (`dnc.recompute`); -1 for K = ceil(sqrt(T)).
  """
  initial_state = core.initial_state(tf.shape(inputs)[1])
  if recompute_chunk_length == 0:
    logits, _ = snt.dynamic_unroll(core, inputs, initial_state)
  else:
    chunk_length = (
      recompute_chunk_length if recompute_chunk_length > 0 else None
    )
    logits, _ = recompute.dynamic_unroll(
      core, inputs, initial_state, chunk_length
    )
  return logits


def build_variables(core: snt.RNNCore, input_size: int) -> None:
  """Creates the core's variables with one step on zeros (e.g. to restore)."""
  core(tf.zeros([1, input_size]), core.initial_state(1))


class Trainer:
  """RMSProp and the compiled training step of `task` on `core`.

  Attributes:
    task, core, optimizer: the task, the core and `snt.optimizers.RMSProp`
      (decay 0.9, as the reference).
    step: int64 variable, training steps taken.
    loss_sum: the sum of losses since the caller last reset it; and
      `metric_sums`, a dict of the same for each of the task's
      `step_metrics`. Checkpointed, so that a run resumed between two
      reports reports what an uninterrupted run would.
    train_step: one training step, compiled as asked; takes no argument for
      an `in_graph` task, else a batch's `(observations, target, mask)`;
      returns `(loss, gradient_norm_before_clipping, batch, logits)`.
    forward_step: the same without gradients; returns the loss.
  """

  def __init__(
    self,
    task: task_lib.Task,
    core: snt.RNNCore,
    learning_rate: float,
    optimizer_epsilon: float,
    max_grad_norm: float,
    momentum: float = 0.0,
    compile_mode: str = 'xla',
    recompute_chunk_length: int = 0,
  ):
    """Builds everything; variables are created when a step first runs.

    Args:
      task: a `dnc.task.Task`.
      core: an RNN core with `initial_state(batch_size)` and the task's
        `output_size` outputs per step.
      learning_rate, optimizer_epsilon, momentum: RMSProp's.
      max_grad_norm: the global norm the gradients are clipped to.
      compile_mode: 'xla' (`tf.function(jit_compile=True)`), 'function'
        (`tf.function`) or 'eager'.
      recompute_chunk_length: how the training step backpropagates through
        the unroll: 0 in full, else by recomputing chunks (see `unroll`).
    """
    if compile_mode not in COMPILE_MODES:
      raise ValueError(
        f'`compile_mode` must be one of {COMPILE_MODES}, got {compile_mode!r}.'
      )
    self.task = task
    self.core = core
    self.optimizer = snt.optimizers.RMSProp(
      learning_rate, decay=0.9, momentum=momentum, epsilon=optimizer_epsilon
    )
    self.step = tf.Variable(0, dtype=tf.int64, name='step')
    self.loss_sum = tf.Variable(0.0, name='loss_sum')
    self.metric_sums = {
      name: tf.Variable(0.0, name=f'{name}_sum') for name in task.metric_names
    }
    if not isinstance(recompute_chunk_length, int) or (
      recompute_chunk_length < -1
    ):
      raise ValueError(
        '`recompute_chunk_length` must be -1, 0 or a positive int, got '
        f'{recompute_chunk_length!r}.'
      )
    self._recompute_chunk_length = recompute_chunk_length
    self._max_grad_norm = max_grad_norm
    self.compile_mode = compile_mode
    if compile_mode == 'eager':
      self.train_step, self.forward_step = self._train_step, self._forward_step
    else:
      jit_compile = compile_mode == 'xla'
      self.train_step = tf.function(self._train_step, jit_compile=jit_compile)
      self.forward_step = tf.function(
        self._forward_step, jit_compile=jit_compile
      )

  def _data(self, batch):
    if self.task.in_graph:
      return self.task.batch()
    return task_lib.DatasetTensors(*batch)

  def _train_step(self, *batch):
    data = self._data(batch)
    with tf.GradientTape() as tape:
      logits = unroll(
        self.core,
        self.task.core_inputs(data.observations),
        self._recompute_chunk_length,
      )
      loss = self.task.cost(logits, data.target, data.mask)
    variables = self.core.trainable_variables
    grads = tape.gradient(loss, variables)
    grads, grad_norm = tf.clip_by_global_norm(grads, self._max_grad_norm)
    self.optimizer.apply(grads, variables)
    self.step.assign_add(1)
    self.loss_sum.assign_add(loss)
    metrics = self.task.step_metrics(logits, data.target, data.mask)
    for name, value in metrics.items():
      self.metric_sums[name].assign_add(value)
    return loss, grad_norm, data, logits

  def _forward_step(self, *batch):
    data = self._data(batch)
    logits = unroll(self.core, self.task.core_inputs(data.observations))
    return self.task.cost(logits, data.target, data.mask)

  def _host_batch(self, data) -> tuple[tf.Tensor, ...]:
    return tuple(tf.constant(x) for x in data)

  def trace(self) -> None:
    """Creates every variable (optimiser slots included) without a step.

    Then a checkpoint restores into all of them at once. In 'eager' mode
    only the core's variables are built (there is nothing to trace).
    """
    if self.compile_mode == 'eager':
      build_variables(self.core, self.task.input_size)
    elif self.task.in_graph:
      self.train_step.get_concrete_function()
    else:
      example = self.task.example_batch()
      self.train_step.get_concrete_function(*self._host_batch(example))

  def run_step(self):
    """One training step on the task's next batch; see `train_step`."""
    if self.task.in_graph:
      return self.train_step()
    return self.train_step(*self._host_batch(self.task.batch()))

  def reset_sums(self) -> None:
    """Zeroes `loss_sum` and `metric_sums` (at each report)."""
    self.loss_sum.assign(0.0)
    for variable in self.metric_sums.values():
      variable.assign(0.0)

  def trackables(self) -> dict[str, Any]:
    """What a checkpoint must hold to resume exactly."""
    return dict(
      core=self.core,
      optimizer=self.optimizer,
      step=self.step,
      **self.task.trackables(),
    )

  def optional_trackables(self) -> dict[str, Any]:
    """Checkpointed too, but absent from checkpoints of older versions."""
    sums = {f'{name}_sum': v for name, v in self.metric_sums.items()}
    return dict(loss_sum=self.loss_sum, **sums)
