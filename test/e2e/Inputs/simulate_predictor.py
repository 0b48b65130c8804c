"""NumPy model of a predicted-support FFN (make_ffn_model.py's model).

  simulate_predictor.py DIR K PREDICTOR OUTPUT.npy

PREDICTOR is int8 (per-neuron scales), int4:G (groups of G inputs) or
lowrank:R. Builds the same predictor Parsimony builds, picks the top-K
predicted neurons per token, computes the FFN on them only and compares
with OUTPUT.npy (rtol 1e-5 of the largest value). Prints the recall of the
predicted supports against the true top-K.

A quantized predictor's scores are simulated twice: with the activations as
they are (the f32 kernels) and rounded to int8 by a power-of-two scale per
token (the integer kernels the CPU runtime uses on AVX-512 VNNI); the output
must match one of the two.
"""
import sys

import numpy as np
import onnx
from onnx import numpy_helper

folder, k, predictor, output = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
model = onnx.load(f"{folder}/ffn.onnx")
W = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in model.graph.initializer}
w1, b1, w2, b2 = W["w1"], W["b1"], W["w2"], W["b2"]
x = np.load(f"{folder}/x.npy").astype(np.float64)
shape = x.shape
x = x.reshape(-1, w1.shape[0])
pre = x @ w1 + b1


def quantized(w, qmax, group):
    out = np.zeros_like(w)
    span = group or w.shape[0]
    for g in range(0, w.shape[0], span):
        block = w[g:g + span]
        scale = np.abs(block).max(0) / qmax
        scale[scale == 0] = 1
        out[g:g + span] = np.clip(np.round(block / scale), -qmax, qmax) * scale
    return out


if predictor == "int8":
    approx = quantized(w1, 127, 0)
elif predictor.startswith("int4:"):
    approx = quantized(w1, 7, int(predictor[5:]))
else:  # lowrank: the exact subspace differs from Parsimony's iteration, so
    # only full rank is simulated exactly.
    assert int(predictor[8:]) >= min(w1.shape), "simulate lowrank at full rank"
    approx = w1


def rounded(x):
    """Each row of x rounded to int8 steps of the power of two that maps its
    largest magnitude into [-127, 127]."""
    out = np.empty_like(x)
    for t, row in enumerate(x):
        m = np.abs(row).max()
        scale = 1.0
        while m / scale > 127:
            scale *= 2
        while m > 0 and m / (scale / 2) <= 127:
            scale /= 2
        out[t] = np.round(row / scale) * scale
    return out


def simulate(xs):
    scores = xs @ approx + b1
    support = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    h = np.zeros_like(pre)
    np.put_along_axis(h, support, np.maximum(np.take_along_axis(pre, support, 1), 0), 1)
    return support, (h @ w2 + b2).reshape(shape)


truth = np.argsort(-pre, axis=1, kind="stable")[:, :k]
actual = np.load(output)
variants = [x] if predictor.startswith("lowrank") else [x, rounded(x)]
results = []
for xs in variants:
    support, expected = simulate(xs)
    err = np.abs(actual - expected).max() / np.abs(expected).max()
    results.append((err, support))
err, support = min(results, key=lambda r: r[0])
recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(support, truth)])
print(f"recall {recall:.3f}")
print(f"max rel err vs simulation {err:.2e}")
assert err < 1e-5, err
print("OK")
