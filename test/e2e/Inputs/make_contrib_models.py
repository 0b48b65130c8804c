"""ONNX Runtime contrib operators (elementwise, normalization, matmul) as
small models with inputs, for check_vs_ort.py (fixed seeds).

  make_contrib_models.py DIR   writes DIR/*.onnx, DIR/*.npy and
                               DIR/manifest.json
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(7)
F32 = TensorProto.FLOAT
MS = "com.microsoft"
cases = []


def arr(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def add_case(name, nodes, inputs, outputs, inits=(), rtol=1e-4, opset=17,
             reference=None):
    """inputs: {name: array}; outputs: [(name, shape)]: the output shapes
    (symbolic dims as strings) keep the checker's required output types."""
    first = next(iter(inputs.values())).shape
    outputs = [(n, first if shape is None else shape) for n, shape in outputs]
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(n, F32, a.shape) for n, a in inputs.items()],
        [helper.make_tensor_value_info(n, F32, shape) for n, shape in outputs],
        [numpy_helper.from_array(a, n) for n, a in inits])
    model = helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", opset), helper.make_opsetid(MS, 1)])
    model.ir_version = 8
    onnx.save(model, os.path.join(out, name + ".onnx"))
    case = {"name": name, "model": name + ".onnx", "rtol": rtol}
    if reference:
        # ONNX Runtime has no CPU kernel for the operator: it runs the same
        # computation in standard operators instead.
        model.graph.ClearField("node")
        model.graph.node.extend(reference)
        onnx.save(model, os.path.join(out, name + ".ref.onnx"))
        case["ort_model"] = name + ".ref.onnx"
    files = {}
    for n, a in inputs.items():
        files[n] = f"{name}.{n}.npy"
        np.save(os.path.join(out, files[n]), a)
    case["inputs"] = files
    cases.append(case)


def N(op, ins, outs, domain=MS, **attrs):
    return helper.make_node(op, ins, outs, domain=domain, **attrs)


B, S, H = 2, 5, 32
x = arr(B, S, H)

# Activations.
add_case("gelu", [N("Gelu", ["x"], ["y"])], {"x": x * 2}, [("y", None)])
add_case("bias_gelu", [N("BiasGelu", ["x", "b"], ["y"])], {"x": x},
         [("y", None)], inits=[("b", arr(H))])
add_case("fast_gelu", [N("FastGelu", ["x"], ["y"])], {"x": x * 2},
         [("y", None)])
add_case("fast_gelu_bias", [N("FastGelu", ["x", "b"], ["y"])], {"x": x},
         [("y", None)], inits=[("b", arr(H))])
add_case("quick_gelu", [N("QuickGelu", ["x"], ["y"])], {"x": x * 3},
         [("y", None)])
add_case("quick_gelu_alpha", [N("QuickGelu", ["x"], ["y"], alpha=1.0)],
         {"x": x * 3}, [("y", None)])
add_case("bias_add", [N("BiasAdd", ["x", "b", "s"], ["y"])],
         {"x": x, "s": arr(B, S, H)}, [("y", None)], inits=[("b", arr(H))],
         reference=[helper.make_node("Add", ["x", "b"], ["xb"]),
                    helper.make_node("Add", ["xb", "s"], ["y"])])

# Normalizations: every optional input and output.
skip = arr(B, S, H)
gamma, beta, bias = arr(H), arr(H), arr(H)
add_case("skip_layer_norm",
         [N("SkipLayerNormalization", ["x", "skip", "gamma", "beta", "bias"],
            ["y", "", "", "sum"], epsilon=1e-5)],
         {"x": x, "skip": skip}, [("y", None), ("sum", None)],
         inits=[("gamma", gamma), ("beta", beta), ("bias", bias)])
add_case("skip_layer_norm_minimal",
         [N("SkipLayerNormalization", ["x", "skip", "gamma"], ["y"])],
         {"x": x, "skip": skip}, [("y", None)], inits=[("gamma", gamma)])
add_case("skip_layer_norm_broadcast_skip",
         [N("SkipLayerNormalization", ["x", "skip", "gamma", "beta"], ["y"],
            epsilon=1e-6)],
         {"x": x, "skip": arr(S, H)}, [("y", None)],
         inits=[("gamma", gamma), ("beta", beta)])
add_case("skip_layer_norm_2d",
         [N("SkipLayerNormalization", ["x", "skip", "gamma", "", "bias"],
            ["y", "", "", "sum"])],
         {"x": arr(7, H), "skip": arr(7, H)}, [("y", None), ("sum", None)],
         inits=[("gamma", gamma), ("bias", bias)])
add_case("skip_simplified_layer_norm",
         [N("SkipSimplifiedLayerNormalization", ["x", "skip", "gamma", "bias"],
            ["y", "", "", "sum"], epsilon=1e-6)],
         {"x": x, "skip": skip}, [("y", None), ("sum", None)],
         inits=[("gamma", gamma), ("bias", bias)])
