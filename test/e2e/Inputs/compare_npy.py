"""compare_npy.py A.npy B.npy [rtol]: prints the max relative error; fails
above rtol (default 1e-4) or on a shape/dtype mismatch."""
import sys

import numpy as np

a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
rtol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-4
assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
err = np.abs(a.astype(np.float64) - b) .max() / max(np.abs(b).max(), 1e-30)
print(f"{sys.argv[1].split('/')[-1]}: max rel err {err:.2e}")
assert err <= rtol, err
print("OK")
