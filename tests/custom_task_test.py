"""A task defined outside `dnc`, here, runs through every shared part.

`DelayedCopyTask` (output the input bits one step late) registers itself
in this file only. One tiny run, in a subprocess that imports this module as
its script, trains through `dnc.train.loop`, resumes from its checkpoint and
evaluates (`--mode=eval`); then the tools, which name no task, restore it,
export a SavedModel that serves, and draw its memory, with no change to
`dnc`.
"""

from collections.abc import Mapping
import os
import shutil
import tempfile
from typing import Any

from absl import flags
import numpy as np
import pytest
import sonnet as snt
import tensorflow as tf

from dnc import tasks
from dnc.tasks import base
from dnc.tools import export
from dnc.tools import restore
from dnc.tools import visualize
from dnc.train import flags as run_flags
from dnc.train import loop
from tests import scripts
from tests import shared_data

FLAGS = flags.FLAGS

_TASK_FLAGS = ('num_bits', 'length')


@tasks.register('delayed_copy_for_tests')
class DelayedCopyTask(base.Task):
  """Random bits; the target at step t is the input at step t - 1."""

  def __init__(self, config: Mapping[str, Any], seed: int = 0):
    self._config = {key: config[key] for key in (*_TASK_FLAGS, 'batch_size')}
    self._generator = tf.random.Generator.from_seed(seed)

  @property
  def input_size(self) -> int:
    return self._config['num_bits']

  @property
  def output_size(self) -> int:
    return self._config['num_bits']

  def config(self) -> dict[str, Any]:
    return dict(self._config)

  def batch(self, batch_size: int | None = None) -> base.DatasetTensors:
    shape = [
      self._config['length'],
      batch_size or self._config['batch_size'],
      self._config['num_bits'],
    ]
    bits = tf.cast(self._generator.uniform(shape) < 0.5, tf.float32)
    target = tf.concat([tf.zeros_like(bits[:1]), bits[:-1]], axis=0)
    return base.DatasetTensors(bits, target, tf.ones(shape[:2]))

  def cost(self, logits, target, mask) -> tf.Tensor:
    # Summed over bits and time, averaged over the batch.
    xent = tf.nn.sigmoid_cross_entropy_with_logits(target, logits)
    return tf.reduce_sum(xent * mask[..., None]) / tf.cast(
      tf.shape(mask)[1], tf.float32
    )

  def report(self, report: base.Report) -> str:
    return f'{report.step}: loss {report.loss:.4f}'

  def evaluate(self, logits_of, checkpoint: str, step: int) -> str:
    data = self.batch()
    loss = float(self.cost(logits_of(data.observations), *data[1:]))
    return f'Evaluated {checkpoint} at step {step}: loss {loss:.4f}'

  def trackables(self) -> dict[str, Any]:
    return {'generator': self._generator}

  @classmethod
  def from_config(cls, config: Mapping[str, Any]) -> 'DelayedCopyTask':
    return cls(config)

  def probabilities(self, logits: tf.Tensor) -> tf.Tensor:
    return tf.sigmoid(logits)

  def draw_example(self, core, path, options, title) -> str:
    data = DelayedCopyTask(self._config, options.get('seed', 0)).batch(1)
    logits, steps = tf.function(visualize.unroll_with_internals)(
      core, data.observations
    )
    first = lambda x: np.asarray(x)[:, 0]
    return visualize.plot_internals(
      first(data.observations),
      first(data.target),
      first(self.probabilities(logits)),
      {key: first(value) for key, value in steps.items()},
      path,
      title=f'{title}: delayed copy',
    )


def _define_flags() -> None:
  run_flags.define_model_flags(
    hidden_size=8, memory_size=4, word_size=4, num_read_heads=1
  )
  run_flags.define_optimizer_flags(learning_rate=1e-2)
  run_flags.define_run_flags(batch_size=2, report_interval=3)
  flags.DEFINE_integer('num_bits', 3, 'Bits per step.')
  flags.DEFINE_integer('length', 5, 'Steps per sequence.')


