#!/usr/bin/env bash
# Builds the ONNX importer fuzzer with clang-22's libFuzzer and runs it on a
# seed corpus (the importer's test models).
#
#   test/Importer/fuzz/run-fuzz.sh [build-dir] [seconds]
#
# The importer is compiled from source with -fsanitize=fuzzer,address (its
# own TUs only; MLIR, LLVM and libonnx are the installed shared libraries).
# The fuzzer binary, corpus and any crash reproducers land in
# <build-dir>/fuzz/. Exits non-zero if the fuzzer finds a crash, or if
# one of the earlier crash reproducers in regressions/ crashes again.
set -euo pipefail

src=$(cd "$(dirname "$0")/../../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
seconds=${2:-30}
clang=/usr/lib/llvm-22/bin/clang++
if [[ ! -x $clang ]]; then
  echo "run-fuzz.sh: $clang not found; skipping" >&2
  exit 0
fi
out=$build/fuzz
mkdir -p "$out/obj" "$out/corpus" "$out/artifacts"

flags=(-std=c++17 -O1 -g -fsanitize=fuzzer-no-link,address -fno-rtti
       -fno-exceptions -DONNX_NAMESPACE=onnx -DONNX_ML=1
       -I"$src/include" -I"$build/include" -isystem /usr/lib/llvm-22/include)
objs=()
compile() { # source [extra flags...]
  local source=$1; shift
  local obj=$out/obj/$(echo "$source" | tr / _).o
  if [[ ! -e $obj || $source -nt $obj ]]; then
    "$clang" "${flags[@]}" "$@" -c "$src/$source" -o "$obj"
  fi
  objs+=("$obj")
}
# Every importer source (the two that call libonnx need exceptions, below).
importer=$(cd "$src" && ls lib/Importer/*.cpp |
           grep -v -e OnnxLoader.cpp -e OnnxNewerSchemas.cpp)
for f in $importer \
         lib/Dialect/Spx/Transforms/RaiseSparseIdioms.cpp \
         lib/Dialect/Spx/Transforms/DecomposeMoE.cpp \
         lib/Dialect/Spx/Transforms/WeightConstants.cpp \
         lib/Dialect/Spx/IR/SpxDialect.cpp lib/Dialect/Spx/IR/SpxOps.cpp \
         test/Importer/fuzz/importer-fuzzer.cpp; do
  compile "$f"
done
compile lib/Importer/OnnxLoader.cpp -fexceptions -frtti
compile lib/Importer/OnnxNewerSchemas.cpp -fexceptions -frtti
# Link against the installed MLIR/LLVM dylibs and libonnx.
"$clang" -fsanitize=fuzzer,address "${objs[@]}" -o "$out/importer-fuzzer" \
  -L/usr/lib/llvm-22/lib -lMLIR -lLLVM -lonnx -lonnx_proto -lprotobuf \
  -Wl,-rpath,/usr/lib/llvm-22/lib

# allow_user_poisoning=0: LLVM's allocator headers poison the slabs they
# create (__asan_poison_memory_region, compiled into the fuzzer), but the
# installed MLIR/LLVM libraries are not instrumented and never unpoison what
# they allocate from those slabs; their own attribute storage then reads as
# "use-after-poison" (seen as a false report in DenseArrayAttr::get of an op's
# operandSegmentSizes, regressions/sparse-ffn-segment-sizes.onnx).
export ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1:allow_user_poisoning=0

# Inputs that once crashed the importer run first, once each.
"$out/importer-fuzzer" "$src"/test/Importer/fuzz/regressions/*

/usr/bin/python3 "$src/test/Importer/fuzz/make_seeds.py" "$out/seeds"
"$out/importer-fuzzer" "$out/corpus" "$out/seeds" \
  -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=4096 \
  -timeout=20 -artifact_prefix="$out/artifacts/" -print_final_stats=1
