#!/usr/bin/env python3
"""Writes the small ONNX models the importer lit tests use.

Usage: models.py <name> <output.onnx>

Every model is built with onnx.helper from fixed seeds; see MODELS below.
"""

import sys

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

RNG = np.random.default_rng(1234)


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def init(name, array):
    return nh.from_array(np.asarray(array), name)


def model(nodes, inputs, outputs, inits=(), opset=17, extra_opsets=()):
    graph = h.make_graph(nodes, "test", inputs, outputs, list(inits))
    opsets = [h.make_opsetid("", opset)] + [
        h.make_opsetid(d, v) for d, v in extra_opsets]
    m = h.make_model(graph, opset_imports=opsets)
    m.ir_version = 8
    # Give outputs declared without a shape the shape ONNX infers.
    if any(not o.type.tensor_type.HasField("shape") for o in graph.output):
        inferred = onnx.shape_inference.infer_shapes(m)
        known = {v.name: v for v in list(inferred.graph.value_info) +
                 list(inferred.graph.output)}
        for o in m.graph.output:
            if not o.type.tensor_type.HasField("shape") and o.name in known:
                o.CopyFrom(known[o.name])
    return m


def vi(name, elem, shape):
    return h.make_tensor_value_info(name, elem, shape)


def N(op, ins, outs, name=None, domain=None, **attrs):
    return h.make_node(op, ins, outs, name=name or outs[0], domain=domain,
                       **attrs)


# --- operator coverage --------------------------------------------------------

def elementwise():
    nodes = [
        N("Add", ["x", "y"], ["add"]),
        N("Sub", ["add", "c"], ["sub"]),
        N("Mul", ["sub", "x"], ["mul"]),
        N("Div", ["mul", "c"], ["div"]),
        N("Abs", ["div"], ["abs"]),
        N("Sqrt", ["abs"], ["sqrt"]),
        N("Pow", ["sqrt", "two"], ["pow"]),
        N("Reciprocal", ["pow"], ["rcp"]),
        N("Exp", ["rcp"], ["exp"]),
        N("Log", ["exp"], ["log"]),
        N("Erf", ["log"], ["erf"]),
        N("Tanh", ["erf"], ["tanh"]),
        N("Sigmoid", ["tanh"], ["sig"]),
        N("Relu", ["sig"], ["relu"]),
        N("LeakyRelu", ["relu"], ["leaky"], alpha=0.1),
        N("Greater", ["leaky", "c"], ["gt"]),
        N("Less", ["leaky", "c"], ["lt"]),
        N("GreaterOrEqual", ["leaky", "c"], ["ge"]),
        N("Equal", ["gt", "lt"], ["eq"]),
        N("Not", ["eq"], ["not"]),
        N("Where", ["not", "leaky", "x"], ["where"]),
        N("Cast", ["ge"], ["out"], to=T.FLOAT),
        N("Add", ["out", "where"], ["z"]),
    ]
    return model(nodes, [vi("x", T.FLOAT, [2, 3, 4]), vi("y", T.FLOAT, [4])],
                 [vi("z", T.FLOAT, [2, 3, 4])],
                 [init("c", np.float32(0.5)), init("two", np.float32(2.0))])


def reductions():
    nodes = [
        N("ReduceMean", ["x"], ["mean"], axes=[-1], keepdims=1),
        N("ReduceSum", ["x", "axes"], ["sum"], keepdims=0),
        N("ReduceMax", ["x"], ["max"], axes=[1], keepdims=0),
        N("Softmax", ["x"], ["sm"], axis=-1),
        N("LogSoftmax", ["x"], ["lsm"], axis=1),
        N("LayerNormalization", ["x", "g", "b"], ["ln"], axis=-1,
          epsilon=1e-5),
    ]
    return model(nodes, [vi("x", T.FLOAT, ["n", 3, 8])],
                 [vi(n, T.FLOAT, None) for n in
                  ["mean", "sum", "max", "sm", "lsm", "ln"]],
                 [init("axes", np.array([0, 2], np.int64)),
                  init("g", f32(8)), init("b", f32(8))])


def shapes():
    nodes = [
        N("Transpose", ["x"], ["t"], perm=[0, 2, 1]),
        N("Shape", ["t"], ["shape"]),
        N("Gather", ["shape", "zero"], ["d0"], axis=0),
        N("Unsqueeze", ["d0", "zero1"], ["d0u"]),
        N("Concat", ["d0u", "minus1"], ["newshape"], axis=0),
        N("Reshape", ["t", "newshape"], ["r"]),
        N("Flatten", ["x"], ["flat"], axis=1),
        N("Unsqueeze", ["r", "zero1"], ["u"]),
        N("Squeeze", ["u", "zero1"], ["s"]),
        N("Concat", ["s", "s"], ["cat"], axis=1),
        N("Split", ["cat", "split"], ["p0", "p1"], axis=1),
        N("Slice", ["p0", "starts", "ends", "axes", "steps"], ["sl"]),
        N("Expand", ["b", "eshape"], ["ex"]),
        N("ConstantOfShape", ["eshape"], ["zeros"],
          value=h.make_tensor("v", T.FLOAT, [1], [0.0])),
        N("Add", ["ex", "zeros"], ["exz"]),
        N("Range", ["r0", "r1", "r2"], ["range"]),
        N("Identity", ["sl"], ["id"]),
        N("Dropout", ["id"], ["drop"]),
    ]
    return model(nodes, [vi("x", T.FLOAT, [2, 3, 4]),
                         vi("b", T.FLOAT, [1, 4])],
                 [vi("drop", T.FLOAT, [2, 5]), vi("flat", T.FLOAT, [2, 12]),
                  vi("p1", T.FLOAT, [2, 14]), vi("exz", T.FLOAT, [3, 4]),
                  vi("range", T.INT64, [4])],
                 [init("zero", np.array(0, np.int64)),
                  init("zero1", np.array([0], np.int64)),
                  init("minus1", np.array([-1], np.int64)),
                  init("split", np.array([10, 14], np.int64)),
                  init("starts", np.array([1], np.int64)),
                  init("ends", np.array([1000], np.int64)),
                  init("axes", np.array([1], np.int64)),
                  init("steps", np.array([2], np.int64)),
                  init("eshape", np.array([3, 4], np.int64)),
                  init("r0", np.array(0, np.int64)),
                  init("r1", np.array(10, np.int64)),
                  init("r2", np.array(3, np.int64))])


def dynamic_reshape():
    """PyTorch's multi-head split with a dynamic batch and sequence."""
    nodes = [
        N("Shape", ["x"], ["shape"]),
        N("Gather", ["shape", "i0"], ["b"], axis=0),
        N("Gather", ["shape", "i1"], ["s"], axis=0),
        N("Unsqueeze", ["b", "ax0"], ["bu"]),
        N("Unsqueeze", ["s", "ax0"], ["su"]),
        N("Concat", ["bu", "su", "heads"], ["newshape"], axis=0),
        N("Reshape", ["x", "newshape"], ["y"]),
    ]
    return model(nodes, [vi("x", T.FLOAT, ["batch", "seq", 64])],
                 [vi("y", T.FLOAT, ["batch", "seq", 4, 16])],
                 [init("i0", np.array(0, np.int64)),
                  init("i1", np.array(1, np.int64)),
                  init("ax0", np.array([0], np.int64)),
                  init("heads", np.array([4, 16], np.int64))])


