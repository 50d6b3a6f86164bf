"""Numpy oracles of the paper's equations and the test modes, shared by tests.

The oracles are written from the paper (Graves et al. 2016, Methods) and the
reference code's conventions (epsilon, softplus strengths, ties to the lower
index), with loops where that reads more plainly than vectorised numpy.
"""

import numpy as np
import tensorflow as tf

MODES = ('eager', 'function', 'xla')
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


def np_precedence(prev_precedence, write_weights):
  write_sum = write_weights.sum(-1, keepdims=True)
  return (1 - write_sum) * prev_precedence + write_weights


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
