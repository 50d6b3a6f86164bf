"""Tests for dnc.sparse_link: the Methods' algorithm on dense matrices."""

from absl.testing import parameterized
import numpy as np
import sonnet as snt
import tensorflow as tf

import dnc
from dnc import addressing
from dnc import sparse_link
from dnc import util
from tests import oracles


def _peaked_write_weights(rng, shape):
  """Write weights that mostly go to one or two locations, as a trained
  DNC's do, so that links above 1/K form (diffuse ones are all cut)."""
  logits = 4 * rng.normal(size=shape)
  return oracles.np_softmax(logits) * rng.uniform(0.5, 1, shape[:-1] + (1,))


def _np_directional(link, read_weights, forward):
  """`[B, R, Wr, N]`: f = L w or b = L^T w of a dense `[B, Wr, N, N]` L."""
  if forward:
    return np.einsum('bhij,brj->brhi', link, read_weights)
  return np.einsum('bhij,bri->brhj', link, read_weights)


class SparseTemporalLinkTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.product(mode=oracles.MODES, k=(1, 2, 3))
  def test_sequence_matches_dense_oracle_and_keeps_invariants(self, mode, k):
    rng = np.random.default_rng(k)
    batch_size, num_writes, memory_size, num_reads = 2, 2, 9, 3
    module = addressing.TemporalLinkage(memory_size, num_writes, sparsity=k)
    step = oracles.in_mode(module.update_and_read, mode)
    state = module.initial_state(batch_size, tf.float64)
    link = np.zeros([batch_size, num_writes, memory_size, memory_size])
    precedence = np.zeros([batch_size, num_writes, memory_size])
    stored = 0
    for t in range(12):
      write_weights = _peaked_write_weights(
        rng, (batch_size, num_writes, memory_size)
      )
      if t == 5:  # Two writes of equal weight: ties in the top K.
        write_weights[:] = 0
        write_weights[:, :, [2, 6]] = 0.5
      read = oracles.random_write_weights(
        rng, (batch_size, num_reads, memory_size)
      )
      state, forward, backward = step(
        tf.constant(write_weights), state, tf.constant(read)
      )
      link = oracles.np_sparse_link(link, precedence, write_weights, k)
      precedence = oracles.np_precedence(precedence, write_weights)
      got = sparse_link.to_dense(state.link).numpy()
      self.assertAllClose(got, link, rtol=1e-6, atol=1e-6)
      self.assertAllClose(state.precedence_weights, precedence, atol=1e-12)
      self.assertAllClose(forward, _np_directional(link, read, True), atol=1e-6)
      self.assertAllClose(
        backward, _np_directional(link, read, False), atol=1e-6
      )
      # What the row storage relies on: entries 0 or at least 1/K, rows
      # summing to at most 1 and so holding at most K entries, nothing on
      # the diagonal. (Columns: see the test below.)
      nonzero = got != 0
      self.assertLessEqual(nonzero.sum(axis=3).max(), k)
      self.assertTrue((got[nonzero] >= 1 / k).all())
      self.assertTrue((got.sum(axis=3) <= 1 + 1e-9).all())
      self.assertAllEqual(np.diagonal(got, axis1=2, axis2=3), 0 * precedence)
      stored = max(stored, nonzero.sum(axis=3).max())
    # Rows held two entries at once (two of at least 1/K fit from K = 3), so
    # rows that merged old and new entries were checked.
    self.assertGreaterEqual(stored, 2 if k >= 3 else 1)

  def test_methods_columns_can_sum_past_one(self):
    # The Methods say rows and columns of L^ sum to at most 1. Rows do; a
    # column need not, in the Methods' own algorithm: p^ is renormalised to
    # sum to 1, so a weak write (here 0.2 to location 2, after a full write
    # to 1 that followed 0) links from 0 with weight 1 again. The dense
    # link keeps column j + p[j] <= 1, and so its columns at most 1.
    k, memory_size = 1, 4
    writes = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0.2, 0]]
    link = np.zeros([1, 1, memory_size, memory_size])
    precedence = np.zeros([1, 1, memory_size])
    module = addressing.TemporalLinkage(memory_size, 1, sparsity=k)
    state = module.initial_state(1, tf.float64)
    for write in np.array(writes, np.float64)[:, None, None]:
      link = oracles.np_sparse_link(link, precedence, write, k)
      precedence = oracles.np_precedence(precedence, write)
      state = module(tf.constant(write), state)
    # 1 follows 0 in full; 2 follows 1 only weakly, but p^ makes it 1.
    expected = np.zeros([memory_size, memory_size])
    expected[1, 0] = expected[2, 1] = 1
    self.assertAllEqual(link[0, 0], expected)
    self.assertAllEqual(sparse_link.to_dense(state.link)[0, 0], expected)
    # A fourth, weak write to 3: p is still mostly on 1 (0.8), so p^ = e_1
    # and column 1 now holds two entries of 1.
    write = np.array([0, 0, 0, 0.1])[None, None]
    link = oracles.np_sparse_link(link, precedence, write, k)
    state = module(tf.constant(write), state)
    self.assertAllEqual(link[0, 0, :, 1], [0, 0, 1, 1])
    got = sparse_link.to_dense(state.link)[0, 0, :, 1]
    self.assertAllEqual(got, [0, 0, 1, 1])

  def test_one_hot_writes_chain_forwards_and_backwards(self):
    # Writes to 0, 3, 1 in turn: reading forwards from 0 reaches 3, from 3
    # reaches 1; backwards from 1 reaches 3.
    memory_size, k = 5, 2
    module = addressing.TemporalLinkage(memory_size, 1, sparsity=k)
    state = module.initial_state(1, tf.float64)
    reads = np.eye(memory_size)[None]  # Each read head at one location.
    for location in (0, 3, 1):
      write = np.zeros([1, 1, memory_size])
      write[0, 0, location] = 1
      state, forward, backward = module.update_and_read(
        tf.constant(write), state, tf.constant(reads)
      )
    forward, backward = forward.numpy()[0, :, 0], backward.numpy()[0, :, 0]
    # f = L w: the head reading j moves to the location written after j.
    self.assertAllClose(forward[0], np.eye(memory_size)[3])
    self.assertAllClose(forward[3], np.eye(memory_size)[1])
    self.assertAllClose(backward[1], np.eye(memory_size)[3])
    self.assertAllClose(backward[3], np.eye(memory_size)[0])
    self.assertAllClose(forward[1], np.zeros(memory_size))

  def test_gradients_match_numerical_differences(self):
    rng = np.random.default_rng(5)
    batch_size, num_writes, memory_size, k = 2, 1, 6, 2
    module = addressing.TemporalLinkage(memory_size, num_writes, sparsity=k)
    state = module.initial_state(batch_size, tf.float64)
    for _ in range(4):  # A link with entries to differentiate through.
      write = tf.constant(
        _peaked_write_weights(rng, (batch_size, num_writes, memory_size))
      )
      state = module(write, state)
    indices, values = state.link
    self.assertGreaterEqual(np.count_nonzero(values), 2)
    write = _peaked_write_weights(rng, (batch_size, num_writes, memory_size))
    read = oracles.random_write_weights(rng, (batch_size, 2, memory_size))

    def update_and_read(values, precedence, write, read):
      prev = addressing.TemporalLinkageState(
        sparse_link.SparseLink(indices, values), precedence
      )
      next_state, forward, backward = module.update_and_read(write, prev, read)
      return tf.concat(
        [
          tf.reshape(x, [-1])
          for x in (next_state.link.values, forward, backward)
        ],
        0,
      )

    inputs = [values, state.precedence_weights, tf.constant(write)]
    inputs.append(tf.constant(read))
    theoretical, numerical = tf.test.compute_gradient(
      tf.function(update_and_read), inputs, delta=1e-6
    )
    for name, got, expected in zip(
      ('values', 'precedence', 'write', 'read'),
      theoretical,
      numerical,
      strict=True,
    ):
      self.assertAllClose(got, expected, atol=1e-5, msg=name)
      self.assertGreater(np.abs(got).max(), 0.05, msg=name)

  def test_top_k_normalised_keeps_the_largest_and_sums_to_one(self):
    weights = np.array([[0.1, 0.4, 0.0, 0.2, 0.2], [0, 0, 0, 0, 0]])
    indices, values = sparse_link.top_k_normalised(weights, 3)
    self.assertAllEqual(indices[0], [1, 3, 4])  # Ties to the lower index.
    self.assertAllClose(values[0], [0.5, 0.25, 0.25])
    self.assertAllEqual(values[1], [0, 0, 0])  # p_0 = 0 stays zero.


