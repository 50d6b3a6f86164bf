"""Tests of dnc.tasks.graphs and train_graphs.py, against plain Python.

The encoding against labels written out digit by digit; the generators
against breadth-first search, degrees, label uniqueness, walks that follow
edges and relations followed edge by edge; the loss and solved share from
logits against numpy; the closed loop against an oracle network; the test
graphs from a few CSV rows the test writes; and one tiny end-to-end run
that trains, resumes at the lesson it reached, warm starts a new run at
that lesson from its pretrained folder and evaluates on London.
"""

import collections
import os
import re
import shutil
import tempfile

from absl.testing import parameterized
import numpy as np
import pytest
import tensorflow as tf

from dnc.tasks import base as task_lib
from dnc.tasks.graphs import curriculum
from dnc.tasks.graphs import encoding
from dnc.tasks.graphs import episodes
from dnc.tasks.graphs import graph as graph_lib
from dnc.tasks.graphs import task as graph_task
from dnc.tasks.graphs import test_graphs
from dnc.tools import pretrained
from dnc.tools import restore
from tests import scripts

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
U = encoding.UNSPECIFIED


def _units(triple) -> list[float]:
  """A triple's 90 input units, written out digit by digit."""
  units = []
  for label in triple:
    for digit in range(3):
      one_hot = [0.0] * 10
      if label != U:
        one_hot[int(f'{label:03d}'[digit])] = 1.0
      units += one_hot
  return units


def _bfs(graph: graph_lib.Graph, source: int) -> dict[int, int]:
  """The fewest edges from `source` to each node it reaches."""
  out = collections.defaultdict(list)
  for s, _, d in graph.edges.tolist():
    out[s].append(d)
  seen, queue = {source: 0}, collections.deque([source])
  while queue:
    node = queue.popleft()
    for nxt in out[node]:
      if nxt not in seen:
        seen[nxt] = seen[node] + 1
        queue.append(nxt)
  return seen


def _follow(graph: graph_lib.Graph, start: int, labels) -> set[int]:
  """The nodes reached from `start` through edges of `labels` in turn."""
  nodes = {start}
  for label in labels:
    nodes = {d for s, e, d in graph.edges.tolist() if s in nodes and e == label}
  return nodes


def _log_softmax(x):
  x = x - x.max(-1, keepdims=True)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))


class EncodingTest(parameterized.TestCase):
  def test_triples_round_trip_against_digits_written_out(self):
    rng = np.random.default_rng(0)
    triples = rng.integers(-1, 1000, size=(5, 7, 3))
    triples[0, 0] = (0, 999, U)
    units = encoding.encode_triples(triples)
    self.assertEqual(units.shape, (5, 7, 90))
    for index in np.ndindex(5, 7):
      self.assertEqual(units[index].tolist(), _units(triples[index].tolist()))
    np.testing.assert_array_equal(encoding.decode_triples(units), triples)
    specified = np.maximum(triples, 0)
    digits = encoding.target_digits(specified)
    for index in np.ndindex(5, 7):
      written = ''.join(f'{x:03d}' for x in specified[index])
      self.assertEqual(digits[index].tolist(), [int(c) for c in written])
    np.testing.assert_array_equal(encoding.triples_of_digits(digits), specified)

  @parameterized.parameters(
    ([[1000, 0, 0]], 'labels in 0..999'),
    ([[1, 2]], 'last axis of 3'),
    ([[1.0, 2.0, 3.0]], 'integers'),
  )
  def test_bad_triples_name_the_argument(self, triples, message):
    with self.assertRaisesRegex(ValueError, f'`triples`.*{message}'):
      encoding.encode_triples(np.asarray(triples))

  def test_decode_refuses_units_that_are_not_one_hot(self):
    units = encoding.encode_triples(np.asarray([[1, 2, 3]]))
    units[0, 5] = 1.0  # Two ones in the source's hundreds.
    with self.assertRaisesRegex(ValueError, '`units`'):
      encoding.decode_triples(units)

  def test_episode_layout(self):
    description = [[1, 2, 3], [3, 4, 5]]
    answers = [[1, 2, 3], [3, 4, 5]]
    e = encoding.episode(description, [[1, U, 5]], 2, [[U] * 3] * 2, answers)
    self.assertEqual(len(e.mask), 2 + 1 + 2 + 2)
    self.assertEqual(e.answer_start, 5)
    self.assertEqual(e.inputs[:, 90].tolist(), [0, 0, 1, 1, 0, 1, 0])
    self.assertEqual(e.inputs[:, 91].tolist(), [0, 0, 0, 0, 0, 1, 1])
    self.assertEqual(e.mask.tolist(), [0, 0, 0, 0, 0, 1, 1])
    self.assertEqual(e.inputs[1, :90].tolist(), _units([3, 4, 5]))
    self.assertEqual(e.inputs[2, :90].tolist(), _units([1, U, 5]))
    self.assertFalse(e.inputs[3:5, :90].any() or e.inputs[5:, :90].any())
    self.assertEqual(e.target[6].tolist(), [0, 0, 3, 0, 0, 4, 0, 0, 5])
    short = encoding.episode([[1, 2, 3]], [[1, U, U]], 0, [[U] * 3], [[1] * 3])
    inputs, target, mask = encoding.stack([e, short], 9)
    self.assertEqual(inputs.shape, (9, 2, 92))
    self.assertEqual(mask[:, 1].tolist(), [0, 0, 1] + [0] * 6)
    self.assertFalse(inputs[3:, 1].any() or target[3:, 1].any())
    self.assertFalse(inputs[7:].any() or target[7:].any() or mask[7:].any())
    with self.assertRaisesRegex(ValueError, '`length` 6'):
      encoding.stack([e], 6)


