"""A character-level run's serving signatures beside its model's.

The vocabulary goes with the model as an asset: line i of
`assets/vocabulary.txt` is the code point of id i (-1 for the unknown
symbol, id 0). The `text` signature takes strings `[batch_size]` (UTF-8,
any lengths) and returns `next_probabilities` `[batch_size, vocab_size]`,
each text's distribution of the next character, with `probabilities`
`[batch_size, time, vocab_size]` after each of its characters (`time` the
longest text's length + 1; a row's steps past its text read no character)
and `lengths`. An empty text's next character is predicted from one step
of no input. The `characters` signature returns the character of each id
(`characters`: string `[vocab_size]`, '' for the unknown symbol).
"""

from collections.abc import Callable
import os

import tensorflow as tf

from dnc.tasks import base as task_lib
from dnc.tasks.char_lm import text as text_lib

VOCABULARY_FILE = 'vocabulary.txt'


def serving_functions(
  vocabulary: text_lib.Vocabulary,
  module: tf.Module,
  outputs_of: Callable[[tf.Tensor], dict[str, tf.Tensor]],
  asset_dir: str,
) -> dict[str, task_lib.ServingFunction]:
  """The `text` and `characters` signatures (see the module docstring).

  Args:
    vocabulary: the run's.
    module: the exported module; the vocabulary file and its lookup tables
      are attached to it, so that they are saved.
    outputs_of: the model's outputs of one-hot inputs `[B, T, vocab_size]`.
    asset_dir: where to write the vocabulary file.

  Returns:
    By signature name, the functions (`model.serve_text`,
    `model.characters` once loaded).
  """
  path = os.path.join(asset_dir, VOCABULARY_FILE)
  with open(path, 'w') as f:
    f.write(''.join(f'{code}\n' for code in vocabulary.code_points()))
  module.vocabulary_file = tf.saved_model.Asset(path)
  line = tf.lookup.TextFileIndex
  module.code_to_id = tf.lookup.StaticHashTable(
    tf.lookup.TextFileInitializer(
      module.vocabulary_file,
      tf.int64,
      line.WHOLE_LINE,
      tf.int64,
      line.LINE_NUMBER,
    ),
    default_value=text_lib.UNKNOWN_ID,
  )
  module.id_to_code = tf.lookup.StaticHashTable(
    tf.lookup.TextFileInitializer(
      module.vocabulary_file,
      tf.int64,
      line.LINE_NUMBER,
      tf.int64,
      line.WHOLE_LINE,
    ),
    default_value=-1,
  )
  size = vocabulary.size

  def serve_text(texts):
    codes = tf.strings.unicode_decode(texts, 'UTF-8')
    ids = tf.ragged.map_flat_values(
      module.code_to_id.lookup, tf.cast(codes, tf.int64)
    )
    lengths = ids.row_lengths()
    # One more step than the longest text, read as no character (a one-hot
    # of -1 is zeros): an empty text's prediction comes from it.
    dense = tf.concat(
      [
        ids.to_tensor(default_value=-1),
        tf.fill([tf.shape(texts)[0], 1], tf.constant(-1, tf.int64)),
      ],
      1,
    )
    outputs = outputs_of(tf.one_hot(dense, size, dtype=tf.float32))
    last = tf.maximum(lengths - 1, 0)
    return {
      'probabilities': outputs['probabilities'],
      'next_probabilities': tf.gather(
        outputs['probabilities'], last, batch_dims=1
      ),
      'lengths': tf.cast(lengths, tf.int32),
    }

  def characters():
    codes = module.id_to_code.lookup(tf.range(size, dtype=tf.int64))
    # The unknown symbol's -1 is no character: an empty string.
    codes = tf.RaggedTensor.from_tensor(
      tf.cast(codes[:, None], tf.int32), lengths=tf.cast(codes >= 0, tf.int64)
    )
    return {'characters': tf.strings.unicode_encode(codes, 'UTF-8')}

  return {
    'text': task_lib.ServingFunction(
      'serve_text',
      tf.function(
        serve_text,
        autograph=False,
        input_signature=[tf.TensorSpec([None], tf.string, name='texts')],
      ),
    ),
    'characters': task_lib.ServingFunction(
      'characters',
      tf.function(characters, input_signature=[], autograph=False),
    ),
  }
