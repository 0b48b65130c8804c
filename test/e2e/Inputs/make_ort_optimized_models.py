"""Transformer layers in the form ONNX Runtime's transformer optimizer and
model builder leave them (fused com.microsoft operators end to end), with
inputs, for check_vs_ort.py (fixed seeds).

  make_ort_optimized_models.py DIR   writes DIR/*.onnx, DIR/*.npy and
                                     DIR/manifest.json

- bert_layer: EmbedLayerNormalization -> Attention (padding mask) ->
  MatMul -> SkipLayerNormalization -> MatMul -> BiasGelu -> MatMul ->
  SkipLayerNormalization (the BERT optimizer's output).
- gpt2_decode: LayerNormalization -> Attention (unidirectional, past and
  present) -> MatMul -> Add -> LayerNormalization -> MatMul -> FastGelu ->
  MatMul -> Add, one new token after 6 cached ones (the GPT-2 optimizer's
  output, decode step).
- llama_layer: SimplifiedLayerNormalization -> MatMulNBits q/k/v ->
  RotaryEmbedding -> MultiHeadAttention (causal) -> MatMulNBits ->
  SkipSimplifiedLayerNormalization -> MatMulNBits gate/up -> SiLU -> Mul ->
  MatMulNBits down (int4 weights, as the model builder writes them).
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from make_contrib_quant_models import quantize_blockwise
from onnx_cases import pack_bits

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(5)
F32, I32, I64 = TensorProto.FLOAT, TensorProto.INT32, TensorProto.INT64
MS = "com.microsoft"
cases = []


def arr(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def N(op, ins, outs, domain=MS, **attrs):
    return helper.make_node(op, ins, outs, domain=domain, **attrs)


def save(name, nodes, inputs, outputs, inits, rtol=1e-4):
    """inputs: {name: array}; outputs: [(name, type, shape)]."""
    def elem(a):
        return {np.dtype(np.float32): F32, np.dtype(np.int32): I32,
                np.dtype(np.int64): I64, np.dtype(np.uint8): TensorProto.UINT8}[a.dtype]
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(n, elem(a), a.shape)
         for n, a in inputs.items()],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        [numpy_helper.from_array(a, n) for n, a in inits.items()])
    model = helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)])
    model.ir_version = 8
    onnx.save(model, os.path.join(out, name + ".onnx"))
    files = {}
    for n, a in inputs.items():
        files[n] = f"{name}.{n}.npy"
        np.save(os.path.join(out, files[n]), a)
    cases.append({"name": name, "model": name + ".onnx", "inputs": files,
                  "rtol": rtol})


# --- BERT ---------------------------------------------------------------------
B, S, H, HEADS, FF, VOCAB = 2, 8, 64, 4, 256, 100
ids = rng.integers(0, VOCAB, (B, S)).astype(np.int32)
segments = rng.integers(0, 2, (B, S)).astype(np.int32)
mask = np.ones((B, S), np.int32)
mask[1, 5:] = 0  # the second sequence is padded
w = {
    "word": arr(VOCAB, H, scale=0.5), "pos": arr(32, H, scale=0.5),
    "seg": arr(2, H, scale=0.5), "g0": 1 + arr(H, scale=0.1),
    "b0": arr(H, scale=0.1), "qkv_w": arr(H, 3 * H, scale=0.15),
    "qkv_b": arr(3 * H, scale=0.1), "wo": arr(H, H, scale=0.15),
    "bo": arr(H, scale=0.1), "g1": 1 + arr(H, scale=0.1),
    "b1": arr(H, scale=0.1), "w1": arr(H, FF, scale=0.15),
    "bf1": arr(FF, scale=0.1), "w2": arr(FF, H, scale=0.1),
    "bf2": arr(H, scale=0.1), "g2": 1 + arr(H, scale=0.1),
    "b2": arr(H, scale=0.1)}
save("bert_layer", [
    N("EmbedLayerNormalization",
      ["input_ids", "segment_ids", "word", "pos", "seg", "g0", "b0", "mask"],
      ["emb", "mask_index"], epsilon=1e-12),
    N("Attention", ["emb", "qkv_w", "qkv_b", "mask_index"], ["attn"],
      num_heads=HEADS),
    helper.make_node("MatMul", ["attn", "wo"], ["proj"]),
    N("SkipLayerNormalization", ["proj", "emb", "g1", "b1", "bo"], ["h1"],
      epsilon=1e-12),
    helper.make_node("MatMul", ["h1", "w1"], ["f1"]),
    N("BiasGelu", ["f1", "bf1"], ["g"]),
    helper.make_node("MatMul", ["g", "w2"], ["f2"]),
    N("SkipLayerNormalization", ["f2", "h1", "g2", "b2", "bf2"], ["y"],
      epsilon=1e-12)],
    {"input_ids": ids, "segment_ids": segments, "mask": mask},
    [("y", F32, (B, S, H))], w)

# --- GPT-2 decode step ----------------------------------------------------------
PAST = 6
head = H // HEADS
w = {
    "ln1_g": 1 + arr(H, scale=0.1), "ln1_b": arr(H, scale=0.1),
    "qkv_w": arr(H, 3 * H, scale=0.15), "qkv_b": arr(3 * H, scale=0.1),
    "wo": arr(H, H, scale=0.15), "bo": arr(H, scale=0.1),
    "ln2_g": 1 + arr(H, scale=0.1), "ln2_b": arr(H, scale=0.1),
    "w1": arr(H, FF, scale=0.15), "bf1": arr(FF, scale=0.1),
    "w2": arr(FF, H, scale=0.1), "bf2": arr(H, scale=0.1)}
save("gpt2_decode", [
    helper.make_node("LayerNormalization", ["x", "ln1_g", "ln1_b"], ["n1"],
                     epsilon=1e-5),
    N("Attention", ["n1", "qkv_w", "qkv_b", "", "past"], ["attn", "present"],
      num_heads=HEADS, unidirectional=1),
    helper.make_node("MatMul", ["attn", "wo"], ["proj"]),
    helper.make_node("Add", ["proj", "bo"], ["projb"]),
    helper.make_node("Add", ["projb", "x"], ["h1"]),
    helper.make_node("LayerNormalization", ["h1", "ln2_g", "ln2_b"], ["n2"],
                     epsilon=1e-5),
    helper.make_node("MatMul", ["n2", "w1"], ["f1"]),
    N("FastGelu", ["f1", "bf1"], ["g"]),
    helper.make_node("MatMul", ["g", "w2"], ["f2"]),
    helper.make_node("Add", ["f2", "bf2"], ["f2b"]),
    helper.make_node("Add", ["f2b", "h1"], ["y"])],
    {"x": arr(B, 1, H), "past": arr(2, B, HEADS, PAST, head, scale=0.5)},
    [("y", F32, (B, 1, H)), ("present", F32, (2, B, HEADS, PAST + 1, head))],
    w)


# --- Llama layer with int4 weights ----------------------------------------------
def matmul_nbits(x, name, y, k, n, block=32):
    """MatMulNBits of a random [k, n] weight, symmetric int4 (the default
    zero point 8), its packed weight and scales added to `inits`."""
    q, scale, _ = quantize_blockwise(arr(k, n, scale=0.1), 4, block, True)
    inits[name + "_q"] = pack_bits(q.reshape(n, k // block, block), 4)
    inits[name + "_s"] = scale.astype(np.float32).reshape(-1)
    return N("MatMulNBits", [x, name + "_q", name + "_s"], [y], K=k, N=n,
             bits=4, block_size=block)


inits = {}
S = 6
rot = head // 2
positions = np.arange(64)[:, None] * (1.0 / 10000 ** (np.arange(rot) / rot))
inits["cos"] = np.cos(positions).astype(np.float32)
inits["sin"] = np.sin(positions).astype(np.float32)
inits["g_in"] = 1 + arr(H, scale=0.1)
inits["g_post"] = 1 + arr(H, scale=0.1)
nodes = [
    N("SimplifiedLayerNormalization", ["x", "g_in"], ["n1"], domain="",
      epsilon=1e-6),
    matmul_nbits("n1", "wq", "q", H, H),
    matmul_nbits("n1", "wk", "k", H, H),
    matmul_nbits("n1", "wv", "v", H, H),
    N("RotaryEmbedding", ["q", "pos_ids", "cos", "sin"], ["qr"],
      num_heads=HEADS),
    N("RotaryEmbedding", ["k", "pos_ids", "cos", "sin"], ["kr"],
      num_heads=HEADS),
    N("MultiHeadAttention", ["qr", "kr", "v"], ["attn"], num_heads=HEADS,
      unidirectional=1),
    matmul_nbits("attn", "wo", "o", H, H),
    N("SkipSimplifiedLayerNormalization", ["o", "x", "g_post"],
      ["n2", "", "", "h1"], epsilon=1e-6),
    matmul_nbits("n2", "wg", "gate", H, FF),
    matmul_nbits("n2", "wu", "up", H, FF),
    helper.make_node("Sigmoid", ["gate"], ["sg"]),
    helper.make_node("Mul", ["gate", "sg"], ["silu"]),
    helper.make_node("Mul", ["silu", "up"], ["act"]),
    matmul_nbits("act", "wd", "down", FF, H),
    helper.make_node("Add", ["down", "h1"], ["y"])]
pos_ids = np.tile(np.arange(S, dtype=np.int64), (B, 1))
save("llama_layer", nodes, {"x": arr(B, S, H), "pos_ids": pos_ids},
     [("y", F32, (B, S, H))], inits)

with open(os.path.join(out, "manifest.json"), "w") as f:
    json.dump(cases, f, indent=1)