class LossTest(tf.test.TestCase, parameterized.TestCase):
  def setUp(self):
    super().setUp()
    rng = np.random.default_rng(1)
    self.logits = rng.normal(size=(6, 4, 90)).astype(np.float32) * 3
    self.target = rng.integers(10, size=(6, 4, 9)).astype(np.int32)
    self.mask = np.zeros((6, 4), np.float32)
    self.mask[3:5, :3] = 1
    self.mask[5, 0] = 1
    # Episode 1: its answers are the logits' modes; episode 2 has one
    # digit wrong; episode 3 has no answer step (solved, loss 0).
    modes = self.logits.reshape(6, 4, 9, 10).argmax(-1)
    self.target[:, 1] = modes[:, 1]
    self.target[:, 2] = modes[:, 2]
    self.target[4, 2, 7] = (modes[4, 2, 7] + 1) % 10

  def _oracle(self):
    log_p = _log_softmax(self.logits.astype(np.float64).reshape(6, 4, 9, 10))
    loss, solved = 0.0, []
    for b in range(4):
      right = True
      for t in range(6):
        if self.mask[t, b]:
          for d in range(9):
            loss -= log_p[t, b, d, self.target[t, b, d]]
            right &= int(np.argmax(log_p[t, b, d])) == self.target[t, b, d]
      solved.append(right)
    return loss / 4, solved

  @parameterized.parameters('eager', 'function', 'xla')
  def test_loss_and_solved_against_numpy(self, mode):
    loss, solved = self._oracle()
    self.assertEqual(solved[1:], [True, False, True])

    def metrics(logits, target, mask):
      return (
        graph_task.answer_loss(logits, target, mask),
        graph_task.solved_episodes(logits, target, mask),
      )

    if mode != 'eager':
      metrics = tf.function(metrics, jit_compile=mode == 'xla')
    got_loss, got_solved = metrics(self.logits, self.target, self.mask)
    self.assertAllClose(got_loss, loss, rtol=1e-5)
    self.assertEqual(got_solved.numpy().tolist(), [float(s) for s in solved])
    self.assertEqual(
      encoding.solved(self.logits, self.target, self.mask).tolist(), solved
    )

  def test_probabilities_and_renormalised_triples(self):
    task = graph_task.GraphTask(_config('traversal'))
    p = task.probabilities(tf.constant(self.logits)).numpy()
    log_p = _log_softmax(self.logits.astype(np.float64).reshape(6, 4, 9, 10))
    grouped = np.exp(log_p)
    self.assertAllClose(p, grouped.reshape(6, 4, 90), atol=1e-6)
    triples = np.asarray([[12, 345, 678], [0, 0, 0], [999, 1, 20]])
    log_p = _log_softmax(self.logits[0, 0].astype(np.float64).reshape(9, 10))
    expected = [
      sum(
        log_p[i, int(c)] for i, c in enumerate(''.join(f'{x:03d}' for x in t))
      )
      for t in triples
    ]
    self.assertAllClose(
      encoding.triple_log_probabilities(self.logits[0, 0], triples), expected
    )
    self.assertEqual(
      encoding.predicted_triples(self.logits[3, 1]).tolist(),
      encoding.triples_of_digits(self.target[3, 1]).tolist(),
    )


