"""Tests of dnc.tasks.graphs.picture and the graph task's `draw_example`.

The phases, time labels, target probabilities and slot choice against
episodes and values written out by hand; then one episode of each task
drawn from a small untrained DNC (traversal on a random graph, shortest
path in closed loop on a few London rows, inference on the family tree).
"""

import os

from absl.testing import parameterized
import numpy as np
import pytest
import tensorflow as tf

from dnc import config as config_lib
from dnc.tasks import base as task_lib
from dnc.tasks.graphs import encoding
from dnc.tasks.graphs import episodes
from dnc.tasks.graphs import graph as graph_lib
from dnc.tasks.graphs import picture
from dnc.tasks.graphs import task as graph_task
from tests import graphs_test

try:
  from matplotlib import image as mpl_image
except ImportError:  # An optional extra: pip install 'dnc[viz]'.
  mpl_image = None

U = encoding.UNSPECIFIED

# A graph of three nodes labelled 10, 20, 30: 10 -5-> 20, 20 -6-> 30,
# 30 -5-> 10.
_GRAPH = graph_lib.Graph(
  node_labels=np.array([10, 20, 30]),
  edges=np.array([[0, 5, 1], [1, 6, 2], [2, 5, 0]]),
)


def _logits_of_triples(triples, scale=10.0):
  """`[T, 90]` logits whose modes are the digits of each triple `[T, 3]`."""
  digits = encoding.target_digits(np.asarray(triples))
  return scale * np.eye(10)[digits].reshape(len(triples), 90)


class PhasesTest(parameterized.TestCase):
  def test_traversal_has_no_planning(self):
    rng = np.random.default_rng(0)
    episode = episodes.traversal(rng, _GRAPH, np.array([0, 1]))
    # Three description triples, two query steps, two answers.
    self.assertEqual(
      picture.phases(episode.inputs),
      [('description', 0, 3), ('query', 3, 5), ('answer', 5, 7)],
    )

  def test_inference_plans_ten_steps(self):
    rng = np.random.default_rng(0)
    episode = episodes.inference(rng, _GRAPH, 0, 410, 2)
    self.assertEqual(
      picture.phases(episode.inputs),
      [
        ('description', 0, 3),
        ('query', 3, 4),
        ('planning', 4, 14),
        ('answer', 14, 15),
      ],
    )

  def test_refuses_inputs_without_the_phases(self):
    with self.assertRaisesRegex(ValueError, 'marks 1 phases'):
      picture.phases(np.eye(4, 92, 90))


class LabelsTest(tf.test.TestCase):
  def test_time_labels_show_triples_and_the_answer(self):
    rng = np.random.default_rng(0)
    episode = episodes.traversal(rng, _GRAPH, np.array([0, 1]))
    # Right at the first answer step, wrong destination at the second.
    outputs = np.zeros((7, 3), np.int64)
    outputs[5] = [10, 5, 20]
    outputs[6] = [20, 6, 10]
    labels = picture.time_labels(
      episode.inputs,
      episode.target,
      episode.mask,
      _logits_of_triples(outputs),
    )
    shown = encoding.decode_triples(episode.inputs[:3])
    self.assertEqual(labels[:3], [f'{a} {b} {c}' for a, b, c in shown])
    self.assertEqual(
      labels[3:],
      [
        '10 5 _',
        '_ 6 _',
        '_ _ _ -> 10 5 20',
        '_ _ _ -> 20 6 10 (not 20 6 30)',
      ],
    )

  def test_target_probability_is_the_nine_digits_product(self):
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4, 90))
    target = rng.integers(10, size=(4, 9))
    mask = np.array([0, 1, 0, 1.0])
    expected = np.zeros((4, 1))
    for t in (1, 3):
      p = 1.0
      for d in range(9):
        row = logits[t, 10 * d : 10 * d + 10]
        p *= np.exp(row[target[t, d]]) / np.exp(row).sum()
      expected[t, 0] = p
    self.assertAllClose(
      picture.target_probability(logits, target, mask), expected
    )


class SlotsTest(tf.test.TestCase):
  def test_busiest_slots_and_their_selection(self):
    write = np.zeros((2, 1, 6))
    read = np.zeros((2, 2, 6))
    write[0, 0, 4] = 0.9
    read[1, 1, 1] = 0.5
    read[0, 0, 5] = 0.2
    read[1, 0, 0] = 0.1
    steps = {
      'write_weights': write,
      'read_weights': read,
      'usage': np.arange(12.0).reshape(2, 6),
      'write_gate': np.ones((2, 1)),
    }
    slots = picture.busiest_slots(steps, 3)
    self.assertEqual(slots.tolist(), [1, 4, 5])
    self.assertEqual(picture.busiest_slots(steps, 6).tolist(), list(range(6)))
    chosen = picture.select_slots(steps, slots)
    self.assertAllEqual(chosen['usage'], [[1, 4, 5], [7, 10, 11]])
    self.assertAllEqual(chosen['write_weights'][0, 0], [0, 0.9, 0])
    self.assertAllEqual(chosen['read_weights'][1, 1], [0.5, 0, 0])
    self.assertAllEqual(chosen['write_gate'], steps['write_gate'])


def _core():
  tf.random.set_seed(0)
  config = config_lib.ModelConfig(
    hidden_size=8, memory_size=16, word_size=4, num_read_heads=2
  )
  return config_lib.make_core(config, encoding.OUTPUT_SIZE, fast_kernels=False)


def _task(name):
  return graph_task.GraphTask(
    {
      'graph_task': name,
      'batch_size': 2,
      'lesson_eval_size': 2,
      'lesson_threshold': None,
      'dagger_beta': 1.0,
    }
  )


@pytest.mark.skipif(mpl_image is None, reason="needs matplotlib ('dnc[viz]')")
class DrawExampleTest(parameterized.TestCase):
  @parameterized.parameters(
    ('traversal', {'lesson': 2}),
    ('shortest_path', {'graph': 'london', 'path_steps': 1}),
    ('inference', {'graph': 'family'}),
  )
  def test_draws_an_episode(self, name, options):
    directory = self.create_tempdir().full_path
    graphs_test.write_london(directory)
    path = os.path.join(directory, 'episode.png')
    result = _task(name).draw_example(
      _core(), path, dict(options, seed=1, london_dir=directory), 'run'
    )
    self.assertEqual(result, path)
    pixels = mpl_image.imread(path)
    self.assertEqual(pixels.ndim, 3)
    # The memory panels at least: write, two reads, usage (16 slots each
    # at 0.11 inches, 100 dots an inch).
    self.assertGreater(pixels.shape[0], 4 * 16 * 11)

  @parameterized.parameters(
    ('traversal', {'graph': 'family'}, '--graph=family: the traversal'),
    ('traversal', {'lesson': 99}, '--lesson=99: expected 1..'),
    ('traversal', {'graph': 'london'}, '--london_dir'),
    ('inference', {'graph': 'family', 'path_steps': 9}, '--path_steps=9'),
  )
  def test_bad_options_name_the_flag(self, name, options, message):
    with self.assertRaisesRegex(task_lib.TaskError, message):
      _task(name).draw_example(_core(), 'unused.png', options, 'run')
    self.assertFalse(os.path.exists('unused.png'))


if __name__ == '__main__':
  tf.test.main()
