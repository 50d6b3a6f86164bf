"""Draws what a trained DNC does on one example of its task.

  python -m dnc.visualize --checkpoint_dir=DIR --output=figure.png [--seed=S]

rebuilds the model from the `config.json` that a training script saves
beside its checkpoints (`dnc.tools.restore.load`), restores the latest
checkpoint and has the run's task draw one example (`Task.draw_example`) as
a PNG in the spirit of the DNC paper's figures: the task's inputs and
outputs, then write and read weightings and usage over memory slots, gates
and read modes, all against time. Each task adds the flags that choose its
example (`Task.define_example_flags`).

The drawing functions here know no task: `unroll_with_internals` runs a
core and keeps its internals, `plot_internals` draws inputs, targets and
outputs above the memory's panels, `draw` any panels.

Drawing needs matplotlib (`pip install 'dnc[viz]'`); the package `dnc` never
imports this module.
"""

from collections.abc import Mapping
from collections.abc import Sequence
import importlib
import sys
from typing import Any

from absl import app
from absl import flags
from absl import logging
import numpy as np
import sonnet as snt
import tensorflow as tf

import dnc
from dnc import internals
from dnc import model
from dnc import tasks
from dnc.tasks import base as task_lib
from dnc.tools import restore
from dnc.train import checkpoints

FLAGS = flags.FLAGS

# `plot_internals` needs these entries of the internals dict, and draws
# those of `_OPTIONAL_FIELDS` it finds (the DNC's usage and free and
# allocation gates; SAM's and the SDNC's recency and interpolation gate; the
# read modes of the DNC and the SDNC).
_PLOTTED_FIELDS = ('write_weights', 'read_weights', 'write_gate')
_OPTIONAL_FIELDS = (
  'usage',
  'recency',
  'allocation_gate',
  'interpolation_gate',
  'free_gate',
  'read_mode',
)

_INCHES_PER_ROW = 0.11
_INCHES_PER_PANEL = 0.5
_DPI = 100


def read_config(checkpoint_dir: str) -> dict[str, Any]:
  """The config a training script saved in `checkpoint_dir/config.json`.

  Raises:
    checkpoints.CheckpointError: see `dnc.tools.restore.read_config`.
  """
  return restore.read_config(checkpoint_dir)[0]


def load_core(checkpoint_dir: str) -> tuple[dnc.DNC, dict[str, Any], str]:
  """Rebuilds the model of a training run and restores it.

  Returns:
    (core, config, checkpoint path); `dnc.tools.restore.load` also gives the
    task.

  Raises:
    checkpoints.CheckpointError: see `dnc.tools.restore.load`.
  """
  restored = restore.load(checkpoint_dir)
  return restored.core, restored.config, restored.path


