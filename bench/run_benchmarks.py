#!/usr/bin/env python3
"""Parsimony vs ONNX Runtime, measured side by side in one run.

  /usr/bin/python3 bench/run_benchmarks.py [--build-dir build]
      [--work bench/results] [--rounds 5] [--runs 20]
      [--models bert_layer,bert12,decoder12] [--output docs/benchmarks.md]

For every model (bench/models/make_models.py) both engines run on the same
inputs, alternating Parsimony and ONNX Runtime for --rounds rounds of --runs
timed runs each (after warm-up, compilation excluded); the median of the
round medians is reported, with the ratio ONNX Runtime time / Parsimony time
(> 1: Parsimony is faster). STREAM triad probes in the same run (one before
the first case, one after each; their median) give the memory-bandwidth
limit: for each model, weight bytes read per run
divided by the run time is stated as a fraction of it. Writes a Markdown
table and a plot (PNG) next to --output.
"""

import argparse
import functools
import os
import platform
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

D, FF, LAYERS, K = 768, 3072, 12, 128
# Tokens per block of the runtime's sparse kernels (TokenBlock).
TOKEN_BLOCK = 4


def ffn_bytes(mode, tokens):
    """Bytes of weights the FFN stack reads per run (f32 weights and
    biases, per layer): dense reads both projections; exact reads the
    up-projection and the down-projection rows of the union of the tokens'
    top-k neurons (at most tokens * k); predict reads the predictor (its
    quantized copy of the up-projection and scales: one f32 per neuron for
    int8, one f16 per 32 inputs of a neuron for int4, and the
    up-projection's bias), then only the chosen columns of the up- and rows
    of the down-projection."""
    union = min(FF, tokens * K)
    biases = (FF + D) * 4
    per_layer = {
        "off": 2 * D * FF * 4 + biases,
        "exact": D * FF * 4 + union * D * 4 + biases,
        "int8": D * FF * 1 + FF * 4 + 2 * union * D * 4 + biases,
        "int4": (D * FF // 2 + FF * (D // 32) * 2  # packed two per byte
                 + 2 * union * D * 4 + biases),
    }[mode]
    return LAYERS * per_layer


# name: (model, description, {input: file suffix}, parsimony flags,
#        bytes of weights read per run (None: every initializer))
CASES = {
    "bert_layer": ("bert_layer", "BERT-base encoder layer, seq 128",
                   {"x": "bert_layer.x"}, [], None),
    "bert12": ("bert12", "12 BERT-base encoder layers, seq 128",
               {"x": "bert12.x"}, [], None),
    # The same without --spx-fuse-epilogues (bias/GELU/residual as loops).
    "bert_layer_unfused": ("bert_layer", "BERT-base encoder layer, seq 128",
                           {"x": "bert_layer.x"}, ["--fuse-epilogues=false"],
                           None),
    "bert12_unfused": ("bert12", "12 BERT-base encoder layers, seq 128",
                       {"x": "bert12.x"}, ["--fuse-epilogues=false"], None),
    "decoder12": ("decoder12", "12-layer GPT-2-style decoder, 1-token step, "
                  "128-token KV cache", {"x": "decoder12.x",
                  "past_k": "decoder12.past_k", "past_v": "decoder12.past_v"},
                  [], None),
}
for tokens in (1, 16, 128):
    for mode, flags in [("off", ["--sparse-ffn=off"]),
                        ("exact", ["--sparse-ffn=exact"]),
                        ("int8", ["--sparse-ffn=predict", "--predictor=int8"]),
                        ("int4", ["--sparse-ffn=predict", "--predictor=int4"])]:
        label = {"off": "dense", "exact": "exact top-k",
                 "int8": "predicted (int8)", "int4": "predicted (int4)"}[mode]
        CASES[f"ffn12_t{tokens}_{mode}"] = (
            "ffn12", f"12-FFN stack (ReLU, top-128), {tokens} token(s), {label}",
            {"x": f"ffn12_t{tokens}.x"}, flags + [f"--dim=tokens={tokens}"],
            ffn_bytes(mode, tokens))
    # The same stack quantized as ONNX Runtime's quantize_dynamic does
    # (MatMulInteger, int8 weights): both engines read the int8 weights.
    CASES[f"ffn12_dynq_t{tokens}"] = (
        "ffn12_dynq", f"12-FFN stack, dynamically quantized (ORT "
        f"quantize_dynamic form, MatMulInteger), {tokens} token(s)",
        {"x": f"ffn12_t{tokens}.x"}, [f"--dim=tokens={tokens}"],
        LAYERS * 2 * D * FF)
    # The same stack as ONNX Runtime's MatMul4BitsQuantizer leaves it
    # (MatMulNBits, int4, block 32): both engines read the int4 weights and
    # one f32 scale per block.
    CASES[f"ffn12_nbits_t{tokens}"] = (
        "ffn12_nbits", f"12-FFN stack, int4 MatMulNBits (ORT "
        f"MatMul4BitsQuantizer form, block 32), {tokens} token(s)",
        {"x": f"ffn12_t{tokens}.x"}, [f"--dim=tokens={tokens}"],
        LAYERS * 2 * D * FF * (0.5 + 4 / 32))


