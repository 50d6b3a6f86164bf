"""Tests for dnc.tasks.babi: parsing, encoding, vocabulary, batching, iteration.

Tests on the bAbI-format stories of tests/testdata/babi always run. The
tests that count the real files run when `DNC_BABI_DIR` names them (see
tests/shared_data.py) and skip otherwise.
"""

import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np

from dnc.tasks import babi
from dnc.tasks.babi import results as babi_results
from tests import shared_data

# The bAbI-format stories written for the tests (see tests/testdata/README.md):
# a few stories per file, test files of all 20 tasks, training files of tasks
# 1, 3, 4, 8, 16 and 19; en-10k lacks the qa3 training file, as the real one.
_STORIES = shared_data.BABI_STORIES
_BABI = shared_data.REAL_BABI or pathlib.Path('/nonexistent/tasks_1-20_v1-2')
_EN10K = _BABI / 'en-10k'
_EN1K = _BABI / 'en'
_SKIP_REASON = shared_data.REAL_BABI_SKIP_REASON
_HAVE_DATA = _EN10K.is_dir() and _EN1K.is_dir()
_QA3_TRAIN = 'qa3_three-supporting-facts_train.txt'


def _raw_lines(path):
  """A file's lines as `decode_story` writes them, by plain string handling.

  Returns:
    A list of stories, each a list of 'statement.' or 'question?\\tanswers'.
  """
  stories = []
  for line in pathlib.Path(path).read_text().splitlines():
    number, text = line.split(' ', 1)
    if number == '1':
      stories.append([])
    fields = text.split('\t')
    text = ' '.join(fields[0].lower().split())
    if len(fields) > 1:
      text += '\t' + fields[1].lower()
    stories[-1].append(text)
  return stories


_raw_vocabulary = shared_data.babi_words


def _story(task, tokens, answers_at):
  """A Story with `answers_at` {position: answer id} markers in `tokens`."""
  tokens = list(tokens)
  positions = sorted(answers_at)
  for p in positions:
    tokens[p] = babi.MARKER_ID
  return babi.Story(
    task,
    tuple(tokens),
    tuple(positions),
    tuple(answers_at[p] for p in positions),
    tuple(range(len(positions))),
  )


def _file_counts(paths):
  """(stories, questions, answer words) of bAbI files, from the raw text."""
  stories = questions = answer_words = 0
  for path in paths:
    for line in pathlib.Path(path).read_text().splitlines():
      stories += line.startswith('1 ')
      if '\t' in line:
        questions += 1
        answer_words += len(line.split('\t')[1].split(','))
  return stories, questions, answer_words


