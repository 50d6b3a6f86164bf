"""The sequence model the training scripts build around a DNC.

`dnc.DNC` is a causal step core: y_t depends on x_1..x_t only. Three
options from the bAbI literature need the whole sequence or a training
switch, so they live here, around the core, instead of in it:

- learned word embeddings (Csordás and Schmidhuber 2019; the ADNC's
  optional GloVe embedding): word ids `[T, B]` are looked up in a trained
  `[vocabulary_size, embedding_size]` matrix instead of being one-hot;
- a backward LSTM over the whole input (the BiADNC of Franke et al.
  2018): its output b_t, which has read x_t..x_T, goes beside x_t into the
  DNC, whose controller (`controllers.PassThrough`) hands it on to the
  memory interface and the output layer, as the BiADNC does;
- bypass dropout (Franke et al. 2018): dropout on the controller output on
  its way to the output layer, in training only (`controllers.training`).

bAbI allows the backward pass, as the BiADNC does, because every answer
word is replaced by a marker in the input: the model reads the rest of the
story, never the answers.

`Model(inputs, recompute_chunk_length, journal)` unrolls it all. The
dropout masks of a sequence are drawn before its unroll, from a generator
the model owns (and checkpoints), and enter each step as an input of the
core, so that
`dnc.recompute` runs a chunk again with the masks it ran with first; the
backward LSTM is unrolled (and recomputed) like the DNC. With `journal`,
a SAM or SDNC core is backpropagated through `dnc.sparse_journal`, in
chunks recomputed from its journal with `recompute_chunk_length` (the
backward LSTM as `unroll` does without the journal); bypass dropout then
is refused, as the journal reruns the bare core.
"""

import sonnet as snt
import tensorflow as tf

from dnc import controllers
from dnc import dnc
from dnc import recompute
from dnc import sam
from dnc import sparse_journal
from dnc import util


def unroll(
  core: snt.RNNCore,
  inputs: tf.Tensor,
  recompute_chunk_length: int = 0,
  journal: bool = False,
) -> tf.Tensor:
  """Outputs `[T, B, ...]` of an RNN core over inputs `[T, B, ...]`.

  Args:
    core: the RNN core, from its zero `initial_state`.
    inputs: `[T, B, input_size]`.
    recompute_chunk_length: 0 to backpropagate through the unroll as
      `snt.dynamic_unroll` does, keeping every step; K > 0 to keep only the
      state every K steps and recompute the chunks in the backward pass
      (`dnc.recompute`); -1 for K = ceil(sqrt(T)).
    journal: for a `dnc.SAM` or `dnc.SDNC` core, backpropagate through
      `dnc.sparse_journal.dynamic_unroll`: it keeps the rows each step
      writes instead of each step's memory `[B, N, W]`, and with
      `recompute_chunk_length` K (or -1) the state without the memory only
      every K steps (`journal_chunk_length`). T and B must be known when
      traced.

  Returns:
    The outputs, `[T, B, output_size]`.
  """
  if journal:
    check_journal(core)
    # A static batch size: the journal is sized by it when traced.
    initial_state = core.initial_state(inputs.shape[1])
    outputs, _ = sparse_journal.dynamic_unroll(
      core,
      inputs,
      initial_state,
      journal_chunk_length(recompute_chunk_length, inputs.shape[0]),
    )
    return outputs
  initial_state = core.initial_state(tf.shape(inputs)[1])
  if recompute_chunk_length == 0:
    outputs, _ = snt.dynamic_unroll(core, inputs, initial_state)
  else:
    chunk_length = (
      recompute_chunk_length if recompute_chunk_length > 0 else None
    )
    outputs, _ = recompute.dynamic_unroll(
      core, inputs, initial_state, chunk_length
    )
  return outputs


def journal_chunk_length(recompute_chunk_length: int, num_steps: int) -> int:
  """The `chunk_length` of `dnc.sparse_journal.dynamic_unroll` that the
  unroll's `recompute_chunk_length` asks for.

  The one flag means the same with and without the journal: 0 keeps every
  step's state (with the journal, every step's state without the memory);
  K > 0 keeps it every K steps and recomputes the chunks; -1 takes
  K = ceil(sqrt(T)).

  Args:
    recompute_chunk_length: -1, 0 or K > 0.
    num_steps: T, known when traced (`dnc.sparse_journal` refuses it
      unknown).
  """
  if (
    isinstance(recompute_chunk_length, bool)
    or not isinstance(recompute_chunk_length, int)
    or recompute_chunk_length < -1
  ):
    raise ValueError(
      '`recompute_chunk_length` must be -1, 0 or a positive int, got '
      f'{recompute_chunk_length!r}.'
    )
  if recompute_chunk_length == -1 and num_steps is not None:
    return recompute.default_chunk_length(num_steps)
  return recompute_chunk_length


