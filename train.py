"""Trains a DNC on the repeat-copy task (or evaluates a checkpoint of one).

  python train.py --memory_size=64

Flags and defaults are those of DeepMind's reference script. The whole step
(batch generation, unroll, loss, gradients, RMSProp update) runs as one
compiled `tf.function`, under XLA by default. With `--checkpoint_interval=N`
it checkpoints every N steps, at the end, and on SIGINT/SIGTERM; run again on
the same `--checkpoint_dir` to resume exactly where it stopped.

  python train.py --mode=eval --checkpoint_dir=... --max_length=8

evaluates the latest checkpoint on fresh batches (task flags may ask for
longer patterns or more repeats than training used).
"""

import importlib.util
import time

from absl import app
from absl import flags
from absl import logging
import numpy as np
import sonnet as snt
import tensorflow as tf

from dnc import experiment
from dnc import internals
from dnc import summaries
from dnc import training

FLAGS = flags.FLAGS

# Model parameters.
flags.DEFINE_integer(
  'hidden_size', 64, 'Size of LSTM hidden layer.', lower_bound=1
)
flags.DEFINE_integer(
  'memory_size', 16, 'The number of memory slots.', lower_bound=1
)
flags.DEFINE_integer(
  'word_size', 16, 'The width of each memory slot.', lower_bound=1
)
flags.DEFINE_integer(
  'num_write_heads', 1, 'Number of memory write heads.', lower_bound=1
)
flags.DEFINE_integer(
  'num_read_heads', 4, 'Number of memory read heads.', lower_bound=1
)
flags.DEFINE_float(
  'clip_value', 20, 'Maximum absolute value of controller and dnc outputs.'
)

# Optimizer parameters.
flags.DEFINE_float('max_grad_norm', 50, 'Gradient clipping norm limit.')
flags.DEFINE_float('learning_rate', 1e-4, 'Optimizer learning rate.')
flags.DEFINE_float('optimizer_epsilon', 1e-10, 'Epsilon used for RMSProp.')

# Task parameters.
flags.DEFINE_integer(
  'batch_size', 16, 'Batch size for training.', lower_bound=1
)
flags.DEFINE_integer(
  'num_bits', 4, 'Dimensionality of each vector to copy', lower_bound=1
)
flags.DEFINE_integer(
  'min_length',
  1,
  'Lower limit on number of vectors in the observation.',
  lower_bound=1,
)
flags.DEFINE_integer(
  'max_length',
  2,
  'Upper limit on number of vectors in the observation.',
  lower_bound=1,
)
flags.DEFINE_integer(
  'min_repeats', 1, 'Lower limit on number of copies.', lower_bound=1
)
flags.DEFINE_integer(
  'max_repeats', 2, 'Upper limit on number of copies.', lower_bound=1
)

# Training options.
flags.DEFINE_integer(
  'num_training_iterations',
  100000,
  'Number of iterations to train for (in total, across resumed runs).',
  0,
)
flags.DEFINE_integer(
  'report_interval',
  100,
  'Iterations between reports (samples, valid loss).',
  lower_bound=1,
)
flags.DEFINE_string('checkpoint_dir', '/tmp/tf/dnc', 'Checkpointing directory.')
flags.DEFINE_integer(
  'checkpoint_interval', -1, 'Checkpointing step interval (<= 0: off).'
)

# Options beyond the reference script.
flags.DEFINE_integer(
  'seed', None, 'Seed for the initial weights and the task (default: random).'
)
flags.DEFINE_boolean('jit_compile', True, 'Compile the training step with XLA.')
flags.DEFINE_integer(
  'max_checkpoints_to_keep',
  3,
  'How many recent checkpoints to keep.',
  lower_bound=1,
)
flags.DEFINE_enum(
  'mode', 'train', ['train', 'eval'], 'Train, or evaluate a checkpoint.'
)
flags.DEFINE_string(
  'logdir',
  '',
  'Write TensorBoard summaries (losses, gradient norm, speed, pictures of the '
  'memory addressing, a readable sample) here at every report; off if empty.',
)
flags.DEFINE_integer(
  'eval_batches',
  20,
  'Fresh batches to evaluate on (--mode=eval).',
  lower_bound=1,
)


