"""Tests of dnc.tasks.char_lm and train_char_lm.py, on texts the tests write.

The vocabulary, the splits and the windows against plain Python readings of
the text; the state carried over windows against one long unroll; BPC
against numpy; and one tiny end-to-end run: validation below the unigram
entropy, a sample reproduced in another process, the baseline's weights.
"""

import json
import math
import os
import re
import shutil
import tempfile

from absl.testing import parameterized
import numpy as np
import pytest
import tensorflow as tf

from dnc import config as config_lib
from dnc import controllers
from dnc.tasks import base as task_lib
from dnc.tasks.char_lm import sampling
from dnc.tasks.char_lm import task as char_lm
from dnc.tasks.char_lm import text as text_lib
from dnc.tools import export
from dnc.train import trainer as trainer_lib
from tests import scripts

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_WORDS = ('alpha ', 'beta ', 'gamma ', 'delta\n', 'épée ')


def _text(n_words: int, seed: int = 0) -> str:
  """Seeded words: unpredictable from word to word, fixed within one."""
  rng = np.random.default_rng(seed)
  return ''.join(_WORDS[i] for i in rng.integers(len(_WORDS), size=n_words))


def _write(directory: str, name: str, content: bytes | str) -> str:
  path = os.path.join(directory, name)
  mode = 'wb' if isinstance(content, bytes) else 'w'
  with open(path, mode, **({} if 'b' in mode else {'encoding': 'utf-8'})) as f:
    f.write(content)
  return path


class VocabularyTest(tf.test.TestCase):
  def test_ids_against_a_dictionary(self):
    text = _text(50)
    vocabulary = text_lib.Vocabulary.of_text(text)
    characters = sorted(set(text))
    self.assertEqual(vocabulary.characters, ''.join(characters))
    self.assertEqual(vocabulary.size, len(characters) + 1)
    oracle = {c: i + 1 for i, c in enumerate(characters)}
    other = 'alpha zeta!\n€'
    self.assertEqual(
      vocabulary.encode(other).tolist(), [oracle.get(c, 0) for c in other]
    )
    self.assertEqual(vocabulary.decode(vocabulary.encode(text)), text)
    self.assertEqual(
      vocabulary.decode(vocabulary.encode('z€a')),
      text_lib.UNKNOWN_SYMBOL * 2 + 'a',
    )
    self.assertEqual(
      vocabulary.code_points(), [-1] + [ord(c) for c in characters]
    )

  def test_prediction_batch_reads_every_character(self):
    task = char_lm.CharLMTask.from_config(
      dict(
        vocabulary='xa\nz',
        batch_size=4,
        window_length=8,
        reset_state=False,
        valid_fraction=0.05,
        test_fraction=0.05,
      )
    )
    batch = task.prediction_batch()
    rows = [task.vocabulary.decode(batch.observations[:, b]) for b in (0, 1)]
    self.assertEqual(rows, ['xa\nz', 'z\nax'])
    self.assertAllEqual(batch.target[:-1], batch.observations[1:])

  def test_repeated_character_is_refused(self):
    with self.assertRaisesRegex(task_lib.TaskError, 'repeats'):
      text_lib.Vocabulary('abca')


