"""A training run's model as a pretrained folder, to ship and go on from.

  python -m dnc.tools.pretrained --checkpoint_dir=RUN --output=pretrained/NAME

writes the folder `pretrained/NAME`:

- `checkpoint`, `ckpt-N.index`, `ckpt-N.data-*`: the model's weights only
  (no optimiser slots), float32, with its step, training time
  (`train_seconds`) and what its task carries on (a curriculum's lesson,
  `Task.warm_start_trackables`); at most `--max_mb` (4 MB);
- `config.json`: the run's;
- `predictions.json`: its outputs on a fixed batch (`dnc.tools.predictions`),
  which `tests/pretrained_test.py` checks today's code still computes;
- `validation.jsonl`: the validation records of every segment of training;
- `record.json` and `RECORD.md` (`dnc.tools.record`): the segments (their
  steps, hours and commands), the validation and test tables.

`dnc.tools.restore.load('pretrained/NAME')` restores it, and
`train_babi.py --init_from=pretrained/NAME --checkpoint_dir=NEW` (or
train.py's) trains on from it with a fresh optimiser. Run the command
again on NEW with the same `--output` to add that segment: the folder is
updated only from the run it was made from (again, e.g. with `--results`)
or from a run that warm started from it at its step; otherwise an existing
`--output` is refused. The new folder is written beside the old and
swapped in when complete: a failure leaves the old one as it was.
"""

from collections.abc import Sequence
import json
import os
import shlex
import shutil
import sys
from typing import Any
import uuid

from absl import app
from absl import flags
from absl import logging
import tensorflow as tf

from dnc.tasks import base as task_lib
from dnc.tools import predictions
from dnc.tools import record as record_lib
from dnc.tools import restore
from dnc.train import checkpoints
from dnc.train import loop

FLAGS = flags.FLAGS

RECORD_FILE = 'record.json'
MAX_MB = 4.0
_TRAIN_SECONDS = 'train_seconds/.ATTRIBUTES/VARIABLE_VALUE'


class PretrainedError(ValueError):
  """A pretrained folder that cannot be written, and why (one line)."""


def _read_json(path: str, default: Any = None) -> Any:
  if not os.path.exists(path):
    return default
  with open(path) as f:
    return json.load(f)


def _read_jsonl(path: str) -> list[dict[str, Any]]:
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def _segment(checkpoint_dir: str, restored: restore.Restored) -> dict:
  """The part of training that `checkpoint_dir` adds, up to `restored`."""
  origin = _read_json(
    os.path.join(checkpoint_dir, checkpoints.INIT_FROM_FILE), {}
  )
  reader = tf.train.load_checkpoint(restored.path)
  seconds = (
    float(reader.get_tensor(_TRAIN_SECONDS))
    if reader.has_tensor(_TRAIN_SECONDS)
    else 0.0
  )
  commands = _read_jsonl(os.path.join(checkpoint_dir, loop.COMMANDS_FILE))
  return {
    'run': os.path.abspath(checkpoint_dir),
    'checkpoint': restored.path,
    'init_from': origin.get('init_from'),
    'from_step': origin.get('step', 0),
    'to_step': restored.step,
    'from_hours': origin.get('train_hours', 0.0),
    'to_hours': seconds / 3600,
    'commands': [c['command'] for c in commands if c['step'] < restored.step],
  }


def _history(folder: str, segments: list) -> tuple[list, list]:
  """`segments` and the validation rows of `folder` up to their end."""
  end = segments[-1]['to_step'] if segments else 0
  rows = _read_jsonl(os.path.join(folder, loop.VALIDATION_FILE))
  return segments, [row for row in rows if row['step'] <= end]


def _previous(output: str, segment: dict) -> tuple[list, list]:
  """The segments and validation rows before `segment`'s.

  From `output` when updating it; for a new folder, from the pretrained
  folder the run warm started from, if any.

  Raises:
    PretrainedError: `output` is a folder this run may not update.
  """
  origin = segment['init_from']
  if not os.path.lexists(output):
    record = origin and _read_json(os.path.join(origin, RECORD_FILE))
    if record and record['step'] == segment['from_step']:
      return _history(origin, record['segments'])
    return [], []
  old = _read_json(os.path.join(output, RECORD_FILE))
  if not os.path.isdir(output) or old is None:
    raise PretrainedError(
      f'--output={output} exists and is no pretrained folder; nothing was '
      'written. Pass a new --output.'
    )
  segments = old['segments']
  if segments[-1]['run'] == segment['run']:  # The same run, again.
    return _history(output, segments[:-1])
  if not (
    origin
    and os.path.realpath(origin) == os.path.realpath(output)
    and segment['from_step'] == old['step']
  ):
    raise PretrainedError(
      f'--output={output} exists and holds a model that {segment["run"]} '
      f'did not warm start from at its step {old["step"]} (--init_from); '
      'nothing was written. Pass a new --output.'
    )
  return _history(output, segments)


def _save_weights(
  restored: restore.Restored, directory: str, seconds: float
) -> int:
  """Writes the weights, step, training time and what the task carries on
  (`Task.warm_start_trackables`); returns their bytes."""
  wrong = [
    v.name for v in restored.core.trainable_variables if v.dtype != tf.float32
  ]
  if wrong:
    raise PretrainedError(f'Weights not float32: {", ".join(wrong)}.')
  step = tf.Variable(restored.step, dtype=tf.int64)
  train_seconds = tf.Variable(seconds, dtype=tf.float64)
  checkpoint = tf.train.Checkpoint(
    core=restored.core,
    step=step,
    train_seconds=train_seconds,
    **restored.task.warm_start_trackables(),
  )
  tf.train.CheckpointManager(checkpoint, directory, max_to_keep=1).save(
    checkpoint_number=restored.step
  )
  return sum(
    os.path.getsize(os.path.join(directory, name))
    for name in os.listdir(directory)
    if name.startswith('ckpt-')
  )


