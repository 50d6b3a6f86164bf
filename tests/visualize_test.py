"""Tests for dnc.tools.visualize: the figure, and the command on checkpoints."""

import json
import os
import subprocess
import sys

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np
import pytest
import tensorflow as tf

from dnc import config as config_lib
from dnc.tasks import babi
from dnc.tasks.babi import picture as babi_picture
from dnc.tasks.repeat_copy import picture as repeat_copy_picture
from dnc.tools import visualize
from tests import scripts
from tests import shared_data

try:
  from matplotlib import image as mpl_image
except ImportError:  # An optional extra: pip install 'dnc[viz]'.
  mpl_image = None

_needs_matplotlib = pytest.mark.skipif(
  mpl_image is None, reason="needs matplotlib: pip install 'dnc[viz]'"
)

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def _run(*args, timeout=300):
  """Runs `python *args` from the repository; returns (exit code, output)."""
  return scripts.run(list(args), cwd=_ROOT, timeout=timeout)


def _fresh_interpreter(code):
  """Runs `python -c code` in a new interpreter: what it imports counts."""
  result = subprocess.run(
    [sys.executable, '-c', code],
    stdout=subprocess.PIPE,
    stderr=subprocess.STDOUT,
    text=True,
    env=scripts.environment(),
    cwd=_ROOT,
    timeout=300,
  )
  return result.returncode, result.stdout


def _visualize(*flags):
  return _run('-m', 'dnc.visualize', *flags)


def _synthetic_example(num_writes, time_steps=9, num_bits=3):
  """Random arrays shaped as `run_repeat_copy` returns them."""
  rng = np.random.RandomState(0)
  memory_size, num_reads = 8, 2

  def weights(*shape):  # Rows that sum to 1 over the last axis.
    x = rng.rand(time_steps, *shape)
    return x / x.sum(-1, keepdims=True)

  steps = {
    'write_weights': weights(num_writes, memory_size),
    'read_weights': weights(num_reads, memory_size),
    'usage': rng.rand(time_steps, memory_size),
    'write_gate': rng.rand(time_steps, num_writes),
    'allocation_gate': rng.rand(time_steps, num_writes),
    'free_gate': rng.rand(time_steps, num_reads),
    'read_mode': weights(num_reads, 1 + 2 * num_writes),
  }
  return (
    rng.randint(2, size=(time_steps, num_bits + 2)).astype(np.float32),
    rng.randint(2, size=(time_steps, num_bits + 1)).astype(np.float32),
    rng.rand(time_steps, num_bits + 1),
    steps,
  )


def _assert_png(test, path):
  with open(path, 'rb') as f:
    test.assertEqual(f.read(len(_PNG_SIGNATURE)), _PNG_SIGNATURE)
  pixels = mpl_image.imread(path)
  test.assertEqual(pixels.ndim, 3)
  test.assertGreater(pixels.shape[0], 0)
  test.assertGreater(pixels.shape[1], 0)
  test.assertLess(os.path.getsize(path), 400_000)


@_needs_matplotlib
class PlotInternalsTest(parameterized.TestCase):
  @parameterized.parameters(1, 2)
  def test_writes_a_png(self, num_writes):
    path = os.path.join(self.create_tempdir().full_path, 'figure.png')
    result = visualize.plot_internals(
      *_synthetic_example(num_writes),
      path,
      phases=repeat_copy_picture.repeat_copy_phases(length=2, repeats=2),
      title='synthetic',
    )
    self.assertEqual(result, path)
    _assert_png(self, path)

  def test_phases_of_repeat_copy(self):
    # n = 3, k = 2: start marker, 3 pattern steps, repeats marker, 6 recall
    # steps, end marker.
    self.assertEqual(
      repeat_copy_picture.repeat_copy_phases(3, 2),
      [('pattern', 1, 4), ('recall', 5, 11)],
    )

  def test_missing_or_misshapen_arrays_are_named(self):
    observations, target, output, steps = _synthetic_example(1)
    path = os.path.join(self.create_tempdir().full_path, 'figure.png')
    gate = steps.pop('write_gate')
    with self.assertRaisesRegex(ValueError, 'write_gate'):
      visualize.plot_internals(observations, target, output, steps, path)
    steps['write_gate'] = gate
    steps['usage'] = np.zeros((4, 8))
    with self.assertRaisesRegex(ValueError, r'`usage` has shape \(4, 8\)'):
      visualize.plot_internals(observations, target, output, steps, path)
    self.assertFalse(os.path.exists(path))


