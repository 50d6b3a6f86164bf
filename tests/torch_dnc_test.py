"""Tests for the PyTorch baseline (benchmarks/torch_dnc.py).

It must compute the same function as the reference: outputs, final state and
gradients of the float64 fixture in shared/reference. Skipped when PyTorch
(an optional extra, only the benchmarks need it) is not installed.
"""

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip(
  'torch', reason='PyTorch is not installed (optional, benchmarks only)'
)

from benchmarks import torch_dnc  # noqa: E402
from tests import shared_data  # noqa: E402

_RTOL = 1e-8


def _final_state_fields(state):
  """The fixture's `final/<field>` names mapped to the port's tensors."""
  access = state.access_state
  return {
    'access_output': state.access_output,
    'memory': access.memory,
    'read_weights': access.read_weights,
    'write_weights': access.write_weights,
    'link': access.linkage.link,
    'precedence_weights': access.linkage.precedence_weights,
    'usage': access.usage,
    'controller_hidden': state.controller_state.hidden,
    'controller_cell': state.controller_state.cell,
  }


def _assert_close(got, expected, name):
  got = got.detach().numpy() if isinstance(got, torch.Tensor) else got
  assert got.shape == expected.shape, name
  # Relative to the array's scale, so that entries that are (nearly) zero
  # are not held to a relative bound of their own.
  scale = max(np.max(np.abs(expected)), 1e-30)
  error = np.max(np.abs(got - expected)) / scale if got.size else 0.0
  assert error <= _RTOL, f'{name}: relative error {error:.3g}'


@pytest.fixture(scope='module')
def fixture():
  data = np.load(shared_data.require_fixture())
  return data, json.loads(str(data['config']))


@pytest.fixture(scope='module')
def unrolled(fixture):
  """The port on the fixture in float64: (model, outputs, final state)."""
  data, config = fixture
  model = torch_dnc.TorchDNC(
    input_size=config['input_size'],
    output_size=config['output_size'],
    memory_size=config['memory_size'],
    word_size=config['word_size'],
    num_reads=config['num_reads'],
    num_writes=config['num_writes'],
    hidden_size=config['hidden_size'],
    clip_value=config['clip_value'],
    dtype=torch.float64,
  )
  weights = {
    key[len('weights/') :]: data[key]
    for key in data.files
    if key.startswith('weights/')
  }
  assert set(weights) == set(model.sonnet_parameters())
  model.load_sonnet_weights(weights)
  outputs, state = model.unroll(torch.from_numpy(data['inputs']))
  return model, outputs, state


def test_outputs(fixture, unrolled):
  data, _ = fixture
  _, outputs, _ = unrolled
  _assert_close(outputs, data['outputs'], 'outputs')


def test_final_state(fixture, unrolled):
  data, _ = fixture
  _, _, state = unrolled
  fields = _final_state_fields(state)
  expected_fields = {
    key[len('final/') :] for key in data.files if key.startswith('final/')
  }
  assert expected_fields == set(fields)
  for field, value in fields.items():
    _assert_close(value, data[f'final/{field}'], f'final/{field}')


def test_gradients(fixture, unrolled):
  data, _ = fixture
  model, outputs, state = unrolled
  model.zero_grad(set_to_none=True)
  loss = torch.sum(
    outputs * torch.from_numpy(data['loss_output_weights'])
  ) + torch.sum(state.access_state.memory**2)
  loss.backward()
  parameters = model.sonnet_parameters()
  expected_names = {
    key[len('grads/') :] for key in data.files if key.startswith('grads/')
  }
  assert expected_names == set(parameters)
  for name, parameter in parameters.items():
    assert parameter.grad is not None, name
    _assert_close(parameter.grad, data[f'grads/{name}'], f'grads/{name}')