class SparseDirectionalTopKTest(tf.test.TestCase, parameterized.TestCase):
  """`sparse_directional_top_k`: the SDNC's f^ and b^ from sparse w."""

  def _link_and_reads(self, seed, memory_size=9, k_link=3):
    """A sparse link of a few peaked writes (and its dense oracle), and
    sparse read weights of S = 5 entries a head, two of them repeats."""
    rng = np.random.default_rng(seed)
    batch_size, num_writes, num_reads = 2, 2, 3
    module = addressing.TemporalLinkage(
      memory_size, num_writes, sparsity=k_link
    )
    state = module.initial_state(batch_size, tf.float64)
    link = np.zeros([batch_size, num_writes, memory_size, memory_size])
    precedence = np.zeros([batch_size, num_writes, memory_size])
    for _ in range(8):
      write = _peaked_write_weights(rng, (batch_size, num_writes, memory_size))
      state = module(tf.constant(write), state)
      link = oracles.np_sparse_link(link, precedence, write, k_link)
      precedence = oracles.np_precedence(precedence, write)
    self.assertGreater(np.count_nonzero(link), 4)
    indices = rng.integers(0, memory_size, (batch_size, num_reads, 5))
    indices[..., 4] = indices[..., 0]  # Repeats add up.
    values = rng.uniform(0.05, 0.4, (batch_size, num_reads, 5))
    dense_reads = np.zeros([batch_size, num_reads, memory_size])
    for index in np.ndindex(*indices.shape):
      dense_reads[index[:2] + (indices[index],)] += values[index]
    return state.link, link, indices.astype(np.int32), values, dense_reads

  @parameterized.product(mode=oracles.MODES, forward=(True, False))
  def test_top_k_of_the_dense_read(self, mode, forward):
    for seed in range(3):
      link, np_link, indices, values, dense_reads = self._link_and_reads(seed)
      k = 4
      got_indices, got_values = oracles.in_mode(
        sparse_link.sparse_directional_top_k, mode
      )(link, tf.constant(indices), tf.constant(values), k, forward)
      read = _np_directional(np_link, dense_reads, forward)  # [B, R, Wr, N]
      expected = oracles.np_top_k(read, k)
      # Where the read has fewer than K non-zero entries, the rest of the
      # K are zeros at any slot; compare as dense weightings.
      got = np.zeros_like(read)
      for index in np.ndindex(*got_indices.shape):
        got[index[:3] + (got_indices.numpy()[index],)] += got_values.numpy()[
          index
        ]
      self.assertAllClose(got, expected, atol=1e-12)
      self.assertGreater(np.count_nonzero(expected), 6)

  @parameterized.parameters(True, False)
  def test_gradients_equal_those_through_the_dense_read(self, forward):
    link, _, indices, values, _ = self._link_and_reads(7)
    memory_size, k = 9, 4
    coefficients = tf.constant(
      np.random.default_rng(8).normal(size=[2, 3, 2, k])
    )

    def sparse(link_values, read_values):
      _, top = sparse_link.sparse_directional_top_k(
        link._replace(values=link_values), indices, read_values, k, forward
      )
      return tf.reduce_sum(coefficients * top)

    def dense(link_values, read_values):
      read = util.scatter_add(indices, read_values, memory_size)
      weights = sparse_link.sparse_directional_read_weights(
        link._replace(values=link_values), read, forward
      )
      return tf.reduce_sum(coefficients * tf.math.top_k(weights, k).values)

    inputs = (link.values, tf.constant(values))
    self.assertAllClose(sparse(*inputs), dense(*inputs), atol=1e-12)

    def gradients(fn):
      with tf.GradientTape() as tape:
        tape.watch(inputs)
        loss = fn(*inputs)
      return tape.gradient(loss, inputs)

    got, want = gradients(sparse), gradients(dense)
    for name, a, b in zip(('link', 'reads'), got, want, strict=True):
      self.assertAllClose(a, b, atol=1e-12, msg=name)
      self.assertGreater(np.abs(a).max(), 0.05, msg=name)

  @parameterized.parameters(True, False)
  def test_no_scatter_of_the_link_s_size(self, forward):
    # The point of the function: its segment sums, forwards and in the
    # gradient, touch the K + S rows of the link that matter, not all N K_L
    # entries (the dense read scatters them one way or the other).
    memory_size, k_link, k = 4000, 8, 4
    link = sparse_link.SparseLink(
      tf.zeros([2, 1, memory_size, k_link]),
      tf.zeros([2, 1, memory_size, k_link]),
    )
    indices = tf.zeros([2, 3, 12], tf.int32)

    def largest_scatter(fn):
      @tf.function
      def gradient(values, reads):
        with tf.GradientTape() as tape:
          tape.watch([values, reads])
          loss = tf.reduce_sum(fn(values, reads))
        return tape.gradient(loss, [values, reads])

      graph = gradient.get_concrete_function(
        link.values, tf.zeros([2, 3, 12])
      ).graph
      return max(
        max(x.shape.num_elements() or 0 for x in op.inputs)
        for op in graph.get_operations()
        if 'Scatter' in op.type or 'Segment' in op.type
      )

    sparse = largest_scatter(
      lambda values, reads: sparse_link.sparse_directional_top_k(
        link._replace(values=values), indices, reads, k, forward
      )[1]
    )
    self.assertLess(sparse, memory_size, msg=forward)
    dense = largest_scatter(
      lambda values, reads: sparse_link.sparse_directional_read_weights(
        link._replace(values=values),
        util.scatter_add(indices, reads, memory_size),
        forward,
      )
    )
    self.assertGreaterEqual(dense, memory_size * k_link, msg=forward)


