"""Makes one small ONNX model per case of the standard (default-domain)
Attention (opsets 23 and 24) and RotaryEmbedding (opset 23) operators, with
random inputs (fixed seeds), and writes DIR/manifest.json for
check_vs_ort.py.

  make_onnx_attention_models.py DIR

Debian's onnx python package (1.12) predates these operators: the models are
built with onnx.helper, their IR version set by hand and never passed to
onnx.checker. Attention masks shorter than the total sequence length (which
the spec pads with false / -inf and ONNX Runtime rejects) are compared with
DIR/<name>_ref.onnx, which pads the mask with Concat first (the manifest's
"ort_model").
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


def save_model(name, nodes, inputs, outputs, inits=None, dims=None,
               opset=23, half=False):
    """inputs/inits: {name: array}; outputs: {name: rank}; dims: {input:
    [dim names/ints]} to make some input dimensions symbolic."""
    inits = inits or {}
    dims = dims or {}
    if half:
        inputs = {n: a.astype(np.float16) if a.dtype == np.float32 else a
                  for n, a in inputs.items()}
    vis = [helper.make_tensor_value_info(n, elem(a),
                                         dims.get(n, list(a.shape)))
           for n, a in inputs.items()]
    ft = TensorProto.FLOAT16 if half else TensorProto.FLOAT
    outs = [helper.make_tensor_value_info(o, ft, [None] * r)
            for o, r in outputs.items()]
    graph = helper.make_graph(
        nodes, name, vis, outs,
        [numpy_helper.from_array(a, n) for n, a in inits.items()])
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    onnx.save(model, os.path.join(OUT, name + ".onnx"))
    files = {}
    for n, a in inputs.items():
        f = f"{name}.{n}.npy"
        np.save(os.path.join(OUT, f), a)
        files[n] = f
    return files


def case(name, nodes, inputs, outputs, inits=None, dims=None, opset=23,
         half=False, ref_nodes=None, ref_inits=None):
    """Adds a model to the manifest; `half` makes its float inputs f16
    (compared with rtol 2e-3, an f16 rounding step); `ref_nodes` writes an
    equivalent model for ONNX Runtime."""
    files = save_model(name, nodes, inputs, outputs, inits, dims, opset, half)
    entry = {"name": name, "model": name + ".onnx", "inputs": files,
             "rtol": 2e-3 if half else 1e-4}
    if ref_nodes is not None:
        save_model(name + "_ref", ref_nodes, inputs, outputs, ref_inits, dims,
                   opset, half)
        entry["ort_model"] = name + "_ref.onnx"
    MANIFEST.append(entry)


# ---------------------------------------------------------------------------
# Attention
# ---------------------------------------------------------------------------

B = 2


def attention_case(name, layout="4d", nq=4, nkv=4, head=8, vhead=None, s=5,
                   kv=None, past=None, mask=None, mask_kind="float",
                   nonpad=None, present=None, qk_mode=None, attrs=None,
                   dims=None, opset=None, half=False, pad_mask_to=None):
    """One Attention node. `mask` is a mask shape (bool masks are random with
    roughly 70% true, float masks random); `past` the past length; `nonpad`
    the per-batch valid lengths (opset 24); `present` defaults to whether
    there is a past (ONNX Runtime needs present outputs with a past);
    `pad_mask_to` writes a reference model padding a short mask."""
    rng = rng_for(name)
    kv = s if kv is None else kv
    vhead = head if vhead is None else vhead
    if layout == "4d":
        inputs = {"Q": normal(rng, (B, nq, s, head)),
                  "K": normal(rng, (B, nkv, kv, head)),
                  "V": normal(rng, (B, nkv, kv, vhead))}
    else:
        inputs = {"Q": normal(rng, (B, s, nq * head)),
                  "K": normal(rng, (B, kv, nkv * head)),
                  "V": normal(rng, (B, kv, nkv * vhead))}
    ins = ["Q", "K", "V", "", "", "", ""]
    if mask is not None:
        ins[3] = "attn_mask"
        if mask_kind == "bool":
            inputs["attn_mask"] = rng.random(mask) > 0.3
        else:
            inputs["attn_mask"] = normal(rng, mask)
    if past is not None:
        ins[4], ins[5] = "past_key", "past_value"
        inputs["past_key"] = normal(rng, (B, nkv, past, head))
        inputs["past_value"] = normal(rng, (B, nkv, past, vhead))
    if nonpad is not None:
        ins[6] = "nonpad_kv_seqlen"
        inputs["nonpad_kv_seqlen"] = np.array(nonpad, np.int64)
    while ins[-1] == "":
        ins.pop()
    a = dict(attrs or {})
    if layout == "3d":
        a.update(q_num_heads=nq, kv_num_heads=nkv)
    outs = {"Y": 4 if layout == "4d" else 3}
    names = ["Y"]
    if present if present is not None else past is not None:
        outs.update(present_key=4, present_value=4)
        names += ["present_key", "present_value"]
    if qk_mode is not None:
        while len(names) < 3:
            names.append("")
        names.append("qk")
        outs["qk"] = 4
        a["qk_matmul_output_mode"] = qk_mode
    if opset is None:
        opset = 24 if nonpad is not None else 23
    node = helper.make_node("Attention", ins, names, **a)
    ref_nodes = ref_inits = None
    if pad_mask_to is not None:
        m = inputs["attn_mask"]
        extra = list(m.shape[:-1]) + [pad_mask_to - m.shape[-1]]
        fill = (np.zeros(extra, np.bool_) if m.dtype == np.bool_
                else np.full(extra, -np.inf, np.float32))
        ref_inits = {"mask_fill": fill}
        ref_ins = list(ins)
        ref_ins[3] = "mask_full"
        ref_nodes = [helper.make_node("Concat", ["attn_mask", "mask_fill"],
                                      ["mask_full"], axis=-1),
                     helper.make_node("Attention", ref_ins, names, **a)]
    case(name, [node], inputs, outs, dims=dims, opset=opset, half=half,
         ref_nodes=ref_nodes, ref_inits=ref_inits)


S, T = 5, 5
# Layouts, grouped KV heads (query head h reads KV head h / (nq / nkv)) and a
# value head size different from the query/key one.
attention_case("att_4d")
attention_case("att_3d", layout="3d")
attention_case("att_3d_gqa", layout="3d", nq=4, nkv=2)
attention_case("att_4d_gqa_vhead", nq=6, nkv=2, vhead=12, s=3, kv=6)
attention_case("att_3d_mqa_vhead", layout="3d", nq=4, nkv=1, vhead=6, kv=7)
attention_case("att_4d_opset24", nq=4, nkv=2, opset=24)
# Masks: bool (true attends) or float (added), broadcast to [B, Nq, S, T].
attention_case("att_bool_mask_2d", mask=(S, T), mask_kind="bool")
attention_case("att_bool_mask_b1st", layout="3d", nq=4, nkv=2,
               mask=(B, 1, S, T), mask_kind="bool")
attention_case("att_float_mask_nst", mask=(4, S, T))
attention_case("att_float_mask_bnst", nq=4, nkv=2, mask=(B, 4, S, T))
attention_case("att_float_mask_1nst_cross", s=3, kv=7, mask=(1, 4, 3, 7))
# A mask shorter than the total length: the missing keys are hidden.
attention_case("att_bool_mask_short", s=3, kv=6, mask=(B, 1, 3, 4),
               mask_kind="bool", pad_mask_to=6)
attention_case("att_float_mask_short_past", layout="3d", nq=4, nkv=2, s=2,
               kv=2, past=3, mask=(2, 3), pad_mask_to=5)
# Causal masks: query s sees keys t <= past + s (no offset without a past,
# also when the key sequence is longer); none for one query after a past.
attention_case("att_causal", attrs=dict(is_causal=1))
attention_case("att_causal_cross", s=3, kv=6, attrs=dict(is_causal=1))
attention_case("att_causal_past", layout="3d", nq=4, nkv=2, s=3, kv=3,
               past=4, attrs=dict(is_causal=1))
attention_case("att_causal_past_kv_shorter", nq=4, nkv=2, s=3, kv=2, past=4,
               attrs=dict(is_causal=1))
attention_case("att_causal_float_mask", mask=(B, 1, S, T),
               attrs=dict(is_causal=1))
attention_case("att_decode", layout="3d", nq=8, nkv=2, s=1, kv=1, past=6,
               mask=(B, 1, 1, 7), mask_kind="bool", attrs=dict(is_causal=1))
attention_case("att_decode_4d_multi_kv", nq=4, nkv=2, s=1, kv=3, past=4,
               attrs=dict(is_causal=1))
attention_case("att_past_no_causal", nq=4, nkv=4, s=2, kv=2, past=3,
               mask=(2, 5), mask_kind="bool")
# Scale and softcap (applied before the mask, as in ONNX Runtime 1.30).
attention_case("att_scale", layout="3d", attrs=dict(scale=0.3))
attention_case("att_softcap_bool_causal", nq=4, nkv=2, mask=(S, T),
               mask_kind="bool", attrs=dict(softcap=2.0, is_causal=1))
# qk_matmul_output: 0 scaled Q.K, 1 after softcap, 2 after the masks, 3 the
# softmax.
for mode in range(4):
    attention_case(f"att_qk_mode{mode}", nq=4, nkv=2, s=3, kv=6,
                   mask=(3, 6), qk_mode=mode,
                   attrs=dict(softcap=3.0, scale=0.5))
attention_case("att_qk_mode3_causal_past", layout="3d", nq=4, nkv=2, s=2,
               kv=2, past=3, qk_mode=3, attrs=dict(is_causal=1))
# Rows whose keys are all hidden get zero weights (ONNX Runtime's softmax).
rows = np.ones((B, 1, 3, 4), np.bool_)
rows[0, 0, 1] = False
rows[1, 0, 2] = False
rng = rng_for("att_all_masked_row")
case("att_all_masked_row",
     [helper.make_node("Attention", ["Q", "K", "V", "attn_mask"], ["Y"])],
     {"Q": normal(rng, (B, 2, 3, 8)), "K": normal(rng, (B, 2, 4, 8)),
      "V": normal(rng, (B, 2, 4, 8)), "attn_mask": rows}, {"Y": 4})
# Opset 24's nonpad_kv_seqlen: keys at positions >= the length are hidden;
# with is_causal the queries are the last S of the valid keys.
attention_case("att_nonpad", layout="3d", nq=4, nkv=2, s=3, kv=6,
               nonpad=[4, 6])
attention_case("att_nonpad_causal", nq=4, nkv=2, s=3, kv=6, nonpad=[5, 2],
               attrs=dict(is_causal=1))
attention_case("att_nonpad_mask_qk", nq=4, nkv=2, s=3, kv=6, nonpad=[3, 6],
               mask=(B, 1, 3, 6), mask_kind="bool", qk_mode=3,
               attrs=dict(softcap=4.0))
# Symbolic sizes (batch, sequence and past lengths) and f16.
attention_case("att_dynamic", layout="3d", nq=4, nkv=2, s=3, kv=3, past=4,
               mask=(B, 1, 3, 7), attrs=dict(is_causal=1),
               dims={"Q": ["batch", "seq", 32], "K": ["batch", "seq", 16],
                     "V": ["batch", "seq", 16],
                     "past_key": ["batch", 2, "past", 8],
                     "past_value": ["batch", 2, "past", 8],
                     "attn_mask": ["batch", 1, "seq", "total"]})
# A static mask over a symbolic total length: read with a bound check.
attention_case("att_dynamic_static_mask", nq=4, nkv=2, s=2, kv=2, past=3,
               mask=(B, 1, 2, 5), mask_kind="bool",
               dims={"Q": ["batch", 4, "seq", 8], "K": ["batch", 2, "seq", 8],
                     "V": ["batch", 2, "seq", 8],
                     "past_key": ["batch", 2, "past", 8],
                     "past_value": ["batch", 2, "past", 8]})
attention_case("att_f16_causal_past", layout="3d", nq=4, nkv=2, s=3, kv=3,
               past=4, attrs=dict(is_causal=1), half=True)

# ---------------------------------------------------------------------------
# RotaryEmbedding
# ---------------------------------------------------------------------------


def cos_sin(positions, rot_dim, base=10000.0):
    inv = 1.0 / base ** (np.arange(0, rot_dim, 2) / rot_dim)
    ang = np.multiply.outer(positions, inv)
    return np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)


def rotary_case(name, layout="3d", heads=4, head=8, rot_dim=None,
                positions=True, interleaved=0, dims=None, half=False):
    """RotaryEmbedding with caches [max_pos, rot/2] read at position_ids
    [B, S], or (without position_ids) caches [B, S, rot/2]."""
    rng = rng_for(name)
    rot = rot_dim or head
    x = normal(rng, (B, S, heads * head) if layout == "3d"
               else (B, heads, S, head))
    pos = rng.integers(0, 16, (B, S)).astype(np.int64)
    inputs = {"X": x}
    attrs = dict(interleaved=interleaved)
    if layout == "3d":
        attrs["num_heads"] = heads
    if rot_dim:
        attrs["rotary_embedding_dim"] = rot_dim
    if positions:
        cos, sin = cos_sin(np.arange(16), rot)
        inputs["position_ids"] = pos
        ins = ["X", "cos", "sin", "position_ids"]
    else:
        cos, sin = cos_sin(pos, rot)
        ins = ["X", "cos", "sin"]
    inputs.update(cos=cos, sin=sin)
    node = helper.make_node("RotaryEmbedding", ins, ["Y"], **attrs)
    case(name, [node], inputs, {"Y": x.ndim}, dims=dims, half=half)


rotary_case("rope_3d_pos")
rotary_case("rope_3d_pos_interleaved", interleaved=1)
rotary_case("rope_4d_pos", layout="4d")
rotary_case("rope_4d_nopos", layout="4d", positions=False)
rotary_case("rope_3d_nopos_interleaved", positions=False, interleaved=1)
rotary_case("rope_3d_partial", head=16, rot_dim=6)
rotary_case("rope_4d_partial_interleaved_nopos", layout="4d", rot_dim=4,
            positions=False, interleaved=1)
rotary_case("rope_dynamic", dims={"X": ["batch", "seq", 32],
                                  "position_ids": ["batch", "seq"]})
rotary_case("rope_nopos_dynamic", layout="4d", positions=False,
            dims={"X": ["batch", 4, "seq", 8], "cos": ["batch", "seq", 4],
                  "sin": ["batch", "seq", 4]})
rotary_case("rope_f16_interleaved", interleaved=1, half=True)

# ---------------------------------------------------------------------------
# A LLaMA-style decode step: rotary Q and K, then causal GQA with a cache.
# ---------------------------------------------------------------------------

rng = rng_for("llama_step")
cos, sin = cos_sin(np.arange(32), 8)
nodes = [
    helper.make_node("RotaryEmbedding", ["q", "cos", "sin", "pos"], ["qr"],
                     num_heads=4),
    helper.make_node("RotaryEmbedding", ["k", "cos", "sin", "pos"], ["kr"],
                     num_heads=2),
    helper.make_node("Attention", ["qr", "kr", "v", "", "pk", "pv"],
                     ["Y", "present_key", "present_value"], is_causal=1,
                     q_num_heads=4, kv_num_heads=2)]
case("llama_step", nodes,
     {"q": normal(rng, (B, 2, 32)), "k": normal(rng, (B, 2, 16)),
      "v": normal(rng, (B, 2, 16)),
      "pos": np.array([[5, 6], [5, 6]], np.int64),
      "pk": normal(rng, (B, 2, 5, 8)), "pv": normal(rng, (B, 2, 5, 8)),
      "cos": cos, "sin": sin},
     {"Y": 3, "present_key": 4, "present_value": 4})

with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump(MANIFEST, f, indent=1)
