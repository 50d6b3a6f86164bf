"""The repeat-copy task: see a bit pattern, then write it out k times.

All tensors are time-major. Observations have `num_bits` pattern channels, a
start-marker channel and a num-repeats channel; targets have `num_bits`
channels and an end-marker channel. For pattern length n and k repeats:

  step:         0      1..n      n+1      n+2 .. n+1+n*k   n+2+n*k
  observation:  start  pattern   k/norm   -                -
  target:       -      -         -        pattern x k      end marker
  mask:         0      0         0        1                1

A sequence is n*(k+1)+3 steps long; a batch is zero-padded (with zero mask)
to its longest sequence, or to the longest possible one with
`pad_to_max_length=True`, which keeps shapes static for XLA.
"""

import numpy as np
import sonnet as snt
import tensorflow as tf

from dnc import util
from dnc.tasks.base import DatasetTensors


def masked_sigmoid_cross_entropy(
  logits: tf.Tensor,
  target: tf.Tensor,
  mask: tf.Tensor,
  time_average: bool = False,
  log_prob_in_bits: bool = False,
) -> tf.Tensor:
  """Sigmoid cross-entropy summed over time and channels, where mask is 1.

  Args:
    logits: `[time, batch_size, channels]`.
    target: `[time, batch_size, channels]`, in [0, 1].
    mask: `[time, batch_size]`, 1 where the loss counts.
    time_average: divide each sequence's loss by its number of masked steps.
    log_prob_in_bits: report bits instead of nats.

  Returns:
    Scalar: the loss summed over the batch, divided by the batch size.
  """
  logits = tf.convert_to_tensor(logits)
  target = tf.convert_to_tensor(target, logits.dtype)
  mask = tf.convert_to_tensor(mask, logits.dtype)
  util.check_shape(logits, [None, None, None], 'logits')
  util.check_shape(target, logits.shape, 'target')
  util.check_shape(mask, logits.shape[:2], 'mask')
  xent = tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=logits)
  loss_time_batch = tf.reduce_sum(xent, axis=2)
  loss_batch = tf.reduce_sum(loss_time_batch * mask, axis=0)
  batch_size = tf.cast(tf.shape(logits)[1], logits.dtype)
  if time_average:
    mask_count = tf.reduce_sum(mask, axis=0)
    loss_batch /= mask_count + np.finfo(np.float32).eps
  loss = tf.reduce_sum(loss_batch) / batch_size
  if log_prob_in_bits:
    loss /= tf.math.log(tf.constant(2.0, logits.dtype))
  return loss


def _readable(datum: np.ndarray) -> str:
  # As in the reference, values print truncated to integers so that columns
  # line up; the repeats channel (k / norm_max < 1) shows as 0.
  return '+' + ' '.join('-' if x == 0 else f'{int(x)}' for x in datum) + '+'


def bitstring_readable(
  data: DatasetTensors,
  batch_size: int,
  model_output: np.ndarray | None = None,
  whole_batch: bool = False,
) -> str:
  """Renders observations, targets and model output as rows of channels.

  Each channel is one row over time: `+1 - - 1+` (a `-` for zero).

  Args:
    data: `DatasetTensors` of numpy arrays (time-major).
    batch_size: the batch size of `data`.
    model_output: optional `[time, batch_size, target_channels]` array.
    whole_batch: render every batch element, not just the first.

  Returns:
    The text, one block per batch element.
  """
  batch_strings = []
  for batch_index in range(batch_size) if whole_batch else range(1):
    obs = data.observations[:, batch_index, :]
    targ = data.target[:, batch_index, :]
    strings = [
      'Observations:\n'
      + '\n'.join(_readable(obs[:, i]) for i in range(obs.shape[1])),
      'Targets:\n'
      + '\n'.join(_readable(targ[:, i]) for i in range(targ.shape[1])),
    ]
    if model_output is not None:
      output = model_output[:, batch_index, :]
      strings.append(
        'Model Output:\n'
        + '\n'.join(_readable(output[:, i]) for i in range(targ.shape[1]))
      )
    batch_strings.append('\n\n'.join(strings))
  return '\n' + '\n\n\n\n'.join(batch_strings)


