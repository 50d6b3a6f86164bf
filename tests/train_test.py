"""End-to-end tests of train.py, run as a user runs it (a process of its
own: `tests.scripts`)."""

import glob
import importlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time

from absl import flags
from absl import logging as absl_logging
from absl.testing import absltest
import numpy as np
import pytest
import tensorflow as tf

from tests import scripts
from tests import shared_data

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TRAIN = os.path.join(_ROOT, 'train.py')

# Small and uncompiled (tracing takes ~2 s, XLA ~15 s), except where a test
# is about XLA itself.
_TINY = (
  '--hidden_size=16',
  '--memory_size=8',
  '--word_size=4',
  '--num_read_heads=2',
  '--batch_size=4',
  '--num_bits=3',
  '--nojit_compile',
  '--seed=1',
)


def _start(*flags):
  return scripts.start([_TRAIN, *flags])


def _train(*flags, timeout=300):
  """Runs train.py; returns (exit code, everything it printed)."""
  return scripts.run([_TRAIN, *flags], timeout=timeout)


def _reported_losses(output):
  return [
    (int(step), float(loss))
    for step, loss in re.findall(r'(\d+): Avg training loss ([\d.]+)\.', output)
  ]


def _checkpoint_steps(directory):
  return sorted(
    int(re.search(r'ckpt-(\d+)\.index$', path).group(1))
    for path in glob.glob(os.path.join(directory, 'ckpt-*.index'))
  )


def _weights(directory):
  """The model's variables in the latest checkpoint of `directory`."""
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(directory))
  return {
    name: reader.get_tensor(name)
    for name in reader.get_variable_to_shape_map()
    if name.startswith('core/') and 'OPTIMIZER_SLOT' not in name
  }


class FlagsTest(absltest.TestCase):
  def test_helpfull_lists_the_reference_flags(self):
    _, output = _train('--helpfull')  # absl exits 1 after --helpfull.
    for flag in (
      'hidden_size',
      'memory_size',
      'word_size',
      'num_write_heads',
      'num_read_heads',
      'clip_value',
      'link_sparsity',
      'max_grad_norm',
      'learning_rate',
      'optimizer_epsilon',
      'batch_size',
      'num_bits',
      'min_length',
      'max_length',
      'min_repeats',
      'max_repeats',
      'num_training_iterations',
      'report_interval',
      'checkpoint_dir',
      'checkpoint_interval',
    ):
      self.assertRegex(output, rf'--{flag}: \S', flag)
    self.assertIn("(default: '16')", output)

  def test_bad_flags_stop_at_once_and_create_nothing(self):
    directory = os.path.join(self.create_tempdir().full_path, 'run')
    code, output = _train('--memory_size=0', f'--checkpoint_dir={directory}')
    self.assertNotEqual(code, 0)
    self.assertIn('--memory_size=0', output)
    self.assertNotIn('Traceback', output)
    self.assertFalse(os.path.exists(directory))

  def _define_train_flags(self):
    sys.path.insert(0, _ROOT)
    try:
      importlib.import_module('train')  # Defines its flags on absl's FLAGS.
    finally:
      sys.path.remove(_ROOT)
    # Parsing sets absl's verbosity (and its logger's level); put it back.
    self.addCleanup(absl_logging.set_verbosity, absl_logging.get_verbosity())

  def test_every_bad_flag_is_named(self):
    self._define_train_flags()
    for flag, message in (
      ('--memory_size=0', 'memory_size'),
      ('--num_read_heads=-1', 'num_read_heads'),
      ('--batch_size=0', 'batch_size'),
      ('--learning_rate=0', 'learning_rate'),
      ('--max_grad_norm=-1', 'max_grad_norm'),
      ('--optimizer_epsilon=0', 'optimizer_epsilon'),
      ('--clip_value=-1', 'clip_value'),
      ('--link_sparsity=-1', 'link_sparsity'),
      ('--memory_type=ntm', 'memory_type'),
      ('--sparse_reads=0', 'sparse_reads'),
      ('--min_length=3', 'min_length'),
      ('--min_repeats=5', 'min_repeats'),
    ):
      with self.subTest(flag=flag):
        try:
          with self.assertRaisesRegex(flags.Error, message):
            flags.FLAGS(['train.py', flag])
        finally:
          flags.FLAGS.unparse_flags()
          flags.FLAGS.mark_as_parsed()

  def test_the_journal_is_refused_at_parsing_where_it_cannot_run(self):
    self._define_train_flags()
    for extra, message in (
      ((), r'not --memory_type=dnc\.'),
      (('--memory_type=sdnc', '--bypass_dropout=0.5'), 'bypass_dropout=0'),
      (('--memory_type=sdnc',), None),
      # With recomputation, the journal's chunks: not refused.
      (('--memory_type=sam', '--recompute_chunk_length=-1'), None),
    ):
      with self.subTest(extra=extra):
        try:
          if message is None:
            flags.FLAGS(['train.py', '--journal', *extra])
            self.assertTrue(flags.FLAGS.journal)
          else:
            with self.assertRaisesRegex(flags.Error, message) as error:
              flags.FLAGS(['train.py', '--journal', *extra])
            self.assertIn('--journal', str(error.exception))
        finally:
          flags.FLAGS.unparse_flags()
          flags.FLAGS.mark_as_parsed()


