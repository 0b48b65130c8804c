#!/usr/bin/env python3
"""ONNX backend node-test conformance for Parsimony.

Runs every ONNX backend node test (libonnx-testdata) whose operators are all
supported by the importer through `parsimony-run MODEL --check DATASET`,
and writes a per-test report (pass / fail / reason) to docs/conformance.md.

  conformance.py [--build-dir build] [--data DIR] [--output docs/conformance.md]
                 [--jobs 2] [--filter REGEX] [--min-pass-rate 0.95]
                 [--target cpu|nvptx]

--target nvptx compiles each test for the GPU (--gpu-binary=ptx) and runs it
on the host through the emulated CUDA driver of the build
(lib/cuda-emulator/libcuda.so.1, preloaded with AddressSanitizer's runtime,
as lit's %with_cuda_emulator does); without one it fails with a message.

Exits non-zero when the pass rate of the supported tests is below
--min-pass-rate. Prints `conformance: N passed, M failed`.
"""

import argparse
import concurrent.futures
import os
import re
import subprocess
import sys
import time

import onnx

DEFAULT_DATA = "/usr/share/libonnx-testdata/data/node"


def supported_ops(build_dir):
    out = subprocess.run(
        [os.path.join(build_dir, "bin", "parsimony-translate"),
         "--list-supported-ops"],
        check=True, capture_output=True, text=True).stdout
    return {line.strip() for line in out.splitlines() if line.strip()}


# The default-domain opsets the importer accepts (opsets 1-26; the node
# tests of Debian's libonnx-testdata go up to 17).
MIN_OPSET, MAX_OPSET = 1, 26


def model_opset(model_path):
    model = onnx.load(model_path, load_external_data=False)
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return entry.version
    return None


def model_ops(model_path):
    """The operator names of a model, as the importer spells them."""
    model = onnx.load(model_path, load_external_data=False)
    ops = set()

    def visit(graph):
        for node in graph.node:
            domain = node.domain if node.domain not in ("", "ai.onnx") else ""
            ops.add(f"{domain}:{node.op_type}" if domain else node.op_type)
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    visit(attr.g)
                for g in attr.graphs:
                    visit(g)

    visit(model.graph)
    return ops


def first_error(text):
    """The most informative line of a failed run."""
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    for pattern in ("MISMATCH", "error:", "Assertion", "Segmentation", "Aborted"):
        for line in lines:
            if pattern in line:
                return line
    return lines[-1] if lines else "no output"


def emulator_env(build_dir):
    """The environment that runs --target=nvptx models on the emulated CUDA
    driver, or None when the build has no emulator."""
    emulator = os.path.join(build_dir, "lib", "cuda-emulator", "libcuda.so.1")
    asan = subprocess.run(["gcc", "-print-file-name=libasan.so"],
                          capture_output=True, text=True).stdout.strip()
    if not os.path.exists(emulator) or not os.path.isabs(asan):
        return None
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "detect_leaks=0"
    env["LD_PRELOAD"] = f"{asan} {emulator}"
    return env


# The errors of a size that depends on an input's value: at import, and on
# the GPU target (where the host cannot read device memory).
SIZE_FROM_INPUT_ERRORS = ("known at import time",
                          "cannot depend on the contents of tensors")


def parameter_inputs(model_path):
    """Names of the graph inputs with a static shape of rank 0 or 1 and at
    most 16 elements: parameters (Resize's scales and roi, OneHot's depth,
    Range's limits) that exported models hold as constants."""
    model = onnx.load(model_path, load_external_data=False)
    inits = {t.name for t in model.graph.initializer}
    names = []
    for i in model.graph.input:
        dims = i.type.tensor_type.shape.dim
        if i.name in inits or len(dims) > 1 or not all(
                d.HasField("dim_value") for d in dims):
            continue
        if all(d.dim_value <= 16 for d in dims):
            names.append(i.name)
    return names


# Tests where the importer follows ONNX Runtime (and PyTorch) on purpose,
# where ONNX's reference implementation computes something else.
ALIGN_CORNERS_NOTE = ("align_corners over the integer output size, where the "
                      "reference uses in_size * scale")
