#!/usr/bin/env python3
"""Imports every ONNX backend node test whose operators are all supported.

Usage: backend_node_tests.py <parsimony-translate> <testdata-node-dir>

For each <dir>/*/model.onnx whose nodes use only operators that
`parsimony-translate --list-supported-ops` lists (and only the default domain
at opset 1..26), runs `parsimony-translate --import-onnx` (which verifies the
module) and reports failures.

Tests whose graph inputs or outputs are not numeric tensors (strings,
sequences, optionals) are skipped: those element types are outside what the
importer handles. Many node tests feed operands the importer needs at import
time (Reshape shapes, Squeeze axes, Slice starts, ...) as graph inputs; when
such a test fails for that reason, its integer inputs and small parameter
inputs (rank 0 or 1, at most 16 elements: Resize's scales) are frozen into
initializers from test_data_set_0 and the import is retried (as a deployment
would do with constant shape operands). Training-mode Dropout and
BatchNormalization are expected to be rejected (the importer is
inference-only).

Prints

    candidates: N
    imported: I (J after freezing integer inputs)
    expected-unsupported: U
    failed: F

followed by one `FAIL <test>: <first error line>` per failure.
"""

import concurrent.futures
import glob
import os
import subprocess
import sys

import tempfile

import onnx
from onnx import numpy_helper


def main():
    translate, node_dir = sys.argv[1], sys.argv[2]
    supported = set(
        subprocess.run([translate, "--list-supported-ops"], check=True,
                       capture_output=True, text=True).stdout.split())
    candidates = []
    for path in sorted(glob.glob(os.path.join(node_dir, "*", "model.onnx"))):
        try:
            model = onnx.load(path, load_external_data=False)
        except Exception:  # pylint: disable=broad-except
            continue
        opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
        version = opsets.get("ai.onnx", opsets.get("", 0))
        if not 1 <= version <= 26:
            continue
        if any(n.domain not in ("", "ai.onnx") or n.op_type not in supported
               for n in model.graph.node):
            continue
        values = list(model.graph.input) + list(model.graph.output)
        if any(not v.type.HasField("tensor_type") or
               v.type.tensor_type.elem_type == onnx.TensorProto.STRING
               for v in values):
            continue
        candidates.append(path)

    def translate_file(path):
        proc = subprocess.run([translate, "--import-onnx", path, "-o",
                               os.devnull], capture_output=True, text=True,
                              timeout=120)
        return proc.returncode, proc.stderr

    def freeze_integer_inputs(path, out):
        """Turns integer graph inputs and parameter inputs (rank 0 or 1, at
        most 16 elements: a OneHot depth, Resize's scales) into initializers
        (test_data_set_0)."""
        model = onnx.load(path)
        data_dir = os.path.join(os.path.dirname(path), "test_data_set_0")
        init_names = {t.name for t in model.graph.initializer}
        inputs = [i for i in model.graph.input if i.name not in init_names]
        kept = []
        for index, value in enumerate(inputs):
            elem = value.type.tensor_type.elem_type
            pb = os.path.join(data_dir, "input_%d.pb" % index)
            dims = value.type.tensor_type.shape.dim
            parameter = len(dims) <= 1 and all(
                d.HasField("dim_value") and d.dim_value <= 16 for d in dims)
            if (elem in (onnx.TensorProto.INT64, onnx.TensorProto.INT32) or
                    parameter) and os.path.exists(pb):
                tensor = onnx.TensorProto()
                with open(pb, "rb") as f:
                    tensor.ParseFromString(f.read())
                array = numpy_helper.to_array(tensor)
                model.graph.initializer.append(
                    numpy_helper.from_array(array, value.name))
            else:
                kept.append(value)
        del model.graph.input[:]
        model.graph.input.extend(kept)
        onnx.save(model, out)

    def run(path):
        code, stderr = translate_file(path)
        frozen = False
        if code != 0 and "known at import time" in stderr:
            with tempfile.TemporaryDirectory() as tmp:
                out = os.path.join(tmp, "model.onnx")
                freeze_integer_inputs(path, out)
                code, stderr = translate_file(out)
                frozen = True
        return path, code, stderr, frozen

    failures, expected = [], []
    frozen_ok = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for path, code, stderr, frozen in pool.map(run, candidates):
            name = os.path.basename(os.path.dirname(path))
            if code != 0:
                first = (stderr.strip().splitlines() or ["(no message)"])[0]
                if "training_mode" in first:
                    expected.append(name)
                else:
                    failures.append("FAIL %s: %s" % (name, first))
            elif frozen:
                frozen_ok += 1
    imported = len(candidates) - len(failures) - len(expected)
    print("candidates: %d" % len(candidates))
    print("imported: %d (%d after freezing integer and parameter inputs)" %
          (imported, frozen_ok))
    print("expected-unsupported: %d" % len(expected))
    print("failed: %d" % len(failures))
    for line in failures:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
