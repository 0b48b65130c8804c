// RUN: parsimony-opt %s --convert-linalg-to-parsimony-kernels --split-input-file | FileCheck %s
// RUN: parsimony-opt %s --convert-linalg-to-parsimony-kernels="min-flops=100000" --split-input-file | FileCheck %s --check-prefix=SMALL

// A row-major matmul: C[M,N] += A[M,K] * B[K,N] with lda = K, ldb = N, ldc = N.
// CHECK: func.func private @parsimony_sgemm_batched(i64, i64, i64, i64, f32, !llvm.ptr, i64, i64, i32, !llvm.ptr, i64, i64, i32, f32, !llvm.ptr, i64, i64)
// CHECK-LABEL: func @matmul
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[C4:.*]] = arith.constant 4 : i64
// CHECK-DAG: %[[C16:.*]] = arith.constant 16 : i64
// CHECK-DAG: %[[C8:.*]] = arith.constant 8 : i64
// CHECK: memref.extract_aligned_pointer_as_index
// CHECK: %[[A:.*]] = llvm.inttoptr
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : i64
// CHECK-DAG: %[[F:.*]] = arith.constant 0 : i32
// CHECK: %[[B:.*]] = llvm.inttoptr
// CHECK: %[[C:.*]] = llvm.inttoptr
// CHECK: call @parsimony_sgemm_batched(%[[C1]], %[[C4]], %[[C16]], %[[C8]], %[[ONE]], %[[A]], %[[C8]], %[[C0]], %[[F]], %[[B]], %[[C16]], %[[C0]], %[[F]], %[[ONE]], %[[C]], %[[C16]], %[[C0]])
// CHECK-NOT: linalg.matmul
// SMALL-LABEL: func @matmul
// SMALL: linalg.matmul
func.func @matmul(%a: memref<4x8xf32>, %b: memref<8x16xf32>, %c: memref<4x16xf32>) {
  linalg.matmul ins(%a, %b : memref<4x8xf32>, memref<8x16xf32>) outs(%c : memref<4x16xf32>)
  return
}

// -----

// B stored [N, K] (nn.Linear weight / MatMul with transposed B): transB = 1,
// ldb = K.
// CHECK-LABEL: func @matmul_transpose_b
// CHECK-DAG: %[[T:.*]] = arith.constant 1 : i32
// CHECK-DAG: %[[C768:.*]] = arith.constant 768 : i64
// CHECK: call @parsimony_sgemm_batched({{.*}}, %[[C768]], %{{.*}}, %[[T]], %{{.*}})
func.func @matmul_transpose_b(%a: memref<128x768xf32>, %b: memref<3072x768xf32>, %c: memref<128x3072xf32>) {
  linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                                 affine_map<(m, n, k) -> (n, k)>,
                                 affine_map<(m, n, k) -> (m, n)>]
      ins(%a, %b : memref<128x768xf32>, memref<3072x768xf32>) outs(%c : memref<128x3072xf32>)
  return
}

// -----

// Attention-style batch matmul; a strided view (a subview of a wider buffer)
// keeps its leading dimension.
// CHECK-LABEL: func @batch_matmul
// CHECK-DAG: %[[B12:.*]] = arith.constant 12 : i64
// CHECK-DAG: %[[LD:.*]] = arith.constant 192 : i64
// CHECK: call @parsimony_sgemm_batched(%[[B12]], {{.*}}, %[[LD]],
func.func @batch_matmul(%a: memref<12x128x64xf32, strided<[24576, 192, 1]>>, %b: memref<12x64x128xf32>, %c: memref<12x128x128xf32>) {
  linalg.batch_matmul ins(%a, %b : memref<12x128x64xf32, strided<[24576, 192, 1]>>, memref<12x64x128xf32>) outs(%c : memref<12x128x128xf32>)
  return
}

// -----

