// RUN: parsimony-opt %s --one-shot-bufferize="bufferize-function-boundaries" --split-input-file --verify-diagnostics

// The CPU kernels compute in f32: other activation types get a clear error.
func.func @bf16(%a: tensor<4x8xbf16>) -> tensor<4x8xbf16> {
  // expected-error @+2 {{the CPU kernels compute in f32; the input has element type 'bf16'}}
  // expected-error @+1 {{failed to bufferize op}}
  %0 = spx.topk_activation %a, k = 2 : tensor<4x8xbf16>
  return %0 : tensor<4x8xbf16>
}

// -----

func.func @f16_weight(%x: tensor<4x8xf32>, %w: tensor<8x16xf16>) -> tensor<4x16xf32> {
  // expected-error @+2 {{the CPU kernels take f32 or quantized matmul weights, got 'f16'}}
  // expected-error @+1 {{failed to bufferize op}}
  %0 = spx.sparse_matmul %x, %w : (tensor<4x8xf32>, tensor<8x16xf16>) -> tensor<4x16xf32>
  return %0 : tensor<4x16xf32>
}