class TrainingTest(absltest.TestCase):
  @pytest.mark.slow
  def test_loss_falls_under_xla(self):
    code, output = _train(
      '--seed=3',
      '--learning_rate=1e-3',
      '--num_training_iterations=600',
      '--report_interval=100',
      '--checkpoint_interval=-1',
    )
    self.assertEqual(code, 0, output)
    losses = [loss for _, loss in _reported_losses(output)]
    self.assertLen(losses, 6)
    self.assertLess(losses[-1], 0.75 * losses[0], output)
    self.assertRegex(output, r'Model Output:\n\+')
    self.assertRegex(output, r'600: [\d.]+ steps/s')
    traces = re.search(r'traced (\d+) time', output)
    self.assertLessEqual(int(traces.group(1)), 2)


def _class_tempdir(cls):
  """A temporary directory removed after the class's tests."""
  directory = tempfile.mkdtemp()
  cls.addClassCleanup(shutil.rmtree, directory, ignore_errors=True)
  return directory


# One interrupted and one uninterrupted run, inspected by several tests
# (runs of train.py are most of this file's time); the group keeps the
# class's tests on one xdist worker, so that setUpClass runs once.
@pytest.mark.xdist_group('train_test_resume')
class ResumeTest(absltest.TestCase):
  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.whole, cls.split = _class_tempdir(cls), _class_tempdir(cls)
    common = [*_TINY, '--checkpoint_interval=20', '--report_interval=20']
    cls.whole_run = _train(
      *common, f'--checkpoint_dir={cls.whole}', '--num_training_iterations=80'
    )
    # Stops at 50, between reports (and checkpoints), so the resumed run
    # must restore the running loss sum as well as weights, optimiser slots
    # and the task's generator.
    split = [*common, f'--checkpoint_dir={cls.split}']
    cls.first = _train(*split, '--num_training_iterations=50')
    cls.first_steps = _checkpoint_steps(cls.split)
    cls.first_config = os.path.exists(os.path.join(cls.split, 'config.json'))
    cls.second = _train(*split, '--num_training_iterations=80')
    cls.second_steps = _checkpoint_steps(cls.split)
    cls.third = _train(*split, '--num_training_iterations=80')

  def test_checkpoints_at_intervals_and_at_the_end(self):
    code, output = self.first
    self.assertEqual(code, 0, output)
    self.assertEqual(self.first_steps, [20, 40, 50])
    self.assertTrue(self.first_config)

  def test_resumes_and_keeps_the_last_three_checkpoints(self):
    code, output = self.second
    self.assertEqual(code, 0, output)
    self.assertIn('Resumed from', output)
    self.assertIn('ckpt-50 at step 50', output)
    self.assertEqual([s for s, _ in _reported_losses(output)], [60, 80])
    self.assertEqual(self.second_steps, [50, 60, 80])

  def test_stops_when_done(self):
    code, output = self.third
    self.assertEqual(code, 0, output)
    self.assertIn('Already trained 80 of 80 iterations', output)
    self.assertEqual(_reported_losses(output), [])

  def test_resumed_run_matches_uninterrupted_run(self):
    runs = (self.whole_run, self.first, self.second)
    for code, output in runs:
      self.assertEqual(code, 0, output)
    whole, first, second = (_reported_losses(output) for _, output in runs)
    self.assertEqual([s for s, _ in whole], [20, 40, 60, 80])
    self.assertEqual(whole, first + second)
    whole_weights, split_weights = _weights(self.whole), _weights(self.split)
    self.assertNotEmpty(whole_weights)
    self.assertCountEqual(whole_weights, split_weights)
    for name, value in whole_weights.items():
      np.testing.assert_allclose(split_weights[name], value, atol=1e-6)


