#!/usr/bin/env python3
"""Weight-only quantization: int8 / int4 against our own f32 build, one run.

  /usr/bin/python3 bench/run_quant_benchmarks.py [--build-dir build]
      [--work bench/results] [--rounds 5] [--runs 20] [--cases ...]
      [--group-size 64] [--output docs/quantization.md]

For every case the model is compiled three times (f32, --quantize=int8,
--quantize=int4 --group-size=G) and the three libraries run on the same
inputs, alternating f32 / int8 / int4 for --rounds rounds of --runs timed
runs (after warm-up); the median of the round medians is reported with the
speedup over f32 and the size of each compiled library. Every timed run
starts with the caches flushed (--flush-mb), so the weights are read from
DRAM: batch-1 decoding is memory-bound, and the smaller quantized weights
would otherwise stay in the L3 cache between runs. The outputs of the
quantized builds are compared with the f32 build's:

  max rel err  = max |y_q - y_f32| / max |y_f32|
  mean rel err = mean |y_q - y_f32| / mean |y_f32|

Accuracy-only cases (the bundled example model and the PyTorch-exported
encoder/decoder blocks) are compiled and run once. The tables replace the
text between the `quant-bench` markers of --output.
"""

import argparse
import os
import statistics
import sys

import numpy as np

# The same process and timing helpers as the main benchmark (this folder).
from run_benchmarks import median_ms, run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name: (model stem, description, {input: npy stem}, extra flags, timed)
CASES = {
    "ffn12_t1": ("ffn12", "12-layer FFN stack (d=768, ff=3072, ReLU + top-128),"
                 " 1 token, dense (--sparse-ffn=off)",
                 {"x": "ffn12_t1.x"}, ["--dim=tokens=1"], True),
    "ffn12_t1_exact": ("ffn12", "12-layer FFN stack, 1 token, "
                       "--sparse-ffn=exact", {"x": "ffn12_t1.x"},
                       ["--dim=tokens=1", "--sparse-ffn=exact"], True),
    "ffn12_t16": ("ffn12", "12-layer FFN stack, 16 tokens, dense",
                  {"x": "ffn12_t16.x"}, ["--dim=tokens=16"], True),
    "moe_e8_k1_t1": ("moe_e8_k1", "MoE layer (ORT com.microsoft:MoE), E=8, "
                     "k=1, 1 token", {"x": "moe_e8_t1.x",
                                      "router": "moe_e8_t1.router"},
                     ["--dim=tokens=1"], True),
    "moe_e8_k2_t1": ("moe_e8_k2", "MoE layer, E=8, k=2, 1 token",
                     {"x": "moe_e8_t1.x", "router": "moe_e8_t1.router"},
                     ["--dim=tokens=1"], True),
    "decoder12": ("decoder12", "12-layer GPT-2-style decoder (PyTorch), "
                  "1-token step, 128-token KV cache",
                  {"x": "decoder12.x", "past_k": "decoder12.past_k",
                   "past_v": "decoder12.past_v"}, [], True),
    "bert_layer": ("bert_layer", "BERT-base encoder layer (PyTorch), seq 128",
                   {"x": "bert_layer.x"}, [], False),
    "example": ("tiny_transformer", "bundled example model (make demo: "
                "2-layer encoder, d=256)", {"x": "tiny_transformer.x"}, [],
                False),
}
DEFAULT_CASES = ["ffn12_t1", "ffn12_t1_exact", "ffn12_t16", "moe_e8_k1_t1",
                 "moe_e8_k2_t1", "decoder12", "bert_layer", "example"]




