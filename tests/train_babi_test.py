"""End-to-end tests of train_babi.py, tiny model: on the bAbI-format stories
of tests/testdata/babi, and on the real files when `DNC_BABI_DIR` names them.
"""

import json
import os
import pathlib
import re
import shutil
import time

from absl.testing import absltest
import pytest
import tensorflow as tf

from tests import scripts
from tests import shared_data

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_DATA = shared_data.BABI_STORIES / 'en'
_REAL = (
  shared_data.REAL_BABI or pathlib.Path('/nonexistent/tasks_1-20_v1-2')
) / 'en'


def _questions(path):
  return sum('\t' in line for line in path.read_text().splitlines())


def _file(task, split, directory=_DATA):
  (path,) = directory.glob(f'qa{task}_*_{split}.txt')
  return path


def _run(*flags, timeout=600):
  return scripts.run(
    [os.path.join(_ROOT, 'train_babi.py'), *flags], timeout=timeout
  )


class TrainBabiTest(absltest.TestCase):
  @pytest.mark.slow
  def test_trains_resumes_and_evaluates(self):
    directory = self.create_tempdir().full_path
    flags = [
      f'--data_dir={_DATA}',
      '--tasks=1,4,16',
      '--hidden_size=32',
      '--memory_size=16',
      '--word_size=8',
      '--num_read_heads=2',
      '--batch_size=16',
      '--learning_rate=1e-3',
      '--report_interval=10',
      '--checkpoint_interval=20',
      f'--checkpoint_dir={directory}',
      '--nojit_compile',
      # Full backpropagation: one trace of the step for all story lengths.
      '--recompute_chunk_length=0',
    ]
    code, output = _run(*flags, '--num_training_iterations=40')
    self.assertEqual(code, 0, output)
    # Word ids do not depend on --tasks: the vocabulary holds the words of
    # every test file and of the training files read, and <pad> and '-'.
    vocabulary = shared_data.babi_words(
      [*_DATA.glob('qa*_test.txt'), *(_file(t, 'train') for t in (1, 4, 16))]
    )
    self.assertIn(f'vocabulary of {len(vocabulary) + 2} words', output)
    losses = [
      float(x) for x in re.findall(r'\d+: Avg training loss ([\d.]+)', output)
    ]
    self.assertLen(losses, 4)
    peaks = [float(x) for x in re.findall(r'peak memory ([\d.]+) GiB', output)]
    self.assertLen(peaks, 4)
    self.assertBetween(peaks[-1], 0.1, 64)
    self.assertLess(losses[-1], 0.8 * losses[0], output)

    code, output = _run(*flags, '--num_training_iterations=50')
    self.assertEqual(code, 0, output)
    self.assertIn('at step 40', output)

    # 10% of each task's training stories were held out and scored at each
    # checkpoint (20, 40, and the last, 50); the best is kept in best/.
    records = [
      json.loads(line)
      for line in pathlib.Path(directory, 'validation.jsonl').read_text()
      .splitlines()
    ]  # fmt: skip
    self.assertEqual([r['step'] for r in records], [20, 40, 50])
    self.assertEqual([r['stories_seen'] for r in records], [320, 640, 800])
    best = min(records, key=lambda r: r['score'])
    self.assertTrue(best['best'])
    self.assertEqual(
      os.listdir(os.path.join(directory, 'best')).count(
        f'ckpt-{best["step"]}.index'
      ),
      1,
    )

    code, output = _run(*flags, '--num_training_iterations=50', '--tasks=1')
    self.assertEqual(code, 1)
    self.assertIn('--tasks: saved [1, 4, 16], now [1]', output)

    # Evaluating some of the tasks, on each split; then (below) all of them
    # on the test split with the checkpoint's flags.
    results = os.path.join(directory, 'results')
    questions = {}
    for split in ('train', 'valid'):
      code, output = _run(
        *flags, '--mode=eval', '--tasks=4', f'--eval_split={split}',
        f'--results={results}', '--eval_checkpoint=best',
      )  # fmt: skip
      self.assertEqual(code, 0, output)
      with open(results + '.json') as f:
        saved = json.load(f)
      self.assertEqual(saved['split'], split)
      self.assertEqual(saved['steps'], best['step'])
      self.assertCountEqual(saved['error_percent'], ['4'])
      questions[split] = saved['questions']['4']
    self.assertIn('Validation error (%)', output)
    # The score recorded while training is what --mode=eval reproduces.
    self.assertAlmostEqual(
      saved['error_percent']['4'], best['error_percent']['4'], places=6
    )
    # The stories trained on and the held-out ones make up the file.
    self.assertEqual(
      questions['train'] + questions['valid'], _questions(_file(4, 'train'))
    )
    self.assertEqual(questions['valid'], best['questions']['4'])

    # With only the directories, the checkpoint's flags (and tasks) are used.
    code, output = _run(
      f'--data_dir={_DATA}', f'--checkpoint_dir={directory}', '--mode=eval',
      '--nojit_compile', f'--results={results}',
    )  # fmt: skip
    self.assertEqual(code, 0, output)
    self.assertRegex(output, r'\| 1: single supporting fact \| [\d.]+ \| 9\.0')
    self.assertRegex(output, r'\| 4: two arg relations \| [\d.]+ \| 0\.4')
    self.assertIn('**failed tasks (> 5%)**', output)
    with open(results + '.json') as f:
      saved = json.load(f)
    self.assertEqual(saved['split'], 'test')
    self.assertEqual(saved['steps'], 50)
    self.assertEqual(
      saved['questions'],
      {str(t): _questions(_file(t, 'test')) for t in (1, 4, 16)},
    )
    self.assertCountEqual(saved['error_percent'], ['1', '4', '16'])
    self.assertTrue(os.path.exists(results + '.md'))

  @pytest.mark.slow
  def test_options_from_the_literature_train_resume_and_evaluate(self):
    # Layer norm, bypass dropout, embeddings and the backward LSTM, with
    # train_babi.py's recomputation: a run resumed from the middle repeats
    # the losses of the uninterrupted one (the dropout masks come from a
    # generator in the checkpoint). Task 4's stories have one length, so
    # each process compiles few shapes of its step.
    def flags(directory):
      return [
        f'--data_dir={_DATA}', '--tasks=4', '--hidden_size=16',
        '--memory_size=8', '--word_size=4', '--num_read_heads=1',
        '--batch_size=4', '--learning_rate=1e-3', '--report_interval=4',
        '--checkpoint_interval=4', f'--checkpoint_dir={directory}',
        '--nojit_compile', '--layer_norm', '--bypass_dropout=0.2',
        '--embedding_size=8', '--backward_size=6',
        '--num_training_iterations=8',
      ]  # fmt: skip

    def losses(output):
      return re.findall(r'(\d+): Avg training loss ([\d.]+)', output)

    straight = self.create_tempdir().full_path
    code, output = _run(*flags(straight))
    self.assertEqual(code, 0, output)
    expected = losses(output)
    self.assertEqual([step for step, _ in expected], ['4', '8'], output)
    with open(os.path.join(straight, 'config.json')) as f:
      config = json.load(f)
    options = (
      'layer_norm',
      'bypass_dropout',
      'embedding_size',
      'backward_size',
    )
    self.assertEqual([config[key] for key in options], [True, 0.2, 8, 6])

    # The same run stopped at step 4: its first checkpoint alone.
    resumed = self.create_tempdir().full_path
    for name in os.listdir(straight):
      if name.startswith(('ckpt-4.', 'config.json')):
        shutil.copy(os.path.join(straight, name), resumed)
    now = time.time()
    tf.compat.v1.train.update_checkpoint_state(
      resumed,
      'ckpt-4',
      all_model_checkpoint_paths=['ckpt-4'],
      all_model_checkpoint_timestamps=[now],
      last_preserved_timestamp=now - 1,
    )
    code, output = _run(*flags(resumed))
    self.assertEqual(code, 0, output)
    self.assertIn('at step 4', output)
    self.assertEqual(losses(output), expected[1:])

    code, output = _run(*flags(resumed)[:-1], '--nolayer_norm')
    self.assertEqual(code, 1)
    self.assertIn('--layer_norm: saved True, now False', output)

    # The model's flags come from the checkpoint; no dropout in evaluation.
    code, output = _run(
      f'--data_dir={_DATA}', f'--checkpoint_dir={resumed}', '--mode=eval',
      '--nojit_compile',
    )  # fmt: skip
    self.assertEqual(code, 0, output)
    self.assertIn("'layer_norm': True", output)
    self.assertRegex(output, r'\| 4: two arg relations \| [\d.]+ \| 0\.4')

  def test_unknown_permute_words_are_named(self):
    directory = self.create_tempdir().full_path
    code, output = _run(
      f'--data_dir={_DATA}', '--tasks=1', f'--checkpoint_dir={directory}',
      '--permute_words=mary,zebra;kitchen,garden',
    )  # fmt: skip
    self.assertNotEqual(code, 0)
    self.assertIn("--permute_words: not in the vocabulary: ['zebra']", output)
    self.assertNotIn('Traceback', output)
    self.assertNotIn('Trains a DNC on the bAbI', output)  # No help text.
    self.assertNotIn('--data_dir:', output)
    self.assertEqual(os.listdir(directory), [])

  @pytest.mark.slow
  def test_resumes_a_checkpoint_written_before_the_shared_loop(self):
    # Written by train_babi.py at a39fb05; see tests/testdata/README.md.
    directory = os.path.join(self.create_tempdir().full_path, 'run')
    expected = shared_data.copy_old_layout('babi', directory)
    flags = [
      flag.replace('--data_dir=', f'--data_dir={shared_data.REPO}/')
      for flag in expected['flags']
    ]
    code, output = _run(
      *flags,
      f'--checkpoint_dir={directory}',
      *shared_data.OLD_LAYOUT_RESUME_FLAGS,
      # Written before the validation split: it trained on every story.
      '--validation_fraction=0',
    )
    self.assertEqual(code, 0, output)
    self.assertIn('ckpt-3 at step 3', output)
    reports = re.findall(
      r'(\d+): Avg training loss ([\d.]+), answer word error ([\d.]+)%',
      output,
    )
    self.assertEqual([int(step) for step, _, _ in reports], [4, 5, 6], output)
    for step, loss, error in reports:
      self.assertAlmostEqual(float(loss), expected['losses'][step], places=5)
      self.assertAlmostEqual(
        float(error), expected['answer_word_errors'][step], places=2
      )

  def test_missing_data_directory_is_one_line(self):
    code, output = _run(
      '--data_dir=/nonexistent',
      '--tasks=1',
      f'--checkpoint_dir={self.create_tempdir().full_path}/run',
    )
    self.assertEqual(code, 1)
    last = [line for line in output.splitlines() if line.strip()][-1]
    self.assertIn('bAbI data directory not found: /nonexistent', last)
    self.assertIn('bAbI data directory not found: /nonexistent', output)
    self.assertNotIn('Traceback', output)

  @pytest.mark.slow
  def test_trains_and_evaluates_from_the_files_of_its_tasks_alone(self):
    data = pathlib.Path(self.create_tempdir().full_path, 'en-10k')
    data.mkdir()
    task_files = [_file(1, 'train'), _file(1, 'test')]
    for path in task_files:
      shutil.copy(path, data)
    directory = self.create_tempdir().full_path
    flags = [
      f'--data_dir={data}', '--tasks=1', '--hidden_size=8',
      '--memory_size=4', '--word_size=4', '--num_read_heads=1',
      '--batch_size=2', '--report_interval=1', '--checkpoint_interval=2',
      f'--checkpoint_dir={directory}', '--nojit_compile',
      '--recompute_chunk_length=0',
    ]  # fmt: skip
    code, output = _run(*flags, '--num_training_iterations=2')
    self.assertEqual(code, 0, output)
    # The vocabulary is that of the files present, as the config records.
    words = sorted(shared_data.babi_words(task_files))
    with open(os.path.join(directory, 'config.json')) as f:
      self.assertEqual(json.load(f)['vocabulary'], ['<pad>', '-', *words])
    self.assertIn(f'vocabulary of {len(words) + 2} words', output)
    self.assertIn('2: Avg training loss', output)

    code, output = _run(*flags, '--mode=eval')
    self.assertEqual(code, 0, output)
    self.assertRegex(output, r'\| 1: single supporting fact \| [\d.]+ \| ')

    # A task asked for whose files are not there is named, with where.
    code, output = _run(*flags, '--tasks=1,2', '--num_training_iterations=4')
    self.assertEqual(code, 1, output)
    self.assertIn(f'not found in {data}: qa2_two-supporting-facts_', output)
    self.assertNotIn('Traceback', output)

  def test_missing_files_are_named(self):
    code, output = _run(
      f'--data_dir={self.create_tempdir().full_path}', '--tasks=2'
    )
    self.assertEqual(code, 1)
    self.assertIn('qa2_two-supporting-facts_train.txt', output)
    self.assertNotIn('Traceback', output)


