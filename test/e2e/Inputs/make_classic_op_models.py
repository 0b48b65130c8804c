"""Operators of classic CNN and older exported models: PRelu (per-channel
slope, float16, int32), BitShift (uint8/uint32, shifts past the bit width),
Hardmax (opset 13 axis, the opset-11 flattening form with a dynamic batch,
ties), DepthToSpace (DCR, CRD), SpaceToDepth, EyeLike (k, dtype), LRN
(sizes 3 and 5, float16; ONNX Runtime takes only odd sizes over 4-D
inputs), the opset-9 Scatter and ReverseSequence (time- and
batch-major, int32, empty and full lengths), as small models with
inputs for check_vs_ort.py (fixed seeds).

  make_classic_op_models.py DIR   writes DIR/*.onnx, DIR/*.npy and
                                  DIR/manifest.json
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto as T, helper

from onnx_cases import IR_VERSION, Cases, normal, rng_for

IR_VERSION.setdefault(9, 4)
models = Cases(sys.argv[1])
F, F16 = T.FLOAT, T.FLOAT16


def N(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, **attrs)


def dynamic_batch(name):
    path = f"{models.out}/{name}.onnx"
    m = onnx.load(path)
    for v in (m.graph.input[0], m.graph.output[0]):
        v.type.tensor_type.shape.dim[0].dim_param = "batch"
    onnx.save(m, path)


rng = rng_for("prelu")
models.add("prelu_channel_slope", [N("PRelu", ["x", "slope"], ["y"])],
           {"x": normal(rng, [2, 4, 3, 5])}, [("y", F, [2, 4, 3, 5])],
           [("slope", normal(rng, [4, 1, 1]))], 16)
models.add("prelu_float16", [N("PRelu", ["x", "slope"], ["y"])],
           {"x": normal(rng, [3, 6]).astype(np.float16)},
           [("y", F16, [3, 6])],
           [("slope", normal(rng, [6]).astype(np.float16))], 16, rtol=2e-3)
models.add("prelu_int32", [N("PRelu", ["x", "slope"], ["y"])],
           {"x": rng.integers(-20, 20, (4, 5)).astype(np.int32)},
           [("y", T.INT32, [4, 5])],
           [("slope", np.array([2, -1, 0, 3, 1], np.int32))], 16, rtol=0)

for direction in ("LEFT", "RIGHT"):
    for dtype, elem_type in ((np.uint8, T.UINT8), (np.uint32, T.UINT32)):
        name = f"bitshift_{direction.lower()}_{np.dtype(dtype).name}"
        rng = rng_for(name)
        bits = np.iinfo(dtype).bits
        x = rng.integers(0, np.iinfo(dtype).max, (3, 7)).astype(dtype)
        shifts = np.array([0, 1, 3, bits - 1, bits, bits + 2, 2],
                          dtype)
        models.add(name, [N("BitShift", ["x", "s"], ["y"],
                            direction=direction)],
                   {"x": x, "s": shifts}, [("y", elem_type, [3, 7])], [],
                   13, rtol=0)

rng = rng_for("hardmax")
x = normal(rng, [3, 4, 5])
x[0, 1, :] = 2.0  # ties: the first maximum wins
models.add("hardmax_axis1", [N("Hardmax", ["x"], ["y"], axis=1)], {"x": x},
           [("y", F, [3, 4, 5])], [], 13, rtol=0)
models.add("hardmax_opset11_flatten", [N("Hardmax", ["x"], ["y"], axis=1)],
           {"x": x}, [("y", F, [3, 4, 5])], [], 11, rtol=0)
dynamic_batch("hardmax_opset11_flatten")

rng = rng_for("depth_to_space")
x = normal(rng, [2, 8, 3, 4])
for mode in ("DCR", "CRD"):
    name = f"depthtospace_{mode.lower()}"
    models.add(name, [N("DepthToSpace", ["x"], ["y"], blocksize=2,
                        mode=mode)],
               {"x": x}, [("y", F, [2, 2, 6, 8])], [], 13, rtol=0)
dynamic_batch("depthtospace_crd")
models.add("spacetodepth", [N("SpaceToDepth", ["x"], ["y"], blocksize=3)],
           {"x": normal(rng, [1, 2, 6, 9])}, [("y", F, [1, 18, 2, 3])], [],
           13, rtol=0)
models.add("depth_space_round_trip", [
    N("SpaceToDepth", ["x"], ["t"], blocksize=2),
    N("DepthToSpace", ["t"], ["y"], blocksize=2, mode="CRD"),
], {"x": normal(rng, [1, 3, 4, 6])}, [("y", F, [1, 3, 4, 6])], [], 13,
    rtol=0)

rng = rng_for("eyelike")
models.add("eyelike_k2_int64",
           [N("EyeLike", ["x"], ["y"], k=2, dtype=T.INT64)],
           {"x": normal(rng, [4, 6])}, [("y", T.INT64, [4, 6])], [], 13,
           rtol=0)
models.add("eyelike_k_negative", [N("EyeLike", ["x"], ["y"], k=-1)],
           {"x": normal(rng, [5, 3])}, [("y", F, [5, 3])], [], 13, rtol=0)

rng = rng_for("lrn")
models.add("lrn_size5", [N("LRN", ["x"], ["y"], size=5, alpha=2e-3,
                           beta=0.6, bias=1.5)],
           {"x": normal(rng, [2, 7, 4, 4])}, [("y", F, [2, 7, 4, 4])], [],
           13)
models.add("lrn_size3_defaults", [N("LRN", ["x"], ["y"], size=3)],
           {"x": normal(rng, [1, 6, 9, 2], 3.0)}, [("y", F, [1, 6, 9, 2])],
           [], 13)
models.add("lrn_float16", [N("LRN", ["x"], ["y"], size=3, alpha=0.1)],
           {"x": normal(rng, [1, 5, 3, 3]).astype(np.float16)},
           [("y", F16, [1, 5, 3, 3])], [], 13, rtol=2e-3)

rng = rng_for("scatter9")
models.add("scatter_opset9", [N("Scatter", ["x", "i", "u"], ["y"], axis=1)],
           {"x": normal(rng, [3, 5]),
            "i": np.array([[1, 3], [0, 4], [2, 2]], np.int64),
            "u": normal(rng, [3, 2])}, [("y", F, [3, 5])], [], 9, rtol=0)
rng = rng_for("reversesequence")
models.add("reversesequence_time_major",
           [N("ReverseSequence", ["x", "lens"], ["y"], time_axis=0,
              batch_axis=1)],
           {"x": normal(rng, [5, 3, 2]),
            "lens": np.array([5, 2, 1], np.int64)}, [("y", F, [5, 3, 2])],
           [], 13, rtol=0)
models.add("reversesequence_batch_major_int32",
           [N("ReverseSequence", ["x", "lens"], ["y"], time_axis=1,
              batch_axis=0)],
           {"x": rng.integers(-9, 9, [4, 6]).astype(np.int32),
            "lens": np.array([6, 3, 0, 4], np.int64)},
           [("y", T.INT32, [4, 6])], [], 13, rtol=0)
models.write_manifest()