class GraphTest(parameterized.TestCase):
  @parameterized.parameters(
    (12, (2, 4), False), (5, (2, 6), False), (9, (1, 3), True)
  )
  def test_random_graph_degrees_and_labels(self, n, degrees, inference):
    rng = np.random.default_rng(n)
    for _ in range(5):
      g = graph_lib.random_graph(rng, n, degrees, inference)
      labels = g.node_labels.tolist()
      self.assertLen(set(labels), n)
      self.assertTrue(all(0 <= x < 1000 for x in labels))
      out = collections.defaultdict(list)
      for s, e, d in g.edges.tolist():
        self.assertNotEqual(s, d)
        out[s].append((e, d))
      for node in range(n):
        k = len(out[node])
        self.assertBetween(k, degrees[0], min(degrees[1], n - 1))
        self.assertLen({d for _, d in out[node]}, k)  # No edge twice.
        edge_labels = [e for e, _ in out[node]]
        if inference:
          self.assertTrue(all(0 <= e < 10 for e in edge_labels))
        else:
          self.assertLen(set(edge_labels), k)  # Unique per node.
      if not inference:
        # Drawn from N numbers: at most N distinct labels over the graph.
        self.assertLessEqual(len(set(g.edges[:, 1].tolist())), n)

  def test_n_minus_1_nearest_are_all_the_others(self):
    rng = np.random.default_rng(3)
    g = graph_lib.random_graph(rng, 6, (5, 9))
    pairs = {(s, d) for s, _, d in g.edges.tolist()}
    others = {(s, d) for s in range(6) for d in range(6) if s != d}
    self.assertEqual(pairs, others)

  def test_distances_walks_and_planner_against_bfs(self):
    rng = np.random.default_rng(4)
    for n in (4, 10, 17):
      g = graph_lib.random_graph(rng, n, (1, 3))
      distance = graph_lib.distances(g)
      for source in range(n):
        reached = _bfs(g, source)
        for target in range(n):
          self.assertEqual(distance[source, target], reached.get(target, -1))
        walk = graph_lib.random_walk(g, rng, source, 6)
        node = source
        for edge in walk:
          self.assertEqual(g.edges[edge, 0], node)
          node = g.edges[edge, 2]
        for target, steps in reached.items():
          path = graph_lib.planner_path(g, rng, source, target, distance)
          self.assertLen(path, steps)
          node = source
          for edge in path:
            self.assertEqual(g.edges[edge, 0], node)
            node = g.edges[edge, 2]
          self.assertEqual(node, target)

  def test_relations_fixed_distinct_and_followed_edge_by_edge(self):
    labels = set()
    tables = zip(graph_lib.RELATION_LENGTHS, graph_lib.RELATIONS, strict=True)
    for length, table in tables:
      self.assertEqual(table.shape, (100, length))
      self.assertLen({tuple(r) for r in table.tolist()}, 100)
      self.assertTrue(np.all((table >= 0) & (table < 10)))
      labels |= {graph_lib.relation_label(length, i) for i in range(100)}
    self.assertEqual(labels, set(range(10, 410)))
    graphs = [test_graphs.family_tree()]
    rng = np.random.default_rng(5)
    graphs += [graph_lib.random_graph(rng, 8, (2, 4), True) for _ in range(3)]
    for g in graphs:
      for length in (2, 4):
        ends = graph_lib.relation_ends(g, length)
        table = graph_lib.RELATIONS[graph_lib.RELATION_LENGTHS.index(length)]
        for r in range(100):
          for start in range(g.num_nodes):
            reached = _follow(g, start, table[r].tolist())
            expected = reached.pop() if len(reached) == 1 else -1
            self.assertEqual(ends[r, start], expected)


