"""The model's configuration, and the one place that turns it into a core.

`ModelConfig` holds every choice that shapes the model's variables: the
sizes, the memory options and the controller options. The training scripts
make it from their flags (`dnc.train.flags.model_config`) and save it in a
run's `config.json`; the tools read it back (`ModelConfig.from_dict`, which
fills in the options that older configs were written without); the Keras
layer (`dnc.keras`) makes one of its arguments. All of them build the core
with `make_core`:

  config = ModelConfig(hidden_size=64, memory_size=16, word_size=16)
  core = make_core(config, output_size=5, fast_kernels=False)
"""

from collections.abc import Mapping
import dataclasses
from typing import Any

import sonnet as snt
import tensorflow as tf

from dnc import controllers
from dnc import dnc
from dnc import model as model_lib
from dnc import sam


class ConfigError(ValueError):
  """A model configuration that cannot be built (one line, for the user)."""


# The fields that size the memory but no variable: a model's weights load
# into a core of other values (a warm start may grow the memory, or make
# its link sparse, as a curriculum outgrows it).
RESIZABLE = ('memory_size', 'link_sparsity', 'sparse_reads')


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """A DNC's configuration; the defaults are DeepMind's reference script's.

  Attributes:
    hidden_size: the controller LSTM's size.
    memory_size: N, the number of memory slots.
    word_size: W, the width of each slot.
    num_write_heads: write heads.
    num_read_heads: R, read heads.
    clip_value: the bound on the controller's and the DNC's outputs (0 or
      None: no clipping).
    content_masking, deallocate_content, link_sharpness: the memory options
      of Csordás and Schmidhuber (2019; `dnc.access.MemoryAccess`).
    link_sparsity: K of the paper's sparse link matrix (0: dense;
      `dnc.access.MemoryAccess`); with `memory_type='sdnc'`, K_L of its
      link (at least 1).
    memory_type: 'dnc' (the DNC's `MemoryAccess`), 'sam' (Sparse Access
      Memory, `dnc.SAM`) or 'sdnc' (the Sparse DNC, `dnc.SDNC`; Rae et al.
      2016). The sparse ones have one write head and none of the options
      of Csordás and Schmidhuber.
    sparse_reads: K, the slots each read head of 'sam' or 'sdnc' reads
      (unused by 'dnc').
    layer_norm: a layer-normalised LSTM controller (Franke et al. 2018).
    bypass_dropout: dropout on the controller output's bypass of the
      memory (`dnc.model.Model`), in [0, 1).
    embedding_size: word embeddings of this size instead of one-hot inputs
      (0: none; needs a task whose inputs are word ids).
    backward_size: a backward LSTM of this size over the inputs (0: none).
    forget_bias: the default LSTM controller's forget-gate bias.
    projection_size: the default LSTM controller's output projection
      (None: none).
    controller_only: no memory: the controller (the LSTM of `hidden_size`,
      layer-normalised with `layer_norm`) and an output layer alone
      (`dnc.controllers.ControllerOnly`), the baseline that shows what the
      memory buys; the memory's fields are then unused.
  """

  hidden_size: int = 64
  memory_size: int = 16
  word_size: int = 16
  num_write_heads: int = 1
  num_read_heads: int = 4
  clip_value: float | None = 20
  content_masking: bool = False
  deallocate_content: bool = False
  link_sharpness: bool = False
  link_sparsity: int = 0
  memory_type: str = 'dnc'
  sparse_reads: int = 4
  layer_norm: bool = False
  bypass_dropout: float = 0.0
  embedding_size: int = 0
  backward_size: int = 0
  forget_bias: float = 1.0
  projection_size: int | None = None
  controller_only: bool = False

  def __post_init__(self):
    for name in ('hidden_size', 'memory_size', 'word_size'):
      _check_int(self, name, minimum=1)
    _check_int(self, 'num_write_heads', minimum=1)
    _check_int(self, 'num_read_heads', minimum=1)
    _check_int(self, 'embedding_size', minimum=0)
    _check_int(self, 'backward_size', minimum=0)
    _check_int(self, 'link_sparsity', minimum=0)
    if self.link_sparsity > self.memory_size:
      raise ConfigError(
        f'`link_sparsity` must be at most `memory_size` '
        f'({self.memory_size}), got {self.link_sparsity}.'
      )
    if self.memory_type not in MEMORY_TYPES:
      raise ConfigError(
        f'`memory_type` must be one of {", ".join(MEMORY_TYPES)}, got '
        f'{self.memory_type!r}.'
      )
    _check_int(self, 'sparse_reads', minimum=1)
    if self.memory_type != 'dnc':
      self._check_sparse_memory()
    if self.projection_size is not None:
      _check_int(self, 'projection_size', minimum=1)
    if self.clip_value is not None and not self.clip_value >= 0:
      raise ConfigError(f'`clip_value` must be >= 0, got {self.clip_value!r}.')
    if not 0 <= self.bypass_dropout < 1:
      raise ConfigError(
        f'`bypass_dropout` must be in [0, 1), got {self.bypass_dropout!r}.'
      )
    changed_lstm = self.forget_bias != 1.0 or self.projection_size is not None
    if changed_lstm and (self.layer_norm or self.backward_size):
      raise ConfigError(
        '`forget_bias` and `projection_size` set the default LSTM '
        'controller; `layer_norm` and `backward_size` replace it.'
      )
    model_options = self.embedding_size or self.backward_size
    if self.controller_only and (model_options or self.bypass_dropout):
      raise ConfigError(
        '`controller_only` is a bare controller: it takes none of '
        '`embedding_size`, `backward_size` and `bypass_dropout`.'
      )

  def _check_sparse_memory(self) -> None:
    """Raises unless the fields fit SAM's or the SDNC's memory."""
    kind = self.memory_type
    if self.sparse_reads > self.memory_size:
      raise ConfigError(
        f'`sparse_reads` must be at most `memory_size` ({self.memory_size}), '
        f'got {self.sparse_reads}.'
      )
    if self.num_write_heads != 1:
      raise ConfigError(
        f"`memory_type='{kind}'` has one write head: `num_write_heads` must "
        f'be 1, got {self.num_write_heads}.'
      )
    options = [
      name
      for name in ('content_masking', 'deallocate_content', 'link_sharpness')
      if getattr(self, name)
    ]
    if options:
      raise ConfigError(
        f"`memory_type='{kind}'` takes none of the DNC's memory options: "
        f'{", ".join(options)}.'
      )
    if kind == 'sam' and self.link_sparsity:
      raise ConfigError(
        "`memory_type='sam'` has no temporal link: `link_sparsity` must be "
        f"0 (the SDNC's is `memory_type='sdnc'`), got {self.link_sparsity}."
      )
    if kind == 'sdnc' and not self.link_sparsity:
      raise ConfigError(
        "`memory_type='sdnc'` needs `link_sparsity` >= 1, the entries per "
        'row of its link (8 in the papers).'
      )

  @classmethod
  def fields(cls) -> tuple[str, ...]:
    """The names of the fields, in order."""
    return tuple(field.name for field in dataclasses.fields(cls))

  def to_dict(self) -> dict[str, Any]:
    """The fields as a JSON-ready dict (what a run's config records)."""
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, values: Mapping[str, Any]) -> 'ModelConfig':
    """The model configuration of a run's config (e.g. its `config.json`).

    Args:
      values: a dict holding at least `REQUIRED`; other keys (a task's,
        the optimiser's) are ignored.

    Returns:
      The `ModelConfig`, with `LEGACY_DEFAULTS` for the fields a config of
      an older version was written without.

    Raises:
      ConfigError: naming the required fields it lacks, or a bad value.
    """
    missing = [name for name in REQUIRED if name not in values]
    if missing:
      raise ConfigError(f'The config lacks {", ".join(missing)}.')
    return cls(**{k: values[k] for k in cls.fields() if k in values})


