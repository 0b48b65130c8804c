//===- ProfileInternal.h - kernel side of the sparsity profiler -*- C++ -*-===//
//
// What the spx kernels call to report to the profiling registry
// (parsimony/Runtime/Profile.h). Kernels test active() first and only then
// compute and record their figures, so profiling costs one relaxed atomic
// load per kernel call when it is off.
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_LIB_RUNTIME_PROFILEINTERNAL_H
#define PARSIMONY_LIB_RUNTIME_PROFILEINTERNAL_H

#include <atomic>
#include <cstdint>

namespace parsimony {
namespace runtime {
namespace profile {

extern std::atomic<bool> Active;

/// True while profiling is on.
inline bool active() { return Active.load(std::memory_order_relaxed); }

enum class Kind { SparseFFN, TopK, SparseMatmul, Dispatch };

/// Per-token nonzero counts of one kernel call.
struct DensitySample {
  Kind kind = Kind::SparseFFN;
  /// Entries per token (F, the top-k axis, K).
  int64_t width = 0;
  int64_t tokens = 0;
  /// [tokens] nonzero entries of each token.
  const int64_t *nonzeros = nullptr;
  /// sparse_ffn: activation code and top-k (0: none).
  int32_t activation = -1;
  int64_t topk = 0;
  /// sparse_ffn with a support: [tokens] recall of each token's support
  /// against the true top-`recallK` of the dense hidden activation.
  const double *recall = nullptr;
  int64_t recallK = 0;
};

/// One spx.dispatch call.
struct DispatchSample {
  int64_t tokens = 0, k = 0, experts = 0;
  /// 0 dropless, 1 capacity; capacity C (capacity mode).
  int32_t mode = 0;
  int64_t capacity = 0;
  /// [experts] assignments routed to / dispatched to each expert.
  const int64_t *routed = nullptr;
  const int64_t *dispatched = nullptr;
  /// Assignments (token, choice) with a valid expert but no row; tokens
  /// none of whose choices got a row.
  int64_t dropped = 0;
  int64_t droppedTokens = 0;
};

void record(const DensitySample &sample);
void record(const DispatchSample &sample);

} // namespace profile
} // namespace runtime
} // namespace parsimony

#endif // PARSIMONY_LIB_RUNTIME_PROFILEINTERNAL_H
