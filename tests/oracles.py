"""Numpy oracles of the paper's equations and the test modes, shared by tests.

The oracles are written from the paper (Graves et al. 2016, Methods) and the
reference code's conventions (epsilon, softplus strengths, ties to the lower
index), with loops where that reads more plainly than vectorised numpy. The
memory options of Csordás and Schmidhuber (ICLR 2019; masked lookup,
de-allocation of contents, link sharpness) are written from that paper.
"""

import numpy as np
import tensorflow as tf

MODES = ('eager', 'function', 'xla')
# The reference's ten interface layers of `MemoryAccess`, in its order.
INTERFACE_LAYERS = (
  'write_vectors',
  'erase_vectors',
  'free_gate',
  'allocation_gate',
  'write_gate',
  'read_mode',
  'write_keys',
  'write_strengths',
  'read_keys',
  'read_strengths',
)
EPS = 1e-6


def in_mode(fn, mode):
  """Returns `fn` run eagerly, in tf.function, or compiled with XLA."""
  if mode == 'eager':
    return fn
  return tf.function(fn, jit_compile=mode == 'xla', autograph=False)


def np_softplus(x):
  return np.log1p(np.exp(x))


def np_sigmoid(x):
  return 1 / (1 + np.exp(-x))


def np_softmax(x):
  e = np.exp(x - x.max(axis=-1, keepdims=True))
  return e / e.sum(axis=-1, keepdims=True)


def np_cosine_weights(memory, keys, strengths):
  """C(M, k, beta) with norm(v) = sqrt(sum v^2 + eps) and softplus(beta)."""
  key_norm = np.sqrt((keys * keys).sum(-1) + EPS)  # [B, H]
  row_norm = np.sqrt((memory * memory).sum(-1) + EPS)  # [B, N]
  dot = np.einsum('bhw,bnw->bhn', keys, memory)
  similarity = dot / (key_norm[:, :, None] * row_norm[:, None, :] + EPS)
  return np_softmax(similarity * np_softplus(strengths)[..., None])


def np_masked_cosine_weights(memory, keys, strengths, masks):
  """C(M, k, beta, s) = softmax(beta D(k * s, M * 1 s^T)), head by head.

  Args:
    memory: `[B, N, W]`; keys and masks: `[B, H, W]`; strengths: `[B, H]`.

  Returns:
    `[B, H, N]`.
  """
  weights = np.zeros(keys.shape[:2] + memory.shape[1:2])
  for b in range(keys.shape[0]):
    for h in range(keys.shape[1]):
      mask = masks[b, h]
      weights[b, h] = np_cosine_weights(
        memory[b : b + 1] * mask,  # Every row masked: M * 1 s^T.
        (keys[b, h] * mask)[None, None],
        strengths[b : b + 1, h : h + 1],
      )[0, 0]
  return weights


def np_sharpen(weights, sharpness):
  """S(d, s)[i] = (d[i] + eps)^s / sum_j (d[j] + eps)^s, one row at a time.

  Args:
    weights: `[..., N]`, non-negative; sharpness: `[...]`.
  """
  sharpened = np.zeros_like(weights)
  for index in np.ndindex(*weights.shape[:-1]):
    powers = (weights[index] + EPS) ** sharpness[index]
    sharpened[index] = powers / powers.sum()
  return sharpened


def np_allocation(usage):
  """The reference's allocation by a stable sort: ties in index order.

  Args:
    usage: `[batch_size, memory_size]`.

  Returns:
    `[batch_size, memory_size]`, computed in the dtype of `usage`.
  """
  usage = EPS + (1 - EPS) * usage
  allocation = np.zeros_like(usage)
  for b in range(usage.shape[0]):
    prefix = 1.0
    for k in np.argsort(usage[b], kind='stable'):
      allocation[b, k] = (1 - usage[b, k]) * prefix
      prefix *= usage[b, k]
  return allocation


def np_write_allocation_weights(usage, write_gates):
  """Each head allocates in turn, seeing the previous heads' allocations."""
  usage = usage.copy()
  weights = []
  for i in range(write_gates.shape[1]):
    weights.append(np_allocation(usage))
    usage = usage + (1 - usage) * write_gates[:, i, None] * weights[-1]
  return np.stack(weights, axis=1)


