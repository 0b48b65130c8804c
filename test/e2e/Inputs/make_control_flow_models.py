"""If models for check_vs_ort.py (fixed seeds): a runtime condition taking
either branch, branches reading outer values and holding their own
initializers, a nested If,
a condition folded at import time from static shapes, and a TorchScript
(torch.jit.script) export of data-dependent Python control flow.

  make_control_flow_models.py DIR   writes DIR/*.onnx, DIR/*.npy and
                                    DIR/manifest.json
"""
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto as T, helper, numpy_helper
from torch import nn

from onnx_cases import Cases, normal, rng_for

models = Cases(sys.argv[1])
F = T.FLOAT


def N(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, **attrs)


def graph(name, nodes, outputs, inits=()):
    return helper.make_graph(
        nodes, name, [],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        [numpy_helper.from_array(a, n) for n, a in inits])


rng = rng_for("if")
x = normal(rng, [3, 4])
w = normal(rng, [4, 4])
# Branches reading outer values (x, w) and an initializer of their own.
then_g = graph("then", [N("MatMul", ["x", "w"], ["t0"]),
                        N("Add", ["t0", "bias"], ["t_out"])],
               [("t_out", F, [3, 4])], [("bias", normal(rng, [4]))])
else_g = graph("else", [N("Sigmoid", ["x"], ["e0"]),
                        N("Mul", ["e0", "x"], ["e_out"])],
               [("e_out", F, [3, 4])])
for taken in (True, False):
    models.add(f"if_runtime_{'then' if taken else 'else'}",
               [N("Relu", ["x_in"], ["x"]),
                N("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)],
               {"x_in": x, "c": np.array(taken)}, [("y", F, [3, 4])],
               [("w", w)], 17)

# A nested If: the inner one in the outer then_branch reads the outer
# graph's second condition.
inner = N("If", ["c2"], ["i_out"],
          then_branch=graph("inner_then", [N("Neg", ["x"], ["n_out"])],
                            [("n_out", F, [3, 4])]),
          else_branch=graph("inner_else", [N("Abs", ["x"], ["a_out"])],
                            [("a_out", F, [3, 4])]))
outer_then = graph("then", [inner, N("Add", ["i_out", "x"], ["o_out"])],
                   [("o_out", F, [3, 4])])
outer_else = graph("else", [N("Exp", ["x"], ["x_out"])],
                   [("x_out", F, [3, 4])])
models.add("if_nested", [N("If", ["c1"], ["y"], then_branch=outer_then,
                           else_branch=outer_else)],
           {"x": x, "c1": np.array(True), "c2": np.array(False)},
           [("y", F, [3, 4])], [], 17)

# A condition folded at import time: the batch size compared with 1.
then_g = graph("then", [N("ReduceMax", ["x3"], ["t_out"], axes=[0],
                          keepdims=0)],
               [("t_out", F, [3, 4])])
else_g = graph("else", [N("ReduceMean", ["x3"], ["e_out"], axes=[0],
                          keepdims=0)],
               [("e_out", F, [3, 4])])
models.add("if_static_shape_condition",
           [N("Shape", ["x3"], ["shape"]),
            N("Gather", ["shape", "zero"], ["batch"], axis=0),
            N("Equal", ["batch", "one"], ["c"]),
            N("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)],
           {"x3": normal(rng, [2, 3, 4])}, [("y", F, [3, 4])],
           [("zero", np.array(0, np.int64)), ("one", np.array(1, np.int64)),
            ], 17)


# TorchScript keeps data-dependent Python control flow as If.
class Gate(nn.Module):

    def __init__(self):
        super().__init__()
        self.up = nn.Linear(6, 6)
        self.down = nn.Linear(6, 6)

    def forward(self, x):
        if bool(x.sum() > 0):
            y = torch.relu(self.up(x))
        else:
            y = self.down(x) * 0.5
        return y + x


torch.manual_seed(0)
module = torch.jit.script(Gate())
for sign in (1, -1):
    name = f"torch_script_if_{'then' if sign > 0 else 'else'}"
    path = f"{models.out}/{name}.onnx"
    sample = torch.randn(2, 6).abs() * sign
    torch.onnx.export(module, (sample,), path, opset_version=17,
                      input_names=["x"], output_names=["y"])
    models.add_model(name, onnx.load(path), {"x": sample.numpy()})
models.write_manifest()
