// RUN: parsimony-opt %s --spx-quantize-weights --split-input-file | FileCheck %s --check-prefixes=CHECK,INT8
// RUN: parsimony-opt %s --spx-quantize-weights="mode=int4 group-size=32" --split-input-file | FileCheck %s --check-prefixes=CHECK,INT4

// A dense projection with a constant [K, N] weight becomes spx.quant_matmul
// with the weight stored nk: int8 per output channel, or int4 in groups of
// 32 packed two per byte ([N, K / 2] x i8). The f32 weight is gone.
// CHECK-LABEL: func @dense
// INT8-DAG: %[[Q:.*]] = arith.constant dense_resource<quant_0_q> : tensor<32x64xi8>
// INT8-DAG: %[[S:.*]] = arith.constant dense_resource<quant_0_s> : tensor<32xf32>
// INT8: %[[Y:.*]] = spx.quant_matmul %arg0, %[[Q]] scales %[[S]] {layout = #spx<layout nk>, quant = #spx.quant<bits = 8>} : (tensor<4x64xf32>, tensor<32x64xi8>, tensor<32xf32>) -> tensor<4x32xf32>
// INT4-DAG: %[[Q:.*]] = arith.constant dense_resource<quant_0_q4> : tensor<32x32xi8>
// INT4-DAG: %[[S:.*]] = arith.constant dense_resource<quant_0_s> : tensor<32x2xf32>
// INT4: %[[Y:.*]] = spx.quant_matmul %arg0, %[[Q]] scales %[[S]] {layout = #spx<layout nk>, quant = #spx.quant<bits = 4, group_size = 32>} : (tensor<4x64xf32>, tensor<32x32xi8>, tensor<32x2xf32>) -> tensor<4x32xf32>
// CHECK-NOT: linalg.matmul
// CHECK-NOT: tensor<64x32xf32>
// CHECK: return %[[Y]]
func.func @dense(%x: tensor<4x64xf32>) -> tensor<4x32xf32> {
  %w = arith.constant dense<0.25> : tensor<64x32xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x32xf32>) -> tensor<4x32xf32>
  %y = linalg.matmul ins(%x, %w : tensor<4x64xf32>, tensor<64x32xf32>) outs(%f : tensor<4x32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

// A PyTorch-style [N, K] weight used through a transpose (ONNX Gemm with
// transB) is already nk. Layer norms, activations and residual adds (any
// non-contraction) keep f32. A contraction that accumulates into a nonzero
// tensor, or whose weight is not a constant, is left alone.
// CHECK-LABEL: func @transposed_and_untouched
// INT8: %[[Y:.*]] = spx.quant_matmul %arg0, %{{.*}} scales %{{.*}} {layout = #spx<layout nk>, quant = #spx.quant<bits = 8>} : (tensor<4x64xf32>, tensor<32x64xi8>, tensor<32xf32>) -> tensor<4x32xf32>
// INT4: %[[Y:.*]] = spx.quant_matmul %arg0, %{{.*}} scales %{{.*}} {layout = #spx<layout nk>, quant = #spx.quant<bits = 4, group_size = 32>} : (tensor<4x64xf32>, tensor<32x32xi8>, tensor<32x2xf32>) -> tensor<4x32xf32>
// CHECK-NOT: linalg.transpose
// CHECK: %[[N:.*]] = linalg.generic {{.*}} ins(%[[Y]] : tensor<4x32xf32>)
// CHECK: math.rsqrt
// CHECK: linalg.matmul ins(%[[N]], %arg1 : tensor<4x32xf32>, tensor<32x32xf32>)
// CHECK: linalg.matmul ins(%[[N]], %{{.*}} : tensor<4x32xf32>, tensor<32x32xf32>) outs(%arg2 : tensor<4x32xf32>)
func.func @transposed_and_untouched(%x: tensor<4x64xf32>, %wr: tensor<32x32xf32>, %acc: tensor<4x32xf32>) -> (tensor<4x32xf32>, tensor<4x32xf32>) {
  %w = arith.constant dense<0.5> : tensor<32x64xf32>
  %zero = arith.constant 0.0 : f32
  %e64 = tensor.empty() : tensor<64x32xf32>
  %wt = linalg.transpose ins(%w : tensor<32x64xf32>) outs(%e64 : tensor<64x32xf32>) permutation = [1, 0]
  %e = tensor.empty() : tensor<4x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x32xf32>) -> tensor<4x32xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<4x64xf32>, tensor<64x32xf32>) outs(%f : tensor<4x32xf32>) -> tensor<4x32xf32>
  // A stand-in for a layer norm.
  %n = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%y : tensor<4x32xf32>) outs(%e : tensor<4x32xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = math.rsqrt %a : f32
    linalg.yield %r : f32
  } -> tensor<4x32xf32>
  %z = linalg.matmul ins(%n, %wr : tensor<4x32xf32>, tensor<32x32xf32>) outs(%f : tensor<4x32xf32>) -> tensor<4x32xf32>
  %c = arith.constant dense<1.0> : tensor<32x32xf32>
  %a = linalg.matmul ins(%n, %c : tensor<4x32xf32>, tensor<32x32xf32>) outs(%acc : tensor<4x32xf32>) -> tensor<4x32xf32>
  return %z, %a : tensor<4x32xf32>, tensor<4x32xf32>
}

