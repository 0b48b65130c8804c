"""A model quantized before export (fixed seed):
  make_prequantized.py DIR axis|tensor|asymmetric|asymmetric_fits|uint8|uint8_any
x [4, 64] -> MatMul(x, DequantizeLinear(Wq int8 [64, 96], scale)) -> y, with
a per-output-channel scale (axis=1, zero point 0), one scale for the tensor,
or a nonzero per-channel zero point: asymmetric (q - zp reaches beyond the
int8 range), asymmetric_fits (q - zp within int8), uint8 (uint8 values and
zero points around 128) or uint8_any (uint8 values over the whole range and
any per-channel zero point: q - zp spans up to 510 values). Writes DIR/dq.onnx, DIR/x.npy and the NumPy
reference DIR/ref.npy."""
import sys

import numpy as np
import onnx
from onnx import TensorProto as T, helper as h, numpy_helper as nh

out, mode = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(0)
K, N = 64, 96
wq = rng.integers(-127, 128, size=(K, N)).astype(np.int8)
scale = rng.random(N).astype(np.float32) * 0.01 + 0.001
inits = [nh.from_array(wq, "wq")]
zp = np.zeros(N, np.int8)
if mode == "tensor":
    scale = np.array(0.01, np.float32)
    inits.append(nh.from_array(scale, "ws"))
    dq = h.make_node("DequantizeLinear", ["wq", "ws"], ["w"], name="dq")
else:
    if mode == "asymmetric":
        zp = rng.integers(-3, 4, size=N).astype(np.int8)
    elif mode == "asymmetric_fits":
        wq = rng.integers(-120, 121, size=(K, N)).astype(np.int8)
        zp = rng.integers(-3, 4, size=N).astype(np.int8)
        inits = [nh.from_array(wq, "wq")]
    elif mode == "uint8":
        zp = rng.integers(120, 137, size=N).astype(np.uint8)
        wq = (zp.astype(np.int64) + rng.integers(-110, 111, size=(K, N))).astype(np.uint8)
        inits = [nh.from_array(wq, "wq")]
    elif mode == "uint8_any":
        zp = rng.integers(0, 256, size=N).astype(np.uint8)
        wq = rng.integers(0, 256, size=(K, N)).astype(np.uint8)
        inits = [nh.from_array(wq, "wq")]
    inits += [nh.from_array(scale, "ws"), nh.from_array(zp, "wz")]
    dq = h.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["w"], name="dq",
                     axis=1)
mm = h.make_node("MatMul", ["x", "w"], ["y"], name="mm")
g = h.make_graph([dq, mm], "g", [h.make_tensor_value_info("x", T.FLOAT, [4, K])],
                 [h.make_tensor_value_info("y", T.FLOAT, [4, N])], inits)
onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]),
          f"{out}/dq.onnx")
x = rng.standard_normal((4, K)).astype(np.float32)
np.save(f"{out}/x.npy", x)
w = (wq.astype(np.float64) - zp.astype(np.float64)) * scale.astype(np.float64)
np.save(f"{out}/ref.npy", (x.astype(np.float64) @ w).astype(np.float32))
