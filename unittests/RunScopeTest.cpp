//===- RunScopeTest.cpp - failed runs free their temporaries --------------===//
//
// parsimony/Runtime/RunScope.h against the buffer cache (Allocator.cpp):
// the generated code allocates through _mlir_memref_to_llvm_alloc, and a
// run that a failed check ends early leaves what it allocated live. Large
// buffers freed into the cache come back for the next request of their
// size, which makes "was it freed" observable.
//
//===----------------------------------------------------------------------===//

#include "parsimony/Runtime/RunScope.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <thread>

extern "C" void *_mlir_memref_to_llvm_alloc(size_t bytes);
extern "C" void _mlir_memref_to_llvm_free(void *p);

namespace {

// Above the cache's minimum (64 KiB); a size no other test uses.
constexpr size_t kBytes = (1 << 20) + 4096;

TEST(RunScopeTest, SuccessfulRunReportsNothing) {
  parsimony_run_begin();
  void *p = _mlir_memref_to_llvm_alloc(kBytes);
  _mlir_memref_to_llvm_free(p);
  EXPECT_EQ(parsimony_run_end(), nullptr);
}

TEST(RunScopeTest, FailedCheckIsReportedOnceAndFreesTemporaries) {
  parsimony_run_begin();
  void *leftover = _mlir_memref_to_llvm_alloc(kBytes + 64);
  parsimony_check_failed("first");
  parsimony_check_failed("second");
  const char *failed = parsimony_run_end();
  ASSERT_NE(failed, nullptr);
  EXPECT_STREQ(failed, "first");
  // The leftover went back to the cache: the next request of its size
  // gets it.
  void *again = _mlir_memref_to_llvm_alloc(kBytes + 64);
  EXPECT_EQ(again, leftover);
  _mlir_memref_to_llvm_free(again);
  // The next run starts clean.
  parsimony_run_begin();
  EXPECT_EQ(parsimony_run_end(), nullptr);
}

TEST(RunScopeTest, SuccessfulRunLeavesLiveBuffersAlone) {
  parsimony_run_begin();
  void *kept = _mlir_memref_to_llvm_alloc(kBytes + 128);
  EXPECT_EQ(parsimony_run_end(), nullptr);
  // Still live: a new request of that size gets another buffer, and a
  // failed later run does not free it either.
  void *other = _mlir_memref_to_llvm_alloc(kBytes + 128);
  EXPECT_NE(other, kept);
  parsimony_run_begin();
  parsimony_check_failed("later");
  EXPECT_STREQ(parsimony_run_end(), "later");
  void *third = _mlir_memref_to_llvm_alloc(kBytes + 128);
  EXPECT_NE(third, kept);
  _mlir_memref_to_llvm_free(kept);
  _mlir_memref_to_llvm_free(other);
  _mlir_memref_to_llvm_free(third);
}

TEST(RunScopeTest, FreedBeforeTheFailureIsNotFreedTwice) {
  parsimony_run_begin();
  void *a = _mlir_memref_to_llvm_alloc(kBytes + 192);
  void *b = _mlir_memref_to_llvm_alloc(kBytes + 256);
  _mlir_memref_to_llvm_free(a);
  parsimony_check_failed("late");
  EXPECT_STREQ(parsimony_run_end(), "late");
  // Both are in the cache exactly once.
  void *a2 = _mlir_memref_to_llvm_alloc(kBytes + 192);
  void *a3 = _mlir_memref_to_llvm_alloc(kBytes + 192);
  void *b2 = _mlir_memref_to_llvm_alloc(kBytes + 256);
  EXPECT_EQ(a2, a);
  EXPECT_NE(a3, a);
  EXPECT_EQ(b2, b);
  for (void *p : {a2, a3, b2})
    _mlir_memref_to_llvm_free(p);
}

TEST(RunScopeTest, RunsAreThreadLocal) {
  parsimony_run_begin();
  const char *other = "unset";
  std::thread t([&] {
    parsimony_run_begin();
    parsimony_check_failed("other thread");
    other = parsimony_run_end();
  });
  t.join();
  EXPECT_STREQ(other, "other thread");
  EXPECT_EQ(parsimony_run_end(), nullptr);
}

} // namespace
