"""Elementwise activations and math functions (opset 17 forms) as small
models with inputs, for check_vs_ort.py (fixed seeds).

  make_unary_models.py DIR   writes DIR/*.onnx, DIR/*.npy and
                             DIR/manifest.json
"""
import sys

import numpy as np
from onnx import TensorProto as T, helper

from onnx_cases import Cases

models = Cases(sys.argv[1])
rng = np.random.default_rng(17)


def add_case(name, op, x, out_type=T.FLOAT, rtol=1e-4, **attrs):
    models.add(name, [helper.make_node(op, ["x"], ["y"], **attrs)], {"x": x},
               [("y", out_type, x.shape)], rtol=rtol)


def uniform(lo, hi, shape=(4, 33)):
    return rng.uniform(lo, hi, shape).astype(np.float32)


wide = uniform(-6, 6)
add_case("thresholded_relu", "ThresholdedRelu", wide, alpha=0.7)
add_case("thresholded_relu_default", "ThresholdedRelu", wide)
add_case("softsign", "Softsign", wide)
add_case("shrink_soft", "Shrink", wide, lambd=1.5, bias=1.5)
add_case("shrink_hard", "Shrink", wide)
add_case("celu", "Celu", wide, alpha=2.0)
add_case("hard_swish", "HardSwish", wide)
special = wide.copy()
special[0, :4] = [np.inf, -np.inf, np.nan, 0.0]
add_case("is_inf", "IsInf", special, out_type=T.BOOL)
add_case("is_inf_negative_only", "IsInf", special, out_type=T.BOOL,
         detect_positive=0)
add_case("tan", "Tan", uniform(-1.4, 1.4))
add_case("sinh", "Sinh", uniform(-4, 4))
add_case("cosh", "Cosh", uniform(-4, 4))
add_case("asin", "Asin", uniform(-0.99, 0.99))
add_case("acos", "Acos", uniform(-0.99, 0.99))
add_case("atan", "Atan", wide)
add_case("asinh", "Asinh", wide)
add_case("acosh", "Acosh", uniform(1.01, 8))
add_case("atanh", "Atanh", uniform(-0.95, 0.95))

models.write_manifest()