class SplitsTest(tf.test.TestCase, parameterized.TestCase):
  def setUp(self):
    super().setUp()
    self.dir = self.create_tempdir().full_path

  @parameterized.parameters((0.05, 0.05), (0.1, 0.0), (0.0, 0.2))
  def test_single_file_in_contiguous_parts(self, valid, test):
    text = _text(400)
    path = _write(self.dir, 'input.txt', text)
    parts = text_lib.read_splits(path, valid, test)
    n = len(text)
    n_valid, n_test = round(n * valid), round(n * test)
    self.assertEqual(parts['train'], text[: n - n_valid - n_test])
    self.assertEqual(parts['valid'], text[n - n_valid - n_test : n - n_test])
    self.assertEqual(parts['test'], text[n - n_test :])

  def test_directory_of_splits(self):
    for split in ('train', 'valid'):
      _write(self.dir, split, f'{split} text')
    _write(self.dir, 'test.txt', 'test text')
    self.assertEqual(
      text_lib.read_splits(self.dir),
      {'train': 'train text', 'valid': 'valid text', 'test': 'test text'},
    )

  def test_errors_name_the_flag(self):
    missing = os.path.join(self.dir, 'missing.txt')
    empty = _write(self.dir, 'empty.txt', '')
    latin = _write(self.dir, 'latin.txt', 'caf\xe9'.encode('latin-1'))
    os.mkdir(os.path.join(self.dir, 'splits'))
    _write(os.path.join(self.dir, 'splits'), 'train', 'abc')
    cases = [
      ((missing,), '--data=.*no such file'),
      ((empty,), '--data: .* is empty'),
      ((latin,), '--data: .* is not UTF-8'),
      ((os.path.join(self.dir, 'splits'),), "--data=.* without a 'valid'"),
      ((latin, 0.6, 0.5), '--valid_fraction \\+ --test_fraction'),
      ((latin, 1.5, 0.0), '--valid_fraction must be in'),
      (('',), '--data is required'),
    ]
    for args, message in cases:
      with self.assertRaisesRegex(task_lib.TaskError, message):
        text_lib.read_splits(*args)
    with self.assertRaisesRegex(task_lib.TaskError, '^--window_length=8: '):
      text_lib.Windows(np.arange(30), batch_size=4, window_length=8)


class WindowsTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.parameters((1, 5), (3, 4), (4, 7), (2, 1))
  def test_rows_tile_their_streams_in_order(self, batch_size, length):
    ids = np.random.default_rng(batch_size).integers(1, 9, 101)
    windows = text_lib.Windows(ids, batch_size, length)
    # The oracle: row b reads ids[b S : (b + 1) S], S = len // B, in order.
    s = len(ids) // batch_size
    streams = [ids[b * s : (b + 1) * s].tolist() for b in range(batch_size)]
    per_epoch = (s - 1) // length
    self.assertEqual(windows.per_epoch, per_epoch)
    read = [[] for _ in range(batch_size)]
    for k in range(per_epoch):
      data = windows(k)
      for array in data:
        self.assertEqual(array.shape, (length, batch_size))
      self.assertAllEqual(data.mask, np.ones((length, batch_size)))
      for b in range(batch_size):
        inputs = data.observations[:, b].tolist()
        self.assertEqual(data.target[:, b].tolist()[:-1], inputs[1:])
        read[b] += inputs
        self.assertEqual(data.target[-1, b], streams[b][len(read[b])])
    for b in range(batch_size):
      # No character lost or repeated at window boundaries.
      self.assertEqual(read[b], streams[b][: per_epoch * length])
    # Nor at batch boundaries: the rows' streams are the text, in order.
    self.assertEqual(sum(streams, []), ids[: batch_size * s].tolist())
    # After the last window, the first again.
    for first, again in zip(windows(0), windows(per_epoch), strict=True):
      self.assertAllEqual(first, again)


class BitsPerCharacterTest(tf.test.TestCase):
  def test_against_numpy(self):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 3, 7)).astype(np.float32) * 3
    targets = rng.integers(7, size=(6, 3))
    mask = np.ones((6, 3), np.float32)
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    oracle = np.mean(
      [-math.log2(p[t, b, targets[t, b]]) for t in range(6) for b in range(3)]
    )
    self.assertAllClose(
      text_lib.bits_per_character(logits, targets), oracle, rtol=1e-6
    )
    task = char_lm.CharLMTask(
      text_lib.Vocabulary('abcdef'),
      dict(
        batch_size=3,
        window_length=6,
        reset_state=False,
        valid_fraction=0.05,
        test_fraction=0.05,
      ),
    )
    # The training loss is in nats: BPC is it over ln 2.
    nats = task.cost(tf.constant(logits), tf.constant(targets), mask)
    self.assertAllClose(float(nats) / math.log(2), oracle, rtol=1e-5)
    # Half the positions masked out: the mean of the others.
    mask[:3] = 0
    self.assertAllClose(
      text_lib.bits_per_character(logits, targets, mask),
      np.mean(-np.log2(np.take_along_axis(p, targets[..., None], -1)[3:])),
      rtol=1e-6,
    )
    self.assertAllClose(
      text_lib.unigram_entropy(np.array([1, 1, 2, 3])),
      -(0.5 * math.log2(0.5) + 2 * 0.25 * math.log2(0.25)),
    )


