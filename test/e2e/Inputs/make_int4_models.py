"""Models with ONNX INT4/UINT4 tensors (opset 21) as ONNX Runtime's
quantizer writes them: DequantizeLinear of packed 4-bit weights with
per-block or per-channel scales feeding MatMul/Gemm, 4-bit constants,
QuantizeLinear to 4-bit types, Cast from them; and ONNX Runtime's
GatherBlockQuantized (block-quantized embeddings: INT4/UINT4 data, or
uint8 holding 2-, 4- or 8-bit values) (fixed seeds).

  make_int4_models.py DIR   writes DIR/*.onnx, DIR/*.npy and
                            DIR/manifest.json
"""
import os
import sys

import numpy as np
from onnx import TensorProto as T, helper

from onnx_cases import (Cases, UINT4, INT4, four_bit_tensor, pack_bits as
                        pack, pack_nibbles)

models = Cases(sys.argv[1])
rng = np.random.default_rng(21)


def normal(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def scales(*shape):
    return (rng.random(shape) * 0.05 + 0.01).astype(np.float32)


def int4(*shape):
    return rng.integers(-8, 8, size=shape)


def uint4(*shape):
    return rng.integers(0, 16, size=shape)


def dq_matmul(name, k, n, block, signed=True, zero_point=None, tokens=(3,),
              int32_data=False):
    """x @ DequantizeLinear(w [k, n], scale [k / block, n], axis 0): the
    MatMul4BitsQuantizer QDQ form (block 0: one scale per column)."""
    w = int4(k, n) if signed else uint4(k, n)
    inits = [four_bit_tensor("w", w, signed, int32_data)]
    dq_inputs = ["w", "scale"]
    if block:
        inits.append(("scale", scales(-(-k // block), n)))
        attrs = {"axis": 0, "block_size": block}
    else:
        inits.append(("scale", scales(n)))
        attrs = {"axis": 1}
    if zero_point is not None:
        inits.append(four_bit_tensor("zp", zero_point(inits[1][1].shape),
                                     signed))
        dq_inputs.append("zp")
    x = normal(*tokens, k)
    models.add(name,
               [helper.make_node("DequantizeLinear", dq_inputs, ["wf"],
                                 **attrs),
                helper.make_node("MatMul", ["x", "wf"], ["y"])],
               {"x": x}, [("y", T.FLOAT, (*tokens, n))], inits, opset=21,
               rtol=1e-5)


dq_matmul("dq_int4_block32", 128, 48, 32)
dq_matmul("dq_int4_block32_zero_point", 128, 48, 32,
          zero_point=lambda s: rng.integers(-3, 4, size=s))
dq_matmul("dq_uint4_block64_zero_point", 128, 40, 64, signed=False,
          zero_point=lambda s: rng.integers(0, 16, size=s), tokens=(2, 3))
dq_matmul("dq_uint4_block32_zero_point_8", 64, 32, 32, signed=False,
          zero_point=lambda s: np.full(s, 8), tokens=(2, 5))
dq_matmul("dq_int4_per_channel", 96, 24, 0)
dq_matmul("dq_int4_block16_narrow", 48, 7, 16)
dq_matmul("dq_int4_block5_partial", 23, 9, 5)
dq_matmul("dq_int4_int32_data", 64, 16, 32, int32_data=True)

# Gemm with transB: the weight [n, k] blocked along k (axis 1).
k, n, block = 64, 20, 16
models.add("dq_int4_gemm_trans_b",
           [helper.make_node("DequantizeLinear", ["w", "scale"], ["wf"],
                             axis=1, block_size=block),
            helper.make_node("Gemm", ["x", "wf", "bias"], ["y"], transB=1)],
           {"x": normal(4, k)}, [("y", T.FLOAT, (4, n))],
           [four_bit_tensor("w", int4(n, k)),
            ("scale", scales(n, k // block)), ("bias", normal(n))],
           opset=21, rtol=1e-5)

# A 4-bit Constant node, and a Cast of a 4-bit initializer.
c = int4(6, 10)
models.add("int4_constant_cast",
           [helper.make_node("Constant", [], ["c"],
                             value=four_bit_tensor("c", c)),
            helper.make_node("Cast", ["c"], ["cf"], to=T.FLOAT),
            helper.make_node("Cast", ["u"], ["uf"], to=T.FLOAT),
            helper.make_node("Add", ["x", "cf"], ["s"]),
            helper.make_node("Add", ["s", "uf"], ["y"])],
           {"x": normal(6, 10)}, [("y", T.FLOAT, (6, 10))],
           [four_bit_tensor("u", uint4(6, 10), signed=False)], opset=21,
           rtol=1e-6)

# QuantizeLinear to 4 bits saturates to [-8, 7] / [0, 15].
x = normal(5, 12) * 4
models.add("quantize_int4_zero_point",
           [helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["q"]),
            helper.make_node("DequantizeLinear", ["q", "s", "zp"], ["y"])],
           {"x": x}, [("y", T.FLOAT, (5, 12))],
           [("s", np.array(0.5, np.float32)),
            four_bit_tensor("zp", np.array(1))], opset=21, rtol=1e-6)
models.add("quantize_uint4_output_dtype",
           [helper.make_node("QuantizeLinear", ["x", "s"], ["q"],
                             output_dtype=UINT4),
            helper.make_node("DequantizeLinear", ["q", "s"], ["y"])],
           {"x": x}, [("y", T.FLOAT, (5, 12))],
           [("s", np.array(0.25, np.float32))], opset=21, rtol=1e-6)
models.add("quantize_int4_blocked",
           [helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["q"],
                             axis=1, block_size=4),
            helper.make_node("DequantizeLinear", ["q", "s", "zp"], ["y"],
                             axis=1, block_size=4)],
           {"x": x}, [("y", T.FLOAT, (5, 12))],
           [("s", scales(5, 3) * 20), four_bit_tensor("zp", int4(5, 3))],
           opset=21, rtol=1e-6)

# External data: the packed bytes in a file beside the model.
k, n = 64, 16
w = int4(k, n)
packed = pack_nibbles(w).tobytes()
with open(os.path.join(sys.argv[1], "int4_weights.bin"), "wb") as f:
    f.write(b"\0" * 8 + packed)
ext = T()
ext.name = "w"
ext.data_type = INT4
ext.dims.extend([k, n])
ext.data_location = T.EXTERNAL
for key, value in [("location", "int4_weights.bin"), ("offset", "8"),
                   ("length", str(len(packed)))]:
    entry = ext.external_data.add()
    entry.key, entry.value = key, value
models.add("dq_int4_external_data",
           [helper.make_node("DequantizeLinear", ["w", "scale"], ["wf"],
                             axis=0, block_size=32),
            helper.make_node("MatMul", ["x", "wf"], ["y"])],
           {"x": normal(2, k)}, [("y", T.FLOAT, (2, n))],
           [ext, ("scale", scales(k // 32, n))], opset=21, rtol=1e-5)



def gather_block_quantized(name, data, indices, scale, zero_points=None,
                           **attrs):
    """GatherBlockQuantized(data, indices, scales[, zero_points]) with the
    indices as the model's input."""
    inits = [data, ("scales", scale)]
    inputs = ["data", "indices", "scales"]
    if zero_points is not None:
        inits.append(zero_points)
        inputs.append("zero_points")
    rank = len(data.dims) if isinstance(data, T) else data[1].ndim
    gather_axis = attrs.get("gather_axis", 0) % rank
    shape = list(data.dims if isinstance(data, T) else data[1].shape)
    if not isinstance(data, T):
        shape[-1] *= 8 // attrs.get("bits", 4)
    out = shape[:gather_axis] + list(indices.shape) + shape[gather_axis + 1:]
    models.add(name,
               [helper.make_node("GatherBlockQuantized", inputs, ["y"],
                                 domain="com.microsoft", **attrs)],
               {"indices": indices}, [("y", T.FLOAT, out)], inits, opset=21,
               extra_opsets=[("com.microsoft", 1)], rtol=1e-6)


vocab, hidden = 40, 64
tokens = np.array([[3, 17, 0], [39, 5, -2]], np.int64)
for bits in (2, 4, 8):
    values = rng.integers(0, 1 << bits, size=(vocab, hidden))
    gather_block_quantized(f"gather_block_quantized_uint8_{bits}bit",
                           ("data", pack(values, bits)), tokens,
                           scales(vocab, hidden // 16), block_size=16,
                           bits=bits)
zp = rng.integers(0, 16, size=(vocab, hidden // 32))
gather_block_quantized("gather_block_quantized_uint8_zero_points",
                       ("data", pack(uint4(vocab, hidden), 4)), tokens,
                       scales(vocab, hidden // 32),
                       ("zero_points", pack(zp, 4)), block_size=32)
gather_block_quantized("gather_block_quantized_int4",
                       four_bit_tensor("data", int4(vocab, hidden)),
                       tokens.astype(np.int32), scales(vocab, hidden // 32),
                       four_bit_tensor("zero_points",
                                       int4(vocab, hidden // 32)),
                       block_size=32)
# UINT4 data gathered along axis 1 and quantized along axis 0 (a [hidden,
# vocab] table), 48 rows in blocks of 32 (the last one partial).
gather_block_quantized("gather_block_quantized_uint4_axis1",
                       four_bit_tensor("data", uint4(48, vocab), False),
                       np.array(7, np.int64), scales(2, vocab),
                       gather_axis=1, quantize_axis=0, block_size=32)

models.write_manifest()