// ONNX MatMul broadcasting [B, S, D] x [D, N]: B and S collapse into one
// GEMM with M = 2 * 4.
// CHECK-LABEL: func @generic_broadcast_b
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[M:.*]] = arith.constant 8 : i64
// CHECK: call @parsimony_sgemm_batched(%[[ONE]], %[[M]],
func.func @generic_broadcast_b(%a: memref<2x4x8xf32>, %b: memref<8x16xf32>, %c: memref<2x4x16xf32>) {
  linalg.generic {indexing_maps = [affine_map<(b, m, n, k) -> (b, m, k)>,
                                   affine_map<(b, m, n, k) -> (k, n)>,
                                   affine_map<(b, m, n, k) -> (b, m, n)>],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%a, %b : memref<2x4x8xf32>, memref<8x16xf32>) outs(%c : memref<2x4x16xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// [B, H, S, D] x [D, N]: the weight lacks B and H, so B, H and S are all M
// dimensions and collapse into one GEMM with M = 2 * 12 * 16.
// CHECK-LABEL: func @two_batch_dims
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[M:.*]] = arith.constant 384 : i64
// CHECK: call @parsimony_sgemm_batched(%[[ONE]], %[[M]],
func.func @two_batch_dims(%a: memref<2x12x16x32xf32>, %b: memref<32x16xf32>, %c: memref<2x12x16x16xf32>) {
  linalg.generic {indexing_maps = [affine_map<(b, h, m, n, k) -> (b, h, m, k)>,
                                   affine_map<(b, h, m, n, k) -> (k, n)>,
                                   affine_map<(b, h, m, n, k) -> (b, h, m, n)>],
                  iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%a, %b : memref<2x12x16x32xf32>, memref<32x16xf32>) outs(%c : memref<2x12x16x16xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Decode-style matrix-vector product (no M dimension).
// CHECK-LABEL: func @matvec
// CHECK: call @parsimony_sgemm_batched
func.func @matvec(%a: memref<768x3072xf32>, %x: memref<3072xf32>, %y: memref<768xf32>) {
  linalg.matvec ins(%a, %x : memref<768x3072xf32>, memref<3072xf32>) outs(%y : memref<768xf32>)
  return
}

// -----

// Negative cases stay as linalg: f16 operands, tensors, and layouts strided
// in both matrix dimensions (dynamically or statically).
// CHECK-LABEL: func @kept
// CHECK-NOT: call @parsimony_sgemm_batched
// CHECK: linalg.matmul ins(%arg0, %arg1 : memref<4x8xf16>
// CHECK: linalg.matmul ins(%arg3, %arg4 : tensor<4x8xf32>
// CHECK: linalg.matmul ins(%arg6, %arg7 : memref<4x8xf32, strided<[?, ?]>>
// CHECK: linalg.matmul ins(%arg9, %arg7 : memref<4x8xf32, strided<[16, 2]>>
func.func @kept(%a: memref<4x8xf16>, %b: memref<8x16xf16>, %c: memref<4x16xf16>,
                %ta: tensor<4x8xf32>, %tb: tensor<8x16xf32>, %tc: tensor<4x16xf32>,
                %da: memref<4x8xf32, strided<[?, ?]>>, %sb: memref<8x16xf32>, %sc: memref<4x16xf32>,
                %sa: memref<4x8xf32, strided<[16, 2]>>) -> tensor<4x16xf32> {
  linalg.matmul ins(%a, %b : memref<4x8xf16>, memref<8x16xf16>) outs(%c : memref<4x16xf16>)
  %r = linalg.matmul ins(%ta, %tb : tensor<4x8xf32>, tensor<8x16xf32>) outs(%tc : tensor<4x16xf32>) -> tensor<4x16xf32>
  linalg.matmul ins(%da, %sb : memref<4x8xf32, strided<[?, ?]>>, memref<8x16xf32>) outs(%sc : memref<4x16xf32>)
  linalg.matmul ins(%sa, %sb : memref<4x8xf32, strided<[16, 2]>>, memref<8x16xf32>) outs(%sc : memref<4x16xf32>)
  return %r : tensor<4x16xf32>
}

// -----

// Dynamic sizes: M is read from the operands at run time; a [?, ?, 32]
// activation collapses (identity layout) into one (B*S) x 32 matrix.
// CHECK-LABEL: func @dynamic_rows
// CHECK: %[[M:.*]] = memref.dim %arg0, %c0
// CHECK: %[[M64:.*]] = arith.index_cast %[[M]] : index to i64
// CHECK: call @parsimony_sgemm_batched(%c1_i64, %[[M64]], %c16_i64, %c8_i64,
func.func @dynamic_rows(%a: memref<?x8xf32>, %b: memref<8x16xf32>, %c: memref<?x16xf32>) {
  linalg.matmul ins(%a, %b : memref<?x8xf32>, memref<8x16xf32>) outs(%c : memref<?x16xf32>)
  return
}

// CHECK-LABEL: func @dynamic_batch_seq
// CHECK-DAG: %[[B:.*]] = memref.dim %arg0, %c0
// CHECK-DAG: %[[S:.*]] = memref.dim %arg0, %c1
// CHECK: %[[BS:.*]] = arith.muli %[[B]], %[[S]] : index
// CHECK: %[[M:.*]] = arith.index_cast %[[BS]] : index to i64
// CHECK: call @parsimony_sgemm_batched(%c1_i64, %[[M]], %c64_i64, %c32_i64, %{{.*}}, %{{.*}}, %c32_i64, %c0_i64, %c0_i32, %{{.*}}, %c64_i64, %c0_i64, %c0_i32, %{{.*}}, %{{.*}}, %c64_i64, %c0_i64)
func.func @dynamic_batch_seq(%x: memref<?x?x32xf32>, %w: memref<32x64xf32>, %y: memref<?x?x64xf32>) {
  linalg.generic {indexing_maps = [affine_map<(b, s, n, k) -> (b, s, k)>,
                                   affine_map<(b, s, n, k) -> (k, n)>,
                                   affine_map<(b, s, n, k) -> (b, s, n)>],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<?x?x32xf32>, memref<32x64xf32>) outs(%y : memref<?x?x64xf32>) {
  ^bb0(%a: f32, %bb: f32, %acc: f32):
    %p = arith.mulf %a, %bb : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// A dynamic leading dimension (a subview of a wider buffer) is read from the
// memref descriptor.
// CHECK-LABEL: func @dynamic_ld
// CHECK: %[[LD:.*]] = arith.index_cast %{{.*}}#0 : index to i64
// CHECK: call @parsimony_sgemm_batched({{.*}}, %[[LD]], %c0_i64, %c0_i32,
func.func @dynamic_ld(%a: memref<4x8xf32, strided<[?, 1]>>, %b: memref<8x16xf32>, %c: memref<4x16xf32>) {
  linalg.matmul ins(%a, %b : memref<4x8xf32, strided<[?, 1]>>, memref<8x16xf32>) outs(%c : memref<4x16xf32>)
  return
}

// -----

// A contraction whose body does more than multiply and add (here the LHS is
// negated first: elementwise fusion builds such bodies, e.g. from
// ReduceSum(Neg(x) * w)) is not a GEMM: it stays a loop nest, negation
// included.
// CHECK-LABEL: func @negated_lhs
// CHECK-NOT: call @parsimony_sgemm_batched
// CHECK: linalg.generic
// CHECK: arith.negf
// CHECK: arith.mulf
// CHECK: arith.addf
func.func @negated_lhs(%a: memref<64x64xf32>, %b: memref<64x64xf32>, %c: memref<64x64xf32>) {
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                                   affine_map<(m, n, k) -> (k, n)>,
                                   affine_map<(m, n, k) -> (m, n)>],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %b : memref<64x64xf32>, memref<64x64xf32>) outs(%c : memref<64x64xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %n = arith.negf %x : f32
    %p = arith.mulf %n, %y : f32
    %s = arith.addf %p, %acc : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// The same for an operation applied to the product before accumulating.
// CHECK-LABEL: func @exp_of_product
// CHECK-NOT: call @parsimony_sgemm_batched
// CHECK: math.exp
func.func @exp_of_product(%a: memref<64x64xf32>, %b: memref<64x64xf32>, %c: memref<64x64xf32>) {
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                                   affine_map<(m, n, k) -> (k, n)>,
                                   affine_map<(m, n, k) -> (m, n)>],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %b : memref<64x64xf32>, memref<64x64xf32>) outs(%c : memref<64x64xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %e = math.exp %p : f32
    %s = arith.addf %e, %acc : f32
    linalg.yield %s : f32
  }
  return
}
