"""The DNC as a Keras 3 layer (TensorFlow backend): `dnc.keras.DNC`.

`import dnc` never imports this module, and does not need Keras; import it
as `import dnc.keras`. The layer follows Keras conventions: batch-major inputs
`[batch_size, time, features]`, `return_sequences`, `return_state`,
`go_backwards`, `stateful`, Keras masks, `get_config` / `from_config`:

  model = keras.Sequential([
    keras.Input((None, 6)),
    dnc.keras.DNC(output_size=5, memory_size=16, word_size=16, num_reads=4,
                  controller=dict(type='lstm', hidden_size=64)),
  ])

It is a `keras.layers.RNN` over `DNCCell`, whose step is a `dnc.DNC`
(`layer.core`). Sonnet creates that core's `tf.Variable`s, and Keras tracks
each as a `keras.Variable` wrapping the same variable, so the optimiser,
`save_weights` and `model.save` read and write the core's own storage.

Mapping to `dnc.DNC`. `DNC(output_size, memory_size, word_size, num_reads,
num_writes, controller=dict(type='lstm', hidden_size=H, ...), clip_value,
fast_kernels)` runs

  dnc.DNC(access_config=dict(memory_size=..., word_size=..., num_reads=...,
                             num_writes=...),
          controller_config=dict(hidden_size=H, ...), output_size=...,
          clip_value=..., fast_kernels=...)

step by step over the time axis, and gives the same outputs given the same
weights. Each Keras weight's `path` ends in the name of the core variable
it wraps, which is the name a `dnc.DNC` built on its own gives it
(`.../dnc_cell/dnc/lstm/w_i` wraps `dnc/lstm/w_i:0`); so
`layer.set_core_weights(core)` copies, by name, the weights of any
`dnc.DNC` of the same configuration, for example a restored checkpoint's.
The state is the core's `DNCState`, flattened (`tf.nest.flatten`) into the
list Keras RNNs carry: the order is `layer.state_names`, and
`layer.pack_state(states)` makes a `DNCState` of it.

Masks (from `keras.layers.Masking`, `Embedding(mask_zero=True)` or the
`mask` argument, `[batch_size, time]`): a masked step leaves the state
unchanged and repeats the output of the last unmasked step (zeros before
the first, and at every masked step with `zero_output_for_mask=True`);
with `return_sequences` the mask is passed on, so losses and later layers
skip the padded steps.

Not supported: other Keras backends, float16, bfloat16 and mixed precision
(the layer's dtype must be float32 or float64, as `dnc.DNC`'s), `unroll`,
and Keras' stateless calls (`layer.stateless_call`), since the core reads
its variables directly.
"""

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
import concurrent.futures
import contextlib
from typing import Any

import sonnet as snt
import tensorflow as tf

from dnc import config as config_lib
from dnc import controllers
from dnc import dnc
from dnc import util

try:
  import keras
except ImportError as e:  # pragma: no cover - keras ships with TensorFlow.
  raise ImportError(
    'dnc.keras needs Keras 3 with the TensorFlow backend: pip install keras'
  ) from e

if int(keras.__version__.split('.')[0]) < 3:
  raise ImportError(
    f'dnc.keras needs Keras 3, found {keras.__version__}: pip install -U keras'
  )

# The controller kinds a config dict can name, and the keys each takes
# (besides 'type'), with their defaults (None: required).
CONTROLLER_TYPES = {
  'lstm': {'hidden_size': None, 'projection_size': None, 'forget_bias': 1.0},
  'gru': {'hidden_size': None},
  'deep_lstm': {'hidden_sizes': None, 'dropout_rate': 0.0},
  'feed_forward': {'hidden_sizes': None, 'activate_final': False},
}
# How a config names a controller factory registered with Keras.
_REGISTERED = 'registered'

ControllerSpec = Mapping[str, Any] | Callable[[], snt.RNNCore]


def _check_backend() -> None:
  if keras.backend.backend() != 'tensorflow':
    raise ImportError(
      'dnc.keras runs on the TensorFlow backend of Keras, but '
      f'KERAS_BACKEND is {keras.backend.backend()!r}.'
    )


