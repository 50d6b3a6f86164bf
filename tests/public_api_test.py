"""The package uses only the public APIs of TensorFlow, Sonnet and Keras.

Private modules (`tensorflow.python`, `tensorflow.compiler`, `keras.src`,
`sonnet.src`, any
module or attribute of theirs starting with `_`) break on minor releases.
The one exception is the XLA optimisation barrier, imported lazily in
`dnc.kernels._optimization_barrier`, with a tested fallback
(`tests/kernels_test.py`).
"""

import ast
import pathlib

from absl.testing import absltest

_PACKAGE = pathlib.Path(__file__).resolve().parent.parent / 'dnc'
_LIBRARIES = ('tensorflow', 'tf', 'keras', 'sonnet', 'snt')
_PRIVATE_MODULES = (
  'tensorflow.python',
  'tensorflow.compiler',
  'keras.src',
  'sonnet.src',
)
# (file, function) of the one allowed private import.
_ALLOWED = {('kernels.py', '_optimization_barrier')}


def _private_name(name: str) -> bool:
  """`_x`, not a dunder such as `__version__`, which is public."""
  return name.startswith('_') and not name.endswith('__')


def _private_uses(path: pathlib.Path) -> list[str]:
  """`file:line what` for each private import or attribute in `path`."""
  tree = ast.parse(path.read_text())
  found = []
  functions = {}
  for node in ast.walk(tree):
    if isinstance(node, ast.FunctionDef):
      for child in ast.walk(node):
        functions.setdefault(id(child), node.name)
  for node in ast.walk(tree):
    where = f'{path.name}:{getattr(node, "lineno", 0)}'
    allowed = (path.name, functions.get(id(node))) in _ALLOWED
    if isinstance(node, (ast.Import, ast.ImportFrom)):
      names = [alias.name for alias in node.names]
      modules = [node.module] if isinstance(node, ast.ImportFrom) else names
      for module in modules:
        parts = (module or '').split('.')
        if parts[0] not in ('tensorflow', 'keras', 'sonnet'):
          continue
        private = module.startswith(_PRIVATE_MODULES) or any(
          _private_name(part) for part in parts
        )
        if isinstance(node, ast.ImportFrom):
          private |= any(_private_name(name) for name in names)
        if private and not allowed:
          found.append(f'{where} imports {module}')
    elif isinstance(node, ast.Attribute) and _private_name(node.attr):
      base = node.value
      while isinstance(base, ast.Attribute):
        base = base.value
      if isinstance(base, ast.Name) and base.id in _LIBRARIES:
        found.append(f'{where} reads {base.id}...{node.attr}')
  return found


class PublicApiTest(absltest.TestCase):
  def test_the_package_uses_no_private_api(self):
    paths = sorted(_PACKAGE.rglob('*.py'))
    self.assertGreater(len(paths), 20)
    found = [use for path in paths for use in _private_uses(path)]
    self.assertEqual(found, [])

  def test_the_check_finds_private_uses(self):
    # The check itself, on code that uses private APIs.
    path = pathlib.Path(self.create_tempdir().full_path) / 'bad.py'
    path.write_text(
      'import tensorflow as tf\n'
      'from tensorflow.python.ops import control_flow_util\n'
      'from keras.src.backend.common import global_state\n'
      'import sonnet as snt\n'
      'x = snt.LSTM._initialize\n'
      'y = tf._api\n'
    )
    self.assertEqual(
      [use.split(' ', 1)[1] for use in _private_uses(path)],
      [
        'imports tensorflow.python.ops',
        'imports keras.src.backend.common',
        'reads snt..._initialize',
        'reads tf..._api',
      ],
    )


if __name__ == '__main__':
  absltest.main()
