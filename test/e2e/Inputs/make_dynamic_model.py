"""make_dynamic_model.py DIR: an ONNX model with symbolic dims 'batch' and
'seq' whose output depends on seq (a softmax over it, and a reshape computed
from Shape), inputs of three sequence lengths, and NumPy references."""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
rng = np.random.default_rng(7)
w1 = rng.standard_normal((32, 64)).astype(np.float32) / 4
w2 = rng.standard_normal((64, 32)).astype(np.float32) / 4
nodes = [
    helper.make_node("MatMul", ["x", "w1"], ["h"]),
    helper.make_node("Relu", ["h"], ["r"]),
    helper.make_node("MatMul", ["r", "w2"], ["s"]),
    helper.make_node("Softmax", ["s"], ["p"], axis=1),
    # y = p reshaped to [batch, seq * 32] through its own runtime shape.
    helper.make_node("Shape", ["p"], ["shape"]),
    helper.make_node("Gather", ["shape", "zero"], ["b"], axis=0),
    helper.make_node("Concat", ["b", "minus_one"], ["flat"], axis=0),
    helper.make_node("Reshape", ["p", "flat"], ["y"]),
]
graph = helper.make_graph(
    nodes, "dynamic",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", 32])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", None])],
    [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2"),
     numpy_helper.from_array(np.array([0], np.int64), "zero"),
     numpy_helper.from_array(np.array([-1], np.int64), "minus_one")])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
onnx.checker.check_model(model)
onnx.save(model, f"{out}/dynamic.onnx")
for seq in (4, 8, 16, 5):
    x = rng.standard_normal((2, seq, 32)).astype(np.float32)
    s = np.maximum(x @ w1, 0) @ w2
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    np.save(f"{out}/x{seq}.npy", x)
    np.save(f"{out}/y{seq}.npy", p.reshape(2, -1).astype(np.float32))
