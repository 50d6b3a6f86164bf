"""Sparse Access Memory (SAM) and the Sparse DNC (SDNC) as RNN cores.

Rae et al., "Scaling Memory-Augmented Neural Networks with Sparse Reads and
Writes" (NeurIPS 2016).

The DNC's core (`dnc.DNC`: a controller that sees the input and the last
read words, an output layer on the controller output and the new read
words) around SAM's memory access (`sparse_access.SparseMemoryAccess`):
K-sparse content reads and writes to the slots just read or to the least
recently accessed one, in O(K W) a step apart from the top-K search.
`SDNC` adds the DNC's sparse temporal links and read modes
(`sparse_access.SparseTemporalMemoryAccess`).

  core = dnc.SAM(
    dict(memory_size=64, word_size=8, num_reads=2, sparse_reads=4),
    dict(hidden_size=32),
    output_size=5,
  )
  outputs, state = snt.dynamic_unroll(core, inputs, core.initial_state(b))
"""

from collections.abc import Mapping
from typing import Any

import sonnet as snt

from dnc import dnc
from dnc import sparse_access


class SAM(dnc.DNC):
  """SAM as a Sonnet RNN core (Rae et al., NeurIPS 2016).

  Everything but the memory is `dnc.DNC`'s: the controller (any Sonnet RNN
  core; by default an LSTM built from `controller_config`), the clipping,
  the output layer, the `DNCState(access_output, access_state,
  controller_state)` whose `access_state` is here a
  `sparse_access.SparseAccessState`. Works with `snt.dynamic_unroll`
  (time-major), eagerly, inside `tf.function` and under XLA.
  """

  # The module name when none is given (the SDNC's is 'sdnc').
  default_name = 'sam'

  def __init__(
    self,
    access_config: Mapping[str, Any],
    controller_config: Mapping[str, Any] | None = None,
    output_size: int | None = None,
    clip_value: float | None = None,
    name: str | None = None,
    *,
    controller: snt.RNNCore | None = None,
    fast_kernels: bool = False,
  ):
    """Constructs a SAM core.

    Args:
      access_config: keyword arguments of `sparse_access.SparseMemoryAccess`
        (`memory_size`, `word_size`, `num_reads`, `sparse_reads`,
        `access_threshold`).
      controller_config: keyword arguments of the default LSTM controller,
        as `dnc.DNC`'s (`hidden_size` required; `dtype=tf.float64` runs the
        core in float64). Leave it out when passing `controller`.
      output_size: size of the output at each step.
      clip_value: if positive, the controller output, its state and the
        core output are clipped to `[-clip_value, clip_value]`.
      name: module name (default `default_name`: 'sam', the SDNC's 'sdnc').
      controller: a Sonnet RNN core to use instead of the LSTM (see
        `dnc.DNC`).
      fast_kernels: `dnc.DNC`'s switch: `dnc.kernels.matmul` for the
        products by weights (the LSTM's, the interface's, the output's);
        the sparse access has no other kernel.
    """
    super().__init__(
      access_config,
      controller_config,
      output_size=output_size,
      clip_value=clip_value,
      name=name or self.default_name,
      controller=controller,
      fast_kernels=fast_kernels,
    )

  def _make_access(
    self, access_config: Mapping[str, Any], fast_kernels: bool
  ) -> snt.RNNCore:
    """The `sparse_access.SparseMemoryAccess` of `access_config`."""
    return sparse_access.SparseMemoryAccess(
      **access_config, fast_kernels=fast_kernels
    )


class SDNC(SAM):
  """The Sparse DNC (Rae et al., NeurIPS 2016): SAM with temporal links.

  `SAM`'s core around `sparse_access.SparseTemporalMemoryAccess`: SAM's
  sparse reads and writes, the DNC's sparse link matrix, and read heads
  that mix content, forward and backward reads by their read modes.
  `access_config` also takes `link_sparsity` (K_L, 8 by default).
  """

  default_name = 'sdnc'

  def _make_access(
    self, access_config: Mapping[str, Any], fast_kernels: bool
  ) -> snt.RNNCore:
    """The `sparse_access.SparseTemporalMemoryAccess` of `access_config`."""
    return sparse_access.SparseTemporalMemoryAccess(
      **access_config, fast_kernels=fast_kernels
    )