class EpisodesTest(parameterized.TestCase):
  def setUp(self):
    super().setUp()
    self.rng = np.random.default_rng(6)
    self.graph = graph_lib.random_graph(self.rng, 7, (2, 3))

  def _check_description(self, e: encoding.Episode):
    shown = encoding.decode_triples(e.inputs[: len(self.graph.edges)])
    self.assertCountEqual(
      map(tuple, shown.tolist()), map(tuple, self.graph.triples().tolist())
    )

  def test_traversal(self):
    walk = graph_lib.random_walk(self.graph, self.rng, 2, 3)
    e = episodes.traversal(self.rng, self.graph, walk)
    self._check_description(e)
    path = [tuple(x) for x in self.graph.triples(walk).tolist()]
    inputs = encoding.decode_triples(e.inputs).tolist()
    q = len(self.graph.edges)
    self.assertEqual(inputs[q], [path[0][0], path[0][1], U])
    self.assertEqual(inputs[q + 1 : q + 3], [[U, p[1], U] for p in path[1:]])
    self.assertEqual(inputs[q + 3 :], [[U] * 3] * 3)
    self.assertEqual(e.answer_start, q + 3)
    answers = encoding.triples_of_digits(e.target[e.answer_start :])
    self.assertEqual([tuple(a) for a in answers.tolist()], path)
    # The walk follows edges: each source is the last destination.
    for a, b in zip(path, path[1:], strict=False):
      self.assertEqual(a[2], b[0])

  def test_shortest_path_teacher_forced(self):
    distance = graph_lib.distances(self.graph)
    source, destination = map(int, np.argwhere(distance == 2)[0])
    path = graph_lib.planner_path(
      self.graph, self.rng, source, destination, distance
    )
    e = episodes.shortest_path(self.rng, self.graph, source, destination, path)
    self._check_description(e)
    labels = self.graph.node_labels
    inputs = encoding.decode_triples(e.inputs).tolist()
    q = len(self.graph.edges)
    self.assertEqual(inputs[q], [labels[source], U, labels[destination]])
    self.assertEqual(inputs[q + 1 : q + 11], [[U] * 3] * 10)
    triples = self.graph.triples(path).tolist()
    self.assertEqual(inputs[q + 11 :], [[U] * 3, triples[0]])
    answers = encoding.triples_of_digits(e.target[q + 11 :]).tolist()
    self.assertEqual(answers, triples)
    self.assertEqual(triples[0][0], labels[source])
    self.assertEqual(triples[-1][2], labels[destination])

  def test_inference(self):
    g = test_graphs.family_tree()
    ends = graph_lib.relation_ends(g, 3)
    index, start = map(int, np.argwhere(ends >= 0)[0])
    relation = graph_lib.relation_label(3, index)
    e = episodes.inference(
      self.rng, g, start, relation, int(ends[index, start])
    )
    inputs = encoding.decode_triples(e.inputs).tolist()
    q = len(g.edges)
    self.assertEqual(inputs[q], [start, relation, U])
    self.assertEqual(inputs[q + 1 :], [[U] * 3] * 11)
    (end,) = _follow(g, start, graph_lib.RELATIONS[1][index].tolist())
    self.assertEqual(
      encoding.triples_of_digits(e.target[-1]).tolist(), [start, relation, end]
    )
    self.assertEqual(e.mask.sum(), 1)

  @parameterized.parameters(('oracle', 0.0), ('zeros', 1.0), ('worst', 0.0))
  def test_closed_loop_feeds_back_its_actions(self, network, beta):
    rng = np.random.default_rng(7)
    questions = []
    while len(questions) < 6:
      g = graph_lib.random_graph(rng, 9, (1, 3))
      distance = graph_lib.distances(g)
      pairs = np.argwhere(distance >= 2)
      if len(pairs):
        s, d = map(int, pairs[0])
        questions.append(episodes.Question(g, s, d, distance))
    fed = []

    def logits_of(inputs):
      # The network reads its last action (or the source) from its inputs
      # and outputs, at every step, the triple of an edge out of that node:
      # one on a shortest path ('oracle'), or off it when there is one.
      logits = np.zeros(inputs.shape[:2] + (90,), np.float32)
      if network == 'zeros':
        return logits
      triples = encoding.decode_triples(inputs)
      for b, q in enumerate(questions):
        labels = q.graph.node_labels.tolist()
        node = q.source
        for t in range(inputs.shape[0]):
          if inputs[t, b, 91] and triples[t, b, 0] != U:
            node = labels.index(triples[t, b, 2])
            fed.append((b, t))
          out = q.graph.outgoing(node)
          ahead = [q.distance[q.graph.edges[i, 2], q.destination] for i in out]
          best = q.distance[node, q.destination] - 1
          good = [i for i, a in zip(out, ahead, strict=True) if a == best]
          bad = [i for i in out if i not in good]
          edge = good[0] if network == 'oracle' or not bad else bad[0]
          digits = encoding.target_digits(q.graph.triples([edge]))[0]
          logits[t, b] = np.eye(10)[digits].reshape(90) * 5
      return logits

    rollout = episodes.closed_loop(logits_of, rng, questions, beta=beta)
    lengths = rollout.lengths
    # DAgger's labels: at each step taken, an optimal edge from the node
    # the actions shown so far reached.
    triples = encoding.decode_triples(rollout.inputs)
    for b, q in enumerate(questions):
      labels = q.graph.node_labels.tolist()
      node, taken = q.source, np.flatnonzero(rollout.mask[:, b])
      for t in taken:
        if t > taken[0]:
          node = labels.index(triples[t, b, 2])
        s, e, d = encoding.triples_of_digits(rollout.target[t, b]).tolist()
        self.assertEqual(s, labels[node])
        d = labels.index(d)
        self.assertIn((node, e, d), set(map(tuple, q.graph.edges.tolist())))
        ahead = _bfs(q.graph, d)[q.destination]
        self.assertEqual(ahead + 1, _bfs(q.graph, node)[q.destination])
      if lengths[b] > 0:
        self.assertLen(taken, lengths[b])
    steps = [q.steps for q in questions]
    if network == 'worst':
      # Off the shortest path wherever it can: never there sooner, and
      # some paths longer or lost.
      pairs = list(zip(lengths.tolist(), steps, strict=True))
      self.assertTrue(all(n == -1 or n >= s for n, s in pairs))
      self.assertTrue(any(n != s for n, s in pairs))
    else:
      self.assertEqual(lengths.tolist(), steps)
    if network == 'oracle':
      self.assertNotEmpty(fed)  # Actions were shown to the network.


