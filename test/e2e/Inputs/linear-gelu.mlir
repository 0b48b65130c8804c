// A linear layer with bias and exact (erf) GELU, as the importer emits it:
// y = gelu(x @ w + b). Used by the end-to-end tests.
func.func @main(%x: tensor<4x8xf32> {onnx.name = "x"}, %w: tensor<8x16xf32> {onnx.name = "w"},
                %b: tensor<16xf32> {onnx.name = "b"}) -> (tensor<4x16xf32> {onnx.name = "y"}) {
  %z = arith.constant 0.0 : f32
  %half = arith.constant 0.5 : f32
  %one = arith.constant 1.0 : f32
  %rsqrt2 = arith.constant 0.707106769 : f32
  %e = tensor.empty() : tensor<4x16xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
  %m = linalg.matmul ins(%x, %w : tensor<4x8xf32>, tensor<8x16xf32>) outs(%f : tensor<4x16xf32>) -> tensor<4x16xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i,j)->(i,j)>, affine_map<(i,j)->(j)>, affine_map<(i,j)->(i,j)>], iterator_types = ["parallel","parallel"]}
     ins(%m, %b : tensor<4x16xf32>, tensor<16xf32>) outs(%e : tensor<4x16xf32>) {
  ^bb0(%a: f32, %bb: f32, %o: f32):
    %s = arith.addf %a, %bb : f32
    %t = arith.mulf %s, %rsqrt2 : f32
    %u = math.erf %t : f32
    %v = arith.addf %u, %one : f32
    %w2 = arith.mulf %s, %v : f32
    %q = arith.mulf %w2, %half : f32
    linalg.yield %q : f32
  } -> tensor<4x16xf32>
  return %r : tensor<4x16xf32>
}