def journal_refusal(
  *,
  sparse: bool,
  bypass_dropout: float = 0.0,
  step_dropout: bool = False,
  core_name: str = 'a DNC',
) -> str | None:
  """Why a model cannot be unrolled with `journal=True`, in one line; or None.

  The one place for the rules, shared by `check_journal` and the scripts'
  flag validation (`dnc.train.flags`). Recomputation
  (`recompute_chunk_length`) is no reason: with the journal it recomputes
  the state without the memory in chunks (`dnc.sparse_journal`).

  Args:
    sparse: whether the core is a SAM or an SDNC.
    bypass_dropout: the `Model`'s; the journal reruns the bare core.
    step_dropout: whether the core has dropout in its step.
    core_name: what to call a core that is not sparse.
  """
  if not sparse:
    return (
      'The sparse journal (--journal) is for SAM and the SDNC '
      f'(--memory_type=sam or sdnc), not {core_name}.'
    )
  if bypass_dropout:
    return (
      'The sparse journal (--journal) reruns the bare core: it needs '
      '--bypass_dropout=0.'
    )
  if step_dropout:
    return (
      'The sparse journal (--journal) reruns each step: it needs a core '
      'without dropout in its step (`controllers.Dropout`).'
    )
  return None


def check_journal(core: snt.RNNCore) -> None:
  """Raises ValueError unless `core` can be unrolled with `journal=True`.

  Args:
    core: an RNN core or a `Model`.
  """
  bypass_dropout = 0.0
  if isinstance(core, Model):
    bypass_dropout = core.bypass_dropout
    core = core.core
  sparse = isinstance(core, sam.SAM)
  refusal = journal_refusal(
    sparse=sparse,
    bypass_dropout=bypass_dropout,
    step_dropout=sparse
    and any(isinstance(m, controllers.Dropout) for m in core.submodules),
    core_name=f'a {type(core).__name__}',
  )
  if refusal:
    raise ValueError(refusal)


class _WithBypassMask(snt.RNNCore):
  """The DNC step on `[x_t; m_t]`: x_t its input, m_t its bypass mask.

  One input tensor, because `dnc.recompute` unrolls tensors.
  """

  def __init__(self, core: dnc.DNC, input_size: int):
    super().__init__(name='with_bypass_mask')
    self._core = core
    self._input_size = input_size

  def __call__(self, inputs, prev_state):
    x, mask = inputs[:, : self._input_size], inputs[:, self._input_size :]
    return self._core(x, prev_state, bypass_mask=mask)

  def initial_state(self, batch_size):
    return self._core.initial_state(batch_size)


