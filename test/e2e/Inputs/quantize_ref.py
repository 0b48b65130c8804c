"""NumPy reference of a weight-only quantized FFN (make_ffn_model.py's).

  quantize_ref.py DIR MODE [GROUP]   reads DIR/ffn.onnx and DIR/x.npy and
      writes DIR/ref_MODE.npy: the FFN with its weights quantized as
      --spx-quantize-weights does (symmetric, scale = max |w| / qmax in f32,
      q = round-half-even(w / scale) clamped to [-qmax, qmax]; int8 per
      output feature, int4 per GROUP input features of each output feature)
      and dequantized (q * scale), computed in float64. The compiled model
      must match it up to f32 rounding.
"""
import sys

import numpy as np
import onnx
from onnx import numpy_helper

out, mode = sys.argv[1], sys.argv[2]
group = int(sys.argv[3]) if len(sys.argv) > 3 else 64
model = onnx.load(f"{out}/ffn.onnx")
w = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def dequantize(kn):
    """kn: [K, N] f32; groups run along K for every output column."""
    qmax = np.float32(127 if mode == "int8" else 7)
    k, n = kn.shape
    g = group if mode == "int4" and k % group == 0 else k
    blocks = kn.reshape(k // g, g, n)
    amax = np.abs(blocks).max(axis=1, keepdims=True).astype(np.float32)
    scale = np.where(amax > 0, amax / qmax, np.float32(1)).astype(np.float32)
    q = np.clip(np.rint((blocks / scale).astype(np.float32)), -qmax, qmax)
    return (q.astype(np.float64) * scale).reshape(k, n)


x = np.load(f"{out}/x.npy").astype(np.float64)
h = np.maximum(x @ dequantize(w["w1"]) + w["b1"], 0)
y = h @ dequantize(w["w2"]) + w["b2"]
np.save(f"{out}/ref_{mode}.npy", y.astype(np.float32))
