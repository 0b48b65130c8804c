// RUN: parsimony-opt %s --spx-neuron-major-weights | FileCheck %s

// A kn up-projection [D=2, F=3] becomes nk [3, 2]; an nk down-projection
// [D=2, F=3] becomes kn [3, 2]; the data is transposed at compile time.
// CHECK-LABEL: func @ffn
// CHECK-DAG: %[[UP:.*]] = arith.constant dense_resource<neuron_major_0_up> : tensor<3x2xf32>
// CHECK-DAG: %[[DOWN:.*]] = arith.constant dense_resource<neuron_major_0_down> : tensor<3x2xf32>
// CHECK: spx.sparse_ffn %arg0 up %[[UP]] down %[[DOWN]] {topk = 1 : i64, up_layout = #spx<layout nk>} : (tensor<4x2xf32>, tensor<3x2xf32>, tensor<3x2xf32>) -> tensor<4x2xf32>
func.func @ffn(%x: tensor<4x2xf32>) -> tensor<4x2xf32> {
  %w1 = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %w2 = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %0 = spx.sparse_ffn %x up %w1 down %w2 {topk = 1 : i64, down_layout = #spx<layout nk>}
      : (tensor<4x2xf32>, tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}

// Weights that are already neuron-major, or not constants, are untouched.
// CHECK-LABEL: func @untouched
// CHECK: spx.sparse_ffn %arg0 up %arg1 down %arg2 :
func.func @untouched(%x: tensor<4x2xf32>, %w1: tensor<2x3xf32>, %w2: tensor<3x2xf32>) -> tensor<4x2xf32> {
  %0 = spx.sparse_ffn %x up %w1 down %w2 : (tensor<4x2xf32>, tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}

// The blobs follow the module. Up [[1, 2, 3], [4, 5, 6]] transposed is
// [[1, 4], [2, 5], [3, 6]] (1.0 = 0x3F800000, 4.0 = 0x40800000, ...).
// CHECK: neuron_major_0_up: "0x040000000000803F0000804000000040
