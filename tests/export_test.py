"""Tests of exporting: a core with `tf.saved_model`, and `dnc.export`.

`ExportTest`: a DNC exports with default SaveOptions; reloaded in a fresh
process that does not import `dnc`, it reproduces the outputs and the
gradients computed here, for two batch sizes and two lengths, and trains.

`ExportCommandTest`: `python -m dnc.export` on a tiny train.py checkpoint
and a tiny train_babi.py one (of an older layout) writes SavedModels whose
signatures `saved_model_cli` lists, and which a process that cannot import
`dnc` runs, with the outputs of the checkpoint.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np
import pytest
import sonnet as snt
import tensorflow as tf

import dnc
from dnc import controllers
from dnc import export
from dnc import restore
from dnc import training
from tests import oracles
from tests import shared_data

_INPUT_SIZE = 4
_SHAPES = ((3, 2), (3, 5), (6, 2), (6, 5))  # (time, batch_size)

# Run in a fresh process: reloads the model, runs it on the saved inputs and
# writes the outputs, the gradients and the loss after one step of SGD.
_RELOAD = textwrap.dedent(
  """
  import json, sys
  import numpy as np
  import tensorflow as tf

  export_dir, data_path, result_path = sys.argv[1:]
  model = tf.saved_model.load(export_dir)
  data = np.load(data_path)
  result = {}
  for key in sorted(k for k in data if k.startswith('inputs/')):
    inputs = tf.constant(data[key])
    loss_weights = tf.constant(data['loss_weights/' + key[len('inputs/'):]])
    with tf.GradientTape() as tape:
      tape.watch(inputs)
      outputs = model.run(inputs)
      loss = tf.reduce_sum(outputs * loss_weights)
    grads = tape.gradient(loss, [inputs, *model.weights])
    name = key[len('inputs/'):]
    result['outputs/' + name] = outputs.numpy()
    for i, grad in enumerate(grads):
      result[f'grads/{name}/{i}'] = tf.convert_to_tensor(grad).numpy()
    if name == '6x5':  # Fine-tuning: one step of SGD lowers the loss.
      for variable, grad in zip(model.weights, grads[1:]):
        variable.assign_sub(1e-3 * tf.convert_to_tensor(grad))
      result['loss_before'] = loss.numpy()
      result['loss_after'] = tf.reduce_sum(
        model.run(inputs) * loss_weights).numpy()
  np.savez(result_path, **result)
  print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'dnc')))
  """
)


class _Exported(tf.Module):
  """What a user exports: the core and one function over whole sequences."""

  def __init__(self, core, jit_compile=False):
    super().__init__()
    self.core = core
    self.core(tf.zeros([1, _INPUT_SIZE]), core.initial_state(1))
    self.weights = list(core.trainable_variables)
    self.run = tf.function(
      self._run,
      input_signature=[tf.TensorSpec([None, None, _INPUT_SIZE], tf.float32)],
      jit_compile=jit_compile,
    )

  def _run(self, inputs):
    state = self.core.initial_state(tf.shape(inputs)[1])
    outputs, _ = snt.dynamic_unroll(self.core, inputs, state)
    return outputs


def _default_core(**kwargs):
  return dnc.DNC(
    access_config=dict(memory_size=6, word_size=4, num_reads=2, num_writes=1),
    controller_config=dict(hidden_size=8),
    output_size=3,
    clip_value=20,
    **kwargs,
  )


def _feed_forward_core():
  return dnc.DNC(
    access_config=dict(memory_size=6, word_size=4, num_reads=2, num_writes=1),
    output_size=3,
    controller=controllers.FeedForward(snt.nets.MLP([8, 8])),
  )


# Each test traces, saves and reloads (in another process): 20-30 s here.
@pytest.mark.slow
class ExportTest(tf.test.TestCase, parameterized.TestCase):
  def _save(self, model):
    export_dir = os.path.join(self.create_tempdir().full_path, 'model')
    tf.saved_model.save(model, export_dir)  # Default SaveOptions.
    return export_dir

  def _reload_elsewhere(self, export_dir, data):
    tmp = self.create_tempdir().full_path
    data_path = os.path.join(tmp, 'data.npz')
    result_path = os.path.join(tmp, 'result.npz')
    np.savez(data_path, **data)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
    process = subprocess.run(
      [sys.executable, '-c', _RELOAD, export_dir, data_path, result_path],
      capture_output=True,
      text=True,
      timeout=300,
      cwd=tmp,  # Not the repository, so `dnc` is not importable by path.
      env=env,
    )
    self.assertEqual(process.returncode, 0, process.stderr[-3000:])
    self.assertEqual(json.loads(process.stdout.strip().splitlines()[-1]), [])
    return np.load(result_path)

  @parameterized.named_parameters(
    ('default', _default_core), ('feed_forward', _feed_forward_core)
  )
  def test_reloaded_elsewhere_reproduces_outputs_and_gradients(self, make):
    tf.random.set_seed(0)
    model = _Exported(make())
    rng = np.random.RandomState(0)
    data, expected = {}, {}
    for time, batch_size in _SHAPES:
      name = f'{time}x{batch_size}'
      inputs = tf.constant(rng.randn(time, batch_size, _INPUT_SIZE), tf.float32)
      loss_weights = rng.randn(time, batch_size, 3).astype(np.float32)
      with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = model.run(inputs)
        loss = tf.reduce_sum(outputs * loss_weights)
      expected[name] = (outputs, tape.gradient(loss, [inputs, *model.weights]))
      data['inputs/' + name] = inputs.numpy()
      data['loss_weights/' + name] = loss_weights

    result = self._reload_elsewhere(self._save(model), data)
    for name, (outputs, grads) in expected.items():
      with self.subTest(shape=name):
        self.assertAllClose(result['outputs/' + name], outputs, atol=1e-6)
        self.assertLen(grads, 1 + len(model.weights))
        for i, grad in enumerate(grads):
          grad = tf.convert_to_tensor(grad)
          self.assertGreater(np.abs(grad).max(), 0)
          self.assertAllClose(
            result[f'grads/{name}/{i}'], grad, atol=1e-5, rtol=1e-5
          )
    self.assertLess(result['loss_after'], result['loss_before'])

  def test_fast_kernels_save_with_default_options_and_reload_outputs(self):
    # The speed kernels' custom gradients are saved too (no captured
    # variable handle); a reloaded model runs, though TensorFlow cannot
    # differentiate a reloaded custom gradient inside a while loop.
    tf.random.set_seed(1)
    model = _Exported(_default_core(fast_kernels=True), jit_compile=True)
    inputs = tf.random.normal([5, 3, _INPUT_SIZE])
    expected = model.run(inputs)
    reloaded = tf.saved_model.load(self._save(model))
    self.assertAllClose(reloaded.run(inputs), expected, atol=1e-6)
    self.assertAllClose(
      reloaded.run(inputs[:2, :1]), model.run(inputs[:2, :1]), atol=1e-6
    )


_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TIMEOUT = 600

# A tiny train.py run: one step, checkpointed. (The train_babi.py run is
# the tiny one of tests/testdata/old_layout.tar.gz: a fresh one traces its
# step once per bucket length, tens of seconds each.)
_TRAIN_FLAGS = (
  '--hidden_size=8',
  '--memory_size=6',
  '--word_size=4',
  '--num_read_heads=2',
  '--batch_size=2',
  '--num_bits=3',
  '--num_training_iterations=1',
  '--checkpoint_interval=1',
  '--nojit_compile',
  '--seed=0',
)

# Run with `python -I` from an empty directory, where `dnc` cannot be
# imported (as if it were not installed): loads the SavedModel, runs its
# signatures on the saved inputs, writes what they return.
_RELOAD = textwrap.dedent(
  """
  import json, sys

  class NoDnc:
    def find_spec(self, name, path=None, target=None):
      if name.split('.')[0] == 'dnc':
        raise ModuleNotFoundError(f'No module named {name!r}', name=name)

  sys.meta_path.insert(0, NoDnc())
  import numpy as np
  import tensorflow as tf

  def arrays(outputs):
    return {
      key: np.char.decode(v.numpy().astype(bytes))
      if v.dtype == tf.string else v.numpy()
      for key, v in outputs.items()
    }

  export_dir, data_path, result_path = sys.argv[1:]
  model = tf.saved_model.load(export_dir)
  data = np.load(data_path)
  result = {}
  serve = model.signatures['serving_default']
  for key, value in arrays(serve(inputs=tf.constant(data['inputs']))).items():
    result['serve/' + key] = value
  if 'words' in data:
    words = model.signatures['words']
    for key, value in arrays(words(words=tf.constant(data['words']))).items():
      result['words/' + key] = value
    result['vocabulary'] = arrays(model.signatures['vocabulary']())['words']
    try:
      words(words=tf.constant([['-', 'zyzzyva']]))
    except tf.errors.InvalidArgumentError as e:
      result['unknown_word_error'] = np.array(e.message)
  np.savez(result_path, **result)
  print(json.dumps({
    'dnc_modules': sorted(m for m in sys.modules if m.split('.')[0] == 'dnc'),
    'repository_on_path': any(
      p and __import__('os').path.isfile(p + '/dnc/export.py')
      for p in sys.path),
  }))
  """
)


def _environment():
  env = dict(os.environ)
  env['PYTHONPATH'] = os.pathsep.join(
    p for p in (_ROOT, env.get('PYTHONPATH')) if p
  )
  env['TF_CPP_MIN_LOG_LEVEL'] = '2'
  return env


def _start(args, cwd=_ROOT, env=None):
  return subprocess.Popen(
    args,
    stdout=subprocess.PIPE,
    stderr=subprocess.STDOUT,
    text=True,
    cwd=cwd,
    env=env or _environment(),
  )


def _finish(process):
  """Waits for `process`; returns (exit code, output). Stops it on timeout."""
  try:
    output, _ = process.communicate(timeout=_TIMEOUT)
  finally:
    if process.poll() is None:
      process.kill()
      process.wait()
  return process.returncode, output


def _export(*flags):
  return _finish(_start([sys.executable, '-m', 'dnc.export', *flags]))


@pytest.mark.slow
class ExportCommandTest(tf.test.TestCase):
  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.runs_dir = tempfile.mkdtemp()
    shared_data.copy_old_layout('babi', os.path.join(cls.runs_dir, 'babi'))
    directory = os.path.join(cls.runs_dir, 'repeat_copy')
    code, output = _finish(
      _start(
        [
          sys.executable,
          os.path.join(_ROOT, 'train.py'),
          *_TRAIN_FLAGS,
          f'--checkpoint_dir={directory}',
        ]
      )
    )
    assert code == 0, f'train.py failed:\n{output[-3000:]}'

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.runs_dir, ignore_errors=True)
    super().tearDownClass()

  def _run_dir(self, kind):
    return os.path.join(self.runs_dir, kind)

  def _reload_elsewhere(self, export_dir, data):
    tmp = self.create_tempdir().full_path
    data_path = os.path.join(tmp, 'data.npz')
    result_path = os.path.join(tmp, 'result.npz')
    np.savez(data_path, **data)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
    env.pop('PYTHONPATH', None)
    code, output = _finish(
      _start(
        [
          sys.executable,
          '-I',
          '-c',
          _RELOAD,
          export_dir,
          data_path,
          result_path,
        ],
        cwd=tmp,
        env=env,
      )
    )
    self.assertEqual(code, 0, output[-3000:])
    report = json.loads(output.strip().splitlines()[-1])
    self.assertEqual(report['dnc_modules'], [])
    self.assertFalse(report['repository_on_path'])
    return dict(np.load(result_path))

  def _saved_model_cli(self, export_dir):
    cli = os.path.join(os.path.dirname(sys.executable), 'saved_model_cli')
    if not os.path.exists(cli):
      cli = shutil.which('saved_model_cli')
    code, output = _finish(_start([cli, 'show', '--all', '--dir', export_dir]))
    self.assertEqual(code, 0, output[-3000:])
    return output

  def _expected_logits(self, restored, inputs):
    """The restored checkpoint's logits of batch-major `inputs`."""
    core = restored.core
    outputs, _ = snt.dynamic_unroll(
      core,
      tf.transpose(tf.constant(inputs), [1, 0, 2]),
      core.initial_state(len(inputs)),
    )
    return tf.transpose(outputs, [1, 0, 2]).numpy()

  def test_exports_a_train_py_run(self):
    output_dir = os.path.join(self.create_tempdir().full_path, 'new', 'model')
    code, output = _export(
      f'--checkpoint_dir={self._run_dir("repeat_copy")}',
      f'--output_dir={output_dir}',
    )
    self.assertEqual(code, 0, output[-3000:])
    self.assertIn('(repeat_copy, step 1)', output)
    # 3 bits, start and repeat-count channels in; 3 bits and the end out.
    listing = self._saved_model_cli(output_dir)
    self.assertIn("signature_def['serving_default']", listing)
    self.assertRegex(listing, r"inputs\['inputs'\][^\]]*shape: \(-1, -1, 5\)")
    self.assertRegex(listing, r"outputs\['logits'\][^\]]*shape: \(-1, -1, 4\)")
    self.assertIn("outputs['probabilities']", listing)

    restored = restore.load(self._run_dir('repeat_copy'))
    rng = np.random.RandomState(0)
    inputs = rng.randint(2, size=(3, 7, 5)).astype(np.float32)
    result = self._reload_elsewhere(output_dir, {'inputs': inputs})
    logits = self._expected_logits(restored, inputs)
    self.assertAllClose(result['serve/logits'], logits, atol=1e-5)
    self.assertAllClose(
      result['serve/probabilities'], oracles.np_sigmoid(logits), atol=1e-5
    )
    self.assertGreater(np.std(logits), 1e-4)  # Not a constant.

  def test_exports_a_train_babi_py_run_with_its_vocabulary(self):
    output_dir = self.create_tempdir().full_path  # Empty: allowed.
    code, output = _export(
      f'--checkpoint_dir={self._run_dir("babi")}',
      f'--output_dir={output_dir}',
    )
    self.assertEqual(code, 0, output[-3000:])
    with open(os.path.join(self._run_dir('babi'), 'config.json')) as f:
      vocabulary = json.load(f)['vocabulary']
    size = len(vocabulary)
    listing = self._saved_model_cli(output_dir)
    for name in ('serving_default', 'words', 'vocabulary'):
      self.assertIn(f"signature_def['{name}']", listing)
    self.assertRegex(
      listing, rf"inputs\['inputs'\][^\]]*shape: \(-1, -1, {size}\)"
    )
    self.assertRegex(listing, r"inputs\['words'\][^\]]*DT_STRING")
    self.assertIn("outputs['predicted_words']", listing)
    with open(os.path.join(output_dir, 'assets', 'vocabulary.txt')) as f:
      self.assertEqual(f.read().splitlines(), vocabulary)

    story = [w for w in vocabulary[2:] if w not in ('.', '?')][:6]
    story += ['.', '?', '-']
    words = np.array([story, story[3:] + ['<pad>'] * 3], dtype=object).astype(
      str
    )
    ids = np.vectorize(vocabulary.index)(words)
    inputs = np.eye(size, dtype=np.float32)[ids]
    result = self._reload_elsewhere(
      output_dir, {'inputs': inputs, 'words': words}
    )
    restored = restore.load(self._run_dir('babi'))
    logits = self._expected_logits(restored, inputs)
    self.assertAllClose(result['serve/logits'], logits, atol=1e-5)
    self.assertAllClose(result['words/logits'], logits, atol=1e-5)
    self.assertAllClose(
      result['words/probabilities'], oracles.np_softmax(logits), atol=1e-5
    )
    self.assertAllEqual(result['words/ids'], ids)
    predicted = logits.argmax(-1)
    self.assertAllEqual(result['words/predicted_ids'], predicted)
    self.assertAllEqual(
      result['words/predicted_words'], np.array(vocabulary)[predicted]
    )
    self.assertEqual(list(result['vocabulary']), vocabulary)
    error = str(result['unknown_word_error'])
    self.assertIn('Words not in the vocabulary:] [zyzzyva]', error)

  def test_refuses_an_output_dir_in_use(self):
    parent = self.create_tempdir()
    kept = parent.create_file('model/keep.txt', 'mine')
    before = sorted(os.listdir(parent.full_path))
    output_dir = os.path.dirname(kept.full_path)
    code, output = _export(
      f'--checkpoint_dir={self._run_dir("repeat_copy")}',
      f'--output_dir={output_dir}',
    )
    self.assertEqual(code, 1, output[-3000:])
    self.assertIn(f'--output_dir {output_dir} is not empty', output)
    self.assertEqual(sorted(os.listdir(parent.full_path)), before)
    self.assertEqual(os.listdir(output_dir), ['keep.txt'])
    self.assertEqual(kept.read_text(), 'mine')