def errors(q, ref):
    q, ref = q.astype(np.float64), ref.astype(np.float64)
    diff = np.abs(q - ref)
    return (diff.max() / max(np.abs(ref).max(), 1e-30),
            diff.mean() / max(np.abs(ref).mean(), 1e-30))


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    parser.add_argument("--work", default=os.path.join(ROOT, "bench", "results"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--group-size", type=int, default=64)
    parser.add_argument("--flush-mb", type=int, default=96,
                        help="MB read before every timed run (parsimony-run "
                        "--flush-caches): weights come from DRAM, as in "
                        "decoding a model far larger than the caches")
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES))
    parser.add_argument("--output",
                        default=os.path.join(ROOT, "docs", "quantization.md"))
    args = parser.parse_args()
    build, work = os.path.abspath(args.build_dir), os.path.abspath(args.work)
    names = [n for n in args.cases.split(",") if n]
    for n in names:
        if n not in CASES:
            sys.exit(f"error: unknown case '{n}' (known: {', '.join(CASES)})")
    os.makedirs(work, exist_ok=True)
    if "example" in names and not os.path.exists(
            f"{work}/tiny_transformer.onnx"):
        run(["/usr/bin/python3", os.path.join(ROOT, "examples",
                                              "make_example.py"), work])
        os.replace(f"{work}/x.npy", f"{work}/tiny_transformer.x.npy")
    if any(not os.path.exists(f"{work}/{CASES[n][0]}.onnx") for n in names):
        run(["/usr/bin/python3",
             os.path.join(ROOT, "bench", "models", "make_models.py"), work])

    compile_bin = os.path.join(build, "bin", "parsimony-compile")
    run_bin = os.path.join(build, "bin", "parsimony-run")
    variants = [("f32", []), ("int8", ["--quantize=int8"]),
                ("int4", ["--quantize=int4", f"--group-size={args.group_size}"])]
    timed, accuracy = [], []
    for name in names:
        stem, desc, inputs_map, flags, is_timed = CASES[name]
        model = f"{work}/{stem}.onnx"
        inputs = []
        for input_name, npy in inputs_map.items():
            inputs += ["--input", f"{input_name}={work}/{npy}.npy"]
        libs, sizes, outs = {}, {}, {}
        for variant, qflags in variants:
            lib = f"{work}/quant_{name}_{variant}.so"
            run([compile_bin, model, "-o", lib] + flags + qflags)
            libs[variant], sizes[variant] = lib, os.path.getsize(lib)
            out_dir = f"{work}/quant_{name}_{variant}.out"
            run([run_bin, lib] + inputs + ["--output-dir", out_dir])
            outs[variant] = {f: np.load(os.path.join(out_dir, f))
                             for f in sorted(os.listdir(out_dir))
                             if f.endswith(".npy")}
        errs = {}
        for variant in ("int8", "int4"):
            pairs = [errors(outs[variant][f], outs["f32"][f])
                     for f in outs["f32"]]
            errs[variant] = (max(p[0] for p in pairs),
                             max(p[1] for p in pairs))
        accuracy.append(dict(name=name, desc=desc, errs=errs))
        if not is_timed:
            print(f"{name}: int8 {errs['int8']}, int4 {errs['int4']}",
                  flush=True)
            continue
        times = {v: [] for v, _ in variants}
        for _ in range(args.rounds):
            for variant, _ in variants:
                times[variant].append(median_ms(run(
                    [run_bin, libs[variant]] + inputs +
                    ["--benchmark", str(args.runs),
                     f"--flush-caches={args.flush_mb}"])))
        med = {v: statistics.median(t) for v, t in times.items()}
        timed.append(dict(name=name, desc=desc, med=med, times=times,
                          sizes=sizes, flags=" ".join(flags)))
        print(f"{name}: " + ", ".join(
            f"{v} {med[v]:.3f} ms ({med['f32'] / med[v]:.2f}x, "
            f"{sizes[v] / 1e6:.1f} MB)" for v, _ in variants), flush=True)

    command = ("/usr/bin/python3 bench/run_quant_benchmarks.py "
               f"--rounds {args.rounds} --runs {args.runs} "
               f"--group-size {args.group_size} --flush-mb {args.flush_mb}")
    if names != DEFAULT_CASES:
        command += f" --cases {','.join(names)}"
    lines = [f"Command: `{command}` (machine: {os.cpu_count()} cores; "
             "int4 uses groups of "
             f"{args.group_size}).", ""]
    if timed:
        lines += [
            "| case | flags | f32 | int8 | int4 | int8 speedup | int4 speedup "
            "| f32 .so | int8 .so | int4 .so |",
            "|---|---|---|---|---|---|---|---|---|---|"]
        for r in timed:
            m, s = r["med"], r["sizes"]
            lines.append(
                f"| {r['desc']} | `{r['flags'] or '(default)'}` "
                f"| {m['f32']:.3f} ms | {m['int8']:.3f} ms | {m['int4']:.3f} ms "
                f"| **{m['f32'] / m['int8']:.2f}x** "
                f"| **{m['f32'] / m['int4']:.2f}x** "
                f"| {s['f32'] / 1e6:.1f} MB "
                f"| {s['int8'] / 1e6:.1f} MB ({s['f32'] / s['int8']:.1f}x smaller) "
                f"| {s['int4'] / 1e6:.1f} MB ({s['f32'] / s['int4']:.1f}x smaller) |")
        lines += ["", "Per-round medians (ms), f32 / int8 / int4:", ""]
        for r in timed:
            t = r["times"]
            lines.append(f"- {r['name']}: " + ", ".join(
                f"{a:.3f}/{b:.3f}/{c:.3f}"
                for a, b, c in zip(t["f32"], t["int8"], t["int4"])))
        lines.append("")
    lines += ["Output error of the quantized builds against the f32 build "
              "(same inputs):", "",
              "| model | int8 max rel err | int8 mean rel err "
              "| int4 max rel err | int4 mean rel err |",
              "|---|---|---|---|---|"]
    for r in accuracy:
        e = r["errs"]
        lines.append(f"| {r['desc']} | {e['int8'][0]:.2e} | {e['int8'][1]:.2e} "
                     f"| {e['int4'][0]:.2e} | {e['int4'][1]:.2e} |")
    table = "\n".join(lines) + "\n"

    begin, end = "<!-- quant-bench:begin -->\n", "<!-- quant-bench:end -->"
    text = open(args.output).read() if os.path.exists(args.output) else ""
    if begin in text and end in text:
        text = text[:text.index(begin) + len(begin)] + table + \
            text[text.index(end):]
    else:
        text += "\n" + begin + table + end + "\n"
    with open(args.output, "w") as f:
        f.write(text)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
