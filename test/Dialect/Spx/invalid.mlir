// RUN: parsimony-opt %s -split-input-file -verify-diagnostics --allow-unregistered-dialect

func.func @topk_k_too_large(%a: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{k = 9 exceeds the size 8 of axis -1}}
  %0 = spx.topk_activation %a, k = 9 : tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @topk_k_zero(%a: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{attribute 'k' failed to satisfy constraint}}
  %0 = spx.topk_activation %a, k = 0 : tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @topk_bad_axis(%a: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{axis 2 is out of range for rank 2}}
  %0 = spx.topk_activation %a, k = 2 {axis = 2} : tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @topk_bad_recall(%a: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{recall_target must be in (0, 1]}}
  %0 = spx.topk_activation %a, k = 2 {mode = #spx<topk_mode approx>, recall_target = 1.5 : f32} : tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @topk_int(%a: tensor<4x8xi32>) -> tensor<4x8xi32> {
  // expected-error @+1 {{operand #0 must be ranked tensor of 32-bit float or 16-bit float or bfloat16 type values}}
  %0 = spx.topk_activation %a, k = 2 : tensor<4x8xi32>
  return %0 : tensor<4x8xi32>
}

// -----

func.func @matmul_k_mismatch(%h: tensor<4x16xf32>, %w: tensor<8x4xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{input dimension 1 must be 8, got 'tensor<4x16xf32>'}}
  %0 = spx.sparse_matmul %h, %w : (tensor<4x16xf32>, tensor<8x4xf32>) -> tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// -----

func.func @matmul_result_mismatch(%h: tensor<4x8xf32>, %w: tensor<8x4xf32>) -> tensor<4x5xf32> {
  // expected-error @+1 {{result dimension 1 must be 4, got 'tensor<4x5xf32>'}}
  %0 = spx.sparse_matmul %h, %w : (tensor<4x8xf32>, tensor<8x4xf32>) -> tensor<4x5xf32>
  return %0 : tensor<4x5xf32>
}

// -----

func.func @matmul_weight_rank(%h: tensor<4x8xf32>, %w: tensor<2x8x4xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{the weight must have rank 2, got 'tensor<2x8x4xf32>'}}
  %0 = spx.sparse_matmul %h, %w : (tensor<4x8xf32>, tensor<2x8x4xf32>) -> tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// -----

func.func @matmul_dtype(%h: tensor<4x8xf32>, %w: tensor<8x4xf32>) -> tensor<4x4xf16> {
  // expected-error @+1 {{result element type 'f16' must match the input element type 'f32'}}
  %0 = spx.sparse_matmul %h, %w : (tensor<4x8xf32>, tensor<8x4xf32>) -> tensor<4x4xf16>
  return %0 : tensor<4x4xf16>
}

// -----

func.func @quant_without_attr(%h: tensor<4x8xf32>, %w: tensor<8x4xi8>, %s: tensor<4xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{the weight of type 'tensor<8x4xi8>' is quantized but has no quant attribute}}
  %0 = spx.sparse_matmul %h, %w scales %s : (tensor<4x8xf32>, tensor<8x4xi8>, tensor<4xf32>) -> tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// -----

