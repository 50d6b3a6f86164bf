"""Labelled directed graphs: random ones, walks, shortest paths, relations.

As in the Methods of Graves et al. (2016), "Random graph generation": the
nodes are points drawn uniformly in the unit square; each node's K nearest
neighbours are its outbound edges, K drawn uniformly per node from a range;
node labels are drawn from 0-999 (distinct). For traversal and shortest
path, N numbers are drawn from 0-999 and each node's outbound edges take
distinct labels among them: unique per node, not across the graph. For
inference, edge labels are 0-9 (here drawn per edge, so that a node may
have two edges of one label, as a parent has two sons in a family tree).

Inference asks for relations: relation label 10 + i stands for a fixed
random sequence of 2 to 5 edge labels (100 per length, the same for every
run, `RELATIONS`), never shown to the network. Following a relation from a
node goes through every edge of each label in turn; a query is only asked
where that ends at exactly one node.

Numpy only; randomness from a `np.random.Generator` the caller seeds.
"""

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from dnc.tasks.graphs import encoding

# Edge labels of the inference task, and the relations' labels after them.
INFERENCE_EDGE_LABELS = 10
RELATION_LENGTHS = (2, 3, 4, 5)
RELATIONS_PER_LENGTH = 100
# Seeds the relations' sequences: fixed for all runs.
RELATION_SEED = 20161027


class Graph(NamedTuple):
  """A directed graph with labelled nodes and edges.

  Attributes:
    node_labels: int `[N]`, distinct, 0-999.
    edges: int `[E, 3]`: the source node's index, the edge's label (0-999)
      and the destination node's index.
    node_names: optional names of the nodes, `[N]` (test graphs).
    edge_names: optional names of the edge labels, by label (test graphs).
  """

  node_labels: np.ndarray
  edges: np.ndarray
  node_names: tuple[str, ...] = ()
  edge_names: dict[int, str] | None = None

  @property
  def num_nodes(self) -> int:
    return len(self.node_labels)

  def triples(self, edge_indices: Sequence[int] | None = None) -> np.ndarray:
    """The (source, edge, destination) labels `[K, 3]` of edges (all: E)."""
    edges = self.edges if edge_indices is None else self.edges[edge_indices]
    edges = np.asarray(edges).reshape(-1, 3)
    return np.stack(
      [
        self.node_labels[edges[:, 0]],
        edges[:, 1],
        self.node_labels[edges[:, 2]],
      ],
      -1,
    )

  def outgoing(self, node: int) -> np.ndarray:
    """The indices of the edges out of `node`."""
    return np.flatnonzero(self.edges[:, 0] == node)


def random_graph(
  rng: np.random.Generator,
  num_nodes: int,
  degrees: tuple[int, int],
  inference: bool = False,
) -> Graph:
  """A random graph of the Methods' "Random graph generation".

  Args:
    rng: the generator.
    num_nodes: N >= 2.
    degrees: (lo, hi), 1 <= lo <= hi: each node's outbound edges K are
      drawn uniformly from lo..hi (at most N - 1) and go to its K nearest
      nodes.
    inference: edge labels 0-9 per edge; else unique per node, from N
      numbers drawn from 0-999.

  Returns:
    The graph, its edges by source node.
  """
  lo, hi = degrees
  if num_nodes < 2:
    raise ValueError(f'`num_nodes` must be >= 2, got {num_nodes}.')
  if not 1 <= lo <= hi:
    raise ValueError(f'`degrees` must be (lo, hi), 1 <= lo <= hi: {degrees}.')
  points = rng.random((num_nodes, 2))
  distances = np.linalg.norm(points[:, None] - points[None], axis=-1)
  np.fill_diagonal(distances, np.inf)
  nearest = np.argsort(distances, axis=1, kind='stable')
  ks = np.minimum(rng.integers(lo, hi + 1, size=num_nodes), num_nodes - 1)
  pool = rng.choice(encoding.NUM_LABELS, num_nodes, replace=False)
  edges = []
  for node, k in enumerate(ks):
    if inference:
      labels = rng.integers(INFERENCE_EDGE_LABELS, size=k)
    else:
      labels = rng.choice(pool, k, replace=False)
    edges += [
      (node, label, dst)
      for label, dst in zip(labels, nearest[node, :k], strict=True)
    ]
  node_labels = rng.choice(encoding.NUM_LABELS, num_nodes, replace=False)
  return Graph(node_labels, np.asarray(edges, np.int64).reshape(-1, 3))


def relabel(graph: Graph, rng: np.random.Generator, edges: bool) -> Graph:
  """The graph with new distinct node labels, and if `edges`, each edge
  label mapped to a new one (distinct labels stay distinct)."""
  node_labels = rng.choice(encoding.NUM_LABELS, graph.num_nodes, replace=False)
  new_edges = graph.edges.copy()
  names = graph.edge_names
  if edges:
    old = np.unique(graph.edges[:, 1])
    new = rng.choice(encoding.NUM_LABELS, len(old), replace=False)
    new_edges[:, 1] = new[np.searchsorted(old, graph.edges[:, 1])]
    if names is not None:
      names = {int(n): names[int(o)] for o, n in zip(old, new, strict=True)}
  return graph._replace(
    node_labels=node_labels, edges=new_edges, edge_names=names
  )


