//===- parsimony-run.cpp - compile (or load) and run a model --------------===//
//
//   parsimony-run model.onnx|model.mlir|model.so
//       [--input NAME=file.npy|file.pb]... [--random-inputs] [--dim N=V]...
//       [--output-dir DIR] [--check test_data_set_N] [--benchmark N]
//       [--profile-sparsity [--profile-json FILE]]
//       [every parsimony-compile option]
//
//===----------------------------------------------------------------------===//

#include "parsimony/Compiler/CommandLine.h"
#include "parsimony/Compiler/Compiler.h"
#include "parsimony/Compiler/ModelLibrary.h"
#include "parsimony/Compiler/TensorIO.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <random>
#include <thread>

using namespace llvm;
using namespace parsimony;

static cl::OptionCategory toolOptions("Run options");

static cl::opt<std::string>
    modelPath(cl::Positional, cl::desc("<model.onnx|model.mlir|model.so>"),
              cl::Required, cl::cat(toolOptions));
static cl::list<std::string>
    inputFiles("input", cl::desc("An input tensor: --input NAME=file.npy|.pb"),
               cl::value_desc("NAME=file"), cl::cat(toolOptions));
static cl::opt<bool> randomInputs(
    "random-inputs",
    cl::desc("Fill inputs not given with --input with random values"),
    cl::cat(toolOptions));
static cl::opt<unsigned> seed("seed", cl::desc("Seed for --random-inputs"),
                              cl::init(0), cl::cat(toolOptions));
static cl::opt<std::string>
    outputDir("output-dir", cl::desc("Write every output as NAME.npy here"),
              cl::init(""), cl::cat(toolOptions));
static cl::opt<std::string> checkDir(
    "check",
    cl::desc("An ONNX backend-test test_data_set_N folder: take inputs from "
             "its input_*.pb and compare every output with output_*.pb"),
    cl::init(""), cl::cat(toolOptions));
static cl::opt<double> relTolerance("rtol",
                                    cl::desc("--check relative tolerance"),
                                    cl::init(1e-3), cl::cat(toolOptions));
static cl::opt<double> absTolerance("atol",
                                    cl::desc("--check absolute tolerance"),
                                    cl::init(1e-5), cl::cat(toolOptions));
static cl::opt<unsigned>
    benchmarkRuns("benchmark",
                  cl::desc("Time N runs after warm-up (compilation excluded) "
                           "and print median_ms, min_ms, max_ms"),
                  cl::init(0), cl::cat(toolOptions));
static cl::list<std::string> freezeInputs(
    "freeze-input",
    cl::desc("Compile input NAME as a constant with its provided value "
             "(specializes shape computations that depend on it)"),
    cl::value_desc("NAME"), cl::cat(toolOptions));
static cl::opt<bool> freezeIntegerInputs(
    "freeze-integer-inputs",
    cl::desc("--freeze-input every provided int32/int64 input (axes, "
             "shapes, split sizes, k, ...)"),
    cl::cat(toolOptions));
static cl::opt<bool> profileSparsity(
    "profile-sparsity",
    cl::desc("Run once with activation-sparsity profiling and print per-layer "
             "nonzero % per token (sparse FFNs, top-k), the predictor's "
             "recall, and per-expert token counts and dropped tokens (MoE). "
             "FFNs are compiled --sparse-ffn=exact unless --sparse-ffn is "
             "given"),
    cl::cat(toolOptions));
static cl::opt<std::string> profileJson(
    "profile-json",
    cl::desc("With --profile-sparsity: also write the JSON report here"),
    cl::value_desc("FILE"), cl::init(""), cl::cat(toolOptions));
static cl::opt<bool> compareToF32(
    "compare-to-f32",
    cl::desc("With --quantize: also compile the model with f32 weights, run "
             "both on the same inputs and print each output's max and mean "
             "relative error (max|y_q - y_f32| / max|y_f32|, "
             "mean|y_q - y_f32| / mean|y_f32|)"),
    cl::cat(toolOptions));