def _config(name, **options):
  return {
    'graph_task': name,
    'batch_size': 3,
    'lesson_eval_size': 4,
    'lesson_threshold': None,
    'dagger_beta': 1.0,
    **options,
  }


class CurriculumTest(parameterized.TestCase):
  @parameterized.parameters(*episodes.TASKS)
  def test_lessons_grow_and_batches_have_the_lessons_length(self, name):
    lessons = curriculum.LESSONS[name]
    for a, b in zip(lessons, lessons[1:], strict=False):
      # The largest values grow (a lesson may also widen its range down).
      for field in ('nodes', 'degrees', 'steps'):
        self.assertLessEqual(getattr(a, field)[1], getattr(b, field)[1])
    rng = np.random.default_rng(8)
    for index in (0, 2):
      lesson = lessons[index]
      inputs, target, mask = curriculum.training_batch(name, index, rng, 3)
      self.assertEqual(inputs.shape[0], curriculum.max_length(name, lesson))
      for b in range(3):
        answers = int(mask[:, b].sum())
        if name == 'inference':
          self.assertEqual(answers, 1)
        else:
          self.assertBetween(answers, 1, lesson.steps[1])

  def test_the_docs_tables_are_the_code_s(self):
    def span(r):
      return f'{r[0]}' if r[0] == r[1] else f'{r[0]}-{r[1]}'

    def rows(path):
      with open(os.path.join(_ROOT, path)) as f:
        return [
          [c.strip() for c in line.strip().strip('|').split('|')]
          for line in f
          if re.match(r'\| \d+ \|', line)
        ]

    # docs/graphs.md: a table per task, with the padded length.
    tables = collections.defaultdict(list)
    task = -1
    for row in rows('docs/graphs.md'):
      task += row[0] == '1'
      tables[episodes.TASKS[task]].append(row[1:])
    for name, lessons in curriculum.LESSONS.items():
      expected = [
        [*map(span, lesson), str(curriculum.max_length(name, lesson))]
        for lesson in lessons
      ]
      self.assertEqual(tables[name], expected)
    # README.md: one table, a column per task.
    with open(os.path.join(_ROOT, 'README.md')) as f:
      readme = f.read()
    table = readme[readme.index('| lesson | traversal |') :].split('\n\n')[0]
    readme_rows = [
      [c.strip() for c in line.strip().strip('|').split('|')]
      for line in table.splitlines()[2:]
    ]
    self.assertLen(readme_rows, 9)
    for i, row in enumerate(readme_rows):
      for name, cell in zip(episodes.TASKS, row[1:], strict=True):
        lessons = curriculum.LESSONS[name]
        expected = ', '.join(map(span, lessons[i])) if i < len(lessons) else ''
        self.assertEqual(cell, expected)

  def test_earlier_lessons_are_a_tenth(self):
    rng = np.random.default_rng(9)
    drawn = curriculum.lessons_drawn('traversal', 3, rng, 4000)
    self.assertBetween(np.mean(drawn < 3), 0.08, 0.12)
    self.assertEqual(set(drawn.tolist()), {0, 1, 2, 3})
    self.assertTrue(
      np.all(curriculum.lessons_drawn('traversal', 0, rng, 99) == 0)
    )
    self.assertTrue(
      np.all(curriculum.lessons_drawn('shortest_path', 3, rng, 99) == 3)
    )

  def test_shortest_path_questions_are_shortest(self):
    rng = np.random.default_rng(10)
    lesson = curriculum.LESSONS['shortest_path'][3]
    for _ in range(5):
      drawn = curriculum.draw('shortest_path', lesson, rng)
      q = drawn.question
      self.assertEqual(_bfs(q.graph, q.source)[q.destination], q.steps)
      self.assertBetween(q.steps, *lesson.steps)
      self.assertEqual(drawn.episode.mask.sum(), q.steps)

  def test_batches_resume_exactly_at_the_step_and_lesson(self):
    task = graph_task.GraphTask(_config('inference'), seed=3)
    first = [task.batch() for _ in range(3)]
    task.lesson.assign(1)
    fourth = task.batch()
    resumed = graph_task.GraphTask(_config('inference'), seed=3)
    resumed.lesson.assign(1)
    resumed.after_restore(3)
    for a, b in zip(fourth, resumed.batch(), strict=True):
      np.testing.assert_array_equal(a, b)
    other = graph_task.GraphTask(_config('inference'), seed=4)
    self.assertFalse(np.array_equal(other.batch()[0], first[0][0]))
    self.assertNotEqual(fourth[0].shape, first[0][0].shape)  # Lesson 2's T.


