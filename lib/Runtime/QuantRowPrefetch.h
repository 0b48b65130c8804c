//===- QuantRowPrefetch.h - prefetch distance of interleaved rows -*- C++ -*-=//
//
// Shared by the quantized dot-product kernels (QuantMatmulKernels.inc, for
// each ISA, and QuantMatmulVnni.cpp). Internal linkage on purpose: every
// kernel TU is compiled with its own -m flags, and an inline function with
// external linkage could be merged into a copy built for another ISA.
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_LIB_RUNTIME_QUANTROWPREFETCH_H
#define PARSIMONY_LIB_RUNTIME_QUANTROWPREFETCH_H

#include <algorithm>
#include <cstdint>

namespace {

/// Bytes ahead of a position in one of R interleaved rows to prefetch: the
/// same offset in a later row (rows are contiguous), at least R rows and
/// at least 4 KiB ahead. Short rows (packed int4: 384 bytes at K = 768)
/// would otherwise prefetch only 1.5 KiB ahead, too little to cover DRAM
/// latency: 12 layers of int4-predicted decode with cold caches took
/// 0.93-1.17 ms at 4 rows ahead, 0.80-0.94 ms at 12 (int8 rows: neutral).
inline int64_t prefetchAhead(int64_t rowBytes, int R) {
  int64_t rowsAhead = std::max<int64_t>(R, (4096 + rowBytes - 1) / rowBytes);
  rowsAhead = (rowsAhead + R - 1) / R * R;
  return rowsAhead * rowBytes;
}

} // namespace

#endif // PARSIMONY_LIB_RUNTIME_QUANTROWPREFETCH_H