class RepeatCopy(snt.Module):
  """Generates batches of the repeat-copy task (see the module docstring).

  Randomness comes from a `tf.random.Generator` the task owns (seeded by
  `seed`) or is given, so runs are reproducible and the generator's state can
  be checkpointed with the model (it is tracked as `self.generator`). Calling
  the task inside a `tf.function` does not retrace from batch to batch.
  """

  def __init__(
    self,
    num_bits: int = 6,
    batch_size: int = 1,
    min_length: int = 1,
    max_length: int = 1,
    min_repeats: int = 1,
    max_repeats: int = 2,
    norm_max: float = 10,
    log_prob_in_bits: bool = False,
    time_average_cost: bool = False,
    name: str = 'repeat_copy',
    *,
    seed: int | None = None,
    generator: tf.random.Generator | None = None,
    pad_to_max_length: bool = False,
  ):
    """Creates a repeat-copy task.

    Args:
      num_bits: bits per pattern step.
      batch_size: sequences per batch.
      min_length, max_length: range of the pattern length n (inclusive).
      min_repeats, max_repeats: range of the number of repeats k (inclusive).
      norm_max: the repeats channel shows k / norm_max.
      log_prob_in_bits: `cost` in bits instead of nats.
      time_average_cost: `cost` averaged over each sequence's target steps.
      name: module name.
      seed: seeds the task's own generator (ignored with `generator`).
      generator: a `tf.random.Generator` to draw from instead.
      pad_to_max_length: pad every batch to `max_sequence_length` so the
        time dimension is static (needed under XLA).
    """
    super().__init__(name=name)
    for value, arg in (
      (num_bits, 'num_bits'),
      (batch_size, 'batch_size'),
      (min_length, 'min_length'),
      (max_length, 'max_length'),
      (min_repeats, 'min_repeats'),
      (max_repeats, 'max_repeats'),
    ):
      util.check_positive_int(value, arg)
    if min_length > max_length:
      raise ValueError(
        f'`min_length` ({min_length}) must be <= `max_length` ({max_length}).'
      )
    if min_repeats > max_repeats:
      raise ValueError(
        f'`min_repeats` ({min_repeats}) must be <= `max_repeats` '
        f'({max_repeats}).'
      )
    if not norm_max > 0:
      raise ValueError(f'`norm_max` must be positive, got {norm_max!r}.')
    self._num_bits = num_bits
    self._batch_size = batch_size
    self._min_length = min_length
    self._max_length = max_length
    self._min_repeats = min_repeats
    self._max_repeats = max_repeats
    self._norm_max = norm_max
    self._log_prob_in_bits = log_prob_in_bits
    self._time_average_cost = time_average_cost
    self._pad_to_max_length = pad_to_max_length
    if generator is None:
      generator = (
        tf.random.Generator.from_non_deterministic_state()
        if seed is None
        else tf.random.Generator.from_seed(seed)
      )
    self.generator = generator

  @property
  def max_sequence_length(self) -> int:
    """The longest sequence this task makes: max_length*(max_repeats+1)+3."""
    return self._max_length * (self._max_repeats + 1) + 3

  def __call__(self) -> DatasetTensors:
    """Draws a batch.

    Returns:
      `DatasetTensors`: observations `[T, batch_size, num_bits + 2]`, target
      `[T, batch_size, num_bits + 1]`, mask `[T, batch_size]`, all float32,
      with T the longest sequence of the batch (or `max_sequence_length`).
    """
    b, num_bits = self._batch_size, self._num_bits
    lengths = self.generator.uniform(
      [b], self._min_length, self._max_length + 1, dtype=tf.int32
    )  # n
    repeats = self.generator.uniform(
      [b], self._min_repeats, self._max_repeats + 1, dtype=tf.int32
    )  # k
    bits = self.generator.uniform(
      [b, self._max_length, num_bits], 0, 2, dtype=tf.int32
    )
    patterns = tf.cast(bits, tf.float32)  # [B, max_length, num_bits]

    if self._pad_to_max_length:
      time_steps = self.max_sequence_length
    else:
      time_steps = tf.reduce_max(lengths * (repeats + 1) + 3)
    t = tf.broadcast_to(tf.range(time_steps)[:, None], [time_steps, b])
    n = lengths[None, :]  # [1, B]
    k = repeats[None, :]
    recall_start = n + 2
    end_marker_step = n + 2 + n * k

    # The pattern step shown (t - 1) or recalled at each step; out of range
    # values are clamped here and masked below.
    observed_bits = _pattern_at(
      patterns, tf.clip_by_value(t - 1, 0, self._max_length - 1)
    )
    recalled_bits = _pattern_at(patterns, tf.math.floormod(t - recall_start, n))
    is_pattern = (t >= 1) & (t <= n)
    is_recall = (t >= recall_start) & (t < end_marker_step)

    start_marker = tf.cast(tf.equal(t, 0), tf.float32)
    repeats_channel = tf.cast(tf.equal(t, n + 1), tf.float32) * (
      tf.cast(k, tf.float32) / self._norm_max
    )
    observations = tf.concat(
      [
        observed_bits * tf.cast(is_pattern, tf.float32)[..., None],
        start_marker[..., None],
        repeats_channel[..., None],
      ],
      axis=2,
    )
    end_marker = tf.cast(tf.equal(t, end_marker_step), tf.float32)
    target = tf.concat(
      [
        recalled_bits * tf.cast(is_recall, tf.float32)[..., None],
        end_marker[..., None],
      ],
      axis=2,
    )
    mask = tf.cast((t >= recall_start) & (t <= end_marker_step), tf.float32)
    return DatasetTensors(observations, target, mask)

  def cost(
    self, logits: tf.Tensor, targ: tf.Tensor, mask: tf.Tensor
  ) -> tf.Tensor:
    """The task's loss, `masked_sigmoid_cross_entropy` with its settings."""
    return masked_sigmoid_cross_entropy(
      logits,
      targ,
      mask,
      time_average=self._time_average_cost,
      log_prob_in_bits=self._log_prob_in_bits,
    )

  def to_human_readable(
    self,
    data: DatasetTensors,
    model_output: tf.Tensor | np.ndarray | None = None,
    whole_batch: bool = False,
  ) -> str:
    """`bitstring_readable` of a batch (tensors or numpy arrays)."""
    data = DatasetTensors(*(np.asarray(x) for x in data))
    if model_output is not None:
      model_output = np.asarray(model_output)
    return bitstring_readable(data, self._batch_size, model_output, whole_batch)

  @property
  def num_bits(self) -> int:
    return self._num_bits

  @property
  def target_size(self) -> int:
    return self._num_bits + 1

  @property
  def batch_size(self) -> int:
    return self._batch_size

  @property
  def time_average_cost(self) -> bool:
    return self._time_average_cost

  @property
  def log_prob_in_bits(self) -> bool:
    return self._log_prob_in_bits


def _pattern_at(patterns: tf.Tensor, steps: tf.Tensor) -> tf.Tensor:
  """`out[t, b] = patterns[b, steps[t, b]]`: `[T, B, num_bits]`."""
  return tf.transpose(
    tf.gather(patterns, tf.transpose(steps), batch_dims=1), [1, 0, 2]
  )