// -----

// A MoE layer: the router contraction (whose result reaches the router
// logits through a bias add) stays an f32 linalg.matmul; the stacked
// expert weights are quantized ([E, F, D] nk: rows of D values).
// CHECK-LABEL: func @moe
// CHECK: %[[LOGITS:.*]] = linalg.matmul ins(%arg0, %{{.*}} : tensor<4x64xf32>, tensor<64x8xf32>)
// CHECK: %[[BIASED:.*]] = linalg.generic {{.*}} ins(%[[LOGITS]]
// INT8: spx.moe %arg0, %[[BIASED]] fc1 %{{.*}} fc1_scales %{{.*}} fc2 %{{.*}} fc2_scales %{{.*}} {fc1_quant = #spx.quant<bits = 8>, fc2_quant = #spx.quant<bits = 8>, k = 2 : i64} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x128x64xi8>, tensor<8x128xf32>, tensor<8x64x128xi8>, tensor<8x64xf32>) -> tensor<4x64xf32>
// INT4: spx.moe %arg0, %[[BIASED]] fc1 %{{.*}} fc1_scales %{{.*}} fc2 %{{.*}} fc2_scales %{{.*}} {fc1_quant = #spx.quant<bits = 4, group_size = 32>, fc2_quant = #spx.quant<bits = 4, group_size = 32>, k = 2 : i64} : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x128x32xi8>, tensor<8x128x2xf32>, tensor<8x64x64xi8>, tensor<8x64x4xf32>) -> tensor<4x64xf32>
func.func @moe(%x: tensor<4x64xf32>) -> tensor<4x64xf32> {
  %wr = arith.constant dense<0.1> : tensor<64x8xf32>
  %br = arith.constant dense<0.2> : tensor<8xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x8xf32>) -> tensor<4x8xf32>
  %l = linalg.matmul ins(%x, %wr : tensor<4x64xf32>, tensor<64x8xf32>) outs(%f : tensor<4x8xf32>) -> tensor<4x8xf32>
  %b = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%l, %br : tensor<4x8xf32>, tensor<8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %s = arith.addf %a, %c : f32
    linalg.yield %s : f32
  } -> tensor<4x8xf32>
  %w1 = arith.constant dense<0.3> : tensor<8x128x64xf32>
  %w2 = arith.constant dense<-0.3> : tensor<8x64x128xf32>
  %y = spx.moe %x, %b fc1 %w1 fc2 %w2 {k = 2 : i64}
      : (tensor<4x64xf32>, tensor<4x8xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<4x64xf32>
  return %y : tensor<4x64xf32>
}

// -----