class SparseMemoryPanelsTest(absltest.TestCase):
  def test_sam_panels_show_recency_and_the_interpolation_gate(self):
    _, _, _, steps = _synthetic_example(1)
    # SAM's internals: no usage, allocation, free gate or read modes.
    for key in ('usage', 'allocation_gate', 'free_gate', 'read_mode'):
      del steps[key]
    steps['recency'] = np.linspace(0, 1, 9 * 8).reshape(9, 8)
    steps['interpolation_gate'] = np.full((9, 1), 0.25)
    panels = visualize.memory_panels(steps, 9)
    titles = [title for title, _, _ in panels]
    self.assertEqual(
      titles,
      ['Write weighting', 'Read weighting r1', 'Read weighting r2']
      + ['Recency (1: accessed this step, 0: never)', 'Gates'],
    )
    _, labels, gates = panels[-1]
    self.assertEqual(labels, ['write gate', 'interpolation gate'])
    np.testing.assert_array_equal(gates[:, 0], steps['write_gate'][:, 0])
    np.testing.assert_array_equal(gates[:, 1], np.full(9, 0.25))
    np.testing.assert_array_equal(panels[3][2], steps['recency'])


class ImportTest(absltest.TestCase):
  def test_works_without_matplotlib_until_asked_to_draw(self):
    # TensorFlow's Keras imports matplotlib whenever it is installed, so
    # hide it (as if not installed) rather than look for it in sys.modules.
    code, output = _fresh_interpreter(
      'import sys; sys.modules["matplotlib"] = None; import dnc; '
      'assert "dnc.tools.visualize" not in sys.modules; '
      'from dnc.tools import visualize; '
      'visualize.plot_internals(None, None, None, {}, "unused.png")',
    )
    self.assertNotEqual(code, 0)
    self.assertIn(
      "ImportError: Drawing needs matplotlib: pip install 'dnc[viz]'", output
    )

  def test_imports_beside_train_py(self):
    # Both would define --checkpoint_dir and --seed if this module defined
    # its flags on import.
    code, output = _fresh_interpreter(
      'import dnc.tools.visualize, train; print("ok")'
    )
    self.assertEqual(code, 0, output)


class CommandLineTest(absltest.TestCase):
  def _assert_clean_error(self, code, output, path):
    self.assertNotEqual(code, 0)
    self.assertIn(path, output)
    self.assertNotIn('Traceback', output)

  def test_missing_directory(self):
    directory = os.path.join(self.create_tempdir().full_path, 'nothing')
    code, output = _visualize(f'--checkpoint_dir={directory}')
    self._assert_clean_error(code, output, directory)

  def test_missing_config(self):
    directory = self.create_tempdir().full_path
    code, output = _visualize(f'--checkpoint_dir={directory}')
    self._assert_clean_error(
      code, output, os.path.join(directory, 'config.json')
    )

  def test_config_without_checkpoint(self):
    directory = self.create_tempdir()
    directory.create_file(
      'config.json',
      json.dumps(
        dict(
          hidden_size=16,
          memory_size=8,
          word_size=4,
          num_write_heads=1,
          num_read_heads=2,
          clip_value=20.0,
          num_bits=3,
          max_length=2,
          max_repeats=2,
        )
      ),
    )
    code, output = _visualize(f'--checkpoint_dir={directory.full_path}')
    self._assert_clean_error(code, output, directory.full_path)
    self.assertIn('No checkpoint', output)


