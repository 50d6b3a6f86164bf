"""bAbI question answering as a task of the training loop (`dnc.train.loop`).

Each story is one sequence of one-hot words; the model must output the
answer word at each '-' marker and is trained with softmax cross-entropy
there only. Batches are built on the host: stories of similar length are
drawn together (`sort_window`) and padded to a few bucket lengths, so a
compiled step sees few shapes. The shuffling state travels in the
checkpoint, so a resumed run sees the batches an uninterrupted one would.

Unlike the rest of `dnc.tasks.babi`, this module needs TensorFlow.
"""

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
import json
import pathlib
from typing import Any

from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

from dnc import tasks as task_registry
from dnc.tasks import base as task_lib
from dnc.tasks.babi import batching
from dnc.tasks.babi import encoding
from dnc.tasks.babi import files
from dnc.tasks.babi import results
from dnc.tasks.babi.vocabulary import UnknownWordsError
from dnc.tasks.babi.vocabulary import Vocabulary
from dnc.train import checkpoints

# The repository's own bAbI-format stories (a source checkout's tests).
TEST_STORIES = (
  pathlib.Path(__file__).resolve().parents[3]
  / 'tests/testdata/babi/tasks_1-20_v1-2/en'
)


def load(
  data_dir: str,
  tasks: Sequence[int],
  splits: Sequence[str],
  allow_1k_fallback: bool = False,
  vocab: Vocabulary | None = None,
) -> tuple[Vocabulary, dict[str, list[encoding.Story]]]:
  """Reads and encodes `tasks`, logging what was read.

  Without `vocab`, the vocabulary covers the training files read and every
  test file in `data_dir` (all 20 tasks' in a full copy, so that word ids do
  not depend on `tasks`), but needs only the files of `tasks`.

  Returns:
    `(vocab, {split: encoded stories})`.

  Raises:
    files.MissingTaskFilesError: naming the files of `tasks` not found.
    task_lib.TaskError: naming the words of `tasks` that `vocab` lacks.
  """
  vocab_tasks = ()
  if vocab is None:
    directory = pathlib.Path(data_dir)
    if directory.is_dir():  # Otherwise reading `tasks` names it.
      vocab_tasks = tuple(
        files.find_task_files(directory, 'test', missing_ok=True)
      )
    absent = sorted(set(files.ALL_TASKS) - set(vocab_tasks) - set(tasks))
    if vocab_tasks and absent:
      logging.info(
        'No test files of tasks %s in %s: the vocabulary lacks the words '
        'only they use.',
        ','.join(map(str, absent)),
        data_dir,
      )
  try:
    vocab, stories = encoding.load_dataset(
      data_dir,
      tasks,
      splits,
      vocab=vocab,
      allow_1k_fallback=allow_1k_fallback,
      vocab_tasks=vocab_tasks,
    )
  except UnknownWordsError as e:  # Only a given `vocab` can lack words.
    raise task_lib.TaskError(
      f'Tasks {",".join(map(str, tasks))} in {data_dir} use words the '
      f"model's vocabulary lacks, such as {e.words}. It holds the words of the "
      'files it was trained from; evaluate tasks whose files were among them.'
    ) from e
  logging.info(
    'Read tasks %s from %s: vocabulary of %d words; %s.',
    ','.join(map(str, tasks)),
    data_dir,
    vocab.size,
    ', '.join(f'{len(v)} {k} stories' for k, v in stories.items()),
  )
  return vocab, stories


def permutation_groups(text: str, vocab: Vocabulary) -> list[list[int]]:
  """The word ids of `--permute_words` ("mary,john;garden,kitchen").

  Raises:
    task_lib.TaskError: naming unknown words, or overlapping or one-word
      groups.
  """
  groups = [g.split(',') for g in text.split(';') if g]
  words = [word for group in groups for word in group]
  unknown = [word for word in words if word not in vocab]
  if unknown:
    raise task_lib.TaskError(
      f'--permute_words: not in the vocabulary: {unknown}'
    )
  if len(set(words)) != len(words) or any(len(g) < 2 for g in groups):
    raise task_lib.TaskError(
      '--permute_words: groups must be disjoint and hold two words or more, '
      f'got {text!r}'
    )
  return [vocab.encode(group) for group in groups]


