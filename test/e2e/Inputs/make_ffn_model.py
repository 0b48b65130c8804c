"""An FFN as exporters write it (MatMul, Add, Relu, MatMul, Add), its input,
and NumPy references with and without a Top-k activation.

  make_ffn_model.py DIR K   writes DIR/ffn.onnx, DIR/x.npy, DIR/ref.npy and
                            DIR/ref_topk.npy (top-K per token, ties to the
                            lower index)
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out, k = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(3)
T, D, F = 24, 64, 256
w1 = (rng.standard_normal((D, F)) / np.sqrt(D)).astype(np.float32)
b1 = (rng.standard_normal(F) * 0.1).astype(np.float32)
w2 = (rng.standard_normal((F, D)) / np.sqrt(F)).astype(np.float32)
b2 = (rng.standard_normal(D) * 0.1).astype(np.float32)
x = rng.standard_normal((2, T // 2, D)).astype(np.float32)
graph = helper.make_graph(
    [helper.make_node("MatMul", ["x", "w1"], ["u"]),
     helper.make_node("Add", ["u", "b1"], ["ub"]),
     helper.make_node("Relu", ["ub"], ["h"]),
     helper.make_node("MatMul", ["h", "w2"], ["d"]),
     helper.make_node("Add", ["d", "b2"], ["y"])],
    "ffn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(x.shape))],
    [numpy_helper.from_array(a, n) for a, n in
     [(w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2")]])
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
          f"{out}/ffn.onnx")
np.save(f"{out}/x.npy", x)
h = np.maximum(x.astype(np.float64) @ w1 + b1, 0)
np.save(f"{out}/ref.npy", (h @ w2 + b2).astype(np.float32))
order = np.argsort(-h, axis=-1, kind="stable")[..., :k]
mask = np.zeros_like(h, dtype=bool)
np.put_along_axis(mask, order, True, axis=-1)
np.save(f"{out}/ref_topk.npy", (np.where(mask, h, 0) @ w2 + b2).astype(np.float32))
