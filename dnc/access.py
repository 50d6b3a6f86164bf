"""The DNC's memory and its read and write heads (MemoryAccess).

Each step follows the paper's order: usage, write weights, erase and write,
temporal links, read weights, read words. The equations of writing and
reading are plain functions here (`write_weights`, `erase_and_write`,
`read_weights`, `read_words`); those of addressing are in
`dnc.addressing`. `MemoryAccess` owns the interface layers and the state
and calls them, through the speed kernels of `dnc.kernels` where it is
built with `fast_kernels=True` (the same values).

Three options from Csordás and Schmidhuber (ICLR 2019), all off by default
(the DNC of Graves et al.): `content_masking`, `deallocate_content` and
`link_sharpness` (see `MemoryAccess.__init__`). Each adds its own interface
layer only when on, so the default module's variables are unchanged. Their
DNC-MD is the first two.

Shapes use B (batch_size), N (memory_size), W (word_size), R (num_reads) and
Wr (num_writes).
"""

import collections
from collections.abc import Mapping

import sonnet as snt
import tensorflow as tf

from dnc import addressing
from dnc import kernels
from dnc import util

AccessState = collections.namedtuple(
  'AccessState',
  ('memory', 'read_weights', 'write_weights', 'linkage', 'usage'),
)


def write_weights(
  content_weights: tf.Tensor,
  allocation_weights: tf.Tensor,
  allocation_gate: tf.Tensor,
  write_gate: tf.Tensor,
) -> tf.Tensor:
  """w_t^w = g_t^w (g_t^a a_t + (1 - g_t^a) c_t^w).

  Args:
    content_weights: `[batch_size, num_writes, memory_size]`, c_t^w.
    allocation_weights: `[batch_size, num_writes, memory_size]`, a_t.
    allocation_gate: `[batch_size, num_writes]`, g_t^a, in [0, 1].
    write_gate: `[batch_size, num_writes]`, g_t^w, in [0, 1].

  Returns:
    `[batch_size, num_writes, memory_size]`, w_t^w.
  """
  allocation_gate = tf.expand_dims(allocation_gate, -1)
  write_gate = tf.expand_dims(write_gate, -1)
  return write_gate * (
    allocation_gate * allocation_weights
    + (1 - allocation_gate) * content_weights
  )


def erase_and_write(
  memory: tf.Tensor,
  address: tf.Tensor,
  reset_weights: tf.Tensor,
  values: tf.Tensor,
) -> tf.Tensor:
  """Erases, then adds, at the addressed locations:

    M_t = M_{t-1} * prod_i (E - w_t^{w,i} e_t^{i T}) + sum_i w_t^{w,i} v_t^{i T}


  Args:
    memory: `[batch_size, memory_size, word_size]`, M_{t-1}.
    address: `[batch_size, num_writes, memory_size]`, w_t^w.
    reset_weights: `[batch_size, num_writes, word_size]`, e_t, in [0, 1].
    values: `[batch_size, num_writes, word_size]`, v_t.

  Returns:
    `[batch_size, memory_size, word_size]`, M_t.
  """
  weighted_resets = tf.expand_dims(address, 3) * tf.expand_dims(
    reset_weights, 2
  )  # [B, Wr, N, W]
  reset_gate = util.reduce_prod(1 - weighted_resets, 1)
  return memory * reset_gate + tf.matmul(address, values, adjoint_a=True)


_erase_and_write = erase_and_write  # The reference's name.


