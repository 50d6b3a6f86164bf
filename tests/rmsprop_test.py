"""Tests for dnc.train.rmsprop: Sonnet's RMSProp, also under a strategy."""

from absl.testing import parameterized
import numpy as np
import sonnet as snt
import tensorflow as tf

from dnc.train import rmsprop
from tests import oracles

_SHAPES = ([3, 4], [5])


def _variables(seed):
  rng = np.random.default_rng(seed)
  return [
    tf.Variable(rng.normal(size=shape).astype(np.float32)) for shape in _SHAPES
  ]


def _gradients(steps, seed=1):
  rng = np.random.default_rng(seed)
  return [
    [
      tf.constant(rng.normal(size=shape).astype(np.float32))
      for shape in _SHAPES
    ]
    for _ in range(steps)
  ]


def _numpy_rmsprop(weights, gradients, learning_rate, momentum, epsilon):
  """The update of Sonnet's docstring, in float64."""
  weights = [np.float64(w) for w in weights]
  ms = [np.zeros_like(w) for w in weights]
  mom = [np.zeros_like(w) for w in weights]
  for step in gradients:
    for i, g in enumerate(step):
      g = np.float64(g)
      ms[i] = 0.9 * ms[i] + 0.1 * g**2
      mom[i] = momentum * mom[i] + learning_rate * g / np.sqrt(ms[i] + epsilon)
      weights[i] = weights[i] - mom[i]
  return weights


class RMSPropTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.product(mode=oracles.MODES, momentum=(0.0, 0.9))
  def test_same_update_as_sonnet(self, mode, momentum):
    ours, theirs = _variables(0), _variables(0)
    initial = [v.numpy() for v in ours]
    optimizers = [
      rmsprop.RMSProp(1e-2, momentum=momentum, epsilon=1e-6),
      snt.optimizers.RMSProp(1e-2, decay=0.9, momentum=momentum, epsilon=1e-6),
    ]
    steps = [
      oracles.in_mode(lambda g, o=o, v=v: o.apply(g, v), mode)
      for o, v in zip(optimizers, (ours, theirs), strict=True)
    ]
    gradients = _gradients(4)
    for grads in gradients:
      for step in steps:
        step(grads)
    expected = _numpy_rmsprop(initial, gradients, 1e-2, momentum, 1e-6)
    for a, b, want in zip(ours, theirs, expected, strict=True):
      self.assertAllClose(a, b, rtol=1e-6, atol=1e-7)
      self.assertAllClose(a, want, rtol=1e-5, atol=1e-6)
    self.assertNotAllClose(ours[0], initial[0])

  def test_checkpoints_move_between_sonnet_and_ours(self):
    gradients = _gradients(3)
    theirs = _variables(0)
    sonnet_optimizer = snt.optimizers.RMSProp(1e-2, momentum=0.9)
    for grads in gradients[:2]:
      sonnet_optimizer.apply(grads, theirs)
    path = tf.train.Checkpoint(optimizer=sonnet_optimizer, weights=theirs).save(
      self.create_tempdir().full_path + '/ckpt'
    )
    ours = _variables(5)
    optimizer = rmsprop.RMSProp(1e-2, momentum=0.9)
    optimizer.build(ours)
    status = tf.train.Checkpoint(optimizer=optimizer, weights=ours).restore(
      path
    )
    status.assert_existing_objects_matched()
    sonnet_optimizer.apply(gradients[2], theirs)
    optimizer.apply(gradients[2], ours)
    for a, b in zip(ours, theirs, strict=True):
      self.assertAllClose(a, b, rtol=1e-6)

  def test_same_update_on_every_replica(self):
    # Two logical CPUs (tests/conftest.py); identical gradients on both, as
    # after an all-reduce.
    strategy = tf.distribute.MirroredStrategy(
      ['/cpu:0', '/cpu:1'],
      cross_device_ops=tf.distribute.ReductionToOneDevice(),
    )
    initial = [v.numpy() for v in _variables(0)]
    with strategy.scope():
      ours = [tf.Variable(w) for w in initial]
      optimizer = rmsprop.RMSProp(1e-2, momentum=0.9)
      optimizer.build(ours)
    gradients = _gradients(3)

    @tf.function
    def step(grads):
      strategy.run(lambda: optimizer.apply(grads, ours))

    for grads in gradients:
      step(grads)
    expected = _numpy_rmsprop(initial, gradients, 1e-2, 0.9, 1e-10)
    for variable, want in zip(ours, expected, strict=True):
      copies = [v.numpy() for v in variable.values]
      self.assertLen(copies, 2)
      self.assertAllEqual(copies[0], copies[1])
      self.assertAllClose(copies[0], want, rtol=1e-5, atol=1e-6)

  def test_bad_arguments(self):
    optimizer = rmsprop.RMSProp(1e-2)
    variables = _variables(0)
    with self.assertRaisesRegex(ValueError, '`updates` has 1 entries'):
      optimizer.apply(_gradients(1)[0][:1], variables)
    optimizer.apply(_gradients(1)[0], variables)
    with self.assertRaisesRegex(ValueError, 'slots were built for 2'):
      optimizer.apply(_gradients(1)[0][:1], variables[:1])


if __name__ == '__main__':
  tf.test.main()
