#!/usr/bin/env bash
# `make demo`: runs Parsimony's main job on a bundled example.
set -euo pipefail
BUILD_DIR=${1:-build}
OPT="$BUILD_DIR/bin/parsimony-opt"
EXAMPLE=examples/moe-layer.mlir

echo "== Parsimony demo: $EXAMPLE"
echo "-- input: an spx.moe layer (8 experts, top-2) and a Top-k FFN"
echo "-- pipeline: spx-decompose-moe, canonicalize"
"$OPT" "$EXAMPLE" --spx-decompose-moe --canonicalize
echo "-- done: the MoE is now route -> dispatch -> expert_ffn -> combine," \
     "and the full-width top-k was folded away."
