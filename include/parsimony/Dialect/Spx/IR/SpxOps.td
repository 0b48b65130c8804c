//===- SpxOps.td - spx operations --------------------------*- tablegen -*-===//

#ifndef PARSIMONY_DIALECT_SPX_IR_SPXOPS_TD
#define PARSIMONY_DIALECT_SPX_IR_SPXOPS_TD

include "parsimony/Dialect/Spx/IR/SpxDialect.td"
include "parsimony/Dialect/Spx/IR/SpxAttrs.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/IR/CommonTypeConstraints.td"
include "mlir/IR/OpBase.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// Type constraints
//===----------------------------------------------------------------------===//

def Spx_FloatTensor : RankedTensorOf<[F32, F16, BF16]>;
def Spx_F32Tensor : RankedTensorOf<[F32]>;
def Spx_FloatOrByteTensor : RankedTensorOf<[F32, F16, BF16, I<8>]>;
def Spx_WeightTensor : RankedTensorOf<[F32, F16, BF16, I<8>, I<4>]>;
def Spx_IndexTensor : RankedTensorOf<[I32, I64]>;
def Spx_I64Tensor : RankedTensorOf<[I64]>;

def Spx_PositiveI64Attr : ConfinedAttr<I64Attr, [IntPositive]>;

//===----------------------------------------------------------------------===//
// Top-k activation
//===----------------------------------------------------------------------===//

def Spx_TopKActivationOp : Spx_Op<"topk_activation",
    [Pure, SameOperandsAndResultType]> {
  let summary = "keep the k largest entries along an axis, zero the rest";
  let description = [{
    The Top-k activation of "Large Models are Parsimonious Learners" (Li et
    al. 2022, Eq. 9): for every slice along `axis` (the FFN hidden axis, per
    token) the `k` largest entries keep their value and every other entry
    becomes zero.

    * `mode = exact`: the `k` largest are selected exactly; ties go to the
      lower index. NaN compares larger than every number.
    * `mode = approx`: the lowering may return a selection whose expected
      recall against the exact top-k is at least `recall_target` (default
      0.95, as `jax.lax.approx_max_k`); the profiler reports the measured
      recall. Entries that are kept always keep their exact value.

    `k` equal to the axis size is the identity and folds away.

    ```mlir
    %h = spx.topk_activation %a, k = 128 : tensor<16x3072xf32>
    %h2 = spx.topk_activation %a, k = 128 {mode = #spx<topk_mode approx>,
                                           recall_target = 0.9 : f32}
        : tensor<16x3072xf32>
    ```
  }];
  let arguments = (ins Spx_FloatTensor:$input,
                       Spx_PositiveI64Attr:$k,
                       DefaultValuedAttr<I64Attr, "-1">:$axis,
                       DefaultValuedAttr<Spx_TopKModeAttr,
                                         "::mlir::spx::TopKMode::exact">:$mode,
                       DefaultValuedAttr<F32Attr, "0.95">:$recall_target);
  let results = (outs Spx_FloatTensor:$output);
  let assemblyFormat = "$input `,` `k` `=` $k attr-dict `:` type($input)";
  let hasVerifier = 1;
  let hasFolder = 1;
  let extraClassDeclaration = [{
    /// The axis in [0, rank).
    int64_t getNormalizedAxis();
  }];
}

//===----------------------------------------------------------------------===//
// Sparse matmuls
//===----------------------------------------------------------------------===//

