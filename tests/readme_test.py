"""Runs the README's Python snippets, so the documented usage keeps working."""

import os
import re

from absl.testing import absltest

_README = os.path.join(os.path.dirname(__file__), '..', 'README.md')


def _snippets():
  with open(_README) as f:
    text = f.read()
  return re.findall(r'<!-- readme-test -->\n```python\n(.*?)```', text, re.S)


class ReadmeTest(absltest.TestCase):
  def test_snippets_run(self):
    snippets = _snippets()
    self.assertNotEmpty(snippets)
    for snippet in snippets:
      exec(compile(snippet, _README, 'exec'), {})


if __name__ == '__main__':
  absltest.main()
