#!/usr/bin/env python3
"""Writes the Pad / Tile / GatherND / ScatterND / ReverseSequence models of
tensor-ops.test.

Usage: tensor_op_models.py <name> <output.onnx>

Built with onnx.helper; opset-18/19 models get their IR version by hand and
a shape on every output, and are never passed to onnx.checker (Debian's
onnx Python package stops at opset 17).
"""


import numpy as np
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

from models import save_named_model

F, I64 = T.FLOAT, T.INT64
IR_VERSION = {13: 7, 16: 8, 17: 8, 18: 8, 19: 9}


def i64(*v):
    return np.array(v, np.int64)


def vi(name, elem, shape):
    return h.make_tensor_value_info(name, elem, shape)


def model(nodes, inputs, outputs, inits=(), opset=13):
    graph = h.make_graph(nodes, "test", inputs, outputs,
                         [nh.from_array(a, n) for n, a in inits])
    m = h.make_model(graph, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = IR_VERSION[opset]
    return m


def N(op, ins, outs, **attrs):
    return h.make_node(op, ins, outs, name=outs[0], **attrs)


def pad(pads=(0, 1, 2, 1, 0, 0), mode=None, value=None, axes=None, opset=13,
        runtime=(), x_shape=(2, 3, 4), y_shape=None):
    """Pad of x; `runtime` names the operands given as graph inputs."""
    attrs = {"mode": mode} if mode else {}
    ins, inputs, inits = ["x", "pads"], [vi("x", F, list(x_shape))], []
    operands = [("pads", i64(*pads))]
    if value is not None:
        ins.append("v")
        operands.append(("v", np.array(value, np.float32)))
    if axes is not None:
        ins += [""] * (3 - len(ins)) + ["axes"]
        operands.append(("axes", i64(*axes)))
    for n, a in operands:
        if n in runtime:
            inputs.append(vi(n, F if a.dtype == np.float32 else I64,
                             list(a.shape)))
        else:
            inits.append((n, a))
    if y_shape is None:
        y_shape = [None] * len(x_shape)
    return model([N("Pad", ins, ["y"], **attrs)], inputs,
                 [vi("y", F, y_shape)], inits, opset)


def tile(reps=(2, 1, 3), x_shape=(2, 3, 4), runtime=False):
    inputs = [vi("x", F, list(x_shape))]
    inits = []
    if runtime:
        # "dynamic": repeats of unknown length.
        length = "n" if runtime == "dynamic" else len(reps)
        inputs.append(vi("r", I64, [length]))
    else:
        inits.append(("r", i64(*reps)))
    return model([N("Tile", ["x", "r"], ["y"])], inputs,
                 [vi("y", F, [None] * len(x_shape))], inits)


def gathernd(batch_dims=0, data_shape=(4, 5, 6), idx_shape=(3, 2),
             y_shape=(3, 6), opset=13):
    attrs = {"batch_dims": batch_dims} if batch_dims else {}
    return model([N("GatherND", ["x", "i"], ["y"], **attrs)],
                 [vi("x", F, list(data_shape)), vi("i", I64, list(idx_shape))],
                 [vi("y", F, list(y_shape))], opset=opset)


def scatternd(reduction=None, data_shape=(4, 5, 3), idx_shape=(2, 2, 2),
              upd_shape=(2, 2, 3), opset=16):
    attrs = {"reduction": reduction} if reduction else {}
    return model([N("ScatterND", ["x", "i", "u"], ["y"], **attrs)],
                 [vi("x", F, list(data_shape)), vi("i", I64, list(idx_shape)),
                  vi("u", F, list(upd_shape))],
                 [vi("y", F, list(data_shape))], opset=opset)


def reversesequence(time_axis=0, batch_axis=1, lens=3):
    """ReverseSequence over x [4, 3, 2] with `lens` runtime lengths."""
    return model([N("ReverseSequence", ["x", "lens"], ["y"],
                    time_axis=time_axis, batch_axis=batch_axis)],
                 [vi("x", F, [4, 3, 2]), vi("lens", I64, [lens])],
                 [vi("y", F, [4, 3, 2])])


MODELS = {
    # Pad.
    "pad_constant": lambda: pad(value=1.5),
    "pad_runtime_value": lambda: pad(value=1.5, runtime=("v",)),
    "pad_crop": lambda: pad(pads=(0, -1, 2, 1, 0, -2)),
    "pad_reflect": lambda: pad(pads=(0, 2, 1, 0, 1, 3), mode="reflect"),
    "pad_edge_dynamic": lambda: pad(pads=(1, 0, 0, 2), mode="edge",
                                    x_shape=("n", 4)),
    "pad_constant_dynamic": lambda: pad(pads=(1, 0, 0, 2), x_shape=("n", 4)),
    "pad_wrap_opset19": lambda: pad(pads=(0, 0, 2, 0, 0, 3), mode="wrap",
                                    opset=19, y_shape=[2, 3, 9]),
    "pad_axes_opset18": lambda: pad(pads=(2, 1), axes=(-2,), opset=18,
                                    y_shape=[2, 6, 4]),
    "pad_axes_wrong_shape_opset18": lambda: pad(pads=(2, 1), axes=(-2,),
                                                opset=18, y_shape=[2, 5, 4]),
    "pad_runtime_pads": lambda: pad(runtime=("pads",)),
    "pad_runtime_axes_opset18": lambda: pad(pads=(2, 1), axes=(1,),
                                            runtime=("axes",), opset=18,
                                            y_shape=[2, 6, 4]),
    "pad_pads_length": lambda: pad(pads=(0, 1, 2, 1)),
    "pad_pads_length_opset18": lambda: pad(pads=(0, 1, 2), axes=(0, 1),
                                           opset=18, y_shape=[2, 3, 4]),
    "pad_repeated_axes_opset18": lambda: pad(pads=(1, 1, 1, 1), axes=(1, -2),
                                             opset=18, y_shape=[2, 3, 4]),
    "pad_bad_mode": lambda: pad(mode="circular"),
    "pad_wrap_opset13": lambda: pad(mode="wrap"),
    "pad_crop_too_much": lambda: pad(pads=(0, -2, 0, 0, -2, 0)),
    # Tile.
    "tile": tile,
    "tile_dynamic": lambda: tile(reps=(3, 1), x_shape=("n", 4)),
    "tile_runtime_repeats": lambda: tile(runtime=True),
    "tile_dynamic_repeats": lambda: tile(runtime="dynamic"),
    "tile_repeats_length": lambda: tile(reps=(2, 2)),
    # GatherND.
    "gathernd": gathernd,
    "gathernd_batch_dims": lambda: gathernd(batch_dims=1, idx_shape=(4, 2, 2),
                                            y_shape=(4, 2)),
    "gathernd_batch_dims_too_large": lambda: gathernd(
        batch_dims=2, idx_shape=(4, 2), y_shape=(4,)),
    "gathernd_tuple_too_long": lambda: gathernd(idx_shape=(3, 4),
                                                y_shape=(3,)),
    # ScatterND.
    "scatternd": lambda: scatternd(opset=13),
    "scatternd_max_opset18": lambda: scatternd("max", opset=18),
    "scatternd_max_opset16": lambda: scatternd("max"),
    "scatternd_bad_reduction_opset18": lambda: scatternd("sum", opset=18),
    "scatternd_tuple_too_long": lambda: scatternd(idx_shape=(2, 4),
                                                  upd_shape=(2,)),
    "scatternd_bad_updates": lambda: scatternd(upd_shape=(2, 2, 4)),
    "reversesequence_bad_axes": lambda: reversesequence(batch_axis=2),
    "reversesequence_bad_lens": lambda: reversesequence(lens=4),
}


if __name__ == "__main__":
    save_named_model(MODELS)
