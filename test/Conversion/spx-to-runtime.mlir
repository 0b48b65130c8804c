// RUN: parsimony-opt %s --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --canonicalize --split-input-file | FileCheck %s

// Every spx op bufferizes into one call of its runtime kernel
// (include/parsimony/Runtime/SpxKernels.h) on contiguous buffers.

// CHECK-LABEL: func @topk
// CHECK-DAG: %[[OUTER:.*]] = arith.constant 16 : i64
// CHECK-DAG: %[[AXIS:.*]] = arith.constant 3072 : i64
// CHECK-DAG: %[[INNER:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[K:.*]] = arith.constant 128 : i64
// CHECK-DAG: %[[EXACT:.*]] = arith.constant 0 : i32
// CHECK: %[[OUT:.*]] = memref.alloc() {{.*}} : memref<16x3072xf32>
// CHECK: call @parsimony_topk_activation_f32(%{{.*}}, %{{.*}}, %[[OUTER]], %[[AXIS]], %[[INNER]], %[[K]], %[[EXACT]], %{{.*}}) : (!llvm.ptr, !llvm.ptr, i64, i64, i64, i64, i32, f32) -> ()
// CHECK: return %[[OUT]]
func.func @topk(%a: tensor<16x3072xf32>) -> tensor<16x3072xf32> {
  %0 = spx.topk_activation %a, k = 128 : tensor<16x3072xf32>
  return %0 : tensor<16x3072xf32>
}

// -----