class ExportArgumentsTest(absltest.TestCase):
  def test_missing_checkpoint_dir_is_named(self):
    tmp = self.create_tempdir().full_path
    missing = os.path.join(tmp, 'nowhere')
    output_dir = os.path.join(tmp, 'out')
    with self.assertRaisesRegex(
      training.CheckpointError, f'No checkpoint directory {missing}'
    ):
      export.export(missing, output_dir)
    self.assertFalse(os.path.exists(output_dir))
    self.assertEqual(os.listdir(tmp), [])

  def test_directory_of_no_run_is_named(self):
    tmp = self.create_tempdir()
    run = tmp.mkdir('run')
    with self.assertRaisesRegex(
      training.CheckpointError, 'config.json not found'
    ):
      export.export(run.full_path, os.path.join(tmp.full_path, 'out'))
    run.create_file('config.json', json.dumps({'hidden_size': 4}))
    with self.assertRaisesRegex(training.CheckpointError, 'no known task'):
      export.export(run.full_path, os.path.join(tmp.full_path, 'out'))
    self.assertEqual(os.listdir(tmp.full_path), ['run'])

  def test_output_dir_that_is_a_file_is_refused(self):
    path = self.create_tempfile(content='mine').full_path
    with self.assertRaisesRegex(export.ExportError, 'is a file'):
      export.export('/nonexistent', path)
    with open(path) as f:
      self.assertEqual(f.read(), 'mine')


if __name__ == '__main__':
  tf.test.main()
