"""pytest configuration shared by all tests."""

import os

from absl import flags

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# XLA's CPU backend compiles the tests' steps with LLVM's optimisations off:
# the same HLO and the same results to rounding, compiled in about 30% less
# time (most XLA tests' time is compilation), and slower-running code that
# such small steps do not notice. Inherited by the scripts the tests run;
# the scripts themselves, run by a user, compile as usual.
os.environ.setdefault('XLA_FLAGS', '--xla_backend_optimization_level=0')

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

# The longest tests (or classes sharing one expensive setUpClass), longest
# first, as measured under `pytest -n 2` on 2 cores. They start first, one
# at a time per worker (xdist's `--dist loadgroup --no-loadscope-reorder`,
# in pyproject.toml), so that the two workers finish together: started
# last, one of them alone would keep one core busy for minutes after the
# other has run out of tests. Node ids are matched as prefixes.
_LONGEST_FIRST = (
  'tests/train_babi_test.py::TrainBabiTest::test_options_from_the_literature',
  'tests/train_babi_test.py::TrainBabiTest::test_trains_resumes_and_evaluates',
  'tests/distribute_test.py::MultiWorkerTest',
  'tests/distribute_test.py::MirroredStepTest',
  'tests/benchmarks_recompute_test.py',
  'tests/benchmarks_sparse_scaling_test.py::WorkerTest',
  'tests/trainer_test.py::JournalTest::test_same_steps',
  'tests/recompute_test.py::DynamicUnrollTest',
  'tests/export_test.py::ExportCommandTest',
  'tests/kernels_test.py::DNCEquivalenceTest',
  'tests/trainer_test.py::RecomputeTest::test_same_steps_as_full',
  'tests/model_test.py::CompiledRecomputeTest',
  'tests/train_test.py::TrainingTest',
  'tests/export_test.py::ExportTest',
  'tests/controllers_test.py::ControllerXlaTest',
  'tests/train_test.py::ResumeTest',
  'tests/keras_test.py::TrainingTest',
  'tests/kernels_test.py::ChangedMathsTest',
  'tests/train_test.py::SafetyTest',
  'tests/train_test.py::TrainedRunTest',
  'tests/custom_task_test.py::CustomTaskTest',
  'tests/char_lm_test.py::TrainCharLMTest',
  'tests/graphs_test.py::TrainGraphsTest',
  'tests/pretrained_test.py',
  'tests/packaging_test.py',
  'tests/visualize_test.py::EndToEndTest',
  'tests/train_babi_test.py',
  'tests/train_test.py',
)


def _rank(nodeid):
  for rank, prefix in enumerate(_LONGEST_FIRST):
    if nodeid.startswith(prefix):
      return rank
  return len(_LONGEST_FIRST)


def pytest_collection_modifyitems(config, items):
  # tf.test.TestCase inherits a deprecated `test_session` context manager
  # that pytest collects and then reports as skipped; it is not a test.
  items[:] = [item for item in items if item.name != 'test_session']
  # A stable sort: the others keep pytest's order (file by file).
  items.sort(key=lambda item: _rank(item.nodeid))
