"""Trains a DNC on the bAbI question-answering tasks, or evaluates one.

  python train_babi.py --data_dir=.../tasks_1-20_v1-2/en-10k
  python train_babi.py --data_dir=... --mode=eval   # per-task error table

The defaults are the paper's DNC1 (Graves et al. 2016, Extended Data Table
2): LSTM 256, memory 256 x 64, 4 read heads, 1 write head, batch size 1,
RMSProp with learning rate 1e-4 and momentum 0.9, all 20 tasks jointly.
Each story is one sequence of one-hot words; the model must output the answer
word at each '-' marker and is trained with softmax cross-entropy there only.
Batches group stories of similar length (`--sort_window`) and pad them to a
few bucket lengths, so a compiled step sees few shapes. Checkpointing,
resuming and the refusal to resume with other flags are those of train.py.
"""

import json
import resource
import sys
import time

from absl import app
from absl import flags
from absl import logging
import numpy as np
import sonnet as snt
import tensorflow as tf

import dnc
from dnc import babi
from dnc import training

FLAGS = flags.FLAGS

# Data.
flags.DEFINE_string(
  'data_dir', None, 'A bAbI split directory, e.g. .../tasks_1-20_v1-2/en-10k.'
)
flags.DEFINE_list('tasks', [str(t) for t in babi.ALL_TASKS], 'Task ids.')
flags.DEFINE_boolean(
  'allow_1k_fallback',
  False,
  'Take training files missing from data_dir from its sibling en/ (1k).',
)

# Model (DNC1).
flags.DEFINE_integer('hidden_size', 256, 'Size of LSTM hidden layer.', 1)
flags.DEFINE_integer('memory_size', 256, 'The number of memory slots.', 1)
flags.DEFINE_integer('word_size', 64, 'The width of each memory slot.', 1)
flags.DEFINE_integer('num_write_heads', 1, 'Number of memory write heads.', 1)
flags.DEFINE_integer('num_read_heads', 4, 'Number of memory read heads.', 1)
flags.DEFINE_float(
  'clip_value', 20, 'Maximum absolute value of controller and dnc outputs.'
)

# Optimiser (DNC1).
flags.DEFINE_float('learning_rate', 1e-4, 'RMSProp learning rate.')
flags.DEFINE_float('momentum', 0.9, 'RMSProp momentum.')
flags.DEFINE_float('optimizer_epsilon', 1e-10, 'Epsilon used for RMSProp.')
flags.DEFINE_float('max_grad_norm', 50, 'Gradient clipping norm limit.')

# Training.
flags.DEFINE_integer('batch_size', 1, 'Stories per batch.', 1)
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
flags.DEFINE_integer(
  'num_training_iterations',
  1_000_000,
  'Iterations to train for (in total, across resumed runs).',
  0,
)
flags.DEFINE_integer('report_interval', 500, 'Iterations between reports.', 1)
flags.DEFINE_string(
  'checkpoint_dir', '/tmp/tf/dnc_babi', 'Checkpointing directory.'
)
flags.DEFINE_integer(
  'checkpoint_interval', 5000, 'Checkpointing step interval (<= 0: off).'
)
flags.DEFINE_integer(
  'max_checkpoints_to_keep', 3, 'How many recent checkpoints to keep.', 1
)
flags.DEFINE_integer('seed', 0, 'Seed for the initial weights and shuffling.')
flags.DEFINE_boolean('jit_compile', True, 'Compile the training step with XLA.')

# Evaluation.
flags.DEFINE_enum('mode', 'train', ['train', 'eval'], 'Train, or evaluate.')
flags.DEFINE_integer('eval_batch_size', 32, 'Stories per evaluation batch.', 1)
flags.DEFINE_enum(
  'eval_split',
  'test',
  ['test', 'train'],
  'Split to evaluate: test, or train to see how much the model memorises.',
)
flags.DEFINE_string(
  'results', '', 'With --mode=eval, also write the table here (.md and .json).'
)

