"""Tests for dnc.model: embeddings, the backward LSTM, bypass dropout."""

from absl.testing import parameterized
import numpy as np
import pytest
import sonnet as snt
import tensorflow as tf

from dnc import controllers
from dnc import dnc
from dnc import model
from dnc import sam
from tests import oracles

_ACCESS_CONFIG = dict(memory_size=6, word_size=4, num_reads=2, num_writes=1)
_TIME, _BATCH, _FEATURES = 5, 2, 3


def _dnc(hidden_size=6, output_size=4, controller=None, **kwargs):
  if controller is None:
    kwargs['controller_config'] = dict(hidden_size=hidden_size)
  return dnc.DNC(
    _ACCESS_CONFIG, output_size=output_size, controller=controller, **kwargs
  )


def _inputs(seed=0):
  rng = np.random.RandomState(seed)
  return tf.constant(rng.randn(_TIME, _BATCH, _FEATURES), tf.float32)


def _check_recompute(test, mode):
  """All options, recomputed in chunks of 3 and in full, agree.

  The backward LSTM and the DNC are both recomputed, with the dropout masks
  of the forward pass.
  """
  tf.random.set_seed(5)
  lstm = controllers.lstm(6, layer_norm=True)
  core = _dnc(controller=controllers.PassThrough(lstm, pass_size=3))
  wrapped = model.Model(
    core,
    vocabulary_size=9,
    embedding_size=_FEATURES,
    backward=controllers.lstm(3, layer_norm=True, name='backward_lstm'),
    bypass_dropout=0.3,
    bypass_size=9,
    seed=5,
  )
  ids = tf.constant(np.random.RandomState(5).randint(0, 9, (7, _BATCH)))
  wrapped.build()

  def run(ids, chunk_length):
    wrapped._generator.reset_from_seed(5)
    with controllers.training(wrapped), tf.GradientTape() as tape:
      outputs = wrapped(ids, chunk_length)
      loss = tf.reduce_sum(tf.sin(outputs))
    grads = tape.gradient(loss, wrapped.trainable_variables)
    return outputs, [tf.convert_to_tensor(g) for g in grads]

  run = oracles.in_mode(run, mode)
  expected_outputs, expected_grads = run(ids, 0)
  outputs, grads = run(ids, 3)
  test.assertAllClose(outputs, expected_outputs, atol=1e-6)
  for variable, grad, expected in zip(
    wrapped.trainable_variables, grads, expected_grads, strict=True
  ):
    test.assertAllClose(grad, expected, atol=1e-5, rtol=1e-4)
    test.assertGreater(np.abs(expected).max(), 0, variable.name)


