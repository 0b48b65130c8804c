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

  const ModelSignature &getSignature() const { return signature; }

  /// Runs the model on contiguous buffers of the signature's shapes; returns
  /// the entry point's status (0 on success).
  int32_t run(const void *const *inputs, void *const *outputs) const {
    return runFn(inputs, outputs);
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
                  std::string &report) const;

private:
  using RunFn = int32_t (*)(const void *const *, void *const *);
  using VoidFn = void (*)();
  using ReportFn = int64_t (*)(char *, int64_t);
  using LastErrorFn = const char *(*)();
  ModelLibrary() = default;

  void *handle = nullptr;
  RunFn runFn = nullptr;
  LastErrorFn lastErrorFn = nullptr;
  VoidFn profileBegin = nullptr;
  ReportFn profileReport = nullptr;
  VoidFn profileEnd = nullptr;
  mutable std::mutex profileMutex;
  ModelSignature signature;
};

} // namespace parsimony

#endif // PARSIMONY_COMPILER_MODELLIBRARY_H
