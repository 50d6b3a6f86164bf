"""`pip install .` gives the package with its modules and metadata."""

import os
import subprocess
import sys
import tempfile
import zipfile

from absl.testing import absltest
import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
class PackagingTest(absltest.TestCase):
  def test_wheel_installs_and_imports(self):
    with tempfile.TemporaryDirectory() as tmp:
      build = subprocess.run(
        [
          sys.executable,
          '-m',
          'pip',
          'wheel',
          '--quiet',
          '--no-deps',
          '--wheel-dir',
          tmp,
          _ROOT,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
      )
      # The build says nothing: no deprecation of how the licence is declared.
      self.assertNotRegex(build.stdout + build.stderr, r'(?i)licen[cs]e')
      (wheel,) = [f for f in os.listdir(tmp) if f.endswith('.whl')]
      with zipfile.ZipFile(os.path.join(tmp, wheel)) as archive:
        names = archive.namelist()
        (metadata,) = [n for n in names if n.endswith('METADATA')]
        metadata = archive.read(metadata).decode()
      for module in ('__init__', 'util', 'addressing', 'access', 'dnc'):
        self.assertIn(f'dnc/{module}.py', names)
      # Every subpackage ships, and the commands' public names with them.
      for module in (
        'train/__init__',
        'train/loop',
        'tasks/__init__',
        'tasks/repeat_copy/data',
        'tasks/babi/__init__',
        'tools/__init__',
        'tools/export',
        'export',
        'babi/__main__',
      ):
        self.assertIn(f'dnc/{module}.py', names)
      self.assertFalse([n for n in names if n.startswith('tests/')])
      self.assertIn('Requires-Python: >=3.10', metadata)
      self.assertIn('License-Expression: Apache-2.0', metadata)
      self.assertNotIn('Classifier: License ::', metadata)
      self.assertIn('License-File: LICENSE', metadata)
      for requirement in ('tensorflow', 'dm-sonnet', 'absl-py', 'numpy'):
        self.assertRegex(metadata, rf'Requires-Dist: {requirement}\b')
      self.assertRegex(metadata, r'Requires-Dist: pytest.*extra == "test"')

      # Installed alone (dependencies from this environment), away from the
      # source tree, the package imports with its modules.
      target = os.path.join(tmp, 'site')
      subprocess.run(
        [
          sys.executable,
          '-m',
          'pip',
          'install',
          '--quiet',
          '--no-deps',
          '--target',
          target,
          os.path.join(tmp, wheel),
        ],
        check=True,
        timeout=600,
      )
      code = (
        'import dnc, os; '
        'from dnc.tasks.repeat_copy import data; '
        'assert os.path.dirname(dnc.__file__).startswith(os.getcwd()); '
        'print(dnc.DNC.__name__, dnc.access.MemoryAccess.__name__, '
        'data.RepeatCopy.__name__, dnc.util.reduce_prod.__name__)'
      )
      result = subprocess.run(
        [sys.executable, '-c', code],
        cwd=target,
        env=dict(os.environ, PYTHONPATH=target, TF_CPP_MIN_LOG_LEVEL='3'),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
      )
      self.assertIn('DNC MemoryAccess RepeatCopy reduce_prod', result.stdout)


if __name__ == '__main__':
  absltest.main()
