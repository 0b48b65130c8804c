// RUN: parsimony-opt %s --canonicalize --split-input-file | FileCheck %s

// k equal to the axis size keeps everything: the op folds away.
// CHECK-LABEL: func @topk_full
// CHECK-NOT: spx.topk_activation
// CHECK: return %arg0
func.func @topk_full(%a: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = spx.topk_activation %a, k = 8 : tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// Also along a non-trailing axis.
// CHECK-LABEL: func @topk_full_axis0
// CHECK-NOT: spx.topk_activation
func.func @topk_full_axis0(%a: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = spx.topk_activation %a, k = 4 {axis = 0} : tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// Negative: k smaller than the axis, or an axis of unknown size, stays.
// CHECK-LABEL: func @topk_kept
// CHECK: spx.topk_activation %arg0, k = 7
// CHECK: spx.topk_activation %arg1, k = 8
func.func @topk_kept(%a: tensor<4x8xf32>, %b: tensor<4x?xf32>) -> (tensor<4x8xf32>, tensor<4x?xf32>) {
  %0 = spx.topk_activation %a, k = 7 : tensor<4x8xf32>
  %1 = spx.topk_activation %b, k = 8 : tensor<4x?xf32>
  return %0, %1 : tensor<4x8xf32>, tensor<4x?xf32>
}

// -----

// A top-k over the whole hidden layer of an FFN is dropped; a smaller one stays.
// CHECK-LABEL: func @ffn_topk
// CHECK: %[[A:.*]] = spx.sparse_ffn %arg0 up %arg1 down %arg2 :
// CHECK: %[[B:.*]] = spx.sparse_ffn %arg0 up %arg1 down %arg2 {topk = 16 : i64}
func.func @ffn_topk(%x: tensor<4x8xf32>, %w1: tensor<8x32xf32>, %w2: tensor<32x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %0 = spx.sparse_ffn %x up %w1 down %w2 {topk = 32 : i64} : (tensor<4x8xf32>, tensor<8x32xf32>, tensor<32x8xf32>) -> tensor<4x8xf32>
  %1 = spx.sparse_ffn %x up %w1 down %w2 {topk = 16 : i64} : (tensor<4x8xf32>, tensor<8x32xf32>, tensor<32x8xf32>) -> tensor<4x8xf32>
  return %0, %1 : tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// One expert with k = 1 is that expert's FFN (gate softmax([l]) = 1).
// CHECK-LABEL: func @moe_one_expert
// CHECK-DAG: %[[W1:.*]] = tensor.collapse_shape %arg2 {{\[\[}}0, 1], [2]] : tensor<1x32x16xf32> into tensor<32x16xf32>
// CHECK-DAG: %[[B1:.*]] = tensor.collapse_shape %arg3 {{\[\[}}0, 1]] : tensor<1x32xf32> into tensor<32xf32>
// CHECK-DAG: %[[W2:.*]] = tensor.collapse_shape %arg4 {{\[\[}}0, 1], [2]] : tensor<1x16x32xf32> into tensor<16x32xf32>
// CHECK: spx.sparse_ffn %arg0 up %[[W1]] up_bias %[[B1]] down %[[W2]] {activation = #spx<activation silu>, down_layout = #spx<layout nk>, up_layout = #spx<layout nk>}
// CHECK-NOT: spx.moe
func.func @moe_one_expert(%x: tensor<2x4x16xf32>, %r: tensor<8x1xf32>, %w1: tensor<1x32x16xf32>, %b1: tensor<1x32xf32>, %w2: tensor<1x16x32xf32>) -> tensor<2x4x16xf32> {
  %0 = spx.moe %x, %r fc1 %w1 fc1_bias %b1 fc2 %w2 {activation = #spx<activation silu>, normalize_routing_weights = true}
      : (tensor<2x4x16xf32>, tensor<8x1xf32>, tensor<1x32x16xf32>, tensor<1x32xf32>, tensor<1x16x32xf32>) -> tensor<2x4x16xf32>
  return %0 : tensor<2x4x16xf32>
}

// -----

// Quantized expert weights carry their scales and quant attributes across.
// CHECK-LABEL: func @moe_one_expert_quantized
// CHECK: %[[S:.*]] = tensor.collapse_shape %arg3 {{\[\[}}0, 1], [2]] : tensor<1x32x1xf32> into tensor<32x1xf32>
// CHECK: spx.sparse_ffn %arg0 up %{{.*}} up_scales %[[S]] down %{{.*}} {{.*}}up_quant = #spx.quant<bits = 4, group_size = 16>
func.func @moe_one_expert_quantized(%x: tensor<4x16xf32>, %r: tensor<4x1xf32>, %w1: tensor<1x32x16xi4>, %s1: tensor<1x32x1xf32>, %w2: tensor<1x16x32xf32>) -> tensor<4x16xf32> {
  %0 = spx.moe %x, %r fc1 %w1 fc1_scales %s1 fc2 %w2 {fc1_quant = #spx.quant<bits = 4, group_size = 16>}
      : (tensor<4x16xf32>, tensor<4x1xf32>, tensor<1x32x16xi4>, tensor<1x32x1xf32>, tensor<1x16x32xf32>) -> tensor<4x16xf32>
  return %0 : tensor<4x16xf32>
}

// -----

// Negative: two experts, k = 2 over one expert is invalid anyway, and
// SwiGLU or gated (fc3) experts are not a plain FFN.
// CHECK-LABEL: func @moe_kept
// CHECK-COUNT-2: spx.moe
func.func @moe_kept(%x: tensor<4x16xf32>, %r2: tensor<4x2xf32>, %w1: tensor<2x32x16xf32>, %w2: tensor<2x16x32xf32>,
                    %r1: tensor<4x1xf32>, %v1: tensor<1x32x16xf32>, %v2: tensor<1x16x32xf32>, %v3: tensor<1x32x16xf32>) -> (tensor<4x16xf32>, tensor<4x16xf32>) {
  %0 = spx.moe %x, %r2 fc1 %w1 fc2 %w2 : (tensor<4x16xf32>, tensor<4x2xf32>, tensor<2x32x16xf32>, tensor<2x16x32xf32>) -> tensor<4x16xf32>
  %1 = spx.moe %x, %r1 fc1 %v1 fc2 %v2 fc3 %v3 {activation = #spx<activation silu>}
      : (tensor<4x16xf32>, tensor<4x1xf32>, tensor<1x32x16xf32>, tensor<1x16x32xf32>, tensor<1x32x16xf32>) -> tensor<4x16xf32>
  return %0, %1 : tensor<4x16xf32>, tensor<4x16xf32>
}