@flags.multi_flags_validator(
  ['min_length', 'max_length'],
  message='--min_length must be <= --max_length.',
)
def _check_lengths(values):
  return values['min_length'] <= values['max_length']


@flags.multi_flags_validator(
  ['min_repeats', 'max_repeats'],
  message='--min_repeats must be <= --max_repeats.',
)
def _check_repeats(values):
  return values['min_repeats'] <= values['max_repeats']


for _name in ('learning_rate', 'max_grad_norm', 'optimizer_epsilon'):
  flags.register_validator(
    _name, lambda value: value > 0, message=f'--{_name} must be positive.'
  )
flags.register_validator(
  'logdir',
  lambda value: not value or importlib.util.find_spec('tensorboard'),
  '--logdir needs TensorBoard: pip install tensorboard (or dnc[viz]).',
)
flags.register_validator(
  'clip_value', lambda value: value >= 0, '--clip_value must be >= 0.'
)


def make_inspect(core):
  """A compiled forward pass that returns one sequence's internals."""
  inspected = internals.WithInternals(core)

  @tf.function(jit_compile=FLAGS.jit_compile)
  def inspect(observations):  # [T, 1, channels]
    initial_state = core.initial_state(1)
    (_, steps), _ = snt.dynamic_unroll(inspected, observations, initial_state)
    return steps

  return inspect


def first_sequence_internals(inspect, data):
  """Internals of the batch's first sequence, cut to its length, as numpy."""
  length = int(np.max(np.nonzero(data.mask.numpy()[:, 0]))) + 1
  steps = inspect(data.observations[:, :1])
  return {key: value.numpy()[:length, 0] for key, value in steps.items()}


def rounded_output(logits, mask):
  """The model's bits as the reference shows them: rounded, masked."""
  return np.round(mask[..., None] * tf.sigmoid(logits).numpy())


def readable_sample(task, data, logits) -> str:
  """The batch's first sequence, input, target and rounded output, as text."""
  return task.to_human_readable(data, rounded_output(logits, data.mask.numpy()))


def write_summaries(writer, inspect, step: int, scalars: dict, data, sample):
  """Writes one report's TensorBoard record at `step`.

  The record holds `scalars`, pictures of the memory addressing of the
  batch's first sequence (collected by `inspect`, see `make_inspect`) and the
  readable `sample`.
  """
  internals_of_first = first_sequence_internals(inspect, data)
  summaries.write_report(writer, step, scalars, internals_of_first, sample)


def config_of_flags() -> dict:
  """The flags that a checkpoint must agree with."""
  keys = experiment.MODEL_KEYS + experiment.TASK_KEYS
  return {name: FLAGS[name].value for name in keys}


