"""The training loop and the evaluation harness of every training script.

A script defines its flags (`dnc.train.flags` and its task's own), then

  def main(argv):
    return loop.run(make_task, task_flags=('num_bits', ...))

where `make_task(saved_config)` builds its `dnc.tasks.base.Task` from the flags.
`run` then trains (`--mode=train`) or evaluates (`--mode=eval`):

- train: create every variable, restore the latest readable checkpoint
  (refusing one made with other flags, and a `--checkpoint_dir` that is a
  file or, when checkpointing, cannot be written in), stop at once if
  already trained, then report every `--report_interval` steps, checkpoint
  every `--checkpoint_interval` steps and at the end, and on SIGINT/SIGTERM
  checkpoint (with `--checkpoint_interval` <= 0, nothing is saved, as it
  then says) and exit with 128 + the signal. A new run with `--init_from`
  starts from another run's (or a pretrained folder's) weights, step and
  training hours, with a fresh optimiser and task state, and records where
  from in `init_from.json` (a model of other flags is refused before any
  work; a checkpoint in `--checkpoint_dir` wins over it). Each part of a
  run appends its command line to `commands.jsonl`. After each checkpoint
  (not one forced by a signal) a task that holds out validation data scores
  it (`Task.validate`): the record goes to `validation.jsonl` beside the
  checkpoints, and the checkpoint of the best score so far is kept in
  `best/`;
- eval: take the model's and the task's flags from the checkpoint's
  `config.json` (flags given on the command line win, and are checked),
  restore the model (the newest, or with `--eval_checkpoint=best` the best
  one) and print the task's evaluation;
- sample: restore as eval does and print what the model generates
  (`Task.sample`, for tasks that generate, e.g. text).

A task that `carries_state` (`dnc.tasks.base`) has each training batch start
from the core's state at the end of the last one, checkpointed with the
model (`dnc.train.trainer.CarriedState`).

With `--distribute` (`dnc.train.distribute`) training is data-parallel: only the
chief writes checkpoints, summaries and validation records (the other
workers wait for it in their next step), every worker resumes from the same
checkpoint directory, and a worker that is lost ends the others' runs with
an error naming the last checkpoint, which is left intact.

Errors a user can fix (a checkpoint that cannot be resumed, missing data,
bad task flags) end in one logged line and exit code 1, with nothing on disk
changed.
"""

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
import contextlib
import json
import os
import shlex
import signal
import sys
import time
from typing import Any

from absl import flags
from absl import logging
import numpy as np
import sonnet as snt
import tensorflow as tf

from dnc import config as config_lib
from dnc import controllers
from dnc import internals
from dnc import model as model_lib
from dnc import tasks
from dnc.tasks import base as task_lib
from dnc.train import checkpoints
from dnc.train import distribute
from dnc.train import flags as run_flags
from dnc.train import summaries
from dnc.train import trainer as trainer_lib

FLAGS = flags.FLAGS

# A script's task builder: given the checkpoint's saved config when
# evaluating, None when training.
TaskFactory = Callable[[Mapping[str, Any] | None], task_lib.Task]

# What `run` turns into one error line and exit code 1.
USER_ERRORS = (
  checkpoints.CheckpointError,
  config_lib.ConfigError,
  task_lib.TaskError,
  distribute.DistributeError,
  FileNotFoundError,
)


# Beside the checkpoints: one JSON record per validated checkpoint.
VALIDATION_FILE = 'validation.jsonl'
# Beside them too: the command line of each part of the run.
COMMANDS_FILE = 'commands.jsonl'


def _run_config(
  model_config: config_lib.ModelConfig, task: task_lib.Task
) -> dict[str, Any]:
  """A run's `config.json`: the model's, the task's, and which task it is
  (its registered name and module, for the tools)."""
  return {
    **model_config.to_dict(),
    **task.config(),
    **tasks.config_entries(task),
  }


def _config_defaults(task: task_lib.Task) -> dict[str, Any]:
  """What the entries a saved config lacks stand for: the model's options
  and the task's added since, and (configs written before they named their
  task) this task."""
  return {
    **config_lib.LEGACY_DEFAULTS,
    **task.config_defaults,
    **tasks.config_entries(task),
  }


