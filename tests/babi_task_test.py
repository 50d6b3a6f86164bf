"""Tests for dnc.tasks.babi.task: bAbI as a task of the training loop."""

from absl.testing import absltest
import numpy as np
import tensorflow as tf

from dnc.tasks import babi
from dnc.tasks import base as task_lib
from dnc.tasks.babi import task as babi_task
from tests import shared_data

_EN = shared_data.BABI_STORIES / 'en'


def _task(**kwargs):
  vocab, stories = babi_task.load(_EN, [1], ['train', 'test'])
  return babi_task.BabiTask(vocab, [1], 2, stories['train'], **kwargs), vocab


class BabiTaskTest(absltest.TestCase):
  def test_loss_and_metrics_at_the_answers_only(self):
    task, vocab = _task()
    batch = task.batch()
    mask = np.asarray(batch.mask)
    target = np.asarray(batch.target)
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(*mask.shape, vocab.size)).astype(np.float32)
    # A numpy oracle: log-softmax at the target, averaged over the answers.
    shifted = logits - logits.max(-1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_p, target[..., None], -1)[..., 0]
    expected = -(picked * mask).sum() / mask.sum()
    loss = task.cost(tf.constant(logits), tf.constant(target), mask)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)
    metrics = task.step_metrics(tf.constant(logits), tf.constant(target), mask)
    correct = ((logits.argmax(-1) == target) * mask).sum()
    self.assertEqual(float(metrics['correct']), correct)
    self.assertEqual(float(metrics['answers']), mask.sum())

  def test_readable_shows_the_first_story_with_the_answers(self):
    task, vocab = _task()
    batch = task.batch()
    target = np.asarray(batch.target)
    positions = np.flatnonzero(np.asarray(batch.mask)[:, 0])
    logits = np.zeros((*target.shape, vocab.size), np.float32)
    logits[np.arange(target.shape[0]), 0, target[:, 0]] = 1.0
    wrong = vocab.encode(['kitchen'])[0]
    if target[positions[0], 0] == wrong:
      wrong = vocab.encode(['garden'])[0]
    logits[positions[0], 0] = 0.0
    logits[positions[0], 0, wrong] = 1.0
    text = task.readable(batch, tf.constant(logits))
    words = vocab.decode(np.asarray(batch.observations)[: positions[-1] + 1, 0])
    first = vocab.decode([target[positions[0], 0]])[0]
    words[positions[0]] = f'[{vocab.decode([wrong])[0]} (not {first})]'
    for position in positions[1:]:
      words[position] = f'[{vocab.decode([target[position, 0]])[0]}]'
    self.assertEqual(text, ' '.join(words))

  def test_report_gives_stories_and_tokens_per_second_of_an_epoch(self):
    vocab, stories = babi_task.load(_EN, [1], ['train'])
    train = stories['train'][:12]
    task = babi_task.BabiTask(vocab, [1], 2, train, sort_window=1)
    # Six batches of two, drawn one at a time (no look-ahead to sort), are
    # one epoch: every story once, in some order.
    padded = sum(np.asarray(task.batch().observations).size for _ in range(6))
    tokens = sum(len(story.tokens) for story in train)
    report = task_lib.Report(
      step=6,
      loss=1.0,
      sums={'correct': 1.0, 'answers': 2.0},
      steps_per_second=0.5,
      batch=None,
      logits=None,
    )
    line = task.report(report)
    # 0.5 steps/s of 2 stories: 1 story/s, the 12 stories in 12 s.
    self.assertIn('0.50 steps/s (1.0 stories/s, ', line)
    self.assertIn(f'{tokens / 12:,.0f} tokens/s, ', line)
    self.assertIn(f'{100 * (1 - tokens / padded):.0f}% padding', line)
    self.assertIn('an epoch of 12 stories in 0.2 min', line)
    self.assertIn('answer word error 50.00%', line)
    # The next report counts only the batch drawn after this one.
    inputs = np.asarray(task.batch().observations)
    line = task.report(report._replace(steps_per_second=100.0))
    own_tokens = np.count_nonzero(inputs != babi.PAD_ID)
    self.assertIn(f'(200.0 stories/s, {100 * own_tokens:,.0f} tokens/s, ', line)
    # At 0.01 steps/s, 0.02 stories/s, the 12 stories take 600 s.
    task.batch()
    line = task.report(report._replace(steps_per_second=0.01))
    self.assertIn('0.01 steps/s (0.0 stories/s, ', line)
    self.assertIn('an epoch of 12 stories in 10.0 min', line)

  def test_load_needs_only_the_files_of_its_tasks(self):
    data = self.create_tempdir()
    paths = sorted(_EN.glob('qa1_*.txt'))
    for path in paths:
      data.create_file(path.name, path.read_text())
    # absl's logger: another test's flag parsing may have left it at
    # WARNING, which would keep its INFO records from the root logger.
    with self.assertLogs(logger='absl', level='INFO') as logs:
      vocab, stories = babi_task.load(data.full_path, [1], ['train', 'test'])
    words = sorted(shared_data.babi_words(paths))
    self.assertEqual(vocab.words, ('<pad>', '-', *words))
    self.assertEqual(
      {split: {s.task for s in v} for split, v in stories.items()},
      {'train': {1}, 'test': {1}},
    )
    self.assertTrue(
      any('No test files of tasks 2,3,' in o for o in logs.output)
    )
    # With every test file, the vocabulary is that of them all, as before.
    full, _ = babi_task.load(_EN, [1], ['train', 'test'])
    self.assertLess(vocab.size, full.size)
    with self.assertRaisesRegex(babi.MissingTaskFilesError, 'qa2_'):
      babi_task.load(data.full_path, [1, 2], ['train', 'test'])
    # A model trained on it cannot read task 2: the words it lacks are named.
    with self.assertRaisesRegex(
      task_lib.TaskError, r"Tasks 2 in .* vocabulary lacks, such as \[.*'milk'"
    ):
      babi_task.load(_EN, [2], ['test'], vocab=vocab)

  def test_bad_permute_words_are_a_task_error(self):
    with self.assertRaisesRegex(task_lib.TaskError, r"\['zebra'\]"):
      _task(permute_words='mary,zebra')
    with self.assertRaisesRegex(task_lib.TaskError, 'two words or more'):
      _task(permute_words='mary')

  def test_host_state_round_trips_through_the_checkpoint_variable(self):
    task, _ = _task(permute_words='mary,john')
    for _ in range(3):
      task.batch()
    task.before_save()
    expected = [np.asarray(task.batch().observations) for _ in range(4)]
    resumed, _ = _task(permute_words='mary,john')
    resumed.trackables()['iterator_state'].assign(
      task.trackables()['iterator_state']
    )
    resumed.after_restore(3)
    for want in expected:
      np.testing.assert_array_equal(resumed.batch().observations, want)

  def test_validate_scores_the_held_out_questions(self):
    vocab, stories = babi_task.load(_EN, [1, 4], ['train'])
    train, valid = stories['train'][::2], stories['train'][1::2]
    task = babi_task.BabiTask(
      vocab, [1, 4], 4, train, valid_stories=valid, eval_batch_size=3
    )
    self.assertIsNone(
      babi_task.BabiTask(vocab, [1], 4, train).validate(None, 0)
    )
    # A model that always answers 'garden': wrong on every question whose
    # answer is another word (counted here from the stories themselves).
    garden = vocab.encode(['garden'])[0]

    def logits_of(observations):
      shape = (*observations.shape, vocab.size)
      return tf.one_hot(tf.fill(shape[:2], garden), vocab.size)

    record = task.validate(logits_of, step=5)
    expected = {}
    for t in (1, 4):
      questions = [
        (id(s), q, a)
        for s in valid
        if s.task == t
        for q, a in zip(s.question_index, s.answers, strict=True)
      ]
      wrong = {(i, q) for i, q, a in questions if a != garden}
      expected[str(t)] = (
        100 * len(wrong) / len({(i, q) for i, q, _ in questions})
      )
    self.assertEqual(record['error_percent'], expected)
    self.assertAlmostEqual(record['score'], np.mean(list(expected.values())))
    self.assertEqual(record['split'], 'valid')
    self.assertEqual(record['stories_seen'], 20)
    self.assertAlmostEqual(record['epochs_seen'], 20 / len(train))
    self.assertIn(f'on {len(valid)} stories', record['summary'])

  def test_config_records_the_validation_split(self):
    task, _ = _task(validation_fraction=0.1, validation_seed=4)
    self.assertEqual(task.config()['validation_fraction'], 0.1)
    self.assertEqual(task.config()['validation_seed'], 4)
    # Runs saved before the split existed trained on every story.
    self.assertEqual(
      babi_task.BabiTask.config_defaults['validation_fraction'], 0.0
    )


if __name__ == '__main__':
  absltest.main()
