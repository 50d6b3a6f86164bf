"""Training-run plumbing shared by the training scripts: checkpoints that
carry their configuration, and signals that stop a run cleanly.

A run's configuration (the flags that shape the model and the task) is saved
as `config.json` beside its checkpoints. Resuming with a different
configuration stops before anything is restored or written, and an unreadable
checkpoint falls back to the previous readable one; nothing is deleted except
by the usual rotation after a successful save.
"""

from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
import contextlib
import json
import os
import resource
import shutil
import signal
import sys
import tempfile
from typing import Any
import uuid

from absl import flags
from absl import logging
import tensorflow as tf

CONFIG_FILE = 'config.json'
# Written in a run's directory by a warm start (`--init_from`): where from.
INIT_FROM_FILE = 'init_from.json'
# The subdirectory holding the checkpoint of the best validation score.
BEST_DIR = 'best'


class CheckpointError(RuntimeError):
  """A checkpoint directory that cannot be resumed from, and why."""


class Checkpointer:
  """Saves and restores training state in a directory.

  Example:
    checkpointer = Checkpointer(dir, config, model=core, optimizer=opt)
    checkpointer.restore_latest()  # After every variable exists.
    ...
    checkpointer.save(step)
  """

  def __init__(
    self,
    directory: str,
    config: Mapping[str, Any],
    max_to_keep: int = 3,
    defaults: Mapping[str, Any] | None = None,
    optional: Mapping[str, Any] | None = None,
    **trackables: Any,
  ):
    """Creates a checkpointer; nothing is written until `save`.

    Args:
      directory: where checkpoints and `config.json` live.
      config: JSON-serialisable values that must match to resume.
      max_to_keep: how many recent checkpoints to keep.
      defaults: values that a saved config without these entries stands for
        (options added after it was written, whose default behaves as the
        code that wrote it did), so older checkpoints still resume.
      optional: saved like `trackables`, but restored only when the
        checkpoint has them (state added after older checkpoints were
        written, such as the running sums of a report); otherwise they keep
        their values.
      **trackables: what to save (modules, optimisers, variables, generators);
        a checkpoint that lacks any of them is refused.
    """
    self._directory = directory
    self._config = dict(config)
    self._defaults = dict(defaults or {})
    self._optional = dict(optional or {})
    self._checkpoint = tf.train.Checkpoint(**trackables, **self._optional)
    self._required = tf.train.Checkpoint(**trackables)
    self._max_to_keep = max_to_keep
    self._manager = None
    self._best_manager = None

  @property
  def manager(self) -> tf.train.CheckpointManager:
    """The underlying manager (it reads the directory's `checkpoint` file)."""
    if self._manager is None:
      try:
        self._manager = tf.train.CheckpointManager(
          self._checkpoint, self._directory, max_to_keep=self._max_to_keep
        )
      except Exception as e:  # A damaged `checkpoint` index raises anything.
        path = os.path.join(self._directory, 'checkpoint')
        raise CheckpointError(
          f'Cannot read {path}: {e}. Repair or remove that file, or pass '
          'another --checkpoint_dir.'
        ) from e
    return self._manager

  @property
  def best_manager(self) -> tf.train.CheckpointManager:
    """The manager of `BEST_DIR`, which keeps one checkpoint."""
    if self._best_manager is None:
      self._best_manager = tf.train.CheckpointManager(
        self._checkpoint,
        os.path.join(self._directory, BEST_DIR),
        max_to_keep=1,
      )
    return self._best_manager

  @property
  def directory(self) -> str:
    return self._directory

  def saved_config(self) -> dict[str, Any] | None:
    """The configuration saved in the directory, or None."""
    path = os.path.join(self._directory, CONFIG_FILE)
    if not tf.io.gfile.exists(path):
      return None
    try:
      with tf.io.gfile.GFile(path) as f:
        return json.load(f)
    except (ValueError, tf.errors.OpError) as e:
      raise CheckpointError(
        f'Cannot read {path}: {e}. It records the flags of the run that '
        f'wrote this directory; repair it or use another --checkpoint_dir.'
      ) from e

  def check_config(self, keys_to_ignore: tuple[str, ...] = ()) -> None:
    """Raises `CheckpointError` if the saved config differs from this one.

    Args:
      keys_to_ignore: config entries allowed to differ (e.g. when evaluating
        on a task longer than the one trained on).
    """
    saved = self.saved_config()
    if saved is None:
      return
    saved = {**self._defaults, **saved}
    differences = [
      f'  --{key}: saved {saved.get(key)!r}, now {self._config.get(key)!r}'
      for key in sorted(set(saved) | set(self._config))
      if key not in keys_to_ignore and saved.get(key) != self._config.get(key)
    ]
    if differences:
      raise CheckpointError(
        f'The checkpoint in {self._directory} was made with other flags:\n'
        + '\n'.join(differences)
        + '\nRun with the saved values to resume, or pass another '
        '--checkpoint_dir to start fresh. Nothing was changed on disk.'
      )

  def restore_latest(
    self,
    keys_to_ignore: tuple[str, ...] = (),
    expect_partial: bool = False,
    best: bool = False,
  ) -> str | None:
    """Restores the newest readable checkpoint (or the best one).

    Call it once every saved variable exists (optimiser slots included), so
    that everything is restored at once.

    Args:
      keys_to_ignore: config entries allowed to differ.
      expect_partial: restore only what exists (e.g. the model, to evaluate).
      best: restore the checkpoint `save_best` kept, not the newest.

    Returns:
      The path restored, or None when the directory holds no checkpoint.

    Raises:
      CheckpointError: the config differs, or no checkpoint can be read.
    """
    paths = list((self.best_manager if best else self.manager).checkpoints)
    if not paths:
      return None
    self.check_config(keys_to_ignore)
    failures = []
    for path in reversed(paths):
      try:
        status = self._required.restore(path)
        if expect_partial:
          status.expect_partial()
        else:
          # The checkpoint may also hold the optional state: restored below.
          status.assert_existing_objects_matched().expect_partial()
        if self._optional:
          tf.train.Checkpoint(**self._optional).restore(path).expect_partial()
      except Exception as e:  # A damaged file can raise almost anything.
        message = str(e).strip().splitlines()[0]
        failures.append(f'  {path}: {message}')
        logging.warning(
          'Cannot read checkpoint %s (%s); trying the one before.',
          path,
          message,
        )
        continue
      if failures:
        logging.warning(
          'Resumed from %s, an older checkpoint; the newer ones could not '
          'be read and were left in place.',
          path,
        )
      return path
    raise CheckpointError(
      f'No checkpoint in {self._directory} can be read:\n'
      + '\n'.join(failures)
      + '\nThey were left in place. Pass another --checkpoint_dir to start '
      'fresh.'
    )

  def save(self, step: int) -> str:
    """Saves a checkpoint numbered `step` (and `config.json` the first time).

    Returns:
      The path of the new checkpoint.
    """
    tf.io.gfile.makedirs(self._directory)
    config_path = os.path.join(self._directory, CONFIG_FILE)
    if not tf.io.gfile.exists(config_path):
      temp_path = config_path + '.tmp'
      with tf.io.gfile.GFile(temp_path, 'w') as f:
        json.dump(self._config, f, indent=2, sort_keys=True)
      tf.io.gfile.rename(temp_path, config_path, overwrite=True)
    return self.manager.save(checkpoint_number=step)

  def save_best(self, step: int) -> str:
    """Saves the state as the best so far, in `BEST_DIR`, replacing the last.

    Call it after `save`, which writes `config.json`.

    Returns:
      The path of the new checkpoint.
    """
    return self.best_manager.save(checkpoint_number=step)