def make_logits_of(
  core: snt.RNNCore | model_lib.Model, task: task_lib.Task, jit_compile: bool
):
  """The compiled forward pass that `Task.evaluate` and `validate` call.

  Returns:
    A function of observations `[T, B, ...]` to logits
    `[T, B, output_size]`.
  """

  # One trace for every batch shape from the second on (XLA still compiles
  # each shape it runs).
  @tf.function(jit_compile=jit_compile, autograph=False, reduce_retracing=True)
  def logits_of(observations):
    # Outside `controllers.training`: no dropout.
    return trainer_lib.unroll(
      core, trainer_lib.model_inputs(core, task, observations)
    )

  return logits_of


def read_validation(directory: str) -> list[dict[str, Any]]:
  """The validation records of a run (`validation.jsonl`), by step.

  A step validated twice (a run resumed from before it) keeps its last
  record. Empty if the run has none.
  """
  path = os.path.join(directory, VALIDATION_FILE)
  if not tf.io.gfile.exists(path):
    return []
  by_step = {}
  with tf.io.gfile.GFile(path) as f:
    for line in f:
      if line.strip():
        record = json.loads(line)
        by_step[record['step']] = record
  return [by_step[step] for step in sorted(by_step)]


def _append_validation(directory: str, record: Mapping[str, Any]) -> None:
  path = os.path.join(directory, VALIDATION_FILE)
  with open(path, 'a') as f:
    f.write(json.dumps(record, sort_keys=True) + '\n')


def make_inspect(
  core: snt.RNNCore | model_lib.Model,
  task: task_lib.Task,
  jit_compile: bool = True,
):
  """A compiled forward pass returning one sequence's internals per step.

  Args:
    core: the DNC, or a `dnc.model.Model` around one (then the internals
      are its DNC's).
    task: the task whose observations it reads.
    jit_compile: whether to compile it with XLA.

  Returns:
    A function of one sequence's observations `[T, 1, ...]` to the dict of
    `dnc.internals.WithInternals`, each `[T, 1, ...]`.
  """
  model = core if isinstance(core, model_lib.Model) else None
  inspected = internals.WithInternals(model.core if model else core)

  @tf.function(jit_compile=jit_compile, autograph=False)
  def inspect(inputs):
    if model:
      inputs = model.dnc_inputs(inputs)
    initial_state = inspected.initial_state(1)
    (_, steps), _ = snt.dynamic_unroll(inspected, inputs, initial_state)
    return steps

  return lambda observations: inspect(
    trainer_lib.model_inputs(core, task, observations)
  )


def write_summaries(
  writer: tf.summary.SummaryWriter,
  inspect: Callable[[Any], Mapping[str, tf.Tensor]] | None,
  step: int,
  scalars: Mapping[str, float],
  batch: task_lib.DatasetTensors,
  sample: str,
) -> None:
  """Writes one report's TensorBoard record at `step`.

  The record holds `scalars`, pictures of the memory addressing of the
  batch's first sequence (collected by `inspect`, see `make_inspect`; none
  if `inspect` is None, a model without memory) and the readable `sample`.
  """
  first = None
  if inspect is not None:
    length = task_lib.first_sequence_length(batch.mask)
    steps = inspect(np.asarray(batch.observations)[:, :1])
    first = {key: value.numpy()[:length, 0] for key, value in steps.items()}
  summaries.write_report(writer, step, scalars, first, sample)


