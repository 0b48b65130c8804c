"""Models that call model-local functions (ModelProto.functions, the form
PyTorch's dynamo exporter and onnxscript write), with inputs, for
check_vs_ort.py (fixed seeds).

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

models.write_manifest()
