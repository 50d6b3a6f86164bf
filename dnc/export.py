"""`python -m dnc.export`: the command's public name.

Its code is in `dnc.tools.export`. Usage:

  python -m dnc.export --checkpoint_dir=DIR --output_dir=OUT

`python -m dnc.export --help` lists its flags.
"""

from absl import app
from absl import flags

from dnc.tools import export

if __name__ == '__main__':
  export.define_flags()
  # Its flags are this command's: --help lists them.
  flags.adopt_module_key_flags(export)
  app.run(export.main)
