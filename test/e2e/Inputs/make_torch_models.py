"""PyTorch-exported transformer blocks for the parity tests (fixed seeds).

  make_torch_models.py DIR encoder ACT SEQ   nn.TransformerEncoderLayer
                                             (d=256, 4 heads, ff=1024,
                                             batch_first) -> DIR/model.onnx
  make_torch_models.py DIR gpt2 SEQ          a GPT-2-style decoder block with
                                             a causal mask and tanh GELU
  make_torch_models.py DIR llama SEQ         a Llama-style decoder block:
                                             RMSNorm, rotary embeddings,
                                             grouped-query attention (8 query
                                             heads share 2 key/value heads,
                                             repeat_interleave), SwiGLU MLP

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


class RMSNorm(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.rand(D) + 0.5)

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * \
            self.weight


class LlamaBlock(torch.nn.Module):
    """Pre-RMSNorm causal attention with rotary embeddings and grouped
    key/value heads, then a SwiGLU MLP; no biases."""

    KV_HEADS, HEADS, FF = 2, 8, 688

    def __init__(self):
        super().__init__()
        hd = D // self.HEADS
        self.norm1, self.norm2 = RMSNorm(), RMSNorm()
        self.q = torch.nn.Linear(D, D, bias=False)
        self.k = torch.nn.Linear(D, self.KV_HEADS * hd, bias=False)
        self.v = torch.nn.Linear(D, self.KV_HEADS * hd, bias=False)
        self.o = torch.nn.Linear(D, D, bias=False)
        self.gate = torch.nn.Linear(D, self.FF, bias=False)
        self.up = torch.nn.Linear(D, self.FF, bias=False)
        self.down = torch.nn.Linear(self.FF, D, bias=False)

    def forward(self, x):
        b, s, _ = x.shape
        hd = D // self.HEADS
        inv = 1.0 / 10000 ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd)
        angles = torch.arange(s, dtype=torch.float32)[:, None] * inv[None, :]
        angles = torch.cat((angles, angles), dim=-1)
        cos, sin = angles.cos(), angles.sin()

        def rotate(t):
            half = t[..., hd // 2:], t[..., :hd // 2]
            return t * cos + torch.cat((-half[0], half[1]), dim=-1) * sin

        h = self.norm1(x)
        q = self.q(h).view(b, s, self.HEADS, hd).transpose(1, 2)
        k = self.k(h).view(b, s, self.KV_HEADS, hd).transpose(1, 2)
        v = self.v(h).view(b, s, self.KV_HEADS, hd).transpose(1, 2)
        q, k = rotate(q), rotate(k)
        k = k.repeat_interleave(self.HEADS // self.KV_HEADS, dim=1)
        v = v.repeat_interleave(self.HEADS // self.KV_HEADS, dim=1)
        scores = q @ k.transpose(-2, -1) / math.sqrt(hd)
        mask = torch.triu(torch.ones(s, s, dtype=torch.bool), diagonal=1)
        att = torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1) @ v
        x = x + self.o(att.transpose(1, 2).reshape(b, s, D))
        h = self.norm2(x)
        return x + self.down(torch.nn.functional.silu(self.gate(h)) *
                             self.up(h))


if kind == "encoder":
    act, seq = sys.argv[3], int(sys.argv[4])
    model = torch.nn.TransformerEncoderLayer(
        D, HEADS, FF, dropout=0.0, activation=act, batch_first=True)
else:
    seq = int(sys.argv[3])
    model = GPT2Block() if kind == "gpt2" else LlamaBlock()
model.eval()
x = torch.randn(2, seq, D)
# Not under no_grad(): that selects PyTorch's fused encoder fast path, which
# has no ONNX export.
torch.onnx.export(model, (x,), f"{out}/model.onnx", input_names=["x"],
                  output_names=["y"], opset_version=17)
np.save(f"{out}/x.npy", x.numpy())
