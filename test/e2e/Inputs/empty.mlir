func.func @main(%x: tensor<3x0x5xf32> {onnx.name = "x"}) -> (tensor<3x0x5xf32> {onnx.name = "y"}) {
  return %x : tensor<3x0x5xf32>
}