static cl::opt<unsigned> flushCachesMB(
    "flush-caches",
    cl::desc("With --benchmark: read N MB of other memory on every core "
             "before every timed run, so the weights come from DRAM (as in a "
             "model far larger than the caches; 0: off)"),
    cl::value_desc("N"), cl::init(0), cl::cat(toolOptions));
static cl::opt<unsigned> warmupRuns("warmup",
                                    cl::desc("Warm-up runs before --benchmark"),
                                    cl::init(3), cl::cat(toolOptions));

namespace {

std::string shapeStr(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (auto [i, d] : llvm::enumerate(shape))
    s += (i ? ", " : "") + std::to_string(d);
  return s + "]";
}

/// Binds symbolic dimensions of the model's inputs from the shapes of the
/// tensors the user provided, so a model with dynamic dims compiles for them.
void bindDimsFromInputs(StringRef path, const CompileOptions &options,
                        ArrayRef<HostTensor> provided,
                        StringMap<SmallVector<int64_t, 1>> &dims) {
  mlir::DialectRegistry registry;
  registerCompilerDialects(registry);
  mlir::MLIRContext context(registry);
  // Diagnostics are reported by the real compilation that follows.
  mlir::ScopedDiagnosticHandler silence(
      &context, [](mlir::Diagnostic &) { return mlir::success(); });
  // The probe imports one binding; the symbolic dims it leaves are the ones
  // to bind.
  CompileOptions probe = options;
  for (auto &dim : probe.dims)
    dim.getValue().resize(1);
  FailureOr<mlir::OwningOpRef<mlir::ModuleOp>> module =
      loadModel(path, context, probe);
  if (failed(module))
    return;
  for (auto func : (**module).getOps<mlir::func::FuncOp>()) {
    if (func.isExternal() || !func.isPublic())
      continue;
    for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i) {
      auto names = func.getArgAttrOfType<mlir::ArrayAttr>(i, "onnx.dim_params");
      auto argName = func.getArgAttrOfType<mlir::StringAttr>(i, "onnx.name");
      auto type = dyn_cast<mlir::RankedTensorType>(func.getArgumentTypes()[i]);
      if (!names || !type)
        continue;
      const HostTensor *match = nullptr;
      for (const HostTensor &t : provided)
        if (argName && t.name == argName.getValue())
          match = &t;
      if (!match && i < provided.size() && provided[i].name.empty())
        match = &provided[i];
      if (!match || match->shape.size() != static_cast<size_t>(type.getRank()))
        continue;
      for (auto [d, name] : llvm::enumerate(names)) {
        auto str = dyn_cast<mlir::StringAttr>(name);
        if (str && !str.empty() && type.isDynamicDim(d) &&
            !dims.count(str.getValue()))
          dims[str.getValue()] = {match->shape[d]};
      }
    }
    break;
  }
}

void fillRandom(HostTensor &tensor, std::mt19937 &rng) {
  tensor.allocate();
  std::uniform_real_distribution<float> real(-1.0f, 1.0f);
  std::uniform_int_distribution<int> small(0, 3);
  int64_t n = tensor.numElements();
  char *p = tensor.data.data();
  for (int64_t i = 0; i < n; ++i) {
    switch (tensor.dtype) {
    case DType::Float32:
      reinterpret_cast<float *>(p)[i] = real(rng);
      break;
    case DType::Float64:
      reinterpret_cast<double *>(p)[i] = real(rng);
      break;
    case DType::Int64:
      reinterpret_cast<int64_t *>(p)[i] = small(rng);
      break;
    case DType::Int32:
      reinterpret_cast<int32_t *>(p)[i] = small(rng);
      break;
    case DType::Bool:
      reinterpret_cast<uint8_t *>(p)[i] = small(rng) & 1;
      break;
    default:
      // Other types: small non-negative integers in every byte pattern.
      p[i * dtypeSize(tensor.dtype)] = static_cast<char>(small(rng));
      break;
    }
  }
}

