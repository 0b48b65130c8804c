//===- SimtEmulator.h - CUDA device code on the host, for tests -*- C++ -*-===//
//
// Lets the GPU kernel library (lib/Runtime/Gpu/GpuKernels.cu) compile as
// host C++ and run on a machine without a GPU, so `make test` checks the
// kernels' results and not only that ptxas accepts them.
//
// Every GPU thread of a block is a fiber (ucontext) on the calling thread;
// blocks run one after another. Fibers switch only at synchronisation
// points (__syncthreads and the warp-synchronous intrinsics), so:
//  - shared memory is a function-local static (one block at a time);
//  - atomics need no locking;
//  - between two barriers the threads of a block run in a different order
//    on every sweep (forward, then backward), so a missing __syncthreads
//    that lets one thread read another's unwritten value shows up as a
//    wrong result;
//  - misuse that is undefined on a GPU is reported as a launch failure:
//    a warp-synchronous call whose mask names exited or absent lanes,
//    lanes of a warp meeting at different intrinsics, a barrier that not
//    every live thread reaches (deadlock).
//
// Only the subset of CUDA that GpuKernels.cu uses is provided.
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_UNITTESTS_SIMTEMULATOR_H
#define PARSIMONY_UNITTESTS_SIMTEMULATOR_H

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>

#define SIMT_API __attribute__((visibility("default")))

namespace simt {

struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};

/// The calling fiber's thread index (valid inside a kernel).
SIMT_API const Dim3 &threadIndex();
SIMT_API const Dim3 &blockIndex();
SIMT_API const Dim3 &blockDimension();
SIMT_API const Dim3 &gridDimension();

/// __syncthreads.
SIMT_API void blockBarrier();

enum class WarpOp {
  ShuffleXor,
  ShuffleUp,
  ShuffleDown,
  ShuffleIndex,
  MatchAny,
  Ballot,
  MmaTf32
};

/// A warp-synchronous exchange: every lane of `mask` deposits `value`
/// (and `arg`: lane offset or source lane) and gets the op's result.
SIMT_API uint64_t warpExchange(WarpOp op, unsigned mask, uint64_t value,
                               int arg);

/// One lane's registers of mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32
/// (PTX ISA fragment layouts; TF32 values are f32 bit patterns whose low 13
/// bits the tensor core ignores).
struct MmaTf32Fragment {
  uint32_t a[4];
  uint32_t b[2];
  float d[4]; // C on entry, D = A * B + C on return
};

/// The warp-wide mma: every one of the 32 lanes must call it.
SIMT_API void warpMmaTf32(MmaTf32Fragment &lane);

/// Runs `body` for every thread of a grid; returns "" or what went wrong.
SIMT_API std::string launch(Dim3 grid, Dim3 block,
                            const std::function<void()> &body);

template <typename T> uint64_t toBits(T v) {
  static_assert(sizeof(T) <= 8, "warp exchange of a value wider than 64 bits");
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <typename T> T fromBits(uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}

} // namespace simt

// The emulator's own implementation uses the names below as identifiers.
#ifndef SIMT_IMPLEMENTATION

//===----------------------------------------------------------------------===//
// The CUDA device-code surface.
//===----------------------------------------------------------------------===//

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
// One block runs at a time, so a function-local static is the block's
// shared memory.
#define __shared__ static

#define threadIdx (::simt::threadIndex())
#define blockIdx (::simt::blockIndex())
#define blockDim (::simt::blockDimension())
#define gridDim (::simt::gridDimension())

struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};
struct alignas(4) char4 {
  signed char x, y, z, w;
};

inline void __syncthreads() { simt::blockBarrier(); }

