"""Runs every model of a manifest with the contradicting inputs that
make_runtime_check_models.py lists in bad_inputs.json, expecting each run
to fail cleanly.

  run_bad_inputs.py DIR --ours "CMD"

Each case runs `CMD model --input NAME=file ... --output-dir TMP` with the
manifest's inputs, overridden by the case's. Prints
"MODEL/CASE: failed (exit N): LAST STDERR LINE" for a run that exits 1..125
(an error, not a signal), else "MODEL/CASE: UNEXPECTED ..." (a success, a
crash or a hang), and exits non-zero if any case was unexpected.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--ours", required=True)
    args = ap.parse_args()
    with open(os.path.join(args.dir, "manifest.json")) as f:
        manifest = {c["name"]: c for c in json.load(f)}
    with open(os.path.join(args.dir, "bad_inputs.json")) as f:
        cases = json.load(f)
    unexpected = 0
    for case in cases:
        good = manifest[case["model"]]
        inputs = dict(good["inputs"], **case["inputs"])
        cmd = shlex.split(args.ours) + [os.path.join(args.dir, good["model"])]
        for name, path in inputs.items():
            cmd += ["--input", f"{name}={os.path.join(args.dir, path)}"]
        label = f"{case['model']}/{case['case']}"
        with tempfile.TemporaryDirectory() as out:
            try:
                p = subprocess.run(cmd + ["--output-dir", out],
                                   capture_output=True, text=True,
                                   timeout=300)
            except subprocess.TimeoutExpired:
                print(f"{label}: UNEXPECTED hang")
                unexpected += 1
                continue
        lines = (p.stderr or p.stdout).strip().splitlines()
        last = lines[-1] if lines else ""
        if 0 < p.returncode < 126:
            print(f"{label}: failed (exit {p.returncode}): {last}")
        else:
            print(f"{label}: UNEXPECTED exit {p.returncode}: {last}")
            unexpected += 1
    sys.exit(1 if unexpected else 0)


if __name__ == "__main__":
    main()
