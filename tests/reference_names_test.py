"""The names of DeepMind's TF1 DNC that its own tests call still exist."""

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from dnc import access
from dnc import addressing
from dnc import dnc
from dnc import util
from tests import oracles

# (module, attribute path): classes, their methods and module functions.
_REFERENCE_NAMES = (
  (addressing, 'CosineWeights'),
  (addressing, 'TemporalLinkage'),
  (addressing, 'TemporalLinkage._link'),
  (addressing, 'TemporalLinkage._precedence_weights'),
  (addressing, 'TemporalLinkage.directional_read_weights'),
  (addressing, 'TemporalLinkageState'),
  (addressing, 'Freeness'),
  (addressing, 'Freeness._usage_after_write'),
  (addressing, 'Freeness._usage_after_read'),
  (addressing, 'Freeness._allocation'),
  (addressing, 'Freeness.write_allocation_weights'),
  (access, 'MemoryAccess'),
  (access, 'MemoryAccess._read_inputs'),
  (access, 'MemoryAccess._write_weights'),
  (access, 'MemoryAccess._read_weights'),
  (access, 'AccessState'),
  (access, '_erase_and_write'),
  (util, 'batch_invert_permutation'),
  (util, 'batch_gather'),
  (util, 'one_hot'),
  (util, 'reduce_prod'),
  (dnc, 'DNC'),
  (dnc, 'DNCState'),
)


class ReferenceNamesTest(tf.test.TestCase, parameterized.TestCase):
  @parameterized.parameters(*_REFERENCE_NAMES)
  def test_exists_and_is_callable(self, module, path):
    value = module
    for part in path.split('.'):
      self.assertTrue(hasattr(value, part), f'{module.__name__}.{path}')
      value = getattr(value, part)
    self.assertTrue(callable(value), f'{module.__name__}.{path}')

  @parameterized.parameters(False, True)
  def test_freeness_allocation_matches_the_numpy_oracle(self, fast_kernels):
    # As DeepMind's addressing_test calls it: one head, [batch, memory].
    rng = np.random.RandomState(30)
    usage = rng.uniform(size=(3, 7))
    usage[1, 2] = usage[1, 5]  # A tie, which goes to the lower index.
    module = addressing.Freeness(7, fast_kernels=fast_kernels)
    got = module._allocation(tf.constant(usage))
    self.assertAllClose(got, oracles.np_allocation(usage), rtol=1e-12)
    self.assertGreater(got[1, 2], got[1, 5])

  def test_freeness_allocation_checks_its_argument(self):
    with self.assertRaisesRegex(ValueError, 'usage'):
      addressing.Freeness(7)._allocation(tf.zeros([3, 6]))


if __name__ == '__main__':
  tf.test.main()
