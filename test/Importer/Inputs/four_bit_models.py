#!/usr/bin/env python3
"""Writes the INT4/UINT4 models of four-bit.test (opset 21; onnx 1.12
cannot check them, so every output has its shape and the IR version is set
by hand).

Usage: four_bit_models.py <name> <output.onnx>
"""

import os
import sys

import numpy as np
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "e2e", "Inputs"))
from onnx_cases import UINT4, INT4, four_bit_tensor  # noqa: E402

from models import save_named_model  # noqa: E402


def vi(name, elem, shape):
    return h.make_tensor_value_info(name, elem, shape)


def model(nodes, inputs, outputs, inits=()):
    graph = h.make_graph(nodes, "test", inputs, outputs, list(inits))
    m = h.make_model(graph, opset_imports=[h.make_opsetid("", 21)])
    m.ir_version = 10
    return m


def N(op, ins, outs, **attrs):
    return h.make_node(op, ins, outs, name=outs[0], **attrs)


# [[-8, 7, 1], [2, -1, 0]]: every sign and both nibbles of a byte, and an
# odd count padded by a zero nibble.
W = np.array([[-8, 7, 1], [2, -1, 0]])
SCALE = nh.from_array(np.array([0.5, 0.25, 2.0], np.float32), "s")


def dequantize(weight):
    return model([N("DequantizeLinear", ["w", "s"], ["y"], axis=1)], [],
                 [vi("y", T.FLOAT, [2, 3])], [weight, SCALE])


def cast_int4_initializer():
    return model([N("Cast", ["w"], ["y"], to=T.FLOAT)], [],
                 [vi("y", T.FLOAT, [2, 3])], [four_bit_tensor("w", W)])


def quantize_int4():
    return model([N("QuantizeLinear", ["x", "s", "zp"], ["q"]),
                  N("DequantizeLinear", ["q", "s", "zp"], ["y"])],
                 [vi("x", T.FLOAT, [4])], [vi("y", T.FLOAT, [4])],
                 [nh.from_array(np.array(0.5, np.float32), "s"),
                  four_bit_tensor("zp", np.array(0))])


def int4_input():
    return model([N("DequantizeLinear", ["w", "s"], ["y"], axis=1)],
                 [vi("w", INT4, [2, 3])], [vi("y", T.FLOAT, [2, 3])],
                 [SCALE])


def cast_to_int4():
    return model([N("Cast", ["x"], ["y"], to=UINT4)],
                 [vi("x", T.FLOAT, [4])], [vi("y", T.FLOAT, [4])])


def castlike_int4():
    return model([N("CastLike", ["x", "w"], ["y"])], [vi("x", T.FLOAT, [4])],
                 [vi("y", T.FLOAT, [4])],
                 [four_bit_tensor("w", np.array([1]))])


def bad_raw_size():
    t = four_bit_tensor("w", W)
    t.raw_data = t.raw_data + b"\0"
    return dequantize(t)


def bad_int32_data():
    t = four_bit_tensor("w", W, int32_data=True)
    t.int32_data[1] = 300
    return dequantize(t)


def gather_block_quantized(data_type=T.UINT8, **attrs):
    data = nh.from_array(np.zeros((8, 16), np.uint8), "data")
    if data_type != T.UINT8:
        data = four_bit_tensor("data", np.zeros((8, 32)), data_type == INT4)
    m = model([N("GatherBlockQuantized", ["data", "i", "s"], ["y"],
                 domain="com.microsoft", **attrs)],
              [vi("i", T.INT64, [2])], [vi("y", T.FLOAT, [2, 32])],
              [data, nh.from_array(np.ones((8, 2), np.float32), "s")])
    m.opset_import.append(h.make_opsetid("com.microsoft", 1))
    return m


MODELS = {
    "dequantize_int4": lambda: dequantize(four_bit_tensor("w", W)),
    "dequantize_uint4_int32_data": lambda: dequantize(
        four_bit_tensor("w", W + 8, signed=False, int32_data=True)),
    "cast_int4_initializer": cast_int4_initializer,
    "quantize_int4": quantize_int4,
    "int4_input": int4_input,
    "cast_to_int4": cast_to_int4,
    "castlike_int4": castlike_int4,
    "bad_raw_size": bad_raw_size,
    "bad_int32_data": bad_int32_data,
    "gather_block_quantized_block_24": lambda: gather_block_quantized(
        block_size=24),
    "gather_block_quantized_uint8_axis1": lambda: gather_block_quantized(
        gather_axis=1, quantize_axis=0, block_size=16),
    "gather_block_quantized_int4_bits8": lambda: gather_block_quantized(
        INT4, bits=8, block_size=16),
}


if __name__ == "__main__":
    save_named_model(MODELS)
