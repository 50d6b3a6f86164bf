"""Data-parallel training on TensorFlow's own engine (`tf.distribute`).

`--distribute` picks a strategy (`make_strategy`):

- `none`: TensorFlow's default strategy, one device, as without this module;
- `mirrored`: `tf.distribute.MirroredStrategy` over every local GPU, or,
  without GPUs, over `--cpu_devices` logical devices of the CPU;
- `multi_worker`: `tf.distribute.MultiWorkerMirroredStrategy`, one process
  per host, the cluster read from the standard `TF_CONFIG`.

The batch flag stays the global batch: `dnc.train.trainer.Trainer` gives each
replica its own slice and all-reduces the gradients, so every replica takes
the same update. Only the chief (`is_chief`) writes checkpoints, summaries
and validation records; every worker reads the checkpoint directory, which
for several hosts must be shared (NFS, GCS).
"""

import hashlib
import json
import os

from absl import logging
import numpy as np
import tensorflow as tf

STRATEGIES = ('none', 'mirrored', 'multi_worker')

# What a collective raises when a peer is gone (MultiWorkerMirroredStrategy
# notices a worker that stops sending heartbeats within about 20 s).
LOST_WORKER_ERRORS = (
  tf.errors.UnavailableError,
  tf.errors.DeadlineExceededError,
  tf.errors.CancelledError,
  tf.errors.AbortedError,
)


class DistributeError(RuntimeError):
  """A distribution that cannot run (bad flags, a lost or unlike worker)."""


def make_strategy(name: str, cpu_devices: int = 0) -> tf.distribute.Strategy:
  """The strategy `--distribute=name` asks for.

  Call it before TensorFlow runs anything: logical devices and the cluster
  can only be set up before the runtime starts.

  Args:
    name: one of `STRATEGIES`.
    cpu_devices: for `mirrored` on a host without GPUs, split the CPU into
      this many logical devices, one replica each (0 or 1: one device).

  Raises:
    DistributeError: an unknown name, `cpu_devices` beside GPUs, or a
      missing or unreadable `TF_CONFIG` for `multi_worker`.
  """
  if name not in STRATEGIES:
    raise DistributeError(
      f'--distribute must be one of {", ".join(STRATEGIES)}, got {name!r}.'
    )
  if cpu_devices < 0:
    raise DistributeError(f'--cpu_devices must be >= 0, got {cpu_devices}.')
  if cpu_devices > 1:
    if name != 'mirrored':
      raise DistributeError(
        f'--cpu_devices={cpu_devices} needs --distribute=mirrored, got '
        f'--distribute={name}.'
      )
    if tf.config.list_physical_devices('GPU'):
      raise DistributeError(
        f'--cpu_devices={cpu_devices}: this host has GPUs, which '
        '--distribute=mirrored uses; leave --cpu_devices at 0.'
      )
    cpu = tf.config.list_physical_devices('CPU')[0]
    try:
      tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices
      )
    except RuntimeError as e:
      raise DistributeError(
        f'--cpu_devices: {e} (TensorFlow ran before the strategy was made).'
      ) from e
  if name == 'none':
    return tf.distribute.get_strategy()
  if name == 'mirrored':
    gpus = tf.config.list_logical_devices('GPU')
    if gpus:
      return tf.distribute.MirroredStrategy([d.name for d in gpus])
    cpus = [d.name for d in tf.config.list_logical_devices('CPU')]
    # NCCL, the default all-reduce, is for GPUs only.
    return tf.distribute.MirroredStrategy(
      cpus, cross_device_ops=tf.distribute.ReductionToOneDevice()
    )
  _check_tf_config()
  return tf.distribute.MultiWorkerMirroredStrategy()


def _check_tf_config() -> None:
  text = os.environ.get('TF_CONFIG', '')
  if not text:
    raise DistributeError(
      '--distribute=multi_worker reads the cluster from the TF_CONFIG '
      'environment variable, which is not set (README: "Train on several '
      'devices or machines").'
    )
  try:
    config = json.loads(text)
    workers = config['cluster']['worker']
    index = int(config['task']['index'])
  except (ValueError, KeyError, TypeError) as e:
    raise DistributeError(
      'TF_CONFIG must be JSON like {"cluster": {"worker": ["host:port", '
      f'...]}}, "task": {{"type": "worker", "index": 0}}}}: {e!r}.'
    ) from e
  if not 0 <= index < len(workers):
    raise DistributeError(
      f'TF_CONFIG: task index {index} is not one of the {len(workers)} workers.'
    )


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """Whether this process writes checkpoints, summaries and records.

  TensorFlow's own answer: True but on the workers of `multi_worker` other
  than the chief (worker 0, or the task named "chief").
  """
  return strategy.extended.should_checkpoint


def num_workers(strategy: tf.distribute.Strategy) -> int:
  """The processes training together (1 but for `multi_worker`)."""
  return getattr(strategy.extended, '_num_workers', 1)


def check_same_on_workers(
  strategy: tf.distribute.Strategy, values: dict[str, int]
) -> None:
  """Raises `DistributeError` unless every worker has these values.

  Args:
    strategy: the strategy.
    values: e.g. the step restored and the seed, as ints.
  """
  if num_workers(strategy) == 1:
    return
  mine = np.array(list(values.values()), np.int64)
  gathered = strategy.gather(
    strategy.experimental_distribute_values_from_function(
      lambda _: tf.constant(mine[None])
    ),
    axis=0,
  ).numpy()
  for column, name in enumerate(values):
    seen = sorted(set(gathered[:, column].tolist()))
    if len(seen) > 1:
      raise DistributeError(
        f'The workers disagree on {name}: {seen}. Every worker must run '
        'with the same flags and read the same --checkpoint_dir (a shared '
        'directory when they are on several hosts).'
      )
  logging.info('All %d workers agree on %s.', len(gathered), values)


def fingerprint(variables) -> str:
  """A short hash of the values of `variables` (this process's copies).

  Workers that log the same fingerprint hold the same weights, bit for bit.
  """
  digest = hashlib.sha256()
  for variable in variables:
    digest.update(variable.numpy().tobytes())
  return digest.hexdigest()[:16]