class Model(snt.Module):
  """Embedding, backward LSTM and bypass dropout around a `dnc.DNC`.

  Each option is off unless asked for; with all off, the model computes
  what `unroll(core, inputs)` does. Shapes: T time, B batch, V vocabulary,
  E embedding size.

  Attributes:
    is_training: whether bypass dropout is on (set it with
      `controllers.training`); `False` at first.
  """

  def __init__(
    self,
    core: dnc.DNC,
    *,
    vocabulary_size: int | None = None,
    embedding_size: int = 0,
    backward: snt.RNNCore | None = None,
    bypass_dropout: float = 0.0,
    bypass_size: int | None = None,
    seed: int | None = None,
    name: str = 'model',
  ):
    """Builds the model; variables are created on the first call.

    Args:
      core: the DNC, a causal step core. With `backward`, its inputs are
        `[b_t; x_t]`: give it a `controllers.PassThrough` controller of
        `pass_size` the backward core's output width to route b_t as the
        BiADNC does, or any controller to read it with x_t.
      vocabulary_size: V: with `embedding_size`, the inputs are word ids.
      embedding_size: E > 0 to embed word ids (`[T, B]` int) in a learned
        `[V, E]` matrix; 0 to take float inputs `[T, B, input_size]`.
      backward: an RNN core run from the last step to the first over the
        (embedded) inputs, e.g. an `snt.LSTM`; None for none.
      bypass_dropout: the probability of dropping each unit of the
        controller output on its way to the output layer, in training.
      bypass_size: H, the width of the DNC's controller output (its LSTM's
        hidden size, plus the pass size of a `PassThrough`); needed with
        `bypass_dropout`.
      seed: seeds the generator of the dropout masks; None draws its seed
        from TensorFlow's global seed (`tf.random.set_seed`).
      name: module name.
    """
    super().__init__(name=name)
    if not isinstance(core, dnc.DNC):
      raise TypeError(f'`core` must be a dnc.DNC, got {type(core).__name__}.')
    if isinstance(embedding_size, bool) or not isinstance(embedding_size, int):
      raise TypeError(
        f'`embedding_size` must be an int (0: off), got {embedding_size!r}.'
      )
    if embedding_size < 0:
      raise ValueError(
        f'`embedding_size` must be >= 0 (0: off), got {embedding_size}.'
      )
    if embedding_size:
      if vocabulary_size is None:
        raise ValueError(
          '`embedding_size` needs `vocabulary_size`: inputs of word ids.'
        )
      util.check_positive_int(vocabulary_size, 'vocabulary_size')
    if backward is not None and (
      not callable(backward) or not hasattr(backward, 'initial_state')
    ):
      raise TypeError(
        '`backward` must be None or a Sonnet RNN core, got '
        f'{type(backward).__name__}.'
      )
    if not 0 <= bypass_dropout < 1:
      raise ValueError(
        f'`bypass_dropout` must be in [0, 1), got {bypass_dropout!r}.'
      )
    if bypass_dropout:
      if bypass_size is None:
        raise ValueError('`bypass_dropout` needs `bypass_size`.')
      util.check_positive_int(bypass_size, 'bypass_size')
    self._core = core
    self._embedding_size = embedding_size
    self._vocabulary_size = vocabulary_size
    self._backward = backward
    self._bypass_dropout = bypass_dropout
    self._bypass_size = bypass_size
    self.is_training = False
    if embedding_size:
      self._embed = snt.Embed(vocabulary_size, embedding_size, name='embed')
    if bypass_dropout:
      if seed is None:
        seed = int(tf.random.uniform([], 0, 2**62, tf.int64))
      self._generator = tf.random.Generator.from_seed(seed)

  @property
  def core(self) -> dnc.DNC:
    """The DNC."""
    return self._core

  @property
  def bypass_dropout(self) -> float:
    """The probability of dropping a unit of the bypass in training."""
    return self._bypass_dropout

  @property
  def embeds_words(self) -> bool:
    """Whether the inputs are word ids `[T, B]` (else floats)."""
    return bool(self._embedding_size)

  def _check_inputs(self, inputs: tf.Tensor) -> tf.Tensor:
    inputs = tf.convert_to_tensor(inputs)
    if self.embeds_words:
      if not inputs.dtype.is_integer or inputs.shape.rank != 2:
        raise ValueError(
          '`inputs` must be word ids [time, batch_size] (integers) for a '
          f'model that embeds them, got {inputs.dtype.name} of shape '
          f'{inputs.shape}.'
        )
    elif not inputs.dtype.is_floating or inputs.shape.rank != 3:
      raise ValueError(
        '`inputs` must be floats [time, batch_size, input_size], got '
        f'{inputs.dtype.name} of shape {inputs.shape}.'
      )
    return inputs

  def dnc_inputs(
    self, inputs: tf.Tensor, recompute_chunk_length: int = 0
  ) -> tf.Tensor:
    """What the DNC reads at each step (without the bypass masks).

    Args:
      inputs: word ids `[T, B]` if `embeds_words`, else `[T, B, input_size]`.
      recompute_chunk_length: how to backpropagate through the backward
        core (see `unroll`).

    Returns:
      `[T, B, F]`: x_t (embedded), and with a backward core `[b_t; x_t]`.
    """
    inputs = self._check_inputs(inputs)
    if self.embeds_words:
      inputs = self._embed(inputs)  # [T, B, E]
    if self._backward is None:
      return inputs
    # b_t has read x_T, ..., x_t.
    backward = tf.reverse(
      unroll(self._backward, tf.reverse(inputs, [0]), recompute_chunk_length),
      [0],
    )
    return tf.concat([backward, inputs], -1)

  def __call__(
    self,
    inputs: tf.Tensor,
    recompute_chunk_length: int = 0,
    journal: bool = False,
  ) -> tf.Tensor:
    """The outputs of the whole sequence.

    Args:
      inputs: word ids `[T, B]` if `embeds_words`, else `[T, B, input_size]`.
      recompute_chunk_length: see `unroll`; applies to the backward core and
        the DNC.
      journal: see `unroll`; applies to the DNC (a SAM or SDNC, without
        bypass dropout), in chunks with `recompute_chunk_length`.

    Returns:
      `[T, B, output_size]`, y_1..y_T.
    """
    if journal:
      check_journal(self)
      features = self.dnc_inputs(inputs, recompute_chunk_length)
      return unroll(self._core, features, recompute_chunk_length, journal=True)
    features = self.dnc_inputs(inputs, recompute_chunk_length)
    if not (self.is_training and self._bypass_dropout):
      return unroll(self._core, features, recompute_chunk_length)
    shape = tf.concat([tf.shape(features)[:2], [self._bypass_size]], 0)
    keep = self._generator.uniform(shape, dtype=features.dtype) >= tf.cast(
      self._bypass_dropout, features.dtype
    )
    masks = tf.cast(keep, features.dtype) / (1 - self._bypass_dropout)
    step = _WithBypassMask(self._core, features.shape[-1])
    return unroll(
      step, tf.concat([features, masks], -1), recompute_chunk_length
    )

  def build(self, input_size: int | None = None) -> None:
    """Creates every variable with a one-step sequence of zeros.

    Args:
      input_size: the width of float inputs (unused when `embeds_words`).
    """
    if self.embeds_words:
      self(tf.zeros([1, 1], tf.int32))
    else:
      util.check_positive_int(input_size, 'input_size')
      self(tf.zeros([1, 1, input_size]))
