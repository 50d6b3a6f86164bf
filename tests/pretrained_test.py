"""Tests of the pretrained models and of `dnc.tools.pretrained`.

Every folder under `pretrained/` must load with today's code and reproduce
the outputs recorded beside it. The mechanism itself is tested on the
suite's tiny bAbI run of the old layout (tests/testdata): written as a
pretrained folder, loaded and checked, then trained on in this process
through `loop.train` with `--init_from` (on task 4 alone, whose stories
have one length: one trace), and the folder updated with that segment.
"""

import json
import os
import pathlib
import shlex
import shutil
import sys
import tempfile
import types

from absl.testing import absltest
import numpy as np
import pytest
import tensorflow as tf

from dnc import config as config_lib
from dnc import tasks
from dnc.tasks import babi
from dnc.tasks.babi import task as babi_task
from dnc.tools import pretrained
from dnc.tools import restore
from dnc.train import checkpoints
from dnc.train import loop
from dnc.train import trainer as trainer_lib
from tests import shared_data

_SHIPPED = shared_data.REPO / 'pretrained'
_DATA = shared_data.BABI_STORIES / 'en'
# The old layout's run (tests/testdata/old_layout_expected.json).
_MODEL = dict(hidden_size=4, memory_size=4, word_size=2, num_read_heads=1)
_BATCH = 2


def _shipped_folders():
  if not _SHIPPED.is_dir():
    return []
  return sorted(p for p in _SHIPPED.iterdir() if (p / 'config.json').exists())


def _tensors(path):
  """Name -> value of every tensor of the latest checkpoint in `path`."""
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(path)))
  return {
    name: reader.get_tensor(name)
    for name in reader.get_variable_to_shape_map()
    if name != '_CHECKPOINTABLE_OBJECT_GRAPH'
  }


def _train(directory, steps, vocabulary, init_from='', **model):
  """A tiny bAbI run of task 4 through `loop.train`; returns the trainer.

  Raises:
    checkpoints.CheckpointError: as `loop.run` would log it.
  """
  vocab, stories = babi_task.load(
    str(_DATA), [4], ['train'], vocab=babi.Vocabulary(vocabulary)
  )
  train, valid = babi.split_validation(stories['train'], 0.25, 0)
  task = babi_task.BabiTask(
    vocab, [4], _BATCH, train_stories=train, seed=0, valid_stories=valid,
    validation_fraction=0.25,
  )  # fmt: skip
  model_config = config_lib.ModelConfig(**{**_MODEL, **model})
  tf.random.set_seed(0)
  core = config_lib.make_core(
    model_config,
    task.output_size,
    fast_kernels=False,
    vocabulary_size=task.vocabulary_size,
  )
  trainer = trainer_lib.Trainer(
    task, core, 1e-2, 1e-10, 50, compile_mode='function'
  )
  config = {
    **model_config.to_dict(),
    **task.config(),
    **tasks.config_entries(task),
  }
  run = types.SimpleNamespace(
    checkpoint_dir=directory, checkpoint_interval=2,
    max_checkpoints_to_keep=3, seed=0, batch_size=_BATCH,
    num_training_iterations=steps, jit_compile=False, logdir='',
    report_interval=2, learning_rate=1e-2, init_from=init_from,
  )  # fmt: skip
  loop.train(task, trainer, config, run)
  return trainer


def _first_stories(words, count, names):
  """Word ids `[T, B]` of the first `count` test stories of each task file
  named, read from the text (an encoding independent of dnc's), padded
  with 0."""
  stories = []
  for name in names:
    text = _DATA.joinpath(f'{name}_test.txt').read_text().lower()
    read = []
    for line in text.splitlines():
      number, rest = line.split(' ', 1)
      if number == '1':
        read.append([])
      sentence, *answer = rest.split('\t')
      tokens = sentence.replace('.', ' .').replace('?', ' ?').split()
      tokens += ['-'] * len(answer[0].split(',')) if answer else []
      read[-1] += [words.index(token) for token in tokens]
    stories += read[:count]
  ids = np.zeros([max(map(len, stories)), len(stories)], np.int64)
  for b, story in enumerate(stories):
    ids[: len(story), b] = story
  return ids


