"""DynamicQuantizeLinear models, inputs and their NumPy references (fixed
seed).

  make_dynamic_quantize.py DIR   writes to DIR:
    dql.onnx  one DynamicQuantizeLinear per input: x (random, [3, 5, 7]),
              pos (all positive: min widened to 0), neg (all negative: max
              widened to 0), zero (all zeros: empty range, scale 1),
              ties (values at .5 of a step: round half to even),
              zptie (-min / scale = 2.5: the zero point rounds to even),
              s (rank 0); outputs <input>_y, <input>_scale, <input>_zp.
    mm.onnx   x [4, 6, 32] -> DynamicQuantizeLinear -> MatMulInteger with
              int8 weights [32, 24] and a per-column zero point -> Cast to
              float -> Mul by x_scale * w_scale (per column): the form ONNX
              Runtime's quantize_dynamic emits for a MatMul; output y.
    <input>.npy for both models, ref_<output>.npy (the NumPy model below,
    in float32 as ONNX Runtime computes it) and ref_float_y.npy (x @ the
    dequantized weights in float64, for the quantization error).

  make_dynamic_quantize.py DIR --check OUT   compares every output of
    dql.onnx in OUT (<output>.npy) with its reference in DIR exactly (dtype,
    shape and every value); prints `exact: N outputs` or the mismatches and
    fails.
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

out = sys.argv[1]
rng = np.random.default_rng(7)
INPUTS = ["x", "pos", "neg", "zero", "ties", "zptie", "s"]

if len(sys.argv) == 4 and sys.argv[2] == "--check":
    bad, n = [], 0
    for name in INPUTS:
        for kind in ("y", "scale", "zp"):
            got = np.load(f"{sys.argv[3]}/{name}_{kind}.npy")
            want = np.load(f"{out}/ref_{name}_{kind}.npy")
            n += 1
            if got.dtype != want.dtype or got.shape != want.shape or \
                    not np.array_equal(got, want):
                bad.append(f"MISMATCH {name}_{kind}: {got.dtype}{got.shape} "
                           f"{got.ravel()[:8]} vs {want.dtype}{want.shape} "
                           f"{want.ravel()[:8]}")
    print("\n".join(bad) if bad else f"exact: {n} outputs")
    sys.exit(1 if bad else 0)


def dynamic_quantize(x):
    """ONNX DynamicQuantizeLinear (ONNX Runtime's GetQuantizationParameter
    and QuantizeLinear), in float32."""
    x = np.asarray(x, np.float32)
    lo = np.float32(min(np.float32(0), x.min()))
    hi = np.float32(max(np.float32(0), x.max()))
    scale = np.float32(1) if hi == lo else np.float32(hi - lo) / np.float32(255)
    zp = np.rint(np.clip(np.float32(0) - lo / scale, 0, 255)).astype(np.float32)
    y = np.clip(np.rint(x / scale) + zp, 0, 255)
    return y.astype(np.uint8), np.array(scale, np.float32), np.array(
        zp, np.uint8)


def save(name, array):
    np.save(f"{out}/{name}.npy", array)


# --- DynamicQuantizeLinear alone ---------------------------------------------
ties = np.zeros(8, np.float32)
# Range [0, 127.5]: scale 0.5, so 0.25, 0.75, 1.25, 2.25 are 0.5, 1.5, 2.5,
# 4.5 steps (rounded to 0, 2, 2, 4).
ties[:5] = [127.5, 0.25, 0.75, 1.25, 2.25]
inputs = {
    "x": rng.standard_normal((3, 5, 7)).astype(np.float32) * 3,
    "pos": rng.random((4, 9)).astype(np.float32) + 0.5,
    "neg": -rng.random(10).astype(np.float32) * 7 - 0.1,
    "zero": np.zeros((2, 3), np.float32),
    "ties": ties,
    # Range [-2.5, 252.5]: scale 1, zero point round(2.5) = 2.
    "zptie": np.array([-2.5, 252.5, 0.5, 1.5, -1.5, 100.25], np.float32),
    "s": np.array(-1.75, np.float32),
}
nodes, graph_inputs, graph_outputs = [], [], []
assert list(inputs) == INPUTS
for name, value in inputs.items():
    outs = [f"{name}_y", f"{name}_scale", f"{name}_zp"]
    nodes.append(h.make_node("DynamicQuantizeLinear", [name], outs,
                             name=f"dql_{name}"))
    graph_inputs.append(h.make_tensor_value_info(name, T.FLOAT, value.shape))
    graph_outputs += [h.make_tensor_value_info(outs[0], T.UINT8, value.shape),
                      h.make_tensor_value_info(outs[1], T.FLOAT, []),
                      h.make_tensor_value_info(outs[2], T.UINT8, [])]
    save(name, value)
    for o, r in zip(outs, dynamic_quantize(value)):
        save(f"ref_{o}", r)
model = h.make_model(h.make_graph(nodes, "dql", graph_inputs, graph_outputs),
                     opset_imports=[h.make_opsetid("", 17)])
onnx.checker.check_model(model, full_check=True)
onnx.save(model, f"{out}/dql.onnx")

# --- DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul --------------------
K, N = 32, 24
xm = rng.standard_normal((4, 6, K)).astype(np.float32)
wq = rng.integers(-127, 128, size=(K, N)).astype(np.int8)
wzp = rng.integers(-3, 4, size=N).astype(np.int8)
wscale = (rng.random(N) * 0.01 + 0.002).astype(np.float32)
nodes = [
    h.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"], name="dql"),
    h.make_node("MatMulInteger", ["xq", "wq", "xz", "wzp"], ["acc"],
                name="mmi"),
    h.make_node("Cast", ["acc"], ["accf"], to=T.FLOAT, name="cast"),
    h.make_node("Mul", ["xs", "wscale"], ["s"], name="scale"),
    h.make_node("Mul", ["accf", "s"], ["y"], name="mul"),
]
inits = [nh.from_array(wq, "wq"), nh.from_array(wzp, "wzp"),
         nh.from_array(wscale, "wscale")]
model = h.make_model(
    h.make_graph(nodes, "mm",
                 [h.make_tensor_value_info("x", T.FLOAT, xm.shape)],
                 [h.make_tensor_value_info("y", T.FLOAT, (4, 6, N))], inits),
    opset_imports=[h.make_opsetid("", 17)])
onnx.checker.check_model(model, full_check=True)
onnx.save(model, f"{out}/mm.onnx")
save("xm", xm)
xq, xs, xz = dynamic_quantize(xm)
acc = (xq.astype(np.int32) - xz.astype(np.int32)) @ (
    wq.astype(np.int32) - wzp.astype(np.int32))
save("ref_y", acc.astype(np.float32) * (xs * wscale))
w = (wq.astype(np.float64) - wzp) * wscale
save("ref_float_y", (xm.astype(np.float64) @ w).astype(np.float32))