@functools.lru_cache(maxsize=None)
def moe_fc1(work, experts, k):
    """fc1 weights [E, FF, D] and biases of a benchmark MoE model (loaded
    once for all token counts: the E = 64 model is 1.2 GB)."""
    import onnx
    from onnx import numpy_helper
    model = onnx.load(os.path.join(work, f"moe_e{experts}_k{k}.onnx"))
    inits = {i.name: i for i in model.graph.initializer}
    return (numpy_helper.to_array(inits["fc1"]),
            numpy_helper.to_array(inits["fc1_b"]))


def moe_bytes(experts, k, tokens):
    """Expert weight bytes one run reads: the experts that the benchmark's
    router input sends at least one token to (top-k of each token's router
    logits, as routing does), each with its fc1 and, for groups of up to
    TOKEN_BLOCK tokens (which skip the fc2 rows of neurons the ReLU zeroes
    for all of them), the fc2 rows of its live neurons, else all of fc2.
    Biases and the router are tiny and not counted."""
    def count(work):
        import numpy as np
        router = np.load(os.path.join(work, f"moe_e{experts}_t{tokens}.router.npy"))
        x = np.load(os.path.join(work, f"moe_e{experts}_t{tokens}.x.npy"))
        chosen = np.argsort(-router.reshape(-1, experts), axis=1, kind="stable")[:, :k]
        fc1, fc1_b = moe_fc1(work, experts, k)
        total = 0
        for e in np.unique(chosen):
            group = np.nonzero((chosen == e).any(axis=1))[0]
            rows = FF
            if len(group) <= TOKEN_BLOCK:
                h = np.maximum(x[group] @ fc1[e].T + fc1_b[e], 0)
                rows = int((h != 0).any(axis=0).sum())
            total += (FF + rows) * D * 4
        return total
    return count


for experts in (8, 64):
    for k in (1, 2):
        for tokens in (1, 16, 128):
            CASES[f"moe_e{experts}_k{k}_t{tokens}"] = (
                f"moe_e{experts}_k{k}",
                f"MoE layer (ORT com.microsoft:MoE), E={experts}, k={k}, "
                f"{tokens} token(s)",
                {"x": f"moe_e{experts}_t{tokens}.x",
                 "router": f"moe_e{experts}_t{tokens}.router"},
                [f"--dim=tokens={tokens}"], moe_bytes(experts, k, tokens))
# Decode cases whose weights (or the part of them one run reads) fit in
# the 32 MiB L3: run after run with the same input reads the same rows or
# experts, which then come from cache. Both engines read 2 x L3 of other
# memory before every timed run, so these measure DRAM like a model far
# larger than the caches.
FLUSH_MB = 64
COLD_CASES = {n for n in CASES if n.startswith("ffn12_t1_") or
              n in ("ffn12_dynq_t1", "ffn12_nbits_t1") or
              (n.startswith("moe_") and n.endswith("_t1"))}

DEFAULT_CASES = ["bert_layer", "bert12", "decoder12"] + [
    f"ffn12_t{t}_{m}" for t in (1, 16, 128) for m in ("off", "exact", "int8", "int4")
] + [f"moe_e8_k{k}_t{t}" for k in (1, 2) for t in (1, 16, 128)]