class ModelTest(tf.test.TestCase, parameterized.TestCase):
  def test_with_no_option_it_is_the_unroll_of_the_dnc(self):
    tf.random.set_seed(0)
    core = _dnc()
    wrapped = model.Model(core)
    inputs = _inputs()
    expected, _ = snt.dynamic_unroll(core, inputs, core.initial_state(_BATCH))
    self.assertAllClose(wrapped(inputs), expected, atol=1e-6)
    self.assertIs(wrapped.core, core)

  @parameterized.parameters(*oracles.MODES)
  def test_embedding_lookup_is_one_hot_times_the_matrix(self, mode):
    vocabulary_size, embedding_size = 7, 3
    wrapped = model.Model(
      _dnc(), vocabulary_size=vocabulary_size, embedding_size=embedding_size
    )
    self.assertTrue(wrapped.embeds_words)
    wrapped.build()
    (embeddings,) = [v for v in wrapped.variables if 'embed' in v.name]
    self.assertEqual(embeddings.shape, (vocabulary_size, embedding_size))
    rng = np.random.RandomState(1)
    ids = tf.constant(rng.randint(0, vocabulary_size, (_TIME, _BATCH)))
    weights = tf.constant(rng.randn(_TIME, _BATCH, embedding_size), tf.float32)

    def by_lookup(ids):
      with tf.GradientTape() as tape:
        inputs = wrapped.dnc_inputs(ids)
        loss = tf.reduce_sum(weights * inputs)
      return inputs, tf.convert_to_tensor(tape.gradient(loss, embeddings))

    inputs, grad = oracles.in_mode(by_lookup, mode)(ids)
    one_hot = np.eye(vocabulary_size)[ids.numpy()]  # [T, B, V]
    self.assertAllClose(inputs, one_hot @ embeddings.numpy(), atol=1e-6)
    # d loss / d E = sum over steps of one_hot^T weights.
    expected_grad = np.einsum('tbv,tbe->ve', one_hot, weights.numpy())
    self.assertAllClose(grad, expected_grad, atol=1e-5)

  def test_backward_lstm_reads_the_sequence_from_its_end(self):
    tf.random.set_seed(2)
    backward = snt.LSTM(3)
    core = _dnc(controller=controllers.PassThrough(snt.LSTM(6), pass_size=3))
    wrapped = model.Model(core, backward=backward)
    inputs = _inputs(2)
    features = wrapped.dnc_inputs(inputs).numpy()
    # b_t by numpy, from x_T down to x_t.
    w_i, w_h, b = (
      v.numpy()
      for v in (backward.input_to_hidden, backward.hidden_to_hidden, backward.b)
    )
    h = c = np.zeros([_BATCH, 3], np.float32)
    expected = np.zeros([_TIME, _BATCH, 3])
    for t in reversed(range(_TIME)):
      h, c = oracles.np_lstm_step(inputs[t].numpy(), h, c, w_i, w_h, b)
      expected[t] = h
    self.assertAllClose(features[..., :3], expected, atol=1e-6)
    self.assertAllEqual(features[..., 3:], inputs)

  @parameterized.parameters(True, False)
  def test_only_the_bidirectional_model_sees_later_inputs(self, backward):
    tf.random.set_seed(3)
    if backward:
      controller = controllers.PassThrough(snt.LSTM(6), pass_size=3)
      wrapped = model.Model(_dnc(controller=controller), backward=snt.LSTM(3))
    else:
      wrapped = model.Model(_dnc())
    inputs = _inputs(3)
    for t in range(_TIME - 1):
      with tf.GradientTape() as tape:
        tape.watch(inputs)
        output = tf.reduce_sum(wrapped(inputs)[t])
      grad = tape.gradient(output, inputs).numpy()
      self.assertGreater(np.abs(grad[: t + 1]).max(), 1e-4)
      later = np.abs(grad[t + 1 :]).max(axis=(1, 2))  # Per later step.
      if backward:
        self.assertTrue(np.all(later > 1e-6), later)
      else:
        self.assertAllEqual(later, np.zeros_like(later))

  def test_bypass_dropout_masks_only_the_path_to_the_output_in_training(self):
    # An output layer that copies h_t (and ignores the reads) shows the
    # mask: y_t = m_t h_t, with h_t the same as without dropout, so the
    # masks never reach the memory or the later steps.
    tf.random.set_seed(4)
    hidden_size, rate = 40, 0.25
    core = _dnc(hidden_size=hidden_size, output_size=hidden_size)
    wrapped = model.Model(
      core, bypass_dropout=rate, bypass_size=hidden_size, seed=4
    )
    inputs = tf.constant(
      np.random.RandomState(4).randn(10, 8, _FEATURES), tf.float32
    )
    wrapped(inputs)  # Builds it.
    w = np.zeros(core._output_linear.w.shape, np.float32)
    w[:hidden_size] = np.eye(hidden_size)
    core._output_linear.w.assign(w)
    core._output_linear.b.assign(tf.zeros([hidden_size]))
    evaluation = wrapped(inputs).numpy()
    with controllers.training(wrapped):
      self.assertTrue(wrapped.is_training)
      training = wrapped(inputs).numpy()
      again = wrapped(inputs).numpy()
    self.assertFalse(wrapped.is_training)
    self.assertAllEqual(wrapped(inputs), evaluation)  # No dropout outside.
    self.assertGreater(np.abs(evaluation).min(), 1e-6)
    ratio = training / evaluation
    dropped = np.isclose(ratio, 0, atol=1e-6)
    kept = np.isclose(ratio, 1 / (1 - rate), rtol=1e-4)
    self.assertTrue(np.all(dropped | kept))
    self.assertAllClose(dropped.mean(), rate, atol=0.03)
    self.assertGreater(np.mean(dropped != (again == 0)), 0.1)  # New masks.

  def test_all_options_recompute_the_gradients_of_full_backpropagation(self):
    _check_recompute(self, 'eager')

  def test_bad_arguments_raise(self):
    core = _dnc()
    with self.assertRaisesRegex(TypeError, '`core` must be a dnc.DNC'):
      model.Model(snt.LSTM(3))
    with self.assertRaisesRegex(ValueError, 'needs `vocabulary_size`'):
      model.Model(core, embedding_size=3)
    with self.assertRaisesRegex(ValueError, '`embedding_size` must be >= 0'):
      model.Model(core, vocabulary_size=4, embedding_size=-1)
    with self.assertRaisesRegex(ValueError, '`bypass_dropout` must be in'):
      model.Model(core, bypass_dropout=1.0, bypass_size=6)
    with self.assertRaisesRegex(ValueError, 'needs `bypass_size`'):
      model.Model(core, bypass_dropout=0.1)
    with self.assertRaisesRegex(TypeError, '`backward` must be'):
      model.Model(core, backward=3)
    embedding = model.Model(core, vocabulary_size=4, embedding_size=3)
    with self.assertRaisesRegex(ValueError, 'word ids'):
      embedding(_inputs())
    with self.assertRaisesRegex(ValueError, 'must be floats'):
      model.Model(core)(tf.zeros([_TIME, _BATCH], tf.int32))


