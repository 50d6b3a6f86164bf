"""Where the tests find the data of `../shared` (never committed here).

`DNC_SHARED_DIR` overrides the default, the `shared` directory beside the
repository. The reference fixture is required: without it the fixture tests
fail, naming the path, since reproducing it is what shows the maths right.
The bAbI tests skip with a reason when the data is absent.
"""

import os
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get('DNC_SHARED_DIR', REPO.parent / 'shared'))
FIXTURE = SHARED / 'reference' / 'dnc_fixture_small.npz'
BABI = SHARED / 'babi' / 'tasks_1-20_v1-2'


def require_fixture() -> pathlib.Path:
  """Returns the fixture's path; raises FileNotFoundError when it is absent."""
  if not FIXTURE.is_file():
    raise FileNotFoundError(
      f'reference fixture not found at {FIXTURE}: put shared/ beside the '
      'repository or set DNC_SHARED_DIR to the directory that holds '
      'reference/dnc_fixture_small.npz'
    )
  return FIXTURE
