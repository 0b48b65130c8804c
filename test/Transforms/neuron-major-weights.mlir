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


// Quantized weights move with their scales. An int8 kn up-projection
// [D=32, F=2] with per-neuron scales [2] becomes nk [2, 32] (same scales);
// an int4 nk down-projection [D=32, F=2] with per-output scales [32] becomes
// kn [2, 32], packed two per byte ([2, 16] x i8). Each neuron is then one
// contiguous row in both projections.
// CHECK-LABEL: func @quantized
// CHECK-DAG: %[[UP:.*]] = arith.constant dense_resource<neuron_major_2_up_q> : tensor<2x32xi8>
// CHECK-DAG: %[[UPS:.*]] = arith.constant dense_resource<neuron_major_2_up_s> : tensor<2xf32>
// CHECK-DAG: %[[DOWN:.*]] = arith.constant dense_resource<neuron_major_2_down_q4> : tensor<2x16xi8>
// CHECK-DAG: %[[DOWNS:.*]] = arith.constant dense_resource<neuron_major_2_down_s> : tensor<32xf32>
// CHECK: spx.sparse_ffn %arg0 up %[[UP]] up_scales %[[UPS]] down %[[DOWN]] down_scales %[[DOWNS]] {{.*}}down_quant = #spx.quant<bits = 4>, up_layout = #spx<layout nk>, up_quant = #spx.quant<bits = 8>} : (tensor<4x32xf32>, tensor<2x32xi8>, tensor<2xf32>, tensor<2x16xi8>, tensor<32xf32>) -> tensor<4x32xf32>
func.func @quantized(%x: tensor<4x32xf32>) -> tensor<4x32xf32> {
  %w1 = arith.constant dense<[[1, -1], [2, -2], [3, -3], [4, -4], [5, -5], [6, -6], [7, -7], [-8, 0], [1, -1], [2, -2], [3, -3], [4, -4], [5, -5], [6, -6], [7, -7], [-8, 0], [1, -1], [2, -2], [3, -3], [4, -4], [5, -5], [6, -6], [7, -7], [-8, 0], [1, -1], [2, -2], [3, -3], [4, -4], [5, -5], [6, -6], [7, -7], [-8, 0]]> : tensor<32x2xi8>
  %s1 = arith.constant dense<[0.5, 0.25]> : tensor<2xf32>
  %w2 = arith.constant dense<[[1, -1], [2, -2], [3, -3], [4, -4], [5, -5], [6, -6], [7, -7], [-8, 0], [1, -1], [2, -2], [3, -3], [4, -4], [5, -5], [6, -6], [7, -7], [-8, 0], [1, -1], [2, -2], [3, -3], [4, -4], [5, -5], [6, -6], [7, -7], [-8, 0], [1, -1], [2, -2], [3, -3], [4, -4], [5, -5], [6, -6], [7, -7], [-8, 0]]> : tensor<32x2xi4>
  %s2 = arith.constant dense<0.5> : tensor<32xf32>
  %0 = spx.sparse_ffn %x up %w1 up_scales %s1 down %w2 down_scales %s2 {down_layout = #spx<layout nk>, up_quant = #spx.quant<bits = 8>, down_quant = #spx.quant<bits = 4>}
      : (tensor<4x32xf32>, tensor<32x2xi8>, tensor<2xf32>, tensor<32x2xi4>, tensor<32xf32>) -> tensor<4x32xf32>
  return %0 : tensor<4x32xf32>
}

// Expert weights: 2 experts, D = 2, F = 3. fc2 in ONNX Runtime's nk layout
// [E, D, F] becomes kn [E, F, D], expert by expert; fc1 is already nk.
// CHECK-LABEL: func @moe
// CHECK: %[[FC2:.*]] = arith.constant dense_resource<expert_major_0_fc2> : tensor<2x3x2xf32>
// CHECK: spx.moe %arg0, %arg1 fc1 %{{.*}} fc2 %[[FC2]] {fc2_layout = #spx<layout kn>} : (tensor<4x2xf32>, tensor<4x2xf32>, tensor<2x3x2xf32>, tensor<2x3x2xf32>) -> tensor<4x2xf32>
func.func @moe(%x: tensor<4x2xf32>, %r: tensor<4x2xf32>) -> tensor<4x2xf32> {
  %w1 = arith.constant dense<1.0> : tensor<2x3x2xf32>
  %w2 = arith.constant dense<[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], [[7.0, 8.0, 9.0], [10.0, 11.0, 12.0]]]> : tensor<2x2x3xf32>
  %0 = spx.moe %x, %r fc1 %w1 fc2 %w2 : (tensor<4x2xf32>, tensor<4x2xf32>, tensor<2x3x2xf32>, tensor<2x2x3xf32>) -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}

// A kn fc1 [E, D, F] becomes nk; quantized expert weights (here fc2) and
// expert weights that are not constants are left as they are.
// CHECK-LABEL: func @moe_kn_fc1
// CHECK: %[[FC1:.*]] = arith.constant dense_resource<expert_major_1_fc1> : tensor<2x3x2xf32>
// CHECK: spx.moe %arg0, %arg1 fc1 %[[FC1]] fc2 %arg2 fc2_scales %arg3 {fc2_quant = #spx.quant<bits = 8>} :
func.func @moe_kn_fc1(%x: tensor<4x2xf32>, %r: tensor<4x2xf32>, %w2: tensor<2x2x3xi8>, %s2: tensor<2x2xf32>) -> tensor<4x2xf32> {
  %w1 = arith.constant dense<[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], [[7.0, 8.0, 9.0], [10.0, 11.0, 12.0]]]> : tensor<2x2x3xf32>
  %0 = spx.moe %x, %r fc1 %w1 fc2 %w2 fc2_scales %s2 {fc1_layout = #spx<layout kn>, fc2_quant = #spx.quant<bits = 8>} : (tensor<4x2xf32>, tensor<4x2xf32>, tensor<2x2x3xf32>, tensor<2x2x3xi8>, tensor<2x2xf32>) -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}

// The blobs follow the module (checked after the last function).
// Column 0 of both weights is 1..7, -8 four times. As an int8 row it is
// 01..07 F8; packed, byte i of the 32-value block holds value i (low
// nibble) and value i + 16 (high nibble): 0x11, 0x22, ..., 0x77, 0x88.
// CHECK-DAG: neuron_major_2_up_q: "0x0100000001020304050607F8
// CHECK-DAG: neuron_major_2_down_q4: "0x0100000011223344556677881122334455667788

// The blobs follow the module. Up [[1, 2, 3], [4, 5, 6]] transposed is
// [[1, 4], [2, 5], [3, 6]] (1.0 = 0x3F800000, 4.0 = 0x40800000, ...).
// CHECK-DAG: neuron_major_0_up: "0x040000000000803F0000804000000040

// Each expert is transposed on its own: expert 0 [[1, 2, 3], [4, 5, 6]]
// becomes [[1, 4], [2, 5], [3, 6]], expert 1 starts with 7 (0x40E00000).
// CHECK-DAG: expert_major_0_fc2: "0x040000000000803F00008040000000400000A040000040400000C0400000E04000002041
