// RUN: parsimony-opt %s --convert-linalg-to-parsimony-kernels="report-loops=true" --verify-diagnostics | FileCheck %s
// RUN: parsimony-opt %s --convert-linalg-to-parsimony-kernels | FileCheck %s

// With report-loops every f32 contraction that stays as loops says why
// (a 30x performance cliff a benchmark would otherwise have to find);
// lowered contractions and ops that are not candidates (f16) say nothing.
// Without the option the same ops stay as loops silently.
// CHECK-LABEL: func @report
// CHECK: call @parsimony_sgemm_batched
// CHECK: linalg.matmul ins(%arg3, %arg1 : memref<4x8xf32, strided<[16, 2]>>
// CHECK: linalg.matmul ins(%arg4, %arg1 : memref<4x8xf32, strided<[?, ?]>>
// CHECK: linalg.matmul ins(%arg5, %arg6 : memref<4x8xf16>
func.func @report(%a: memref<4x8xf32>, %b: memref<8x16xf32>, %c: memref<4x16xf32>,
                  %sa: memref<4x8xf32, strided<[16, 2]>>,
                  %da: memref<4x8xf32, strided<[?, ?]>>,
                  %ha: memref<4x8xf16>, %hb: memref<8x16xf16>, %hc: memref<4x16xf16>) {
  linalg.matmul ins(%a, %b : memref<4x8xf32>, memref<8x16xf32>) outs(%c : memref<4x16xf32>)
  // expected-remark @+1 {{contraction of 1 x 4 x 16 x 8 (batch x M x N x K) left to loops: the LHS layout is not a (batched) row-major or transposed matrix}}
  linalg.matmul ins(%sa, %b : memref<4x8xf32, strided<[16, 2]>>, memref<8x16xf32>) outs(%c : memref<4x16xf32>)
  // expected-remark @+1 {{contraction of 1 x 4 x 16 x 8 (batch x M x N x K) left to loops: the LHS layout is not a (batched) row-major or transposed matrix}}
  linalg.matmul ins(%da, %b : memref<4x8xf32, strided<[?, ?]>>, memref<8x16xf32>) outs(%c : memref<4x16xf32>)
  linalg.matmul ins(%ha, %hb : memref<4x8xf16>, memref<8x16xf16>) outs(%hc : memref<4x16xf16>)
  return
}
