"""Tests for dnc.train.summaries: images of the addressing, read back."""

import glob
import os

import numpy as np
import tensorflow as tf

from dnc.train import summaries

_CELL = summaries._CELL_PIXELS


def _steps(time=5, reads=2, writes=1, slots=6, word=3, seed=0):
  rng = np.random.RandomState(seed)
  return {
    'write_weights': rng.rand(time, writes, slots),
    'read_weights': rng.rand(time, reads, slots),
    'usage': rng.rand(time, slots),
    'write_gate': rng.rand(time, writes),
    'allocation_gate': rng.rand(time, writes),
    'free_gate': rng.rand(time, reads),
    'read_mode': rng.rand(time, reads, 1 + 2 * writes),
    'memory': rng.randn(time, slots, word),
  }


def _events(logdir):
  (path,) = glob.glob(os.path.join(logdir, 'events.out.tfevents.*'))
  values, plugins = {}, {}
  for event in tf.compat.v1.train.summary_iterator(path):
    for value in event.summary.value:
      values[value.tag] = (event.step, tf.make_ndarray(value.tensor))
      plugins[value.tag] = value.metadata.plugin_data.plugin_name
  return values, plugins


class SummariesTest(tf.test.TestCase):
  def test_memory_images_lay_out_slots_by_time(self):
    steps = _steps()
    images = summaries.memory_images(steps)
    self.assertCountEqual(
      images,
      [
        'write_weights/0',
        'read_weights/0',
        'read_weights/1',
        'usage',
        'gates',
        'memory_last_step',
      ],
    )
    usage = images['usage']
    self.assertEqual(usage.shape, (1, 6 * _CELL, 5 * _CELL, 1))
    # Pixel (slot i, step t) holds usage[t, i].
    self.assertAllClose(usage[0, ::_CELL, ::_CELL, 0], steps['usage'].T)
    read = images['read_weights/1'][0, ::_CELL, ::_CELL, 0]
    self.assertAllClose(read, steps['read_weights'][:, 1].T)
    gates = images['gates'][0, ::_CELL, ::_CELL, 0]
    self.assertEqual(gates.shape, (1 + 1 + 2 + 2 * 3, 5))
    self.assertAllClose(gates[2:4], steps['free_gate'].T)
    self.assertAllClose(gates[4:7], steps['read_mode'][:, 0].T)
    memory = images['memory_last_step'][0, ::_CELL, ::_CELL, 0]
    last = steps['memory'][-1]
    self.assertAllClose(memory, 0.5 + last / (2 * np.abs(last).max()))
    for image in images.values():
      self.assertAllInRange(image, 0, 1)

  def test_sparse_memory_images_show_recency_and_their_gates(self):
    steps = _steps()
    for key in ('usage', 'allocation_gate', 'free_gate', 'read_mode'):
      del steps[key]  # SAM has none of them.
    steps['recency'] = np.random.RandomState(1).rand(5, 6)
    steps['interpolation_gate'] = np.full((5, 1), 0.25)
    images = summaries.memory_images(steps)
    self.assertIn('recency', images)
    self.assertNotIn('usage', images)
    recency = images['recency'][0, ::_CELL, ::_CELL, 0]
    self.assertAllClose(recency, steps['recency'].T)
    gates = images['gates'][0, ::_CELL, ::_CELL, 0]
    self.assertAllClose(gates[0], steps['write_gate'][:, 0])
    self.assertAllClose(gates[1], np.full(5, 0.25))
    self.assertEqual(gates.shape, (2, 5))

  def test_write_report_is_readable_back(self):
    logdir = self.get_temp_dir()
    writer = tf.summary.create_file_writer(logdir)
    summaries.write_report(
      writer,
      42,
      {'loss': 1.5, 'gradient_norm': 3.0},
      _steps(),
      'Observations:\n+1 - -+',
    )
    values, plugins = _events(logdir)
    self.assertEqual(values['loss'][0], 42)
    self.assertAllClose(values['loss'][1], 1.5)
    self.assertAllClose(values['gradient_norm'][1], 3.0)
    width, height, png = values['memory/usage'][1]
    self.assertEqual((int(width), int(height)), (5 * _CELL, 6 * _CELL))
    decoded = tf.io.decode_png(png)
    self.assertEqual(decoded.shape, (6 * _CELL, 5 * _CELL, 1))
    expected = summaries.memory_images(_steps())['usage'][0]
    self.assertAllClose(decoded / 255, expected, atol=0.5 / 255)
    self.assertEqual(plugins['memory/usage'], 'images')
    self.assertEqual(plugins['loss'], 'scalars')
    self.assertEqual(plugins['sample'], 'text')
    self.assertIn('memory/write_weights/0', values)
    self.assertIn('memory/memory_last_step', values)
    self.assertIn(b'+1 - -+', values['sample'][1].item())


if __name__ == '__main__':
  tf.test.main()