_SMALL_MODEL = config_lib.ModelConfig(
  hidden_size=8, memory_size=8, word_size=4, num_read_heads=1
)


def _task(ids, batch_size, window_length, reset_state=False):
  vocabulary = text_lib.Vocabulary('abcdefg')
  config = dict(
    batch_size=batch_size,
    window_length=window_length,
    reset_state=reset_state,
    valid_fraction=0.0,
    test_fraction=0.0,
  )
  return char_lm.CharLMTask(vocabulary, config, {'train': ids})


def _trainer(task, seed=0, learning_rate=1e-3):
  tf.random.set_seed(seed)
  core = config_lib.make_core(
    _SMALL_MODEL, task.output_size, fast_kernels=False
  )
  trainer = trainer_lib.Trainer(
    task,
    core,
    learning_rate=learning_rate,
    optimizer_epsilon=1e-10,
    max_grad_norm=50,
    # Eager: no trace to pay for; the step's code is the compiled one's.
    compile_mode='eager',
  )
  trainer.build()  # The weights of the seed, made eagerly.
  return trainer


class CarriedStateTest(tf.test.TestCase):
  def setUp(self):
    super().setUp()
    self.ids = np.random.default_rng(1).integers(1, 8, 2 * 13).astype(np.int32)

  def test_windows_equal_one_long_unroll(self):
    # A learning rate so small that the weights stay as they were: the
    # steps' logits are then those of one model over consecutive windows.
    task = _task(self.ids, batch_size=2, window_length=4)
    trainer = _trainer(task, learning_rate=1e-30)
    steps = [trainer.run_step()[3].numpy() for _ in range(3)]
    streams = self.ids.reshape(2, 13).T  # [T, B]: row b's stream.
    long = trainer_lib.unroll(trainer.core, task.core_inputs(streams[:12]))
    self.assertAllClose(np.concatenate(steps), long.numpy(), atol=1e-5)

  def test_reset_state_starts_each_window_from_zeros(self):
    task = _task(self.ids, batch_size=2, window_length=4, reset_state=True)
    self.assertFalse(task.carries_state)
    trainer = _trainer(task, learning_rate=1e-30)
    self.assertIsNone(trainer.carried)
    trainer.run_step()
    second = trainer.run_step()[3].numpy()
    streams = self.ids.reshape(2, 13).T
    alone = trainer_lib.unroll(trainer.core, task.core_inputs(streams[4:8]))
    self.assertAllClose(second, alone.numpy(), atol=1e-6)

  def test_resumes_state_and_position_exactly(self):
    directory = self.create_tempdir().full_path
    uninterrupted = _trainer(_task(self.ids, 2, 4))
    losses = [float(uninterrupted.run_step()[0]) for _ in range(4)]
    first = _trainer(_task(self.ids, 2, 4))
    for _ in range(2):
      first.run_step()
    path = tf.train.Checkpoint(**first.trackables()).save(
      os.path.join(directory, 'ckpt')
    )
    # Other initial weights, restored over.
    resumed = _trainer(_task(self.ids, 2, 4), seed=7)
    resumed.build()
    tf.train.Checkpoint(**resumed.trackables()).restore(path).assert_consumed()
    self.assertEqual(int(resumed.task.position.numpy()), 2)
    again = [float(resumed.run_step()[0]) for _ in range(2)]
    self.assertAllClose(again, losses[2:], rtol=1e-6)


