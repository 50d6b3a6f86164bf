"""What the training loop asks of a task (repeat-copy, bAbI, ...).

A task gives batches, a loss, a report and an evaluation; the loop
(`dnc.train.loop`) owns the model, the optimiser step, checkpoints, signals and
`--mode=eval`. A batch is time-major `DatasetTensors(observations, target,
mask)`: `observations` `[T, B, ...]` as the task stores them (bits, word ids),
`target` `[T, B, ...]` and `mask` `[T, B]` (1 where the loss counts).

Batches come one of two ways (`in_graph`):

- built from TensorFlow ops by `batch()` inside the compiled training step
  (repeat-copy: no host work, one static shape under XLA);
- built on the host (numpy) by `batch()` and fed to the step (bAbI: stories
  read from files).

`core_inputs(observations)` then turns them into the core's float inputs
`[T, B, input_size]` inside the step (bAbI: one-hot word ids).

By default each batch starts from the core's zero state. A task whose
batches continue the previous ones (`carries_state`: row b of a batch goes
on where row b of the last one ended, as windows of a long text for
truncated backpropagation) has the trainer start each batch from the state
the last one ended in; that state is checkpointed, so a run resumes
exactly.
"""

import abc
import collections
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from typing import NamedTuple

import numpy as np
import tensorflow as tf

# A batch, time-major; the name and fields of DeepMind's `repeat_copy`.
DatasetTensors = collections.namedtuple(
  'DatasetTensors', ('observations', 'target', 'mask')
)


class Report(NamedTuple):
  """What the loop measured over one report interval.

  Attributes:
    step: the training step reached.
    loss: the average training loss over the interval.
    sums: each of the task's `step_metrics`, summed over the interval.
    steps_per_second: the interval's training speed.
    batch: the last batch of the interval (`DatasetTensors`).
    logits: the model's `[T, B, output_size]` outputs on it.
    core: the model being trained (e.g. to generate a sample from it).
    logits_of: the compiled forward pass, as `evaluate` takes it (e.g. to
      score some held-out data at each report).
  """

  step: int
  loss: float
  sums: Mapping[str, float]
  steps_per_second: float
  batch: DatasetTensors
  logits: tf.Tensor
  core: Any = None
  logits_of: Callable[[Any], tf.Tensor] | None = None


