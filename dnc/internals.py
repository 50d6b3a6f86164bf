"""Every step's addressing, from a normal unroll of a trained `DNC`.

`WithInternals(core)` is an RNN core that runs `core` unchanged (same
variables, same state, same outputs) and also outputs, at each step, what the
memory did: the state fields and the interface values. Unrolled, each of them
gains a leading time axis:

  outputs, final_state = snt.dynamic_unroll(
      internals.WithInternals(core), inputs, core.initial_state(batch_size))
  output, steps = outputs
  steps['write_weights']  # [time, batch_size, num_writes, memory_size]
  steps['free_gate']      # [time, batch_size, num_reads]

It works eagerly and inside `tf.function` (with or without XLA), with any
controller, and the wrapped core can be used as usual alongside.
"""

from typing import Any

import sonnet as snt
import tensorflow as tf

from dnc import dnc
from dnc import sparse_link

# Fields of each step, with their shapes (B batch, N memory_size, W word_size,
# R num_reads, Wr num_writes).
STATE_FIELDS = (
  'read_weights',  # [B, R, N], w_t^r
  'write_weights',  # [B, Wr, N], w_t^w
  'usage',  # [B, N], u_t
  'precedence_weights',  # [B, Wr, N], p_t
  'read_words',  # [B, R, W], r_t
)
INTERFACE_FIELDS = (
  'read_content_keys',  # [B, R, W], k_t^r
  'read_content_strengths',  # [B, R], beta_t^r before softplus
  'write_content_keys',  # [B, Wr, W], k_t^w
  'write_content_strengths',  # [B, Wr], beta_t^w before softplus
  'write_vectors',  # [B, Wr, W], v_t
  'erase_vectors',  # [B, Wr, W], e_t
  'free_gate',  # [B, R], f_t
  'allocation_gate',  # [B, Wr], g_t^a
  'write_gate',  # [B, Wr], g_t^w
  'read_mode',  # [B, R, 1 + 2 Wr], pi_t: backward, forward, content
)
# The interface values of the memory options of Csordás and Schmidhuber
# (`dnc.access.MemoryAccess`), there when the core has the option on.
OPTION_FIELDS = (
  'read_content_masks',  # [B, R, W], s^r (content_masking)
  'write_content_masks',  # [B, Wr, W], s^w (content_masking)
  'backward_sharpness',  # [B, R, Wr], s^b (link_sharpness)
  'forward_sharpness',  # [B, R, Wr], s^f (link_sharpness)
)


class WithInternals(snt.RNNCore):
  """Runs a `DNC` and outputs `(output, internals)` at each step.

  `internals` is a dict of the `STATE_FIELDS`, the `INTERFACE_FIELDS` and
  the `OPTION_FIELDS` of the options the core has on, plus
  `memory` `[B, N, W]` and `link` `[B, Wr, N, N]` when asked for (they are
  the largest, and a long unroll keeps every step of them).
  """

  def __init__(
    self,
    core: dnc.DNC,
    include_memory: bool = True,
    include_link: bool = False,
    name: str = 'with_internals',
  ):
    """Wraps `core`.

    Args:
      core: the `DNC` to run; its variables are used, not copied.
      include_memory: also output the memory after each step.
      include_link: also output the temporal link matrix after each step.
      name: module name (it owns no variables).
    """
    super().__init__(name=name)
    if not isinstance(core, dnc.DNC):
      raise TypeError(f'`core` must be a dnc.DNC, got {type(core).__name__}.')
    self._core = core
    self._include_memory = include_memory
    self._include_link = include_link

  @tf.autograph.experimental.do_not_convert
  def __call__(
    self, inputs: tf.Tensor, prev_state: dnc.DNCState
  ) -> tuple[tuple[tf.Tensor, dict[str, tf.Tensor]], dnc.DNCState]:
    """One step of the wrapped core.

    Args:
      inputs: `[batch_size, ...]`, as for `DNC`.
      prev_state: `DNCState`.

    Returns:
      (output, internals): the core's `[batch_size, output_size]` output and
        the dict of this step's internals.
      next_state: the core's `DNCState`, unchanged.
    """
    output, state, interface = self._core.call_with_interface(
      inputs, prev_state
    )
    access_state = state.access_state
    internals: dict[str, Any] = {
      'read_weights': access_state.read_weights,
      'write_weights': access_state.write_weights,
      'usage': access_state.usage,
      'precedence_weights': access_state.linkage.precedence_weights,
      'read_words': state.access_output,
    }
    internals.update({key: interface[key] for key in INTERFACE_FIELDS})
    internals.update(
      {key: interface[key] for key in OPTION_FIELDS if key in interface}
    )
    if self._include_memory:
      internals['memory'] = access_state.memory
    if self._include_link:
      link = access_state.linkage.link
      if isinstance(link, sparse_link.SparseLink):  # Drawn as a matrix.
        link = sparse_link.to_dense(link)
      internals['link'] = link
    return (output, internals), state

  def initial_state(
    self, batch_size: int | tf.Tensor, dtype: tf.DType | None = None
  ) -> dnc.DNCState:
    """The wrapped core's initial state (`dtype`: as for `DNC`)."""
    return self._core.initial_state(batch_size, dtype)

  @property
  def state_size(self) -> dnc.DNCState:
    return self._core.state_size
