"""Draws what a trained DNC does on one repeat-copy example.

  python -m dnc.visualize --checkpoint_dir=DIR --output=figure.png \
      [--length=N --repeats=K --seed=S --batch_index=0]

rebuilds the model from the `config.json` that train.py saves beside its
checkpoints, restores the latest checkpoint, runs one example and writes a
PNG in the spirit of the DNC paper's copy-task figure: input, target and
output bits; write and read weightings and usage over memory slots; gates and
read modes, all against time.

Drawing needs matplotlib (`pip install 'dnc[viz]'`); the package `dnc` never
imports this module.
"""

from collections.abc import Mapping
from collections.abc import Sequence
import os
from typing import Any

from absl import app
from absl import flags
from absl import logging
import numpy as np
import sonnet as snt
import tensorflow as tf

import dnc
from dnc import experiment
from dnc import internals
from dnc import repeat_copy
from dnc import training

FLAGS = flags.FLAGS

# The flags of train.py's config that shape the model (its MODEL_FLAGS) and
# the task sizes used when --length or --repeats is not given.
_MODEL_KEYS = (
  'hidden_size',
  'memory_size',
  'word_size',
  'num_write_heads',
  'num_read_heads',
  'clip_value',
  'num_bits',
)
_TASK_KEYS = ('max_length', 'max_repeats')

# `plot_internals` reads these entries of the internals dict.
_PLOTTED_FIELDS = (
  'write_weights',
  'read_weights',
  'usage',
  'write_gate',
  'allocation_gate',
  'free_gate',
  'read_mode',
)

_INCHES_PER_ROW = 0.11
_INCHES_PER_PANEL = 0.5
_DPI = 100


def read_config(checkpoint_dir: str) -> dict[str, Any]:
  """The flags train.py saved in `checkpoint_dir/config.json`.

  Raises:
    training.CheckpointError: no such directory, no (readable) config, or a
      config without the model's flags.
  """
  if not tf.io.gfile.isdir(checkpoint_dir):
    raise training.CheckpointError(f'No checkpoint directory {checkpoint_dir}.')
  path = os.path.join(checkpoint_dir, training.CONFIG_FILE)
  config = training.Checkpointer(checkpoint_dir, {}).saved_config()
  if config is None:
    raise training.CheckpointError(
      f'{path} not found. It records the model flags of the run; train.py '
      'writes it with its first checkpoint (--checkpoint_interval > 0).'
    )
  missing = [key for key in _MODEL_KEYS + _TASK_KEYS if key not in config]
  if missing:
    raise training.CheckpointError(f'{path} lacks {", ".join(missing)}.')
  return config


def load_core(checkpoint_dir: str) -> tuple[dnc.DNC, dict[str, Any], str]:
  """Rebuilds the model of a train.py run and restores its latest weights.

  Returns:
    (core, config, checkpoint path).

  Raises:
    training.CheckpointError: see `read_config`; or there is no checkpoint,
      or it does not hold this model.
  """
  config = read_config(checkpoint_dir)
  path = tf.train.latest_checkpoint(checkpoint_dir)
  if path is None:
    raise training.CheckpointError(f'No checkpoint in {checkpoint_dir}.')
  core = experiment.make_core(config)
  # One step creates the variables, so that the restore fills them now and
  # can check that the checkpoint had every one of them.
  core(tf.zeros([1, config['num_bits'] + 2]), core.initial_state(1))
  try:
    # Only the model: the optimiser and the task state are not needed.
    status = tf.train.Checkpoint(core=core).restore(path).expect_partial()
    status.assert_existing_objects_matched()
  except (AssertionError, ValueError, tf.errors.OpError) as e:
    message = str(e).strip().splitlines()[0]
    config_path = os.path.join(checkpoint_dir, training.CONFIG_FILE)
    raise training.CheckpointError(
      f'Cannot restore the model of {config_path} from {path}: {message}'
    ) from e
  return core, config, path