class SparseLinkageModuleTest(tf.test.TestCase, parameterized.TestCase):
  def test_state_is_n_by_k_indices_and_values(self):
    module = addressing.TemporalLinkage(1000, 2, sparsity=8)
    self.assertEqual(
      module.state_size.link,
      sparse_link.SparseLink(
        tf.TensorShape([2, 1000, 8]), tf.TensorShape([2, 1000, 8])
      ),
    )
    state = module.initial_state(3)
    self.assertEqual(state.link.values.shape, [3, 2, 1000, 8])

  @parameterized.parameters(-1, 6, 2.0, True)
  def test_bad_sparsity_raises_with_name(self, sparsity):
    with self.assertRaisesRegex(ValueError, '`sparsity`'):
      addressing.TemporalLinkage(5, 1, sparsity=sparsity)
    with self.assertRaisesRegex(ValueError, '`link_sparsity`'):
      dnc.access.MemoryAccess(5, 4, link_sparsity=sparsity)

  def test_dense_link_given_to_sparse_module_raises_with_name(self):
    module = addressing.TemporalLinkage(4, 1, sparsity=2)
    state = addressing.TemporalLinkageState(
      tf.zeros([1, 1, 4, 4]), tf.zeros([1, 1, 4])
    )
    with self.assertRaisesRegex(TypeError, '`prev_state.link` must be a'):
      module(tf.zeros([1, 1, 4]), state)

  def test_float32_indices_limit_memory_size(self):
    with self.assertRaisesRegex(ValueError, '`memory_size` must be at most'):
      sparse_link.check_memory_size(2**24 + 1, tf.float32)
    sparse_link.check_memory_size(2**24 + 1, tf.float64)