def indexing():
    nodes = [
        N("Gather", ["table", "ids"], ["emb"], axis=0),
        N("GatherElements", ["x", "gidx"], ["ge"], axis=1),
        N("ScatterElements", ["x", "gidx", "ge"], ["sc"], axis=1),
        N("TopK", ["x", "k"], ["vals", "idx"], axis=-1),
        N("ArgMax", ["x"], ["am"], axis=1, keepdims=0),
        N("OneHot", ["ids", "depth", "onoff"], ["oh"], axis=-1),
        N("Trilu", ["x"], ["tri"], upper=0),
    ]
    return model(nodes, [vi("x", T.FLOAT, [3, 5]),
                         vi("ids", T.INT64, [2, 3])],
                 [vi(n, None, None) if False else
                  h.make_tensor_value_info(n, e, None) for n, e in
                  [("emb", T.FLOAT), ("sc", T.FLOAT), ("vals", T.FLOAT),
                   ("idx", T.INT64), ("am", T.INT64), ("oh", T.FLOAT),
                   ("tri", T.FLOAT)]],
                 [init("table", f32(10, 4)),
                  init("gidx", np.array([[0, 1], [2, 3], [4, 0]], np.int64)),
                  init("k", np.array([2], np.int64)),
                  init("depth", np.array(10, np.int64)),
                  init("onoff", np.array([0.0, 1.0], np.float32))])


def matmuls():
    nodes = [
        N("MatMul", ["x3", "w"], ["mm3"]),
        N("MatMul", ["a4", "b4"], ["bmm"]),
        N("Gemm", ["x2", "wt", "bias"], ["gemm"], transB=1, alpha=0.5,
          beta=2.0),
        N("Einsum", ["a4", "b4"], ["ein"], equation="bhij,bhjk->bhik"),
        N("Einsum", ["x3", "w"], ["ein2"], equation="...d,df->...f"),
        N("MatMulInteger", ["qa", "qb", "za", "zb"], ["mmi"]),
        N("DequantizeLinear", ["qw", "scale", "zp"], ["deq"], axis=0),
        N("QuantizeLinear", ["x2", "qscale", "qzp"], ["q"]),
    ]
    return model(nodes, [vi("x3", T.FLOAT, ["b", 5, 8]),
                         vi("a4", T.FLOAT, [2, 3, 4, 6]),
                         vi("b4", T.FLOAT, [2, 3, 6, 5]),
                         vi("x2", T.FLOAT, [4, 8]),
                         vi("qa", T.UINT8, [4, 8])],
                 [h.make_tensor_value_info(n, e, None) for n, e in
                  [("mm3", T.FLOAT), ("bmm", T.FLOAT), ("gemm", T.FLOAT),
                   ("ein", T.FLOAT), ("ein2", T.FLOAT), ("mmi", T.INT32),
                   ("deq", T.FLOAT), ("q", T.UINT8)]],
                 [init("w", f32(8, 16)), init("wt", f32(16, 8)),
                  init("bias", f32(16)),
                  init("qb", RNG.integers(-128, 127, (8, 3), dtype=np.int8)),
                  init("za", np.array(3, np.uint8)),
                  init("zb", np.array(0, np.int8)),
                  init("qw", RNG.integers(-128, 127, (3, 4), dtype=np.int8)),
                  init("scale", np.array([0.1, 0.2, 0.3], np.float32)),
                  init("zp", np.array([0, 1, 2], np.int8)),
                  init("qscale", np.array(0.05, np.float32)),
                  init("qzp", np.array(128, np.uint8))])


def dynamic_quantize():
    # The form ONNX Runtime's quantize_dynamic gives a MatMul.
    nodes = [
        N("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"], name="dql"),
        N("MatMulInteger", ["xq", "wq", "xz"], ["acc"]),
        N("Cast", ["acc"], ["accf"], to=T.FLOAT),
        N("Mul", ["xs", "ws"], ["s"]),
        N("Mul", ["accf", "s"], ["y"]),
    ]
    return model(nodes, [vi("x", T.FLOAT, ["n", 8])],
                 [vi("y", T.FLOAT, ["n", 4]), vi("xq", T.UINT8, ["n", 8]),
                  vi("xs", T.FLOAT, []), vi("xz", T.UINT8, [])],
                 [init("wq", RNG.integers(-127, 127, (8, 4), dtype=np.int8)),
                  init("ws", np.array(0.02, np.float32))])


def dtypes():
    nodes = [
        N("Add", ["h16", "h16"], ["h"]),
        N("Mul", ["bf", "bf"], ["bfo"]),
        N("Add", ["i64", "i64"], ["ia"]),
        N("Div", ["i32", "i32c"], ["idiv"]),
        N("And", ["bo", "bo"], ["band"]),
        N("Cast", ["u8"], ["u8f"], to=T.FLOAT),
    ]
    return model(nodes, [vi("h16", T.FLOAT16, [4]), vi("bf", T.BFLOAT16, [4]),
                         vi("i64", T.INT64, [4]), vi("i32", T.INT32, [4]),
                         vi("bo", T.BOOL, [4]), vi("u8", T.UINT8, [4])],
                 [vi("h", T.FLOAT16, [4]), vi("bfo", T.BFLOAT16, [4]),
                  vi("ia", T.INT64, [4]), vi("idiv", T.INT32, [4]),
                  vi("band", T.BOOL, [4]), vi("u8f", T.FLOAT, [4])],
                 [init("i32c", np.array([2, 2, 2, 2], np.int32))])


# --- raising patterns ---------------------------------------------------------

def ffn_nodes(x, act, prefix="", d=16, f=64, gemm=False, bias=True,
              topk=None, up_bias_shape=None):
    """MatMul/Gemm -> Add -> act -> [top-k] -> MatMul/Gemm -> Add."""
    p = prefix
    inits = []
    nodes = []
    if gemm:
        inits += [init(p + "w1", f32(f, d)), init(p + "w2", f32(d, f)),
                  init(p + "b1", f32(f)), init(p + "b2", f32(d))]
        nodes.append(N("Gemm", [x, p + "w1", p + "b1"], [p + "u"], transB=1))
    else:
        inits += [init(p + "w1", f32(d, f)), init(p + "w2", f32(f, d))]
        nodes.append(N("MatMul", [x, p + "w1"], [p + "m1"]))
        if bias:
            inits.append(init(p + "b1", f32(*(up_bias_shape or [f]))))
            nodes.append(N("Add", [p + "m1", p + "b1"], [p + "u"]))
        else:
            nodes.append(N("Identity", [p + "m1"], [p + "u"]))
    u = p + "u"
    if act == "relu":
        nodes.append(N("Relu", [u], [p + "a"]))
    elif act == "gelu":
        inits += [init(p + "sqrt2", np.float32(np.sqrt(2.0))),
                  init(p + "one", np.float32(1.0)),
                  init(p + "half", np.float32(0.5))]
        nodes += [N("Div", [u, p + "sqrt2"], [p + "g0"]),
                  N("Erf", [p + "g0"], [p + "g1"]),
                  N("Add", [p + "g1", p + "one"], [p + "g2"]),
                  N("Mul", [u, p + "g2"], [p + "g3"]),
                  N("Mul", [p + "g3", p + "half"], [p + "a"])]
    elif act == "silu":
        nodes += [N("Sigmoid", [u], [p + "s"]),
                  N("Mul", [u, p + "s"], [p + "a"])]
    elif act == "sigmoid":
        nodes.append(N("Sigmoid", [u], [p + "a"]))
    a = p + "a"
    if topk:
        inits.append(init(p + "k", np.array([topk], np.int64)))
        nodes += [N("TopK", [a, p + "k"], [p + "tv", p + "ti"], axis=-1),
                  N("Shape", [a], [p + "ash"]),
                  N("ConstantOfShape", [p + "ash"], [p + "zeros"]),
                  N("ScatterElements", [p + "zeros", p + "ti", p + "tv"],
                    [p + "h"], axis=-1)]
        a = p + "h"
    if gemm:
        nodes.append(N("Gemm", [a, p + "w2", p + "b2"], [p + "y"], transB=1))
    else:
        nodes.append(N("MatMul", [a, p + "w2"], [p + "m2"]))
        if bias:
            inits.append(init(p + "b2", f32(d)))
            nodes.append(N("Add", [p + "m2", p + "b2"], [p + "y"]))
        else:
            nodes.append(N("Identity", [p + "m2"], [p + "y"]))
    return nodes, inits


