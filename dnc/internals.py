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

Of `dnc.SAM` and `dnc.SDNC` (sparse access), the weightings come out dense
(`[B, R, N]`, `[B, 1, N]`), as the DNC's, so that the same pictures draw
them; in place of the usage, `last_access` (U_t, the step of each slot's
last non-negligible access) and `recency` (U_t / t: 1 for a slot accessed
this step, 0 for one never accessed); the gates `write_gate` and
`interpolation_gate` `[B, 1]`, `write_vectors` `[B, 1, W]` and the read keys
and strengths (and the SDNC's `read_mode` `[B, R, 3]` and `precedence_weights`).
"""

from typing import Any

import sonnet as snt
import tensorflow as tf

from dnc import dnc
from dnc import sparse_access
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
    if isinstance(
      access_state,
      (
        sparse_access.SparseAccessState,
        sparse_access.SparseTemporalAccessState,
      ),
    ):
      internals = _sparse_internals(access_state, interface)
      internals['read_words'] = state.access_output
      self._add_large(internals, access_state)
      return (output, internals), state
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
    self._add_large(internals, access_state)
    return (output, internals), state

  def _add_large(self, internals: dict[str, Any], access_state: Any) -> None:
    """The memory and the link, if asked for (and the core has a link)."""
    if self._include_memory:
      internals['memory'] = access_state.memory
    linkage = getattr(access_state, 'linkage', None)
    if self._include_link and linkage is not None:
      link = linkage.link
      if isinstance(link, sparse_link.SparseLink):  # Drawn as a matrix.
        link = sparse_link.to_dense(link)
      internals['link'] = link

  def initial_state(
    self, batch_size: int | tf.Tensor, dtype: tf.DType | None = None
  ) -> dnc.DNCState:
    """The wrapped core's initial state (`dtype`: as for `DNC`)."""
    return self._core.initial_state(batch_size, dtype)

  @property
  def state_size(self) -> dnc.DNCState:
    return self._core.state_size


def _sparse_internals(
  access_state: Any, interface: dict[str, tf.Tensor]
) -> dict[str, Any]:
  """A SAM or SDNC step's internals, its weightings dense (see the module)."""
  memory_size = access_state.memory.shape[1]
  time = tf.cast(access_state.time, access_state.usage.dtype)  # t, [B]
  internals: dict[str, Any] = {
    'read_weights': sparse_access.to_dense(
      access_state.read_weights, memory_size
    ),  # [B, R, N]
    'write_weights': sparse_access.to_dense(
      access_state.write_weights, memory_size
    )[:, None],  # [B, 1, N]
    'last_access': access_state.usage,  # U_t, [B, N]
    'recency': access_state.usage / tf.maximum(time, 1)[:, None],
    'read_content_keys': interface['read_content_keys'],
    'read_content_strengths': interface['read_content_strengths'],
    'write_vectors': interface['write_vector'][:, None],
    'write_gate': interface['write_gate'][:, None],
    'interpolation_gate': interface['interpolation_gate'][:, None],
  }
  if 'read_mode' in interface:  # The SDNC's.
    internals['read_mode'] = interface['read_mode']
    internals['precedence_weights'] = access_state.linkage.precedence_weights
  return internals
