//===- BenchGpuCommon.h - helpers of the GPU benchmarks ---------*- C++ -*-===//
//
// Device buffers through the GPU runtime's mgpu* entry points (the ones
// compiled models call) and a wall clock.
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_BENCH_GPU_BENCHGPUCOMMON_H
#define PARSIMONY_BENCH_GPU_BENCHGPUCOMMON_H

#include <chrono>
#include <cstddef>
#include <cstdint>

extern "C" {
void *mgpuMemAlloc(uint64_t, void *, bool);
void mgpuMemcpy(void *, void *, size_t, void *);
}

namespace bench_gpu {

/// A device copy of `bytes` of host memory.
inline void *upload(const void *host, size_t bytes) {
  void *device = mgpuMemAlloc(bytes, nullptr, false);
  mgpuMemcpy(device, const_cast<void *>(host), bytes, nullptr);
  return device;
}

/// Seconds on a monotonic clock.
inline double now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

} // namespace bench_gpu

#endif // PARSIMONY_BENCH_GPU_BENCHGPUCOMMON_H
