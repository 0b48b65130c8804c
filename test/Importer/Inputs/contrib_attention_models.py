"""Small ONNX Runtime contrib attention/embedding models for the importer
tests: contrib_attention_models.py NAME OUT.onnx

Every node is named 'n'. The *_bad_* / refused models exercise the
converters' error messages.
"""
import zlib

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from models import save_named_model

F, I32, I64 = TensorProto.FLOAT, TensorProto.INT32, TensorProto.INT64
B, S, D, N = 2, 4, 8, 2
H = D // N


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def const(name, shape, dtype=np.float32):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    return numpy_helper.from_array(rng.standard_normal(shape).astype(dtype),
                                   name)


def model(nodes, inputs, outputs, inits=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    m.ir_version = 8
    return m


def ms(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, name="n", domain="com.microsoft",
                            **attrs)


def attention(mask_shape=(B, S), attrs=None, extra_inputs=(), outputs=("y",),
              x_shape=(B, S, D), w_cols=3 * D, bias=True):
    """Attention with input x, weights w, bias b and an int32 mask; extra
    inputs are (index, name, elem, shape)."""
    ins = ["x", "w", "b" if bias else "", "mask" if mask_shape else ""]
    inputs = [vi("x", F, list(x_shape))]
    if mask_shape:
        inputs.append(vi("mask", I32, list(mask_shape)))
    for index, name, elem, shape in extra_inputs:
        while len(ins) <= index:
            ins.append("")
        ins[index] = name
        inputs.append(vi(name, elem, list(shape)))
    ranks = {"y": 3, "present": 5}
    outs = [vi(o, F, [None] * ranks[o]) for o in outputs]
    a = dict(num_heads=N)
    a.update(attrs or {})
    inits = [const("w", (D, w_cols))] + ([const("b", (w_cols,))] if bias
                                         else [])
    return model([ms("Attention", ins, list(outputs), **a)], inputs, outs,
                 inits)


def mha(key_shape=(B, S, D), value_shape=(B, S, D), attrs=None,
        extra_inputs=(), outputs=("y",)):
    ins = ["q", "k" if key_shape else "", "v" if value_shape else ""]
    inputs = [vi("q", F, [B, S, D])]
    if key_shape:
        inputs.append(vi("k", F, list(key_shape)))
    if value_shape:
        inputs.append(vi("v", F, list(value_shape)))
    for index, name, elem, shape in extra_inputs:
        while len(ins) <= index:
            ins.append("")
        ins[index] = name
        inputs.append(vi(name, elem, list(shape)))
    ranks = {"y": 3, "pk": 4, "pv": 4, "qk": 4}
    outs = [vi(o, F, [None] * ranks[o]) for o in outputs if o]
    a = dict(num_heads=N)
    a.update(attrs or {})
    return model([ms("MultiHeadAttention", ins, list(outputs), **a)], inputs,
                 outs)


def rotary(attrs=None, x_shape=(B, S, D), pos_shape=(B, S), half=H // 2):
    inputs = [vi("x", F, list(x_shape)), vi("pos", I64, list(pos_shape))]
    return model([ms("RotaryEmbedding", ["x", "pos", "cos", "sin"], ["y"],
                     **(attrs or {}))],
                 inputs, [vi("y", F, [None] * len(x_shape))],
                 [const("cos", (16, half)), const("sin", (16, half))])


def gqa(attrs=None, extra_inputs=(), outputs=("y", "pk", "pv")):
    kn = 1
    ins = ["q", "k", "v", "", "", "seqlens", "total"]
    inputs = [vi("q", F, [B, S, D]), vi("k", F, [B, S, kn * H]),
              vi("v", F, [B, S, kn * H]), vi("seqlens", I32, [B]),
              vi("total", I32, [])]
    for index, name, elem, shape in extra_inputs:
        while len(ins) <= index:
            ins.append("")
        ins[index] = name
        inputs.append(vi(name, elem, list(shape)))
    ranks = {"y": 3, "pk": 4, "pv": 4, "qk": 4}
    a = dict(num_heads=N, kv_num_heads=kn)
    a.update(attrs or {})
    return model([ms("GroupQueryAttention", ins, list(outputs), **a)], inputs,
                 [vi(o, F, [None] * ranks[o]) for o in outputs])


def embed(segment_ids=True, segment_embedding=True):
    ins = ["ids", "seg" if segment_ids else "", "word", "pos",
           "segemb" if segment_embedding else "", "gamma", "beta", "mask"]
    inputs = [vi("ids", I32, ["batch", "seq"]),
              vi("mask", I32, ["batch", "seq"])]
    if segment_ids:
        inputs.append(vi("seg", I32, ["batch", "seq"]))
    inits = [const("word", (30, D)), const("pos", (16, D)),
             const("gamma", (D,)), const("beta", (D,))]
    if segment_embedding:
        inits.append(const("segemb", (2, D)))
    return model([ms("EmbedLayerNormalization", ins,
                     ["y", "mask_index", "sum"], epsilon=1e-12)],
                 inputs, [vi("y", F, [None] * 3), vi("mask_index", I32, [None]),
                          vi("sum", F, [None] * 3)], inits)


MODELS = {
    # Imported structure.
    "attention_bert": lambda: attention(),
    "attention_gpt2_dynamic": lambda: attention(
        mask_shape=("batch", "total"), x_shape=("batch", "seq", D),
        attrs=dict(unidirectional=1),
        extra_inputs=[(4, "past", F, (2, "batch", N, "past_seq", H))],
        outputs=("y", "present")),
    "rotary_interleaved": lambda: rotary(dict(interleaved=1)),
    "gqa_prompt": lambda: gqa(),
    "embed_dynamic": lambda: embed(),
    # Refused attribute values and input combinations.
    "attention_share_buffer": lambda: attention(
        attrs=dict(past_present_share_buffer=1)),
    "attention_do_rotary": lambda: attention(attrs=dict(do_rotary=1)),
    "attention_mask_4d": lambda: attention(mask_shape=(B, 1, S, S)),
    "attention_mask_3b2": lambda: attention(mask_shape=(3 * B + 2,)),
    "attention_past_sequence_length": lambda: attention(
        extra_inputs=[(6, "psl", I32, (1,))]),
    "attention_bad_qkv_sizes": lambda: attention(
        attrs=dict(qkv_hidden_sizes=[8, 4, 12])),
    "attention_present_v_size": lambda: attention(
        attrs=dict(qkv_hidden_sizes=[8, 8, 4]), w_cols=20,
        outputs=("y", "present")),
    "attention_bad_mask_len": lambda: attention(mask_shape=(B, S + 1)),
    "attention_no_heads": lambda: attention(attrs=dict(num_heads=0)),
    "mha_cache_indirection": lambda: mha(
        extra_inputs=[(9, "ci", I32, (B, 1, S))]),
    "mha_qk_output": lambda: mha(outputs=("y", "", "", "qk")),
    "mha_bnsh_with_past": lambda: mha(
        key_shape=(B, N, S, H), value_shape=(B, N, S, H),
        extra_inputs=[(6, "past_k", F, (B, N, 3, H)),
                      (7, "past_v", F, (B, N, 3, H))]),
    "mha_missing_key": lambda: mha(key_shape=None, value_shape=None),
    "mha_mask_2b": lambda: mha(extra_inputs=[(4, "mask", I32, (2 * B,))]),
    "rotary_packed_batching": lambda: rotary(dict(is_packed_batching=1)),
    "rotary_dim_without_heads": lambda: rotary(
        dict(rotary_embedding_dim=2), half=1),
    "gqa_smooth_softmax": lambda: gqa(dict(smooth_softmax=1)),
    "gqa_quantized_cache": lambda: gqa(dict(k_quant_type="PER_TENSOR")),
    "gqa_position_ids": lambda: gqa(extra_inputs=[(9, "pid", I64, (B, S))]),
    "gqa_head_sink": lambda: gqa(extra_inputs=[(11, "sink", F, (N,))]),
    "embed_segment_mismatch": lambda: embed(segment_embedding=False),
}

if __name__ == "__main__":
    save_named_model(MODELS)
