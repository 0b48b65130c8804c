"""Models at opsets 11 and 12, whose operators differ from opset 13 (Softmax
over flattened trailing axes, axes and splits as attributes), with inputs,
for check_vs_ort.py (fixed seeds).

  make_opset11_models.py DIR   writes DIR/*.onnx, DIR/*.npy and
                               DIR/manifest.json
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(3)
F32 = TensorProto.FLOAT
cases = []


def add_case(name, nodes, x, outputs, opset=11):
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("x", F32, x.shape)],
        [helper.make_tensor_value_info(n, F32, s) for n, s in outputs])
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(out, name + ".onnx"))
    np.save(os.path.join(out, name + ".x.npy"), x)
    cases.append({"name": name, "model": name + ".onnx",
                  "inputs": {"x": name + ".x.npy"}, "rtol": 1e-5})


x = rng.standard_normal((2, 3, 4)).astype(np.float32) * 3
N = helper.make_node
# Softmax-11 normalises over the axes [axis, rank) together; default axis 1.
add_case("softmax_default_axis", [N("Softmax", ["x"], ["y"])], x,
         [("y", (2, 3, 4))])
add_case("softmax_axis_0", [N("Softmax", ["x"], ["y"], axis=0)], x,
         [("y", (2, 3, 4))])
add_case("log_softmax_axis_2", [N("LogSoftmax", ["x"], ["y"], axis=2)], x,
         [("y", (2, 3, 4))], opset=12)
add_case("log_softmax_default_axis", [N("LogSoftmax", ["x"], ["y"])], x,
         [("y", (2, 3, 4))], opset=12)
# Axes and splits as attributes.
add_case("unsqueeze_squeeze_split_reduce_sum",
         [N("Unsqueeze", ["x"], ["u"], axes=[0, 3]),
          N("Squeeze", ["u"], ["s"], axes=[0]),
          N("Split", ["s"], ["a", "b"], axis=1, split=[1, 2]),
          N("ReduceSum", ["b"], ["r"], axes=[1, 3], keepdims=1),
          N("Mul", ["a", "r"], ["y"])],
         x, [("y", (2, 1, 1, 4))])

with open(os.path.join(out, "manifest.json"), "w") as f:
    json.dump(cases, f, indent=1)