# In a graph; not under XLA, whose compilation of the two unrolls and their
# gradients took 44 s of the suite: the recomputation of a DNC under XLA is
# checked by tests/recompute_test.py (to 1e-8) and in the XLA training step
# by tests/trainer_test.py, and these options change what is recomputed,
# not how XLA compiles it.
@pytest.mark.slow
class JournalTest(tf.test.TestCase):
  def test_embedding_and_backward_lstm_around_sam_as_without(self):
    tf.random.set_seed(2)
    core = sam.SAM(
      dict(memory_size=6, word_size=4, num_reads=2, sparse_reads=2),
      dict(hidden_size=6),
      output_size=4,
    )
    wrapped = model.Model(
      core,
      vocabulary_size=7,
      embedding_size=3,
      backward=snt.LSTM(2),
    )
    words = tf.constant(np.random.RandomState(1).randint(0, 7, (_TIME, 2)))
    wrapped.build()
    runs = []
    # Neither; the journal; the journal (and the backward LSTM) recomputed
    # in chunks of 2 of the 5 steps.
    for journal, chunk_length in ((False, 0), (True, 0), (True, 2)):
      with tf.GradientTape() as tape:
        outputs = wrapped(words, chunk_length, journal=journal)
        loss = tf.reduce_sum(tf.sin(outputs))
      gradients = tape.gradient(loss, wrapped.trainable_variables)
      runs.append((outputs, gradients))
    (expected, expected_gradients), *journaled = runs
    for got, gradients in journaled:
      self.assertAllClose(expected, got, rtol=1e-6, atol=1e-6)
      self.assertLen(gradients, len(wrapped.trainable_variables))
      for e, g in zip(expected_gradients, gradients, strict=True):
        self.assertAllClose(tf.convert_to_tensor(e), tf.convert_to_tensor(g))
        self.assertGreater(np.abs(tf.convert_to_tensor(g)).max(), 0)

  def test_refuses_bypass_dropout_and_dense_cores(self):
    core = sam.SAM(
      dict(memory_size=6, word_size=4, num_reads=1, sparse_reads=2),
      dict(hidden_size=6),
      output_size=4,
    )
    wrapped = model.Model(core, bypass_dropout=0.5, bypass_size=6)
    with self.assertRaisesRegex(ValueError, '--bypass_dropout=0'):
      wrapped(_inputs(), journal=True)
    with self.assertRaisesRegex(ValueError, '`recompute_chunk_length`'):
      model.unroll(core, _inputs(), recompute_chunk_length=-2, journal=True)
    with self.assertRaisesRegex(ValueError, 'not a DNC'):
      model.unroll(_dnc(), _inputs(), journal=True)


class CompiledRecomputeTest(tf.test.TestCase):
  def test_all_options_recompute_the_gradients_in_a_graph(self):
    _check_recompute(self, 'function')


if __name__ == '__main__':
  tf.test.main()
