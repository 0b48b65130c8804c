"""PyTorch-exported transformer blocks for the parity tests (fixed seeds).

  make_torch_models.py DIR encoder ACT SEQ   nn.TransformerEncoderLayer
                                             (d=256, 4 heads, ff=1024,
                                             batch_first) -> DIR/model.onnx
  make_torch_models.py DIR gpt2 SEQ          a GPT-2-style decoder block with
                                             a causal mask and tanh GELU

Also writes the input DIR/x.npy ([2, SEQ, 256]).
"""
import math
import sys

import numpy as np
import torch

out, kind = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
D, HEADS, FF = 256, 4, 1024


class GPT2Block(torch.nn.Module):
    """Pre-LayerNorm causal self-attention and a tanh-GELU MLP."""

    def __init__(self):
        super().__init__()
        self.ln1 = torch.nn.LayerNorm(D)
        self.qkv = torch.nn.Linear(D, 3 * D)
        self.proj = torch.nn.Linear(D, D)
        self.ln2 = torch.nn.LayerNorm(D)
        self.fc = torch.nn.Linear(D, FF)
        self.fc_out = torch.nn.Linear(FF, D)

    def forward(self, x):
        b, s, _ = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=2)
        heads = lambda t: t.view(b, s, HEADS, D // HEADS).transpose(1, 2)
        q, k, v = heads(q), heads(k), heads(v)
        scores = q @ k.transpose(-2, -1) / math.sqrt(D // HEADS)
        mask = torch.triu(torch.ones(s, s, dtype=torch.bool), diagonal=1)
        scores = scores.masked_fill(mask, float("-inf"))
        att = torch.softmax(scores, dim=-1) @ v
        x = x + self.proj(att.transpose(1, 2).reshape(b, s, D))
        h = torch.nn.functional.gelu(self.fc(self.ln2(x)), approximate="tanh")
        return x + self.fc_out(h)


if kind == "encoder":
    act, seq = sys.argv[3], int(sys.argv[4])
    model = torch.nn.TransformerEncoderLayer(
        D, HEADS, FF, dropout=0.0, activation=act, batch_first=True)
else:
    seq = int(sys.argv[3])
    model = GPT2Block()
model.eval()
x = torch.randn(2, seq, D)
# Not under no_grad(): that selects PyTorch's fused encoder fast path, which
# has no ONNX export.
torch.onnx.export(model, (x,), f"{out}/model.onnx", input_names=["x"],
                  output_names=["y"], opset_version=17)
np.save(f"{out}/x.npy", x.numpy())
