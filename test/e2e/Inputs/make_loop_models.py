"""Loop and Scan models for check_vs_ort.py (fixed seeds): counted loops
with loop-carried values and scan outputs, a body that reads the iteration
number and outer values, a runtime trip count, loops that stop on a
condition their body computes, carried values that swap, a loop that a
false condition skips, Scan (opset 9+) with several inputs, axes and
directions, Scan-8 with a batch axis, and TorchScript exports of Python
for and while loops.

  make_loop_models.py DIR   writes DIR/*.onnx, DIR/*.npy and
                            DIR/manifest.json
"""
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto as T, helper, numpy_helper
from torch import nn

from onnx_cases import IR_VERSION, Cases, normal, rng_for

IR_VERSION.setdefault(8, 3)
IR_VERSION.setdefault(9, 4)
models = Cases(sys.argv[1])
F, I64, B = T.FLOAT, T.INT64, T.BOOL


def N(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, **attrs)


def info(name, elem_type, shape):
    return helper.make_tensor_value_info(name, elem_type, shape)


def body(name, inputs, nodes, outputs, inits=()):
    return helper.make_graph(
        nodes, name, [info(*i) for i in inputs], [info(*o) for o in outputs],
        [numpy_helper.from_array(a, n) for n, a in inits])


def loop_inputs(*carried):
    return [("i", I64, []), ("cond_in", B, [])] + list(carried)


rng = rng_for("loop")
W = normal(rng, [3, 3], 0.5)
xs = normal(rng, [4, 2, 3])
h0 = normal(rng, [2, 3])

# A recurrence over the steps of an outer tensor: h = tanh(x[i] + h W),
# every h stacked as a scan output; the condition stays true.
rnn = body("rnn", loop_inputs(("h", F, [2, 3])),
           [N("Identity", ["cond_in"], ["cond_out"]),
            N("Gather", ["xs", "i"], ["x_i"], axis=0),
            N("MatMul", ["h", "W"], ["hw"]),
            N("Add", ["x_i", "hw"], ["pre"]),
            N("Tanh", ["pre"], ["h_out"]),
            N("Identity", ["h_out"], ["h_scan"])],
           [("cond_out", B, []), ("h_out", F, [2, 3]),
            ("h_scan", F, [2, 3])])
models.add("loop_counted_scan",
           [N("Loop", ["M", "", "h0"], ["h_last", "h_all"], body=rnn)],
           {"xs": xs, "h0": h0},
           [("h_last", F, [2, 3]), ("h_all", F, [4, 2, 3])],
           [("M", np.array(4, np.int64)), ("W", W)], 13)

# The trip count is a graph input; the body's condition is a constant.
double = body("double", loop_inputs(("v", F, [5])),
              [N("Constant", [], ["cond_out"],
                 value=helper.make_tensor("t", B, [], [True])),
               N("Mul", ["v", "two"], ["v2"]),
               N("Cast", ["i"], ["fi"], to=F),
               N("Add", ["v2", "fi"], ["v_out"])],
              [("cond_out", B, []), ("v_out", F, [5])],
              [("two", np.array(2.0, np.float32))])
for trips in (0, 3):
    models.add(f"loop_runtime_trip_count_{trips}",
               [N("Loop", ["trips", "", "v0"], ["v_last"], body=double)],
               {"trips": np.array(trips, np.int64),
                "v0": normal(rng, [5])},
               [("v_last", F, [5])], [], 13)

# A while loop: halve until the norm is at most 1, counting the steps;
# with and without a trip count that cuts it short.
halve = body("halve", loop_inputs(("x", F, [6]), ("steps", F, [])),
             [N("Mul", ["x", "half"], ["x_out"]),
              N("Add", ["steps", "one"], ["steps_out"]),
              N("ReduceL2", ["x_out"], ["norm"], keepdims=0),
              N("Greater", ["norm", "one"], ["cond_out"])],
             [("cond_out", B, []), ("x_out", F, [6]), ("steps_out", F, [])],
             [("half", np.array(0.5, np.float32)),
              ("one", np.array(1.0, np.float32))])
big = normal(rng, [6], 40.0)
models.add("loop_while",
           [N("Loop", ["", "go", "x0", "zero"], ["x_last", "count"],
              body=halve)],
           {"x0": big, "go": np.array(True)},
           [("x_last", F, [6]), ("count", F, [])],
           [("zero", np.array(0.0, np.float32))], 13)
models.add("loop_while_with_trip_count",
           [N("Loop", ["M", "go", "x0", "zero"], ["x_last", "count"],
              body=halve)],
           {"x0": big, "go": np.array(True)},
           [("x_last", F, [6]), ("count", F, [])],
           [("zero", np.array(0.0, np.float32)),
            ("M", np.array(2, np.int64))], 13)
models.add("loop_while_false_initially",
           [N("Loop", ["", "go", "x0", "zero"], ["x_last", "count"],
              body=halve)],
           {"x0": big, "go": np.array(False)},
           [("x_last", F, [6]), ("count", F, [])],
           [("zero", np.array(0.0, np.float32))], 13)

