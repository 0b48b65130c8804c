//===- Pipelines.h - Parsimony's named end-to-end pipelines -----*- C++ -*-===//

#ifndef PARSIMONY_PIPELINES_PIPELINES_H
#define PARSIMONY_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace parsimony {

struct CpuPipelineOptions
    : public mlir::PassPipelineOptions<CpuPipelineOptions> {
  Option<bool> useKernels{
      *this, "kernels",
      llvm::cl::desc("Lower f32 matmuls to the runtime micro-kernels "
                     "(otherwise to loops)"),
      llvm::cl::init(true)};
  Option<std::string> sparseFFN{
      *this, "sparse-ffn",
      llvm::cl::desc("How spx.sparse_ffn runs: off (dense contractions, "
                     "the default), exact (the activation-sparse kernel, "
                     "lossless) or predict (a predicted support of topk "
                     "neurons)"),
      llvm::cl::init("off")};
  Option<int64_t> topk{
      *this, "topk",
      llvm::cl::desc("Impose a Top-k activation of k on every FFN that has "
                     "none (0: keep the model's)"),
      llvm::cl::init(0)};
  Option<std::string> predictor{
      *this, "predictor",
      llvm::cl::desc("Support predictor for sparse-ffn=predict: int8, int4 "
                     "or lowrank:R"),
      llvm::cl::init("int8")};
  Option<std::string> quantize{
      *this, "quantize",
      llvm::cl::desc("Weight-only quantization of every matmul weight: "
                     "int8 (per output channel) or int4 (group-wise); "
                     "empty keeps f32"),
      llvm::cl::init("")};
  Option<int64_t> groupSize{
      *this, "group-size",
      llvm::cl::desc("Group size of quantize=int4: 32, 64 or 128 (0: 64)"),
      llvm::cl::init(0)};
  Option<std::string> moe{
      *this, "moe",
      llvm::cl::desc("Override the dispatch of every MoE layer: dropless or "
                     "capacity (default: each layer's own)"),
      llvm::cl::init("")};
  Option<double> capacityFactor{
      *this, "capacity-factor",
      llvm::cl::desc("Override every MoE layer's capacity factor (0 keeps "
                     "each layer's own)"),
      llvm::cl::init(0.0)};
  Option<bool> fuseEpilogues{
      *this, "fuse-epilogues",
      llvm::cl::desc("Fuse the bias, activation and residual add after a "
                     "dense f32 matmul into its GEMM (--spx-fuse-epilogues; "
                     "CPU only)"),
      llvm::cl::init(true)};
  Option<bool> approximateMath{
      *this, "approximate-math",
      llvm::cl::desc("Use vectorizable polynomial approximations for "
                     "erf/exp/tanh/log/..."),
      llvm::cl::init(true)};
  Option<bool> reportLoops{
      *this, "report-loops",
      llvm::cl::desc("Remark on every f32 contraction that stays as loops "
                     "instead of a GEMM call (a performance cliff)"),
      llvm::cl::init(false)};
  Option<bool> runtimeChecks{
      *this, "runtime-checks",
      llvm::cl::desc("Check sizes computed from tensor contents at run time "
                     "(--parsimony-insert-runtime-checks): a run whose "
                     "contents contradict the model's shapes fails with an "
                     "error instead of reading out of bounds"),
      llvm::cl::init(true)};
};

/// --parsimony-gpu-pipeline: the CPU pipeline's options (the same sparsity
/// and MoE controls) plus the GPU target.
struct GpuPipelineOptions : public CpuPipelineOptions {
  Option<std::string> chip{
      *this, "chip",
      llvm::cl::desc("GPU architecture of the generated kernels (sm_80, "
                     "sm_90, ...)"),
      llvm::cl::init("sm_80")};
  Option<std::string> format{
      *this, "format",
      llvm::cl::desc("What gpu-module-to-binary embeds: fatbin (cubin via "
                     "ptxas, the default), bin (cubin), isa (PTX text) or "
                     "offload (LLVM IR)"),
      llvm::cl::init("fatbin")};
  Option<std::string> toolkit{
      *this, "toolkit",
      llvm::cl::desc("CUDA toolkit holding ptxas and libdevice"),
      llvm::cl::init("/usr/local/cuda")};
  Option<int64_t> blockSize{
      *this, "block-size",
      llvm::cl::desc("Threads per block of the kernels generated from loops"),
      llvm::cl::init(256)};
};

/// The target-independent front half of both pipelines: spx rewrites
/// (imposed top-k, predictors, neuron-major layouts, MoE decomposition),
/// tosa -> linalg, elementwise fusion, one-shot bufferization with
/// caller-allocated results, deallocation, contractions and spx ops as
/// runtime kernel calls.
/// `forGpu` leaves out --spx-fuse-epilogues, whose GEMM kernel the GPU
/// runtime lacks.
void buildBufferizedModelPipeline(mlir::OpPassManager &pm,
                                  const CpuPipelineOptions &options,
                                  bool forGpu = false);

/// Host code on memrefs (loops lowered to control flow) to the LLVM dialect
/// with the bare-pointer calling convention; with `launchesGpuKernels`,
/// gpu launches, allocations and copies become mgpu* runtime calls.
void buildHostToLLVMPipeline(mlir::OpPassManager &pm, bool launchesGpuKernels);

/// Tensor-level IR to host code in the LLVM dialect plus a gpu.binary of
/// NVVM kernels: buffers in device memory, kernel calls on the GPU runtime
/// (include/parsimony/Runtime/GpuRuntime.h), loops as generated kernels.
void buildGpuPipeline(mlir::OpPassManager &pm,
                      const GpuPipelineOptions &options);

/// Tensor-level IR (func + linalg/tensor/arith/math/tosa) to the LLVM
/// dialect: tosa -> linalg, elementwise fusion, one-shot bufferization with
/// caller-allocated results, matmuls onto the runtime micro-kernels, loops,
/// LLVM. Public functions use the bare-pointer calling convention.
void buildCpuPipeline(mlir::OpPassManager &pm,
                      const CpuPipelineOptions &options);

/// Registers --parsimony-cpu-pipeline and --parsimony-gpu-pipeline.
void registerPipelines();

} // namespace parsimony

#endif // PARSIMONY_PIPELINES_PIPELINES_H
