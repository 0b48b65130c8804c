"""Resize and Upsample models in the forms the importer converts (nearest in
every rounding mode, linear, cubic; every coordinate transformation mode;
scales or sizes; tf_crop_and_resize with extrapolation; opset 18's axes,
antialias and keep_aspect_ratio_policy; opset 19's half_pixel_symmetric;
opset 10's Resize and Upsample 7/9; integer and float16 inputs; a dynamic
batch with scales and with sizes taken from Shape, as PyTorch exports them),
with inputs, for check_vs_ort.py (fixed seeds).

  make_resize_models.py DIR   writes DIR/*.onnx, DIR/*.npy and
                              DIR/manifest.json
"""
import sys

import numpy as np
from onnx import TensorProto as T, helper

from onnx_cases import IR_VERSION, Cases, normal, rng_for

IR_VERSION.setdefault(8, 3)
IR_VERSION.setdefault(9, 4)
IR_VERSION.setdefault(10, 5)
models = Cases(sys.argv[1])


def N(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, **attrs)


def resize(name, x_shape, out_shape, scales=None, sizes=None, roi=None,
           opset=13, dtype=np.float32, dynamic_batch=False, **attrs):
    """One Resize node over a random X; scales/sizes/roi as initializers."""
    rng = rng_for(name)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        x = rng.integers(info.min, info.max, x_shape).astype(dtype)
    else:
        x = normal(rng, x_shape).astype(dtype)
    inits, ins = [], ["x"]
    for arg, value, kind in (("roi", roi, np.float32),
                             ("scales", scales, np.float32),
                             ("sizes", sizes, np.int64)):
        if value is None:
            ins.append("")
            continue
        inits.append((arg, np.array(value, kind)))
        ins.append(arg)
    while ins[-1] == "":
        ins.pop()
    elem_type = {np.float32: T.FLOAT, np.float16: T.FLOAT16,
                 np.uint8: T.UINT8, np.int8: T.INT8}[dtype]
    rtol = 2e-3 if dtype == np.float16 else (0 if np.issubdtype(
        dtype, np.integer) else 1e-4)
    models.add(name, [N("Resize", ins, ["y"], **attrs)], {"x": x},
               [("y", elem_type, out_shape)], inits, opset, rtol=rtol)
    if dynamic_batch:
        make_batch_symbolic(name)