def write_london(directory, extra_connection=None):
  """A few rows of the London CSV files, in `directory`."""
  # Zone 1: A (lines 1, 2), B (line 1 only), C (lines 1, 2), D (lines 2,
  # 3); E (lines 1, 3) is in zone 2. Line 1 runs A - B - C - E, line 2
  # A - C - D, line 3 D - E; station 99 (not in stations.csv) sits on
  # line 3 between D and C.
  rows = {
    'stations.csv': [
      '"id","latitude","longitude","name","display_name","zone",'
      '"total_lines","rail"',
      '1,51.50,-0.20,"Alpha",NULL,1,2,0',
      '2,51.50,-0.15,"Beta",NULL,1,1,0',
      '3,51.50,-0.10,"Gamma",NULL,1,2,0',
      '4,51.55,-0.10,"Delta",NULL,1,2,0',
      '5,51.40,-0.10,"Epsilon",NULL,2,2,0',
    ],
    'connections.csv': [
      '"station1","station2","line","time"',
      '1,2,1,1',
      '2,3,1,1',
      '3,5,1,2',
      '1,3,2,3',
      '3,4,2,2',
      '4,5,3,4',
      '4,99,3,1',
      '99,3,3,1',
      *([extra_connection] if extra_connection else []),
    ],
    'lines.csv': [
      '"line","name","colour","stripe"',
      '1,"One Line","111111",NULL',
      '2,"Two Line","222222",NULL',
      '3,"Three Line","333333",NULL',
    ],
  }
  for name, lines in rows.items():
    with open(os.path.join(directory, name), 'w') as f:
      f.write('\n'.join(lines) + '\n')


class TestGraphsTest(tf.test.TestCase):
  def test_london_keeps_zone_1_interchanges_with_line_and_direction(self):
    directory = self.create_tempdir().full_path
    write_london(directory)
    g = test_graphs.london(directory)
    self.assertEqual(g.node_names, ('Alpha', 'Gamma', 'Delta'))
    self.assertEqual(g.node_labels.tolist(), [1, 3, 4])
    named = {
      (g.node_names[s], g.edge_names[e], g.node_names[d])
      for s, e, d in g.edges.tolist()
    }
    self.assertEqual(
      named,
      {
        ('Alpha', 'One Line east', 'Gamma'),  # Through Beta.
        ('Gamma', 'One Line west', 'Alpha'),
        ('Alpha', 'Two Line east', 'Gamma'),
        ('Gamma', 'Two Line west', 'Alpha'),
        ('Gamma', 'Two Line north', 'Delta'),
        ('Delta', 'Two Line south', 'Gamma'),
        ('Gamma', 'Three Line north', 'Delta'),  # Through station 99.
        ('Delta', 'Three Line south', 'Gamma'),
      },
    )
    relabelled = graph_lib.relabel(g, np.random.default_rng(0), edges=True)
    self.assertEqual(
      {
        (s, relabelled.edge_names[e], d)
        for s, e, d in relabelled.edges.tolist()
      },
      {(s, g.edge_names[e], d) for s, e, d in g.edges.tolist()},
    )

  def test_london_errors_name_the_file(self):
    directory = self.create_tempdir().full_path
    with self.assertRaisesRegex(test_graphs.DataError, 'stations.csv: no such'):
      test_graphs.london(directory)
    write_london(directory, '1,3,7,1')
    with self.assertRaisesRegex(test_graphs.DataError, 'unknown line'):
      test_graphs.london(directory)
    with open(os.path.join(directory, 'lines.csv'), 'a') as f:
      f.write('X,"Ex Line","000000",NULL\n')
    with self.assertRaisesRegex(test_graphs.DataError, "integers.*'X'"):
      test_graphs.london(directory)
    # A second line-2 neighbour east of Alpha: two edges of one label.
    write_london(directory, '1,4,2,1')
    with self.assertRaisesRegex(test_graphs.DataError, 'Alpha has two edges'):
      test_graphs.london(directory)

  def test_family_tree(self):
    g = test_graphs.family_tree()
    self.assertLen(g.node_names, 33)
    edges = {tuple(e) for e in g.edges.tolist()}
    parents = collections.defaultdict(dict)
    F, M, S, D, H, W = range(6)
    for a, label, b in edges:
      if label in (F, M):
        self.assertNotIn(label, parents[a])  # One father, one mother.
        parents[a][label] = b
        child = S if (b, S, a) in edges else D
        self.assertIn((b, child, a), edges)
      elif label in (H, W):
        self.assertIn((b, W if label == H else H, a), edges)
      else:
        self.assertIn((b, F, a) in edges or (b, M, a) in edges, (True,))

    def generation(person):
      up = [generation(p) for p in parents[person].values()]
      return 1 + max(up, default=0)

    self.assertEqual(max(generation(p) for p in range(33)), 4)


