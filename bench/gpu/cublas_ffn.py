#!/usr/bin/env python3
"""cuBLAS baseline for parsimony-bench-gpu: the same 12-layer ReLU FFN stack
(d=768, ff=3072, f32) at one token, through PyTorch (cuBLAS GEMV), timed the
same way (host wall clock over ITERS tokens, one synchronisation).

  cublas_ffn.py [LAYERS D FF ITERS]
"""
import sys
import time

import torch

L, D, F, iters = (int(a) for a in sys.argv[1:5]) if len(sys.argv) > 4 \
    else (12, 768, 3072, 200)
if not torch.cuda.is_available():
    print("skipped: no GPU")
    sys.exit(0)
torch.manual_seed(0)
dev = torch.device("cuda")
up = [torch.randn(F, D, device=dev) / D ** 0.5 for _ in range(L)]
down = [torch.randn(D, F, device=dev) / D ** 0.5 for _ in range(L)]
x = torch.randn(1, D, device=dev)


def token(h):
    for u, w in zip(up, down):
        h = torch.nn.functional.linear(torch.relu(
            torch.nn.functional.linear(h, u)), w)
    return h


with torch.no_grad():
    for _ in range(5):
        token(x)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        token(x)
    torch.cuda.synchronize()
    ms = (time.perf_counter() - start) * 1e3 / iters
    # The same with a CUDA graph (no launch overhead).
    g = torch.cuda.CUDAGraph()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        token(x)
    torch.cuda.current_stream().wait_stream(s)
    with torch.cuda.graph(g):
        y = token(x)
    g.replay()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        g.replay()
    torch.cuda.synchronize()
    ms_graph = (time.perf_counter() - start) * 1e3 / iters
bytes_ = L * 2 * F * D * 4
print(f"cublas {ms:8.4f} ms/token  {bytes_ / 1e6:7.1f} MB read  "
      f"{bytes_ / (ms * 1e-3) / 1e9:7.1f} GB/s")
print(f"cublas_graph {ms_graph:8.4f} ms/token  {bytes_ / 1e6:7.1f} MB read  "
      f"{bytes_ / (ms_graph * 1e-3) / 1e9:7.1f} GB/s")