func.func @quant_bits_mismatch(%h: tensor<4x8xf32>, %w: tensor<8x4xi4>, %s: tensor<4xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{the weight element type 'i4' does not match the 8-bit quant attribute}}
  %0 = spx.sparse_matmul %h, %w scales %s {quant = #spx.quant<bits = 8>} : (tensor<4x8xf32>, tensor<8x4xi4>, tensor<4xf32>) -> tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// -----

func.func @quant_no_scales(%h: tensor<4x8xf32>, %w: tensor<8x4xi8>) -> tensor<4x4xf32> {
  // expected-error @+1 {{the weight is quantized but has no scales}}
  %0 = spx.sparse_matmul %h, %w {quant = #spx.quant<bits = 8>} : (tensor<4x8xf32>, tensor<8x4xi8>) -> tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// -----

func.func @quant_per_channel_scales(%h: tensor<4x8xf32>, %w: tensor<8x4xi8>, %s: tensor<8xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{the scales dimension 0 must be 4, got 'tensor<8xf32>'}}
  %0 = spx.sparse_matmul %h, %w scales %s {quant = #spx.quant<bits = 8>} : (tensor<4x8xf32>, tensor<8x4xi8>, tensor<8xf32>) -> tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// -----

func.func @quant_group_scales(%h: tensor<4x64xf32>, %w: tensor<4x64xi4>, %s: tensor<4x4xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{the scales dimension 1 must be 2, got 'tensor<4x4xf32>'}}
  %0 = spx.sparse_matmul %h, %w scales %s {layout = #spx<layout nk>, quant = #spx.quant<bits = 4, group_size = 32>} : (tensor<4x64xf32>, tensor<4x64xi4>, tensor<4x4xf32>) -> tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// -----

func.func @quant_group_divides(%h: tensor<4x48xf32>, %w: tensor<48x4xi4>, %s: tensor<1x4xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{the weight input dimension 48 is not a multiple of the quantization group size 32}}
  %0 = spx.sparse_matmul %h, %w scales %s {quant = #spx.quant<bits = 4, group_size = 32>} : (tensor<4x48xf32>, tensor<48x4xi4>, tensor<1x4xf32>) -> tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// -----

func.func @float_weight_with_scales(%h: tensor<4x8xf32>, %w: tensor<8x4xf32>, %s: tensor<4xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{the weight is floating point ('f32') but has quantization scales or a quant attribute}}
  %0 = spx.sparse_matmul %h, %w scales %s : (tensor<4x8xf32>, tensor<8x4xf32>, tensor<4xf32>) -> tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// -----

func.func @bad_quant_bits() {
  // expected-error @+1 {{quantization supports 4 or 8 bits, got 2}}
  "test.op"() {q = #spx.quant<bits = 2>} : () -> ()
  return
}

// -----

func.func @support_mismatch(%x: tensor<4x8xf32>, %w: tensor<8x32xf32>, %s: tensor<2x6xi32>) -> tensor<4x6xf32> {
  // expected-error @+1 {{support dimension 0 must be 4, got 'tensor<2x6xi32>'}}
  %0 = spx.support_matmul %x, %w support %s {side = #spx<side output>} : (tensor<4x8xf32>, tensor<8x32xf32>, tensor<2x6xi32>) -> tensor<4x6xf32>
  return %0 : tensor<4x6xf32>
}

// -----

func.func @support_output_size(%x: tensor<4x8xf32>, %w: tensor<8x32xf32>, %s: tensor<4x6xi32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{result dimension 1 must be 6, got 'tensor<4x32xf32>'}}
  %0 = spx.support_matmul %x, %w support %s {side = #spx<side output>} : (tensor<4x8xf32>, tensor<8x32xf32>, tensor<4x6xi32>) -> tensor<4x32xf32>
  return %0 : tensor<4x32xf32>
}

// -----

func.func @support_input_size(%h: tensor<4x5xf32>, %w: tensor<32x8xf32>, %s: tensor<4x6xi32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{input dimension 1 must be 6, got 'tensor<4x5xf32>'}}
  %0 = spx.support_matmul %h, %w support %s {side = #spx<side input>} : (tensor<4x5xf32>, tensor<32x8xf32>, tensor<4x6xi32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @support_float_indices(%x: tensor<4x8xf32>, %w: tensor<8x32xf32>, %s: tensor<4x6xf32>) -> tensor<4x6xf32> {
  // expected-error @+1 {{operand #2 must be ranked tensor of 32-bit signless integer or 64-bit signless integer values}}
  %0 = spx.support_matmul %x, %w support %s {side = #spx<side output>} : (tensor<4x8xf32>, tensor<8x32xf32>, tensor<4x6xf32>) -> tensor<4x6xf32>
  return %0 : tensor<4x6xf32>
}

// -----

func.func @predictor_float(%x: tensor<1x8xf32>, %p: tensor<8x32xf32>) -> tensor<1x4xi32> {
  // expected-error @+1 {{a quantized predictor needs an i8 or i4 weight}}
  %0 = spx.predict_support %x, %p {k = 4 : i64, predictor = #spx<predictor quantized>} : (tensor<1x8xf32>, tensor<8x32xf32>) -> tensor<1x4xi32>
  return %0 : tensor<1x4xi32>
}

// -----

func.func @predictor_lowrank_no_factor(%x: tensor<1x8xf32>, %p: tensor<8x32xf32>) -> tensor<1x4xi32> {
  // expected-error @+1 {{a low-rank predictor needs a factor operand}}
  %0 = spx.predict_support %x, %p {k = 4 : i64, predictor = #spx<predictor lowrank>} : (tensor<1x8xf32>, tensor<8x32xf32>) -> tensor<1x4xi32>
  return %0 : tensor<1x4xi32>
}

// -----

func.func @predictor_rank_mismatch(%x: tensor<1x8xf32>, %u: tensor<8x2xf32>, %v: tensor<3x32xf32>) -> tensor<1x4xi32> {
  // expected-error @+1 {{low-rank factors disagree on the rank: 2 vs 3}}
  %0 = spx.predict_support %x, %u factor %v {k = 4 : i64, predictor = #spx<predictor lowrank>} : (tensor<1x8xf32>, tensor<8x2xf32>, tensor<3x32xf32>) -> tensor<1x4xi32>
  return %0 : tensor<1x4xi32>
}

// -----

func.func @predictor_quantized_with_factor(%x: tensor<1x8xf32>, %p: tensor<8x32xi8>, %v: tensor<3x32xf32>, %s: tensor<32xf32>) -> tensor<1x4xi32> {
  // expected-error @+1 {{a quantized predictor takes no low-rank factor}}
  %0 = spx.predict_support %x, %p factor %v scales %s {k = 4 : i64, predictor = #spx<predictor quantized>, quant = #spx.quant<bits = 8>} : (tensor<1x8xf32>, tensor<8x32xi8>, tensor<3x32xf32>, tensor<32xf32>) -> tensor<1x4xi32>
  return %0 : tensor<1x4xi32>
}

// -----

func.func @predictor_k_too_large(%x: tensor<1x8xf32>, %p: tensor<8x32xi8>, %s: tensor<32xf32>) -> tensor<1x40xi32> {
  // expected-error @+1 {{k = 40 exceeds the 32 neurons}}
  %0 = spx.predict_support %x, %p scales %s {k = 40 : i64, predictor = #spx<predictor quantized>, quant = #spx.quant<bits = 8>} : (tensor<1x8xf32>, tensor<8x32xi8>, tensor<32xf32>) -> tensor<1x40xi32>
  return %0 : tensor<1x40xi32>
}

// -----

func.func @predictor_lowrank_layout(%x: tensor<1x8xf32>, %u: tensor<8x2xf32>, %v: tensor<2x32xf32>) -> tensor<1x4xi32> {
  // expected-error @+1 {{a low-rank predictor uses the kn layout}}
  %0 = spx.predict_support %x, %u factor %v {k = 4 : i64, predictor = #spx<predictor lowrank>, layout = #spx<layout nk>} : (tensor<1x8xf32>, tensor<8x2xf32>, tensor<2x32xf32>) -> tensor<1x4xi32>
  return %0 : tensor<1x4xi32>
}

// -----

func.func @predictor_bias(%x: tensor<1x8xf32>, %p: tensor<8x32xi8>, %s: tensor<32xf32>, %b: tensor<16xf32>) -> tensor<1x4xi32> {
  // expected-error @+1 {{bias dimension 0 must be 32, got 'tensor<16xf32>'}}
  %0 = spx.predict_support %x, %p scales %s bias %b {k = 4 : i64, predictor = #spx<predictor quantized>, quant = #spx.quant<bits = 8>} : (tensor<1x8xf32>, tensor<8x32xi8>, tensor<32xf32>, tensor<16xf32>) -> tensor<1x4xi32>
  return %0 : tensor<1x4xi32>
}

// -----

func.func @ffn_down_mismatch(%x: tensor<4x8xf32>, %w1: tensor<8x32xf32>, %w2: tensor<16x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{down weight must map 32 hidden features back to 8 model features}}
  %0 = spx.sparse_ffn %x up %w1 down %w2 : (tensor<4x8xf32>, tensor<8x32xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @ffn_input_mismatch(%x: tensor<4x6xf32>, %w1: tensor<8x32xf32>, %w2: tensor<32x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{input dimension 1 must be 8, got 'tensor<4x6xf32>'}}
  %0 = spx.sparse_ffn %x up %w1 down %w2 : (tensor<4x6xf32>, tensor<8x32xf32>, tensor<32x8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @ffn_topk(%x: tensor<4x8xf32>, %w1: tensor<8x32xf32>, %w2: tensor<32x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{topk = 33 exceeds the hidden size 32}}
  %0 = spx.sparse_ffn %x up %w1 down %w2 {topk = 33 : i64} : (tensor<4x8xf32>, tensor<8x32xf32>, tensor<32x8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @ffn_up_bias(%x: tensor<4x8xf32>, %w1: tensor<8x32xf32>, %b: tensor<8xf32>, %w2: tensor<32x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{up bias dimension 0 must be 32, got 'tensor<8xf32>'}}
  %0 = spx.sparse_ffn %x up %w1 up_bias %b down %w2 : (tensor<4x8xf32>, tensor<8x32xf32>, tensor<8xf32>, tensor<32x8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @ffn_down_bias(%x: tensor<4x8xf32>, %w1: tensor<8x32xf32>, %w2: tensor<32x8xf32>, %b: tensor<32xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{down bias dimension 0 must be 8, got 'tensor<32xf32>'}}
  %0 = spx.sparse_ffn %x up %w1 down %w2 down_bias %b : (tensor<4x8xf32>, tensor<8x32xf32>, tensor<32x8xf32>, tensor<32xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @ffn_swiglu(%x: tensor<4x8xf32>, %w1: tensor<8x32xf32>, %w2: tensor<32x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{swiglu is an expert activation; express a gated FFN with a gate weight and silu}}
  %0 = spx.sparse_ffn %x up %w1 down %w2 {activation = #spx<activation swiglu>} : (tensor<4x8xf32>, tensor<8x32xf32>, tensor<32x8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @ffn_gate_shape(%x: tensor<4x8xf32>, %w1: tensor<8x32xf32>, %g: tensor<8x16xf32>, %w2: tensor<32x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{gate weight must map the same features as the up weight}}
  %0 = spx.sparse_ffn %x up %w1 gate %g down %w2 : (tensor<4x8xf32>, tensor<8x32xf32>, tensor<8x16xf32>, tensor<32x8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @ffn_gate_scales_alone(%x: tensor<4x8xf32>, %w1: tensor<8x32xf32>, %s: tensor<32xf32>, %w2: tensor<32x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{gate scales or quant attribute without a gate weight}}
  %0 = spx.sparse_ffn %x up %w1 gate_scales %s down %w2 : (tensor<4x8xf32>, tensor<8x32xf32>, tensor<32xf32>, tensor<32x8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @ffn_support_block(%x: tensor<4x8xf32>, %w1: tensor<8x32xf32>, %w2: tensor<32x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{support_block needs a support operand}}
  %0 = spx.sparse_ffn %x up %w1 down %w2 {support_block = 4 : i64} : (tensor<4x8xf32>, tensor<8x32xf32>, tensor<32x8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @ffn_support_tokens(%x: tensor<4x8xf32>, %w1: tensor<8x32xf32>, %w2: tensor<32x8xf32>, %s: tensor<3x4xi64>) -> tensor<4x8xf32> {
  // expected-error @+1 {{support dimension 0 must be 4, got 'tensor<3x4xi64>'}}
  %0 = spx.sparse_ffn %x up %w1 down %w2 support %s : (tensor<4x8xf32>, tensor<8x32xf32>, tensor<32x8xf32>, tensor<3x4xi64>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @route_f16(%l: tensor<4x8xf16>) -> tensor<4x2xf32> {
  // expected-error @+1 {{router logits must be f32 (the router always runs in f32), got 'f16'}}
  %g, %e = spx.route %l {k = 2 : i64} : (tensor<4x8xf16>) -> (tensor<4x2xf32>, tensor<4x2xi64>)
  return %g : tensor<4x2xf32>
}

// -----

func.func @route_quantized_weight(%x: tensor<4x16xf32>, %w: tensor<16x8xi8>) -> tensor<4x2xf32> {
  // expected-error @+1 {{operand #1 must be ranked tensor of 32-bit float values, but got 'tensor<16x8xi8>'}}
  %g, %e = spx.route %x weight %w {k = 2 : i64} : (tensor<4x16xf32>, tensor<16x8xi8>) -> (tensor<4x2xf32>, tensor<4x2xi64>)
  return %g : tensor<4x2xf32>
}

// -----

func.func @route_k(%l: tensor<4x8xf32>) -> tensor<4x9xf32> {
  // expected-error @+1 {{k = 9 exceeds the 8 experts}}
  %g, %e = spx.route %l {k = 9 : i64} : (tensor<4x8xf32>) -> (tensor<4x9xf32>, tensor<4x9xi64>)
  return %g : tensor<4x9xf32>
}

// -----

func.func @route_gates_shape(%l: tensor<4x8xf32>) -> tensor<4x1xf32> {
  // expected-error @+1 {{gates dimension 1 must be 2, got 'tensor<4x1xf32>'}}
  %g, %e = spx.route %l {k = 2 : i64} : (tensor<4x8xf32>) -> (tensor<4x1xf32>, tensor<4x2xi64>)
  return %g : tensor<4x1xf32>
}

// -----

func.func @route_bias_alone(%l: tensor<4x8xf32>, %b: tensor<8xf32>) -> tensor<4x2xf32> {
  // expected-error @+1 {{a router bias needs a router weight}}
  %g, %e = spx.route %l bias %b {k = 2 : i64} : (tensor<4x8xf32>, tensor<8xf32>) -> (tensor<4x2xf32>, tensor<4x2xi64>)
  return %g : tensor<4x2xf32>
}

// -----

func.func @route_weight_shape(%x: tensor<4x16xf32>, %w: tensor<12x8xf32>) -> tensor<4x2xf32> {
  // expected-error @+1 {{router weight dimension 0 must be 16, got 'tensor<12x8xf32>'}}
  %g, %e = spx.route %x weight %w {k = 2 : i64} : (tensor<4x16xf32>, tensor<12x8xf32>) -> (tensor<4x2xf32>, tensor<4x2xi64>)
  return %g : tensor<4x2xf32>
}

// -----

func.func @dispatch_rows(%x: tensor<16x8xf32>, %e: tensor<16x2xi64>) -> tensor<16x8xf32> {
  // expected-error @+1 {{rows dimension 0 must be 32, got 'tensor<16x8xf32>'}}
  %r, %o, %s, %sl = spx.dispatch %x, %e {num_experts = 4 : i64} : (tensor<16x8xf32>, tensor<16x2xi64>) -> (tensor<16x8xf32>, tensor<4xi64>, tensor<4xi64>, tensor<16x2xi64>)
  return %r : tensor<16x8xf32>
}

// -----

func.func @dispatch_capacity_rows(%x: tensor<16x8xf32>, %e: tensor<16x2xi64>) -> tensor<32x8xf32> {
  // C = ceil(16 / 4 * 1.25) = 5, so 20 rows.
  // expected-error @+1 {{rows dimension 0 must be 20, got 'tensor<32x8xf32>'}}
  %r, %o, %s, %sl = spx.dispatch %x, %e {num_experts = 4 : i64, mode = #spx<dispatch capacity>, capacity_factor = 1.25 : f32} : (tensor<16x8xf32>, tensor<16x2xi64>) -> (tensor<32x8xf32>, tensor<4xi64>, tensor<4xi64>, tensor<16x2xi64>)
  return %r : tensor<32x8xf32>
}

// -----

func.func @dispatch_factor(%x: tensor<16x8xf32>, %e: tensor<16x2xi64>) -> tensor<32x8xf32> {
  // expected-error @+1 {{capacity_factor must be positive}}
  %r, %o, %s, %sl = spx.dispatch %x, %e {num_experts = 4 : i64, capacity_factor = 0.0 : f32} : (tensor<16x8xf32>, tensor<16x2xi64>) -> (tensor<32x8xf32>, tensor<4xi64>, tensor<4xi64>, tensor<16x2xi64>)
  return %r : tensor<32x8xf32>
}

// -----

func.func @dispatch_tokens(%x: tensor<16x8xf32>, %e: tensor<8x2xi64>) -> tensor<32x8xf32> {
  // expected-error @+1 {{input and experts disagree on the number of tokens}}
  %r, %o, %s, %sl = spx.dispatch %x, %e {num_experts = 4 : i64} : (tensor<16x8xf32>, tensor<8x2xi64>) -> (tensor<32x8xf32>, tensor<4xi64>, tensor<4xi64>, tensor<16x2xi64>)
  return %r : tensor<32x8xf32>
}

// -----

func.func @dispatch_offsets(%x: tensor<16x8xf32>, %e: tensor<16x2xi64>) -> tensor<32x8xf32> {
  // expected-error @+1 {{group_offsets dimension 0 must be 4, got 'tensor<5xi64>'}}
  %r, %o, %s, %sl = spx.dispatch %x, %e {num_experts = 4 : i64} : (tensor<16x8xf32>, tensor<16x2xi64>) -> (tensor<32x8xf32>, tensor<5xi64>, tensor<4xi64>, tensor<16x2xi64>)
  return %r : tensor<32x8xf32>
}

// -----

func.func @expert_fc1_shape(%rows: tensor<8x16xf32>, %o: tensor<4xi64>, %s: tensor<4xi64>, %w1: tensor<4x32x12xf32>, %w2: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{fc1 weight must map 16 to 32 features, got 'tensor<4x32x12xf32>'}}
  %0 = spx.expert_ffn %rows groups(%o, %s) fc1 %w1 fc2 %w2 : (tensor<8x16xf32>, tensor<4xi64>, tensor<4xi64>, tensor<4x32x12xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

func.func @expert_count(%rows: tensor<8x16xf32>, %o: tensor<4xi64>, %s: tensor<4xi64>, %w1: tensor<3x32x16xf32>, %w2: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{fc1 weight dimension 0 must be 4, got 'tensor<3x32x16xf32>'}}
  %0 = spx.expert_ffn %rows groups(%o, %s) fc1 %w1 fc2 %w2 : (tensor<8x16xf32>, tensor<4xi64>, tensor<4xi64>, tensor<3x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

func.func @expert_fused_not_swiglu(%rows: tensor<8x16xf32>, %o: tensor<4xi64>, %s: tensor<4xi64>, %w1: tensor<4x64x16xf32>, %w2: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{swiglu_fusion needs activation swiglu}}
  %0 = spx.expert_ffn %rows groups(%o, %s) fc1 %w1 fc2 %w2 {swiglu_fusion = #spx<swiglu_fusion interleaved>} : (tensor<8x16xf32>, tensor<4xi64>, tensor<4xi64>, tensor<4x64x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

func.func @expert_swiglu_unfused(%rows: tensor<8x16xf32>, %o: tensor<4xi64>, %s: tensor<4xi64>, %w1: tensor<4x32x16xf32>, %w2: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{swiglu needs an fc3 weight or a swiglu_fusion layout for fc1}}
  %0 = spx.expert_ffn %rows groups(%o, %s) fc1 %w1 fc2 %w2 {activation = #spx<activation swiglu>} : (tensor<8x16xf32>, tensor<4xi64>, tensor<4xi64>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

func.func @expert_fused_width(%rows: tensor<8x16xf32>, %o: tensor<4xi64>, %s: tensor<4xi64>, %w1: tensor<4x32x16xf32>, %w2: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{fc1 weight must map 16 to 64 features}}
  %0 = spx.expert_ffn %rows groups(%o, %s) fc1 %w1 fc2 %w2 {activation = #spx<activation swiglu>, swiglu_fusion = #spx<swiglu_fusion block>} : (tensor<8x16xf32>, tensor<4xi64>, tensor<4xi64>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

func.func @expert_fused_with_fc3(%rows: tensor<8x16xf32>, %o: tensor<4xi64>, %s: tensor<4xi64>, %w1: tensor<4x64x16xf32>, %w2: tensor<4x16x32xf32>, %w3: tensor<4x32x16xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{swiglu_fusion packs gate and value into fc1; fc3 must be absent}}
  %0 = spx.expert_ffn %rows groups(%o, %s) fc1 %w1 fc2 %w2 fc3 %w3 {activation = #spx<activation swiglu>, swiglu_fusion = #spx<swiglu_fusion block>} : (tensor<8x16xf32>, tensor<4xi64>, tensor<4xi64>, tensor<4x64x16xf32>, tensor<4x16x32xf32>, tensor<4x32x16xf32>) -> tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

func.func @expert_limit_not_swiglu(%rows: tensor<8x16xf32>, %o: tensor<4xi64>, %s: tensor<4xi64>, %w1: tensor<4x32x16xf32>, %w2: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{swiglu_limit needs activation swiglu}}
  %0 = spx.expert_ffn %rows groups(%o, %s) fc1 %w1 fc2 %w2 {swiglu_limit = 7.0 : f32} : (tensor<8x16xf32>, tensor<4xi64>, tensor<4xi64>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

func.func @expert_fc3_shape(%rows: tensor<8x16xf32>, %o: tensor<4xi64>, %s: tensor<4xi64>, %w1: tensor<4x32x16xf32>, %w2: tensor<4x16x32xf32>, %w3: tensor<4x8x16xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{fc3 weight must map 16 to 32 features}}
  %0 = spx.expert_ffn %rows groups(%o, %s) fc1 %w1 fc2 %w2 fc3 %w3 : (tensor<8x16xf32>, tensor<4xi64>, tensor<4xi64>, tensor<4x32x16xf32>, tensor<4x16x32xf32>, tensor<4x8x16xf32>) -> tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

func.func @expert_bias(%rows: tensor<8x16xf32>, %o: tensor<4xi64>, %s: tensor<4xi64>, %w1: tensor<4x32x16xf32>, %b1: tensor<4x16xf32>, %w2: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{fc1 bias dimension 1 must be 32, got 'tensor<4x16xf32>'}}
  %0 = spx.expert_ffn %rows groups(%o, %s) fc1 %w1 fc1_bias %b1 fc2 %w2 : (tensor<8x16xf32>, tensor<4xi64>, tensor<4xi64>, tensor<4x32x16xf32>, tensor<4x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

func.func @expert_fc3_bias_alone(%rows: tensor<8x16xf32>, %o: tensor<4xi64>, %s: tensor<4xi64>, %w1: tensor<4x32x16xf32>, %w2: tensor<4x16x32xf32>, %b3: tensor<4x32xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{fc3 scales, bias or quant attribute without an fc3 weight}}
  %0 = spx.expert_ffn %rows groups(%o, %s) fc1 %w1 fc2 %w2 fc3_bias %b3 : (tensor<8x16xf32>, tensor<4xi64>, tensor<4xi64>, tensor<4x32x16xf32>, tensor<4x16x32xf32>, tensor<4x32xf32>) -> tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

func.func @combine_gates(%out: tensor<32x8xf32>, %slots: tensor<16x2xi64>, %g: tensor<16x1xf32>) -> tensor<16x8xf32> {
  // expected-error @+1 {{gates dimension 1 must be 2, got 'tensor<16x1xf32>'}}
  %0 = spx.combine %out, %slots, %g : (tensor<32x8xf32>, tensor<16x2xi64>, tensor<16x1xf32>) -> tensor<16x8xf32>
  return %0 : tensor<16x8xf32>
}

// -----

func.func @combine_result(%out: tensor<32x8xf32>, %slots: tensor<16x2xi64>, %g: tensor<16x2xf32>) -> tensor<16x4xf32> {
  // expected-error @+1 {{result dimension 1 must be 8, got 'tensor<16x4xf32>'}}
  %0 = spx.combine %out, %slots, %g : (tensor<32x8xf32>, tensor<16x2xi64>, tensor<16x2xf32>) -> tensor<16x4xf32>
  return %0 : tensor<16x4xf32>
}

// -----

func.func @moe_router_tokens(%x: tensor<2x8x16xf32>, %r: tensor<8x4xf32>, %w1: tensor<4x32x16xf32>, %w2: tensor<4x16x32xf32>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{router_probs dimension 0 must be 16, got 'tensor<8x4xf32>'}}
  %0 = spx.moe %x, %r fc1 %w1 fc2 %w2 : (tensor<2x8x16xf32>, tensor<8x4xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<2x8x16xf32>
  return %0 : tensor<2x8x16xf32>
}

// -----

func.func @moe_router_rank(%x: tensor<8x16xf32>, %r: tensor<8xf32>, %w1: tensor<4x32x16xf32>, %w2: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{router_probs must be [tokens, experts], got 'tensor<8xf32>'}}
  %0 = spx.moe %x, %r fc1 %w1 fc2 %w2 : (tensor<8x16xf32>, tensor<8xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

func.func @moe_k(%x: tensor<8x16xf32>, %r: tensor<8x4xf32>, %w1: tensor<4x32x16xf32>, %w2: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{k = 5 exceeds the 4 experts}}
  %0 = spx.moe %x, %r fc1 %w1 fc2 %w2 {k = 5 : i64} : (tensor<8x16xf32>, tensor<8x4xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

func.func @moe_rank(%x: tensor<16xf32>, %r: tensor<1x4xf32>, %w1: tensor<4x32x16xf32>, %w2: tensor<4x16x32xf32>) -> tensor<16xf32> {
  // expected-error @+1 {{input must be [tokens, hidden] or [batch, sequence, hidden], got 'tensor<16xf32>'}}
  %0 = spx.moe %x, %r fc1 %w1 fc2 %w2 : (tensor<16xf32>, tensor<1x4xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<16xf32>
  return %0 : tensor<16xf32>
}

// -----

func.func @moe_experts(%x: tensor<8x16xf32>, %r: tensor<8x4xf32>, %w1: tensor<8x32x16xf32>, %w2: tensor<8x16x32xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{fc1 weight dimension 0 must be 4, got 'tensor<8x32x16xf32>'}}
  %0 = spx.moe %x, %r fc1 %w1 fc2 %w2 : (tensor<8x16xf32>, tensor<8x4xf32>, tensor<8x32x16xf32>, tensor<8x16x32xf32>) -> tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

func.func @moe_result(%x: tensor<8x16xf32>, %r: tensor<8x4xf32>, %w1: tensor<4x32x16xf32>, %w2: tensor<4x16x32xf32>) -> tensor<8x16xf16> {
  // expected-error @+1 {{result type 'tensor<8x16xf16>' must match the input type 'tensor<8x16xf32>'}}
  %0 = spx.moe %x, %r fc1 %w1 fc2 %w2 : (tensor<8x16xf32>, tensor<8x4xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf16>
  return %0 : tensor<8x16xf16>
}

// -----

func.func @moe_capacity_factor(%x: tensor<8x16xf32>, %r: tensor<8x4xf32>, %w1: tensor<4x32x16xf32>, %w2: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{capacity_factor must be positive}}
  %0 = spx.moe %x, %r fc1 %w1 fc2 %w2 {capacity_factor = -1.0 : f32} : (tensor<8x16xf32>, tensor<8x4xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}

// -----

func.func @packed_int4_row_length(%h: tensor<4x48xf32>, %w: tensor<4x24xi8>, %s: tensor<4xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{the weight is packed int4 with rows of 48 values; packed rows must hold a multiple of 32}}
  %0 = spx.quant_matmul %h, %w scales %s {layout = #spx<layout nk>, quant = #spx.quant<bits = 4>} : (tensor<4x48xf32>, tensor<4x24xi8>, tensor<4xf32>) -> tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// -----

// Packed int4: 32 bytes per row are 64 values.
func.func @packed_int4_input_size(%h: tensor<4x32xf32>, %w: tensor<4x32xi8>, %s: tensor<4x2xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{input dimension 1 must be 64, got 'tensor<4x32xf32>'}}
  %0 = spx.quant_matmul %h, %w scales %s {layout = #spx<layout nk>, quant = #spx.quant<bits = 4, group_size = 32>} : (tensor<4x32xf32>, tensor<4x32xi8>, tensor<4x2xf32>) -> tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// -----

func.func @quant_matmul_float_weight(%h: tensor<4x8xf32>, %w: tensor<8x4xf32>, %s: tensor<4xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{needs a quantized (i8 or i4) weight, got 'tensor<8x4xf32>'}}
  %0 = spx.quant_matmul %h, %w scales %s {quant = #spx.quant<bits = 8>} : (tensor<4x8xf32>, tensor<8x4xf32>, tensor<4xf32>) -> tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// -----

func.func @quant_matmul_result(%h: tensor<4x8xf32>, %w: tensor<8x4xi8>, %s: tensor<4xf32>) -> tensor<4x5xf32> {
  // expected-error @+1 {{result dimension 1 must be 4, got 'tensor<4x5xf32>'}}
  %0 = spx.quant_matmul %h, %w scales %s {quant = #spx.quant<bits = 8>} : (tensor<4x8xf32>, tensor<8x4xi8>, tensor<4xf32>) -> tensor<4x5xf32>
  return %0 : tensor<4x5xf32>
}

// -----

func.func @quant_matmul_bias_size(%h: tensor<4x8xf32>, %w: tensor<8x4xi8>, %s: tensor<4xf32>, %b: tensor<8xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{bias must be 1-D with 4 elements, got 'tensor<8xf32>'}}
  %0 = spx.quant_matmul %h, %w scales %s bias %b {quant = #spx.quant<bits = 8>} : (tensor<4x8xf32>, tensor<8x4xi8>, tensor<4xf32>, tensor<8xf32>) -> tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// -----

func.func @quant_matmul_residual_type(%h: tensor<4x8xf32>, %w: tensor<8x4xi8>, %s: tensor<4xf32>, %r: tensor<4x1xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{residual must have the result's type 'tensor<4x4xf32>', got 'tensor<4x1xf32>'}}
  %0 = spx.quant_matmul %h, %w scales %s residual %r {quant = #spx.quant<bits = 8>} : (tensor<4x8xf32>, tensor<8x4xi8>, tensor<4xf32>, tensor<4x1xf32>) -> tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// -----

func.func @quant_matmul_swiglu(%h: tensor<4x8xf32>, %w: tensor<8x4xi8>, %s: tensor<4xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{cannot fuse a swiglu activation}}
  %0 = spx.quant_matmul %h, %w scales %s {activation = #spx<activation swiglu>, quant = #spx.quant<bits = 8>} : (tensor<4x8xf32>, tensor<8x4xi8>, tensor<4xf32>) -> tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// -----

func.func @matmul_bias_size(%x: tensor<4x8xf32>, %w: tensor<8x16xf32>, %b: tensor<8xf32>) -> tensor<4x16xf32> {
  // expected-error @+1 {{bias must be 1-D with 16 elements, got 'tensor<8xf32>'}}
  %0 = spx.matmul %x, %w bias %b : (tensor<4x8xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<4x16xf32>
  return %0 : tensor<4x16xf32>
}

// -----

func.func @matmul_residual_type(%x: tensor<4x8xf32>, %w: tensor<8x16xf32>, %r: tensor<1x16xf32>) -> tensor<4x16xf32> {
  // expected-error @+1 {{residual must have the result's type 'tensor<4x16xf32>', got 'tensor<1x16xf32>'}}
  %0 = spx.matmul %x, %w residual %r : (tensor<4x8xf32>, tensor<8x16xf32>, tensor<1x16xf32>) -> tensor<4x16xf32>
  return %0 : tensor<4x16xf32>
}

// -----

func.func @matmul_swiglu(%x: tensor<4x8xf32>, %w: tensor<8x16xf32>) -> tensor<4x16xf32> {
  // expected-error @+1 {{cannot fuse a swiglu activation}}
  %0 = spx.matmul %x, %w {activation = #spx<activation swiglu>} : (tensor<4x8xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>
  return %0 : tensor<4x16xf32>
}

// -----

func.func @matmul_k_mismatch(%x: tensor<4x9xf32>, %w: tensor<8x16xf32>) -> tensor<4x16xf32> {
  // expected-error @+1 {{input}}
  %0 = spx.matmul %x, %w : (tensor<4x9xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>
  return %0 : tensor<4x16xf32>
}

// -----

func.func @quant_matmul_zero_point_float_input(%h: tensor<4x8xf32>, %w: tensor<8x4xi8>, %s: tensor<4xf32>, %zp: i32) -> tensor<4x4xf32> {
  // expected-error @+1 {{input_zero_point and input_unsigned need an 8-bit integer input, got 'tensor<4x8xf32>'}}
  %0 = spx.quant_matmul %h, %w scales %s input_zero_point %zp {quant = #spx.quant<bits = 8>} : (tensor<4x8xf32>, tensor<8x4xi8>, tensor<4xf32>, i32) -> tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// -----

func.func @quant_matmul_unsigned_float_input(%h: tensor<4x8xf32>, %w: tensor<8x4xi8>, %s: tensor<4xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{input_zero_point and input_unsigned need an 8-bit integer input}}
  %0 = spx.quant_matmul %h, %w scales %s {input_unsigned, quant = #spx.quant<bits = 8>} : (tensor<4x8xf32>, tensor<8x4xi8>, tensor<4xf32>) -> tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// -----

func.func @quant_matmul_integer_input_f16_result(%h: tensor<4x8xi8>, %w: tensor<8x4xi8>, %s: tensor<4xf32>) -> tensor<4x4xf16> {
  // expected-error @+1 {{with 8-bit integer input must produce f32, got 'tensor<4x4xf16>'}}
  %0 = spx.quant_matmul %h, %w scales %s {quant = #spx.quant<bits = 8>} : (tensor<4x8xi8>, tensor<8x4xi8>, tensor<4xf32>) -> tensor<4x4xf16>
  return %0 : tensor<4x4xf16>
}

// -----

func.func @quant_matmul_i32_input(%h: tensor<4x8xi32>, %w: tensor<8x4xi8>, %s: tensor<4xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{operand #0 must be ranked tensor of}}
  %0 = spx.quant_matmul %h, %w scales %s {quant = #spx.quant<bits = 8>} : (tensor<4x8xi32>, tensor<8x4xi8>, tensor<4xf32>) -> tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// -----

func.func @sparse_ffn_residual_type(%x: tensor<4x8xf32>, %u: tensor<8x32xf32>, %d: tensor<32x8xf32>, %r: tensor<4x1xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{residual must have the result's type 'tensor<4x8xf32>', got 'tensor<4x1xf32>'}}
  %0 = spx.sparse_ffn %x up %u down %d residual %r : (tensor<4x8xf32>, tensor<8x32xf32>, tensor<32x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @combine_residual_type(%o: tensor<6x16xf32>, %s: tensor<3x2xi64>, %g: tensor<3x2xf32>, %r: tensor<6x16xf32>) -> tensor<3x16xf32> {
  // expected-error @+1 {{residual must have the result's type 'tensor<3x16xf32>', got 'tensor<6x16xf32>'}}
  %0 = spx.combine %o, %s, %g residual %r : (tensor<6x16xf32>, tensor<3x2xi64>, tensor<3x2xf32>, tensor<6x16xf32>) -> tensor<3x16xf32>
  return %0 : tensor<3x16xf32>
}