class StoriesTest(parameterized.TestCase):
  """Behaviour on the bAbI-format stories of tests/testdata/babi."""

  def setUp(self):
    super().setUp()
    self.root = _STORIES
    self.data_dir = self.root / 'en-10k'
    # tempfile, not create_tempdir: that needs absl flags, unparsed in pytest.
    temp = tempfile.TemporaryDirectory()
    self.addCleanup(temp.cleanup)
    self.out = pathlib.Path(temp.name)

  def test_tokenize(self):
    self.assertEqual(
      babi.tokenize('Where is Mary? '), ['where', 'is', 'mary', '?']
    )
    self.assertEqual(
      babi.tokenize('Mary moved to the bathroom.'),
      ['mary', 'moved', 'to', 'the', 'bathroom', '.'],
    )

  def test_parse_stories_and_questions(self):
    raw = babi.read_split(self.data_dir, 'train', tasks=[1, 8, 19])
    self.assertEqual(list(raw), [1, 8, 19])
    qa1 = self.data_dir / 'qa1_single-supporting-fact_train.txt'
    self.assertLen(raw[1], _file_counts([qa1])[0])
    self.assertEqual([s.num_questions for s in raw[1][:2]], [2, 1])
    self.assertEqual(raw[1][0].sentences[2].words, ('where', 'is', 'mary', '?'))
    self.assertEqual(raw[1][0].sentences[2].answers, ('bathroom',))
    self.assertEqual(raw[1][0].sentences[2].supporting_facts, (1,))
    self.assertFalse(raw[1][0].sentences[0].is_question)
    question = raw[8][0].sentences[3]
    self.assertEqual(question.answers, ('milk', 'football'))
    self.assertEqual(question.supporting_facts, (1, 3))
    self.assertEqual(raw[19][0].sentences[2].answers, ('n', 'w'))

  def test_parse_errors(self):
    with self.assertRaisesRegex(ValueError, 'no line number'):
      babi.parse_lines(['Mary moved.'], task=1)
    with self.assertRaisesRegex(ValueError, 'starts at 2'):
      babi.parse_lines(['2 Mary moved.'], task=1)
    with self.assertRaisesRegex(ValueError, 'without answer'):
      babi.parse_lines(['1 Where is Mary?\t\t1'], task=1)

  def test_encode_marks_each_answer_word(self):
    raw = babi.read_split(self.data_dir, 'train', tasks=[19])[19][0]
    vocab = babi.Vocabulary.from_stories([raw])
    story = babi.encode_story(raw, vocab)
    expected = (
      'the kitchen is north of the hallway . '
      'the garden is west of the kitchen . '
      'how do you go from the hallway to the garden ? - -'
    ).split()
    self.assertEqual(vocab.decode(story.tokens), expected)
    self.assertEqual(
      story.answer_positions, (len(expected) - 2, len(expected) - 1)
    )
    self.assertEqual(vocab.decode(story.answers), ['n', 'w'])
    self.assertEqual(story.question_index, (0, 0))
    self.assertEqual(story.num_questions, 1)
    self.assertEqual(story.task, 19)

  def test_vocabulary_sorted_with_reserved_ids(self):
    vocab = babi.Vocabulary.build(['mary', 'kitchen', '.', '-', 'mary'])
    self.assertEqual(vocab.words, ('<pad>', '-', '.', 'kitchen', 'mary'))
    self.assertEqual(vocab.size, 5)
    self.assertLen(vocab, 5)
    self.assertEqual(vocab.encode(['<pad>', '-']), [0, 1])
    self.assertEqual(babi.PAD_ID, 0)
    self.assertEqual(babi.MARKER_ID, 1)
    self.assertEqual(vocab.encode(['mary', '.']), [4, 2])
    self.assertEqual(vocab.decode(np.array([3, 4])), ['kitchen', 'mary'])
    with self.assertRaisesRegex(ValueError, r"\['zebra'\]"):
      vocab.encode(['mary', 'zebra'])
    with self.assertRaisesRegex(ValueError, 'must start with'):
      babi.Vocabulary(['mary', '<pad>', '-'])
    with self.assertRaisesRegex(ValueError, 'repeated'):
      babi.Vocabulary(['<pad>', '-', 'a', 'a'])

  def test_vocabulary_json_round_trip(self):
    vocab, _ = babi.load_dataset(self.data_dir, tasks=[1, 8])
    restored = babi.Vocabulary.from_json(vocab.to_json())
    self.assertEqual(restored, vocab)
    self.assertEqual(restored.words, vocab.words)
    path = self.out / 'vocab.json'
    vocab.save(path)
    self.assertEqual(babi.Vocabulary.load(path), vocab)
    self.assertEqual(json.loads(path.read_text())['words'][:2], ['<pad>', '-'])

  def test_vocabulary_is_deterministic(self):
    a, _ = babi.load_dataset(self.data_dir, tasks=[8, 1])
    b, _ = babi.load_dataset(self.data_dir, tasks=[1, 8])
    self.assertEqual(a.words, b.words)
    expected = _raw_vocabulary(
      sorted(self.data_dir.glob('qa1_*')) + sorted(self.data_dir.glob('qa8_*'))
    )
    self.assertEqual(a.words[2:], tuple(sorted(expected)))

  def test_decode_round_trip(self):
    vocab, stories = babi.load_dataset(self.data_dir, tasks=[1, 8])
    expected = _raw_lines(
      self.data_dir / 'qa1_single-supporting-fact_train.txt'
    ) + _raw_lines(self.data_dir / 'qa8_lists-sets_train.txt')
    self.assertEqual(
      [babi.decode_story(s, vocab) for s in stories['train']], expected
    )
    self.assertEqual(
      babi.decode_story(stories['train'][0], vocab)[:3],
      [
        'mary moved to the bathroom.',
        'john went to the hallway.',
        'where is mary?\tbathroom',
      ],
    )

  def test_decode_with_predictions(self):
    vocab, stories = babi.load_dataset(self.data_dir, tasks=[8])
    story = stories['train'][0]
    guess = vocab.encode(['apple', 'milk', 'john'])
    lines = babi.decode_story(story, vocab, predictions=guess)
    self.assertEqual(lines[3], 'what is mary carrying?\tapple,milk')
    self.assertEqual(lines[5], 'what is mary carrying?\tjohn')
    with self.assertRaisesRegex(ValueError, '2 predictions for 3'):
      babi.decode_story(story, vocab, predictions=guess[:2])

  def test_missing_files_named(self):
    with self.assertRaises(babi.MissingTaskFilesError) as cm:
      babi.find_task_files(self.data_dir, 'train', tasks=[1, 3, 5])
    error = cm.exception
    self.assertIsInstance(error, FileNotFoundError)
    self.assertEqual(
      error.missing,
      [_QA3_TRAIN, 'qa5_three-arg-relations_train.txt'],
    )
    self.assertIn(_QA3_TRAIN, str(error))
    self.assertIn('qa5_three-arg-relations_train.txt', str(error))
    self.assertIn(str(self.data_dir), str(error))
    self.assertIn('allow_1k_fallback', str(error))

  def test_missing_files_left_out_when_missing_ok(self):
    files = babi.find_task_files(
      self.data_dir, 'train', tasks=[1, 3, 5], missing_ok=True
    )
    self.assertEqual(list(files), [1])

  def test_missing_directory(self):
    with self.assertRaisesRegex(FileNotFoundError, 'nowhere'):
      babi.find_task_files(self.root / 'nowhere', 'train', tasks=[1])

  def test_parent_directory_hint(self):
    with self.assertRaisesRegex(
      babi.MissingTaskFilesError, 'should be a split directory'
    ):
      babi.find_task_files(self.root, 'train', tasks=[1])

  def test_fallback_to_1k_logs(self):
    with self.assertLogs('dnc.tasks.babi', level='WARNING') as logs:
      files = babi.find_task_files(
        self.data_dir, 'train', tasks=[1, 3], allow_1k_fallback=True
      )
    self.assertEqual(files[3], self.root / 'en' / _QA3_TRAIN)
    self.assertEqual(
      files[1], self.data_dir / 'qa1_single-supporting-fact_train.txt'
    )
    self.assertLen(logs.output, 1)
    self.assertIn(_QA3_TRAIN, logs.output[0])
    self.assertIn('falling back', logs.output[0])
    # A file missing from en/ too is still an error.
    with self.assertRaisesRegex(babi.MissingTaskFilesError, 'qa5_'):
      babi.find_task_files(
        self.data_dir, 'train', tasks=[5], allow_1k_fallback=True
      )

  def test_no_log_without_fallback(self):
    with self.assertNoLogs('dnc.tasks.babi', level='WARNING'):
      babi.find_task_files(self.data_dir, 'train', tasks=[1, 8])

  @parameterized.parameters(0, 21, 1.5, True)
  def test_bad_task_id(self, task):
    with self.assertRaisesRegex(ValueError, 'task ids are 1..20'):
      babi.find_task_files(self.data_dir, 'train', tasks=[task])

  def test_bad_split(self):
    with self.assertRaisesRegex(ValueError, 'split'):
      babi.find_task_files(self.data_dir, 'valid', tasks=[1])

  def test_statistics(self):
    vocab, stories = babi.load_dataset(
      self.data_dir, tasks=[1, 8, 19], splits=['train']
    )
    stats = babi.statistics(stories['train'], vocab)
    files = {
      task: sorted(self.data_dir.glob(f'qa{task}_*_train.txt'))
      for task in (1, 8, 19)
    }
    self.assertEqual(stats['vocab_size'], vocab.size)
    self.assertEqual(
      (stats['stories'], stats['questions'], stats['answer_words']),
      _file_counts([path for paths in files.values() for path in paths]),
    )
    for task, paths in files.items():
      counts = stats['tasks'][task]
      self.assertEqual(
        (counts['stories'], counts['questions'], counts['answer_words']),
        _file_counts(paths),
      )
    self.assertEqual(stats['tasks'][8]['answer_words'], 3)
    lengths = [len(s.tokens) for s in stories['train']]
    self.assertEqual(stats['length']['max'], max(lengths))
    self.assertEqual(stats['length']['min'], min(lengths))
    self.assertEqual(stats['length']['median'], float(np.median(lengths)))
    self.assertAlmostEqual(stats['length']['mean'], np.mean(lengths))
    self.assertEqual(
      stats['tasks'][19]['length']['max'], len(stories['train'][-1].tokens)
    )
    text = babi.format_statistics(stats)
    self.assertIn(f'vocabulary size: {vocab.size}', text)
    self.assertLen(text.splitlines(), 3 + 3 + 1)

  def _run_module(self, *flags):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
    env['PYTHONPATH'] = os.pathsep.join(
      p for p in (str(shared_data.REPO), env.get('PYTHONPATH')) if p
    )
    result = subprocess.run(
      [sys.executable, '-m', 'dnc.babi', *flags],
      capture_output=True,
      text=True,
      env=env,
      timeout=120,
    )
    return result.returncode, result.stdout, result.stderr

  def test_command_line(self):
    vocab_path = self.out / 'out.json'
    code, out, err = self._run_module(
      f'--data_dir={self.data_dir}', '--tasks=1,8', f'--save_vocab={vocab_path}'
    )
    self.assertEqual(code, 0, err)
    self.assertIn('vocabulary size:', out)
    stories, questions, _ = _file_counts(self.data_dir.glob('qa8_*_train.txt'))
    self.assertRegex(out, rf'\n\s+8\s+{stories}\s+{questions}\s')
    self.assertEqual(babi.Vocabulary.load(vocab_path).words[:2], ('<pad>', '-'))
    code, out, err = self._run_module(
      f'--data_dir={self.data_dir}', '--tasks=3'
    )
    self.assertEqual(code, 1)
    self.assertIn(_QA3_TRAIN, err)
    self.assertNotIn('Traceback', err)

  def test_command_line_flags(self):
    _, out, err = self._run_module('--helpfull')  # absl exits 1 after it.
    self.assertNotIn('Traceback', err)
    for flag in ('data_dir', 'tasks', 'split', 'allow_1k_fallback'):
      self.assertRegex(out, rf'--(\[no\])?{flag}: \S')
    code, _, err = self._run_module(f'--data_dir={self.data_dir}', '--tasks=0')
    self.assertEqual(code, 1)
    self.assertIn('--tasks must be task ids in 1..20', err)

  def test_package_does_not_import_tensorflow(self):
    # `dnc/__init__.py` imports the model (and TensorFlow), so a bare parent
    # package stands in for it: then only dnc.tasks.babi's own imports run.
    code = (
      'import sys, types\n'
      'package = types.ModuleType("dnc")\n'
      f'package.__path__ = [{str(shared_data.REPO / "dnc")!r}]\n'
      'sys.modules["dnc"] = package\n'
      'import dnc.tasks.babi\n'
      'assert dnc.tasks.babi.load_dataset and dnc.tasks.babi.BatchIterator\n'
      'print(sorted(m for m in sys.modules if m.split(".")[0] in '
      '("tensorflow", "sonnet")))\n'
    )
    result = subprocess.run(
      [sys.executable, '-c', code],
      capture_output=True,
      text=True,
      check=True,
      timeout=120,
    )
    self.assertEqual(result.stdout.strip(), '[]')


