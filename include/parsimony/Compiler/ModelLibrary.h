//===- ModelLibrary.h - load a compiled model library -----------*- C++ -*-===//
//
// A shared library written by parsimony-compile (docs/abi.md), loaded with
// dlopen and described by its parsimony_model_v1_info table. Used by
// parsimony-run and the C API.
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_COMPILER_MODELLIBRARY_H
#define PARSIMONY_COMPILER_MODELLIBRARY_H

#include "parsimony/Compiler/Compiler.h"

#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace parsimony {

class ModelLibrary {
public:
  /// Loads the library at `path` (RTLD_LOCAL) and reads its signature. On
  /// failure returns null and sets `error` (without an "error: " prefix).
  static std::unique_ptr<ModelLibrary> load(llvm::StringRef path,
                                            std::string &error);
  ~ModelLibrary();
  ModelLibrary(const ModelLibrary &) = delete;
  ModelLibrary &operator=(const ModelLibrary &) = delete;

  /// The shape variants (one per binding of the symbolic dims it was
  /// compiled for; docs/abi.md) and their signatures. Variant 0 is the
  /// default.
  size_t getNumVariants() const { return variants.size(); }
  const ModelSignature &getSignature(size_t variant = 0) const {
    return variants[variant];
  }
  /// The first variant whose input shapes equal `shapes` (one per input),
  /// if any.
  std::optional<size_t>
  findVariant(llvm::ArrayRef<llvm::SmallVector<int64_t>> shapes) const;

  /// Runs variant `variant` on contiguous buffers of its signature's shapes;
  /// returns the entry point's status (0 on success).
  int32_t run(const void *const *inputs, void *const *outputs,
              size_t variant = 0) const {
    return runVariantFn
               ? runVariantFn(static_cast<int32_t>(variant), inputs, outputs)
               : runFn(inputs, outputs);
  }

  /// Why the last run failed, as the library reports it ("" if it does not
  /// say).
  std::string lastError() const {
    const char *message = lastErrorFn ? lastErrorFn() : nullptr;
    return message ? message : "";
  }

  /// The status and message of a failed run as one diagnostic line.
  std::string describeFailure(int32_t status) const {
    std::string message = lastError();
    return "the model returned " + std::to_string(status) +
           (message.empty() ? "" : ": " + message);
  }

  /// Whether the library exports the sparsity profiler
  /// (parsimony_model_v1_profile_*; libraries built before it do not).
  bool canProfile() const {
    return profileBegin && profileReport && profileEnd;
  }

  /// Runs the model once with activation-sparsity profiling on and sets
  /// `report` to the JSON report of that run (docs/abi.md). Returns the
  /// run's status; the report is empty when the run failed. Profiled runs
  /// of one library are serialized; plain runs of the same library that
  /// overlap a profiled run are counted in its report. Needs canProfile().
  int32_t profile(const void *const *inputs, void *const *outputs,
                  std::string &report, size_t variant = 0) const;

private:
  using RunFn = int32_t (*)(const void *const *, void *const *);
  using RunVariantFn = int32_t (*)(int32_t, const void *const *, void *const *);
  using VoidFn = void (*)();
  using ReportFn = int64_t (*)(char *, int64_t);
  using LastErrorFn = const char *(*)();
  ModelLibrary() = default;

  void *handle = nullptr;
  RunFn runFn = nullptr;
  RunVariantFn runVariantFn = nullptr;
  LastErrorFn lastErrorFn = nullptr;
  VoidFn profileBegin = nullptr;
  ReportFn profileReport = nullptr;
  VoidFn profileEnd = nullptr;
  mutable std::mutex profileMutex;
  std::vector<ModelSignature> variants;
};

} // namespace parsimony

#endif // PARSIMONY_COMPILER_MODELLIBRARY_H
