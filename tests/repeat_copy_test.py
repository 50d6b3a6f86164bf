"""Tests for dnc.tasks.repeat_copy.data: reference layout, cost, readable."""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from dnc.tasks.repeat_copy import data as repeat_copy


def _decode(observations, target, mask, num_bits, norm_max):
  """Reads (n, k, pattern) of one sequence back from its observations and
  checks nothing else is there; returns them with the expected target and
  mask rebuilt from the reference layout, for comparison."""
  repeats_channel = observations[:, num_bits + 1]
  (repeats_step,) = np.nonzero(repeats_channel)
  n = int(repeats_step[0]) - 1
  k = int(round(repeats_channel[n + 1] * norm_max))
  pattern = observations[1 : n + 1, :num_bits]
  length = n * (k + 1) + 3
  expected_obs = np.zeros_like(observations)
  expected_obs[0, num_bits] = 1
  expected_obs[1 : n + 1, :num_bits] = pattern
  expected_obs[n + 1, num_bits + 1] = k / norm_max
  expected_target = np.zeros_like(target)
  expected_target[n + 2 : n + 2 + n * k, :num_bits] = np.tile(pattern, (k, 1))
  expected_target[n + 2 + n * k, num_bits] = 1
  expected_mask = np.zeros_like(mask)
  expected_mask[n + 2 : length] = 1
  return n, k, pattern, length, expected_obs, expected_target, expected_mask


class RepeatCopyTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.named_parameters(('padded_to_batch', False), ('max', True))
  def test_layout_matches_spec(self, pad_to_max_length):
    num_bits, norm_max = 4, 10
    task = repeat_copy.RepeatCopy(
      num_bits=num_bits,
      batch_size=32,
      min_length=2,
      max_length=5,
      min_repeats=1,
      max_repeats=3,
      norm_max=norm_max,
      seed=7,
      pad_to_max_length=pad_to_max_length,
    )
    data = tf.nest.map_structure(np.asarray, task())
    time_steps = data.observations.shape[0]
    self.assertEqual(data.observations.shape, (time_steps, 32, num_bits + 2))
    self.assertEqual(data.target.shape, (time_steps, 32, num_bits + 1))
    self.assertEqual(data.mask.shape, (time_steps, 32))
    lengths, seen, patterns = [], set(), []
    for b in range(32):
      n, k, pattern, length, obs, target, mask = _decode(
        data.observations[:, b],
        data.target[:, b],
        data.mask[:, b],
        num_bits,
        norm_max,
      )
      self.assertBetween(n, 2, 5)
      self.assertBetween(k, 1, 3)
      self.assertTrue(np.all((pattern == 0) | (pattern == 1)))
      self.assertAllEqual(data.observations[:, b], obs)
      self.assertAllEqual(data.target[:, b], target)
      self.assertAllEqual(data.mask[:, b], mask)
      self.assertEqual(mask.sum(), n * k + 1)
      lengths.append(length)
      seen.add((n, k))
      patterns.append(pattern.ravel())
    self.assertGreater(len(seen), 6)  # Lengths and repeats really vary.
    if pad_to_max_length:
      self.assertEqual(time_steps, 5 * 4 + 3)
      self.assertEqual(time_steps, task.max_sequence_length)
    else:
      self.assertEqual(time_steps, max(lengths))
    self.assertBetween(np.mean(np.concatenate(patterns)), 0.35, 0.65)

  def test_single_example_layout(self):
    task = repeat_copy.RepeatCopy(
      num_bits=3, min_length=2, max_length=2, min_repeats=3, max_repeats=3
    )
    data = task()
    self.assertEqual(data.observations.shape[0], 2 * 4 + 3)
    self.assertAllEqual(data.observations[0, 0], [0, 0, 0, 1, 0])
    self.assertAllClose(data.observations[3, 0], [0, 0, 0, 0, 0.3])
    pattern = data.observations[1:3, 0, :3]
    self.assertAllEqual(data.target[4:10, 0, :3], tf.tile(pattern, [3, 1]))
    self.assertAllEqual(data.target[10, 0], [0, 0, 0, 1])
    self.assertAllEqual(data.mask[:, 0], [0] * 4 + [1] * 7)

  def test_seeded_and_checkpointable(self):
    def make(seed):
      return repeat_copy.RepeatCopy(
        num_bits=4, batch_size=4, max_length=4, max_repeats=3, seed=seed
      )

    first, again, other = make(1)(), make(1)(), make(2)()
    tf.nest.map_structure(self.assertAllEqual, first, again)
    self.assertNotAllEqual(first.observations[:3], other.observations[:3])

    task = make(3)
    checkpoint = tf.train.Checkpoint(task=task)
    path = checkpoint.save(self.get_temp_dir() + '/ckpt')
    expected = [task() for _ in range(3)]
    task()  # Moves the generator on.
    checkpoint.restore(path)
    for batch in expected:
      tf.nest.map_structure(self.assertAllEqual, task(), batch)

  def test_given_generator_is_used(self):
    generator = tf.random.Generator.from_seed(5)
    task = repeat_copy.RepeatCopy(generator=generator, seed=123)
    self.assertIs(task.generator, generator)
    state = generator.state.numpy()
    task()
    self.assertNotAllEqual(generator.state, state)

  @parameterized.named_parameters(('function', False), ('xla', True))
  def test_compiled_without_retracing(self, jit_compile):
    task = repeat_copy.RepeatCopy(
      num_bits=4,
      batch_size=8,
      max_length=6,
      max_repeats=3,
      seed=0,
      pad_to_max_length=jit_compile,
    )
    make_batch = tf.function(task, jit_compile=jit_compile)
    lengths = set()
    for _ in range(8):
      data = make_batch()
      lengths.add(int(data.observations.shape[0]))
      self.assertEqual(float(tf.reduce_max(data.observations[0, :, 4])), 1)
    self.assertEqual(make_batch.experimental_get_tracing_count(), 1)
    if not jit_compile:
      self.assertGreater(len(lengths), 1)

  @parameterized.product(time_average=[False, True], bits=[False, True])
  def test_cost_matches_numpy(self, time_average, bits):
    rng = np.random.RandomState(0)
    logits = rng.randn(7, 3, 5).astype(np.float32) * 3
    target = (rng.rand(7, 3, 5) > 0.5).astype(np.float32)
    mask = (rng.rand(7, 3) > 0.3).astype(np.float32)
    xent = np.maximum(logits, 0) - logits * target
    xent += np.log1p(np.exp(-np.abs(logits)))
    per_sequence = (xent.sum(axis=2) * mask).sum(axis=0)
    if time_average:
      per_sequence /= mask.sum(axis=0) + np.finfo(np.float32).eps
    expected = per_sequence.sum() / 3
    if bits:
      expected /= np.log(2)
    task = repeat_copy.RepeatCopy(
      num_bits=4,
      batch_size=3,
      time_average_cost=time_average,
      log_prob_in_bits=bits,
    )
    self.assertAllClose(task.cost(logits, target, mask), expected, rtol=1e-5)
    self.assertAllClose(
      repeat_copy.masked_sigmoid_cross_entropy(
        logits, target, mask, time_average, bits
      ),
      expected,
      rtol=1e-5,
    )

  def test_to_human_readable(self):
    obs = np.zeros([5, 2, 4])
    obs[0, :, 2] = 1
    obs[1, 0, :2] = [1, 0]
    obs[2, 0, 3] = 0.2
    target = np.zeros([5, 2, 3])
    target[3, 0, :2] = [1, 0]
    target[4, 0, 2] = 1
    data = repeat_copy.DatasetTensors(obs, target, np.zeros([5, 2]))
    task = repeat_copy.RepeatCopy(num_bits=2, batch_size=2)
    output = np.zeros([5, 2, 3])
    output[3, :, 0] = 1
    self.assertEqual(
      task.to_human_readable(data, output),
      '\nObservations:\n'
      '+- 1 - - -+\n'
      '+- - - - -+\n'
      '+1 - - - -+\n'
      '+- - 0 - -+\n\n'
      'Targets:\n'
      '+- - - 1 -+\n'
      '+- - - - -+\n'
      '+- - - - 1+\n\n'
      'Model Output:\n'
      '+- - - 1 -+\n'
      '+- - - - -+\n'
      '+- - - - -+',
    )
    whole = task.to_human_readable(data, whole_batch=True)
    self.assertEqual(whole.count('Observations:'), 2)
    self.assertNotIn('Model Output', whole)

  def test_properties(self):
    task = repeat_copy.RepeatCopy(
      num_bits=5, batch_size=3, log_prob_in_bits=True
    )
    self.assertEqual(task.num_bits, 5)
    self.assertEqual(task.target_size, 6)
    self.assertEqual(task.batch_size, 3)
    self.assertTrue(task.log_prob_in_bits)
    self.assertFalse(task.time_average_cost)

  @parameterized.named_parameters(
    ('num_bits', dict(num_bits=0), 'num_bits'),
    ('batch_size', dict(batch_size=-1), 'batch_size'),
    ('min_length', dict(min_length=0), 'min_length'),
    ('lengths', dict(min_length=3, max_length=2), 'min_length'),
    ('repeats', dict(min_repeats=3, max_repeats=2), 'min_repeats'),
    ('norm_max', dict(norm_max=0), 'norm_max'),
  )
  def test_bad_arguments_raise(self, kwargs, name):
    with self.assertRaisesRegex(ValueError, name):
      repeat_copy.RepeatCopy(**kwargs)

  def test_bad_cost_shapes_raise(self):
    with self.assertRaisesRegex(ValueError, 'mask'):
      repeat_copy.masked_sigmoid_cross_entropy(
        tf.zeros([4, 2, 3]), tf.zeros([4, 2, 3]), tf.zeros([4, 3])
      )


if __name__ == '__main__':
  tf.test.main()
