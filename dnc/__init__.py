"""Differentiable Neural Computer (Graves et al., Nature 2016), TF2/Sonnet 2."""

from dnc import access
from dnc import addressing
from dnc import controllers
from dnc import dnc
from dnc import internals
from dnc import model
from dnc import recompute
from dnc import sam
from dnc import sparse_access
from dnc import sparse_journal
from dnc import sparse_link
from dnc import util
from dnc.access import AccessState
from dnc.access import MemoryAccess
from dnc.dnc import DNC
from dnc.dnc import DNCState
from dnc.sam import SAM
from dnc.sam import SDNC
from dnc.sparse_access import SparseAccessState
from dnc.sparse_access import SparseMemoryAccess
from dnc.sparse_access import SparseTemporalAccessState
from dnc.sparse_access import SparseTemporalMemoryAccess

__version__ = '0.1.0'

__all__ = [
  'AccessState',
  'DNC',
  'DNCState',
  'MemoryAccess',
  'SAM',
  'SDNC',
  'SparseAccessState',
  'SparseMemoryAccess',
  'SparseTemporalAccessState',
  'SparseTemporalMemoryAccess',
  'access',
  'addressing',
  'controllers',
  'dnc',
  'internals',
  'model',
  'recompute',
  'sam',
  'sparse_access',
  'sparse_journal',
  'sparse_link',
  'util',
]
