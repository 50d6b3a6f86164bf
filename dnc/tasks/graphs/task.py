"""The graph tasks as a task of the training loop (`dnc.train.loop`).

`train_graphs.py --task=traversal|shortest_path|inference` builds
`GraphTask` from its flags. Batches are drawn on the host from the current
lesson (`curriculum`), each step's from a generator seeded by the run's
seed and the step, so that a resumed run draws what an uninterrupted one
would; the lesson is a variable the checkpoints hold. At each report the
task evaluates a fresh batch of the current lesson and moves to the next
lesson when it passes (`curriculum.THRESHOLD`): the report is where the
loop hands a task the compiled forward pass.

The loss is the negative log-probability of the nine target digits summed
over the answer steps, averaged over the episodes. The shortest path shows
at each answer step the previous action: the optimal planner's with
probability `dagger_beta` (1, teacher forcing, by default), else the
network's own, from the forward pass the loop gives the task before
training (`begin_training`), rolled out on the host before each step
(`episodes.closed_loop`: a forward pass per answer step). It is evaluated
in closed loop, with the network's own actions. `--mode=eval` scores
random graphs of a lesson or a test graph (`test_graphs`): London for
traversal and shortest path, the family tree for inference.
"""

from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from absl import flags
import numpy as np
import tensorflow as tf

from dnc import tasks
from dnc.tasks import base as task_lib
from dnc.tasks.graphs import curriculum
from dnc.tasks.graphs import encoding
from dnc.tasks.graphs import episodes as episodes_lib
from dnc.tasks.graphs import graph as graph_lib
from dnc.tasks.graphs import test_graphs

# The task's flags that a checkpoint records.
TASK_KEYS = (
  'graph_task',
  'batch_size',
  'lesson_eval_size',
  'lesson_threshold',
  'dagger_beta',
)

# What --mode=eval reads (not recorded).
EVAL_DEFAULTS = {
  'eval_graph': 'random',
  'eval_lesson': 0,
  'eval_episodes': 1000,
  'eval_path_steps': 0,
  'eval_batch_size': 64,
  'eval_seed': 0,
  'london_dir': '',
}

# The paper's test questions: seven-step traversals and four-step shortest
# paths of London, four-step relations of the family tree.
TEST_STEPS = {'traversal': 7, 'shortest_path': 4, 'inference': 4}
TEST_GRAPHS = {
  'traversal': 'london',
  'shortest_path': 'london',
  'inference': 'family',
}

# Streams of the generators seeded by (seed, stream, step).
_TRAIN, _LESSON, _EVAL = range(3)


def _grouped(logits: tf.Tensor) -> tf.Tensor:
  """`[..., 90]` as nine softmaxes' logits `[..., 9, 10]`."""
  shape = tf.concat([tf.shape(logits)[:-1], [encoding.TARGET_DIGITS, 10]], 0)
  return tf.reshape(logits, shape)


def answer_loss(
  logits: tf.Tensor, target: tf.Tensor, mask: tf.Tensor
) -> tf.Tensor:
  """The nine digits' negative log-probability, summed over the answer
  steps, averaged over the episodes.

  Args:
    logits: `[T, B, 90]`.
    target: int `[T, B, 9]`.
    mask: `[T, B]`, 1 at answer steps.
  """
  mask = tf.cast(mask, logits.dtype)
  nats = tf.nn.sparse_softmax_cross_entropy_with_logits(
    labels=tf.cast(target, tf.int32), logits=_grouped(logits)
  )
  per_episode = tf.reduce_sum(tf.reduce_sum(nats, -1) * mask, 0)
  return tf.reduce_mean(per_episode)


def solved_episodes(
  logits: tf.Tensor, target: tf.Tensor, mask: tf.Tensor
) -> tf.Tensor:
  """float `[B]`: 1 where every answer step's nine digits are right."""
  predicted = tf.argmax(_grouped(logits), -1, output_type=tf.int32)
  right = tf.reduce_all(tf.equal(predicted, tf.cast(target, tf.int32)), -1)
  right = tf.logical_or(right, tf.equal(mask, 0))
  return tf.cast(tf.reduce_all(right, 0), tf.float32)


