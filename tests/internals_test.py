"""Tests for dnc.internals: the same unroll, with every step's addressing."""

from absl.testing import parameterized
import numpy as np
import sonnet as snt
import tensorflow as tf

from dnc import dnc
from dnc import internals
from dnc import sam


def _core():
  return dnc.DNC(
    dict(memory_size=6, word_size=4, num_reads=2, num_writes=2),
    dict(hidden_size=8),
    output_size=3,
    clip_value=20,
  )


class WithInternalsTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.named_parameters(
    ('eager', None), ('function', False), ('xla', True)
  )
  def test_agrees_with_the_plain_unroll(self, jit_compile):
    tf.random.set_seed(0)
    core = _core()
    inputs = tf.constant(np.random.RandomState(0).randn(5, 3, 7), tf.float32)
    state = core.initial_state(3)
    core(inputs[0], state)
    variables = [v.ref() for v in core.variables]
    wrapper = internals.WithInternals(core, include_link=True)

    def run(inputs):
      plain = snt.dynamic_unroll(core, inputs, state)
      inspected = snt.dynamic_unroll(wrapper, inputs, state)
      # A Python loop of plain steps gives every intermediate state.
      states, step_state = [], state
      for t in range(inputs.shape[0]):
        _, step_state = core(inputs[t], step_state)
        states.append(step_state)
      return plain, inspected, states

    if jit_compile is not None:
      run = tf.function(run, jit_compile=jit_compile)
    (outputs, final), ((outputs2, steps), final2), states = run(inputs)

    self.assertAllClose(outputs2, outputs, atol=1e-6)
    tf.nest.map_structure(
      lambda a, b: self.assertAllClose(a, b, atol=1e-6), final2, final
    )
    self.assertEqual([v.ref() for v in core.variables], variables)
    self.assertEmpty(wrapper.trainable_variables[len(variables) :])
    self.assertSameElements(
      steps,
      internals.STATE_FIELDS + internals.INTERFACE_FIELDS + ('memory', 'link'),
    )
    for t, s in enumerate(states):
      a = s.access_state
      for key, value in (
        ('read_weights', a.read_weights),
        ('write_weights', a.write_weights),
        ('usage', a.usage),
        ('memory', a.memory),
        ('link', a.linkage.link),
        ('precedence_weights', a.linkage.precedence_weights),
        ('read_words', s.access_output),
      ):
        self.assertAllClose(steps[key][t], value, atol=1e-5, msg=key)
    self.assertEqual(steps['read_mode'].shape, (5, 3, 2, 5))
    self.assertAllClose(
      tf.reduce_sum(steps['read_mode'], -1), tf.ones([5, 3, 2])
    )
    for gate in ('free_gate', 'allocation_gate', 'write_gate'):
      self.assertAllInRange(steps[gate], 0, 1)

  def test_memory_and_link_are_optional(self):
    core = _core()
    wrapper = internals.WithInternals(core, include_memory=False)
    (_, steps), _ = wrapper(tf.zeros([2, 7]), wrapper.initial_state(2))
    self.assertNotIn('memory', steps)
    self.assertNotIn('link', steps)
    self.assertEqual(steps['write_weights'].shape, (2, 2, 6))

  def test_rejects_other_cores(self):
    with self.assertRaisesRegex(TypeError, 'core'):
      internals.WithInternals(snt.LSTM(4))


class SparseInternalsTest(tf.test.TestCase, parameterized.TestCase):
  """SAM's and the SDNC's steps, their sparse weightings drawn dense."""

  @parameterized.parameters('sam', 'sdnc')
  def test_dense_weightings_and_recency_from_each_state(self, memory_type):
    tf.random.set_seed(0)
    n = 6
    access = dict(memory_size=n, word_size=4, num_reads=2, sparse_reads=2)
    if memory_type == 'sdnc':
      core = sam.SDNC(dict(access, link_sparsity=2), dict(hidden_size=8), 3)
    else:
      core = sam.SAM(access, dict(hidden_size=8), 3)
    inputs = tf.constant(np.random.RandomState(0).randn(5, 2, 7), tf.float32)
    state = core.initial_state(2)
    wrapper = internals.WithInternals(core, include_link=True)
    (outputs2, steps), _ = snt.dynamic_unroll(wrapper, inputs, state)
    outputs, _ = snt.dynamic_unroll(core, inputs, state)
    self.assertAllClose(outputs2, outputs, atol=1e-6)

    step_state = state
    for t in range(inputs.shape[0]):
      _, step_state = core(inputs[t], step_state)
      a = step_state.access_state
      # The numpy scatter of each sparse weighting (repeated slots add up).
      for key, weights, shape in (
        ('read_weights', a.read_weights, (2, 2, n)),
        ('write_weights', a.write_weights, (2, 1, n)),
      ):
        indices = np.reshape(np.asarray(weights.indices, int), (2, -1))
        values = np.reshape(weights.values.numpy(), (2, shape[1], -1))
        dense = np.zeros(shape)
        for b in range(2):
          for i, (slot, value) in enumerate(
            zip(indices[b], values[b].reshape(-1), strict=True)
          ):
            dense[b, i // values.shape[2], slot] += value
        self.assertAllClose(steps[key][t], dense, atol=1e-6, msg=key)
      last = a.usage.numpy()
      self.assertAllClose(steps['last_access'][t], last)
      # U_t / t: 1 where the slot was accessed at step t = t + 1.
      self.assertAllClose(steps['recency'][t], last / (t + 1))
      self.assertAllClose(steps['memory'][t], a.memory, atol=1e-6, msg='memory')
      if memory_type == 'sdnc':
        self.assertEqual(steps['link'][t].shape, (2, 1, n, n))
        self.assertAllClose(
          steps['precedence_weights'][t], a.linkage.precedence_weights
        )
    self.assertAllClose(np.max(steps['recency'], axis=-1), np.ones([5, 2]))
    # SAM's reads: a softmax over K slots. The SDNC's mix content with link
    # reads that keep their K largest entries unrenormalised: at most 1.
    read_sums = np.sum(steps['read_weights'], -1)
    if memory_type == 'sam':
      self.assertAllClose(read_sums, np.ones([5, 2, 2]), atol=1e-5)
    else:
      self.assertAllInRange(read_sums, 0, 1 + 1e-5)
    for gate in ('write_gate', 'interpolation_gate'):
      self.assertEqual(steps[gate].shape, (5, 2, 1))
      self.assertAllInRange(steps[gate], 0, 1)
    self.assertEqual('read_mode' in steps, memory_type == 'sdnc')


if __name__ == '__main__':
  tf.test.main()
