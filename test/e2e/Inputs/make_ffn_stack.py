"""A stack of residual ReLU FFNs as exporters write them and its input.

  make_ffn_stack.py DIR   writes DIR/stack.onnx and DIR/x.npy

x <- x + (relu(x @ w1_i + b1_i) @ w2_i + b2_i) for i = 0, 1, 2. The biases
of the up projections are shifted by -0.6, 0 and +0.4 so that the layers
have clearly different activation densities (about 30 %, 50 % and 65 %):
a profile with the layers swapped or merged does not match.
check_profile.py reads the weights back from the model.
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
rng = np.random.default_rng(11)
T, D, F = 24, 64, 256
nodes, inits = [], []
x_name = "x"
for i, shift in enumerate((-0.6, 0.0, 0.4)):
    w1 = (rng.standard_normal((D, F)) / np.sqrt(D)).astype(np.float32)
    b1 = (rng.standard_normal(F) * 0.1 + shift).astype(np.float32)
    w2 = (rng.standard_normal((F, D)) / np.sqrt(F) * 0.5).astype(np.float32)
    b2 = (rng.standard_normal(D) * 0.1).astype(np.float32)
    p = "l%d_" % i
    inits += [numpy_helper.from_array(a, p + n) for a, n in
              ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))]
    y_name = "y" if i == 2 else p + "out"
    nodes += [helper.make_node("MatMul", [x_name, p + "w1"], [p + "u"]),
              helper.make_node("Add", [p + "u", p + "b1"], [p + "ub"]),
              helper.make_node("Relu", [p + "ub"], [p + "h"]),
              helper.make_node("MatMul", [p + "h", p + "w2"], [p + "d"]),
              helper.make_node("Add", [p + "d", p + "b2"], [p + "f"]),
              helper.make_node("Add", [x_name, p + "f"], [y_name])]
    x_name = y_name
x = rng.standard_normal((2, T // 2, D)).astype(np.float32)
graph = helper.make_graph(
    nodes, "ffn_stack",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(x.shape))],
    inits)
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
          f"{out}/stack.onnx")
np.save(f"{out}/x.npy", x)
