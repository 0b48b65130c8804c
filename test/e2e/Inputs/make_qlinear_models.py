"""QLinearMatMul and QLinearConv (ONNX's QOperator form, as ONNX Runtime's
static quantization writes it): uint8/int8 activations and weights,
per-tensor and per-column / per-output-channel weight scales and zero
points, a batched product, a convolution with an int32 bias, pads, strides
and groups, a depthwise one, a chain of two quantized layers, and ONNX Runtime's com.microsoft
QLinearAdd, QLinearMul, QLinearSigmoid, QLinearLeakyRelu,
QLinearGlobalAveragePool, QLinearAveragePool and QLinearConcat, with
inputs for check_vs_ort.py (fixed seeds).

  make_qlinear_models.py DIR   writes DIR/*.onnx, DIR/*.npy and
                               DIR/manifest.json
"""
import sys

import numpy as np
from onnx import TensorProto as T, helper

from onnx_cases import Cases, rng_for

models = Cases(sys.argv[1])
U8, I8 = T.UINT8, T.INT8


def N(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, **attrs)


def q(rng, shape, dtype):
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, shape).astype(dtype)


def f32(*v):
    return np.array(v, np.float32)


def matmul_case(name, a_shape, b_shape, a_type=np.uint8, b_type=np.int8,
                y_type=np.uint8, per_column=False):
    rng = rng_for(name)
    n = b_shape[-1]
    b_scale = (rng.uniform(0.002, 0.01, n) if per_column
               else rng.uniform(0.002, 0.01, ())).astype(np.float32)
    b_zp = q(rng, (n,) if per_column else (), b_type) // 8
    out = list(a_shape[:-1]) + [n]
    models.add(name, [N("QLinearMatMul", ["a", "as", "az", "b", "bs", "bz",
                                          "ys", "yz"], ["y"])],
               {"a": q(rng, a_shape, a_type)},
               [("y", U8 if y_type == np.uint8 else I8, out)],
               [("as", f32(0.02)), ("az", np.array(7, a_type)),
                ("b", q(rng, b_shape, b_type)), ("bs", b_scale),
                ("bz", b_zp.astype(b_type)),
                ("ys", f32(0.9 if a_shape[-1] > 16 else 0.3)),
                ("yz", np.array(3, y_type))], 13, rtol=0)


matmul_case("qlinearmatmul_u8_s8", [4, 32], [32, 8])
matmul_case("qlinearmatmul_per_column", [5, 24], [24, 6], per_column=True)
matmul_case("qlinearmatmul_batched_s8", [2, 3, 16], [16, 5],
            a_type=np.int8, y_type=np.int8)
matmul_case("qlinearmatmul_u8_u8", [3, 20], [20, 4], b_type=np.uint8)


def conv_case(name, x_shape, w_shape, per_channel=False, bias=True,
              **attrs):
    rng = rng_for(name)
    m = w_shape[0]
    w_scale = (rng.uniform(0.002, 0.02, m) if per_channel
               else rng.uniform(0.002, 0.02, ())).astype(np.float32)
    w_zp = np.zeros(m if per_channel else (), np.int8)
    inits = [("xs", f32(0.03)), ("xz", np.array(120, np.uint8)),
             ("w", q(rng, w_shape, np.int8)), ("ws", w_scale), ("wz", w_zp),
             ("ys", f32(0.5)), ("yz", np.array(128, np.uint8))]
    ins = ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"]
    if bias:
        inits.append(("B", rng.integers(-2000, 2000, m).astype(np.int32)))
        ins.append("B")
    models.add(name, [N("QLinearConv", ins, ["y"], **attrs)],
               {"x": q(rng, x_shape, np.uint8)}, [("y", U8, None)], inits,
               13, rtol=0)


conv_case("qlinearconv_bias_pads", [1, 3, 8, 8], [6, 3, 3, 3],
          pads=[1, 1, 1, 1])
conv_case("qlinearconv_per_channel_strided", [2, 4, 9, 7], [8, 2, 3, 2],
          per_channel=True, strides=[2, 1], group=2, bias=False)
conv_case("qlinearconv_depthwise", [1, 6, 6, 6], [6, 1, 3, 3],
          per_channel=True, group=6, pads=[1, 1, 1, 1])
conv_case("qlinearconv_1d", [1, 4, 20], [5, 4, 5], strides=[2])