def unroll_with_internals(
  core: dnc.DNC | model.Model, inputs: tf.Tensor
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
  """Logits and internals `[T, B, ...]` of the model's inputs `[T, B, ...]`.

  Of a `dnc.model.Model` (word ids `[T, B]` if it embeds them), the
  internals are those of its DNC, without bypass dropout.
  """
  if isinstance(core, model.Model):
    inputs = core.dnc_inputs(inputs)
    core = core.core
  wrapper = internals.WithInternals(core, include_memory=False)
  (logits, steps), _ = snt.dynamic_unroll(
    wrapper, inputs, wrapper.initial_state(tf.shape(inputs)[1])
  )
  return logits, steps


def plot_internals(
  observations: np.ndarray,
  target: np.ndarray,
  output: np.ndarray,
  steps: Mapping[str, np.ndarray],
  path: str,
  phases: Sequence[tuple[str, int, int]] = (),
  title: str | None = None,
  input_labels: Sequence[str] | None = None,
  output_labels: Sequence[str] | None = None,
) -> str:
  """Draws one example's inputs, targets, outputs and memory as a PNG.

  T is time, N memory slots, R read heads, Wr write heads. Every value is
  drawn on one 0..1 colour scale.

  Args:
    observations: `[T, input_size]`: the core's inputs.
    target: `[T, output_size]`: the targets.
    output: `[T, output_size]`: the model's output probabilities.
    steps: one batch element of the `dnc.internals.WithInternals` outputs:
      `write_weights` `[T, Wr, N]`, `read_weights` `[T, R, N]`,
      `write_gate` `[T, Wr]`, and those there of `usage` or `recency`
      `[T, N]`, `allocation_gate` or `interpolation_gate` `[T, Wr]`,
      `free_gate` `[T, R]`, `read_mode` `[T, R, 1 + 2 Wr]` (others are
      ignored).
    path: where to write the PNG.
    phases: `(name, first step, step after the last)` to mark and label.
    title: a title over the whole figure.
    input_labels: `[input_size]` names of the input channels (default:
      their numbers).
    output_labels: `[output_size]` names of the output channels (default:
      their numbers).

  Returns:
    `path`.

  Raises:
    ImportError: matplotlib is not installed.
    ValueError: an array is missing or has the wrong shape.
  """
  require_matplotlib()
  time_steps = np.shape(observations)[0]
  panels = _io_panels(
    observations, target, output, time_steps, input_labels, output_labels
  )
  panels += memory_panels(steps, time_steps)
  return draw(panels, time_steps, path, phases, title)


def require_matplotlib() -> None:
  """Raises ImportError, saying how to install it, without matplotlib."""
  try:
    importlib.import_module('matplotlib.figure')
  except ImportError as e:
    raise ImportError(
      "Drawing needs matplotlib: pip install 'dnc[viz]'."
    ) from e


def draw(
  panels: Sequence[tuple[str, list[str] | None, np.ndarray]],
  time_steps: int,
  path: str,
  phases: Sequence[tuple[str, int, int]] = (),
  title: str | None = None,
  time_labels: Sequence[str] | None = None,
) -> str:
  """Draws `(title, row labels, values [T, rows])` panels as one PNG.

  Args:
    panels: each a title, its rows' labels (None: memory slots) and its
      values `[T, rows]`, drawn on one 0..1 colour scale.
    time_steps: T.
    path: where to write the PNG.
    phases: `(name, first step, step after the last)` to mark and label.
    title: a title over the whole figure.
    time_labels: `[T]` labels of the time axis (default: step numbers).

  Returns:
    `path`.
  """
  from matplotlib import figure
  from matplotlib import ticker

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
  if time_labels is None:
    axes[-1].set_xlabel('time step')
    axes[-1].xaxis.set_major_locator(
      ticker.MaxNLocator(min(time_steps, 30), integer=True)
    )
  else:
    axes[-1].set_xticks(range(time_steps), time_labels, rotation=90, fontsize=7)
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


def _io_panels(
  observations: np.ndarray,
  target: np.ndarray,
  output: np.ndarray,
  time_steps: int,
  input_labels: Sequence[str] | None,
  output_labels: Sequence[str] | None,
) -> list[tuple[str, list[str] | None, np.ndarray]]:
  """The input, target and output panels of an example."""
  input_size = np.shape(observations)[-1]
  output_size = np.shape(target)[-1]
  input_labels = list(input_labels or map(str, range(1, input_size + 1)))
  output_labels = list(output_labels or map(str, range(1, output_size + 1)))
  expected = {
    'observations': (observations, (input_size,)),
    'target': (target, (output_size,)),
    'output': (output, (output_size,)),
    'input_labels': (np.zeros([time_steps, len(input_labels)]), (input_size,)),
    'output_labels': (
      np.zeros([time_steps, len(output_labels)]),
      (output_size,),
    ),
  }
  check_shapes(expected, time_steps)
  return [
    ('Input', input_labels, observations),
    ('Target', output_labels, target),
    ('Output (probabilities)', output_labels, output),
  ]


def check_shapes(
  expected: Mapping[str, tuple[np.ndarray, tuple[int, ...]]], time_steps: int
) -> None:
  """Raises ValueError naming the first `name: (value, shape)` whose value
  is not `[time_steps, *shape]`."""
  for name, (value, shape) in expected.items():
    if np.shape(value) != (time_steps, *shape):
      raise ValueError(
        f'`{name}` has shape {np.shape(value)}, expected '
        f'{(time_steps, *shape)} (time, ...).'
      )


def memory_panels(
  steps: Mapping[str, np.ndarray], time_steps: int
) -> list[tuple[str, list[str] | None, np.ndarray]]:
  """The `(title, row labels, values [T, rows])` of the memory's panels.

  Args:
    steps: as for `plot_internals`.
    time_steps: T.

  Returns:
    The panels for `draw`; the row labels are None for memory slots.
  """
  missing = [key for key in _PLOTTED_FIELDS if key not in steps]
  if missing:
    raise ValueError(f'`steps` lacks {", ".join(missing)}.')
  num_writes, memory_size = np.shape(steps['write_weights'])[1:]
  num_reads = np.shape(steps['read_weights'])[1]
  # The read modes: backward and forward per write head, then content.
  num_modes = np.shape(steps['read_mode'])[-1] if 'read_mode' in steps else 0
  shapes = {
    'write_weights': (num_writes, memory_size),
    'read_weights': (num_reads, memory_size),
    'usage': (memory_size,),
    'recency': (memory_size,),
    'write_gate': (num_writes,),
    'allocation_gate': (num_writes,),
    'interpolation_gate': (num_writes,),
    'free_gate': (num_reads,),
    'read_mode': (num_reads, 1 + 2 * num_writes),
  }
  check_shapes(
    {key: (steps[key], shape) for key, shape in shapes.items() if key in steps},
    time_steps,
  )
  # Head numbers only where there is more than one head.
  write_heads = [
    f' w{i + 1}' if num_writes > 1 else '' for i in range(num_writes)
  ]
  panels = []
  for i, head in enumerate(write_heads):
    panels.append(
      (f'Write weighting{head}', None, steps['write_weights'][:, i])
    )
  for i in range(num_reads):
    panels.append(
      (f'Read weighting r{i + 1}', None, steps['read_weights'][:, i])
    )
  if 'usage' in steps:
    panels.append(('Usage', None, steps['usage']))
  if 'recency' in steps:
    panels.append(
      ('Recency (1: accessed this step, 0: never)', None, steps['recency'])
    )

  gate_labels, gates = [], []
  for i, head in enumerate(write_heads):
    for key in ('write_gate', 'allocation_gate', 'interpolation_gate'):
      if key in steps:
        gate_labels.append(f'{key.replace("_", " ")}{head}')
        gates.append(steps[key][:, i])
  if 'free_gate' in steps:
    gate_labels += [f'free gate r{i + 1}' for i in range(num_reads)]
    gates += list(steps['free_gate'].T)
  panels.append(('Gates', gate_labels, np.stack(gates, axis=1)))

  if num_modes:
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


def define_flags() -> None:
  """Defines the command's flags on absl's global FLAGS (once), with those
  each registered task adds (`Task.define_example_flags`)."""
  # Defined only when run as a script: train.py defines --checkpoint_dir and
  # --seed on the same global FLAGS, and absl refuses a flag defined twice,
  # so importing both modules (as the test suite does) must define nothing.
  flags.DEFINE_string(
    'checkpoint_dir',
    None,
    'Directory of a training run.',
    required=True,
  )
  flags.DEFINE_string('output', 'figure.png', 'Where to write the PNG.')
  flags.DEFINE_integer('seed', 0, 'Seed of the example.')
  flags.DEFINE_integer(
    'batch_index',
    0,
    'Draw example i of a batch of i + 1 (another example for the same seed).',
    lower_bound=0,
  )
  for name in tasks.names():
    task_class = tasks.get(name)
    task_class.define_example_flags()
    # So that --help lists them with this command's own.
    flags.adopt_module_key_flags(sys.modules[task_class.__module__])


def draw_run(restored: restore.Restored, path: str, options: Mapping) -> str:
  """Draws one example of a restored run's task (`Task.draw_example`).

  Args:
    restored: `dnc.tools.restore.load`'s result.
    path: where to write the PNG.
    options: the flags' values by name (`seed`, `batch_index` and the
      task's own).

  Returns:
    `path`.
  """
  return restored.task.draw_example(
    restored.core, path, options, title=restored.path
  )


def main(argv: Sequence[str]) -> int:
  """The command line (see the module docstring); returns the exit code."""
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
  try:
    restored = restore.load(FLAGS.checkpoint_dir)
    path = draw_run(restored, FLAGS.output, FLAGS.flag_values_dict())
  except (
    checkpoints.CheckpointError,
    task_lib.TaskError,
    FileNotFoundError,
    ImportError,
  ) as e:
    logging.error('%s', e)
    return 1
  print(path)
  return 0


if __name__ == '__main__':
  define_flags()
  app.run(main)
