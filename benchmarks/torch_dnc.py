"""A PyTorch port of the DNC, the baseline that benchmarks compare against.

This is not part of the `dnc` package and nothing in `dnc` imports it. It is
a plain, faithful PyTorch implementation of the same architecture (the
reference DNC step: an LSTM controller, one linear layer per interface piece,
usage, sort-based allocation, erase and write, temporal links, directional
reads and read modes, an output linear), written the straightforward way a
PyTorch user would, so that timings of the TensorFlow library can be set
against its strongest peer. PyTorch is an optional extra: install it to use
this module (`pip install torch`); the library and its tests run without it.

Parameters are kept in Sonnet's layout (`w` is `[in, out]`) under names that
map one to one onto the TensorFlow variable names (`dnc/lstm/w_i`,
`dnc/memory_access/<piece>/w`, ...), so `TorchDNC.load_sonnet_weights` takes
the weights of a `dnc.DNC` and the two compute the same function
(tests/torch_dnc_test.py checks outputs, final state and gradients against a
float64 fixture).

Shapes use T (time), B (batch_size), N (memory_size), W (word_size),
R (num_reads), Wr (num_writes) and H (hidden_size).

`repeat_copy_batch` and `masked_sigmoid_cross_entropy` are the task in
torch; `make_train_step` and `make_forward_step` build zero-argument steps
(eager or `torch.compile`d) to time; `main` times them (median milliseconds
per training step):

  python -m benchmarks.torch_dnc --config=C1
  python -m benchmarks.torch_dnc --config=C3 --blocks=3 --wait_quiet=300

Set TORCHINDUCTOR_FORCE_DISABLE_CACHES=1 to time a cold compile (torch
otherwise reuses compiled kernels from earlier runs).
"""

import argparse
from collections.abc import Callable
from collections.abc import Mapping
import math
import os
import statistics
import time
from typing import Any
from typing import NamedTuple

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

# Keeps norms, divisions and the allocation's products away from zero.
_EPSILON = 1e-6


class TemporalLinkageState(NamedTuple):
  link: torch.Tensor  # [B, Wr, N, N]
  precedence_weights: torch.Tensor  # [B, Wr, N]


class AccessState(NamedTuple):
  memory: torch.Tensor  # [B, N, W]
  read_weights: torch.Tensor  # [B, R, N]
  write_weights: torch.Tensor  # [B, Wr, N]
  linkage: TemporalLinkageState
  usage: torch.Tensor  # [B, N]


class LSTMState(NamedTuple):
  hidden: torch.Tensor  # [B, H]
  cell: torch.Tensor  # [B, H]


class DNCState(NamedTuple):
  access_output: torch.Tensor  # [B, R, W]
  access_state: AccessState
  controller_state: LSTMState


def _truncated_normal_(w: torch.Tensor, stddev: float) -> torch.Tensor:
  # Sonnet's default initialiser: a normal truncated at two deviations.
  return nn.init.trunc_normal_(w, std=stddev, a=-2 * stddev, b=2 * stddev)


class Linear(nn.Module):
  """`y = x @ w + b` with `w` `[in, out]` (Sonnet's layout and initialiser)."""

  def __init__(self, input_size: int, output_size: int, dtype: torch.dtype):
    super().__init__()
    self.w = nn.Parameter(torch.empty(input_size, output_size, dtype=dtype))
    self.b = nn.Parameter(torch.zeros(output_size, dtype=dtype))
    with torch.no_grad():
      _truncated_normal_(self.w, 1 / math.sqrt(input_size))

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    """`[B, in] -> [B, out]`."""
    return torch.addmm(self.b, x, self.w)


