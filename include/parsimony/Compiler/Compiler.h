//===- Compiler.h - Parsimony's ahead-of-time compiler driver ---*- C++ -*-===//
//
// The library behind parsimony-compile and parsimony-run: load a model
// (.onnx or .mlir), lower it with --parsimony-cpu-pipeline, optimize and emit
// native code for the chosen CPU, and package it as a shared library with a
// generated C header (docs/abi.md).
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_COMPILER_COMPILER_H
#define PARSIMONY_COMPILER_COMPILER_H

#include "parsimony/Support/OutputFile.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"

#include <string>
#include <vector>

namespace parsimony {

/// Element types of model inputs and outputs, numbered as the C ABI
/// (parsimony_dtype in the generated header; ONNX TensorProto numbering).
enum class DType : int32_t {
  Float32 = 1,
  UInt8 = 2,
  Int8 = 3,
  UInt16 = 4,
  Int16 = 5,
  Int32 = 6,
  Int64 = 7,
  Bool = 9,
  Float16 = 10,
  Float64 = 11,
  UInt32 = 12,
  UInt64 = 13,
  BFloat16 = 16,
};

/// Bytes per element of `dtype`.
int64_t dtypeSize(DType dtype);
/// "float32", "int64", ...
llvm::StringRef dtypeName(DType dtype);

struct TensorSignature {
  std::string name;
  DType dtype = DType::Float32;
  llvm::SmallVector<int64_t> shape;
  int64_t numElements() const;
};

/// A symbolic dimension and the size it is bound to.
using DimBinding = std::pair<std::string, int64_t>;

/// The entry point's inputs and outputs, in call order. A library compiled
/// for several bindings of a symbolic dimension (`--dim seq=16,128`) has one
/// signature per shape variant.
struct ModelSignature {
  std::vector<TensorSignature> inputs;
  std::vector<TensorSignature> outputs;
  /// The model's symbolic dimensions this variant binds, by name.
  llvm::SmallVector<DimBinding> dims;
};

/// A graph input replaced by a constant before import (--freeze-input):
/// specializes shape computations that depend on input values.
struct FrozenInput {
  std::string name;
  DType dtype = DType::Float32;
  llvm::SmallVector<int64_t> shape;
  /// Row-major little-endian element bytes.
  std::string bytes;
};

struct CompileOptions {
  /// Target CPU: native, x86-64-v3 (AVX2), x86-64-v4 (AVX-512), or any LLVM
  /// CPU name.
  std::string cpu = "native";
  /// cpu, or nvptx (NVIDIA GPUs; the host code still targets `cpu`).
  std::string target = "cpu";
  /// --gpu-arch for --target=nvptx: the kernels' sm_XX architecture.
  std::string gpuArch = "sm_80";
  /// What the model library embeds for its generated kernels: fatbin
  /// (cubin for gpuArch), bin (cubin), isa (PTX, JIT-compiled by the driver
  /// at load). --gpu-binary=fatbin|ptx and --emit=ptx/cubin set it.
  std::string gpuBinaryFormat = "fatbin";
  /// C identifier prefix of the generated API (<name>_run, <name>_info).
  std::string modelName = "model";
  /// Name of the function to compile (default: the only public function, or
  /// "main").
  std::string entry;
  /// Symbolic dimension bindings (--dim NAME=VALUE[,VALUE...]): the library
  /// gets one shape variant per combination of the listed sizes, and the
  /// caller picks one by its input shapes at run time (docs/abi.md).
  llvm::StringMap<llvm::SmallVector<int64_t, 1>> dims;
  /// ONNX graph inputs to turn into initializers.
  std::vector<FrozenInput> frozenInputs;
  /// --sparse-ffn: off (dense) or exact (activation-sparse kernel); and
  /// --topk: a Top-k imposed on FFNs without one (0: none).
  std::string sparseFFN = "off";
  int64_t topk = 0;
  /// --predictor for --sparse-ffn=predict: int8, int4 or lowrank:R.
  std::string predictor = "int8";
  /// --quantize: weight-only int8 or int4 (empty: f32 weights), and
  /// --group-size for int4 (0: the default, 64).
  std::string quantize;
  int64_t groupSize = 0;
  /// MoE dispatch override (--moe=dropless|capacity; empty keeps each
  /// layer's own) and capacity factor (--capacity-factor; 0 keeps).
  std::string moe;
  double capacityFactor = 0.0;
  /// --weights: embed (constants in the library), sidecar (large constants
  /// in <library>.weights, memory-mapped at load) or auto (sidecar when the
  /// constants add up to autoSidecarBytes or more).
  std::string weights = "auto";
  int64_t minSidecarBytes = 4096;
  int64_t autoSidecarBytes = int64_t(1) << 30;
  /// Pipeline knobs.
  bool useKernels = true;
  bool approximateMath = true;
  /// --fuse-epilogues: dense matmul epilogues fused into the GEMM (CPU).
  bool fuseEpilogues = true;
  /// --runtime-checks: sizes computed from tensor contents checked when the
  /// model runs.
  bool runtimeChecks = true;
};

/// How setCompileOption went.
enum class OptionStatus { ok, invalid, unsupported, unknown };

/// Sets one compile option by its command-line name ("sparse-ffn",
/// "capacity-factor", ...; '_' is accepted for '-') from its textual value,
/// validating it. On failure `message` says what was expected. Shared by
/// the command-line tools and the C API so both accept the same values.
OptionStatus setCompileOption(CompileOptions &options, llvm::StringRef name,
                              llvm::StringRef value, std::string &message);

/// Loads `path` (.onnx via the importer, anything else parsed as MLIR).
mlir::FailureOr<mlir::OwningOpRef<mlir::ModuleOp>>
loadModel(llvm::StringRef path, mlir::MLIRContext &context,
          const CompileOptions &options);

/// The names of an ONNX model's graph inputs that are not initializers, in
/// order.
mlir::FailureOr<std::vector<std::string>>
getOnnxGraphInputNames(llvm::StringRef path, std::string &error);

/// Finds the entry function, checks every shape is static, names it
/// `entryName` (default: <modelName>_entry) for the C ABI and returns its
/// signature. Must run before lowering.
mlir::FailureOr<ModelSignature> prepareEntry(mlir::ModuleOp module,
                                             const CompileOptions &options,
                                             llvm::StringRef entryName = {});

/// "batch=2, seq=16": a binding of symbolic dimensions as text.
std::string describeDims(llvm::ArrayRef<DimBinding> dims);

/// Most shape variants one library may hold.
constexpr size_t kMaxShapeVariants = 64;

/// Every combination of the sizes listed by options.dims, in name order
/// (the last name varies fastest); one empty binding when there are none.
/// Fails when the combinations exceed kMaxShapeVariants.
mlir::FailureOr<std::vector<std::vector<DimBinding>>>
enumerateShapeVariants(const CompileOptions &options,
                       mlir::MLIRContext &context);

/// The C symbol of variant `index`'s entry function: <name>_entry for a
/// single-variant library, else <name>_v<index>_entry.
std::string variantEntryName(const CompileOptions &options, size_t index,
                             size_t numVariants);

/// Loads `path` once per shape variant, prepares and lowers each, and merges
/// them into one LLVM-dialect module (identical weights stored once). Returns
/// the variants' signatures, in variant order.
mlir::FailureOr<std::vector<ModelSignature>>
loadAndLowerVariants(llvm::StringRef path, mlir::MLIRContext &context,
                     const CompileOptions &options,
                     mlir::OwningOpRef<mlir::ModuleOp> &lowered);

/// Moves the lowered LLVM-dialect module `variant` into `merged`: its
/// non-public symbols get `prefix` when they clash, external declarations are
/// shared, and constant globals whose bytes equal one of `merged`'s reuse it.
mlir::LogicalResult mergeLoweredVariant(mlir::ModuleOp merged,
                                        mlir::ModuleOp variant,
                                        llvm::StringRef prefix);

/// Whether this build can compile for --target=nvptx.
bool isGpuTargetAvailable();

/// Runs --parsimony-cpu-pipeline (or --parsimony-gpu-pipeline for
/// --target=nvptx); the module is in the LLVM dialect after, plus a
/// gpu.binary of kernels for the GPU.
mlir::LogicalResult lowerToLLVMDialect(mlir::ModuleOp module,
                                       const CompileOptions &options);

/// Translates an LLVM-dialect module to LLVM IR optimized for the target CPU
/// and returns either textual IR (`emitObject` false) or an object file.
mlir::FailureOr<std::string> emitNative(mlir::ModuleOp module,
                                        const CompileOptions &options,
                                        bool emitObject);

/// The generated kernels of a module lowered for --target=nvptx: the one
/// gpu.binary object (PTX text for gpuBinaryFormat isa, else cubin/fatbin).
mlir::FailureOr<std::string> extractGpuBinary(mlir::ModuleOp module);

/// A sidecar weights file written by externalizeWeights.
struct WeightsFile {
  std::string path;
  uint64_t buildId = 0;
  int64_t payloadBytes = 0;
  size_t count = 0;
};

/// Moves the large constants of an LLVM-dialect module into
/// `<libraryPath>.weights` (per options.weights) and adds the function
/// `<modelName>_bind_weights(base)` that points the module at a mapping of
/// that file. Returns the file written, or none when everything stays
/// embedded.
mlir::FailureOr<std::optional<WeightsFile>>
externalizeWeights(mlir::ModuleOp module, const CompileOptions &options,
                   llvm::StringRef libraryPath);

/// The generated C header of the model's API (variant 0 is the default
/// one that <name>_run runs).
std::string generateHeader(llvm::ArrayRef<ModelSignature> variants,
                           const CompileOptions &options);

/// Writes a shared library at `outputPath` from an object file's bytes: the
/// generated C wrapper, the model object and the runtime library are linked
/// with the system C compiler. Writes nothing on failure.
mlir::LogicalResult linkSharedLibrary(llvm::StringRef objectBytes,
                                      llvm::ArrayRef<ModelSignature> variants,
                                      const CompileOptions &options,
                                      llvm::StringRef outputPath,
                                      const WeightsFile *weights = nullptr);

/// The full path: load, prepare, lower, emit and link `path` to a shared
/// library at `outputPath`. Returns the signatures of its shape variants.
mlir::FailureOr<std::vector<ModelSignature>>
compileToSharedLibrary(llvm::StringRef path, llvm::StringRef outputPath,
                       const CompileOptions &options,
                       mlir::MLIRContext &context);

/// Registers the dialects and LLVM translations the compiler needs.
void registerCompilerDialects(mlir::DialectRegistry &registry);

} // namespace parsimony

#endif // PARSIMONY_COMPILER_COMPILER_H