def np_link(prev_link, prev_precedence, write_weights):
  """L_t[i, j] = (1 - w_i - w_j) L_{t-1}[i, j] + w_i p_j, zero diagonal."""
  link = np.zeros_like(prev_link)
  batch_size, num_writes, memory_size = write_weights.shape
  for b in range(batch_size):
    for w in range(num_writes):
      ww, p = write_weights[b, w], prev_precedence[b, w]
      for i in range(memory_size):
        for j in range(memory_size):
          if i != j:
            decay = 1 - ww[i] - ww[j]
            link[b, w, i, j] = decay * prev_link[b, w, i, j] + ww[i] * p[j]
  return link


def np_top_k_normalised(weights, k):
  """The K largest entries (ties to the lower index) over their sum, dense."""
  sparse = np.zeros_like(weights)
  for index in np.ndindex(*weights.shape[:-1]):
    row = weights[index]
    top = np.argsort(-row, kind='stable')[:k]
    sparse[index][top] = row[top] / max(row[top].sum(), EPS)
  return sparse


def np_sparse_link(prev_link, prev_precedence, write_weights, k):
  """The Methods' sparse link update on a dense matrix: `np_link` of the
  K-sparse, renormalised w and p, then entries below 1/K set to zero."""
  link = np_link(
    prev_link,
    np_top_k_normalised(prev_precedence, k),
    np_top_k_normalised(write_weights, k),
  )
  link[link < 1 / k] = 0
  return link


def np_precedence(prev_precedence, write_weights):
  write_sum = write_weights.sum(-1, keepdims=True)
  return (1 - write_sum) * prev_precedence + write_weights


def np_write_weights(interface, memory, usage, content_masking=False):
  """w_t^w of every write head, allocating in turn, from M_{t-1} and u_t."""
  alloc_gate = interface['allocation_gate']
  write_gate = interface['write_gate']
  keys = interface['write_content_keys']
  strengths = interface['write_content_strengths']
  if content_masking:
    masks = interface['write_content_masks']
    content = np_masked_cosine_weights(memory, keys, strengths, masks)
  else:
    content = np_cosine_weights(memory, keys, strengths)
  allocation = np_write_allocation_weights(usage, alloc_gate * write_gate)
  return write_gate[..., None] * (
    alloc_gate[..., None] * allocation + (1 - alloc_gate[..., None]) * content
  )


def np_read_weights(
  interface,
  memory,
  prev_read_weights,
  link,
  content_masking=False,
  link_sharpness=False,
):
  """w_t^r of every read head: read modes over content and the links."""
  mode = interface['read_mode']
  num_writes = link.shape[1]
  keys = interface['read_content_keys']
  strengths = interface['read_content_strengths']
  if content_masking:
    masks = interface['read_content_masks']
    content = np_masked_cosine_weights(memory, keys, strengths, masks)
  else:
    content = np_cosine_weights(memory, keys, strengths)
  weights = mode[:, :, 2 * num_writes, None] * content
  for b in range(memory.shape[0]):
    for r in range(mode.shape[1]):
      for i in range(num_writes):
        forward = prev_read_weights[b, r] @ link[b, i].T
        backward = prev_read_weights[b, r] @ link[b, i]
        if link_sharpness:
          forward = np_sharpen(forward, interface['forward_sharpness'][b, r, i])
          backward = np_sharpen(
            backward, interface['backward_sharpness'][b, r, i]
          )
        weights[b, r] += mode[b, r, num_writes + i] * forward
        weights[b, r] += mode[b, r, i] * backward
  return weights


