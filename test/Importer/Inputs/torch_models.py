#!/usr/bin/env python3
"""Exports small PyTorch models with torch.onnx.export (fixed seeds).

Usage: torch_models.py <name> <output.onnx>

  encoder_relu / encoder_gelu  nn.TransformerEncoderLayer, batch_first,
                               dynamic batch and sequence
  gpt2_block                   a GPT-2 style pre-LN decoder block with a
                               causal mask and a GELU MLP
  topk_ffn                     Linear -> ReLU -> top-k (zeros.scatter) ->
                               Linear
  topk_threshold_ffn           Linear -> GELU -> top-k by threshold
                               (x >= kth largest) -> Linear
"""

import math
import sys

import torch
from torch import nn

torch.manual_seed(0)


class GPT2Block(nn.Module):

    def __init__(self, d=32, heads=4, seq=8):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.out = nn.Linear(4 * d, d)
        self.register_buffer("mask", torch.tril(torch.ones(seq, seq)).view(
            1, 1, seq, seq))

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        hd = d // self.heads
        q = q.view(b, t, self.heads, hd).transpose(1, 2)
        k = k.view(b, t, self.heads, hd).transpose(1, 2)
        v = v.view(b, t, self.heads, hd).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
        att = att.masked_fill(self.mask[:, :, :t, :t] == 0, float("-inf"))
        att = torch.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, t, d)
        x = x + self.proj(y)
        h = self.fc(self.ln2(x))
        h = 0.5 * h * (1.0 + torch.erf(h / math.sqrt(2.0)))
        return x + self.out(h)


class TopKFFN(nn.Module):

    def __init__(self, d=32, f=128, k=16, threshold=False):
        super().__init__()
        self.up = nn.Linear(d, f)
        self.down = nn.Linear(f, d)
        self.k = k
        self.threshold = threshold

    def forward(self, x):
        if self.threshold:
            h = nn.functional.gelu(self.up(x))
            kth = h.topk(self.k, dim=-1).values[..., -1:]
            h = torch.where(h >= kth, h, torch.zeros_like(h))
        else:
            h = torch.relu(self.up(x))
            vals, idx = h.topk(self.k, dim=-1)
            h = torch.zeros_like(h).scatter(-1, idx, vals)
        return self.down(h)


def main():
    name, out = sys.argv[1], sys.argv[2]
    dynamic = {"x": {0: "batch", 1: "seq"}, "y": {0: "batch", 1: "seq"}}
    if name in ("encoder_relu", "encoder_gelu"):
        model = nn.TransformerEncoderLayer(
            d_model=32, nhead=4, dim_feedforward=64, dropout=0.0,
            activation=name.split("_")[1], batch_first=True)
        x = torch.randn(2, 5, 32)
    elif name == "gpt2_block":
        model = GPT2Block()
        x = torch.randn(2, 8, 32)
        dynamic = {"x": {0: "batch"}, "y": {0: "batch"}}
    elif name == "topk_ffn":
        model = TopKFFN()
        x = torch.randn(2, 5, 32)
    elif name == "topk_threshold_ffn":
        model = TopKFFN(threshold=True)
        x = torch.randn(2, 5, 32)
    else:
        raise SystemExit("unknown model " + name)
    # Exported with autograd enabled: under no_grad, PyTorch 1.13 routes
    # TransformerEncoderLayer through its fused fast path, which has no ONNX
    # export.
    model.eval()
    torch.onnx.export(model, (x,), out, opset_version=17,
                      input_names=["x"], output_names=["y"],
                      dynamic_axes=dynamic)


if __name__ == "__main__":
    main()
