//===- SimtEmulatorTest.cpp - the SIMT emulator catches GPU-only bugs -----===//
//
// The emulator that runs the GPU kernel library in GpuKernelsTest.cpp must
// itself be right: warp intrinsics exchange the right lanes, barriers
// order shared memory, and kernels that are undefined on a GPU (divergent
// or partial-mask warp calls, barriers not every thread reaches, a missing
// barrier) fail instead of passing by luck.
//
//===----------------------------------------------------------------------===//

#include "SimtEmulator.h"

#include <gtest/gtest.h>

#include <vector>

namespace {

TEST(SimtEmulator, ShufflesMatchAndBallot) {
  std::vector<int> xorOut(64), upOut(64), downOut(64), idxOut(64);
  std::vector<unsigned> match(64), ballot(64);
  std::string error = simt::launch({1, 1, 1}, {64, 1, 1}, [&] {
    int t = threadIdx.x;
    xorOut[t] = __shfl_xor_sync(0xffffffffu, t, 5);
    upOut[t] = __shfl_up_sync(0xffffffffu, t, 3);
    downOut[t] = __shfl_down_sync(0xffffffffu, t, 3);
    idxOut[t] = __shfl_sync(0xffffffffu, t * 10, 7);
    match[t] = __match_any_sync(0xffffffffu, t % 3);
    ballot[t] = __ballot_sync(0xffffffffu, t % 2);
  });
  ASSERT_EQ(error, "");
  for (int t = 0; t < 64; ++t) {
    int lane = t % 32, base = t - lane;
    EXPECT_EQ(xorOut[t], base + (lane ^ 5));
    EXPECT_EQ(upOut[t], lane >= 3 ? t - 3 : t);
    EXPECT_EQ(downOut[t], lane + 3 < 32 ? t + 3 : t);
    EXPECT_EQ(idxOut[t], (base + 7) * 10);
    unsigned peers = 0;
    for (int j = 0; j < 32; ++j)
      if ((base + j) % 3 == t % 3)
        peers |= 1u << j;
    EXPECT_EQ(match[t], peers);
    EXPECT_EQ(ballot[t], base % 2 ? 0x55555555u : 0xaaaaaaaau);
  }
}

TEST(SimtEmulator, MmaTf32MatchesTheProductOfItsFragments) {
  // Each lane loads its fragments by the PTX ISA layout of
  // mma.m16n8k8 .tf32 (lane = 4 g + t): A(g + 8i, t + 4j) in a[i + 2j],
  // B(t + 4j, g) in b[j], C/D(g + 8i, 2t + j) in d[2i + j]. TF32-exact
  // integers keep the product exact; the low 13 bits of A's inputs are
  // garbage that the tensor core ignores.
  float A[16][8], B[8][8], C[16][8], D[16][8];
  for (int r = 0; r < 16; ++r)
    for (int k = 0; k < 8; ++k)
      A[r][k] = float((r * 7 + k * 3) % 11 - 5);
  for (int k = 0; k < 8; ++k)
    for (int n = 0; n < 8; ++n)
      B[k][n] = float((k * 5 + n) % 7 - 3);
  for (int r = 0; r < 16; ++r)
    for (int n = 0; n < 8; ++n)
      C[r][n] = float(r - n);
  std::string error = simt::launch({1, 1, 1}, {32, 1, 1}, [&] {
    int g = threadIdx.x / 4, t = threadIdx.x % 4;
    uint32_t a[4], b[2];
    float d[4];
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j) {
        a[i + 2 * j] = cvtRnaTf32(A[g + 8 * i][t + 4 * j]) | 0x1fffu;
        b[j] = cvtRnaTf32(B[t + 4 * j][g]);
        d[2 * i + j] = C[g + 8 * i][2 * t + j];
      }
    mmaSyncM16N8K8Tf32(d, a, b);
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j)
        D[g + 8 * i][2 * t + j] = d[2 * i + j];
  });
  ASSERT_EQ(error, "");
  for (int r = 0; r < 16; ++r)
    for (int n = 0; n < 8; ++n) {
      float expect = C[r][n];
      for (int k = 0; k < 8; ++k)
        expect += A[r][k] * B[k][n];
      EXPECT_EQ(D[r][n], expect) << r << ", " << n;
    }
  // TF32 rounding: to 10 mantissa bits, ties away from zero.
  EXPECT_EQ(cvtRnaTf32(1.0f + 0x1p-11f), 0x3f802000u);
  EXPECT_EQ(cvtRnaTf32(-(1.0f + 0x1p-11f)), 0xbf802000u);
  EXPECT_EQ(cvtRnaTf32(1.0f + 0x1p-12f), 0x3f800000u);
}

