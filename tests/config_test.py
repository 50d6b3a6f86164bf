"""Tests for dnc.config: the model configuration and the core it makes."""

from absl.testing import parameterized
import tensorflow as tf

from dnc import config as config_lib
from dnc import controllers
from dnc import dnc
from dnc import kernels
from dnc import model
from dnc import sam
from dnc import sparse_access
from dnc import sparse_link
from dnc import util
from dnc.train import trainer

_MODEL = dict(
  hidden_size=8,
  memory_size=4,
  word_size=3,
  num_read_heads=1,
  num_write_heads=1,
  clip_value=20,
)


def _make(fast_kernels=False, vocabulary_size=None, **options):
  return config_lib.make_core(
    config_lib.ModelConfig(**{**_MODEL, **options}),
    5,
    fast_kernels=fast_kernels,
    vocabulary_size=vocabulary_size,
  )


def _names(core, input_size=3):
  trainer.build_variables(core, input_size)
  return sorted(v.name for v in core.trainable_variables)


class ModelConfigTest(tf.test.TestCase):
  def test_defaults_are_the_reference_script_s(self):
    config = config_lib.ModelConfig()
    self.assertEqual(
      {k: getattr(config, k) for k in config_lib.REQUIRED},
      dict(
        hidden_size=64,
        memory_size=16,
        word_size=16,
        num_write_heads=1,
        num_read_heads=4,
        clip_value=20,
      ),
    )
    for option in ('content_masking', 'deallocate_content', 'link_sharpness'):
      self.assertIs(config_lib.LEGACY_DEFAULTS[option], False)

  def test_an_older_config_gets_the_options_off(self):
    # A config.json written before the options, with a task's keys beside.
    config = config_lib.ModelConfig.from_dict(dict(_MODEL, num_bits=4))
    self.assertEqual(config, config_lib.ModelConfig(**_MODEL))
    self.assertEqual(config.to_dict(), {**_MODEL, **config_lib.LEGACY_DEFAULTS})
    self.assertEqual(config_lib.ModelConfig.from_dict(config.to_dict()), config)

  def test_a_config_without_a_size_is_refused_by_name(self):
    values = dict(_MODEL)
    del values['word_size']
    with self.assertRaisesRegex(config_lib.ConfigError, 'lacks word_size'):
      config_lib.ModelConfig.from_dict(values)

  def test_bad_values_are_refused_by_name(self):
    for options, message in (
      (dict(memory_size=0), '`memory_size` must be an integer >= 1'),
      (dict(hidden_size=2.5), '`hidden_size` must be an integer'),
      (dict(clip_value=-1), '`clip_value` must be >= 0'),
      (dict(bypass_dropout=1.0), r'`bypass_dropout` must be in \[0, 1\)'),
      (dict(layer_norm=True, forget_bias=0.0), 'forget_bias'),
      (dict(link_sparsity=-1), '`link_sparsity` must be an integer >= 0'),
      (dict(memory_size=4, link_sparsity=5), '`link_sparsity` must be at'),
      (dict(memory_type='ntm'), '`memory_type` must be one of dnc, sam'),
      (dict(sparse_reads=0), '`sparse_reads` must be an integer >= 1'),
      (dict(memory_type='sam', sparse_reads=5), '`sparse_reads` must be at'),
      (dict(memory_type='sam', num_write_heads=2), '`num_write_heads` must'),
      (dict(memory_type='sdnc', link_sharpness=True), 'link_sharpness'),
      (dict(memory_type='sam', link_sparsity=2), 'has no temporal link'),
      (dict(memory_type='sdnc'), 'needs `link_sparsity` >= 1'),
    ):
      with self.subTest(options=options):
        with self.assertRaisesRegex(config_lib.ConfigError, message):
          config_lib.ModelConfig(**{**_MODEL, **options})