# The memories a `ModelConfig` can build, by `memory_type`.
MEMORY_TYPES = ('dnc', 'sam', 'sdnc')


def _check_int(config: ModelConfig, name: str, minimum: int) -> None:
  value = getattr(config, name)
  if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
    raise ConfigError(
      f'`{name}` must be an integer >= {minimum}, got {value!r}.'
    )


# Fields that every saved config has had since the first checkpoints.
REQUIRED = (
  'hidden_size',
  'memory_size',
  'word_size',
  'num_write_heads',
  'num_read_heads',
  'clip_value',
)

# The fields added after the first checkpoints were written, with the value
# that a saved config without them stands for (the model of the code that
# wrote it), so that those checkpoints still resume and evaluate.
LEGACY_DEFAULTS = {
  name: value
  for name, value in ModelConfig().to_dict().items()
  if name not in REQUIRED
}


def make_core(
  config: ModelConfig,
  output_size: int,
  *,
  fast_kernels: bool,
  vocabulary_size: int | None = None,
  controller: snt.RNNCore | None = None,
  dtype: tf.DType | None = None,
) -> dnc.DNC | model_lib.Model:
  """The core of a model configuration.

  Args:
    config: the `ModelConfig`.
    output_size: outputs per step (a task's `output_size`).
    fast_kernels: `dnc.DNC`'s switch for its speed kernels: True only where
      the core runs under XLA with gradients (the compiled training step);
      False for a SavedModel, which must not hold their custom gradients.
    vocabulary_size: the number of word ids the inputs hold (needed with
      `embedding_size`).
    controller: a Sonnet RNN core to use as the controller instead of the
      LSTM of `hidden_size` (the Keras layer's other controllers).
    dtype: the default LSTM controller's dtype (None: float32).

  Returns:
    With `controller_only`, a `dnc.controllers.ControllerOnly` (no memory).
    Otherwise the `dnc.DNC` (`dnc.SAM`, `dnc.SDNC` by `memory_type`), as
    the reference builds it unless `layer_norm` is set;
    with `embedding_size`, `backward_size` or `bypass_dropout`, a
    `dnc.model.Model` around it, whose inputs are `[T, B, input_size]`
    (word ids `[T, B]` with `embedding_size`).

  Raises:
    ConfigError: `embedding_size` without a vocabulary, or `controller`
      with options of the default controller.
  """
  if not isinstance(config, ModelConfig):
    raise TypeError(
      f'`config` must be a ModelConfig, got {type(config).__name__}.'
    )
  backward_size = config.backward_size
  if config.controller_only:
    if controller is None:
      controller = controllers.lstm(
        config.hidden_size,
        layer_norm=config.layer_norm,
        fast_kernels=fast_kernels,
      )
    return controllers.ControllerOnly(
      controller, output_size, clip_value=config.clip_value
    )
  if controller is not None and (config.layer_norm or backward_size):
    raise ConfigError(
      '`controller` replaces the LSTM that `layer_norm` and `backward_size` '
      'set.'
    )
  if config.layer_norm or backward_size:
    controller = controllers.lstm(
      config.hidden_size,
      layer_norm=config.layer_norm,
      fast_kernels=fast_kernels,
    )
    if backward_size:
      controller = controllers.PassThrough(controller, backward_size)
  controller_config = None
  if controller is None:  # The DNC's default LSTM, named as the reference's.
    controller_config = dict(hidden_size=config.hidden_size)
    # Only what differs from snt.LSTM's defaults, so that a default config
    # builds exactly the reference's arguments.
    if config.forget_bias != 1.0:
      controller_config['forget_bias'] = config.forget_bias
    if config.projection_size is not None:
      controller_config['projection_size'] = config.projection_size
    if dtype is not None:
      controller_config['dtype'] = dtype
  access_config = dict(
    memory_size=config.memory_size,
    word_size=config.word_size,
    num_reads=config.num_read_heads,
  )
  if config.memory_type == 'dnc':
    core_type = dnc.DNC
    access_config.update(
      num_writes=config.num_write_heads,
      content_masking=config.content_masking,
      deallocate_content=config.deallocate_content,
      link_sharpness=config.link_sharpness,
      link_sparsity=config.link_sparsity,
    )
  elif config.memory_type == 'sam':
    core_type = sam.SAM
    access_config.update(sparse_reads=config.sparse_reads)
  else:
    core_type = sam.SDNC
    access_config.update(
      sparse_reads=config.sparse_reads, link_sparsity=config.link_sparsity
    )
  core = core_type(
    access_config=access_config,
    controller_config=controller_config,
    output_size=output_size,
    clip_value=config.clip_value,
    fast_kernels=fast_kernels,
    controller=controller,
  )
  embedding_size = config.embedding_size
  if not (embedding_size or backward_size or config.bypass_dropout):
    return core
  if embedding_size and vocabulary_size is None:
    raise ConfigError(
      '`embedding_size` needs a task whose inputs are word ids.'
    )
  backward = None
  if backward_size:
    backward = controllers.lstm(
      backward_size,
      layer_norm=config.layer_norm,
      fast_kernels=fast_kernels,
      name='backward_lstm',
    )
  return model_lib.Model(
    core,
    vocabulary_size=vocabulary_size,
    embedding_size=embedding_size,
    backward=backward,
    bypass_dropout=config.bypass_dropout,
    bypass_size=config.hidden_size + backward_size,
  )