def controller_spec(controller: ControllerSpec | None) -> dict[str, Any]:
  """The full controller config of `controller`, checked.

  Args:
    controller: None (an LSTM of 64), a dict with 'type' in
      `CONTROLLER_TYPES` and that type's keys, or a callable of no argument
      returning a Sonnet RNN core.

  Returns:
    The dict with every default filled in, or `{'type': 'callable',
    'factory': controller}` for a callable.

  Raises:
    TypeError, ValueError: naming `controller` and what was expected.
  """
  if controller is None:
    controller = {'type': 'lstm', 'hidden_size': 64}
  if callable(controller) and not isinstance(controller, Mapping):
    return {'type': 'callable', 'factory': controller}
  if not isinstance(controller, Mapping):
    raise TypeError(
      '`controller` must be a dict with a `type` or a callable returning a '
      f'Sonnet RNN core, got {type(controller).__name__}.'
    )
  kind = controller.get('type')
  if kind == _REGISTERED:
    name = controller.get('name')
    factory = keras.saving.get_registered_object(name)
    if not callable(factory):
      raise ValueError(
        f'`controller`: no factory registered as {name!r}; register it '
        'with @keras.saving.register_keras_serializable() before loading.'
      )
    return {'type': 'callable', 'factory': factory}
  if kind not in CONTROLLER_TYPES:
    raise ValueError(
      f"`controller['type']` must be one of {sorted(CONTROLLER_TYPES)} (or "
      f'{_REGISTERED!r} with a `name`), got {kind!r}.'
    )
  keys = CONTROLLER_TYPES[kind]
  unknown = sorted(set(controller) - set(keys) - {'type'})
  if unknown:
    raise ValueError(
      f'`controller` of type {kind!r} takes {sorted(keys)}, got unknown '
      f'keys {unknown}.'
    )
  spec = {'type': kind, **keys, **controller}
  # Keys without a default are required; an LSTM's projection is optional.
  required = [
    k for k, v in keys.items() if v is None and k != 'projection_size'
  ]
  missing = [key for key in required if spec[key] is None]
  if missing:
    raise ValueError(f'`controller` of type {kind!r} needs {missing}.')
  for key in ('hidden_size', 'projection_size'):
    if spec.get(key) is not None:
      util.check_positive_int(spec[key], f"controller['{key}']")
  if 'hidden_sizes' in spec:
    sizes = spec['hidden_sizes']
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
      raise TypeError(
        "`controller['hidden_sizes']` must be a list of positive integers, "
        f'got {sizes!r}.'
      )
    if not sizes:
      raise ValueError("`controller['hidden_sizes']` must not be empty.")
    for i, size in enumerate(sizes):
      util.check_positive_int(size, f"controller['hidden_sizes'][{i}]")
    spec['hidden_sizes'] = list(sizes)
  return spec


def make_core(
  spec: Mapping[str, Any],
  output_size: int,
  access_config: Mapping[str, int],
  clip_value: float | None,
  fast_kernels: bool,
  dtype: tf.DType,
) -> dnc.DNC:
  """The `dnc.DNC` of a layer's configuration (see the module docstring).

  Args:
    spec: a `controller_spec`.
    output_size, clip_value, fast_kernels: `dnc.DNC`'s.
    access_config: `memory_size`, `word_size`, `num_reads`, `num_writes`,
      and optionally `link_sparsity`, `memory_type` and `sparse_reads`
      (`dnc.config.ModelConfig`'s).
    dtype: the controller's dtype (the layer's).

  Returns:
    A `dnc.DNC` named 'dnc', built in the root name scope so that its
    variables are named as a `dnc.DNC` built on its own.
  """
  kind = spec['type']
  controller = None
  lstm_options = {}
  if kind == 'lstm':
    # The DNC's default LSTM, as `dnc.config.make_core` builds it.
    lstm_options = dict(
      hidden_size=spec['hidden_size'],
      forget_bias=spec['forget_bias'],
      projection_size=spec['projection_size'],
    )
  elif kind == 'gru':
    controller = snt.GRU(spec['hidden_size'], dtype=dtype)
  elif kind == 'deep_lstm':
    controller = controllers.DeepLSTM(
      spec['hidden_sizes'], dropout_rate=spec['dropout_rate'], dtype=dtype
    )
  elif kind == 'feed_forward':
    network = snt.nets.MLP(
      spec['hidden_sizes'], activate_final=spec['activate_final']
    )
    controller = controllers.FeedForward(network, dtype=dtype)
  else:
    controller = spec['factory']()
    if not callable(controller) or not hasattr(controller, 'initial_state'):
      raise TypeError(
        '`controller` must return a Sonnet RNN core (callable with '
        f'`initial_state`), got {type(controller).__name__}.'
      )
  model_config = config_lib.ModelConfig(
    memory_size=access_config['memory_size'],
    word_size=access_config['word_size'],
    num_read_heads=access_config['num_reads'],
    num_write_heads=access_config['num_writes'],
    link_sparsity=access_config.get('link_sparsity', 0),
    memory_type=access_config.get('memory_type', 'dnc'),
    sparse_reads=access_config.get('sparse_reads', 4),
    clip_value=clip_value,
    **lstm_options,
  )
  return config_lib.make_core(
    model_config,
    output_size,
    fast_kernels=fast_kernels,
    controller=controller,
    dtype=dtype if controller is None else None,
  )


