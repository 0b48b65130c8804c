//===- CommandLine.cpp - options shared by parsimony-compile/-run ---------===//

#include "parsimony/Compiler/CommandLine.h"

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
      "target", cl::desc("Code generation target: cpu"), cl::init("cpu"),
      cl::cat(getCompileOptionCategory())};
  cl::opt<std::string> cpu{
      "cpu",
      cl::desc("Target CPU: native (default), x86-64-v3 (AVX2), x86-64-v4 "
               "(AVX-512), or an LLVM CPU name"),
      cl::init("native"), cl::cat(getCompileOptionCategory())};
  cl::list<std::string> dims{
      "dim", cl::desc("Bind a symbolic dimension: --dim NAME=VALUE"),
      cl::value_desc("NAME=VALUE"), cl::cat(getCompileOptionCategory())};
  cl::opt<std::string> name{
      "name",
      cl::desc("C identifier prefix of the generated API (default: derived "
               "from the output file name)"),
      cl::init(""), cl::cat(getCompileOptionCategory())};
  cl::opt<std::string> entry{
      "entry", cl::desc("Function to compile (default: @main or the only "
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
  cl::opt<int64_t> topk{
      "topk",
      cl::desc("Impose a Top-k activation of K on every FFN that has none"),
      cl::value_desc("K"), cl::init(0), cl::cat(getCompileOptionCategory())};
  cl::opt<std::string> predictor{
      "predictor",
      cl::desc("Support predictor for --sparse-ffn=predict: int8, int4 or "
               "lowrank:R (rank R)"),
      cl::init("int8"), cl::cat(getCompileOptionCategory())};
  cl::opt<std::string> moe{
      "moe",
      cl::desc("MoE dispatch: dropless (default, no token dropped) or "
               "capacity (C = ceil(T / E * capacity-factor) slots per expert)"),
      cl::init("dropless"), cl::cat(getCompileOptionCategory())};
  cl::opt<double> capacityFactor{
      "capacity-factor",
      cl::desc("Capacity factor for --moe=capacity (default: each layer's "
               "own, 1.0 unless the model sets it)"),
      cl::init(0.0), cl::cat(getCompileOptionCategory())};
  cl::opt<bool> approximateMath{
      "approximate-math",
      cl::desc("Vectorizable polynomial approximations of erf/exp/tanh/log"),
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
  if (cl.target != "cpu") {
    errs() << "error: --target=" << cl.target
           << " is not supported by this build (supported: cpu)\n";
    return mlir::failure();
  }
  result.target = cl.target;
  result.cpu = cl.cpu;
  result.entry = cl.entry;
  result.useKernels = cl.kernels;
  result.approximateMath = cl.approximateMath;
  if (cl.sparseFFN != "off" && cl.sparseFFN != "exact" &&
      cl.sparseFFN != "predict") {
    errs() << "error: --sparse-ffn must be off, exact or predict (got '"
           << cl.sparseFFN << "')\n";
    return mlir::failure();
  }
  result.sparseFFN = cl.sparseFFN;
  if (cl.topk < 0 || (cl.topk.getNumOccurrences() && cl.topk == 0)) {
    errs() << "error: --topk must be positive\n";
    return mlir::failure();
  }
  result.topk = cl.topk;
  StringRef predictor = cl.predictor;
  int64_t rank = 0;
  bool lowRank = predictor.consume_front("lowrank:");
  if (lowRank ? (predictor.getAsInteger(10, rank) || rank <= 0)
              : (predictor != "int8" && predictor != "int4")) {
    errs() << "error: --predictor must be int8, int4 or lowrank:R with a "
              "positive rank R (got '"
           << cl.predictor << "')\n";
    return mlir::failure();
  }
  result.predictor = cl.predictor;
  if (cl.moe != "dropless" && cl.moe != "capacity") {
    errs() << "error: --moe must be dropless or capacity (got '" << cl.moe
           << "')\n";
    return mlir::failure();
  }
  // Dropless is the default: only an explicit --moe=capacity overrides
  // what a layer asks for, and so does a dropless request made explicit.
  result.moe = cl.moe.getNumOccurrences() ? cl.moe.getValue() : "";
  if (cl.capacityFactor < 0.0 ||
      (cl.capacityFactor.getNumOccurrences() && cl.capacityFactor == 0.0)) {
    errs() << "error: --capacity-factor must be positive\n";
    return mlir::failure();
  }
  result.capacityFactor = cl.capacityFactor;
  if (!cl.name.empty()) {
    bool valid = isAlpha(cl.name.front()) || cl.name.front() == '_';
    for (char c : cl.name)
      valid &= isAlnum(c) || c == '_';
    if (!valid) {
      errs() << "error: --name=" << cl.name
             << " is not a C identifier\n";
      return mlir::failure();
    }
    result.modelName = cl.name;
  }
  for (const std::string &binding : cl.dims) {
    auto [dimName, value] = StringRef(binding).split('=');
    int64_t size;
    if (dimName.empty() || value.getAsInteger(10, size) || size <= 0) {
      errs() << "error: --dim expects NAME=VALUE with a positive VALUE, got '"
             << binding << "'\n";
      return mlir::failure();
    }
    result.dims[dimName] = size;
  }
  return result;
}
