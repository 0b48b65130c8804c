//===- Passes.td - spx transformation passes ---------------*- tablegen -*-===//

#ifndef PARSIMONY_DIALECT_SPX_TRANSFORMS_PASSES_TD
#define PARSIMONY_DIALECT_SPX_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def SpxDecomposeMoE : Pass<"spx-decompose-moe"> {
  let summary = "Decompose spx.moe into route, dispatch, expert_ffn, combine";
  let description = [{
    Rewrites every `spx.moe` into the fine-grained expert pipeline:

    ```
    logits       = f32(router_probs)                   (arith.extf if needed)
    gates, ids   = spx.route logits {k, normalize}
    rows, offsets, sizes, slots = spx.dispatch x, ids {num_experts, mode,
                                                       capacity_factor}
    out          = spx.expert_ffn rows groups(offsets, sizes) fc1 ... fc2 ...
    y            = spx.combine out, slots, gates
    ```

    A `[B, S, D]` input is flattened to `[B*S, D]` around the pipeline. The
    router always runs in f32: f16/bf16 router logits are extended first.
    The dispatch mode comes from the op's `dispatch` attribute unless the
    `dispatch` option overrides it.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
  let options = [
    Option<"dispatchOverride", "dispatch", "std::string", /*default=*/"\"\"",
           "Override every MoE's dispatch mode: dropless or capacity">,
    Option<"capacityFactorOverride", "capacity-factor", "double",
           /*default=*/"0.0",
           "Override every MoE's capacity factor (0 keeps the op's own)">
  ];
}

def SpxRaiseSparseIdioms : Pass<"spx-raise-sparse-idioms", "::mlir::ModuleOp"> {
  let summary = "Raise exported top-k, sparse-FFN, MoE-router and MoE-layer idioms to spx";
  let description = [{
    Recognises the tensor-level idioms that ONNX exporters emit, in the form
    the ONNX importer produces them, and rewrites them into `spx` ops:

    1. Top-k activation, scatter form: `TopK(x, k, axis = last, largest)`
       whose values and indices are scattered (`ScatterElements`, axis last,
       no reduction) into a zero tensor of x's shape -> `spx.topk_activation`.
    2. Top-k activation, threshold form: the k-th largest value (a slice or
       gather of the TopK values at position k-1 / -1 along the last axis)
       compared with `x >= kth` (or `not(x < kth)`), then `where(mask, x, 0)`,
       `where(not mask, 0, x)` or `x * cast(mask)` -> `spx.topk_activation`
       (equal to the exact top-k unless several entries tie with the k-th).
    3. FFN blocks `MatMul/Gemm -> [+ b1] -> act -> [spx.topk_activation] ->
       MatMul/Gemm -> [+ b2]` with act one of relu, gelu (erf form
       `x * 0.5 * (1 + erf(x / sqrt 2))`), silu (`x * sigmoid(x)`) or
       sigmoid, 2-D weights and 1-D biases, every intermediate used only
       inside the block -> `spx.sparse_ffn`.
    4. MoE routers `[MatMul/Gemm (+ bias)] -> Softmax(last axis) ->
       TopK(k, last axis)`, optionally renormalised by the sum of the k
       gates, with an f32 router -> `spx.route`.
    5. Whole MoE layers (Switch style, as PyTorch exports a dense-mask
       combine): `y = sum_e (g * (idx == e)).sum(-1, keepdim) * expert_e(x)`
       (or `where(idx == e, g, 0)`) over the gates and expert ids of one
       `spx.route` whose Linear reads x, with every expert `e = 0..E-1` an
       `spx.sparse_ffn` of x with its own constant f32 weights, added once
       -> `spx.moe` with the expert weights stacked (`nk` layouts), so that
       only the selected experts run. `moe-layers=false` keeps them dense.

    Exactly which IR shapes are matched is documented in docs/importer.md.
  }];
  let options = [
    Option<"moeLayers", "moe-layers", "bool", /*default=*/"true",
           "raise whole MoE layers (routed expert FFNs and their combine) "
           "to spx.moe">,
  ];
  let dependentDialects = ["::mlir::spx::SpxDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def SpxDecomposeSparseFFN : Pass<"spx-decompose-sparse-ffn"> {
  let summary = "Lower spx.sparse_ffn to dense linalg contractions";
  let description = [{
    The dense form of every `spx.sparse_ffn` with floating-point weights and
    no predicted support:

    ```
    u = x * W_up (+ b_up)                    linalg contraction (+ generic)
    h = act(u) or act(x * W_gate) * u        linalg.generic
    h = spx.topk_activation h, k = topk      if topk is set
    y = h * W_down (+ b_down)                linalg contraction (+ generic)
    ```

    Leading dimensions are flattened around the block and restored after.
    This is `--sparse-ffn=off`: the contractions run on the dense GEMM
    kernels and no activation sparsity is exploited. FFNs with quantized
    weights or a support operand are left alone (their kernel handles the
    dense case).
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::tensor::TensorDialect"];
}

def SpxImposeTopK : Pass<"spx-impose-topk"> {
  let summary = "Give every spx.sparse_ffn without a top-k a top-k of k";
  let description = [{
    For models trained with Top-k activations (or to explore the trade-off):
    every `spx.sparse_ffn` without a `topk` attribute keeps only its `k`
    largest activations per token. FFNs that already have a top-k keep
    theirs; an FFN with fewer than `k` neurons is an error.
  }];
  let options = [
    Option<"k", "k", "int64_t", /*default=*/"0",
           "Activations kept per token (required, positive)">
  ];
}

def SpxBuildPredictors : Pass<"spx-build-predictors", "::mlir::ModuleOp"> {
  let summary = "Build support predictors for sparse FFNs from their weights";
  let description = [{
    For every `spx.sparse_ffn` without a support whose up-projection is a
    floating-point constant, builds at compile time a cheap approximation P
    of the up-projection and inserts

    ```
    %support = spx.predict_support %x, P... (bias b_up) {k}
    %y = spx.sparse_ffn ... support %support
    ```

    so that only the k predicted neurons of the up- and down-projections are
    computed (the predicted-support FFN; an approximation of the dense
    block). `k` is the FFN's own `topk`, else the `k` option.

    * `predictor=int8`: symmetric int8 copy of W_up, one scale per neuron.
    * `predictor=int4`: symmetric int4 copy, one scale per `group-size`
      input features of each neuron (per neuron if the input size is not a
      multiple of the group size). Grouped scales are stored as f16 when
      every one is a normal f16 number (rounding them moves a score far
      less than the int4 rounding does, and at group 32 it saves a tenth of
      the predictor's bytes); otherwise they stay f32.
    * `predictor=lowrank`: a rank-`rank` factorization W_up ~ U * V, U =
      [D, rank] an orthonormal basis of W_up's dominant column space found
      by subspace iteration, V = U^T W_up (the best rank-r approximation
      in that basis).

    FFNs whose weights are not constants, or with gated/quantized up
    projections, are left alone with a remark.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
  let options = [
    Option<"predictor", "predictor", "std::string", /*default=*/"\"int8\"",
           "int8, int4 or lowrank">,
    Option<"rank", "rank", "int64_t", /*default=*/"64",
           "Rank of the low-rank predictor">,
    Option<"groupSize", "group-size", "int64_t", /*default=*/"32",
           "Group size of the int4 predictor">,
    Option<"k", "k", "int64_t", /*default=*/"0",
           "Neurons kept per token for FFNs without a topk">
  ];
}

def SpxNeuronMajorWeights : Pass<"spx-neuron-major-weights", "::mlir::ModuleOp"> {
  let summary = "Store sparse-FFN and f32 expert weights neuron-major";
  let description = [{
    The sparse FFN kernels touch only selected neurons. A neuron's weights
    are one contiguous row when the up (and gate) projections are stored
    `nk` (`[F, D]`) and the down projection `kn` (`[F, D]`); strided columns
    would make every selected neuron cost a cache line per input feature.
    This pass transposes constant weights of every `spx.sparse_ffn` into
    that layout at compile time and updates the layout attributes. Quantized
    weights (int8, int4, packed int4) are transposed together with their
    scales, so a selected neuron is still one contiguous read, scales
    included.

    The f32 expert weights of every `spx.moe` get the same layout, expert
    by expert: `fc1`/`fc3` `nk` (`[E, F, D]`) and `fc2` `kn` (`[E, F, D]`).
    An expert's token group then runs on GEMM paths that read its weights
    in place (dot products against `fc1` rows, the unpacked micro-kernels
    on `fc2`) instead of packing a transposed copy of `fc2` on every call.
    Quantized expert weights keep the layout their kernels read.

    Weights that are not constants are left as they are.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def SpxRaiseDequantizedWeights
    : Pass<"spx-raise-dequantized-weights", "::mlir::ModuleOp"> {
  let summary = "Run matmuls of pre-quantized weights on the quantized "
                "kernels instead of dequantizing the weights";
  let description = [{
    A model quantized before export stores int8 weights and dequantizes
    them in the graph (ONNX `DequantizeLinear` of an int8 initializer
    feeding a `MatMul`, imported as a `linalg.generic` computing
    `sitofp(q - zero_point) * scale`). Running that as written
    materializes the whole f32 weight on every call. This pass rewrites a
    dense projection whose weight is such a dequantization into
    `spx.quant_matmul` on the model's integer values and scales (no
    requantization, no f32 copy), stored `nk`:

    * `q`: a constant int8 or uint8 tensor `[K, N]` (or `[N, K]` behind a
      transpose);
    * `scale`: one f32 per output feature (broadcast along K) or one for
      the tensor;
    * `zero_point`: absent, or a constant (int8 or uint8; per tensor or per
      axis).

    Integer products (ONNX `MatMulInteger`, imported as an i32
    `linalg.matmul` of `ext(a) - a_zero_point` and `ext(q) - zero_point`)
    are raised when the weight side evaluates at compile time (int8/uint8
    constants extended, added and subtracted in all-parallel generics), the
    activation side is built the same way from 8-bit values (so it is exact
    in f32, and so are its products with the weight), and every use of the
    i32 result converts it to f32 (`sitofp`, possibly after a reshape): the
    form ONNX Runtime's `quantize_dynamic` emits (`DynamicQuantizeLinear ->
    MatMulInteger -> Cast -> Mul`). The product becomes `spx.quant_matmul`
    of `sitofp(a - a_zero_point)` with unit scales. Its f32 accumulation
    equals the integer sum rounded to f32 while partial sums stay below
    2^24 (and is a float reassociation of it beyond). A product whose i32
    result is used as an integer keeps its exact integer lowering.

    The kernels have no zero points: the raised weight holds `q -
    zero_point` exactly. When an output feature's differences do not fit
    int8 (uint8 weights, asymmetric int8 weights) they are stored shifted
    by the offset `o[n]` closest to zero that makes them fit (they always
    span at most 256 values per feature), and the product gets `o[n] *
    scale[n] * sum_k x[.., k]` added back (a row-sum reduction and one
    elementwise op).

    Anything else (scales along K, non-constant weights) is left as written.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::spx::SpxDialect"];
}

def SpxQuantizeWeights : Pass<"spx-quantize-weights", "::mlir::ModuleOp"> {
  let summary = "Weight-only int8/int4 quantization of every matmul weight";
  let description = [{
    Quantizes, at compile time, the constant f32 weights of every
    matmul-bearing operation:

    * dense projections: `linalg` contractions `[..., K] x [K, N]` (or a
      transposed `[N, K]` weight) whose weight is a constant and whose
      accumulator starts at zero become `spx.quant_matmul` with the weight
      stored `nk` (one contiguous row per output feature, the layout the
      GEMV kernel streams);
    * `spx.sparse_ffn` up, gate and down projections (in their current
      layout; `--spx-neuron-major-weights` transposes quantized weights
      afterwards, scales included);
    * `spx.moe` and `spx.expert_ffn` expert weights (`fc1`, `fc2`, `fc3`);
    * `spx.sparse_matmul` and `spx.support_matmul` weights, and the `[K, r]`
      weight of low-rank `spx.predict_support` predictors (int8/int4
      predictors are already quantized and are left as built).

    `mode=int8`: symmetric int8, one f32 scale per output feature
    (`scale = max |w| / 127`). `mode=int4`: symmetric int4 in [-7, 7], one
    f32 scale per `group-size` input features of each output feature
    (per output feature when the group does not divide the input size);
    stored packed two per byte (`i8`, see the dialect's packed int4) when
    the stored rows hold a multiple of 32 values, else as `i4`.

    What stays f32, by construction: routers (`spx.route` weights, and any
    contraction whose result reaches an `spx.moe`'s router logits or an
    `spx.route`'s logits before another contraction), gates, softmax,
    layer norms, residual adds and every other non-matmul operation, as
    well as weights that are not constants. Weights that are already
    quantized are left unchanged.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::spx::SpxDialect"];
  let options = [
    Option<"mode", "mode", "std::string", /*default=*/"\"int8\"",
           "int8 (per output channel) or int4 (group-wise)">,
    Option<"groupSize", "group-size", "int64_t", /*default=*/"0",
           "Group size of int4: 32, 64 or 128 (0: 64); int8 takes none">
  ];
}

def SpxFuseEpilogues : Pass<"spx-fuse-epilogues", "::mlir::ModuleOp"> {
  let summary = "Fuse bias, activation and residual add into dense matmuls";
  let description = [{
    Rewrites a dense f32 projection (a `linalg` contraction
    `[..., K] x [K, N]`, or a `[N, K]` weight read transposed or through a
    `linalg.transpose`, on a zero accumulator) whose only user is an
    all-parallel `linalg.generic` computing

        y = [residual +] act(product [+ bias[n]])

    into one `spx.matmul`, whose runtime kernel applies the epilogue to each
    output block as soon as its accumulation is complete, while it is in
    cache. `act` is the identity, relu (`max(x, 0)`), sigmoid
    (`1 / (1 + exp(-x))`), silu (`x * sigmoid(x)`) or erf-gelu
    (`x * 0.5 * (1 + erf(x / sqrt(2)))`, factors in any grouping); the bias
    is a 1-D tensor read along the last dimension, the residual a tensor of
    the result's type. The generic must read nothing else. The runtime
    evaluates exp/erf with vectorized polynomials (error below 2e-7
    relative to libm). The contraction's now-dead zero fill (and a weight
    transpose nothing else reads) are erased with it.

    It runs after elementwise fusion in `--parsimony-cpu-pipeline`, so the
    epilogue is one generic whatever produced it (the importer, the dense
    form of a sparse FFN). A weight-only quantized projection
    (`spx.quant_matmul` without an epilogue) whose only user is such a
    generic takes the epilogue as its own `bias`, `residual` and
    `activation`; its kernel applies it to each block of output rows after
    the register-dequantizing dot products (or in sgemm's epilogue on the
    dequantized tiles of longer inputs). The activations and top-k of sparse
    and expert GEMMs are already fused in `spx.sparse_ffn` and
    `spx.expert_ffn`; a residual add (`y = product + residual`, nothing
    else) after an `spx.sparse_ffn`, or after the `spx.combine` of an
    expert layer (directly or through the reshape back to the input's
    shape), becomes that op's `residual` operand: the down projection, or
    the gate-weighted sum, accumulates onto it.
  }];
  let dependentDialects = ["::mlir::spx::SpxDialect"];
}

#endif // PARSIMONY_DIALECT_SPX_TRANSFORMS_PASSES_TD