def train(
  task: task_lib.Task,
  trainer: trainer_lib.Trainer,
  config: Mapping[str, Any],
  flag_values: flags.FlagValues = FLAGS,
) -> int:
  """Trains `trainer` on `task` as the run flags say; returns the exit code.

  Args:
    task: the task (its batches, report and checkpointed state).
    trainer: the model, optimiser and step (`dnc.train.trainer.Trainer`).
    config: what a checkpoint must match (`config.json`).
    flag_values: the parsed `dnc.train.flags` run and optimiser flags.
  """
  run = flag_values
  checkpointing = run.checkpoint_interval > 0
  chief = distribute.is_chief(trainer.strategy)
  # Wall clock spent in this loop over every resumed part of the run.
  train_seconds = tf.Variable(0.0, dtype=tf.float64, name='train_seconds')
  checkpointer = checkpoints.Checkpointer(
    run.checkpoint_dir,
    config,
    max_to_keep=run.max_checkpoints_to_keep,
    defaults=_config_defaults(task),
    optional=dict(trainer.optional_trackables(), train_seconds=train_seconds),
    **trainer.trackables(),
  )
  checkpointer.check_config()  # Fails fast, before the slow tracing.
  warm_start = _check_warm_start(checkpointer, task, config, run.init_from)
  # So does a directory a save would fail in, not after hours of training.
  checkpoints.check_directory(
    run.checkpoint_dir, writable=checkpointing and chief
  )
  trainer.build()
  restored = checkpointer.restore_latest()
  if warm_start:
    checkpoints.warm_start(
      warm_start,
      core=trainer.core,
      step=trainer.step,
      train_seconds=train_seconds,
      **task.warm_start_trackables(),
    )
    origin = {
      'init_from': os.path.abspath(run.init_from),
      'checkpoint': os.path.abspath(warm_start),
      'step': int(trainer.step.numpy()),
      'train_hours': float(train_seconds.numpy()) / 3600,
    }
    if checkpointing and chief:
      checkpoints.write_json(
        os.path.join(run.checkpoint_dir, checkpoints.INIT_FROM_FILE), origin
      )
    logging.info(
      'Warm start from %s at step %d (%.2f training hours before); the '
      'optimiser starts afresh.',
      warm_start,
      origin['step'],
      origin['train_hours'],
    )
  iteration = int(trainer.step.numpy())
  distribute.check_same_on_workers(
    trainer.strategy,
    {
      'the step resumed from': iteration,
      '--seed': -1 if run.seed is None else run.seed,
      '--batch_size': run.batch_size,
    },
  )
  # Records of checkpoints after the one resumed from are of a run that
  # went on past it; they no longer describe this run's best.
  scores = [
    r['score']
    for r in read_validation(run.checkpoint_dir)
    if r['step'] <= iteration
  ]
  best_score = min(scores, default=float('inf'))
  if restored:
    task.after_restore(iteration)
    logging.info('Resumed from %s at step %d.', restored, iteration)
  if iteration >= run.num_training_iterations:
    logging.info(
      'Already trained %d of %d iterations; nothing to do.',
      iteration,
      run.num_training_iterations,
    )
    return 0

  if checkpointing and chief:
    _append_command(run.checkpoint_dir, iteration)
  logits_of = make_logits_of(trainer.core, task, run.jit_compile)
  task.begin_training(logits_of)
  clock = time.perf_counter()

  def save(validate=True):
    nonlocal best_score, clock
    now = time.perf_counter()
    train_seconds.assign_add(now - clock)
    clock = now
    task.before_save()
    if not chief:
      return  # The chief saves and validates; this worker waits for it.
    path = checkpointer.save(iteration)
    logging.info('Saved %s.', path)
    record = task.validate(logits_of, iteration) if validate else None
    if record is None:
      return
    record = dict(
      record,
      step=iteration,
      checkpoint=path,
      train_hours=float(train_seconds.numpy()) / 3600,
      best=record['score'] < best_score,
    )
    if record['best']:
      best_score = record['score']
      checkpointer.save_best(iteration)
    _append_validation(run.checkpoint_dir, record)
    logging.info(
      'Step %d: %s%s.',
      iteration,
      record['summary'],
      ' (best so far, kept)' if record['best'] else '',
    )
    if writer:
      with writer.as_default(step=iteration):
        tf.summary.scalar('validation/score', record['score'])

  writer = inspect = None
  if run.logdir and chief:
    writer = tf.summary.create_file_writer(run.logdir)
    # The baseline without memory has no addressing to picture.
    if not isinstance(trainer.core, controllers.ControllerOnly):
      inspect = make_inspect(trainer.core, task, run.jit_compile)
  report_start, report_step = time.perf_counter(), iteration
  with checkpoints.StopSignal() as stop, _lost_worker(checkpointer, trainer):
    while iteration < run.num_training_iterations and not stop.received:
      _, grad_norm, batch, logits = trainer.run_step()
      iteration += 1
      if iteration % run.report_interval == 0:
        report = task_lib.Report(
          step=iteration,
          loss=float(trainer.loss_sum.numpy()) / run.report_interval,
          sums={k: float(v.numpy()) for k, v in trainer.metric_sums.items()},
          steps_per_second=(iteration - report_step)
          / (time.perf_counter() - report_start),
          batch=batch,
          logits=logits,
          core=trainer.core,
          logits_of=logits_of,
        )
        logging.info('%s', task.report(report))
        if writer:
          scalars = {
            'loss': report.loss,
            'gradient_norm': float(grad_norm),
            'steps_per_second': report.steps_per_second,
            'learning_rate': run.learning_rate,
            **report.sums,
          }
          sample = task.readable(batch, logits)
          write_summaries(writer, inspect, iteration, scalars, batch, sample)
        trainer.reset_sums()
        report_start, report_step = time.perf_counter(), iteration
      if checkpointing and iteration % run.checkpoint_interval == 0:
        save()
    if checkpointing and iteration % run.checkpoint_interval != 0:
      save(validate=not stop.received)
  if stop.received and not checkpointing:
    logging.warning(
      'Stopped by %s at step %d: nothing was saved, as checkpointing is off '
      '(--checkpoint_interval=%d); pass --checkpoint_interval=N to save '
      'every N steps and when stopped.',
      signal.Signals(stop.received).name,
      iteration,
      run.checkpoint_interval,
    )
  # An eager step (`compile_mode='eager'`) is never traced.
  traced = getattr(trainer.train_step, 'experimental_get_tracing_count', None)
  logging.info(
    'Stopped at step %d; the training step was traced %d time(s).',
    iteration,
    traced() if traced else 0,
  )
  if trainer.distributed:
    logging.info(
      'Weights at step %d: fingerprint %s.',
      iteration,
      distribute.fingerprint(trainer.core.variables),
    )
  return 128 + stop.received if stop.received else 0