class ResultsTest(absltest.TestCase):
  def test_a_question_counts_only_if_all_its_words_are_right(self):
    # Task 8, one story: question 0 has two answer words, question 1 one.
    story = _story(8, [5, 0, 0, 6, 0], {1: 3, 2: 4, 4: 7})
    story = story._replace(question_index=(0, 0, 1))
    other = _story(1, [5, 0], {1: 9})
    errors = babi_results.QuestionErrors()
    predictions = np.zeros((5, 3), np.int32)
    predictions[[1, 2, 4], 0] = [3, 8, 7]  # Second word of question 0 wrong.
    predictions[1, 1] = 9
    errors.add([story, other], predictions)
    self.assertEqual(errors.percent(), {1: 0.0, 8: 50.0})
    table = babi_results.error_table(errors.percent(), 'ckpt-5', 5)
    self.assertIn('| 8: lists sets | 50.0 | 5.5 ± 5.9 | 17.7 ± 1.2 |', table)
    self.assertIn('| **mean error** | **25.0** |', table)
    self.assertIn('| **failed tasks (> 5%)** | **1** |', table)
    record = babi_results.results_record(errors, 'ckpt-5', 5, 'test')
    self.assertEqual(record['questions'], {'1': 1, '8': 2})
    self.assertEqual(record['failed_tasks'], 1)


