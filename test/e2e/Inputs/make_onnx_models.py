"""Small ONNX models for the end-to-end tests (fixed seeds).

  make_onnx_models.py DIR   writes DIR/block.onnx, DIR/shape_inputs.onnx and
                            their inputs as DIR/*.npy
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
rng = np.random.default_rng(11)
f32 = TensorProto.FLOAT

# A transformer-ish block: [B, S, D] x [D, F] broadcast MatMul, bias, erf
# GELU, a transposed output and a strided slice (both need strided copies),
# and one value returned twice.
w = rng.standard_normal((8, 16)).astype(np.float32) * 0.3
b = rng.standard_normal(16).astype(np.float32)
nodes = [
    helper.make_node("MatMul", ["x", "w"], ["mm"]),
    helper.make_node("Add", ["mm", "b"], ["h"]),
    helper.make_node("Div", ["h", "sqrt2"], ["hs"]),
    helper.make_node("Erf", ["hs"], ["e"]),
    helper.make_node("Add", ["e", "one"], ["e1"]),
    helper.make_node("Mul", ["h", "e1"], ["he"]),
    helper.make_node("Mul", ["he", "half"], ["gelu"]),
    helper.make_node("Transpose", ["gelu"], ["t"], perm=[0, 2, 1]),
    helper.make_node("Slice", ["gelu", "starts", "ends", "axes", "steps"], ["s"]),
    helper.make_node("Identity", ["gelu"], ["gelu_again"]),
]
inits = [
    numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b"),
    numpy_helper.from_array(np.array(np.sqrt(2), np.float32), "sqrt2"),
    numpy_helper.from_array(np.array(1, np.float32), "one"),
    numpy_helper.from_array(np.array(0.5, np.float32), "half"),
    numpy_helper.from_array(np.array([0, 1], np.int64), "starts"),
    numpy_helper.from_array(np.array([3, 16], np.int64), "ends"),
    numpy_helper.from_array(np.array([1, 2], np.int64), "axes"),
    numpy_helper.from_array(np.array([2, 3], np.int64), "steps"),
]
graph = helper.make_graph(
    nodes, "block", [helper.make_tensor_value_info("x", f32, [2, 3, 8])],
    [helper.make_tensor_value_info("gelu", f32, [2, 3, 16]),
     helper.make_tensor_value_info("t", f32, [2, 16, 3]),
     helper.make_tensor_value_info("s", f32, [2, 2, 5]),
     helper.make_tensor_value_info("gelu_again", f32, [2, 3, 16])], inits)
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
          f"{out}/block.onnx")
np.save(f"{out}/x.npy", rng.standard_normal((2, 3, 8)).astype(np.float32))

# Values that determine shapes, fed as graph inputs: only compilable with
# --freeze-input.
graph = helper.make_graph(
    [helper.make_node("Reshape", ["data", "shape"], ["r"]),
     helper.make_node("ReduceSum", ["r", "axes"], ["y"], keepdims=0)],
    "shape_inputs",
    [helper.make_tensor_value_info("data", f32, [2, 6]),
     helper.make_tensor_value_info("shape", TensorProto.INT64, [3]),
     helper.make_tensor_value_info("axes", TensorProto.INT64, [1])],
    [helper.make_tensor_value_info("y", f32, [3, 2])])
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
          f"{out}/shape_inputs.onnx")
np.save(f"{out}/data.npy", np.arange(12, dtype=np.float32).reshape(2, 6))
np.save(f"{out}/shape.npy", np.array([3, 2, 2], np.int64))
np.save(f"{out}/axes.npy", np.array([1], np.int64))
