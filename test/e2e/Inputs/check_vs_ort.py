"""Runs every model of a manifest through Parsimony and ONNX Runtime and
compares all outputs.

  check_vs_ort.py MANIFEST --ours "CMD" --ort "CMD" [--only NAME,...]

MANIFEST is a JSON list written by a make_*_models.py script:
  [{"name": ..., "model": "x.onnx", "inputs": {"x": "x.npy"},
    "rtol": 1e-4, "extra_args": [...], "ort_model": "ref.onnx"}, ...]
"ort_model" (optional) is the model ONNX Runtime runs instead, for an
operator ONNX Runtime has no CPU kernel for: the same computation in
standard operators.
Paths are relative to the manifest. "CMD" is split like a shell command line
(so "env LD_PRELOAD=... parsimony-run --target=nvptx" works); each model is
run as `CMD model --input NAME=file ... --output-dir DIR`.

For each model prints "NAME: OK (max rel err E)" when every output has the
reference's shape and dtype and max|ours - ort| <= rtol * max|ort| (per
output), else "NAME: FAILED ..." with the reason; exits non-zero if any
model failed.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys

import numpy as np


def run(cmd, model, inputs, out_dir, extra):
    args = shlex.split(cmd) + [model] + list(extra)
    for name, path in inputs.items():
        args += ["--input", f"{name}={path}"]
    args += ["--output-dir", out_dir]
    p = subprocess.run(args, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        return (p.stderr or p.stdout).strip().splitlines()[-1:] or ["exit %d" %
                                                                     p.returncode]
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("manifest")
    ap.add_argument("--ours", required=True)
    ap.add_argument("--ort", required=True)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    base = os.path.dirname(os.path.abspath(args.manifest))
    with open(args.manifest) as f:
        cases = json.load(f)
    only = set(filter(None, args.only.split(",")))
    failed = 0
    for case in cases:
        name = case["name"]
        if only and name not in only:
            continue
        model = os.path.join(base, case["model"])
        inputs = {k: os.path.join(base, v) for k, v in case["inputs"].items()}
        ours_dir = os.path.join(base, "out-ours", name)
        ort_dir = os.path.join(base, "out-ort", name)
        for d in (ours_dir, ort_dir):
            os.makedirs(d, exist_ok=True)
            for old in os.listdir(d):
                os.remove(os.path.join(d, old))
        problem = None
        err = run(args.ours, model, inputs, ours_dir, case.get("extra_args", []))
        if err:
            problem = "parsimony: " + " ".join(err)
        else:
            ref_model = os.path.join(base, case.get("ort_model", case["model"]))
            err = run(args.ort, ref_model, inputs, ort_dir, [])
            if err:
                problem = "onnxruntime: " + " ".join(err)
        worst = 0.0
        if not problem:
            outputs = sorted(os.listdir(ort_dir))
            if not outputs:
                problem = "onnxruntime wrote no outputs"
            for out in outputs:
                ref = np.load(os.path.join(ort_dir, out))
                path = os.path.join(ours_dir, out)
                if not os.path.exists(path):
                    problem = f"{out}: not written"
                    break
                got = np.load(path)
                if got.shape != ref.shape or got.dtype != ref.dtype:
                    problem = (f"{out}: {got.dtype}{list(got.shape)} vs "
                               f"{ref.dtype}{list(ref.shape)}")
                    break
                if ref.size == 0:
                    continue
                if ref.dtype.kind in "biu":
                    e = float(np.abs(got.astype(np.int64) - ref).max())
                    if e != 0:
                        problem = f"{out}: integers differ by up to {e:g}"
                        break
                    continue
                e = float(np.abs(got.astype(np.float64) - ref).max() /
                          max(float(np.abs(ref).max()), 1e-30))
                worst = max(worst, e)
                if not e <= case.get("rtol", 1e-4):
                    problem = f"{out}: max rel err {e:.2e} > {case.get('rtol', 1e-4):g}"
                    break
        if problem:
            failed += 1
            print(f"{name}: FAILED {problem}")
        else:
            print(f"{name}: OK (max rel err {worst:.1e})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
