"""A bAbI run's serving signatures beside its model's (`dnc.export`).

The vocabulary goes with the model: word i is line i of
`assets/vocabulary.txt`, the `vocabulary` signature returns the words
(`words`: string `[vocab_size]`), and the `words` signature takes the words
themselves (string `[batch_size, time]`, padded with '<pad>', with '-'
where an answer is wanted) and returns `ids`, `logits`, `probabilities`,
`predicted_ids` and `predicted_words` (`[batch_size, time]`: the most
likely word at each step). A word not in the vocabulary is an error naming
it.
"""

from collections.abc import Callable
from collections.abc import Sequence
import os

import tensorflow as tf

from dnc.tasks import base as task_lib

VOCABULARY_FILE = 'vocabulary.txt'


def serving_functions(
  words: Sequence[str],
  module: tf.Module,
  outputs_of: Callable[[tf.Tensor], dict[str, tf.Tensor]],
  asset_dir: str,
) -> dict[str, task_lib.ServingFunction]:
  """The `words` and `vocabulary` signatures (see the module docstring).

  Args:
    words: the vocabulary, word i of id i.
    module: the exported module; the vocabulary file and its lookup tables
      are attached to it, so that they are saved.
    outputs_of: the model's outputs of one-hot inputs `[B, T, vocab_size]`.
    asset_dir: where to write the vocabulary file.

  Returns:
    By signature name, the functions (`model.serve_words`,
    `model.vocabulary` once loaded).
  """
  path = os.path.join(asset_dir, VOCABULARY_FILE)
  with open(path, 'w') as f:
    f.write(''.join(f'{word}\n' for word in words))
  module.vocabulary_file = tf.saved_model.Asset(path)
  line = tf.lookup.TextFileIndex
  module.word_to_id = tf.lookup.StaticHashTable(
    tf.lookup.TextFileInitializer(
      module.vocabulary_file,
      tf.string,
      line.WHOLE_LINE,
      tf.int64,
      line.LINE_NUMBER,
    ),
    default_value=-1,
  )
  module.id_to_word = tf.lookup.StaticHashTable(
    tf.lookup.TextFileInitializer(
      module.vocabulary_file,
      tf.int64,
      line.LINE_NUMBER,
      tf.string,
      line.WHOLE_LINE,
    ),
    default_value='',
  )
  vocab_size = len(words)

  def serve_words(words):
    ids = module.word_to_id.lookup(words)
    unknown = tf.boolean_mask(words, ids < 0)
    check = tf.debugging.Assert(
      tf.size(unknown) == 0,
      ['Words not in the vocabulary:', unknown],
      summarize=20,
    )
    with tf.control_dependencies([check]):
      inputs = tf.one_hot(ids, vocab_size, dtype=tf.float32)
    outputs = outputs_of(inputs)
    predicted = tf.argmax(outputs['logits'], -1)
    return {
      **outputs,
      'ids': tf.cast(ids, tf.int32),
      'predicted_ids': tf.cast(predicted, tf.int32),
      'predicted_words': module.id_to_word.lookup(predicted),
    }

  def vocabulary():
    ids = tf.range(vocab_size, dtype=tf.int64)
    return {'words': module.id_to_word.lookup(ids)}

  return {
    'words': task_lib.ServingFunction(
      'serve_words',
      tf.function(
        serve_words,
        autograph=False,
        input_signature=[tf.TensorSpec([None, None], tf.string, name='words')],
      ),
    ),
    'vocabulary': task_lib.ServingFunction(
      'vocabulary',
      tf.function(vocabulary, input_signature=[], autograph=False),
    ),
  }