def read_weights(
  read_mode: tf.Tensor,
  content_weights: tf.Tensor,
  forward_weights: tf.Tensor,
  backward_weights: tf.Tensor,
) -> tf.Tensor:
  """w_t^r = pi_t[b] b_t + pi_t[c] c_t^r + pi_t[f] f_t, for each read head.

  With several write heads, each has its own backward and forward mode.

  Args:
    read_mode: `[batch_size, num_reads, 1 + 2 num_writes]`, pi_t, laid out
      as num_writes backward, num_writes forward, then content.
    content_weights: `[batch_size, num_reads, memory_size]`, c_t^r.
    forward_weights: `[batch_size, num_reads, num_writes, memory_size]`, f_t.
    backward_weights: the same shape, b_t.

  Returns:
    `[batch_size, num_reads, memory_size]`, w_t^r.
  """
  num_writes = forward_weights.shape[2]
  backward_mode = tf.expand_dims(read_mode[:, :, :num_writes], 3)
  forward_mode = tf.expand_dims(read_mode[:, :, num_writes : 2 * num_writes], 3)
  content_mode = tf.expand_dims(read_mode[:, :, 2 * num_writes], 2)
  return (
    content_mode * content_weights
    + tf.reduce_sum(forward_mode * forward_weights, 2)
    + tf.reduce_sum(backward_mode * backward_weights, 2)
  )


def read_words(read_weights: tf.Tensor, memory: tf.Tensor) -> tf.Tensor:
  """r_t = M_t^T w_t^r for each read head.

  Args:
    read_weights: `[batch_size, num_reads, memory_size]`, w_t^r.
    memory: `[batch_size, memory_size, word_size]`, M_t.

  Returns:
    `[batch_size, num_reads, word_size]`, r_t.
  """
  return tf.matmul(read_weights, memory)