class BatchTest(parameterized.TestCase):
  """Padding values, masks and the resumable iterator."""

  def setUp(self):
    super().setUp()
    # Two stories: 3 tokens with an answer (id 7) at 2; 5 tokens with
    # answers 3 and 4 at positions 1 and 4.
    self.a = _story(1, [5, 6, 0], {2: 7})
    self.b = _story(2, [5, 0, 8, 9, 0], {1: 3, 4: 4})

  def test_values_and_mask(self):
    batch = babi.make_batch([self.a, self.b])
    np.testing.assert_array_equal(
      batch.inputs, [[5, 5], [6, 1], [1, 8], [0, 9], [0, 1]]
    )
    np.testing.assert_array_equal(
      batch.targets, [[0, 0], [0, 3], [7, 0], [0, 0], [0, 4]]
    )
    np.testing.assert_array_equal(
      batch.mask, [[0, 0], [0, 1], [1, 0], [0, 0], [0, 1]]
    )
    self.assertEqual(batch.inputs.dtype, np.int32)
    self.assertEqual(batch.targets.dtype, np.int32)
    self.assertEqual(batch.mask.dtype, np.float32)
    np.testing.assert_array_equal(batch.lengths, [3, 5])
    np.testing.assert_array_equal(batch.tasks, [1, 2])
    # Every masked input is the marker.
    np.testing.assert_array_equal(
      batch.inputs[batch.mask == 1], [babi.MARKER_ID] * 3
    )

  @parameterized.parameters((None, None, 5), (4, None, 8), (16, None, 16))
  def test_pad_to_multiple(self, multiple, max_length, time):
    batch = babi.make_batch([self.a, self.b], multiple, max_length)
    self.assertEqual(batch.inputs.shape, (time, 2))
    self.assertEqual(batch.mask.shape, (time, 2))
    np.testing.assert_array_equal(batch.inputs[5:], 0)
    np.testing.assert_array_equal(batch.targets[5:], 0)
    np.testing.assert_array_equal(batch.mask[5:], 0)
    self.assertEqual(batch.mask.sum(), 3)

  def test_max_length(self):
    batch = babi.make_batch([self.a], pad_to_multiple=4, max_length=7)
    self.assertEqual(batch.inputs.shape, (7, 1))
    np.testing.assert_array_equal(batch.inputs[:, 0], [5, 6, 1, 0, 0, 0, 0])
    with self.assertRaisesRegex(ValueError, 'exceeds 4'):
      babi.make_batch([self.a, self.b], max_length=4)

  def test_filler_columns(self):
    batch = babi.make_batch([self.b], batch_size=3)
    self.assertEqual(batch.inputs.shape, (5, 3))
    np.testing.assert_array_equal(batch.inputs[:, 1:], 0)
    np.testing.assert_array_equal(batch.mask[:, 1:], 0)
    np.testing.assert_array_equal(batch.tasks, [2, 0, 0])
    with self.assertRaisesRegex(ValueError, 'batch size 1'):
      babi.make_batch([self.a, self.b], batch_size=1)

  def test_permute_words_renames_consistently_per_story(self):
    stories = [_story(1, [5, 6, 3, 9, 0], {2: 7}), _story(2, [6, 5, 0], {1: 3})]
    batch = babi.make_batch(stories * 20)
    groups = [[5, 6], [3, 7, 8]]
    permuted = babi.permute_words(batch, groups, np.random.default_rng(0))
    seen = set()
    for column in range(batch.inputs.shape[1]):
      # A numpy oracle: the renaming of this story, read off its words.
      renaming = {}
      pairs = zip(
        np.concatenate([batch.inputs[:, column], batch.targets[:, column]]),
        np.concatenate(
          [permuted.inputs[:, column], permuted.targets[:, column]]
        ),
        strict=True,
      )
      for before, after in pairs:
        self.assertEqual(renaming.setdefault(before, after), after)
      for group in groups:
        used = [w for w in group if w in renaming]
        self.assertCountEqual(
          [renaming[w] for w in used], set(renaming[w] for w in used)
        )
        self.assertTrue(all(renaming[w] in group for w in used))
      for word in (0, babi.MARKER_ID, 9):
        self.assertEqual(renaming.get(word, word), word)
      seen.add(tuple(sorted(renaming.items())))
    self.assertGreater(len(seen), 4)  # Stories get different renamings.
    np.testing.assert_array_equal(permuted.mask, batch.mask)
    np.testing.assert_array_equal(permuted.lengths, batch.lengths)
    again = babi.permute_words(batch, groups, np.random.default_rng(0))
    np.testing.assert_array_equal(again.inputs, permuted.inputs)

  def test_evaluation_batches(self):
    stories = [self.a, self.b, self.a]
    batches = list(babi.evaluation_batches(stories, 2, pad_to_multiple=8))
    self.assertLen(batches, 2)
    for batch in batches:
      self.assertEqual(batch.inputs.shape, (8, 2))
    np.testing.assert_array_equal(batches[1].lengths, [3, 0])
    self.assertEqual(sum(b.mask.sum() for b in batches), 4)


