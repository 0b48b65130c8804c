// RUN: parsimony-opt %s --spx-decompose-sparse-ffn --split-input-file | FileCheck %s

// The dense form: contractions (up with the nk layout, gate kn), one
// elementwise op for bias + activation + gating, the top-k, the down
// contraction and its bias; leading dims are flattened and restored.
// CHECK-DAG: #[[NK:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG: #[[KN:.*]] = affine_map<(d0, d1, d2) -> (d2, d1)>
// CHECK-LABEL: func @gated
// CHECK: %[[X:.*]] = tensor.collapse_shape %arg0 {{\[\[}}0, 1], [2]] : tensor<2x3x8xf32> into tensor<6x8xf32>
// CHECK: %[[UP:.*]] = linalg.generic {indexing_maps = [#{{.*}}, #[[NK]], #{{.*}}], iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[X]], %arg1
// CHECK: %[[GATE:.*]] = linalg.generic {indexing_maps = [#{{.*}}, #[[KN]], #{{.*}}], iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[X]], %arg3
// CHECK: %[[H:.*]] = linalg.generic {{.*}} ins(%[[UP]], %arg2, %[[GATE]] : tensor<6x32xf32>, tensor<32xf32>, tensor<6x32xf32>)
// CHECK: math.exp
// CHECK: %[[TOP:.*]] = spx.topk_activation %[[H]], k = 4 : tensor<6x32xf32>
// CHECK: %[[DOWN:.*]] = linalg.generic {{.*}} ins(%[[TOP]], %arg4
// CHECK: %[[Y:.*]] = linalg.generic {{.*}} ins(%[[DOWN]], %arg5 : tensor<6x8xf32>, tensor<8xf32>)
// CHECK: tensor.expand_shape %[[Y]] {{\[\[}}0, 1], [2]] output_shape [2, 3, 8]
// CHECK-NOT: spx.sparse_ffn
func.func @gated(%x: tensor<2x3x8xf32>, %w1: tensor<32x8xf32>, %b1: tensor<32xf32>, %wg: tensor<8x32xf32>, %w2: tensor<32x8xf32>, %b2: tensor<8xf32>) -> tensor<2x3x8xf32> {
  %0 = spx.sparse_ffn %x up %w1 up_bias %b1 gate %wg down %w2 down_bias %b2 {activation = #spx<activation silu>, up_layout = #spx<layout nk>, topk = 4 : i64}
     : (tensor<2x3x8xf32>, tensor<32x8xf32>, tensor<32xf32>, tensor<8x32xf32>, tensor<32x8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  return %0 : tensor<2x3x8xf32>
}

// -----

// GELU (erf) without biases on a 2-D input; no reshapes, no top-k.
// CHECK-LABEL: func @gelu
// CHECK-NOT: tensor.collapse_shape
// CHECK: math.erf
// CHECK-NOT: spx.topk_activation
// CHECK-NOT: tensor.expand_shape
func.func @gelu(%x: tensor<4x8xf32>, %w1: tensor<8x16xf32>, %w2: tensor<16x8xf32>) -> tensor<4x8xf32> {
  %0 = spx.sparse_ffn %x up %w1 down %w2 {activation = #spx<activation gelu>}
     : (tensor<4x8xf32>, tensor<8x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// Quantized weights and predicted supports keep the FFN kernel.
// CHECK-LABEL: func @kept
// CHECK-COUNT-2: spx.sparse_ffn
func.func @kept(%x: tensor<4x8xf32>, %q: tensor<16x8xi8>, %s: tensor<16xf32>, %w1: tensor<8x16xf32>, %w2: tensor<16x8xf32>, %sup: tensor<4x2xi32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %0 = spx.sparse_ffn %x up %q up_scales %s down %w2 {up_layout = #spx<layout nk>, up_quant = #spx.quant<bits = 8>}
     : (tensor<4x8xf32>, tensor<16x8xi8>, tensor<16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
  %1 = spx.sparse_ffn %x up %w1 down %w2 support %sup
     : (tensor<4x8xf32>, tensor<8x16xf32>, tensor<16x8xf32>, tensor<4x2xi32>) -> tensor<4x8xf32>
  return %0, %1 : tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// A fused residual is added after the down bias, flattened like the input.
// CHECK-LABEL: func @residual
// CHECK: %[[DOWN:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %arg2
// CHECK: %[[B:.*]] = linalg.generic {{.*}} ins(%[[DOWN]], %arg3 : tensor<6x8xf32>, tensor<8xf32>)
// CHECK: %[[R:.*]] = tensor.collapse_shape %arg4 {{\[\[}}0, 1], [2]] : tensor<2x3x8xf32> into tensor<6x8xf32>
// CHECK: %[[Y:.*]] = linalg.generic {{.*}} ins(%[[B]], %[[R]] : tensor<6x8xf32>, tensor<6x8xf32>)
// CHECK: arith.addf
// CHECK: tensor.expand_shape %[[Y]] {{\[\[}}0, 1], [2]] output_shape [2, 3, 8]
func.func @residual(%x: tensor<2x3x8xf32>, %w1: tensor<8x32xf32>, %w2: tensor<32x8xf32>, %b2: tensor<8xf32>, %r: tensor<2x3x8xf32>) -> tensor<2x3x8xf32> {
  %0 = spx.sparse_ffn %x up %w1 down %w2 down_bias %b2 residual %r
     : (tensor<2x3x8xf32>, tensor<8x32xf32>, tensor<32x8xf32>, tensor<8xf32>, tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  return %0 : tensor<2x3x8xf32>
}
