"""Where the tests find their data.

The reference fixture ships with the repository (`tests/testdata`, see its
README). The real bAbI data does not: the tests that count its files run
only when `DNC_BABI_DIR` names a `tasks_1-20_v1-2` directory (holding `en/`
and `en-10k/`), and skip with that reason otherwise. Everything else about
bAbI is tested on the few stories in `tests/testdata/babi`.
"""

import json
import os
import pathlib
import shutil
import tarfile
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[1]
TESTDATA = REPO / 'tests' / 'testdata'
FIXTURE = TESTDATA / 'dnc_fixture_small.npz'
BABI_STORIES = TESTDATA / 'babi' / 'tasks_1-20_v1-2'
OLD_LAYOUT = TESTDATA / 'old_layout.tar.gz'
OLD_LAYOUT_EXPECTED = TESTDATA / 'old_layout_expected.json'
# How the old scripts resumed the old-layout checkpoints (the JSON above).
OLD_LAYOUT_RESUME_FLAGS = (
  '--checkpoint_interval=3',
  '--report_interval=1',
  '--num_training_iterations=6',
  # The same gradients as the recomputation train_babi.py defaults to,
  # with one trace of the step for all story lengths.
  '--recompute_chunk_length=0',
)
BABI_DIR_VARIABLE = 'DNC_BABI_DIR'
REAL_BABI = (
  pathlib.Path(os.environ[BABI_DIR_VARIABLE])
  if os.environ.get(BABI_DIR_VARIABLE)
  else None
)
REAL_BABI_SKIP_REASON = (
  f'the real bAbI data is not here: set {BABI_DIR_VARIABLE} to a '
  'tasks_1-20_v1-2 directory (with en/ and en-10k/) to run this test'
)


def require_fixture() -> pathlib.Path:
  """Returns the fixture's path; raises FileNotFoundError when it is absent."""
  if not FIXTURE.is_file():
    raise FileNotFoundError(
      f'reference fixture not found at {FIXTURE}: it ships with the '
      'repository; restore it with `git checkout -- tests/testdata`'
    )
  return FIXTURE


def babi_words(paths) -> set[str]:
  """The distinct words of bAbI files, read from the raw text."""
  words = set()
  for path in paths:
    for line in pathlib.Path(path).read_text().lower().splitlines():
      fields = line.split('\t')
      sentence = fields[0].split(' ', 1)[1]
      words.update(sentence.replace('.', ' . ').replace('?', ' ? ').split())
      if len(fields) > 1:
        words.update(fields[1].split(','))
  return words


def copy_old_layout(name: str, directory: str) -> dict:
  """Unpacks the old-layout checkpoint `name` into `directory`.

  Returns:
    What the old script reported when it resumed it
    (`old_layout_expected.json`).
  """
  with tempfile.TemporaryDirectory() as unpacked:
    with tarfile.open(OLD_LAYOUT) as archive:
      # The 'data' filter where this Python has it (3.10.12+, 3.11.4+).
      safe = {'filter': 'data'} if hasattr(tarfile, 'data_filter') else {}
      archive.extractall(unpacked, **safe)
    shutil.copytree(os.path.join(unpacked, name), directory)
  return json.loads(OLD_LAYOUT_EXPECTED.read_text())[name]