@pytest.mark.slow
@_needs_matplotlib
class EndToEndTest(absltest.TestCase):
  def test_draws_a_trained_checkpoint(self):
    directory = self.create_tempdir().full_path
    code, output = _run(
      os.path.join(_ROOT, 'train.py'),
      '--hidden_size=16',
      '--memory_size=8',
      '--word_size=4',
      '--num_read_heads=2',
      '--batch_size=4',
      '--num_bits=3',
      '--nojit_compile',
      '--seed=1',
      '--num_training_iterations=10',
      '--checkpoint_interval=10',
      '--report_interval=10',
      f'--checkpoint_dir={directory}',
    )
    self.assertEqual(code, 0, output)
    path = os.path.join(directory, 'fig.png')
    code, output = _visualize(
      f'--checkpoint_dir={directory}',
      f'--output={path}',
      '--length=3',
      '--repeats=2',
    )
    self.assertEqual(code, 0, output)
    self.assertIn(path, output)
    _assert_png(self, path)

    # A model other than the one in the checkpoint is refused.
    config_path = os.path.join(directory, 'config.json')
    with open(config_path) as f:
      config = json.load(f)
    config['word_size'] = 5  # Another shape for the interface's weights.
    with open(config_path, 'w') as f:
      json.dump(config, f)
    code, output = _visualize(
      f'--checkpoint_dir={directory}', f'--output={path}.refused.png'
    )
    self.assertNotEqual(code, 0)
    self.assertIn('Cannot restore', output)
    self.assertFalse(os.path.exists(f'{path}.refused.png'))
    self.assertNotIn('Traceback', output)

  def test_draws_a_babi_checkpoint(self):
    # A train_babi.py run (of the layout before the shared loop).
    directory = os.path.join(self.create_tempdir().full_path, 'run')
    shared_data.copy_old_layout('babi', directory)
    code, output = _visualize(f'--checkpoint_dir={directory}')
    self.assertNotEqual(code, 0)
    self.assertIn('pass --data_dir', output)
    self.assertNotIn('Traceback', output)
    path = os.path.join(directory, 'story.png')
    code, output = _visualize(
      f'--checkpoint_dir={directory}',
      f'--data_dir={shared_data.BABI_STORIES / "en"}',
      '--story=1',
      f'--output={path}',
    )
    self.assertEqual(code, 0, output)
    self.assertIn(path, output)
    _assert_png(self, path)


class RunStoryTest(absltest.TestCase):
  def test_a_model_with_embeddings_and_a_backward_lstm(self):
    words = ['<pad>', '-', 'mary', 'went', 'home', '.', 'where', '?']
    vocab = babi.Vocabulary(words)
    story = babi.Story(
      task=1, tokens=(2, 3, 4, 5, 6, 2, 7, 1), answer_positions=(7,),
      answers=(4,), question_index=(0,),
    )  # fmt: skip
    tf.random.set_seed(0)
    core = config_lib.make_core(
      config_lib.ModelConfig(
        hidden_size=6, memory_size=4, word_size=3, num_read_heads=1,
        num_write_heads=1, clip_value=20, embedding_size=4, backward_size=2,
      ),
      vocab.size,
      fast_kernels=False,
      vocabulary_size=vocab.size,
    )  # fmt: skip
    shown, answer, steps = babi_picture.run_story(core, vocab, story)
    logits = core(tf.constant(story.tokens)[:, None])[:, 0]
    expected = tf.nn.softmax(logits).numpy()[7, 4]
    np.testing.assert_allclose(answer[7, 0], expected, rtol=1e-5)
    self.assertEqual(shown[:5], ['mary', 'went', 'home', '.', 'where'])
    self.assertEqual(steps['write_weights'].shape[0], 8)


@_needs_matplotlib
class PlotStoryTest(absltest.TestCase):
  def test_writes_a_png_labelled_with_the_words(self):
    _, _, _, steps = _synthetic_example(1)
    words = ['mary', 'went', 'to', 'the', 'garden', '.', 'where', '?', 'x']
    answer = np.zeros((9, 1))
    answer[-1] = 0.7
    path = os.path.join(self.create_tempdir().full_path, 'story.png')
    self.assertEqual(babi_picture.plot_story(words, answer, steps, path), path)
    _assert_png(self, path)
    with self.assertRaisesRegex(ValueError, r'`answer` has shape \(8, 1\)'):
      babi_picture.plot_story(words, answer[:8], steps, path + '.bad.png')


if __name__ == '__main__':
  absltest.main()
