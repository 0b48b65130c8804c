// RUN: parsimony-opt %s --spx-decompose-moe --split-input-file | FileCheck %s
// RUN: parsimony-opt %s --spx-decompose-moe="dispatch=capacity capacity-factor=2.0" --split-input-file | FileCheck %s --check-prefix=OVERRIDE
// RUN: not parsimony-opt %s --spx-decompose-moe="dispatch=sideways" 2>&1 | FileCheck %s --check-prefix=BADMODE

// BADMODE: error: spx-decompose-moe: unknown dispatch mode 'sideways' (expected dropless or capacity)

// CHECK-LABEL: func @dropless
// CHECK-SAME: (%[[X:.*]]: tensor<16x64xf32>, %[[R:.*]]: tensor<16x8xf32>, %[[W1:.*]]: tensor<8x128x64xf32>, %[[B1:.*]]: tensor<8x128xf32>, %[[W2:.*]]: tensor<8x64x128xf32>)
// CHECK: %[[G:.*]], %[[E:.*]] = spx.route %[[R]] {k = 2 : i64, normalize = true} : (tensor<16x8xf32>) -> (tensor<16x2xf32>, tensor<16x2xi64>)
// CHECK: %[[ROWS:.*]], %[[OFF:.*]], %[[SIZES:.*]], %[[SLOTS:.*]] = spx.dispatch %[[X]], %[[E]] {num_experts = 8 : i64} : (tensor<16x64xf32>, tensor<16x2xi64>) -> (tensor<32x64xf32>, tensor<8xi64>, tensor<8xi64>, tensor<16x2xi64>)
// CHECK: %[[OUT:.*]] = spx.expert_ffn %[[ROWS]] groups(%[[OFF]], %[[SIZES]]) fc1 %[[W1]] fc1_bias %[[B1]] fc2 %[[W2]] {activation = #spx<activation gelu>}
// CHECK: %[[Y:.*]] = spx.combine %[[OUT]], %[[SLOTS]], %[[G]] : (tensor<32x64xf32>, tensor<16x2xi64>, tensor<16x2xf32>) -> tensor<16x64xf32>
// CHECK: return %[[Y]]
// OVERRIDE-LABEL: func @dropless
// C = ceil(16 / 8 * 2) = 4 rows per expert, 32 rows.
// OVERRIDE: spx.dispatch {{.*}} {capacity_factor = 2.000000e+00 : f32, mode = #spx<dispatch capacity>, num_experts = 8 : i64} : (tensor<16x64xf32>, tensor<16x2xi64>) -> (tensor<32x64xf32>
func.func @dropless(%x: tensor<16x64xf32>, %r: tensor<16x8xf32>, %w1: tensor<8x128x64xf32>, %b1: tensor<8x128xf32>, %w2: tensor<8x64x128xf32>) -> tensor<16x64xf32> {
  %0 = spx.moe %x, %r fc1 %w1 fc1_bias %b1 fc2 %w2 {k = 2 : i64, activation = #spx<activation gelu>, normalize_routing_weights = true}
      : (tensor<16x64xf32>, tensor<16x8xf32>, tensor<8x128x64xf32>, tensor<8x128xf32>, tensor<8x64x128xf32>) -> tensor<16x64xf32>
  return %0 : tensor<16x64xf32>
}

// -----

// f16 model: the router logits are extended to f32 before routing, the
// experts stay in f16, and [B, S, D] is flattened around the pipeline.
// CHECK-LABEL: func @f16_batched
// CHECK: %[[FLAT:.*]] = tensor.collapse_shape %arg0 {{\[\[}}0, 1], [2]] : tensor<2x3x16xf16> into tensor<6x16xf16>
// CHECK: %[[L:.*]] = arith.extf %arg1 : tensor<6x4xf16> to tensor<6x4xf32>
// CHECK: spx.route %[[L]] {k = 1 : i64} : (tensor<6x4xf32>)
// Capacity: C = ceil(6 / 4 * 1.0) = 2, 8 rows.
// CHECK: spx.dispatch %[[FLAT]], %{{.*}} {mode = #spx<dispatch capacity>, num_experts = 4 : i64} : (tensor<6x16xf16>, tensor<6x1xi64>) -> (tensor<8x16xf16>
// CHECK: spx.expert_ffn {{.*}} fc3 %arg4 {activation = #spx<activation swiglu>, activation_alpha = 1.702000e+00 : f32, swiglu_limit = 7.000000e+00 : f32}
// CHECK: %[[C:.*]] = spx.combine {{.*}} -> tensor<6x16xf16>
// CHECK: tensor.expand_shape %[[C]] {{\[\[}}0, 1], [2]] output_shape [2, 3, 16] : tensor<6x16xf16> into tensor<2x3x16xf16>
// OVERRIDE-LABEL: func @f16_batched
// C = ceil(6 / 4 * 2) = 3, 12 rows.
// OVERRIDE: spx.dispatch {{.*}} -> (tensor<12x16xf16>
func.func @f16_batched(%x: tensor<2x3x16xf16>, %r: tensor<6x4xf16>, %w1: tensor<4x32x16xf16>, %w2: tensor<4x16x32xf16>, %w3: tensor<4x32x16xf16>) -> tensor<2x3x16xf16> {
  %0 = spx.moe %x, %r fc1 %w1 fc2 %w2 fc3 %w3 {activation = #spx<activation swiglu>, activation_alpha = 1.702 : f32, swiglu_limit = 7.0 : f32, dispatch = #spx<dispatch capacity>}
      : (tensor<2x3x16xf16>, tensor<6x4xf16>, tensor<4x32x16xf16>, tensor<4x16x32xf16>, tensor<4x32x16xf16>) -> tensor<2x3x16xf16>
  return %0 : tensor<2x3x16xf16>
}

// -----

// Dynamic token count: the dispatched row count stays dynamic.
// CHECK-LABEL: func @dynamic
// CHECK: spx.dispatch {{.*}} : (tensor<?x16xf32>, tensor<?x2xi64>) -> (tensor<?x16xf32>, tensor<4xi64>, tensor<4xi64>, tensor<?x2xi64>)
// CHECK: tensor.expand_shape
func.func @dynamic(%x: tensor<?x?x16xf32>, %r: tensor<?x4xf32>, %w1: tensor<4x32x16xf32>, %w2: tensor<4x16x32xf32>) -> tensor<?x?x16xf32> {
  %0 = spx.moe %x, %r fc1 %w1 fc2 %w2 {k = 2 : i64}
      : (tensor<?x?x16xf32>, tensor<?x4xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<?x?x16xf32>
  return %0 : tensor<?x?x16xf32>
}

// -----

// Ops that are not MoE are left alone.
// CHECK-LABEL: func @untouched
// CHECK: spx.sparse_ffn
func.func @untouched(%x: tensor<4x8xf32>, %w1: tensor<8x32xf32>, %w2: tensor<32x8xf32>) -> tensor<4x8xf32> {
  %0 = spx.sparse_ffn %x up %w1 down %w2 : (tensor<4x8xf32>, tensor<8x32xf32>, tensor<32x8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}