def ffn_model(act, gemm=False, topk=None, **kw):
    shape = [4, 16] if gemm else ["batch", "seq", 16]
    nodes, inits = ffn_nodes("x", act, gemm=gemm, topk=topk, **kw)
    return model(nodes, [vi("x", T.FLOAT, shape)],
                 [vi("y", T.FLOAT, shape)], inits)


def ffn_relu_used_elsewhere():
    nodes, inits = ffn_nodes("x", "relu")
    nodes.append(N("ReduceSum", ["a", "rax"], ["density"], keepdims=0))
    inits.append(init("rax", np.array([-1], np.int64)))
    return model(nodes, [vi("x", T.FLOAT, [2, 16])],
                 [vi("y", T.FLOAT, [2, 16]), vi("density", T.FLOAT, [2])],
                 inits)


def topk_scatter(axis=-1, rank=2):
    shape = [4, 32] if rank == 2 else [2, 4, 32]
    nodes = [N("TopK", ["x", "k"], ["v", "i"], axis=axis),
             N("Shape", ["x"], ["sh"]),
             N("ConstantOfShape", ["sh"], ["z"]),
             N("ScatterElements", ["z", "i", "v"], ["y"], axis=axis)]
    return model(nodes, [vi("x", T.FLOAT, shape)], [vi("y", T.FLOAT, shape)],
                 [init("k", np.array([3], np.int64))])


def topk_threshold(form):
    """kth = TopK(x).values[..., k-1:k]; mask = x >= kth; where/mul."""
    nodes = [N("TopK", ["x", "k"], ["v", "i"], axis=-1)]
    if form == "gather":  # values[..., -1] then unsqueeze
        nodes += [N("Gather", ["v", "last"], ["kth0"], axis=-1),
                  N("Unsqueeze", ["kth0", "ax"], ["kth"])]
        form = "where"
    else:
        nodes.append(N("Slice", ["v", "s", "e", "ax"], ["kth"]))
    inits = [init("k", np.array([4], np.int64)),
             init("s", np.array([3], np.int64)),
             init("e", np.array([4], np.int64)),
             init("ax", np.array([-1], np.int64)),
             init("last", np.array(-1, np.int64)),
             init("zero", np.float32(0.0))]
    if form == "where":
        nodes += [N("GreaterOrEqual", ["x", "kth"], ["m"]),
                  N("Where", ["m", "x", "zero"], ["y"])]
    elif form == "mul":
        nodes += [N("GreaterOrEqual", ["x", "kth"], ["m"]),
                  N("Cast", ["m"], ["mf"], to=T.FLOAT),
                  N("Mul", ["x", "mf"], ["y"])]
    elif form == "notless":
        nodes += [N("Less", ["x", "kth"], ["lt"]),
                  N("Where", ["lt", "zero", "x"], ["y"])]
    elif form == "greater":  # near miss: strict comparison keeps k-1
        nodes += [N("Greater", ["x", "kth"], ["m"]),
                  N("Where", ["m", "x", "zero"], ["y"])]
    return model(nodes, [vi("x", T.FLOAT, [2, 16])],
                 [vi("y", T.FLOAT, [2, 16])], inits)


def router(normalize=True, gemm=False):
    """logits = x W (+b); p = softmax(logits); gates, ids = topk(p, 2)."""
    nodes = []
    inits = [init("k", np.array([2], np.int64))]
    if gemm:
        inits += [init("wr", f32(8, 16)), init("br", f32(8))]
        nodes.append(N("Gemm", ["x", "wr", "br"], ["logits"], transB=1))
        xshape = [6, 16]
    else:
        inits += [init("wr", f32(16, 8))]
        nodes.append(N("MatMul", ["x", "wr"], ["logits"]))
        xshape = [2, 3, 16]
    nodes += [N("Softmax", ["logits"], ["p"], axis=-1),
              N("TopK", ["p", "k"], ["g", "ids"], axis=-1)]
    out = "g"
    if normalize:
        inits.append(init("rax", np.array([-1], np.int64)))
        nodes += [N("ReduceSum", ["g", "rax"], ["gs"], keepdims=1),
                  N("Div", ["g", "gs"], ["gn"])]
        out = "gn"
    return model(nodes, [vi("x", T.FLOAT, xshape)],
                 [vi(out, T.FLOAT, None), vi("ids", T.INT64, None)], inits)


# --- custom domains -----------------------------------------------------------

def ms_moe(activation="relu", k=2, normalize=1, fusion=0, fc3=False,
           sparse_mixer=0, biases=True, experts=4, hidden=8, inter=16,
           rank=2):
    fusion_factor = 2 if fusion else 1
    inputs = ["x", "router", "fc1"]
    inits = [init("fc1", f32(experts, fusion_factor * inter, hidden)),
             init("fc2", f32(experts, hidden, inter))]
    if biases:
        inits += [init("b1", f32(experts, fusion_factor * inter)),
                  init("b2", f32(experts, hidden))]
    inputs += ["b1" if biases else "", "fc2", "b2" if biases else ""]
    if fc3:
        inits.append(init("fc3", f32(experts, inter, hidden)))
        inputs.append("fc3")
    attrs = dict(k=k, activation_type=activation,
                 normalize_routing_weights=normalize)
    if fusion:
        attrs["swiglu_fusion"] = fusion
    if sparse_mixer:
        attrs["use_sparse_mixer"] = sparse_mixer
    node = N("MoE", inputs, ["y"], name="moe", domain="com.microsoft",
             **attrs)
    xshape = [6, hidden] if rank == 2 else [2, 3, hidden]
    return model([node], [vi("x", T.FLOAT, xshape),
                          vi("router", T.FLOAT, [6, experts])],
                 [vi("y", T.FLOAT, xshape)], inits,
                 extra_opsets=[("com.microsoft", 1)])


# --- ONNX Runtime contrib operators -------------------------------------------

MS = [("com.microsoft", 1)]


def contrib_bert_ffn():
    """The FFN of a BERT layer as ONNX Runtime's optimizer leaves it."""
    nodes = [N("MatMul", ["x", "w1"], ["h"]),
             N("BiasGelu", ["h", "b1"], ["g"], domain="com.microsoft"),
             N("MatMul", ["g", "w2"], ["o"]),
             N("SkipLayerNormalization", ["o", "x", "gamma", "beta", "b2"],
               ["y"], domain="com.microsoft", epsilon=1e-12)]
    return model(nodes, [vi("x", T.FLOAT, [2, 3, 8])],
                 [vi("y", T.FLOAT, [2, 3, 8])],
                 [init("w1", f32(8, 32)), init("b1", f32(32)),
                  init("w2", f32(32, 8)), init("b2", f32(8)),
                  init("gamma", f32(8)), init("beta", f32(8))],
                 extra_opsets=MS)