FOLLOWS_ORT = {
    "test_resize_downsample_scales_cubic_align_corners":
        ALIGN_CORNERS_NOTE,
    "test_resize_downsample_scales_linear_align_corners":
        ALIGN_CORNERS_NOTE,
}


def run_test(build_dir, test_dir, timeout, target_args, env):
    """Runs every data set of one test; returns (status, reason, seconds)."""
    run = os.path.join(build_dir, "bin", "parsimony-run")
    model = os.path.join(test_dir, "model.onnx")
    datasets = sorted(d for d in os.listdir(test_dir)
                      if d.startswith("test_data_set_"))
    if not datasets:
        return "skip", "no test data", 0.0
    start = time.time()
    freeze = ["--freeze-integer-inputs"]
    for dataset in datasets:
        try:
            args = [run, model, "--check", os.path.join(test_dir, dataset)]
            proc = subprocess.run(args + freeze + target_args,
                                  capture_output=True, text=True,
                                  timeout=timeout, env=env)
            if proc.returncode != 0 and any(
                    m in proc.stderr for m in SIZE_FROM_INPUT_ERRORS):
                # A small float input that sets a size (OneHot's depth,
                # Range's limits, Resize's scales) is a constant in exported
                # models too.
                freeze += [f"--freeze-input={name}"
                           for name in parameter_inputs(model)]
                proc = subprocess.run(args + freeze + target_args,
                                      capture_output=True, text=True,
                                      timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            return "fail", f"timeout after {timeout}s", time.time() - start
        if proc.returncode != 0:
            reason = first_error(proc.stdout + "\n" + proc.stderr)
            if proc.returncode < 0:
                reason = f"crashed (signal {-proc.returncode}): {reason}"
            # Paths in messages are long and machine-specific.
            reason = reason.replace(test_dir + "/", "")
            known = FOLLOWS_ORT.get(os.path.basename(test_dir))
            if known:
                # Ahead of the error: table cells are truncated.
                reason = f"follows ONNX Runtime: {known}; {reason}"
            return "fail", f"{dataset}: {reason}", time.time() - start
    return "pass", "", time.time() - start


def escape(text):
    return text.replace("|", "\\|").replace("\n", " ")[:220]


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--build-dir", default="build")
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--output", default="docs/conformance.md")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--filter", default="")
    parser.add_argument("--timeout", type=int, default=120)
    parser.add_argument("--min-pass-rate", type=float, default=0.95)
    parser.add_argument("--target", choices=("cpu", "nvptx"), default="cpu")
    args = parser.parse_args()

    build_dir = os.path.abspath(args.build_dir)
    if not os.path.isdir(args.data):
        print(f"error: no ONNX node tests at {args.data} "
              "(install libonnx-testdata)", file=sys.stderr)
        return 1
    target_args, env = [], None
    if args.target == "nvptx":
        env = emulator_env(build_dir)
        if env is None:
            print(f"error: --target nvptx needs the emulated CUDA driver "
                  f"({build_dir}/lib/cuda-emulator/libcuda.so.1) and gcc's "
                  "libasan.so", file=sys.stderr)
            return 1
        target_args = ["--target=nvptx", "--gpu-binary=ptx"]
    supported = supported_ops(build_dir)
    tests = sorted(t for t in os.listdir(args.data)
                   if os.path.isfile(os.path.join(args.data, t, "model.onnx"))
                   and re.search(args.filter, t))

    selected, unsupported = [], {}
    for test in tests:
        try:
            ops = model_ops(os.path.join(args.data, test, "model.onnx"))
        except Exception as e:  # A model onnx itself cannot read.
            unsupported[test] = f"unreadable model: {e}"
            continue
        missing = sorted(ops - supported)
        opset = model_opset(os.path.join(args.data, test, "model.onnx"))
        if missing:
            unsupported[test] = ", ".join(missing)
        elif opset is not None and not MIN_OPSET <= opset <= MAX_OPSET:
            unsupported[test] = (f"default-domain opset {opset} "
                                 f"(supported: {MIN_OPSET} to {MAX_OPSET})")
        else:
            selected.append(test)

    results = {}
    start = time.time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(run_test, build_dir,
                               os.path.join(args.data, t), args.timeout,
                               target_args, env): t
                   for t in selected}
        for future in concurrent.futures.as_completed(futures):
            results[futures[future]] = future.result()
    elapsed = time.time() - start

    passed = sorted(t for t, r in results.items() if r[0] == "pass")
    failed = sorted(t for t, r in results.items() if r[0] == "fail")
    skipped = sorted(t for t, r in results.items() if r[0] == "skip")
    counted = len(passed) + len(failed)
    rate = len(passed) / counted if counted else 0.0

    target_flags = " ".join(target_args)
    command = "/usr/bin/python3 scripts/conformance.py --build-dir build"
    if args.target == "nvptx":
        command += " --target nvptx --output docs/conformance-gpu.md"
    lines = [
        "# ONNX backend node-test conformance" +
        (" on the GPU target" if args.target == "nvptx" else ""),
        "",
        "Every ONNX backend node test in `libonnx-testdata` "
        f"(`{DEFAULT_DATA}`) whose operators are all supported by the "
        f"importer, at a default-domain opset from {MIN_OPSET} to "
        f"{MAX_OPSET}, runs through `parsimony-run model.onnx --check "
        "test_data_set_N --freeze-integer-inputs"
        + (f" {target_flags}" if target_flags else "") +
        "` (every data set; rtol "
        "1e-3, atol 1e-5, and at least one ulp for bfloat16/float16 "
        "outputs). `--freeze-integer-inputs` compiles integer inputs (axes, "
        "shapes, split sizes that the node tests feed as graph inputs) as "
        "the constants exported models have; a test refused because a size "
        "depends on another input is retried with its small parameter "
        "inputs (rank 0 or 1, at most 16 elements: Resize's scales and roi, "
        "OneHot's depth) frozen as well (`--freeze-input`).",
        "",
    ]
    if args.target == "nvptx":
        lines += [
            "The models are compiled for the GPU with their generated kernels "
            "embedded as PTX, and run on the host through the emulated CUDA "
            "driver of the build (`unittests/GpuEmulator`: its PTX "
            "interpreter runs the generated kernels, the SIMT emulator the "
            "kernel library), under AddressSanitizer. A real GPU runs the "
            "same PTX; see [gpu.md](gpu.md#tests).",
            "",
        ]
    lines += [
        f"Produced by `make test` (command: `{command}`).",
        "",
        "| | count |",
        "|---|---|",
        f"| node tests | {len(tests)} |",
        f"| with every operator supported | {len(selected)} |",
        f"| passed | {len(passed)} |",
        f"| failed | {len(failed)} |",
        f"| pass rate | {100 * rate:.1f}% |",
        "",
        "## Failures",
        "",
    ]
    if failed:
        lines += ["| test | reason |", "|---|---|"]
        lines += [f"| {t} | {escape(results[t][1])} |" for t in failed]
    else:
        lines.append("None.")
    lines += ["", "## Passed", "", ", ".join(f"`{t}`" for t in passed) or "None.",
              ""]
    if skipped:
        lines += ["## Skipped (no test data)", "",
                  ", ".join(f"`{t}`" for t in skipped), ""]
    lines += ["## Not run: unsupported operators or opsets", "",
              "| test | reason |", "|---|---|"]
    lines += [f"| {t} | {escape(r)} |" for t, r in sorted(unsupported.items())]
    lines.append("")
    if not args.filter:
        with open(args.output, "w") as f:
            f.write("\n".join(lines))

    for t in failed:
        print(f"  FAIL {t}: {results[t][1]}")
    print(f"conformance: {len(selected)} of {len(tests)} node tests supported, "
          f"{100 * rate:.1f}% pass ({elapsed:.0f}s)")
    print(f"conformance: {len(passed)} passed, {len(failed)} failed")
    return 0 if rate >= args.min_pass_rate else 1


if __name__ == "__main__":
    sys.exit(main())
