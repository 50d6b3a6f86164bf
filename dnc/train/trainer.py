"""The model, its optimiser and the compiled training step of any task.

`Trainer(task, core, ...)` builds RMSProp and one training step (batch, for
tasks that build it in the graph; unroll; loss; gradients; global-norm
clipping; update) compiled with XLA, with `tf.function` or not at all. The
loop (`dnc.train.loop`) calls it; benchmarks time it.

Under a `tf.distribute` strategy (`dnc.train.distribute`) the step is the same,
data-parallel: each replica takes its slice of the global batch, computes
its share of the loss and its gradients (under XLA, which TensorFlow does
not allow around the cross-device parts), then the gradients are summed
over the replicas, clipped and applied on every replica alike.
"""

from typing import Any

import sonnet as snt
import tensorflow as tf

from dnc import config as config_lib
from dnc import controllers
from dnc import model as model_lib
from dnc import recompute
from dnc import sparse_journal
from dnc.tasks import base as task_lib
from dnc.train import rmsprop

COMPILE_MODES = ('xla', 'function', 'eager')


def fast_kernels_for(compile_mode: str) -> bool:
  """`dnc.config.make_core`'s `fast_kernels` for a step of `compile_mode`.

  The speed kernels (and their custom gradients) are for XLA: on exactly
  when the step is compiled with it.

  Args:
    compile_mode: one of `COMPILE_MODES`.
  """
  if compile_mode not in COMPILE_MODES:
    raise ValueError(
      f'`compile_mode` must be one of {COMPILE_MODES}, got {compile_mode!r}.'
    )
  return compile_mode == 'xla'


