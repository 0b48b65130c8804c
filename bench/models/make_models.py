"""Benchmark models, exported from PyTorch with fixed seeds.

  make_models.py DIR

writes, with their inputs (NAME.x.npy, ...):
  bert_layer.onnx  one BERT-base encoder layer (d=768, 12 heads, ff=3072,
                   GELU), seq 128, batch 1 (28 MB of weights)
  bert12.onnx      twelve such layers (340 MB: far above the 32 MiB L3)
  decoder12.onnx   a 12-layer GPT-2-style decoder (d=768, 12 heads,
                   ff=3072, tanh GELU) taking one token step with a
                   128-token KV cache per layer, batch 1 (340 MB)
  ffn12.onnx       a stack of 12 FFNs at T5/BERT-base shape (d=768,
                   ff=3072, ReLU then Top-k 128 written as PyTorch's
                   topk + scatter, residual), tokens a dynamic axis
                   (226 MB); inputs ffn12_t{1,16,128}.x.npy
  ffn12_dynq.onnx  ffn12 as ONNX Runtime's quantize_dynamic rewrites it:
                   every projection x W^T + b becomes DynamicQuantizeLinear
                   (x) -> MatMulInteger with int8 weights (symmetric, one
                   scale per tensor, zero point 0) -> Cast -> Mul by x_scale
                   * w_scale -> Add b (57 MB of weights); same inputs
  ffn12_nbits.onnx ffn12 as ONNX Runtime's MatMul4BitsQuantizer rewrites it:
                   every projection becomes com.microsoft:MatMulNBits (int4,
                   block 32, symmetric: default zero point) -> Add b (32 MB
                   of weights and scales); same inputs
  moe_e{8,64}_k{1,2}.onnx
                   ONNX Runtime com.microsoft:MoE layers (d=768, ff=3072,
                   relu, biases, normalized routing; E=8: 151 MB, E=64:
                   1.2 GB, only with --moe64), tokens dynamic; inputs
                   moe_e{E}_t{1,16,128}.{x,router}.npy
"""
import math
import os
import sys

import onnx
from onnx import TensorProto, helper, numpy_helper

import numpy as np
import torch

D, HEADS, FF, SEQ, PAST = 768, 12, 3072, 128, 128
out = sys.argv[1]
experts_list = (8, 64) if "--moe64" in sys.argv else (8,)
os.makedirs(out, exist_ok=True)


