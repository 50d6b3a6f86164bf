"""The command-line flags every training script shares, defined once.

A script calls the three `define_*` functions with its own defaults (the
flag names, help and checks are the same for every task), then defines its
task's flags:

  run_flags.define_model_flags(hidden_size=64, memory_size=16, word_size=16)
  run_flags.define_optimizer_flags(learning_rate=1e-4)
  run_flags.define_run_flags(batch_size=16, checkpoint_dir='/tmp/tf/dnc')

The model's defaults are `dnc.config.ModelConfig`'s (DeepMind's reference).
"""

import importlib.util

from absl import flags

from dnc import config as config_lib
from dnc import model as model_lib

# The model's fields that are flags: a checkpoint resumes (or is evaluated)
# only with the values it was made with. The default LSTM's other options
# (`forget_bias`, `projection_size`) keep their defaults in the scripts.
MODEL_FLAGS = tuple(
  name
  for name in config_lib.ModelConfig.fields()
  if name not in ('forget_bias', 'projection_size')
)

_DEFAULT = config_lib.ModelConfig()


def define_model_flags(
  hidden_size: int = _DEFAULT.hidden_size,
  memory_size: int = _DEFAULT.memory_size,
  word_size: int = _DEFAULT.word_size,
  num_write_heads: int = _DEFAULT.num_write_heads,
  num_read_heads: int = _DEFAULT.num_read_heads,
  clip_value: float = _DEFAULT.clip_value,
  content_masking: bool = _DEFAULT.content_masking,
  deallocate_content: bool = _DEFAULT.deallocate_content,
  link_sharpness: bool = _DEFAULT.link_sharpness,
  link_sparsity: int = _DEFAULT.link_sparsity,
  memory_type: str = _DEFAULT.memory_type,
  sparse_reads: int = _DEFAULT.sparse_reads,
) -> None:
  """Defines the DNC's flags (`MODEL_FLAGS`) with these defaults.

  The last three are the memory options of Csordás and Schmidhuber (2019;
  `dnc.access.MemoryAccess`), whose DNC-MD is the first two; off, the model
  is the DNC of Graves et al. (2016).
  """
  flags.DEFINE_integer(
    'hidden_size', hidden_size, 'Size of LSTM hidden layer.', lower_bound=1
  )
  flags.DEFINE_integer(
    'memory_size', memory_size, 'The number of memory slots.', lower_bound=1
  )
  flags.DEFINE_integer(
    'word_size', word_size, 'The width of each memory slot.', lower_bound=1
  )
  flags.DEFINE_integer(
    'num_write_heads',
    num_write_heads,
    'Number of memory write heads.',
    lower_bound=1,
  )
  flags.DEFINE_integer(
    'num_read_heads', num_read_heads, 'Number of memory read heads.', 1
  )
  flags.DEFINE_float(
    'clip_value',
    clip_value,
    'Maximum absolute value of controller and dnc outputs.',
  )
  flags.register_validator(
    'clip_value', lambda value: value >= 0, '--clip_value must be >= 0.'
  )
  flags.DEFINE_boolean(
    'content_masking',
    content_masking,
    'Csordas and Schmidhuber (2019): each head masks the key and the '
    'memory words before the content lookup (one sigmoid mask per head).',
  )
  flags.DEFINE_boolean(
    'deallocate_content',
    deallocate_content,
    'Csordas and Schmidhuber (2019): freed locations also lose their '
    'contents (the memory is multiplied by the retention vector psi_t '
    'before each write).',
  )
  flags.DEFINE_boolean(
    'link_sharpness',
    link_sharpness,
    'Csordas and Schmidhuber (2019): each read head sharpens its forward '
    'and backward link weightings with a learned exponent >= 1.',
  )
  flags.DEFINE_integer(
    'link_sparsity',
    link_sparsity,
    "The paper's sparse link matrix: at most this many entries per row "
    '(its Methods suggest 8), and an allocation by sorting, so that the '
    'step costs O(N log N) instead of O(N^2); 0: the dense link matrix.',
    lower_bound=0,
  )
  flags.DEFINE_enum(
    'memory_type',
    memory_type,
    config_lib.MEMORY_TYPES,
    "The memory: the DNC's (dnc), Sparse Access Memory (sam) or the Sparse "
    'DNC (sdnc) of Rae et al. 2016, whose K-sparse reads and writes cost '
    'O(K W) a step apart from the search; the sparse ones have one write '
    'head, and sdnc needs --link_sparsity >= 1 (8 in the papers).',
  )
  flags.DEFINE_integer(
    'sparse_reads',
    sparse_reads,
    'K, the memory slots each read head of --memory_type=sam or sdnc reads '
    '(4 in the paper).',
    lower_bound=1,
  )
  _define_literature_flags()


