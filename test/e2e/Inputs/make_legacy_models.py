"""Models of default-domain opsets 1 to 6 (before numpy broadcasting), each
with the same computation written at opset 13 as the model ONNX Runtime
runs ("ort_model": ONNX Runtime does not load opsets before 7): the legacy
`broadcast`/`axis` form of the binary operators (axis in the middle, A's
suffix, a constant and a runtime B), Cast-1's string `to`, Concat-1's
default axis, Pad-1's `paddings`, Reshape-1's `shape` attribute, Split-1's
split input, Tile-1's (tiles, axis) (of the input's type), Upsample-1's height/width scales,
BatchNormalization/Dropout with `is_test`, Gemm-6's `broadcast`, operators
carrying `consumed_inputs`, and a small opset-4 CNN of all of them.

  make_legacy_models.py DIR   writes DIR/*.onnx, DIR/*.npy and
                              DIR/manifest.json
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto as T, helper

from onnx_cases import IR_VERSION, Cases, normal, rng_for

for legacy_opset in range(1, 7):
    IR_VERSION.setdefault(legacy_opset, 3)
models = Cases(sys.argv[1])
F = T.FLOAT


def N(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, **attrs)


def pair(name, opset, legacy, modern, inputs, outputs, inits=(),
         modern_inits=None, rtol=1e-4):
    """`legacy` at `opset`, checked against `modern` at opset 13."""
    models.add(name + "_ref", modern, inputs, outputs,
               inits if modern_inits is None else modern_inits, 13)
    models.add(name, legacy, inputs, outputs, inits, opset, rtol=rtol)
    # IR 3 lists initializers among the graph inputs.
    path = f"{models.out}/{name}.onnx"
    model = onnx.load(path)
    model.graph.input.extend(
        helper.make_tensor_value_info(i.name, i.data_type, i.dims)
        for i in model.graph.initializer)
    onnx.save(model, path)
    ref = models.cases.pop(-2)
    models.cases[-1]["ort_model"] = ref["model"]


rng = rng_for("legacy")
a4 = normal(rng, [2, 3, 4, 5])
b34 = normal(rng, [3, 4])
pair("add_broadcast_axis_input", 6,
     [N("Add", ["a", "b"], ["y"], broadcast=1, axis=1)],
     [N("Unsqueeze", ["b", "axes"], ["b3"]), N("Add", ["a", "b3"], ["y"])],
     {"a": a4, "b": b34}, [("y", F, [2, 3, 4, 5])],
     modern_inits=[("axes", np.array([2], np.int64))])
b23 = normal(rng, [2, 3])
pair("mul_broadcast_axis_constant", 6,
     [N("Mul", ["a", "b"], ["y"], broadcast=1, axis=0)],
     [N("Mul", ["a", "b"], ["y"])],
     {"a": a4}, [("y", F, [2, 3, 4, 5])],
     [("b", b23)], modern_inits=[("b", b23.reshape(2, 3, 1, 1))])
pair("sub_broadcast_suffix", 6,
     [N("Sub", ["a", "b"], ["y"], broadcast=1)],
     [N("Sub", ["a", "b"], ["y"])],
     {"a": a4, "b": normal(rng, [4, 5])}, [("y", F, [2, 3, 4, 5])])
pair("div_same_shape_consumed_inputs", 1,
     [N("Div", ["a", "b"], ["y"], consumed_inputs=[0, 0])],
     [N("Div", ["a", "b"], ["y"])],
     {"a": normal(rng, [3, 4]), "b": normal(rng, [3, 4]) + 3},
     [("y", F, [3, 4])])
pair("greater_broadcast_axis", 1,
     [N("Greater", ["a", "b"], ["y"], broadcast=1, axis=0)],
     [N("Unsqueeze", ["b", "axes"], ["b2"]), N("Greater", ["a", "b2"], ["y"])],
     {"a": normal(rng, [4, 3]), "b": normal(rng, [4])},
     [("y", T.BOOL, [4, 3])],
     modern_inits=[("axes", np.array([1], np.int64))])
pair("cast_string_to", 1,
     [N("Cast", ["x"], ["y"], to="INT32")],
     [N("Cast", ["x"], ["y"], to=T.INT32)],
     {"x": (normal(rng, [3, 5]) * 10)}, [("y", T.INT32, [3, 5])])
pair("concat_default_axis", 1,
     [N("Concat", ["a", "b"], ["y"])],
     [N("Concat", ["a", "b"], ["y"], axis=1)],
     {"a": normal(rng, [2, 3]), "b": normal(rng, [2, 4])},
     [("y", F, [2, 7])])
pair("pad_paddings", 1,
     [N("Pad", ["x"], ["y"], paddings=[0, 1, 2, 0], value=1.5)],
     [N("Pad", ["x", "pads", "value"], ["y"])],
     {"x": normal(rng, [2, 3])}, [("y", F, [4, 4])],
     modern_inits=[("pads", np.array([0, 1, 2, 0], np.int64)),
                   ("value", np.array(1.5, np.float32))])
pair("reshape_shape_attribute", 1,
     [N("Reshape", ["x"], ["y"], shape=[3, -1])],
     [N("Reshape", ["x", "shape"], ["y"])],
     {"x": normal(rng, [2, 3, 2])}, [("y", F, [3, 4])],
     modern_inits=[("shape", np.array([3, -1], np.int64))])
pair("split_sizes_input", 1,
     [N("Split", ["x", "sizes"], ["y0", "y1"], axis=1)],
     [N("Split", ["x", "sizes"], ["y0", "y1"], axis=1)],
     {"x": normal(rng, [2, 5])}, [("y0", F, [2, 1]), ("y1", F, [2, 4])],
     [("sizes", np.array([1, 4], np.int64))])
pair("tile_tiles_axis", 1,
     [N("Tile", ["x", "tiles", "axis"], ["y"])],
     [N("Tile", ["x", "repeats"], ["y"])],
     {"x": normal(rng, [2, 3])}, [("y", F, [2, 9])],
     [("tiles", np.array(3, np.float32)), ("axis", np.array(1, np.float32))],
     modern_inits=[("repeats", np.array([1, 3], np.int64))])
pair("upsample_height_width", 1,
     [N("Upsample", ["x"], ["y"], height_scale=2.0, width_scale=3.0)],
     [N("Resize", ["x", "", "scales"], ["y"], mode="nearest",
        coordinate_transformation_mode="asymmetric", nearest_mode="floor")],
     {"x": normal(rng, [1, 2, 3, 4])}, [("y", F, [1, 2, 6, 12])],
     modern_inits=[("scales", np.array([1, 1, 2, 3], np.float32))])
bn = [("scale", normal(rng, [3]) + 1), ("bias", normal(rng, [3])),
      ("mean", normal(rng, [3])), ("var", np.abs(normal(rng, [3])) + 0.5)]
pair("batchnorm_is_test", 6,
     [N("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["y"],
        is_test=1, epsilon=1e-3)],
     [N("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["y"],
        epsilon=1e-3)],
     {"x": normal(rng, [2, 3, 4, 4])}, [("y", F, [2, 3, 4, 4])], bn)
pair("dropout_is_test", 6,
     [N("Dropout", ["x"], ["y"], is_test=1, ratio=0.3)],
     [N("Identity", ["x"], ["y"])],
     {"x": normal(rng, [3, 4])}, [("y", F, [3, 4])])
pair("gemm_broadcast_bias", 6,
     [N("Gemm", ["a", "b", "c"], ["y"], broadcast=1, transB=1)],
     [N("Gemm", ["a", "b", "c"], ["y"], transB=1)],
     {"a": normal(rng, [4, 6])}, [("y", F, [4, 5])],
     [("b", normal(rng, [5, 6])), ("c", normal(rng, [5]))])

# A small CNN as an opset-4 exporter wrote it.
cnn = [("w", normal(rng, [4, 3, 3, 3], 0.3)), ("scale", normal(rng, [4]) + 1),
       ("bias", normal(rng, [4])), ("mean", normal(rng, [4], 0.1)),
       ("var", np.abs(normal(rng, [4])) + 0.5),
       ("fc_w", normal(rng, [10, 16], 0.3)), ("fc_b", normal(rng, [10]))]
def cnn_head(legacy):
    old = {"is_test": 1, "consumed_inputs": [0, 0, 0, 1, 1]} if legacy else {}
    relu = {"consumed_inputs": [0]} if legacy else {}
    return [N("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3],
              pads=[1, 1, 1, 1]),
            N("BatchNormalization", ["c", "scale", "bias", "mean", "var"],
              ["n"], **old),
            N("Relu", ["n"], ["r"], **relu),
            N("MaxPool", ["r"], ["p"], kernel_shape=[4, 4], strides=[4, 4])]


pair("cnn_opset4", 4,
     cnn_head(True) + [
         N("Reshape", ["p"], ["f"], shape=[2, 16]),
         N("Gemm", ["f", "fc_w", "fc_b"], ["g"], transB=1, broadcast=1),
         N("Softmax", ["g"], ["y"])],
     cnn_head(False) + [
         N("Reshape", ["p", "shape"], ["f"]),
         N("Gemm", ["f", "fc_w", "fc_b"], ["g"], transB=1),
         N("Softmax", ["g"], ["y"])],
     {"x": normal(rng, [2, 3, 8, 8])}, [("y", F, [2, 10])], cnn,
     modern_inits=cnn + [("shape", np.array([2, 16], np.int64))])
models.write_manifest()
