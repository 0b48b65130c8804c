func.func @main(%a: tensor<4x8xbf16>) -> tensor<4x8xbf16> {
  %0 = spx.topk_activation %a, k = 2 : tensor<4x8xbf16>
  return %0 : tensor<4x8xbf16>
}
