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
  Option<bool> approximateMath{
      *this, "approximate-math",
      llvm::cl::desc("Use vectorizable polynomial approximations for "
                     "erf/exp/tanh/log/..."),
      llvm::cl::init(true)};
};

/// Tensor-level IR (func + linalg/tensor/arith/math/tosa) to the LLVM
/// dialect: tosa -> linalg, elementwise fusion, one-shot bufferization with
/// caller-allocated results, matmuls onto the runtime micro-kernels, loops,
/// LLVM. Public functions use the bare-pointer calling convention.
void buildCpuPipeline(mlir::OpPassManager &pm,
                      const CpuPipelineOptions &options);

/// Registers --parsimony-cpu-pipeline.
void registerPipelines();

} // namespace parsimony

#endif // PARSIMONY_PIPELINES_PIPELINES_H
