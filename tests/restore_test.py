"""Tests for dnc.tools.restore: any run's model and task, from its directory."""

import json
import os

from absl.testing import absltest
import numpy as np
import tensorflow as tf

from dnc import config as config_lib
from dnc import model
from dnc.tools import restore
from dnc.train import checkpoints
from dnc.train import trainer
from tests import shared_data


def _checkpoint_weights(directory):
  """The model's tensors in the latest checkpoint, read without dnc."""
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(directory))
  return [
    reader.get_tensor(name)
    for name in reader.get_variable_to_shape_map()
    if name.startswith('core/') and 'OPTIMIZER_SLOT' not in name
  ]


class LoadTest(tf.test.TestCase):
  def _assert_weights_restored(self, core, directory, extra=()):
    saved = _checkpoint_weights(directory)
    values = [v.numpy() for v in (*core.variables, *extra)]
    self.assertLen(saved, len(values))
    for tensor in saved:
      self.assertTrue(
        any(
          value.shape == tensor.shape and np.array_equal(value, tensor)
          for value in values
        ),
        tensor.shape,
      )

  def test_repeat_copy_run_of_the_old_layout(self):
    directory = os.path.join(self.create_tempdir().full_path, 'run')
    shared_data.copy_old_layout('repeat_copy', directory)
    restored = restore.load(directory)
    self.assertEqual(restored.kind, 'repeat_copy')
    self.assertEqual(restored.step, 3)
    self.assertEqual(restored.path, os.path.join(directory, 'ckpt-3'))
    # --num_bits=2: 2 bits, start and repeats in; 2 bits and end out.
    self.assertEqual(restored.task.input_size, 4)
    self.assertEqual(restored.task.output_size, 3)
    self._assert_weights_restored(restored.core, directory)

  def test_babi_run_of_the_old_layout(self):
    directory = os.path.join(self.create_tempdir().full_path, 'run')
    shared_data.copy_old_layout('babi', directory)
    with open(os.path.join(directory, 'config.json')) as f:
      words = json.load(f)['vocabulary']
    restored = restore.load(directory)
    self.assertEqual(restored.kind, 'babi')
    self.assertEqual(restored.step, 3)
    self.assertEqual(list(restored.task.vocab.words), words)
    self.assertEqual(restored.task.output_size, len(words))
    self._assert_weights_restored(restored.core, directory)
    # The core reads one-hot words.
    inputs = restored.task.core_inputs(tf.constant([[2], [1]]))
    np.testing.assert_array_equal(inputs.numpy()[:, 0].argmax(-1), [2, 1])

  def test_best_restores_the_checkpoint_kept_in_best(self):
    directory = os.path.join(self.create_tempdir().full_path, 'run')
    shared_data.copy_old_layout('repeat_copy', directory)
    with self.assertRaisesRegex(
      checkpoints.CheckpointError, 'No checkpoint in'
    ):
      restore.load(directory, best=True)
    # A best checkpoint of other weights, at step 2, as a validating run
    # keeps it.
    latest = restore.load(directory)
    for variable in latest.core.variables:
      variable.assign(variable + 1.0)
    step = tf.Variable(2, dtype=tf.int64)
    tf.train.CheckpointManager(
      tf.train.Checkpoint(core=latest.core, step=step),
      os.path.join(directory, checkpoints.BEST_DIR),
      max_to_keep=1,
    ).save(checkpoint_number=2)
    best = restore.load(directory, best=True)
    self.assertEqual(best.step, 2)
    self.assertEqual(best.path, os.path.join(directory, 'best', 'ckpt-2'))
    saved = _checkpoint_weights(directory)  # The latest, without the + 1.
    values = sorted(v.numpy().sum() for v in best.core.variables)
    expected = sorted(t.sum() + t.size for t in saved)
    np.testing.assert_allclose(values, expected, rtol=1e-5)

  def test_babi_run_with_the_options_from_the_literature(self):
    directory = self.create_tempdir().full_path
    words = ['<pad>', '-', 'mary', 'went', '.', '?']
    config = dict(
      hidden_size=6, memory_size=4, word_size=3, num_read_heads=1,
      num_write_heads=1, clip_value=20, layer_norm=True, bypass_dropout=0.2,
      embedding_size=3, backward_size=2, vocabulary=words, tasks=[1],
      batch_size=2,
    )  # fmt: skip
    tf.random.set_seed(0)
    saved = config_lib.make_core(
      config_lib.ModelConfig.from_dict(config),
      len(words),
      fast_kernels=False,
      vocabulary_size=len(words),
    )
    saved.build()
    step = tf.Variable(7, dtype=tf.int64)
    checkpoints.Checkpointer(directory, config, core=saved, step=step).save(7)
    restored = restore.load(directory)
    self.assertEqual(restored.step, 7)
    self.assertIsInstance(restored.core, model.Model)
    # And the state of the generator of the dropout masks.
    generator = restored.core._generator.state
    self._assert_weights_restored(restored.core, directory, [generator])
    ids = tf.constant([[2], [3], [4], [1]])
    self.assertAllClose(restored.core(ids), saved(ids))
    inputs = trainer.model_inputs(restored.core, restored.task, ids.numpy())
    self.assertEqual(inputs.dtype, tf.int32)

  def test_config_of_no_known_task(self):
    directory = self.create_tempdir()
    directory.create_file('config.json', json.dumps({'hidden_size': 4}))
    with self.assertRaisesRegex(checkpoints.CheckpointError, 'names no task'):
      restore.load(directory.full_path)

  def test_missing_directory(self):
    with self.assertRaisesRegex(checkpoints.CheckpointError, 'nowhere'):
      restore.load(os.path.join(self.create_tempdir().full_path, 'nowhere'))


if __name__ == '__main__':
  absltest.main()
