"""Writes small models with ONNX Runtime's quantized matmul contrib operators
(com.microsoft MatMulNBits, MatMulIntegerToFloat, DynamicQuantizeMatMul,
DequantizeLinear, QuantizeLinear), random inputs (fixed seeds) and
DIR/manifest.json for check_vs_ort.py.

  make_contrib_quant_models.py DIR

MatMulNBits weights are built with NumPy following the operator's spec: B is
[N, ceil(K / block_size), block_size * bits / 8] bytes holding the quantized
values of each block, `bits` per value, lowest bits first; scales are one per
block ([N * blocks]); packed zero points hold ceil(blocks * bits / 8) bytes
per output feature, packed the same way; float zero points are one per
block; the default zero point is 2^(bits - 1).
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from onnx_cases import pack_bits

MS = "com.microsoft"


def quantize_blockwise(w, bits, block_size, symmetric):
    """Block-quantizes w [K, N] along K: returns q [N, blocks * block_size]
    (zero padded), scales [N, blocks] and zero points [N, blocks]."""
    k, n = w.shape
    blocks = (k + block_size - 1) // block_size
    wt = np.zeros((n, blocks * block_size), np.float64)
    wt[:, :k] = w.T
    wb = wt.reshape(n, blocks, block_size)
    qmax = 2**bits - 1
    mid = 2 ** (bits - 1)
    if symmetric:
        amax = np.abs(wb).max(-1)
        scale = np.where(amax > 0, amax / mid, 1.0)
        zp = np.full((n, blocks), mid)
    else:
        lo = np.minimum(wb.min(-1), 0)
        hi = np.maximum(wb.max(-1), 0)
        scale = np.where(hi > lo, (hi - lo) / qmax, 1.0)
        zp = np.clip(np.round(-lo / scale), 0, qmax).astype(np.int64)
    q = np.clip(np.round(wb / scale[..., None]) + zp[..., None], 0, qmax)
    q = q.astype(np.int64).reshape(n, blocks * block_size)
    q[:, k:] = 0
    return q, scale, zp


class Builder:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.cases = []

    def save(self, name, nodes, inputs, outputs, inits, feeds, rtol=1e-4,
             opset=17):
        graph = helper.make_graph(nodes, name, inputs, outputs, inits)
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", opset),
                                  helper.make_opsetid(MS, 1)])
        model.ir_version = 8
        onnx.save(model, os.path.join(self.out_dir, name + ".onnx"))
        files = {}
        for key, value in feeds.items():
            fname = "%s_%s.npy" % (name, key)
            np.save(os.path.join(self.out_dir, fname), value)
            files[key] = fname
        self.cases.append({"name": name, "model": name + ".onnx",
                           "inputs": files, "rtol": rtol})

    def write_manifest(self):
        with open(os.path.join(self.out_dir, "manifest.json"), "w") as f:
            json.dump(self.cases, f, indent=1)


def nbits_node(prefix, rng, a_name, y_name, k, n, bits, block_size, zp="none",
               bias=False, g_idx=None, weight=None, symmetric=True,
               accuracy_level=0, dtype=np.float32, scales_2d=False):
    """A MatMulNBits node and its initializers. `zp`: "none" (default zero
    point), "packed" (uint8), "packed_mid" (uint8, all 2^(bits-1)) or
    "float". With `weight` ([K, N] f32) the weight is quantized from it,
    else random quantized values, scales and zero points are drawn."""
    blocks = (k + block_size - 1) // block_size
    mid = 2 ** (bits - 1)
    if weight is not None:
        q, scales, zps = quantize_blockwise(weight, bits, block_size,
                                            symmetric)
    else:
        q = rng.integers(0, 2**bits, size=(n, blocks * block_size))
        q[:, k:] = 0
        scales = rng.uniform(0.005, 0.05, size=(n, blocks))
        zps = rng.integers(0, 2**bits, size=(n, blocks))
    scales = scales.astype(dtype)
    b = pack_bits(q.reshape(n, blocks, block_size), bits)
    inits = [numpy_helper.from_array(b, prefix + "B"),
             numpy_helper.from_array(
                 scales if scales_2d else scales.reshape(-1),
                 prefix + "scales")]
    ins = [a_name, prefix + "B", prefix + "scales"]
    if zp == "none":
        ins.append("")
    elif zp in ("packed", "packed_mid"):
        if zp == "packed_mid":
            zps = np.full((n, blocks), mid)
        inits.append(numpy_helper.from_array(
            pack_bits(zps, bits).reshape(-1), prefix + "zp"))
        ins.append(prefix + "zp")
    elif zp == "float":
        zf = rng.uniform(0, 2**bits - 1, size=(n, blocks)).astype(dtype)
        inits.append(numpy_helper.from_array(zf.reshape(-1), prefix + "zp"))
        ins.append(prefix + "zp")
    else:
        raise ValueError(zp)
    if g_idx is not None:
        inits.append(numpy_helper.from_array(g_idx.astype(np.int32),
                                             prefix + "g_idx"))
        ins.append(prefix + "g_idx")
    else:
        ins.append("")
    if bias:
        bvals = rng.standard_normal(n).astype(dtype)
        inits.append(numpy_helper.from_array(bvals, prefix + "bias"))
        ins.append(prefix + "bias")
    while ins[-1] == "":
        ins.pop()
    attrs = dict(K=k, N=n, bits=bits, block_size=block_size)
    if accuracy_level:
        attrs["accuracy_level"] = accuracy_level
    node = helper.make_node("MatMulNBits", ins, [y_name], domain=MS,
                            name=prefix + "matmul", **attrs)
    return node, inits


def add_nbits_case(bld, name, a_shape, n, bits, block_size, seed,
                   dims=None, dtype=np.float32, rtol=1e-4, **kw):
    rng = np.random.default_rng(seed)
    k = a_shape[-1]
    node, inits = nbits_node("", rng, "A", "Y", k, n, bits, block_size,
                             dtype=dtype, **kw)
    tt = TensorProto.FLOAT if dtype == np.float32 else TensorProto.FLOAT16
    in_shape = list(dims) + [k] if dims else list(a_shape)
    out_shape = in_shape[:-1] + [n]
    a = rng.standard_normal(a_shape).astype(dtype)
    bld.save(name, [node], [helper.make_tensor_value_info("A", tt, in_shape)],
             [helper.make_tensor_value_info("Y", tt, out_shape)], inits,
             {"A": a}, rtol=rtol)


def add_nbits_cases(bld):
    # Symmetric (default zero point) int4: spx.quant_matmul, packed int4.
    add_nbits_case(bld, "nbits4_sym", [2, 5, 128], 64, 4, 32, 1, bias=True)
    add_nbits_case(bld, "nbits4_sym_bs16", [4, 64], 32, 4, 16, 2)
    add_nbits_case(bld, "nbits4_sym_bs128", [3, 256], 48, 4, 128, 3,
                   bias=True, scales_2d=True)
    add_nbits_case(bld, "nbits4_explicit_mid_zp", [4, 128], 32, 4, 64, 4,
                   zp="packed_mid")
    # More than 16 tokens (the tiled kernel path).
    add_nbits_case(bld, "nbits4_sym_t40", [40, 128], 96, 4, 32, 5)
    # Symbolic batch and sequence dimensions.
    add_nbits_case(bld, "nbits4_dynamic", [2, 3, 64], 32, 4, 32, 6,
                   dims=["batch", "seq"], bias=True)
    add_nbits_case(bld, "nbits4_1d", [64], 32, 4, 16, 7)
    # Asymmetric: packed uint8 and float zero points (block-sum correction).
    add_nbits_case(bld, "nbits4_asym", [2, 3, 256], 96, 4, 64, 8,
                   zp="packed", bias=True)
    add_nbits_case(bld, "nbits4_asym_odd_blocks", [3, 96], 40, 4, 32, 9,
                   zp="packed")
    add_nbits_case(bld, "nbits4_float_zp", [3, 128], 48, 4, 32, 10,
                   zp="float")
    # K not a multiple of block_size (the last block is padded).
    add_nbits_case(bld, "nbits4_k_padded", [3, 80], 40, 4, 32, 11,
                   zp="packed", bias=True)
    add_nbits_case(bld, "nbits4_one_block", [5, 48], 32, 4, 64, 12)
    # 8 and 2 bits.
    add_nbits_case(bld, "nbits8_sym", [3, 128], 64, 8, 32, 13, bias=True)
    add_nbits_case(bld, "nbits8_asym", [3, 128], 64, 8, 32, 14, zp="packed")
    add_nbits_case(bld, "nbits2_sym", [3, 128], 32, 2, 16, 15)
    add_nbits_case(bld, "nbits2_asym", [3, 128], 32, 2, 32, 16, zp="packed")
    # g_idx: trivial (k / block_size) and a permutation of the blocks
    # (dequantized at import time). ONNX Runtime 1.30's CPU kernel ignores
    # packed uint8 zero points when g_idx is given, so only the default and
    # float zero points are compared with it.
    k, bs = 128, 32
    add_nbits_case(bld, "nbits4_gidx_trivial", [3, k], 32, 4, bs, 17,
                   g_idx=np.arange(k) // bs)
    perm = np.random.default_rng(18).permutation(np.arange(k) // bs)
    add_nbits_case(bld, "nbits4_gidx_perm", [3, k], 32, 4, bs, 18,
                   g_idx=perm, bias=True)
    add_nbits_case(bld, "nbits4_gidx_perm_float_zp", [3, k], 32, 4, bs, 19,
                   g_idx=perm, zp="float")
    # float16 activations: computed in f32, the result rounded to f16 (as
    # ONNX Runtime does); the tolerance is f16's rounding of the output.
    add_nbits_case(bld, "nbits4_f16", [3, 128], 64, 4, 32, 20,
                   dtype=np.float16, zp="packed", bias=True, rtol=2e-3)
    # accuracy_level 4 lets ONNX Runtime quantize A to int8 per block on
    # CPUs with integer kernels; we compute in f32, so the results differ by
    # A's quantization error (~1e-2 of the output's range).
    add_nbits_case(bld, "nbits4_accuracy4", [3, 128], 64, 4, 32, 21,
                   zp="packed", accuracy_level=4, rtol=3e-2)


def add_nbits_mlp(bld, name, seed, symmetric, bits=4, block_size=32):
    """x -> MatMulNBits(+bias) -> Gelu -> MatMulNBits(+bias): weights quantized
    from random f32 weights (RTN, symmetric or asymmetric)."""
    rng = np.random.default_rng(seed)
    d, ff = 128, 256
    w1 = rng.standard_normal((d, ff)) / np.sqrt(d)
    w2 = rng.standard_normal((ff, d)) / np.sqrt(ff)
    zp = "none" if symmetric else "packed"
    n1, i1 = nbits_node("fc1_", rng, "x", "h", d, ff, bits, block_size,
                        zp=zp, bias=True, weight=w1, symmetric=symmetric)
    act = helper.make_node("Gelu", ["h"], ["g"], domain=MS)
    n2, i2 = nbits_node("fc2_", rng, "g", "y", ff, d, bits, block_size,
                        zp=zp, bias=True, weight=w2, symmetric=symmetric)
    x = rng.standard_normal((2, 4, d)).astype(np.float32)
    bld.save(name, [n1, act, n2],
             [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                            ["batch", "seq", d])],
             [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                            ["batch", "seq", d])],
             i1 + i2, {"x": x})


def add_integer_cases(bld):
    # MatMulIntegerToFloat: uint8 activations, int8 / uint8 weights, per
    # tensor and per column scales and zero points, bias.
    for name, b_type, per_column, seed in [
            ("mmitf_u8s8", np.int8, False, 30),
            ("mmitf_u8u8_per_column", np.uint8, True, 31)]:
        rng = np.random.default_rng(seed)
        k, n = 64, 48
        a = rng.integers(0, 256, size=(2, 3, k)).astype(np.uint8)
        lo, hi = (-128, 128) if b_type == np.int8 else (0, 256)
        b = rng.integers(lo, hi, size=(k, n)).astype(b_type)
        shape = [n] if per_column else []
        b_scale = rng.uniform(0.001, 0.01, size=shape).astype(np.float32)
        b_zp = rng.integers(lo // 2 if lo else 100, hi // 2 if lo else 156,
                            size=shape).astype(b_type)
        inits = [numpy_helper.from_array(b, "B"),
                 numpy_helper.from_array(np.array(0.02, np.float32),
                                         "a_scale"),
                 numpy_helper.from_array(b_scale, "b_scale"),
                 numpy_helper.from_array(np.array(131, np.uint8), "a_zp"),
                 numpy_helper.from_array(b_zp, "b_zp"),
                 numpy_helper.from_array(
                     rng.standard_normal(n).astype(np.float32), "bias")]
        node = helper.make_node(
            "MatMulIntegerToFloat",
            ["A", "B", "a_scale", "b_scale", "a_zp", "b_zp", "bias"], ["Y"],
            domain=MS)
        bld.save(name, [node],
                 [helper.make_tensor_value_info("A", TensorProto.UINT8,
                                                [2, 3, k])],
                 [helper.make_tensor_value_info("Y", TensorProto.FLOAT,
                                                [2, 3, n])],
                 inits, {"A": a})
    # DynamicQuantizeMatMul: float activations quantized per tensor at run
    # time (DynamicQuantizeLinear), int8 / uint8 weights.
    for name, b_type, with_zp, seed in [("dqmm_s8", np.int8, False, 32),
                                        ("dqmm_u8_zp", np.uint8, True, 33)]:
        rng = np.random.default_rng(seed)
        k, n = 96, 64
        lo, hi = (-127, 128) if b_type == np.int8 else (0, 256)
        b = rng.integers(lo, hi, size=(k, n)).astype(b_type)
        inits = [numpy_helper.from_array(b, "B"),
                 numpy_helper.from_array(np.array([0.004], np.float32),
                                         "b_scale")]
        ins = ["A", "B", "b_scale"]
        if with_zp:
            inits.append(numpy_helper.from_array(np.array([121], b_type),
                                                 "b_zp"))
            ins.append("b_zp")
        else:
            ins.append("")
        inits.append(numpy_helper.from_array(
            rng.standard_normal(n).astype(np.float32), "bias"))
        ins.append("bias")
        node = helper.make_node("DynamicQuantizeMatMul", ins, ["Y"],
                                domain=MS)
        a = rng.standard_normal((4, k)).astype(np.float32)
        bld.save(name, [node],
                 [helper.make_tensor_value_info("A", TensorProto.FLOAT,
                                                ["tokens", k])],
                 [helper.make_tensor_value_info("Y", TensorProto.FLOAT,
                                                ["tokens", n])],
                 inits, {"A": a})
    # The contrib QuantizeLinear / DequantizeLinear (ONNX semantics): a
    # per-tensor quantize-dequantize round trip, and a per-axis int8 weight
    # dequantized in front of a MatMul.
    rng = np.random.default_rng(34)
    x = rng.standard_normal((3, 16)).astype(np.float32)
    inits = [numpy_helper.from_array(np.array(0.05, np.float32), "s"),
             numpy_helper.from_array(np.array(120, np.uint8), "z"),
             numpy_helper.from_array(
                 rng.integers(-127, 128, size=(16, 8)).astype(np.int8), "wq"),
             numpy_helper.from_array(
                 rng.uniform(0.01, 0.02, size=8).astype(np.float32), "ws")]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"], domain=MS),
        helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"],
                         domain=MS),
        helper.make_node("DequantizeLinear", ["wq", "ws"], ["w"], domain=MS,
                         axis=1),
        helper.make_node("MatMul", ["xd", "w"], ["y"]),
    ]
    bld.save("contrib_qdq", nodes,
             [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 16])],
             [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 8]),
              helper.make_tensor_value_info("xq", TensorProto.UINT8,
                                            [3, 16])],
             inits, {"x": x})


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    bld = Builder(out_dir)
    add_nbits_cases(bld)
    add_nbits_mlp(bld, "nbits4_mlp_sym", 40, symmetric=True)
    add_nbits_mlp(bld, "nbits4_mlp_asym", 41, symmetric=False)
    add_nbits_mlp(bld, "nbits8_mlp_asym", 42, symmetric=False, bits=8,
                  block_size=64)
    add_integer_cases(bld)
    bld.write_manifest()


if __name__ == "__main__":
    main()