class LSTM(nn.Module):
  """Sonnet 2's `snt.LSTM`: gates i, f, g, o; forget bias folded into `b`."""

  def __init__(
    self,
    input_size: int,
    hidden_size: int,
    dtype: torch.dtype,
    forget_bias: float = 1.0,
  ):
    super().__init__()
    self.hidden_size = hidden_size
    self.w_i = nn.Parameter(
      torch.empty(input_size, 4 * hidden_size, dtype=dtype)
    )
    self.w_h = nn.Parameter(
      torch.empty(hidden_size, 4 * hidden_size, dtype=dtype)
    )
    self.b = nn.Parameter(torch.zeros(4 * hidden_size, dtype=dtype))
    with torch.no_grad():
      _truncated_normal_(self.w_i, 1 / math.sqrt(input_size))
      _truncated_normal_(self.w_h, 1 / math.sqrt(hidden_size))
      self.b[hidden_size : 2 * hidden_size] = forget_bias

  def forward(
    self, x: torch.Tensor, prev_state: LSTMState
  ) -> tuple[torch.Tensor, LSTMState]:
    """`x [B, in]` -> `(h [B, H], LSTMState(h, c))`."""
    gates = torch.addmm(self.b, x, self.w_i) + prev_state.hidden @ self.w_h
    i, f, g, o = torch.chunk(gates, 4, dim=1)
    cell = torch.sigmoid(f) * prev_state.cell + torch.sigmoid(i) * torch.tanh(g)
    hidden = torch.sigmoid(o) * torch.tanh(cell)
    return hidden, LSTMState(hidden, cell)


def _vector_norms(m: torch.Tensor) -> torch.Tensor:
  """`[..., W] -> [..., 1]`, `sqrt(sum(m * m) + eps)`."""
  return torch.sqrt(torch.sum(m * m, dim=-1, keepdim=True) + _EPSILON)


def cosine_weights(
  memory: torch.Tensor, keys: torch.Tensor, strengths: torch.Tensor
) -> torch.Tensor:
  """Content addressing.

  Args:
    memory: `[B, N, W]`.
    keys: `[B, H, W]` (H heads).
    strengths: `[B, H]`, before softplus.

  Returns:
    `[B, H, N]`, rows summing to 1.
  """
  dot = keys @ memory.transpose(1, 2)  # [B, H, N]
  norm = _vector_norms(keys) @ _vector_norms(memory).transpose(1, 2)
  similarity = dot / (norm + _EPSILON)
  return torch.softmax(similarity * F.softplus(strengths)[..., None], dim=-1)


def allocation(usage: torch.Tensor) -> torch.Tensor:
  """Allocation weights of one write head: `[B, N] -> [B, N]`.

  With `u = eps + (1 - eps) * usage`, sort locations by ascending usage
  (stable: ties go to the lower index),
  `a[sorted k] = (1 - u[sorted k]) * prod_{m<k} u[sorted m]`, scatter back.

  The order is taken from the raw usage, as the TensorFlow library does: the
  transform is increasing, so it is the same order, except that usages closer
  than the transform's rounding (e.g. 1e-36 and 0 next to eps = 1e-6, which
  a second write head meets after the first one allocated) stay ordered by
  value instead of becoming index-ordered ties.
  """
  indices = torch.sort(usage, dim=1, stable=True).indices
  usage = _EPSILON + (1 - _EPSILON) * usage
  sorted_usage = torch.gather(usage, 1, indices)
  prefix = torch.cumprod(sorted_usage, dim=1)
  exclusive_prefix = torch.cat(
    [torch.ones_like(prefix[:, :1]), prefix[:, :-1]], dim=1
  )
  sorted_allocation = (1 - sorted_usage) * exclusive_prefix
  return torch.zeros_like(usage).scatter(1, indices, sorted_allocation)


