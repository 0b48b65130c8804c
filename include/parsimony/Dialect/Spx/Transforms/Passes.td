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

#endif // PARSIMONY_DIALECT_SPX_TRANSFORMS_PASSES_TD