# Two quantized layers: conv -> matmul on the flattened activations.
rng = rng_for("qlinear_chain")
models.add("qlinear_chain", [
    N("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "hs", "hz", "B"],
      ["h"], pads=[1, 1, 1, 1], strides=[2, 2]),
    N("Reshape", ["h", "shape"], ["flat"]),
    N("QLinearMatMul", ["flat", "hs", "hz", "m", "ms", "mz", "ys", "yz"],
      ["y"]),
], {"x": q(rng, [2, 3, 6, 6], np.uint8)}, [("y", U8, [2, 10])],
    [("xs", f32(0.02)), ("xz", np.array(128, np.uint8)),
     ("w", q(rng, [4, 3, 3, 3], np.int8)), ("ws", f32(0.01)),
     ("wz", np.array(0, np.int8)), ("hs", f32(0.1)),
     ("hz", np.array(100, np.uint8)),
     ("B", rng.integers(-500, 500, 4).astype(np.int32)),
     ("shape", np.array([2, 36], np.int64)),
     ("m", q(rng, [36, 10], np.int8)), ("ms", f32(0.004)),
     ("mz", np.array(0, np.int8)), ("ys", f32(0.2)),
     ("yz", np.array(128, np.uint8))], 13, rtol=0)

# ONNX Runtime's com.microsoft QLinear* operators: dequantize, the float
# operator, quantize (ONNX Runtime's f32 arithmetic rounds alike, within one
# quantization step: rtol 1 / 255 of the largest output).
MS = [("com.microsoft", 1)]
STEP = 1.0 / 250


def ms_case(name, op, x_shapes, y_shape, dtype=np.uint8, zero_points=True,
            **attrs):
    """Scalar scales and zero points (ONNX Runtime needs 0-D ones)."""
    rng = rng_for(name)
    inputs, ins, inits = {}, [], []
    for k, shape in enumerate(x_shapes):
        inputs[f"x{k}"] = q(rng, shape, dtype)
        inits += [(f"s{k}", np.array(0.01 * (k + 2), np.float32))]
        ins += [f"x{k}", f"s{k}"]
        if zero_points:
            inits.append((f"z{k}", np.array(100 + 7 * k if dtype == np.uint8
                                            else -5 * k, dtype)))
            ins.append(f"z{k}")
        else:
            ins.append("")
    inits += [("ys", np.array(0.03, np.float32))]
    # ONNX Runtime needs y's zero point even where it is optional.
    inits.append(("yz", np.array(120 if dtype == np.uint8 else 4, dtype)))
    outs = ["ys", "yz"]
    if op == "QLinearConcat":
        ins = outs + ins
    else:
        ins = ins + outs
    models.add(name, [helper.make_node(op, ins, ["y"], domain="com.microsoft",
                                       **attrs)],
               inputs, [("y", U8 if dtype == np.uint8 else I8, y_shape)],
               inits, 13, rtol=STEP, extra_opsets=MS)


ms_case("ms_qlinearadd_broadcast", "QLinearAdd", [[2, 3, 4], [4]],
        [2, 3, 4])
ms_case("ms_qlinearmul_int8", "QLinearMul", [[3, 5], [3, 5]], [3, 5],
        dtype=np.int8)
ms_case("ms_qlinearsigmoid", "QLinearSigmoid", [[4, 6]], [4, 6])
ms_case("ms_qlinearsigmoid_no_input_zero_point", "QLinearSigmoid", [[3, 7]],
        [3, 7], zero_points=False)
ms_case("ms_qlinearleakyrelu_int8", "QLinearLeakyRelu", [[4, 6]],
        [4, 6], dtype=np.int8, alpha=0.2)
ms_case("ms_qlinearglobalaveragepool", "QLinearGlobalAveragePool",
        [[2, 3, 5, 5]], [2, 3, 1, 1], channels_last=0)
ms_case("ms_qlinearaveragepool", "QLinearAveragePool", [[1, 2, 6, 6]],
        [1, 2, 3, 3], kernel_shape=[3, 3], strides=[2, 2],
        pads=[1, 1, 1, 1])
ms_case("ms_qlinearconcat", "QLinearConcat", [[2, 3], [2, 4], [2, 1]],
        [2, 8], axis=1)

# A one-element scale vector is per-tensor (as ONNX Runtime reads it), also
# over a rank-1 input, where the default axis 1 does not exist.
rng = rng_for("dequantize_one_element_scale")
models.add("dequantize_one_element_scale",
           [N("DequantizeLinear", ["x", "s", "z"], ["y"])],
           {"x": q(rng, [7], np.uint8)}, [("y", T.FLOAT, [7])],
           [("s", f32(0.05)), ("z", np.array([9], np.uint8))], 13, rtol=0)

models.infer_output_shapes()
models.write_manifest()
