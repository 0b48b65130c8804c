"""Checks the table `parsimony-run --profile-sparsity` prints against NumPy.

  check_profile.py ffn DIR TABLE            make_ffn_stack.py's model, exact
                                            (or dense-equivalent) FFNs
  check_profile.py predict DIR TABLE K      the same with int8 predictors of
                                            K neurons (--sparse-ffn=predict
                                            --topk=K --predictor=int8)
  check_profile.py moe DIR TABLE K MODE [F] make_ort_moe.py's model with
                                            top-K routing, MODE dropless or
                                            capacity with factor F

ffn/predict: per layer, the nonzero % per token (mean, min, max) of the
hidden activation relu(x @ w1 + b1) (restricted to the predicted support in
predict mode), computed in float64 along the residual stack, must match the
printed figures: the mean within 0.05 percentage points and min/max within
one neuron (the kernels compute in float32, so an activation within
rounding of zero may flip). predict also checks the recall of the int8
predictor's support (the same symmetric per-neuron int8 copy of w1 that
Parsimony builds, top-K scores, ties to the lower index) against the true
top-K of the dense hidden activation (nonzero entries only): mean within
0.01, min within 1/K.

moe: the routing (softmax of the router logits, top-K, ties to the lower
index) and capacity C = ceil(T * F / E), assignments taken in token then
choice order, give per-expert dispatched and routed counts, dropped
assignments and dropped tokens; all must match exactly.
"""
import math
import re
import sys

import numpy as np
import onnx
from onnx import numpy_helper

ROW = re.compile(r"^\s*(\d+)\s+(\S.*?)\s+(\d+)\s+(\d+)\s+([\d.]+) / ([\d.]+) / "
                 r"([\d.]+)(?:\s+([\d.]+) / ([\d.]+) \(k=(\d+)\))?\s*$")
DISPATCH = re.compile(r"^\s*(\d+)\s+dispatch (\w+)(?: C=(\d+))? k=(\d+)\s+"
                      r"(\d+)\s+(\d+)\s*$")


def parse(path):
    layers = []
    lines = open(path).read().splitlines()
    for i, line in enumerate(lines):
        m = DISPATCH.match(line)
        if m:
            rows = {}
            for extra in lines[i + 1:i + 4]:
                label, *values = extra.split()
                rows[label] = [int(v) for v in values]
            dropped = re.match(r"\s*dropped: (\d+) assignments, (\d+) tokens",
                               lines[i + 4])
            layers.append(dict(
                layer=int(m[1]), kind="dispatch", mode=m[2],
                capacity=int(m[3]) if m[3] else None, k=int(m[4]),
                tokens=int(m[5]), experts=int(m[6]), expert_tokens=rows["tokens"],
                expert_routed=rows["routed"], dropped=int(dropped[1]),
                dropped_tokens=int(dropped[2])))
            continue
        m = ROW.match(line)
        if m:
            layers.append(dict(
                layer=int(m[1]), kind=m[2], tokens=int(m[3]), width=int(m[4]),
                mean=float(m[5]), min=float(m[6]), max=float(m[7]),
                recall=None if m[8] is None else (float(m[8]), float(m[9]),
                                                  int(m[10]))))
    return layers


def int8_copy(w):
    """Symmetric int8, one scale per neuron (column), dequantized."""
    scale = np.abs(w).max(0) / 127
    scale[scale == 0] = 1
    return np.clip(np.round(w / scale), -127, 127) * scale


