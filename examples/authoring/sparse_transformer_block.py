#!/usr/bin/env python3
"""Authoring sparsity explicitly with Parsimony's `ai.parsimony` ONNX domain.

Writes an ONNX model whose FFN and MoE layers use Parsimony's own operators,
so the compiler does not have to rediscover the sparsity from exported
idioms:

  x --(ai.parsimony:SparseFFN, relu, top-128 of 512 neurons)--> h
  h --(ai.parsimony:TopKActivation, k=16)--------------------> t
  t --(router MatMul) + (ai.parsimony:MoE, 4 experts, top-2,
       capacity dispatch)------------------------------------> y

Usage: sparse_transformer_block.py [output.onnx]   (default: sparse_block.onnx)
Then:  parsimony-translate --import-onnx sparse_block.onnx

Operator contracts (see docs/importer.md):
  TopKActivation(X) -> Y           attrs k (required), axis=-1,
                                   mode="exact"|"approx", recall_target=0.95
  SparseFFN(x, w_up, b_up?, w_down, b_down?) -> y
                                   w_up [d_model, d_ff], w_down [d_ff, d_model]
                                   attrs activation="relu"|"gelu"|"gelu_tanh"|
                                   "silu"|"sigmoid"|"identity", topk?
  MoE(input, router_probs, fc1, fc1_bias?, fc2, fc2_bias?, fc3?, fc3_bias?)
                                   com.microsoft:MoE's inputs and attributes
                                   (k, activation_type, normalize_routing_
                                   weights, swiglu_fusion, ...) plus
                                   dispatch="dropless"|"capacity" and
                                   capacity_factor
"""

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

D_MODEL, D_FF, EXPERTS, D_EXPERT = 64, 512, 4, 128


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "sparse_block.onnx"
    rng = np.random.default_rng(0)

    def weight(name, *shape):
        return numpy_helper.from_array(
            (rng.standard_normal(shape) * 0.05).astype(np.float32), name)

    initializers = [
        weight("w_up", D_MODEL, D_FF), weight("b_up", D_FF),
        weight("w_down", D_FF, D_MODEL), weight("b_down", D_MODEL),
        weight("w_router", D_MODEL, EXPERTS),
        # Expert weights in ONNX Runtime's layout: [E, out, in].
        weight("fc1", EXPERTS, D_EXPERT, D_MODEL),
        weight("fc1_b", EXPERTS, D_EXPERT),
        weight("fc2", EXPERTS, D_MODEL, D_EXPERT),
        weight("fc2_b", EXPERTS, D_MODEL),
    ]
    nodes = [
        helper.make_node("SparseFFN", ["x", "w_up", "b_up", "w_down",
                                       "b_down"], ["h"], name="ffn",
                         domain="ai.parsimony", activation="relu", topk=128),
        helper.make_node("TopKActivation", ["h"], ["t"], name="topk",
                         domain="ai.parsimony", k=16, mode="exact"),
        helper.make_node("MatMul", ["t", "w_router"], ["logits"],
                         name="router"),
        helper.make_node("MoE", ["t", "logits", "fc1", "fc1_b", "fc2",
                                 "fc2_b"], ["y"], name="moe",
                         domain="ai.parsimony", k=2, activation_type="gelu",
                         normalize_routing_weights=1, dispatch="capacity",
                         capacity_factor=2.0),
    ]
    graph = helper.make_graph(
        nodes, "sparse_block",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                       ["tokens", D_MODEL])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                       ["tokens", D_MODEL])],
        initializers)
    model = helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", 17), helper.make_opsetid("ai.parsimony", 1)])
    model.ir_version = 8
    onnx.save(model, out)
    print("wrote", out)


if __name__ == "__main__":
    main()
