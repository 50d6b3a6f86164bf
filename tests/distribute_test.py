"""Tests for dnc.train.distribute: data-parallel training under tf.distribute.

In-process tests use the two logical CPUs of tests/conftest.py. The
multi-worker tests start `train.py` processes (`tests/local_cluster.py`) that
talk over 127.0.0.1 in a network namespace of their own (TensorFlow's gRPC
server listens on every interface, and there the only one is loopback), each
bounded in time and stopped by its PID.
"""

import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types
from unittest import mock

from absl.testing import parameterized
import numpy as np
import pytest
import tensorflow as tf

from dnc import config as config_lib
from dnc.tasks import base as task_lib
from dnc.tasks.babi import task as babi_task
from dnc.tasks.repeat_copy import task as repeat_copy_task
from dnc.train import distribute
from dnc.train import loop
from dnc.train import trainer as trainer_lib
from tests import local_cluster
from tests import scripts
from tests import shared_data

_MODEL = dict(
  hidden_size=8,
  memory_size=4,
  word_size=4,
  num_read_heads=2,
  num_write_heads=1,
  clip_value=20,
)
_REPEAT_COPY = dict(
  _MODEL,
  batch_size=4,
  min_length=2,
  max_length=2,
  min_repeats=1,
  max_repeats=1,
  learning_rate=1e-2,
)


def _mirrored():
  return tf.distribute.MirroredStrategy(
    ['/cpu:0', '/cpu:1'],
    cross_device_ops=tf.distribute.ReductionToOneDevice(),
  )


def _babi_trainer(mode, strategy=None):
  vocab, stories = babi_task.load(
    str(shared_data.BABI_STORIES / 'en'), [1], ['train']
  )
  task = babi_task.BabiTask(vocab, [1], 4, train_stories=stories['train'])
  tf.random.set_seed(0)
  core = config_lib.make_core(
    config_lib.ModelConfig.from_dict(_MODEL),
    task.output_size,
    fast_kernels=trainer_lib.fast_kernels_for(mode),
  )
  return trainer_lib.Trainer(
    task, core, 1e-2, 1e-10, 50, compile_mode=mode, strategy=strategy
  )


def _uneven_babi_batch(task):
  """A batch whose two halves hold 5 and 2 of its answers."""
  batch = task.batch()
  mask = np.array(batch.mask)
  answers = [np.flatnonzero(mask[:, i]) for i in range(4)]
  mask[:, 1] = 0  # Second story: no answer counts.
  mask[answers[2][1:], 2] = 0  # Third story: its first answer alone.
  mask[answers[3][1:], 3] = 0
  assert mask[:, :2].sum() == len(answers[0]) > mask[:, 2:].sum() == 2
  return tuple(
    tf.constant(x) for x in task_lib.DatasetTensors(*batch[:2], mask)
  )


