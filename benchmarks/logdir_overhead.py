"""What `train.py --logdir` costs: the training step with and without summaries.

  python -m benchmarks.logdir_overhead [--blocks=20 --report_interval=100]

Builds train.py's model and compiled step on its default flags and runs, in
one process, alternating blocks of `report_interval` steps that end with
train.py's report: the readable sample only (as without `--logdir`), or the
sample plus the summaries that `--logdir` adds (the pass that collects one
sequence's internals, then `summaries.write_report`). Alternating in one
process cancels the drift in speed between processes, which on a small
machine is larger than the effect measured. Prints the median ms per step
of each kind of block and the overhead, with the one-off compilation of the
internals pass measured separately.
"""

from collections.abc import Sequence
import statistics
import tempfile
import time

from absl import app
from absl import flags
import tensorflow as tf

from dnc.tasks.repeat_copy import task as repeat_copy_task
from dnc.train import loop
import train  # noqa: F401 (defines train.py's flags, --report_interval)

_BLOCKS = flags.DEFINE_integer('blocks', 20, 'Blocks of each kind.', 1)


def main(argv: Sequence[str]) -> None:
  del argv
  interval = flags.FLAGS.report_interval
  config = flags.FLAGS.flag_values_dict()
  trainer = repeat_copy_task.make_trainer(config, 0, 'xla')
  inspect = loop.make_inspect(trainer.core, trainer.task)
  with tempfile.TemporaryDirectory() as logdir:
    writer = tf.summary.create_file_writer(logdir)

    def block(with_summaries: bool, step: int) -> float:
      start = time.perf_counter()
      for _ in range(interval):
        _, grad_norm, data, logits = trainer.train_step()
      sample = trainer.task.readable(data, logits)
      if with_summaries:
        scalars = {
          'loss': float(trainer.loss_sum.numpy()),
          'gradient_norm': float(grad_norm),
        }
        loop.write_summaries(writer, inspect, step, scalars, data, sample)
      return 1000 * (time.perf_counter() - start) / interval

    block(False, 0)  # Compiles the training step.
    start = time.perf_counter()
    block(True, 0)
    first_report_s = time.perf_counter() - start
    without, with_summaries = [], []
    for i in range(_BLOCKS.value):
      without.append(block(False, 2 * i + 1))
      with_summaries.append(block(True, 2 * i + 2))
    writer.close()
  off, on = statistics.median(without), statistics.median(with_summaries)
  print(f'train.py defaults, a report every {interval} steps:\n')
  print('| blocks | ms per step, median (min-max) |')
  print('|---|---:|')
  for name, times in [('without --logdir', without), ('with', with_summaries)]:
    print(
      f'| {name} | {statistics.median(times):.3f} '
      f'({min(times):.3f}-{max(times):.3f}) |'
    )
  print(
    f'\nOverhead of --logdir: {100 * (on / off - 1):+.1f}%, plus '
    f'{first_report_s - on * interval / 1000:.1f} s once, at the first '
    'report, to compile the pass that collects the internals.'
  )


if __name__ == '__main__':
  app.run(main)
