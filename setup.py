"""Packaging for dnc, the Differentiable Neural Computer on TF2 / Sonnet 2.

Tested with Python 3.11, TensorFlow 2.21 and dm-sonnet 2.0.2.
"""

import pathlib
import re

import setuptools

_ROOT = pathlib.Path(__file__).parent
_VERSION = re.search(
  r"__version__ = '([^']+)'", (_ROOT / 'dnc' / '__init__.py').read_text()
).group(1)

setuptools.setup(
  name='dnc',
  version=_VERSION,
  description=(
    'Differentiable Neural Computer (Graves et al., Nature 2016) for '
    'TensorFlow 2 and Sonnet 2'
  ),
  long_description=(_ROOT / 'README.md').read_text(),
  long_description_content_type='text/markdown',
  # An SPDX expression (PEP 639), not a licence classifier, which current
  # setuptools deprecates.
  license_expression='Apache-2.0',
  license_files=['LICENSE'],
  packages=setuptools.find_packages(include=['dnc', 'dnc.*']),
  python_requires='>=3.10',
  install_requires=[
    'absl-py',
    'dm-sonnet>=2.0.2',
    'numpy',
    'tensorflow>=2.16',
  ],
  extras_require={
    # dnc.keras; TensorFlow 2.16+ installs Keras 3 already.
    'keras': ['keras>=3'],
    'test': ['pytest', 'pytest-xdist', 'ruff'],
    'viz': ['matplotlib', 'tensorboard'],
  },
  classifiers=[
    'Programming Language :: Python :: 3',
    'Topic :: Scientific/Engineering :: Artificial Intelligence',
  ],
)