/// Compares `actual` with `expected`; prints one line; returns success.
bool compareOutput(const HostTensor &actual, const HostTensor &expected) {
  outs() << "output '" << actual.name << "': ";
  if (actual.shape != expected.shape) {
    outs() << "shape " << shapeStr(actual.shape) << " != expected "
           << shapeStr(expected.shape) << "  MISMATCH\n";
    return false;
  }
  if (actual.dtype != expected.dtype) {
    outs() << "dtype " << dtypeName(actual.dtype) << " != expected "
           << dtypeName(expected.dtype) << "  MISMATCH\n";
    return false;
  }
  std::vector<double> a = toDoubles(actual), b = toDoubles(expected);
  bool exact =
      !(actual.dtype == DType::Float32 || actual.dtype == DType::Float64 ||
        actual.dtype == DType::Float16 || actual.dtype == DType::BFloat16);
  // Never ask for more than the output's own precision: one ulp of bf16 or
  // f16 relative to the value.
  double rtol = relTolerance;
  if (actual.dtype == DType::BFloat16)
    rtol = std::max(rtol, 1.0 / 128);
  else if (actual.dtype == DType::Float16)
    rtol = std::max(rtol, 1.0 / 1024);
  double maxAbs = 0, maxRel = 0;
  int64_t bad = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) {
      bad += std::isnan(a[i]) != std::isnan(b[i]);
      continue;
    }
    if (std::isinf(a[i]) || std::isinf(b[i])) {
      bad += a[i] != b[i];
      continue;
    }
    double abs = std::fabs(a[i] - b[i]);
    double rel = abs / std::max(std::fabs(b[i]), 1e-30);
    maxAbs = std::max(maxAbs, abs);
    if (abs > 0)
      maxRel = std::max(maxRel, rel);
    double allowed = exact ? 0.0 : absTolerance + rtol * std::fabs(b[i]);
    bad += abs > allowed;
  }
  outs() << "max_abs_err=" << format("%.3g", maxAbs)
         << " max_rel_err=" << format("%.3g", maxRel) << " shape "
         << shapeStr(actual.shape);
  if (bad) {
    outs() << "  MISMATCH (" << bad << " of " << a.size() << " elements)\n";
    return false;
  }
  outs() << "  OK\n";
  return true;
}

/// Compiles `modelPath` to the shared library `libraryPath`.
LogicalResult compileModel(StringRef modelPath, StringRef libraryPath,
                           const CompileOptions &options) {
  mlir::DialectRegistry registry;
  registerCompilerDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  // Errors name the ONNX node; a dump of the failing op's IR is for
  // compiler developers (parsimony-opt prints it).
  context.printOpOnDiagnostic(false);
  SourceMgr sourceMgr;
  mlir::SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  return compileToSharedLibrary(modelPath, libraryPath, options, context);
}

