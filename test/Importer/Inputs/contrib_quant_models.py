#!/usr/bin/env python3
"""Writes the small ONNX models of test/Importer/contrib-quant.test: ONNX
Runtime's quantized matmul contrib operators (com.microsoft MatMulNBits,
MatMulIntegerToFloat, DynamicQuantizeMatMul), well-formed and malformed.

Usage: contrib_quant_models.py <name> <output.onnx>
"""

import os
import sys

import numpy as np
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

# MatMulNBits' bit packing, shared with the end-to-end models.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "e2e", "Inputs"))
from onnx_cases import pack_bits  # noqa: E402

from models import save_named_model  # noqa: E402

MS = "com.microsoft"


def nbits(k=64, n=32, bits=4, block_size=32, zp=None, g_idx=None,
          bias=False, a_dtype=T.FLOAT, a_shape=None, b_shape=None,
          scales_len=None, attrs=None, b_as_input=False):
    """A model y = MatMulNBits(a, ...). zp: None, "packed", "float"."""
    rng = np.random.default_rng(7)
    np_dtype = np.float32 if a_dtype == T.FLOAT else np.float16
    blocks = (k + block_size - 1) // block_size
    q = rng.integers(0, 2**bits, size=(n, blocks * block_size))
    b = pack_bits(q.reshape(n, blocks, block_size), bits) if bits in (
        2, 4, 8) else rng.integers(0, 256, size=(n, blocks, block_size * bits
                                                 // 8)).astype(np.uint8)
    if b_shape is not None:
        b = np.zeros(b_shape, np.uint8)
    scales = rng.uniform(0.01, 0.05, size=n * blocks).astype(np_dtype)
    if scales_len is not None:
        scales = scales[:scales_len] if scales_len <= scales.size else \
            np.resize(scales, scales_len)
    inits = [nh.from_array(scales, "scales")]
    inputs = [h.make_tensor_value_info("a", a_dtype, a_shape or [3, k])]
    if b_as_input:
        inputs.append(h.make_tensor_value_info("b", T.UINT8, list(b.shape)))
    else:
        inits.append(nh.from_array(b, "b"))
    ins = ["a", "b", "scales"]
    if zp == "packed":
        zps = rng.integers(0, 2**bits, size=(n, blocks))
        inits.append(nh.from_array(pack_bits(zps, bits).reshape(-1), "zp"))
        ins.append("zp")
    elif zp == "float":
        inits.append(nh.from_array(
            rng.uniform(0, 15, size=n * blocks).astype(np_dtype), "zp"))
        ins.append("zp")
    else:
        ins.append("")
    if g_idx is not None:
        inits.append(nh.from_array(np.asarray(g_idx, np.int32), "g_idx"))
        ins.append("g_idx")
    else:
        ins.append("")
    if bias:
        inits.append(nh.from_array(rng.standard_normal(n).astype(np_dtype),
                                   "bias"))
        ins.append("bias")
    while ins[-1] == "":
        ins.pop()
    node_attrs = dict(K=k, N=n, bits=bits, block_size=block_size)
    node_attrs.update(attrs or {})
    node_attrs = {key: v for key, v in node_attrs.items() if v is not None}
    node = h.make_node("MatMulNBits", ins, ["y"], name="mmnb", domain=MS,
                       **node_attrs)
    out_shape = list((a_shape or [3, k])[:-1]) + [n]
    graph = h.make_graph([node], "test", inputs,
                         [h.make_tensor_value_info("y", a_dtype, out_shape)],
                         inits)
    m = h.make_model(graph, opset_imports=[h.make_opsetid("", 17),
                                           h.make_opsetid(MS, 1)])
    m.ir_version = 8
    return m


def integer_to_float():
    rng = np.random.default_rng(8)
    inits = [nh.from_array(rng.integers(-128, 128, size=(16, 8))
                           .astype(np.int8), "b"),
             nh.from_array(np.array(0.02, np.float32), "a_scale"),
             nh.from_array(rng.uniform(0.01, 0.02, 8).astype(np.float32),
                           "b_scale"),
             nh.from_array(np.array(128, np.uint8), "a_zp")]
    node = h.make_node("MatMulIntegerToFloat",
                       ["a", "b", "a_scale", "b_scale", "a_zp"], ["y"],
                       name="mmitf", domain=MS)
    graph = h.make_graph(
        [node], "test", [h.make_tensor_value_info("a", T.UINT8, [4, 16])],
        [h.make_tensor_value_info("y", T.FLOAT, [4, 8])], inits)
    m = h.make_model(graph, opset_imports=[h.make_opsetid("", 17),
                                           h.make_opsetid(MS, 1)])
    m.ir_version = 8
    return m


def dynamic_quantize_matmul(b_scale_len=1):
    rng = np.random.default_rng(9)
    inits = [nh.from_array(rng.integers(-127, 128, size=(16, 8))
                           .astype(np.int8), "b"),
             nh.from_array(np.full(b_scale_len, 0.01, np.float32), "b_scale")]
    node = h.make_node("DynamicQuantizeMatMul", ["a", "b", "b_scale"], ["y"],
                       name="dqmm", domain=MS)
    graph = h.make_graph(
        [node], "test", [h.make_tensor_value_info("a", T.FLOAT, [4, 16])],
        [h.make_tensor_value_info("y", T.FLOAT, [4, 8])], inits)
    m = h.make_model(graph, opset_imports=[h.make_opsetid("", 17),
                                           h.make_opsetid(MS, 1)])
    m.ir_version = 8
    return m


def bad_zp_shape():
    """Packed zero points of the wrong length (33 bytes, not 32 x 1)."""
    m = nbits(zp="packed")
    for t in m.graph.initializer:
        if t.name == "zp":
            t.CopyFrom(nh.from_array(np.zeros(33, np.uint8), "zp"))
    return m


MODELS = {
    # Imported forms.
    "nbits4_sym": lambda: nbits(bias=True),
    "nbits4_asym": lambda: nbits(zp="packed"),
    "nbits4_float_zp": lambda: nbits(zp="float"),
    "nbits4_bs16": lambda: nbits(block_size=16),
    "nbits8_sym": lambda: nbits(bits=8),
    "nbits2_sym": lambda: nbits(bits=2, block_size=16),
    "nbits4_3d": lambda: nbits(a_shape=["batch", "seq", 64]),
    "nbits4_f16": lambda: nbits(a_dtype=T.FLOAT16, bias=True),
    "nbits4_gidx_perm": lambda: nbits(
        g_idx=np.random.default_rng(3).permutation(np.arange(64) // 32)),
    "integer_to_float": integer_to_float,
    "dynamic_quantize_matmul": dynamic_quantize_matmul,
    # Malformed.
    "bad_b_shape": lambda: nbits(b_shape=(32, 2, 17)),
    "bad_bits": lambda: nbits(bits=3),
    "bad_block_size": lambda: nbits(block_size=24),
    "bad_scales": lambda: nbits(scales_len=63),
    "bad_zp_shape": lambda: bad_zp_shape(),
    "bad_g_idx": lambda: nbits(g_idx=np.full(64, 2)),
    "bad_a_shape": lambda: nbits(a_shape=[3, 48]),
    "missing_k": lambda: nbits(attrs={"K": None}),
    "nonconst_b": lambda: nbits(b_as_input=True),
    "bad_b_scale": lambda: dynamic_quantize_matmul(b_scale_len=3),
}


if __name__ == "__main__":
    save_named_model(MODELS)