# A carried value the body passes through unchanged (a scale read every
# step) beside one it updates.
scale = body("scale", loop_inputs(("x", F, [6]), ("s", F, [6])),
             [N("Mul", ["x", "s"], ["x_out"]),
              N("Identity", ["s"], ["s_out"]),
              N("ReduceSum", ["x_out"], ["total"], keepdims=0),
              N("Greater", ["total", "one"], ["cond_out"])],
             [("cond_out", B, []), ("x_out", F, [6]), ("s_out", F, [6])],
             [("one", np.array(1.0, np.float32))])
models.add("loop_while_unchanged_carried_value",
           [N("Loop", ["", "", "x0", "s0"], ["x_last", "s_last"],
              body=scale)],
           {"x0": np.abs(normal(rng, [6])) + 1,
            "s0": np.full([6], 0.7, np.float32)},
           [("x_last", F, [6]), ("s_last", F, [6])], [], 13)

# Carried values that swap (Fibonacci on vectors): a' = b, b' = a + b.
fib = body("fib", loop_inputs(("a", F, [4]), ("b", F, [4])),
           [N("Identity", ["cond_in"], ["cond_out"]),
            N("Identity", ["b"], ["a_out"]),
            N("Add", ["a", "b"], ["b_out"])],
           [("cond_out", B, []), ("a_out", F, [4]), ("b_out", F, [4])])
models.add("loop_swapped_carried_values",
           [N("Loop", ["M", "go", "a0", "b0"], ["a", "b"], body=fib)],
           {"a0": normal(rng, [4]), "b0": normal(rng, [4]),
            "go": np.array(True)},
           [("a", F, [4]), ("b", F, [4])],
           [("M", np.array(6, np.int64))], 13)

# Scan (opset 16): a running sum over rows of one input and a reversed
# running product over columns of another, outputs stacked along axis 1
# and in reverse.
scan_body = body("scan_body",
                 [("sum", F, [3]), ("prod", F, [2]), ("row", F, [3]),
                  ("col", F, [2])],
                 [N("Add", ["sum", "row"], ["sum_out"]),
                  N("Mul", ["prod", "col"], ["prod_out"]),
                  N("Sub", ["row", "sum_out"], ["diff"])],
                 [("sum_out", F, [3]), ("prod_out", F, [2]),
                  ("diff", F, [3]), ("prod_scan", F, [2])])
scan_body.node.append(N("Identity", ["prod_out"], ["prod_scan"]))
models.add("scan_axes_and_directions",
           [N("Scan", ["s0", "p0", "rows", "cols"],
              ["s", "p", "diffs", "prods"], body=scan_body,
              num_scan_inputs=2, scan_input_axes=[0, 1],
              scan_input_directions=[0, 1], scan_output_axes=[1, 0],
              scan_output_directions=[0, 1])],
           {"s0": normal(rng, [3]), "p0": normal(rng, [2]),
            "rows": normal(rng, [5, 3]), "cols": normal(rng, [2, 5])},
           [("s", F, [3]), ("p", F, [2]), ("diffs", F, [3, 5]),
            ("prods", F, [5, 2])], [], 16)

# Scan-8: a batch axis in front, sequences along axis 1, one reversed.
scan8_body = body("scan8_body",
                  [("acc", F, [3]), ("a", F, [3]), ("b", F, [3])],
                  [N("Mul", ["a", "b"], ["ab"]),
                   N("Add", ["acc", "ab"], ["acc_out"]),
                   N("Identity", ["acc_out"], ["acc_scan"])],
                  [("acc_out", F, [3]), ("acc_scan", F, [3])])
models.add("scan8_batched",
           [N("Scan", ["", "acc0", "a", "b"], ["acc", "accs"],
              body=scan8_body, num_scan_inputs=2, directions=[0, 1])],
           {"acc0": normal(rng, [2, 3]), "a": normal(rng, [2, 4, 3]),
            "b": normal(rng, [2, 4, 3])},
           [("acc", F, [2, 3]), ("accs", F, [2, 4, 3])], [], 8)


# TorchScript keeps Python loops as Loop: a for loop over the rows of the
# input and a while loop on a data-dependent condition.
class ForRows(nn.Module):

    def __init__(self):
        super().__init__()
        self.cell = nn.Linear(4, 4)

    def forward(self, x):
        h = torch.zeros(x.size(1))
        for t in range(x.size(0)):
            h = torch.tanh(self.cell(h) + x[t])
        return h


class WhileNorm(nn.Module):

    def forward(self, x):
        steps = torch.zeros(1)
        while bool((x * x).sum() > 1.0):
            x = x * 0.5
            steps = steps + 1
        return x, steps


torch.manual_seed(0)
exports = [("torch_script_for", ForRows(), (torch.randn(5, 4),)),
           ("torch_script_while", WhileNorm(), (torch.randn(6) * 30,))]
for name, module, sample in exports:
    path = f"{models.out}/{name}.onnx"
    outputs = ["y"] if name.endswith("for") else ["y", "steps"]
    torch.onnx.export(torch.jit.script(module), sample, path,
                      opset_version=17, input_names=["x"],
                      output_names=outputs)
    models.add_model(name, onnx.load(path), {"x": sample[0].numpy()})
models.write_manifest()