def np_access_step(
  interface,
  prev,
  content_masking=False,
  deallocate_content=False,
  link_sharpness=False,
):
  """One memory access step, on numpy arrays.

  Args:
    interface: the dict of `MemoryAccess._read_inputs`, as numpy arrays.
    prev: the previous state as a dict of numpy arrays (`memory`,
      `read_weights`, `write_weights`, `link`, `precedence_weights`,
      `usage`; see `random_access_state`).
    content_masking, deallocate_content, link_sharpness: the options of
      Csordás and Schmidhuber (2019).

  Returns:
    (read_words `[B, R, W]`, the next state as a dict like `prev`).
  """
  # 1. Usage from the previous writes, then frees (psi_t).
  not_written = np.prod(1 - prev['write_weights'], axis=1)
  usage = prev['usage'] + (1 - prev['usage']) * (1 - not_written)
  retention = np.ones_like(usage)
  for j in range(prev['read_weights'].shape[1]):
    retention *= (
      1 - interface['free_gate'][:, j, None] * prev['read_weights'][:, j]
    )
  usage = usage * retention
  # 2. Write weights, looked up in M_{t-1}.
  write_weights = np_write_weights(
    interface, prev['memory'], usage, content_masking
  )
  # 3. De-allocation of contents: each row scaled by psi_t; erase, then write.
  memory = prev['memory'].copy()
  if deallocate_content:
    memory *= retention[:, :, None]
  erase = interface['erase_vectors']
  for i in range(write_weights.shape[1]):
    memory *= 1 - write_weights[:, i, :, None] * erase[:, i, None, :]
  memory += np.einsum('bin,biw->bnw', write_weights, interface['write_vectors'])
  # 4. Temporal links and precedence, per write head.
  link = np_link(prev['link'], prev['precedence_weights'], write_weights)
  precedence = np_precedence(prev['precedence_weights'], write_weights)
  # 5. Read weights on the new memory; 6. read words.
  read_weights = np_read_weights(
    interface,
    memory,
    prev['read_weights'],
    link,
    content_masking,
    link_sharpness,
  )
  read_words = np.einsum('brn,bnw->brw', read_weights, memory)
  return read_words, {
    'memory': memory,
    'read_weights': read_weights,
    'write_weights': write_weights,
    'link': link,
    'precedence_weights': precedence,
    'usage': usage,
  }


def random_access_state(rng, batch_size, memory_size, word_size, reads, writes):
  """A nonzero previous state (dict of numpy arrays), so every term of a
  step matters."""
  link = random_write_weights(
    rng, (batch_size, writes, memory_size, memory_size)
  )
  link *= 1 - np.eye(memory_size)
  return {
    'memory': rng.randn(batch_size, memory_size, word_size),
    'read_weights': random_write_weights(rng, (batch_size, reads, memory_size)),
    'write_weights': random_write_weights(
      rng, (batch_size, writes, memory_size)
    ),
    'link': link / memory_size,
    'precedence_weights': random_write_weights(
      rng, (batch_size, writes, memory_size)
    ),
    'usage': rng.uniform(size=(batch_size, memory_size)),
  }


def to_access_state(state, dtype):
  """The `AccessState` of a dict like `random_access_state`'s, in `dtype`."""
  from dnc import access  # The oracles above need no part of the package.
  from dnc import addressing

  c = lambda x: tf.constant(x, dtype)
  return access.AccessState(
    memory=c(state['memory']),
    read_weights=c(state['read_weights']),
    write_weights=c(state['write_weights']),
    linkage=addressing.TemporalLinkageState(
      link=c(state['link']),
      precedence_weights=c(state['precedence_weights']),
    ),
    usage=c(state['usage']),
  )


def np_lstm_step(x, h, c, w_i, w_h, b):
  """One step of an LSTM with gates laid out (i, f, g, o), as snt.LSTM's.

  Returns:
    (h_t, c_t).
  """
  i, f, g, o = np.split(x @ w_i + h @ w_h + b, 4, axis=-1)
  c = np_sigmoid(f) * c + np_sigmoid(i) * np.tanh(g)
  return np_sigmoid(o) * np.tanh(c), c


def np_layer_norm(a, gain, bias, eps=1e-6):
  """gain (a - mean) / sqrt(var + eps) + bias over each row, by loops."""
  out = np.zeros_like(a)
  for row in range(a.shape[0]):
    mean = sum(a[row]) / a.shape[1]
    var = sum((v - mean) ** 2 for v in a[row]) / a.shape[1]
    out[row] = (a[row] - mean) / np.sqrt(var + eps)
  return gain * out + bias


def np_layer_norm_lstm_step(x, h, c, w_i, w_h, b, gains, biases):
  """One step of the ADNC's layer-normalised LSTM (Franke et al. 2018).

  Args:
    x, h, c: `[B, I]`, `[B, H]`, `[B, H]`.
    w_i, w_h, b: `[I, 4H]`, `[H, 4H]`, `[4H]`, gates laid out (i, f, g, o).
    gains, biases: `(gamma_a [4H], gamma_c [H])`, `(beta_a, beta_c)`.

  Returns:
    (h_t, c_t): h_t = o tanh(LN(c_t)), with the gates LN(W [x; h]) + b.
  """
  pre = np_layer_norm(x @ w_i + h @ w_h, gains[0], biases[0]) + b
  i, f, g, o = np.split(pre, 4, axis=-1)
  c = np_sigmoid(f) * c + np_sigmoid(i) * np.tanh(g)
  normalised = np_layer_norm(c, gains[1], biases[1])
  return np_sigmoid(o) * np.tanh(normalised), c