class TaskTest(tf.test.TestCase):
  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.family = test_graphs.family_tree()

  def test_flag_errors_name_the_flag(self):
    for options, message in (
      ({'graph_task': 'walk'}, '--task=walk: expected one of'),
      ({'eval_graph': 'family'}, '--eval_graph=family: the traversal'),
      ({'eval_lesson': 10}, '--eval_lesson=10: expected 1..9'),
      ({'eval_episodes': 0}, '--eval_episodes=0: expected >= 1'),
      ({'lesson_threshold': 1.5}, '--lesson_threshold=1.5: expected'),
      ({'dagger_beta': -0.1}, '--dagger_beta=-0.1: expected a probability'),
      (
        {'graph_task': 'inference', 'eval_path_steps': 6},
        '--eval_path_steps=6: the relations have 2 to 5 edges',
      ),
    ):
      with self.assertRaisesRegex(task_lib.TaskError, message):
        graph_task.GraphTask({**_config('traversal'), **options})
    task = graph_task.GraphTask(
      {**_config('shortest_path'), 'eval_graph': 'london'}
    )
    with self.assertRaisesRegex(task_lib.TaskError, '--london_dir: '):
      task.evaluate(None, 'ckpt', 0)

  def test_dagger_batches_need_the_forward_pass_and_resume_exactly(self):
    config = _config('shortest_path', dagger_beta=0.5)
    task = graph_task.GraphTask(config, seed=5)
    with self.assertRaisesRegex(task_lib.TaskError, '--dagger_beta=0.5: '):
      task.batch()

    def network(inputs):
      # Any causal network will do: one that prefers larger digits.
      return np.tile(np.arange(10.0), 9) + inputs[..., :90].cumsum(0)

    task.begin_training(network)
    task.lesson.assign(2)
    batches = [task.batch() for _ in range(2)]
    resumed = graph_task.GraphTask(config, seed=5)
    resumed.begin_training(network)
    resumed.lesson.assign(2)
    resumed.after_restore(1)
    for a, b in zip(batches[1], resumed.batch(), strict=True):
      np.testing.assert_array_equal(a, b)
    inputs, target, mask = batches[1]
    self.assertEqual(inputs.shape, (51, 3, 92))
    self.assertTrue(np.all(mask.sum(0) >= 1))

  def test_evaluates_random_traversals_against_an_oracle(self):
    task = graph_task.GraphTask(
      _config('traversal', eval_lesson=4, eval_episodes=6, eval_batch_size=4)
    )

    def oracle(inputs):
      # Follows the query's edges from its source through the triples
      # described, and answers each step's triple.
      logits = np.zeros(inputs.shape[:2] + (90,), np.float32)
      triples = encoding.decode_triples(inputs)
      for b in range(inputs.shape[1]):
        query = np.flatnonzero(inputs[:, b, 90])[0]  # Then the answer's.
        answers = np.flatnonzero(inputs[:, b, 91])
        described = {(s, e): d for s, e, d in triples[:query, b].tolist()}
        node = triples[query, b, 0]
        for i, t in enumerate(answers):
          edge = triples[query + i, b, 1]
          digits = encoding.target_digits(
            np.asarray([node, edge, described[node, edge]])
          )
          logits[t, b] = np.eye(10)[digits].reshape(90)
          node = described[node, edge]
      return logits

    self.assertEqual(
      task.evaluate(oracle, 'ckpt', 3),
      'Evaluated ckpt (step 3) on 6 episodes of random graphs of lesson 4 '
      '(10-15 nodes, 2-4 edges out, 2-4 steps): 100.0% solved.',
    )

  def test_evaluates_the_family_tree_against_an_oracle(self):
    task = graph_task.GraphTask(
      _config('inference', eval_graph='family', eval_batch_size=16)
    )

    def oracle(inputs):
      # Answers each query (start, relation, _) by following the relation.
      logits = np.zeros(inputs.shape[:2] + (90,), np.float32)
      triples = encoding.decode_triples(inputs)
      for b in range(inputs.shape[1]):
        described = {tuple(x) for x in triples[:, b].tolist() if U not in x}
        g = graph_lib.Graph(
          np.arange(1000), np.asarray(sorted(described)).reshape(-1, 3)
        )
        (t,) = np.flatnonzero(inputs[:, b, 91])
        start, relation = triples[t - 11, b, :2]
        index = relation - 10 - 200  # Four-edge relations: 210-309.
        (end,) = _follow(g, start, graph_lib.RELATIONS[2][index].tolist())
        digits = encoding.target_digits(np.asarray([start, relation, end]))
        logits[t, b] = np.eye(10)[digits].reshape(90)
      return logits

    text = task.evaluate(oracle, 'ckpt', 7)
    count = int(np.sum(graph_lib.relation_ends(self.family, 4) >= 0))
    self.assertIn(
      f'Evaluated ckpt (step 7) on {count} episodes of the family tree (33 '
      'people): every 4-edge relation with one answer: 100.0% solved.',
      text,
    )
    zeros = task.evaluate(lambda x: np.zeros(x.shape[:2] + (90,)), 'c', 7)
    self.assertIn(': 0.0% solved.', zeros)


