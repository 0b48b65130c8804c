func.func @main(%a: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = spx.topk_activation %a, k = 2 : tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}