class TorchDNC(nn.Module):
  """The DNC core (LSTM controller + memory access) as a `torch.nn.Module`.

  Submodules and parameters are named after the Sonnet modules: `lstm`
  (`w_i [in, 4H]`, `w_h [H, 4H]`, `b [4H]`), `memory_access.<piece>` (`w`,
  `b`) and `output_linear` (`w`, `b`); `sonnet_parameters()` gives them under
  the TensorFlow variable names.
  """

  def __init__(
    self,
    input_size: int,
    output_size: int,
    memory_size: int = 16,
    word_size: int = 16,
    num_reads: int = 4,
    num_writes: int = 1,
    hidden_size: int = 64,
    clip_value: float = 20,
    dtype: torch.dtype = torch.float32,
  ):
    """Builds the core.

    Args:
      input_size: size of each step's input.
      output_size: size of each step's output.
      memory_size: N.
      word_size: W.
      num_reads: R.
      num_writes: Wr.
      hidden_size: H, the LSTM's size.
      clip_value: if positive, the controller output and state and the core
        output are clipped to `[-clip_value, clip_value]`.
      dtype: dtype of the parameters (and of the inputs it expects).
    """
    super().__init__()
    self.input_size = input_size
    self.output_size = output_size
    self.memory_size = memory_size
    self.word_size = word_size
    self.num_reads = num_reads
    self.num_writes = num_writes
    self.hidden_size = hidden_size
    self.clip_value = clip_value or 0
    self.dtype = dtype

    r, wr, w = num_reads, num_writes, word_size
    self._shapes = {
      'write_vectors': (wr, w),
      'erase_vectors': (wr, w),
      'free_gate': (r, None),
      'allocation_gate': (wr, None),
      'write_gate': (wr, None),
      'read_mode': (r, 1 + 2 * wr),
      'write_keys': (wr, w),
      'write_strengths': (wr, None),
      'read_keys': (r, w),
      'read_strengths': (r, None),
    }
    self.lstm = LSTM(input_size + r * w, hidden_size, dtype)
    self.memory_access = nn.ModuleDict(
      {
        piece: Linear(hidden_size, rows * (columns or 1), dtype)
        for piece, (rows, columns) in self._shapes.items()
      }
    )
    self.output_linear = Linear(hidden_size + r * w, output_size, dtype)

  # Weights in TensorFlow's names.

  def sonnet_parameters(self) -> dict[str, nn.Parameter]:
    """`{'dnc/lstm/w_i': parameter, ...}` under the TensorFlow names."""
    return {
      'dnc/' + name.replace('.', '/'): parameter
      for name, parameter in self.named_parameters()
    }

  def load_sonnet_weights(self, weights: Mapping[str, Any]) -> None:
    """Copies in the variables of a Sonnet `DNC` named `dnc`.

    Args:
      weights: `{variable name: array}` with every name of
        `sonnet_parameters()` (extra keys are ignored); arrays (numpy or
        tensors) of the same shapes, Sonnet layout.
    """
    parameters = self.sonnet_parameters()
    missing = sorted(set(parameters) - set(weights))
    if missing:
      raise KeyError(f'Missing weights: {missing}.')
    with torch.no_grad():
      for name, parameter in parameters.items():
        value = weights[name]
        if isinstance(value, torch.Tensor):
          value = value.detach().cpu()
        else:
          value = torch.as_tensor(np.asarray(value))
        if tuple(value.shape) != tuple(parameter.shape):
          raise ValueError(
            f'{name}: expected shape {tuple(parameter.shape)}, got '
            f'{tuple(value.shape)}.'
          )
        parameter.copy_(value.to(parameter.dtype))

  # The recurrence.

  def initial_state(self, batch_size: int) -> DNCState:
    """All-zero `DNCState` for `batch_size`."""
    b, n, w = batch_size, self.memory_size, self.word_size
    r, wr, h = self.num_reads, self.num_writes, self.hidden_size
    device = self.output_linear.w.device

    def zeros(*shape):
      return torch.zeros(shape, dtype=self.dtype, device=device)

    return DNCState(
      access_output=zeros(b, r, w),
      access_state=AccessState(
        memory=zeros(b, n, w),
        read_weights=zeros(b, r, n),
        write_weights=zeros(b, wr, n),
        linkage=TemporalLinkageState(zeros(b, wr, n, n), zeros(b, wr, n)),
        usage=zeros(b, n),
      ),
      controller_state=LSTMState(zeros(b, h), zeros(b, h)),
    )

  def _clip(self, x: torch.Tensor) -> torch.Tensor:
    if self.clip_value > 0:
      return torch.clamp(x, -self.clip_value, self.clip_value)
    return x

  def _interface(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
    """Controller output `[B, H]` -> the interface pieces."""
    pieces = {}
    for piece, (rows, columns) in self._shapes.items():
      value = self.memory_access[piece](h)
      if columns is not None:
        value = value.reshape(-1, rows, columns)
      pieces[piece] = value
    for piece in (
      'erase_vectors',
      'free_gate',
      'allocation_gate',
      'write_gate',
    ):
      pieces[piece] = torch.sigmoid(pieces[piece])
    pieces['read_mode'] = torch.softmax(pieces['read_mode'], dim=-1)
    return pieces

  def _access(
    self, h: torch.Tensor, prev: AccessState
  ) -> tuple[torch.Tensor, AccessState]:
    """One memory step: `h [B, H]` -> `(read words [B, R, W], AccessState)`."""
    x = self._interface(h)
    wr = self.num_writes

    # 1. Usage, from last step's writes (no gradient) and this step's frees.
    prev_write = prev.write_weights.detach()
    usage = prev.usage + (1 - prev.usage) * (
      1 - torch.prod(1 - prev_write, dim=1)
    )
    usage = usage * torch.prod(
      1 - x['free_gate'][..., None] * prev.read_weights, dim=1
    )

    # 2. Write weights: allocation per head in turn, mixed with content.
    content_write = cosine_weights(
      prev.memory, x['write_keys'], x['write_strengths']
    )
    allocation_gate = x['allocation_gate']  # [B, Wr]
    write_gate = x['write_gate']
    allocations = []
    allocation_usage = usage
    for i in range(wr):
      allocations.append(allocation(allocation_usage))
      allocation_usage = (
        allocation_usage
        + (1 - allocation_usage)
        * (allocation_gate[:, i : i + 1] * write_gate[:, i : i + 1])
        * allocations[i]
      )
    allocation_weights = torch.stack(allocations, dim=1)  # [B, Wr, N]
    write_weights = write_gate[..., None] * (
      allocation_gate[..., None] * allocation_weights
      + (1 - allocation_gate[..., None]) * content_write
    )

    # 3. Erase, then write.
    erase = torch.prod(
      1 - write_weights[..., None] * x['erase_vectors'][:, :, None, :], dim=1
    )  # [B, N, W]
    memory = (
      prev.memory * erase + write_weights.transpose(1, 2) @ x['write_vectors']
    )

    # 4. Temporal links and precedence, per write head.
    w_i = write_weights[..., :, None]  # [B, Wr, N, 1]
    w_j = write_weights[..., None, :]  # [B, Wr, 1, N]
    p_j = prev.linkage.precedence_weights[..., None, :]
    link = (1 - w_i - w_j) * prev.linkage.link + w_i * p_j
    eye = torch.eye(self.memory_size, dtype=link.dtype, device=link.device)
    link = link * (1 - eye)
    precedence = (
      1 - write_weights.sum(dim=2, keepdim=True)
    ) * prev.linkage.precedence_weights + write_weights

    # 5. Read weights: content, forwards and backwards along the links.
    content_read = cosine_weights(memory, x['read_keys'], x['read_strengths'])
    prev_read = prev.read_weights[:, None]  # [B, 1, R, N]
    forward = (prev_read @ link.transpose(2, 3)).transpose(1, 2)  # [B,R,Wr,N]
    backward = (prev_read @ link).transpose(1, 2)
    mode = x['read_mode']  # [B, R, 1 + 2 Wr]: backward, forward, content
    read_weights = (
      mode[:, :, 2 * wr, None] * content_read
      + torch.sum(mode[:, :, wr : 2 * wr, None] * forward, dim=2)
      + torch.sum(mode[:, :, :wr, None] * backward, dim=2)
    )

    # 6. Read words.
    read_words = read_weights @ memory  # [B, R, W]
    return read_words, AccessState(
      memory=memory,
      read_weights=read_weights,
      write_weights=write_weights,
      linkage=TemporalLinkageState(link, precedence),
      usage=usage,
    )

  def step(
    self, inputs: torch.Tensor, prev_state: DNCState
  ) -> tuple[torch.Tensor, DNCState]:
    """One DNC step: `inputs [B, input_size]` -> `(output [B, out], state)`."""
    batch_size = inputs.shape[0]
    controller_input = torch.cat(
      [inputs, prev_state.access_output.reshape(batch_size, -1)], dim=1
    )
    h, (hidden, cell) = self.lstm(controller_input, prev_state.controller_state)
    h = self._clip(h)
    controller_state = LSTMState(self._clip(hidden), self._clip(cell))
    read_words, access_state = self._access(h, prev_state.access_state)
    output = self.output_linear(
      torch.cat([h, read_words.reshape(batch_size, -1)], dim=1)
    )
    return self._clip(output), DNCState(
      read_words, access_state, controller_state
    )

  def unroll(
    self, inputs: torch.Tensor, initial_state: DNCState | None = None
  ) -> tuple[torch.Tensor, DNCState]:
    """Runs the core over time (a Python loop).

    Args:
      inputs: `[T, B, input_size]`, time-major.
      initial_state: defaults to `initial_state(B)` (all zeros).

    Returns:
      outputs `[T, B, output_size]` and the final `DNCState`.
    """
    state = initial_state
    if state is None:
      state = self.initial_state(inputs.shape[1])
    outputs = []
    for t in range(inputs.shape[0]):
      output, state = self.step(inputs[t], state)
      outputs.append(output)
    return torch.stack(outputs), state

  def forward(self, inputs: torch.Tensor) -> torch.Tensor:
    """`[T, B, input_size] -> [T, B, output_size]`, from an all-zero state."""
    return self.unroll(inputs)[0]


# The repeat-copy task.


class Batch(NamedTuple):
  observations: torch.Tensor  # [T, B, num_bits + 2]
  target: torch.Tensor  # [T, B, num_bits + 1]
  mask: torch.Tensor  # [T, B]


def max_sequence_length(max_length: int, max_repeats: int) -> int:
  """The longest repeat-copy sequence: `max_length*(max_repeats+1)+3`."""
  return max_length * (max_repeats + 1) + 3


def repeat_copy_batch(
  batch_size: int,
  num_bits: int,
  min_length: int,
  max_length: int,
  min_repeats: int,
  max_repeats: int,
  norm_max: float = 10,
  dtype: torch.dtype = torch.float32,
) -> Batch:
  """A repeat-copy batch (reference layout), padded to `max_sequence_length`.

  Uses torch's global generator (seed it with `torch.manual_seed`), so that
  the generator can sit inside a `torch.compile`d step.

  Returns:
    `Batch`: observations `[T, B, num_bits + 2]`, target
    `[T, B, num_bits + 1]`, mask `[T, B]`, with
    `T = max_length * (max_repeats + 1) + 3`.
  """
  b = batch_size
  time_steps = max_sequence_length(max_length, max_repeats)
  n = torch.randint(min_length, max_length + 1, (1, b))  # pattern length
  k = torch.randint(min_repeats, max_repeats + 1, (1, b))  # repeats
  patterns = torch.randint(0, 2, (b, max_length, num_bits)).to(dtype)
  t = torch.arange(time_steps)[:, None]  # [T, 1]
  batch_index = torch.arange(b)[None, :]  # [1, B]
  recall_start = n + 2
  end_marker_step = n + 2 + n * k

  # The pattern step shown (t - 1) or recalled at each step, clamped or
  # wrapped into range; steps outside the pattern are masked below.
  observed = patterns[batch_index, torch.clamp(t - 1, 0, max_length - 1)]
  recalled = patterns[batch_index, torch.remainder(t - recall_start, n)]
  is_pattern = ((t >= 1) & (t <= n)).to(dtype)  # [T, B]
  is_recall = ((t >= recall_start) & (t < end_marker_step)).to(dtype)

  start_marker = (t == 0).to(dtype).expand(time_steps, b)
  repeats_channel = (t == n + 1).to(dtype) * (k.to(dtype) / norm_max)
  observations = torch.cat(
    [
      observed * is_pattern[..., None],
      start_marker[..., None],
      repeats_channel[..., None],
    ],
    dim=2,
  )
  end_marker = (t == end_marker_step).to(dtype)
  target = torch.cat(
    [recalled * is_recall[..., None], end_marker[..., None]], dim=2
  )
  mask = ((t >= recall_start) & (t <= end_marker_step)).to(dtype)
  return Batch(observations, target, mask)


def masked_sigmoid_cross_entropy(
  logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
  """Masked xent summed over time and bits, summed over the batch / B.

  Args:
    logits: `[T, B, C]`.
    target: `[T, B, C]`.
    mask: `[T, B]`.

  Returns:
    Scalar loss (nats).
  """
  xent = F.binary_cross_entropy_with_logits(logits, target, reduction='none')
  return torch.sum(xent.sum(dim=2) * mask) / logits.shape[1]


# Training and inference steps for timing.

CONFIGS = {
  # train.py's defaults.
  'C1': dict(
    batch_size=16,
    num_bits=4,
    min_length=1,
    max_length=2,
    min_repeats=1,
    max_repeats=2,
    memory_size=16,
    word_size=16,
    num_reads=4,
    num_writes=1,
    hidden_size=64,
    clip_value=20,
  ),
  # A larger model on longer sequences.
  'C3': dict(
    batch_size=16,
    num_bits=8,
    min_length=4,
    max_length=8,
    min_repeats=1,
    max_repeats=3,
    memory_size=128,
    word_size=32,
    num_reads=4,
    num_writes=1,
    hidden_size=256,
    clip_value=20,
  ),
}

_MAX_GRAD_NORM = 50
_LEARNING_RATE = 1e-4
_OPTIMIZER_EPSILON = 1e-10


def build_model(config: Mapping[str, Any]) -> TorchDNC:
  """A float32 `TorchDNC` for the repeat-copy task of `config`."""
  return TorchDNC(
    input_size=config['num_bits'] + 2,
    output_size=config['num_bits'] + 1,
    memory_size=config['memory_size'],
    word_size=config['word_size'],
    num_reads=config['num_reads'],
    num_writes=config['num_writes'],
    hidden_size=config['hidden_size'],
    clip_value=config['clip_value'],
  )


def _batch_fn(config: Mapping[str, Any]) -> Callable[[], Batch]:
  def batch() -> Batch:
    return repeat_copy_batch(
      config['batch_size'],
      config['num_bits'],
      config['min_length'],
      config['max_length'],
      config['min_repeats'],
      config['max_repeats'],
    )

  return batch


class _Step:
  """A zero-argument step; `model` and (for training) `optimizer` exposed."""

  def __init__(self, fn, model, optimizer=None):
    self._fn = fn
    self.model = model
    self.optimizer = optimizer

  def __call__(self) -> torch.Tensor:
    return self._fn()


def make_train_step(
  config: Mapping[str, Any], compile: bool = False
) -> Callable[[], torch.Tensor]:
  """One full training step of train.py's recipe, as a zero-argument call.

  Batch generation, unroll, loss, backward, global-norm clipping at 50 and an
  RMSprop update (lr 1e-4, decay 0.9, eps 1e-10, no momentum; torch adds eps
  outside the square root).

  With `compile=True` (default mode), two functions are `torch.compile`d:
  batch generation + unroll + loss (one graph over the unrolled time loop;
  AOTAutograd compiles its backward too), and gradient clipping + the
  RMSprop update (one fused graph). `loss.backward()` and `zero_grad` stay
  eager between them. Of the variants measured on 2 CPU cores this was the
  fastest: compiling only the loss (eager clipping and update) or only
  `TorchDNC.step` (compiled once, reused at every time step: much quicker to
  compile) ran slower; the whole step in one graph needs compiled autograd.
  The first call compiles (minutes at the larger sizes); the second
  recompiles nothing.

  Args:
    config: keys of `CONFIGS` entries (task and model sizes).
    compile: use `torch.compile`.

  Returns:
    A callable returning the step's loss (a scalar tensor), with `.model`
    and `.optimizer` attributes.
  """
  model = build_model(config)
  optimizer = torch.optim.RMSprop(
    model.parameters(),
    lr=_LEARNING_RATE,
    alpha=0.9,
    eps=_OPTIMIZER_EPSILON,
    momentum=0,
  )
  batch = _batch_fn(config)
  parameters = list(model.parameters())

  def loss_fn() -> torch.Tensor:
    observations, target, mask = batch()
    return masked_sigmoid_cross_entropy(model(observations), target, mask)

  def clip_and_update() -> None:
    nn.utils.clip_grad_norm_(parameters, _MAX_GRAD_NORM, foreach=True)
    optimizer.step()

  if compile:
    loss_fn = torch.compile(loss_fn)
    clip_and_update = torch.compile(clip_and_update)

  def train_step() -> torch.Tensor:
    loss = loss_fn()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    clip_and_update()
    return loss.detach()

  return _Step(train_step, model, optimizer)


def make_forward_step(
  config: Mapping[str, Any], compile: bool = False
) -> Callable[[], torch.Tensor]:
  """Inference only: batch, unroll and loss under `torch.no_grad()`.

  Args:
    config: as for `make_train_step`.
    compile: `torch.compile` the step (default mode).

  Returns:
    A zero-argument callable returning the loss, with a `.model` attribute.
  """
  model = build_model(config)
  batch = _batch_fn(config)

  def forward_step() -> torch.Tensor:
    observations, target, mask = batch()
    return masked_sigmoid_cross_entropy(model(observations), target, mask)

  if compile:
    forward_step = torch.compile(forward_step)

  def step() -> torch.Tensor:
    with torch.no_grad():
      return forward_step()

  return _Step(step, model)


# The benchmark.


def _busy_cpu_seconds() -> float | None:
  """CPU seconds all processes have used (Linux /proc/stat), else None."""
  try:
    with open('/proc/stat') as f:
      fields = f.readline().split()[1:]
  except OSError:
    return None
  # user nice system idle iowait irq softirq steal ...: all but idle, iowait.
  busy = sum(int(x) for i, x in enumerate(fields[:8]) if i not in (3, 4))
  return busy / os.sysconf('SC_CLK_TCK')


def _time_steps(
  step: Callable[[], torch.Tensor], steps: int
) -> tuple[list[float], float | None]:
  """Times `steps` calls: (ms of each, CPU cores used by other processes)."""
  times = []
  busy, own = _busy_cpu_seconds(), time.process_time()
  start_all = time.perf_counter()
  for _ in range(steps):
    start = time.perf_counter()
    step().item()
    times.append((time.perf_counter() - start) * 1000)
  wall = time.perf_counter() - start_all
  end_busy = _busy_cpu_seconds()
  if busy is None or end_busy is None:
    return times, None
  others = (end_busy - busy) - (time.process_time() - own)
  return times, max(others, 0.0) / wall


def _wait_for_quiet(timeout: float, threshold: float = 0.1) -> None:
  """Waits (up to `timeout` s) until other processes use < `threshold` cores
  over a 2 s probe; returns at once where /proc/stat is unavailable."""
  deadline = time.perf_counter() + timeout
  while time.perf_counter() < deadline:
    busy, own = _busy_cpu_seconds(), time.process_time()
    if busy is None:
      return
    time.sleep(2)
    others = _busy_cpu_seconds() - busy - (time.process_time() - own)
    if others / 2 < threshold:
      return


def main(argv: list[str] | None = None) -> None:
  """Prints median ms per step, eager and/or compiled, for one config.

  Each block of `--steps` timed steps gets a line, with the CPU cores that
  other processes used meanwhile ("others"): with 2 cores and 2 threads,
  anything above about 0.1 makes the numbers unreliable (torch's threads
  wait for each other at every op). `--blocks` repeats the timing on the
  same (already compiled) step; `--wait_quiet` waits for an idle machine
  before each block.
  """
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--config', choices=sorted(CONFIGS), default='C1')
  parser.add_argument(
    '--mode',
    choices=('eager', 'compiled', 'both'),
    default='both',
    help='eager, torch.compile, or both (default)',
  )
  parser.add_argument(
    '--step',
    choices=('train', 'forward'),
    default='train',
    help='a full training step (default) or inference only',
  )
  parser.add_argument(
    '--steps', type=int, default=50, help='timed steps per block'
  )
  parser.add_argument('--blocks', type=int, default=1, help='timed blocks')
  parser.add_argument(
    '--warmup', type=int, default=5, help='untimed steps, including the first'
  )
  parser.add_argument(
    '--wait_quiet',
    type=float,
    default=0,
    help='before each block, wait up to this many seconds for other '
    'processes to leave the CPU idle',
  )
  parser.add_argument('--threads', type=int, default=2)
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args(argv)

  torch.set_num_threads(args.threads)
  torch.manual_seed(args.seed)
  config = CONFIGS[args.config]
  make = make_train_step if args.step == 'train' else make_forward_step
  modes = ('eager', 'compiled') if args.mode == 'both' else (args.mode,)
  print(
    f'torch {torch.__version__}, {torch.get_num_threads()} threads, '
    f'{args.config} {args.step} step: {config}',
    flush=True,
  )
  for mode in modes:
    step = make(config, compile=mode == 'compiled')
    start = time.perf_counter()
    loss = step()
    first = time.perf_counter() - start
    if not torch.isfinite(loss):
      raise FloatingPointError(f'Non-finite loss {loss}.')
    for _ in range(args.warmup - 1):
      step()
    what = 'first call (compiles)' if mode == 'compiled' else 'first call'
    print(f'{args.config} {mode} {args.step}: {what} {first:.1f} s', flush=True)
    for _ in range(args.blocks):
      _wait_for_quiet(args.wait_quiet)
      times, others = _time_steps(step, args.steps)
      quartiles = statistics.quantiles(times, n=4)
      others = 'n/a' if others is None else f'{others:.2f}'
      print(
        f'{args.config} {mode:8s} {args.step}: median '
        f'{statistics.median(times):.1f} ms/step (quartiles '
        f'{quartiles[0]:.1f}-{quartiles[2]:.1f}, min {min(times):.1f}, '
        f'{len(times)} steps; others {others} cores)',
        flush=True,
      )


if __name__ == '__main__':
  main()
