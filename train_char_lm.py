"""Trains a DNC to predict a text one character at a time, or evaluates one.

  python train_char_lm.py --data=input.txt --checkpoint_dir=runs/dnc
  python train_char_lm.py --data=input.txt --controller_only \
      --checkpoint_dir=runs/lstm     # the baseline without memory
  python train_char_lm.py --mode=eval --data=input.txt --checkpoint_dir=...
  python train_char_lm.py --mode=sample --length=500 --prompt=ROMEO: \
      --checkpoint_dir=...

`--data` is one UTF-8 file (split 90/5/5 into contiguous training,
validation and test parts) or a directory of `train`, `valid` and `test`
files. Each batch row is a stream through the training text, read in
windows of `--window_length` characters; the DNC's state carries from one
window to the next (`--reset_state` starts each from zeros). Reports give
the training and validation bits per character (BPC), characters per second
and a sample (`--length`, `--prompt`, `--temperature`, `--sample_seed`);
each checkpoint scores the whole validation split. `--controller_only`
trains the LSTM alone, its `--hidden_size` (unless given) chosen so that
its weights number about the DNC's. The task is `dnc.tasks.char_lm`; the
loop, checkpoints and modes are those of every script (`dnc.train.loop`).
"""

from absl import app
from absl import flags
from absl import logging

from dnc.tasks import base as task_lib
from dnc.tasks.char_lm import task as char_lm
from dnc.tasks.char_lm import text as text_lib
from dnc.train import flags as run_flags
from dnc.train import loop

FLAGS = flags.FLAGS

run_flags.define_model_flags(
  hidden_size=256, memory_size=64, word_size=32, num_read_heads=4
)
run_flags.define_optimizer_flags(learning_rate=1e-3, max_grad_norm=10)
run_flags.define_run_flags(
  batch_size=32,
  num_training_iterations=20_000,
  report_interval=200,
  checkpoint_dir='/tmp/tf/dnc_char_lm',
  checkpoint_interval=1000,
  seed=0,
)

flags.DEFINE_string(
  'data',
  None,
  'A UTF-8 text file (split into training, validation and test parts) or '
  'a directory of train, valid and test files. Not needed by --mode=sample.',
)
flags.DEFINE_integer(
  'window_length',
  100,
  'Characters per window of truncated backpropagation.',
  lower_bound=1,
)
flags.DEFINE_boolean(
  'reset_state',
  False,
  "Start every window from the zero state instead of the last window's.",
)
flags.DEFINE_float(
  'valid_fraction', 0.05, "A single file's share held out for validation."
)
flags.DEFINE_float('test_fraction', 0.05, "A single file's share for testing.")
flags.DEFINE_enum(
  'eval_split', 'test', ['valid', 'test'], 'The split --mode=eval scores.'
)
flags.DEFINE_integer(
  'report_valid_chars',
  10_000,
  'At each report, the BPC of this many first validation characters (0: '
  'none); every checkpoint scores the whole split.',
  lower_bound=0,
)
flags.DEFINE_integer(
  'length',
  200,
  'Characters to generate at each report and with --mode=sample.',
  lower_bound=0,
)
flags.DEFINE_string('prompt', '', 'The text a sample follows.')
flags.DEFINE_float(
  'temperature', 1.0, 'Sampling temperature (> 0; lower: more likely text).'
)
flags.register_validator(
  'temperature', lambda value: value > 0, '--temperature must be > 0.'
)
flags.DEFINE_integer('sample_seed', 0, 'Seeds the characters drawn.')

# The task's flags that its config records (with the vocabulary).
TASK_FLAGS = char_lm.TASK_KEYS


def _match_baseline(vocabulary: text_lib.Vocabulary) -> None:
  """Gives the baseline a controller of about the DNC's weights, unless
  --hidden_size says otherwise."""
  if not FLAGS.controller_only or FLAGS['hidden_size'].present:
    return
  hidden, weights, target = char_lm.matched_hidden_size(
    run_flags.model_config(FLAGS), vocabulary.size
  )
  logging.info(
    'The baseline without memory: --hidden_size=%d, %d weights (the DNC of '
    'these flags has %d).',
    hidden,
    weights,
    target,
  )
  FLAGS.hidden_size = hidden


def make_task(saved_config) -> char_lm.CharLMTask:
  """Reads the text of the flags; to evaluate, in the saved vocabulary."""
  options = {
    name: FLAGS[name].value
    for name in TASK_FLAGS + tuple(char_lm.SAMPLE_DEFAULTS)
  }
  if saved_config is not None:
    if 'vocabulary' not in saved_config:
      raise task_lib.TaskError(
        f'{FLAGS.checkpoint_dir} holds no character-level run: its config '
        'has no vocabulary.'
      )
    vocabulary = text_lib.Vocabulary(saved_config['vocabulary'])
    if FLAGS.mode == 'sample':
      return char_lm.CharLMTask(vocabulary, options)
    split = FLAGS.eval_split
    texts = text_lib.read_splits(
      FLAGS.data, FLAGS.valid_fraction, FLAGS.test_fraction, (split,)
    )
    return char_lm.CharLMTask(
      vocabulary, options, {split: vocabulary.encode(texts[split])}
    )
  texts = text_lib.read_splits(
    FLAGS.data, FLAGS.valid_fraction, FLAGS.test_fraction, ('train', 'valid')
  )
  vocabulary = text_lib.Vocabulary.of_text(texts['train'])
  ids = {split: vocabulary.encode(text) for split, text in texts.items()}
  logging.info(
    'Read %s: %d training and %d validation characters, a vocabulary of %d '
    '(%d unknown in validation).',
    FLAGS.data,
    len(ids['train']),
    len(ids['valid']),
    vocabulary.size,
    text_lib.count_unknown(ids)['valid'],
  )
  task = char_lm.CharLMTask(vocabulary, options, ids)
  _match_baseline(vocabulary)
  return task


def main(argv):
  del argv
  return loop.run(make_task, TASK_FLAGS)


if __name__ == '__main__':
  app.run(main)