flags.mark_flag_as_required('data_dir')
for _name in ('learning_rate', 'max_grad_norm', 'optimizer_epsilon'):
  flags.register_validator(
    _name, lambda value: value > 0, message=f'--{_name} must be positive.'
  )
flags.register_validator(
  'momentum', lambda value: 0 <= value < 1, '--momentum must be in [0, 1).'
)
flags.register_validator(
  'tasks',
  lambda tasks: all(t.isdigit() and 1 <= int(t) <= 20 for t in tasks),
  '--tasks must be task ids in 1..20, comma separated.',
)

# Flags that shape the variables or define the data: a checkpoint resumes
# only with the values it was made with (the vocabulary is checked too).
CONFIG_FLAGS = (
  'hidden_size',
  'memory_size',
  'word_size',
  'num_write_heads',
  'num_read_heads',
  'clip_value',
  'tasks',
  'batch_size',
  'permute_words',
)
# What a config saved before a flag existed stands for.
CONFIG_DEFAULTS = {'permute_words': ''}

# Extended Data Table 1 of Graves et al. (2016): mean +- s.d. test error (%)
# over 20 runs, per task, for DNC1 and the LSTM baseline. The LSTM figure for
# task 18 is not legible in our copy of the table.
PAPER_DNC1 = (
  (9.0, 12.6), (39.2, 20.5), (39.6, 16.4), (0.4, 0.7), (1.5, 1.0),
  (6.9, 7.5), (9.8, 7.0), (5.5, 5.9), (7.7, 8.3), (9.6, 11.4),
  (3.3, 5.7), (5.0, 6.3), (3.1, 3.6), (11.0, 7.5), (27.2, 20.1),
  (53.6, 1.9), (32.4, 8.0), (4.2, 1.8), (64.6, 37.4), (0.0, 0.1),
)  # fmt: skip
PAPER_LSTM = (
  (28.4, 1.5), (56.0, 1.5), (51.3, 1.4), (0.8, 0.5), (3.2, 0.5),
  (15.2, 1.5), (16.4, 1.4), (17.7, 1.2), (15.4, 1.5), (28.7, 1.7),
  (12.2, 3.5), (5.4, 0.6), (7.2, 2.3), (55.9, 1.2), (47.0, 1.7),
  (53.3, 1.3), (34.8, 4.1), None, (90.9, 1.1), (1.3, 0.4),
)  # fmt: skip
PAPER_MEANS = {'DNC1': (16.7, 7.6, 11.2, 5.4), 'LSTM': (27.3, 0.8, 17.1, 1.0)}


def peak_memory_gib() -> float:
  """This process's peak resident memory so far: long stories need most."""
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  return peak / (2**30 if sys.platform == 'darwin' else 2**20)  # B or KiB.


def tasks_of_flags() -> list[int]:
  return sorted({int(t) for t in FLAGS.tasks})


def make_core(vocab_size: int) -> dnc.DNC:
  return dnc.DNC(
    access_config=dict(
      memory_size=FLAGS.memory_size,
      word_size=FLAGS.word_size,
      num_reads=FLAGS.num_read_heads,
      num_writes=FLAGS.num_write_heads,
    ),
    controller_config=dict(hidden_size=FLAGS.hidden_size),
    output_size=vocab_size,
    clip_value=FLAGS.clip_value,
  )


def make_forward(core: dnc.DNC, vocab_size: int):
  """Logits `[T, B, vocab_size]` of int32 word ids `[T, B]`."""

  def forward(inputs):
    observations = tf.one_hot(inputs, vocab_size)
    initial_state = core.initial_state(tf.shape(inputs)[1])
    logits, _ = snt.dynamic_unroll(core, observations, initial_state)
    return logits

  return forward


