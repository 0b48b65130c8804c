// RUN: parsimony-opt %s --spx-build-predictors="predictor=int8" --split-input-file --verify-diagnostics

// Without a top-k, k must come from the option.
func.func @no_k(%x: tensor<3x4xf32>) -> tensor<3x4xf32> {
  %w1 = arith.constant dense<1.0> : tensor<4x8xf32>
  %w2 = arith.constant dense<0.5> : tensor<8x4xf32>
  // expected-error @+1 {{a predicted-support FFN needs k: give the FFN a top-k (--topk=K) or set the k option}}
  %0 = spx.sparse_ffn %x up %w1 down %w2 : (tensor<3x4xf32>, tensor<4x8xf32>, tensor<8x4xf32>) -> tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}

// -----

// Weights that are not constants get no predictor (a remark says why).
func.func @runtime_weights(%x: tensor<3x4xf32>, %w1: tensor<4x8xf32>, %w2: tensor<8x4xf32>) -> tensor<3x4xf32> {
  // expected-remark @+1 {{no support predictor: the up-projection is not a constant}}
  %0 = spx.sparse_ffn %x up %w1 down %w2 {topk = 2 : i64} : (tensor<3x4xf32>, tensor<4x8xf32>, tensor<8x4xf32>) -> tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}

