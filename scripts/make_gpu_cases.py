#!/usr/bin/env python3
"""Builds the GPU parity cases that scripts/gpu_check.py runs.

  make_gpu_cases.py BUILD_DIR OUT_DIR [--gpu-arch sm_90] [--gpu-binary ptx]
                    [--quick] [--only NAME,NAME...]

Each case is a model made by the test generators (fixed seeds), compiled
with `parsimony-compile --target=nvptx` and the case's options, plus the
outputs of the CPU build with the same options (`parsimony-run`, checked
against ONNX Runtime and NumPy by the other tests) as the reference.
Writes OUT_DIR/cases.json. --quick makes a three-case subset for
`make test`; --only keeps the named cases.
"""
import json
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INPUTS = os.path.join(ROOT, "test", "e2e", "Inputs")
PY = sys.executable

build, out = sys.argv[1], sys.argv[2]
arch = sys.argv[sys.argv.index("--gpu-arch") + 1] \
    if "--gpu-arch" in sys.argv else "sm_90"
# ptx: the libraries embed their generated kernels as PTX (what the
# emulated driver of unittests/GpuEmulator interprets) instead of cubins.
binary = sys.argv[sys.argv.index("--gpu-binary") + 1] \
    if "--gpu-binary" in sys.argv else "fatbin"
quick = "--quick" in sys.argv
only = set(sys.argv[sys.argv.index("--only") + 1].split(",")) \
    if "--only" in sys.argv else None
BIN = os.path.join(build, "bin")
os.makedirs(out, exist_ok=True)
cases = []


def sh(*args):
    subprocess.run([str(a) for a in args], check=True,
                   stdout=subprocess.DEVNULL)


def case(name, model, inputs, options=(), rtol=1e-4):
    """inputs: {graph input name: path relative to out}."""
    if only is not None and name not in only:
        return
    sh(os.path.join(BIN, "parsimony-compile"), model, "--target=nvptx",
       f"--gpu-arch={arch}", f"--gpu-binary={binary}", "--cpu=x86-64-v3",
       *options, "-o",
       os.path.join(out, name + ".so"))
    refdir = os.path.join(out, name + ".ref")
    sh(os.path.join(BIN, "parsimony-run"), model, *options, "--output-dir",
       refdir, *[f"--input={k}={os.path.join(out, v)}"
                 for k, v in inputs.items()])
    expected = {f[:-4]: os.path.join(name + ".ref", f)
                for f in sorted(os.listdir(refdir)) if f.endswith(".npy")}
    cases.append({"name": name, "library": name + ".so", "inputs": inputs,
                  "expected": expected, "rtol": rtol})


def generate(script, sub, *args):
    d = os.path.join(out, sub)
    os.makedirs(d, exist_ok=True)
    sh(PY, os.path.join(INPUTS, script), d, *args)
    return d


# A linear layer + GELU in linalg: generated kernels and the GEMM.
rng = np.random.default_rng(0)
for n, shape in {"x": (4, 8), "w": (8, 16), "b": (16,)}.items():
    np.save(os.path.join(out, f"lg_{n}.npy"),
            rng.standard_normal(shape).astype(np.float32))
case("linear_gelu", os.path.join(INPUTS, "linear-gelu.mlir"),
     {n: f"lg_{n}.npy" for n in "xwb"})

# A ReLU FFN raised into spx.sparse_ffn: dense, exact, top-k, predicted.
d = generate("make_ffn_model.py", "ffn", "32")
ffn = {"x": "ffn/x.npy"}
case("ffn_exact", f"{d}/ffn.onnx", ffn, ["--sparse-ffn=exact"])
if not quick:
    case("ffn_dense", f"{d}/ffn.onnx", ffn, ["--sparse-ffn=off"])
    case("ffn_exact_topk", f"{d}/ffn.onnx", ffn,
         ["--sparse-ffn=exact", "--topk=32"])
    case("ffn_predict_int8", f"{d}/ffn.onnx", ffn,
         ["--sparse-ffn=predict", "--topk=32", "--predictor=int8"])
    case("ffn_predict_int4", f"{d}/ffn.onnx", ffn,
         ["--sparse-ffn=predict", "--topk=32", "--predictor=int4"])
    case("ffn_predict_lowrank", f"{d}/ffn.onnx", ffn,
         ["--sparse-ffn=predict", "--topk=32", "--predictor=lowrank:16"])
    # Weight-only quantized (int8 per channel, packed int4 in groups).
    case("ffn_dense_int8", f"{d}/ffn.onnx", ffn,
         ["--sparse-ffn=off", "--quantize=int8"])
    case("ffn_exact_int4", f"{d}/ffn.onnx", ffn,
         ["--sparse-ffn=exact", "--quantize=int4", "--group-size=32"])
    case("ffn_predict_int4_q4", f"{d}/ffn.onnx", ffn,
         ["--sparse-ffn=predict", "--topk=32", "--predictor=int4",
          "--quantize=int4"])

# PyTorch-exported transformer blocks (attention, softmax, layer norm).
d = generate("make_torch_models.py", "gpt2", "gpt2", "16")
case("gpt2_block", f"{d}/model.onnx", {"x": "gpt2/x.npy"})
if not quick:
    case("gpt2_block_int8", f"{d}/model.onnx", {"x": "gpt2/x.npy"},
         ["--quantize=int8"])
if not quick:
    d = generate("make_torch_models.py", "llama", "llama", "16")
    case("llama_block", f"{d}/model.onnx", {"x": "llama/x.npy"})
    for act, seq in (("relu", 16), ("gelu", 32)):
        d = generate("make_torch_models.py", f"enc_{act}", "encoder", act,
                     str(seq))
        case(f"encoder_{act}", f"{d}/model.onnx", {"x": f"enc_{act}/x.npy"})
    d = generate("make_torch_models.py", "enc_sparse", "encoder", "relu", "16")
    case("encoder_relu_exact", f"{d}/model.onnx", {"x": "enc_sparse/x.npy"},
         ["--sparse-ffn=exact"])

# ONNX Runtime MoE layers: route -> dispatch -> experts -> combine.
if not quick:
    for E, k, act, bias, T, opts in (
            (4, 1, "relu", 1, 8, []),
            (8, 2, "gelu", 0, 16, []),
            (4, 2, "silu", 1, 3, []),
            (8, 2, "swiglu", 1, 16, []),
            (64, 2, "relu", 1, 16, []),
            (8, 1, "relu", 1, 16, ["--moe=capacity", "--capacity-factor=0.5"]),
            (4, 2, "gelu", 1, 8, ["--moe=capacity", "--capacity-factor=8"]),
            (8, 2, "silu", 1, 16, ["--quantize=int4"])):
        sub = f"moe_E{E}_k{k}_{act}_T{T}" + (
            "_cap" if "--moe=capacity" in opts else "_q4" if opts else "")
        d = generate("make_ort_moe.py", sub, E, k, act, bias, T)
        case(sub, f"{d}/moe.onnx",
             {"x": f"{sub}/x.npy", "router": f"{sub}/router.npy"}, opts)

if only is not None and len(cases) != len(only):
    missing = only - {c["name"] for c in cases}
    sys.exit(f"make_gpu_cases.py: no case named {', '.join(sorted(missing))}")
json.dump(cases, open(os.path.join(out, "cases.json"), "w"), indent=1)
print(f"{len(cases)} GPU cases in {out}")
