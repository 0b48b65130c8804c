"""make_zero_bias_ffn.py DIR: DIR/zero_bias_ffn.onnx, a ReLU FFN over a
symbolic 'tokens' dimension whose down-projection bias is all zeros. With
--sparse-ffn=exact every shape variant lowers that bias to its own splat
constant global (private linkage, a public symbol to MLIR), which the
shape-variant merge must rename rather than refuse."""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(3)
w1 = rng.standard_normal((8, 32)).astype(np.float32)
b1 = np.full(32, -0.25, np.float32)
w2 = rng.standard_normal((32, 8)).astype(np.float32)
b2 = np.zeros(8, np.float32)
nodes = [helper.make_node("MatMul", ["x", "w1"], ["h0"]),
         helper.make_node("Add", ["h0", "b1"], ["h1"]),
         helper.make_node("Relu", ["h1"], ["h"]),
         helper.make_node("MatMul", ["h", "w2"], ["y0"]),
         helper.make_node("Add", ["y0", "b2"], ["y"])]
graph = helper.make_graph(
    nodes, "zero_bias_ffn",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["tokens", 8])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["tokens", 8])],
    [numpy_helper.from_array(a, n) for a, n in
     ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
onnx.checker.check_model(model)
onnx.save(model, sys.argv[1] + "/zero_bias_ffn.onnx")