def check_ffn(folder, table, k=None):
    model = onnx.load(f"{folder}/stack.onnx")
    W = {i.name: numpy_helper.to_array(i).astype(np.float64)
         for i in model.graph.initializer}
    x = np.load(f"{folder}/x.npy").astype(np.float64)
    x = x.reshape(-1, x.shape[-1])
    got = parse(table)
    assert len(got) == 3, "expected 3 profiled layers, got %r" % got
    for i, layer in enumerate(got):
        w1, b1 = W["l%d_w1" % i], W["l%d_b1" % i]
        w2, b2 = W["l%d_w2" % i], W["l%d_b2" % i]
        F = w1.shape[1]
        h = np.maximum(x @ w1 + b1, 0)
        recall = None
        if k is not None:
            scores = x @ int8_copy(w1) + b1
            support = np.argsort(-scores, axis=1, kind="stable")[:, :k]
            truth = np.argsort(-h, axis=1, kind="stable")[:, :k]
            per_token = []
            for t in range(len(h)):
                true_set = {j for j in truth[t] if h[t, j] != 0}
                per_token.append(len(true_set & set(support[t])) /
                                 len(true_set) if true_set else 1.0)
            recall = (np.mean(per_token), np.min(per_token))
            kept = np.zeros_like(h)
            np.put_along_axis(kept, support,
                              np.take_along_axis(h, support, 1), 1)
            h = kept
        nonzero = (h != 0).sum(1) * 100.0 / F
        want = (nonzero.mean(), nonzero.min(), nonzero.max())
        print("layer %d: %s tokens %d width %d nonzero %% mean/min/max "
              "%.2f/%.2f/%.2f, numpy %.2f/%.2f/%.2f" % (
                  i, layer["kind"], layer["tokens"], layer["width"],
                  layer["mean"], layer["min"], layer["max"], *want))
        assert layer["layer"] == i and layer["kind"].startswith("sparse_ffn relu")
        assert layer["tokens"] == len(x) and layer["width"] == F, layer
        assert abs(layer["mean"] - want[0]) <= 0.05, (layer, want)
        neuron = 100.0 / F + 0.006
        assert abs(layer["min"] - want[1]) <= neuron, (layer, want)
        assert abs(layer["max"] - want[2]) <= neuron, (layer, want)
        if k is None:
            assert layer["recall"] is None, layer
        else:
            mean, low, shown_k = layer["recall"]
            print("  recall mean/min %.3f/%.3f (k=%d), numpy %.3f/%.3f" % (
                mean, low, shown_k, *recall))
            assert shown_k == k and 0 <= low <= mean <= 1, layer
            assert abs(mean - recall[0]) <= 0.01, (layer, recall)
            assert abs(low - recall[1]) <= 1.0 / k + 1e-3, (layer, recall)
        x = x + h @ w2 + b2


def check_moe(folder, table, k, mode, factor):
    router = np.load(f"{folder}/router.npy").astype(np.float64)
    T, E = router.shape
    p = np.exp(router - router.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    chosen = np.argsort(-p, axis=1, kind="stable")[:, :k]
    capacity = math.ceil(T * factor / E) if mode == "capacity" else None
    routed = np.bincount(chosen.ravel(), minlength=E)
    kept = np.zeros(E, np.int64)
    dropped, dropped_tokens = 0, 0
    for t in range(T):
        kept_t = 0
        for e in chosen[t]:
            if capacity is None or kept[e] < capacity:
                kept[e] += 1
                kept_t += 1
            else:
                dropped += 1
        dropped_tokens += kept_t == 0
    got = parse(table)
    assert len(got) == 1 and got[0]["kind"] == "dispatch", got
    layer = got[0]
    want = dict(layer=0, kind="dispatch", mode=mode, capacity=capacity, k=k,
                tokens=T, experts=E, expert_tokens=kept.tolist(),
                expert_routed=routed.tolist(), dropped=dropped,
                dropped_tokens=dropped_tokens)
    print("parsimony:", layer)
    print("numpy:    ", want)
    assert layer == want
    if mode == "capacity":
        assert dropped > 0, "the capacity should drop tokens in this test"


if __name__ == "__main__":
    what, folder, table = sys.argv[1:4]
    if what == "ffn":
        check_ffn(folder, table)
    elif what == "predict":
        check_ffn(folder, table, int(sys.argv[4]))
    else:
        check_moe(folder, table, int(sys.argv[4]), sys.argv[5],
                  float(sys.argv[6]) if len(sys.argv) > 6 else None)
    print("OK")