def run_repeat_copy(
  core: dnc.DNC,
  num_bits: int,
  length: int,
  repeats: int,
  seed: int = 0,
  batch_index: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
  """Runs `core` on a repeat-copy example and keeps every step's internals.

  Draws a batch of `batch_index + 1` examples of pattern length `length` and
  `repeats` repeats (seeded by `seed`) and returns element `batch_index`.

  Returns:
    observations `[T, num_bits + 2]`, target `[T, num_bits + 1]`, output
    `[T, num_bits + 1]` (sigmoid of the logits) and the internals of
    `dnc.internals.WithInternals` without the batch axis (e.g.
    `write_weights` `[T, Wr, N]`), with T = length * (repeats + 1) + 3:
    the arguments of `plot_internals`.
  """
  batch_size = batch_index + 1
  task = repeat_copy.RepeatCopy(
    num_bits,
    batch_size=batch_size,
    min_length=length,
    max_length=length,
    min_repeats=repeats,
    max_repeats=repeats,
    seed=seed,
  )
  wrapper = internals.WithInternals(core, include_memory=False)

  @tf.function
  def unroll():
    data = task()
    (logits, steps), _ = snt.dynamic_unroll(
      wrapper, data.observations, wrapper.initial_state(batch_size)
    )
    return data, tf.sigmoid(logits), steps

  data, output, steps = unroll()
  pick = lambda x: np.asarray(x)[:, batch_index]
  return (
    pick(data.observations),
    pick(data.target),
    pick(output),
    {key: pick(value) for key, value in steps.items()},
  )


def repeat_copy_phases(length: int, repeats: int) -> list[tuple[str, int, int]]:
  """The pattern and recall phases of a repeat-copy example.

  Returns:
    `(name, first step, step after the last)` for each phase.
  """
  recall_start = length + 2
  return [
    ('pattern', 1, length + 1),
    ('recall', recall_start, recall_start + length * repeats),
  ]


def plot_internals(
  observations: np.ndarray,
  target: np.ndarray,
  output: np.ndarray,
  steps: Mapping[str, np.ndarray],
  path: str,
  phases: Sequence[tuple[str, int, int]] = (),
  title: str | None = None,
) -> str:
  """Draws one repeat-copy example and the memory's internals as a PNG.

  T is time, N memory slots, R read heads, Wr write heads. Every value is
  drawn on one 0..1 colour scale.

  Args:
    observations: `[T, num_bits + 2]`: the bits, start and repeats channels.
    target: `[T, num_bits + 1]`: the bits and the end marker.
    output: `[T, num_bits + 1]`: the model's output probabilities.
    steps: one batch element of the `dnc.internals.WithInternals` outputs:
      `write_weights` `[T, Wr, N]`, `read_weights` `[T, R, N]`, `usage`
      `[T, N]`, `write_gate` and `allocation_gate` `[T, Wr]`, `free_gate`
      `[T, R]`, `read_mode` `[T, R, 1 + 2 Wr]` (others are ignored).
    path: where to write the PNG.
    phases: `(name, first step, step after the last)` to mark and label,
      e.g. `repeat_copy_phases(length, repeats)`.
    title: a title over the whole figure.

  Returns:
    `path`.

  Raises:
    ImportError: matplotlib is not installed.
    ValueError: an array is missing or has the wrong shape.
  """
  try:
    from matplotlib import figure
    from matplotlib import ticker
  except ImportError as e:
    raise ImportError(
      "Drawing needs matplotlib: pip install 'dnc[viz]'."
    ) from e

  panels = _panels(observations, target, output, steps)
  time_steps = observations.shape[0]
  heights = [max(values.shape[1], 3) for _, _, values in panels]
  fig = figure.Figure(
    figsize=(
      11,
      1 + _INCHES_PER_PANEL * len(panels) + _INCHES_PER_ROW * sum(heights),
    ),
    layout='constrained',
  )
  axes = fig.subplots(
    len(panels), 1, sharex=True, gridspec_kw=dict(height_ratios=heights)
  )
  boundaries = sorted({x for _, start, end in phases for x in (start, end)})
  for ax, (name, labels, values) in zip(axes, panels, strict=True):
    rows = values.shape[1]
    image = ax.imshow(
      values.T,
      aspect='auto',
      interpolation='nearest',
      cmap='magma_r',
      vmin=0,
      vmax=1,
      extent=(-0.5, time_steps - 0.5, rows - 0.5, -0.5),
    )
    ax.set_title(name, loc='left', fontsize=10)
    if labels is None:  # Memory slots: a few integer ticks.
      ax.set_ylabel('slot')
      ax.yaxis.set_major_locator(ticker.MaxNLocator(4, integer=True))
    else:
      ax.set_yticks(range(rows), labels, fontsize=8)
    for x in boundaries:
      ax.axvline(x - 0.5, color='tab:blue', lw=0.8, ls='--', alpha=0.6)
  axes[-1].set_xlabel('time step')
  axes[-1].xaxis.set_major_locator(
    ticker.MaxNLocator(min(time_steps, 30), integer=True)
  )
  if phases:
    top = axes[0].secondary_xaxis('top')
    top.set_xticks(
      [(start + end - 1) / 2 for _, start, end in phases],
      [name for name, _, _ in phases],
    )
    top.tick_params(length=0, labelsize=9, labelcolor='tab:blue')
  fig.colorbar(image, ax=axes, fraction=0.02, aspect=150, pad=0.01).set_label(
    'value (all panels share this scale)'
  )
  if title:
    fig.suptitle(title)
  fig.savefig(path, dpi=_DPI)
  return path


def _panels(
  observations: np.ndarray,
  target: np.ndarray,
  output: np.ndarray,
  steps: Mapping[str, np.ndarray],
) -> list[tuple[str, list[str] | None, np.ndarray]]:
  """The `(title, row labels, values [T, rows])` of each panel, top down.

  The row labels are None for memory slots.
  """
  missing = [key for key in _PLOTTED_FIELDS if key not in steps]
  if missing:
    raise ValueError(f'`steps` lacks {", ".join(missing)}.')
  time_steps = observations.shape[0]
  num_writes, memory_size = np.shape(steps['write_weights'])[1:]
  num_reads = np.shape(steps['read_weights'])[1]
  num_bits = np.shape(target)[-1] - 1
  expected = {
    'observations': (observations, (num_bits + 2,)),
    'target': (target, (num_bits + 1,)),
    'output': (output, (num_bits + 1,)),
    'write_weights': (steps['write_weights'], (num_writes, memory_size)),
    'read_weights': (steps['read_weights'], (num_reads, memory_size)),
    'usage': (steps['usage'], (memory_size,)),
    'write_gate': (steps['write_gate'], (num_writes,)),
    'allocation_gate': (steps['allocation_gate'], (num_writes,)),
    'free_gate': (steps['free_gate'], (num_reads,)),
    'read_mode': (steps['read_mode'], (num_reads, 1 + 2 * num_writes)),
  }
  for name, (value, shape) in expected.items():
    if np.shape(value) != (time_steps, *shape):
      raise ValueError(
        f'`{name}` has shape {np.shape(value)}, expected '
        f'{(time_steps, *shape)} (time, ...).'
      )

  bits = [f'bit {i + 1}' for i in range(num_bits)]
  # Head numbers only where there is more than one head.
  write_heads = [
    f' w{i + 1}' if num_writes > 1 else '' for i in range(num_writes)
  ]
  panels = [
    ('Input', bits + ['start', 'repeats'], observations),
    ('Target', bits + ['end'], target),
    ('Output (sigmoid of the logits)', bits + ['end'], output),
  ]
  for i, head in enumerate(write_heads):
    panels.append(
      (f'Write weighting{head}', None, steps['write_weights'][:, i])
    )
  for i in range(num_reads):
    panels.append(
      (f'Read weighting r{i + 1}', None, steps['read_weights'][:, i])
    )
  panels.append(('Usage', None, steps['usage']))

  gate_labels, gates = [], []
  for i, head in enumerate(write_heads):
    gate_labels += [f'write gate{head}', f'allocation gate{head}']
    gates += [steps['write_gate'][:, i], steps['allocation_gate'][:, i]]
  gate_labels += [f'free gate r{i + 1}' for i in range(num_reads)]
  gates += list(steps['free_gate'].T)
  panels.append(('Gates', gate_labels, np.stack(gates, axis=1)))

  # read_mode is laid out [backward (Wr), forward (Wr), content].
  modes = (
    [f'backward{head}' for head in write_heads]
    + [f'forward{head}' for head in write_heads]
    + ['content']
  )
  panels.append(
    (
      'Read modes',
      [f'r{i + 1} {mode}' for i in range(num_reads) for mode in modes],
      np.reshape(steps['read_mode'], (time_steps, -1)),
    )
  )
  return panels


def _define_flags() -> None:
  # Defined only when run as a script: train.py defines --checkpoint_dir and
  # --seed on the same global FLAGS, and absl refuses a flag defined twice,
  # so importing both modules (as the test suite does) must define nothing.
  flags.DEFINE_string(
    'checkpoint_dir', None, 'Directory of a train.py run.', required=True
  )
  flags.DEFINE_string('output', 'figure.png', 'Where to write the PNG.')
  flags.DEFINE_integer(
    'length',
    None,
    "Pattern length (default: the run's --max_length).",
    lower_bound=1,
  )
  flags.DEFINE_integer(
    'repeats',
    None,
    "Number of repeats (default: the run's --max_repeats).",
    lower_bound=1,
  )
  flags.DEFINE_integer('seed', 0, 'Seed of the example.')
  flags.DEFINE_integer(
    'batch_index',
    0,
    'Draw example i of a batch of i + 1 (another example for the same seed).',
    lower_bound=0,
  )


def main(argv: Sequence[str]) -> int:
  """The command line (see the module docstring); returns the exit code."""
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
  try:
    core, config, checkpoint = load_core(FLAGS.checkpoint_dir)
  except training.CheckpointError as e:
    logging.error('%s', e)
    return 1
  length = FLAGS.length or config['max_length']
  repeats = FLAGS.repeats or config['max_repeats']
  example = run_repeat_copy(
    core, config['num_bits'], length, repeats, FLAGS.seed, FLAGS.batch_index
  )
  try:
    path = plot_internals(
      *example,
      FLAGS.output,
      phases=repeat_copy_phases(length, repeats),
      title=(
        f'{checkpoint}: repeat-copy, length {length}, {repeats} repeats, '
        f'seed {FLAGS.seed}'
      ),
    )
  except ImportError as e:
    logging.error('%s', e)
    return 1
  print(path)
  return 0


if __name__ == '__main__':
  _define_flags()
  app.run(main)
