"""Draws what a trained DNC does on one example of its task.

  python -m dnc.visualize --checkpoint_dir=DIR --output=figure.png \
      [--length=N --repeats=K --seed=S --batch_index=0]
  python -m dnc.visualize --checkpoint_dir=BABI_RUN --data_dir=.../en-10k \
      [--story=0]

rebuilds the model from the `config.json` that train.py or train_babi.py
saves beside its checkpoints (`dnc.tools.restore.load`), restores the latest
checkpoint, runs one example and writes a PNG in the spirit of the DNC
paper's figures: for repeat-copy the input, target and output bits, for bAbI
the story's words (with the model's answers) and the probability of each
true answer; then write and read weightings and usage over memory slots,
gates and read modes, all against time.

Drawing needs matplotlib (`pip install 'dnc[viz]'`); the package `dnc` never
imports this module.
"""

from collections.abc import Mapping
from collections.abc import Sequence
import importlib
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
from dnc.tasks import babi
from dnc.tasks.repeat_copy import data as repeat_copy
from dnc.tools import restore
from dnc.train import checkpoints

FLAGS = flags.FLAGS

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
  """The config a training script saved in `checkpoint_dir/config.json`.

  Raises:
    checkpoints.CheckpointError: see `dnc.tools.restore.read_config`.
  """
  return restore.read_config(checkpoint_dir)[0]


def load_core(checkpoint_dir: str) -> tuple[dnc.DNC, dict[str, Any], str]:
  """Rebuilds the model of a train.py or train_babi.py run and restores it.

  Returns:
    (core, config, checkpoint path); `dnc.tools.restore.load` also gives the
    task.

  Raises:
    checkpoints.CheckpointError: see `dnc.tools.restore.load`.
  """
  restored = restore.load(checkpoint_dir)
  return restored.core, restored.config, restored.path


def _unroll_with_internals(core: dnc.DNC | model.Model, inputs: tf.Tensor):
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


def run_story(
  core: dnc.DNC | model.Model, vocab: babi.Vocabulary, story: babi.Story
) -> tuple[list[str], np.ndarray, dict[str, np.ndarray]]:
  """Runs `core` on one encoded bAbI story and keeps every step's internals.

  Returns:
    The story's words `[T]` (the predicted answer, and the true one if
    different, in place of each '-'), the probability the model gives the
    true answer at each answer position (0 elsewhere) `[T, 1]`, and the
    internals of `dnc.internals.WithInternals` without the batch axis (e.g.
    `write_weights` `[T, Wr, N]`).
  """
  inputs = np.asarray(story.tokens)[:, None]
  if not (isinstance(core, model.Model) and core.embeds_words):
    inputs = tf.one_hot(inputs, vocab.size)
  logits, steps = tf.function(_unroll_with_internals, autograph=False)(
    core, inputs
  )
  probabilities = tf.nn.softmax(logits[:, 0]).numpy()
  words = vocab.decode(story.tokens)
  answer = np.zeros((len(words), 1))
  for position, want in zip(story.answer_positions, story.answers, strict=True):
    (predicted,) = vocab.decode([np.argmax(probabilities[position])])
    (truth,) = vocab.decode([want])
    shown = predicted if predicted == truth else f'{predicted} (not {truth})'
    words[position] = shown
    answer[position] = probabilities[position, want]
  return words, answer, {k: v.numpy()[:, 0] for k, v in steps.items()}


def plot_story(
  words: Sequence[str],
  answer: np.ndarray,
  steps: Mapping[str, np.ndarray],
  path: str,
  title: str | None = None,
) -> str:
  """Draws one bAbI story and the memory's internals as a PNG.

  Args:
    words: the story's T words, the time axis's labels.
    answer: `[T, 1]`: the probability of the true answer at answer steps.
    steps: as for `plot_internals`.
    path: where to write the PNG.
    title: a title over the whole figure.

  Returns:
    `path`.
  """
  _require_matplotlib()
  time_steps = len(words)
  _check_shapes({'answer': (answer, (1,))}, time_steps)
  panels = [('P(true answer) at each answer', ['answer'], answer)]
  panels += _memory_panels(steps, time_steps)
  return _draw(panels, time_steps, path, title=title, time_labels=words)


def run_repeat_copy(
  core: dnc.DNC | model.Model,
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

  @tf.function(autograph=False)
  def unroll():
    data = task()
    logits, steps = _unroll_with_internals(core, data.observations)
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
  _require_matplotlib()
  time_steps = np.shape(observations)[0]
  panels = _io_panels(observations, target, output, time_steps)
  panels += _memory_panels(steps, time_steps)
  return _draw(panels, time_steps, path, phases, title)


def _require_matplotlib() -> None:
  try:
    importlib.import_module('matplotlib.figure')
  except ImportError as e:
    raise ImportError(
      "Drawing needs matplotlib: pip install 'dnc[viz]'."
    ) from e


def _draw(
  panels: Sequence[tuple[str, list[str] | None, np.ndarray]],
  time_steps: int,
  path: str,
  phases: Sequence[tuple[str, int, int]] = (),
  title: str | None = None,
  time_labels: Sequence[str] | None = None,
) -> str:
  """Draws `(title, row labels, values [T, rows])` panels as one PNG."""
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
) -> list[tuple[str, list[str] | None, np.ndarray]]:
  """The input, target and output panels of a repeat-copy example."""
  num_bits = np.shape(target)[-1] - 1
  expected = {
    'observations': (observations, (num_bits + 2,)),
    'target': (target, (num_bits + 1,)),
    'output': (output, (num_bits + 1,)),
  }
  _check_shapes(expected, time_steps)
  bits = [f'bit {i + 1}' for i in range(num_bits)]
  return [
    ('Input', bits + ['start', 'repeats'], observations),
    ('Target', bits + ['end'], target),
    ('Output (sigmoid of the logits)', bits + ['end'], output),
  ]


