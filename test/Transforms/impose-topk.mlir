// RUN: parsimony-opt %s --spx-impose-topk=k=4 | FileCheck %s
// RUN: not parsimony-opt %s --spx-impose-topk=k=64 2>&1 | FileCheck %s --check-prefix=TOOBIG
// RUN: not parsimony-opt %s --spx-impose-topk 2>&1 | FileCheck %s --check-prefix=NOK

// CHECK-LABEL: func @f
// CHECK: spx.sparse_ffn %arg0 up %arg1 down %arg2 {topk = 4 : i64}
// An FFN with its own top-k keeps it.
// CHECK: spx.sparse_ffn %arg0 up %arg1 down %arg2 {topk = 2 : i64}
// TOOBIG: error: --topk=64 exceeds the 16 neurons of this FFN
// NOK: error: spx-impose-topk: k must be positive, got 0
func.func @f(%x: tensor<4x8xf32>, %w1: tensor<8x16xf32>, %w2: tensor<16x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %0 = spx.sparse_ffn %x up %w1 down %w2 : (tensor<4x8xf32>, tensor<8x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
  %1 = spx.sparse_ffn %x up %w1 down %w2 {topk = 2 : i64} : (tensor<4x8xf32>, tensor<8x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
  return %0, %1 : tensor<4x8xf32>, tensor<4x8xf32>
}