def adjacency(graph: Graph) -> np.ndarray:
  """bool `[N, N]`: whether an edge goes from i to j."""
  a = np.zeros((graph.num_nodes,) * 2, bool)
  a[graph.edges[:, 0], graph.edges[:, 2]] = True
  return a


def distances(graph: Graph) -> np.ndarray:
  """int `[N, N]`: the fewest edges from i to j; -1 where j is unreachable.

  Breadth-first from every node at once (boolean matrix products).
  """
  a = adjacency(graph).astype(np.int64)
  n = graph.num_nodes
  result = np.full((n, n), -1, np.int64)
  frontier = np.eye(n, dtype=bool)
  result[frontier] = 0
  for d in range(1, n):
    frontier = ((frontier.astype(np.int64) @ a) > 0) & (result < 0)
    if not frontier.any():
      break
    result[frontier] = d
  return result


def random_walk(
  graph: Graph, rng: np.random.Generator, start: int, steps: int
) -> np.ndarray:
  """The edge indices `[steps]` of a random walk from `start`, each edge
  drawn uniformly among the current node's outgoing ones."""
  walk, node = [], start
  for _ in range(steps):
    out = graph.outgoing(node)
    if not len(out):
      raise ValueError(f'Node {node} has no outgoing edge to walk on.')
    edge = int(rng.choice(out))
    walk.append(edge)
    node = int(graph.edges[edge, 2])
  return np.asarray(walk, np.int64)


def optimal_edges(
  graph: Graph, node: int, destination: int, distance: np.ndarray
) -> np.ndarray:
  """The edges out of `node` on a shortest path to `destination`.

  Args:
    graph: the graph.
    node, destination: node indices, the destination reachable.
    distance: `distances(graph)`.
  """
  out = graph.outgoing(node)
  ahead = distance[graph.edges[out, 2], destination]
  return out[(ahead >= 0) & (ahead == distance[node, destination] - 1)]


def planner_path(
  graph: Graph,
  rng: np.random.Generator,
  source: int,
  destination: int,
  distance: np.ndarray,
) -> np.ndarray:
  """The optimal planner's path: edge indices of a shortest path, each
  drawn uniformly among the optimal edges of the node reached."""
  if distance[source, destination] < 0:
    raise ValueError(f'Node {destination} is unreachable from {source}.')
  path, node = [], source
  while node != destination:
    edge = int(rng.choice(optimal_edges(graph, node, destination, distance)))
    path.append(edge)
    node = int(graph.edges[edge, 2])
  return np.asarray(path, np.int64)


def _relations() -> tuple[np.ndarray, ...]:
  """By length, the relations' edge-label sequences `[100, length]`."""
  rng = np.random.default_rng(RELATION_SEED)
  tables = []
  for length in RELATION_LENGTHS:
    # Distinct sequences: drawn without replacement among all of them.
    codes = rng.choice(
      INFERENCE_EDGE_LABELS**length, RELATIONS_PER_LENGTH, replace=False
    )
    powers = INFERENCE_EDGE_LABELS ** np.arange(length - 1, -1, -1)
    tables.append(codes[:, None] // powers % INFERENCE_EDGE_LABELS)
  return tuple(tables)


# By length (index 0: length 2), each relation's edge labels.
RELATIONS = _relations()


def relation_label(length: int, index: int) -> int:
  """The label of relation `index` (0-99) of `length` (2-5): 10-409."""
  position = RELATION_LENGTHS.index(length)
  return INFERENCE_EDGE_LABELS + position * RELATIONS_PER_LENGTH + index


def relation_ends(graph: Graph, length: int) -> np.ndarray:
  """Where each relation of `length` leads from each node.

  Args:
    graph: edge labels 0-9.
    length: 2-5.

  Returns:
    int `[100, N]`: the only node reached by following relation i from node
    n, or -1 where none or several are.
  """
  sequences = RELATIONS[RELATION_LENGTHS.index(length)]
  n = graph.num_nodes
  by_label = np.zeros((INFERENCE_EDGE_LABELS, n, n), np.int64)
  labels = graph.edges[:, 1]
  inside = labels < INFERENCE_EDGE_LABELS
  e = graph.edges[inside]
  by_label[e[:, 1], e[:, 0], e[:, 2]] = 1
  reach = by_label[sequences[:, 0]]  # [R, N, N]
  for step in range(1, length):
    reach = (reach @ by_label[sequences[:, step]] > 0).astype(np.int64)
  unique = reach.sum(-1) == 1
  return np.where(unique, np.argmax(reach, -1), -1)