def _wrapped(variable: tf.Variable) -> keras.Variable:
  """A `keras.Variable` that wraps (does not copy) `variable`.

  As `keras.layers.TFSMLayer` wraps a SavedModel's variables. It is named
  in `variable`'s own name scopes, so that its `path` ends in the
  variable's name (`.../dnc/lstm/w_i`).
  """
  *scopes, name = variable.name.split(':')[0].split('/')
  with contextlib.ExitStack() as stack:
    for scope in scopes:
      stack.enter_context(keras.name_scope(scope))
    return keras.Variable(
      variable,
      dtype=variable.dtype.name,
      trainable=variable.trainable,
      name=name,
    )


@keras.saving.register_keras_serializable(package='dnc')
class DNCCell(keras.layers.Layer):
  """One step of the DNC as a Keras RNN cell, for `keras.layers.RNN`.

  The state is the flattened `DNCState` (`state_size` lists the shapes of
  its tensors without the batch). `dnc.keras.DNC` is this cell in a
  `keras.layers.RNN`, with its arguments; use that.
  """

  def __init__(
    self,
    output_size: int,
    memory_size: int = 16,
    word_size: int = 16,
    num_reads: int = 4,
    num_writes: int = 1,
    controller: ControllerSpec | None = None,
    clip_value: float | None = None,
    fast_kernels: bool = False,
    link_sparsity: int = 0,
    memory_type: str = 'dnc',
    sparse_reads: int = 4,
    **kwargs,
  ):
    """Configures the cell; see `DNC.__init__` for the arguments."""
    _check_backend()
    super().__init__(**kwargs)
    # One rule with `dnc.DNC`'s (`util.check_dtype`): a mixed policy
    # (float16 compute over float32 variables) names its compute dtype.
    policy = self.dtype_policy
    util.check_dtype(
      policy.compute_dtype
      if policy.compute_dtype != policy.variable_dtype
      else policy.variable_dtype,
      'dtype',
    )
    self._spec = controller_spec(controller)
    self._access_config = dict(
      memory_size=memory_size,
      word_size=word_size,
      num_reads=num_reads,
      num_writes=num_writes,
      link_sparsity=link_sparsity,
      memory_type=memory_type,
      sparse_reads=sparse_reads,
    )
    self._output_size = output_size
    self._clip_value = clip_value
    self._fast_kernels = fast_kernels
    # Outside any Keras name scope and graph, so the core names its
    # variables as a `dnc.DNC` made on its own does ('dnc/lstm/w_i').
    with tf.init_scope(), tf.name_scope(''):
      core = make_core(
        self._spec,
        output_size,
        self._access_config,
        clip_value,
        fast_kernels,
        tf.as_dtype(self.variable_dtype),
      )
    if core.initial_state(1).access_output.dtype.name != self.variable_dtype:
      raise TypeError(
        f'`controller` makes a core of dtype '
        f'{core.initial_state(1).access_output.dtype.name}, but the layer '
        f'has dtype {self.variable_dtype}; build the controller with it.'
      )
    # Not an attribute Keras or TensorFlow tracks: Keras tracks the
    # variables themselves (`_core_weights`), once each.
    object.__setattr__(self, '_core', core)
    self.state_size = [
      tuple(size.as_list()) for size in tf.nest.flatten(core.state_size)
    ]
    self.output_size = output_size

  @property
  def core(self) -> dnc.DNC:
    """The `dnc.DNC` this cell runs; its variables are the cell's weights."""
    return self._core

  def build(self, input_shape: Sequence[int | None]) -> None:
    """Creates the core's variables and their Keras weights.

    Args:
      input_shape: `[batch_size, features]`, `features` known.
    """
    input_shape = tuple(input_shape)
    if len(input_shape) != 2 or input_shape[-1] is None:
      raise ValueError(
        'The DNC takes inputs `[batch_size, time, features]` with a known '
        f'number of features; its step got shape {list(input_shape)}.'
      )
    created = []

    def record(next_creator, **kwargs):
      variable = next_creator(**kwargs)
      created.append(variable)
      return variable

    dtype = tf.as_dtype(self.variable_dtype)
    # Eagerly, as if the layer were built first, wherever Keras builds it
    # (it may build a layer inside a `tf.function`).
    with tf.init_scope():
      with tf.variable_creator_scope(record):
        self._core(
          tf.zeros([1, input_shape[-1]], dtype), self._core.initial_state(1)
        )

      def wrap_all():
        return [_wrapped(variable) for variable in created]

      try:
        weights = wrap_all()
      except ValueError:
        # In a `keras.StatelessScope`, where Keras traces a subclassed
        # model before `fit`'s first step and refuses new variables. Its
        # scopes belong to a thread: a thread of our own has none.
        with concurrent.futures.ThreadPoolExecutor(1) as thread:
          weights = thread.submit(wrap_all).result()
    self._core_weights = weights  # Tracked by Keras, in creation order.

  def call(
    self,
    inputs: tf.Tensor,
    states: Sequence[tf.Tensor],
    training: bool | None = None,
  ) -> tuple[tf.Tensor, list[tf.Tensor]]:
    """One step.

    Args:
      inputs: `[batch_size, features]`.
      states: the flattened `DNCState` of the previous step.
      training: turns on a `deep_lstm` controller's dropout.

    Returns:
      output: `[batch_size, output_size]`.
      states: the flattened next `DNCState`.
    """
    controller = self._core.controller
    if hasattr(controller, 'is_training'):
      controller.is_training = bool(training)
    state = self.pack_state(states)
    output, next_state = self._core(inputs, state)
    return output, tf.nest.flatten(next_state)

  def pack_state(self, states: Sequence[tf.Tensor]) -> dnc.DNCState:
    """The `DNCState` of the flat list of its tensors (`state_names` order)."""
    states = list(states)
    expected = len(self.state_size)
    if len(states) != expected:
      raise ValueError(
        f'A DNC state is {expected} tensors ({", ".join(self.state_names)}), '
        f'got {len(states)}.'
      )
    return tf.nest.pack_sequence_as(self._core.state_size, states)

  @property
  def state_names(self) -> list[str]:
    """The `DNCState` field of each state tensor, e.g.
    'access_state.memory' (`[batch_size, memory_size, word_size]`)."""
    leaves = dnc._named_leaves(self._core.state_size, 'state')
    return [name[len('state.') :] for name, _ in leaves]

  def get_initial_state(self, batch_size: int | tf.Tensor) -> list[tf.Tensor]:
    """The core's initial state, flattened."""
    return tf.nest.flatten(self._core.initial_state(batch_size))

  def get_config(self) -> dict[str, Any]:
    """The cell's arguments; see `DNC.get_config`."""
    return {
      **super().get_config(),
      'output_size': self._output_size,
      **self._access_config,
      'controller': _serialized_controller(self._spec),
      'clip_value': self._clip_value,
      'fast_kernels': self._fast_kernels,
    }


