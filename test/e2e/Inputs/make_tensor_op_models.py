"""Pad, Tile, GatherND and ScatterND in every form the importer converts
(Pad modes constant/reflect/edge/wrap, negative pads, opset-18 axes; Tile
over one to three dimensions; GatherND with batch_dims and negative
indices; ScatterND with every reduction) as small models with inputs, for
check_vs_ort.py (fixed seeds). Debian's onnx Python package stops at opset
17, so the opset-18/19 models are assembled with onnx.helper and never
checked by it.

  make_tensor_op_models.py DIR   writes DIR/*.onnx, DIR/*.npy and
                                 DIR/manifest.json
"""
import sys

import numpy as np
from onnx import TensorProto as T, helper

from onnx_cases import Cases, elem

out = sys.argv[1]
rng = np.random.default_rng(7)
models = Cases(out)


def arr(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def ints(*shape, low=-50, high=50):
    return rng.integers(low, high, shape).astype(np.int64)


def i64(*v):
    return np.array(v, np.int64)


def add_case(name, nodes, inputs, outputs, inits=(), opset=13):
    models.add(name, nodes, inputs, outputs, inits, opset, rtol=1e-6)


def N(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, **attrs)


F, I64 = T.FLOAT, T.INT64


def pad_shape(shape, pads, axes=None):
    axes = list(range(len(shape))) if axes is None else \
        [a % len(shape) for a in axes]
    shape = list(shape)
    n = len(axes)
    for i, a in enumerate(axes):
        shape[a] += pads[i] + pads[i + n]
    return shape


def pad_case(name, x, pads, mode=None, value=None, axes=None, opset=13,
             runtime_value=False):
    attrs = {"mode": mode} if mode else {}
    ins = ["x", "pads"]
    inits = [("pads", i64(*pads))]
    inputs = {"x": x}
    if value is not None:
        ins.append("v")
        v = np.array(value, x.dtype)
        if runtime_value:
            inputs["v"] = v
        else:
            inits.append(("v", v))
    if axes is not None:
        ins += [""] * (3 - len(ins)) + ["axes"]
        inits.append(("axes", i64(*axes)))
    add_case(name, [N("Pad", ins, ["y"], **attrs)], inputs,
             [("y", elem(x), pad_shape(x.shape, pads, axes))], inits, opset)


# Pad: constant (opsets 11, 13), reflect, edge, wrap (19), negative pads
# (crops), the opset-18 axes input, int64 data.
x = arr(2, 3, 4)
pad_case("pad_constant_opset11", x, [0, 1, 2, 1, 0, 3], value=1.5, opset=11)
pad_case("pad_constant_default_value", x, [1, 0, 2, 0, 2, 1])
pad_case("pad_constant_runtime_value", x, [0, 2, 1, 1, 1, 0], value=-2.0,
         runtime_value=True)
pad_case("pad_constant_negative", x, [0, -1, 2, 1, 1, -3], value=0.25)
x4 = arr(1, 2, 5, 6)
for mode in ("reflect", "edge"):
    pad_case(f"pad_{mode}", x4, [0, 0, 2, 3, 0, 0, 4, 1], mode=mode)
    pad_case(f"pad_{mode}_negative", x4, [0, 0, -1, 2, 0, 0, 3, -2],
             mode=mode)
pad_case("pad_wrap_opset19", x4, [0, 1, 3, 2, 1, 0, 4, 5], mode="wrap",
         opset=19)
pad_case("pad_wrap_negative_opset19", x4, [0, 0, -2, 3, 0, 0, 2, -1],
         mode="wrap", opset=19)
pad_case("pad_axes_opset18", x, [2, 1], value=3.0, axes=[1], opset=18)
pad_case("pad_negative_axes_opset18", x, [1, 0, 2, 3], value=-1.0,
         axes=[-1, 0], opset=18)
pad_case("pad_reflect_axes_opset18", x4, [2, 1, 3, 2], mode="reflect",
         axes=[-1, 2], opset=18)
pad_case("pad_edge_axes_opset19", x4, [1, 4], mode="edge", axes=[-2],
         opset=19)
xi = ints(3, 5)
pad_case("pad_constant_int64", xi, [1, 2, 2, 0], value=7)
pad_case("pad_reflect_int64", xi, [2, 3, 0, 4], mode="reflect")

# Tile over one, two and three dimensions.
x = arr(2, 3, 4)
for name, reps in [("tile_one_dim", [1, 3, 1]), ("tile_two_dims", [2, 1, 3]),
                   ("tile_three_dims", [3, 2, 2])]:
    add_case(name, [N("Tile", ["x", "r"], ["y"])], {"x": x},
             [("y", F, [d * r for d, r in zip(x.shape, reps)])],
             [("r", i64(*reps))])
add_case("tile_int64", [N("Tile", ["x", "r"], ["y"])], {"x": ints(3, 2)},
         [("y", I64, [6, 6])], [("r", i64(2, 3))])

# GatherND: batch_dims 0 and 1, whole slices and single elements, negative
# indices, int64 data.
data = arr(4, 5, 6)
add_case("gathernd_elements",
         [N("GatherND", ["x", "i"], ["y"])],
         {"x": data, "i": i64([0, 1, 2], [3, -1, -6], [-4, 4, 5],
                              [2, -2, 0]).reshape(2, 2, 3)},
         [("y", F, [2, 2])])
add_case("gathernd_slices",
         [N("GatherND", ["x", "i"], ["y"])],
         {"x": data, "i": i64([3], [-1], [0], [-4], [2]).reshape(5, 1)},
         [("y", F, [5, 5, 6])])
add_case("gathernd_rows",
         [N("GatherND", ["x", "i"], ["y"])],
         {"x": data, "i": i64([0, 4], [-1, -5], [2, 2])},
         [("y", F, [3, 6])])
add_case("gathernd_batch_dims1",
         [N("GatherND", ["x", "i"], ["y"], batch_dims=1)],
         {"x": data, "i": i64([[1, 2], [-1, 0]], [[0, 0], [4, 5]],
                              [[2, -3], [3, 3]], [[-5, -6], [1, 1]])},
         [("y", F, [4, 2])])
add_case("gathernd_batch_dims1_slices",
         [N("GatherND", ["x", "i"], ["y"], batch_dims=1)],
         {"x": data, "i": i64([[1], [-1]], [[0], [4]], [[2], [3]],
                              [[-5], [0]])},
         [("y", F, [4, 2, 6])])
add_case("gathernd_int64_opset12",
         [N("GatherND", ["x", "i"], ["y"])],
         {"x": ints(3, 4), "i": i64([2, 3], [-3, -1], [1, 0])},
         [("y", I64, [3])])

# ScatterND: every reduction (max/min are opset 18), float and int64,
# element and slice updates, negative indices.
data = arr(4, 5, 3)
idx = i64([[0, 1], [3, -1]], [[-2, 2], [1, 0]])          # [2, 2, 2]
upd = arr(2, 2, 3)
dup = i64([[0, 1], [0, 1]], [[-1, 2], [3, 2]])            # duplicate targets
for red, opset in [("none", 13), ("add", 16), ("mul", 16), ("max", 18),
                   ("min", 18)]:
    attrs = {} if red == "none" else {"reduction": red}
    add_case(f"scatternd_{red}",
             [N("ScatterND", ["x", "i", "u"], ["y"], **attrs)],
             {"x": data, "i": idx if red == "none" else dup, "u": upd},
             [("y", F, [4, 5, 3])], opset=opset)
    di = ints(5, 4)
    add_case(f"scatternd_{red}_int64",
             [N("ScatterND", ["x", "i", "u"], ["y"], **attrs)],
             {"x": di, "i": i64([1], [-1], [3]) if red == "none"
              else i64([1], [-1], [1]),
              "u": ints(3, 4, low=-9, high=9)},
             [("y", I64, [5, 4])], opset=opset)
add_case("scatternd_elements",
         [N("ScatterND", ["x", "i", "u"], ["y"])],
         {"x": data, "i": i64([0, 0, 0], [3, -1, -1], [-2, 2, 1]),
          "u": arr(3)},
         [("y", F, [4, 5, 3])])

models.write_manifest()
