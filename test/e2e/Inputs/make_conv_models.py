"""Conv, ConvInteger, ConvTranspose and pooling models in the forms the
importer converts (1-D to 3-D; pads, strides, dilations, groups, auto_pad;
bias; output_padding and output_shape; ceil_mode, count_include_pad; the
global pools; float16 and a dynamic batch; a ViT patch embedding and a
Whisper-style front end), with inputs, for check_vs_ort.py (fixed seeds).

  make_conv_models.py DIR   writes DIR/*.onnx, DIR/*.npy and
                            DIR/manifest.json
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto as T, helper

from onnx_cases import Cases

models = Cases(sys.argv[1])
rng = np.random.default_rng(11)


def arr(*shape, scale=1.0, dtype=np.float32):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def N(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, **attrs)


def conv_case(name, x_shape, w_shape, bias=True, op="Conv", out_shape=None,
              dtype=np.float32, opset=17, dynamic_batch=False, **attrs):
    x = arr(*x_shape, dtype=dtype)
    w = arr(*w_shape, scale=0.3, dtype=dtype)
    out_channels = w_shape[1] * attrs.get("group", 1) \
        if op == "ConvTranspose" else w_shape[0]
    inits = [("w", w)]
    ins = ["x", "w"]
    if bias:
        inits.append(("b", arr(out_channels, dtype=dtype)))
        ins.append("b")
    elem_type = T.FLOAT16 if dtype == np.float16 else T.FLOAT
    model_inputs = {"x": x}
    models.add(name, [N(op, ins, ["y"], **attrs)], model_inputs,
               [("y", elem_type, out_shape)], inits, opset,
               rtol=2e-3 if dtype == np.float16 else 1e-4)
    if dynamic_batch:
        # The batch dimension as a symbolic size.
        path = f"{models.out}/{name}.onnx"
        m = onnx.load(path)
        m.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
        onnx.save(m, path)


# Conv: 1-D to 3-D, pads, strides, dilations, groups, auto_pad.
conv_case("conv1d_pads", [2, 4, 17], [6, 4, 3], pads=[1, 2])
conv_case("conv1d_stride2_dilation2", [1, 3, 20], [5, 3, 3], strides=[2],
          dilations=[2], pads=[2, 2])
conv_case("conv2d_same_upper_stride2", [1, 3, 11, 9], [8, 3, 3, 3],
          auto_pad="SAME_UPPER", strides=[2, 2])
conv_case("conv2d_same_lower", [1, 2, 6, 7], [4, 2, 4, 2],
          auto_pad="SAME_LOWER", bias=False)
conv_case("conv2d_valid_asymmetric", [2, 3, 9, 8], [4, 3, 3, 2],
          auto_pad="VALID", strides=[1, 3])
conv_case("conv2d_groups", [2, 6, 8, 8], [9, 2, 3, 3], group=3,
          pads=[1, 0, 1, 2])
conv_case("conv2d_depthwise", [1, 8, 10, 10], [8, 1, 3, 3], group=8,
          pads=[1, 1, 1, 1], dilations=[2, 2])
conv_case("conv2d_1x1", [3, 16, 5, 5], [32, 16, 1, 1])
conv_case("conv3d", [1, 2, 5, 6, 4], [3, 2, 2, 3, 2], pads=[1, 0, 1, 0, 1, 1],
          strides=[1, 2, 1])
conv_case("conv2d_float16", [1, 4, 6, 6], [4, 4, 3, 3], dtype=np.float16,
          pads=[1, 1, 1, 1])
conv_case("conv2d_dynamic_batch", [3, 3, 8, 8], [4, 3, 3, 3], pads=[1, 1, 1, 1],
          dynamic_batch=True)
# A ViT patch embedding and a Whisper-style front end (two 1-D convs, GELU).
conv_case("vit_patch_embedding", [1, 3, 32, 32], [48, 3, 8, 8],
          strides=[8, 8])
x = arr(1, 16, 40)
models.add("whisper_front_end", [
    N("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1]),
    N("Div", ["c1", "sqrt2"], ["c1s"]),
    N("Erf", ["c1s"], ["e1"]),
    N("Add", ["e1", "one"], ["e1p"]), N("Mul", ["c1", "e1p"], ["g1h"]),
    N("Mul", ["g1h", "half"], ["g1"]),
    N("Conv", ["g1", "w2", "b2"], ["y"], pads=[1, 1], strides=[2]),
], {"x": x}, [("y", T.FLOAT, [1, 24, 20])],
    [("w1", arr(24, 16, 3, scale=0.2)), ("b1", arr(24)),
     ("w2", arr(24, 24, 3, scale=0.2)), ("b2", arr(24)),
     ("sqrt2", np.array(np.sqrt(2.0), np.float32)),
     ("one", np.array(1.0, np.float32)), ("half", np.array(0.5, np.float32))],
    17)

# ConvTranspose: strides, pads, output_padding, output_shape, groups,
# dilations, auto_pad.
conv_case("convtranspose1d_stride3", [1, 3, 5], [3, 2, 4], op="ConvTranspose",
          strides=[3], pads=[1, 2])
conv_case("convtranspose2d_output_padding", [2, 4, 4, 5], [4, 3, 3, 3],
          op="ConvTranspose", strides=[2, 2], pads=[1, 1, 1, 1],
          output_padding=[1, 0])
conv_case("convtranspose2d_output_shape", [1, 2, 3, 3], [2, 3, 3, 3],
          op="ConvTranspose", strides=[3, 2], output_shape=[10, 8],
          bias=False)
conv_case("convtranspose2d_groups_dilations", [1, 4, 5, 5], [4, 2, 3, 2],
          op="ConvTranspose", group=2, dilations=[2, 1], strides=[1, 2])
conv_case("convtranspose2d_same_upper", [1, 2, 4, 4], [2, 3, 3, 3],
          op="ConvTranspose", auto_pad="SAME_UPPER", strides=[2, 2])

# ConvInteger: uint8 input with a zero point, int8 weight.
x = rng.integers(0, 255, (1, 3, 7, 7)).astype(np.uint8)
models.add("convinteger_zero_points",
           [N("ConvInteger", ["x", "w", "xz", "wz"], ["y"], pads=[1, 1, 1, 1],
              strides=[2, 2])],
           {"x": x}, [("y", T.INT32, [1, 4, 4, 4])],
           [("w", rng.integers(-128, 127, (4, 3, 3, 3)).astype(np.int8)),
            ("xz", np.array(128, np.uint8)), ("wz", np.array(3, np.int8))],
           17, rtol=0)

# Pooling.
x4 = arr(2, 3, 9, 10)


def pool_case(name, op, x, opset=17, **attrs):
    models.add(name, [N(op, ["x"], ["y"], **attrs)], {"x": x},
               [("y", T.FLOAT, None)], [], opset)


pool_case("maxpool2d_pads_strides", "MaxPool", x4, kernel_shape=[3, 3],
          pads=[1, 1, 1, 1], strides=[2, 2])
pool_case("maxpool2d_ceil_dilations", "MaxPool", x4, kernel_shape=[2, 3],
          strides=[2, 2], dilations=[2, 1], ceil_mode=1)
pool_case("maxpool1d_same_upper", "MaxPool", arr(1, 4, 11), kernel_shape=[4],
          strides=[3], auto_pad="SAME_UPPER")
pool_case("maxpool3d", "MaxPool", arr(1, 2, 5, 6, 7), kernel_shape=[2, 2, 3])
# The Indices output (flattened into the unpadded input; storage_order 1
# walks the spatial dimensions column-major).
for order in (0, 1):
    models.add(f"maxpool2d_indices_storage_order{order}",
               [N("MaxPool", ["x"], ["y", "i"], kernel_shape=[3, 2],
                  pads=[1, 0, 1, 1], strides=[2, 2], storage_order=order)],
               {"x": x4}, [("y", T.FLOAT, [2, 3, 5, 5]),
                           ("i", T.INT64, [2, 3, 5, 5])], [], 17)
pool_case("averagepool2d_exclude_pad", "AveragePool", x4, kernel_shape=[3, 3],
          pads=[1, 2, 1, 0], strides=[2, 1])
# ceil_mode adds a partial last column (4 instead of 3) that reads the
# ceil padding, which the divisor does not count.
pool_case("averagepool2d_include_pad_ceil", "AveragePool", x4,
          kernel_shape=[3, 2], pads=[1, 0, 1, 0], strides=[2, 3],
          count_include_pad=1, ceil_mode=1)
pool_case("averagepool1d_same_lower", "AveragePool", arr(2, 3, 10),
          kernel_shape=[3], strides=[2], auto_pad="SAME_LOWER")
pool_case("globalaveragepool", "GlobalAveragePool", x4)
pool_case("globalmaxpool_3d", "GlobalMaxPool", arr(1, 3, 4, 5, 6))

# Per-channel normalizations of [N, C, D...] tensors.
models.add("batchnorm2d_inference",
           [N("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"],
              epsilon=1e-3)], {"x": x4}, [("y", T.FLOAT, [2, 3, 9, 10])],
           [("s", arr(3)), ("b", arr(3)), ("m", arr(3)),
            ("v", np.abs(arr(3)) + 0.5)], 17)
models.add("batchnorm_rank2",
           [N("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"])],
           {"x": arr(5, 4)}, [("y", T.FLOAT, [5, 4])],
           [("s", arr(4)), ("b", arr(4)), ("m", arr(4)),
            ("v", np.abs(arr(4)) + 0.5)], 13)
models.add("instancenorm1d", [N("InstanceNormalization", ["x", "s", "b"],
                                ["y"], epsilon=1e-4)],
           {"x": arr(2, 4, 33)}, [("y", T.FLOAT, [2, 4, 33])],
           [("s", arr(4)), ("b", arr(4))], 17)
models.add("instancenorm2d", [N("InstanceNormalization", ["x", "s", "b"],
                                ["y"])],
           {"x": x4 * 3 + 1}, [("y", T.FLOAT, [2, 3, 9, 10])],
           [("s", arr(3)), ("b", arr(3))], 17)

models.infer_output_shapes()
models.write_manifest()