class OldLayoutTest(absltest.TestCase):
  def test_resumes_a_checkpoint_written_before_the_shared_loop(self):
    # Written by train.py at a39fb05; see tests/testdata/README.md.
    directory = os.path.join(self.create_tempdir().full_path, 'run')
    expected = shared_data.copy_old_layout('repeat_copy', directory)
    code, output = _train(
      *expected['flags'],
      f'--checkpoint_dir={directory}',
      *shared_data.OLD_LAYOUT_RESUME_FLAGS,
    )
    self.assertEqual(code, 0, output)
    self.assertIn('ckpt-3 at step 3', output)
    self.assertEqual(
      _reported_losses(output),
      [(int(step), loss) for step, loss in expected['losses'].items()],
    )
    self.assertEqual(_checkpoint_steps(directory), [3, 6])


# One run of 30 steps (checkpoints at 10, 20 and 30, summaries in a logdir),
# copied afresh for each test that changes or resumes it; the group keeps
# them on one xdist worker.
@pytest.mark.xdist_group('train_test_trained')
class TrainedRunTest(absltest.TestCase):
  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.trained = os.path.join(_class_tempdir(cls), 'run')
    cls.logdir = os.path.join(_class_tempdir(cls), 'logdir')
    cls.training = _train(
      *_TINY,
      f'--checkpoint_dir={cls.trained}',
      f'--logdir={cls.logdir}',
      '--checkpoint_interval=10',
      '--report_interval=10',
      '--num_training_iterations=30',
    )

  def setUp(self):
    super().setUp()
    code, output = self.training
    self.assertEqual(code, 0, output)
    self.directory = os.path.join(self.create_tempdir().full_path, 'run')
    shutil.copytree(self.trained, self.directory)
    self.flags = [
      *_TINY,
      f'--checkpoint_dir={self.directory}',
      '--checkpoint_interval=10',
      '--report_interval=10',
    ]

  def _files(self):
    return {
      path: os.path.getmtime(path)
      for path in glob.glob(os.path.join(self.directory, '*'))
    }

  def test_logdir_gets_scalars_pictures_and_text(self):
    _, output = self.training
    (path,) = glob.glob(os.path.join(self.logdir, 'events.out.tfevents.*'))
    values = {}
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        values.setdefault(value.tag, []).append(
          (event.step, tf.make_ndarray(value.tensor))
        )
    for tag in ('loss', 'gradient_norm', 'steps_per_second', 'learning_rate'):
      self.assertEqual([step for step, _ in values[tag]], [10, 20, 30], tag)
    np.testing.assert_allclose(values['learning_rate'][0][1], 1e-4)
    losses = [loss for _, loss in _reported_losses(output)]
    np.testing.assert_allclose(
      [v for _, v in values['loss']], losses, rtol=1e-5
    )
    # The tiny model has 8 memory slots and 2 read heads; pictures are 8
    # pixels per cell, time across.
    for tag in ('write_weights/0', 'read_weights/0', 'read_weights/1', 'usage'):
      width, height, png = values['memory/' + tag][-1][1]
      self.assertEqual(int(height), 8 * 8, tag)
      self.assertEqual(int(width) % 8, 0)
      self.assertEqual(
        tf.io.decode_png(png).shape, (int(height), int(width), 1)
      )
    self.assertIn('memory/gates', values)
    self.assertIn('memory/memory_last_step', values)
    self.assertIn(b'Observations:', values['sample'][-1][1].item())

  def test_other_flags_stop_before_touching_anything(self):
    before = self._files()
    code, output = _train(
      *self.flags,
      '--memory_size=12',
      '--max_length=3',
      '--num_training_iterations=40',
    )
    self.assertEqual(code, 1)
    self.assertIn('--memory_size: saved 8, now 12', output)
    self.assertIn('--max_length: saved 2, now 3', output)
    self.assertIn('another --checkpoint_dir', output)
    self.assertNotIn('Traceback', output)
    self.assertEqual(self._files(), before)

  def test_unreadable_checkpoint_falls_back_to_the_previous_one(self):
    (data,) = glob.glob(os.path.join(self.directory, 'ckpt-30.data-*'))
    with open(data, 'r+b') as f:
      f.truncate(os.path.getsize(data) // 2)
    code, output = _train(*self.flags, '--num_training_iterations=40')
    self.assertEqual(code, 0, output)
    self.assertIn('Cannot read checkpoint', output)
    self.assertIn('ckpt-30', output)
    self.assertIn('ckpt-20 at step 20', output)
    self.assertNotIn('Traceback', output)

  def test_no_readable_checkpoint_is_a_clear_error(self):
    for index in glob.glob(os.path.join(self.directory, 'ckpt-*.index')):
      with open(index, 'wb') as f:
        f.write(b'garbage')
    before = self._files()
    code, output = _train(*self.flags, '--num_training_iterations=40')
    self.assertEqual(code, 1)
    self.assertIn('No checkpoint in', output)
    for step in (30, 20, 10):
      self.assertIn(f'ckpt-{step}', output)
    self.assertNotIn('Traceback', output)
    self.assertEqual(self._files(), before)

  def test_evaluates_longer_patterns_than_trained_on(self):
    flags = [*_TINY, f'--checkpoint_dir={self.directory}']
    code, output = _train(
      *flags, '--mode=eval', '--max_length=5', '--eval_batches=3'
    )
    self.assertEqual(code, 0, output)
    match = re.search(
      r'lengths 1-5, repeats 1-2\): average loss ([\d.]+), bit error rate '
      r'([\d.]+)%',
      output,
    )
    self.assertIsNotNone(match, output)
    self.assertGreater(float(match.group(1)), 0)
    self.assertBetween(float(match.group(2)), 0, 100)
    # With only the directory, the checkpoint's own flags are used.
    code, output = _train(
      '--mode=eval', f'--checkpoint_dir={self.directory}', '--eval_batches=1'
    )
    self.assertEqual(code, 0, output)
    self.assertIn('batches of 4 (lengths 1-2, repeats 1-2)', output)
    self.assertRegex(
      output, r"Flags taken from the checkpoint: .*'num_bits': 3"
    )
    # A model flag that changes variable shapes is still refused.
    code, output = _train(*flags, '--mode=eval', '--hidden_size=8')
    self.assertEqual(code, 1)
    self.assertIn('--hidden_size: saved 16, now 8', output)


class CheckpointDirTest(absltest.TestCase):
  def test_a_directory_it_cannot_use_stops_it_before_training(self):
    # Tests run as root, who writes in read-only directories: a path under
    # a file stands for a directory that cannot be created.
    afile = os.path.join(self.create_tempdir().full_path, 'afile')
    with open(afile, 'w') as f:
      f.write('kept')
    for directory, more_flags, problem in (
      (
        os.path.join(afile, 'ckpt'),
        ['--checkpoint_interval=10'],
        f'cannot write there ({afile} is a file)',
      ),
      # With checkpointing off (train.py's default) nothing is written, but
      # a file cannot hold checkpoints to resume from either.
      (afile, [], 'cannot hold checkpoints (it is a file)'),
    ):
      with self.subTest(directory=directory):
        code, output = _train(
          *_TINY,
          f'--checkpoint_dir={directory}',
          '--report_interval=1',
          '--num_training_iterations=20',
          *more_flags,
        )
        self.assertEqual(code, 1, output)
        last = [line for line in output.splitlines() if line.strip()][-1]
        self.assertIn(f'--checkpoint_dir={directory}: {problem}', last)
        self.assertNotIn('Traceback', output)
        self.assertNotIn('Avg training loss', output)
    with open(afile) as f:
      self.assertEqual(f.read(), 'kept')


class SafetyTest(absltest.TestCase):
  def setUp(self):
    super().setUp()
    self.directory = self.create_tempdir().full_path
    self.flags = [
      *_TINY,
      f'--checkpoint_dir={self.directory}',
      '--checkpoint_interval=10',
      '--report_interval=10',
    ]

  def _wait_for(self, process, pattern, timeout=120):
    """Reads the process's output until `pattern` appears; returns it."""
    lines, deadline = [], time.time() + timeout
    while time.time() < deadline:
      line = process.stdout.readline()
      if not line:
        break
      lines.append(line)
      if re.search(pattern, line):
        return ''.join(lines)
    process.kill()
    self.fail(f'{pattern!r} never appeared:\n' + ''.join(lines))

  def test_signals_save_a_final_checkpoint(self):
    for signum in (signal.SIGINT, signal.SIGTERM):
      with self.subTest(signal=signum.name):
        process = _start(
          *self.flags,
          '--checkpoint_interval=1000',
          '--num_training_iterations=1000000',
        )
        self._wait_for(process, r'10: Avg training loss')
        process.send_signal(signum)
        output, _ = process.communicate(timeout=60)
        self.assertEqual(process.returncode, 128 + signum, output)
        self.assertNotIn('Traceback', output)
        self.assertRegex(output, r'Saved .*ckpt-\d+')
        self.assertTrue(_checkpoint_steps(self.directory))

  def test_a_signal_without_checkpointing_says_nothing_was_saved(self):
    directory = os.path.join(self.directory, 'run')
    process = _start(
      *_TINY,
      f'--checkpoint_dir={directory}',
      '--checkpoint_interval=0',
      '--report_interval=5',
      '--num_training_iterations=1000000',
    )
    self._wait_for(process, r'5: Avg training loss')
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    self.assertEqual(process.returncode, 128 + signal.SIGINT, output)
    self.assertNotIn('Traceback', output)
    self.assertRegex(
      output,
      r'Stopped by SIGINT at step \d+: nothing was saved, as checkpointing '
      r'is off \(--checkpoint_interval=0\)',
    )
    self.assertNotIn('Saved', output)
    self.assertFalse(os.path.exists(directory))

  def test_killed_run_resumes_from_last_complete_checkpoint(self):
    process = _start(
      *self.flags,
      '--checkpoint_interval=5',
      '--num_training_iterations=1000000',
    )
    self._wait_for(process, r'Saved .*ckpt-40')
    process.kill()
    process.wait()
    latest = tf.train.latest_checkpoint(self.directory)
    step = int(re.search(r'ckpt-(\d+)$', latest).group(1))
    self.assertGreaterEqual(step, 40)
    code, output = _train(*self.flags, f'--num_training_iterations={step + 5}')
    self.assertEqual(code, 0, output)
    self.assertIn(f'ckpt-{step} at step {step}', output)


class MemoryOptionsTest(absltest.TestCase):
  @pytest.mark.slow  # Three runs of train.py.
  def test_dncmd_options_train_are_saved_and_must_match(self):
    directory = self.create_tempdir().full_path
    options = ('--content_masking', '--deallocate_content', '--link_sharpness')
    flags = [*_TINY, f'--checkpoint_dir={directory}', '--eval_batches=1']
    code, output = _train(
      *flags, *options, '--checkpoint_interval=5', '--num_training_iterations=5'
    )
    self.assertEqual(code, 0, output)
    with open(os.path.join(directory, 'config.json')) as f:
      config = json.load(f)
    for option in options:
      self.assertIs(config[option[2:]], True, option)
    weights = _weights(directory)
    for layer in ('read_masks', 'write_masks', 'link_sharpness'):
      self.assertIn(
        f'core/_access/_interface_linears/{layer}/w/.ATTRIBUTES/VARIABLE_VALUE',
        weights,
      )
    # Evaluating takes them from the checkpoint; resuming without them is
    # refused.
    code, output = _train(*flags, '--mode=eval')
    self.assertEqual(code, 0, output)
    self.assertRegex(
      output, r"Flags taken from the checkpoint: .*'link_sharpness': True"
    )
    code, output = _train(*flags, '--num_training_iterations=10')
    self.assertEqual(code, 1, output)
    for option in options:
      self.assertIn(f'{option}: saved True, now False', output)


if __name__ == '__main__':
  absltest.main()