def _define_literature_flags() -> None:
  """The options from the question-answering literature (README), off."""
  flags.DEFINE_boolean(
    'layer_norm',
    _DEFAULT.layer_norm,
    'Layer-normalised LSTMs (the ADNC of Franke et al. 2018): gate '
    'pre-activations and the cell before its tanh.',
  )
  flags.DEFINE_float(
    'bypass_dropout',
    _DEFAULT.bypass_dropout,
    'Dropout rate on the controller output on its way to the output layer, '
    'in training only (the ADNC: 0.1).',
  )
  flags.register_validator(
    'bypass_dropout',
    lambda value: 0 <= value < 1,
    '--bypass_dropout must be in [0, 1).',
  )
  flags.DEFINE_integer(
    'embedding_size',
    _DEFAULT.embedding_size,
    'Learned word embeddings of this size instead of one-hot inputs (for '
    'tasks whose inputs are word ids; Csordas and Schmidhuber 2019); 0: off.',
    lower_bound=0,
  )
  flags.DEFINE_integer(
    'backward_size',
    _DEFAULT.backward_size,
    'A backward LSTM of this size over the whole input, whose outputs go '
    "to the memory and output layer beside the controller's (the BiADNC "
    'of Franke et al. 2018, which used --hidden_size); 0: off.',
    lower_bound=0,
  )
  flags.DEFINE_boolean(
    'controller_only',
    _DEFAULT.controller_only,
    'The baseline without memory: the controller (LSTM of --hidden_size) '
    'and an output layer alone; give it a larger --hidden_size to match '
    "the DNC's number of weights. The memory flags are then unused.",
  )


def define_optimizer_flags(
  learning_rate: float = 1e-4,
  momentum: float = 0.0,
  optimizer_epsilon: float = 1e-10,
  max_grad_norm: float = 50,
) -> None:
  """Defines the flags of RMSProp (decay 0.9) and gradient clipping."""
  flags.DEFINE_float('max_grad_norm', max_grad_norm, 'Gradient clipping norm.')
  flags.DEFINE_float('learning_rate', learning_rate, 'RMSProp learning rate.')
  flags.DEFINE_float('momentum', momentum, 'RMSProp momentum.')
  flags.DEFINE_float(
    'optimizer_epsilon', optimizer_epsilon, 'Epsilon used for RMSProp.'
  )
  for name in ('learning_rate', 'max_grad_norm', 'optimizer_epsilon'):
    flags.register_validator(
      name, lambda value: value > 0, message=f'--{name} must be positive.'
    )
  flags.register_validator(
    'momentum', lambda value: 0 <= value < 1, '--momentum must be in [0, 1).'
  )


