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
  # chunk_length 0 keeps every step's state; of 5 steps, 2 ends on a chunk
  # of one step, 3 on a chunk of two; 1 runs every step again alone; 7 >= T
  # is one chunk. XLA, which traces a graph, takes the unchunked and one
  # chunked case (10 to 30 s a case); the SDNC's chunks in a graph are
  # trainer_test's (JournalTest, carried state, chunks of 5 over 12 steps).
  @parameterized.parameters(
    ('sam', 'eager', 0),
    ('sam', 'xla', 0),
    ('sdnc', 'eager', 0),
    ('sdnc', 'eager', 2),
    ('sam', 'eager', 3),
    ('sdnc', 'eager', 1),
    ('sam', 'eager', 7),
    ('sam', 'xla', 2),
  )
  def test_outputs_state_and_gradients_are_dynamic_unroll_s(
    self, kind, mode, chunk_length
  ):
    rng = np.random.default_rng(0)
    core = _core(kind)
    inputs = tf.constant(rng.normal(size=(5, 2, 3)))
    initial = core.initial_state(2)
    core(inputs[0], initial)
    # Not the zero state: M, the controller's state and the last reads
    # drawn at random, so that the gradients into them are not trivial.
    initial = initial._replace(
      access_output=tf.constant(rng.normal(size=(2, 2, 4))),
      access_state=initial.access_state._replace(
        memory=tf.constant(rng.normal(size=(2, 8, 4)))
      ),
      controller_state=tf.nest.map_structure(
        lambda x: tf.constant(rng.normal(size=x.shape)),
        initial.controller_state,
      ),
    )
    initial = tf.nest.flatten(initial)

    def run(unroll, inputs, *initial_state):
      state = tf.nest.pack_sequence_as(core.initial_state(2), initial_state)
      with tf.GradientTape() as tape:
        tape.watch([inputs, initial_state])
        outputs, final = unroll(core, inputs, state)
        final = tf.nest.flatten(final)
        loss = tf.reduce_sum(outputs**2) + tf.add_n(
          [tf.reduce_sum(tf.sin(x)) for x in final]
        )
      gradients = tape.gradient(
        loss,
        [inputs, *initial_state, *core.trainable_variables],
        unconnected_gradients=tf.UnconnectedGradients.ZERO,
      )
      return outputs, final, gradients

    expected = oracles.in_mode(lambda *a: run(snt.dynamic_unroll, *a), mode)(
      inputs, *initial
    )
    got = oracles.in_mode(
      lambda *a: run(
        lambda *u: sparse_journal.dynamic_unroll(*u, chunk_length), *a
      ),
      mode,
    )(inputs, *initial)
    names = ('outputs', 'state', 'gradients')
    for name, g, e in zip(names, got, expected, strict=True):
      self.assertAllClose(g, e, rtol=1e-10, atol=1e-10, msg=name)
    # Into the inputs, M, the controller's state and every variable.
    gradients = expected[2]
    d_state = tf.nest.pack_sequence_as(
      core.initial_state(2), gradients[1 : 1 + len(initial)]
    )
    for gradient in [
      gradients[0],
      d_state.access_state.memory,
      *tf.nest.flatten(d_state.controller_state),
      *gradients[1 + len(initial) :],
    ]:
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
    for chunk_length in (-1, 1.5, True):
      with self.assertRaisesRegex(ValueError, '`chunk_length`'):
        sparse_journal.dynamic_unroll(
          core, tf.zeros([2, 2, 3], tf.float64), state, chunk_length
        )
    with self.assertRaisesRegex(TypeError, '`core`'):
      sparse_journal.dynamic_unroll(snt.LSTM(3), tf.zeros([2, 2, 3]), state)


if __name__ == '__main__':
  tf.test.main()