class MirroredStepTest(tf.test.TestCase, parameterized.TestCase):
  # XLA compiles each replica's gradients the same way for every task (the
  # tasks differ in what comes before: batches drawn in the step or fed,
  # the weighting of uneven masks), so one task is compiled with it.
  # The SDNC's sparse state (indices as floats, last-access times) splits
  # over the replicas as the DNC's does.
  @parameterized.parameters(
    ('repeat_copy', 'xla'),
    ('babi', 'function'),
    ('repeat_copy', 'function', 'sdnc'),
  )
  def test_one_step_equals_the_single_device_step(
    self, task, mode, memory_type='dnc'
  ):
    sparse = {}
    if memory_type == 'sdnc':
      sparse = dict(memory_type='sdnc', sparse_reads=2, link_sparsity=2)
    trainers = []
    for strategy in (None, _mirrored()):
      if task == 'repeat_copy':
        trainer = repeat_copy_task.make_trainer(
          dict(_REPEAT_COPY, **sparse),
          seed=3,
          compile_mode=mode,
          strategy=strategy,
        )
      else:
        trainer = _babi_trainer(mode, strategy)
      trainer.build()
      trainers.append(trainer)
    single, mirrored = trainers
    self.assertEqual(mirrored.strategy.num_replicas_in_sync, 2)
    self.assertEqual(type(mirrored.core).__name__, memory_type.upper())
    initial = [v.numpy() for v in single.core.trainable_variables]
    # A seed gives the same initial weights under every strategy.
    for want, variable in zip(
      initial, mirrored.core.trainable_variables, strict=True
    ):
      self.assertAllEqual(want, variable.numpy())
    if task == 'repeat_copy':  # Same seed, same batch, drawn in the step.
      losses = [float(t.run_step()[0]) for t in trainers]
    else:
      batch = _uneven_babi_batch(single.task)
      losses = [float(t.train_step(*batch)[0]) for t in trainers]
    self.assertAllClose(losses[0], losses[1], rtol=1e-5)
    for want, variable in zip(
      single.core.trainable_variables,
      mirrored.core.trainable_variables,
      strict=True,
    ):
      copies = [v.numpy() for v in variable.values]
      self.assertLen(copies, 2)
      self.assertAllEqual(copies[0], copies[1])
      self.assertAllClose(want.numpy(), copies[0], rtol=1e-5, atol=1e-5)
    moved = [
      np.abs(v.numpy() - w).max()
      for v, w in zip(single.core.trainable_variables, initial, strict=True)
    ]
    self.assertGreater(min(moved), 0)  # Every weight trained.
    self.assertEqual(int(single.step.numpy()), int(mirrored.step.numpy()))
    self.assertAllClose(
      single.loss_sum.numpy(), mirrored.loss_sum.numpy(), rtol=1e-5
    )

  def test_a_batch_that_does_not_split_is_refused(self):
    trainer = repeat_copy_task.make_trainer(
      dict(_REPEAT_COPY, batch_size=3),
      seed=0,
      compile_mode='function',
      strategy=_mirrored(),
    )
    trainer.build()
    with self.assertRaisesRegex(ValueError, 'multiple of 2'):
      trainer.run_step()


class CostWeightTest(tf.test.TestCase):
  def _check_split(self, task, logits, target, mask):
    whole = task.cost(logits, target, mask)
    weight = task.cost_weight(target, mask)
    parts = 0.0
    for columns in (slice(0, 2), slice(2, 4)):
      part = [x[:, columns] for x in (logits, target, mask)]
      parts += task.cost(*part) * task.cost_weight(*part[1:]) / weight
    self.assertAllClose(whole, parts, rtol=1e-6)

  def test_parts_sum_to_the_whole_bAbI_loss(self):
    trainer = _babi_trainer('eager')
    observations, target, mask = _uneven_babi_batch(trainer.task)
    rng = np.random.default_rng(0)
    logits = rng.normal(size=[*target.shape, trainer.task.output_size])
    logits = tf.constant(logits, tf.float32)
    self._check_split(trainer.task, logits, target, mask)
    # The mean over answer words, not over the 4 stories.
    answers = float(tf.reduce_sum(mask))
    self.assertGreater(answers, 4)
    self.assertEqual(float(trainer.task.cost_weight(target, mask)), answers)

  def test_parts_sum_to_the_whole_repeat_copy_loss(self):
    task = repeat_copy_task.RepeatCopyTask(
      {**repeat_copy_task.DEFAULTS, **_REPEAT_COPY}, seed=0
    )
    observations, target, mask = task.batch()
    rng = np.random.default_rng(1)
    logits = tf.constant(rng.normal(size=target.shape), tf.float32)
    self._check_split(task, logits, target, mask)
    self.assertEqual(float(task.cost_weight(target, mask)), 4.0)


