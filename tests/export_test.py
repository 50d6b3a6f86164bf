"""Tests of exporting: a core with `tf.saved_model`, and `dnc.export`.

`ExportTest`: a DNC exports with default SaveOptions; reloaded in a fresh
process that does not import `dnc`, it reproduces the outputs and the
gradients computed here, for two batch sizes and two lengths, and trains.

`ExportCommandTest`: `python -m dnc.export` on a tiny train.py checkpoint
and a tiny train_babi.py one (of an older layout) writes SavedModels with
the signatures expected (`saved_model_cli` lists the bAbI one's), which a
process that cannot import `dnc` runs, with the outputs of the checkpoint.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

from absl.testing import absltest
import numpy as np
import pytest
import sonnet as snt
import tensorflow as tf

import dnc
from dnc import controllers
from dnc.tools import export
from dnc.tools import restore
from dnc.train import checkpoints
from tests import oracles
from tests import scripts
from tests import shared_data

_INPUT_SIZE = 4
_SHAPES = ((3, 2), (3, 5), (6, 2), (6, 5))  # (time, batch_size)

# Run in one fresh process for all the models: reloads each, runs it on the
# saved inputs and writes the outputs, the gradients and the loss after one
# step of SGD.
_RELOAD = textwrap.dedent(
  """
  import json, sys
  import numpy as np
  import tensorflow as tf

  data_path, *jobs = sys.argv[1:]
  data = np.load(data_path)
  for export_dir, result_path in zip(jobs[::2], jobs[1::2]):
    model = tf.saved_model.load(export_dir)
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


def _sdnc_core():
  # SAM's sparse reads and writes and the sparse link: every sparse part.
  return dnc.SDNC(
    access_config=dict(
      memory_size=6, word_size=4, num_reads=2, sparse_reads=2, link_sparsity=2
    ),
    controller_config=dict(hidden_size=8),
    output_size=3,
    clip_value=20,
  )


def _feed_forward_core():
  return dnc.DNC(
    access_config=dict(memory_size=6, word_size=4, num_reads=2, num_writes=1),
    output_size=3,
    controller=controllers.FeedForward(snt.nets.MLP([8, 8])),
  )