def _check_warm_start(
  checkpointer: checkpoints.Checkpointer,
  task: task_lib.Task,
  config: Mapping[str, Any],
  init_from: str,
) -> str | None:
  """The checkpoint `--init_from` names, checked; None if not to be used."""
  if not init_from:
    return None
  latest = checkpointer.manager.latest_checkpoint
  if latest:
    logging.warning(
      '--init_from=%s is ignored: --checkpoint_dir holds %s, which the run '
      'resumes from.',
      init_from,
      latest,
    )
    return None
  return checkpoints.check_warm_start(
    init_from,
    config,
    _config_defaults(task),
    (*task.warm_start_may_differ, *config_lib.RESIZABLE),
  )


def _append_command(directory: str, step: int) -> None:
  """Records the command line of each part of a run, and its first step."""
  record = {'step': step, 'command': shlex.join(['python', *sys.argv])}
  with open(os.path.join(directory, COMMANDS_FILE), 'a') as f:
    f.write(json.dumps(record) + '\n')


@contextlib.contextmanager
def _lost_worker(
  checkpointer: checkpoints.Checkpointer, trainer: trainer_lib.Trainer
):
  """Turns a collective that failed for want of a worker into one error."""
  try:
    yield
  except distribute.LOST_WORKER_ERRORS as e:
    if distribute.num_workers(trainer.strategy) == 1:
      raise
    latest = checkpointer.manager.latest_checkpoint
    raise distribute.DistributeError(
      f'Training stopped at step {int(trainer.step.numpy())}: a worker was '
      f'lost ({str(e).strip().splitlines()[0]}). '
      + (
        f'The last checkpoint, {latest}, is intact; start every worker '
        'again to resume from it.'
        if latest
        else 'No checkpoint was written yet.'
      )
    ) from e