class EncoderStack(torch.nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.layers = torch.nn.ModuleList(
            torch.nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0,
                                             activation="gelu",
                                             batch_first=True)
            for _ in range(layers))

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class DecoderLayer(torch.nn.Module):
    """GPT-2 block for one new token attending to a cached past."""

    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = torch.nn.LayerNorm(D), torch.nn.LayerNorm(D)
        self.qkv = torch.nn.Linear(D, 3 * D)
        self.proj = torch.nn.Linear(D, D)
        self.fc, self.fc_out = torch.nn.Linear(D, FF), torch.nn.Linear(FF, D)

    def forward(self, x, past_k, past_v):
        b = x.shape[0]
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=2)
        heads = lambda t: t.view(b, 1, HEADS, D // HEADS).transpose(1, 2)
        q, k, v = heads(q), heads(k), heads(v)
        k = torch.cat([past_k, k], dim=2)
        v = torch.cat([past_v, v], dim=2)
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(D // HEADS), -1)
        x = x + self.proj((att @ v).transpose(1, 2).reshape(b, 1, D))
        h = torch.nn.functional.gelu(self.fc(self.ln2(x)), approximate="tanh")
        return x + self.fc_out(h)


class DecoderStack(torch.nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.layers = torch.nn.ModuleList(DecoderLayer() for _ in range(layers))

    def forward(self, x, past_k, past_v):
        for i, layer in enumerate(self.layers):
            x = layer(x, past_k[i], past_v[i])
        return x


class TopKFFNStack(torch.nn.Module):
    """y = x + W2 TopK_k(relu(W1 x + b1)) + b2, twelve times."""

    def __init__(self, layers, k):
        super().__init__()
        self.k = k
        self.up = torch.nn.ModuleList(torch.nn.Linear(D, FF) for _ in range(layers))
        self.down = torch.nn.ModuleList(torch.nn.Linear(FF, D) for _ in range(layers))

    def forward(self, x):
        for up, down in zip(self.up, self.down):
            h = torch.relu(up(x))
            values, indices = torch.topk(h, self.k, dim=-1)
            h = torch.zeros_like(h).scatter(-1, indices, values)
            x = x + down(h)
        return x


def export(name, model, inputs, names, dynamic_axes=None):
    model.eval()
    # Not under no_grad(): that picks PyTorch's fused fast paths, which have
    # no ONNX export.
    torch.onnx.export(model, inputs, f"{out}/{name}.onnx", input_names=names,
                      output_names=["y"], opset_version=17,
                      dynamic_axes=dynamic_axes)
    for n, t in zip(names, inputs):
        np.save(f"{out}/{name}.{n}.npy", t.numpy())


torch.manual_seed(0)
x = torch.randn(1, SEQ, D)
export("bert_layer", EncoderStack(1), (x,), ["x"])
export("bert12", EncoderStack(12), (x,), ["x"])
token = torch.randn(1, 1, D)
past = torch.randn(12, 1, HEADS, PAST, D // HEADS)
export("decoder12", DecoderStack(12), (token, past, past.clone() * 0.5),
       ["x", "past_k", "past_v"])
export("ffn12", TopKFFNStack(12, 128), (torch.randn(4, D),), ["x"],
       {"x": {0: "tokens"}, "y": {0: "tokens"}})
for tokens in (1, 16, 128):
    np.save(f"{out}/ffn12_t{tokens}.x.npy", torch.randn(tokens, D).numpy())


def rewrite_projections(src, dst, rewrite, extra_opsets=()):
    """Writes `src` with every Gemm(x, W, b, transB=1) of a constant weight
    replaced by the nodes `rewrite(x, w, weight, b, name, output)` returns
    (weight: W as an [N, K] array), with its initializers."""
    model = onnx.load(src)
    inits = {t.name: t for t in model.graph.initializer}
    nodes, used = [], set()
    for node in model.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type != "Gemm" or node.input[1] not in inits or \
                attrs.get("transB", 0) != 1 or attrs.get("transA", 0) != 0:
            nodes.append(node)
            continue
        x, w, b = node.input[0], node.input[1], node.input[2]
        used.add(w)
        new_nodes, new_inits = rewrite(x, w, numpy_helper.to_array(inits[w]),
                                       b, node.name or w, node.output[0])
        nodes += new_nodes
        model.graph.initializer.extend(new_inits)
    kept = [i for i in model.graph.initializer if i.name not in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    model.opset_import.extend(helper.make_opsetid(d, v)
                              for d, v in extra_opsets)
    onnx.checker.check_model(model)
    onnx.save(model, dst)


def dynamic_quantized(x, w, weight, b, name, output):
    """The graph ONNX Runtime's quantize_dynamic emits for x W^T + b (QInt8
    weights, per tensor, symmetric)."""
    weight = weight.T  # [K, N]
    scale = np.float32(np.abs(weight).max() / 127)
    q = np.clip(np.rint(weight / scale), -127, 127).astype(np.int8)
    t = lambda s: f"{name}/{s}"
    nodes = [
        helper.make_node("DynamicQuantizeLinear", [x],
                         [t("xq"), t("xs"), t("xz")], name=t("dql")),
        helper.make_node("MatMulInteger",
                         [t("xq"), f"{w}_quantized", t("xz"),
                          f"{w}_zero_point"], [t("acc")], name=t("mmi")),
        helper.make_node("Cast", [t("acc")], [t("accf")],
                         to=TensorProto.FLOAT, name=t("cast")),
        helper.make_node("Mul", [t("xs"), f"{w}_scale"], [t("s")],
                         name=t("scale")),
        helper.make_node("Mul", [t("accf"), t("s")], [t("y")], name=t("mul")),
        helper.make_node("Add", [t("y"), b], [output], name=t("bias")),
    ]
    return nodes, [
        numpy_helper.from_array(q, f"{w}_quantized"),
        numpy_helper.from_array(np.array(scale, np.float32), f"{w}_scale"),
        numpy_helper.from_array(np.array(0, np.int8), f"{w}_zero_point")]


rewrite_projections(f"{out}/ffn12.onnx", f"{out}/ffn12_dynq.onnx",
                    dynamic_quantized)


def nbits_quantized(x, w, weight, b, name, output, block=32):
    """com.microsoft:MatMulNBits (int4, `block`-wide blocks, symmetric) +
    Add b for x W^T + b: the form of ONNX Runtime's MatMul4BitsQuantizer."""
    n, k = weight.shape
    blocks = weight.reshape(n, k // block, block)
    scale = np.abs(blocks).max(axis=2) / 7 + np.float32(1e-12)
    q = np.clip(np.rint(blocks / scale[..., None]) + 8, 0, 15).astype(np.uint8)
    packed = (q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8)
    nodes = [
        helper.make_node("MatMulNBits", [x, f"{w}_q4", f"{w}_scales"],
                         [f"{name}/y"], name=f"{name}/nbits",
                         domain="com.microsoft", K=k, N=n, bits=4,
                         block_size=block),
        helper.make_node("Add", [f"{name}/y", b], [output],
                         name=f"{name}/bias")]
    return nodes, [
        numpy_helper.from_array(packed, f"{w}_q4"),
        numpy_helper.from_array(scale.astype(np.float32).reshape(-1),
                                f"{w}_scales")]


rewrite_projections(f"{out}/ffn12.onnx", f"{out}/ffn12_nbits.onnx",
                    nbits_quantized, extra_opsets=[("com.microsoft", 1)])


def export_moe(experts, k):
    rng = np.random.default_rng(experts * 10 + k)
    inits = [
        numpy_helper.from_array((rng.standard_normal((experts, FF, D)) /
                                 math.sqrt(D)).astype(np.float32), "fc1"),
        numpy_helper.from_array((rng.standard_normal((experts, FF)) *
                                 0.1).astype(np.float32), "fc1_b"),
        numpy_helper.from_array((rng.standard_normal((experts, D, FF)) /
                                 math.sqrt(FF)).astype(np.float32), "fc2"),
        numpy_helper.from_array((rng.standard_normal((experts, D)) *
                                 0.1).astype(np.float32), "fc2_b"),
    ]
    node = helper.make_node(
        "MoE", ["x", "router", "fc1", "fc1_b", "fc2", "fc2_b"], ["y"],
        domain="com.microsoft", k=k, activation_type="relu",
        normalize_routing_weights=1)
    graph = helper.make_graph(
        [node], "moe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["tokens", D]),
         helper.make_tensor_value_info("router", TensorProto.FLOAT,
                                       ["tokens", experts])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["tokens", D])],
        inits)
    model = helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    onnx.save(model, f"{out}/moe_e{experts}_k{k}.onnx")


for experts in experts_list:
    for k in (1, 2):
        export_moe(experts, k)
    rng = np.random.default_rng(experts)
    for tokens in (1, 16, 128):
        np.save(f"{out}/moe_e{experts}_t{tokens}.x.npy",
                rng.standard_normal((tokens, D)).astype(np.float32))
        np.save(f"{out}/moe_e{experts}_t{tokens}.router.npy",
                rng.standard_normal((tokens, experts)).astype(np.float32))
