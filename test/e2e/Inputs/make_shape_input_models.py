"""Models whose sizes, trip counts or branch conditions come from a
runtime input's contents (not frozen) for check_vs_ort.py (fixed seeds):
on the GPU target the host reads them back from device memory.

  make_shape_input_models.py DIR   writes DIR/*.onnx, DIR/*.npy and
                                   DIR/manifest.json
"""
import sys

import numpy as np
from onnx import TensorProto as T, helper

from onnx_cases import Cases, normal, rng_for

models = Cases(sys.argv[1])
F, I64 = T.FLOAT, T.INT64
rng = rng_for("shape_inputs")


def N(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, **attrs)


x = normal(rng, [2, 6])
# Reshape to a shape computed on the device (0 copies, -1 infers), then a
# reduction over the new axis.
models.add("reshape_runtime_shape",
           [N("Reshape", ["x", "shape"], ["r"]),
            N("ReduceSum", ["r", "axes"], ["y"], keepdims=0)],
           {"x": x, "shape": np.array([3, -1, 2], np.int64)},
           [("y", F, [3, 2])],
           inits=[("axes", np.array([1], np.int64))])
# The shape computed from another input's contents: shape * 2 / 2.
models.add("reshape_computed_shape",
           [N("Mul", ["shape", "two"], ["s2"]),
            N("Div", ["s2", "two"], ["s"]),
            N("Reshape", ["x", "s"], ["y"])],
           {"x": x, "shape": np.array([4, 3], np.int64)},
           [("y", F, [4, 3])],
           inits=[("two", np.array(2, np.int64))])
v = normal(rng, [3, 1])
models.add("expand_runtime_shape", [N("Expand", ["v", "shape"], ["y"])],
           {"v": v, "shape": np.array([2, 3, 4], np.int64)},
           [("y", F, [2, 3, 4])])
models.add("constant_of_shape_runtime",
           [N("ConstantOfShape", ["shape"], ["c"],
              value=helper.make_tensor("value", F, [1], [1.5])),
            N("Add", ["c", "b"], ["y"])],
           {"shape": np.array([2, 3], np.int64), "b": normal(rng, [3])},
           [("y", F, [2, 3])])
models.add("range_runtime_limits",
           [N("Range", ["start", "limit", "delta"], ["y"])],
           {"start": np.array(1.0, np.float32),
            "limit": np.array(7.5, np.float32),
            "delta": np.array(1.5, np.float32)},
           [("y", F, [5])])
models.add("slice_runtime_starts",
           [N("Slice", ["x", "starts", "ends", "axes"], ["y"])],
           {"x": x, "starts": np.array([1, 2], np.int64),
            "ends": np.array([2, 5], np.int64)},
           [("y", F, [1, 3])],
           inits=[("axes", np.array([0, 1], np.int64))])
models.add("tile_runtime_repeats", [N("Tile", ["v", "repeats"], ["y"])],
           {"v": v, "repeats": np.array([2, 3], np.int64)},
           [("y", F, [6, 3])])
models.write_manifest()