def define_run_flags(
  batch_size: int = 16,
  num_training_iterations: int = 100_000,
  report_interval: int = 100,
  checkpoint_dir: str = '/tmp/tf/dnc',
  checkpoint_interval: int = -1,
  seed: int | None = None,
  recompute_chunk_length: int = 0,
) -> None:
  """Defines the flags of a run: batch, length, reports, checkpoints, mode."""
  flags.DEFINE_integer(
    'batch_size', batch_size, 'Batch size for training.', lower_bound=1
  )
  flags.DEFINE_integer(
    'num_training_iterations',
    num_training_iterations,
    'Number of iterations to train for (in total, across resumed runs).',
    lower_bound=0,
  )
  flags.DEFINE_integer(
    'report_interval',
    report_interval,
    'Iterations between reports (samples, valid loss).',
    lower_bound=1,
  )
  flags.DEFINE_string(
    'checkpoint_dir', checkpoint_dir, 'Checkpointing directory.'
  )
  flags.DEFINE_integer(
    'checkpoint_interval',
    checkpoint_interval,
    'Checkpointing step interval (<= 0: off).',
  )
  flags.DEFINE_string(
    'init_from',
    '',
    'Warm start: a new run (a --checkpoint_dir without checkpoints) starts '
    'from the weights of this pretrained folder (or run directory), going '
    'on with its step and training hours, with a fresh optimiser. Its model '
    'flags must be these. Ignored, with a note, when --checkpoint_dir holds '
    'a checkpoint: resuming wins.',
  )
  flags.DEFINE_integer(
    'max_checkpoints_to_keep',
    3,
    'How many recent checkpoints to keep.',
    lower_bound=1,
  )
  flags.DEFINE_integer(
    'seed',
    seed,
    'Seed for the initial weights and the task'
    + (' (default: random).' if seed is None else '.'),
  )
  flags.DEFINE_boolean(
    'jit_compile', True, 'Compile the training step with XLA.'
  )
  flags.DEFINE_integer(
    'recompute_chunk_length',
    recompute_chunk_length,
    'Backpropagation through the unroll: 0 keeps every step (memory grows '
    'with batch x length); K > 0 keeps the state every K steps and '
    'recomputes each chunk in the backward pass (same gradients, about a '
    'third more compute); -1 takes K = ceil(sqrt(length)). With --journal, '
    'the same for the state besides the memory (dnc.sparse_journal).',
    lower_bound=-1,
  )
  flags.DEFINE_boolean(
    'journal',
    False,
    'For --memory_type=sam or sdnc: backpropagate through a journal of the '
    'rows each step writes (dnc.sparse_journal) instead of keeping every '
    "step's memory [batch, N, W] (same gradients, one more forward pass "
    'of each step). The rest of the state is still O(N) a step (for the '
    'SDNC its link rows, N x K_L): with --recompute_chunk_length K (or -1) '
    'it is kept every K steps only and the chunks recomputed from the '
    'journal (one more forward pass again). Needs --bypass_dropout=0.',
  )

  def check_journal(values):
    # Refused at parsing, before anything is built (define_model_flags
    # defines --memory_type and --bypass_dropout first).
    if not values['journal']:
      return True
    refusal = model_lib.journal_refusal(
      sparse=values['memory_type'] != 'dnc',
      bypass_dropout=values['bypass_dropout'],
      core_name=f'--memory_type={values["memory_type"]}',
    )
    if refusal:
      raise flags.ValidationError(refusal)
    return True

  flags.register_multi_flags_validator(
    ['journal', 'memory_type', 'bypass_dropout'],
    check_journal,
  )
  flags.DEFINE_enum(
    'mode',
    'train',
    ['train', 'eval', 'sample'],
    'Train, evaluate a checkpoint, or print what it generates (for tasks '
    'that sample, such as character-level language modelling).',
  )
  flags.DEFINE_enum(
    'eval_checkpoint',
    'latest',
    ['latest', 'best'],
    'With --mode=eval: the newest checkpoint, or the one of the best '
    'validation score (for tasks that hold out validation data).',
  )
  flags.DEFINE_enum(
    'distribute',
    'none',
    ['none', 'mirrored', 'multi_worker'],
    'Data-parallel training (dnc.distribute): one device; every local GPU '
    '(or --cpu_devices logical CPUs); or one process per host, the cluster '
    'in TF_CONFIG. --batch_size stays the global batch.',
  )
  flags.DEFINE_integer(
    'cpu_devices',
    0,
    'With --distribute=mirrored on a host without GPUs: split the CPU into '
    'this many logical devices, one replica each (tests, benchmarks).',
    lower_bound=0,
  )
  flags.DEFINE_string(
    'logdir',
    '',
    'Write TensorBoard summaries (losses, gradient norm, speed, pictures of '
    'the memory addressing, a readable sample) here at every report; off if '
    'empty.',
  )
  flags.register_validator(
    'logdir',
    lambda value: not value or importlib.util.find_spec('tensorboard'),
    '--logdir needs TensorBoard: pip install tensorboard (or dnc[viz]).',
  )


def model_config(flag_values: flags.FlagValues) -> config_lib.ModelConfig:
  """The model configuration of the parsed flags (`MODEL_FLAGS`)."""
  return config_lib.ModelConfig(
    **{name: flag_values[name].value for name in MODEL_FLAGS}
  )
