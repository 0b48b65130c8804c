"""An ONNX Runtime com.microsoft:MoE model and its inputs (fixed seed).

  make_ort_moe.py DIR E K ACTIVATION BIAS(0|1) TOKENS [D F] [--residual]
writes DIR/moe.onnx, DIR/x.npy and DIR/router.npy. --residual adds the
layer's skip connection, y = x + MoE(x), on a [1, TOKENS, D] input. swiglu uses ONNX
Runtime's interleaved fused fc1 (swiglu_fusion=1) with alpha 1.702, beta 1,
limit 7 (the gpt-oss configuration).
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

residual = "--residual" in sys.argv
argv = [a for a in sys.argv if a != "--residual"]
out = argv[1]
E, k, act, bias, T = (int(argv[2]), int(argv[3]), argv[4], argv[5] == "1",
                      int(argv[6]))
# Optional hidden and FFN sizes (default 16, 32).
D = int(argv[7]) if len(argv) > 7 else 16
F = int(argv[8]) if len(argv) > 8 else 32
rng = np.random.default_rng(E * 10 + k)
fused = act == "swiglu"
w1 = rng.standard_normal((E, (2 if fused else 1) * F, D)).astype(np.float32) * 0.3
w2 = rng.standard_normal((E, D, F)).astype(np.float32) * 0.3
inits = [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")]
ins = ["x", "router", "w1", "b1" if bias else "", "w2", "b2" if bias else ""]
if bias:
    inits += [numpy_helper.from_array(rng.standard_normal((E, w1.shape[1])).astype(np.float32), "b1"),
              numpy_helper.from_array(rng.standard_normal((E, D)).astype(np.float32), "b2")]
attrs = dict(k=k, activation_type=act, normalize_routing_weights=1)
if fused:
    attrs.update(swiglu_fusion=1, swiglu_limit=7.0, activation_alpha=1.702, activation_beta=1.0)
xshape = [1, T, D] if residual else [T, D]
nodes = [helper.make_node("MoE", ins, ["moe" if residual else "y"],
                          domain="com.microsoft", **attrs)]
if residual:
    nodes.append(helper.make_node("Add", ["x", "moe"], ["y"]))
g = helper.make_graph(nodes, "moe", [helper.make_tensor_value_info("x", TensorProto.FLOAT, xshape),
    helper.make_tensor_value_info("router", TensorProto.FLOAT, [T, E])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, xshape)], inits)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
onnx.save(m, f"{out}/moe.onnx")
np.save(f"{out}/x.npy", rng.standard_normal(xshape).astype(np.float32))
np.save(f"{out}/router.npy", rng.standard_normal((T, E)).astype(np.float32))
