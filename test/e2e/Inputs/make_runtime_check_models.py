"""Models whose sizes come from runtime inputs' contents, for
runtime-checks.test: each with inputs that agree with the model's shapes
(in manifest.json, for check_vs_ort.py) and inputs that contradict them
(in bad_inputs.json, for run_bad_inputs.py: every run must fail with the
message of the check that catches it, never read out of bounds).

  make_runtime_check_models.py DIR
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto as T, helper

from onnx_cases import Cases, normal, rng_for

out = sys.argv[1]
models = Cases(out)
F, I64 = T.FLOAT, T.INT64
rng = rng_for("runtime_checks")
bad = []


def N(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, name=outs[0] + "_node", **attrs)


def add_bad(model, case, **inputs):
    """Inputs of `model` that contradict its shapes; the rest as good."""
    files = {}
    for name, value in inputs.items():
        files[name] = f"{model}.{case}.{name}.npy"
        np.save(os.path.join(out, files[name]), value)
    bad.append({"model": model, "case": case, "inputs": files})


i64 = lambda *v: np.array(v, np.int64)
x = normal(rng, [2, 6])
models.add("reshape", [N("Reshape", ["x", "shape"], ["y"])],
           {"x": x, "shape": i64(3, -1)}, [("y", F, [3, 4])])
add_bad("reshape", "count", shape=i64(5, 5))
add_bad("reshape", "declared", shape=i64(4, 3))
add_bad("reshape", "negative", shape=i64(-4, -3))
add_bad("reshape", "two_inferred", shape=i64(-1, -1))
add_bad("reshape", "wrapping", shape=i64(2**62, 4))
add_bad("reshape", "zero_other", shape=i64(-1, 0))

v = normal(rng, [3, 1])
models.add("expand", [N("Expand", ["v", "shape"], ["y"])],
           {"v": v, "shape": i64(2, 3, 4)}, [("y", F, [2, 3, 4])])
add_bad("expand", "declared", shape=i64(2, 3, 5))
add_bad("expand", "incompatible", shape=i64(2, 2, 4))

models.add("constant_of_shape",
           [N("ConstantOfShape", ["shape"], ["c"],
              value=helper.make_tensor("value", F, [1], [1.5])),
            N("ReduceSum", ["c"], ["y"], keepdims=0)],
           {"shape": i64(2, 3)}, [("y", F, [])])
add_bad("constant_of_shape", "negative", shape=i64(-2, 3))
add_bad("constant_of_shape", "huge", shape=i64(2**31, 2**31))

models.add("range_int", [N("Range", ["start", "limit", "delta"], ["r"]),
                         N("ReduceSum", ["r"], ["y"], keepdims=0)],
           {"start": np.array(1, np.int64), "limit": np.array(9, np.int64),
            "delta": np.array(3, np.int64)}, [("y", I64, [])])
add_bad("range_int", "zero_delta", delta=np.array(0, np.int64))
add_bad("range_int", "huge", limit=np.array(2**62, np.int64),
        delta=np.array(1, np.int64))
models.add("range_float", [N("Range", ["start", "limit", "delta"], ["r"]),
                           N("ReduceSum", ["r"], ["y"], keepdims=0)],
           {"start": np.array(1.0, np.float32),
            "limit": np.array(7.5, np.float32),
            "delta": np.array(1.5, np.float32)}, [("y", F, [])])
add_bad("range_float", "zero_delta", delta=np.array(0.0, np.float32))
add_bad("range_float", "nan_limit", limit=np.array(np.nan, np.float32))

models.add("tile", [N("Tile", ["v", "repeats"], ["y"])],
           {"v": v, "repeats": i64(2, 3)}, [("y", F, [6, 3])])
add_bad("tile", "declared", repeats=i64(3, 3))

models.add("slice", [N("Slice", ["x", "starts", "ends", "axes"], ["y"])],
           {"x": x, "starts": i64(1, 2), "ends": i64(2, 5)},
           [("y", F, [1, 3])], inits=[("axes", i64(0, 1))])
add_bad("slice", "declared", starts=i64(0, 0))

# A runtime-sized tensor meets a static one in an elementwise op.
models.add("add_runtime_sized",
           [N("Reshape", ["x", "shape"], ["r"]), N("Add", ["r", "b"], ["y"])],
           {"x": x, "shape": i64(4, 3), "b": normal(rng, [4, 3])},
           [("y", F, [4, 3])])
add_bad("add_runtime_sized", "mismatch", shape=i64(3, 4))

# Gather indices out of range read the nearest row (ONNX leaves them
# undefined; ONNX Runtime fails): clamped, never out of bounds.
table = normal(rng, [10, 4])
models.add("gather", [N("Gather", ["table", "ids"], ["y"])],
           {"table": table, "ids": i64(3, 0, 9, -1)}, [("y", F, [4, 4])])
np.save(os.path.join(out, "gather.far.ids.npy"), i64(3, 10, -11, 2**40))
models.add("gather_scalar", [N("Gather", ["table", "id"], ["y"])],
           {"table": table, "id": np.array(-2, np.int64)}, [("y", F, [4])])

# Integer division by 0 and INT64_MIN / -1 trap on x86: they give 0 and
# the wrapped quotient instead (ONNX leaves them undefined, ONNX Runtime
# fails Mod by 0), so this one is not in the manifest.
division = helper.make_graph(
    [N("Div", ["a", "b"], ["q"]), N("Mod", ["a", "b"], ["m"])], "division",
    [helper.make_tensor_value_info(n, I64, [4]) for n in "ab"],
    [helper.make_tensor_value_info(n, I64, [4]) for n in "qm"])
division = helper.make_model(division,
                             opset_imports=[helper.make_opsetid("", 17)])
division.ir_version = 8
onnx.save(division, os.path.join(out, "division.onnx"))
np.save(os.path.join(out, "division.a.npy"),
        i64(7, -9, np.iinfo(np.int64).min, 5))
np.save(os.path.join(out, "division.b.npy"), i64(0, -1, -1, 2))

models.write_manifest()
with open(os.path.join(out, "bad_inputs.json"), "w") as f:
    json.dump(bad, f, indent=1)
