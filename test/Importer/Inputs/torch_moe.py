#!/usr/bin/env python3
"""Exports Switch-style mixture-of-experts layers written as PyTorch modules
with torch.onnx.export (opset 17, fixed seeds).

Usage: torch_moe.py OUT.onnx [options]

  --experts E        number of experts (4)
  --k K              experts per token (1)
  --act A            relu | gelu | silu (relu)
  --bias 0|1         biases in the expert Linears (1)
  --router-bias 0|1  bias in the router Linear (0)
  --norm 0|1         renormalise the top-k gates to sum to one (0)
  --shape T,D | B,S,D  input shape (6,16); D is the model width
  --ff F             expert hidden width (32)
  --dynamic          symbolic leading dimensions
  --variant V        the layer (default switch); the others are near misses
                     that must not be raised:
      switch           y = sum_e (g * (idx == e)).sum(-1, keepdim) * expert_e(x)
      where            the gate of expert e as where(idx == e, g, 0).sum(...)
      reversed         the experts added last to first, the sum starting
                       from the first term instead of zeros
      missing_expert   expert E-1 never added to the output
      max_combine      the expert outputs combined with torch.maximum
      shared_weight    experts 0 and 1 share their second Linear
      sigmoid_router   p = sigmoid(logits) instead of softmax
      other_input      the router reads 2 * x, the experts x
  --save DIR         also write DIR/x.npy (random input) and DIR/y_torch.npy
                     (PyTorch's output)
"""

import argparse

import numpy as np
import torch
from torch import nn

ACTS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}


class Expert(nn.Module):

    def __init__(self, d, f, act, bias):
        super().__init__()
        self.fc1 = nn.Linear(d, f, bias=bias)
        self.act = ACTS[act]()
        self.fc2 = nn.Linear(f, d, bias=bias)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class SwitchMoE(nn.Module):

    def __init__(self, d, f, experts, k, act, bias, router_bias, norm,
                 variant):
        super().__init__()
        self.router = nn.Linear(d, experts, bias=router_bias)
        self.experts = nn.ModuleList(
            Expert(d, f, act, bias) for _ in range(experts))
        if variant == "shared_weight":
            self.experts[1].fc2 = self.experts[0].fc2
        self.k, self.norm, self.variant = k, norm, variant

    def forward(self, x):
        v = self.variant
        logits = self.router(2 * x if v == "other_input" else x)
        if v == "sigmoid_router":
            p = torch.sigmoid(logits)
        else:
            p = torch.softmax(logits, dim=-1)
        g, idx = torch.topk(p, self.k, dim=-1)
        if self.norm:
            g = g / g.sum(-1, keepdim=True)
        y = None if v == "reversed" else torch.zeros_like(x)
        order = list(enumerate(self.experts))
        if v == "reversed":
            order.reverse()
        for e, expert in order:
            if v == "missing_expert" and e == len(self.experts) - 1:
                continue
            if v == "where":
                w = torch.where(idx == e, g, torch.zeros_like(g))
            else:
                w = g * (idx == e)
            term = w.sum(-1, keepdim=True) * expert(x)
            if y is None:
                y = term
            elif v == "max_combine":
                y = torch.maximum(y, term)
            else:
                y = y + term
        return y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--experts", type=int, default=4)
    ap.add_argument("--k", type=int, default=1)
    ap.add_argument("--act", default="relu", choices=sorted(ACTS))
    ap.add_argument("--bias", type=int, default=1)
    ap.add_argument("--router-bias", type=int, default=0)
    ap.add_argument("--norm", type=int, default=0)
    ap.add_argument("--shape", default="6,16")
    ap.add_argument("--ff", type=int, default=32)
    ap.add_argument("--dynamic", action="store_true")
    ap.add_argument("--variant", default="switch")
    ap.add_argument("--save")
    a = ap.parse_args()
    torch.manual_seed(0)
    shape = [int(s) for s in a.shape.split(",")]
    model = SwitchMoE(shape[-1], a.ff, a.experts, a.k, a.act, bool(a.bias),
                      bool(a.router_bias), bool(a.norm), a.variant)
    model.eval()
    x = torch.randn(*shape)
    dynamic = None
    if a.dynamic:
        axes = {0: "batch", 1: "seq"} if len(shape) == 3 else {0: "tokens"}
        dynamic = {"x": axes, "y": axes}
    torch.onnx.export(model, (x,), a.out, opset_version=17,
                      input_names=["x"], output_names=["y"],
                      dynamic_axes=dynamic)
    if a.save:
        with torch.no_grad():
            y = model(x)
        np.save(f"{a.save}/x.npy", x.numpy())
        np.save(f"{a.save}/y_torch.npy", y.numpy())


if __name__ == "__main__":
    main()
