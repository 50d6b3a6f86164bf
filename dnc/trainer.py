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

from dnc import controllers
from dnc import dnc
from dnc import model as model_lib
from dnc import run_flags
from dnc import task as task_lib

COMPILE_MODES = ('xla', 'function', 'eager')


def make_core(
  config: Mapping[str, Any],
  output_size: int,
  fast_kernels: bool | None = None,
  vocabulary_size: int | None = None,
) -> dnc.DNC | model_lib.Model:
  """The model of a config's model flags (`run_flags.MODEL_KEYS`).

  Args:
    config: `hidden_size`, `memory_size`, `word_size`, `num_read_heads`,
      `num_write_heads`, `clip_value`; and optionally the options from the
      literature (`run_flags.MODEL_DEFAULTS`, off when absent): the memory
      options `content_masking`, `deallocate_content`, `link_sharpness`
      and the controller and input options `layer_norm`, `bypass_dropout`,
      `embedding_size`, `backward_size`.
    output_size: outputs per step (the task's `output_size`).
    fast_kernels: `dnc.DNC`'s switch (None: its default).
    vocabulary_size: the task's `vocabulary_size` (needed to embed words).

  Returns:
    The `dnc.DNC`, as the reference builds it unless `layer_norm` is set;
    with `embedding_size`, `backward_size` or `bypass_dropout`, a
    `dnc.model.Model` around it.

  Raises:
    task_lib.TaskError: `embedding_size` without a vocabulary.
  """
  options = {
    key: config.get(key, default)
    for key, default in run_flags.MODEL_DEFAULTS.items()
  }
  hidden_size = config['hidden_size']
  backward_size = options['backward_size']
  controller = None  # The DNC's default LSTM.
  if options['layer_norm'] or backward_size:
    controller = controllers.lstm(
      hidden_size, layer_norm=options['layer_norm'], fast_kernels=fast_kernels
    )
    if backward_size:
      controller = controllers.PassThrough(controller, backward_size)
  core = dnc.DNC(
    access_config=dict(
      memory_size=config['memory_size'],
      word_size=config['word_size'],
      num_reads=config['num_read_heads'],
      num_writes=config['num_write_heads'],
      content_masking=options['content_masking'],
      deallocate_content=options['deallocate_content'],
      link_sharpness=options['link_sharpness'],
    ),
    controller_config=None if controller else dict(hidden_size=hidden_size),
    output_size=output_size,
    clip_value=config['clip_value'],
    fast_kernels=fast_kernels,
    controller=controller,
  )
  embedding_size = options['embedding_size']
  if not (embedding_size or backward_size or options['bypass_dropout']):
    return core
  if embedding_size and vocabulary_size is None:
    raise task_lib.TaskError(
      '--embedding_size needs a task whose inputs are word ids (bAbI).'
    )
  backward = None
  if backward_size:
    backward = controllers.lstm(
      backward_size,
      layer_norm=options['layer_norm'],
      fast_kernels=fast_kernels,
      name='backward_lstm',
    )
  return model_lib.Model(
    core,
    vocabulary_size=vocabulary_size,
    embedding_size=embedding_size,
    backward=backward,
    bypass_dropout=options['bypass_dropout'],
    bypass_size=hidden_size + backward_size,
  )


def unroll(
  core: snt.RNNCore | model_lib.Model,
  inputs: tf.Tensor,
  recompute_chunk_length: int = 0,
) -> tf.Tensor:
  """Logits `[T, B, output_size]` of a model's inputs.

  Args:
    core: an RNN core, or a `dnc.model.Model`.
    inputs: `[T, B, input_size]` (word ids `[T, B]` for a model that embeds
      them: see `model_inputs`).
    recompute_chunk_length: 0 to backpropagate through the unroll as
      `snt.dynamic_unroll` does, keeping every step; K > 0 to keep only the
      state every K steps and recompute the chunks in the backward pass
      (`dnc.recompute`); -1 for K = ceil(sqrt(T)).
  """
  if isinstance(core, model_lib.Model):
    return core(inputs, recompute_chunk_length)
  return model_lib.unroll(core, inputs, recompute_chunk_length)


def model_inputs(
  core: snt.RNNCore | model_lib.Model,
  task: task_lib.Task,
  observations: Any,
) -> tf.Tensor:
  """What `unroll(core, ...)` reads of a batch's observations `[T, B, ...]`.

  Returns:
    The word ids `[T, B]` for a model that embeds them, else the task's
    `core_inputs` `[T, B, input_size]`.
  """
  if isinstance(core, model_lib.Model) and core.embeds_words:
    return tf.convert_to_tensor(observations, tf.int32)
  return task.core_inputs(observations)


def build_variables(
  core: snt.RNNCore | model_lib.Model, input_size: int
) -> None:
  """Creates the core's variables with one step on zeros (e.g. to restore)."""
  if isinstance(core, model_lib.Model):
    core.build(input_size)
  else:
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
    submodules = getattr(core, 'submodules', ())
    if recompute_chunk_length and any(
      isinstance(m, controllers.Dropout) for m in submodules
    ):
      raise ValueError(
        '`recompute_chunk_length` must be 0 for a core with dropout in its '
        'step (`controllers.Dropout`): a recomputed chunk would draw other '
        'masks. (The bypass dropout of `dnc.model.Model` draws its masks '
        'before the unroll and recomputes.)'
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
    with controllers.training(self.core), tf.GradientTape() as tape:
      logits = unroll(
        self.core,
        model_inputs(self.core, self.task, data.observations),
        self._recompute_chunk_length,
      )
      loss = self.task.cost(logits, data.target, data.mask)
    variables = self.core.trainable_variables
    # Dense, so that RMSProp decays every row of an embedding at each step
    # (its sparse update would skip the words not in the batch).
    grads = [
      tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g
      for g in tape.gradient(loss, variables)
    ]
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
    logits = unroll(
      self.core, model_inputs(self.core, self.task, data.observations)
    )
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