class IteratorTest(absltest.TestCase):
  def setUp(self):
    super().setUp()
    # Story i starts with token i + 2 and ends with an answer marker.
    self.stories = [_story(1, [i + 2] * (i + 2), {i + 1: 2}) for i in range(10)]

  def _ids(self, batch):
    return list(batch.inputs[0])

  def test_epochs_are_permutations(self):
    it = babi.BatchIterator(self.stories, batch_size=5, seed=3)
    self.assertEqual(it.epoch, -1)
    for epoch in range(3):
      seen = self._ids(next(it)) + self._ids(next(it))
      self.assertEqual(sorted(seen), list(range(2, 12)))
      self.assertEqual(it.epoch, epoch)

  def test_batches_cross_epochs_at_full_size(self):
    it = babi.BatchIterator(self.stories, batch_size=4, seed=0)
    indices = np.concatenate([it.next_indices() for _ in range(5)])
    self.assertEqual(sorted(indices[:10]), list(range(10)))
    self.assertEqual(sorted(indices[10:20]), list(range(10)))

  def test_same_seed_same_batches(self):
    a = babi.BatchIterator(self.stories, 3, seed=7, pad_to_multiple=4)
    b = babi.BatchIterator(self.stories, 3, seed=7, pad_to_multiple=4)
    c = babi.BatchIterator(self.stories, 3, seed=8, pad_to_multiple=4)
    first_a = [next(a).inputs for _ in range(8)]
    first_b = [next(b).inputs for _ in range(8)]
    first_c = [next(c).inputs for _ in range(8)]
    for x, y in zip(first_a, first_b, strict=True):
      np.testing.assert_array_equal(x, y)
      self.assertEqual(x.shape[0] % 4, 0)
    self.assertFalse(
      all(
        x.shape == z.shape and (x == z).all()
        for x, z in zip(first_a, first_c, strict=True)
      )
    )

  def test_saved_state_reproduces_next_batches(self):
    for skip in (0, 1, 3, 4, 7):
      it = babi.BatchIterator(self.stories, batch_size=3, seed=11)
      for _ in range(skip):
        next(it)
      state = json.loads(json.dumps(it.get_state()))
      expected = [next(it) for _ in range(9)]
      # A fresh iterator with another seed, restored, continues identically.
      resumed = babi.BatchIterator(self.stories, batch_size=3, seed=99)
      resumed.set_state(state)
      # So does the same iterator rewound.
      it.set_state(state)
      for want in expected:
        for got in (next(resumed), next(it)):
          np.testing.assert_array_equal(got.inputs, want.inputs)
          np.testing.assert_array_equal(got.targets, want.targets)
          np.testing.assert_array_equal(got.mask, want.mask)

  def test_sort_window_groups_similar_lengths(self):
    it = babi.BatchIterator(self.stories, batch_size=2, seed=5, sort_window=5)
    for epoch in range(3):
      batches = [next(it) for _ in range(5)]
      # Each window of 5 batches is one epoch here: every story once, each
      # batch two stories of neighbouring lengths (2..11), in random order.
      lengths = [sorted(batch.lengths) for batch in batches]
      self.assertCountEqual(
        [n for pair in lengths for n in pair], list(range(2, 12))
      )
      for short, long in lengths:
        self.assertEqual(long - short, 1)
        self.assertEqual(short % 2, 0)
      self.assertEqual(it.epoch, epoch)
    self.assertNotEqual(
      [sorted(b.lengths)[0] for b in batches], [2, 4, 6, 8, 10]
    )  # Served in random order, not sorted.

  def test_sort_window_state_reproduces_next_batches(self):
    it = babi.BatchIterator(self.stories, batch_size=3, seed=2, sort_window=3)
    for _ in range(4):  # Stops inside a window, with batches pending.
      next(it)
    state = json.loads(json.dumps(it.get_state()))
    self.assertNotEmpty(state['pending'])
    expected = [next(it).inputs for _ in range(7)]
    resumed = babi.BatchIterator(
      self.stories, batch_size=3, seed=0, sort_window=3
    )
    resumed.set_state(state)
    for want in expected:
      np.testing.assert_array_equal(next(resumed).inputs, want)

  def test_buckets_pad_to_the_smallest_that_fits(self):
    self.assertEqual(babi.padded_length(5, buckets=(4, 8, 16)), 8)
    self.assertEqual(babi.padded_length(8, buckets=(4, 8, 16)), 8)
    self.assertEqual(babi.padded_length(17, 4, buckets=(4, 8, 16)), 20)
    buckets = babi.geometric_buckets(32, 2048, 1.5)
    self.assertEqual(buckets[0], 32)
    self.assertEqual(buckets[-1], 2048)
    for small, large in zip(buckets, buckets[1:], strict=False):
      self.assertLessEqual(large, 1.5 * small + 8)
      self.assertEqual(small % 8, 0)
    batch = babi.make_batch(self.stories[:3], buckets=(3, 6))
    self.assertEqual(batch.inputs.shape, (6, 3))

  def test_state_for_other_stories_rejected(self):
    it = babi.BatchIterator(self.stories, batch_size=3)
    state = it.get_state()
    other = babi.BatchIterator(self.stories[:5], batch_size=3)
    with self.assertRaisesRegex(ValueError, 'State is for 10 stories'):
      other.set_state(state)


