"""RNN, GRU and LSTM models for check_vs_ort.py (fixed seeds): PyTorch
exports of nn.LSTM (two layers, bidirectional, batch_first), nn.GRU
(bidirectional) and nn.RNN (ReLU) with a dynamic batch and sequence, and
hand-built nodes covering what exporters rarely emit: sequence_lens on
forward, reverse and bidirectional directions, LSTM peepholes, input_forget
and clip, GRU with linear_before_reset = 0 and 1, activations with
alpha/beta (LeakyRelu, HardSigmoid, ScaledTanh, Affine), initial states,
one-step and Y_h-only cases. ONNX Runtime runs recurrences in float and
sequence-major only: layout = 1 models are checked against the
sequence-major node between transposes, double ones against the float node
between casts.

  make_recurrent_models.py DIR   writes DIR/*.onnx, DIR/*.npy and
                                 DIR/manifest.json
"""
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto as T, helper
from torch import nn

from onnx_cases import IR_VERSION, Cases, normal, rng_for

IR_VERSION.setdefault(14, 7)

models = Cases(sys.argv[1])
F = T.FLOAT


def N(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, **attrs)


GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def recurrent(name, op, seq=5, batch=3, inp=4, hidden=6, direction="forward",
              layout=0, lens=None, initial=False, peepholes=False,
              dtype=np.float32, outputs=("Y", "Y_h", "Y_c"), rtol=1e-4,
              **attrs):
    rng = rng_for(name)
    dirs = 2 if direction == "bidirectional" else 1
    g = GATES[op]
    x_shape = [batch, seq, inp] if layout else [seq, batch, inp]
    state = [batch, dirs, hidden] if layout else [dirs, batch, hidden]
    elem = T.DOUBLE if dtype == np.float64 else F
    inputs = {"X": normal(rng, x_shape).astype(dtype)}
    inits = [("W", normal(rng, [dirs, g * hidden, inp], 0.5).astype(dtype)),
             ("R", normal(rng, [dirs, g * hidden, hidden], 0.5).astype(dtype)),
             ("B", normal(rng, [dirs, 2 * g * hidden], 0.5).astype(dtype))]
    names = ["X", "W", "R", "B"]
    if lens is not None:
        inputs["lens"] = np.array(lens, np.int32)
        names.append("lens")
    elif initial or peepholes:
        names.append("")
    if initial:
        inputs["h0"] = normal(rng, state).astype(dtype)
        names.append("h0")
        if op == "LSTM":
            inputs["c0"] = normal(rng, state).astype(dtype)
            names.append("c0")
    elif peepholes:
        names += ["", ""]
    if peepholes:
        inits.append(("P", normal(rng, [dirs, 3 * hidden], 0.5).astype(
            dtype)))
        names.append("P")
    y_shape = ([batch, seq, dirs, hidden] if layout
               else [seq, dirs, batch, hidden])
    outs = [("Y", elem, y_shape), ("Y_h", elem, state), ("Y_c", elem, state)]
    outs = [o for o in outs if o[0] in outputs and
            (o[0] != "Y_c" or op == "LSTM")]
    node_outs = [o[0] if o[0] in outputs else "" for o in
                 [("Y",), ("Y_h",), ("Y_c",)][:3 if op == "LSTM" else 2]]
    while node_outs and not node_outs[-1]:
        node_outs.pop()
    models.add(name, [N(op, names, node_outs, hidden_size=hidden,
                        direction=direction, **(
                            {"layout": layout} if layout else {}), **attrs)],
               inputs, outs, inits, 14, rtol=rtol)
    if dtype == np.float64:
        # ONNX Runtime's recurrences are float only: its reference runs the
        # node in float between casts.
        runtime = [n for n in names if n in inputs]
        nodes = [N("Cast", [n], [n + "_f"], to=F) for n in runtime]
        nodes.append(N(op, [n + "_f" if n in runtime else n for n in names],
                       [o + "_f" if o else "" for o in node_outs],
                       hidden_size=hidden, direction=direction, **attrs))
        nodes += [N("Cast", [o + "_f"], [o], to=T.DOUBLE)
                  for o in node_outs if o]
        case = models.cases.pop()
        models.add(name + "_ref", nodes, inputs, outs,
                   [(n, a.astype(np.float32)) for n, a in inits], 14)
        models.cases[-1] = dict(case, ort_model=models.cases[-1]["model"])
    if layout:
        # ONNX Runtime has no batch-major recurrence: its reference is the
        # sequence-major node between transposes.
        perms = {"X": [1, 0, 2], "h0": [1, 0, 2], "c0": [1, 0, 2],
                 "Y": [2, 0, 1, 3], "Y_h": [1, 0, 2], "Y_c": [1, 0, 2]}
        nodes = [N("Transpose", [n], [n + "_t"], perm=perms[n])
                 for n in names if n in ("X", "h0", "c0")]
        nodes.append(N(op, [n + "_t" if n in ("X", "h0", "c0") else n
                            for n in names],
                       [o + "_t" if o else "" for o in node_outs],
                       hidden_size=hidden, direction=direction, **attrs))
        nodes += [N("Transpose", [o + "_t"], [o], perm=perms[o])
                  for o in node_outs if o]
        case = models.cases.pop()
        models.add(name + "_ref", nodes, inputs, outs, inits, 14)
        models.cases[-1] = dict(case, ort_model=models.cases[-1]["model"])


