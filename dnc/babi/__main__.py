"""`python -m dnc.babi`: the command's public name.

Its code is in `dnc.tasks.babi.describe`. Usage:

  python -m dnc.babi --data_dir=.../tasks_1-20_v1-2/en-10k [--tasks=1,2]

`python -m dnc.babi --help` lists its flags.
"""

from absl import app
from absl import flags

from dnc.tasks.babi import describe

if __name__ == '__main__':
  describe.define_flags()
  # Its flags are this command's: --help lists them.
  flags.adopt_module_key_flags(describe)
  app.run(describe.main)
