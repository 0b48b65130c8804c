# -*- Python -*-
# lit configuration for Parsimony's regression tests.

import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "PARSIMONY"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
# Helper scripts and input models live in Inputs/ folders.
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py"]

config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.parsimony_obj_root, "test")

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()  # FileCheck, not, count, ...

plugin = os.path.join(config.parsimony_lib_dir, "libParsimonyPlugin.so")
config.substitutions.append(("%parsimony_plugin", plugin))
config.substitutions.append(("%python", config.python_executable))
config.substitutions.append(("%parsimony_src", config.parsimony_src_root))
config.substitutions.append(("%parsimony_obj", config.parsimony_obj_root))

# Our tools first, then LLVM's (FileCheck, not, count, ...).
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.parsimony_tools_dir, append_path=True)

tool_dirs = [config.parsimony_tools_dir, config.llvm_tools_dir]
tools = [
    "parsimony-opt",
    "parsimony-compile",
    "parsimony-run",
    "parsimony-translate",
    ToolSubst("mlir-opt", command=os.path.join(config.llvm_tools_dir, "mlir-opt")),
]
llvm_config.add_tool_substitutions(tools, tool_dirs)

# ONNX Runtime reference (scripts/setup-ort.sh, run by `make test`).
ort_driver = os.path.join(config.parsimony_src_root, "scripts", "ort", "run-ort.js")
ort_package = os.path.join(config.parsimony_src_root, "third_party", "ort",
                           "node_modules", "onnxruntime-node")
if os.path.isdir(ort_package):
    config.available_features.add("ort")
config.substitutions.append(("%ort_run", "node " + ort_driver))

# The GPU target: built when the CUDA toolkit was found (lib/Runtime/Gpu);
# ptxas validates the PTX it produces.
ptxas = os.path.join(config.parsimony_cuda_path, "bin", "ptxas")
if os.path.exists(ptxas):
    config.available_features.add("ptxas")
config.substitutions.append(("%ptxas", ptxas))
if config.parsimony_enable_gpu:
    config.available_features.add("gpu-target")

# The emulated CUDA driver (unittests/GpuEmulator, soname libcuda.so.1,
# built with AddressSanitizer): preloaded, with the sanitizer's runtime
# first, it runs the GPU kernel library of a --target=nvptx model on the
# host.
emulator = os.path.join(config.parsimony_obj_root, "lib", "cuda-emulator",
                        "libcuda.so.1")
if os.path.exists(emulator):
    import subprocess
    asan = subprocess.run(["gcc", "-print-file-name=libasan.so"],
                          capture_output=True, text=True).stdout.strip()
    if os.path.isabs(asan) and os.path.exists(asan):
        config.available_features.add("cuda-emulator")
        config.substitutions.append(
            ("%with_cuda_emulator",
             f'env ASAN_OPTIONS=detect_leaks=0 LD_PRELOAD="{asan} {emulator}"'))
