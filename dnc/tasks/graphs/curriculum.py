"""The lessons of each graph task, and batches drawn from them.

As in the Methods of Graves et al. (2016), "Curriculum learning": lessons
grow the number of nodes, the outgoing edges per node and the steps asked
(the traversal's path, the shortest path's length, the relation's number
of edges). For traversal and inference, 10% of a batch's episodes come from
earlier lessons. A lesson is complete when 90% of a batch evaluated on it
is solved; for the shortest path, when 80% of the paths the network emits
(`episodes.closed_loop`) are at most one step longer than the shortest.

The paper's lessons are in its Extended Data Tables 3-5, which we could
not read; the tables below are our own choice (docs/graphs.md says why):
small graphs and one-step questions first, ending past the test graphs (the
London Underground's 40 zone 1 interchange stations, out-degree 2-10, mean
5; the family tree's 33 people).
"""

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from dnc.tasks.graphs import encoding
from dnc.tasks.graphs import episodes as episodes_lib
from dnc.tasks.graphs import graph as graph_lib


class Lesson(NamedTuple):
  """Ranges (inclusive) each episode's values are drawn uniformly from.

  Attributes:
    nodes: the graph's nodes.
    degrees: each node's outgoing edges (at most nodes - 1).
    steps: traversal: the walk's edges; shortest path: the shortest
      path's; inference: the relation's.
  """

  nodes: tuple[int, int]
  degrees: tuple[int, int]
  steps: tuple[int, int]


LESSONS: Mapping[str, tuple[Lesson, ...]] = {
  'traversal': (
    Lesson((3, 5), (1, 2), (1, 1)),
    Lesson((5, 8), (1, 3), (1, 2)),
    Lesson((8, 12), (2, 3), (1, 3)),
    Lesson((10, 15), (2, 4), (2, 4)),
    Lesson((15, 20), (2, 4), (3, 5)),
    Lesson((20, 25), (2, 5), (3, 6)),
    Lesson((25, 30), (3, 5), (4, 7)),
    Lesson((30, 35), (3, 6), (5, 8)),
    Lesson((35, 45), (3, 7), (5, 10)),
  ),
  'shortest_path': (
    Lesson((3, 5), (1, 2), (1, 1)),
    Lesson((5, 8), (2, 3), (1, 2)),
    Lesson((8, 12), (2, 3), (1, 3)),
    Lesson((12, 18), (2, 4), (2, 4)),
    Lesson((18, 25), (2, 4), (2, 4)),
    Lesson((25, 35), (3, 5), (2, 5)),
    Lesson((35, 45), (3, 7), (2, 5)),
  ),
  'inference': (
    Lesson((5, 8), (2, 3), (2, 2)),
    Lesson((8, 12), (2, 4), (2, 3)),
    Lesson((12, 18), (2, 4), (2, 4)),
    Lesson((15, 25), (2, 5), (3, 4)),
    Lesson((25, 40), (2, 6), (2, 5)),
  ),
}

# The share of a training batch drawn from earlier lessons, by task.
EARLIER_FRACTION = {'traversal': 0.1, 'shortest_path': 0.0, 'inference': 0.1}
# A lesson is complete when this share of an evaluated batch is solved
# (shortest path: reaches the destination within one step of the shortest).
THRESHOLD = {'traversal': 0.9, 'shortest_path': 0.8, 'inference': 0.9}
# Graphs drawn for one episode before giving up (a lesson asking for
# paths or relations its graphs seldom have).
MAX_TRIES = 100


def lesson_of(task: str, index: int) -> Lesson:
  """Lesson `index` (0-based) of `task`."""
  lessons = LESSONS[episodes_lib.check_task(task)]
  if not 0 <= index < len(lessons):
    raise ValueError(
      f'`index` must be in 0..{len(lessons) - 1} for {task}, got {index}.'
    )
  return lessons[index]


def max_length(task: str, lesson: Lesson) -> int:
  """The steps of the longest episode of a lesson (training or evaluation),
  the length its batches are padded to, so that they share one shape."""
  nodes, degree, steps = lesson.nodes[1], lesson.degrees[1], lesson.steps[1]
  description = nodes * min(degree, nodes - 1)
  if task == 'traversal':
    return description + 2 * steps
  if task == 'shortest_path':
    # The query, planning, and evaluation's one step beyond the shortest.
    return description + 1 + episodes_lib.PLANNING_STEPS + steps + 1
  return description + 1 + episodes_lib.PLANNING_STEPS + 1


class Drawn(NamedTuple):
  """An episode, and for the shortest path the question it asks."""

  episode: encoding.Episode
  question: episodes_lib.Question | None


def draw(task: str, lesson: Lesson, rng: np.random.Generator) -> Drawn:
  """A random episode of a lesson.

  Raises:
    ValueError: `MAX_TRIES` graphs had no question of the steps drawn.
  """
  for _ in range(MAX_TRIES):
    num_nodes = int(rng.integers(lesson.nodes[0], lesson.nodes[1] + 1))
    graph = graph_lib.random_graph(
      rng, num_nodes, lesson.degrees, inference=task == 'inference'
    )
    steps = int(rng.integers(lesson.steps[0], lesson.steps[1] + 1))
    if task == 'traversal':
      start = int(rng.integers(num_nodes))
      walk = graph_lib.random_walk(graph, rng, start, steps)
      return Drawn(episodes_lib.traversal(rng, graph, walk), None)
    if task == 'shortest_path':
      distance = graph_lib.distances(graph)
      pairs = np.argwhere(distance == steps)
      if not len(pairs):
        continue
      source, destination = map(int, pairs[rng.integers(len(pairs))])
      path = graph_lib.planner_path(graph, rng, source, destination, distance)
      question = episodes_lib.Question(graph, source, destination, distance)
      episode = episodes_lib.shortest_path(
        rng, graph, source, destination, path
      )
      return Drawn(episode, question)
    ends = graph_lib.relation_ends(graph, steps)
    valid = np.argwhere(ends >= 0)
    if not len(valid):
      continue
    index, start = map(int, valid[rng.integers(len(valid))])
    relation = graph_lib.relation_label(steps, index)
    episode = episodes_lib.inference(
      rng, graph, start, relation, int(ends[index, start])
    )
    return Drawn(episode, None)
  raise ValueError(
    f'{MAX_TRIES} random graphs of {lesson} had no {task} question of the '
    'steps drawn.'
  )


def lessons_drawn(
  task: str, index: int, rng: np.random.Generator, batch_size: int
) -> np.ndarray:
  """The lesson (0-based) of each episode of a training batch at lesson
  `index`: earlier ones, uniformly, with probability `EARLIER_FRACTION`."""
  earlier = rng.random(batch_size) < EARLIER_FRACTION[task]
  if index == 0:
    earlier[:] = False
  return np.where(earlier, rng.integers(max(index, 1), size=batch_size), index)


def training_batch(
  task: str, index: int, rng: np.random.Generator, batch_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """A training batch at lesson `index`, padded to the lesson's length.

  Returns:
    inputs float32 `[T, B, 92]`, target int32 `[T, B, 9]`, mask float32
    `[T, B]`; T = `max_length(task, lesson_of(task, index))`.
  """
  lesson = lesson_of(task, index)
  drawn = [
    draw(task, lesson_of(task, int(i)), rng).episode
    for i in lessons_drawn(task, index, rng, batch_size)
  ]
  return encoding.stack(drawn, max_length(task, lesson))
