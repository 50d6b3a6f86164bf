"""Exports a trained run as a SavedModel that needs only TensorFlow.

  python -m dnc.export --checkpoint_dir=DIR --output_dir=OUT

rebuilds the model of a training run from its directory
(`dnc.tools.restore.load`), restores the latest checkpoint and writes a
SavedModel to OUT (a new or empty directory: anything else is refused, and a
failed export leaves nothing behind). `saved_model_cli show --all --dir OUT`
lists its signatures; in any process with TensorFlow (no `dnc` needed):

  model = tf.saved_model.load(OUT)
  outputs = model.signatures['serving_default'](inputs=x)
  # x: float32 [batch_size, time, input_size], any batch size and length.
  # outputs['logits']: [batch_size, time, output_size]
  # outputs['probabilities']: the task's reading of the logits
  #   (`Task.probabilities`: e.g. a sigmoid per bit, a softmax over words).

A task may add signatures of its own (`Task.serving_functions`, e.g. ones
that take words, with the vocabulary as an asset).
`OUT/assets/config.json` is the run's config.

The functions are also attributes of the loaded object (`model.serve(x)`,
and the task's, e.g. `model.serve_words(words)`), and `model.weights`
lists the model's trainable variables.
"""

from collections.abc import Sequence
import json
import os
import tempfile

from absl import app
from absl import flags
from absl import logging
import tensorflow as tf

from dnc.tools import restore
from dnc.train import checkpoints
from dnc.train import trainer

FLAGS = flags.FLAGS

CONFIG_FILE = 'config.json'


class ExportError(Exception):
  """A user error of the export (e.g. an output directory in use)."""


class Exported(tf.Module):
  """A restored run with its serving functions (see the module docstring)."""

  def __init__(self, restored: restore.Restored, asset_dir: str):
    """Wraps `restored`.

    Args:
      restored: `dnc.tools.restore.load`'s result.
      asset_dir: a directory for the asset files, copied into the
        SavedModel when it is saved.
    """
    super().__init__()
    self.core = restored.core
    self.weights = list(restored.core.trainable_variables)
    # A bound method, not the task: the task's own state (a generator, an
    # iterator) is not the model's and stays out of the SavedModel.
    self._probabilities = restored.task.probabilities
    input_size = restored.task.input_size
    config_path = os.path.join(asset_dir, CONFIG_FILE)
    with open(config_path, 'w') as f:
      json.dump(restored.config, f, indent=1, sort_keys=True)
    self.config_file = tf.saved_model.Asset(config_path)
    # One trace of the unroll, which every signature calls.
    self._logits = tf.function(
      self._unroll,
      autograph=False,
      input_signature=[tf.TensorSpec([None, None, input_size], tf.float32)],
    )
    self.serve = tf.function(
      self._serve,
      autograph=False,
      input_signature=[
        tf.TensorSpec([None, None, input_size], tf.float32, name='inputs')
      ],
    )
    self._task_functions = restored.task.serving_functions(
      self, self.outputs_of, asset_dir
    )
    for name, (attribute, function) in self._task_functions.items():
      if name == 'serving_default' or hasattr(self, attribute):
        raise ValueError(
          f"The task's serving function {name!r} ({attribute}) would "
          "replace one of the model's."
        )
      setattr(self, attribute, function)

  def signature_functions(
    self,
  ) -> dict[str, tf.types.experimental.ConcreteFunction]:
    """The SavedModel's signatures, by name."""
    signatures = {'serving_default': self.serve.get_concrete_function()}
    for name, (_, function) in self._task_functions.items():
      signatures[name] = function.get_concrete_function()
    return signatures

  def _unroll(self, inputs):
    """Logits `[B, T, output_size]` of batch-major inputs `[B, T, input]`."""
    logits = trainer.unroll(self.core, tf.transpose(inputs, [1, 0, 2]))
    return tf.transpose(logits, [1, 0, 2])

  def outputs_of(self, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
    """`logits` and `probabilities` `[B, T, output_size]` of float inputs
    `[B, T, input_size]`."""
    logits = self._logits(inputs)
    return {'logits': logits, 'probabilities': self._probabilities(logits)}

  def _serve(self, inputs):
    return self.outputs_of(inputs)


def check_output_dir(output_dir: str) -> None:
  """Raises `ExportError` unless `output_dir` is absent or an empty dir."""
  if not output_dir:
    raise ExportError('--output_dir is required: where to write the model.')
  if not os.path.lexists(output_dir):
    return
  if not os.path.isdir(output_dir):
    raise ExportError(f'--output_dir {output_dir} is a file, not a directory.')
  if os.listdir(output_dir):
    raise ExportError(
      f'--output_dir {output_dir} is not empty; nothing was written. Choose '
      'a new directory (the export never overwrites one).'
    )


def export(
  checkpoint_dir: str, output_dir: str, best: bool = False
) -> restore.Restored:
  """Writes the SavedModel of a run's latest checkpoint to `output_dir`.

  Args:
    checkpoint_dir: the `--checkpoint_dir` of a training run.
    output_dir: a local directory that does not exist or is empty. The
      model is written beside it first and moved there once complete.
    best: export the checkpoint of the best validation score instead.

  Returns:
    The restored run.

  Raises:
    ExportError: `output_dir` exists and is not an empty directory.
    checkpoints.CheckpointError: see `dnc.tools.restore.load`.
  """
  check_output_dir(output_dir)
  restored = restore.load(checkpoint_dir, best=best)
  output_dir = os.path.abspath(output_dir)
  with checkpoints.staging_directory(output_dir) as partial:
    with tempfile.TemporaryDirectory() as asset_dir:
      model = Exported(restored, asset_dir)
      saved = os.path.join(partial, 'model')
      tf.saved_model.save(model, saved, signatures=model.signature_functions())
    try:
      # Atomic, and replaces only an empty directory (POSIX rename).
      os.rename(saved, output_dir)
    except OSError as e:
      raise ExportError(
        f'--output_dir {output_dir}: {e.strerror}; nothing was written.'
      ) from e
  return restored


def define_flags() -> None:
  """Defines the command's flags on absl's global FLAGS (once)."""
  # Defined only when run as a script, as in dnc.tools.visualize: train.py
  # defines --checkpoint_dir on the same global FLAGS.
  flags.DEFINE_string(
    'checkpoint_dir',
    None,
    'Directory of a training run.',
    required=True,
  )
  flags.DEFINE_string(
    'output_dir',
    None,
    'Where to write the SavedModel: a new or empty directory.',
    required=True,
  )
  flags.DEFINE_enum(
    'checkpoint',
    'latest',
    ['latest', 'best'],
    'The newest checkpoint, or the one of the best validation score.',
  )


def main(argv: Sequence[str]) -> int:
  """The command line (see the module docstring); returns the exit code."""
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
  try:
    restored = export(
      FLAGS.checkpoint_dir, FLAGS.output_dir, best=FLAGS.checkpoint == 'best'
    )
  except (ExportError, checkpoints.CheckpointError) as e:
    logging.error('%s', e)
    return 1
  print(
    f'Exported {restored.path} ({restored.kind}, step {restored.step}) to '
    f'{FLAGS.output_dir}.'
  )
  return 0


if __name__ == '__main__':
  define_flags()
  app.run(main)