template <typename T> T __shfl_xor_sync(unsigned mask, T v, int laneMask) {
  return simt::fromBits<T>(simt::warpExchange(simt::WarpOp::ShuffleXor, mask,
                                              simt::toBits(v), laneMask));
}
template <typename T> T __shfl_up_sync(unsigned mask, T v, unsigned delta) {
  return simt::fromBits<T>(simt::warpExchange(simt::WarpOp::ShuffleUp, mask,
                                              simt::toBits(v), int(delta)));
}
template <typename T> T __shfl_down_sync(unsigned mask, T v, unsigned delta) {
  return simt::fromBits<T>(simt::warpExchange(simt::WarpOp::ShuffleDown, mask,
                                              simt::toBits(v), int(delta)));
}
template <typename T> T __shfl_sync(unsigned mask, T v, int srcLane) {
  return simt::fromBits<T>(simt::warpExchange(simt::WarpOp::ShuffleIndex, mask,
                                              simt::toBits(v), srcLane));
}
template <typename T> unsigned __match_any_sync(unsigned mask, T v) {
  return unsigned(
      simt::warpExchange(simt::WarpOp::MatchAny, mask, simt::toBits(v), 0));
}
inline unsigned __ballot_sync(unsigned mask, int predicate) {
  return unsigned(
      simt::warpExchange(simt::WarpOp::Ballot, mask, predicate != 0, 0));
}

// Fibers of one launch share an OS thread and switch only at barriers, so
// a read-modify-write is atomic as written.
template <typename T> T atomicAdd(T *address, T value) {
  T old = *address;
  *address = old + value;
  return old;
}
template <typename T> T atomicMax(T *address, T value) {
  T old = *address;
  *address = old < value ? value : old;
  return old;
}
template <typename T> T atomicMin(T *address, T value) {
  T old = *address;
  *address = value < old ? value : old;
  return old;
}
template <typename T> T atomicCAS(T *address, T compare, T value) {
  T old = *address;
  if (old == compare)
    *address = value;
  return old;
}

template <typename T> T __ldg(const T *p) { return *p; }
template <typename T> T __ldcg(const T *p) { return *p; }
// Blocks run one after another: every write is visible to later blocks.
inline void __threadfence() {}
inline int __popc(unsigned v) { return __builtin_popcount(v); }
inline int __popcll(unsigned long long v) { return __builtin_popcountll(v); }
inline int __ffs(int v) { return __builtin_ffs(v); }
inline int __clz(int v) { return v == 0 ? 32 : __builtin_clz(unsigned(v)); }
inline int __float_as_int(float v) {
  return simt::fromBits<int>(simt::toBits(v));
}
inline unsigned __float_as_uint(float v) {
  return simt::fromBits<unsigned>(simt::toBits(v));
}
inline float __uint_as_float(unsigned v) {
  return simt::fromBits<float>(simt::toBits(v));
}
inline float __int_as_float(int v) {
  return simt::fromBits<float>(simt::toBits(v));
}
inline float __expf(float v) { return std::exp(v); }

/// mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 d, a, b, d.
inline void mmaSyncM16N8K8Tf32(float d[4], const uint32_t a[4],
                               const uint32_t b[2]) {
  simt::MmaTf32Fragment f = {
      {a[0], a[1], a[2], a[3]}, {b[0], b[1]}, {d[0], d[1], d[2], d[3]}};
  simt::warpMmaTf32(f);
  for (int r = 0; r < 4; ++r)
    d[r] = f.d[r];
}

/// cvt.rna.tf32.f32: round to 10 mantissa bits, ties away from zero.
inline uint32_t cvtRnaTf32(float v) {
  uint32_t b = simt::fromBits<uint32_t>(simt::toBits(v));
  if ((b & 0x7f800000u) == 0x7f800000u) // inf stays, NaN stays NaN
    return (b & 0x7fffffu) ? 0x7fffffffu : b;
  return (b + 0x1000u) & 0xffffe000u;
}
inline float __fdividef(float a, float b) { return a / b; }

#endif // SIMT_IMPLEMENTATION

#endif // PARSIMONY_UNITTESTS_SIMTEMULATOR_H
