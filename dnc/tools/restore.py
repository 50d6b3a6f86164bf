"""Rebuilds the model (and task) of any training run and restores it.

For notebooks and tools (`dnc.tools.visualize`): from a run's directory alone,

  restored = restore.load('runs/my_run')
  restored.core   # the trained dnc.DNC, e.g. for dnc.internals.WithInternals
                  # (a dnc.model.Model around it for runs with its options)
  restored.task   # its task, without data (`Task.from_config`)
  trainer.model_inputs(restored.core, restored.task, observations)
      # what the core reads: the task's core_inputs, or word ids

The run's `config.json` names its task and the module that registers it
(`dnc.tasks.of_config`); the task rebuilds itself from the config
(`Task.from_config`).
"""

import os
from typing import Any
from typing import NamedTuple

import tensorflow as tf

from dnc import config as config_lib
from dnc import dnc
from dnc import model
from dnc import tasks
from dnc.tasks import base as task_lib
from dnc.train import checkpoints
from dnc.train import trainer


class Restored(NamedTuple):
  """A run rebuilt from its directory.

  Attributes:
    core: the DNC with the checkpoint's weights (a `dnc.model.Model`
      around it if the run used embeddings, a backward LSTM or bypass
      dropout; its DNC is `core.core`).
    task: the run's task, rebuilt from its config (without data).
    kind: the task's registered name (`task.name`).
    config: the run's `config.json`.
    path: the checkpoint restored.
    step: its training step.
  """

  core: dnc.DNC | model.Model
  task: task_lib.Task
  kind: str
  config: dict[str, Any]
  path: str
  step: int


def read_config(checkpoint_dir: str) -> tuple[dict[str, Any], str]:
  """The config a training script saved in `checkpoint_dir`, and its task.

  Returns:
    The config, and its task's registered name.

  Raises:
    checkpoints.CheckpointError: no such directory, no (readable) config, or
      a config of no registered task or without the model's sizes.
  """
  config, task_class = _read(checkpoint_dir)
  return config, task_class.name


def _read(checkpoint_dir: str) -> tuple[dict[str, Any], type]:
  if not tf.io.gfile.isdir(checkpoint_dir):
    raise checkpoints.CheckpointError(
      f'No checkpoint directory {checkpoint_dir}.'
    )
  path = os.path.join(checkpoint_dir, checkpoints.CONFIG_FILE)
  config = checkpoints.Checkpointer(checkpoint_dir, {}).saved_config()
  if config is None:
    raise checkpoints.CheckpointError(
      f'{path} not found. It records the model flags of the run; the '
      'training scripts write it with their first checkpoint.'
    )
  try:
    task_class = tasks.of_config(config)
  except tasks.UnknownTaskError as e:
    raise checkpoints.CheckpointError(f'{path}: {e}') from e
  # Model fields of later versions are absent from older configs.
  missing = [key for key in config_lib.REQUIRED if key not in config]
  if missing:
    raise checkpoints.CheckpointError(f'{path} lacks {", ".join(missing)}.')
  return config, task_class


def task_of_config(config: dict[str, Any]) -> task_lib.Task:
  """The task of a run's config, without data (see `Restored.task`).

  Raises:
    dnc.tasks.UnknownTaskError: the config is of no registered task.
    KeyError: the config lacks an entry the task needs.
  """
  return tasks.of_config(config).from_config(config)


def load(checkpoint_dir: str, best: bool = False) -> Restored:
  """Rebuilds a run's model and task and restores its latest weights.

  Args:
    checkpoint_dir: the `--checkpoint_dir` of a training run, of this
      version or an older one.
    best: restore the checkpoint of the best validation score (kept in
      `best/` by runs that validate) instead of the latest.

  Returns:
    The `Restored` run.

  Raises:
    checkpoints.CheckpointError: see `read_config`; or there is no checkpoint,
      or it does not hold this model.
  """
  config, task_class = _read(checkpoint_dir)
  searched = (
    os.path.join(checkpoint_dir, checkpoints.BEST_DIR)
    if best
    else checkpoint_dir
  )
  path = tf.train.latest_checkpoint(searched)
  if path is None:
    raise checkpoints.CheckpointError(f'No checkpoint in {searched}.')
  try:
    task = task_class.from_config(config)
  except KeyError as e:
    config_path = os.path.join(checkpoint_dir, checkpoints.CONFIG_FILE)
    raise checkpoints.CheckpointError(f'{config_path} lacks {e}.') from e
  try:
    model_config = config_lib.ModelConfig.from_dict(config)
  except config_lib.ConfigError as e:
    raise checkpoints.CheckpointError(f'{checkpoint_dir}: {e}') from e
  # No speed kernels: what is restored may be exported, and a SavedModel
  # must not hold their custom gradients.
  core = config_lib.make_core(
    model_config,
    task.output_size,
    fast_kernels=False,
    vocabulary_size=task.vocabulary_size,
  )
  # The variables exist before the restore, so that it fills them now and
  # can check that the checkpoint had every one of them.
  trainer.build_variables(core, task.input_size)
  step = tf.Variable(0, dtype=tf.int64, name='step')
  try:
    # The model and its step: not the optimiser or the task's state.
    status = tf.train.Checkpoint(core=core, step=step).restore(path)
    status.expect_partial().assert_existing_objects_matched()
  except (AssertionError, ValueError, tf.errors.OpError) as e:
    message = str(e).strip().splitlines()[0]
    config_path = os.path.join(checkpoint_dir, checkpoints.CONFIG_FILE)
    raise checkpoints.CheckpointError(
      f'Cannot restore the model of {config_path} from {path}: {message}'
    ) from e
  # And what the task carries on with its model (a curriculum's lesson),
  # where the checkpoint has it: pretrained folders of older versions lack it.
  carried = task.warm_start_trackables()
  if carried:
    tf.train.Checkpoint(**carried).restore(path).expect_partial()
  return Restored(core, task, task.name, config, path, int(step.numpy()))
