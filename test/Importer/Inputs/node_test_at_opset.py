#!/usr/bin/env python3
"""Copies an ONNX backend node test with its default-domain opset changed.

Usage: node_test_at_opset.py <test-dir> <out-dir> <opset>

Writes <out-dir>/model.onnx (checked by the ONNX checker at the new opset)
and links <out-dir>/test_data_set_* to the original data sets. For node
tests generated at an opset the importer does not accept (below 13) whose
operators are unchanged up to `opset`.
"""

import glob
import os
import sys

import onnx


def main():
    src, out, opset = sys.argv[1], sys.argv[2], int(sys.argv[3])
    model = onnx.load(os.path.join(src, "model.onnx"))
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            entry.version = opset
    onnx.checker.check_model(model, full_check=True)
    os.makedirs(out, exist_ok=True)
    onnx.save(model, os.path.join(out, "model.onnx"))
    for data in glob.glob(os.path.join(src, "test_data_set_*")):
        link = os.path.join(out, os.path.basename(data))
        if not os.path.exists(link):
            os.symlink(data, link)
    return 0


if __name__ == "__main__":
    sys.exit(main())
