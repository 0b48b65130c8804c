func.func @main(%x: tensor<?x8xf32> {onnx.name = "x", onnx.dim_params = ["batch", ""]}) -> tensor<?x8xf32> {
  return %x : tensor<?x8xf32>
}