@pytest.mark.slow
@absltest.skipUnless(_REAL.is_dir(), shared_data.REAL_BABI_SKIP_REASON)
class RealDataTest(absltest.TestCase):
  def test_counts_of_the_real_files(self):
    directory = self.create_tempdir().full_path
    flags = [
      f'--data_dir={_REAL}', '--tasks=1,4,16', '--hidden_size=8',
      '--memory_size=4', '--word_size=4', '--num_read_heads=1',
      '--batch_size=4', '--checkpoint_interval=1',
      f'--checkpoint_dir={directory}', '--nojit_compile',
      # One step, traced for one story length, and no validation: the
      # counts are what this test is for.
      '--recompute_chunk_length=0', '--validation_fraction=0',
    ]  # fmt: skip
    code, output = _run(*flags, '--num_training_iterations=1')
    self.assertEqual(code, 0, output)
    self.assertIn('vocabulary of 160 words', output)
    results = os.path.join(directory, 'results')
    code, output = _run(
      *flags, '--mode=eval', '--tasks=1,4', f'--results={results}'
    )
    self.assertEqual(code, 0, output)
    with open(results + '.json') as f:
      self.assertEqual(json.load(f)['questions'], {'1': 1000, '4': 1000})


if __name__ == '__main__':
  absltest.main()