class BaselineTest(tf.test.TestCase):
  def test_controller_only_is_an_lstm_and_a_linear_layer(self):
    config = config_lib.ModelConfig(
      hidden_size=6, controller_only=True, clip_value=0.5
    )
    tf.random.set_seed(0)
    core = config_lib.make_core(config, 5, fast_kernels=False)
    self.assertIsInstance(core, controllers.ControllerOnly)
    inputs = tf.random.stateless_normal([2, 3], seed=[1, 2])
    state = core.initial_state(2)
    output, _ = core(inputs, state)
    h, _ = core.controller(inputs, state)
    weights = {v.name: v.numpy() for v in core.variables}
    w, b = (weights[f'controller_only/output_linear/{x}:0'] for x in 'wb')
    oracle = np.clip(h.numpy(), -0.5, 0.5) @ w + b
    self.assertAllClose(output, np.clip(oracle, -0.5, 0.5), atol=1e-6)

  def test_matched_hidden_size_is_nearest_the_dnc(self):
    hidden, weights, target = char_lm.matched_hidden_size(_SMALL_MODEL, 11)
    count = lambda h: 4 * h * (11 + h + 1) + (h + 1) * 11  # noqa: E731
    self.assertEqual(count(hidden), weights)
    self.assertLessEqual(abs(weights - target), abs(count(hidden + 1) - target))
    self.assertLessEqual(abs(weights - target), abs(count(hidden - 1) - target))
    self.assertGreater(hidden, _SMALL_MODEL.hidden_size)

  def test_controller_only_refuses_the_model_options(self):
    with self.assertRaisesRegex(config_lib.ConfigError, 'controller_only'):
      config_lib.ModelConfig(controller_only=True, embedding_size=4)


class SamplingTest(tf.test.TestCase):
  def test_seeded_sample_is_reproducible_and_in_the_vocabulary(self):
    vocabulary = text_lib.Vocabulary('ab\nc')
    tf.random.set_seed(0)
    core = config_lib.make_core(_SMALL_MODEL, 5, fast_kernels=False)
    step = sampling.step_function(core, vocabulary.size)

    def sample(seed, prompt='ab', temperature=1.0):
      return sampling.generate(
        step, core.initial_state(1), vocabulary, prompt, 100, temperature, seed
      )

    first = sample(3)
    self.assertLen(first, 100)
    self.assertEqual(sample(3), first)
    self.assertNotEqual(sample(4), first)
    # Never the unknown symbol, though the prompt holds an unknown character.
    self.assertContainsSubset(set(sample(5, prompt='xa')), set('ab\nc'))
    self.assertContainsSubset(set(first), set('ab\nc'))
    # A low temperature draws the most likely character: the argmax walk.
    # (After a character: from zeros, the untrained logits are all 0.)
    greedy = sample(6, prompt='b', temperature=1e-8)
    logits, state = step(tf.constant([2]), core.initial_state(1))
    for character in greedy[:20]:
      best = 1 + int(np.argmax(logits.numpy()[0, 1:]))
      self.assertEqual(character, vocabulary.decode([best]))
      logits, state = step(tf.constant([best]), state)


def _run(*flags):
  return scripts.run([os.path.join(_ROOT, 'train_char_lm.py'), *flags])


