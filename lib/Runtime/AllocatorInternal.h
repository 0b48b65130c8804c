//===- AllocatorInternal.h - run-scoped allocation lists --------*- C++ -*-===//
//
// Between the buffer cache (Allocator.cpp) and the run bracket
// (RunScope.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_RUNTIME_ALLOCATORINTERNAL_H
#define PARSIMONY_RUNTIME_ALLOCATORINTERNAL_H

namespace parsimony::runtime {

/// Starts listing the calling thread's allocations.
void openRunAllocations();

/// Stops listing them; with `free`, frees those still live.
void closeRunAllocations(bool free);

} // namespace parsimony::runtime

#endif // PARSIMONY_RUNTIME_ALLOCATORINTERNAL_H
