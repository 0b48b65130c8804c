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
      multiple of the group size).
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
  let summary = "Store sparse-FFN weights neuron-major";
  let description = [{
    The sparse FFN kernels touch only selected neurons. A neuron's weights
    are one contiguous row when the up (and gate) projections are stored
    `nk` (`[F, D]`) and the down projection `kn` (`[F, D]`); strided columns
    would make every selected neuron cost a cache line per input feature.
    This pass transposes constant f32 weights of every `spx.sparse_ffn` into
    that layout at compile time and updates the layout attributes. Weights
    that are not constants, or quantized, are left as they are.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

#endif // PARSIMONY_DIALECT_SPX_TRANSFORMS_PASSES_TD
