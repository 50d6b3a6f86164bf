"""TensorBoard summaries of a DNC's memory use.

`memory_images(steps)` turns one sequence's internals (from
`dnc.internals.WithInternals`) into greyscale images, time running left to
right; `write_report(...)` writes them with the report's scalars and text.
"""

from collections.abc import Mapping

import numpy as np
import tensorflow as tf

# Each cell becomes a square of this many pixels, so a 16-slot memory over
# 10 steps is still visible in TensorBoard.
_CELL_PIXELS = 8


def _image(rows_by_time: np.ndarray, low: float = 0.0, high: float = 1.0):
  """`[rows, time]` values in [low, high] as a `[1, H, W, 1]` image."""
  scaled = (np.asarray(rows_by_time, np.float32) - low) / (high - low)
  scaled = np.clip(scaled, 0, 1)
  scaled = np.repeat(np.repeat(scaled, _CELL_PIXELS, 0), _CELL_PIXELS, 1)
  return scaled[None, :, :, None]


def memory_images(steps: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
  """Images of one sequence's addressing.

  Args:
    steps: internals of one batch element, each with a leading time axis:
      `write_weights` `[T, Wr, N]`, `read_weights` `[T, R, N]`,
      `write_gate` `[T, Wr]`, and those there of `usage` or `recency` `[T,
      N]`, `allocation_gate` or `interpolation_gate` `[T, Wr]`, `free_gate`
      `[T, R]`, `read_mode` `[T, R, 1 + 2 Wr]` and `memory` `[T, N, W]`.

  Returns:
    dict of `[1, height, width, 1]` float images in [0, 1]: memory slots (or
    gates) down, time across; the memory at the last step has slots down and
    word positions across, mid-grey for zero.
  """
  images = {}
  for head in range(steps['write_weights'].shape[1]):
    images[f'write_weights/{head}'] = _image(steps['write_weights'][:, head].T)
  for head in range(steps['read_weights'].shape[1]):
    images[f'read_weights/{head}'] = _image(steps['read_weights'][:, head].T)
  for key in ('usage', 'recency'):  # The DNC's; SAM's and the SDNC's.
    if key in steps:
      images[key] = _image(steps[key].T)
  # One row per gate or mode: write gates, allocation (or interpolation)
  # gates, free gates, then each read head's modes (backward..., forward...,
  # content), of those the core has.
  gates = [
    np.reshape(steps[key], (len(steps['write_gate']), -1))
    for key in (
      'write_gate',
      'allocation_gate',
      'interpolation_gate',
      'free_gate',
      'read_mode',
    )
    if key in steps
  ]
  images['gates'] = _image(np.concatenate(gates, axis=1).T)
  if 'memory' in steps:
    last_memory = steps['memory'][-1]
    scale = max(float(np.max(np.abs(last_memory))), 1e-6)
    images['memory_last_step'] = _image(last_memory, -scale, scale)
  return images


def _write_image(tag: str, image: np.ndarray) -> None:
  """Writes `[height, width, 1]` values in [0, 1] as `tf.summary.image` does.

  The same record (width, height, PNG; the image plugin's metadata), but
  converted and encoded with one op: `tf.summary.image` runs a dozen eager
  ops per image, most of the cost of a report.
  """
  # Only --logdir needs TensorBoard; `import dnc` must not.
  from tensorboard.plugins.image import metadata

  height, width = image.shape[:2]
  png = tf.io.encode_png(np.round(255 * image).astype(np.uint8))
  tf.summary.write(
    tag,
    tf.stack([str(width), str(height), png]),
    metadata=metadata.create_summary_metadata(display_name=tag, description=''),
  )


def write_report(
  writer: tf.summary.SummaryWriter,
  step: int,
  scalars: Mapping[str, float],
  steps: Mapping[str, np.ndarray] | None = None,
  text: str | None = None,
) -> None:
  """Writes one report's summaries.

  Args:
    writer: the summary writer.
    step: the training step.
    scalars: name to value.
    steps: one sequence's internals for `memory_images`, or None.
    text: readable sample, shown as preformatted text.
  """
  with writer.as_default(step=step):
    for name, value in scalars.items():
      tf.summary.scalar(name, value)
    if steps is not None:
      for name, image in memory_images(steps).items():
        _write_image(f'memory/{name}', image[0])
    if text is not None:
      # Markdown: indenting by four spaces keeps the columns aligned.
      lines = ['    ' + line for line in text.split('\n')]
      tf.summary.text('sample', '\n'.join(lines))
  writer.flush()
