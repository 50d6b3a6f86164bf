"""Tests for dnc.train.trainer: the step with and without recomputation."""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from dnc import config as config_lib
from dnc import controllers
from dnc import dnc
from dnc import sam
from dnc.tasks.babi import task as babi_task
from dnc.tasks.repeat_copy import task as repeat_copy_task
from dnc.train import trainer
from tests import shared_data

# Repeat-copy sequences of 3 * (2 + 1) + 3 = 12 steps.
_CONFIG = dict(
  hidden_size=16,
  memory_size=8,
  word_size=4,
  batch_size=3,
  min_length=3,
  max_length=3,
  min_repeats=2,
  max_repeats=2,
  learning_rate=1e-2,
)


class RecomputeTest(tf.test.TestCase, parameterized.TestCase):
  # In a graph, the Trainer's own step. Full and recomputed XLA training
  # steps take the same steps in tests/benchmarks_recompute_test.py, and
  # the XLA recomputation of a DNC equals full backpropagation to 1e-8 in
  # tests/recompute_test.py (a third XLA case here took 29 s).
  @parameterized.parameters(('function', 5), ('function', -1))
  def test_same_steps_as_full_backpropagation(self, mode, chunk_length):
    runs = []
    for recompute_chunk_length in (0, chunk_length):
      config = dict(_CONFIG, recompute_chunk_length=recompute_chunk_length)
      train = repeat_copy_task.make_trainer(config, seed=3, compile_mode=mode)
      train.build()  # Else the first call traces the step twice.
      losses = [float(train.run_step()[0]) for _ in range(3)]
      runs.append((losses, [v.numpy() for v in train.core.trainable_variables]))
    (full_losses, full_weights), (losses, weights) = runs
    self.assertAllClose(full_losses, losses, rtol=1e-5)
    self.assertNotAllClose(full_losses[0], full_losses[-1])  # It trained.
    for expected, value in zip(full_weights, weights, strict=True):
      self.assertAllClose(expected, value, rtol=1e-4, atol=1e-6)

  @parameterized.parameters(-2, 1.5, '3')
  def test_bad_chunk_length(self, chunk_length):
    task = repeat_copy_task.RepeatCopyTask(repeat_copy_task.DEFAULTS)
    with self.assertRaisesRegex(ValueError, '`recompute_chunk_length`'):
      trainer.Trainer(
        task,
        core=None,
        learning_rate=1e-4,
        optimizer_epsilon=1e-10,
        max_grad_norm=50,
        recompute_chunk_length=chunk_length,
      )

  def test_refuses_a_core_with_dropout_in_its_step(self):
    task = repeat_copy_task.RepeatCopyTask(repeat_copy_task.DEFAULTS)
    core = dnc.DNC(
      dict(memory_size=4, word_size=3, num_reads=1, num_writes=1),
      output_size=task.output_size,
      controller=controllers.DeepLSTM([4, 4], dropout_rate=0.1),
    )
    with self.assertRaisesRegex(ValueError, 'would draw other masks'):
      trainer.Trainer(task, core, 1e-4, 1e-10, 50, recompute_chunk_length=-1)
    trainer.Trainer(task, core, 1e-4, 1e-10, 50)  # Without recomputation.