class MakeCoreTest(tf.test.TestCase, parameterized.TestCase):
  def test_a_config_without_the_options_is_the_reference_dnc(self):
    core = _make(fast_kernels=True)
    self.assertIsInstance(core, dnc.DNC)
    self.assertIsInstance(core.controller, controllers.LSTM)
    self.assertIs(core.controller._matmul, kernels.matmul)
    plain = _make(fast_kernels=False)
    self.assertIs(plain.controller._matmul, util.matmul)
    # The reference's 25 variables (LSTM, interface, output layer).
    self.assertLen(_names(plain), 25)

  def test_the_memory_options_reach_the_access(self):
    names = _names(_make(content_masking=True, link_sharpness=True))
    for layer in ('read_masks', 'write_masks', 'link_sharpness'):
      self.assertIn(f'dnc/memory_access/{layer}/w:0', names)
    core = _make(deallocate_content=True)
    self.assertTrue(core._access._deallocate_content)
    state = _make(link_sparsity=3).initial_state(2)
    link = state.access_state.linkage.link
    self.assertIsInstance(link, sparse_link.SparseLink)
    self.assertEqual(link.values.shape[-1], 3)

  def test_memory_type_makes_the_sparse_cores(self):
    self.assertEqual(config_lib.LEGACY_DEFAULTS['memory_type'], 'dnc')
    core = _make(memory_type='sam', sparse_reads=2, num_read_heads=2)
    self.assertIsInstance(core, sam.SAM)
    state = core.initial_state(3).access_state
    self.assertIsInstance(state, sparse_access.SparseAccessState)
    self.assertEqual(state.read_weights.indices.shape, [3, 2, 2])
    self.assertIn('sam/sparse_memory_access/read_keys/w:0', _names(core))
    core = _make(memory_type='sdnc', sparse_reads=3, link_sparsity=2)
    self.assertIsInstance(core, sam.SDNC)
    state = core.initial_state(3).access_state
    self.assertEqual(state.read_weights.indices.shape, [3, 1, 9])
    self.assertEqual(state.linkage.link.values.shape, [3, 1, 4, 2])
    # The model's options wrap it as they wrap the DNC.
    wrapped = _make(memory_type='sam', bypass_dropout=0.1)
    self.assertIsInstance(wrapped, model.Model)

  @parameterized.parameters(True, False)
  def test_layer_norm_is_the_controller_of_the_dnc(self, fast_kernels):
    core = _make(fast_kernels=fast_kernels, layer_norm=True)
    self.assertIsInstance(core, dnc.DNC)
    self.assertIsInstance(core.controller, controllers.LayerNormLSTM)
    matmul = kernels.matmul if fast_kernels else util.matmul
    self.assertIs(core.controller._matmul, matmul)

  def test_input_side_options_make_a_model(self):
    for options in (
      dict(embedding_size=4),
      dict(backward_size=3),
      dict(bypass_dropout=0.1),
    ):
      core = _make(vocabulary_size=6, **options)
      self.assertIsInstance(core, model.Model)
      self.assertEqual(core.embeds_words, 'embedding_size' in options)
    core = _make(backward_size=3, layer_norm=True)
    self.assertIsInstance(core.core.controller, controllers.PassThrough)
    self.assertIsInstance(core._backward, controllers.LayerNormLSTM)
    self.assertEqual(core(tf.zeros([4, 2, 6])).shape, (4, 2, 5))

  def test_projection_reaches_the_default_controller(self):
    core = _make(projection_size=2, forget_bias=0.5)
    self.assertEqual(core.controller.initial_state(1).hidden.shape, (1, 2))

  def test_embedding_needs_word_ids(self):
    with self.assertRaisesRegex(config_lib.ConfigError, 'word ids'):
      _make(embedding_size=4)

  def test_config_must_be_a_model_config(self):
    with self.assertRaisesRegex(TypeError, '`config` must be a ModelConfig'):
      config_lib.make_core(_MODEL, 5, fast_kernels=False)


if __name__ == '__main__':
  tf.test.main()