class MakeStrategyTest(tf.test.TestCase):
  def test_none_is_the_default_strategy(self):
    strategy = distribute.make_strategy('none')
    self.assertIs(strategy, tf.distribute.get_strategy())
    self.assertTrue(distribute.is_chief(strategy))
    self.assertEqual(distribute.num_workers(strategy), 1)

  def test_mirrored_uses_every_logical_cpu(self):
    strategy = distribute.make_strategy('mirrored')
    self.assertEqual(strategy.num_replicas_in_sync, 2)
    self.assertTrue(distribute.is_chief(strategy))

  def test_errors_name_the_flag(self):
    with self.assertRaisesRegex(distribute.DistributeError, '--distribute'):
      distribute.make_strategy('parameter_server')
    with self.assertRaisesRegex(distribute.DistributeError, '--cpu_devices'):
      distribute.make_strategy('none', cpu_devices=2)
    # TensorFlow is running: too late to split the CPU.
    with self.assertRaisesRegex(
      distribute.DistributeError, '--cpu_devices.*before the strategy'
    ):
      distribute.make_strategy('mirrored', cpu_devices=3)

  def test_multi_worker_needs_tf_config(self):
    for value, message in (
      (None, 'TF_CONFIG .*not set'),
      ('{"cluster": {}}', 'TF_CONFIG must be JSON'),
      (
        '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"index": 1}}',
        'index 1 is not one of the 1 workers',
      ),
    ):
      environ = dict(os.environ)
      environ.pop('TF_CONFIG', None)
      if value is not None:
        environ['TF_CONFIG'] = value
      with mock.patch.dict(os.environ, environ, clear=True):
        with self.assertRaisesRegex(distribute.DistributeError, message):
          distribute.make_strategy('multi_worker')


class RunChecksTest(tf.test.TestCase):
  def test_the_batch_must_split_and_workers_need_a_seed(self):
    flag_values = types.SimpleNamespace(
      batch_size=3, distribute='mirrored', seed=None
    )
    with self.assertRaisesRegex(
      distribute.DistributeError, '--batch_size=3 .*multiple of 2'
    ):
      loop._check_distribution(_mirrored(), flag_values)
    flag_values.batch_size = 4
    loop._check_distribution(_mirrored(), flag_values)
    with mock.patch.object(distribute, 'num_workers', return_value=2):
      with self.assertRaisesRegex(
        distribute.DistributeError, 'needs the same --seed'
      ):
        loop._check_distribution(_mirrored(), flag_values)

  def test_workers_that_disagree_are_named(self):
    class TwoWorkers:
      """What two workers' values look like, gathered."""

      def __init__(self, rows):
        self.rows = rows

      def experimental_distribute_values_from_function(self, fn):
        return fn(None)

      def gather(self, value, axis):
        del value, axis
        return tf.constant(self.rows)

    values = {'the step': 20, '--seed': 1}
    with mock.patch.object(distribute, 'num_workers', return_value=2):
      distribute.check_same_on_workers(TwoWorkers([[20, 1], [20, 1]]), values)
      with self.assertRaisesRegex(
        distribute.DistributeError, r'disagree on --seed: \[1, 2\]'
      ):
        distribute.check_same_on_workers(TwoWorkers([[20, 1], [20, 2]]), values)


# --- Several processes. -----------------------------------------------------

_TIMEOUT = 300  # Seconds any one run of the cluster may take.
_TRAIN_FLAGS = (
  '--hidden_size=8',
  '--memory_size=4',
  '--word_size=4',
  '--num_read_heads=2',
  '--batch_size=4',
  '--max_length=2',
  '--max_repeats=1',
  '--learning_rate=1e-2',
  '--seed=0',
  '--checkpoint_interval=10',
  '--report_interval=10',
  '--max_checkpoints_to_keep=5',
  # Compiling dominates these short runs; the XLA step under a strategy is
  # tested in-process above (MirroredStepTest) and timed per worker by
  # benchmarks/distribute.py.
  '--nojit_compile',
)


def _fingerprint(text):
  return re.findall(r'fingerprint ([0-9a-f]{16})', text)


def _weights(path):
  reader = tf.train.load_checkpoint(path)
  return {
    key: reader.get_tensor(key)
    for key in reader.get_variable_to_shape_map()
    if key.startswith(('core/', 'optimizer/'))
  }


class _Alone:
  """One train.py process without `TF_CONFIG`, with `LocalCluster`'s
  `wait` and `output`: forked with TensorFlow imported (tests/scripts.py)
  rather than started afresh, as only the workers need to be."""

  def __init__(self, argv):
    env = scripts.environment()
    env.pop('TF_CONFIG', None)
    self._process = scripts.start(argv, env=env, cwd=str(shared_data.REPO))
    self._output = ''

  def wait(self, timeout):
    try:
      self._output, _ = self._process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
      self._process.kill()
      raise TimeoutError(
        f'train.py ran over {timeout} s; it was stopped.'
      ) from None
    return [self._process.wait()]

  def output(self, index=None):
    del index  # The only process.
    return self._output