def _describe(lesson: curriculum.Lesson) -> str:
  def span(r):
    return f'{r[0]}' if r[0] == r[1] else f'{r[0]}-{r[1]}'

  steps = span(lesson.steps)
  return (
    f'{span(lesson.nodes)} nodes, {span(lesson.degrees)} edges out, '
    f'{steps} step{"" if steps == "1" else "s"}'
  )


@tasks.register('graphs')
class GraphTask(task_lib.Task):
  """Traversal, shortest path or inference on random graphs, by lessons."""

  in_graph = False
  eval_may_differ = (
    'batch_size',
    'lesson_eval_size',
    'lesson_threshold',
    'dagger_beta',
  )
  warm_start_may_differ = eval_may_differ
  metric_names = ('solved', 'episodes')

  def __init__(self, config: Mapping[str, Any], seed: int | None = 0):
    """Builds the task.

    Args:
      config: `TASK_KEYS` (`lesson_threshold` None: the paper's, see
        `curriculum.THRESHOLD`; `dagger_beta` the probability of the
        planner's action as the shortest path's input in training), and
        optionally `EVAL_DEFAULTS`' keys.
      seed: seeds every batch and lesson evaluation (with the step); None:
        drawn once, and checkpointed like the lesson.

    Raises:
      TaskError: a bad task name or evaluation option, naming the flag.
    """
    self._config = {key: config[key] for key in TASK_KEYS}
    self._options = {k: config.get(k, v) for k, v in EVAL_DEFAULTS.items()}
    self.graph_task = self._config['graph_task']
    if self.graph_task not in episodes_lib.TASKS:
      raise task_lib.TaskError(
        f'--task={self.graph_task}: expected one of {episodes_lib.TASKS}.'
      )
    self.lessons = curriculum.LESSONS[self.graph_task]
    threshold = self._config['lesson_threshold']
    if threshold is None:
      threshold = curriculum.THRESHOLD[self.graph_task]
    if not 0 <= threshold <= 1:
      raise task_lib.TaskError(
        f'--lesson_threshold={threshold}: expected a share in [0, 1].'
      )
    self.threshold = threshold
    beta = self._config['dagger_beta']
    if not 0 <= beta <= 1:
      raise task_lib.TaskError(
        f'--dagger_beta={beta}: expected a probability in [0, 1].'
      )
    self._check_options()
    self._logits_of = None
    if seed is None:
      seed = int(np.random.SeedSequence().entropy % 2**31)
    # The current lesson (0-based) and the seed: checkpointed, so that a
    # resumed run goes on at the lesson with the batches it would have had.
    self.lesson = tf.Variable(0, dtype=tf.int64, name='lesson')
    self.seed = tf.Variable(seed, dtype=tf.int64, name='graph_seed')
    self._next_step = 0

  def _check_options(self) -> None:
    o = self._options
    graphs = ('random', TEST_GRAPHS[self.graph_task])
    if o['eval_graph'] not in graphs:
      raise task_lib.TaskError(
        f'--eval_graph={o["eval_graph"]}: the {self.graph_task} task is '
        f'evaluated on one of {graphs}.'
      )
    if not 0 <= o['eval_lesson'] <= len(self.lessons):
      raise task_lib.TaskError(
        f'--eval_lesson={o["eval_lesson"]}: expected 1..{len(self.lessons)} '
        '(0: the last).'
      )
    for name in ('eval_episodes', 'eval_batch_size'):
      if o[name] < 1:
        raise task_lib.TaskError(f'--{name}={o[name]}: expected >= 1.')
    if o['eval_path_steps'] < 0:
      raise task_lib.TaskError(
        f'--eval_path_steps={o["eval_path_steps"]}: expected >= 1 (0: the '
        "paper's)."
      )
    steps, lengths = o['eval_path_steps'], graph_lib.RELATION_LENGTHS
    if self.graph_task == 'inference' and steps and steps not in lengths:
      raise task_lib.TaskError(
        f'--eval_path_steps={o["eval_path_steps"]}: the relations have '
        f"{lengths[0]} to {lengths[-1]} edges (0: the paper's 4)."
      )

  @property
  def input_size(self) -> int:
    return encoding.INPUT_SIZE

  @property
  def output_size(self) -> int:
    return encoding.OUTPUT_SIZE

  def config(self) -> dict[str, Any]:
    return dict(self._config)

  def _rng(self, stream: int, step: int) -> np.random.Generator:
    return np.random.default_rng([int(self.seed.numpy()), stream, step])

  def begin_training(self, logits_of: Callable[[Any], Any]) -> None:
    """Keeps the forward pass, for the shortest path's own actions."""
    self._logits_of = logits_of

  def batch(self) -> task_lib.DatasetTensors:
    rng = self._rng(_TRAIN, self._next_step)
    beta = self._config['dagger_beta']
    if self.graph_task == 'shortest_path' and beta < 1:
      batch = self._dagger_batch(rng, beta)
    else:
      batch = task_lib.DatasetTensors(
        *curriculum.training_batch(
          self.graph_task,
          int(self.lesson.numpy()),
          rng,
          self._config['batch_size'],
        )
      )
    self._next_step += 1
    return batch

  def _dagger_batch(
    self, rng: np.random.Generator, beta: float
  ) -> task_lib.DatasetTensors:
    """A shortest-path batch whose answer steps show the actions of the
    network (the planner's with probability `beta`) and target the
    planner's from the nodes they reach."""
    if self._logits_of is None:
      raise task_lib.TaskError(
        f"--dagger_beta={beta}: the network's own actions need its forward "
        'pass before training (Task.begin_training).'
      )
    lesson = self.lessons[int(self.lesson.numpy())]
    questions = [
      curriculum.draw(self.graph_task, lesson, rng).question
      for _ in range(self._config['batch_size'])
    ]
    rollout = episodes_lib.closed_loop(
      self._logits_of,
      rng,
      questions,
      beta=beta,
      length=curriculum.max_length(self.graph_task, lesson),
    )
    return task_lib.DatasetTensors(rollout.inputs, rollout.target, rollout.mask)

  def cost(self, logits, target, mask) -> tf.Tensor:
    return answer_loss(logits, target, mask)

  def step_metrics(self, logits, target, mask) -> dict[str, tf.Tensor]:
    solved = solved_episodes(logits, target, mask)
    return {
      'solved': tf.reduce_sum(solved),
      'episodes': tf.cast(tf.size(solved), tf.float32),
    }

  def probabilities(self, logits: tf.Tensor) -> tf.Tensor:
    """Each of the nine digits' softmax, `[..., 90]`."""
    return tf.reshape(tf.nn.softmax(_grouped(logits)), tf.shape(logits))

  def trackables(self) -> dict[str, Any]:
    return {'lesson': self.lesson, 'graph_seed': self.seed}

  def warm_start_trackables(self) -> dict[str, Any]:
    # A run warm started from a pretrained model goes on at its lesson; the
    # seed is the new run's, so its batches are new.
    return {'lesson': self.lesson}

  def after_restore(self, step: int) -> None:
    self._next_step = step

  def score(
    self,
    logits_of: Callable[[Any], Any],
    drawn: list[curriculum.Drawn],
    rng: np.random.Generator,
    length: int | None = None,
  ) -> tuple[np.ndarray, np.ndarray | None]:
    """Scores episodes in one batch.

    Args:
      logits_of: from inputs `[T, B, 92]` to logits `[T, B, 90]`.
      drawn: the episodes (with their questions, for the shortest path).
      rng: draws the order of the shortest path's descriptions (its
        episodes are laid out as the closed loop runs).
      length: the batch's T (None: the longest episode's).

    Returns:
      bool `[B]`, solved; and for the shortest path, the closed-loop
      paths' lengths `[B]` (-1: the destination not reached), else None.
    """
    if self.graph_task == 'shortest_path':
      questions = [d.question for d in drawn]
      lengths = episodes_lib.closed_loop(
        logits_of, rng, questions, length=length
      ).lengths
      steps = np.asarray([q.steps for q in questions])
      return lengths == steps, lengths
    inputs, target, mask = encoding.stack([d.episode for d in drawn], length)
    logits = np.asarray(logits_of(inputs))
    return encoding.solved(logits, target, mask), None

  def evaluate_lesson(
    self,
    logits_of: Callable[[Any], Any],
    index: int,
    rng: np.random.Generator,
    size: int,
  ) -> float:
    """The share of a batch of lesson `index` (0-based) that passes: solved,
    or for the shortest path at most one step longer than the shortest."""
    lesson = self.lessons[index]
    drawn = [curriculum.draw(self.graph_task, lesson, rng) for _ in range(size)]
    solved, lengths = self.score(
      logits_of, drawn, rng, curriculum.max_length(self.graph_task, lesson)
    )
    if lengths is None:
      return float(np.mean(solved))
    steps = np.asarray([d.question.steps for d in drawn])
    return float(np.mean((lengths >= 0) & (lengths <= steps + 1)))

  def report(self, report: task_lib.Report) -> str:
    """The interval's loss and solved share, the lesson, and the lesson's
    evaluation, which moves to the next lesson when it passes."""
    index = int(self.lesson.numpy())
    solved = report.sums['solved'] / max(report.sums['episodes'], 1)
    forced = ''
    if self.graph_task == 'shortest_path':
      beta = self._config['dagger_beta']
      forced = ' (teacher-forced)' if beta == 1 else f' (DAgger, beta {beta:g})'
    lines = [
      f'{report.step}: Avg training loss {report.loss:f}, '
      f'{100 * solved:.1f}% of training episodes solved{forced}, lesson '
      f'{index + 1}/{len(self.lessons)} ({_describe(self.lessons[index])}), '
      f'{report.steps_per_second:.2f} steps/s.'
    ]
    if report.logits_of is not None:
      rate = self.evaluate_lesson(
        report.logits_of,
        index,
        self._rng(_LESSON, report.step),
        self._config['lesson_eval_size'],
      )
      passed = rate >= self.threshold
      line = (
        f'{report.step}: lesson {index + 1} evaluation: {100 * rate:.1f}% '
        f'{"passed" if passed else "below"} (threshold '
        f'{100 * self.threshold:.0f}%)'
      )
      if passed and index + 1 < len(self.lessons):
        self.lesson.assign(index + 1)
        line += f'; lesson {index + 2} ({_describe(self.lessons[index + 1])}).'
      elif passed:
        line += '; the last lesson.'
      else:
        line += '.'
      lines.append(line)
    return '\n'.join(lines)

  def readable(self, batch, logits) -> str:
    """The first episode's answer triples: predicted, and the targets."""
    mask = np.asarray(batch.mask)[:, 0]
    steps = np.flatnonzero(mask)
    predicted = encoding.predicted_triples(np.asarray(logits)[steps, 0])
    target = encoding.triples_of_digits(np.asarray(batch.target)[steps, 0])
    return '  '.join(
      f'({" ".join(map(str, p))})'
      + ('' if np.array_equal(p, t) else f' [not ({" ".join(map(str, t))})]')
      for p, t in zip(predicted, target, strict=True)
    )

  def _test_episodes(
    self, rng: np.random.Generator, o: Mapping[str, Any]
  ) -> tuple[list, str]:
    """The episodes of `o['eval_graph']` (and the other `EVAL_DEFAULTS`
    keys of `o`) and what they are, for the text."""
    steps = o['eval_path_steps'] or TEST_STEPS[self.graph_task]
    if o['eval_graph'] == 'random':
      index = (o['eval_lesson'] or len(self.lessons)) - 1
      lesson = self.lessons[index]
      drawn = [
        curriculum.draw(self.graph_task, lesson, rng)
        for _ in range(o['eval_episodes'])
      ]
      return drawn, (
        f'random graphs of lesson {index + 1} ({_describe(lesson)})'
      )
    if o['eval_graph'] == 'family':
      graph = test_graphs.family_tree()
      ends = graph_lib.relation_ends(graph, steps)
      drawn = []
      for index, start in np.argwhere(ends >= 0):
        # New node labels for each episode; the edge labels stay 0-5.
        g = graph_lib.relabel(graph, rng, edges=False)
        relation = graph_lib.relation_label(steps, int(index))
        episode = episodes_lib.inference(
          rng, g, int(start), relation, int(ends[index, start])
        )
        drawn.append(curriculum.Drawn(episode, None))
      return drawn, (
        f'the family tree ({graph.num_nodes} people): every {steps}-edge '
        'relation with one answer'
      )
    if not o['london_dir']:
      raise task_lib.TaskError(
        '--london_dir: --eval_graph=london needs the directory of '
        'stations.csv, connections.csv and lines.csv.'
      )
    try:
      graph = test_graphs.london(o['london_dir'])
    except test_graphs.DataError as e:
      raise task_lib.TaskError(f'--london_dir: {e}') from e
    name = f'the London Underground ({graph.num_nodes} zone 1 interchanges)'
    drawn = []
    if self.graph_task == 'traversal':
      for _ in range(o['eval_episodes']):
        g = graph_lib.relabel(graph, rng, edges=True)
        start = int(rng.integers(g.num_nodes))
        walk = graph_lib.random_walk(g, rng, start, steps)
        drawn.append(
          curriculum.Drawn(episodes_lib.traversal(rng, g, walk), None)
        )
      return drawn, f'{name}: random {steps}-step traversals'
    distance = graph_lib.distances(graph)
    for source, destination in np.argwhere(distance == steps):
      g = graph_lib.relabel(graph, rng, edges=True)
      question = episodes_lib.Question(
        g, int(source), int(destination), distance
      )
      drawn.append(curriculum.Drawn(None, question))
    return drawn, f'{name}: every {steps}-step shortest path'

  def evaluate(
    self, logits_of: Callable[[Any], tf.Tensor], checkpoint: str, step: int
  ) -> str:
    """The share solved of `--eval_graph`'s episodes (and for the shortest
    path, the share at most one step longer than the shortest)."""
    rng = np.random.default_rng([self._options['eval_seed'], _EVAL])
    drawn, name = self._test_episodes(rng, self._options)
    if not drawn:
      raise task_lib.TaskError(
        f'--eval_path_steps: no {self.graph_task} question on {name}.'
      )
    solved, lengths = [], []
    size = self._options['eval_batch_size']
    for start in range(0, len(drawn), size):
      s, n = self.score(logits_of, drawn[start : start + size], rng)
      solved.append(s)
      lengths.append(n)
    solved = np.concatenate(solved)
    text = (
      f'Evaluated {checkpoint} (step {step}) on {len(drawn)} episodes of '
      f'{name}: {100 * np.mean(solved):.1f}% solved'
    )
    if self.graph_task == 'shortest_path':
      lengths = np.concatenate(lengths)
      steps = np.asarray([d.question.steps for d in drawn])
      near = np.mean((lengths >= 0) & (lengths <= steps + 1))
      text += f', {100 * near:.1f}% at most one step longer than the shortest'
    return text + '.'

  @classmethod
  def define_example_flags(cls) -> None:
    flags.DEFINE_enum(
      'graph',
      'random',
      ['random', 'london', 'family'],
      'Graph runs: draw an episode of a random graph of --lesson, or of the '
      "task's test graph (london: traversal and shortest path; family: "
      'inference).',
    )
    flags.DEFINE_integer(
      'lesson',
      0,
      'Graph runs, --graph=random: the lesson, from 1 (0: the one the model '
      'is at).',
      lower_bound=0,
    )
    flags.DEFINE_string(
      'london_dir',
      None,
      'Graph runs, --graph=london: the directory of stations.csv, '
      'connections.csv and lines.csv.',
    )
    flags.DEFINE_integer(
      'path_steps',
      0,
      "Graph runs, a test graph: the path's or relation's steps (0: the "
      "paper's: " + ', '.join(f'{k} {v}' for k, v in TEST_STEPS.items()) + ').',
      lower_bound=0,
    )

  def draw_example(self, core, path, options, title) -> str:
    """Draws one episode of `--graph` (seeded by `--seed`; of the shortest
    path, run in closed loop as evaluated) with the memory."""
    # Imported here: drawing needs matplotlib, training does not.
    from dnc.tasks.graphs import picture
    from dnc.tools import visualize

    graph = options.get('graph') or 'random'
    lesson = options.get('lesson') or int(self.lesson.numpy()) + 1
    steps = options.get('path_steps') or 0
    if graph not in ('random', TEST_GRAPHS[self.graph_task]):
      raise task_lib.TaskError(
        f'--graph={graph}: the {self.graph_task} task draws random graphs '
        f'or {TEST_GRAPHS[self.graph_task]}.'
      )
    if lesson > len(self.lessons):
      raise task_lib.TaskError(
        f"--lesson={lesson}: expected 1..{len(self.lessons)} (0: the model's)."
      )
    lengths = graph_lib.RELATION_LENGTHS
    if self.graph_task == 'inference' and steps and steps not in lengths:
      raise task_lib.TaskError(
        f'--path_steps={steps}: the relations have {lengths[0]} to '
        f"{lengths[-1]} edges (0: the paper's 4)."
      )
    rng = np.random.default_rng([options.get('seed') or 0, _EVAL])
    drawn, name = self._test_episodes(
      rng,
      dict(
        self._options,
        eval_graph=graph,
        eval_lesson=lesson,
        eval_episodes=1,
        eval_path_steps=steps,
        london_dir=options.get('london_dir') or '',
      ),
    )
    if not drawn:
      raise task_lib.TaskError(
        f'--path_steps={steps}: no {self.graph_task} question on {name}.'
      )
    chosen = drawn[int(rng.integers(len(drawn)))]

    def logits_of(inputs):
      return visualize.unroll_with_internals(core, tf.constant(inputs))[0]

    if self.graph_task == 'shortest_path':
      rollout = episodes_lib.closed_loop(logits_of, rng, [chosen.question])
      inputs, target, mask = rollout.inputs, rollout.target, rollout.mask
    else:
      inputs, target, mask = encoding.stack([chosen.episode])
    logits, steps_out = tf.function(
      visualize.unroll_with_internals, autograph=False
    )(core, tf.constant(inputs))
    return picture.plot_episode(
      inputs[:, 0],
      target[:, 0],
      mask[:, 0],
      logits.numpy()[:, 0],
      {key: value.numpy()[:, 0] for key, value in steps_out.items()},
      path,
      f'{title}\n{self.graph_task}: {name}',
    )

  def prediction_batch(
    self, data_dir: str | None = None
  ) -> task_lib.DatasetTensors:
    """Four seeded episodes of the first lesson, with their targets."""
    del data_dir
    rng = np.random.default_rng(0)
    episodes = [
      curriculum.draw(self.graph_task, self.lessons[0], rng).episode
      for _ in range(4)
    ]
    return task_lib.DatasetTensors(*encoding.stack(episodes))

  @classmethod
  def from_config(cls, config: Mapping[str, Any]) -> 'GraphTask':
    return cls(config)
