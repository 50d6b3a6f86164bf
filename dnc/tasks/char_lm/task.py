"""Character-level language modelling as a task of the training loop.

`train_char_lm.py` builds `CharLMTask` from its flags. Each training batch
is the next window of every row's stream through the training text
(`text.Windows`), and the core's state carries from one window to the next
(`carries_state`; `--reset_state` starts each window from zeros), so the
memory persists as the text goes on while gradients stop at the window's
start (truncated backpropagation). The loss is the mean cross-entropy of
the next character, reported in bits per character (BPC).

Evaluation reads a whole split as one stream from the zero state, the state
carried through it with no window boundary: its BPC is exact. A config
maps train_char_lm.py's flag names to values, with the vocabulary.
"""

from collections.abc import Callable
from collections.abc import Mapping
import math
from typing import Any

import numpy as np
import tensorflow as tf

from dnc import config as config_lib
from dnc import tasks
from dnc.tasks import base as task_lib
from dnc.tasks.char_lm import sampling
from dnc.tasks.char_lm import text as text_lib

# The task's flags that a checkpoint records (with the vocabulary).
TASK_KEYS = (
  'batch_size',
  'window_length',
  'reset_state',
  'valid_fraction',
  'test_fraction',
)

# What a generated sample and the report read (not recorded).
SAMPLE_DEFAULTS = {
  'length': 200,
  'prompt': '',
  'temperature': 1.0,
  'sample_seed': 0,
  'report_valid_chars': 10_000,
  'eval_split': 'test',
}


@tasks.register('char_lm')
class CharLMTask(task_lib.Task):
  """Windows of a text fed on the host; next-character cross-entropy."""

  in_graph = False
  # Evaluation reads whole splits as one stream, whatever the batches were.
  eval_may_differ = ('batch_size', 'window_length', 'reset_state')
  warm_start_may_differ = ('batch_size', 'window_length', 'reset_state')

  def __init__(
    self,
    vocabulary: text_lib.Vocabulary,
    config: Mapping[str, Any],
    ids: Mapping[str, np.ndarray] | None = None,
  ):
    """Builds the task.

    Args:
      vocabulary: the training text's (or a run's saved one).
      config: `TASK_KEYS`, and optionally `SAMPLE_DEFAULTS`' keys.
      ids: by split name, the split's ids `[n]` (int32); 'train' to train
        (then the windows are cut at once, checking the text's length),
        'valid' to validate, and the evaluated split to evaluate. None: no
        data (sampling, export).

    Raises:
      TaskError: the training text is too short for one window per row.
    """
    self.vocabulary = vocabulary
    self._config = {key: config[key] for key in TASK_KEYS}
    self._options = {k: config.get(k, v) for k, v in SAMPLE_DEFAULTS.items()}
    self._ids = dict(ids or {})
    self.batch_size = int(config['batch_size'])
    self.carries_state = not config['reset_state']
    self.vocabulary_size = vocabulary.size
    self.windows = None
    if 'train' in self._ids:
      self.windows = text_lib.Windows(
        self._ids['train'], self.batch_size, config['window_length']
      )
    # The next window to train on: checkpointed, so a resumed run goes on
    # with the window it would have read.
    self.position = tf.Variable(0, dtype=tf.int64, name='window')
    self._steps = {}

  @property
  def input_size(self) -> int:
    return self.vocabulary.size

  @property
  def output_size(self) -> int:
    return self.vocabulary.size

  def config(self) -> dict[str, Any]:
    return {**self._config, 'vocabulary': self.vocabulary.characters}

  def batch(self) -> task_lib.DatasetTensors:
    if self.windows is None:
      raise task_lib.TaskError('--data: this task was built without text.')
    k = int(self.position.numpy())
    self.position.assign_add(1)
    return self.windows(k)

  def core_inputs(self, observations) -> tf.Tensor:
    return tf.one_hot(
      tf.convert_to_tensor(observations, tf.int32), self.vocabulary.size
    )

  def cost(self, logits, target, mask) -> tf.Tensor:
    """The mean cross-entropy in nats per counted character."""
    mask = tf.convert_to_tensor(mask, tf.float32)
    nats = tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=tf.cast(target, tf.int32), logits=logits
    )
    return tf.reduce_sum(nats * mask) / tf.reduce_sum(mask)

  def probabilities(self, logits: tf.Tensor) -> tf.Tensor:
    return tf.nn.softmax(logits)

  def trackables(self) -> dict[str, Any]:
    return {'window': self.position}

  def readable(self, batch, logits) -> str:
    observations = np.asarray(batch.observations)[:, 0]
    predicted = np.argmax(np.asarray(logits)[:, 0], -1)
    return (
      f'input:     {self.vocabulary.decode(observations)!r}\n'
      f'predicted: {self.vocabulary.decode(predicted)!r}'
    )

  def bits_per_character(
    self, logits_of: Callable[[Any], tf.Tensor], ids: np.ndarray
  ) -> float:
    """The BPC of predicting `ids[1:]` in one stream from the zero state.

    Args:
      logits_of: the compiled forward pass (observations `[T, B]`).
      ids: `[n]`, n >= 2.
    """
    logits = logits_of(np.asarray(ids[:-1], np.int32)[:, None])
    return text_lib.bits_per_character(logits.numpy()[:, 0], ids[1:])

  def sample_text(self, core: Any) -> str:
    """The `--length` characters the core generates after `--prompt`."""
    step = self._steps.get(id(core))
    if step is None:
      step = self._steps[id(core)] = sampling.step_function(
        core, self.vocabulary.size
      )
    o = self._options
    return sampling.generate(
      step,
      core.initial_state(1),
      self.vocabulary,
      o['prompt'],
      o['length'],
      o['temperature'],
      o['sample_seed'],
    )

  def sample(self, core: Any) -> str:
    return self._options['prompt'] + self.sample_text(core)

  def report(self, report: task_lib.Report) -> str:
    c = self._config
    chars = report.steps_per_second * c['batch_size'] * c['window_length']
    lines = [
      f'{report.step}: training {report.loss / math.log(2):.4f} BPC, '
      f'{chars:,.0f} characters/s ({report.steps_per_second:.2f} steps/s).'
    ]
    valid = self._ids.get('valid')
    n = self._options['report_valid_chars']
    if report.logits_of is not None and valid is not None and n > 0:
      head = valid[: n + 1]
      if len(head) >= 2:
        bpc = self.bits_per_character(report.logits_of, head)
        lines.append(
          f'{report.step}: validation {bpc:.4f} BPC on its first '
          f'{len(head) - 1:,} characters.'
        )
    if report.core is not None and self._options['length'] > 0:
      sample = self.sample_text(report.core)
      lines.append(f'{report.step}: sample: {self._options["prompt"]}{sample}')
    return '\n'.join(lines)

  def validate(
    self, logits_of: Callable[[Any], tf.Tensor], step: int
  ) -> dict[str, Any] | None:
    """The BPC of the whole validation split; None without one."""
    del step
    valid = self._ids.get('valid')
    if valid is None or len(valid) < 2:
      return None
    bpc = self.bits_per_character(logits_of, valid)
    return {
      'score': bpc,
      'bpc': bpc,
      'summary': f'validation {bpc:.4f} BPC ({len(valid) - 1:,} characters)',
    }

  def evaluate(
    self, logits_of: Callable[[Any], tf.Tensor], checkpoint: str, step: int
  ) -> str:
    """The exact BPC of the `--eval_split` split, read as one stream."""
    split = self._options['eval_split']
    ids = self._ids.get(split)
    if ids is None or len(ids) < 2:
      raise task_lib.TaskError(
        f'--eval_split={split}: the split holds fewer than 2 characters.'
      )
    bpc = self.bits_per_character(logits_of, ids)
    unknown = int(np.sum(ids == text_lib.UNKNOWN_ID))
    return (
      f'Evaluated {checkpoint} (step {step}) on the {split} split, '
      f'{len(ids) - 1:,} characters predicted in one stream '
      f'({unknown:,} unknown): {bpc:.4f} bits per character.'
    )

  def prediction_batch(
    self, data_dir: str | None = None
  ) -> task_lib.DatasetTensors:
    """Two rows of no text: the known characters in id order, and reversed.

    Returns:
      numpy `DatasetTensors`: observations and target (each row's next
      character) `[vocab_size - 1, 2]`, mask ones.
    """
    del data_dir
    ids = np.arange(1, self.vocabulary.size, dtype=np.int32)
    observations = np.stack([ids, ids[::-1]], 1)
    return task_lib.DatasetTensors(
      observations,
      np.roll(observations, -1, 0),
      np.ones(observations.shape, np.float32),
    )

  def serving_functions(self, module, outputs_of, asset_dir):
    from dnc.tasks.char_lm import serving

    return serving.serving_functions(
      self.vocabulary, module, outputs_of, asset_dir
    )

  @classmethod
  def from_config(cls, config: Mapping[str, Any]) -> 'CharLMTask':
    return cls(text_lib.Vocabulary(config['vocabulary']), config)


