"""GridSample models for check_vs_ort.py (fixed seeds): every mode, padding
mode and align_corners on 2-D inputs (opset 16 spellings), 3-D inputs with
linear and nearest sampling (opset 20 spellings), coordinates well outside
[-1, 1] (reflection folds more than once), exact pixel centres and
half-pixel ties for nearest, a double-precision model, a grid computed in
the graph, and a PyTorch export of F.grid_sample.

  make_gridsample_models.py DIR   writes DIR/*.onnx, DIR/*.npy and
                                  DIR/manifest.json
"""
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto as T, helper

from onnx_cases import IR_VERSION, Cases, normal, rng_for

IR_VERSION.setdefault(20, 9)
models = Cases(sys.argv[1])
F, D = T.FLOAT, T.DOUBLE
rng = rng_for("gridsample")


def N(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, **attrs)


def grid_2d(n, h, w, spread):
    return rng.uniform(-spread, spread, (n, h, w, 2)).astype(np.float32)


x2 = normal(rng, [2, 3, 5, 4])
g2 = grid_2d(2, 6, 7, 1.8)
for mode in ["bilinear", "nearest", "bicubic"]:
    for padding in ["zeros", "border", "reflection"]:
        for align in [0, 1]:
            models.add(f"gs16_{mode}_{padding}_align{align}",
                       [N("GridSample", ["x", "grid"], ["y"], mode=mode,
                          padding_mode=padding, align_corners=align)],
                       {"x": x2, "grid": g2}, [("y", F, [2, 3, 6, 7])],
                       opset=16)

# Far outside [-1, 1]: reflection folds several times, border clamps.
far = rng.uniform(-7.0, 7.0, (1, 4, 5, 2)).astype(np.float32)
x1 = normal(rng, [1, 2, 3, 6])
for mode in ["bilinear", "bicubic"]:
    models.add(f"gs16_far_reflection_{mode}",
               [N("GridSample", ["x", "grid"], ["y"], mode=mode,
                  padding_mode="reflection")],
               {"x": x1, "grid": far}, [("y", F, [1, 2, 4, 5])], opset=16)

# Nearest at pixel centres and exact half-pixel ties (rounds half to even).
w, h = 6, 3
cols = (np.arange(-1, 2 * w + 2) / (2 * w)) * 2 - 1  # every half pixel
ties = np.stack(np.meshgrid(cols, np.linspace(-1, 1, 5)), -1)[None]
models.add("gs16_nearest_ties",
           [N("GridSample", ["x", "grid"], ["y"], mode="nearest")],
           {"x": x1, "grid": ties.astype(np.float32)},
           [("y", F, [1, 2, 5, ties.shape[2]])], opset=16)

# Opset 20: 3-D volumes, linear and nearest.
x3 = normal(rng, [1, 2, 3, 4, 5])
g3 = rng.uniform(-1.4, 1.4, (1, 2, 3, 4, 3)).astype(np.float32)
for mode in ["linear", "nearest"]:
    for padding in ["zeros", "border", "reflection"]:
        models.add(f"gs20_3d_{mode}_{padding}",
                   [N("GridSample", ["x", "grid"], ["y"], mode=mode,
                      padding_mode=padding, align_corners=1)],
                   {"x": x3, "grid": g3}, [("y", F, [1, 2, 2, 3, 4])],
                   opset=20)
models.add("gs20_cubic_2d",
           [N("GridSample", ["x", "grid"], ["y"], mode="cubic")],
           {"x": x2, "grid": g2}, [("y", F, [2, 3, 6, 7])], opset=20)

# Double precision (sampled in f64). ONNX Runtime's npm build has no f64
# kernel: it runs the f32 operator between casts, hence rtol 1e-5.
models.add("gs16_f64",
           [N("GridSample", ["x", "grid"], ["y"], mode="bicubic",
              padding_mode="border")],
           {"x": x2.astype(np.float64), "grid": g2.astype(np.float64)},
           [("y", D, [2, 3, 6, 7])], opset=16, rtol=1e-5)
ref = helper.make_graph(
    [N("Cast", ["x"], ["x32"], to=F), N("Cast", ["grid"], ["g32"], to=F),
     N("GridSample", ["x32", "g32"], ["y32"], mode="bicubic",
       padding_mode="border"),
     N("Cast", ["y32"], ["y"], to=D)], "gs16_f64_ref",
    [helper.make_tensor_value_info("x", D, [2, 3, 5, 4]),
     helper.make_tensor_value_info("grid", D, [2, 6, 7, 2])],
    [helper.make_tensor_value_info("y", D, [2, 3, 6, 7])])
ref_model = helper.make_model(ref, opset_imports=[helper.make_opsetid("", 16)])
ref_model.ir_version = IR_VERSION[16]
onnx.save(ref_model, f"{sys.argv[1]}/gs16_f64_ref.onnx")
models.cases[-1]["ort_model"] = "gs16_f64_ref.onnx"

# A grid computed in the graph (an affine warp's coordinates, tanh'd).
models.add("gs16_computed_grid",
           [N("Tanh", ["raw"], ["grid"]),
            N("GridSample", ["x", "grid"], ["y"])],
           {"x": x2, "raw": normal(rng, [2, 4, 4, 2])},
           [("y", F, [2, 3, 4, 4])], opset=16)


class Warp(torch.nn.Module):
    def forward(self, x, flow):
        return torch.nn.functional.grid_sample(
            x, torch.tanh(flow), mode="bilinear", padding_mode="border",
            align_corners=False)


xt = torch.from_numpy(normal(rng, [1, 4, 8, 8]))
ft = torch.from_numpy(normal(rng, [1, 6, 6, 2]))
path = f"{sys.argv[1]}/torch_grid_sample.onnx"
torch.onnx.export(Warp(), (xt, ft), path, input_names=["x", "flow"],
                  output_names=["y"], opset_version=16)
models.add_model("torch_grid_sample", onnx.load(path),
                 {"x": xt.numpy(), "flow": ft.numpy()})
models.write_manifest()
