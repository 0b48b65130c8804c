#!/usr/bin/env python3
"""Runs the `parsimony` Python package tests against a build tree.

  /usr/bin/python3 python-bindings/tests/run_tests.py --build-dir build \
      [--json results.json] [-k PATTERN]

Imports the package from BUILD/python-packages, runs every test_*.py here
with unittest, prints the usual unittest report and a final line
`python: N passed, M failed`; with --json also writes
{"passed": N, "failed": M, "failures": [test ids]}. Exits non-zero when a
test failed or none ran.
"""

import argparse
import json
import os
import sys
import unittest


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build-dir", default="build")
    parser.add_argument("--json", help="write the counts here")
    parser.add_argument("-k", dest="patterns", action="append",
                        help="only run tests matching this substring")
    args = parser.parse_args()

    build_dir = os.path.abspath(args.build_dir)
    sys.path.insert(0, os.path.join(build_dir, "python-packages"))
    os.environ["PARSIMONY_BUILD_DIR"] = build_dir

    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = ["*%s*" % p for p in args.patterns]
    here = os.path.dirname(os.path.abspath(__file__))
    suite = loader.discover(here, pattern="test_*.py", top_level_dir=here)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)

    failures = [test.id() for test, _ in result.failures + result.errors]
    failed = len(failures)
    passed = result.testsRun - failed - len(result.skipped) - len(
        result.expectedFailures)
    print("python: %d passed, %d failed" % (passed, failed))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"passed": passed, "failed": failed,
                       "failures": failures}, f)
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
