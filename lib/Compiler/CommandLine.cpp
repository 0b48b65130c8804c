//===- CommandLine.cpp - options shared by parsimony-compile/-run ---------===//

#include "parsimony/Compiler/CommandLine.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;
using namespace parsimony;

cl::OptionCategory &parsimony::getCompileOptionCategory() {
  static cl::OptionCategory category("Compilation options");
  return category;
}

namespace {
struct SharedOptions {
  cl::opt<std::string> target{
      "target",
      cl::desc("Code generation target: cpu (default) or nvptx (NVIDIA "
               "GPUs, kernels through NVVM and ptxas)"),
      cl::init("cpu"), cl::cat(getCompileOptionCategory())};
  cl::opt<std::string> weights{
      "weights",
      cl::desc("Where the weights go: auto (default: a sidecar file when "
               "they add up to 1 GiB or more), embed (in the library) or "
               "sidecar (<library>.weights, memory-mapped when the library "
               "loads)"),
      cl::init("auto"), cl::cat(getCompileOptionCategory())};
  cl::opt<std::string> gpuArch{
      "gpu-arch",
      cl::desc("GPU architecture for --target=nvptx: sm_80 (default), "
               "sm_90, ..."),
      cl::init("sm_80"), cl::cat(getCompileOptionCategory())};
  cl::opt<std::string> gpuBinary{
      "gpu-binary",
      cl::desc("What a --target=nvptx library embeds for its generated "
               "kernels: fatbin (default: cubin for --gpu-arch) or ptx "
               "(compiled by the CUDA driver when the library loads, for "
               "the GPU at hand)"),
      cl::init("fatbin"), cl::cat(getCompileOptionCategory())};
  cl::opt<std::string> cpu{
      "cpu",
      cl::desc("Target CPU: native (default), x86-64-v3 (AVX2), x86-64-v4 "
               "(AVX-512), or an LLVM CPU name"),
      cl::init("native"), cl::cat(getCompileOptionCategory())};
  cl::list<std::string> dims{
      "dim",
      cl::desc("Bind a symbolic dimension: --dim NAME=VALUE; NAME=V1,V2,... "
               "compiles one shape variant per size, picked at run time"),
      cl::value_desc("NAME=VALUE[,VALUE...]"),
      cl::cat(getCompileOptionCategory())};
  cl::opt<std::string> name{
      "name",
      cl::desc("C identifier prefix of the generated API (default: derived "
               "from the output file name)"),
      cl::init(""), cl::cat(getCompileOptionCategory())};
  cl::opt<std::string> entry{
      "entry",
      cl::desc("Function to compile (default: @main or the only "
               "public function)"),
      cl::init(""), cl::cat(getCompileOptionCategory())};
  cl::opt<bool> kernels{
      "kernels",
      cl::desc("Use the runtime GEMM micro-kernels for f32 matmuls "
               "(--kernels=false lowers them to loops)"),
      cl::init(true), cl::cat(getCompileOptionCategory())};
  cl::opt<std::string> sparseFFN{
      "sparse-ffn",
      cl::desc("FFN activation sparsity: off (dense, default), exact (read "
               "only the down-projection rows of nonzero activations; "
               "lossless), predict (compute only the --topk neurons a "
               "predictor built from the weights picks)"),
      cl::init("off"), cl::cat(getCompileOptionCategory())};
  cl::opt<std::string> topk{
      "topk",
      cl::desc("Impose a Top-k activation of K on every FFN that has none"),
      cl::value_desc("K"), cl::init(""), cl::cat(getCompileOptionCategory())};
  cl::opt<std::string> predictor{
      "predictor",
      cl::desc("Support predictor for --sparse-ffn=predict: int8, int4 or "
               "lowrank:R (rank R)"),
      cl::init("int8"), cl::cat(getCompileOptionCategory())};
  cl::opt<std::string> quantize{
      "quantize",
      cl::desc("Weight-only quantization of every matmul weight (dense "
               "projections, sparse-FFN and expert weights, predictors): "
               "int8 (per output channel) or int4 (group-wise, packed two "
               "per byte); routers, norms and activations stay f32"),
      cl::value_desc("int8|int4"), cl::init(""),
      cl::cat(getCompileOptionCategory())};
  cl::opt<std::string> groupSize{
      "group-size",
      cl::desc("Input features per int4 scale: 32, 64 (default) or 128"),
      cl::value_desc("N"), cl::init(""), cl::cat(getCompileOptionCategory())};
  cl::opt<std::string> moe{
      "moe",
      cl::desc("MoE dispatch: dropless (default, no token dropped) or "
               "capacity (C = ceil(T / E * capacity-factor) slots per expert)"),
      cl::init("dropless"), cl::cat(getCompileOptionCategory())};
  cl::opt<std::string> capacityFactor{
      "capacity-factor",
      cl::desc("Capacity factor for --moe=capacity (default: each layer's "
               "own, 1.0 unless the model sets it)"),
      cl::value_desc("F"), cl::init(""), cl::cat(getCompileOptionCategory())};
  cl::opt<bool> approximateMath{
      "approximate-math",
      cl::desc("Vectorizable polynomial approximations of erf/exp/tanh/log"),
      cl::init(true), cl::cat(getCompileOptionCategory())};
  cl::opt<bool> runtimeChecks{
      "runtime-checks",
      cl::desc("Check sizes computed from tensor contents when the model "
               "runs: contradicting inputs fail the run (NAME_run returns "
               "4) instead of reading out of bounds"),
      cl::init(true), cl::cat(getCompileOptionCategory())};
  cl::opt<bool> fuseEpilogues{
      "fuse-epilogues",
      cl::desc("Fuse the bias, activation and residual add after a dense "
               "matmul (f32 or weight-only quantized) into its kernel (CPU)"),
      cl::init(true), cl::cat(getCompileOptionCategory())};
};

SharedOptions &options() {
  static SharedOptions shared;
  return shared;
}

// Register the options when the library is loaded, before parsing.
[[maybe_unused]] const SharedOptions &registered = options();
} // namespace

