"""The three graph tasks' episodes, from a graph and a question about it.

As in the Methods of Graves et al. (2016), "Graph task descriptions"; the
description phase shows every triple of the graph in random order, then:

- traversal: the query gives (source, edge, _) and then (_, edge, _) for
  each further edge of a path; the answer phase shows nothing, and its
  targets are the path's complete triples;
- shortest path: the query is (source, _, destination); after 10 planning
  steps the network emits a path one triple a step, each answer step
  showing the previous action and targeting the optimal planner's next
  one. The previous action is the planner's with probability beta, else
  the network's own, its output renormalised over the current node's
  outgoing triples (`closed_loop`, as in the Methods' "Structured
  prediction", after DAgger); beta = 1 is teacher forcing (`shortest_path`
  with the planner's path), beta = 0 is evaluation;
- inference: the query is (start, relation, _); after 10 planning steps,
  one answer step targets (start, relation, end).
"""

from collections.abc import Callable
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from dnc.tasks.graphs import encoding
from dnc.tasks.graphs import graph as graph_lib

TASKS = ('traversal', 'shortest_path', 'inference')
PLANNING_STEPS = 10
U = encoding.UNSPECIFIED


def check_task(task: str) -> str:
  if task not in TASKS:
    raise ValueError(f'`task` must be one of {TASKS}, got {task!r}.')
  return task


def _description(
  rng: np.random.Generator, graph: graph_lib.Graph
) -> np.ndarray:
  return graph.triples()[rng.permutation(len(graph.edges))]


def traversal(
  rng: np.random.Generator, graph: graph_lib.Graph, walk: np.ndarray
) -> encoding.Episode:
  """A traversal episode of a walk (edge indices `[L]`, L >= 1)."""
  path = graph.triples(walk)
  query = np.full_like(path, U)
  query[:, 1] = path[:, 1]
  query[0, 0] = path[0, 0]
  return encoding.episode(
    _description(rng, graph), query, 0, np.full_like(path, U), path
  )


def shortest_path(
  rng: np.random.Generator,
  graph: graph_lib.Graph,
  source: int,
  destination: int,
  path: np.ndarray | None,
  answer_steps: int | None = None,
) -> encoding.Episode:
  """A shortest-path episode.

  Args:
    rng: draws the description's order.
    graph: the graph.
    source, destination: node indices.
    path: the planner's path (edge indices), the targets, each answer step
      after the first showing its previous triple (teacher forcing); None
      for an episode without targets, all answer inputs unspecified, that
      `closed_loop` fills in.
    answer_steps: the answer phase's length when `path` is None.
  """
  labels = graph.node_labels
  query = [(labels[source], U, labels[destination])]
  if path is None:
    answer_inputs, answers = np.full((answer_steps, 3), U), None
  else:
    answers = graph.triples(path)
    answer_inputs = np.concatenate([np.full((1, 3), U), answers[:-1]])
  return encoding.episode(
    _description(rng, graph), query, PLANNING_STEPS, answer_inputs, answers
  )


def inference(
  rng: np.random.Generator,
  graph: graph_lib.Graph,
  start: int,
  relation: int,
  end: int,
) -> encoding.Episode:
  """An inference episode: relation label `relation` (10-409) leads from
  node `start` to node `end`."""
  labels = graph.node_labels
  answer = [(labels[start], relation, labels[end])]
  query = [(labels[start], relation, U)]
  return encoding.episode(
    _description(rng, graph), query, PLANNING_STEPS, np.full((1, 3), U), answer
  )


class Question(NamedTuple):
  """What a shortest-path episode asks, for `closed_loop`.

  Attributes:
    graph: the graph.
    source, destination: node indices.
    distance: `graph_lib.distances(graph)`.
  """

  graph: graph_lib.Graph
  source: int
  destination: int
  distance: np.ndarray

  @property
  def steps(self) -> int:
    """The shortest path's length."""
    return int(self.distance[self.source, self.destination])