# One xdist worker for the class, so that setUpClass runs once.
@pytest.mark.slow
@pytest.mark.xdist_group('char_lm')
class TrainCharLMTest(tf.test.TestCase):
  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = tempfile.mkdtemp()
    cls.text = _text(3000)
    cls.data = _write(cls.tmp, 'input.txt', cls.text)
    cls.run_dir = os.path.join(cls.tmp, 'run')
    cls.common = (
      f'--checkpoint_dir={cls.run_dir}',
      '--hidden_size=16',
      '--memory_size=8',
      '--word_size=4',
      '--num_read_heads=1',
      '--nojit_compile',
      '--seed=1',
      '--length=80',
      '--sample_seed=5',
    )
    cls.trained = _run(
      *cls.common,
      f'--data={cls.data}',
      '--batch_size=8',
      '--window_length=24',
      '--learning_rate=1e-2',
      '--num_training_iterations=100',
      '--report_interval=50',
      '--checkpoint_interval=100',
      '--report_valid_chars=200',
    )
    cls.sampled = _run(*cls.common, '--mode=sample')
    cls.evaluated = _run(
      *cls.common, f'--data={cls.data}', '--mode=eval', '--eval_split=valid'
    )

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.tmp, ignore_errors=True)
    super().tearDownClass()

  def test_validation_falls_below_the_unigram_entropy(self):
    code, output = self.trained
    self.assertEqual(code, 0, output)
    reports = re.findall(r'(\d+): training ([\d.]+) BPC, ([\d,]+) char', output)
    self.assertEqual([int(step) for step, _, _ in reports], [50, 100])
    (valid,) = re.findall(r'Step 100: validation ([\d.]+) BPC', output)
    n = len(self.text)
    train = self.text[: n - 2 * round(n * 0.05)]
    vocabulary = text_lib.Vocabulary.of_text(train)
    entropy = text_lib.unigram_entropy(vocabulary.encode(self.text))
    self.assertLess(float(valid), entropy - 0.3, output)
    self.assertLess(float(reports[-1][1]), float(reports[0][1]), output)

  def test_sample_is_reproduced_by_mode_sample(self):
    code, output = self.sampled
    self.assertEqual(code, 0, output)
    (reported,) = re.findall(r'100: sample: (.*?)\nI\d', self.trained[1], re.S)
    self.assertLen(reported, 80)
    self.assertIn(reported, output)
    self.assertContainsSubset(set(reported), set(self.text))

  def test_eval_scores_the_whole_split(self):
    code, output = self.evaluated
    self.assertEqual(code, 0, output)
    (valid,) = re.findall(r'Step 100: validation ([\d.]+) BPC', self.trained[1])
    n_valid = round(len(self.text) * 0.05)
    (evaluated,) = re.findall(
      f'on the valid split, {n_valid - 1:,} characters predicted in one '
      r'stream \(0 unknown\): ([\d.]+) bits per character.',
      output,
    )
    self.assertAllClose(float(evaluated), float(valid), atol=2e-4)

  def test_export_serves_the_next_character_of_texts(self):
    output_dir = os.path.join(self.tmp, 'export')
    export.export(self.run_dir, output_dir)
    model = tf.saved_model.load(output_dir)
    with open(os.path.join(self.run_dir, 'config.json')) as f:
      vocabulary = text_lib.Vocabulary(json.load(f)['vocabulary'])
    characters = model.signatures['characters']()['characters'].numpy()
    self.assertEqual(
      [c.decode() for c in characters], [''] + list(vocabulary.characters)
    )
    texts = ['alpha be', '', 'zé']  # 'z' is unknown: id 0.
    served = model.signatures['text'](texts=tf.constant(texts))
    self.assertAllEqual(served['lengths'], [8, 0, 2])
    for i, text in enumerate(texts):
      # The oracle: serving_default on the one-hot of the Python ids (no
      # character at all for the empty text).
      ids = vocabulary.encode(text)
      inputs = np.eye(vocabulary.size, dtype=np.float32)[ids][None]
      if not len(ids):
        inputs = np.zeros((1, 1, vocabulary.size), np.float32)
      expected = model.signatures['serving_default'](inputs=inputs)
      self.assertAllClose(
        served['next_probabilities'][i],
        expected['probabilities'][0, -1],
        atol=1e-6,
      )

  def test_baseline_is_matched_to_the_dnc(self):
    # Without --hidden_size: the DNC's is the default, the baseline's chosen.
    code, output = _run(
      *(f for f in self.common[1:] if not f.startswith('--hidden_size')),
      f'--data={self.data}',
      f'--checkpoint_dir={self.tmp}/baseline',
      '--controller_only',
      '--num_training_iterations=0',
    )
    self.assertEqual(code, 0, output)
    vocabulary_size = int(re.search(r'a vocabulary of (\d+)', output)[1])
    dnc = config_lib.ModelConfig(
      hidden_size=256, memory_size=8, word_size=4, num_read_heads=1
    )
    hidden, weights, target = char_lm.matched_hidden_size(dnc, vocabulary_size)
    self.assertIn(
      f'--hidden_size={hidden}, {weights} weights (the DNC of these flags '
      f'has {target})',
      output,
    )

  def test_errors_are_one_line_naming_the_flag(self):
    short = _write(self.tmp, 'short.txt', 'abc' * 20)
    for flags, message in (
      ([f'--data={self.tmp}/none.txt'], '--data=.*none.txt: no such file'),
      ([f'--data={short}', '--window_length=100'], '--window_length=100: '),
    ):
      code, output = _run(
        *flags, f'--checkpoint_dir={self.tmp}/failed', '--nojit_compile'
      )
      self.assertEqual(code, 1, output)
      (line,) = [x for x in output.splitlines() if re.search(message, x)]
      self.assertStartsWith(line, 'E')


if __name__ == '__main__':
  tf.test.main()