def random_write_weights(rng, shape):
  """Nonnegative weights whose rows sum to a random total in [0, 1]."""
  weights = rng.exponential(size=shape)
  weights /= weights.sum(-1, keepdims=True)
  return weights * rng.uniform(size=shape[:-1] + (1,))


def random_usage_without_ties(rng, batch_size, memory_size):
  """Usages about 1 / (memory_size + 1) apart, so finite differences keep
  the sort order."""
  usage = np.stack(
    [rng.permutation(memory_size) for _ in range(batch_size)]
  ) / (memory_size + 1.0)
  return 0.05 + usage + rng.uniform(0, 0.05 / (memory_size + 1), usage.shape)


def final_fields(state):
  """The fixture's `final/<field>` names mapped to a DNCState's tensors."""
  access_state = state.access_state
  return {
    'access_output': state.access_output,
    'memory': access_state.memory,
    'read_weights': access_state.read_weights,
    'write_weights': access_state.write_weights,
    'link': access_state.linkage.link,
    'precedence_weights': access_state.linkage.precedence_weights,
    'usage': access_state.usage,
    'controller_hidden': state.controller_state.hidden,
    'controller_cell': state.controller_state.cell,
  }


def _slot_permutation(expected_memory, actual_memory):
  """perm[i]: the slot of `actual_memory` ([N, W]) matching slot i of
  `expected_memory`, pairing the closest rows first."""
  distances = np.linalg.norm(
    expected_memory[:, None] - actual_memory[None], axis=-1
  )
  perm = {}
  for flat in np.argsort(distances, axis=None):
    i, j = np.unravel_index(flat, distances.shape)
    if i not in perm and j not in perm.values():
      perm[i] = j
  return np.array([perm[i] for i in range(len(perm))])


def relabel_slots(fields, expected_memory):
  """Reorders the memory slots of `final_fields` to match `expected_memory`.

  In float32, usages that differ by less than rounding (e.g. by eps^2 after
  the first write) tie, and which equally free slot the allocation picks then
  depends on rounding order (float64 vs float32, XLA's fusion vs eager). The
  DNC is symmetric under relabelling memory slots, so outputs agree exactly
  and the state agrees once slots are matched up.

  Args:
    fields: dict of `final_fields` (tensors or arrays, batch first).
    expected_memory: `[batch_size, memory_size, word_size]`.

  Returns:
    dict of numpy arrays, slots reordered per batch element.
  """
  fields = {k: np.array(v) for k, v in fields.items()}
  out = {k: v.copy() for k, v in fields.items()}
  for b in range(expected_memory.shape[0]):
    perm = _slot_permutation(expected_memory[b], fields['memory'][b])
    out['memory'][b] = fields['memory'][b][perm]
    out['usage'][b] = fields['usage'][b][perm]
    for key in ('read_weights', 'write_weights', 'precedence_weights'):
      out[key][b] = fields[key][b][:, perm]
    out['link'][b] = fields['link'][b][:, perm][:, :, perm]
  return out


def max_relative_error(actual, expected):
  scale = max(np.max(np.abs(expected)), 1e-30)
  return np.max(np.abs(np.asarray(actual) - expected)) / scale


def fixture_core(fixture, config, dtype, **kwargs):
  """The fixture's DNC with its weights loaded.

  Args:
    fixture: the loaded `dnc_fixture_small.npz`.
    config: its decoded `config`.
    dtype: the dtype to build and run it in.
    **kwargs: more `dnc.DNC` arguments (e.g. `fast_kernels`).

  Returns:
    (core, names, variables): the core, the sorted variable names of the
    fixture, and a dict from those names to the core's variables.
  """
  from dnc import dnc  # The oracles above need no part of the package.

  core = dnc.DNC(
    access_config=dict(
      memory_size=config['memory_size'],
      word_size=config['word_size'],
      num_reads=config['num_reads'],
      num_writes=config['num_writes'],
    ),
    controller_config=dict(hidden_size=config['hidden_size'], dtype=dtype),
    output_size=config['output_size'],
    clip_value=config['clip_value'],
    **kwargs,
  )
  inputs = tf.constant(fixture['inputs'], dtype)
  core(inputs[0], core.initial_state(config['batch_size']))  # Builds it.
  variables = {v.name[: -len(':0')]: v for v in core.trainable_variables}
  names = sorted(k[len('weights/') :] for k in fixture if 'weights/' in k)
  for name in names:
    variables[name].assign(fixture['weights/' + name])
  return core, names, variables