class SparseDNCTest(tf.test.TestCase, parameterized.TestCase):
  def _core(self, memory_size, dtype=tf.float32, fast_kernels=False):
    return dnc.DNC(
      dict(memory_size=memory_size, word_size=4, num_reads=2, link_sparsity=4),
      dict(hidden_size=8, dtype=dtype),
      output_size=3,
      fast_kernels=fast_kernels,
    )

  def test_eager_function_and_xla_agree_with_gradients(self):
    tf.random.set_seed(3)
    core = self._core(8, tf.float64)
    inputs = tf.random.normal([4, 2, 5], dtype=tf.float64)

    def run(inputs):
      with tf.GradientTape() as tape:
        # A loop rather than four copies of the step: XLA compiles one.
        outputs, _ = snt.dynamic_unroll(core, inputs, core.initial_state(2))
        loss = tf.reduce_sum(outputs**2)
      return loss, tape.gradient(loss, core.trainable_variables)

    run(inputs)  # Creates the variables.
    results = [oracles.in_mode(run, mode)(inputs) for mode in oracles.MODES]
    for loss, gradients in results[1:]:
      self.assertAllClose(loss, results[0][0], rtol=1e-9)
      self.assertAllClose(gradients, results[0][1], rtol=1e-7, atol=1e-9)

  def test_no_tensor_of_the_training_step_grows_as_n_squared(self):
    # Every tensor of a step and its gradient, with N large enough that
    # N^2 stands out from B N K, B N W and the layers' sizes.
    memory_size = 3000
    core = self._core(memory_size, fast_kernels=True)

    @tf.function
    def step(inputs):
      with tf.GradientTape() as tape:
        output, _ = core(inputs, core.initial_state(2))
        loss = tf.reduce_sum(output)
      return tape.gradient(loss, core.trainable_variables)

    inputs = tf.TensorSpec([2, 5], tf.float32)
    core(tf.zeros([2, 5]), core.initial_state(2))
    graph = step.get_concrete_function(inputs).graph
    largest = max(
      (
        output.shape.num_elements() or 0
        for op in graph.get_operations()
        for output in op.outputs
      ),
    )
    self.assertLess(largest, memory_size**2 // 10)
    self.assertGreaterEqual(largest, memory_size * 4)  # The memory M.


if __name__ == '__main__':
  tf.test.main()
