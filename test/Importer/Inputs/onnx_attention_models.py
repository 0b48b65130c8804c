"""Small models of the standard ONNX Attention (opsets 23/24) and
RotaryEmbedding (opset 23) operators for the importer tests:
onnx_attention_models.py NAME OUT.onnx

Every node is named 'n'. The bad_* models exercise the converters' error
messages. Debian's onnx python (1.12) predates these operators, so the IR
version is set by hand and onnx.checker is not called.
"""

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from models import save_named_model

F, I64, BOOL = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
B, S, T = 2, 3, 5


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def model(nodes, inputs, outputs, opset=23, inits=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(graph,
                          opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 10
    return m


def attention(q, k, v, mask=None, past=None, nonpad=False, outputs=("Y",),
              opset=None, **attrs):
    """Attention over inputs of the given shapes; `mask` is (elem, shape),
    `past` the past_key/past_value shapes."""
    ins = ["Q", "K", "V", "", "", "", ""]
    inputs = [vi("Q", F, list(q)), vi("K", F, list(k)), vi("V", F, list(v))]
    if mask:
        ins[3] = "mask"
        inputs.append(vi("mask", mask[0], list(mask[1])))
    if past:
        ins[4], ins[5] = "past_key", "past_value"
        inputs += [vi("past_key", F, list(past[0])),
                   vi("past_value", F, list(past[1]))]
    if nonpad:
        ins[6] = "nonpad"
        inputs.append(vi("nonpad", I64, [q[0]]))
    while ins[-1] == "":
        ins.pop()
    outs = [vi(o, F, [None] * (len(q) if o == "Y" else 4))
            for o in outputs if o]
    node = helper.make_node("Attention", ins, list(outputs), name="n",
                            **attrs)
    return model([node], inputs, outs, opset or (24 if nonpad else 23))


def rotary(x, cache, positions=True, **attrs):
    ins = ["X", "cos", "sin"] + (["pos"] if positions else [])
    inputs = [vi("X", F, list(x))]
    if positions:
        inputs.append(vi("pos", I64, [x[0], x[-2] if len(x) == 4 else x[1]]))
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(
        rng.standard_normal(cache).astype(np.float32), n)
        for n in ("cos", "sin")]
    node = helper.make_node("RotaryEmbedding", ins, ["Y"], name="n", **attrs)
    return model([node], inputs, [vi("Y", F, [None] * len(x))], inits=inits)


MODELS = {
    # 3-D GQA (4 query heads over 2 KV heads of 8), bool mask, causal, past.
    "gqa_causal": lambda: attention(
        (B, S, 32), (B, S, 16), (B, S, 16), mask=(BOOL, (B, 1, S, 7)),
        past=((B, 2, 4, 8), (B, 2, 4, 8)),
        outputs=("Y", "present_key", "present_value"), is_causal=1,
        q_num_heads=4, kv_num_heads=2),
    # 4-D with softcap, a float mask and the softmax as fourth output.
    "softcap_qk": lambda: attention(
        (B, 4, S, 8), (B, 4, T, 8), (B, 4, T, 8), mask=(F, (S, T)),
        outputs=("Y", "", "", "qk"), softcap=2.0, qk_matmul_output_mode=3),
    # Opset 24: keys past nonpad_kv_seqlen are hidden.
    "nonpad": lambda: attention((B, 4, S, 8), (B, 2, T, 8), (B, 2, T, 8),
                                nonpad=True),
    # RotaryEmbedding without position_ids: caches [B, S, rotary_dim / 2].
    "rotary_nopos": lambda: rotary((B, S, 32), (B, S, 2), positions=False,
                                   num_heads=4, rotary_embedding_dim=4),
    "bad_heads_multiple": lambda: attention(
        (B, S, 24), (B, S, 16), (B, S, 16), q_num_heads=3, kv_num_heads=2),
    "bad_3d_no_heads": lambda: attention((B, S, 32), (B, S, 32), (B, S, 32)),
    "bad_head_sizes": lambda: attention((B, 4, S, 8), (B, 4, T, 4),
                                        (B, 4, T, 8)),
    "bad_ranks": lambda: attention((B, S, 32), (B, 4, T, 8), (B, S, 32),
                                   q_num_heads=4, kv_num_heads=4),
    "bad_mask_heads": lambda: attention((B, 4, S, 8), (B, 4, T, 8),
                                        (B, 4, T, 8), mask=(F, (3, S, T))),
    "bad_mask_long": lambda: attention((B, 4, S, 8), (B, 4, T, 8),
                                       (B, 4, T, 8), mask=(BOOL, (S, T + 1))),
    "bad_nonpad_past": lambda: attention(
        (B, 4, S, 8), (B, 4, S, 8), (B, 4, S, 8), nonpad=True,
        past=((B, 4, 2, 8), (B, 4, 2, 8)),
        outputs=("Y", "present_key", "present_value")),
    "bad_qk_mode": lambda: attention(
        (B, 4, S, 8), (B, 4, T, 8), (B, 4, T, 8), outputs=("Y", "", "", "qk"),
        qk_matmul_output_mode=4),
    "bad_rotary_no_heads": lambda: rotary((B, S, 32), (16, 4)),
    "bad_rotary_cache_rank": lambda: rotary((B, 4, S, 8), (16, 4),
                                            positions=False),
    "bad_rotary_dim": lambda: rotary((B, 4, S, 8), (16, 5),
                                     rotary_embedding_dim=10),
}

if __name__ == "__main__":
    save_named_model(MODELS)
