"""Tests for dnc.train.checkpoints.Checkpointer's configuration check."""

import json
import os

from absl import flags
from absl.testing import absltest
import tensorflow as tf

from dnc.train import checkpoints


class CheckpointerTest(tf.test.TestCase):
  def _save(self, directory, config, value=1.0):
    variable = tf.Variable(value)
    checkpointer = checkpoints.Checkpointer(directory, config, v=variable)
    return checkpointer.save(7)

  def test_saves_config_once_and_restores_values(self):
    directory = self.get_temp_dir()
    self._save(directory, {'memory_size': 16})
    with open(os.path.join(directory, checkpoints.CONFIG_FILE)) as f:
      self.assertEqual(json.load(f), {'memory_size': 16})
    variable = tf.Variable(0.0)
    restored = checkpoints.Checkpointer(
      directory, {'memory_size': 16}, v=variable
    ).restore_latest()
    self.assertEqual(restored, os.path.join(directory, 'ckpt-7'))
    self.assertEqual(variable.numpy(), 1.0)

  def test_optional_state_is_restored_only_when_saved(self):
    older = os.path.join(self.get_temp_dir(), 'older')
    self._save(older, {}, value=3.0)  # Written before `extra` existed.
    variable, extra = tf.Variable(0.0), tf.Variable(5.0)
    checkpointer = checkpoints.Checkpointer(
      older, {}, optional={'extra': extra}, v=variable
    )
    self.assertIsNotNone(checkpointer.restore_latest())
    self.assertEqual(variable.numpy(), 3.0)
    self.assertEqual(extra.numpy(), 5.0)  # Kept: nothing to restore.

    newer = os.path.join(self.get_temp_dir(), 'newer')
    extra.assign(2.0)
    checkpoints.Checkpointer(
      newer, {}, optional={'extra': extra}, v=variable
    ).save(1)
    again = tf.Variable(0.0)
    checkpoints.Checkpointer(
      newer, {}, optional={'extra': again}, v=tf.Variable(0.0)
    ).restore_latest()
    self.assertEqual(again.numpy(), 2.0)
    # Required state is still required.
    with self.assertRaisesRegex(checkpoints.CheckpointError, 'can be read'):
      checkpoints.Checkpointer(
        older, {}, v=tf.Variable(0.0), w=tf.Variable(0.0)
      ).restore_latest()

  def test_other_config_is_refused_naming_each_flag(self):
    directory = self.get_temp_dir()
    self._save(directory, {'memory_size': 16, 'word_size': 8})
    checkpointer = checkpoints.Checkpointer(
      directory, {'memory_size': 32, 'word_size': 8}, v=tf.Variable(0.0)
    )
    with self.assertRaisesRegex(
      checkpoints.CheckpointError, r'--memory_size: saved 16, now 32'
    ) as raised:
      checkpointer.restore_latest()
    self.assertNotIn('word_size', str(raised.exception))
    checkpointer.check_config(keys_to_ignore=('memory_size',))

  def test_defaults_stand_for_entries_an_older_config_lacks(self):
    directory = self.get_temp_dir()
    self._save(directory, {'memory_size': 16})
    new_config = {'memory_size': 16, 'permute_words': ''}
    variable = tf.Variable(0.0)
    with self.assertRaisesRegex(
      checkpoints.CheckpointError, r"--permute_words: saved None, now ''"
    ):
      checkpoints.Checkpointer(directory, new_config, v=variable).check_config()
    resumed = checkpoints.Checkpointer(
      directory, new_config, defaults={'permute_words': ''}, v=variable
    )
    self.assertIsNotNone(resumed.restore_latest())
    self.assertEqual(variable.numpy(), 1.0)
    # A default never hides a value that the older run did use.
    other = {'memory_size': 16, 'permute_words': 'a,b'}
    with self.assertRaisesRegex(
      checkpoints.CheckpointError, r"--permute_words: saved '', now 'a,b'"
    ):
      checkpoints.Checkpointer(
        directory, other, defaults={'permute_words': ''}
      ).check_config()


