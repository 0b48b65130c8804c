// A Switch/GShard-style mixture-of-experts layer (ONNX Runtime com.microsoft:MoE
// semantics) followed by a Top-k FFN, written directly in the spx dialect.
// `make demo` decomposes the MoE into route/dispatch/expert_ffn/combine and
// canonicalizes.
func.func @block(%x: tensor<1x16x768xf32>, %router: tensor<16x8xf32>,
                 %fc1: tensor<8x3072x768xf32>, %fc1_b: tensor<8x3072xf32>,
                 %fc2: tensor<8x768x3072xf32>, %fc2_b: tensor<8x768xf32>,
                 %up: tensor<768x3072xf32>, %up_b: tensor<3072xf32>,
                 %down: tensor<3072x768xf32>, %down_b: tensor<768xf32>)
    -> tensor<1x16x768xf32> {
  %moe = spx.moe %x, %router fc1 %fc1 fc1_bias %fc1_b fc2 %fc2 fc2_bias %fc2_b
      {k = 2 : i64, activation = #spx<activation gelu>,
       normalize_routing_weights = true}
      : (tensor<1x16x768xf32>, tensor<16x8xf32>, tensor<8x3072x768xf32>,
         tensor<8x3072xf32>, tensor<8x768x3072xf32>, tensor<8x768xf32>)
      -> tensor<1x16x768xf32>
  // A Top-k over all 3072 neurons keeps everything: canonicalization drops it.
  %ffn = spx.sparse_ffn %moe up %up up_bias %up_b down %down down_bias %down_b
      {activation = #spx<activation relu>, topk = 3072 : i64}
      : (tensor<1x16x768xf32>, tensor<768x3072xf32>, tensor<3072xf32>,
         tensor<3072x768xf32>, tensor<768xf32>) -> tensor<1x16x768xf32>
  return %ffn : tensor<1x16x768xf32>
}
