// Invalid options are diagnosed.
// RUN: not parsimony-opt %s --spx-quantize-weights=mode=int3 2>&1 | FileCheck %s --check-prefix=MODE
// MODE: error: spx-quantize-weights: unknown mode 'int3' (expected int8 or int4)
// RUN: not parsimony-opt %s --spx-quantize-weights="mode=int4 group-size=48" 2>&1 | FileCheck %s --check-prefix=GROUP
// GROUP: error: spx-quantize-weights: the int4 group size must be 32, 64 or 128, got 48
// RUN: not parsimony-opt %s --spx-quantize-weights="mode=int8 group-size=32" 2>&1 | FileCheck %s --check-prefix=INT8
// INT8: error: spx-quantize-weights: int8 is quantized per output channel and takes no group size (got 32)

// Weights that are not constants are left f32 (nothing to quantize at
// compile time), and so are f16 weights.
// RUN: parsimony-opt %s --spx-quantize-weights | FileCheck %s
// CHECK-LABEL: func @runtime_weights
// CHECK: spx.sparse_ffn %arg0 up %arg1 down %arg2 :
// CHECK: linalg.matmul ins(%arg0, %arg1
func.func @runtime_weights(%x: tensor<2x8xf32>, %w1: tensor<8x16xf32>, %w2: tensor<16x8xf32>) -> (tensor<2x8xf32>, tensor<2x16xf32>) {
  %y = spx.sparse_ffn %x up %w1 down %w2 : (tensor<2x8xf32>, tensor<8x16xf32>, tensor<16x8xf32>) -> tensor<2x8xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x16xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x16xf32>) -> tensor<2x16xf32>
  %m = linalg.matmul ins(%x, %w1 : tensor<2x8xf32>, tensor<8x16xf32>) outs(%f : tensor<2x16xf32>) -> tensor<2x16xf32>
  return %y, %m : tensor<2x8xf32>, tensor<2x16xf32>
}
