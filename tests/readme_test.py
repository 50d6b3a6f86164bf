"""Runs the documentation's Python snippets, so the documented usage works.

A snippet runs when the line right before its ```python fence is
`<!-- readme-test -->`. Each file is one test, which also checks that the
file still has the number of marked snippets it had when this table was
last updated: a page that loses its markers fails rather than passing
with nothing run.
"""

import glob
import os
import re

from absl.testing import absltest
from absl.testing import parameterized

_ROOT = os.path.join(os.path.dirname(__file__), '..')

# Marked snippets per file, relative to the repository's root. Every
# docs/*.md must be listed (a new page too, with 0 if it has none).
_EXPECTED = {
  'README.md': 2,
  'benchmarks/README.md': 0,
  'docs/babi.md': 0,
  'docs/char_lm.md': 0,
  'docs/core.md': 4,
  'docs/distribute.md': 0,
  'docs/graphs.md': 0,
  'docs/keras.md': 1,
  'docs/options.md': 1,
  'docs/pretrained.md': 0,
  'docs/repeat_copy.md': 0,
  'docs/tests.md': 0,
  'docs/training.md': 1,
}

_MARKED = re.compile(r'<!-- readme-test -->\n```python\n(.*?)```', re.S)


def _snippets(path):
  """The marked snippets of `path`, each padded to its line in the file."""
  with open(os.path.join(_ROOT, path)) as f:
    text = f.read()
  # Blank lines before each snippet keep the file's line numbers in
  # tracebacks (and in the source that AutoGraph reads back).
  return [
    '\n' * text.count('\n', 0, match.start(1)) + match.group(1)
    for match in _MARKED.finditer(text)
  ]


class ReadmeTest(parameterized.TestCase):
  def test_every_docs_page_is_listed(self):
    pages = {
      os.path.relpath(path, _ROOT).replace(os.sep, '/')
      for path in glob.glob(os.path.join(_ROOT, 'docs', '*.md'))
    }
    listed = {path for path in _EXPECTED if path.startswith('docs/')}
    self.assertEqual(pages, listed)

  @parameterized.parameters(sorted(_EXPECTED))
  def test_snippets_run(self, path):
    snippets = _snippets(path)
    self.assertLen(snippets, _EXPECTED[path], f'marked snippets in {path}')
    for snippet in snippets:
      exec(compile(snippet, os.path.join(_ROOT, path), 'exec'), {})


if __name__ == '__main__':
  absltest.main()