def write(
  checkpoint_dir: str,
  output: str,
  best: bool = False,
  data_dir: str | None = None,
  results: str = '',
  max_mb: float = MAX_MB,
  command: str = '',
) -> restore.Restored:
  """Writes (or updates) the pretrained folder `output` from a run.

  Args:
    checkpoint_dir: a training run's `--checkpoint_dir`.
    output: the folder; a new one, or one this run may update (see the
      module docstring).
    best: take the run's best validated checkpoint (`best/`), not its
      latest.
    data_dir: where the task reads its prediction batch
      (`Task.prediction_batch`; None: its default).
    results: the `--results` path of the checkpoint's evaluation
      (`PATH.md` and `PATH.json`), for the test table; '' for none.
    max_mb: the largest the weights may be, in megabytes.
    command: the command line that made it, for the record.

  Returns:
    The restored run.

  Raises:
    PretrainedError, checkpoints.CheckpointError, task_lib.TaskError: in
      one line; nothing was changed on disk.
  """
  if not output:
    raise PretrainedError('--output is required: where to write the model.')
  restored = restore.load(checkpoint_dir, best=best)
  output = os.path.abspath(output)
  segment = _segment(checkpoint_dir, restored)
  segments, rows = _previous(output, segment)
  start = segment['from_step']
  rows += [
    row
    for row in loop.read_validation(checkpoint_dir)
    if start < row['step'] <= restored.step
  ]
  test = {}
  if results:
    try:
      with open(results + '.md') as f:
        test = {'table': f.read(), 'results': _read_json(results + '.json')}
    except OSError as e:
      raise PretrainedError(f'--results={results}: {e.strerror}.') from e
  batch = restored.task.prediction_batch(data_dir)
  with checkpoints.staging_directory(output) as partial:
    size = _save_weights(restored, partial, segment['to_hours'] * 3600)
    if size > max_mb * 2**20:
      raise PretrainedError(
        f'The weights of {restored.path} take {size / 2**20:.2f} MB, over '
        f'--max_mb={max_mb:g}; nothing was written.'
      )
    record = {
      'name': os.path.basename(output),
      'task': restored.kind,
      'step': restored.step,
      'segments': [*segments, segment],
      'test': test,
      'made_by': command,
    }
    notes = record_lib.read_notes(os.path.join(output, record_lib.RECORD_MD))
    for name, value in (
      (checkpoints.CONFIG_FILE, restored.config),
      (predictions.PREDICTIONS_FILE, predictions.record(restored, batch)),
      (RECORD_FILE, record),
    ):
      with open(os.path.join(partial, name), 'w') as f:
        json.dump(value, f, indent=1, sort_keys=True)
        f.write('\n')
    with open(os.path.join(partial, loop.VALIDATION_FILE), 'w') as f:
      f.writelines(json.dumps(row, sort_keys=True) + '\n' for row in rows)
    with open(os.path.join(partial, record_lib.RECORD_MD), 'w') as f:
      f.write(record_lib.render(record, restored.config, rows, notes))
    _swap(partial, output)
  return restored


def _swap(new: str, output: str) -> None:
  """Puts directory `new` at `output`, replacing the old one only once the
  new one is in place."""
  old = None
  if os.path.lexists(output):
    old = f'{new}.old-{uuid.uuid4().hex}'
    os.rename(output, old)
  try:
    os.rename(new, output)
  except OSError:
    if old:
      os.rename(old, output)
    raise
  if old:
    shutil.rmtree(old)


def check(folder: str) -> list[str]:
  """How the model of `folder` now differs from its `predictions.json`.

  Returns:
    One line per difference (`dnc.tools.predictions.compare`); empty when
    today's code reproduces the recorded outputs.
  """
  with open(os.path.join(folder, predictions.PREDICTIONS_FILE)) as f:
    recorded = json.load(f)
  return predictions.compare(restore.load(folder), recorded)


def define_flags() -> None:
  """Defines the command's flags on absl's global FLAGS (once)."""
  flags.DEFINE_string(
    'checkpoint_dir', None, 'Directory of a training run.', required=True
  )
  flags.DEFINE_string(
    'output',
    None,
    'The pretrained folder, e.g. pretrained/NAME.',
    required=True,
  )
  flags.DEFINE_boolean(
    'best', False, "The run's best validated checkpoint, not its latest."
  )
  flags.DEFINE_string(
    'data_dir',
    None,
    'Where the task reads the batch whose predictions are recorded (bAbI: '
    "a split directory; default: the repository's test stories).",
  )
  flags.DEFINE_string(
    'results',
    '',
    'The --results path of the evaluation of this checkpoint (train_babi.py '
    '--mode=eval): its table goes to RECORD.md.',
  )
  flags.DEFINE_float('max_mb', MAX_MB, 'The largest the weights may be (MB).')


def main(argv: Sequence[str]) -> int:
  """The command line (see the module docstring); returns the exit code."""
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
  try:
    restored = write(
      FLAGS.checkpoint_dir,
      FLAGS.output,
      best=FLAGS.best,
      data_dir=FLAGS.data_dir,
      results=FLAGS.results,
      max_mb=FLAGS.max_mb,
      command=shlex.join(
        ['python', '-m', 'dnc.tools.pretrained', *sys.argv[1:]]
      ),
    )
  except (
    PretrainedError,
    checkpoints.CheckpointError,
    task_lib.TaskError,
  ) as e:
    logging.error('%s', e)
    return 1
  print(f'Wrote {restored.path} (step {restored.step}) to {FLAGS.output}.')
  return 0


if __name__ == '__main__':
  define_flags()
  app.run(main)
