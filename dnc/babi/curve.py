"""`python -m dnc.babi.curve`: the command's public name.

Its code is in `dnc.tasks.babi.curve`. Usage:

  python -m dnc.babi.curve --output=curve.png RUN_DIR [RUN_DIR ...]

`python -m dnc.babi.curve --help` lists its flags.
"""

from absl import app
from absl import flags

from dnc.tasks.babi import curve

if __name__ == '__main__':
  # Its flags are this command's: --help lists them.
  flags.adopt_module_key_flags(curve)
  app.run(curve.main)