class ShippedModelsTest(absltest.TestCase):
  def test_every_shipped_model_reproduces_its_predictions(self):
    for folder in _shipped_folders():
      with self.subTest(folder.name):
        self.assertEqual(pretrained.check(str(folder)), [])
        tensors = _tensors(folder)
        self.assertFalse([n for n in tensors if 'optimizer' in n.lower()])
        weights = [v for n, v in tensors.items() if n.startswith('core/')]
        self.assertLessEqual(sum(v.nbytes for v in weights), 4 * 2**20)
        self.assertTrue((folder / 'RECORD.md').is_file())


# One xdist worker for the class, so that setUpClass runs once.
@pytest.mark.xdist_group('pretrained_tool')
class PretrainedToolTest(tf.test.TestCase):
  """A folder of the old layout's run, and a warm start from it, made once
  (`setUpClass`); each test checks one part."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = pathlib.Path(tempfile.mkdtemp())
    cls.source = str(cls.tmp / 'source')
    shared_data.copy_old_layout('babi', cls.source)
    cls.words = json.loads((cls.tmp / 'source/config.json').read_text())[
      'vocabulary'
    ]  # fmt: skip
    # It predates validation: the record a validating run writes at step 3.
    cls.row = {'step': 3, 'score': 50.0, 'summary': 'by the test', 'best': True}
    (cls.tmp / 'source/validation.jsonl').write_text(json.dumps(cls.row))
    cls.folder = cls.tmp / 'pretrained' / 'tiny'
    pretrained.write(cls.source, str(cls.folder), command='made by the test')
    cls.first_record = json.loads((cls.folder / 'record.json').read_text())
    cls.first_check = pretrained.check(str(cls.folder))
    with open(cls.folder / 'RECORD.md', 'a') as f:
      f.write('Trained for the tests.\n')
    cls.warm = str(cls.tmp / 'warm')
    cls.warm_trainer = _train(cls.warm, 5, cls.words, str(cls.folder))
    pretrained.write(cls.warm, str(cls.folder))

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.tmp, ignore_errors=True)
    super().tearDownClass()

  def test_folder_holds_the_weights_only_and_loads_in_one_call(self):
    self.assertEqual(self.first_check, [])
    self.assertEqual(self.first_record['step'], 3)
    self.assertEqual(self.first_record['made_by'], 'made by the test')
    source = _tensors(self.source)
    self.assertNotEmpty([n for n in source if n.startswith('optimizer/')])
    folder = _tensors(self.folder)
    self.assertEqual(
      sorted({n.split('/')[0] for n in folder}),
      ['core', 'save_counter', 'step', 'train_seconds'],
    )
    restored = restore.load(str(self.folder))
    self.assertEqual(restored.step, 5)
    self.assertEqual(restored.kind, 'babi')
    for variable in restored.core.variables:
      self.assertEqual(variable.dtype, tf.float32)
    # The shipped weights are the warm run's last.
    warm = _tensors(self.warm)
    weights = [n for n in folder if n.startswith('core/')]
    self.assertLen(weights, len(restored.core.variables))
    for name in weights:
      np.testing.assert_array_equal(folder[name], warm[name], err_msg=name)

  def test_predictions_are_the_models_outputs_on_the_test_stories(self):
    recorded = json.loads((self.folder / 'predictions.json').read_text())
    observations = np.asarray(recorded['observations'])
    # The folder's config is the warm run's: task 4 alone.
    expected = _first_stories(self.words, 2, ['qa4_two-arg-relations'])
    np.testing.assert_array_equal(observations, expected)
    # The warm run's own model, on the same words: the recorded outputs.
    inputs = tf.one_hot(observations, len(self.words))
    logits = tf.function(trainer_lib.unroll)(
      self.warm_trainer.core, inputs
    ).numpy()
    positions = np.argwhere(observations == 1)  # '-': answer here.
    self.assertEqual(recorded['positions'], positions.tolist())
    self.assertEqual(
      recorded['answers'], logits[tuple(positions.T)].argmax(-1).tolist()
    )
    t, b = positions[0]
    np.testing.assert_allclose(recorded['logits'][0], logits[t, b], atol=1e-5)

  def test_check_catches_a_model_that_computes_otherwise(self):
    copy = self.tmp / 'changed'
    shutil.copytree(self.folder, copy)
    recorded = json.loads((copy / 'predictions.json').read_text())
    recorded['logits'][1][3] += 1e-3
    (copy / 'predictions.json').write_text(json.dumps(recorded))
    (problem,) = pretrained.check(str(copy))
    t, b = recorded['positions'][1]
    self.assertEqual(problem, f'logits at step {t}, sequence {b}: off by 0.001')

  def test_warm_start_continues_the_counters_and_records_its_origin(self):
    self.assertEqual(int(self.warm_trainer.step.numpy()), 5)
    origin = json.loads(pathlib.Path(self.warm, 'init_from.json').read_text())
    self.assertEqual(origin['init_from'], str(self.folder))
    self.assertEqual(origin['step'], 3)
    self.assertEqual(origin['train_hours'], 0)  # The old layout lacks them.
    rows = loop.read_validation(self.warm)
    self.assertEqual([r['step'] for r in rows], [4, 5])
    self.assertEqual([r['stories_seen'] for r in rows], [8, 10])
    self.assertGreater(rows[1]['train_hours'], rows[0]['train_hours'])
    self.assertEqual(
      [s['to_hours'] for s in self.first_record['segments']], [0]
    )

  def test_update_appends_the_segment_and_keeps_the_notes(self):
    record = json.loads((self.folder / 'record.json').read_text())
    self.assertEqual(
      [(s['from_step'], s['to_step']) for s in record['segments']],
      [(0, 3), (3, 5)],
    )
    # The command line of the process that ran `loop.train`: this one.
    self.assertEqual(
      record['segments'][1]['commands'], [shlex.join(['python', *sys.argv])]
    )
    rows = [
      json.loads(line)
      for line in (self.folder / 'validation.jsonl').read_text().splitlines()
    ]
    self.assertEqual(rows[0], self.row)
    self.assertEqual([r['step'] for r in rows], [3, 4, 5])
    text = (self.folder / 'RECORD.md').read_text()
    self.assertIn('| 2 | 3 → 5 | 10 |', text)
    self.assertIn('the optimiser state', text)
    self.assertTrue(text.endswith('## Notes\n\nTrained for the tests.\n'))
    self.assertEqual(sorted(os.listdir(self.tmp / 'pretrained')), ['tiny'])

  def test_an_existing_folder_is_updated_only_from_its_own_runs(self):
    before = (self.folder / 'record.json').read_text()
    with self.assertRaisesRegex(
      pretrained.PretrainedError, 'did not warm start from at its step 5'
    ):
      pretrained.write(self.source, str(self.folder))
    self.assertEqual((self.folder / 'record.json').read_text(), before)

  def test_warm_start_refuses_another_model_in_one_line(self):
    directory = str(self.tmp / 'other')
    with self.assertRaises(checkpoints.CheckpointError) as caught:
      _train(directory, 6, self.words, str(self.folder), hidden_size=5)
    self.assertEqual(
      str(caught.exception),
      f'--init_from={self.folder} holds a model of other flags: '
      '--hidden_size 4 there, 5 here. Pass its flags, or another '
      '--init_from.',
    )
    self.assertFalse(os.path.exists(directory))

  def test_warm_start_may_resize_the_memory(self):
    # No variable depends on the memory's size or its link's sparsity, so a
    # curriculum can grow the memory: the weights arrive as they were.
    directory = str(self.tmp / 'larger')
    trainer = _train(
      directory, 3, self.words, str(self.folder), memory_size=8,
      link_sparsity=2,
    )  # fmt: skip
    saved = _tensors(self.folder)
    restored = {v.name: v.numpy() for v in trainer.core.trainable_variables}
    self.assertLen(restored, len(trainer.core.trainable_variables))
    matched = 0
    for name, value in saved.items():
      if 'core' in name and name.endswith('VARIABLE_VALUE'):
        self.assertTrue(
          any(np.array_equal(value, v) for v in restored.values()), name
        )
        matched += 1
    self.assertEqual(matched, len(restored))

  def test_a_checkpoint_in_the_run_directory_wins(self):
    with self.assertLogs(level='WARNING') as logs:
      trainer = _train(self.warm, 5, self.words, str(self.source))
    self.assertIn(f'--init_from={self.source} is ignored', logs.output[0])
    self.assertEqual(int(trainer.step.numpy()), 5)


if __name__ == '__main__':
  absltest.main()
