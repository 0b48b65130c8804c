#!/usr/bin/env bash
# `make demo`: compile a bundled example transformer ahead of time, run it,
# and check it against PyTorch.
set -euo pipefail
BUILD_DIR=${1:-build}
BIN="$BUILD_DIR/bin"
WORK="$BUILD_DIR/demo"
PYTHON=/usr/bin/python3
mkdir -p "$WORK"

echo "== Parsimony demo"
echo "-- 1. Export the example model from PyTorch (examples/make_example.py)"
"$PYTHON" examples/make_example.py "$WORK" 2>&1 | grep -v -i warn || true
echo "   model: $WORK/tiny_transformer.onnx (2-layer transformer encoder," \
     "d=256, 4 heads, ReLU FFN 1024)"

echo "-- 2. Import and raise sparse idioms: the ReLU FFNs become spx.sparse_ffn"
"$BIN/parsimony-translate" --import-onnx "$WORK/tiny_transformer.onnx" |
  grep -o "spx\.[a-z_]*" | sort | uniq -c | sed 's/^/   /'

echo "-- 3. Compile to a shared library with a C header (parsimony-compile)"
start=$(date +%s%N)
"$BIN/parsimony-compile" "$WORK/tiny_transformer.onnx" -o "$WORK/tiny_transformer.so"
end=$(date +%s%N)
echo "   $WORK/tiny_transformer.so ($(stat -c %s "$WORK/tiny_transformer.so") bytes)" \
     "and $WORK/tiny_transformer.h in $(( (end - start) / 1000000 )) ms"

echo "-- 4. Run it on the sample input (parsimony-run)"
"$BIN/parsimony-run" "$WORK/tiny_transformer.so" --input "x=$WORK/x.npy" \
  --output-dir "$WORK/out" --benchmark 20 | grep median_ms | sed 's/^/   /'

echo "-- 5. Check the result against PyTorch"
"$PYTHON" - "$WORK" <<'PY'
import sys
import numpy as np
work = sys.argv[1]
y, ref = np.load(f"{work}/out/y.npy"), np.load(f"{work}/reference.npy")
err = np.abs(y - ref).max() / np.abs(ref).max()
print(f"   output y: shape {list(y.shape)}, max relative error vs PyTorch {err:.2e}")
print("   result: " + ("PASS (tolerance 1e-4)" if err < 1e-4 else "FAIL"))
sys.exit(0 if err < 1e-4 else 1)
PY
