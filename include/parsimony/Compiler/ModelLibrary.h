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

private:
  using RunFn = int32_t (*)(const void *const *, void *const *);
  using LastErrorFn = const char *(*)();
  ModelLibrary() = default;

  void *handle = nullptr;
  RunFn runFn = nullptr;
  LastErrorFn lastErrorFn = nullptr;
  ModelSignature signature;
};

} // namespace parsimony

#endif // PARSIMONY_COMPILER_MODELLIBRARY_H
