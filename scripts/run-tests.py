#!/usr/bin/env python3
"""Runs every Parsimony test suite and prints one summary line.

Suites: the lit/FileCheck regression tests (test/), the GoogleTest unit
tests (unittests/), the ONNX backend node-test conformance run
(scripts/conformance.py, one aggregate check; again for the GPU target on
the emulated CUDA driver, another check) and the Python package tests
(python-bindings/tests). Prints per-suite results, then `N passed, M failed`, and
exits non-zero if anything failed or a suite could not run.
"""

import argparse
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET


def run_lit(build_dir):
    """Runs lit over build/test; returns (passed, failed, failures)."""
    xml_path = os.path.join(build_dir, "lit-results.xml")
    if os.path.exists(xml_path):
        os.remove(xml_path)
    lit = "/usr/lib/llvm-22/bin/lit"
    cmd = [lit, "-sv", "--xunit-xml-output", xml_path,
           os.path.join(build_dir, "test")]
    proc = subprocess.run(cmd)
    if not os.path.exists(xml_path):
        return 0, 1, ["lit: did not produce results (exit %d)" % proc.returncode]
    return count_junit(xml_path, unsupported_is_pass=False)


def count_junit(xml_path, unsupported_is_pass):
    passed, failed, failures = 0, 0, []
    root = ET.parse(xml_path).getroot()
    for case in root.iter("testcase"):
        name = case.get("classname", "") + "." + case.get("name", "")
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
            failures.append(name)
        elif case.find("skipped") is not None:
            if unsupported_is_pass:
                passed += 1
        else:
            passed += 1
    return passed, failed, failures


def run_gtest(build_dir):
    """Runs every GoogleTest binary under build/unittests."""
    passed, failed, failures = 0, 0, []
    bin_dir = os.path.join(build_dir, "unittests")
    binaries = sorted(
        os.path.join(bin_dir, f) for f in os.listdir(bin_dir)
        if f.endswith("Tests") and os.access(os.path.join(bin_dir, f), os.X_OK)
    ) if os.path.isdir(bin_dir) else []
    if not binaries:
        return 0, 1, ["gtest: no unit-test binaries found in " + bin_dir]
    for binary in binaries:
        xml_path = binary + ".xml"
        if os.path.exists(xml_path):
            os.remove(xml_path)
        proc = subprocess.run([binary, "--gtest_output=xml:" + xml_path])
        if not os.path.exists(xml_path):
            failed += 1
            failures.append("%s crashed (exit %d)" % (binary, proc.returncode))
            continue
        p, f, names = count_junit(xml_path, unsupported_is_pass=False)
        passed, failed, failures = passed + p, failed + f, failures + names
    return passed, failed, failures


def run_conformance(build_dir):
    """ONNX backend node tests through parsimony-run --check.

    Counted as one check: it passes when at least 95% of the supported node
    tests pass. Per-test results go to docs/conformance.md.
    """
    script = os.path.join(os.path.dirname(__file__), "conformance.py")
    output = os.path.join(os.path.dirname(__file__), "..", "docs",
                          "conformance.md")
    proc = subprocess.run([sys.executable, script, "--build-dir", build_dir,
                           "--output", output, "--jobs", "2"])
    if proc.returncode == 0:
        return 1, 0, []
    return 0, 1, ["conformance: below the 95% pass rate (see docs/conformance.md)"]


def run_conformance_gpu(build_dir):
    """The same node tests compiled for the GPU (--target=nvptx) and run on
    the emulated CUDA driver; skipped when the build has no GPU target or
    emulator. Per-test results go to docs/conformance-gpu.md."""
    if not os.path.exists(os.path.join(build_dir, "lib", "cuda-emulator",
                                       "libcuda.so.1")):
        print("conformance-gpu: skipped (no emulated CUDA driver in the build)")
        return 0, 0, []
    script = os.path.join(os.path.dirname(__file__), "conformance.py")
    output = os.path.join(os.path.dirname(__file__), "..", "docs",
                          "conformance-gpu.md")
    proc = subprocess.run([sys.executable, script, "--build-dir", build_dir,
                           "--output", output, "--jobs", "2",
                           "--target", "nvptx", "--timeout", "300"])
    if proc.returncode == 0:
        return 1, 0, []
    return 0, 1, ["conformance-gpu: below the 95% pass rate "
                  "(see docs/conformance-gpu.md)"]


def run_python(build_dir):
    """The `parsimony` Python package tests (python-bindings/tests) against
    the build tree's package, with /usr/bin/python3."""
    runner = os.path.join(os.path.dirname(__file__), "..", "python-bindings",
                          "tests", "run_tests.py")
    json_path = os.path.join(build_dir, "python-test-results.json")
    if os.path.exists(json_path):
        os.remove(json_path)
    proc = subprocess.run(["/usr/bin/python3", runner, "--build-dir",
                           build_dir, "--json", json_path])
    if not os.path.exists(json_path):
        return 0, 1, ["python: the test runner crashed (exit %d)" %
                      proc.returncode]
    with open(json_path) as f:
        results = json.load(f)
    return (results["passed"], results["failed"],
            ["python: " + name for name in results["failures"]])


def run_fuzz(build_dir):
    """The ONNX importer under libFuzzer for 30 s on the seed corpus
    (test/Importer/fuzz/run-fuzz.sh): one check, failed by any crash."""
    script = os.path.join(os.path.dirname(__file__), "..", "test", "Importer",
                          "fuzz", "run-fuzz.sh")
    proc = subprocess.run(["bash", script, build_dir, "30"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    tail = "\n".join(proc.stdout.splitlines()[-5:])
    print(tail)
    if proc.returncode == 0:
        return 1, 0, []
    return 0, 1, ["fuzz: the importer fuzzer failed (see " + build_dir +
                  "/fuzz/artifacts):\n" + tail]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build-dir", default="build")
    args = parser.parse_args()
    build_dir = os.path.abspath(args.build_dir)

    suites = [("lit", run_lit), ("gtest", run_gtest),
              ("conformance", run_conformance),
              ("conformance-gpu", run_conformance_gpu), ("fuzz", run_fuzz),
              ("python", run_python)]
    total_passed, total_failed, all_failures = 0, 0, []
    rows = []
    for name, runner in suites:
        p, f, failures = runner(build_dir)
        rows.append((name, p, f))
        total_passed += p
        total_failed += f
        all_failures += failures

    print("\n== Parsimony test summary ==")
    for name, p, f in rows:
        print("  %-11s %5d passed, %d failed" % (name, p, f))
    for failure in all_failures:
        print("  FAILED: " + failure)
    print("%d passed, %d failed" % (total_passed, total_failed))
    return 0 if total_failed == 0 and total_passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