class Task(abc.ABC):
  """A task for `dnc.train.loop`; subclass it and fill in the abstracts."""

  # Whether `batch()` builds TensorFlow ops inside the compiled step (True)
  # or host arrays fed to it (False).
  in_graph: bool = True
  # Flags of the task's config that `--mode=eval` may change (e.g. longer
  # sequences than trained on), and what a config saved before an entry
  # existed stands for.
  eval_may_differ: tuple[str, ...] = ()
  # Flags of the task's config that a warm start (`--init_from`, a new run
  # from another run's weights) may change: those that leave the meaning
  # of the weights alone. All others must match.
  warm_start_may_differ: tuple[str, ...] = ()
  config_defaults: Mapping[str, Any] = {}
  # The names of `step_metrics`, which the loop sums (and checkpoints).
  metric_names: tuple[str, ...] = ()
  # For a task whose observations are word ids `[T, B]` (and `core_inputs`
  # their one-hot), the number of words; a model may then embed the ids
  # instead (`--embedding_size`, `dnc.train.trainer.model_inputs`). None if not.
  vocabulary_size: int | None = None
  # The name the task is registered as (`dnc.tasks.register` sets it); a
  # run's config records it, so that the tools can rebuild the task.
  name: str | None = None
  # Whether each training batch continues the last one, row by row, so that
  # the trainer carries the core's state from one batch to the next (and
  # checkpoints it) instead of starting each from zeros. Such a task has a
  # fixed `batch_size` (the rows of every batch), and its model must be an
  # RNN core (not a `dnc.model.Model`) trained on one device.
  carries_state: bool = False
  batch_size: int | None = None

  @property
  @abc.abstractmethod
  def input_size(self) -> int:
    """The width of the core's inputs, `core_inputs(...)`'s last axis."""

  @property
  @abc.abstractmethod
  def output_size(self) -> int:
    """The width of the model's outputs, the logits' last axis."""

  @abc.abstractmethod
  def config(self) -> dict[str, Any]:
    """JSON values that a checkpoint must match (besides the model's)."""

  @abc.abstractmethod
  def batch(self) -> DatasetTensors:
    """The next training batch: TensorFlow ops if `in_graph`, else numpy."""

  @abc.abstractmethod
  def cost(
    self, logits: tf.Tensor, target: tf.Tensor, mask: tf.Tensor
  ) -> tf.Tensor:
    """The scalar training loss of logits `[T, B, output_size]`."""

  def cost_weight(self, target: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """The denominator of `cost` on a batch: by default its sequences.

    Data-parallel training (`dnc.train.distribute`) splits a batch over
    replicas; a part's cost times its weight over the whole's weight is its
    share, so that the shares sum to the cost of the whole batch. A task
    whose cost is not a mean over sequences (e.g. over answer words)
    overrides it.

    Args:
      target: `[T, B, ...]`.
      mask: `[T, B]`.

    Returns:
      A positive float32 scalar.
    """
    del target
    return tf.cast(tf.shape(mask)[1], tf.float32)

  @abc.abstractmethod
  def report(self, report: Report) -> str:
    """The text logged at each report (tests and users read it)."""

  @abc.abstractmethod
  def evaluate(
    self, logits_of: Callable[[Any], tf.Tensor], checkpoint: str, step: int
  ) -> str:
    """Evaluates a restored model; returns the text to print.

    Args:
      logits_of: the compiled model, from observations `[T, B, ...]` (as
        the task's batches hold them) to logits `[T, B, output_size]`.
      checkpoint: the path restored, for the text.
      step: its training step.
    """

  def sample(self, core: Any) -> str:
    """What `--mode=sample` prints: text the restored core generates.

    The task's own flags (length, prompt, temperature, seed) say what to
    generate.

    Args:
      core: the restored core (an RNN core: `core(inputs, state)` for one
        step of `[1, input_size]` inputs, `core.initial_state(1)`).

    Returns:
      The text to print.

    Raises:
      TaskError: the task does not generate (the default).
    """
    del core
    raise TaskError(
      f'--mode=sample: the {self.name or type(self).__name__} task does not '
      'generate samples.'
    )

  def validate(
    self, logits_of: Callable[[Any], tf.Tensor], step: int
  ) -> dict[str, Any] | None:
    """Scores held-out training data at a checkpoint of a training run.

    The loop calls it after each checkpoint and appends the record to
    `validation.jsonl` beside the checkpoints, keeping the checkpoint of
    the lowest `score` as the best (`--mode=eval --eval_checkpoint=best`).

    Args:
      logits_of: as for `evaluate`.
      step: the training step of the checkpoint.

    Returns:
      None when the task holds nothing out (the default); else a JSON-ready
      dict with a float `score` (lower is better) and a one-line `summary`.
    """
    del logits_of, step
    return None

  def core_inputs(self, observations: tf.Tensor) -> tf.Tensor:
    """The core's inputs `[T, B, input_size]` of a batch's observations."""
    return tf.convert_to_tensor(observations, tf.float32)

  def step_metrics(
    self, logits: tf.Tensor, target: tf.Tensor, mask: tf.Tensor
  ) -> dict[str, tf.Tensor]:
    """Scalars (`metric_names`) summed over each report interval.

    Computed inside the step, e.g. the number of correct answer words.
    """
    del logits, target, mask
    return {}

  def readable(self, batch: DatasetTensors, logits: tf.Tensor) -> str:
    """The batch's first sequence and the model's output on it, as text."""
    del batch, logits
    return ''

  def begin_training(self, logits_of: Callable[[Any], tf.Tensor]) -> None:
    """Called once before the first training step with the forward pass.

    For a task whose batches depend on the model's own outputs (e.g. its
    actions fed back as inputs, as DAgger does); most ignore it.

    Args:
      logits_of: as for `evaluate`, on the weights being trained.
    """
    del logits_of

  def trackables(self) -> dict[str, Any]:
    """The task's state to checkpoint with the model (e.g. its generator)."""
    return {}

  def warm_start_trackables(self) -> dict[str, Any]:
    """The part of `trackables` a trained model carries on: what a
    pretrained folder keeps beside the weights and a warm start
    (`--init_from`) restores (e.g. a curriculum's lesson, so that a run
    goes on at its lesson, not the first). Most tasks have none."""
    return {}

  def before_save(self) -> None:
    """Called before each checkpoint, to put host state in `trackables`."""
    return None  # Most tasks keep all their state in TensorFlow objects.

  def after_restore(self, step: int) -> None:
    """Called after a restore at `step`, to read host state back."""
    del step

  # What the tools (`dnc.tools`: restore, export, visualize, pretrained) ask
  # of a task.

  def prediction_batch(self, data_dir: str | None = None) -> DatasetTensors:
    """A small fixed batch whose outputs a pretrained model records.

    `dnc.tools.pretrained` records the model's outputs on it beside the
    weights, so that a test can check that today's code still computes
    them. The default draws `batch()` of an `in_graph` task rebuilt by
    `from_config` (seeded); a task reading files overrides it.

    Args:
      data_dir: where to read examples from, for a task that reads files
        (None: the task's default).

    Returns:
      numpy `DatasetTensors`: observations `[T, B, ...]`, target and mask
      `[T, B]` (the positions whose outputs count).
    """
    del data_dir
    if not self.in_graph:
      raise NotImplementedError(
        f'{type(self).__name__} gives no fixed batch to record predictions '
        'on: implement prediction_batch.'
      )
    return DatasetTensors(*(np.asarray(x) for x in self.batch()))

  @classmethod
  def from_config(cls, config: Mapping[str, Any]) -> 'Task':
    """The task of a run's saved config, without its data.

    Args:
      config: the run's `config.json` (the model's entries too).

    Returns:
      A task whose `input_size`, `output_size`, `vocabulary_size` and the
      methods below work; it need not give batches.
    """
    raise NotImplementedError(
      f'{cls.__name__} cannot be rebuilt from a config: implement from_config.'
    )

  @classmethod
  def recognises_legacy_config(cls, config: Mapping[str, Any]) -> bool:
    """Whether a config written before configs named their task is this
    task's (only the built-in tasks had such configs)."""
    del config
    return False

  def probabilities(self, logits: tf.Tensor) -> tf.Tensor:
    """The outputs' probabilities `[..., output_size]` of logits `[...,
    output_size]`: what a served model returns beside its logits."""
    raise NotImplementedError(
      f'{type(self).__name__} does not say how its logits are read: '
      'implement probabilities.'
    )

  def serving_functions(
    self,
    module: tf.Module,
    outputs_of: Callable[[tf.Tensor], dict[str, tf.Tensor]],
    asset_dir: str,
  ) -> dict[str, 'ServingFunction']:
    """The task's own serving signatures beside 'serving_default'.

    Args:
      module: the exported `tf.Module`: attach here what the functions
        need to be saved with them (assets, lookup tables).
      outputs_of: the exported model's outputs (`logits`, `probabilities`,
        `[B, T, output_size]`) of float inputs `[B, T, input_size]`.
      asset_dir: a directory for asset files, copied into the SavedModel.

    Returns:
      By signature name, a `ServingFunction` (a `tf.function` with an input
      signature, and the attribute it is saved as). None by default.
    """
    del module, outputs_of, asset_dir
    return {}

  @classmethod
  def define_example_flags(cls) -> None:
    """Defines the flags of `python -m dnc.visualize` that choose this
    task's example (absl's global FLAGS; names no other task uses)."""
    return None

  def draw_example(
    self,
    core: Any,
    path: str,
    options: Mapping[str, Any],
    title: str,
  ) -> str:
    """Draws the core on one example of the task with its memory, as a PNG.

    Args:
      core: the restored core (a `dnc.DNC` or `dnc.model.Model`).
      path: where to write the PNG.
      options: the `python -m dnc.visualize` flags' values by name (e.g.
        `seed`); a task reads those it knows.
      title: the start of the figure's title (the checkpoint's path).

    Returns:
      `path`.

    Raises:
      TaskError: the options do not name a drawable example.
    """
    raise NotImplementedError(
      f'{type(self).__name__} does not draw examples: implement draw_example.'
    )


class ServingFunction(NamedTuple):
  """A serving signature's function and the attribute it is saved as.

  Attributes:
    attribute: the name of the loaded model's attribute (`model.<name>`).
    function: a `tf.function` with an input signature.
  """

  attribute: str
  function: Any


def first_sequence_length(mask: np.ndarray) -> int:
  """The length of the first sequence of a batch: its last masked step + 1.

  Args:
    mask: `[T, B]`.
  """
  return int(np.max(np.nonzero(np.asarray(mask)[:, 0]))) + 1


class TaskError(ValueError):
  """A task's flags or data that cannot be used, and why (one line)."""
