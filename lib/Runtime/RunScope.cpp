//===- RunScope.cpp - a model run's failed check and temporaries ----------===//
//
// See parsimony/Runtime/RunScope.h.
//
//===----------------------------------------------------------------------===//

#include "parsimony/Runtime/RunScope.h"

#include "AllocatorInternal.h"

namespace {
/// The calling thread's first failed check since parsimony_run_begin.
thread_local const char *failedCheck = nullptr;
} // namespace

extern "C" {

void parsimony_run_begin(void) {
  failedCheck = nullptr;
  parsimony::runtime::openRunAllocations();
}

void parsimony_check_failed(const char *message) {
  if (!failedCheck)
    failedCheck = message ? message : "a runtime check failed";
}

const char *parsimony_run_end(void) {
  const char *failed = failedCheck;
  failedCheck = nullptr;
  parsimony::runtime::closeRunAllocations(/*free=*/failed != nullptr);
  return failed;
}

} // extern "C"