def answer_loss(logits, targets, mask):
  """Mean softmax cross-entropy over the answer words of a batch."""
  xent = tf.nn.sparse_softmax_cross_entropy_with_logits(
    labels=targets, logits=logits
  )
  return tf.reduce_sum(xent * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def load_data(splits, vocab=None):
  """Reads the flags' tasks; `(vocab, {split: stories})`.

  Without `vocab`, the vocabulary covers all 20 tasks (every test file and
  the training files read), so word ids do not depend on `--tasks`.
  """
  raw = {
    split: babi.read_split(
      FLAGS.data_dir, split, tasks_of_flags(), FLAGS.allow_1k_fallback
    )
    for split in splits
  }
  if vocab is None:
    vocab_stories = list(raw.get('train', {}).values())
    vocab_stories += babi.read_split(FLAGS.data_dir, 'test').values()
    vocab = babi.Vocabulary.from_stories(
      story for task in vocab_stories for story in task
    )
  stories = {
    split: babi.encode_stories(
      [story for task in by_task.values() for story in task], vocab
    )
    for split, by_task in raw.items()
  }
  logging.info(
    'Read tasks %s from %s: vocabulary of %d words; %s.',
    ','.join(map(str, tasks_of_flags())),
    FLAGS.data_dir,
    vocab.size,
    ', '.join(f'{len(v)} {k} stories' for k, v in stories.items()),
  )
  return vocab, stories


def permutation_groups(vocab: babi.Vocabulary) -> list[list[int]]:
  """The word ids of `--permute_words`; UsageError naming unknown words."""
  groups = [g.split(',') for g in FLAGS.permute_words.split(';') if g]
  words = [word for group in groups for word in group]
  unknown = [word for word in words if word not in vocab]
  if unknown:
    raise app.UsageError(f'--permute_words: not in the vocabulary: {unknown}')
  if len(set(words)) != len(words) or any(len(g) < 2 for g in groups):
    raise app.UsageError(
      '--permute_words: groups must be disjoint and hold two words or more, '
      f'got {FLAGS.permute_words!r}'
    )
  return [vocab.encode(group) for group in groups]


def config_of(vocab: babi.Vocabulary) -> dict:
  config = {name: FLAGS[name].value for name in CONFIG_FLAGS}
  config['tasks'] = tasks_of_flags()
  config['vocabulary'] = list(vocab.words)
  return config


def train() -> int:
  tf.random.set_seed(FLAGS.seed)
  vocab, stories = load_data(['train', 'test'])
  groups = permutation_groups(vocab)
  buckets = babi.geometric_buckets()
  batches = babi.BatchIterator(
    stories['train'],
    FLAGS.batch_size,
    seed=FLAGS.seed,
    sort_window=FLAGS.sort_window,
    buckets=buckets,
  )
  core = make_core(vocab.size)
  optimizer = snt.optimizers.RMSProp(
    FLAGS.learning_rate,
    decay=0.9,
    momentum=FLAGS.momentum,
    epsilon=FLAGS.optimizer_epsilon,
  )
  step = tf.Variable(0, dtype=tf.int64, name='step')
  # The batch iterator's state travels inside the checkpoint, so weights
  # and data order are saved and restored together.
  iterator_state = tf.Variable('', name='iterator_state')
  forward = make_forward(core, vocab.size)

  @tf.function(jit_compile=FLAGS.jit_compile)
  def train_step(inputs, targets, mask):
    with tf.GradientTape() as tape:
      logits = forward(inputs)
      loss = answer_loss(logits, targets, mask)
    variables = core.trainable_variables
    grads = tape.gradient(loss, variables)
    grads, _ = tf.clip_by_global_norm(grads, FLAGS.max_grad_norm)
    optimizer.apply(grads, variables)
    step.assign_add(1)
    correct = tf.cast(
      tf.equal(tf.argmax(logits, -1, tf.int32), targets), mask.dtype
    )
    return loss, tf.reduce_sum(correct * mask), tf.reduce_sum(mask)

  checkpointer = training.Checkpointer(
    FLAGS.checkpoint_dir,
    config_of(vocab),
    max_to_keep=FLAGS.max_checkpoints_to_keep,
    defaults=CONFIG_DEFAULTS,
    core=core,
    optimizer=optimizer,
    step=step,
    iterator_state=iterator_state,
  )
  checkpointer.check_config()
  # Creates every variable before restoring (see train.py).
  first = babi.make_batch(stories['train'][:1], buckets=buckets)
  train_step.get_concrete_function(
    tf.constant(first.inputs),
    tf.constant(first.targets),
    tf.constant(first.mask),
  )
  restored = checkpointer.restore_latest()
  if restored:
    batches.set_state(json.loads(iterator_state.numpy().decode()))
    logging.info('Resumed from %s at step %d.', restored, step.numpy())
  iteration = int(step.numpy())
  if iteration >= FLAGS.num_training_iterations:
    logging.info(
      'Already trained %d of %d iterations; nothing to do.',
      iteration,
      FLAGS.num_training_iterations,
    )
    return 0

  def save():
    iterator_state.assign(json.dumps(batches.get_state()))
    logging.info('Saved %s.', checkpointer.save(iteration))

  checkpointing = FLAGS.checkpoint_interval > 0
  losses, correct, words = [], 0.0, 0.0
  report_start, report_step = time.perf_counter(), iteration
  with training.StopSignal() as stop:
    while iteration < FLAGS.num_training_iterations and not stop.received:
      batch = next(batches)
      if groups:
        # Seeded by the step, so a resumed run renames as the first did.
        rng = np.random.default_rng([FLAGS.seed, iteration])
        batch = babi.permute_words(batch, groups, rng)
      loss, batch_correct, batch_words = train_step(
        batch.inputs, batch.targets, batch.mask
      )
      iteration += 1
      losses.append(float(loss))
      correct += float(batch_correct)
      words += float(batch_words)
      if iteration % FLAGS.report_interval == 0:
        elapsed = time.perf_counter() - report_start
        logging.info(
          '%d: Avg training loss %f, answer word error %.2f%%, epoch %d, '
          '%.2f steps/s, peak memory %.1f GiB.',
          iteration,
          np.mean(losses),
          100 * (1 - correct / max(words, 1)),
          batches.epoch,
          (iteration - report_step) / elapsed,
          peak_memory_gib(),
        )
        losses, correct, words = [], 0.0, 0.0
        report_start, report_step = time.perf_counter(), iteration
      if checkpointing and iteration % FLAGS.checkpoint_interval == 0:
        save()
    if checkpointing and iteration % FLAGS.checkpoint_interval != 0:
      save()
  logging.info(
    'Stopped at step %d; the training step was traced %d time(s).',
    iteration,
    train_step.experimental_get_tracing_count(),
  )
  return 128 + stop.received if stop.received else 0


def error_table(
  errors: dict[int, float], checkpoint: str, steps: int, split: str = 'test'
) -> str:
  """Markdown in the layout of Extended Data Table 1, with our column."""

  def paper(value):
    return '-' if value is None else f'{value[0]:.1f} ± {value[1]:.1f}'

  lines = [
    f'{"Test" if split == "test" else "Training-set"} error (%) of '
    f'{checkpoint} after {steps} steps.',
    '',
    '| task | ours | DNC1 (paper, mean ± s.d.) | LSTM (paper) |',
    '|---|---:|---:|---:|',
  ]
  for task, error in sorted(errors.items()):
    name = babi.TASK_NAMES[task].replace('-', ' ')
    lines.append(
      f'| {task}: {name} | {error:.1f} | {paper(PAPER_DNC1[task - 1])} | '
      f'{paper(PAPER_LSTM[task - 1])} |'
    )
  mean = np.mean(list(errors.values()))
  failed = sum(error > 5 for error in errors.values())
  dnc1, lstm = PAPER_MEANS['DNC1'], PAPER_MEANS['LSTM']
  lines.append(
    f'| **mean error** | **{mean:.1f}** | {dnc1[0]} ± {dnc1[1]} | '
    f'{lstm[0]} ± {lstm[1]} |'
  )
  lines.append(
    f'| **failed tasks (> 5%)** | **{failed}** | {dnc1[2]} ± {dnc1[3]} | '
    f'{lstm[2]} ± {lstm[3]} |'
  )
  return '\n'.join(lines)


def evaluate() -> int:
  checkpointer = training.Checkpointer(FLAGS.checkpoint_dir, {})
  saved = checkpointer.saved_config()
  if saved is None:
    raise training.CheckpointError(
      f'No {training.CONFIG_FILE} in {FLAGS.checkpoint_dir} to evaluate.'
    )
  training.adopt_saved_flags(FLAGS, saved, CONFIG_FLAGS)
  vocab = babi.Vocabulary(saved['vocabulary'])
  split = FLAGS.eval_split
  _, stories = load_data([split], vocab)
  core = make_core(vocab.size)
  step = tf.Variable(0, dtype=tf.int64, name='step')
  checkpointer = training.Checkpointer(
    FLAGS.checkpoint_dir,
    config_of(vocab),
    defaults=CONFIG_DEFAULTS,
    core=core,
    step=step,
  )
  forward = make_forward(core, vocab.size)

  @tf.function(jit_compile=FLAGS.jit_compile)
  def predict(inputs):
    return tf.argmax(forward(inputs), -1, tf.int32)

  buckets = babi.geometric_buckets()
  predict.get_concrete_function(
    tf.constant(babi.make_batch(stories[split][:1], buckets=buckets).inputs)
  )
  restored = checkpointer.restore_latest(
    keys_to_ignore=('tasks', 'batch_size', 'permute_words'),
    expect_partial=True,
  )
  if not restored:
    raise training.CheckpointError(
      f'No checkpoint in {FLAGS.checkpoint_dir} to evaluate.'
    )
  # A question is answered correctly only if all its answer words are.
  wrong, total = {}, {}
  evaluated = stories[split]
  for start in range(0, len(evaluated), FLAGS.eval_batch_size):
    chunk = evaluated[start : start + FLAGS.eval_batch_size]
    batch = babi.make_batch(
      chunk, batch_size=FLAGS.eval_batch_size, buckets=buckets
    )
    predictions = predict(batch.inputs).numpy()
    for column, story in enumerate(chunk):
      predicted = predictions[list(story.answer_positions), column]
      missed = {
        q for q, ok in zip(
          story.question_index, predicted == story.answers, strict=True
        )
        if not ok
      }  # fmt: skip
      wrong[story.task] = wrong.get(story.task, 0) + len(missed)
      total[story.task] = total.get(story.task, 0) + story.num_questions
  errors = {task: 100 * wrong[task] / total[task] for task in sorted(total)}
  table = error_table(errors, restored, int(step.numpy()), split)
  print(table)
  if FLAGS.results:
    with open(FLAGS.results + '.md', 'w') as f:
      f.write(table + '\n')
    with open(FLAGS.results + '.json', 'w') as f:
      json.dump(
        {
          'checkpoint': restored,
          'steps': int(step.numpy()),
          'split': split,
          'error_percent': {str(t): e for t, e in errors.items()},
          'questions': {str(t): total[t] for t in sorted(total)},
          'mean_error_percent': float(np.mean(list(errors.values()))),
          'failed_tasks': int(sum(e > 5 for e in errors.values())),
        },
        f,
        indent=2,
      )
  return 0


def main(argv):
  del argv
  try:
    return train() if FLAGS.mode == 'train' else evaluate()
  except (training.CheckpointError, babi.MissingTaskFilesError) as e:
    logging.error('%s', e)
    return 1


if __name__ == '__main__':
  app.run(main)
