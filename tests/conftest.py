"""pytest configuration shared by all tests."""

import os

from absl import flags

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow as tf  # noqa: E402  (after the log level)

# Two logical CPU devices, so that `tf.distribute.MirroredStrategy` has two
# replicas in the tests of data-parallel training. Ops still run on CPU:0
# unless placed; the devices must be set before TensorFlow first runs.
tf.config.set_logical_device_configuration(
  tf.config.list_physical_devices('CPU')[0],
  [tf.config.LogicalDeviceConfiguration()] * 2,
)

# absltest helpers (create_tempdir, get_temp_dir) read absl flags, which
# absltest.main() would parse; under pytest their defaults are used.
flags.FLAGS.mark_as_parsed()


def pytest_collection_modifyitems(config, items):
  # tf.test.TestCase inherits a deprecated `test_session` context manager
  # that pytest collects and then reports as skipped; it is not a test.
  items[:] = [item for item in items if item.name != 'test_session']
