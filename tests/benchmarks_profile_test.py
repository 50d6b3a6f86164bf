"""Tests for benchmarks/profile.py's reading of XLA's HLO dump."""

import os

import tensorflow as tf

from benchmarks import profile

_HLO = """\
HloModule a_inference__train_step_1

%fused_computation.1 (param_0: f32[16,4]) -> f32[16,4] {
  %param_0 = f32[16,4]{1,0} parameter(0)
  ROOT %multiply.3 = f32[16,4]{1,0} multiply(%param_0, %param_0), metadata={op_type="Mul" op_name="dnc/mul"}
}

ENTRY %main {
  %MatMul.7 = f32[16,256]{1,0} dot(%a, %b), lhs_contracting_dims={1}, rhs_contracting_dims={1}, metadata={op_type="MatMul" op_name="gradient_tape/while/gradients/dnc/lstm/MatMul_grad/MatMul" source_file="x.py" source_line=1}
  %copy.2 = f32[16,128]{1,0} copy(%c)
  ROOT %bitcast_multiply_fusion.13 = f32[16,1,128,128]{3,2,1,0} fusion(%d), kind=kLoop, calls=%fused_computation.1, metadata={op_type="Mul" op_name="dnc/memory_access/temporal_linkage/mul_2"}
}
"""  # noqa: E501 (HLO lines are as long as XLA writes them)


class HloOpNamesTest(tf.test.TestCase):
  def test_maps_kernels_to_their_tensorflow_ops(self):
    dump_dir = self.get_temp_dir()
    name = 'module_0001.a_inference__train_step_1.cpu_after_optimizations.txt'
    with open(os.path.join(dump_dir, name), 'w') as f:
      f.write(_HLO)
    # Another module of the dump (not the training step) is not read.
    with open(os.path.join(dump_dir, 'module_0002.other.txt'), 'w') as f:
      f.write('  %MatMul.7 = f32[2]{0} dot(%a), metadata={op_name="other"}\n')
    self.assertEqual(
      profile.hlo_op_names(dump_dir),
      {
        'multiply.3': 'dnc/mul',
        'MatMul.7': 'gradient_tape/while/gradients/dnc/lstm/MatMul_grad/MatMul',
        'bitcast_multiply_fusion.13': (
          'dnc/memory_access/temporal_linkage/mul_2'
        ),
      },
    )