def _short(value: Any) -> str:
  text = repr(value)
  return text if len(text) <= 40 else f'{text[:36]} ...'


def check_warm_start(
  directory: str,
  config: Mapping[str, Any],
  defaults: Mapping[str, Any] | None = None,
  may_differ: Sequence[str] = (),
) -> str:
  """Checks that `directory` holds a model of `config`, to warm start from.

  Reads only `config.json` and the checkpoint index: call it before any
  slow work.

  Args:
    directory: the `--init_from` value: a pretrained folder
      (`dnc.tools.pretrained`) or a run's `--checkpoint_dir`.
    config: the new run's config.
    defaults: what the entries an older saved config lacks stand for.
    may_differ: config entries that may differ (the task's
      `warm_start_may_differ`); `task_module` always may.

  Returns:
    The path of the latest checkpoint in `directory`.

  Raises:
    CheckpointError: in one line naming `--init_from` (and the differing
      flags, with both values).
  """
  flag = f'--init_from={directory}'
  path = os.path.join(directory, CONFIG_FILE)
  if not tf.io.gfile.exists(path):
    raise CheckpointError(
      f'{flag}: no {path}; pass a pretrained folder or a run directory.'
    )
  try:
    with tf.io.gfile.GFile(path) as f:
      saved = {**(defaults or {}), **json.load(f)}
  except (ValueError, tf.errors.OpError) as e:
    raise CheckpointError(f'{flag}: cannot read {path}: {e}') from e
  ignored = {*may_differ, 'task_module'}
  differing = [
    f'--{key} {_short(saved.get(key))} there, {_short(config.get(key))} here'
    for key in sorted(set(saved) | set(config))
    if key not in ignored and saved.get(key) != config.get(key)
  ]
  if differing:
    raise CheckpointError(
      f'{flag} holds a model of other flags: {"; ".join(differing)}. '
      'Pass its flags, or another --init_from.'
    )
  checkpoint = tf.train.latest_checkpoint(directory)
  if checkpoint is None:
    raise CheckpointError(f'{flag}: no checkpoint there.')
  return checkpoint


