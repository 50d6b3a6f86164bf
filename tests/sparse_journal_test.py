"""Tests for dnc.sparse_journal: the journaled unroll against Sonnet's."""

from absl.testing import parameterized
import numpy as np
import sonnet as snt
import tensorflow as tf

from dnc import sam
from dnc import sparse_journal
from tests import oracles

_SAM = dict(memory_size=8, word_size=4, num_reads=2, sparse_reads=2)
_SDNC = dict(_SAM, link_sparsity=2)


def _core(kind):
  core_type, access = {'sam': (sam.SAM, _SAM), 'sdnc': (sam.SDNC, _SDNC)}[kind]
  return core_type(access, dict(hidden_size=6, dtype=tf.float64), output_size=3)


class JournaledUnrollTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.parameters(
    ('sam', 'eager'),
    ('sam', 'function'),
    ('sam', 'xla'),
    ('sdnc', 'eager'),
  )
  def test_outputs_state_and_gradients_are_dynamic_unroll_s(self, kind, mode):
    rng = np.random.default_rng(0)
    core = _core(kind)
    inputs = tf.constant(rng.normal(size=(3, 2, 3)))
    initial = core.initial_state(2)
    core(inputs[0], initial)
    memory = tf.constant(rng.normal(size=(2, 8, 4)))

    def run(unroll, inputs, memory):
      state = initial._replace(
        access_state=initial.access_state._replace(memory=memory)
      )
      with tf.GradientTape() as tape:
        tape.watch([inputs, memory])
        outputs, final = unroll(core, inputs, state)
        loss = tf.reduce_sum(outputs**2) + tf.reduce_sum(
          final.access_state.memory**2
        )
      gradients = tape.gradient(
        loss, [inputs, memory, *core.trainable_variables]
      )
      return outputs, tf.nest.flatten(final), gradients

    expected = oracles.in_mode(lambda *a: run(snt.dynamic_unroll, *a), mode)(
      inputs, memory
    )
    got = oracles.in_mode(
      lambda *a: run(sparse_journal.dynamic_unroll, *a), mode
    )(inputs, memory)
    names = ('outputs', 'state', 'gradients')
    for name, g, e in zip(names, got, expected, strict=True):
      self.assertAllClose(g, e, rtol=1e-10, atol=1e-10, msg=name)
    for gradient in expected[2]:
      self.assertGreater(np.abs(gradient).max(), 0)

  def test_keeps_rows_not_memories(self):
    # What the journaled unroll stacks (its records of each step, traced,
    # not run): no memory per step, [T, B, N, W]; its largest record is U,
    # [T, B, N]. (Sonnet's unroll keeps its steps in lists of no static
    # shape, which this cannot measure.)
    memory_size, word_size, steps = 2000, 8, 6
    core = sam.SAM(
      dict(memory_size=memory_size, word_size=word_size, sparse_reads=4),
      dict(hidden_size=8),
      output_size=3,
    )
    core(tf.zeros([2, 3]), core.initial_state(2))

    @tf.function
    def step(inputs):
      with tf.GradientTape() as tape:
        outputs, _ = sparse_journal.dynamic_unroll(
          core, inputs, core.initial_state(2)
        )
        loss = tf.reduce_sum(outputs)
      return tape.gradient(loss, core.trainable_variables)

    graph = step.get_concrete_function(tf.TensorSpec([steps, 2, 3])).graph
    largest = max(
      output.shape.num_elements() or 0
      for op in graph.get_operations()
      for output in op.outputs
    )
    self.assertLess(largest, steps * 2 * memory_size * word_size // 2)
    self.assertGreaterEqual(largest, 2 * memory_size * word_size)  # M.

  def test_bad_arguments_raise_with_name(self):
    core = _core('sam')
    state = core.initial_state(2)
    with self.assertRaisesRegex(ValueError, '`input_sequence`'):
      sparse_journal.dynamic_unroll(core, tf.zeros([2, 3], tf.float64), state)
    with self.assertRaisesRegex(TypeError, '`initial_state`'):
      sparse_journal.dynamic_unroll(
        core, tf.zeros([2, 2, 3], tf.float64), tuple(state)
      )
    with self.assertRaisesRegex(TypeError, '`core`'):
      sparse_journal.dynamic_unroll(snt.LSTM(3), tf.zeros([2, 2, 3]), state)


if __name__ == '__main__':
  tf.test.main()
