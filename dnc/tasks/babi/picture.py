"""A bAbI story drawn with the model's memory (`dnc.visualize`)."""

from collections.abc import Mapping
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from dnc import model
from dnc.tasks.babi.encoding import Story
from dnc.tasks.babi.encoding import load_dataset
from dnc.tasks.babi.vocabulary import Vocabulary
from dnc.tasks.base import TaskError
from dnc.tools import visualize


def run_story(
  core, vocab: Vocabulary, story: Story
) -> tuple[list[str], np.ndarray, dict[str, np.ndarray]]:
  """Runs `core` on one encoded bAbI story and keeps every step's internals.

  Args:
    core: a `dnc.DNC` (or a `dnc.model.Model` around one) of the
      vocabulary's size.
    vocab: the run's vocabulary.
    story: an encoded story.

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
  logits, steps = tf.function(visualize.unroll_with_internals, autograph=False)(
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
    steps: as for `dnc.tools.visualize.plot_internals`.
    path: where to write the PNG.
    title: a title over the whole figure.

  Returns:
    `path`.
  """
  visualize.require_matplotlib()
  time_steps = len(words)
  visualize.check_shapes({'answer': (answer, (1,))}, time_steps)
  panels = [('P(true answer) at each answer', ['answer'], answer)]
  panels += visualize.memory_panels(steps, time_steps)
  return visualize.draw(
    panels, time_steps, path, title=title, time_labels=words
  )


def draw(
  core,
  vocab: Vocabulary,
  tasks: Sequence[int],
  options: Mapping,
  path: str,
  title: str,
) -> str:
  """Draws story `options['story']` of the `options['split']` split of
  `tasks` in `options['data_dir']` as a PNG at `path`.

  Raises:
    TaskError: no `data_dir`, or no such story.
  """
  data_dir, split = options.get('data_dir'), options.get('split') or 'test'
  index = options.get('story') or 0
  if not data_dir:
    raise TaskError(
      f'{title} is a bAbI run: pass --data_dir, the split directory whose '
      'stories to draw.'
    )
  _, stories = load_dataset(data_dir, tasks, [split], vocab=vocab)
  stories = stories[split]
  if index >= len(stories):
    raise TaskError(
      f'--story={index}, but the {split} split of tasks {list(tasks)} has '
      f'{len(stories)} stories.'
    )
  story = stories[index]
  words, answer, steps = run_story(core, vocab, story)
  return plot_story(
    words,
    answer,
    steps,
    path,
    title=f'{title}: bAbI task {story.task}, {split} story {index}',
  )