class StoryFilesTest(parameterized.TestCase):
  """Whole files of tests/testdata/babi, read back and batched."""

  @parameterized.parameters(1, 3, 8, 16, 19, 20)
  def test_decode_round_trip(self, task):
    directory = _STORIES / 'en-10k'
    vocab, stories = babi.load_dataset(directory, splits=['test'])
    test_stories = [s for s in stories['test'] if s.task == task]
    expected = _raw_lines(_find(directory, task, 'test'))
    self.assertLen(test_stories, len(expected))
    for story, lines in zip(test_stories, expected, strict=True):
      self.assertEqual(babi.decode_story(story, vocab), lines)

  def test_known_gap_is_an_error(self):
    directory = _STORIES / 'en-10k'
    with self.assertRaises(babi.MissingTaskFilesError) as cm:
      babi.read_split(directory, 'train', tasks=[1, 3])
    self.assertEqual(cm.exception.missing, [_QA3_TRAIN])
    self.assertIn(str(directory), str(cm.exception))

  def test_batch_of_stories(self):
    vocab, stories = babi.load_dataset(_STORIES / 'en', tasks=[1, 4, 16])
    train = stories['train']
    picked = [train[i] for i in (0, 5, len(train) // 2, len(train) - 1)]
    self.assertEqual([s.task for s in picked], [1, 1, 4, 16])
    batch = babi.make_batch(picked, pad_to_multiple=16)
    self.assertEqual(batch.inputs.shape[0] % 16, 0)
    for b, story in enumerate(picked):
      n = len(story.tokens)
      np.testing.assert_array_equal(batch.inputs[:n, b], story.tokens)
      np.testing.assert_array_equal(batch.inputs[n:, b], 0)
      positions = np.flatnonzero(batch.mask[:, b])
      np.testing.assert_array_equal(positions, story.answer_positions)
      np.testing.assert_array_equal(batch.targets[positions, b], story.answers)
      self.assertEqual(batch.targets[:, b].astype(bool).sum(), len(positions))
      self.assertTrue((batch.inputs[positions, b] == babi.MARKER_ID).all())
    self.assertTrue((batch.targets < vocab.size).all())


_cache = {}


def _real_data():
  """The en-10k stories (qa3 train from en/), parsed once for all tests."""
  if not _cache:
    vocab, stories = babi.load_dataset(_EN10K, allow_1k_fallback=True)
    _cache.update(vocab=vocab, stories=stories)
  return _cache['vocab'], _cache['stories']


@absltest.skipUnless(_HAVE_DATA, _SKIP_REASON)
class RealDataTest(parameterized.TestCase):
  """Checks against the bAbI v1.2 files themselves."""

  def _question_count(self, path):
    return sum('\t' in line for line in path.read_text().splitlines())

  def _story_count(self, path):
    return len(re.findall(r'^1 ', path.read_text(), flags=re.M))

  def test_counts_per_file(self):
    vocab, stories = _real_data()
    for split, expected_questions, directory in (
      ('train', 10_000, _EN10K),
      ('test', 1_000, _EN10K),
    ):
      stats = babi.statistics(stories[split], vocab)
      for task in babi.ALL_TASKS:
        path = _find(directory, task, split)
        if path is None:  # The known gap: qa3 train came from en/.
          self.assertEqual((task, split), (3, 'train'))
          path = _find(_EN1K, task, split)
          expected = 1_000
        else:
          expected = expected_questions
        with self.subTest(file=path.name):
          self.assertEqual(self._question_count(path), expected)
          self.assertEqual(stats['tasks'][task]['questions'], expected)
          self.assertEqual(
            stats['tasks'][task]['stories'], self._story_count(path)
          )

  def test_counts_1k_train(self):
    raw = babi.read_split(_EN1K, 'train')
    self.assertEqual(list(raw), list(babi.ALL_TASKS))
    for task, task_stories in raw.items():
      with self.subTest(task=task):
        self.assertEqual(sum(s.num_questions for s in task_stories), 1_000)
        path = _find(_EN1K, task, 'train')
        self.assertLen(task_stories, self._story_count(path))

  def test_vocabulary(self):
    vocab, _ = _real_data()
    paths = [p for p in _EN10K.glob('qa*_*.txt')] + [_EN1K / _QA3_TRAIN]
    words = _raw_vocabulary(paths)
    self.assertEqual(vocab.size, len(words) + 2)
    self.assertEqual(vocab.words[2:], tuple(sorted(words)))
    for word in ('mary', 'kitchen', 'football', '.', '?', 'n', 'w', 'yes'):
      self.assertIn(word, vocab)
    self.assertEqual(vocab.encode(['<pad>', '-']), [0, 1])
    self.assertEqual(babi.Vocabulary.from_json(vocab.to_json()), vocab)

  def test_known_gap_fallback_logs(self):
    if (_EN10K / _QA3_TRAIN).exists():
      self.skipTest(f'{_EN10K / _QA3_TRAIN} exists: no fallback to test')
    with self.assertLogs('dnc.tasks.babi', level='WARNING') as logs:
      raw = babi.read_split(_EN10K, 'train', tasks=[3], allow_1k_fallback=True)
    self.assertIn(_QA3_TRAIN, '\n'.join(logs.output))
    self.assertEqual(sum(s.num_questions for s in raw[3]), 1_000)


def _find(directory, task, split):
  matches = list(directory.glob(f'qa{task}_*_{split}.txt'))
  return matches[0] if matches else None


if __name__ == '__main__':
  absltest.main()
