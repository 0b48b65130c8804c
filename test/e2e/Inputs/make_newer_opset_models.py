"""Default-domain operators as opsets 18 to 26 define them (the forms newer
PyTorch exporters and ONNX tools write) as small models with inputs, for
check_vs_ort.py (fixed seeds). Debian's onnx Python package stops at opset
17, so the models are assembled with onnx.helper and never checked by it.

  make_newer_opset_models.py DIR   writes DIR/*.onnx, DIR/*.npy and
                                   DIR/manifest.json
"""
import sys

import numpy as np
from onnx import TensorProto as T, helper

from onnx_cases import Cases

out = sys.argv[1]
rng = np.random.default_rng(18)
models = Cases(out)


def arr(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def add_case(name, nodes, inputs, outputs, inits=(), opset=18, rtol=1e-4,
             extra_args=()):
    models.add(name, nodes, inputs, outputs, inits, opset, rtol, extra_args)


def N(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, **attrs)


def i64(*v):
    return np.array(v, np.int64)


F = T.FLOAT

# Reductions with their axes as input 1 (opset 18).
x = arr(2, 3, 4)
xp = np.abs(x) + 0.1  # positive, for ReduceLogSum
for op in ["ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
           "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd",
           "ReduceSumSquare"]:
    data = xp if op == "ReduceLogSum" else x
    short = op[len("Reduce"):].lower()
    add_case(f"reduce_{short}_axes_input", [N(op, ["x", "axes"], ["y"])],
             {"x": data}, [("y", F, [2, 1, 4])], [("axes", i64(1))])
    add_case(f"reduce_{short}_two_axes_no_keepdims",
             [N(op, ["x", "axes"], ["y"], keepdims=0)], {"x": data},
             [("y", F, [3])], [("axes", i64(0, -1))])
add_case("reduce_mean_all_axes", [N("ReduceMean", ["x"], ["y"], keepdims=0)],
         {"x": x}, [("y", F, [])])
add_case("reduce_max_noop_empty_axes",
         [N("ReduceMax", ["x", "axes"], ["y"], noop_with_empty_axes=1)],
         {"x": x}, [("y", F, [2, 3, 4])], [("axes", np.zeros([0], np.int64))])
add_case("reduce_mean_opset26", [N("ReduceMean", ["x", "axes"], ["y"])],
         {"x": x}, [("y", F, [2, 3, 1])], [("axes", i64(-1))], opset=26)
add_case("reduce_min_int64_opset20",
         [N("ReduceMin", ["x", "axes"], ["y"], keepdims=0)],
         {"x": rng.integers(-50, 50, (3, 5)).astype(np.int64)},
         [("y", T.INT64, [3])], [("axes", i64(1))], opset=20)

# Split with num_outputs (opset 18): even, uneven (last chunk smaller) and
# over a symbolic dimension.
x = arr(2, 10)
add_case("split_num_outputs_even",
         [N("Split", ["x"], ["a", "b"], axis=1, num_outputs=2)], {"x": x},
         [("a", F, [2, 5]), ("b", F, [2, 5])])
add_case("split_num_outputs_uneven",
         [N("Split", ["x"], ["a", "b", "c"], axis=-1, num_outputs=3)],
         {"x": x}, [("a", F, [2, 4]), ("b", F, [2, 4]), ("c", F, [2, 2])])
add_case("split_sizes_input_opset18",
         [N("Split", ["x", "s"], ["a", "b"], axis=1)], {"x": x},
         [("a", F, [2, 3]), ("b", F, [2, 7])], [("s", i64(3, 7))])
graph_in = helper.make_tensor_value_info("x", F, [2, "n"])
model = helper.make_model(helper.make_graph(
    [N("Split", ["x"], ["a", "b", "c"], axis=1, num_outputs=3)],
    "split_num_outputs_symbolic", [graph_in],
    [helper.make_tensor_value_info(n, F, [2, None]) for n in "abc"]),
    opset_imports=[helper.make_opsetid("", 18)])
model.ir_version = 8
models.add_model("split_num_outputs_symbolic", model, {"x": x},
                 extra_args=["--dim", "n=10"])

# Cast / CastLike with the saturate attribute (opset 19; it only affects
# float8 targets).
x = arr(3, 4, scale=50)
add_case("cast_saturate_opset19",
         [N("Cast", ["x"], ["y"], to=T.INT32, saturate=1)], {"x": x},
         [("y", T.INT32, [3, 4])], opset=19)
add_case("castlike_saturate_opset19",
         [N("CastLike", ["x", "like"], ["y"], saturate=1)], {"x": x},
         [("y", T.FLOAT16, [3, 4])],
         [("like", np.zeros([1], np.float16))], opset=19, rtol=1e-3)

# New activations.
x = arr(3, 16, scale=3)
add_case("gelu_opset20", [N("Gelu", ["x"], ["y"])], {"x": x},
         [("y", F, [3, 16])], opset=20)
add_case("gelu_tanh_opset20", [N("Gelu", ["x"], ["y"], approximate="tanh")],
         {"x": x}, [("y", F, [3, 16])], opset=20)
add_case("mish_opset18", [N("Mish", ["x"], ["y"])], {"x": x},
         [("y", F, [3, 16])])
add_case("swish_opset24", [N("Swish", ["x"], ["y"], alpha=1.702)], {"x": x},
         [("y", F, [3, 16])], opset=24)
add_case("swish_default_alpha_opset24", [N("Swish", ["x"], ["y"])], {"x": x},
         [("y", F, [3, 16])], opset=24)
add_case("hard_swish", [N("HardSwish", ["x"], ["y"])], {"x": x},
         [("y", F, [3, 16])])

# RMSNormalization (opset 23).
x = arr(2, 5, 16)
add_case("rms_norm_opset23",
         [N("RMSNormalization", ["x", "s"], ["y"], epsilon=1e-6)], {"x": x},
         [("y", F, [2, 5, 16])], [("s", arr(16))], opset=23)
add_case("rms_norm_axis1_opset23",
         [N("RMSNormalization", ["x", "s"], ["y"], axis=1)], {"x": x},
         [("y", F, [2, 5, 16])], [("s", arr(5, 16))], opset=23)
add_case("rms_norm_broadcast_scale_opset23",
         [N("RMSNormalization", ["x", "s"], ["y"], axis=-2)], {"x": x},
         [("y", F, [2, 5, 16])], [("s", arr(1, 16))], opset=23)

# CumSum (opset 11/14) and CumProd (opset 26).
x = arr(3, 6)
for excl in (0, 1):
    for rev in (0, 1):
        add_case(f"cumsum_exclusive{excl}_reverse{rev}",
                 [N("CumSum", ["x", "axis"], ["y"], exclusive=excl,
                    reverse=rev)], {"x": x}, [("y", F, [3, 6])],
                 [("axis", i64(1))])
add_case("cumsum_axis0_int64",
         [N("CumSum", ["x", "axis"], ["y"])],
         {"x": rng.integers(-9, 9, (4, 3)).astype(np.int64)},
         [("y", T.INT64, [4, 3])], [("axis", np.array(0, np.int64))])
add_case("cumsum_position_ids",
         [N("CumSum", ["mask", "axis"], ["c"]),
          N("Sub", ["c", "one"], ["p"]),
          N("Mul", ["p", "mask"], ["y"])],
         {"mask": np.array([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]], np.int64)},
         [("y", T.INT64, [2, 5])],
         [("axis", i64(-1)), ("one", np.array(1, np.int64))])