def contrib_rms_norm():
    """SimplifiedLayerNormalization lives in the default domain."""
    nodes = [N("SimplifiedLayerNormalization", ["x", "g"], ["y"], epsilon=1e-6)]
    return model(nodes, [vi("x", T.FLOAT, [4, 8])], [vi("y", T.FLOAT, [4, 8])],
                 [init("g", f32(8))])


def contrib_fused_matmul():
    nodes = [N("FusedMatMul", ["a", "b"], ["y"], domain="com.microsoft",
               alpha=0.25, transB=1)]
    return model(nodes, [vi("a", T.FLOAT, [3, 8]), vi("b", T.FLOAT, [5, 8])],
                 [vi("y", T.FLOAT, [3, 5])], extra_opsets=MS)


def contrib_bad(op, inputs, attrs=None, outputs=("y",)):
    """One contrib node over float inputs given as {name: shape}."""
    nodes = [N(op, list(inputs), list(outputs), name="bad",
               domain="com.microsoft", **(attrs or {}))]
    ins = [vi(n, T.FLOAT, shape) for n, shape in inputs.items() if n]
    return model(nodes, ins, [vi(o, T.FLOAT, [2, 3, 8]) for o in outputs if o],
                 extra_opsets=MS)


def contrib_int_gelu():
    nodes = [N("Gelu", ["x"], ["y"], name="bad", domain="com.microsoft")]
    return model(nodes, [vi("x", T.INT32, [4])], [vi("y", T.INT32, [4])],
                 extra_opsets=MS)


# --- bad inputs ---------------------------------------------------------------

def unsupported_ops():
    nodes = [N("Relu", ["x"], ["a"], name="ok"),
             N("NonMaxSuppression", ["a", "w"], ["b"], name="nms0"),
             N("Unique", ["b"], ["c"], name="unique0"),
             N("FancyOp", ["c"], ["y"], name="fancy", domain="org.example")]
    return model(nodes, [vi("x", T.FLOAT, [1, 1, 4, 4])],
                 [vi("y", T.FLOAT, [1, 1, 4, 4])], [init("w", f32(1, 1, 1, 1))],
                 extra_opsets=[("org.example", 1)])


def missing_initializer():
    nodes = [N("MatMul", ["x", "w_missing"], ["y"], name="proj")]
    return model(nodes, [vi("x", T.FLOAT, [2, 4])], [vi("y", T.FLOAT, [2, 4])])


def cycle():
    nodes = [N("Add", ["x", "b"], ["a"], name="first"),
             N("Relu", ["a"], ["b"], name="second")]
    return model(nodes, [vi("x", T.FLOAT, [2])], [vi("b", T.FLOAT, [2])])


def old_opset():
    return model([N("Relu", ["x"], ["y"])], [vi("x", T.FLOAT, [2])],
                 [vi("y", T.FLOAT, [2])], opset=0)


def recurrent(op="LSTM", gates=4, seq=5, batch=2, inp=3, hidden=4,
              w_shape=None, lens=False, **attrs):
    """One recurrent node; W, R, B constant, X [seq, batch, inp]."""
    dirs = 2 if attrs.get("direction") == "bidirectional" else 1
    inits = [init("W", f32(*(w_shape or [dirs, gates * hidden, inp]))),
             init("R", f32(dirs, gates * hidden, hidden)),
             init("B", f32(dirs, 2 * gates * hidden))]
    inputs = [vi("X", T.FLOAT, [seq, batch, inp])]
    names = ["X", "W", "R", "B"]
    if lens:
        inputs.append(vi("lens", T.INT32, [batch]))
        names.append("lens")
    return model([N(op, names, ["Y", "Y_h"], name="rnn", hidden_size=hidden,
                    **attrs)], inputs, [vi("Y", T.FLOAT, None),
                                        vi("Y_h", T.FLOAT, None)], inits)


