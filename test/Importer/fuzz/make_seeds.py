#!/usr/bin/env python3
"""Writes the fuzzer's seed corpus: the importer test models (small ones)."""
import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
inputs = os.path.join(here, "..", "Inputs")
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
sys.path.insert(0, inputs)
import four_bit_models  # noqa: E402
import models  # noqa: E402

for module in (models, four_bit_models):
    for name in module.MODELS:
        with open(os.path.join(out, name + ".onnx"), "wb") as f:
            f.write(module.MODELS[name]().SerializeToString())
subprocess.run([sys.executable, os.path.join(here, "..", "..", "..",
                                             "examples", "authoring",
                                             "sparse_transformer_block.py"),
                os.path.join(out, "authoring.onnx")], check=True,
               stdout=subprocess.DEVNULL)
