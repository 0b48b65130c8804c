"""Inputs and NumPy reference for Inputs/linear-gelu.mlir.

  linear_gelu_ref.py make DIR     writes x.npy, w.npy, b.npy and ref.npy
  linear_gelu_ref.py check DIR Y  compares Y.npy with ref.npy (rtol 1e-5)
"""
import math
import sys

import numpy as np

mode, folder = sys.argv[1], sys.argv[2]
if mode == "make":
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 8), dtype=np.float32)
    w = rng.standard_normal((8, 16), dtype=np.float32)
    b = rng.standard_normal(16, dtype=np.float32)
    h = (x.astype(np.float64) @ w + b)
    ref = 0.5 * h * (1 + np.vectorize(math.erf)(h / math.sqrt(2)))
    for name, value in [("x", x), ("w", w), ("b", b), ("ref", ref.astype(np.float32))]:
        np.save(f"{folder}/{name}.npy", value)
else:
    y = np.load(sys.argv[3])
    ref = np.load(f"{folder}/ref.npy")
    assert y.shape == ref.shape and y.dtype == np.float32, (y.shape, y.dtype)
    err = np.abs(y - ref).max() / np.abs(ref).max()
    print(f"max rel err {err:.2e}")
    # Tolerance: f32 GEMM reassociation plus the polynomial erf (few ulps).
    assert err < 1e-5, err
    print("OK")