class Rollout(NamedTuple):
  """The paths of `closed_loop`, and the episodes that ran them.

  Attributes:
    lengths: int `[B]`, each path's length in edges when it reached the
      destination, else -1.
    inputs: float32 `[T, B, 92]`, the episodes with the actions taken shown
      at the answer steps.
    target: int32 `[T, B, 9]`: at each answer step taken, the digits of the
      optimal planner's action from the node reached (DAgger's label).
    mask: float32 `[T, B]`, 1 at the answer steps taken from a node that
      still reaches the destination.
  """

  lengths: np.ndarray
  inputs: np.ndarray
  target: np.ndarray
  mask: np.ndarray


def closed_loop(
  logits_of: Callable[[np.ndarray], np.ndarray] | None,
  rng: np.random.Generator,
  questions: Sequence[Question],
  extra_steps: int = 1,
  beta: float = 0.0,
  length: int | None = None,
) -> Rollout:
  """The paths a network emits, each action fed back as the next input.

  At each answer step, the optimal planner draws its action among the
  shortest paths' next edges from the current node: that is the step's
  target. The action taken is the network's own, its output renormalised
  over the current node's outgoing triples (the most probable of them),
  or with probability `beta` the planner's (DAgger's mixture: 0 in
  evaluation, 1 for teacher forcing). It moves to its destination and is
  the next step's input. A path ends at the destination, where the
  destination cannot be reached any more, or after the shortest length
  plus `extra_steps`.

  Args:
    logits_of: from inputs `[T, B, 92]` to logits `[T, B, 90]` (numpy or
      tensors); causal, so that a step's output depends only on inputs up
      to it (each call re-reads the episodes with the actions so far). Not
      called (may be None) when `beta` is 1.
    rng: draws the descriptions' order, the planner's actions and the
      mixture.
    questions: B shortest-path questions.
    extra_steps: answer steps beyond the shortest length.
    beta: the probability of the planner's action at each step.
    length: the batch's T, at least its longest episode's (None: that).

  Returns:
    The paths' lengths and the episodes with their DAgger targets.
  """
  if not 0 <= beta <= 1:
    raise ValueError(f'`beta` must be in [0, 1], got {beta}.')
  episodes = [
    shortest_path(
      rng, q.graph, q.source, q.destination, None, q.steps + extra_steps
    )
    for q in questions
  ]
  inputs, target, mask = encoding.stack(episodes, length)
  mask[:] = 0
  nodes = [q.source for q in questions]
  lengths = np.full(len(questions), -1, np.int64)
  ended = np.zeros(len(questions), bool)
  for step in range(max(q.steps for q in questions) + extra_steps):
    active = [
      b
      for b, q in enumerate(questions)
      if not ended[b] and step < q.steps + extra_steps
    ]
    if not active:
      break
    logits = None if beta == 1 else np.asarray(logits_of(inputs))
    for b in active:
      q, t = questions[b], episodes[b].answer_start + step
      node = nodes[b]
      if q.distance[node, q.destination] < 0:
        ended[b] = True  # Lost: no action is optimal any more.
        continue
      planned = int(
        rng.choice(
          graph_lib.optimal_edges(q.graph, node, q.destination, q.distance)
        )
      )
      target[t, b] = encoding.target_digits(q.graph.triples([planned]))[0]
      mask[t, b] = 1
      if logits is None or rng.random() < beta:
        edge = planned
      else:
        out = q.graph.outgoing(node)
        scores = encoding.triple_log_probabilities(
          logits[t, b], q.graph.triples(out)
        )
        edge = int(out[int(np.argmax(scores))])
      nodes[b] = int(q.graph.edges[edge, 2])
      if nodes[b] == q.destination:
        lengths[b], ended[b] = step + 1, True
      elif t + 1 < len(episodes[b].mask):
        inputs[t + 1, b, : encoding.TRIPLE_SIZE] = encoding.encode_triples(
          q.graph.triples([edge])[0]
        )
  return Rollout(lengths, inputs, target, mask)