def Spx_SparseMatmulOp : Spx_Op<"sparse_matmul", [Pure]> {
  let summary = "matmul with an activation-sparse left operand (dynamic support)";
  let description = [{
    `output[..., n] = sum_c input[..., c] * W[c, n]`, where `input` is
    expected to be mostly zero (after ReLU or Top-k). The support is discovered
    at run time: the lowering reads only the rows of `W` whose activation is
    nonzero, which costs `2 * N * nnz` FLOPs instead of `2 * N * K`. The
    result is exactly the dense product up to floating-point reassociation.

    `W` is `[K, N]` for `layout = kn` (default) or `[N, K]` for `nk`; see the
    dialect description for quantized weights.

    ```mlir
    %y = spx.sparse_matmul %h, %w2
        : (tensor<16x3072xf32>, tensor<3072x768xf32>) -> tensor<16x768xf32>
    ```
  }];
  let arguments = (ins Spx_FloatTensor:$input,
                       Spx_WeightTensor:$weight,
                       Optional<Spx_FloatTensor>:$scales,
                       DefaultValuedAttr<Spx_WeightLayoutAttr,
                           "::mlir::spx::WeightLayout::kn">:$layout,
                       OptionalAttr<Spx_QuantAttr>:$quant);
  let results = (outs Spx_FloatTensor:$output);
  let assemblyFormat = [{
    $input `,` $weight (`scales` $scales^)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Spx_QuantMatmulOp : Spx_Op<"quant_matmul",
                                [Pure, AttrSizedOperandSegments]> {
  let summary = "dense matmul with a weight-only quantized weight";
  let description = [{
    `output[..., n] = act(sum_c input[..., c] * (q[c, n] * scale) + bias[n])
    + residual[..., n]`: a dense projection whose constant weight is stored
    as int8 or int4 with floating-point scales (weight-only quantization;
    the activations and the accumulation stay f32). The leading dimensions
    of `input` are tokens. The weight follows the dialect's layout and
    quantization conventions and must be quantized; `nk` (one contiguous row
    per output feature, with its scales) is the layout the CPU kernel is
    fastest on. `--spx-quantize-weights` creates it from `linalg`
    contractions with a constant weight; the CPU lowering dequantizes in
    registers and never materializes an f32 copy of the weight.

    The epilogue (bias, activation, residual; all optional, as in
    `spx.matmul`) is applied to each block of the output as soon as it is
    accumulated; `--spx-fuse-epilogues` folds the elementwise op after the
    product into it.

    The input may also be 8-bit integers (an ONNX `MatMulInteger`, raised
    by `--spx-raise-dequantized-weights`): bytes read as int8, or as uint8
    with `input_unsigned`, minus the optional i32 `input_zero_point`. The
    result is then `float(sum_c (input[..., c] - zp) * q[c, n]) * scale`,
    f32. On CPUs with AVX-512 VNNI and an int8 `nk` weight with one scale
    per output feature the integer sum is exact (u8 x s8 dot products);
    elsewhere the f32 kernels run on `input - zp` (exact products, sums
    rounded as f32).

    ```mlir
    %y = spx.quant_matmul %x, %q scales %s bias %b
        {activation = #spx<activation gelu>, layout = #spx<layout nk>,
         quant = #spx.quant<bits = 8>}
        : (tensor<1x768xf32>, tensor<3072x768xi8>, tensor<3072xf32>,
           tensor<3072xf32>) -> tensor<1x3072xf32>
    ```
  }];
  let arguments = (ins Spx_FloatOrByteTensor:$input,
                       Spx_WeightTensor:$weight,
                       Spx_FloatTensor:$scales,
                       Optional<I32>:$input_zero_point,
                       Optional<Spx_FloatTensor>:$bias,
                       Optional<Spx_FloatTensor>:$residual,
                       UnitAttr:$input_unsigned,
                       DefaultValuedAttr<Spx_ActivationAttr,
                           "::mlir::spx::Activation::identity">:$activation,
                       DefaultValuedAttr<Spx_WeightLayoutAttr,
                           "::mlir::spx::WeightLayout::kn">:$layout,
                       Spx_QuantAttr:$quant);
  let results = (outs Spx_FloatTensor:$output);
  let assemblyFormat = [{
    $input `,` $weight `scales` $scales
    (`input_zero_point` $input_zero_point^)? (`bias` $bias^)?
    (`residual` $residual^)? attr-dict `:` functional-type(operands, results)
  }];
  let builders = [
    // A product of float activations without an epilogue.
    OpBuilder<(ins "::mlir::Type":$output, "::mlir::Value":$input,
                   "::mlir::Value":$weight, "::mlir::Value":$scales,
                   "::mlir::spx::WeightLayoutAttr":$layout,
                   "::mlir::spx::QuantAttr":$quant), [{
      build($_builder, $_state, output, input, weight, scales,
            /*input_zero_point=*/::mlir::Value(), /*bias=*/::mlir::Value(),
            /*residual=*/::mlir::Value(), /*input_unsigned=*/::mlir::UnitAttr(),
            ::mlir::spx::ActivationAttr::get($_builder.getContext(),
                ::mlir::spx::Activation::identity),
            layout, quant);
    }]>
  ];
  let hasVerifier = 1;
}

def Spx_MatmulOp : Spx_Op<"matmul", [Pure, AttrSizedOperandSegments]> {
  let summary = "dense matmul with a fused bias, activation and residual epilogue";
  let description = [{
    `output[..., n] = act(sum_c input[..., c] * W[c, n] + bias[n])
    + residual[..., n]`: a dense f32 projection whose epilogue (all parts
    optional) is applied to each output tile while it is still in cache,
    instead of in separate passes over the output. The leading dimensions of
    `input` are tokens; `W` is `[K, N]` (`layout = kn`) or `[N, K]` (`nk`,
    the weight of a `Gemm` with `transB`). `activation` is any FFN activation
    but `swiglu` (which needs a second projection). `--spx-fuse-epilogues`
    creates it from a `linalg.matmul` followed by the elementwise ops.

    ```mlir
    %y = spx.matmul %x, %w bias %b residual %r {activation = #spx<activation gelu>}
        : (tensor<16x768xf32>, tensor<768x3072xf32>, tensor<3072xf32>,
           tensor<16x3072xf32>) -> tensor<16x3072xf32>
    ```
  }];
  let arguments = (ins Spx_FloatTensor:$input,
                       Spx_FloatTensor:$weight,
                       Optional<Spx_FloatTensor>:$bias,
                       Optional<Spx_FloatTensor>:$residual,
                       DefaultValuedAttr<Spx_ActivationAttr,
                           "::mlir::spx::Activation::identity">:$activation,
                       DefaultValuedAttr<Spx_WeightLayoutAttr,
                           "::mlir::spx::WeightLayout::kn">:$layout);
  let results = (outs Spx_FloatTensor:$output);
  let assemblyFormat = [{
    $input `,` $weight (`bias` $bias^)? (`residual` $residual^)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Spx_SupportMatmulOp : Spx_Op<"support_matmul", [Pure]> {
  let summary = "matmul restricted to a per-token support of neuron indices";
  let description = [{
    The building block of predicted-support FFNs. `support` holds, for every
    token, `s` neuron indices (shape `[..., s]`, same leading dimensions as
    `input`).

    * `side = output` (up-projection): only the support's output columns are
      computed; the result is compact.
      `output[..., j] = sum_c input[..., c] * W[c, support[..., j]]`,
      shape `[..., s]`.
    * `side = input` (down-projection): `input` holds compact activations
      for the support's neurons; only those rows of `W` are read.
      `output[..., n] = sum_j input[..., j] * W[support[..., j], n]`,
      shape `[..., N]`.

    Indices outside `[0, neurons)` contribute zero. Duplicate indices are
    allowed and contribute once per occurrence.

    ```mlir
    %h = spx.support_matmul %x, %w1 support %s {side = #spx<side output>}
        : (tensor<1x768xf32>, tensor<768x3072xf32>, tensor<1x128xi32>)
          -> tensor<1x128xf32>
    ```
  }];
  let arguments = (ins Spx_FloatTensor:$input,
                       Spx_WeightTensor:$weight,
                       Optional<Spx_FloatTensor>:$scales,
                       Spx_IndexTensor:$support,
                       Spx_SupportSideAttr:$side,
                       DefaultValuedAttr<Spx_WeightLayoutAttr,
                           "::mlir::spx::WeightLayout::kn">:$layout,
                       OptionalAttr<Spx_QuantAttr>:$quant);
  let results = (outs Spx_FloatTensor:$output);
  let assemblyFormat = [{
    $input `,` $weight (`scales` $scales^)? `support` $support attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Spx_PredictSupportOp : Spx_Op<"predict_support",
    [Pure, AttrSizedOperandSegments]> {
  let summary = "cheap predictor choosing k FFN neurons per token";
  let description = [{
    Predicts which `k` FFN neurons matter for each token before the
    up-projection is computed. Scores approximate the up-projection
    pre-activations, `scores = x * P (+ bias)`, and the result holds, per
    token, the indices of the `k` largest scores in ascending index order
    (ties to the lower index), shape `[..., k]`.

    * `predictor = quantized`: `P` is a low-bit copy of the up-projection:
      `weight` is `i8` or `i4` with `quant` and `scales` (any layout). The
      scores may round each token's `x` to 8 bits (a power-of-two scale per
      token) so that they are exact integer dot products: the CPU runtime
      does so on AVX-512 VNNI for neuron-major i8 weights with one scale per
      neuron and packed i4 weights with f32 or f16 scales (per neuron or in
      groups of 32 or of a multiple of 64).
    * `predictor = lowrank`: `P = weight * factor`, a rank-r factorisation
      (Deja Vu style); `weight` is `[K, r]` and `factor` is `[r, N]`, both
      floating point.

    Predictor weights are built at compile time from the model's weights by
    the predictor-building pass.

    ```mlir
    %s = spx.predict_support %x, %p scales %ps
        {k = 128 : i64, predictor = #spx<predictor quantized>,
         quant = #spx.quant<bits = 4, group_size = 64>}
        : (tensor<1x768xf32>, tensor<768x3072xi4>, tensor<12x3072xf32>)
          -> tensor<1x128xi32>
    ```
  }];
  let arguments = (ins Spx_FloatTensor:$input,
                       Spx_WeightTensor:$weight,
                       Optional<Spx_FloatTensor>:$factor,
                       Optional<Spx_FloatTensor>:$scales,
                       Optional<Spx_FloatTensor>:$bias,
                       Spx_PositiveI64Attr:$k,
                       Spx_PredictorKindAttr:$predictor,
                       DefaultValuedAttr<Spx_WeightLayoutAttr,
                           "::mlir::spx::WeightLayout::kn">:$layout,
                       OptionalAttr<Spx_QuantAttr>:$quant);
  let results = (outs Spx_IndexTensor:$support);
  let assemblyFormat = [{
    $input `,` $weight (`factor` $factor^)? (`scales` $scales^)?
    (`bias` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Fused sparse FFN
//===----------------------------------------------------------------------===//

def Spx_SparseFFNOp : Spx_Op<"sparse_ffn", [Pure, AttrSizedOperandSegments]> {
  let summary = "fused feed-forward block with activation sparsity";
  let description = [{
    The transformer FFN as one operation, the target of the raising and
    fusion passes:

    ```
    u = x * W_up + b_up                          // [..., F]
    h = act(u)                  (no gate)
    h = act(x * W_gate) * u     (gated, e.g. SwiGLU-style LLaMA FFNs)
    h = h restricted to `support`                (if present)
    h = TopK_k(h)                                (if `topk` is set, exact)
    y = h * W_down + b_down + residual           // [..., D]
    ```

    `activation` is one of `identity`, `relu`, `gelu` (erf), `gelu_tanh`,
    `silu`, `sigmoid` (default `relu`). With a `support` operand (`[..., s]`
    neuron indices, e.g. from `spx.predict_support`) only the supported
    neurons are computed and the rest count as zero: this is the
    predicted-support FFN and is an approximation of the dense block. With
    `support_block = B > 1`, consecutive groups of `B` tokens (over the
    flattened leading dimensions) share the union of their supports.

    Weights follow the dialect's layout and quantization conventions:
    `W_up`/`W_gate` map `D -> F` and `W_down` maps `F -> D`. The neuron-major
    form used by the sparse kernels is `up_layout = nk` (and
    `gate_layout = nk`) with `down_layout = kn`: one neuron's weights are one
    contiguous row in every projection.

    `residual` (optional, the result's type) is the transformer's skip
    connection: the down projection accumulates onto it instead of onto
    zeros. `--spx-fuse-epilogues` folds the add after the block into it.

    ```mlir
    %y = spx.sparse_ffn %x up %w1 up_bias %b1 down %w2 down_bias %b2
        {activation = #spx<activation relu>, topk = 128 : i64}
        : (tensor<16x768xf32>, tensor<768x3072xf32>, tensor<3072xf32>,
           tensor<3072x768xf32>, tensor<768xf32>) -> tensor<16x768xf32>
    ```
  }];
  let arguments = (ins Spx_FloatTensor:$input,
                       Spx_WeightTensor:$up_weight,
                       Optional<Spx_FloatTensor>:$up_scales,
                       Optional<Spx_FloatTensor>:$up_bias,
                       Optional<Spx_WeightTensor>:$gate_weight,
                       Optional<Spx_FloatTensor>:$gate_scales,
                       Spx_WeightTensor:$down_weight,
                       Optional<Spx_FloatTensor>:$down_scales,
                       Optional<Spx_FloatTensor>:$down_bias,
                       Optional<Spx_FloatTensor>:$residual,
                       Optional<Spx_IndexTensor>:$support,
                       DefaultValuedAttr<Spx_ActivationAttr,
                           "::mlir::spx::Activation::relu">:$activation,
                       OptionalAttr<Spx_PositiveI64Attr>:$topk,
                       DefaultValuedAttr<Spx_PositiveI64Attr, "1">:$support_block,
                       DefaultValuedAttr<Spx_WeightLayoutAttr,
                           "::mlir::spx::WeightLayout::kn">:$up_layout,
                       DefaultValuedAttr<Spx_WeightLayoutAttr,
                           "::mlir::spx::WeightLayout::kn">:$gate_layout,
                       DefaultValuedAttr<Spx_WeightLayoutAttr,
                           "::mlir::spx::WeightLayout::kn">:$down_layout,
                       OptionalAttr<Spx_QuantAttr>:$up_quant,
                       OptionalAttr<Spx_QuantAttr>:$gate_quant,
                       OptionalAttr<Spx_QuantAttr>:$down_quant);
  let results = (outs Spx_FloatTensor:$output);
  let assemblyFormat = [{
    $input `up` $up_weight (`up_scales` $up_scales^)? (`up_bias` $up_bias^)?
    (`gate` $gate_weight^)? (`gate_scales` $gate_scales^)?
    `down` $down_weight (`down_scales` $down_scales^)?
    (`down_bias` $down_bias^)? (`residual` $residual^)?
    (`support` $support^)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
  let extraClassDeclaration = [{
    /// The FFN hidden size F (dynamic if unknown).
    int64_t getHiddenSize();
  }];
}

//===----------------------------------------------------------------------===//
// Mixture of experts: route -> dispatch -> expert_ffn -> combine
//===----------------------------------------------------------------------===//

def Spx_RouteOp : Spx_Op<"route", [Pure, AttrSizedOperandSegments]> {
  let summary = "softmax router selecting the top-k experts per token (f32)";
  let description = [{
    `logits = input` if no router weight is given, else
    `logits = f32(input) * router_weight (+ router_bias)` (`router_weight` is
    `[D, E]`). Then `p = softmax(logits)` over the `E` experts, and for every
    token the `k` most probable experts are selected (descending probability,
    ties to the lower expert index). `gates` holds their probabilities,
    renormalised to sum to one when `normalize` is set (equivalently, a
    softmax over the selected logits).

    The router is always computed in f32, whatever the model's precision or
    quantization: logits given directly must be f32, and a router weight must
    be an f32 floating-point tensor (never quantized). `gates` is always f32.

    ```mlir
    %gates, %experts = spx.route %logits {k = 2 : i64, normalize = true}
        : (tensor<16x8xf32>) -> (tensor<16x2xf32>, tensor<16x2xi32>)
    ```
  }];
  let arguments = (ins Spx_FloatTensor:$input,
                       Optional<Spx_F32Tensor>:$router_weight,
                       Optional<Spx_F32Tensor>:$router_bias,
                       Spx_PositiveI64Attr:$k,
                       DefaultValuedAttr<BoolAttr, "false">:$normalize);
  let results = (outs Spx_F32Tensor:$gates, Spx_IndexTensor:$experts);
  let assemblyFormat = [{
    $input (`weight` $router_weight^)? (`bias` $router_bias^)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The number of experts E (dynamic if unknown).
    int64_t getNumExperts();
  }];
}

def Spx_DispatchOp : Spx_Op<"dispatch", [Pure]> {
  let summary = "group token copies by expert (capacity or dropless)";
  let description = [{
    Sends every (token, choice) assignment `experts[t, j]` to its expert.
    Results:

    * `rows` (`[R, D]`): token copies grouped by expert; expert `e` owns rows
      `[group_offsets[e], group_offsets[e] + group_sizes[e])`. Rows outside
      every group are zero.
    * `group_offsets`, `group_sizes` (`[E]`, i64).
    * `slots` (`[T, k]`, i64): the row holding each assignment, or -1 if the
      assignment was dropped.

    Within a group, assignments keep token order (then choice order).

    * `mode = dropless` (default, MegaBlocks style): groups are packed
      back to back, `R = T * k`, nothing is dropped.
    * `mode = capacity` (Switch Transformer / GShard): every expert has
      `C = ceil(T / E * capacity_factor)` slots, `R = E * C`,
      `group_offsets[e] = e * C`; assignments beyond an expert's capacity are
      dropped in token order (then choice order) and contribute zero. For
      `k > 1`, a `capacity_factor` of at least `k` leaves room for every
      assignment on a balanced router.

    Expert ids outside `[0, E)` are dropped.

    ```mlir
    %rows, %offsets, %sizes, %slots = spx.dispatch %x, %experts
        {num_experts = 8 : i64}
        : (tensor<16x768xf32>, tensor<16x2xi32>)
          -> (tensor<32x768xf32>, tensor<8xi64>, tensor<8xi64>, tensor<16x2xi64>)
    ```
  }];
  let arguments = (ins Spx_FloatTensor:$input,
                       Spx_IndexTensor:$experts,
                       Spx_PositiveI64Attr:$num_experts,
                       DefaultValuedAttr<Spx_DispatchModeAttr,
                           "::mlir::spx::DispatchMode::dropless">:$mode,
                       DefaultValuedAttr<F32Attr, "1.0">:$capacity_factor);
  let results = (outs Spx_FloatTensor:$rows, Spx_I64Tensor:$group_offsets,
                      Spx_I64Tensor:$group_sizes, Spx_I64Tensor:$slots);
  let assemblyFormat = [{
    $input `,` $experts attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Rows per expert in capacity mode for T tokens (T must be static).
    static int64_t getCapacity(int64_t numTokens, int64_t numExperts,
                               float capacityFactor);
    /// The number of dispatched rows R for T tokens (dynamic if T is).
    int64_t getNumRows(int64_t numTokens, int64_t topK);
  }];
}

def Spx_ExpertFFNOp : Spx_Op<"expert_ffn", [Pure, AttrSizedOperandSegments]> {
  let summary = "grouped expert FFN over ragged groups of dispatched rows";
  let description = [{
    For every expert `e`, the rows `[group_offsets[e], group_offsets[e] +
    group_sizes[e])` of `rows` go through expert `e`'s FFN; every other
    output row is zero. Weights are stacked per expert (`[E, ...]`), by
    default in ONNX Runtime's `nk` layout (`fc1: [E, F1, D]`,
    `fc2: [E, D, F]`, `fc3: [E, F, D]`); biases are `[E, features]`.

    ```
    u1 = x * fc1_e + b1_e
    activation = swiglu:
      gate, value = (u1, x * fc3_e + b3_e)      if fc3 is present
                    (u1[0::2], u1[1::2])        swiglu_fusion = interleaved
                    (u1[:F], u1[F:])            swiglu_fusion = block
      g = min(gate, limit); v = clamp(value, -limit, limit)   (if limit set)
      h = g * sigmoid(activation_alpha * g) * (v + activation_beta)
    other activations:
      h = act(u1) * (x * fc3_e + b3_e)          if fc3 is present (gated)
      h = act(u1)                               otherwise
    out = h * fc2_e + b2_e
    ```

    Group offsets/sizes normally come from `spx.dispatch`; groups must not
    overlap and must lie inside `rows`. `h * fc2_e` may skip the rows of
    `fc2_e` whose entries of `h` are zero for every row of the group (the
    CPU runtime does for groups of up to 4 rows): those rows are then never
    read, so a non-finite weight in them does not reach the output.
  }];
  let arguments = (ins Spx_FloatTensor:$rows,
                       Spx_I64Tensor:$group_offsets,
                       Spx_I64Tensor:$group_sizes,
                       Spx_WeightTensor:$fc1_weight,
                       Optional<Spx_FloatTensor>:$fc1_scales,
                       Optional<Spx_FloatTensor>:$fc1_bias,
                       Spx_WeightTensor:$fc2_weight,
                       Optional<Spx_FloatTensor>:$fc2_scales,
                       Optional<Spx_FloatTensor>:$fc2_bias,
                       Optional<Spx_WeightTensor>:$fc3_weight,
                       Optional<Spx_FloatTensor>:$fc3_scales,
                       Optional<Spx_FloatTensor>:$fc3_bias,
                       DefaultValuedAttr<Spx_ActivationAttr,
                           "::mlir::spx::Activation::relu">:$activation,
                       DefaultValuedAttr<Spx_SwiGLUFusionAttr,
                           "::mlir::spx::SwiGLUFusion::none">:$swiglu_fusion,
                       DefaultValuedAttr<F32Attr, "1.0">:$activation_alpha,
                       DefaultValuedAttr<F32Attr, "0.0">:$activation_beta,
                       OptionalAttr<F32Attr>:$swiglu_limit,
                       DefaultValuedAttr<Spx_WeightLayoutAttr,
                           "::mlir::spx::WeightLayout::nk">:$fc1_layout,
                       DefaultValuedAttr<Spx_WeightLayoutAttr,
                           "::mlir::spx::WeightLayout::nk">:$fc2_layout,
                       DefaultValuedAttr<Spx_WeightLayoutAttr,
                           "::mlir::spx::WeightLayout::nk">:$fc3_layout,
                       OptionalAttr<Spx_QuantAttr>:$fc1_quant,
                       OptionalAttr<Spx_QuantAttr>:$fc2_quant,
                       OptionalAttr<Spx_QuantAttr>:$fc3_quant);
  let results = (outs Spx_FloatTensor:$output);
  let assemblyFormat = [{
    $rows `groups` `(` $group_offsets `,` $group_sizes `)`
    `fc1` $fc1_weight (`fc1_scales` $fc1_scales^)? (`fc1_bias` $fc1_bias^)?
    `fc2` $fc2_weight (`fc2_scales` $fc2_scales^)? (`fc2_bias` $fc2_bias^)?
    (`fc3` $fc3_weight^)? (`fc3_scales` $fc3_scales^)?
    (`fc3_bias` $fc3_bias^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Spx_CombineOp : Spx_Op<"combine", [Pure]> {
  let summary = "gate-weighted sum of each token's expert outputs";
  let description = [{
    `output[t] = residual[t] + sum_j gates[t, j] *
    expert_output[slots[t, j]]`, where a slot of -1 (a dropped assignment)
    or outside `[0, R)` contributes zero and `residual` (optional, the
    result's type) is the layer's skip connection, which
    `--spx-fuse-epilogues` folds in. Gates are f32; the sum is accumulated
    in f32 and the result has the element type of `expert_output`.
  }];
  let arguments = (ins Spx_FloatTensor:$expert_output,
                       Spx_IndexTensor:$slots,
                       Spx_F32Tensor:$gates,
                       Optional<Spx_FloatTensor>:$residual);
  let results = (outs Spx_FloatTensor:$output);
  let assemblyFormat = [{
    $expert_output `,` $slots `,` $gates (`residual` $residual^)? attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Spx_MoEOp : Spx_Op<"moe", [Pure, AttrSizedOperandSegments]> {
  let summary = "mixture-of-experts layer (ONNX Runtime com.microsoft:MoE)";
  let description = [{
    One-to-one image of ONNX Runtime's `com.microsoft:MoE` contrib operator.
    `input` is `[T, D]` or `[B, S, D]`; `router_probs` holds the router
    logits `[T, E]` (T = B * S). Experts follow `spx.expert_ffn` (ONNX
    Runtime's `nk` weight layout by default), routing follows `spx.route`
    with `k` and `normalize_routing_weights`, and the router runs in f32
    even when the model does not. The result has the shape of `input`.

    `dispatch` and `capacity_factor` are Parsimony's: they select how
    `--spx-decompose-moe` dispatches tokens (default dropless, which is
    ONNX Runtime's semantics: no token is dropped).

    One expert with `k = 1` and a non-SwiGLU, ungated activation is a plain
    FFN and canonicalizes to `spx.sparse_ffn`.
  }];
  let arguments = (ins Spx_FloatTensor:$input,
                       Spx_FloatTensor:$router_probs,
                       Spx_WeightTensor:$fc1_weight,
                       Optional<Spx_FloatTensor>:$fc1_scales,
                       Optional<Spx_FloatTensor>:$fc1_bias,
                       Spx_WeightTensor:$fc2_weight,
                       Optional<Spx_FloatTensor>:$fc2_scales,
                       Optional<Spx_FloatTensor>:$fc2_bias,
                       Optional<Spx_WeightTensor>:$fc3_weight,
                       Optional<Spx_FloatTensor>:$fc3_scales,
                       Optional<Spx_FloatTensor>:$fc3_bias,
                       DefaultValuedAttr<Spx_PositiveI64Attr, "1">:$k,
                       DefaultValuedAttr<Spx_ActivationAttr,
                           "::mlir::spx::Activation::relu">:$activation,
                       DefaultValuedAttr<BoolAttr, "false">:$normalize_routing_weights,
                       DefaultValuedAttr<Spx_SwiGLUFusionAttr,
                           "::mlir::spx::SwiGLUFusion::none">:$swiglu_fusion,
                       DefaultValuedAttr<F32Attr, "1.0">:$activation_alpha,
                       DefaultValuedAttr<F32Attr, "0.0">:$activation_beta,
                       OptionalAttr<F32Attr>:$swiglu_limit,
                       DefaultValuedAttr<Spx_DispatchModeAttr,
                           "::mlir::spx::DispatchMode::dropless">:$dispatch,
                       DefaultValuedAttr<F32Attr, "1.0">:$capacity_factor,
                       DefaultValuedAttr<Spx_WeightLayoutAttr,
                           "::mlir::spx::WeightLayout::nk">:$fc1_layout,
                       DefaultValuedAttr<Spx_WeightLayoutAttr,
                           "::mlir::spx::WeightLayout::nk">:$fc2_layout,
                       DefaultValuedAttr<Spx_WeightLayoutAttr,
                           "::mlir::spx::WeightLayout::nk">:$fc3_layout,
                       OptionalAttr<Spx_QuantAttr>:$fc1_quant,
                       OptionalAttr<Spx_QuantAttr>:$fc2_quant,
                       OptionalAttr<Spx_QuantAttr>:$fc3_quant);
  let results = (outs Spx_FloatTensor:$output);
  let assemblyFormat = [{
    $input `,` $router_probs
    `fc1` $fc1_weight (`fc1_scales` $fc1_scales^)? (`fc1_bias` $fc1_bias^)?
    `fc2` $fc2_weight (`fc2_scales` $fc2_scales^)? (`fc2_bias` $fc2_bias^)?
    (`fc3` $fc3_weight^)? (`fc3_scales` $fc3_scales^)?
    (`fc3_bias` $fc3_bias^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
  let extraClassDeclaration = [{
    int64_t getNumExperts();
  }];
}

#endif // PARSIMONY_DIALECT_SPX_IR_SPXOPS_TD
