"""pytest configuration shared by all tests."""

import os

from absl import flags

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# absltest helpers (create_tempdir, get_temp_dir) read absl flags, which
# absltest.main() would parse; under pytest their defaults are used.
flags.FLAGS.mark_as_parsed()


def pytest_collection_modifyitems(config, items):
  # tf.test.TestCase inherits a deprecated `test_session` context manager
  # that pytest collects and then reports as skipped; it is not a test.
  items[:] = [item for item in items if item.name != 'test_session']
