//===- Allocator.cpp - buffer cache for compiled models -------------------===//
//
// Compiled models allocate their temporaries with the generic MLIR
// allocation functions (finalize-memref-to-llvm use-generic-functions).
// A model runs the same allocation sequence on every call; handing large
// buffers back to the OS and faulting fresh pages in on the next call costs
// more than the work on them. Large freed buffers are kept in a cache keyed
// by exact size and reused. While a run is open on a thread
// (RunScope.cpp), its allocations are also linked into a per-thread list,
// so a run that a failed check ended early can free what it left.
//
//===----------------------------------------------------------------------===//

#include "AllocatorInternal.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace {

/// Buffers below this size come from malloc directly.
constexpr size_t kCachedMinBytes = 64 * 1024;
/// The cache never holds more than this many bytes of free buffers.
constexpr size_t kCacheLimitBytes = size_t(1) << 31;
constexpr size_t kAlignment = 64;

/// Stored in front of every buffer handed out.
struct Header {
  void *base;   // what malloc returned
  size_t bytes; // the requested size (the cache key)
  // Links in the allocating thread's open run (both null outside runs).
  Header *prev, *next;
};

/// The calling thread's open run: a circular list through `head`.
struct RunList {
  Header head{nullptr, 0, &head, &head};
  bool open = false;
};
thread_local RunList runList;

void track(void *p) {
  Header *header = static_cast<Header *>(p) - 1;
  if (!runList.open) {
    header->prev = header->next = nullptr;
    return;
  }
  Header *last = runList.head.prev;
  header->prev = last;
  header->next = &runList.head;
  last->next = header;
  runList.head.prev = header;
}

/// Unlinks `header` from the run it was allocated in (its own thread: the
/// generated code frees its temporaries where it allocated them).
void untrack(Header *header) {
  if (!header->prev)
    return;
  header->prev->next = header->next;
  header->next->prev = header->prev;
  header->prev = header->next = nullptr;
}

struct Cache {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void *>> free;
  size_t cachedBytes = 0;
};

Cache &cache() {
  static Cache *instance = new Cache(); // never destroyed: used at exit
  return *instance;
}

void *allocate(size_t bytes, size_t alignment) {
  if (alignment < kAlignment)
    alignment = kAlignment;
  if (bytes >= kCachedMinBytes && alignment == kAlignment) {
    Cache &c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.free.find(bytes);
    if (it != c.free.end() && !it->second.empty()) {
      void *p = it->second.back();
      it->second.pop_back();
      c.cachedBytes -= bytes;
      track(p);
      return p;
    }
  }
  size_t total = bytes + alignment + sizeof(Header);
  void *base = std::malloc(total);
  if (!base)
    return nullptr;
  uintptr_t start = reinterpret_cast<uintptr_t>(base) + sizeof(Header);
  uintptr_t aligned = (start + alignment - 1) & ~(uintptr_t(alignment) - 1);
  Header *header = reinterpret_cast<Header *>(aligned) - 1;
  header->base = base;
  header->bytes = alignment == kAlignment ? bytes : 0; // 0: never cached
  track(header + 1);
  return reinterpret_cast<void *>(aligned);
}

void release(void *p) {
  if (!p)
    return;
  Header *header = static_cast<Header *>(p) - 1;
  untrack(header);
  size_t bytes = header->bytes;
  if (bytes >= kCachedMinBytes) {
    Cache &c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    if (c.cachedBytes + bytes <= kCacheLimitBytes) {
      c.free[bytes].push_back(p);
      c.cachedBytes += bytes;
      return;
    }
  }
  std::free(header->base);
}

} // namespace

void parsimony::runtime::openRunAllocations() {
  closeRunAllocations(/*free=*/false); // a run never closed
  runList.open = true;
}

void parsimony::runtime::closeRunAllocations(bool free) {
  RunList &list = runList;
  while (list.head.next != &list.head) {
    Header *header = list.head.next;
    if (free)
      release(header + 1); // unlinks it
    else
      untrack(header);
  }
  list.open = false;
}

// The entry points MLIR's memref-to-LLVM lowering calls with
// use-generic-functions.
extern "C" __attribute__((visibility("default"))) void *
_mlir_memref_to_llvm_alloc(size_t bytes) {
  return allocate(bytes, kAlignment);
}

extern "C" __attribute__((visibility("default"))) void *
_mlir_memref_to_llvm_aligned_alloc(size_t alignment, size_t bytes) {
  return allocate(bytes, alignment);
}

extern "C" __attribute__((visibility("default"))) void
_mlir_memref_to_llvm_free(void *p) {
  release(p);
}