# Hand-built nodes.
recurrent("lstm_forward", "LSTM")
recurrent("lstm_reverse_initial", "LSTM", direction="reverse", initial=True)
recurrent("lstm_bidirectional_peepholes", "LSTM", direction="bidirectional",
          peepholes=True, initial=True)
recurrent("lstm_seq_lens", "LSTM", lens=[5, 2, 4], initial=True)
recurrent("lstm_reverse_seq_lens", "LSTM", direction="reverse",
          lens=[3, 5, 1])
recurrent("lstm_bidirectional_seq_lens", "LSTM", direction="bidirectional",
          lens=[4, 1, 5], initial=True)
recurrent("lstm_layout1", "LSTM", layout=1, direction="bidirectional",
          initial=True)
recurrent("lstm_input_forget_clip", "LSTM", input_forget=1, clip=0.7)
recurrent("lstm_activations", "LSTM",
          activations=["HardSigmoid", "LeakyRelu", "ScaledTanh"],
          activation_alpha=[0.3, 0.2, 0.9], activation_beta=[0.4, 1.1])
recurrent("lstm_only_y_h", "LSTM", outputs=("Y_h",))
recurrent("lstm_one_step", "LSTM", seq=1, initial=True)
recurrent("gru_forward", "GRU")
recurrent("gru_linear_before_reset", "GRU", linear_before_reset=1,
          initial=True)
recurrent("gru_bidirectional_seq_lens", "GRU", direction="bidirectional",
          lens=[2, 5, 3], linear_before_reset=1)
recurrent("gru_reverse_layout1", "GRU", direction="reverse", layout=1,
          initial=True)
recurrent("lstm_double", "LSTM", dtype=np.float64, initial=True)
recurrent("gru_activations", "GRU", activations=["Sigmoid", "Affine"],
          activation_alpha=[0.5], activation_beta=[0.1])
recurrent("rnn_forward", "RNN")
recurrent("rnn_relu_bidirectional", "RNN", direction="bidirectional",
          activations=["Relu", "Tanh"], initial=True)
recurrent("rnn_seq_lens_reverse", "RNN", direction="reverse", lens=[1, 4, 5])


# PyTorch exports (the TorchScript exporter, opset 14), dynamic batch and
# sequence.
def export(name, module, x, batch_first):
    torch.manual_seed(0)
    path = f"{models.out}/{name}.onnx"
    axes = {0: "batch", 1: "seq"} if batch_first else {0: "seq", 1: "batch"}
    with torch.no_grad():
        torch.onnx.export(module, (x,), path, opset_version=14,
                          input_names=["x"], output_names=["y", "h"],
                          dynamic_axes={"x": axes, "y": axes})
    models.add_model(name, onnx.load(path), {"x": x.numpy()})


torch.manual_seed(0)
export("torch_lstm_2layer_bidirectional",
       nn.LSTM(8, 12, num_layers=2, bidirectional=True, batch_first=True),
       torch.randn(2, 7, 8), True)
export("torch_gru_bidirectional", nn.GRU(8, 10, bidirectional=True),
       torch.randn(6, 3, 8), False)
export("torch_rnn_relu", nn.RNN(8, 10, nonlinearity="relu",
                                batch_first=True),
       torch.randn(3, 5, 8), True)
models.write_manifest()