def make_batch_symbolic(name):
    import onnx
    path = f"{models.out}/{name}.onnx"
    m = onnx.load(path)
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    m.graph.output[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    onnx.save(m, path)


# Nearest: PyTorch's export (asymmetric, floor), the default rounding, and
# the other rounding modes, up and down.
resize("nearest_pytorch_2x", [1, 3, 5, 6], [1, 3, 10, 12],
       scales=[1, 1, 2, 2], mode="nearest",
       coordinate_transformation_mode="asymmetric", nearest_mode="floor",
       opset=11, roi=[])
resize("nearest_half_pixel_up", [2, 2, 4, 5], [2, 2, 7, 9],
       sizes=[2, 2, 7, 9], mode="nearest")
resize("nearest_prefer_ceil_down", [1, 2, 9, 10], [1, 2, 5, 6],
       scales=[1, 1, 0.6, 0.6], mode="nearest",
       nearest_mode="round_prefer_ceil")
resize("nearest_ceil_align_corners", [1, 1, 6, 7], [1, 1, 11, 4],
       sizes=[1, 1, 11, 4], mode="nearest", nearest_mode="ceil",
       coordinate_transformation_mode="align_corners")
resize("nearest_uint8", [1, 3, 4, 4], [1, 3, 8, 12], scales=[1, 1, 2, 3],
       mode="nearest", dtype=np.uint8)
resize("nearest_int8_down", [2, 3, 8, 8], [2, 3, 4, 4], scales=[1, 1, .5, .5],
       mode="nearest", dtype=np.int8)

# Linear: half_pixel (PyTorch's align_corners=False), pytorch_half_pixel,
# align_corners, asymmetric; up and down; 1-D, 2-D and 3-D.
resize("linear_half_pixel_sizes", [1, 2, 7, 9], [1, 2, 12, 5],
       sizes=[1, 2, 12, 5], mode="linear")
resize("linear_pytorch_half_pixel_down", [2, 3, 10, 10], [2, 3, 3, 1],
       sizes=[2, 3, 3, 1], mode="linear",
       coordinate_transformation_mode="pytorch_half_pixel")
resize("linear_align_corners_up", [1, 2, 5, 4], [1, 2, 10, 8],
       scales=[1, 1, 2, 2], mode="linear",
       coordinate_transformation_mode="align_corners")
resize("linear_asymmetric", [1, 1, 6, 6], [1, 1, 9, 4],
       sizes=[1, 1, 9, 4], mode="linear",
       coordinate_transformation_mode="asymmetric")
resize("linear_1d", [2, 3, 10], [2, 3, 25], scales=[1, 1, 2.5],
       mode="linear")
resize("trilinear_3d", [1, 2, 4, 5, 6], [1, 2, 8, 10, 3],
       sizes=[1, 2, 8, 10, 3], mode="linear")
resize("linear_float16", [1, 4, 6, 6], [1, 4, 9, 9], scales=[1, 1, 1.5, 1.5],
       mode="linear", dtype=np.float16)

# Cubic: default and A = -0.5 with exclude_outside, align_corners.
resize("cubic_half_pixel_up", [1, 2, 5, 6], [1, 2, 10, 9],
       sizes=[1, 2, 10, 9], mode="cubic")
resize("cubic_exclude_outside_down", [1, 2, 9, 9], [1, 2, 6, 4],
       sizes=[1, 2, 6, 4], mode="cubic", cubic_coeff_a=-0.5,
       exclude_outside=1)
resize("cubic_align_corners", [2, 1, 6, 5], [2, 1, 8, 11],
       sizes=[2, 1, 8, 11], mode="cubic",
       coordinate_transformation_mode="align_corners")

# tf_crop_and_resize: a crop partly outside the input, extrapolated.
resize("crop_and_resize_linear", [1, 2, 8, 8], [1, 2, 5, 6],
       sizes=[1, 2, 5, 6], roi=[0, 0, -0.2, 0.1, 1, 1, 0.9, 1.3],
       mode="linear", coordinate_transformation_mode="tf_crop_and_resize",
       extrapolation_value=3.5)
resize("crop_and_resize_nearest", [1, 1, 6, 7], [1, 1, 4, 4],
       sizes=[1, 1, 4, 4], roi=[0, 0, 0.2, -0.3, 1, 1, 1.2, 0.8],
       mode="nearest", coordinate_transformation_mode="tf_crop_and_resize",
       extrapolation_value=-1.0)

# Opset 18: axes, antialias, keep_aspect_ratio_policy; opset 19:
# half_pixel_symmetric.
resize("axes_scales_18", [2, 3, 6, 8], [2, 3, 12, 4], scales=[2, 0.5],
       axes=[2, 3], mode="linear", opset=18)
resize("antialias_linear_down", [1, 3, 16, 20], [1, 3, 8, 6],
       sizes=[8, 6], axes=[2, 3], mode="linear", antialias=1, opset=18)
resize("antialias_cubic_down", [1, 2, 17, 13], [1, 2, 6, 6],
       scales=[0.4, 0.5], axes=[-2, -1], mode="cubic", antialias=1,
       opset=18)
resize("antialias_linear_up", [1, 2, 5, 5], [1, 2, 10, 10],
       scales=[1, 1, 2, 2], mode="linear", antialias=1, opset=18)
resize("keep_aspect_not_larger", [1, 2, 6, 9], [1, 2, 8, 12],
       sizes=[8, 16], axes=[2, 3], mode="linear",
       keep_aspect_ratio_policy="not_larger", opset=18)
resize("keep_aspect_not_smaller", [1, 2, 6, 9], [1, 2, 11, 16],
       sizes=[8, 16], axes=[2, 3], mode="nearest",
       keep_aspect_ratio_policy="not_smaller", opset=18)
resize("half_pixel_symmetric", [1, 2, 5, 7], [1, 2, 8, 3],
       scales=[1, 1, 1.7, 0.5], mode="linear",
       coordinate_transformation_mode="half_pixel_symmetric", opset=19)

# A dynamic batch: scales 1 on it, or its size forwarded from Shape.
resize("dynamic_batch_scales", [3, 2, 4, 4], [3, 2, 8, 8],
       scales=[1, 1, 2, 2], mode="linear", dynamic_batch=True)
rng = rng_for("dynamic_batch_sizes_from_shape")
models.add("dynamic_batch_sizes_from_shape", [
    N("Shape", ["x"], ["shape"]),
    N("Slice", ["shape", "zero", "two"], ["nc"]),
    N("Concat", ["nc", "hw"], ["sizes"], axis=0),
    N("Resize", ["x", "", "", "sizes"], ["y"], mode="cubic"),
], {"x": normal(rng, [2, 3, 5, 5])}, [("y", T.FLOAT, [2, 3, 9, 7])],
    [("zero", np.array([0], np.int64)), ("two", np.array([2], np.int64)),
     ("hw", np.array([9, 7], np.int64))], 13)
make_batch_symbolic("dynamic_batch_sizes_from_shape")

# Opset 10's Resize and Upsample 9/7 (asymmetric; nearest rounds down when
# upsampling, up when downsampling).
for name, op, opset, mode, scales, shape, out in (
        ("resize10_nearest_down", "Resize", 10, "nearest", [1, 1, .5, .4],
         [1, 2, 8, 10], [1, 2, 4, 4]),
        ("resize10_linear_up", "Resize", 10, "linear", [1, 1, 2, 1.5],
         [1, 2, 3, 4], [1, 2, 6, 6]),
        ("upsample9_nearest", "Upsample", 9, "nearest", [1, 1, 2, 3],
         [2, 1, 3, 3], [2, 1, 6, 9]),
        ("upsample9_linear", "Upsample", 9, "linear", [1, 1, 2, 2],
         [1, 3, 4, 5], [1, 3, 8, 10])):
    rng = rng_for(name)
    models.add(name, [N(op, ["x", "scales"], ["y"], mode=mode)],
               {"x": normal(rng, shape)}, [("y", T.FLOAT, out)],
               [("scales", np.array(scales, np.float32))], opset)
rng = rng_for("upsample7_nearest")
models.add("upsample7_nearest",
           [N("Upsample", ["x"], ["y"], mode="nearest",
              scales=[1.0, 1.0, 2.0, 2.0])],
           {"x": normal(rng, [1, 2, 3, 4])}, [("y", T.FLOAT, [1, 2, 6, 8])],
           [], 8)
models.write_manifest()