class MemoryAccess(snt.RNNCore):
  """Reads from and writes to an external memory, addressed by content,
  by free space (for writes) and by the order of past writes (for reads).

  Each step takes the controller's output, turns it into the interface
  vector (keys, strengths, gates, read modes, write and erase vectors) with
  one linear layer per piece, then updates usage, writes, updates the
  temporal links and reads.
  """

  def __init__(
    self,
    memory_size: int = 128,
    word_size: int = 20,
    num_reads: int = 1,
    num_writes: int = 1,
    name: str = 'memory_access',
    fast_kernels: bool = False,
    content_masking: bool = False,
    deallocate_content: bool = False,
    link_sharpness: bool = False,
    link_sparsity: int = 0,
  ):
    """Constructs a memory access module.

    The last three arguments are the changes to the memory of Csordás and
    Schmidhuber (2019), independent of each other (their DNC-MD is the
    first two).

    Args:
      memory_size: number of memory locations, N.
      word_size: size of each memory word, W.
      num_reads: number of read heads, R.
      num_writes: number of write heads, Wr.
      name: module name.
      fast_kernels: whether to run the speed kernels of `dnc.kernels` (the
        same values; hand-written gradients that pay off under XLA) instead
        of TensorFlow's gradients of the plain functions.
      content_masking: masked content lookup. Every read and write head
        also emits a mask s over the word (a sigmoid, from the layers
        `read_masks` `[R, W]` and `write_masks` `[Wr, W]`), and looks up
        C(M, k, beta, s) = softmax(beta D(k * s, M * 1 s^T)): only the
        masked part of the key and of each memory word is compared (see
        `addressing.CosineWeights`).
      deallocate_content: the memory forgets what is freed: before writing,
        each row is scaled by the retention psi_t = prod_i (1 - f_t^i
        w_{t-1}^{r,i}) that already scales its usage, M_t = (M_{t-1} *
        psi_t 1^T) * (E - w_t^w e_t^T) + w_t^w v_t^T (`Freeness.retention`).
        No new variables. The write's content lookup still reads M_{t-1}.
      link_sharpness: each read head sharpens its forward and backward
        weightings, f_t = S(L_t w_{t-1}^r, s^f), b_t = S(L_t^T w_{t-1}^r,
        s^b), S(d, s)[i] = d[i]^s / sum_j d[j]^s, with s = 1 + softplus of
        the layer `link_sharpness` `[R, 2 Wr]` (one exponent per write
        head's link and direction, laid out backward then forward as the
        read modes; see `addressing.sharpen_link_weights`).
      link_sparsity: K > 0 keeps the link matrix sparse, at most K entries
        per row (the paper's Methods, "Sparse link matrix"; K = 8 is its
        suggestion), and allocates through a sort, so that no part of the
        step grows as N^2 (`addressing.TemporalLinkage(sparsity=K)`,
        `addressing.sorted_allocation`); 0 (default) is the dense link.
    """
    super().__init__(name=name)
    util.check_positive_int(memory_size, 'memory_size')
    util.check_positive_int(word_size, 'word_size')
    util.check_positive_int(num_reads, 'num_reads')
    util.check_positive_int(num_writes, 'num_writes')
    for option, value in (
      ('fast_kernels', fast_kernels),
      ('content_masking', content_masking),
      ('deallocate_content', deallocate_content),
      ('link_sharpness', link_sharpness),
    ):
      util.check_bool(value, option)
    if (
      isinstance(link_sparsity, bool)
      or not isinstance(link_sparsity, int)
      or not 0 <= link_sparsity <= memory_size
    ):
      raise ValueError(
        f'`link_sparsity` must be an integer in [0, memory_size = '
        f'{memory_size}] (0: the dense link), got {link_sparsity!r}.'
      )
    self._content_masking = content_masking
    self._deallocate_content = deallocate_content
    self._link_sharpness = link_sharpness
    self._matmul = kernels.matmul if fast_kernels else util.matmul
    self._memory_size = memory_size
    self._word_size = word_size
    self._num_reads = num_reads
    self._num_writes = num_writes

    self._write_content_weights_mod = addressing.CosineWeights(
      num_writes, word_size, name='write_content_weights'
    )
    self._read_content_weights_mod = addressing.CosineWeights(
      num_reads, word_size, name='read_content_weights'
    )
    self._linkage = addressing.TemporalLinkage(
      memory_size, num_writes, fast_kernels=fast_kernels, sparsity=link_sparsity
    )
    self._freeness = addressing.Freeness(
      memory_size, fast_kernels=fast_kernels, sort=link_sparsity > 0
    )

    # One linear layer per interface piece: (name, rows, columns). Each
    # output is reshaped to [B, rows, columns], or [B, rows] without columns.
    num_read_modes = 1 + 2 * num_writes
    self._interface_shapes = {
      'write_vectors': (num_writes, word_size),
      'erase_vectors': (num_writes, word_size),
      'free_gate': (num_reads, None),
      'allocation_gate': (num_writes, None),
      'write_gate': (num_writes, None),
      'read_mode': (num_reads, num_read_modes),
      'write_keys': (num_writes, word_size),
      'write_strengths': (num_writes, None),
      'read_keys': (num_reads, word_size),
      'read_strengths': (num_reads, None),
    }
    # The options' pieces come last and only when on, so that the default
    # module has the reference's layers and checkpoint keys.
    if content_masking:
      self._interface_shapes['read_masks'] = (num_reads, word_size)
      self._interface_shapes['write_masks'] = (num_writes, word_size)
    if link_sharpness:
      self._interface_shapes['link_sharpness'] = (num_reads, 2 * num_writes)
    self._interface_linears = {
      piece: snt.Linear(rows * (columns or 1), name=piece)
      for piece, (rows, columns) in self._interface_shapes.items()
    }

  @tf.autograph.experimental.do_not_convert
  def __call__(
    self, inputs: tf.Tensor, prev_state: AccessState
  ) -> tuple[tf.Tensor, AccessState]:
    """Runs one step of memory access.

    Args:
      inputs: `[batch_size, input_size]`, the controller output.
      prev_state: `AccessState` of the previous step (see `state_size`).

    Returns:
      read_words: `[batch_size, num_reads, word_size]`, r_t.
      next_state: `AccessState`.
    """
    read_words, next_state, _ = self.call_with_interface(inputs, prev_state)
    return read_words, next_state

  @tf.autograph.experimental.do_not_convert
  def call_with_interface(
    self, inputs: tf.Tensor, prev_state: AccessState
  ) -> tuple[tf.Tensor, AccessState, dict[str, tf.Tensor]]:
    """`__call__`, also returning the interface vector it read from `inputs`.

    Args:
      inputs: `[batch_size, input_size]`, the controller output h_t.
      prev_state: `AccessState` of the previous step.

    Returns:
      read_words: `[batch_size, num_reads, word_size]`, r_t.
      next_state: `AccessState`.
      interface: the dict of `_read_inputs` (gates, modes, keys...).
    """
    util.check_shape(inputs, [None, None], 'inputs')
    self._check_state(prev_state, inputs.shape[0])
    interface = self._read_inputs(inputs)

    usage = self._freeness(
      write_weights=prev_state.write_weights,
      free_gate=interface['free_gate'],
      read_weights=prev_state.read_weights,
      prev_usage=prev_state.usage,
    )  # u_t
    write_weights = self._write_weights(interface, prev_state.memory, usage)
    memory = prev_state.memory
    if self._deallocate_content:
      retention = self._freeness.retention(
        interface['free_gate'], prev_state.read_weights
      )  # psi_t
      memory = memory * tf.expand_dims(retention, 2)
    memory = erase_and_write(
      memory,
      address=write_weights,
      reset_weights=interface['erase_vectors'],
      values=interface['write_vectors'],
    )  # M_t
    linkage_state, forward_weights, backward_weights = (
      self._linkage.update_and_read(
        write_weights, prev_state.linkage, prev_state.read_weights
      )
    )  # L_t, f_t, b_t
    read_weights = self._mix_read_weights(
      interface, memory, forward_weights, backward_weights
    )
    next_state = AccessState(
      memory=memory,
      read_weights=read_weights,
      write_weights=write_weights,
      linkage=linkage_state,
      usage=usage,
    )
    return read_words(read_weights, memory), next_state, interface

  def _read_inputs(self, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
    """Splits the controller output into the interface vector.

    Args:
      inputs: `[batch_size, input_size]`.

    Returns:
      A dict of tensors:
        read_content_keys `[B, R, W]`, read_content_strengths `[B, R]`,
        write_content_keys `[B, Wr, W]`, write_content_strengths `[B, Wr]`,
        write_vectors `[B, Wr, W]`, erase_vectors `[B, Wr, W]` (sigmoid),
        free_gate `[B, R]`, allocation_gate `[B, Wr]`, write_gate `[B, Wr]`
        (sigmoid), read_mode `[B, R, 1 + 2 Wr]` (softmax over the modes,
        laid out as Wr backward, Wr forward, 1 content); with
        `content_masking`, read_content_masks `[B, R, W]` and
        write_content_masks `[B, Wr, W]` (sigmoid, s); with
        `link_sharpness`, backward_sharpness and forward_sharpness
        `[B, R, Wr]` (1 + softplus, s^b and s^f).
    """
    linears = list(self._interface_linears.values())
    flat_pieces = tf.split(
      util.linear(linears, inputs, self._matmul),
      [linear.output_size for linear in linears],
      axis=1,
    )
    pieces = {}
    for (piece, (rows, columns)), value in zip(
      self._interface_shapes.items(), flat_pieces, strict=True
    ):
      if columns is not None:
        value = tf.reshape(value, [-1, rows, columns])
      pieces[piece] = value
    interface = {
      'read_content_keys': pieces['read_keys'],
      'read_content_strengths': pieces['read_strengths'],
      'write_content_keys': pieces['write_keys'],
      'write_content_strengths': pieces['write_strengths'],
      'write_vectors': pieces['write_vectors'],
      'erase_vectors': tf.sigmoid(pieces['erase_vectors']),
      'free_gate': tf.sigmoid(pieces['free_gate']),
      'allocation_gate': tf.sigmoid(pieces['allocation_gate']),
      'write_gate': tf.sigmoid(pieces['write_gate']),
      'read_mode': tf.nn.softmax(pieces['read_mode'], axis=-1),
    }
    if self._content_masking:
      interface['read_content_masks'] = tf.sigmoid(pieces['read_masks'])
      interface['write_content_masks'] = tf.sigmoid(pieces['write_masks'])
    if self._link_sharpness:
      # oneplus, as the paper's exponents are at least 1: sharper, never
      # flatter, than the link read itself.
      sharpness = 1 + tf.nn.softplus(pieces['link_sharpness'])
      wr = self._num_writes
      interface['backward_sharpness'] = sharpness[:, :, :wr]
      interface['forward_sharpness'] = sharpness[:, :, wr:]
    return interface

  def _write_weights(
    self,
    inputs: Mapping[str, tf.Tensor],
    memory: tf.Tensor,
    usage: tf.Tensor,
  ) -> tf.Tensor:
    """Write weights: an allocation/content mix, gated.

    Args:
      inputs: dict with `write_content_keys`, `write_content_strengths`,
        `allocation_gate` and `write_gate` (tensors or numpy arrays), and
        `write_content_masks` with `content_masking`.
      memory: `[batch_size, memory_size, word_size]`, M_{t-1}.
      usage: `[batch_size, memory_size]`, u_t.

    Returns:
      `[batch_size, num_writes, memory_size]`, w_t^w.
    """
    memory = tf.convert_to_tensor(memory)
    dtype = memory.dtype
    usage = tf.convert_to_tensor(usage, dtype)
    keys = tf.convert_to_tensor(inputs['write_content_keys'], dtype)
    strengths = tf.convert_to_tensor(inputs['write_content_strengths'], dtype)
    allocation_gate = tf.convert_to_tensor(inputs['allocation_gate'], dtype)
    write_gate = tf.convert_to_tensor(inputs['write_gate'], dtype)

    masks = None
    if self._content_masking:
      masks = tf.convert_to_tensor(inputs['write_content_masks'], dtype)
    content_weights = self._write_content_weights_mod(
      memory, keys, strengths, masks
    )  # c_t^w
    allocation_weights = self._freeness.write_allocation_weights(
      usage=usage,
      write_gates=allocation_gate * write_gate,
      num_writes=self._num_writes,
    )  # a_t
    return write_weights(
      content_weights, allocation_weights, allocation_gate, write_gate
    )

  def _read_weights(
    self,
    inputs: Mapping[str, tf.Tensor],
    memory: tf.Tensor,
    prev_read_weights: tf.Tensor,
    link: tf.Tensor,
  ) -> tf.Tensor:
    """Read weights from the link itself (the reference's entry point).

    Args:
      inputs: as `_mix_read_weights`'s.
      memory: `[batch_size, memory_size, word_size]`, M_t.
      prev_read_weights: `[batch_size, num_reads, memory_size]`, w_{t-1}^r.
      link: `[batch_size, num_writes, memory_size, memory_size]`, L_t.

    Returns:
      `[batch_size, num_reads, memory_size]`, w_t^r.
    """
    memory = tf.convert_to_tensor(memory)
    prev_read_weights = tf.convert_to_tensor(prev_read_weights, memory.dtype)
    link = tf.convert_to_tensor(link, memory.dtype)
    forward_weights, backward_weights = (
      self._linkage.directional_read_weights(link, prev_read_weights, forward)
      for forward in (True, False)
    )  # f_t, b_t: [B, R, Wr, N]
    return self._mix_read_weights(
      inputs, memory, forward_weights, backward_weights
    )

  def _mix_read_weights(
    self,
    inputs: Mapping[str, tf.Tensor],
    memory: tf.Tensor,
    forward_weights: tf.Tensor,
    backward_weights: tf.Tensor,
  ) -> tf.Tensor:
    """Read weights: content lookup and link-following, mixed by read mode.

    Args:
      inputs: dict with `read_content_keys`, `read_content_strengths` and
        `read_mode` (tensors or numpy arrays), and the options' entries
        (`read_content_masks`, `forward_sharpness`, `backward_sharpness`).
      memory: `[batch_size, memory_size, word_size]`, M_t.
      forward_weights: `[batch_size, num_reads, num_writes, memory_size]`,
        f_t = L_t w_{t-1}^r.
      backward_weights: the same shape, b_t = L_t^T w_{t-1}^r.

    Returns:
      `[batch_size, num_reads, memory_size]`, w_t^r.
    """
    memory = tf.convert_to_tensor(memory)
    dtype = memory.dtype
    keys = tf.convert_to_tensor(inputs['read_content_keys'], dtype)
    strengths = tf.convert_to_tensor(inputs['read_content_strengths'], dtype)
    read_mode = tf.convert_to_tensor(inputs['read_mode'], dtype)  # pi_t
    util.check_shape(
      read_mode,
      [None, self._num_reads, 1 + 2 * self._num_writes],
      "inputs['read_mode']",
    )
    masks = None
    if self._content_masking:
      masks = tf.convert_to_tensor(inputs['read_content_masks'], dtype)
    content_weights = self._read_content_weights_mod(
      memory, keys, strengths, masks
    )  # c_t^r
    if self._link_sharpness:
      forward_weights = addressing.sharpen_link_weights(
        forward_weights, inputs['forward_sharpness']
      )
      backward_weights = addressing.sharpen_link_weights(
        backward_weights, inputs['backward_sharpness']
      )
    return read_weights(
      read_mode, content_weights, forward_weights, backward_weights
    )

  def _check_state(self, state: AccessState, batch_size: int | None) -> None:
    """Raises unless `state` is an `AccessState` of this module's sizes."""
    n, w = self._memory_size, self._word_size
    r, wr = self._num_reads, self._num_writes
    if not isinstance(state, AccessState):
      raise TypeError(
        f'`prev_state` must be an AccessState, got {type(state).__name__}.'
      )
    util.check_shape(state.memory, [batch_size, n, w], 'prev_state.memory')
    util.check_shape(
      state.read_weights, [batch_size, r, n], 'prev_state.read_weights'
    )
    util.check_shape(
      state.write_weights, [batch_size, wr, n], 'prev_state.write_weights'
    )
    self._linkage.check_link(
      state.linkage.link, batch_size, 'prev_state.linkage.link'
    )
    util.check_shape(
      state.linkage.precedence_weights,
      [batch_size, wr, n],
      'prev_state.linkage.precedence_weights',
    )
    util.check_shape(state.usage, [batch_size, n], 'prev_state.usage')

  @property
  def state_size(self) -> AccessState:
    """Shapes of the state without the batch: M `[N, W]`, w^r `[R, N]`,
    w^w `[Wr, N]`, L `[Wr, N, N]` (sparse: `[Wr, N, K]` indices and
    values), p `[Wr, N]`, u `[N]`."""
    n, w = self._memory_size, self._word_size
    return AccessState(
      memory=tf.TensorShape([n, w]),
      read_weights=tf.TensorShape([self._num_reads, n]),
      write_weights=tf.TensorShape([self._num_writes, n]),
      linkage=self._linkage.state_size,
      usage=self._freeness.state_size,
    )

  @property
  def output_size(self) -> tf.TensorShape:
    """The read words r_t without the batch: `[num_reads, word_size]`."""
    return tf.TensorShape([self._num_reads, self._word_size])

  def initial_state(
    self, batch_size: int | tf.Tensor, dtype: tf.DType = tf.float32
  ) -> AccessState:
    """All-zero `AccessState` for `batch_size` (int or scalar tensor)."""
    return util.zero_state(self.state_size, batch_size, dtype)