def if_model(then_rows=3, else_rows=3, else_type=T.FLOAT, cond_input=True):
    """If over x [3, 4]: then concatenates `then_rows / 3` copies of x, else
    returns x (or Cast to `else_type`); cond is an input or a constant."""
    def branch(name, rows, elem=T.FLOAT):
        if rows == 3 and elem == T.FLOAT:
            nodes = [N("Identity", ["x"], [name + "_y"])]
        elif rows == 3:
            nodes = [N("Cast", ["x"], [name + "_y"], to=elem)]
        else:
            nodes = [N("Concat", ["x"] * (rows // 3), [name + "_y"], axis=0)]
        return h.make_graph(nodes, name, [],
                            [vi(name + "_y", elem, [rows, 4])])
    inputs = [vi("x", T.FLOAT, [3, 4])]
    inits = []
    if cond_input:
        inputs.append(vi("c", T.BOOL, []))
    else:
        inits.append(init("c", np.array(False)))
    return model([N("If", ["c"], ["y"], name="if",
                    then_branch=branch("then", then_rows),
                    else_branch=branch("else", else_rows, else_type))],
                 inputs, [vi("y", T.FLOAT, [None, 4])], inits)


def fold_rounding():
    """Ceil, Floor, Relu and Abs of constants (a Range expansion's trip
    count), folded at import time."""
    c = init("c", np.array([-1.5, 0.25, 2.0], np.float32))
    k = init("k", np.array([-3, 4], np.int64))
    ops = ["Ceil", "Floor", "Relu", "Abs"]
    nodes = [N(op, ["c"], [op.lower()]) for op in ops]
    nodes += [N("Abs", ["k"], ["abs_int"]), N("Relu", ["k"], ["relu_int"])]
    outs = [vi(op.lower(), T.FLOAT, [3]) for op in ops]
    outs += [vi("abs_int", T.INT64, [2]), vi("relu_int", T.INT64, [2])]
    return model(nodes, [], outs, [c, k])


def loop_model(kind):
    """Loop over x [2, 3]. "counted": 4 steps of x = tanh(x) + x[0] with
    every x stacked; "while": halve x until its sum is at most 1; "grow":
    a carried value that grows each step; "endless": no trip count and a
    constant true condition; "while_scan": a runtime condition with a scan
    output."""
    body_in = [vi("i", T.INT64, []), vi("cond_in", T.BOOL, []),
               vi("v", T.FLOAT, [2, 3])]
    if kind == "counted":
        nodes = [N("Identity", ["cond_in"], ["cond_out"]),
                 N("Tanh", ["v"], ["t"]),
                 N("Gather", ["x", "zero"], ["row"], axis=0),
                 N("Add", ["t", "row"], ["v_out"]),
                 N("Identity", ["v_out"], ["scan"])]
        outs = [vi("cond_out", T.BOOL, []), vi("v_out", T.FLOAT, [2, 3]),
                vi("scan", T.FLOAT, [2, 3])]
    elif kind == "grow":
        nodes = [N("Identity", ["cond_in"], ["cond_out"]),
                 N("Concat", ["v", "v"], ["v_out"], axis=0)]
        outs = [vi("cond_out", T.BOOL, []), vi("v_out", T.FLOAT, [4, 3])]
    elif kind in ("while", "endless", "while_scan"):
        nodes = [N("Mul", ["v", "half"], ["v_out"]),
                 N("ReduceSum", ["v_out"], ["sum"], keepdims=0),
                 N("Greater", ["sum", "one"], ["cond_out"])]
        outs = [vi("cond_out", T.BOOL, []), vi("v_out", T.FLOAT, [2, 3])]
        if kind == "endless":
            nodes[2] = N("Constant", [], ["cond_out"],
                         value=h.make_tensor("t", T.BOOL, [], [True]))
        if kind == "while_scan":
            nodes.append(N("Identity", ["v_out"], ["scan"]))
            outs.append(vi("scan", T.FLOAT, [2, 3]))
    body = h.make_graph(nodes, "body", body_in, outs)
    trip = "M" if kind in ("counted", "grow") else ""
    loop_outs = ["y", "ys"] if len(outs) == 3 else ["y"]
    inits = [init("M", np.array(4, np.int64)),
             init("zero", np.array(0, np.int64)),
             init("half", np.array(0.5, np.float32)),
             init("one", np.array(1.0, np.float32))]
    return model([N("Loop", [trip, "", "x"], loop_outs, name="loop",
                    body=body)],
                 [vi("x", T.FLOAT, [2, 3])],
                 [vi("y", T.FLOAT, [None, 3]), vi("ys", T.FLOAT, [4, 2, 3])
                  ][:len(loop_outs)], inits, opset=13)


def scan_model(opset=16, lens=False, second_length=5):
    """Scan: a running sum over the rows of xs [5, 3] (Scan-8: [1, 5, 3]),
    optionally a second scan input whose length is `second_length`;
    `lens` gives Scan-8 a runtime sequence_lens input."""
    batch = [1] if opset < 9 else []
    body_in = [vi("acc", T.FLOAT, [3]), vi("row", T.FLOAT, [3])]
    nodes = [N("Add", ["acc", "row"], ["acc_out"]),
             N("Identity", ["acc_out"], ["scan"])]
    ins = ["acc0", "xs"]
    inputs = [vi("acc0", T.FLOAT, batch + [3]),
              vi("xs", T.FLOAT, batch + [5, 3])]
    if second_length != 5:
        body_in.append(vi("row2", T.FLOAT, [3]))
        ins.append("xs2")
        inputs.append(vi("xs2", T.FLOAT, [second_length, 3]))
    body = h.make_graph(nodes, "body", body_in,
                        [vi("acc_out", T.FLOAT, [3]),
                         vi("scan", T.FLOAT, [3])])
    if opset < 9:
        ins = ["lens" if lens else ""] + ins
        if lens:
            inputs.append(vi("lens", T.INT64, [1]))
    return model([N("Scan", ins, ["acc_last", "accs"], name="scan", body=body,
                    num_scan_inputs=len(ins) - 1 - (opset < 9))],
                 inputs, [vi("acc_last", T.FLOAT, batch + [3]),
                          vi("accs", T.FLOAT, batch + [5, 3])], opset=opset)


def legacy(op, inputs, out_shape, opset=6, inits=(), out_type=T.FLOAT,
           **attrs):
    """One `op` node at a default-domain opset before 7."""
    return model([N(op, list(inputs), ["y"], name="legacy", **attrs)],
                 [vi(n, T.FLOAT, shape) for n, shape in inputs.items()
                  if n not in {i.name for i in inits}],
                 [vi("y", out_type, out_shape)], list(inits), opset=opset)


def new_opset():
    m = model([N("Relu", ["x"], ["y"])], [vi("x", T.FLOAT, [2])],
              [vi("y", T.FLOAT, [2])], opset=27)
    return m


def string_input():
    return model([N("Identity", ["x"], ["y"])], [vi("x", T.STRING, [2])],
                 [vi("y", T.STRING, [2])])


def unranked_input():
    x = onnx.ValueInfoProto()
    x.name = "x"
    x.type.tensor_type.elem_type = T.FLOAT
    return model([N("Relu", ["x"], ["y"])], [x], [vi("y", T.FLOAT, [2])])


def bad_matmul():
    return model([N("MatMul", ["x", "w"], ["y"], name="mm")],
                 [vi("x", T.FLOAT, [2, 3])], [vi("y", T.FLOAT, [2, 5])],
                 [init("w", f32(4, 5))])


def slice_scalar():
    # Found by the importer fuzzer: a Slice of a rank-0 tensor.
    return model([N("Slice", ["x", "s", "e"], ["y"], name="sl")],
                 [vi("x", T.FLOAT, [])], [vi("y", T.FLOAT, [])],
                 [init("s", np.array([0], np.int64)),
                  init("e", np.array([1], np.int64))])


def bad_transpose_perm():
    # Found by the importer fuzzer: libonnx's shape inference (with data
    # propagation) crashes on a perm that is not a permutation.
    return model([N("Transpose", ["x"], ["t"], name="t", perm=[6, 2, 1]),
                  N("Shape", ["t"], ["y"], name="s")],
                 [vi("x", T.FLOAT, [2, 3, 4])], [vi("y", T.INT64, [3])])


def dynamic_quantize_int():
    return model([N("DynamicQuantizeLinear", ["x"], ["y", "s", "z"],
                    name="dql_int")],
                 [vi("x", T.INT32, [4])],
                 [vi("y", T.UINT8, [4]), vi("s", T.FLOAT, []),
                  vi("z", T.UINT8, [])])


def dynamic_quantize_two_inputs():
    return model([N("DynamicQuantizeLinear", ["x", "x"], ["y", "s", "z"],
                    name="dql2")],
                 [vi("x", T.FLOAT, [4])],
                 [vi("y", T.UINT8, [4]), vi("s", T.FLOAT, []),
                  vi("z", T.UINT8, [])])


def dynamic_axes_slice():
    return model([N("Slice", ["x", "s", "e", "a"], ["y"], name="slice")],
                 [vi("x", T.FLOAT, [4, 4]), vi("a", T.INT64, [1])],
                 [vi("y", T.FLOAT, [4, 2])],
                 [init("s", np.array([1], np.int64)),
                  init("e", np.array([3], np.int64))])

# --- opsets 18 to 26 ------------------------------------------------------------

# The IR version each opset's ONNX release wrote.
NEWER_IR = {18: 8, 19: 9, 20: 9, 21: 10, 23: 11, 24: 11, 26: 13}


def newer(nodes, inputs, outputs, inits=(), opset=18):
    """A model at a default-domain opset Debian's onnx package does not know:
    every output needs its shape (no Python shape inference)."""
    m = model(nodes, inputs, outputs, inits, opset=opset)
    m.ir_version = NEWER_IR.get(opset, 8)
    return m


def opset18_reduce_mean():
    return newer([N("ReduceMean", ["x", "axes"], ["y"], keepdims=0)],
                 [vi("x", T.FLOAT, [2, 3, 4])], [vi("y", T.FLOAT, [2, 4])],
                 [init("axes", np.array([1], np.int64))])


def opset18_split(outputs=3, num_outputs=3, with_sizes=False):
    ins = ["x", "sizes"] if with_sizes else ["x"]
    names = ["y%d" % i for i in range(outputs)]
    inits = [init("sizes", np.array([5, 5], np.int64))] if with_sizes else []
    return newer([N("Split", ins, names, name="split", axis=1,
                    num_outputs=num_outputs)],
                 [vi("x", T.FLOAT, [2, 10])],
                 [vi(n, T.FLOAT, [2, None]) for n in names], inits)


def opset18_reduce_runtime_axes():
    return newer([N("ReduceMax", ["x", "axes"], ["y"], name="rmax")],
                 [vi("x", T.FLOAT, [2, 3]), vi("axes", T.INT64, [1])],
                 [vi("y", T.FLOAT, [None, None])])


def gelu(opset, approximate="tanh"):
    return newer([N("Gelu", ["x"], ["y"], name="gelu",
                    approximate=approximate)],
                 [vi("x", T.FLOAT, [4, 8])], [vi("y", T.FLOAT, [4, 8])],
                 opset=opset)


def opset23_rms_norm():
    return newer([N("RMSNormalization", ["x", "s"], ["y"], axis=-1,
                    epsilon=1e-6)],
                 [vi("x", T.FLOAT, [2, 5, 8])], [vi("y", T.FLOAT, [2, 5, 8])],
                 [init("s", f32(8))], opset=23)


def cumsum(runtime_axis=False, op="CumSum", opset=14):
    inputs = [vi("x", T.FLOAT, [3, 6])]
    inits = []
    if runtime_axis:
        inputs.append(vi("axis", T.INT64, []))
    else:
        inits.append(init("axis", np.array(1, np.int64)))
    return newer([N(op, ["x", "axis"], ["y"], name="cum", exclusive=1,
                    reverse=1)],
                 inputs, [vi("y", T.FLOAT, [3, 6])], inits, opset=opset)


def opset21_dequantize_blocked(scale_blocks=2):
    return newer([N("DequantizeLinear", ["w", "s"], ["y"], name="dq", axis=1,
                    block_size=4)],
                 [vi("w", T.INT8, [6, 8])], [vi("y", T.FLOAT, [6, 8])],
                 [init("s", np.abs(f32(6, scale_blocks)) + 0.1)], opset=21)


def ir_version_14():
    m = newer([N("Relu", ["x"], ["y"])], [vi("x", T.FLOAT, [2])],
              [vi("y", T.FLOAT, [2])], opset=26)
    m.ir_version = 14
    return m



# --- model-local functions -----------------------------------------------------

def local_function_model(kind):
    """Calls of model-local functions: `ok` (a scaled Relu called twice with
    different `alpha` attributes) or one of the malformed forms."""
    d = "pkg.local"
    alpha = onnx.AttributeProto()
    alpha.name, alpha.ref_attr_name = "value_float", "alpha"
    alpha.type = onnx.AttributeProto.FLOAT
    const = h.make_node("Constant", [], ["a"])
    const.attribute.append(alpha)
    body = [const, h.make_node("Relu", ["X"], ["r"]),
            h.make_node("Mul", ["r", "a"], ["Y"])]
    fn_opset = 16 if kind == "opset_mismatch" else 17
    fns = [h.make_function(d, "ScaledRelu", ["X"], ["Y"], body,
                           [h.make_opsetid("", fn_opset)], ["alpha"])]
    if kind == "duplicate":
        fns.append(fns[0])
    if kind == "recursive":
        fns = [h.make_function(d, "Loop", ["X"], ["Y"],
                               [h.make_node("Loop", ["X"], ["Y"], domain=d)],
                               [h.make_opsetid(d, 1)])]
        nodes = [N("Loop", ["x"], ["y"], name="call", domain=d)]
    elif kind == "too_many_inputs":
        nodes = [N("ScaledRelu", ["x", "x"], ["y"], name="call", domain=d,
                   alpha=2.0)]
    else:
        nodes = [N("ScaledRelu", ["x"], ["h1"], name="first", domain=d,
                   alpha=2.0),
                 N("ScaledRelu", ["h1"], ["y"], name="second", domain=d,
                   alpha=3.0)]
    graph = h.make_graph(nodes, "test", [vi("x", T.FLOAT, [4])],
                         [vi("y", T.FLOAT, [4])])
    m = h.make_model(graph, functions=fns,
                     opset_imports=[h.make_opsetid("", 17),
                                    h.make_opsetid(d, 1)])
    m.ir_version = 8
    return m


# --- operators defined by their schema's function body --------------------------

def schema_mvn(shape=(2, 3, 4, 5)):
    """MeanVarianceNormalization at opset 18 (its body is opset 13's), over
    the default axes [0, 2, 3]."""
    return model([N("MeanVarianceNormalization", ["x"], ["y"], name="mvn")],
                 [vi("x", T.FLOAT, list(shape))], [vi("y", T.FLOAT, None)],
                 opset=18)


def schema_bernoulli():
    """Bernoulli's body samples with RandomUniformLike (not supported)."""
    return model([N("Bernoulli", ["x"], ["y"], name="coin")],
                 [vi("x", T.FLOAT, [4])], [vi("y", T.FLOAT, [4])])


# --- convolution and pooling ---------------------------------------------------

def conv(x_shape=(1, 4, 8, 8), w_shape=(6, 2, 3, 3), op="Conv",
         out_shape=None, **attrs):
    """A Conv (or ConvTranspose) with a constant weight and bias; the output
    shape is inferred unless given."""
    out_channels = w_shape[0] if op != "ConvTranspose" else w_shape[1]
    return model([N(op, ["x", "w", "b"], ["y"], name="conv", **attrs)],
                 [vi("x", T.FLOAT, list(x_shape))],
                 [vi("y", T.FLOAT, out_shape)],
                 [init("w", f32(*w_shape)), init("b", f32(out_channels))])


def pool(op="MaxPool", x_shape=(1, 2, 6, 6), out_shape=None, **attrs):
    return model([N(op, ["x"], ["y"], name="pool", **attrs)],
                 [vi("x", T.FLOAT, list(x_shape))],
                 [vi("y", T.FLOAT, out_shape)])


def maxpool_indices():
    return model([N("MaxPool", ["x"], ["y", "i"], name="pool",
                    kernel_shape=[2, 2])],
                 [vi("x", T.FLOAT, [1, 1, 4, 4])],
                 [vi("y", T.FLOAT, [1, 1, 3, 3]),
                  vi("i", T.INT64, [1, 1, 3, 3])])


def resize(x_shape=(1, 2, 4, 4), scales=None, sizes=None, roi=None,
           out_shape=None, x_elem=T.FLOAT, opset=13, **attrs):
    """A Resize with constant roi, scales or sizes (inputs left out when
    None)."""
    ins, inits = ["x", "roi" if roi is not None else ""], []
    if roi is not None:
        inits.append(init("roi", np.array(roi, np.float32)))
    if scales is not None:
        ins.append("scales")
        inits.append(init("scales", np.array(scales, np.float32)))
    if sizes is not None:
        ins += [""] * (3 - len(ins)) + ["sizes"]
        inits.append(init("sizes", np.array(sizes, np.int64)))
    return model([N("Resize", ins, ["y"], name="resize", **attrs)],
                 [vi("x", x_elem, list(x_shape))],
                 [vi("y", x_elem, out_shape)], inits, opset)


def resize_runtime_scales():
    return model([N("Resize", ["x", "", "scales"], ["y"], name="resize")],
                 [vi("x", T.FLOAT, [1, 2, 4, 4]), vi("scales", T.FLOAT, [4])],
                 [vi("y", T.FLOAT, [1, 2, 8, 8])], opset=13)


def gridsample(x_shape=(1, 2, 4, 5), grid_shape=(1, 3, 6, 2), opset=16,
               x_elem=T.FLOAT, **attrs):
    """GridSample of x by a runtime grid; Y is [N, C, grid's middle
    sizes]."""
    out = [x_shape[0], x_shape[1]] + list(grid_shape[1:-1])
    return model([N("GridSample", ["x", "grid"], ["y"], name="gs", **attrs)],
                 [vi("x", x_elem, list(x_shape)),
                  vi("grid", T.FLOAT, list(grid_shape))],
                 [vi("y", x_elem, out)], opset=opset)


def qlinear_matmul(b_scale=(0.01,), out_shape=(2, 4)):
    """QLinearMatMul of uint8 a [2, 8] and an int8 constant b [8, 4]."""
    return model([N("QLinearMatMul", ["a", "as", "az", "b", "bs", "bz", "ys",
                                      "yz"], ["y"], name="qmm")],
                 [vi("a", T.UINT8, [2, 8])], [vi("y", T.UINT8, out_shape)],
                 [init("as", np.float32(0.02)), init("az", np.uint8(7)),
                  init("b", RNG.integers(-9, 9, (8, 4)).astype(np.int8)),
                  init("bs", np.array(b_scale, np.float32).reshape(
                      () if len(b_scale) == 1 else (-1,))),
                  init("bz", np.int8(0)), init("ys", np.float32(0.5)),
                  init("yz", np.uint8(128))], opset=13)


def qlinear_conv_bad_bias():
    return model([N("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys",
                                    "yz", "B"], ["y"], name="qconv")],
                 [vi("x", T.UINT8, [1, 2, 4, 4])],
                 [vi("y", T.UINT8, [1, 3, 2, 2])],
                 [init("xs", np.float32(0.02)), init("xz", np.uint8(7)),
                  init("w", RNG.integers(-9, 9, (3, 2, 3, 3)).astype(np.int8)),
                  init("ws", np.float32(0.01)), init("wz", np.int8(0)),
                  init("ys", np.float32(0.5)), init("yz", np.uint8(128)),
                  init("B", np.zeros(3, np.float32))], opset=13)


MODELS = {
    "elementwise": elementwise,
    "reductions": reductions,
    "shapes": shapes,
    "dynamic_reshape": dynamic_reshape,
    "indexing": indexing,
    "matmuls": matmuls,
    "dtypes": dtypes,
    "dynamic_quantize": dynamic_quantize,
    "ffn_relu": lambda: ffn_model("relu"),
    "ffn_gelu": lambda: ffn_model("gelu"),
    "ffn_silu": lambda: ffn_model("silu"),
    "ffn_sigmoid": lambda: ffn_model("sigmoid"),
    "ffn_gemm_relu": lambda: ffn_model("relu", gemm=True),
    "ffn_relu_topk": lambda: ffn_model("relu", topk=8),
    "ffn_nobias": lambda: ffn_model("relu", bias=False),
    "ffn_bad_bias": lambda: ffn_model("relu", up_bias_shape=[1, 1, 64]),
    "ffn_relu_used_elsewhere": ffn_relu_used_elsewhere,
    "topk_scatter": topk_scatter,
    "topk_scatter_3d": lambda: topk_scatter(axis=2, rank=3),
    "topk_scatter_axis0": lambda: topk_scatter(axis=0),
    "topk_where": lambda: topk_threshold("where"),
    "topk_mul": lambda: topk_threshold("mul"),
    "topk_notless": lambda: topk_threshold("notless"),
    "topk_gather": lambda: topk_threshold("gather"),
    "topk_greater": lambda: topk_threshold("greater"),
    "router": router,
    "router_gemm_raw": lambda: router(normalize=False, gemm=True),
    "moe_relu": ms_moe,
    "moe_swiglu_interleaved": lambda: ms_moe("swiglu", fusion=1, rank=3),
    "moe_silu_fc3": lambda: ms_moe("silu", k=1, normalize=0, fc3=True,
                                   biases=False),
    "moe_sparse_mixer": lambda: ms_moe(sparse_mixer=1),
    "moe_bad_experts": lambda: ms_moe(experts=4, k=5),
    "contrib_bert_ffn": contrib_bert_ffn,
    "contrib_rms_norm": contrib_rms_norm,
    "contrib_fused_matmul": contrib_fused_matmul,
    "contrib_bad_bias_add_skip": lambda: contrib_bad(
        "BiasAdd", {"x": [2, 3, 8], "b": [8], "s": [2, 1, 8]}),
    "contrib_bad_skip_ln_gamma": lambda: contrib_bad(
        "SkipLayerNormalization", {"x": [2, 3, 8], "s": [2, 3, 8], "g": [4]}),
    "contrib_bad_skip_ln_skip": lambda: contrib_bad(
        "SkipLayerNormalization", {"x": [2, 3, 8], "s": [3, 3, 8], "g": [8]}),
    "contrib_bad_skip_ln_missing": lambda: contrib_bad(
        "SkipLayerNormalization", {"x": [2, 3, 8], "s": [2, 3, 8]}),
    "contrib_bad_rms_mean": lambda: contrib_bad(
        "SkipSimplifiedLayerNormalization",
        {"x": [2, 3, 8], "s": [2, 3, 8], "g": [8]}, outputs=("y", "mean")),
    "contrib_bad_fused_matmul_rank": lambda: contrib_bad(
        "FusedMatMul", {"a": [8], "b": [8, 8]}, {"transA": 1}),
    "contrib_bad_fused_matmul_shapes": lambda: contrib_bad(
        "FusedMatMul", {"a": [2, 3, 8], "b": [8, 5]}, {"transB": 1}),
    "contrib_int_gelu": contrib_int_gelu,
    "contrib_bad_fused_gemm_act": lambda: contrib_bad(
        "FusedGemm", {"a": [2, 8], "b": [8, 8]}, {"activation": "Gelu"}),
    "unsupported_ops": unsupported_ops,
    "missing_initializer": missing_initializer,
    "cycle": cycle,
    "old_opset": old_opset,
    "new_opset": new_opset,
    "string_input": string_input,
    "unranked_input": unranked_input,
    "bad_matmul": bad_matmul,
    "slice_scalar": slice_scalar,
    "bad_transpose_perm": bad_transpose_perm,
    "dynamic_axes_slice": dynamic_axes_slice,
    "dynamic_quantize_int": dynamic_quantize_int,
    "dynamic_quantize_two_inputs": dynamic_quantize_two_inputs,
    "opset18_reduce_mean": opset18_reduce_mean,
    "opset18_split_uneven": opset18_split,
    "opset18_split_count_mismatch": lambda: opset18_split(num_outputs=2),
    "opset18_split_sizes_and_count": lambda: opset18_split(
        outputs=2, num_outputs=2, with_sizes=True),
    "opset18_reduce_runtime_axes": opset18_reduce_runtime_axes,
    "opset20_gelu_tanh": lambda: gelu(20),
    "opset20_gelu_bad_approximate": lambda: gelu(20, "fast"),
    "opset17_gelu": lambda: gelu(17, "none"),
    "opset23_rms_norm": opset23_rms_norm,
    "cumsum": cumsum,
    "cumsum_runtime_axis": lambda: cumsum(runtime_axis=True),
    "opset26_cumprod": lambda: cumsum(op="CumProd", opset=26),
    "opset21_dequantize_blocked": opset21_dequantize_blocked,
    "opset21_dequantize_bad_blocks": lambda: opset21_dequantize_blocked(3),
    "ir_version_14": ir_version_14,
    "local_function": lambda: local_function_model("ok"),
    "local_function_opset_mismatch": lambda: local_function_model(
        "opset_mismatch"),
    "local_function_duplicate": lambda: local_function_model("duplicate"),
    "local_function_recursive": lambda: local_function_model("recursive"),
    "local_function_too_many_inputs": lambda: local_function_model(
        "too_many_inputs"),
    "conv_groups": lambda: conv(group=2, pads=[1, 1, 1, 1], strides=[2, 1]),
    "conv_bad_groups": lambda: conv(group=3),
    "conv_kernel_shape_mismatch": lambda: conv(kernel_shape=[2, 2], group=2),
    "conv_window_too_large": lambda: conv(x_shape=(1, 4, 2, 8), group=2),
    # Found by the fuzzer: crashes libonnx 1.12's shape inference (so the
    # output shape is declared, not inferred).
    "conv_weight_rank_mismatch": lambda: conv(x_shape=(1, 4, 2), group=2,
                                              out_shape=[1, 6, 1]),
    "conv_dynamic_spatial": lambda: conv(x_shape=(1, 4, "h", 8), group=2),
    "conv_transpose": lambda: conv(w_shape=(4, 3, 2, 2), op="ConvTranspose",
                                   strides=[2, 2]),
    "maxpool": lambda: pool(kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                            strides=[2, 2]),
    "averagepool_no_kernel": lambda: pool("AveragePool", out_shape=[1, 2, 6, 6]),
    "maxpool_indices": maxpool_indices,
    "schema_mvn": schema_mvn,
    "schema_mvn_rank3": lambda: schema_mvn((2, 3, 4)),
    "schema_bernoulli": schema_bernoulli,
    "resize_nearest": lambda: resize(
        scales=[1, 1, 2, 2], mode="nearest", nearest_mode="floor",
        coordinate_transformation_mode="asymmetric"),
    "resize_linear": lambda: resize(sizes=[1, 2, 3, 6], mode="linear"),
    "resize_crop": lambda: resize(
        sizes=[1, 2, 3, 3], roi=[0, 0, -0.5, 0, 1, 1, 1, 1], mode="linear",
        extrapolation_value=7.0,
        coordinate_transformation_mode="tf_crop_and_resize"),
    "resize_identity": lambda: resize(scales=[1, 1, 1, 1], mode="cubic"),
    "resize_int_linear": lambda: resize(scales=[1, 1, 2, 2], mode="linear",
                                        x_elem=T.INT8),
    "resize_both": lambda: resize(scales=[1, 1, 2, 2], sizes=[1, 2, 8, 8],
                                  out_shape=[1, 2, 8, 8]),
    "resize_bad_mode": lambda: resize(scales=[1, 1, 2, 2], mode="area",
                                      out_shape=[1, 2, 8, 8]),
    "resize_bad_transform": lambda: resize(
        scales=[1, 1, 2, 2], coordinate_transformation_mode="half_pixel_symmetric",
        out_shape=[1, 2, 8, 8]),
    "resize_negative_scale": lambda: resize(scales=[1, 1, -2, 2]),
    "resize_dynamic_axis": lambda: resize(x_shape=(1, 2, "h", 4),
                                          scales=[1, 1, 2, 2],
                                          out_shape=[1, 2, "h2", 8]),
    "resize_runtime_scales": resize_runtime_scales,
    "resize_antialias_too_wide": lambda: resize(
        x_shape=(1, 1, 100000), sizes=[1, 1, 1], mode="cubic", antialias=1,
        opset=18),
    "gridsample": gridsample,
    "gridsample_1d": lambda: gridsample((1, 1, 4), (1, 3, 1), opset=20,
                                        align_corners=1),
    "gridsample_bad_mode": lambda: gridsample(mode="area"),
    "gridsample_bad_padding": lambda: gridsample(padding_mode="wrap"),
    "gridsample_bad_grid": lambda: gridsample(grid_shape=(1, 3, 6, 3)),
    "gridsample_bad_batch": lambda: gridsample(grid_shape=(2, 3, 6, 2)),
    "gridsample_int": lambda: gridsample(x_elem=T.INT32, opset=20),
    "gridsample_cubic_4d": lambda: gridsample(
        (1, 1, 2, 2, 2, 2), (1, 1, 1, 1, 1, 4), opset=20, mode="cubic"),
    "qlinear_matmul": qlinear_matmul,
    "qlinear_matmul_bad_scale": lambda: qlinear_matmul(b_scale=(0.1, 0.2,
                                                                0.3)),
    "qlinear_conv_bad_bias": qlinear_conv_bad_bias,
    "if_runtime": lambda: if_model(then_rows=6),
    "if_constant": lambda: if_model(then_rows=6, cond_input=False),
    "if_type_mismatch": lambda: if_model(else_type=T.INT32),
    "fold_rounding": fold_rounding,
    "loop_counted": lambda: loop_model("counted"),
    "loop_while": lambda: loop_model("while"),
    "loop_grow": lambda: loop_model("grow"),
    "loop_endless": lambda: loop_model("endless"),
    "loop_while_scan": lambda: loop_model("while_scan"),
    "scan": lambda: scan_model(),
    "scan8": lambda: scan_model(opset=8),
    "scan8_lens": lambda: scan_model(opset=8, lens=True),
    "scan_length_mismatch": lambda: scan_model(second_length=4),
    "lstm": lambda: recurrent(),
    "gru_reverse_lens": lambda: recurrent(
        "GRU", 3, direction="reverse", lens=True),
    "lstm_bad_w": lambda: recurrent(w_shape=[1, 15, 3]),
    "lstm_bad_activation": lambda: recurrent(
        activations=["Sigmoid", "Gelu", "Tanh"]),
    "rnn_affine_no_alpha": lambda: recurrent(
        "RNN", 1, activations=["Affine"]),
    "lstm_bad_direction": lambda: recurrent(direction="sideways"),
    "legacy_add_axis": lambda: legacy(
        "Add", {"a": [2, 3, 4], "b": [3]}, [2, 3, 4], broadcast=1, axis=1),
    "legacy_add_bad_axis": lambda: legacy(
        "Add", {"a": [2, 3, 4], "b": [3, 4]}, [2, 3, 4], broadcast=1, axis=2),
    "legacy_cast_bad_to": lambda: legacy(
        "Cast", {"x": [2]}, [2], opset=1, to="FLOAT9"),
    "legacy_tile_runtime": lambda: legacy(
        "Tile", {"x": [2, 3], "tiles": [], "axis": []}, [2, None], opset=1,
        inits=[init("axis", np.float32(1))]),
    "legacy_upsample_3d": lambda: legacy(
        "Upsample", {"x": [1, 2, 3]}, [1, 2, 6], opset=1, height_scale=2.0,
        width_scale=2.0),
    "legacy_reshape_no_shape": lambda: legacy(
        "Reshape", {"x": [2, 3]}, [6], opset=1),
    "legacy_batchnorm_spatial0": lambda: legacy(
        "BatchNormalization",
        {"x": [2, 3, 4], "s": [3, 4], "b": [3, 4], "m": [3, 4], "v": [3, 4]},
        [2, 3, 4], is_test=1, spatial=0),
}


def save_named_model(registry):
    """The command line the model scripts share: writes the model
    registry[argv[1]] builds to argv[2]."""
    onnx.save(registry[sys.argv[1]](), sys.argv[2])


if __name__ == "__main__":
    save_named_model(MODELS)