mlir::FailureOr<CompileOptions> parsimony::getCompileOptionsFromCommandLine() {
  SharedOptions &cl = options();
  CompileOptions result;
  // Each option given (or with a meaningful default) goes through the one
  // validating setter the C API uses too.
  SmallVector<std::pair<StringRef, std::string>> given = {
      {"target", cl.target},
      {"gpu-arch", cl.gpuArch},
      {"gpu-binary", cl.gpuBinary},
      {"weights", cl.weights},
      {"cpu", cl.cpu},
      {"sparse-ffn", cl.sparseFFN},
      {"predictor", cl.predictor},
      {"kernels", cl.kernels ? "true" : "false"},
      {"approximate-math", cl.approximateMath ? "true" : "false"},
      {"fuse-epilogues", cl.fuseEpilogues ? "true" : "false"},
      {"runtime-checks", cl.runtimeChecks ? "true" : "false"},
      {"entry", cl.entry}};
  if (cl.name.getNumOccurrences())
    given.push_back({"name", cl.name});
  // Dropless is the default; only an explicit --moe overrides what a layer
  // asks for.
  if (cl.moe.getNumOccurrences())
    given.push_back({"moe", cl.moe});
  if (cl.capacityFactor.getNumOccurrences())
    given.push_back({"capacity-factor", cl.capacityFactor});
  if (cl.topk.getNumOccurrences())
    given.push_back({"topk", cl.topk});
  if (cl.quantize.getNumOccurrences())
    given.push_back({"quantize", cl.quantize});
  if (cl.groupSize.getNumOccurrences())
    given.push_back({"group-size", cl.groupSize});
  for (const std::string &dim : cl.dims)
    given.push_back({"dim", dim});
  for (const auto &[name, value] : given) {
    std::string message;
    if (setCompileOption(result, name, value, message) != OptionStatus::ok) {
      errs() << "error: " << message << "\n";
      return mlir::failure();
    }
  }
  return result;
}

bool parsimony::isCompileOptionGiven(StringRef name) {
  auto registered = cl::getRegisteredOptions();
  auto it = registered.find(name);
  return it != registered.end() && it->second->getNumOccurrences() > 0;
}