# Sparse Access Memory (Rae et al., NeurIPS 2016), on dense numpy arrays:
# every weighting an N-vector, the top K found by a stable sort.


def np_cosine_similarity(memory, keys):
  """D(k, M[i]) with the DNC's epsilons: `[B, H, N]` of `[B, N, W]` M and
  `[B, H, W]` keys."""
  key_norm = np.sqrt((keys * keys).sum(-1) + EPS)
  row_norm = np.sqrt((memory * memory).sum(-1) + EPS)
  dot = np.einsum('bhw,bnw->bhn', keys, memory)
  return dot / (key_norm[:, :, None] * row_norm[:, None, :] + EPS)


def np_sparse_read_weights(memory, keys, strengths, k):
  """w^R: softmax(softplus(beta) D) over each head's K most similar slots
  (ties to the lower slot), 0 elsewhere. `[B, R, N]`."""
  similarity = np_cosine_similarity(memory, keys)
  weights = np.zeros_like(similarity)
  for index in np.ndindex(*similarity.shape[:2]):
    top = np.argsort(-similarity[index], kind='stable')[:k]
    weights[index][top] = np_softmax(
      np_softplus(strengths[index]) * similarity[index][top]
    )
  return weights


def py_least_recently_used(usage):
  """The first slot of smallest U in each row, by a plain loop."""
  slots = []
  for row in usage:
    best = 0
    for i, value in enumerate(row):
      if value < row[best]:
        best = i
    slots.append(best)
  return slots


def py_update_last_access(usage, time, write_weights, read_weights, delta):
  """U_t(i) = t where w^W(i) > delta or some head's w^R(i) > delta, by loops.

  Args:
    usage: `[B, N]`; time: `[B]`; write_weights: dense `[B, N]`;
    read_weights: dense `[B, R, N]`.
  """
  usage = np.array(usage, dtype=np.float64)
  for b in range(usage.shape[0]):
    for i in range(usage.shape[1]):
      read = any(head[i] > delta for head in read_weights[b])
      if write_weights[b][i] > delta or read:
        usage[b, i] = time[b]
  return usage


def np_sam_write(interface, prev):
  """SAM's write: I^U, w^W (dense `[B, N]`) and M_t, from the paper.

  Args:
    interface: as `np_sam_step`'s; prev: as `np_sam_step`'s.

  Returns:
    (write_weights `[B, N]`, memory `[B, N, W]`).
  """
  memory = prev['memory'].copy()
  alpha = interface['write_gate']
  gamma = interface['interpolation_gate']
  least_used = py_least_recently_used(prev['usage'])
  write_weights = np.zeros(prev['usage'].shape)
  for b, slot in enumerate(least_used):
    last_read = prev['read_weights'][b].mean(0)  # over the read heads
    write_weights[b] = alpha[b] * gamma[b] * last_read
    write_weights[b, slot] += alpha[b] * (1 - gamma[b])
    memory[b, slot] = 0  # (1 - R_t) M_{t-1}
    memory[b] += np.outer(write_weights[b], interface['write_vector'][b])
  return write_weights, memory


def np_sam_step(interface, prev, k, delta=0.005):
  """One step of SAM's memory access, written from the paper.

  Args:
    interface: the dict of `SparseMemoryAccess._read_inputs`, numpy arrays.
    prev: dict of `memory` `[B, N, W]`, `read_weights` dense `[B, R, N]`
      (at most K entries per head), `usage` `[B, N]` (U, the step of each
      slot's last access) and `time` `[B]`.
    k: K.
    delta: the access threshold.

  Returns:
    (read_words `[B, R, W]`, the next state as a dict like `prev` with also
    dense `write_weights` `[B, N]`).
  """
  time = prev['time'] + 1
  write_weights, memory = np_sam_write(interface, prev)
  read_weights = np_sparse_read_weights(
    memory,
    interface['read_content_keys'],
    interface['read_content_strengths'],
    k,
  )
  usage = py_update_last_access(
    prev['usage'], time, write_weights, read_weights, delta
  )
  read_words = np.einsum('brn,bnw->brw', read_weights, memory)
  return read_words, {
    'memory': memory,
    'read_weights': read_weights,
    'write_weights': write_weights,
    'usage': usage,
    'time': time,
  }


