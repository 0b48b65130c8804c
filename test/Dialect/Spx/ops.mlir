// RUN: parsimony-opt %s | parsimony-opt | FileCheck %s
// RUN: parsimony-opt %s --mlir-print-op-generic | parsimony-opt | FileCheck %s
// Every spx op round-trips through the custom and the generic form.

// CHECK-LABEL: func @topk
func.func @topk(%a: tensor<16x3072xf32>, %b: tensor<2x?x64xbf16>)
    -> (tensor<16x3072xf32>, tensor<16x3072xf32>, tensor<2x?x64xbf16>) {
  // CHECK: spx.topk_activation %{{.*}}, k = 128 : tensor<16x3072xf32>
  %0 = spx.topk_activation %a, k = 128 : tensor<16x3072xf32>
  // CHECK: spx.topk_activation %{{.*}}, k = 64 {mode = #spx<topk_mode approx>, recall_target = 0.899999976 : f32} : tensor<16x3072xf32>
  %1 = spx.topk_activation %a, k = 64 {mode = #spx<topk_mode approx>, recall_target = 0.9 : f32} : tensor<16x3072xf32>
  // CHECK: spx.topk_activation %{{.*}}, k = 1 {axis = 1 : i64} : tensor<2x?x64xbf16>
  %2 = spx.topk_activation %b, k = 1 {axis = 1} : tensor<2x?x64xbf16>
  return %0, %1, %2 : tensor<16x3072xf32>, tensor<16x3072xf32>, tensor<2x?x64xbf16>
}

// CHECK-LABEL: func @fused_matmul
func.func @fused_matmul(%x: tensor<4x768xf32>, %w: tensor<768x3072xf32>, %b: tensor<3072xf32>,
                        %r: tensor<4x3072xf32>) -> (tensor<4x3072xf32>, tensor<4x3072xf32>) {
  // CHECK: spx.matmul %{{.*}}, %{{.*}} bias %{{.*}} residual %{{.*}} {activation = #spx<activation gelu>} : (tensor<4x768xf32>, tensor<768x3072xf32>, tensor<3072xf32>, tensor<4x3072xf32>) -> tensor<4x3072xf32>
  %0 = spx.matmul %x, %w bias %b residual %r {activation = #spx<activation gelu>}
      : (tensor<4x768xf32>, tensor<768x3072xf32>, tensor<3072xf32>, tensor<4x3072xf32>) -> tensor<4x3072xf32>
  // CHECK: spx.matmul %{{.*}}, %{{.*}} : (tensor<4x768xf32>, tensor<768x3072xf32>) -> tensor<4x3072xf32>
  %1 = spx.matmul %x, %w : (tensor<4x768xf32>, tensor<768x3072xf32>) -> tensor<4x3072xf32>
  return %0, %1 : tensor<4x3072xf32>, tensor<4x3072xf32>
}

// CHECK-LABEL: func @quant_matmul
func.func @quant_matmul(%x: tensor<1x768xf32>, %q: tensor<3072x768xi8>, %s: tensor<3072xf32>,
                        %x3: tensor<2x8x768xf32>, %p: tensor<3072x384xi8>, %g: tensor<3072x12xf32>,
                        %k: tensor<768x3072xi4>, %kg: tensor<24x3072xf16>)
    -> (tensor<1x3072xf32>, tensor<2x8x3072xf32>, tensor<1x3072xf32>) {
  // CHECK: spx.quant_matmul %{{.*}}, %{{.*}} scales %{{.*}} {layout = #spx<layout nk>, quant = #spx.quant<bits = 8>} : (tensor<1x768xf32>, tensor<3072x768xi8>, tensor<3072xf32>) -> tensor<1x3072xf32>
  %0 = spx.quant_matmul %x, %q scales %s {layout = #spx<layout nk>, quant = #spx.quant<bits = 8>}
      : (tensor<1x768xf32>, tensor<3072x768xi8>, tensor<3072xf32>) -> tensor<1x3072xf32>
  // Packed int4: 768 values per row in 384 bytes.
  // CHECK: spx.quant_matmul %{{.*}}, %{{.*}} scales %{{.*}} {layout = #spx<layout nk>, quant = #spx.quant<bits = 4, group_size = 64>} : (tensor<2x8x768xf32>, tensor<3072x384xi8>, tensor<3072x12xf32>) -> tensor<2x8x3072xf32>
  %1 = spx.quant_matmul %x3, %p scales %g {layout = #spx<layout nk>, quant = #spx.quant<bits = 4, group_size = 64>}
      : (tensor<2x8x768xf32>, tensor<3072x384xi8>, tensor<3072x12xf32>) -> tensor<2x8x3072xf32>
  // CHECK: spx.quant_matmul %{{.*}}, %{{.*}} scales %{{.*}} {quant = #spx.quant<bits = 4, group_size = 32>} : (tensor<1x768xf32>, tensor<768x3072xi4>, tensor<24x3072xf16>) -> tensor<1x3072xf32>
  %2 = spx.quant_matmul %x, %k scales %kg {quant = #spx.quant<bits = 4, group_size = 32>}
      : (tensor<1x768xf32>, tensor<768x3072xi4>, tensor<24x3072xf16>) -> tensor<1x3072xf32>
  return %0, %1, %2 : tensor<1x3072xf32>, tensor<2x8x3072xf32>, tensor<1x3072xf32>
}

// 8-bit integer activations (a raised MatMulInteger): uint8 with a zero
// point and an epilogue, int8 without.
// CHECK-LABEL: func @quant_matmul_integer_input
func.func @quant_matmul_integer_input(%x: tensor<4x768xi8>, %q: tensor<3072x768xi8>, %s: tensor<3072xf32>,
                                      %zp: i32, %b: tensor<3072xf32>)
    -> (tensor<4x3072xf32>, tensor<4x3072xf32>) {
  // CHECK: spx.quant_matmul %{{.*}}, %{{.*}} scales %{{.*}} input_zero_point %{{.*}} bias %{{.*}} {activation = #spx<activation relu>, input_unsigned, layout = #spx<layout nk>, quant = #spx.quant<bits = 8>} : (tensor<4x768xi8>, tensor<3072x768xi8>, tensor<3072xf32>, i32, tensor<3072xf32>) -> tensor<4x3072xf32>
  %0 = spx.quant_matmul %x, %q scales %s input_zero_point %zp bias %b {activation = #spx<activation relu>, input_unsigned, layout = #spx<layout nk>, quant = #spx.quant<bits = 8>}
      : (tensor<4x768xi8>, tensor<3072x768xi8>, tensor<3072xf32>, i32, tensor<3072xf32>) -> tensor<4x3072xf32>
  // CHECK: spx.quant_matmul %{{.*}}, %{{.*}} scales %{{.*}} {layout = #spx<layout nk>, quant = #spx.quant<bits = 8>} : (tensor<4x768xi8>, tensor<3072x768xi8>, tensor<3072xf32>) -> tensor<4x3072xf32>
  %1 = spx.quant_matmul %x, %q scales %s {layout = #spx<layout nk>, quant = #spx.quant<bits = 8>}
      : (tensor<4x768xi8>, tensor<3072x768xi8>, tensor<3072xf32>) -> tensor<4x3072xf32>
  return %0, %1 : tensor<4x3072xf32>, tensor<4x3072xf32>
}

// CHECK-LABEL: func @quant_matmul_epilogue
func.func @quant_matmul_epilogue(%x: tensor<1x768xf32>, %q: tensor<3072x768xi8>, %s: tensor<3072xf32>,
                                 %b: tensor<3072xf32>, %r: tensor<1x3072xf32>)
    -> (tensor<1x3072xf32>, tensor<1x3072xf32>) {
  // CHECK: spx.quant_matmul %{{.*}}, %{{.*}} scales %{{.*}} bias %{{.*}} residual %{{.*}} {activation = #spx<activation silu>, layout = #spx<layout nk>, quant = #spx.quant<bits = 8>} : (tensor<1x768xf32>, tensor<3072x768xi8>, tensor<3072xf32>, tensor<3072xf32>, tensor<1x3072xf32>) -> tensor<1x3072xf32>
  %0 = spx.quant_matmul %x, %q scales %s bias %b residual %r {activation = #spx<activation silu>, layout = #spx<layout nk>, quant = #spx.quant<bits = 8>}
      : (tensor<1x768xf32>, tensor<3072x768xi8>, tensor<3072xf32>, tensor<3072xf32>, tensor<1x3072xf32>) -> tensor<1x3072xf32>
  // CHECK: spx.quant_matmul %{{.*}}, %{{.*}} scales %{{.*}} residual %{{.*}} {layout = #spx<layout nk>, quant = #spx.quant<bits = 8>} : (tensor<1x768xf32>, tensor<3072x768xi8>, tensor<3072xf32>, tensor<1x3072xf32>) -> tensor<1x3072xf32>
  %1 = spx.quant_matmul %x, %q scales %s residual %r {layout = #spx<layout nk>, quant = #spx.quant<bits = 8>}
      : (tensor<1x768xf32>, tensor<3072x768xi8>, tensor<3072xf32>, tensor<1x3072xf32>) -> tensor<1x3072xf32>
  return %0, %1 : tensor<1x3072xf32>, tensor<1x3072xf32>
}

// CHECK-LABEL: func @sparse_matmul
func.func @sparse_matmul(%h: tensor<16x3072xf32>, %w: tensor<3072x768xf32>,
                         %q: tensor<768x3072xi8>, %s: tensor<768xf32>,
                         %h3: tensor<2x8x3072xf16>, %w16: tensor<3072x768xf16>)
    -> (tensor<16x768xf32>, tensor<16x768xf32>, tensor<2x8x768xf16>) {
  // CHECK: spx.sparse_matmul %{{.*}}, %{{.*}} : (tensor<16x3072xf32>, tensor<3072x768xf32>) -> tensor<16x768xf32>
  %0 = spx.sparse_matmul %h, %w : (tensor<16x3072xf32>, tensor<3072x768xf32>) -> tensor<16x768xf32>
  // CHECK: spx.sparse_matmul %{{.*}}, %{{.*}} scales %{{.*}} {layout = #spx<layout nk>, quant = #spx.quant<bits = 8>}
  %1 = spx.sparse_matmul %h, %q scales %s {layout = #spx<layout nk>, quant = #spx.quant<bits = 8>}
      : (tensor<16x3072xf32>, tensor<768x3072xi8>, tensor<768xf32>) -> tensor<16x768xf32>
  // CHECK: spx.sparse_matmul {{.*}} -> tensor<2x8x768xf16>
  %2 = spx.sparse_matmul %h3, %w16 : (tensor<2x8x3072xf16>, tensor<3072x768xf16>) -> tensor<2x8x768xf16>
  return %0, %1, %2 : tensor<16x768xf32>, tensor<16x768xf32>, tensor<2x8x768xf16>
}

// CHECK-LABEL: func @support_matmul
func.func @support_matmul(%x: tensor<4x768xf32>, %w1: tensor<768x3072xf32>,
                          %w2: tensor<3072x768xf32>, %s: tensor<4x128xi32>,
                          %q: tensor<3072x768xi4>, %qs: tensor<3072x12xf16>)
    -> (tensor<4x768xf32>, tensor<4x128xf32>) {
  // CHECK: spx.support_matmul %{{.*}}, %{{.*}} support %{{.*}} {side = #spx<side output>} : (tensor<4x768xf32>, tensor<768x3072xf32>, tensor<4x128xi32>) -> tensor<4x128xf32>
  %h = spx.support_matmul %x, %w1 support %s {side = #spx<side output>}
      : (tensor<4x768xf32>, tensor<768x3072xf32>, tensor<4x128xi32>) -> tensor<4x128xf32>
  // CHECK: spx.support_matmul %{{.*}}, %{{.*}} support %{{.*}} {side = #spx<side input>} : (tensor<4x128xf32>, tensor<3072x768xf32>, tensor<4x128xi32>) -> tensor<4x768xf32>
  %y = spx.support_matmul %h, %w2 support %s {side = #spx<side input>}
      : (tensor<4x128xf32>, tensor<3072x768xf32>, tensor<4x128xi32>) -> tensor<4x768xf32>
  // Neuron-major int4 up-projection, groups of 64 along the 768 inputs.
  // CHECK: spx.support_matmul %{{.*}}, %{{.*}} scales %{{.*}} support %{{.*}} {layout = #spx<layout nk>, quant = #spx.quant<bits = 4, group_size = 64>, side = #spx<side output>}
  %h2 = spx.support_matmul %x, %q scales %qs support %s
      {side = #spx<side output>, layout = #spx<layout nk>, quant = #spx.quant<bits = 4, group_size = 64>}
      : (tensor<4x768xf32>, tensor<3072x768xi4>, tensor<3072x12xf16>, tensor<4x128xi32>) -> tensor<4x128xf32>
  return %y, %h2 : tensor<4x768xf32>, tensor<4x128xf32>
}

// CHECK-LABEL: func @predict_support
func.func @predict_support(%x: tensor<1x768xf32>, %p: tensor<768x3072xi4>,
                           %ps: tensor<12x3072xf32>, %b: tensor<3072xf32>,
                           %u: tensor<768x64xf32>, %v: tensor<64x3072xf32>)
    -> (tensor<1x128xi32>, tensor<1x128xi64>) {
  // CHECK: spx.predict_support %{{.*}}, %{{.*}} scales %{{.*}} bias %{{.*}} {k = 128 : i64, predictor = #spx<predictor quantized>, quant = #spx.quant<bits = 4, group_size = 64>}
  %0 = spx.predict_support %x, %p scales %ps bias %b
      {k = 128 : i64, predictor = #spx<predictor quantized>, quant = #spx.quant<bits = 4, group_size = 64>}
      : (tensor<1x768xf32>, tensor<768x3072xi4>, tensor<12x3072xf32>, tensor<3072xf32>) -> tensor<1x128xi32>
  // CHECK: spx.predict_support %{{.*}}, %{{.*}} factor %{{.*}} {k = 128 : i64, predictor = #spx<predictor lowrank>}
  %1 = spx.predict_support %x, %u factor %v {k = 128 : i64, predictor = #spx<predictor lowrank>}
      : (tensor<1x768xf32>, tensor<768x64xf32>, tensor<64x3072xf32>) -> tensor<1x128xi64>
  return %0, %1 : tensor<1x128xi32>, tensor<1x128xi64>
}

// CHECK-LABEL: func @sparse_ffn
func.func @sparse_ffn(%x: tensor<16x768xf32>, %w1: tensor<768x3072xf32>,
                      %b1: tensor<3072xf32>, %w2: tensor<3072x768xf32>,
                      %b2: tensor<768xf32>, %wg: tensor<3072x768xf32>,
                      %s: tensor<16x256xi32>, %xd: tensor<?x?x768xf32>,
                      %q1: tensor<3072x768xi8>, %q1s: tensor<3072xf32>,
                      %q2: tensor<3072x768xi4>, %q2s: tensor<24x768xf32>)
    -> (tensor<16x768xf32>, tensor<16x768xf32>, tensor<16x768xf32>,
        tensor<?x?x768xf32>) {
  // With a fused residual (the skip connection x + FFN(x)).
  // CHECK: spx.sparse_ffn %{{.*}} up %{{.*}} up_bias %{{.*}} down %{{.*}} down_bias %{{.*}} residual %{{.*}} {topk = 128 : i64}
  %0 = spx.sparse_ffn %x up %w1 up_bias %b1 down %w2 down_bias %b2 residual %x {topk = 128 : i64}
      : (tensor<16x768xf32>, tensor<768x3072xf32>, tensor<3072xf32>, tensor<3072x768xf32>, tensor<768xf32>, tensor<16x768xf32>) -> tensor<16x768xf32>
  // Gated (LLaMA-style) FFN, neuron-major gate, predicted support shared by blocks of 4 tokens.
  // CHECK: spx.sparse_ffn %{{.*}} up %{{.*}} gate %{{.*}} down %{{.*}} support %{{.*}} {activation = #spx<activation silu>, gate_layout = #spx<layout nk>, support_block = 4 : i64}
  %1 = spx.sparse_ffn %x up %w1 gate %wg down %w2 support %s
      {activation = #spx<activation silu>, gate_layout = #spx<layout nk>, support_block = 4 : i64}
      : (tensor<16x768xf32>, tensor<768x3072xf32>, tensor<3072x768xf32>, tensor<3072x768xf32>, tensor<16x256xi32>) -> tensor<16x768xf32>
  // Quantized neuron-major form: int8 per-channel up, int4 groups of 128 down.
  // CHECK: spx.sparse_ffn %{{.*}} up %{{.*}} up_scales %{{.*}} down %{{.*}} down_scales %{{.*}} {activation = #spx<activation gelu>, down_quant = #spx.quant<bits = 4, group_size = 128>, up_layout = #spx<layout nk>, up_quant = #spx.quant<bits = 8>}
  %2 = spx.sparse_ffn %x up %q1 up_scales %q1s down %q2 down_scales %q2s
      {activation = #spx<activation gelu>, up_layout = #spx<layout nk>,
       up_quant = #spx.quant<bits = 8>, down_quant = #spx.quant<bits = 4, group_size = 128>}
      : (tensor<16x768xf32>, tensor<3072x768xi8>, tensor<3072xf32>, tensor<3072x768xi4>, tensor<24x768xf32>) -> tensor<16x768xf32>
  // CHECK: spx.sparse_ffn {{.*}} -> tensor<?x?x768xf32>
  %3 = spx.sparse_ffn %xd up %w1 down %w2 {activation = #spx<activation gelu_tanh>}
      : (tensor<?x?x768xf32>, tensor<768x3072xf32>, tensor<3072x768xf32>) -> tensor<?x?x768xf32>
  return %0, %1, %2, %3 : tensor<16x768xf32>, tensor<16x768xf32>, tensor<16x768xf32>, tensor<?x?x768xf32>
}

// CHECK-LABEL: func @expert_pipeline
func.func @expert_pipeline(%x: tensor<16x768xf32>, %logits: tensor<16x8xf32>,
                           %w1: tensor<8x3072x768xf32>, %b1: tensor<8x3072xf32>,
                           %w2: tensor<8x768x3072xf32>, %b2: tensor<8x768xf32>,
                           %rw: tensor<768x8xf32>, %rb: tensor<8xf32>)
    -> (tensor<16x768xf32>, tensor<16x1xf32>) {
  // CHECK: spx.route %{{.*}} {k = 2 : i64, normalize = true} : (tensor<16x8xf32>) -> (tensor<16x2xf32>, tensor<16x2xi64>)
  %gates, %ids = spx.route %logits {k = 2 : i64, normalize = true}
      : (tensor<16x8xf32>) -> (tensor<16x2xf32>, tensor<16x2xi64>)
  // A router with its own f32 weights.
  // CHECK: spx.route %{{.*}} weight %{{.*}} bias %{{.*}} {k = 1 : i64}
  %g1, %i1 = spx.route %x weight %rw bias %rb {k = 1 : i64}
      : (tensor<16x768xf32>, tensor<768x8xf32>, tensor<8xf32>) -> (tensor<16x1xf32>, tensor<16x1xi32>)
  // CHECK: spx.dispatch %{{.*}}, %{{.*}} {num_experts = 8 : i64} : (tensor<16x768xf32>, tensor<16x2xi64>) -> (tensor<32x768xf32>, tensor<8xi64>, tensor<8xi64>, tensor<16x2xi64>)
  %rows, %off, %sizes, %slots = spx.dispatch %x, %ids {num_experts = 8 : i64}
      : (tensor<16x768xf32>, tensor<16x2xi64>) -> (tensor<32x768xf32>, tensor<8xi64>, tensor<8xi64>, tensor<16x2xi64>)
  // Capacity mode: C = ceil(16 / 8 * 1.5) = 3 rows per expert.
  // CHECK: spx.dispatch %{{.*}}, %{{.*}} {capacity_factor = 1.500000e+00 : f32, mode = #spx<dispatch capacity>, num_experts = 8 : i64} : (tensor<16x768xf32>, tensor<16x2xi64>) -> (tensor<24x768xf32>
  %crows, %coff, %csizes, %cslots = spx.dispatch %x, %ids
      {num_experts = 8 : i64, mode = #spx<dispatch capacity>, capacity_factor = 1.5 : f32}
      : (tensor<16x768xf32>, tensor<16x2xi64>) -> (tensor<24x768xf32>, tensor<8xi64>, tensor<8xi64>, tensor<16x2xi64>)
  // CHECK: spx.expert_ffn %{{.*}} groups(%{{.*}}, %{{.*}}) fc1 %{{.*}} fc1_bias %{{.*}} fc2 %{{.*}} fc2_bias %{{.*}} {activation = #spx<activation gelu>}
  %out = spx.expert_ffn %rows groups(%off, %sizes) fc1 %w1 fc1_bias %b1 fc2 %w2 fc2_bias %b2
      {activation = #spx<activation gelu>}
      : (tensor<32x768xf32>, tensor<8xi64>, tensor<8xi64>, tensor<8x3072x768xf32>, tensor<8x3072xf32>, tensor<8x768x3072xf32>, tensor<8x768xf32>) -> tensor<32x768xf32>
  // CHECK: spx.combine %{{.*}}, %{{.*}}, %{{.*}} : (tensor<32x768xf32>, tensor<16x2xi64>, tensor<16x2xf32>) -> tensor<16x768xf32>
  %y = spx.combine %out, %slots, %gates
      : (tensor<32x768xf32>, tensor<16x2xi64>, tensor<16x2xf32>) -> tensor<16x768xf32>
  return %y, %g1 : tensor<16x768xf32>, tensor<16x1xf32>
}

// CHECK-LABEL: func @expert_swiglu
func.func @expert_swiglu(%rows: tensor<?x64xf16>, %off: tensor<4xi64>, %sizes: tensor<4xi64>,
                         %w1: tensor<4x256x64xf16>, %w2: tensor<4x64x128xf16>,
                         %w3: tensor<4x128x64xf16>, %q1: tensor<4x256x64xi4>,
                         %q1s: tensor<4x256x2xf16>)
    -> (tensor<?x64xf16>, tensor<?x64xf16>, tensor<?x64xf16>) {
  // Interleaved SwiGLU packed into fc1 (256 = 2 * 128), with a clamp limit.
  // CHECK: spx.expert_ffn %{{.*}} groups(%{{.*}}, %{{.*}}) fc1 %{{.*}} fc2 %{{.*}} {activation = #spx<activation swiglu>, activation_alpha = 1.702000e+00 : f32, activation_beta = 1.000000e+00 : f32, swiglu_fusion = #spx<swiglu_fusion interleaved>, swiglu_limit = 7.000000e+00 : f32}
  %0 = spx.expert_ffn %rows groups(%off, %sizes) fc1 %w1 fc2 %w2
      {activation = #spx<activation swiglu>, swiglu_fusion = #spx<swiglu_fusion interleaved>,
       activation_alpha = 1.702 : f32, activation_beta = 1.0 : f32, swiglu_limit = 7.0 : f32}
      : (tensor<?x64xf16>, tensor<4xi64>, tensor<4xi64>, tensor<4x256x64xf16>, tensor<4x64x128xf16>) -> tensor<?x64xf16>
  // Mixtral-style: separate gate (fc1) and value (fc3) projections.
  // CHECK: spx.expert_ffn %{{.*}} groups(%{{.*}}, %{{.*}}) fc1 %{{.*}} fc2 %{{.*}} fc3 %{{.*}} {activation = #spx<activation swiglu>}
  %1 = spx.expert_ffn %rows groups(%off, %sizes) fc1 %w3 fc2 %w2 fc3 %w3
      {activation = #spx<activation swiglu>}
      : (tensor<?x64xf16>, tensor<4xi64>, tensor<4xi64>, tensor<4x128x64xf16>, tensor<4x64x128xf16>, tensor<4x128x64xf16>) -> tensor<?x64xf16>
  // Block-fused int4 fc1 with groups of 32.
  // CHECK: spx.expert_ffn %{{.*}} groups(%{{.*}}, %{{.*}}) fc1 %{{.*}} fc1_scales %{{.*}} fc2 %{{.*}} {activation = #spx<activation swiglu>, fc1_quant = #spx.quant<bits = 4, group_size = 32>, swiglu_fusion = #spx<swiglu_fusion block>}
  %2 = spx.expert_ffn %rows groups(%off, %sizes) fc1 %q1 fc1_scales %q1s fc2 %w2
      {activation = #spx<activation swiglu>, swiglu_fusion = #spx<swiglu_fusion block>,
       fc1_quant = #spx.quant<bits = 4, group_size = 32>}
      : (tensor<?x64xf16>, tensor<4xi64>, tensor<4xi64>, tensor<4x256x64xi4>, tensor<4x256x2xf16>, tensor<4x64x128xf16>) -> tensor<?x64xf16>
  return %0, %1, %2 : tensor<?x64xf16>, tensor<?x64xf16>, tensor<?x64xf16>
}

// CHECK-LABEL: func @moe
func.func @moe(%x: tensor<2x8x768xf32>, %r: tensor<16x8xf32>,
               %w1: tensor<8x3072x768xf32>, %b1: tensor<8x3072xf32>,
               %w2: tensor<8x768x3072xf32>, %b2: tensor<8x768xf32>,
               %xh: tensor<?x64xf16>, %rh: tensor<?x4xf16>,
               %q1: tensor<4x128x64xi8>, %q1s: tensor<4x128xf16>,
               %q2: tensor<4x64x128xi8>, %q2s: tensor<4x64xf16>)
    -> (tensor<2x8x768xf32>, tensor<?x64xf16>) {
  // CHECK: spx.moe %{{.*}}, %{{.*}} fc1 %{{.*}} fc1_bias %{{.*}} fc2 %{{.*}} fc2_bias %{{.*}} {activation = #spx<activation silu>, k = 2 : i64, normalize_routing_weights = true}
  %0 = spx.moe %x, %r fc1 %w1 fc1_bias %b1 fc2 %w2 fc2_bias %b2
      {k = 2 : i64, activation = #spx<activation silu>, normalize_routing_weights = true}
      : (tensor<2x8x768xf32>, tensor<16x8xf32>, tensor<8x3072x768xf32>, tensor<8x3072xf32>, tensor<8x768x3072xf32>, tensor<8x768xf32>) -> tensor<2x8x768xf32>
  // CHECK: spx.moe %{{.*}}, %{{.*}} fc1 %{{.*}} fc1_scales %{{.*}} fc2 %{{.*}} fc2_scales %{{.*}} {capacity_factor = 2.000000e+00 : f32, dispatch = #spx<dispatch capacity>, fc1_quant = #spx.quant<bits = 8>, fc2_quant = #spx.quant<bits = 8>}
  %1 = spx.moe %xh, %rh fc1 %q1 fc1_scales %q1s fc2 %q2 fc2_scales %q2s
      {dispatch = #spx<dispatch capacity>, capacity_factor = 2.0 : f32,
       fc1_quant = #spx.quant<bits = 8>, fc2_quant = #spx.quant<bits = 8>}
      : (tensor<?x64xf16>, tensor<?x4xf16>, tensor<4x128x64xi8>, tensor<4x128xf16>, tensor<4x64x128xi8>, tensor<4x64xf16>) -> tensor<?x64xf16>
  return %0, %1 : tensor<2x8x768xf32>, tensor<?x64xf16>
}