def warm_start(path: str, **trackables: Any) -> None:
  """Restores the model and counters of checkpoint `path` for a new run.

  Args:
    path: a checkpoint (`check_warm_start`'s result).
    **trackables: `core` and `step`, which it must hold, and counters or
      task state it may hold (`train_seconds`, the task's
      `warm_start_trackables`; absent ones keep their values). Nothing
      else: the optimiser and the rest of the task start afresh.

  Raises:
    CheckpointError: the checkpoint lacks the model or does not fit it.
  """
  required = {key: trackables.pop(key) for key in ('core', 'step')}
  try:
    status = tf.train.Checkpoint(**required).restore(path)
    status.assert_existing_objects_matched().expect_partial()
  except (AssertionError, ValueError, tf.errors.OpError) as e:
    message = str(e).strip().splitlines()[0]
    raise CheckpointError(
      f'--init_from: cannot restore the model from {path}: {message}'
    ) from e
  if trackables:
    tf.train.Checkpoint(**trackables).restore(path).expect_partial()


@contextlib.contextmanager
def staging_directory(path: str) -> Iterator[str]:
  """A new directory beside `path`, removed on exit (with what is left in it).

  Write a directory's files there and move them into place at the end, so
  that `path` is never half written: a failure leaves it as it was.
  """
  parent = os.path.dirname(os.path.abspath(path))
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(
    prefix=f'.{os.path.basename(path)}.partial-', dir=parent
  )
  try:
    yield staging
  finally:
    shutil.rmtree(staging, ignore_errors=True)


def write_json(path: str, value: Any) -> None:
  """Writes `value` as JSON to `path` through a temporary file and a
  rename, so that `path` is either the old file or the whole new one."""
  temp_path = f'{path}.tmp-{uuid.uuid4().hex}'
  with tf.io.gfile.GFile(temp_path, 'w') as f:
    json.dump(value, f, indent=2, sort_keys=True)
    f.write('\n')
  tf.io.gfile.rename(temp_path, path, overwrite=True)


def _reason(error: Exception, *paths: str) -> str:
  """The first line of a file-system error, without `paths` it names."""
  message = str(getattr(error, 'message', None) or error).strip()
  message = message.splitlines()[0] if message else type(error).__name__
  path, separator, reason = message.rpartition('; ')  # TF: 'path; reason'.
  if not separator:
    return message
  return reason if path in paths else f'{path}: {reason}'