/// Prints the JSON report of a profiled run (docs/abi.md) as a table.
bool printProfile(StringRef report, raw_ostream &os) {
  Expected<json::Value> parsed = json::parse(report);
  if (!parsed) {
    consumeError(parsed.takeError());
    return false;
  }
  const json::Object *root = parsed->getAsObject();
  const json::Array *layers = root ? root->getArray("layers") : nullptr;
  if (!layers)
    return false;
  auto num = [](const json::Object &o, StringRef key) {
    return o.getNumber(key).value_or(0.0);
  };
  auto str = [](const json::Object &o, StringRef key) {
    return o.getString(key).value_or("").str();
  };
  auto list = [](const json::Object &o, StringRef key) {
    std::vector<int64_t> values;
    if (const json::Array *a = o.getArray(key))
      for (const json::Value &v : *a)
        values.push_back(v.getAsInteger().value_or(0));
    return values;
  };
  int64_t runs = root->getInteger("runs").value_or(0);
  os << "sparsity profile: " << runs << (runs == 1 ? " run, " : " runs, ")
     << layers->size() << (layers->size() == 1 ? " layer" : " layers") << "\n";
  if (layers->empty()) {
    os << "(no profiled spx kernel ran: FFNs compiled with "
          "--sparse-ffn=off run as dense matmuls)\n";
    return true;
  }
  os << format("%5s  %-34s %7s %7s  %-24s %s\n", "layer", "kind", "tokens",
               "width", "nonzero % mean/min/max", "recall mean/min (k)");
  for (const json::Value &value : *layers) {
    const json::Object *l = value.getAsObject();
    if (!l)
      return false;
    std::string kind = str(*l, "kind");
    int64_t index = l->getInteger("layer").value_or(0);
    int64_t tokens = l->getInteger("tokens").value_or(0);
    if (kind == "dispatch") {
      std::string mode = str(*l, "mode");
      std::string what = "dispatch " + mode;
      if (mode == "capacity")
        what += " C=" + std::to_string(l->getInteger("capacity").value_or(0));
      what += " k=" + std::to_string(l->getInteger("k").value_or(0));
      os << format("%5lld  %-34s %7lld %7lld\n", (long long)index, what.c_str(),
                   (long long)tokens,
                   (long long)l->getInteger("experts").value_or(0));
      std::vector<int64_t> kept = list(*l, "expert_tokens");
      std::vector<int64_t> routed = list(*l, "expert_routed");
      auto row = [&](StringRef label, ArrayRef<int64_t> values) {
        os << format("%7s%-14s", "", label.str().c_str());
        for (int64_t v : values)
          os << format(" %5lld", (long long)v);
        os << "\n";
      };
      std::vector<int64_t> ids(kept.size());
      for (size_t e = 0; e < ids.size(); ++e)
        ids[e] = static_cast<int64_t>(e);
      row("expert", ids);
      row("tokens", kept);
      row("routed", routed);
      os << format("%7sdropped: %lld assignments, %lld tokens\n", "",
                   (long long)l->getInteger("dropped").value_or(0),
                   (long long)l->getInteger("dropped_tokens").value_or(0));
      continue;
    }
    std::string what = kind;
    if (kind == "sparse_ffn") {
      what += " " + str(*l, "activation");
      if (l->getBoolean("predicted").value_or(false))
        what += " predicted";
    }
    if (int64_t k = l->getInteger("topk").value_or(0))
      what += " top" + std::to_string(k);
    std::string density =
        formatv("{0:F2} / {1:F2} / {2:F2}", num(*l, "nonzero_mean_pct"),
                num(*l, "nonzero_min_pct"), num(*l, "nonzero_max_pct"))
            .str();
    std::string recall;
    if (l->getBoolean("predicted").value_or(false))
      recall =
          formatv("{0:F3} / {1:F3} (k={2})", num(*l, "recall_mean"),
                  num(*l, "recall_min"), l->getInteger("recall_k").value_or(0))
              .str();
    std::string line =
        formatv("{0,5}  {1,-34} {2,7} {3,7}  {4,-24} {5}", index, what, tokens,
                l->getInteger("width").value_or(0), density, recall)
            .str();
    os << StringRef(line).rtrim() << "\n";
  }
  return true;
}

