"""Rebuilds the model (and task) of any training run and restores it.

For notebooks and tools (`dnc.tools.visualize`): from a run's directory alone,

  restored = restore.load('runs/babi')
  restored.core   # the trained dnc.DNC, e.g. for dnc.internals.WithInternals
                  # (a dnc.model.Model around it for runs with its options)
  restored.task   # its task, without data: restored.task.vocab for bAbI
  trainer.model_inputs(restored.core, restored.task, observations)
      # what the core reads: the task's core_inputs, or word ids

The run's `config.json` says which task it was: a vocabulary means bAbI
(train_babi.py), `num_bits` repeat-copy (train.py).
"""

import os
from typing import Any
from typing import NamedTuple

import tensorflow as tf

from dnc import dnc
from dnc import model
from dnc.tasks import base as task_lib
from dnc.tasks.babi import task as babi_task
from dnc.tasks.babi import vocabulary
from dnc.tasks.repeat_copy import task as repeat_copy_task
from dnc.train import checkpoints
from dnc.train import flags as run_flags
from dnc.train import trainer

# The config entries of each kind of run that rebuilding it needs, besides
# the model's (what repeat-copy lacks is taken from train.py's defaults).
TASK_CONFIG_KEYS = {
  'repeat_copy': ('num_bits', 'max_length', 'max_repeats'),
  'babi': ('vocabulary', 'tasks', 'batch_size'),
}


class Restored(NamedTuple):
  """A run rebuilt from its directory.

  Attributes:
    core: the DNC with the checkpoint's weights (a `dnc.model.Model`
      around it if the run used embeddings, a backward LSTM or bypass
      dropout; its DNC is `core.core`).
    task: the run's task, rebuilt from its config (without data).
    kind: 'repeat_copy' or 'babi'.
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
  """The config a training script saved in `checkpoint_dir`, and its kind.

  Raises:
    checkpoints.CheckpointError: no such directory, no (readable) config, or a
      config of no known task or without the model's flags.
  """
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
  if 'vocabulary' in config:
    kind = 'babi'
  elif 'num_bits' in config:
    kind = 'repeat_copy'
  else:
    raise checkpoints.CheckpointError(
      f'{path} is of no known task: it has neither num_bits (train.py) nor '
      'a vocabulary (train_babi.py).'
    )
  keys = run_flags.MODEL_KEYS + TASK_CONFIG_KEYS[kind]
  # Model flags of later versions are absent from older configs.
  missing = [
    key
    for key in keys
    if key not in config and key not in run_flags.MODEL_DEFAULTS
  ]
  if missing:
    raise checkpoints.CheckpointError(f'{path} lacks {", ".join(missing)}.')
  return config, kind


def task_of_config(config: dict[str, Any], kind: str) -> task_lib.Task:
  """The task of a run's config, without data (see `Restored.task`)."""
  if kind == 'babi':
    return babi_task.BabiTask(
      vocabulary.Vocabulary(config['vocabulary']),
      config['tasks'],
      config['batch_size'],
    )
  return repeat_copy_task.RepeatCopyTask(
    {**repeat_copy_task.DEFAULTS, **config}, seed=0
  )


def load(checkpoint_dir: str, best: bool = False) -> Restored:
  """Rebuilds a run's model and task and restores its latest weights.

  Args:
    checkpoint_dir: the `--checkpoint_dir` of a train.py or train_babi.py
      run, of this version or an older one.
    best: restore the checkpoint of the best validation score (kept in
      `best/` by runs that validate) instead of the latest.

  Returns:
    The `Restored` run.

  Raises:
    checkpoints.CheckpointError: see `read_config`; or there is no checkpoint,
      or it does not hold this model.
  """
  config, kind = read_config(checkpoint_dir)
  searched = (
    os.path.join(checkpoint_dir, checkpoints.BEST_DIR)
    if best
    else checkpoint_dir
  )
  path = tf.train.latest_checkpoint(searched)
  if path is None:
    raise checkpoints.CheckpointError(f'No checkpoint in {searched}.')
  task = task_of_config(config, kind)
  core = trainer.make_core(
    run_flags.model_config_of(config),
    task.output_size,
    vocabulary_size=task.vocabulary_size,
  )
  # The variables exist before the restore, so that it fills them now and
  # can check that the checkpoint had every one of them.
  trainer.build_variables(core, task.input_size)
  step = tf.Variable(0, dtype=tf.int64, name='step')
  try:
    # Only the model and its step: not the optimiser or the task's state.
    status = tf.train.Checkpoint(core=core, step=step).restore(path)
    status.expect_partial().assert_existing_objects_matched()
  except (AssertionError, ValueError, tf.errors.OpError) as e:
    message = str(e).strip().splitlines()[0]
    config_path = os.path.join(checkpoint_dir, checkpoints.CONFIG_FILE)
    raise checkpoints.CheckpointError(
      f'Cannot restore the model of {config_path} from {path}: {message}'
    ) from e
  return Restored(core, task, kind, config, path, int(step.numpy()))