// A dynamic token count is read from the buffer at run time.
// CHECK-LABEL: func @topk_dynamic
// CHECK: %[[D:.*]] = memref.dim %arg0, %c0
// CHECK: memref.alloc(%[[D]]) {{.*}} : memref<?x64xf32>
// CHECK: %[[D2:.*]] = memref.dim %arg0
// CHECK: %[[T:.*]] = arith.index_cast %[[D2]] : index to i64
// CHECK: call @parsimony_topk_activation_f32(%{{.*}}, %{{.*}}, %[[T]], %c64_i64,
func.func @topk_dynamic(%a: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %0 = spx.topk_activation %a, k = 8 : tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

// CHECK-LABEL: func @sparse_ffn
// CHECK: %[[NULL:.*]] = llvm.mlir.zero : !llvm.ptr
// CHECK: call @parsimony_sparse_ffn_f32(%{{.*}}, %c16_i64, %c768_i64, %c3072_i64, {{.*}}, %c128_i64, %[[NULL]], %{{.*}}) : (!llvm.ptr, i64, i64, i64, !llvm.ptr, !llvm.ptr, i32, i32, i64, i32, !llvm.ptr, !llvm.ptr, !llvm.ptr, i32, i32, i64, i32, !llvm.ptr, !llvm.ptr, i32, i32, i64, i32, !llvm.ptr, !llvm.ptr, i32, i64, i64, i32, i64, !llvm.ptr, !llvm.ptr) -> ()
func.func @sparse_ffn(%x: tensor<16x768xf32>, %w1: tensor<768x3072xf32>, %b1: tensor<3072xf32>, %w2: tensor<3072x768xf32>, %b2: tensor<768xf32>) -> tensor<16x768xf32> {
  %0 = spx.sparse_ffn %x up %w1 up_bias %b1 down %w2 down_bias %b2 {topk = 128 : i64}
      : (tensor<16x768xf32>, tensor<768x3072xf32>, tensor<3072xf32>, tensor<3072x768xf32>, tensor<768xf32>) -> tensor<16x768xf32>
  return %0 : tensor<16x768xf32>
}

// -----

// Quantized weights pass bits, group size and the scale type.
// CHECK-LABEL: func @quantized_support
// CHECK-DAG: %[[NK:.*]] = arith.constant 1 : i32
// CHECK-DAG: %[[BITS:.*]] = arith.constant 4 : i32
// CHECK-DAG: %[[GROUP:.*]] = arith.constant 64 : i64
// CHECK: call @parsimony_support_matmul_f32(%{{.*}}, %c4_i64, %c768_i64, %c3072_i64, %{{.*}}, %{{.*}}, %[[NK]], %[[BITS]], %[[GROUP]], %[[NK]], %{{.*}}, %{{.*}}, %c128_i64, %{{.*}}, %{{.*}})
func.func @quantized_support(%x: tensor<4x768xf32>, %q: tensor<3072x768xi4>, %qs: tensor<3072x12xf16>, %s: tensor<4x128xi32>) -> tensor<4x128xf32> {
  %0 = spx.support_matmul %x, %q scales %qs support %s
      {side = #spx<side output>, layout = #spx<layout nk>, quant = #spx.quant<bits = 4, group_size = 64>}
      : (tensor<4x768xf32>, tensor<3072x768xi4>, tensor<3072x12xf16>, tensor<4x128xi32>) -> tensor<4x128xf32>
  return %0 : tensor<4x128xf32>
}

// -----

// CHECK-LABEL: func @sparse_matmul_and_predictor
// CHECK: call @parsimony_sparse_matmul_f32(
// CHECK: call @parsimony_predict_support_f32(
func.func @sparse_matmul_and_predictor(%h: tensor<2x3072xf32>, %w: tensor<3072x768xf32>, %x: tensor<2x768xf32>, %u: tensor<768x64xf32>, %v: tensor<64x3072xf32>) -> (tensor<2x768xf32>, tensor<2x128xi64>) {
  %0 = spx.sparse_matmul %h, %w : (tensor<2x3072xf32>, tensor<3072x768xf32>) -> tensor<2x768xf32>
  %1 = spx.predict_support %x, %u factor %v {k = 128 : i64, predictor = #spx<predictor lowrank>}
      : (tensor<2x768xf32>, tensor<768x64xf32>, tensor<64x3072xf32>) -> tensor<2x128xi64>
  return %0, %1 : tensor<2x768xf32>, tensor<2x128xi64>
}

// -----

// The expert pipeline: capacity C = ceil(16 / 8 * 1.5) = 3 is computed from
// the token count, R = 24 rows.
// CHECK-LABEL: func @experts
// CHECK: call @parsimony_route_f32(
// CHECK: %[[ROWS:.*]] = memref.alloc() {{.*}} : memref<24x64xf32>
// CHECK: call @parsimony_dispatch_f32({{.*}}, %c8_i64, %c1_i32, %c3_i64, %{{.*}}, %c24_i64,
// CHECK: call @parsimony_expert_ffn_f32(
// CHECK: call @parsimony_combine_f32({{.*}}, %[[NULL:.*]], %{{.*}}) : (!llvm.ptr, i64, i64, !llvm.ptr, i32, i64, i64, !llvm.ptr, !llvm.ptr, !llvm.ptr) -> ()
func.func @experts(%x: tensor<16x64xf32>, %logits: tensor<16x8xf32>, %w1: tensor<8x128x64xf32>, %w2: tensor<8x64x128xf32>) -> tensor<16x64xf32> {
  %gates, %ids = spx.route %logits {k = 2 : i64} : (tensor<16x8xf32>) -> (tensor<16x2xf32>, tensor<16x2xi64>)
  %rows, %off, %sizes, %slots = spx.dispatch %x, %ids {num_experts = 8 : i64, mode = #spx<dispatch capacity>, capacity_factor = 1.5 : f32}
      : (tensor<16x64xf32>, tensor<16x2xi64>) -> (tensor<24x64xf32>, tensor<8xi64>, tensor<8xi64>, tensor<16x2xi64>)
  %out = spx.expert_ffn %rows groups(%off, %sizes) fc1 %w1 fc2 %w2
      : (tensor<24x64xf32>, tensor<8xi64>, tensor<8xi64>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<24x64xf32>
  %y = spx.combine %out, %slots, %gates : (tensor<24x64xf32>, tensor<16x2xi64>, tensor<16x2xf32>) -> tensor<16x64xf32>
  return %y : tensor<16x64xf32>
}


// -----

// A dense matmul with a fused epilogue: one parsimony_sgemm_epilogue call
// (M = 2 * 3 tokens, N = 16, K = 8; nk weight: ldb = K, transB = 1; gelu =
// activation code 2; residual and output row strides N).
// CHECK-LABEL: func.func @fused_matmul(
// CHECK-DAG: %[[M:.*]] = arith.constant 6 : i64
// CHECK-DAG: %[[N:.*]] = arith.constant 16 : i64
// CHECK-DAG: %[[K:.*]] = arith.constant 8 : i64
// CHECK-DAG: %[[T:.*]] = arith.constant 1 : i32
// CHECK-DAG: %[[GELU:.*]] = arith.constant 2 : i32
// CHECK: call @parsimony_sgemm_epilogue(%[[M]], %[[N]], %[[K]], %{{.*}}, %[[K]], %{{.*}}, %[[K]], %[[T]], %{{.*}}, %[[GELU]], %{{.*}}, %[[N]], %{{.*}}, %[[N]])
func.func @fused_matmul(%x: tensor<2x3x8xf32>, %w: tensor<16x8xf32>, %b: tensor<16xf32>, %r: tensor<2x3x16xf32>) -> tensor<2x3x16xf32> {
  %0 = spx.matmul %x, %w bias %b residual %r {activation = #spx<activation gelu>, layout = #spx<layout nk>}
      : (tensor<2x3x8xf32>, tensor<16x8xf32>, tensor<16xf32>, tensor<2x3x16xf32>) -> tensor<2x3x16xf32>
  return %0 : tensor<2x3x16xf32>
}

// -----

// A fused skip connection is one more pointer, just before the result.
// CHECK-LABEL: func @sparse_ffn_residual(
// CHECK: %[[RB:.*]], %{{.*}}, %{{.*}}:2, %{{.*}}:2 = memref.extract_strided_metadata %arg3
// CHECK: %[[RI:.*]] = memref.extract_aligned_pointer_as_index %[[RB]]
// CHECK: %[[RC:.*]] = arith.index_cast %[[RI]]
// CHECK: %[[RP:.*]] = llvm.inttoptr %[[RC]]
// CHECK: call @parsimony_sparse_ffn_f32({{.*}}, %c128_i64, %[[RP]], %{{.*}})
func.func @sparse_ffn_residual(%x: tensor<16x768xf32>, %w1: tensor<768x3072xf32>, %w2: tensor<3072x768xf32>, %r: tensor<16x768xf32>) -> tensor<16x768xf32> {
  %0 = spx.sparse_ffn %x up %w1 down %w2 residual %r {topk = 128 : i64}
      : (tensor<16x768xf32>, tensor<768x3072xf32>, tensor<3072x768xf32>, tensor<16x768xf32>) -> tensor<16x768xf32>
  return %0 : tensor<16x768xf32>
}

// -----

// CHECK-LABEL: func @combine_residual(
// CHECK: %[[RB:.*]], %{{.*}}, %{{.*}}:2, %{{.*}}:2 = memref.extract_strided_metadata %arg3
// CHECK: %[[RI:.*]] = memref.extract_aligned_pointer_as_index %[[RB]]
// CHECK: %[[RC:.*]] = arith.index_cast %[[RI]]
// CHECK: %[[RP:.*]] = llvm.inttoptr %[[RC]]
// CHECK: call @parsimony_combine_f32({{.*}}, %[[RP]], %{{.*}}) : (!llvm.ptr, i64, i64, !llvm.ptr, i32, i64, i64, !llvm.ptr, !llvm.ptr, !llvm.ptr) -> ()
func.func @combine_residual(%out: tensor<24x64xf32>, %slots: tensor<16x2xi64>, %gates: tensor<16x2xf32>, %r: tensor<16x64xf32>) -> tensor<16x64xf32> {
  %y = spx.combine %out, %slots, %gates residual %r : (tensor<24x64xf32>, tensor<16x2xi64>, tensor<16x2xf32>, tensor<16x64xf32>) -> tensor<16x64xf32>
  return %y : tensor<16x64xf32>
}
