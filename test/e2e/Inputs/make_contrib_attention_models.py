"""Makes one small ONNX model per ONNX Runtime contrib attention/embedding
case (com.microsoft Attention, MultiHeadAttention, GroupQueryAttention,
RotaryEmbedding, EmbedLayerNormalization) with random weights and inputs
(fixed seeds), and writes DIR/manifest.json for check_vs_ort.py.

  make_contrib_attention_models.py DIR

Cases ONNX Runtime's CPU kernels cannot run (packed KV/QKV in
MultiHeadAttention, Attention without bias, which crashes it) are written as
DIR/<name>.onnx with an equivalent DIR/<name>_ref.onnx that ONNX Runtime runs
on the same inputs instead (the manifest's "ort_model").
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from onnx_cases import elem, normal, rng_for

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
MANIFEST = []

OUT_RANKS = {"y": 3, "present": 5, "present_key": 4, "present_value": 4,
             "mask_index": 1, "embedding_sum": 3}


def save_model(name, nodes, inputs, outputs, inits=None, dims=None,
               out_ranks=None, half=False):
    """inputs: {name: array} graph inputs; inits: {name: array} initializers;
    outputs: list of output names (ranks from OUT_RANKS or out_ranks); dims:
    {input: [dim names/ints]} to make some input dimensions symbolic."""
    inits = inits or {}
    dims = dims or {}
    if half:
        f16 = lambda d: {n: a.astype(np.float16) if a.dtype == np.float32
                         else a for n, a in d.items()}
        inputs, inits = f16(inputs), f16(inits)
    vis = []
    for n, a in inputs.items():
        shape = dims.get(n, list(a.shape))
        vis.append(helper.make_tensor_value_info(n, elem(a), shape))
    ranks = dict(OUT_RANKS, **(out_ranks or {}))
    outs = []
    for o in outputs:
        t = TensorProto.INT32 if o == "mask_index" else (
            TensorProto.FLOAT16 if half else TensorProto.FLOAT)
        outs.append(helper.make_tensor_value_info(o, t, [None] * ranks[o]))
    graph = helper.make_graph(
        nodes, name, vis, outs,
        [numpy_helper.from_array(a, n) for n, a in inits.items()])
    model = helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    onnx.save(model, os.path.join(OUT, name + ".onnx"))
    files = {}
    for n, a in inputs.items():
        f = f"{name}.{n}.npy"
        np.save(os.path.join(OUT, f), a)
        files[n] = f
    return files


def case(name, nodes, inputs, outputs, inits=None, dims=None, rtol=1e-4,
         out_ranks=None, half=False):
    """Adds a model to the manifest; `half` makes its float tensors f16
    (compared with rtol 2e-3: f16 rounding)."""
    if half:
        rtol = 2e-3
    files = save_model(name, nodes, inputs, outputs, inits, dims, out_ranks,
                       half)
    MANIFEST.append({"name": name, "model": name + ".onnx", "inputs": files,
                     "rtol": rtol})


def equivalent(name, nodes, ref_nodes, inputs, outputs, inits=None,
               ref_inits=None, rtol=1e-4):
    files = save_model(name, nodes, inputs, outputs, inits)
    save_model(name + "_ref", ref_nodes, inputs, outputs, ref_inits)
    MANIFEST.append({"name": name, "model": name + ".onnx",
                     "ort_model": name + "_ref.onnx", "inputs": files,
                     "rtol": rtol})


def ms(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, domain="com.microsoft", **attrs)


B, S, D, N = 2, 5, 32, 4
H = D // N

# ---------------------------------------------------------------------------
# Attention (BERT / GPT-2, packed QKV weights)
# ---------------------------------------------------------------------------


def attention_case(name, s=S, mask=None, attrs=None, qkv=(D, D, D),
                   past=None, present=False, attn_bias=None, bias=True,
                   dims=None, half=False):
    rng = rng_for(name)
    x = normal(rng, (B, s, D))
    total = sum(qkv)
    inits = {"w": normal(rng, (D, total), 0.3)}
    ins = ["x", "w", "b" if bias else ""]
    if bias:
        inits["b"] = normal(rng, (total,), 0.1)
    inputs = {"x": x}
    ins.append("mask" if mask is not None else "")
    if mask is not None:
        inputs["mask"] = mask
    ins.append("past" if past is not None else "")
    if past is not None:
        inputs["past"] = normal(rng, past)
    if attn_bias is not None:
        ins.append("attn_bias")
        inputs["attn_bias"] = normal(rng, attn_bias)
    while ins and ins[-1] == "":
        ins.pop()
    outs = ["y"] + (["present"] if present else [])
    a = dict(num_heads=N)
    a.update(attrs or {})
    if qkv != (D, D, D):
        a["qkv_hidden_sizes"] = list(qkv)
    case(name, [ms("Attention", ins, outs, **a)], inputs, outs, inits, dims,
         half=half)


pad2d = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], np.int32)
left2d = np.array([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]], np.int32)
attention_case("attn_nomask")
attention_case("attn_mask2d", mask=pad2d)
attention_case("attn_mask1d", mask=np.array([3, 5], np.int32))
attention_case("attn_mask2b", mask=np.array([4, 5, 1, 0], np.int32))
attention_case("attn_mask3d",
               mask=(np.random.default_rng(3).random((B, S, S)) > 0.3)
               .astype(np.int32))
attention_case("attn_mask3d_causal",
               mask=(np.random.default_rng(4).random((B, S, S)) > 0.3)
               .astype(np.int32), attrs=dict(unidirectional=1))
attention_case("attn_causal_leftpad", mask=left2d,
               attrs=dict(unidirectional=1))
attention_case("attn_causal_filter", mask=pad2d,
               attrs=dict(unidirectional=1, mask_filter_value=-3.0))
attention_case("attn_vsize_scale", qkv=(D, D, 16), mask=pad2d,
               attrs=dict(scale=0.2))
attention_case("attn_bias_mask", mask=pad2d, attn_bias=(1, N, S, S))
attention_case("attn_bias_batch", attn_bias=(B, 1, S, S))
# GPT-2: the first (prompt) step writes present, later steps read past.
attention_case("attn_gpt2_prompt", mask=pad2d, present=True,
               attrs=dict(unidirectional=1))
attention_case("attn_gpt2_decode", s=1, past=(2, B, N, 4, H), present=True,
               mask=np.array([[1, 1, 1, 1, 1], [0, 1, 1, 1, 1]], np.int32),
               attrs=dict(unidirectional=1))
attention_case("attn_past_chunk", s=3, past=(2, B, N, 4, H), present=True,
               attrs=dict(unidirectional=1))
# The first step of a GPT-2 export: an empty past.
attention_case("attn_empty_past", past=(2, B, N, 0, H), present=True,
               mask=pad2d, attrs=dict(unidirectional=1))
attention_case("attn_f16_gpt2_decode", s=1, past=(2, B, N, 4, H),
               present=True, attrs=dict(unidirectional=1), half=True,
               mask=np.array([[1, 1, 1, 1, 1], [0, 1, 1, 1, 1]], np.int32))
attention_case("attn_dynamic", mask=pad2d, present=True,
               attrs=dict(unidirectional=1),
               dims={"x": ["batch", "seq", D], "mask": ["batch", "seq"]})

# Without bias (ONNX Runtime 1.30's CPU kernel crashes): the same model with a
# zero bias is the reference.
rng = rng_for("attn_nobias")
w = normal(rng, (D, 3 * D), 0.3)
equivalent("attn_nobias",
           [ms("Attention", ["x", "w", "", "mask"], ["y"], num_heads=N)],
           [ms("Attention", ["x", "w", "b", "mask"], ["y"], num_heads=N)],
           {"x": normal(rng, (B, S, D)), "mask": pad2d}, ["y"],
           {"w": w}, {"w": w, "b": np.zeros(3 * D, np.float32)})

# ---------------------------------------------------------------------------
# MultiHeadAttention
# ---------------------------------------------------------------------------


def mha_case(name, s=S, kv=S, key_form="bsd", mask=None, bias=False,
             past=None, present=False, attn_bias=None, attrs=None, dv=D,
             dims=None, half=False):
    rng = rng_for(name)
    hv = dv // N
    inputs = {"q": normal(rng, (B, s, D))}
    if key_form == "bsd":
        inputs["k"] = normal(rng, (B, kv, D))
        inputs["v"] = normal(rng, (B, kv, dv))
    else:
        inputs["k"] = normal(rng, (B, N, kv, H))
        inputs["v"] = normal(rng, (B, N, kv, hv))
    ins = ["q", "k", "v"]
    inits = {}
    ins.append("bias" if bias else "")
    if bias:
        inits["bias"] = normal(rng, (2 * D + dv,), 0.5)
    ins.append("mask" if mask is not None else "")
    if mask is not None:
        inputs["mask"] = mask
    ins.append("attn_bias" if attn_bias is not None else "")
    if attn_bias is not None:
        inputs["attn_bias"] = normal(rng, attn_bias)
    if past is not None:
        ins += ["past_key", "past_value"]
        inputs["past_key"] = normal(rng, (B, N, past, H))
        inputs["past_value"] = normal(rng, (B, N, past, hv))
    while ins[-1] == "":
        ins.pop()
    outs = ["y"] + (["present_key", "present_value"] if present else [])
    a = dict(num_heads=N)
    a.update(attrs or {})
    case(name, [ms("MultiHeadAttention", ins, outs, **a)], inputs, outs,
         inits, dims, half=half)


mha_case("mha_self")
mha_case("mha_bias", bias=True)
mha_case("mha_cross_mask2d", s=3, kv=7, bias=True,
         mask=np.array([[1] * 7, [1, 1, 1, 1, 0, 0, 0]], np.int32))
mha_case("mha_mask1d", kv=7, mask=np.array([7, 4], np.int32))
mha_case("mha_mask3d", s=3, kv=6,
         mask=(np.random.default_rng(5).random((B, 3, 6)) > 0.3)
         .astype(np.int32))
mha_case("mha_bnsh_cross", s=3, kv=7, key_form="bnsh", bias=True)
mha_case("mha_causal", attrs=dict(unidirectional=1), mask=left2d)
mha_case("mha_causal_cross", s=3, kv=6, attrs=dict(unidirectional=1))
mha_case("mha_decode_past", s=1, kv=1, past=4, present=True, bias=True,
         attrs=dict(unidirectional=1),
         mask=np.array([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]], np.int32))
mha_case("mha_chunk_past", s=3, kv=3, past=4, present=True,
         attrs=dict(unidirectional=1), mask=np.array([6, 7], np.int32))
mha_case("mha_present_only", present=True, attrs=dict(unidirectional=1))
mha_case("mha_empty_past", past=0, present=True, attrs=dict(unidirectional=1),
         mask=pad2d)
mha_case("mha_attn_bias", s=3, kv=6, attn_bias=(B, 1, 3, 6),
         mask=np.array([[1] * 6, [1, 1, 1, 1, 0, 0]], np.int32))
mha_case("mha_scale_filter", s=3, kv=6, mask=np.array([5, 2], np.int32),
         attrs=dict(scale=0.05, mask_filter_value=-2.0))
mha_case("mha_vdim", s=3, kv=6, dv=16, bias=True)
mha_case("mha_f16_past", s=3, kv=3, past=4, present=True, bias=True,
         attrs=dict(unidirectional=1), half=True)
mha_case("mha_dynamic", s=3, kv=6, bias=True,
         mask=np.array([[1] * 6, [1, 1, 1, 0, 0, 0]], np.int32),
         dims={"q": ["batch", "seq", D], "k": ["batch", "kv", D],
               "v": ["batch", "kv", D], "mask": ["batch", "kv"]})

# Packed KV [B, L, N, 2, H] and packed QKV [B, S, N, 3, H] (not in ONNX
# Runtime's CPU kernel): the reference splits them with Slice/Squeeze/Reshape.
rng = rng_for("mha_packed_kv")
L = 6
q = normal(rng, (B, 3, D))
kv = normal(rng, (B, L, N, 2, H))
bias = normal(rng, (3 * D,), 0.5)
const = {"bias": bias, "i0": np.array([0], np.int64),
         "i1": np.array([1], np.int64), "i2": np.array([2], np.int64),
         "ax3": np.array([3], np.int64),
         "shape_kv": np.array([B, L, D], np.int64)}


def take(src, lo, hi, dst, shape):
    return [helper.make_node("Slice", [src, lo, hi, "ax3"], [dst + "_s"]),
            helper.make_node("Reshape", [dst + "_s", shape], [dst])]


ref = take("kv", "i0", "i1", "k", "shape_kv") + take(
    "kv", "i1", "i2", "v", "shape_kv") + [
    ms("MultiHeadAttention", ["q", "k", "v", "bias"], ["y"], num_heads=N)]
equivalent("mha_packed_kv",
           [ms("MultiHeadAttention", ["q", "kv", "", "bias"], ["y"],
               num_heads=N)],
           ref, {"q": q, "kv": kv}, ["y"], {"bias": bias}, const)

rng = rng_for("mha_packed_qkv")
qkv = normal(rng, (B, S, N, 3, H))
const = dict(const, i3=np.array([3], np.int64),
             shape_qkv=np.array([B, S, D], np.int64))
del const["shape_kv"]
ref = take("qkv", "i0", "i1", "q", "shape_qkv") + take(
    "qkv", "i1", "i2", "k", "shape_qkv") + take(
    "qkv", "i2", "i3", "v", "shape_qkv") + [
    ms("MultiHeadAttention", ["q", "k", "v", "bias"], ["y"], num_heads=N,
       unidirectional=1)]
equivalent("mha_packed_qkv",
           [ms("MultiHeadAttention", ["qkv", "", "", "bias"], ["y"],
               num_heads=N, unidirectional=1)],
           ref, {"qkv": qkv}, ["y"], {"bias": bias}, const)

# ---------------------------------------------------------------------------
# RotaryEmbedding
# ---------------------------------------------------------------------------


def cos_sin(max_pos, rot_dim, base=10000.0):
    inv = 1.0 / base ** (np.arange(0, rot_dim, 2) / rot_dim)
    ang = np.outer(np.arange(max_pos), inv)
    return np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)


def rotary_case(name, layout="bsd", positions="full", interleaved=0,
                rot_dim=H, head=H, dims=None, half=False):
    rng = rng_for(name)
    heads = D // head
    x = normal(rng, (B, S, D) if layout == "bsd" else (B, heads, S, head))
    cos, sin = cos_sin(16, rot_dim)
    if positions == "full":
        pos = rng.integers(0, 16, (B, S)).astype(np.int64)
    else:
        pos = np.array([3], np.int64)
    attrs = dict(interleaved=interleaved)
    if rot_dim != head:
        attrs.update(num_heads=heads, rotary_embedding_dim=rot_dim)
    case(name, [ms("RotaryEmbedding", ["x", "pos", "cos", "sin"], ["y"],
                   **attrs)],
         {"x": x, "pos": pos}, ["y"], {"cos": cos, "sin": sin}, dims,
         out_ranks={"y": x.ndim}, half=half)


rotary_case("rot_bsd")
rotary_case("rot_bsd_interleaved", interleaved=1)
rotary_case("rot_bnsh", layout="bnsh")
rotary_case("rot_bnsh_interleaved_offset", layout="bnsh", interleaved=1,
            positions="offset")
rotary_case("rot_offset", positions="offset", head=16)
rotary_case("rot_partial", rot_dim=4)
rotary_case("rot_partial_interleaved_bnsh", layout="bnsh", rot_dim=4,
            interleaved=1)
rotary_case("rot_f16_interleaved", interleaved=1, half=True)
rotary_case("rot_dynamic", dims={"x": ["batch", "seq", D],
                                 "pos": ["batch", "seq"]})

# ---------------------------------------------------------------------------
# EmbedLayerNormalization
# ---------------------------------------------------------------------------


def embed_case(name, segment=True, mask=True, pos_ids=None, outs=None,
               eps=None, dims=None, half=False):
    rng = rng_for(name)
    vocab, max_pos = 30, 16
    inputs = {"ids": rng.integers(0, vocab, (B, S)).astype(np.int32)}
    inits = {"word": normal(rng, (vocab, D)), "pos": normal(rng, (max_pos, D)),
             "gamma": normal(rng, (D,)), "beta": normal(rng, (D,))}
    ins = ["ids", "", "word", "pos", "", "gamma", "beta", "", ""]
    if segment:
        ins[1], ins[4] = "seg", "segemb"
        inputs["seg"] = rng.integers(0, 2, (B, S)).astype(np.int32)
        inits["segemb"] = normal(rng, (2, D))
    if mask:
        ins[7] = "mask"
        inputs["mask"] = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]],
                                  np.int32)
    if pos_ids is not None:
        ins[8] = "pos_ids"
        inputs["pos_ids"] = pos_ids
    while ins[-1] == "":
        ins.pop()
    outs = outs or ["y", "mask_index", "embedding_sum"]
    attrs = {} if eps is None else dict(epsilon=eps)
    case(name, [ms("EmbedLayerNormalization", ins, outs, **attrs)], inputs,
         outs, inits, dims, half=half)


embed_case("eln_full", eps=1e-12)
embed_case("eln_noseg_nomask", segment=False, mask=False,
           outs=["y", "mask_index"])
embed_case("eln_pos_ids", pos_ids=np.array([[0, 2, 1, 4, 3]], np.int32),
           eps=1e-5)
embed_case("eln_f16", half=True)
embed_case("eln_pos_ids_batch",
           pos_ids=np.array([[0, 1, 2, 3, 4], [5, 4, 3, 2, 1]], np.int32))

# ---------------------------------------------------------------------------
# GroupQueryAttention
# ---------------------------------------------------------------------------

KN, GH = 2, 16  # kv heads, head size


def gqa_case(name, s=S, past=None, seqlens=None, packed=False, rotary=False,
             interleaved=0, attrs=None, batch=B, attn_bias=False,
             dynamic=False, half=False):
    rng = rng_for(name)
    qd, kd = N * GH, KN * GH
    inputs = {}
    if packed:
        inputs["q"] = normal(rng, (batch, s, qd + 2 * kd))
        ins = ["q", "", ""]
    else:
        inputs["q"] = normal(rng, (batch, s, qd))
        inputs["k"] = normal(rng, (batch, s, kd))
        inputs["v"] = normal(rng, (batch, s, kd))
        ins = ["q", "k", "v"]
    if past is not None:
        inputs["past_key"] = normal(rng, (batch, KN, past, GH))
        inputs["past_value"] = normal(rng, (batch, KN, past, GH))
        ins += ["past_key", "past_value"]
    else:
        ins += ["", ""]
    if seqlens is None:
        seqlens = [(past or 0) + s - 1] * batch
    inputs["seqlens_k"] = np.array(seqlens, np.int32)
    inputs["total_seq"] = np.array(max(seqlens) + 1, np.int32)
    ins += ["seqlens_k", "total_seq"]
    inits = {}
    if rotary:
        cos, sin = cos_sin(32, GH)
        inits["cos"], inits["sin"] = cos, sin
        ins += ["cos", "sin"]
    if attn_bias:
        while len(ins) < 10:
            ins.append("")
        ins.append("attn_bias")
        inputs["attn_bias"] = normal(rng, (1, N, s, (past or 0) + s))
    a = dict(num_heads=N, kv_num_heads=KN)
    if rotary:
        a.update(do_rotary=1, rotary_interleaved=interleaved)
    a.update(attrs or {})
    outs = ["y", "present_key", "present_value"]
    dims = None
    if dynamic:
        # The model builder's symbolic sizes.
        dims = {n: ["batch", "seq", a.shape[2]] for n, a in inputs.items()
                if n in ("q", "k", "v")}
        dims.update({n: ["batch", KN, "past_seq", GH]
                     for n in ("past_key", "past_value") if n in inputs})
        dims["seqlens_k"] = ["batch"]
    case(name, [ms("GroupQueryAttention", ins, outs, **a)], inputs, outs, inits,
         dims, half=half)


gqa_case("gqa_prompt")
gqa_case("gqa_prompt_padded", seqlens=[4, 2])
gqa_case("gqa_packed", packed=True)
gqa_case("gqa_decode_ragged", s=1, past=6, seqlens=[6, 4])
gqa_case("gqa_rotary_prompt", rotary=True)
gqa_case("gqa_rotary_decode_interleaved", s=1, past=6, seqlens=[6, 3],
         rotary=True, interleaved=1)
gqa_case("gqa_window", s=6, attrs=dict(local_window_size=2))
gqa_case("gqa_softcap_scale", attrs=dict(softcap=2.0, scale=0.3))
gqa_case("gqa_chunked_prefill", s=3, past=4, batch=1, rotary=True)
gqa_case("gqa_attn_bias", attn_bias=True)
gqa_case("gqa_empty_past", past=0, seqlens=[4, 3], rotary=True)
gqa_case("gqa_f16_rotary_decode", s=1, past=6, seqlens=[6, 3], rotary=True,
         half=True)
gqa_case("gqa_dynamic_decode", s=1, past=6, seqlens=[6, 2], packed=True,
         rotary=True, dynamic=True)

# ---------------------------------------------------------------------------
# Small composite graphs
# ---------------------------------------------------------------------------

# BERT layer: EmbedLayerNormalization's mask_index feeds Attention.
rng = rng_for("bert_block")
vocab = 30
inits = {"word": normal(rng, (vocab, D)), "pos": normal(rng, (16, D)),
         "segemb": normal(rng, (2, D)), "gamma": normal(rng, (D,)),
         "beta": normal(rng, (D,)), "w": normal(rng, (D, 3 * D), 0.3),
         "b": normal(rng, (3 * D,), 0.1)}
nodes = [ms("EmbedLayerNormalization",
            ["ids", "seg", "word", "pos", "segemb", "gamma", "beta", "mask"],
            ["emb", "mask_index"], epsilon=1e-12),
         ms("Attention", ["emb", "w", "b", "mask_index"], ["y"], num_heads=N)]
case("bert_block", nodes,
     {"ids": rng.integers(0, vocab, (B, S)).astype(np.int32),
      "seg": rng.integers(0, 2, (B, S)).astype(np.int32),
      "mask": np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], np.int32)},
     ["y"], inits,
     dims={"ids": ["batch", "seq"], "seg": ["batch", "seq"],
           "mask": ["batch", "seq"]})

# LLaMA-style attention: RotaryEmbedding on Q and K, then MultiHeadAttention.
rng = rng_for("llama_block")
cos, sin = cos_sin(16, H)
nodes = [ms("RotaryEmbedding", ["q", "pos", "cos", "sin"], ["qr"]),
         ms("RotaryEmbedding", ["k", "pos", "cos", "sin"], ["kr"]),
         ms("MultiHeadAttention", ["qr", "kr", "v", "", "", "", "pk", "pv"],
            ["y", "present_key", "present_value"], num_heads=N,
            unidirectional=1)]
case("llama_block", nodes,
     {"q": normal(rng, (B, 3, D)), "k": normal(rng, (B, 3, D)),
      "v": normal(rng, (B, 3, D)),
      "pos": np.array([[4, 5, 6], [4, 5, 6]], np.int64),
      "pk": normal(rng, (B, N, 4, H)), "pv": normal(rng, (B, N, 4, H))},
     ["y", "present_key", "present_value"], {"cos": cos, "sin": sin})

with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump(MANIFEST, f, indent=1)
