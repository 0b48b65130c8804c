"""Models that call model-local functions (ModelProto.functions, the form
PyTorch's dynamo exporter and onnxscript write), and models using standard
operators the importer takes through the function body of their ONNX
schema, with inputs, for check_vs_ort.py (fixed seeds).

  make_function_models.py DIR   writes DIR/*.onnx, DIR/*.npy and
                                DIR/manifest.json
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto as T, helper

from onnx_cases import Cases

models = Cases(sys.argv[1])
rng = np.random.default_rng(5)
LOCAL = "pkg.local"


def arr(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def N(op, ins, outs, domain="", **attrs):
    return helper.make_node(op, ins, outs, domain=domain, **attrs)


def ref(name, ref_name, kind):
    """An attribute of a function body node that takes the call's
    attribute `ref_name`."""
    a = onnx.AttributeProto()
    a.name, a.ref_attr_name, a.type = name, ref_name, kind
    return a


def fn(name, inputs, outputs, nodes, attributes=(), opset=17):
    return helper.make_function(LOCAL, name, inputs, outputs, nodes,
                                [helper.make_opsetid("", opset)],
                                list(attributes))


def add_case(name, nodes, functions, inputs, outputs, inits=(), opset=17,
             rtol=1e-4):
    """outputs: [(name, shape)], all float."""
    models.add(name, nodes, inputs, [(n, T.FLOAT, s) for n, s in outputs],
               inits, opset, rtol, functions=functions,
               extra_opsets=[(LOCAL, 1)])


# A layer norm written as a function with an `epsilon` attribute, called
# twice with different epsilons (one left at the body's default).
eps_const = N("Constant", [], ["eps"])
eps_const.attribute.append(ref("value_float", "epsilon",
                               onnx.AttributeProto.FLOAT))
layer_norm = fn("LayerNormFn", ["X", "scale", "bias"], ["Y"], [
    N("ReduceMean", ["X"], ["mu"], axes=[-1]),
    N("Sub", ["X", "mu"], ["xc"]),
    N("Mul", ["xc", "xc"], ["sq"]),
    N("ReduceMean", ["sq"], ["var"], axes=[-1]),
    eps_const,
    N("Add", ["var", "eps"], ["ve"]),
    N("Sqrt", ["ve"], ["sd"]),
    N("Div", ["xc", "sd"], ["xn"]),
    N("Mul", ["xn", "scale"], ["xs"]),
    N("Add", ["xs", "bias"], ["Y"]),
], attributes=["epsilon"])
x = arr(2, 5, 16)
add_case("function_layer_norm_twice", [
    N("LayerNormFn", ["x", "g", "b"], ["h"], domain=LOCAL, epsilon=1e-5),
    N("LayerNormFn", ["h", "g", "b"], ["y"], domain=LOCAL, epsilon=0.5),
], [layer_norm], {"x": x}, [("y", [2, 5, 16])],
    [("g", arr(16)), ("b", arr(16))])

# Nested calls: an MLP function calling a GELU function; values inside the
# two calls of the MLP must not collide.
gelu = fn("GeluFn", ["X"], ["Y"], [
    N("Constant", [], ["r2"], value_float=float(np.sqrt(2.0))),
    N("Div", ["X", "r2"], ["t"]), N("Erf", ["t"], ["e"]),
    N("Constant", [], ["one"], value_float=1.0),
    N("Add", ["e", "one"], ["e1"]), N("Mul", ["X", "e1"], ["m"]),
    N("Constant", [], ["half"], value_float=0.5),
    N("Mul", ["m", "half"], ["Y"]),
])
mlp = fn("MlpFn", ["X", "W1", "W2"], ["Y"], [
    N("MatMul", ["X", "W1"], ["h"]),
    N("GeluFn", ["h"], ["a"], domain=LOCAL),
    N("MatMul", ["a", "W2"], ["Y"]),
])
mlp.opset_import.append(helper.make_opsetid(LOCAL, 1))
x = arr(3, 16)
add_case("function_nested_mlp", [
    N("MlpFn", ["x", "w1", "w2"], ["h"], domain=LOCAL),
    N("MlpFn", ["h", "w1", "w2"], ["y"], domain=LOCAL),
], [gelu, mlp], {"x": x}, [("y", [3, 16])],
    [("w1", arr(16, 32, scale=0.25)), ("w2", arr(32, 16, scale=0.2))])

# An optional formal input the call leaves out, and a formal output the call
# does not take.
clip = fn("ClipFn", ["X", "lo", "hi"], ["Y", "Z"], [
    N("Clip", ["X", "lo", "hi"], ["Y"]), N("Neg", ["Y"], ["Z"]),
])
x = arr(4, 6, scale=3)
add_case("function_optional_input", [
    N("ClipFn", ["x", "lo", ""], ["y", ""], domain=LOCAL),
], [clip], {"x": x}, [("y", [4, 6])], [("lo", np.array(-1.0, np.float32))])

# A function body in opset 18 form (ReduceMean with an axes input).
rms = fn("RmsFn", ["X"], ["Y"], [
    N("Mul", ["X", "X"], ["sq"]),
    N("Constant", [], ["axes"], value_ints=[-1]),
    N("ReduceMean", ["sq", "axes"], ["ms"]),
    N("Constant", [], ["eps"], value_float=1e-6),
    N("Add", ["ms", "eps"], ["mse"]), N("Sqrt", ["mse"], ["r"]),
    N("Div", ["X", "r"], ["Y"]),
], opset=18)
x = arr(2, 8)
add_case("function_opset18_body", [N("RmsFn", ["x"], ["y"], domain=LOCAL)],
         [rms], {"x": x}, [("y", [2, 8])], opset=18)


# Standard operators defined by a function in their ONNX schema; opset 18
# imports MeanVarianceNormalization-13, whose body is written against opset
# 13 (ReduceMean with an axes attribute).
x = arr(2, 3, 4, 5)
add_case("schema_mvn_default_axes",
         [N("MeanVarianceNormalization", ["x"], ["y"])], [], {"x": x},
         [("y", [2, 3, 4, 5])], opset=13)
add_case("schema_mvn_axes_opset18",
         [N("MeanVarianceNormalization", ["x"], ["y"], axes=[1, 3])], [],
         {"x": x}, [("y", [2, 3, 4, 5])], opset=18)

# The loss operators' bodies depend on attributes and on which optional
# inputs are present (context-dependent functions).
logits = arr(4, 6, 3)
target = rng.integers(0, 6, (4, 3)).astype(np.int64)
target[1, 2] = target[3, 0] = 2  # the ignored class
models.add("schema_nllloss_weight_ignore_index",
           [N("NegativeLogLikelihoodLoss", ["x", "t", "w"], ["loss"],
              reduction="mean", ignore_index=2)],
           {"x": logits, "t": target}, [("loss", T.FLOAT, [])],
           [("w", np.abs(arr(6)) + 0.1)], opset=13)
models.add("schema_sce_none_log_prob",
           [N("SoftmaxCrossEntropyLoss", ["x", "t"], ["loss", "log_prob"],
              reduction="none")],
           {"x": logits, "t": target},
           [("loss", T.FLOAT, [4, 3]), ("log_prob", T.FLOAT, [4, 6, 3])],
           opset=13)

# A window function: its size is a constant, the output type an attribute.
add_case("schema_hann_window_symmetric",
         [N("HannWindow", ["n"], ["w"], periodic=0),
          N("Mul", ["x", "w"], ["y"])], [], {"x": arr(3, 16)},
         [("y", [3, 16])], [("n", np.array(16, np.int64))], opset=17)

models.write_manifest()