def _check_shapes(expected, time_steps: int) -> None:
  for name, (value, shape) in expected.items():
    if np.shape(value) != (time_steps, *shape):
      raise ValueError(
        f'`{name}` has shape {np.shape(value)}, expected '
        f'{(time_steps, *shape)} (time, ...).'
      )


def _memory_panels(
  steps: Mapping[str, np.ndarray], time_steps: int
) -> list[tuple[str, list[str] | None, np.ndarray]]:
  """The `(title, row labels, values [T, rows])` of the memory's panels.

  The row labels are None for memory slots.
  """
  missing = [key for key in _PLOTTED_FIELDS if key not in steps]
  if missing:
    raise ValueError(f'`steps` lacks {", ".join(missing)}.')
  num_writes, memory_size = np.shape(steps['write_weights'])[1:]
  num_reads = np.shape(steps['read_weights'])[1]
  expected = {
    'write_weights': (steps['write_weights'], (num_writes, memory_size)),
    'read_weights': (steps['read_weights'], (num_reads, memory_size)),
    'usage': (steps['usage'], (memory_size,)),
    'write_gate': (steps['write_gate'], (num_writes,)),
    'allocation_gate': (steps['allocation_gate'], (num_writes,)),
    'free_gate': (steps['free_gate'], (num_reads,)),
    'read_mode': (steps['read_mode'], (num_reads, 1 + 2 * num_writes)),
  }
  _check_shapes(expected, time_steps)
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


def define_flags() -> None:
  """Defines the command's flags on absl's global FLAGS (once)."""
  # Defined only when run as a script: train.py defines --checkpoint_dir and
  # --seed on the same global FLAGS, and absl refuses a flag defined twice,
  # so importing both modules (as the test suite does) must define nothing.
  flags.DEFINE_string(
    'checkpoint_dir',
    None,
    'Directory of a train.py or train_babi.py run.',
    required=True,
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
  flags.DEFINE_string(
    'data_dir', None, 'bAbI runs: the split directory of the stories.'
  )
  flags.DEFINE_integer(
    'story', 0, "bAbI runs: draw story i of the run's tasks.", lower_bound=0
  )
  flags.DEFINE_enum(
    'split', 'test', ['test', 'train'], 'bAbI runs: the split of --story.'
  )


def _draw_story(restored: restore.Restored) -> str:
  """Draws story --story of the run's tasks in --data_dir; returns the path."""
  if not FLAGS.data_dir:
    raise checkpoints.CheckpointError(
      f'{restored.path} is a bAbI run: pass --data_dir, the split directory '
      'whose stories to draw.'
    )
  vocab = restored.task.vocab
  _, stories = babi.load_dataset(
    FLAGS.data_dir, restored.config['tasks'], [FLAGS.split], vocab=vocab
  )
  stories = stories[FLAGS.split]
  if FLAGS.story >= len(stories):
    raise checkpoints.CheckpointError(
      f'--story={FLAGS.story}, but the {FLAGS.split} split of tasks '
      f'{restored.config["tasks"]} has {len(stories)} stories.'
    )
  story = stories[FLAGS.story]
  words, answer, steps = run_story(restored.core, vocab, story)
  return plot_story(
    words,
    answer,
    steps,
    FLAGS.output,
    title=(
      f'{restored.path}: bAbI task {story.task}, {FLAGS.split} story '
      f'{FLAGS.story}'
    ),
  )


def main(argv: Sequence[str]) -> int:
  """The command line (see the module docstring); returns the exit code."""
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
  try:
    restored = restore.load(FLAGS.checkpoint_dir)
    if restored.kind == 'babi':
      path = _draw_story(restored)
    else:
      path = _draw_repeat_copy(restored)
  except (checkpoints.CheckpointError, FileNotFoundError, ImportError) as e:
    logging.error('%s', e)
    return 1
  print(path)
  return 0


def _draw_repeat_copy(restored: restore.Restored) -> str:
  """Draws one example of --length and --repeats; returns the path."""
  config = restored.config
  length = FLAGS.length or config['max_length']
  repeats = FLAGS.repeats or config['max_repeats']
  example = run_repeat_copy(
    restored.core,
    config['num_bits'],
    length,
    repeats,
    FLAGS.seed,
    FLAGS.batch_index,
  )
  return plot_internals(
    *example,
    FLAGS.output,
    phases=repeat_copy_phases(length, repeats),
    title=(
      f'{restored.path}: repeat-copy, length {length}, {repeats} repeats, '
      f'seed {FLAGS.seed}'
    ),
  )


if __name__ == '__main__':
  define_flags()
  app.run(main)
