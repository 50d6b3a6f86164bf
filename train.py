"""Trains a DNC on the repeat-copy task (or evaluates a checkpoint of one).

  python train.py --memory_size=64

Flags and defaults are those of DeepMind's reference script. The whole step
(batch generation, unroll, loss, gradients, RMSProp update) runs as one
compiled `tf.function`, under XLA by default. With `--checkpoint_interval=N`
it checkpoints every N steps, at the end, and on SIGINT/SIGTERM; run again on
the same `--checkpoint_dir` to resume exactly where it stopped.

  python train.py --mode=eval --checkpoint_dir=... --max_length=8

evaluates the latest checkpoint on fresh batches (task flags may ask for
longer patterns or more repeats than training used). The loop lives in
`dnc.train.loop`, the task in `dnc.tasks.repeat_copy.task`.
"""

from absl import app
from absl import flags

from dnc.tasks.repeat_copy import task as repeat_copy_task
from dnc.train import flags as run_flags
from dnc.train import loop

FLAGS = flags.FLAGS

run_flags.define_model_flags()
run_flags.define_optimizer_flags()
run_flags.define_run_flags()

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


def make_task(saved_config) -> repeat_copy_task.RepeatCopyTask:
  """The task of the flags (the saved config is already in them)."""
  del saved_config
  names = repeat_copy_task.TASK_KEYS + ('eval_batches',)
  config = {name: FLAGS[name].value for name in names}
  return repeat_copy_task.RepeatCopyTask(config, FLAGS.seed)


def main(argv):
  del argv
  return loop.run(make_task, repeat_copy_task.TASK_KEYS)


if __name__ == '__main__':
  app.run(main)