TEST(SimtEmulator, MmaWithExitedLanesFails) {
  std::string error = simt::launch({1, 1, 1}, {32, 1, 1}, [&] {
    if (threadIdx.x == 3)
      return;
    uint32_t a[4] = {}, b[2] = {};
    float d[4] = {};
    mmaSyncM16N8K8Tf32(d, a, b);
  });
  EXPECT_NE(error.find("mma"), std::string::npos) << error;
}

TEST(SimtEmulator, BarrierOrdersSharedMemory) {
  std::vector<int> out(3 * 128);
  std::string error = simt::launch({3, 1, 1}, {128, 1, 1}, [&] {
    __shared__ int tile[128];
    int t = threadIdx.x;
    tile[t] = int(blockIdx.x) * 1000 + t;
    __syncthreads();
    out[blockIdx.x * 128 + t] = tile[127 - t];
  });
  ASSERT_EQ(error, "");
  for (int b = 0; b < 3; ++b)
    for (int t = 0; t < 128; ++t)
      EXPECT_EQ(out[b * 128 + t], b * 1000 + 127 - t);
}

TEST(SimtEmulator, MissingBarrierGivesWrongResult) {
  // The same kernel without the barrier: some thread reads a slot before
  // its writer ran, in one of the two sweep orders.
  std::vector<int> out(128);
  std::string error = simt::launch({1, 1, 1}, {128, 1, 1}, [&] {
    __shared__ int tile[128];
    int t = threadIdx.x;
    tile[t] = -1;
    __syncthreads();
    tile[t] = t;
    (void)__ballot_sync(0xffffffffu, 1); // a warp-level switch point only
    out[t] = tile[127 - t];
  });
  ASSERT_EQ(error, "");
  int wrong = 0;
  for (int t = 0; t < 128; ++t)
    wrong += out[t] != 127 - t;
  EXPECT_GT(wrong, 0);
}

TEST(SimtEmulator, ExitedLanesInMaskFail) {
  std::string error = simt::launch({1, 1, 1}, {32, 1, 1}, [&] {
    if (threadIdx.x == 3)
      return;
    (void)__shfl_xor_sync(0xffffffffu, 1.0f, 1);
  });
  EXPECT_NE(error.find("mask"), std::string::npos) << error;
}

TEST(SimtEmulator, DivergentWarpCallsFail) {
  std::string error = simt::launch({1, 1, 1}, {32, 1, 1}, [&] {
    if (threadIdx.x % 2)
      (void)__shfl_xor_sync(0xffffffffu, 1, 1);
    else
      (void)__ballot_sync(0xffffffffu, 1);
  });
  EXPECT_NE(error.find("divergent"), std::string::npos) << error;
}

TEST(SimtEmulator, WarpCallAgainstBarrierDeadlocks) {
  std::string error = simt::launch({1, 1, 1}, {64, 1, 1}, [&] {
    if (threadIdx.x == 0)
      __syncthreads();
    else
      (void)__shfl_down_sync(0xffffffffu, 1, 1);
  });
  EXPECT_NE(error.find("deadlock"), std::string::npos) << error;
}

TEST(SimtEmulator, ExitedThreadsDoNotBlockBarriers) {
  // As on sm_70 and later: a barrier waits for the threads still running.
  std::vector<int> out(64, 0);
  std::string error = simt::launch({1, 1, 1}, {64, 1, 1}, [&] {
    if (threadIdx.x >= 40)
      return;
    __syncthreads();
    out[threadIdx.x] = 1;
  });
  ASSERT_EQ(error, "");
  for (int t = 0; t < 64; ++t)
    EXPECT_EQ(out[t], t < 40 ? 1 : 0);
}

TEST(SimtEmulator, RejectsOversizedBlocks) {
  EXPECT_NE(simt::launch({1, 1, 1}, {2048, 1, 1}, [] {}), "");
}

} // namespace
