"""`python -m dnc.visualize`: the command's public name.

Its code is in `dnc.tools.visualize`. Usage:

  python -m dnc.visualize --checkpoint_dir=DIR --output=figure.png

`python -m dnc.visualize --help` lists its flags.
"""

from absl import app
from absl import flags

from dnc.tools import visualize

if __name__ == '__main__':
  visualize.define_flags()
  # Its flags are this command's: --help lists them.
  flags.adopt_module_key_flags(visualize)
  app.run(visualize.main)