x = (rng.uniform(0.5, 1.5, (2, 7))).astype(np.float32)
add_case("cumprod_opset26", [N("CumProd", ["x", "axis"], ["y"])], {"x": x},
         [("y", F, [2, 7])], [("axis", i64(1))], opset=26)
add_case("cumprod_exclusive_reverse_opset26",
         [N("CumProd", ["x", "axis"], ["y"], exclusive=1, reverse=1)],
         {"x": x}, [("y", F, [2, 7])], [("axis", i64(-1))], opset=26)

# Blocked quantization (opset 21).
w = rng.integers(-128, 128, (6, 8)).astype(np.int8)
add_case("dequantize_blocked_axis1_opset21",
         [N("DequantizeLinear", ["w", "s"], ["y"], axis=1, block_size=4)],
         {"w": w}, [("y", F, [6, 8])],
         [("s", np.abs(arr(6, 2)) + 0.01)], opset=21)
wu = rng.integers(0, 256, (10, 3)).astype(np.uint8)
add_case("dequantize_blocked_uneven_zero_point_opset21",
         [N("DequantizeLinear", ["w", "s", "z"], ["y"], axis=0,
            block_size=4)],
         {"w": wu}, [("y", F, [10, 3])],
         [("s", np.abs(arr(3, 3)) + 0.01),
          ("z", rng.integers(100, 156, (3, 3)).astype(np.uint8))], opset=21)
