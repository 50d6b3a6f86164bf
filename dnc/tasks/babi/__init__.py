"""The bAbI question-answering tasks as word sequences for the DNC.

Data: the 20 bAbI tasks of Weston et al., "Towards AI-Complete Question
Answering: A Set of Prerequisite Toy Tasks", arXiv:1502.05698 (2015),
distributed by Facebook AI Research under the Creative Commons Attribution 3.0
licence (CC BY 3.0). The data are not shipped with this package: download
`tasks_1-20_v1-2` and pass the directory of one of its splits, e.g.
`.../tasks_1-20_v1-2/en-10k` (10,000 training questions per task) or
`.../tasks_1-20_v1-2/en` (1,000), as `data_dir`.

One module per concern, all re-exported here (`babi.load_dataset`, ...):

- `files`: finding and parsing the files (`read_split`, `parse_lines`);
- `vocabulary`: the word <-> id map (`Vocabulary`, `PAD_ID`, `MARKER_ID`);
- `encoding`: a story as one word sequence with answer targets
  (`encode_story`, `decode_story`, `load_dataset`);
- `batching`: padded time-major batches, word permutation, the resumable
  shuffling iterator (`make_batch`, `BatchIterator`);
- `statistics`: counts and story lengths;
- `validation`: the seeded validation split (`split_validation`);
- `results`: the per-task error table beside the paper's numbers.

Encoding, as in the Methods of Graves et al., "Hybrid computing using a neural
network with dynamic external memory", Nature 2016: for

  1 Mary moved to the bathroom.
  2 Where is Mary? <TAB>bathroom<TAB>1

the input is `mary moved to the bathroom . where is mary ? -` and the only
target is `bathroom`, at the '-'.

These modules use only numpy and the standard library (no TensorFlow).
`dnc.tasks.babi.task`, the task the training loop runs, is the one that needs
TensorFlow; it is not imported here. `python -m dnc.babi` prints statistics.
"""

from dnc.tasks.babi.batching import Batch
from dnc.tasks.babi.batching import BatchIterator
from dnc.tasks.babi.batching import evaluation_batches
from dnc.tasks.babi.batching import geometric_buckets
from dnc.tasks.babi.batching import make_batch
from dnc.tasks.babi.batching import padded_length
from dnc.tasks.babi.batching import permute_words
from dnc.tasks.babi.encoding import Story
from dnc.tasks.babi.encoding import decode_story
from dnc.tasks.babi.encoding import encode_stories
from dnc.tasks.babi.encoding import encode_story
from dnc.tasks.babi.encoding import load_dataset
from dnc.tasks.babi.files import ALL_TASKS
from dnc.tasks.babi.files import NUM_TASKS
from dnc.tasks.babi.files import SPLITS
from dnc.tasks.babi.files import TASK_NAMES
from dnc.tasks.babi.files import MissingTaskFilesError
from dnc.tasks.babi.files import RawStory
from dnc.tasks.babi.files import Sentence
from dnc.tasks.babi.files import expected_file_name
from dnc.tasks.babi.files import find_task_files
from dnc.tasks.babi.files import parse_file
from dnc.tasks.babi.files import parse_lines
from dnc.tasks.babi.files import read_split
from dnc.tasks.babi.files import tokenize
from dnc.tasks.babi.statistics import format_statistics
from dnc.tasks.babi.statistics import statistics
from dnc.tasks.babi.validation import split_validation
from dnc.tasks.babi.vocabulary import MARKER
from dnc.tasks.babi.vocabulary import MARKER_ID
from dnc.tasks.babi.vocabulary import PAD
from dnc.tasks.babi.vocabulary import PAD_ID
from dnc.tasks.babi.vocabulary import Vocabulary

__all__ = [
  'ALL_TASKS',
  'MARKER',
  'MARKER_ID',
  'NUM_TASKS',
  'PAD',
  'PAD_ID',
  'SPLITS',
  'TASK_NAMES',
  'Batch',
  'BatchIterator',
  'MissingTaskFilesError',
  'RawStory',
  'Sentence',
  'Story',
  'Vocabulary',
  'decode_story',
  'encode_stories',
  'encode_story',
  'evaluation_batches',
  'expected_file_name',
  'find_task_files',
  'format_statistics',
  'geometric_buckets',
  'load_dataset',
  'make_batch',
  'padded_length',
  'parse_file',
  'parse_lines',
  'permute_words',
  'read_split',
  'split_validation',
  'statistics',
  'tokenize',
]
