"""Exports a trained run as a SavedModel that needs only TensorFlow.

  python -m dnc.export --checkpoint_dir=DIR --output_dir=OUT

rebuilds the model of a train.py or train_babi.py run from its directory
(`dnc.tools.restore.load`), restores the latest checkpoint and writes a
SavedModel to OUT (a new or empty directory: anything else is refused, and a
failed export leaves nothing behind). `saved_model_cli show --all --dir OUT`
lists its signatures; in any process with TensorFlow (no `dnc` needed):

  model = tf.saved_model.load(OUT)
  outputs = model.signatures['serving_default'](inputs=x)
  # x: float32 [batch_size, time, input_size], any batch size and length.
  # outputs['logits']: [batch_size, time, output_size]
  # outputs['probabilities']: sigmoid of the logits (repeat-copy's bits) or
  #   softmax over the vocabulary (bAbI's answer words).

For a bAbI run the vocabulary goes with the model: word i is line i of
`OUT/assets/vocabulary.txt`, the `vocabulary` signature returns the words
(`words`: string `[vocab_size]`), and the `words` signature takes the
words themselves (string `[batch_size, time]`, padded with '<pad>', with
'-' where an answer is wanted) and returns `ids`, `logits`,
`probabilities`, `predicted_ids` and `predicted_words` (`[batch_size,
time]`: the most likely word at each step). A word not in the vocabulary
is an error naming it. `OUT/assets/config.json` is the run's config.

The functions are also attributes of the loaded object (`model.serve(x)`,
`model.serve_words(words)`, `model.vocabulary()`), and `model.weights`
lists the model's trainable variables.
"""

from collections.abc import Sequence
import json
import os
import shutil
import tempfile

from absl import app
from absl import flags
from absl import logging
import tensorflow as tf

from dnc.tools import restore
from dnc.train import checkpoints
from dnc.train import trainer

FLAGS = flags.FLAGS

VOCABULARY_FILE = 'vocabulary.txt'
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
    self._kind = restored.kind
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
    if self._kind == 'babi':
      words = list(restored.task.vocab.words)
      path = os.path.join(asset_dir, VOCABULARY_FILE)
      with open(path, 'w') as f:
        f.write(''.join(f'{word}\n' for word in words))
      self.vocabulary_file = tf.saved_model.Asset(path)
      line = tf.lookup.TextFileIndex
      self._word_to_id = tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(
          self.vocabulary_file,
          tf.string,
          line.WHOLE_LINE,
          tf.int64,
          line.LINE_NUMBER,
        ),
        default_value=-1,
      )
      self._id_to_word = tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(
          self.vocabulary_file,
          tf.int64,
          line.LINE_NUMBER,
          tf.string,
          line.WHOLE_LINE,
        ),
        default_value='',
      )
      self._vocab_size = len(words)
      self.serve_words = tf.function(
        self._serve_words,
        autograph=False,
        input_signature=[tf.TensorSpec([None, None], tf.string, name='words')],
      )
      self.vocabulary = tf.function(
        self._vocabulary, input_signature=[], autograph=False
      )

  def signature_functions(
    self,
  ) -> dict[str, tf.types.experimental.ConcreteFunction]:
    """The SavedModel's signatures, by name."""
    signatures = {'serving_default': self.serve.get_concrete_function()}
    if self._kind == 'babi':
      signatures['words'] = self.serve_words.get_concrete_function()
      signatures['vocabulary'] = self.vocabulary.get_concrete_function()
    return signatures

  def _unroll(self, inputs):
    """Logits `[B, T, output_size]` of batch-major inputs `[B, T, input]`."""
    logits = trainer.unroll(self.core, tf.transpose(inputs, [1, 0, 2]))
    return tf.transpose(logits, [1, 0, 2])

  def _outputs(self, logits):
    if self._kind == 'babi':
      probabilities = tf.nn.softmax(logits)
    else:
      probabilities = tf.sigmoid(logits)
    return {'logits': logits, 'probabilities': probabilities}

  def _serve(self, inputs):
    return self._outputs(self._logits(inputs))

  def _serve_words(self, words):
    ids = self._word_to_id.lookup(words)
    unknown = tf.boolean_mask(words, ids < 0)
    check = tf.debugging.Assert(
      tf.size(unknown) == 0,
      ['Words not in the vocabulary:', unknown],
      summarize=20,
    )
    with tf.control_dependencies([check]):
      inputs = tf.one_hot(ids, self._vocab_size, dtype=tf.float32)
    outputs = self._outputs(self._logits(inputs))
    predicted = tf.argmax(outputs['logits'], -1)
    return {
      **outputs,
      'ids': tf.cast(ids, tf.int32),
      'predicted_ids': tf.cast(predicted, tf.int32),
      'predicted_words': self._id_to_word.lookup(predicted),
    }

  def _vocabulary(self):
    ids = tf.range(self._vocab_size, dtype=tf.int64)
    return {'words': self._id_to_word.lookup(ids)}


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
    checkpoint_dir: the `--checkpoint_dir` of a train.py or train_babi.py
      run.
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
  parent = os.path.dirname(output_dir)
  os.makedirs(parent, exist_ok=True)
  partial = tempfile.mkdtemp(
    prefix=f'.{os.path.basename(output_dir)}.partial-', dir=parent
  )
  try:
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
  finally:
    shutil.rmtree(partial, ignore_errors=True)
  return restored


def define_flags() -> None:
  """Defines the command's flags on absl's global FLAGS (once)."""
  # Defined only when run as a script, as in dnc.tools.visualize: train.py
  # defines --checkpoint_dir on the same global FLAGS.
  flags.DEFINE_string(
    'checkpoint_dir',
    None,
    'Directory of a train.py or train_babi.py run.',
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
