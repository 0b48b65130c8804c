"""The example model `make demo` compiles (fixed seed).

  make_example.py DIR

Writes DIR/tiny_transformer.onnx, a 2-layer transformer encoder (d=256,
4 heads, ReLU FFN with 1024 neurons, batch_first) exported from PyTorch,
an input DIR/x.npy ([1, 64, 256]) and PyTorch's output DIR/reference.npy.
"""
import os
import sys

import numpy as np
import torch

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
layer = torch.nn.TransformerEncoderLayer(256, 4, 1024, dropout=0.0,
                                         activation="relu", batch_first=True)
model = torch.nn.TransformerEncoder(layer, num_layers=2,
                                    enable_nested_tensor=False).eval()
x = torch.randn(1, 64, 256)
# Not under no_grad(): that picks PyTorch's fused fast path, which has no
# ONNX export.
torch.onnx.export(model, (x,), f"{out}/tiny_transformer.onnx",
                  input_names=["x"], output_names=["y"], opset_version=17)
with torch.no_grad():
    reference = model(x)
np.save(f"{out}/x.npy", x.numpy())
np.save(f"{out}/reference.npy", reference.numpy())
