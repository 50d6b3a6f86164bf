"""Trains a DNC on the bAbI question-answering tasks, or evaluates one.

  python train_babi.py --data_dir=.../tasks_1-20_v1-2/en-10k
  python train_babi.py --data_dir=... --mode=eval   # per-task error table

The defaults are the paper's DNC1 (Graves et al. 2016, Extended Data Table
2): LSTM 256, memory 256 x 64, 4 read heads, 1 write head, batch size 1,
RMSProp with learning rate 1e-4 and momentum 0.9, all 20 tasks jointly.
The task (one-hot stories, the loss at the answer markers, batching, the
table) is `dnc.babi.task`; the loop, checkpoints and `--mode=eval` are those
of every script (`dnc.train.loop`), as in train.py.
"""

from absl import app
from absl import flags
from absl import logging

from dnc.tasks import babi
from dnc.tasks import base as task_lib
from dnc.tasks.babi import task as babi_task
from dnc.train import flags as run_flags
from dnc.train import loop

FLAGS = flags.FLAGS

run_flags.define_model_flags(hidden_size=256, memory_size=256, word_size=64)
run_flags.define_optimizer_flags(momentum=0.9)
run_flags.define_run_flags(
  batch_size=1,
  num_training_iterations=1_000_000,
  report_interval=500,
  checkpoint_dir='/tmp/tf/dnc_babi',
  checkpoint_interval=5000,
  seed=0,
  # Stories run to 1,378 tokens: full backprop at the paper's size needs
  # about 0.8 GiB per story in the batch; recomputation a fraction of it.
  recompute_chunk_length=-1,
)

flags.DEFINE_string(
  'data_dir', None, 'A bAbI split directory, e.g. .../tasks_1-20_v1-2/en-10k.'
)
flags.DEFINE_list('tasks', [str(t) for t in babi.ALL_TASKS], 'Task ids.')
flags.DEFINE_boolean(
  'allow_1k_fallback',
  False,
  'Take training files missing from data_dir from its sibling en/ (1k).',
)
flags.DEFINE_string(
  'permute_words',
  '',
  'Data augmentation (off by default; not in the paper): groups of '
  'interchangeable words, e.g. "mary,john;garden,kitchen". Each training '
  'story gets its own random renaming within each group.',
)
flags.DEFINE_integer(
  'sort_window',
  50,
  'Batches drawn together and sorted by story length (1: no sorting).',
  1,
)
flags.DEFINE_integer('eval_batch_size', 32, 'Stories per evaluation batch.', 1)
flags.DEFINE_float(
  'validation_fraction',
  0.1,
  "Share of each task's training stories held out for validation (the "
  "paper's 10%), scored at every checkpoint into validation.jsonl; 0: none.",
)
flags.DEFINE_integer(
  'validation_seed', 0, 'Seeds which training stories are held out.'
)
flags.DEFINE_enum(
  'eval_split',
  'test',
  ['test', 'valid', 'train'],
  'Split to evaluate: test; valid, the held-out training stories; or train, '
  'the stories trained on, to see how much the model memorises.',
)
flags.DEFINE_string(
  'results', '', 'With --mode=eval, also write the table here (.md and .json).'
)
flags.mark_flag_as_required('data_dir')
flags.register_validator(
  'validation_fraction',
  lambda value: 0 <= value < 1,
  '--validation_fraction must be in [0, 1).',
)
flags.register_validator(
  'tasks',
  lambda tasks: all(t.isdigit() and 1 <= int(t) <= 20 for t in tasks),
  '--tasks must be task ids in 1..20, comma separated.',
)

# The task's flags that its config records (with the vocabulary).
TASK_FLAGS = (
  'tasks',
  'batch_size',
  'permute_words',
  'validation_fraction',
  'validation_seed',
)


def make_task(saved_config) -> babi_task.BabiTask:
  """Reads the stories of the flags; to evaluate, in the saved vocabulary."""
  tasks = sorted({int(t) for t in FLAGS.tasks})
  evaluating = saved_config is not None
  if evaluating and 'vocabulary' not in saved_config:
    raise task_lib.TaskError(
      f'{FLAGS.checkpoint_dir} holds no bAbI run: its config has no vocabulary.'
    )
  split = FLAGS.eval_split if evaluating else 'train'
  file_split = 'test' if split == 'test' else 'train'
  vocab, stories = babi_task.load(
    FLAGS.data_dir,
    tasks,
    [file_split] if evaluating else ['train', 'test'],
    FLAGS.allow_1k_fallback,
    babi.Vocabulary(saved_config['vocabulary']) if evaluating else None,
  )
  if 'train' in stories:
    # The held-out stories never reach the batches trained on.
    stories['train'], stories['valid'] = babi.split_validation(
      stories['train'], FLAGS.validation_fraction, FLAGS.validation_seed
    )
    logging.info(
      'Held out %d of the training stories for validation; %d remain.',
      len(stories['valid']),
      len(stories['train']),
    )
  return babi_task.BabiTask(
    vocab,
    tasks,
    FLAGS.batch_size,
    train_stories=() if evaluating else stories['train'],
    permute_words=FLAGS.permute_words,
    seed=FLAGS.seed,
    sort_window=FLAGS.sort_window,
    eval_stories=stories[split] if evaluating else (),
    eval_split=split,
    eval_batch_size=FLAGS.eval_batch_size,
    results_path=FLAGS.results,
    valid_stories=() if evaluating else stories['valid'],
    validation_fraction=FLAGS.validation_fraction,
    validation_seed=FLAGS.validation_seed,
  )


def main(argv):
  del argv
  return loop.run(make_task, TASK_FLAGS)


if __name__ == '__main__':
  app.run(main)