@pytest.mark.slow
@pytest.mark.skipif(
  not local_cluster.private_network_available(),
  reason='needs Linux, root, unshare, nsenter and ip (a private network '
  'namespace keeps the workers on 127.0.0.1)',
)
class MultiWorkerTest(tf.test.TestCase):
  def setUp(self):
    super().setUp()
    self.directory = tempfile.mkdtemp()
    self.addCleanup(shutil.rmtree, self.directory, ignore_errors=True)

  def _checkpoints(self, name):
    return os.path.join(self.directory, name)

  def _start(self, name, workers, steps, checkpoints=None):
    command = [
      str(shared_data.REPO / 'train.py'),
      *_TRAIN_FLAGS,
      f'--num_training_iterations={steps}',
      f'--checkpoint_dir={self._checkpoints(checkpoints or name)}',
    ]
    if workers == 1:
      return _Alone(command)
    command = [sys.executable, *command, '--distribute=multi_worker']
    return local_cluster.LocalCluster(
      command, workers, self.directory, name, cwd=shared_data.REPO
    )

  def _assert_ran(self, cluster):
    codes = cluster.wait(_TIMEOUT)
    self.assertEqual(codes, [0] * len(codes), cluster.output())

  def _assert_same_weights(self, path, want_path):
    weights, want = _weights(path), _weights(want_path)
    self.assertEqual(sorted(weights), sorted(want))
    self.assertGreater(len(want), 25)  # The DNC's and RMSProp's.
    # Summing two half-batch gradients rounds differently from one
    # full-batch sum; over 20 to 30 RMSProp steps float32 drifts by about
    # 1e-5 (one step agrees to 1e-5: MirroredStepTest). The workers agree
    # with each other exactly (their fingerprints).
    for key, value in want.items():
      self.assertAllClose(value, weights[key], rtol=1e-4, atol=1e-4, msg=key)

  def test_two_workers_train_as_one_process_resume_and_survive_a_loss(self):
    # One cluster run per stage, as each start of the workers costs tens of
    # seconds: the pair trains, resumes and loses a worker; one process
    # resumes what the chief kept.
    single = self._start('single', 1, 30)
    pair = self._start('pair', 2, 20)
    self._assert_ran(pair)
    self._assert_ran(single)
    prints = [_fingerprint(pair.output(i)) for i in range(2)]
    self.assertLen(prints[0], 1)
    self.assertEqual(prints[0], prints[1])  # Identical on both workers.
    one = self._checkpoints('single')
    two = self._checkpoints('pair')
    self._assert_same_weights(f'{two}/ckpt-20', f'{one}/ckpt-20')
    self.assertIn('Saved', pair.output(0))
    self.assertNotIn('Saved', pair.output(1))  # Only the chief writes.

    # The same two workers resume, and worker 1 is killed once they are
    # past step 30. The chief blocks in the next all-reduce, so few steps
    # follow and ckpt-30 is still among the five kept.
    resumed = self._start('pair', 2, 100_000)
    index = pathlib.Path(two, 'ckpt-30.index')
    resumed.wait_for(index.exists, _TIMEOUT, 'the checkpoint of step 30')
    time.sleep(1)  # Past the write of the checkpoint's index.
    os.kill(resumed.processes[1].pid, signal.SIGKILL)
    codes = resumed.wait(180)
    chief = resumed.output(0)
    self.assertEqual(codes[0], 1, chief)
    self.assertIn('at step 20', chief)
    self._assert_same_weights(f'{two}/ckpt-30', f'{one}/ckpt-30')
    self.assertIn('a worker was lost', chief)
    self.assertRegex(chief, r'The last checkpoint, \S+ckpt-\d+, is intact')
    latest = tf.train.latest_checkpoint(two)
    step = int(latest.rsplit('-', 1)[1])
    self.assertGreaterEqual(step, 30)
    self.assertIn(f'ckpt-{step}, is intact', chief)

    # One process resumes the workers' checkpoint.
    alone = self._start('alone', 1, step + 5, checkpoints='pair')
    self._assert_ran(alone)
    self.assertIn(f'at step {step}', alone.output())


if __name__ == '__main__':
  tf.test.main()