def _main(argv) -> int:
  del argv
  return loop.run(
    lambda saved: DelayedCopyTask(
      {name: FLAGS[name].value for name in (*_TASK_FLAGS, 'batch_size')},
      FLAGS.seed or 0,
    ),
    _TASK_FLAGS,
  )


def _run(*flags_: str) -> tuple[int, str]:
  """This module as a training script, in a process of its own."""
  code = (
    'from absl import app; import custom_task_test as script; '
    'script._define_flags(); app.run(script._main)'
  )
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  # The tests' directory first: the run records this module's name there.
  paths = [str(shared_data.REPO / 'tests'), str(shared_data.REPO)]
  env['PYTHONPATH'] = os.pathsep.join(
    paths + [p for p in [env.get('PYTHONPATH')] if p]
  )
  return scripts.run(['-c', code, *flags_], env, str(shared_data.REPO))


# One xdist worker for the class, so that setUpClass runs once.
@pytest.mark.slow
@pytest.mark.xdist_group('custom_task')
class CustomTaskTest(tf.test.TestCase):
  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = tempfile.mkdtemp()
    cls.run_dir = os.path.join(cls.tmp, 'run')
    common = (
      f'--checkpoint_dir={cls.run_dir}',
      '--checkpoint_interval=3',
      '--nojit_compile',
      '--seed=1',
    )
    cls.first = _run(*common, '--num_training_iterations=3')
    cls.second = _run(*common, '--num_training_iterations=6')
    cls.evaluated = _run(*common, '--mode=eval')

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.tmp, ignore_errors=True)
    super().tearDownClass()

  def test_trains_resumes_and_evaluates_through_the_shared_loop(self):
    code, output = self.first
    self.assertEqual(code, 0, output)
    self.assertRegex(output, r'3: loss \d')
    code, output = self.second
    self.assertEqual(code, 0, output)
    # Resumed, not restarted.
    self.assertRegex(output, r'Resumed from \S+ at step 3')
    self.assertRegex(output, r'6: loss \d')
    code, output = self.evaluated
    self.assertEqual(code, 0, output)
    self.assertRegex(output, r'Evaluated \S+ at step 6: loss \d')

  def test_config_names_the_task_and_its_module(self):
    config, name = restore.read_config(self.run_dir)
    self.assertEqual(name, 'delayed_copy_for_tests')
    self.assertEqual(config['task'], 'delayed_copy_for_tests')
    self.assertEqual(config['task_module'], 'custom_task_test')

  def test_restores_exports_and_serves(self):
    restored = restore.load(self.run_dir)
    self.assertIsInstance(restored.task, DelayedCopyTask)
    self.assertEqual(restored.step, 6)
    output_dir = os.path.join(self.tmp, 'export')
    export.export(self.run_dir, output_dir)
    served = tf.saved_model.load(output_dir)
    inputs = np.random.default_rng(0).integers(0, 2, [2, 5, 3])
    outputs = served.signatures['serving_default'](
      inputs=tf.constant(inputs, tf.float32)
    )
    # The restored core's own probabilities: a plain unroll, time-major,
    # and the sigmoid of each bit's logit.
    core = restored.core
    logits, _ = snt.dynamic_unroll(
      core,
      tf.constant(np.transpose(inputs, [1, 0, 2]), tf.float32),
      core.initial_state(2),
    )
    expected = 1 / (1 + np.exp(-np.transpose(logits.numpy(), [1, 0, 2])))
    self.assertAllClose(outputs['probabilities'], expected, atol=1e-5)
    self.assertAllClose(
      outputs['logits'], np.transpose(logits.numpy(), [1, 0, 2]), atol=1e-5
    )

  def test_draws_its_memory(self):
    restored = restore.load(self.run_dir)
    path = os.path.join(self.tmp, 'figure.png')
    self.assertEqual(visualize.draw_run(restored, path, {'seed': 0}), path)
    with open(path, 'rb') as f:
      self.assertEqual(f.read(8), b'\x89PNG\r\n\x1a\n')


if __name__ == '__main__':
  tf.test.main()
