"""Tests for benchmarks/controller.py and its train_step.py row."""

import numpy as np
import tensorflow as tf

from benchmarks import common
from benchmarks import controller
from benchmarks import train_step
from dnc.tasks.repeat_copy import task as repeat_copy_task

_CONFIG = {
  **repeat_copy_task.DEFAULTS,
  **common.CONFIGS['C1'],
  'clip_value': 0.5,
}


def _sigmoid(x):
  return 1 / (1 + np.exp(-x))


class ControllerOnlyTest(tf.test.TestCase):
  def test_one_step_matches_numpy(self):
    rng = np.random.RandomState(0)
    core = controller.ControllerOnly(_CONFIG)
    batch_size, hidden_size = 3, _CONFIG['hidden_size']
    inputs = rng.randn(batch_size, _CONFIG['num_bits'] + 2).astype(np.float32)
    state = core.initial_state(batch_size)
    state = tf.nest.map_structure(
      lambda x: tf.constant(rng.randn(*x.shape).astype(np.float32)), state
    )
    output, next_state = core(inputs, state)

    reads = np.zeros([batch_size, 4 * 16], np.float32)  # num_reads * word_size
    lstm = core._controller
    gates = (
      np.concatenate([inputs, reads], 1) @ lstm._w_i.numpy()
      + state.hidden.numpy() @ lstm._w_h.numpy()
      + lstm.b.numpy()
    )
    i, f, g, o = np.split(gates, 4, 1)
    cell = _sigmoid(f) * state.cell.numpy() + _sigmoid(i) * np.tanh(g)
    hidden = np.clip(_sigmoid(o) * np.tanh(cell), -0.5, 0.5)
    linear = core._output_linear
    expected = np.clip(
      np.concatenate([hidden, reads], 1) @ linear.w.numpy() + linear.b.numpy(),
      -0.5,
      0.5,
    )
    self.assertEqual(output.shape, [batch_size, _CONFIG['num_bits'] + 1])
    self.assertAllClose(output, expected, atol=1e-5)
    self.assertAllClose(next_state.hidden, hidden, atol=1e-5)
    self.assertAllClose(next_state.cell, np.clip(cell, -0.5, 0.5), atol=1e-5)
    self.assertEqual(next_state.hidden.shape, [batch_size, hidden_size])

  def test_has_the_dnc_controller_and_output_variables(self):
    # The floor does the DNC's controller arithmetic: same weight shapes.
    dnc_trainer = repeat_copy_task.make_trainer(
      _CONFIG, seed=0, compile_mode='eager'
    )
    floor_trainer = repeat_copy_task.make_trainer(
      _CONFIG,
      seed=0,
      compile_mode='eager',
      core=controller.ControllerOnly(_CONFIG),
    )
    dnc_trainer.forward_step()
    floor_trainer.forward_step()
    shapes = lambda core: sorted(
      (v.name.split('/', 1)[1], tuple(v.shape))
      for v in core.trainable_variables
      if 'memory_access' not in v.name
    )
    self.assertEqual(shapes(floor_trainer.core), shapes(dnc_trainer.core))
    self.assertLen(floor_trainer.core.trainable_variables, 5)

  def test_worker_trains_under_xla_and_row_has_no_bound(self):
    result = train_step.tf_worker('C1', 'controller', steps=3)
    self.assertEqual(result['traces'], 2)
    self.assertGreater(result['train']['median_ms'], 0)
    runs = {'tf:xla': result, 'tf:controller': result}
    xla_row, controller_row = train_step.table_rows('C1', runs, bound_ms=1.0)
    bound_column = lambda row: row.split('|')[6].strip()
    self.assertNotEqual(bound_column(xla_row), '')
    self.assertEqual(bound_column(controller_row), '')


if __name__ == '__main__':
  tf.test.main()