def unroll(
  core: snt.RNNCore | model_lib.Model,
  inputs: tf.Tensor,
  recompute_chunk_length: int = 0,
  journal: bool = False,
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
    journal: for a SAM or SDNC core, backpropagate through
      `dnc.sparse_journal.dynamic_unroll`, which keeps the rows each step
      writes instead of each step's memory `[B, N, W]`. The state without
      the memory is still O(N) (the last access times; O(N K_L) for the
      SDNC's link rows): kept every step with `recompute_chunk_length` 0,
      else only every K steps, recomputing the chunks from the journal;
      see `dnc.model.unroll`.
  """
  if isinstance(core, model_lib.Model):
    return core(inputs, recompute_chunk_length, journal)
  return model_lib.unroll(core, inputs, recompute_chunk_length, journal)


def unroll_from(
  core: snt.RNNCore,
  inputs: tf.Tensor,
  initial_state: Any,
  recompute_chunk_length: int = 0,
  journal: bool = False,
) -> tuple[tf.Tensor, Any]:
  """Logits `[T, B, output_size]` and the final state of an RNN core's
  unroll from `initial_state` (`unroll` starts from zeros).

  Args:
    core: an RNN core (not a `dnc.model.Model`).
    inputs: `[T, B, input_size]`.
    initial_state: the core's state for a batch of B.
    recompute_chunk_length, journal: as for `unroll`.

  Returns:
    The outputs `[T, B, output_size]` and the state after the last step.
  """
  if journal:
    model_lib.check_journal(core)
    return sparse_journal.dynamic_unroll(
      core,
      inputs,
      initial_state,
      model_lib.journal_chunk_length(recompute_chunk_length, inputs.shape[0]),
    )
  if recompute_chunk_length == 0:
    return snt.dynamic_unroll(core, inputs, initial_state)
  chunk_length = recompute_chunk_length if recompute_chunk_length > 0 else None
  return recompute.dynamic_unroll(core, inputs, initial_state, chunk_length)


class CarriedState(tf.Module):
  """The core's state at the end of the last batch, as variables.

  For a task that `carries_state`: the next batch starts from it. A module,
  so that a checkpoint holds it (and a resumed run goes on from it).
  """

  def __init__(self, core: snt.RNNCore, batch_size: int):
    """Zeros: the core's initial state.

    Args:
      core: an RNN core.
      batch_size: the rows of every batch.
    """
    super().__init__(name='carried_state')
    initial = core.initial_state(batch_size)
    self._structure = initial
    self.values = [
      tf.Variable(x, trainable=False, name=f'state_{i}')
      for i, x in enumerate(tf.nest.flatten(initial))
    ]

  def read(self) -> Any:
    """The state, in the core's structure."""
    return tf.nest.pack_sequence_as(
      self._structure, [v.read_value() for v in self.values]
    )

  def assign(self, state: Any) -> None:
    """Keeps `state` (no gradient flows back through it: truncation)."""
    for variable, value in zip(
      self.values, tf.nest.flatten(state), strict=True
    ):
      variable.assign(tf.stop_gradient(value))


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
    task, core, optimizer: the task, the core and RMSProp (decay 0.9, as
      the reference; `dnc.train.rmsprop.RMSProp`,
      `snt.optimizers.RMSProp`'s maths and checkpoint layout under any
      strategy).
    strategy: the `tf.distribute` strategy the step runs under, and
      `distributed`, whether it is another than the default (one device).
    step: int64 variable, training steps taken.
    loss_sum: the sum of losses since the caller last reset it; and
      `metric_sums`, a dict of the same for each of the task's
      `step_metrics`. Checkpointed, so that a run resumed between two
      reports reports what an uninterrupted run would.
    train_step: one training step, compiled as asked; takes no argument for
      an `in_graph` task, else a batch's `(observations, target, mask)`;
      returns `(loss, gradient_norm_before_clipping, batch, logits)`.
    forward_step: the same without gradients; returns the loss (from the
      zero state).
    carried: for a task that `carries_state`, the `CarriedState` the next
      batch starts from; else None.
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
    strategy: tf.distribute.Strategy | None = None,
    journal: bool = False,
  ):
    """Builds everything; variables are made by `build` or the first step.

    Args:
      task: a `dnc.tasks.base.Task`.
      core: an RNN core with `initial_state(batch_size)` and the task's
        `output_size` outputs per step.
      learning_rate, optimizer_epsilon, momentum: RMSProp's.
      max_grad_norm: the global norm the gradients are clipped to.
      compile_mode: 'xla' (`tf.function(jit_compile=True)`), 'function'
        (`tf.function`) or 'eager'.
      recompute_chunk_length: how the training step backpropagates through
        the unroll: 0 in full, else by recomputing chunks (see `unroll`).
      strategy: a `tf.distribute` strategy
        (`dnc.train.distribute.make_strategy`) to train data-parallel under,
        whose scope the variables are made in (by `build`); None: the
        default strategy, one device.
      journal: backpropagate a SAM or SDNC core through the journal of its
        sparse writes (`dnc.sparse_journal`) instead of every step's memory
        (see `unroll`), in chunks with `recompute_chunk_length`. Refused
        (`dnc.config.ConfigError`, before anything is built) for a dense
        DNC, a core with dropout in its step or bypass dropout.
    """
    if compile_mode not in COMPILE_MODES:
      raise ValueError(
        f'`compile_mode` must be one of {COMPILE_MODES}, got {compile_mode!r}.'
      )
    if journal:
      try:
        model_lib.check_journal(core)
      except ValueError as e:
        raise config_lib.ConfigError(str(e)) from None
    self.task = task
    self.core = core
    self.strategy = strategy or tf.distribute.get_strategy()
    with self.strategy.scope():
      # Any strategy but TensorFlow's default one, a single device.
      self.distributed = tf.distribute.has_strategy()
    self.optimizer = rmsprop.RMSProp(
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
    self._journal = bool(journal)
    self._recompute_chunk_length = recompute_chunk_length
    self._max_grad_norm = max_grad_norm
    self.carried = None
    if task.carries_state:
      if isinstance(core, model_lib.Model):
        raise config_lib.ConfigError(
          'A task that carries the state from batch to batch needs a bare '
          'core: no --embedding_size, --backward_size or --bypass_dropout.'
        )
      if self.distributed:
        raise config_lib.ConfigError(
          'A task that carries the state from batch to batch trains on one '
          'device: --distribute=none.'
        )
      self.carried = CarriedState(core, task.batch_size)
    self.compile_mode = compile_mode
    self._gradients = self._loss_and_gradients
    if compile_mode == 'eager':
      self.train_step, self.forward_step = self._train_step, self._forward_step
    else:
      jit_compile = compile_mode == 'xla'
      if self.distributed:
        # XLA cannot compile the all-reduce and the update of mirrored
        # variables ("Trying to access resource .../replica_1 ... from
        # device CPU:0"), so only each replica's forward and backward pass.
        self._gradients = tf.function(
          self._loss_and_gradients,
          jit_compile=jit_compile,
          autograph=False,
          reduce_retracing=not (recompute_chunk_length or journal),
        )
        jit_compile = False
      # Batches of other lengths (bAbI's buckets) share one trace from the
      # second length on, with the time dimension left unknown (XLA still
      # compiles each length it runs). Recomputation and the journal need
      # the number of steps when traced, so they keep one trace per length.
      self.train_step = tf.function(
        self._train_step,
        jit_compile=jit_compile,
        autograph=False,
        reduce_retracing=not (recompute_chunk_length or journal),
      )
      self.forward_step = tf.function(
        self._forward_step,
        jit_compile=jit_compile,
        autograph=False,
        reduce_retracing=True,
      )

  def _data(self, batch):
    if self.task.in_graph:
      return self.task.batch()
    return task_lib.DatasetTensors(*batch)

  def _loss_and_gradients(self, data, weight):
    """One replica's loss (times `weight`), gradients, logits and metrics."""
    inputs = model_inputs(self.core, self.task, data.observations)
    with controllers.training(self.core), tf.GradientTape() as tape:
      if self.carried is None:
        logits = unroll(
          self.core, inputs, self._recompute_chunk_length, self._journal
        )
      else:
        logits, final_state = unroll_from(
          self.core,
          inputs,
          self.carried.read(),
          self._recompute_chunk_length,
          self._journal,
        )
      loss = self.task.cost(logits, data.target, data.mask)
      if weight is not None:
        loss *= weight
    # Dense, so that RMSProp decays every row of an embedding at each step
    # (its sparse update would skip the words not in the batch).
    grads = [
      tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g
      for g in tape.gradient(loss, self.core.trainable_variables)
    ]
    metrics = self.task.step_metrics(logits, data.target, data.mask)
    if self.carried is not None:
      self.carried.assign(final_state)
    return loss, grads, logits, metrics

  def _replica_step(self, data):
    """One replica's part of the step; `data` is the global batch."""
    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync
    weight = None
    if replicas > 1:
      batch_size = data.mask.shape[1]
      if batch_size % replicas:
        raise ValueError(
          f'The batch of {batch_size} sequences cannot be split over '
          f'{replicas} replicas: --batch_size must be a multiple of '
          f'{replicas}.'
        )
      local_size = batch_size // replicas
      indices = context.replica_id_in_sync_group * local_size + tf.range(
        local_size
      )
      whole = data
      data = tf.nest.map_structure(
        lambda x: tf.gather(x, indices, axis=1), data
      )
      # The replicas' losses sum to the loss of the whole batch.
      weight = self.task.cost_weight(
        data.target, data.mask
      ) / self.task.cost_weight(whole.target, whole.mask)
    loss, grads, logits, metrics = self._gradients(data, weight)
    if replicas > 1:
      grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
    grads, grad_norm = tf.clip_by_global_norm(grads, self._max_grad_norm)
    self.optimizer.apply(grads, self.core.trainable_variables)
    return loss, grad_norm, data, logits, metrics

  def _train_step(self, *batch):
    data = self._data(batch)
    loss, grad_norm, data, logits, metrics = self.strategy.run(
      self._replica_step, args=(data,)
    )

    def total(value):
      return self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, None)

    def first_replica(value):
      return self.strategy.experimental_local_results(value)[0]

    loss = total(loss)
    self.step.assign_add(1)
    self.loss_sum.assign_add(loss)
    for name, value in metrics.items():
      self.metric_sums[name].assign_add(total(value))
    # What the report shows: this process's first replica's slice.
    data, logits, grad_norm = tf.nest.map_structure(
      first_replica, (data, logits, grad_norm)
    )
    return loss, grad_norm, data, logits

  def _forward_step(self, *batch):
    data = self._data(batch)
    logits = unroll(
      self.core, model_inputs(self.core, self.task, data.observations)
    )
    return self.task.cost(logits, data.target, data.mask)

  def _host_batch(self, data) -> tuple[tf.Tensor, ...]:
    return tuple(tf.constant(x) for x in data)

  def build(self) -> None:
    """Creates every variable (optimiser slots included) without a step.

    Then a checkpoint restores into all of them at once. They are made
    eagerly, in the strategy's scope: mirrored under a strategy (under
    `multi_worker`, with the chief's initial values) and, for a given seed,
    the same initial values under every strategy.
    """
    with self.strategy.scope():
      build_variables(self.core, self.task.input_size)
      self.optimizer.build(self.core.trainable_variables)

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
    carried = {} if self.carried is None else {'carried_state': self.carried}
    return dict(
      core=self.core,
      optimizer=self.optimizer,
      step=self.step,
      **carried,
      **self.task.trackables(),
    )

  def optional_trackables(self) -> dict[str, Any]:
    """Checkpointed too, but absent from checkpoints of older versions."""
    sums = {f'{name}_sum': v for name, v in self.metric_sums.items()}
    return dict(loss_sum=self.loss_sum, **sums)
