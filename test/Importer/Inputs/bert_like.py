#!/usr/bin/env python3
"""Writes a BERT-style encoder with onnx.helper, weights as external data.

Usage: bert_like.py <out-dir> [--layers N] [--hidden H] [--ffn F]
                    [--heads A] [--vocab V] [--inline]

The defaults are BERT-base sized (12 layers, hidden 768, FFN 3072, 12 heads,
vocab 30522: about 110 M parameters, ~440 MB of f32 weights). The model goes
to <out-dir>/bert.onnx and its weights to <out-dir>/bert.data (ONNX external
data, one file) unless --inline is given. Weights are random (fixed seed).
Inputs: input_ids [batch, seq] (int64); output: hidden [batch, seq, H].
"""

import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out_dir")
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--hidden", type=int, default=768)
    p.add_argument("--ffn", type=int, default=3072)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--vocab", type=int, default=30522)
    p.add_argument("--max-pos", type=int, default=512)
    p.add_argument("--inline", action="store_true")
    a = p.parse_args()
    rng = np.random.default_rng(7)
    d, f, nh_, hd = a.hidden, a.ffn, a.heads, a.hidden // a.heads
    inits, nodes = [], []

    def weight(name, *shape):
        arr = (rng.standard_normal(shape, dtype=np.float32) * 0.02)
        inits.append(nh.from_array(arr, name))
        return name

    def const(name, value):
        inits.append(nh.from_array(np.asarray(value), name))
        return name

    def node(op, ins, outs, **attrs):
        nodes.append(h.make_node(op, ins, outs, name=outs[0], **attrs))
        return outs[0]

    def linear(x, name, din, dout):
        m = node("MatMul", [x, weight(name + ".w", din, dout)], [name + ".mm"])
        return node("Add", [m, weight(name + ".b", dout)], [name + ".out"])

    def layernorm(x, name):
        return node("LayerNormalization",
                    [x, weight(name + ".g", d), weight(name + ".b", d)],
                    [name + ".out"], axis=-1, epsilon=1e-12)

    const("heads_shape", np.array([0, 0, nh_, hd], np.int64))
    const("merge_shape", np.array([0, 0, d], np.int64))
    const("scale", np.float32(np.sqrt(hd)))
    const("sqrt2", np.float32(np.sqrt(2.0)))
    const("one", np.float32(1.0))
    const("half", np.float32(0.5))
    const("zero", np.array(0, np.int64))
    const("one_i", np.array(1, np.int64))
    const("ax0", np.array([0], np.int64))

    emb = node("Gather", [weight("word_emb", a.vocab, d), "input_ids"],
               ["emb.words"])
    shape = node("Shape", ["input_ids"], ["ids.shape"])
    seq = node("Gather", [shape, "one_i"], ["ids.seq"], axis=0)
    pos_ids = node("Range", ["zero", seq, "one_i"], ["pos.ids"])
    pos = node("Gather", [weight("pos_emb", a.max_pos, d), pos_ids],
               ["emb.pos"])
    x = node("Add", [emb, pos], ["emb.sum"])
    x = layernorm(x, "emb.ln")
    for i in range(a.layers):
        p_ = "l%d." % i

        def heads(t, name):
            r = node("Reshape", [t, "heads_shape"], [name + ".r"])
            return node("Transpose", [r], [name + ".t"], perm=[0, 2, 1, 3])

        q = heads(linear(x, p_ + "q", d, d), p_ + "q")
        k = heads(linear(x, p_ + "k", d, d), p_ + "k")
        v = heads(linear(x, p_ + "v", d, d), p_ + "v")
        kt = node("Transpose", [k], [p_ + "kt"], perm=[0, 1, 3, 2])
        s = node("MatMul", [q, kt], [p_ + "scores"])
        s = node("Div", [s, "scale"], [p_ + "scaled"])
        s = node("Softmax", [s], [p_ + "probs"], axis=-1)
        c = node("MatMul", [s, v], [p_ + "ctx"])
        c = node("Transpose", [c], [p_ + "ctx.t"], perm=[0, 2, 1, 3])
        c = node("Reshape", [c, "merge_shape"], [p_ + "ctx.r"])
        o = linear(c, p_ + "o", d, d)
        x = layernorm(node("Add", [x, o], [p_ + "res1"]), p_ + "ln1")
        u = linear(x, p_ + "fc1", d, f)
        g = node("Div", [u, "sqrt2"], [p_ + "g0"])
        g = node("Erf", [g], [p_ + "g1"])
        g = node("Add", [g, "one"], [p_ + "g2"])
        g = node("Mul", [u, g], [p_ + "g3"])
        g = node("Mul", [g, "half"], [p_ + "gelu"])
        o = linear(g, p_ + "fc2", f, d)
        x = layernorm(node("Add", [x, o], [p_ + "res2"]), p_ + "ln2")
    nodes.append(h.make_node("Identity", [x], ["hidden"], name="hidden"))

    graph = h.make_graph(
        nodes, "bert_like",
        [h.make_tensor_value_info("input_ids", T.INT64, ["batch", "seq"])],
        [h.make_tensor_value_info("hidden", T.FLOAT, ["batch", "seq", d])],
        inits)
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 8
    os.makedirs(a.out_dir, exist_ok=True)
    path = os.path.join(a.out_dir, "bert.onnx")
    if a.inline:
        onnx.save_model(model, path)
    else:
        onnx.save_model(model, path, save_as_external_data=True,
                        all_tensors_to_one_file=True, location="bert.data",
                        size_threshold=1024)


if __name__ == "__main__":
    main()