def run(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def median_ms(output):
    m = re.search(r"median_ms: ([0-9.]+)", output)
    if not m:
        sys.exit(f"error: no median_ms in:\n{output}")
    return float(m.group(1))


def weight_bytes(model_path):
    """Bytes of initializers (the weights read on every run)."""
    import onnx
    model = onnx.load(model_path, load_external_data=False)
    total = 0
    for init in model.graph.initializer:
        n = 1
        for d in init.dims:
            n *= d
        total += n * {1: 4, 10: 2, 11: 8, 7: 8, 6: 4}.get(init.data_type, 1)
    return total


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    parser.add_argument("--work", default=os.path.join(ROOT, "bench", "results"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES),
                        help="comma-separated benchmark cases (default: all)")
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    args = parser.parse_args()

    build = os.path.abspath(args.build_dir)
    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    names = [m for m in args.cases.split(",") if m]
    for name in names:
        if name not in CASES:
            sys.exit(f"error: unknown case '{name}' (known: {', '.join(CASES)})")

    run(["bash", os.path.join(ROOT, "scripts", "setup-ort.sh")])
    run(["ninja", "-C", build, "parsimony-compile", "parsimony-run",
         "parsimony-bench-stream"])
    if not all(os.path.exists(os.path.join(work, f"{CASES[n][0]}.onnx"))
               for n in names):
        print("generating models ...", flush=True)
        generate = ["/usr/bin/python3",
                    os.path.join(ROOT, "bench", "models", "make_models.py"), work]
        if any(CASES[n][0].startswith("moe_e64") for n in names):
            generate.append("--moe64")
        run(generate)

    ort = ["node", os.path.join(ROOT, "scripts", "ort", "run-ort.js")]
    prun = os.path.join(build, "bin", "parsimony-run")
    def stream_probe():
        return float(re.search(r"triad_gbps: ([0-9.]+)",
                               run([os.path.join(build, "bin", "parsimony-bench-stream")])).group(1))

    # The VM's bandwidth drifts (and one probe once read 88 GB/s on a machine
    # that sustains ~48): probe before the first case and after every case,
    # and compare with the median of the probes.
    probes = [stream_probe()]
    print(f"STREAM triad: {probes[0]:.1f} GB/s", flush=True)

    rows = []
    for name in names:
        model_name, desc, inputs_map, flags, read_bytes = CASES[name]
        model = os.path.join(work, f"{model_name}.onnx")
        library = os.path.join(work, f"{name}.so")
        start = time.time()
        run([os.path.join(build, "bin", "parsimony-compile"), model, "-o",
             library] + flags)
        compile_s = time.time() - start
        inputs = []
        for input_name, stem in inputs_map.items():
            inputs += ["--input", f"{input_name}={work}/{stem}.npy"]
        timing = ["--benchmark", str(args.runs)]
        if name in COLD_CASES:
            timing += ["--flush-caches", str(FLUSH_MB)]
        ours, theirs = [], []
        for _ in range(args.rounds):  # alternate to share the machine's state
            ours.append(median_ms(run([prun, library] + inputs + timing)))
            theirs.append(median_ms(run(ort + [model] + inputs + timing)))
        p, o = statistics.median(ours), statistics.median(theirs)
        if read_bytes is None:
            wbytes = weight_bytes(model)
        elif callable(read_bytes):
            wbytes = read_bytes(work)
        else:
            wbytes = read_bytes
        rows.append(dict(name=name, desc=desc, ours=p, ort=o, ratio=o / p,
                         weights_mb=wbytes / 1e6,
                         gbps=wbytes / (p / 1e3) / 1e9, compile_s=compile_s,
                         ours_all=ours, ort_all=theirs, flags=" ".join(flags)))
        print(f"{name}: parsimony {p:.2f} ms, onnxruntime {o:.2f} ms, "
              f"ratio {o / p:.2f}x", flush=True)
        probes.append(stream_probe())
    stream = statistics.median(probes)

    command = ("/usr/bin/python3 bench/run_benchmarks.py "
               f"--rounds {args.rounds} --runs {args.runs}")
    if names != DEFAULT_CASES:
        command += f" --cases {','.join(names)}"
    lines = [
        "# Benchmarks",
        "",
        "Parsimony against ONNX Runtime 1.30 (CPU, npm `onnxruntime-node`, "
        "default session options: all graph optimizations, one intra-op "
        "thread per core), measured side by side in one run on the same "
        "models and inputs, alternating the two engines. Each figure is the "
        "median over rounds of the median of the timed runs in a round "
        "(compilation and session creation excluded).",
        "",
        f"Machine: {cpu_name()}, {os.cpu_count()} cores. "
        f"STREAM triad bandwidth measured in the same run: **{stream:.1f} GB/s** "
        f"(median of {len(probes)} probes, one before the first case and one "
        f"after each, {min(probes):.1f}-{max(probes):.1f} GB/s).",
        "",
        f"Command: `{command}`",
        "",
        "ONNX Runtime always runs the model as exported (dense). "
        "`weight bytes read` counts the weights Parsimony's configuration "
        "reads per run (for the sparse FFN configurations, computed from k, "
        "predictor scales and biases included; see `ffn_bytes` in the "
        "script; for MoE, fc1 of the experts the router input selects and "
        "the fc2 rows of their live ReLU neurons, computed from the inputs; "
        "see `moe_bytes`); divided by the run time it is compared with "
        "STREAM. "
        "Decode rows (FFN stack and MoE at 1 token) run with "
        f"`--flush-caches {FLUSH_MB}` on both engines: {FLUSH_MB} MB of other "
        "memory are read before every timed run, so their weights come from "
        "DRAM rather than from the L3 the previous identical run filled.",
        "",
        "| model | Parsimony flags | weight bytes read | Parsimony | ONNX Runtime "
        "| ratio (ORT / Parsimony) | bytes read / time | of STREAM | compile |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['desc']} | `{r['flags'] or '(default)'}` "
            f"| {r['weights_mb']:.0f} MB | {r['ours']:.2f} ms "
            f"| {r['ort']:.2f} ms | **{r['ratio']:.2f}x** | {r['gbps']:.1f} GB/s "
            f"| {100 * r['gbps'] / stream:.0f}% | {r['compile_s']:.1f} s |")
    lines += [
        "",
        "Per-round medians (ms), Parsimony / ONNX Runtime:",
        "",
    ]
    for r in rows:
        lines.append(f"- {r['name']}: " + ", ".join(
            f"{a:.2f}/{b:.2f}" for a, b in zip(r["ours_all"], r["ort_all"])))
    lines.append("")

    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    plot = os.path.splitext(args.output)[0] + ".png"
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(max(7, 0.75 * len(rows)), 4.5))
        xs = range(len(rows))
        ax.bar([x - 0.2 for x in xs], [r["ours"] for r in rows], 0.4, label="Parsimony")
        ax.bar([x + 0.2 for x in xs], [r["ort"] for r in rows], 0.4, label="ONNX Runtime 1.30")
        ax.set_xticks(list(xs), [r["name"] for r in rows], rotation=60,
                      ha="right", fontsize=8)
        ax.set_ylabel("median ms per run")
        ax.set_yscale("log")
        for x, r in zip(xs, rows):
            ax.annotate(f"{r['ratio']:.2f}x", (x, max(r["ours"], r["ort"])),
                        ha="center", va="bottom", fontsize=7)
        ax.legend()
        ax.set_title("Lower is better (annotation: ONNX Runtime time / Parsimony time)")
        fig.tight_layout()
        fig.savefig(plot, dpi=120)
        lines.insert(lines.index("Per-round medians (ms), Parsimony / ONNX Runtime:"),
                     f"![benchmarks]({os.path.basename(plot)})\n")
    except ImportError:
        print("note: matplotlib not installed; no plot", file=sys.stderr)

    existing = ""
    if os.path.exists(args.output):
        with open(args.output) as f:
            existing = f.read()
    # Sections other issues add (sparse FFN, MoE, ...) follow the dense
    # table and are kept.
    marker = "\n## "
    tail = existing[existing.find(marker):] if marker in existing else ""
    with open(args.output, "w") as f:
        f.write("\n".join(lines) + tail)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