def _nearest_existing(path: str) -> str | None:
  """`path`, or its nearest ancestor that exists; None if none does."""
  while not tf.io.gfile.exists(path):
    parent = os.path.dirname(path)
    if not parent or parent == path:
      return None
    path = parent
  return path


def check_directory(
  directory: str, writable: bool, flag: str = '--checkpoint_dir'
) -> None:
  """Raises `CheckpointError` if `directory` cannot hold checkpoints.

  A path that is a file, or lies under one, is refused. With `writable`,
  the directory is also created (as `Checkpointer.save` would) and a probe
  file of a fresh name is written in it and removed: nothing already there
  is read, overwritten or deleted.

  Args:
    directory: the checkpoint directory.
    writable: whether the run will write there.
    flag: the flag that named it, for the message.

  Raises:
    CheckpointError: in one line, naming `flag` and why.
  """

  def refuse(problem):
    return CheckpointError(f'{flag}={directory}: {problem}')

  cannot = 'cannot write there' if writable else 'cannot hold checkpoints'
  local = '://' not in directory
  existing = _nearest_existing(
    os.path.abspath(directory) if local else directory
  )
  if existing is not None and not tf.io.gfile.isdir(existing):
    if existing == (os.path.abspath(directory) if local else directory):
      raise refuse(f'{cannot} (it is a file)')
    raise refuse(f'{cannot} ({existing} is a file)')
  if not writable:
    return
  try:
    tf.io.gfile.makedirs(directory)
  except (tf.errors.OpError, OSError) as e:
    raise refuse(f'{cannot} ({_reason(e, directory)})') from e
  probe = os.path.join(directory, f'.write-probe-{uuid.uuid4().hex}')
  try:
    with tf.io.gfile.GFile(probe, 'w') as f:
      f.write('')
    tf.io.gfile.remove(probe)
  except (tf.errors.OpError, OSError) as e:
    raise refuse(f'{cannot} ({_reason(e, probe)})') from e


def adopt_saved_flags(
  flag_values: flags.FlagValues,
  saved_config: Mapping[str, Any] | None,
  names: Sequence[str],
) -> dict[str, Any]:
  """Gives each flag in `names` not set on the command line its saved value.

  A checkpoint can then be evaluated from its directory alone; flags the
  user does pass still win (and are then checked against the checkpoint).

  Args:
    flag_values: the parsed flags, e.g. `absl.flags.FLAGS`.
    saved_config: a run's `config.json` (`Checkpointer.saved_config()`).
    names: the flags to take from it.

  Returns:
    The flags adopted, with their values.
  """
  adopted = {}
  for name in names:
    if saved_config and name in saved_config and not flag_values[name].present:
      flag_values[name].value = saved_config[name]
      adopted[name] = saved_config[name]
  if adopted:
    logging.info('Flags taken from the checkpoint: %s', adopted)
  return adopted


class StopSignal:
  """Turns SIGINT and SIGTERM into a flag that a loop checks between steps.

  A second signal while stopping interrupts at once (KeyboardInterrupt).

  Example:
    with StopSignal() as stop:
      while not stop.received:
        ...
  """

  _SIGNALS = (signal.SIGINT, signal.SIGTERM)

  def __init__(self):
    self.received: int | None = None
    self._previous = {}

  def _handle(self, signum, frame):
    del frame
    if self.received is not None:
      raise KeyboardInterrupt
    self.received = signum
    logging.warning(
      'Received %s: stopping after this step.', signal.Signals(signum).name
    )

  def __enter__(self) -> 'StopSignal':
    for signum in self._SIGNALS:
      self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def __exit__(self, *exc_info) -> None:
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)


def peak_memory_gib() -> float:
  """This process's peak resident memory so far (long sequences need most)."""
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  return peak / (2**30 if sys.platform == 'darwin' else 2**20)  # B or KiB.
