#!/usr/bin/env python3
"""Runs GPU-compiled model libraries and compares them with references.

  gpu_check.py CASES_DIR [--benchmark N] [--repeat N] [--only NAME,...]

CASES_DIR/cases.json (written by scripts/make_gpu_cases.py) lists cases:
{"name", "library", "inputs": {name: npy}, "expected": {name: npy}, "rtol"}.
Each library (parsimony-compile --target=nvptx) is loaded with ctypes
through the C ABI of docs/abi.md, run on the inputs, and every output is
compared with the reference: max |ours - ref| / max |ref| <= rtol.
--repeat N runs each model N times, each time from fresh copies of the
inputs into fresh output buffers, and checks every run: the GPU runtime
replays repeated runs from a CUDA graph, so this checks the replays.
--only restricts the check to the named cases.

Needs only Python 3 and NumPy, so it runs on a GPU machine without the
compiler. Prints one line per case and a summary; exits 1 on a mismatch.
Without a usable GPU it prints "skipped: no GPU (<reason>)" and exits 0.
"""
import ctypes
import json
import os
import sys
import time

import numpy as np

DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 5: np.int16, 6: np.int32,
          7: np.int64, 9: np.bool_, 10: np.float16, 11: np.float64}


class TensorInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int32),
                ("rank", ctypes.c_int32),
                ("shape", ctypes.POINTER(ctypes.c_int64))]


class ModelInfo(ctypes.Structure):
    _fields_ = [("abi_version", ctypes.c_uint32), ("name", ctypes.c_char_p),
                ("num_inputs", ctypes.c_int32),
                ("inputs", ctypes.POINTER(TensorInfo)),
                ("num_outputs", ctypes.c_int32),
                ("outputs", ctypes.POINTER(TensorInfo))]


def tensors(array, count):
    out = []
    for i in range(count):
        t = array[i]
        out.append((t.name.decode(), DTYPES[t.dtype],
                    tuple(t.shape[d] for d in range(t.rank))))
    return out


def graph_launches():
    """CUDA graph launches so far, where the driver tells (the emulated
    driver of unittests/GpuEmulator does), else None."""
    try:
        fn = ctypes.CDLL("libcuda.so.1").parsimony_emulator_graph_launches
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.c_int64
    return fn()


class Model:
    def __init__(self, path):
        self.lib = ctypes.CDLL(os.path.abspath(path))
        self.lib.parsimony_model_v1_info.restype = ctypes.POINTER(ModelInfo)
        self.lib.parsimony_model_v1_run.restype = ctypes.c_int32
        self.lib.parsimony_model_v1_run.argtypes = [
            ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p)]
        self.lib.parsimony_model_v1_last_error.restype = ctypes.c_char_p
        info = self.lib.parsimony_model_v1_info().contents
        self.inputs = tensors(info.inputs, info.num_inputs)
        self.outputs = tensors(info.outputs, info.num_outputs)

    def prepare(self, feeds):
        self.arrays = []
        for name, dtype, shape in self.inputs:
            a = np.array(feeds[name], dtype=dtype, order="C", copy=True)
            assert a.shape == shape, (name, a.shape, shape)
            self.arrays.append(a)
        self.results = [np.empty(shape, dtype) for _, dtype, shape in
                        self.outputs]
        ptrs = lambda arrays: (ctypes.c_void_p * len(arrays))(
            *[a.ctypes.data for a in arrays])
        self.inPtrs, self.outPtrs = ptrs(self.arrays), ptrs(self.results)

    def run(self):
        rc = self.lib.parsimony_model_v1_run(self.inPtrs, self.outPtrs)
        if rc != 0:
            raise RuntimeError(self.lib.parsimony_model_v1_last_error().decode())
        return {name: r for (name, _, _), r in zip(self.outputs, self.results)}


def main():
    root = sys.argv[1]
    def option(flag, default):
        return sys.argv[sys.argv.index(flag) + 1] if flag in sys.argv \
            else default
    bench = int(option("--benchmark", 0))
    repeat = max(int(option("--repeat", 1)), 1)
    only = set(option("--only", "").split(",")) - {""}
    cases = json.load(open(os.path.join(root, "cases.json")))
    if only:
        unknown = only - {case["name"] for case in cases}
        if unknown:
            print(f"error: no such case: {', '.join(sorted(unknown))}")
            return 2
        cases = [case for case in cases if case["name"] in only]
    failed = 0
    for case in cases:
        model = Model(os.path.join(root, case["library"]))
        feeds = {k: np.load(os.path.join(root, v))
                 for k, v in case["inputs"].items()}
        expected = {name: np.load(os.path.join(root, path))
                    for name, path in case["expected"].items()}
        before = graph_launches()
        worst = 0.0
        try:
            for _ in range(repeat):
                model.prepare(feeds)
                outputs = model.run()
                for name, ref in expected.items():
                    got = outputs[name]
                    scale = max(float(np.abs(ref).max()), 1e-30)
                    err = float(np.abs(got.astype(np.float64) - ref).max()) \
                        / scale
                    worst = max(worst, err)
        except RuntimeError as e:
            if "no CUDA driver" in str(e) or "no usable GPU" in str(e):
                print(f"skipped: no GPU ({e})")
                return 0
            print(f"FAIL {case['name']}: {e}")
            failed += 1
            continue
        ok = worst <= case["rtol"]
        failed += not ok
        line = (f"{'PASS' if ok else 'FAIL'} {case['name']}: max error "
                f"{worst:.2e} of max |ref| (tolerance {case['rtol']:g})")
        if repeat > 1:
            line += f", {repeat} runs"
            if before is not None:
                line += f", {graph_launches() - before} graph launches"
        if bench:
            for _ in range(3):
                model.run()
            times = []
            for _ in range(bench):
                start = time.perf_counter()
                model.run()
                times.append((time.perf_counter() - start) * 1e3)
            line += f", median_ms {np.median(times):.3f}"
        print(line, flush=True)
    print(f"{len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