def train() -> int:
  config = FLAGS.flag_values_dict()
  trainer = experiment.Trainer(
    config, FLAGS.seed, 'xla' if FLAGS.jit_compile else 'function'
  )
  task, core, train_step = trainer.task, trainer.core, trainer.train_step
  checkpointing = FLAGS.checkpoint_interval > 0
  checkpointer = training.Checkpointer(
    FLAGS.checkpoint_dir,
    config_of_flags(),
    max_to_keep=FLAGS.max_checkpoints_to_keep,
    **trainer.trackables(),
  )
  checkpointer.check_config()  # Fails fast, before the slow tracing.
  # Tracing creates every variable (optimiser slots included) without
  # running a step, so a checkpoint restores into all of them at once.
  train_step.get_concrete_function()
  restored = checkpointer.restore_latest()
  iteration = int(trainer.step.numpy())
  if restored:
    logging.info('Resumed from %s at step %d.', restored, iteration)
  if iteration >= FLAGS.num_training_iterations:
    logging.info(
      'Already trained %d of %d iterations; nothing to do.',
      iteration,
      FLAGS.num_training_iterations,
    )
    return 0

  summary_writer = None
  if FLAGS.logdir:
    summary_writer = tf.summary.create_file_writer(FLAGS.logdir)
    inspect = make_inspect(core)
  report_start, report_step = time.perf_counter(), iteration
  with training.StopSignal() as stop:
    while iteration < FLAGS.num_training_iterations and not stop.received:
      _, grad_norm, data, logits = train_step()
      iteration += 1
      if iteration % FLAGS.report_interval == 0:
        steps_per_second = (iteration - report_step) / (
          time.perf_counter() - report_start
        )
        average_loss = trainer.loss_sum.numpy() / FLAGS.report_interval
        sample = readable_sample(task, data, logits)
        logging.info(
          '%d: Avg training loss %f.\n%s', iteration, average_loss, sample
        )
        logging.info('%d: %.1f steps/s.', iteration, steps_per_second)
        if summary_writer:
          scalars = {
            'loss': average_loss,
            'gradient_norm': float(grad_norm),
            'steps_per_second': steps_per_second,
            'learning_rate': FLAGS.learning_rate,
          }
          write_summaries(
            summary_writer, inspect, iteration, scalars, data, sample
          )
        trainer.loss_sum.assign(0.0)
        report_start, report_step = time.perf_counter(), iteration
      if checkpointing and iteration % FLAGS.checkpoint_interval == 0:
        logging.info('Saved %s.', checkpointer.save(iteration))
    if checkpointing and iteration % FLAGS.checkpoint_interval != 0:
      logging.info('Saved %s.', checkpointer.save(iteration))
  logging.info(
    'Stopped at step %d; the training step was traced %d time(s).',
    iteration,
    train_step.experimental_get_tracing_count(),
  )
  if stop.received:
    return 128 + stop.received
  return 0


def evaluate() -> int:
  saved = training.Checkpointer(FLAGS.checkpoint_dir, {}).saved_config()
  training.adopt_saved_flags(
    FLAGS, saved, experiment.MODEL_KEYS + experiment.TASK_KEYS
  )
  config = config_of_flags()
  task = experiment.make_task(config, FLAGS.seed)
  core = experiment.make_core(config)
  checkpointer = training.Checkpointer(
    FLAGS.checkpoint_dir, config_of_flags(), core=core
  )

  @tf.function(jit_compile=FLAGS.jit_compile)
  def eval_step():
    data = task()
    logits = experiment.unroll(core, data.observations)
    mask = data.mask[..., None]
    errors = tf.reduce_sum(
      tf.cast(
        tf.not_equal(tf.cast(logits > 0, tf.float32), data.target), tf.float32
      )
      * mask
    )
    bits = tf.reduce_sum(mask * tf.ones_like(data.target))
    return task.cost(logits, data.target, data.mask), errors, bits

  eval_step.get_concrete_function()
  restored = checkpointer.restore_latest(
    keys_to_ignore=experiment.TASK_KEYS, expect_partial=True
  )
  if not restored:
    raise training.CheckpointError(
      f'No checkpoint in {FLAGS.checkpoint_dir} to evaluate.'
    )
  losses, errors, bits = [], 0.0, 0.0
  for _ in range(FLAGS.eval_batches):
    loss, batch_errors, batch_bits = eval_step()
    losses.append(float(loss))
    errors += float(batch_errors)
    bits += float(batch_bits)
  print(
    f'Evaluated {restored} on {FLAGS.eval_batches} batches of '
    f'{FLAGS.batch_size} (lengths {FLAGS.min_length}-{FLAGS.max_length}, '
    f'repeats {FLAGS.min_repeats}-{FLAGS.max_repeats}): '
    f'average loss {np.mean(losses):.4f}, bit error rate '
    f'{errors / bits:.4%}.'
  )
  return 0


def main(argv):
  del argv
  try:
    return train() if FLAGS.mode == 'train' else evaluate()
  except training.CheckpointError as e:
    logging.error('%s', e)
    return 1


if __name__ == '__main__':
  app.run(main)