// Routed experts after decomposition: the spx.route router weight is never
// quantized; expert_ffn weights are.
// CHECK-LABEL: func @route_and_experts
// CHECK: spx.route %arg0 weight %{{.*}} {k = 2 : i64} : (tensor<4x64xf32>, tensor<64x8xf32>)
// INT8: spx.expert_ffn {{.*}} {fc1_quant = #spx.quant<bits = 8>, fc2_quant = #spx.quant<bits = 8>}
// INT4: spx.expert_ffn {{.*}} {fc1_quant = #spx.quant<bits = 4, group_size = 32>, fc2_quant = #spx.quant<bits = 4, group_size = 32>}
func.func @route_and_experts(%x: tensor<4x64xf32>, %rows: tensor<8x64xf32>, %off: tensor<8xi64>, %sz: tensor<8xi64>) -> (tensor<4x2xf32>, tensor<8x64xf32>) {
  %wr = arith.constant dense<0.1> : tensor<64x8xf32>
  %g, %ids = spx.route %x weight %wr {k = 2 : i64} : (tensor<4x64xf32>, tensor<64x8xf32>) -> (tensor<4x2xf32>, tensor<4x2xi32>)
  %w1 = arith.constant dense<0.3> : tensor<8x128x64xf32>
  %w2 = arith.constant dense<-0.3> : tensor<8x64x128xf32>
  %o = spx.expert_ffn %rows groups(%off, %sz) fc1 %w1 fc2 %w2
      : (tensor<8x64xf32>, tensor<8xi64>, tensor<8xi64>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<8x64xf32>
  return %g, %o : tensor<4x2xf32>, tensor<8x64xf32>
}

// -----

// Sparse FFN weights are quantized in place, in their current layout (the
// neuron-major pass reorders them later). An int4 input size that the
// group does not divide (48) falls back to one scale per output feature,
// and rows that are not a multiple of 32 values stay i4 (unpacked).
// CHECK-LABEL: func @sparse_ffn
// INT8: spx.sparse_ffn %arg0 up %{{.*}} up_scales %{{.*}} up_bias %arg1 down %{{.*}} down_scales %{{.*}} {down_quant = #spx.quant<bits = 8>, topk = 4 : i64, up_quant = #spx.quant<bits = 8>} : (tensor<2x48xf32>, tensor<48x64xi8>, tensor<64xf32>, tensor<64xf32>, tensor<64x48xi8>, tensor<48xf32>) -> tensor<2x48xf32>
// INT4: spx.sparse_ffn %arg0 up %{{.*}} up_scales %{{.*}} up_bias %arg1 down %{{.*}} down_scales %{{.*}} {down_quant = #spx.quant<bits = 4, group_size = 32>, topk = 4 : i64, up_quant = #spx.quant<bits = 4>} : (tensor<2x48xf32>, tensor<48x32xi8>, tensor<64xf32>, tensor<64xf32>, tensor<64x48xi4>, tensor<2x48xf32>) -> tensor<2x48xf32>
func.func @sparse_ffn(%x: tensor<2x48xf32>, %b: tensor<64xf32>) -> tensor<2x48xf32> {
  %w1 = arith.constant dense<0.5> : tensor<48x64xf32>
  %w2 = arith.constant dense<0.25> : tensor<64x48xf32>
  %y = spx.sparse_ffn %x up %w1 up_bias %b down %w2 {topk = 4 : i64}
      : (tensor<2x48xf32>, tensor<48x64xf32>, tensor<64xf32>, tensor<64x48xf32>) -> tensor<2x48xf32>
  return %y : tensor<2x48xf32>
}

// -----

// The quantized values: W = [[1, -2], [0.5, 4]] ([K, N]) stored nk is
// [[1, 0.5], [-2, 4]]; int8 scales are max |w| / 127 per output feature
// (1/127, 4/127) and the values round to nearest even: [127, 64], [-64, 127].
// CHECK-LABEL: func @values
func.func @values(%x: tensor<1x2xf32>) -> tensor<1x2xf32> {
  %w = arith.constant dense<[[1.0, -2.0], [0.5, 4.0]]> : tensor<2x2xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2xf32>) -> tensor<1x2xf32>
  %y = linalg.matmul ins(%x, %w : tensor<1x2xf32>, tensor<2x2xf32>) outs(%f : tensor<1x2xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}
// INT8: quant_0_q: "0x010000007F40C07F"

// -----

// A contraction-shaped generic that negates its activation before the
// multiply (elementwise fusion builds these) is not a projection: its
// weight stays f32 and the negation stays.
// CHECK-LABEL: func @negated_activation
// CHECK-NOT: spx.quant_matmul
// CHECK: arith.negf
// CHECK: arith.mulf
func.func @negated_activation(%x: tensor<4x64xf32>) -> tensor<4x32xf32> {
  %w = arith.constant dense<0.25> : tensor<64x32xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x32xf32>) -> tensor<4x32xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                                        affine_map<(m, n, k) -> (k, n)>,
                                        affine_map<(m, n, k) -> (m, n)>],
                       iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<4x64xf32>, tensor<64x32xf32>) outs(%f : tensor<4x32xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %n = arith.negf %a : f32
    %p = arith.mulf %n, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}