def answer_loss(
  logits: tf.Tensor, targets: tf.Tensor, mask: tf.Tensor
) -> tf.Tensor:
  """Mean softmax cross-entropy over the answer words of a batch.

  Args:
    logits: `[T, B, vocab_size]`.
    targets: int32 `[T, B]`.
    mask: `[T, B]`, 1 at answer positions.
  """
  xent = tf.nn.sparse_softmax_cross_entropy_with_logits(
    labels=targets, logits=logits
  )
  return tf.reduce_sum(xent * mask) / answer_count(mask)


def answer_count(mask: tf.Tensor) -> tf.Tensor:
  """The denominator of `answer_loss`: the answer words, at least 1."""
  return tf.maximum(tf.reduce_sum(mask), 1.0)


@task_registry.register('babi')
class BabiTask(task_lib.Task):
  """Stories from files, answer-word cross-entropy, the per-task table."""

  in_graph = False
  eval_may_differ = ('tasks', 'batch_size', 'permute_words')
  # Not the batch size: the stories seen (`validate`) are step x batch size
  # over every segment of a run that warm starts.
  warm_start_may_differ = (
    'tasks',
    'permute_words',
    'validation_fraction',
    'validation_seed',
  )
  # A config saved before an option existed was made without it.
  config_defaults = {
    'permute_words': '',
    'validation_fraction': 0.0,
    'validation_seed': 0,
  }
  metric_names = ('correct', 'answers')

  def __init__(
    self,
    vocab: Vocabulary,
    tasks: Sequence[int],
    batch_size: int,
    train_stories: Sequence[encoding.Story] = (),
    permute_words: str = '',
    seed: int = 0,
    sort_window: int = 50,
    eval_stories: Sequence[encoding.Story] = (),
    eval_split: str = 'test',
    eval_batch_size: int = 32,
    results_path: str = '',
    valid_stories: Sequence[encoding.Story] = (),
    validation_fraction: float = 0.0,
    validation_seed: int = 0,
  ):
    """Makes the task.

    Args:
      vocab: the vocabulary (the model's input and output width).
      tasks: the task ids, for the config.
      batch_size: stories per training batch.
      train_stories: the encoded training stories (empty to evaluate only).
      permute_words: groups of interchangeable words to rename per story
        (see `batching.permute_words`), e.g. 'mary,john;garden,kitchen'.
      seed: seeds the shuffling and the renaming.
      sort_window: batches drawn together and sorted by story length.
      eval_stories: the stories `evaluate` answers, from `eval_split`.
      eval_split: 'test', 'train' or 'valid', for the table's caption.
      eval_batch_size: stories per evaluation batch.
      results_path: if not empty, `evaluate` writes `.md` and `.json` here.
      valid_stories: held-out training stories that `validate` scores at
        each checkpoint (`validation.split_validation`); none to skip.
      validation_fraction, validation_seed: how the training stories were
        split, for the config (a run resumes only with the same split).

    Raises:
      task_lib.TaskError: a bad `permute_words`.
    """
    self.vocab = vocab
    self._tasks = sorted(set(int(t) for t in tasks))
    self._batch_size = batch_size
    self._permute_words = permute_words
    self._groups = permutation_groups(permute_words, vocab)
    self._seed = seed
    self._buckets = batching.geometric_buckets()
    self._train = list(train_stories)
    self._eval = list(eval_stories)
    self._valid = list(valid_stories)
    self._validation = (validation_fraction, validation_seed)
    self._eval_split = eval_split
    self._eval_batch_size = eval_batch_size
    self._results_path = results_path
    self._batches = None
    if self._train:
      self._batches = batching.BatchIterator(
        self._train,
        batch_size,
        seed=seed,
        sort_window=sort_window,
        buckets=self._buckets,
      )
    # The iterator's state, as JSON, checkpointed with the weights.
    self._iterator_state = tf.Variable('', name='iterator_state')
    self._next_step = 0
    # Batches, stories, story tokens and padded tokens drawn since the last
    # report, for its stories and tokens per second.
    self._drawn = np.zeros(4, np.int64)

  @property
  def input_size(self) -> int:
    return self.vocab.size

  @property
  def output_size(self) -> int:
    return self.vocab.size

  @property
  def vocabulary_size(self) -> int:
    return self.vocab.size

  @property
  def epoch(self) -> int:
    """Training epochs begun, minus one."""
    return self._batches.epoch if self._batches else -1

  def config(self) -> dict[str, Any]:
    return {
      'tasks': self._tasks,
      'batch_size': self._batch_size,
      'permute_words': self._permute_words,
      'validation_fraction': self._validation[0],
      'validation_seed': self._validation[1],
      'vocabulary': list(self.vocab.words),
    }

  def _tensors(self, batch: batching.Batch) -> task_lib.DatasetTensors:
    return task_lib.DatasetTensors(batch.inputs, batch.targets, batch.mask)

  def batch(self) -> task_lib.DatasetTensors:
    batch = next(self._batches)
    self._drawn += (
      1,
      np.count_nonzero(batch.lengths),
      batch.lengths.sum(),
      batch.inputs.size,
    )
    if self._groups:
      # Seeded by the step, so a resumed run renames as the first did.
      rng = np.random.default_rng([self._seed, self._next_step])
      batch = batching.permute_words(batch, self._groups, rng)
    self._next_step += 1
    return self._tensors(batch)

  def core_inputs(self, observations) -> tf.Tensor:
    return tf.one_hot(observations, self.vocab.size)

  def cost(self, logits, target, mask) -> tf.Tensor:
    return answer_loss(logits, target, mask)

  def cost_weight(self, target, mask) -> tf.Tensor:
    del target
    return answer_count(tf.cast(mask, tf.float32))

  def step_metrics(self, logits, target, mask) -> dict[str, tf.Tensor]:
    predicted = tf.argmax(logits, -1, output_type=target.dtype)
    correct = tf.cast(tf.equal(predicted, target), mask.dtype) * mask
    return {'correct': tf.reduce_sum(correct), 'answers': tf.reduce_sum(mask)}

  def report(self, report: task_lib.Report) -> str:
    """The interval's loss, error and speed: steps, stories and tokens/s.

    Stories and tokens are those of the batches drawn since the last report
    (story tokens, without padding), per step times the loop's steps/s; the
    padding is the share of padded positions, and the epoch the time one
    pass over the training stories takes at that speed.
    """
    error = 1 - report.sums['correct'] / max(report.sums['answers'], 1)
    speed = f'{report.steps_per_second:.2f} steps/s'
    steps, stories, tokens, padded = self._drawn
    if steps:
      per_step = report.steps_per_second / steps
      stories_per_second = stories * per_step
      speed += (
        f' ({stories_per_second:,.1f} stories/s, '
        f'{tokens * per_step:,.0f} tokens/s, '
        f'{100 * (1 - tokens / padded):.0f}% padding; an epoch of '
        f'{len(self._train):,} stories in '
        f'{len(self._train) / max(stories_per_second, 1e-9) / 60:,.1f} min)'
      )
    self._drawn[:] = 0
    return (
      f'{report.step}: Avg training loss {report.loss:f}, answer word error '
      f'{100 * error:.2f}%, epoch {self.epoch}, {speed}, peak memory '
      f'{checkpoints.peak_memory_gib():.1f} GiB.'
    )

  def readable(self, batch, logits) -> str:
    """The first story, with the model's answers in place of the true ones."""
    inputs = np.asarray(batch.observations)[:, 0]
    mask = np.asarray(batch.mask)[:, 0]
    predicted = np.argmax(np.asarray(logits)[:, 0], -1)
    positions = np.flatnonzero(mask)
    words = self.vocab.decode(inputs[: int(positions[-1]) + 1])
    truth = self.vocab.decode(np.asarray(batch.target)[positions, 0])
    for position, answer, want in zip(
      positions, self.vocab.decode(predicted[positions]), truth, strict=True
    ):
      shown = answer if answer == want else f'{answer} (not {want})'
      words[position] = f'[{shown}]'
    return ' '.join(words)

  def trackables(self) -> dict[str, Any]:
    return {'iterator_state': self._iterator_state}

  def before_save(self) -> None:
    self._iterator_state.assign(json.dumps(self._batches.get_state()))

  def after_restore(self, step: int) -> None:
    self._batches.set_state(json.loads(self._iterator_state.numpy().decode()))
    self._next_step = step

  def _question_errors(
    self, logits_of: Callable[[Any], tf.Tensor], stories: list[encoding.Story]
  ) -> results.QuestionErrors:
    """Answers every question of `stories`, in full-size padded batches."""
    errors = results.QuestionErrors()
    for start in range(0, len(stories), self._eval_batch_size):
      chunk = stories[start : start + self._eval_batch_size]
      batch = batching.make_batch(
        chunk, batch_size=self._eval_batch_size, buckets=self._buckets
      )
      logits = logits_of(tf.constant(batch.inputs))
      errors.add(chunk, np.argmax(logits.numpy(), -1))
    return errors

  def prediction_batch(
    self, data_dir: str | None = None, stories_per_task: int = 2
  ) -> task_lib.DatasetTensors:
    """The first test stories of each of the task's bAbI tasks, unpadded.

    Stories with words the vocabulary lacks are left out.

    Args:
      data_dir: a bAbI split directory; None: the repository's own stories
        (`tests/testdata/babi/tasks_1-20_v1-2/en`).
      stories_per_task: at most this many stories of each task.

    Raises:
      task_lib.TaskError: no test story of these tasks in `data_dir` that
        the vocabulary can encode.
    """
    directory = pathlib.Path(data_dir or TEST_STORIES)
    try:
      found = files.find_task_files(
        directory, 'test', self._tasks, missing_ok=True
      )
    except FileNotFoundError as e:
      raise task_lib.TaskError(f'--data_dir: {e}') from e
    stories = []
    for task, path in found.items():
      encoded = []
      for raw in files.parse_file(path, task):
        if len(encoded) == stories_per_task:
          break
        try:
          encoded.append(encoding.encode_story(raw, self.vocab))
        except UnknownWordsError:
          continue
      stories += encoded
    if not stories:
      raise task_lib.TaskError(
        f'--data_dir={directory}: no test story of tasks {self._tasks} in '
        "the model's vocabulary."
      )
    batch = batching.make_batch(stories)
    return self._tensors(batch)

  @classmethod
  def from_config(cls, config: Mapping[str, Any]) -> 'BabiTask':
    return cls(
      Vocabulary(config['vocabulary']), config['tasks'], config['batch_size']
    )

  @classmethod
  def recognises_legacy_config(cls, config: Mapping[str, Any]) -> bool:
    return 'vocabulary' in config

  def probabilities(self, logits: tf.Tensor) -> tf.Tensor:
    return tf.nn.softmax(logits)  # One answer word of the vocabulary.

  def serving_functions(self, module, outputs_of, asset_dir):
    from dnc.tasks.babi import serving

    return serving.serving_functions(
      list(self.vocab.words), module, outputs_of, asset_dir
    )

  @classmethod
  def define_example_flags(cls) -> None:
    flags.DEFINE_string(
      'data_dir', None, 'bAbI runs: the split directory of the stories.'
    )
    flags.DEFINE_integer(
      'story', 0, "bAbI runs: draw story i of the run's tasks.", lower_bound=0
    )
    flags.DEFINE_enum(
      'split', 'test', ['test', 'train'], 'bAbI runs: the split of --story.'
    )

  def draw_example(self, core, path, options, title) -> str:
    # Imported here: drawing needs matplotlib, training does not.
    from dnc.tasks.babi import picture

    return picture.draw(core, self.vocab, self._tasks, options, path, title)

  def validate(
    self, logits_of: Callable[[Any], tf.Tensor], step: int
  ) -> dict[str, Any] | None:
    """The per-task error of the validation stories; None without them.

    The record is `results.results_record`'s (split 'valid') with `score`
    the mean error (%) over the tasks, the stories and epochs seen so far,
    and a one-line `summary`.
    """
    if not self._valid:
      return None
    errors = self._question_errors(logits_of, self._valid)
    record = results.results_record(errors, '', step, 'valid')
    del record['checkpoint'], record['steps']  # The loop records them.
    record['score'] = record['mean_error_percent']
    record['stories_seen'] = step * self._batch_size
    record['epochs_seen'] = step * self._batch_size / max(len(self._train), 1)
    record['summary'] = (
      f'validation mean error {record["score"]:.2f}%, '
      f'{record["failed_tasks"]} failed tasks (> {results.FAILED_ABOVE:g}%), '
      f'on {len(self._valid)} stories'
    )
    return record

  def evaluate(
    self, logits_of: Callable[[Any], tf.Tensor], checkpoint: str, step: int
  ) -> str:
    """The per-task error table of `eval_stories` (written if asked)."""
    errors = self._question_errors(logits_of, self._eval)
    table = results.error_table(
      errors.percent(), checkpoint, step, self._eval_split
    )
    if self._results_path:
      record = results.results_record(
        errors, checkpoint, step, self._eval_split
      )
      results.write_results(self._results_path, table, record)
    return table