def test_repeat_copy_batch_layout():
  torch.manual_seed(0)
  num_bits, max_length, max_repeats = 3, 3, 2
  batch = torch_dnc.repeat_copy_batch(
    batch_size=8,
    num_bits=num_bits,
    min_length=1,
    max_length=max_length,
    min_repeats=1,
    max_repeats=max_repeats,
  )
  time_steps = max_length * (max_repeats + 1) + 3
  assert batch.observations.shape == (time_steps, 8, num_bits + 2)
  assert batch.target.shape == (time_steps, 8, num_bits + 1)
  assert batch.mask.shape == (time_steps, 8)
  for b in range(8):
    obs = batch.observations[:, b].numpy()
    targ = batch.target[:, b].numpy()
    mask = batch.mask[:, b].numpy()
    assert obs[0, num_bits] == 1 and obs[1:, num_bits].sum() == 0
    # The repeats channel is at step n + 1 and holds k / 10.
    (repeat_step,) = np.nonzero(obs[:, num_bits + 1])[0]
    n = repeat_step - 1
    k = round(obs[repeat_step, num_bits + 1] * 10)
    assert 1 <= n <= max_length and 1 <= k <= max_repeats
    pattern = obs[1 : n + 1, :num_bits]
    assert not obs[n + 1 :, :num_bits].any()
    np.testing.assert_array_equal(
      targ[n + 2 : n + 2 + n * k, :num_bits], np.tile(pattern, (k, 1))
    )
    assert not targ[: n + 2].any() and not targ[n + 3 + n * k :].any()
    assert targ[n + 2 + n * k, num_bits] == 1
    assert targ[:, num_bits].sum() == 1
    expected_mask = np.zeros(time_steps)
    expected_mask[n + 2 : n + 3 + n * k] = 1
    np.testing.assert_array_equal(mask, expected_mask)


def _tiny_config():
  return dict(
    batch_size=2,
    num_bits=3,
    min_length=1,
    max_length=2,
    min_repeats=1,
    max_repeats=2,
    memory_size=8,
    word_size=4,
    num_reads=2,
    num_writes=1,
    hidden_size=16,
    clip_value=20,
  )


def test_train_step_eager():
  torch.manual_seed(0)
  step = torch_dnc.make_train_step(_tiny_config(), compile=False)
  before = [p.detach().clone() for p in step.model.parameters()]
  losses = [float(step()) for _ in range(3)]
  assert all(math.isfinite(loss) for loss in losses), losses
  after = list(step.model.parameters())
  assert any(not torch.equal(b, a) for b, a in zip(before, after, strict=True))


def test_forward_step_eager():
  torch.manual_seed(0)
  step = torch_dnc.make_forward_step(_tiny_config(), compile=False)
  assert math.isfinite(float(step()))


@pytest.mark.parametrize('clip_value', [20, 0.6])
def test_matches_tensorflow_with_two_write_heads(clip_value):
  """Two write heads (the fixture has one) and active clipping, against the
  TensorFlow library in float64."""
  tf = pytest.importorskip('tensorflow')
  snt = pytest.importorskip('sonnet')
  from dnc import dnc

  rng = np.random.RandomState(1)
  sizes = dict(memory_size=7, word_size=5, num_reads=3, num_writes=2)
  hidden_size, input_size, output_size = 9, 4, 3
  time_steps, batch_size = 6, 2
  inputs = rng.normal(size=(time_steps, batch_size, input_size))
  output_weights = rng.normal(size=(time_steps, batch_size, output_size))

  core = dnc.DNC(
    access_config=sizes,
    controller_config=dict(hidden_size=hidden_size, dtype=tf.float64),
    output_size=output_size,
    clip_value=clip_value,
  )
  initial_state = core.initial_state(batch_size, tf.float64)
  core(tf.constant(inputs[0]), initial_state)  # Creates the variables.
  variables = {v.name[: -len(':0')]: v for v in core.trainable_variables}
  for v in variables.values():  # Larger than the default, to use the gates.
    v.assign(rng.normal(scale=0.7, size=v.shape))
  with tf.GradientTape() as tape:
    tf_outputs, tf_state = snt.dynamic_unroll(
      core, tf.constant(inputs), initial_state
    )
    tf_loss = tf.reduce_sum(tf_outputs * output_weights) + tf.reduce_sum(
      tf_state.access_state.memory**2
    )
  names = sorted(variables)
  tf_grads = tape.gradient(tf_loss, [variables[name] for name in names])

  model = torch_dnc.TorchDNC(
    input_size=input_size,
    output_size=output_size,
    hidden_size=hidden_size,
    clip_value=clip_value,
    dtype=torch.float64,
    **sizes,
  )
  assert set(model.sonnet_parameters()) == set(names)
  model.load_sonnet_weights({k: v.numpy() for k, v in variables.items()})
  outputs, state = model.unroll(torch.from_numpy(inputs))
  loss = torch.sum(outputs * torch.from_numpy(output_weights)) + torch.sum(
    state.access_state.memory**2
  )
  loss.backward()

  _assert_close(outputs, tf_outputs.numpy(), 'outputs')
  tf_fields = _final_state_fields(tf_state)
  for field, value in _final_state_fields(state).items():
    _assert_close(value, tf_fields[field].numpy(), f'final/{field}')
  parameters = model.sonnet_parameters()
  for name, tf_grad in zip(names, tf_grads, strict=True):
    _assert_close(parameters[name].grad, tf_grad.numpy(), f'grads/{name}')