std::string fileSafe(StringRef name) {
  std::string s;
  for (char c : name)
    s += (isAlnum(c) || c == '_' || c == '-' || c == '.') ? c : '_';
  return s.empty() ? "output" : s;
}

} // namespace

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  // --help lists this tool's options; LLVM's and MLIR's stay accepted
  // (--help-hidden lists them).
  cl::HideUnrelatedOptions({&toolOptions, &getCompileOptionCategory()});
  cl::ParseCommandLineOptions(argc, argv,
                              "Parsimony: compile (or load) and run a model\n");
  FailureOr<CompileOptions> parsed = getCompileOptionsFromCommandLine();
  if (failed(parsed))
    return 1;
  CompileOptions options = *parsed;
  if (!profileJson.empty() && !profileSparsity) {
    errs() << "error: --profile-json needs --profile-sparsity\n";
    return 1;
  }
  // FFNs compiled dense run no spx kernel and so report nothing; the exact
  // sparse kernel computes the same FFN (lossless) and reports densities.
  if (profileSparsity && !isCompileOptionGiven("sparse-ffn"))
    options.sparseFFN = "exact";

  // Inputs given on the command line or by the check folder.
  std::vector<HostTensor> provided;
  for (const std::string &spec : inputFiles) {
    auto [name, file] = StringRef(spec).split('=');
    if (file.empty()) {
      errs() << "error: --input expects NAME=file, got '" << spec << "'\n";
      return 1;
    }
    HostTensor tensor;
    std::string error;
    if (!readTensorFile(file, tensor, error)) {
      errs() << "error: " << error << "\n";
      return 1;
    }
    tensor.name = name.str();
    provided.push_back(std::move(tensor));
  }
  std::vector<HostTensor> expectedOutputs;
  if (!checkDir.empty()) {
    if (!sys::fs::is_directory(checkDir)) {
      errs() << "error: --check: '" << checkDir << "' is not a directory\n";
      return 1;
    }
    for (int i = 0;; ++i) {
      std::string in = checkDir + "/input_" + std::to_string(i) + ".pb";
      if (!sys::fs::exists(in))
        break;
      if (!inputFiles.empty())
        continue;
      HostTensor tensor;
      std::string error;
      if (!readTensorProto(in, tensor, error)) {
        errs() << "error: " << error << "\n";
        return 1;
      }
      provided.push_back(std::move(tensor));
    }
    for (int i = 0;; ++i) {
      std::string out = checkDir + "/output_" + std::to_string(i) + ".pb";
      if (!sys::fs::exists(out))
        break;
      HostTensor tensor;
      std::string error;
      if (!readTensorProto(out, tensor, error)) {
        errs() << "error: " << error << "\n";
        return 1;
      }
      expectedOutputs.push_back(std::move(tensor));
    }
    if (expectedOutputs.empty()) {
      errs() << "error: --check: '" << checkDir
             << "' holds no output_*.pb files\n";
      return 1;
    }
  }

  // ONNX backend-test inputs are positional: name them after the graph's
  // inputs so they can be matched (and frozen) by name.
  bool isOnnx = StringRef(modelPath).ends_with(".onnx");
  if (isOnnx) {
    std::string error;
    FailureOr<std::vector<std::string>> names =
        getOnnxGraphInputNames(modelPath, error);
    if (failed(names)) {
      errs() << "error: " << error << "\n";
      return 1;
    }
    for (size_t i = 0; i < provided.size() && inputFiles.empty(); ++i)
      if (i < names->size() &&
          llvm::find(*names, provided[i].name) == names->end())
        provided[i].name = (*names)[i];
  }

  // Inputs compiled as constants.
  for (HostTensor &t : provided) {
    bool integer = t.dtype == DType::Int64 || t.dtype == DType::Int32;
    if (!llvm::is_contained(freezeInputs, t.name) &&
        !(freezeIntegerInputs && integer))
      continue;
    if (!isOnnx) {
      errs() << "error: --freeze-input needs an .onnx model\n";
      return 1;
    }
    options.frozenInputs.push_back(
        {t.name, t.dtype, t.shape, std::string(t.data.begin(), t.data.end())});
  }
  for (const std::string &name : freezeInputs)
    if (llvm::none_of(options.frozenInputs,
                      [&](const FrozenInput &f) { return f.name == name; })) {
      errs() << "error: --freeze-input " << name << " needs a value (--input "
             << name << "=file or --check)\n";
      return 1;
    }
  auto isFrozen = [&](StringRef name) {
    return llvm::any_of(options.frozenInputs,
                        [&](const FrozenInput &f) { return f.name == name; });
  };

  // Compile unless given a library.
  SmallString<128> tempDir;
  llvm::scope_exit removeTemp([&] {
    if (!tempDir.empty())
      sys::fs::remove_directories(tempDir);
  });
  std::string libraryPath = modelPath;
  if (!StringRef(modelPath).ends_with(".so")) {
    if (sys::fs::createUniqueDirectory("parsimony-run", tempDir)) {
      errs() << "error: cannot create a temporary directory\n";
      return 1;
    }
    bindDimsFromInputs(modelPath, options, provided, options.dims);
    libraryPath = (tempDir + "/model.so").str();
    if (failed(compileModel(modelPath, libraryPath, options)))
      return 1;
  }
  if (compareToF32 && (options.quantize.empty() || tempDir.empty())) {
    errs() << "error: --compare-to-f32 needs --quantize and a model to "
              "compile (.onnx or .mlir)\n";
    return 1;
  }
  std::string loadError;
  std::unique_ptr<ModelLibrary> model =
      ModelLibrary::load(libraryPath, loadError);
  if (!model) {
    errs() << "error: " << loadError << "\n";
    return 1;
  }
  if (profileSparsity && !model->canProfile()) {
    errs() << "error: '" << libraryPath
           << "' has no sparsity profiler (parsimony_model_v1_profile_*); "
              "recompile it with this parsimony-compile\n";
    return 1;
  }

  // The provided tensor for input `i` of a signature, if any.
  auto findGiven = [&](const TensorSignature &want, size_t i) -> HostTensor * {
    HostTensor *given = nullptr;
    for (HostTensor &t : provided)
      if (t.name == want.name)
        given = &t;
    if (!given && inputFiles.empty() && i < provided.size() &&
        provided[i].name.empty())
      given = &provided[i]; // Unnamed --check inputs are positional.
    return given;
  };
  // A library with several shape variants: run the one the given inputs'
  // shapes and the --dim sizes select.
  size_t variant = 0;
  if (model->getNumVariants() > 1) {
    std::optional<size_t> chosen;
    std::string known;
    for (size_t v = 0; v < model->getNumVariants() && !chosen; ++v) {
      const ModelSignature &candidate = model->getSignature(v);
      bool fits = true;
      for (auto [i, want] : llvm::enumerate(candidate.inputs))
        if (HostTensor *given = findGiven(want, i))
          fits &= given->shape == want.shape;
      for (const auto &[name, size] : candidate.dims) {
        auto it = options.dims.find(name);
        fits &=
            it == options.dims.end() || llvm::is_contained(it->second, size);
      }
      known += (known.empty() ? "" : "; ") + describeDims(candidate.dims);
      if (fits)
        chosen = v;
    }
    if (!chosen) {
      errs() << "error: no shape variant of '" << libraryPath
             << "' takes the given inputs and --dim sizes (variants: " << known
             << ")\n";
      return 1;
    }
    variant = *chosen;
    outs() << "shape variant " << variant << " of " << model->getNumVariants()
           << " (" << describeDims(model->getSignature(variant).dims) << ")\n";
  }

  // Match the inputs to the model's signature.
  const ModelSignature &signature = model->getSignature(variant);
  std::vector<HostTensor> inputs(signature.inputs.size());
  std::mt19937 rng(seed);
  for (size_t i = 0; i < signature.inputs.size(); ++i) {
    const TensorSignature &want = signature.inputs[i];
    if (HostTensor *given = findGiven(want, i)) {
      // ONNX test data stores bfloat16 as uint16 bit patterns (NumPy has no
      // bfloat16).
      if (want.dtype == DType::BFloat16 && given->dtype == DType::UInt16)
        given->dtype = DType::BFloat16;
      if (given->dtype != want.dtype || given->shape != want.shape) {
        errs() << "error: input '" << want.name << "' must be "
               << dtypeName(want.dtype) << " " << shapeStr(want.shape)
               << ", got " << dtypeName(given->dtype) << " "
               << shapeStr(given->shape) << "\n";
        return 1;
      }
      inputs[i] = *given;
      inputs[i].name = want.name;
      continue;
    }
    if (!randomInputs) {
      errs() << "error: no value for input '" << want.name << "' ("
             << dtypeName(want.dtype) << " " << shapeStr(want.shape)
             << "); pass --input " << want.name
             << "=file.npy or --random-inputs\n";
      return 1;
    }
    inputs[i].name = want.name;
    inputs[i].dtype = want.dtype;
    inputs[i].shape = want.shape;
    fillRandom(inputs[i], rng);
  }
  for (const HostTensor &t : provided) {
    bool known = false;
    for (const TensorSignature &input : signature.inputs)
      known |= t.name == input.name;
    if (!known && !t.name.empty() && !inputFiles.empty() && !isFrozen(t.name)) {
      errs() << "error: the model has no input named '" << t.name << "'\n";
      return 1;
    }
  }

  std::vector<HostTensor> outputs(signature.outputs.size());
  std::vector<const void *> inputPtrs;
  std::vector<void *> outputPtrs;
  for (HostTensor &t : inputs)
    inputPtrs.push_back(t.data.data());
  for (size_t i = 0; i < signature.outputs.size(); ++i) {
    const TensorSignature &sig = signature.outputs[i];
    outputs[i].name = sig.name;
    outputs[i].dtype = sig.dtype;
    outputs[i].shape = sig.shape;
    outputs[i].allocate();
    outputPtrs.push_back(outputs[i].data.data());
  }

  auto runOnce = [&] {
    return model->run(inputPtrs.data(), outputPtrs.data(), variant);
  };
  std::string profileReport;
  if (int32_t rc = profileSparsity
                       ? model->profile(inputPtrs.data(), outputPtrs.data(),
                                        profileReport, variant)
                       : runOnce()) {
    errs() << "error: " << model->describeFailure(rc) << "\n";
    return 1;
  }
  if (profileSparsity) {
    if (!printProfile(profileReport, outs())) {
      errs() << "error: malformed profile report from the model library\n";
      return 1;
    }
    if (!profileJson.empty()) {
      std::error_code ec;
      raw_fd_ostream file(profileJson, ec);
      if (ec) {
        errs() << "error: cannot write '" << profileJson
               << "': " << ec.message() << "\n";
        return 1;
      }
      file << profileReport << "\n";
    }
  }

  if (compareToF32) {
    CompileOptions f32Options = options;
    f32Options.quantize.clear();
    f32Options.groupSize = 0;
    std::string f32Path = (tempDir + "/f32.so").str();
    if (failed(compileModel(modelPath, f32Path, f32Options)))
      return 1;
    std::unique_ptr<ModelLibrary> reference =
        ModelLibrary::load(f32Path, loadError);
    if (!reference) {
      errs() << "error: " << loadError << "\n";
      return 1;
    }
    std::vector<HostTensor> expected(outputs.size());
    std::vector<void *> expectedPtrs;
    for (size_t i = 0; i < outputs.size(); ++i) {
      expected[i] = outputs[i];
      expectedPtrs.push_back(expected[i].data.data());
    }
    if (int32_t rc =
            reference->run(inputPtrs.data(), expectedPtrs.data(), variant)) {
      errs() << "error: f32 build: " << reference->describeFailure(rc) << "\n";
      return 1;
    }
    for (size_t i = 0; i < outputs.size(); ++i) {
      std::vector<double> q = toDoubles(outputs[i]), f = toDoubles(expected[i]);
      double maxDiff = 0, maxRef = 0, sumDiff = 0, sumRef = 0;
      for (size_t j = 0; j < q.size(); ++j) {
        double diff = std::fabs(q[j] - f[j]);
        maxDiff = std::max(maxDiff, diff);
        maxRef = std::max(maxRef, std::fabs(f[j]));
        sumDiff += diff;
        sumRef += std::fabs(f[j]);
      }
      outs() << "compare-to-f32 '" << outputs[i].name << "' ("
             << options.quantize << " vs f32): max_rel_err="
             << format("%.3g", maxDiff / std::max(maxRef, 1e-30))
             << " mean_rel_err="
             << format("%.3g", sumDiff / std::max(sumRef, 1e-30)) << "\n";
    }
  }

  if (benchmarkRuns > 0) {
    for (unsigned i = 0; i < warmupRuns; ++i)
      runOnce();
    std::vector<double> times;
    // Every core reads its own N MB: the L3 may be split between core
    // complexes (AMD: one per CCD), and a read on one core only evicts
    // that core's slice.
    unsigned cores =
        flushCachesMB ? std::max(1u, std::thread::hardware_concurrency()) : 0;
    std::vector<std::vector<float>> junk(cores);
    for (std::vector<float> &j : junk)
      j.assign(size_t(flushCachesMB) << 18, 1.0f);
    std::atomic<float> sink{0.0f};
    auto flushCaches = [&] {
      std::vector<std::thread> readers;
      for (unsigned c = 0; c < cores; ++c)
        readers.emplace_back([&, c] {
          float acc = 0.0f;
          for (size_t j = 0; j < junk[c].size(); j += 16)
            acc += junk[c][j];
          sink.store(sink.load() + acc);
        });
      for (std::thread &t : readers)
        t.join();
    };
    for (unsigned i = 0; i < benchmarkRuns; ++i) {
      if (cores)
        flushCaches();
      auto start = std::chrono::steady_clock::now();
      runOnce();
      auto end = std::chrono::steady_clock::now();
      times.push_back(
          std::chrono::duration<double, std::milli>(end - start).count());
    }
    std::sort(times.begin(), times.end());
    double median =
        times.size() % 2
            ? times[times.size() / 2]
            : 0.5 * (times[times.size() / 2 - 1] + times[times.size() / 2]);
    outs() << "runs: " << benchmarkRuns << "\n";
    outs() << "median_ms: " << format("%.4f", median) << "\n";
    outs() << "min_ms: " << format("%.4f", times.front()) << "\n";
    outs() << "max_ms: " << format("%.4f", times.back()) << "\n";
  }

  if (!outputDir.empty()) {
    if (std::error_code ec = sys::fs::create_directories(outputDir)) {
      errs() << "error: cannot create '" << outputDir << "': " << ec.message()
             << "\n";
      return 1;
    }
    for (const HostTensor &t : outputs) {
      std::string error;
      std::string path = outputDir + "/" + fileSafe(t.name) + ".npy";
      if (!writeNpy(path, t, error)) {
        errs() << "error: " << error << "\n";
        return 1;
      }
    }
  }

  if (!checkDir.empty()) {
    if (expectedOutputs.size() != outputs.size()) {
      errs() << "error: --check: the model has " << outputs.size()
             << " outputs but '" << checkDir << "' holds "
             << expectedOutputs.size() << "\n";
      return 1;
    }
    bool ok = true;
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (outputs[i].dtype == DType::BFloat16 &&
          expectedOutputs[i].dtype == DType::UInt16)
        expectedOutputs[i].dtype = DType::BFloat16; // See the inputs above.
      ok &= compareOutput(outputs[i], expectedOutputs[i]);
    }
    outs() << "check: " << (ok ? "PASS" : "FAIL") << " (" << outputs.size()
           << " outputs, rtol=" << relTolerance << ", atol=" << absTolerance
           << ")\n";
    return ok ? 0 : 1;
  }
  if (outputDir.empty() && benchmarkRuns == 0 && !profileSparsity)
    for (const HostTensor &t : outputs)
      outs() << "output '" << t.name << "': " << dtypeName(t.dtype) << " "
             << shapeStr(t.shape) << "\n";
  return 0;
}
