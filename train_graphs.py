"""Trains a DNC on the paper's graph tasks, or evaluates one.

  python train_graphs.py --task=traversal --checkpoint_dir=runs/traversal
  python train_graphs.py --task=shortest_path --checkpoint_dir=runs/sp
  python train_graphs.py --task=inference --checkpoint_dir=runs/inference
  python train_graphs.py --mode=eval --checkpoint_dir=runs/traversal \
      --eval_graph=london --london_dir=DATA/london
  python train_graphs.py --mode=eval --checkpoint_dir=runs/inference \
      --eval_graph=family

Graves et al. (2016), Methods "Graph task descriptions": each step shows a
triple (source, edge, destination) of labels 0-999 as one-hot digits (92
inputs with the phase and answer channels) and the network answers with
nine 10-way softmaxes. Training follows the task's lessons (random graphs
that grow; see docs/graphs.md), checking at each report whether a fresh
batch of the current lesson passes; the lesson is checkpointed, so the same
command resumes exactly. `--mode=eval` scores random graphs of a lesson
(`--eval_lesson`) or the task's test graph: the London Underground's zone 1
interchange stations (traversal and shortest path; the CSV files are not
shipped, `--london_dir` names them) or an invented family tree
(inference). The task is `dnc.tasks.graphs`; the loop, checkpoints and
modes are those of every script (`dnc.train.loop`).
"""

from absl import app
from absl import flags

from dnc.tasks import base as task_lib
from dnc.tasks.graphs import curriculum
from dnc.tasks.graphs import episodes
from dnc.tasks.graphs import task as graph_task
from dnc.train import flags as run_flags
from dnc.train import loop

FLAGS = flags.FLAGS

run_flags.define_model_flags(
  hidden_size=256, memory_size=512, word_size=64, num_read_heads=4
)
run_flags.define_optimizer_flags(learning_rate=1e-4, momentum=0.9)
run_flags.define_run_flags(
  batch_size=16,
  num_training_iterations=1_000_000,
  report_interval=500,
  checkpoint_dir='/tmp/tf/dnc_graphs',
  checkpoint_interval=5000,
  seed=0,
)

flags.DEFINE_enum(
  'task',
  'traversal',
  list(episodes.TASKS),
  "The graph task. With --mode=eval: the checkpoint's (if given, it must "
  'match).',
)
flags.DEFINE_integer(
  'lesson_eval_size',
  64,
  'Episodes of the current lesson evaluated at each report; the next '
  'lesson starts when enough pass.',
  lower_bound=1,
)
flags.DEFINE_float(
  'lesson_threshold',
  None,
  'The share of the lesson evaluation that must pass (default: the '
  "paper's: "
  + ', '.join(f'{k} {v:g}' for k, v in curriculum.THRESHOLD.items())
  + ').',
)
flags.DEFINE_float(
  'dagger_beta',
  1.0,
  'Shortest path: the probability that an answer step shows the optimal '
  "planner's previous action rather than the network's own (DAgger's "
  'mixture, after the Methods). 1: teacher forcing; below 1, each training '
  'step first runs the network once per answer step on the host.',
)
flags.DEFINE_enum(
  'eval_graph',
  'random',
  ['random', 'london', 'family'],
  '--mode=eval on random graphs of --eval_lesson, on the London '
  'Underground (traversal, shortest_path) or on the family tree (inference).',
)
flags.DEFINE_integer(
  'eval_lesson',
  0,
  '--eval_graph=random: the lesson, from 1 (0: the last).',
  lower_bound=0,
)
flags.DEFINE_integer(
  'eval_episodes',
  1000,
  'Episodes of random graphs, or London traversals, to evaluate (the test '
  "graphs' shortest paths and relations are all evaluated).",
  lower_bound=1,
)
flags.DEFINE_integer(
  'eval_path_steps',
  0,
  "The test graph's path or relation length (0: the paper's, 7 for "
  'traversal, 4 for shortest_path and inference).',
  lower_bound=0,
)
flags.DEFINE_integer(
  'eval_batch_size', 64, 'Episodes per evaluation batch.', lower_bound=1
)
flags.DEFINE_integer('eval_seed', 0, 'Seeds the evaluated episodes.')
flags.DEFINE_string(
  'london_dir',
  '',
  "The directory of the London Underground's stations.csv, "
  'connections.csv and lines.csv (not shipped).',
)

# The task's flags that its config records, beside `graph_task` (--task).
TASK_FLAGS = (
  'batch_size',
  'lesson_eval_size',
  'lesson_threshold',
  'dagger_beta',
)


def make_task(saved_config) -> graph_task.GraphTask:
  """The task of the flags; to evaluate, of the checkpoint's --task."""
  name = FLAGS.task
  if saved_config is not None:
    if 'graph_task' not in saved_config:
      raise task_lib.TaskError(
        f'{FLAGS.checkpoint_dir} holds no graph task run: its config has no '
        'graph_task.'
      )
    saved = saved_config['graph_task']
    if FLAGS['task'].present and name != saved:
      raise task_lib.TaskError(
        f'--task={name}: {FLAGS.checkpoint_dir} was trained on {saved}.'
      )
    name = saved
  config = {
    'graph_task': name,
    **{key: FLAGS[key].value for key in TASK_FLAGS},
    **{key: FLAGS[key].value for key in graph_task.EVAL_DEFAULTS},
  }
  return graph_task.GraphTask(config, seed=FLAGS.seed)


def main(argv):
  del argv
  return loop.run(make_task, TASK_FLAGS)


if __name__ == '__main__':
  app.run(main)