x = arr(4, 8, scale=3)
add_case("quantize_blocked_output_dtype_opset21",
         [N("QuantizeLinear", ["x", "s"], ["y"], axis=1, block_size=4,
            output_dtype=T.INT8)],
         {"x": x}, [("y", T.INT8, [4, 8])],
         [("s", np.abs(arr(4, 2)) * 0.05 + 0.01)], opset=21)
add_case("quantize_dequantize_per_axis_opset21",
         [N("QuantizeLinear", ["x", "s", "z"], ["q"], axis=0),
          N("DequantizeLinear", ["q", "s", "z"], ["y"], axis=0)],
         {"x": x}, [("y", F, [4, 8])],
         [("s", np.abs(arr(4)) * 0.05 + 0.01),
          ("z", rng.integers(-5, 5, (4,)).astype(np.int8))], opset=21)
add_case("quantize_saturate_opset19",
         [N("QuantizeLinear", ["x", "s"], ["y"], saturate=1)], {"x": x},
         [("y", T.UINT8, [4, 8])], [("s", np.array(0.02, np.float32))],
         opset=19)
add_case("dequantize_float16_scale_opset19",
         [N("DequantizeLinear", ["w", "s"], ["y"])], {"w": w},
         [("y", T.FLOAT16, [6, 8])], [("s", np.array(0.05, np.float16))],
         opset=19, rtol=1e-3)

# A transformer block as an opset-18+ exporter writes it: reductions with
# axes inputs for the layer norm, Split(num_outputs=3) of a fused QKV
# projection, Gelu(tanh) (opset 20) in the FFN.
d, heads, seq = 32, 4, 6
hd = d // heads
x = arr(1, seq, d)
inits = [
    ("ax", i64(-1)), ("eps", np.array(1e-5, np.float32)),
    ("g", arr(d)), ("beta", arr(d)),
    ("wqkv", arr(d, 3 * d, scale=d ** -0.5)), ("bqkv", arr(3 * d)),
    ("hs", i64(1, seq, heads, hd)), ("merged", i64(1, seq, d)),
    ("scale", np.array(hd ** -0.5, np.float32)),
    ("wo", arr(d, d, scale=d ** -0.5)),
    ("w1", arr(d, 4 * d, scale=d ** -0.5)), ("b1", arr(4 * d)),
    ("w2", arr(4 * d, d, scale=(4 * d) ** -0.5)),
]
nodes = [
    N("ReduceMean", ["x", "ax"], ["mu"]), N("Sub", ["x", "mu"], ["xc"]),
    N("Mul", ["xc", "xc"], ["sq"]), N("ReduceMean", ["sq", "ax"], ["var"]),
    N("Add", ["var", "eps"], ["ve"]), N("Sqrt", ["ve"], ["sd"]),
    N("Div", ["xc", "sd"], ["xn"]), N("Mul", ["xn", "g"], ["xg"]),
    N("Add", ["xg", "beta"], ["h"]),
    N("MatMul", ["h", "wqkv"], ["qkv0"]), N("Add", ["qkv0", "bqkv"], ["qkv"]),
    N("Split", ["qkv"], ["q0", "k0", "v0"], axis=-1, num_outputs=3),
]
for t in "qkv":
    nodes += [N("Reshape", [f"{t}0", "hs"], [f"{t}1"]),
              N("Transpose", [f"{t}1"], [f"{t}2"], perm=[0, 2, 1, 3])]
nodes += [
    N("Transpose", ["k2"], ["kt"], perm=[0, 1, 3, 2]),
    N("MatMul", ["q2", "kt"], ["s0"]), N("Mul", ["s0", "scale"], ["s1"]),
    N("Softmax", ["s1"], ["p"], axis=-1), N("MatMul", ["p", "v2"], ["o0"]),
    N("Transpose", ["o0"], ["o1"], perm=[0, 2, 1, 3]),
    N("Reshape", ["o1", "merged"], ["o2"]), N("MatMul", ["o2", "wo"], ["o3"]),
    N("Add", ["x", "o3"], ["r1"]),
    N("MatMul", ["r1", "w1"], ["f0"]), N("Add", ["f0", "b1"], ["f1"]),
    N("Gelu", ["f1"], ["f2"], approximate="tanh"),
    N("MatMul", ["f2", "w2"], ["f3"]), N("Add", ["r1", "f3"], ["y"]),
]
add_case("transformer_block_opset20", nodes, {"x": x},
         [("y", F, [1, seq, d])], inits, opset=20)

models.write_manifest()