def np_top_k(weights, k):
  """The K largest entries of each row (ties to the lower index), the
  rest zero: dense, not renormalised."""
  kept = np.zeros_like(weights)
  for index in np.ndindex(*weights.shape[:-1]):
    top = np.argsort(-weights[index], kind='stable')[:k]
    kept[index][top] = weights[index][top]
  return kept


def np_sdnc_step(interface, prev, k, link_k, delta=0.005):
  """One step of the SDNC's memory access: SAM's write, the sparse link of
  the DNC's Methods, and read modes over the content reads and the K
  largest entries of the forward and backward weightings.

  Args:
    interface: `np_sam_step`'s, and `read_mode` `[B, R, 3]` (backward,
      forward, content).
    prev: `np_sam_step`'s, and a dense `link` `[B, 1, N, N]` and
      `precedence_weights` `[B, 1, N]`.
    k: K; link_k: K_L; delta: the access threshold.

  Returns:
    (read_words `[B, R, W]`, the next state as a dict like `prev`, with
    dense `write_weights` `[B, N]`).
  """
  time = prev['time'] + 1
  write_weights, memory = np_sam_write(interface, prev)
  link = np_sparse_link(
    prev['link'], prev['precedence_weights'], write_weights[:, None], link_k
  )
  precedence = np_precedence(prev['precedence_weights'], write_weights[:, None])
  last_read = prev['read_weights']
  forward = np_top_k(np.einsum('bij,brj->bri', link[:, 0], last_read), k)
  backward = np_top_k(np.einsum('bij,bri->brj', link[:, 0], last_read), k)
  content = np_sparse_read_weights(
    memory,
    interface['read_content_keys'],
    interface['read_content_strengths'],
    k,
  )
  mode = interface['read_mode']
  read_weights = (
    mode[..., 0:1] * backward
    + mode[..., 1:2] * forward
    + mode[..., 2:3] * content
  )
  usage = py_update_last_access(
    prev['usage'], time, write_weights, read_weights, delta
  )
  read_words = np.einsum('brn,bnw->brw', read_weights, memory)
  return read_words, {
    'memory': memory,
    'read_weights': read_weights,
    'write_weights': write_weights,
    'link': link,
    'precedence_weights': precedence,
    'usage': usage,
    'time': time,
  }


def random_sam_state(rng, batch_size, memory_size, word_size, reads, k):
  """A nonzero previous SAM state (dict of numpy arrays, dense weights) and
  its `read_weights` as (indices, values) `[B, R, K]`. Last access times
  are small integers, so the least recently used slot has ties."""
  indices = np.stack(
    [
      [rng.permutation(memory_size)[:k] for _ in range(reads)]
      for _ in range(batch_size)
    ]
  )
  values = np_softmax(rng.normal(size=(batch_size, reads, k)))
  dense = np.zeros((batch_size, reads, memory_size))
  for index in np.ndindex(batch_size, reads):
    dense[index][indices[index]] = values[index]
  time = rng.integers(3, 6, size=batch_size).astype(np.float64)
  state = {
    'memory': rng.normal(size=(batch_size, memory_size, word_size)),
    'read_weights': dense,
    'usage': rng.integers(0, 3, size=(batch_size, memory_size)).astype(
      np.float64
    ),
    'time': time,
  }
  return state, (indices, values)


def to_sparse_access_state(state, sparse_reads, dtype):
  """The `SparseAccessState` of `random_sam_state`'s state (dict) and read
  weights (indices, values), with an empty last write."""
  from dnc import sparse_access  # The oracles above need no package.

  c = lambda x: tf.constant(x, dtype)
  indices, values = sparse_reads
  batch_size, reads, k = values.shape
  no_write = np.zeros([batch_size, reads * k + 1])
  return sparse_access.SparseAccessState(
    memory=c(state['memory']),
    read_weights=sparse_access.SparseWeights(c(indices), c(values)),
    write_weights=sparse_access.SparseWeights(c(no_write), c(no_write)),
    usage=c(state['usage']),
    time=c(state['time']),
  )