def _serialized_controller(spec: Mapping[str, Any]) -> dict[str, Any]:
  """A config dict of a `controller_spec`; raises if it has none."""
  if spec['type'] != 'callable':
    return dict(spec)
  factory = spec['factory']
  name = keras.saving.get_registered_name(factory)
  if keras.saving.get_registered_object(name) is not factory:
    raise TypeError(
      f'This DNC layer cannot be serialised: its controller factory '
      f'{factory!r} is not registered with Keras. Decorate it with '
      '@keras.saving.register_keras_serializable(), or use a controller '
      'config dict (save_weights works either way).'
    )
  return {'type': _REGISTERED, 'name': name}


@keras.saving.register_keras_serializable(package='dnc')
class DNC(keras.layers.RNN):
  """The DNC as a Keras layer over `[batch_size, time, features]` inputs.

  Returns `[batch_size, time, output_size]` with `return_sequences`, else
  the output of the last (unmasked) step `[batch_size, output_size]`; with
  `return_state`, followed by the final state's tensors (`state_names`).
  Call it as any Keras RNN: `layer(inputs, mask=..., initial_state=...,
  training=...)`, where `initial_state` is a `DNCState` or the flat list of
  its tensors.

  Controllers (`controller=`), each serialised by `get_config`:
    `dict(type='lstm', hidden_size=64, projection_size=None,
    forget_bias=1.0)` (the default, named `dnc/lstm/...` as in the
    reference); `dict(type='gru', hidden_size=...)` (`snt.GRU`);
    `dict(type='deep_lstm', hidden_sizes=[...], dropout_rate=0.0)`
    (`dnc.controllers.DeepLSTM`, dropout while training);
    `dict(type='feed_forward', hidden_sizes=[...], activate_final=False)`
    (`dnc.controllers.FeedForward(snt.nets.MLP(...))`).

  Any other Sonnet RNN core: pass a callable of no argument that returns a
  new one, e.g. `controller=lambda: snt.DeepRNN([snt.GRU(32), snt.GRU(32)])`
  (it is called once, in `__init__`; build it in the layer's dtype). That
  layer trains and saves its weights; `get_config` (and so `model.save`)
  works only if the callable is a function registered with
  `@keras.saving.register_keras_serializable()`, which `load_model` then
  finds by its registered name. Otherwise `get_config` raises a TypeError.
  """

  def __init__(
    self,
    output_size: int,
    memory_size: int = 16,
    word_size: int = 16,
    num_reads: int = 4,
    num_writes: int = 1,
    controller: ControllerSpec | None = None,
    clip_value: float | None = None,
    fast_kernels: bool = False,
    link_sparsity: int = 0,
    memory_type: str = 'dnc',
    sparse_reads: int = 4,
    return_sequences: bool = False,
    return_state: bool = False,
    go_backwards: bool = False,
    stateful: bool = False,
    zero_output_for_mask: bool = False,
    **kwargs,
  ):
    """Configures the layer (its weights are made when it is built).

    Args:
      output_size: outputs per step.
      memory_size, word_size, num_reads, num_writes: the memory: N slots of
        W numbers, R read heads, Wr write heads (`dnc.MemoryAccess`).
      controller: a controller config dict (see the class docstring;
        default an LSTM of 64), or a callable returning a Sonnet RNN core.
      clip_value: `dnc.DNC`'s: if positive, clips the controller output and
        state and the core output to `[-clip_value, clip_value]`.
      fast_kernels: `dnc.DNC`'s: True runs the speed kernels of
        `dnc.kernels`, which pay off where the model is compiled with XLA
        (`model.compile(jit_compile=True)`); False (default) the plain
        functions, what `model.export` should save. Same values either way.
      link_sparsity, memory_type, sparse_reads: the sparse memories of
        `dnc.config.ModelConfig`: K of the paper's sparse link matrix (0:
        dense); 'dnc', 'sam' (`dnc.SAM`) or 'sdnc' (`dnc.SDNC`); the slots
        each read head of SAM or the SDNC reads.
      return_sequences, return_state, go_backwards, stateful,
        zero_output_for_mask: as in `keras.layers.RNN`.
      **kwargs: `keras.layers.Layer`'s (`name`, `dtype`: 'float32' or
        'float64', `trainable`).
    """
    if kwargs.pop('unroll', False):
      raise ValueError('`unroll` is not supported by the DNC layer.')
    if fast_kernels is None:  # In configs saved when None meant "under XLA".
      fast_kernels = False
    kwargs.pop('cell', None)  # Written by keras.layers.RNN's get_config.
    cell = DNCCell(
      output_size,
      memory_size=memory_size,
      word_size=word_size,
      num_reads=num_reads,
      num_writes=num_writes,
      controller=controller,
      clip_value=clip_value,
      fast_kernels=fast_kernels,
      link_sparsity=link_sparsity,
      memory_type=memory_type,
      sparse_reads=sparse_reads,
      dtype=kwargs.get('dtype'),
      trainable=kwargs.get('trainable', True),
      name='dnc_cell',
    )
    super().__init__(
      cell,
      return_sequences=return_sequences,
      return_state=return_state,
      go_backwards=go_backwards,
      stateful=stateful,
      zero_output_for_mask=zero_output_for_mask,
      **kwargs,
    )

  @property
  def core(self) -> dnc.DNC:
    """The `dnc.DNC` the layer runs; its variables are the layer's weights."""
    return self.cell.core

  @property
  def state_names(self) -> list[str]:
    """`DNCCell.state_names`: the field of each state tensor, in order."""
    return self.cell.state_names

  def pack_state(self, states: Sequence[tf.Tensor]) -> dnc.DNCState:
    """The `DNCState` of the state tensors `return_state` gives."""
    return self.cell.pack_state(states)

  def build(self, sequences_shape, initial_state_shape=None) -> None:
    """Builds the core for inputs `[batch_size, time, features]`."""
    if len(sequences_shape) != 3:
      raise ValueError(
        'The DNC layer takes inputs `[batch_size, time, features]`, got '
        f'shape {list(sequences_shape)}.'
      )
    super().build(sequences_shape, initial_state_shape)

  def call(self, sequences, initial_state=None, mask=None, training=False):
    """Runs the DNC over `sequences` `[batch_size, time, features]`.

    Args:
      sequences: `[batch_size, time, features]`.
      initial_state: a `DNCState` or its flattened tensors; default the
        core's initial state (or, if `stateful`, the last call's).
      mask: bool `[batch_size, time]`; False steps are skipped.
      training: turns on a `deep_lstm` controller's dropout.

    Returns:
      See the class docstring.
    """
    if isinstance(initial_state, dnc.DNCState):
      initial_state = tf.nest.flatten(initial_state)
    if initial_state is not None:
      initial_state = list(initial_state)
      self.cell.pack_state(initial_state)  # Checks the count.
    return super().call(
      sequences, initial_state=initial_state, mask=mask, training=training
    )

  def compute_output_shape(self, sequences_shape, initial_state_shape=None):
    batch_size, time = sequences_shape[0], sequences_shape[1]
    if self.return_sequences:
      output_shape = (batch_size, time, self.cell.output_size)
    else:
      output_shape = (batch_size, self.cell.output_size)
    if not self.return_state:
      return output_shape
    states = [(batch_size, *size) for size in self.cell.state_size]
    return (output_shape, *states)

  def set_core_weights(self, core: dnc.DNC) -> None:
    """Copies the weights of `core` into this built layer, by name.

    Args:
      core: a built `dnc.DNC` of this configuration (e.g. a restored
        checkpoint's, `dnc.tools.restore.load(...).core`), with the default
        names.

    Raises:
      ValueError: the layer is not built, or the variables' names or shapes
        differ (naming them).
    """
    if not self.built:
      raise ValueError(
        'Build the layer first (call it on inputs, or '
        '`layer.build((None, None, features))`).'
      )
    ours = {_name(v): v for v in self.core.variables}
    theirs = {_name(v): v for v in core.variables}
    if ours.keys() != theirs.keys():
      raise ValueError(
        '`core` does not have the variables of this layer: missing '
        f'{sorted(ours.keys() - theirs.keys())}, unexpected '
        f'{sorted(theirs.keys() - ours.keys())}.'
      )
    for name, variable in ours.items():
      if variable.shape != theirs[name].shape:
        raise ValueError(
          f'`core` variable {name} has shape {theirs[name].shape}, the '
          f'layer {variable.shape}.'
        )
    for name, variable in ours.items():
      variable.assign(theirs[name])

  def get_config(self) -> dict[str, Any]:
    """The layer's arguments, for `from_config` and `model.save`.

    Raises:
      TypeError: the controller is an unregistered callable.
    """
    config = super().get_config()
    del config['cell'], config['unroll']
    cell_config = self.cell.get_config()
    for key in (
      'output_size',
      'memory_size',
      'word_size',
      'num_reads',
      'num_writes',
      'controller',
      'clip_value',
      'fast_kernels',
      'link_sparsity',
      'memory_type',
      'sparse_reads',
    ):
      config[key] = cell_config[key]
    return config

  @classmethod
  def from_config(cls, config: Mapping[str, Any]) -> 'DNC':
    return cls(**config)


def _name(variable: tf.Variable) -> str:
  return variable.name.split(':')[0]