def _run(*flags):
  return scripts.run([os.path.join(_ROOT, 'train_graphs.py'), *flags])


# One xdist worker for the class, so that setUpClass runs once.
@pytest.mark.slow
@pytest.mark.xdist_group('graphs')
class TrainGraphsTest(tf.test.TestCase):
  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = tempfile.mkdtemp()
    write_london(cls.tmp)
    cls.run_dir = os.path.join(cls.tmp, 'run')
    model = (
      '--hidden_size=8',
      '--memory_size=8',
      '--word_size=4',
      '--num_read_heads=1',
      '--nojit_compile',
      # The loop, checkpoints and task are the test's subject, not the
      # memory: the LSTM alone traces in a fraction of the DNC's time.
      '--controller_only',
    )
    cls.common = (f'--checkpoint_dir={cls.run_dir}', *model)
    train = (
      '--task=shortest_path',
      '--seed=2',
      '--batch_size=2',
      '--report_interval=2',
      '--checkpoint_interval=2',
      # As many as a batch: the forward pass keeps one shape a lesson.
      '--lesson_eval_size=2',
      # Every lesson evaluation passes: the lesson moves at each report (a
      # report each segment: each new lesson's length is one more trace).
      '--lesson_threshold=0',
      # The network's own actions half the time: the loop's forward pass
      # reaches the batches (Task.begin_training).
      '--dagger_beta=0.5',
    )
    cls.first = _run(*cls.common, *train, '--num_training_iterations=2')
    cls.resumed = _run(*cls.common, *train, '--num_training_iterations=4')
    # The run's model as a pretrained folder, and a new run from it.
    cls.folder = os.path.join(cls.tmp, 'pretrained')
    pretrained.write(cls.run_dir, cls.folder)
    cls.warm = _run(
      f'--checkpoint_dir={os.path.join(cls.tmp, "warm")}',
      *model,
      *train,
      f'--init_from={cls.folder}',
      '--num_training_iterations=6',
    )
    cls.evaluated = _run(
      *cls.common,
      '--mode=eval',
      '--eval_graph=london',
      f'--london_dir={cls.tmp}',
      '--eval_path_steps=1',
    )

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.tmp, ignore_errors=True)
    super().tearDownClass()

  def test_trains_and_resumes_at_its_lesson(self):
    code, output = self.first
    self.assertEqual(code, 0, output)
    self.assertEqual(
      re.findall(r'(\d): lesson (\d) evaluation: [\d.]+% passed', output),
      [('2', '1')],
    )
    code, output = self.resumed
    self.assertEqual(code, 0, output)
    self.assertIn('at step 2', output)
    self.assertRegex(
      output,
      r'4: Avg training loss [\d.]+, [\d.]+% of training episodes solved '
      r'\(DAgger, beta 0.5\), lesson 2/7 .*\n4: lesson 2 evaluation: [\d.]+% '
      r'passed \(threshold 0%\); lesson 3 \(8-12 nodes',
    )

  def test_a_warm_start_goes_on_at_the_pretrained_model_s_lesson(self):
    # The run's checkpoint at step 4 is at lesson 3 (0-based 2); so is the
    # folder, and the new run's first report.
    self.assertEqual(restore.load(self.folder).task.lesson.numpy(), 2)
    code, output = self.warm
    self.assertEqual(code, 0, output)
    self.assertIn('at step 4', output)
    self.assertRegex(
      output,
      r'6: Avg training loss [\d.]+, [\d.]+% of training episodes solved '
      r'\(DAgger, beta 0.5\), lesson 3/7 .*\n6: lesson 3 evaluation',
    )

  def test_evaluates_on_london(self):
    code, output = self.evaluated
    self.assertEqual(code, 0, output)
    self.assertRegex(
      output,
      r'on 4 episodes of the London Underground \(3 zone 1 interchanges\): '
      r'every 1-step shortest path: [\d.]+% solved, [\d.]+% at most one',
    )

  def test_errors_are_one_line_naming_the_flag(self):
    code, output = _run(*self.common, '--mode=eval', '--task=inference')
    self.assertEqual(code, 1, output)
    (line,) = [x for x in output.splitlines() if '--task=inference' in x]
    self.assertStartsWith(line, 'E')
    self.assertIn('trained on shortest_path', line)


if __name__ == '__main__':
  tf.test.main()
