// RUN: parsimony-opt %s --parsimony-fuse-elementwise | FileCheck %s
// Pure transposes of contraction operands fold into the contraction.

// CHECK-DAG: #[[A:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[BT:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG: #[[C:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-DAG: #[[KT:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>

// A Gemm with transB = 1: the weight transpose folds into the matmul's
// indexing map (the GEMM call reads B^T through its leading dimension)
// instead of copying the weight on every call.
// CHECK-LABEL: func @transpose_into_matmul(
// CHECK-SAME: %[[X:.*]]: tensor<4x8xf32>, %[[W:.*]]: tensor<16x8xf32>)
// CHECK-NOT: linalg.transpose
// CHECK: linalg.generic {indexing_maps = [#[[A]], #[[BT]], #[[C]]], iterator_types = ["parallel", "parallel", "reduction"]}
// CHECK-SAME: ins(%[[X]], %[[W]] : tensor<4x8xf32>, tensor<16x8xf32>)
// CHECK: arith.mulf
// CHECK: arith.addf
func.func @transpose_into_matmul(%x: tensor<4x8xf32>, %w: tensor<16x8xf32>) -> tensor<4x16xf32> {
  %et = tensor.empty() : tensor<8x16xf32>
  %wt = linalg.transpose ins(%w : tensor<16x8xf32>) outs(%et : tensor<8x16xf32>) permutation = [1, 0]
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x16xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<4x8xf32>, tensor<8x16xf32>) outs(%f : tensor<4x16xf32>) -> tensor<4x16xf32>
  return %y : tensor<4x16xf32>
}

// A transpose written as a generic (K^T in attention) folds into a batched
// matmul the same way; the transpose keeps its other user.
// CHECK-LABEL: func @generic_transpose_into_batch_matmul(
// CHECK-SAME: %[[Q:.*]]: tensor<2x4x8xf32>, %[[K:.*]]: tensor<2x4x8xf32>)
// CHECK: %[[T:.*]] = linalg.generic {{.*}} ins(%[[K]] : tensor<2x4x8xf32>)
// CHECK: %[[S:.*]] = linalg.generic {indexing_maps = [{{.*}}, #[[KT]], {{.*}}]
// CHECK-SAME: ins(%[[Q]], %[[K]] : tensor<2x4x8xf32>, tensor<2x4x8xf32>)
// CHECK: return %[[S]], %[[T]]
#perm = affine_map<(b, i, j) -> (b, j, i)>
#id3 = affine_map<(b, i, j) -> (b, i, j)>
func.func @generic_transpose_into_batch_matmul(%q: tensor<2x4x8xf32>, %k: tensor<2x4x8xf32>) -> (tensor<2x4x4xf32>, tensor<2x8x4xf32>) {
  %et = tensor.empty() : tensor<2x8x4xf32>
  %kt = linalg.generic {indexing_maps = [#perm, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%k : tensor<2x4x8xf32>) outs(%et : tensor<2x8x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  } -> tensor<2x8x4xf32>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x4x4xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<2x4x8xf32>, tensor<2x8x4xf32>) outs(%f : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
  return %s, %kt : tensor<2x4x4xf32>, tensor<2x8x4xf32>
}

// Not folded: a transpose that also computes (scales) stays its own op, and
// the matmul stays a named contraction.
// CHECK-LABEL: func @scaled_transpose_not_folded(
// CHECK: %[[T:.*]] = linalg.generic
// CHECK: arith.mulf
// CHECK: linalg.matmul ins(%{{.*}}, %[[T]]
func.func @scaled_transpose_not_folded(%x: tensor<4x8xf32>, %w: tensor<16x8xf32>) -> tensor<4x16xf32> {
  %et = tensor.empty() : tensor<8x16xf32>
  %wt = linalg.generic {indexing_maps = [affine_map<(i, j) -> (j, i)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%w : tensor<16x8xf32>) outs(%et : tensor<8x16xf32>) {
  ^bb0(%a: f32, %o: f32):
    %c = arith.constant 2.0 : f32
    %m = arith.mulf %a, %c : f32
    linalg.yield %m : f32
  } -> tensor<8x16xf32>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x16xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<4x8xf32>, tensor<8x16xf32>) outs(%f : tensor<4x16xf32>) -> tensor<4x16xf32>
  return %y : tensor<4x16xf32>
}

// Not folded: attention's head split ([S, H, Dh] -> [H, S, Dh]) is not a
// matrix transpose; folded, the batch dimension would not be one stride
// apart and the product could not run on the GEMM kernels.
// CHECK-LABEL: func @head_split_not_folded(
// CHECK: %[[T:.*]] = linalg.transpose
// CHECK: linalg.batch_matmul ins(%[[T]], %{{.*}} : tensor<2x4x8xf32>, tensor<2x8x4xf32>)
func.func @head_split_not_folded(%x: tensor<4x2x8xf32>, %k: tensor<2x8x4xf32>) -> tensor<2x4x4xf32> {
  %et = tensor.empty() : tensor<2x4x8xf32>
  %xt = linalg.transpose ins(%x : tensor<4x2x8xf32>) outs(%et : tensor<2x4x8xf32>) permutation = [1, 0, 2]
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x4x4xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
  %s = linalg.batch_matmul ins(%xt, %k : tensor<2x4x8xf32>, tensor<2x8x4xf32>) outs(%f : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
  return %s : tensor<2x4x4xf32>
}
