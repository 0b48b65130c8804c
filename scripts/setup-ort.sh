#!/usr/bin/env bash
# Installs the ONNX Runtime reference (CPU) into third_party/ort (git-ignored).
# --ignore-scripts: the package's install script downloads GPU binaries and
# fails offline; the CPU library ships inside the package.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=third_party/ort
VERSION=1.30.0
if [ -f "$DIR/node_modules/onnxruntime-node/package.json" ] &&
   grep -q "\"version\": \"$VERSION\"" "$DIR/node_modules/onnxruntime-node/package.json"; then
  exit 0
fi
mkdir -p "$DIR"
[ -f "$DIR/package.json" ] || echo '{"name": "parsimony-ort", "private": true}' > "$DIR/package.json"
(cd "$DIR" && npm install --ignore-scripts --no-audit --no-fund "onnxruntime-node@$VERSION" >/dev/null)
echo "setup-ort: onnxruntime-node@$VERSION installed in $DIR"
