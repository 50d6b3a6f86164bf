"""Tests for dnc.recompute: the same values and gradients as full backprop."""

from absl.testing import parameterized
import numpy as np
import sonnet as snt
import tensorflow as tf

import dnc
from dnc import recompute
from tests import oracles

_NUM_STEPS, _BATCH_SIZE, _INPUT_SIZE = 11, 3, 5


def _core(dtype=tf.float64):
  return dnc.DNC(
    access_config=dict(memory_size=8, word_size=6, num_reads=2, num_writes=1),
    controller_config=dict(hidden_size=12, dtype=dtype),
    output_size=4,
    clip_value=20,
  )


def _values_and_gradients(core, unroll, inputs, initial_state):
  """Outputs, final state and the gradients of a loss that reads both.

  The loss weights every output and final-state element by its own random
  factor, so that each reaches the gradients with its own sign and size.
  """
  with tf.GradientTape() as tape:
    tape.watch([inputs, initial_state])
    outputs, final_state = unroll(core, inputs, initial_state)
    flat_final = tf.nest.flatten(final_state)
    loss = tf.reduce_sum(outputs * tf.sin(outputs + 1.0))
    for i, x in enumerate(flat_final):
      # numpy's, not tf.random's: XLA's stateless random numbers differ.
      weights = np.random.RandomState(i).randn(*x.shape)
      loss += tf.reduce_sum(tf.constant(weights, x.dtype) * x)
  # Zeros, not None, where nothing flows back (the previous write weights
  # reach the usage only through a stop-gradient).
  d_inputs, d_state, d_variables = tape.gradient(
    loss,
    [inputs, initial_state, core.trainable_variables],
    unconnected_gradients=tf.UnconnectedGradients.ZERO,
  )
  return outputs, flat_final, d_inputs, tf.nest.flatten(d_state), d_variables


class DynamicUnrollTest(tf.test.TestCase, parameterized.TestCase):
  @classmethod
  def setUpClass(cls):
    # Built once: no test changes the core, and its reference gradients (an
    # eager float64 unroll) took a third of the file's time when each test
    # computed them again.
    super().setUpClass()
    tf.random.set_seed(0)
    cls.core = _core()
    cls.inputs = tf.random.normal(
      [_NUM_STEPS, _BATCH_SIZE, _INPUT_SIZE], dtype=tf.float64
    )
    # Full backprop from a non-zero state, the reference for every case.
    warm_up = tf.random.normal([4, _BATCH_SIZE, _INPUT_SIZE], dtype=tf.float64)
    _, cls.initial_state = snt.dynamic_unroll(
      cls.core, warm_up, cls.core.initial_state(_BATCH_SIZE, tf.float64)
    )
    cls.expected = _values_and_gradients(
      cls.core, snt.dynamic_unroll, cls.inputs, cls.initial_state
    )

  @parameterized.parameters(
    *[('eager', k) for k in (1, 3, 4, 11, 20, None)],
    # In a graph, chunks of 3: the chunk loop and the tail (the edge cases,
    # chunks of 1 and one chunk of all 11 steps, are the eager ones; a
    # trace of the float64 DNC takes about 6 s).
    ('function', 3),
    # One XLA case (each compiles a float64 DNC for about a minute): chunks
    # of 3 over 11 steps take both the chunk loop and the 2-step tail.
    ('xla', 3),
  )
  def test_equals_full_backpropagation(self, mode, chunk_length):
    # 11 steps: chunks of 3 and 4 leave a tail of 2 and 3 steps; 11 is one
    # chunk; 20 leaves only the tail; None is ceil(sqrt(11)) = 4.
    unroll = lambda core, x, s: recompute.dynamic_unroll(
      core, x, s, chunk_length
    )
    got = oracles.in_mode(
      lambda: _values_and_gradients(
        self.core, unroll, self.inputs, self.initial_state
      ),
      mode,
    )()
    names = ('outputs', 'final state', 'd inputs', 'd state', 'd variables')
    for name, want, value in zip(names, self.expected, got, strict=True):
      for w, v in zip(*map(tf.nest.flatten, (want, value)), strict=True):
        self.assertAllClose(w, v, rtol=1e-8, atol=1e-8, msg=name)
    # The gradients are not all zero, so the comparison shows something.
    self.assertGreater(max(np.abs(g).max() for g in self.expected[4]), 1e-3)

  # In a graph, with the batch unknown when traced (one trace for both).
  # Under XLA the batch is fixed when traced, one trace per batch size, the
  # simpler case, which every XLA test's fixed batch takes (21 s here).
  def test_batch_sizes(self):
    # An LSTM, whose graphs build in a fraction of the DNC's time: what is
    # tested is the unroll's handling of the batch, which is the same.
    core = snt.LSTM(8)

    def run(inputs):
      state = core.initial_state(tf.shape(inputs)[1])
      with tf.GradientTape(persistent=True) as tape:
        tape.watch(inputs)
        outputs, _ = recompute.dynamic_unroll(core, inputs, state, 3)
        plain, _ = snt.dynamic_unroll(core, inputs, state)
        loss, plain_loss = tf.reduce_sum(outputs**2), tf.reduce_sum(plain**2)
      return (
        outputs - plain,
        tape.gradient(loss, inputs) - tape.gradient(plain_loss, inputs),
      )

    signature = [tf.TensorSpec([7, None, _INPUT_SIZE], tf.float32)]
    run = tf.function(run, input_signature=signature)
    for batch_size in (1, 4):
      inputs = tf.random.normal([7, batch_size, _INPUT_SIZE])
      for difference in run(inputs):
        self.assertEqual(difference.shape[1], batch_size)
        self.assertAllClose(difference, tf.zeros_like(difference), atol=1e-5)

  def test_builds_an_unbuilt_core(self):
    core = _core()
    outputs, _ = recompute.dynamic_unroll(
      core, self.inputs, core.initial_state(_BATCH_SIZE, tf.float64), 4
    )
    self.assertLen(core.trainable_variables, 25)
    expected, _ = snt.dynamic_unroll(
      core, self.inputs, core.initial_state(_BATCH_SIZE, tf.float64)
    )
    self.assertAllClose(expected, outputs, rtol=1e-12, atol=1e-12)

  def test_default_chunk_length(self):
    self.assertEqual(
      [recompute.default_chunk_length(n) for n in (1, 2, 4, 5, 9, 10, 1378)],
      [1, 2, 2, 3, 3, 4, 38],
    )

  @parameterized.parameters(0, -2, 2.5, True, '4')
  def test_bad_chunk_length(self, chunk_length):
    with self.assertRaisesRegex(ValueError, '`chunk_length` must be'):
      recompute.dynamic_unroll(
        self.core, self.inputs, self.initial_state, chunk_length
      )

  def test_unknown_number_of_steps(self):
    @tf.function(input_signature=[tf.TensorSpec([None, 3, 5], tf.float64)])
    def run(inputs):
      return recompute.dynamic_unroll(self.core, inputs, self.initial_state)

    with self.assertRaisesRegex(ValueError, 'static, positive number of steps'):
      run(self.inputs)


if __name__ == '__main__':
  tf.test.main()