def evaluate(
  make_task: TaskFactory,
  task_flags: Sequence[str],
  flag_values: flags.FlagValues = FLAGS,
) -> int:
  """Evaluates the latest checkpoint of `--checkpoint_dir`; prints the result.

  With `--mode=sample`, prints what the task generates from it instead
  (`Task.sample`).

  Args:
    make_task: builds the task from the flags and the saved config.
    task_flags: the task's flags that its config records; with the model's,
      each takes the saved value unless given on the command line.
    flag_values: the parsed flags.

  Returns:
    The exit code.
  """
  directory = flag_values.checkpoint_dir
  saved = checkpoints.Checkpointer(directory, {}).saved_config()
  if saved is None:
    raise checkpoints.CheckpointError(
      f'No checkpoint in {directory} to evaluate: no {checkpoints.CONFIG_FILE}.'
    )
  # A config of an older version stands for the model flags' old values.
  checkpoints.adopt_saved_flags(
    flag_values,
    {**config_lib.LEGACY_DEFAULTS, **saved},
    run_flags.MODEL_FLAGS + tuple(task_flags),
  )
  task = make_task(saved)
  model_config = run_flags.model_config(flag_values)
  # The forward pass is compiled with XLA as --jit_compile says.
  core = config_lib.make_core(
    model_config,
    task.output_size,
    fast_kernels=bool(flag_values.jit_compile),
    vocabulary_size=task.vocabulary_size,
  )
  step = tf.Variable(0, dtype=tf.int64, name='step')
  checkpointer = checkpoints.Checkpointer(
    directory,
    _run_config(model_config, task),
    defaults=_config_defaults(task),
    core=core,
    step=step,
  )
  checkpointer.check_config(task.eval_may_differ)  # Before building.
  trainer_lib.build_variables(core, task.input_size)
  best = flag_values.eval_checkpoint == 'best'
  restored = checkpointer.restore_latest(
    keys_to_ignore=task.eval_may_differ, expect_partial=True, best=best
  )
  if not restored:
    raise checkpoints.CheckpointError(
      f'No best checkpoint in {directory}/{checkpoints.BEST_DIR}: the run '
      'recorded no validation score.'
      if best
      else f'No checkpoint in {directory} to evaluate.'
    )
  if flag_values.mode == 'sample':
    print(task.sample(core))
    return 0
  logits_of = make_logits_of(core, task, flag_values.jit_compile)
  print(task.evaluate(logits_of, restored, int(step.numpy())))
  return 0


def _check_distribution(
  strategy: tf.distribute.Strategy, flag_values: flags.FlagValues
) -> None:
  replicas = strategy.num_replicas_in_sync
  if flag_values.batch_size % replicas:
    raise distribute.DistributeError(
      f'--batch_size={flag_values.batch_size} is the global batch, split '
      f'over the {replicas} replicas of --distribute='
      f'{flag_values.distribute}: it must be a multiple of {replicas}.'
    )
  if distribute.num_workers(strategy) > 1 and flag_values.seed is None:
    raise distribute.DistributeError(
      '--distribute=multi_worker needs the same --seed on every worker: '
      'each draws the global batch and takes its own slice.'
    )


def run(
  make_task: TaskFactory,
  task_flags: Sequence[str],
  flag_values: flags.FlagValues = FLAGS,
) -> int:
  """Trains or evaluates, as `--mode` says; the body of a script's `main`.

  Args:
    make_task: builds the script's task from the parsed flags; given the
      checkpoint's saved config when evaluating (None when training).
    task_flags: the names of the task's flags recorded in its config.
    flag_values: the parsed flags (`dnc.train.flags` and the task's).

  Returns:
    The exit code: 0, 1 after an error a user can fix (logged in one line),
    or 128 + the signal that stopped training.
  """
  try:
    if flag_values.mode in ('eval', 'sample'):
      if flag_values.seed is not None:
        tf.random.set_seed(flag_values.seed)
      return evaluate(make_task, task_flags, flag_values)
    # Before anything else runs TensorFlow: devices and the cluster are set
    # up when its runtime starts.
    strategy = distribute.make_strategy(
      flag_values.distribute, flag_values.cpu_devices
    )
    _check_distribution(strategy, flag_values)
    if flag_values.seed is not None:
      tf.random.set_seed(flag_values.seed)
    task = make_task(None)
    model_config = run_flags.model_config(flag_values)
    compile_mode = 'xla' if flag_values.jit_compile else 'function'
    core = config_lib.make_core(
      model_config,
      task.output_size,
      fast_kernels=trainer_lib.fast_kernels_for(compile_mode),
      vocabulary_size=task.vocabulary_size,
    )
    trainer = trainer_lib.Trainer(
      task,
      core,
      learning_rate=flag_values.learning_rate,
      optimizer_epsilon=flag_values.optimizer_epsilon,
      max_grad_norm=flag_values.max_grad_norm,
      momentum=flag_values.momentum,
      compile_mode=compile_mode,
      recompute_chunk_length=flag_values.recompute_chunk_length,
      strategy=strategy,
      journal=flag_values.journal,
    )
    config = _run_config(model_config, task)
    return train(task, trainer, config, flag_values)
  except USER_ERRORS as e:
    logging.error('%s', e)
    return 1