add_case("skip_simplified_layer_norm_2d",
         [N("SkipSimplifiedLayerNormalization", ["x", "skip", "gamma"], ["y"])],
         {"x": arr(7, H), "skip": arr(7, H)}, [("y", None)],
         inits=[("gamma", gamma)])
add_case("simplified_layer_norm",
         [N("SimplifiedLayerNormalization", ["x", "gamma"], ["y"], domain="",
            epsilon=1e-6)],
         {"x": x}, [("y", None)], inits=[("gamma", gamma)])
add_case("simplified_layer_norm_axis",
         [N("SimplifiedLayerNormalization", ["x", "g2"], ["y"], domain="",
            axis=1)],
         {"x": x}, [("y", None)], inits=[("g2", arr(S, H))])

# Matmuls: transposes of both operands, batch transposes, alpha.
add_case("fused_matmul",
         [N("FusedMatMul", ["a", "b"], ["y"], alpha=0.5, transB=1)],
         {"a": arr(B, S, H)}, [("y", (B, S, 24))], inits=[("b", arr(24, H))])
add_case("fused_matmul_trans_a",
         [N("FusedMatMul", ["a", "b"], ["y"], transA=1)],
         {"a": arr(B, H, S), "b": arr(B, H, 6)}, [("y", (B, S, 6))])
add_case("fused_matmul_trans_batch",
         [N("FusedMatMul", ["a", "b"], ["y"], transBatchA=1, transBatchB=1,
            transB=1, alpha=0.125)],
         {"a": arr(S, B, 3, H), "b": arr(7, B, 3, H)}, [("y", (B, 3, S, 7))])
add_case("fused_matmul_trans_batch_a_trans_a",
         [N("FusedMatMul", ["a", "b"], ["y"], transBatchA=1, transA=1)],
         {"a": arr(H, 4, S), "b": arr(4, H, 6)}, [("y", (4, S, 6))])
add_case("transpose_matmul",
         [N("TransposeMatMul", ["a", "b"], ["y"], transA=1, transB=1)],
         {"a": arr(H, S), "b": arr(9, H)}, [("y", (S, 9))])
add_case("gemm_fast_gelu",
         [N("GemmFastGelu", ["x", "w", "b"], ["y"])],
         {"x": x}, [("y", (B, S, 48))], inits=[("w", arr(H, 48, scale=0.2)),
                                               ("b", arr(48))],
         reference=[helper.make_node("MatMul", ["x", "w"], ["xw"]),
                    N("FastGelu", ["xw", "b"], ["y"])])

# FusedGemm: Gemm attributes plus an activation and its parameters.
for act, extra in [("Relu", {}), ("LeakyRelu", {"activation_alpha": 0.2}),
                   ("Tanh", {}), ("Sigmoid", {}),
                   ("HardSigmoid", {"activation_alpha": 0.3,
                                    "activation_beta": 0.4})]:
    add_case("fused_gemm_" + act.lower(),
             [N("FusedGemm", ["a", "w", "c"], ["y"], activation=act,
                transB=1, alpha=0.7, beta=0.5, **extra)],
             {"a": arr(6, H)}, [("y", (6, 24))],
             inits=[("w", arr(24, H, scale=0.3)), ("c", arr(24))])

# A BERT-style block as ONNX Runtime's optimizer leaves it: FusedMatMul
# projections, SkipLayerNormalization, BiasGelu.
w1, b1, w2 = arr(H, 64, scale=0.2), arr(64), arr(64, H, scale=0.2)
add_case("optimized_ffn_block",
         [helper.make_node("MatMul", ["x", "w1"], ["h"]),
          N("BiasGelu", ["h", "b1"], ["g"]),
          helper.make_node("MatMul", ["g", "w2"], ["o"]),
          N("SkipLayerNormalization", ["o", "x", "gamma", "beta", "b2"],
            ["y", "", "", "sum"], epsilon=1e-12)],
         {"x": x}, [("y", None), ("sum", None)],
         inits=[("w1", w1), ("b1", b1), ("w2", w2), ("b2", arr(H)),
                ("gamma", gamma), ("beta", beta)])

# The statistics outputs of SkipLayerNormalization.
add_case("skip_layer_norm_statistics",
         [N("SkipLayerNormalization", ["x", "skip", "gamma", "beta"],
            ["y", "mean", "inv_std"], epsilon=1e-5)],
         {"x": x, "skip": skip},
         [("y", None), ("mean", (B, S, 1)), ("inv_std", (B, S, 1))],
         inits=[("gamma", gamma), ("beta", beta)])

with open(os.path.join(out, "manifest.json"), "w") as f:
    json.dump(cases, f, indent=1)
