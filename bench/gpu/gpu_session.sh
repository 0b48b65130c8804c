#!/bin/bash
# Everything to run when a GPU machine is lent, in one command there.
#
# Here (builds and references need the compiler, which the GPU machine
# lacks):
#   /usr/bin/python3 scripts/make_gpu_cases.py build gpu-run/cases --gpu-arch sm_90
#   tar czf gpu-run/cases.tgz -C gpu-run cases && rm -r gpu-run/cases
#   ninja -C build parsimony-bench-gpu parsimony-bench-gpu-gemm
#   cp build/bin/parsimony-bench-gpu build/bin/parsimony-bench-gpu-gemm gpu-run/
# (the 23 cases take 89 MB, 45 MB compressed: under the 64 MiB that the
# run tool carries)
# On the GPU machine (the `run` tool, carry ["gpu-run"]; gpu-run/ is
# ignored by git):
#   bash bench/gpu/gpu_session.sh gpu-run
#
# It writes under $OUT (or DIR/results):
#   gpu.txt     the GPU (nvidia-smi)
#   parity.txt  scripts/gpu_check.py over the cases, four runs each (the
#               last two replay from CUDA graphs), with median run times
#               (exit status last)
#   bench.txt   parsimony-bench-gpu: the FFN stack in every mode (tokens
#               streamed, one run each, one run each from CUDA graphs),
#               and the device copy bandwidth
#   cublas.txt  the cuBLAS baseline on the same shapes (PyTorch; skipped
#               if PyTorch has no CUDA)
#   gemm.txt    parsimony-bench-gpu-gemm: prefill products on tensor cores
#               and on the SIMT kernels, then cuBLAS f32 and TF32
# PYTHON picks the interpreter (default python3; it needs NumPy, and
# PyTorch for the baseline).
# Put the figures in docs/benchmarks.md ("GPU (NVIDIA H100)").
set -u
dir=${1:?usage: gpu_session.sh DIR}
out=${OUT:-$dir/results}
mkdir -p "$out"
if [ ! -d "$dir/cases" ] && [ -f "$dir/cases.tgz" ]; then
  tar xzf "$dir/cases.tgz" -C "$dir"
fi
nvidia-smi --query-gpu=name,memory.total,clocks.max.memory,driver_version \
  --format=csv >"$out/gpu.txt" 2>&1
"${PYTHON:-python3}" scripts/gpu_check.py "$dir/cases" --repeat 4 \
  --benchmark 50 >"$out/parity.txt" 2>&1
echo "gpu_check exit status $?" >>"$out/parity.txt"
"$dir/parsimony-bench-gpu" >"$out/bench.txt" 2>&1
echo "parsimony-bench-gpu exit status $?" >>"$out/bench.txt"
"${PYTHON:-python3}" bench/gpu/cublas_ffn.py >"$out/cublas.txt" 2>&1
echo "cublas_ffn.py exit status $?" >>"$out/cublas.txt"
{
  "$dir/parsimony-bench-gpu-gemm"
  echo "parsimony-bench-gpu-gemm exit status $?"
  "${PYTHON:-python3}" bench/gpu/cublas_gemm.py
  echo "cublas_gemm.py exit status $?"
} >"$out/gemm.txt" 2>&1
for f in gpu parity bench cublas gemm; do
  echo "== $f"
  tail -n 12 "$out/$f.txt"
done