class JournalTest(tf.test.TestCase, parameterized.TestCase):
  """The step through `dnc.sparse_journal` is the step without it."""

  # In graphs: the journaled unroll under XLA is checked on its own
  # (tests/sparse_journal_test.py), and compiling two SAM trainers with XLA
  # took 47 s of the suite.
  # The SDNC's journal recomputed in chunks of 5 of its 12 steps (5, 5, 2),
  # against the step with neither.
  @parameterized.parameters(
    ('sam', 'function', False, 0),
    ('sdnc', 'function', True, 5),
  )
  def test_same_steps_as_without_the_journal(
    self, kind, mode, carried, chunk_length
  ):
    sparse = dict(memory_type=kind, sparse_reads=2, num_read_heads=2)
    if kind == 'sdnc':
      sparse['link_sparsity'] = 2
    runs = []
    for journal in (False, True):
      config = dict(_CONFIG, **sparse, journal=journal)
      if journal:
        config['recompute_chunk_length'] = chunk_length
      train = repeat_copy_task.make_trainer(config, seed=3, compile_mode=mode)
      if carried:  # unroll_from: the state carried from the last batch.
        train.carried = trainer.CarriedState(train.core, 3)
      train.build()
      initial = [v.numpy() for v in train.core.trainable_variables]
      loss = float(train.run_step()[0])  # One step: XLA compiles it once.
      runs.append((loss, [v.numpy() for v in train.core.trainable_variables]))
    (full_loss, full_weights), (loss, weights) = runs
    self.assertAllClose(full_loss, loss, rtol=1e-5)
    self.assertNotAllClose(initial, weights)  # It trained.
    for expected, value in zip(full_weights, weights, strict=True):
      self.assertAllClose(expected, value, rtol=1e-4, atol=1e-6)

  @parameterized.named_parameters(
    ('dense_dnc', dict(memory_type='dnc'), 'is for SAM and the SDNC'),
    (
      'bypass_dropout',
      dict(memory_type='sam', bypass_dropout=0.5),
      '--bypass_dropout=0',
    ),
  )
  def test_refusals(self, options, message):
    config = dict(_CONFIG, sparse_reads=2, journal=True, **options)
    with self.assertRaisesRegex(config_lib.ConfigError, '--journal') as error:
      repeat_copy_task.make_trainer(config, seed=0, compile_mode='eager')
    self.assertRegex(str(error.exception), message)
    self.assertNotIn('\n', str(error.exception))  # One line.

  def test_refuses_a_core_with_dropout_in_its_step(self):
    task = repeat_copy_task.RepeatCopyTask(repeat_copy_task.DEFAULTS)
    core = sam.SAM(
      dict(memory_size=4, word_size=3, num_reads=1, sparse_reads=2),
      controller=controllers.DeepLSTM([4, 4], dropout_rate=0.1),
      output_size=task.output_size,
    )
    with self.assertRaisesRegex(config_lib.ConfigError, 'without dropout'):
      trainer.Trainer(task, core, 1e-4, 1e-10, 50, journal=True)
    trainer.Trainer(task, core, 1e-4, 1e-10, 50)  # Without the journal.


_MODEL = dict(
  hidden_size=8,
  memory_size=4,
  word_size=3,
  num_read_heads=1,
  num_write_heads=1,
  clip_value=20,
)


class BypassDropoutTrainingTest(tf.test.TestCase):
  def test_dropout_in_the_training_step_and_not_in_evaluation(self):
    vocab, stories = babi_task.load(
      str(shared_data.BABI_STORIES / 'en'), [1], ['train']
    )
    task = babi_task.BabiTask(vocab, [1], 2, train_stories=stories['train'])
    tf.random.set_seed(0)
    core = config_lib.make_core(
      config_lib.ModelConfig(**_MODEL, bypass_dropout=0.5, embedding_size=4),
      task.output_size,
      fast_kernels=False,
      vocabulary_size=task.vocabulary_size,
    )
    train = trainer.Trainer(task, core, 1e-3, 1e-10, 50, compile_mode='eager')
    batch = train._host_batch(task.batch())
    state = lambda: core._generator.state.numpy().copy()
    before = state()
    evaluation = [float(train.forward_step(*batch)) for _ in range(2)]
    self.assertEqual(evaluation[0], evaluation[1])
    np.testing.assert_array_equal(state(), before)  # No masks drawn.
    loss = float(train.train_step(*batch)[0])
    self.assertFalse(core.is_training)
    self.assertGreater(np.abs(state() - before).max(), 0)
    self.assertNotAlmostEqual(loss, evaluation[0], places=4)


if __name__ == '__main__':
  tf.test.main()