# Each test traces, saves and reloads (in another process): 20-30 s here.
@pytest.mark.slow
class ExportTest(tf.test.TestCase):
  def _save(self, model):
    export_dir = os.path.join(self.create_tempdir().full_path, 'model')
    tf.saved_model.save(model, export_dir)  # Default SaveOptions.
    return export_dir

  def _reload_elsewhere(self, export_dirs, data):
    """Results of `_RELOAD` for each of `export_dirs`, all in one process."""
    tmp = self.create_tempdir().full_path
    data_path = os.path.join(tmp, 'data.npz')
    result_paths = [
      os.path.join(tmp, f'result{i}.npz') for i in range(len(export_dirs))
    ]
    np.savez(data_path, **data)
    jobs = [
      x for pair in zip(export_dirs, result_paths, strict=True) for x in pair
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
    process = subprocess.run(
      [sys.executable, '-c', _RELOAD, data_path, *jobs],
      capture_output=True,
      text=True,
      timeout=300,
      cwd=tmp,  # Not the repository, so `dnc` is not importable by path.
      env=env,
    )
    self.assertEqual(process.returncode, 0, process.stderr[-3000:])
    self.assertEqual(json.loads(process.stdout.strip().splitlines()[-1]), [])
    return [np.load(path) for path in result_paths]

  def test_reloaded_elsewhere_reproduces_outputs_and_gradients(self):
    # Three cores (the default DNC, a feed-forward controller, the SDNC
    # with every sparse part), reloaded in one process: one start of
    # TensorFlow instead of three.
    makes = {
      'default': _default_core,
      'feed_forward': _feed_forward_core,
      'sdnc': _sdnc_core,
    }
    rng = np.random.RandomState(0)
    data = {}
    for time, batch_size in _SHAPES:
      name = f'{time}x{batch_size}'
      inputs = rng.randn(time, batch_size, _INPUT_SIZE)
      data['inputs/' + name] = inputs.astype(np.float32)
      loss_weights = rng.randn(time, batch_size, 3)
      data['loss_weights/' + name] = loss_weights.astype(np.float32)
    models, expected = {}, {}
    for kind, make in makes.items():
      tf.random.set_seed(0)
      models[kind] = model = _Exported(make())
      expected[kind] = {}
      for name in (f'{time}x{batch_size}' for time, batch_size in _SHAPES):
        inputs = tf.constant(data['inputs/' + name])
        with tf.GradientTape() as tape:
          tape.watch(inputs)
          outputs = model.run(inputs)
          loss = tf.reduce_sum(outputs * data['loss_weights/' + name])
        grads = tape.gradient(loss, [inputs, *model.weights])
        expected[kind][name] = (outputs, grads)

    results = self._reload_elsewhere(
      [self._save(models[kind]) for kind in makes], data
    )
    for kind, result in zip(makes, results, strict=True):
      for name, (outputs, grads) in expected[kind].items():
        with self.subTest(core=kind, shape=name):
          self.assertAllClose(result['outputs/' + name], outputs, atol=1e-6)
          self.assertLen(grads, 1 + len(models[kind].weights))
          for i, grad in enumerate(grads):
            grad = tf.convert_to_tensor(grad)
            self.assertGreater(np.abs(grad).max(), 0)
            self.assertAllClose(
              result[f'grads/{name}/{i}'], grad, atol=1e-5, rtol=1e-5
            )
      with self.subTest(core=kind):
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
_RELOAD_WITHOUT_DNC = textwrap.dedent(
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

  def reload(export_dir, data_path, result_path):
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
    shapes = lambda specs: {k: v.shape.as_list() for k, v in specs.items()}
    return {
      'weights': sorted(v.name for v in model.weights),
      'serving_inputs': shapes(serve.structured_input_signature[1]),
      'serving_outputs': shapes(serve.structured_outputs),
    }

  # Triples of arguments: export_dir, data_path, result_path.
  args = sys.argv[1:]
  print(json.dumps({
    'models': [reload(*args[i:i + 3]) for i in range(0, len(args), 3)],
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


class _Processes:
  """Runs commands side by side (the machine's cores are otherwise idle
  while one imports TensorFlow); stops any still running on exit."""

  def __init__(self):
    self._running = {}
    self.results = {}

  def __enter__(self):
    return self

  def __exit__(self, *exc_info):
    for process in self._running.values():
      if process.poll() is None:
        process.kill()
        process.wait()

  def start(self, name, args, cwd=_ROOT, env=None):
    if args[0] == sys.executable and env is None and '-I' not in args:
      # The repository's scripts and tools, forked with TensorFlow imported.
      self._running[name] = scripts.start(args[1:], cwd=cwd)
      return
    self._running[name] = subprocess.Popen(
      args,
      stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT,
      text=True,
      cwd=cwd,
      env=env or _environment(),
    )

  def finish(self, *names):
    """Waits for `names`; stores and returns their (exit code, output)."""
    for name in names:
      output, _ = self._running[name].communicate(timeout=_TIMEOUT)
      self.results[name] = (self._running[name].returncode, output)
    return [self.results[name] for name in names]


def _export_command(checkpoint_dir, output_dir):
  return [
    sys.executable,
    '-m',
    'dnc.export',
    f'--checkpoint_dir={checkpoint_dir}',
    f'--output_dir={output_dir}',
  ]


def _saved_model_cli(export_dir):
  cli = os.path.join(os.path.dirname(sys.executable), 'saved_model_cli')
  if not os.path.exists(cli):
    cli = shutil.which('saved_model_cli') or cli
  return [cli, 'show', '--all', '--dir', export_dir]


def _babi_words(vocabulary):
  """Two stories of words of `vocabulary`, the second padded."""
  story = [w for w in vocabulary[2:] if w not in ('.', '?')][:6]
  story += ['.', '?', '-']
  return np.array([story, story[3:] + ['<pad>'] * 3]).astype(str)


@pytest.mark.slow
# One xdist worker for the class, so that setUpClass runs once.
@pytest.mark.xdist_group('export_command')
class ExportCommandTest(tf.test.TestCase):
  """Runs everything once (see `setUpClass`); each test checks one part."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = tempfile.mkdtemp()
    cls.runs = {
      kind: os.path.join(cls.tmp, 'runs', kind)
      for kind in ('repeat_copy', 'babi')
    }
    shared_data.copy_old_layout('babi', cls.runs['babi'])
    with open(os.path.join(cls.runs['babi'], 'config.json')) as f:
      cls.vocabulary = json.load(f)['vocabulary']
    # A new directory (with its parent) for one, an empty one for the other.
    cls.exports = {
      'repeat_copy': os.path.join(cls.tmp, 'exports', 'new', 'repeat_copy'),
      'babi': os.path.join(cls.tmp, 'empty'),
    }
    os.makedirs(cls.exports['babi'])
    cls.in_use = os.path.join(cls.tmp, 'in_use', 'model')
    os.makedirs(cls.in_use)
    with open(os.path.join(cls.in_use, 'keep.txt'), 'w') as f:
      f.write('mine')
    cls.reloaded_kinds = []
    rng = np.random.RandomState(0)
    words = _babi_words(cls.vocabulary)
    ids = np.vectorize(cls.vocabulary.index)(words)
    cls.data = {
      # 3 bits and the start and repeat-count channels.
      'repeat_copy': {
        'inputs': rng.randint(2, size=(3, 7, 5)).astype(np.float32)
      },
      'babi': {
        'inputs': np.eye(len(cls.vocabulary), dtype=np.float32)[ids],
        'words': words,
        'ids': ids,
      },
    }
    reload_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
    reload_env.pop('PYTHONPATH', None)
    with _Processes() as processes:
      processes.start(
        'train',
        [
          sys.executable,
          os.path.join(_ROOT, 'train.py'),
          *_TRAIN_FLAGS,
          f'--checkpoint_dir={cls.runs["repeat_copy"]}',
        ],
      )
      processes.start(
        'export/babi', _export_command(cls.runs['babi'], cls.exports['babi'])
      )
      processes.start(
        'export/in_use', _export_command(cls.runs['babi'], cls.in_use)
      )
      ((code, output),) = processes.finish('train')
      assert code == 0, f'train.py failed:\n{output[-3000:]}'
      processes.start(
        'export/repeat_copy',
        _export_command(cls.runs['repeat_copy'], cls.exports['repeat_copy']),
      )
      reloads = []  # Both exports reloaded in one process.
      for kind in ('babi', 'repeat_copy'):
        ((code, output),) = processes.finish(f'export/{kind}')
        if code != 0:
          continue  # The test of the export says so.
        if kind == 'babi':
          processes.start('cli/babi', _saved_model_cli(cls.exports['babi']))
        reload_dir = os.path.join(cls.tmp, 'reload', kind)
        os.makedirs(reload_dir)
        np.savez(
          os.path.join(reload_dir, 'data.npz'),
          **{k: v for k, v in cls.data[kind].items() if k != 'ids'},
        )
        cls.reloaded_kinds.append(kind)
        reloads += [
          cls.exports[kind],
          os.path.join(reload_dir, 'data.npz'),
          os.path.join(reload_dir, 'result.npz'),
        ]
      if reloads:
        # `python -I` from an empty directory: no PYTHONPATH, no cwd.
        reload_dir = os.path.join(cls.tmp, 'reload')
        processes.start(
          'reload',
          [sys.executable, '-I', '-c', _RELOAD_WITHOUT_DNC, *reloads],
          cwd=reload_dir,
          env=reload_env,
        )
      processes.finish(
        'export/in_use',
        *(['cli/babi'] if 'babi' in cls.reloaded_kinds else []),
        *(['reload'] if reloads else []),
      )
    cls.results = processes.results

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.tmp, ignore_errors=True)
    super().tearDownClass()

  def _result(self, name):
    self.assertIn(name, self.results, 'an earlier step failed')
    code, output = self.results[name]
    self.assertEqual(code, 0, output[-3000:])
    return output

  def _reloaded(self, kind):
    """What the signatures returned in the process without `dnc`."""
    report = json.loads(self._result('reload').strip().splitlines()[-1])
    self.assertEqual(report['dnc_modules'], [])
    self.assertFalse(report['repository_on_path'])
    core = restore.load(self.runs[kind]).core
    model = report['models'][self.reloaded_kinds.index(kind)]
    self.assertEqual(
      model['weights'], sorted(v.name for v in core.trainable_variables)
    )
    result_path = os.path.join(self.tmp, 'reload', kind, 'result.npz')
    return dict(np.load(result_path)), model

  def _expected_logits(self, kind):
    """The checkpoint's logits of the batch-major inputs, restored here."""
    core = restore.load(self.runs[kind]).core
    inputs = self.data[kind]['inputs']
    outputs, _ = snt.dynamic_unroll(
      core,
      tf.transpose(tf.constant(inputs), [1, 0, 2]),
      core.initial_state(len(inputs)),
    )
    return tf.transpose(outputs, [1, 0, 2]).numpy()

  def test_exports_a_train_py_run(self):
    output = self._result('export/repeat_copy')
    self.assertIn('(repeat_copy, step 1)', output)
    self.assertIn(self.exports['repeat_copy'], output)
    logits = self._expected_logits('repeat_copy')
    self.assertGreater(np.std(logits), 1e-4)  # Not a constant.
    result, _ = self._reloaded('repeat_copy')
    self.assertAllClose(result['serve/logits'], logits, atol=1e-5)
    self.assertAllClose(
      result['serve/probabilities'], oracles.np_sigmoid(logits), atol=1e-5
    )

  def test_signatures_and_saved_model_cli_lists_them(self):
    # The train.py export's serving signature as the reloading process
    # reads it (saved_model_cli, a start of TensorFlow, only for bAbI's).
    _, model = self._reloaded('repeat_copy')
    # 3 bits and 2 channels in; 3 bits and the end marker out.
    self.assertEqual(model['serving_inputs'], {'inputs': [None, None, 5]})
    self.assertEqual(
      model['serving_outputs'],
      {'logits': [None, None, 4], 'probabilities': [None, None, 4]},
    )

    listing = self._result('cli/babi')
    for name in ('serving_default', 'words', 'vocabulary'):
      self.assertIn(f"signature_def['{name}']", listing)
    size = len(self.vocabulary)
    self.assertRegex(
      listing, rf"inputs\['inputs'\][^\]]*shape: \(-1, -1, {size}\)"
    )
    self.assertRegex(listing, r"inputs\['words'\][^\]]*DT_STRING")
    self.assertIn("outputs['predicted_words']", listing)

  def test_exports_a_train_babi_py_run_with_its_vocabulary(self):
    self.assertIn('(babi, step 3)', self._result('export/babi'))
    assets = os.path.join(self.exports['babi'], 'assets')
    with open(os.path.join(assets, 'vocabulary.txt')) as f:
      self.assertEqual(f.read().splitlines(), self.vocabulary)
    with open(os.path.join(assets, 'config.json')) as f:
      self.assertEqual(json.load(f)['vocabulary'], self.vocabulary)

    logits = self._expected_logits('babi')
    result, _ = self._reloaded('babi')
    self.assertAllClose(result['serve/logits'], logits, atol=1e-5)
    self.assertAllClose(result['words/logits'], logits, atol=1e-5)
    self.assertAllClose(
      result['words/probabilities'], oracles.np_softmax(logits), atol=1e-5
    )
    self.assertAllEqual(result['words/ids'], self.data['babi']['ids'])
    predicted = logits.argmax(-1)
    self.assertAllEqual(result['words/predicted_ids'], predicted)
    self.assertAllEqual(
      result['words/predicted_words'], np.array(self.vocabulary)[predicted]
    )
    self.assertEqual(list(result['vocabulary']), self.vocabulary)
    error = str(result['unknown_word_error'])
    self.assertIn('Words not in the vocabulary:] [zyzzyva]', error)

  def test_refuses_an_output_dir_in_use(self):
    code, output = self.results['export/in_use']
    self.assertEqual(code, 1, output[-3000:])
    self.assertIn(f'--output_dir {self.in_use} is not empty', output)
    parent = os.path.dirname(self.in_use)
    self.assertEqual(os.listdir(parent), ['model'])  # No partial export.
    self.assertEqual(os.listdir(self.in_use), ['keep.txt'])
    with open(os.path.join(self.in_use, 'keep.txt')) as f:
      self.assertEqual(f.read(), 'mine')


class ExportArgumentsTest(absltest.TestCase):
  def test_missing_checkpoint_dir_is_named(self):
    tmp = self.create_tempdir().full_path
    missing = os.path.join(tmp, 'nowhere')
    output_dir = os.path.join(tmp, 'out')
    with self.assertRaisesRegex(
      checkpoints.CheckpointError, f'No checkpoint directory {missing}'
    ):
      export.export(missing, output_dir)
    self.assertFalse(os.path.exists(output_dir))
    self.assertEqual(os.listdir(tmp), [])

  def test_directory_of_no_run_is_named(self):
    tmp = self.create_tempdir()
    run = tmp.mkdir('run')
    with self.assertRaisesRegex(
      checkpoints.CheckpointError, 'config.json not found'
    ):
      export.export(run.full_path, os.path.join(tmp.full_path, 'out'))
    run.create_file('config.json', json.dumps({'hidden_size': 4}))
    with self.assertRaisesRegex(checkpoints.CheckpointError, 'names no task'):
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
