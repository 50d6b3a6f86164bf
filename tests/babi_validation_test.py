"""Tests for dnc.tasks.babi.validation: the seeded split of training stories."""

from absl.testing import absltest
from absl.testing import parameterized

from dnc.tasks import babi
from dnc.tasks.babi import task as babi_task
from tests import shared_data


def _stories(count_by_task):
  """Distinct stories: the task id and a serial number as the tokens."""
  return [
    babi.Story(task, (task, i), (), (), ())
    for task, count in count_by_task.items()
    for i in range(count)
  ]


class SplitValidationTest(parameterized.TestCase):
  def test_disjoint_and_complete_in_the_original_order(self):
    stories = _stories({1: 100, 4: 37, 16: 2})
    train, valid = babi.split_validation(stories, 0.1, seed=3)
    self.assertCountEqual(train + valid, stories)
    self.assertEmpty(set(train) & set(valid))
    for part in (train, valid):
      order = [stories.index(s) for s in part]
      self.assertEqual(order, sorted(order))

  def test_holds_out_the_fraction_of_every_task(self):
    stories = _stories({1: 100, 4: 37, 16: 2, 20: 1})
    _, valid = babi.split_validation(stories, 0.1)
    per_task = {t: sum(s.task == t for s in valid) for t in (1, 4, 16, 20)}
    # round(0.1 n), at least one, never the whole task.
    self.assertEqual(per_task, {1: 10, 4: 4, 16: 1, 20: 0})

  def test_the_seed_alone_decides(self):
    stories = _stories({1: 50, 2: 50})
    first = babi.split_validation(stories, 0.2, seed=7)
    self.assertEqual(first, babi.split_validation(stories, 0.2, seed=7))
    self.assertNotEqual(first[1], babi.split_validation(stories, 0.2, 8)[1])

  def test_a_task_draw_does_not_depend_on_the_other_tasks(self):
    both = babi.split_validation(_stories({1: 50, 2: 50}), 0.2, seed=1)[1]
    alone = babi.split_validation(_stories({1: 50}), 0.2, seed=1)[1]
    self.assertEqual([s for s in both if s.task == 1], alone)

  def test_zero_holds_out_nothing(self):
    stories = _stories({1: 10})
    self.assertEqual(babi.split_validation(stories, 0.0), (stories, []))

  @parameterized.parameters(-0.1, 1.0, 1.5)
  def test_bad_fraction(self, fraction):
    with self.assertRaisesRegex(ValueError, r'`fraction` must be in \[0, 1\)'):
      babi.split_validation(_stories({1: 10}), fraction)

  def test_the_task_never_trains_on_the_held_out_stories(self):
    vocab, stories = babi_task.load(
      shared_data.BABI_STORIES / 'en', [1, 4], ['train']
    )
    train, valid = babi.split_validation(stories['train'], 0.25)
    self.assertNotEmpty(valid)
    task = babi_task.BabiTask(
      vocab, [1, 4], 2, train, sort_window=1, valid_stories=valid
    )
    held_out = {s.tokens for s in valid}
    seen = set()
    for _ in range(2 * len(train)):  # Two epochs of batches of 2.
      batch = task.batch()
      for column in range(2):
        tokens = batch.observations[:, column]
        seen.add(tuple(int(t) for t in tokens[tokens != babi.PAD_ID]))
    self.assertEqual(seen, {s.tokens for s in train})
    self.assertEmpty(seen & held_out)


if __name__ == '__main__':
  absltest.main()