def parameter_count(
  model_config: config_lib.ModelConfig, vocabulary_size: int
) -> int:
  """The number of trainable weights of a model of a vocabulary.

  Args:
    model_config: the model.
    vocabulary_size: its input and output width.
  """
  core = config_lib.make_core(model_config, vocabulary_size, fast_kernels=False)
  core(tf.zeros([1, vocabulary_size]), core.initial_state(1))
  return sum(int(np.prod(v.shape)) for v in core.trainable_variables)


def matched_hidden_size(
  model_config: config_lib.ModelConfig, vocabulary_size: int
) -> tuple[int, int, int]:
  """The baseline's controller size whose weights number about the DNC's.

  Args:
    model_config: the DNC (`controller_only` False).
    vocabulary_size: its input and output width.

  Returns:
    The hidden size H of the controller-only model of `model_config`'s
    other options whose weights are nearest the DNC's, its weights, and
    the DNC's.
  """
  dnc_config = config_lib.ModelConfig(
    **{**model_config.to_dict(), 'controller_only': False}
  )
  target = parameter_count(dnc_config, vocabulary_size)
  # An LSTM of H with V inputs and V outputs: 4 H (V + H + 1) + (H + 1) V.
  v = vocabulary_size
  a, b, c = 4, 5 * v + 4, v - target
  guess = int(round((-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)))

  def count(h):
    baseline = config_lib.ModelConfig(
      **{**dnc_config.to_dict(), 'hidden_size': h, 'controller_only': True}
    )
    return parameter_count(baseline, vocabulary_size)

  best = min(
    range(max(1, guess - 2), guess + 3), key=lambda h: abs(count(h) - target)
  )
  return best, count(best), target
