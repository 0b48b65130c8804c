#!/usr/bin/env python3
"""cuBLAS baseline for parsimony-bench-gpu-gemm's sgemm case: f32
[tokens, d] x [d, ff] through PyTorch, in full f32 and with TF32 tensor
cores (one TF32 product: about 1e-3 relative error, where our 3xTF32
keeps f32 accuracy), timed the same way (host wall clock over ITERS calls,
one synchronisation).

  cublas_gemm.py [TOKENS D FF ITERS]
"""
import sys
import time

import torch

T, D, F, iters = (int(a) for a in sys.argv[1:5]) if len(sys.argv) > 4 \
    else (512, 768, 3072, 50)
if not torch.cuda.is_available():
    print("skipped: no GPU")
    sys.exit(0)
torch.manual_seed(0)
dev = torch.device("cuda")
x = torch.randn(T, D, device=dev)
w = torch.randn(D, F, device=dev) / D ** 0.5
y = torch.empty(T, F, device=dev)
flops = 2.0 * T * D * F
for tf32 in (False, True):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    for _ in range(3):
        torch.matmul(x, w, out=y)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        torch.matmul(x, w, out=y)
    torch.cuda.synchronize()
    ms = (time.perf_counter() - start) * 1e3 / iters
    name = "cublas_tf32" if tf32 else "cublas_f32"
    print(f"{name:12s} {ms:8.3f} ms {flops / (ms * 1e-3) / 1e12:6.2f} TFLOP/s")