class CheckDirectoryTest(tf.test.TestCase):
  def setUp(self):
    super().setUp()
    self.root = self.create_tempdir().full_path
    self.file = os.path.join(self.root, 'afile')
    with open(self.file, 'w') as f:
      f.write('not a directory')

  def test_a_file_or_a_path_under_one_is_refused(self):
    for writable in (True, False):
      cannot = 'cannot write there' if writable else 'cannot hold checkpoints'
      with self.subTest(writable=writable):
        with self.assertRaisesRegex(
          checkpoints.CheckpointError,
          rf'^--checkpoint_dir={self.file}: {cannot} \(it is a file\)$',
        ):
          checkpoints.check_directory(self.file, writable)
        under = os.path.join(self.file, 'ckpt')
        with self.assertRaisesRegex(
          checkpoints.CheckpointError,
          rf'^--checkpoint_dir={under}: {cannot} \({self.file} is a file\)$',
        ):
          checkpoints.check_directory(under, writable)
    with open(self.file) as f:
      self.assertEqual(f.read(), 'not a directory')

  def test_creates_the_directory_and_leaves_what_is_there(self):
    directory = os.path.join(self.root, 'new', 'run')
    checkpoints.check_directory(directory, writable=False)
    self.assertFalse(os.path.exists(os.path.join(self.root, 'new')))
    checkpoints.check_directory(directory, writable=True)
    self.assertEqual(os.listdir(directory), [])
    saved = self._save(directory)
    before = {
      name: os.path.getmtime(os.path.join(directory, name))
      for name in os.listdir(directory)
    }
    checkpoints.check_directory(directory, writable=True)
    after = {
      name: os.path.getmtime(os.path.join(directory, name))
      for name in os.listdir(directory)
    }
    self.assertEqual(after, before)
    self.assertEqual(tf.train.latest_checkpoint(directory), saved)

  @absltest.skipIf(os.geteuid() == 0, 'root may write in a read-only directory')
  def test_a_read_only_directory_is_refused(self):
    directory = os.path.join(self.root, 'read_only')
    os.mkdir(directory, 0o555)
    checkpoints.check_directory(directory, writable=False)
    for path in (directory, os.path.join(directory, 'run')):
      with self.assertRaisesRegex(
        checkpoints.CheckpointError,
        rf'^--checkpoint_dir={path}: cannot write there \(.*Permission',
      ):
        checkpoints.check_directory(path, writable=True)
    self.assertEqual(os.listdir(directory), [])

  def _save(self, directory):
    return checkpoints.Checkpointer(directory, {}, v=tf.Variable(1.0)).save(3)


class AdoptSavedFlagsTest(tf.test.TestCase):
  def test_only_flags_missing_from_the_command_line_are_adopted(self):
    flag_values = flags.FlagValues()
    flags.DEFINE_integer('memory_size', 16, '', flag_values=flag_values)
    flags.DEFINE_integer('word_size', 16, '', flag_values=flag_values)
    flags.DEFINE_list('tasks', ['1', '2'], '', flag_values=flag_values)
    flag_values(['prog', '--word_size=8'])
    saved = {'memory_size': 64, 'word_size': 32, 'tasks': [3]}
    adopted = checkpoints.adopt_saved_flags(
      flag_values, saved, ('memory_size', 'word_size', 'tasks', 'absent')
    )
    self.assertEqual(adopted, {'memory_size': 64, 'tasks': [3]})
    self.assertEqual(flag_values.memory_size, 64)
    self.assertEqual(flag_values.word_size, 8)
    self.assertEqual(flag_values.tasks, [3])
    self.assertEqual(
      checkpoints.adopt_saved_flags(flag_values, None, ['tasks']), {}
    )


if __name__ == '__main__':
  tf.test.main()
