"""Prints the statistics of bAbI files: vocabulary size, story lengths.

  python -m dnc.babi --data_dir=.../tasks_1-20_v1-2/en-10k [--tasks=1,2]
      [--split=train] [--allow_1k_fallback] [--save_vocab=vocab.json]

The vocabulary is that of `babi.load_dataset` over the train and test files
of the tasks read.
"""

from collections.abc import Sequence

from absl import app
from absl import flags
from absl import logging

from dnc.tasks import babi

FLAGS = flags.FLAGS


def define_flags() -> None:
  """Defines the command's flags on absl's global FLAGS (once)."""
  # Defined only when run as a script, as in dnc.tools.visualize: train_babi.py
  # defines --data_dir and --tasks on the same global FLAGS.
  flags.DEFINE_string(
    'data_dir',
    None,
    'A bAbI split directory, e.g. .../tasks_1-20_v1-2/en-10k.',
    required=True,
  )
  flags.DEFINE_list(
    'tasks', [str(t) for t in babi.ALL_TASKS], 'Task ids, comma separated.'
  )
  flags.register_validator(
    'tasks',
    lambda tasks: (
      bool(tasks)
      and all(t.isdigit() and 1 <= int(t) <= babi.NUM_TASKS for t in tasks)
    ),
    '--tasks must be task ids in 1..20, comma separated.',
  )
  flags.DEFINE_enum('split', 'train', babi.SPLITS, 'The split to describe.')
  flags.DEFINE_boolean(
    'allow_1k_fallback',
    False,
    'Take files missing from data_dir from the sibling en/ directory.',
  )
  flags.DEFINE_string('save_vocab', None, 'Write the vocabulary JSON here.')


def main(argv: Sequence[str]) -> int:
  """The command line (see the module docstring); returns the exit code."""
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
  try:
    vocab, stories = babi.load_dataset(
      FLAGS.data_dir,
      [int(t) for t in FLAGS.tasks],
      allow_1k_fallback=FLAGS.allow_1k_fallback,
    )
  except (FileNotFoundError, ValueError) as e:
    logging.error('%s', e)
    return 1
  print(f'{FLAGS.data_dir} ({FLAGS.split}); vocabulary from train and test')
  print(babi.format_statistics(babi.statistics(stories[FLAGS.split], vocab)))
  if FLAGS.save_vocab:
    vocab.save(FLAGS.save_vocab)
    print(f'vocabulary written to {FLAGS.save_vocab}')
  return 0


if __name__ == '__main__':
  define_flags()
  app.run(main)
