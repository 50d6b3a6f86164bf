"""Tests that a DNC exports with default SaveOptions and fine-tunes reloaded.

The model is saved here and reloaded in a fresh process that does not import
`dnc`, which must reproduce the outputs and the gradients computed here, for
two batch sizes and two lengths, and train on them.
"""

import json
import os
import subprocess
import sys
import textwrap

from absl.testing import parameterized
import numpy as np
import pytest
import sonnet as snt
import tensorflow as tf

import dnc
from dnc import controllers

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


if __name__ == '__main__':
  tf.test.main()
