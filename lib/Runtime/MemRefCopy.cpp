//===- MemRefCopy.cpp - memref.copy between strided buffers ---------------===//
//
// MLIR lowers `memref.copy` between buffers that are not both contiguous to a
// call to `memrefCopy` (the ABI of MLIR's C runner utils). Compiled models
// link this implementation instead of depending on libmlir_c_runner_utils.
//
//===----------------------------------------------------------------------===//

#include <cstdint>
#include <cstring>

namespace {
/// MLIR's unranked memref: rank plus a pointer to the ranked descriptor
/// {allocated, aligned, offset, sizes[rank], strides[rank]}.
struct UnrankedMemRef {
  int64_t rank;
  void *descriptor;
};

struct DescriptorView {
  char *aligned;
  int64_t offset;
  const int64_t *sizes;
  const int64_t *strides;
};

DescriptorView view(const UnrankedMemRef &m) {
  auto *fields = static_cast<char **>(m.descriptor);
  auto *ints = reinterpret_cast<const int64_t *>(fields + 2);
  return {fields[1], ints[0], ints + 1, ints + 1 + m.rank};
}
} // namespace

extern "C" __attribute__((visibility("default"))) void
memrefCopy(int64_t elemSize, UnrankedMemRef *srcArg, UnrankedMemRef *dstArg) {
  int64_t rank = srcArg->rank;
  DescriptorView src = view(*srcArg), dst = view(*dstArg);
  for (int64_t d = 0; d < rank; ++d)
    if (src.sizes[d] == 0)
      return;
  if (rank == 0) {
    std::memcpy(dst.aligned + dst.offset * elemSize,
                src.aligned + src.offset * elemSize, elemSize);
    return;
  }
  // Walk the index space with an odometer; the innermost dimension is
  // copied in one memcpy when both sides are unit-stride there.
  int64_t index[64] = {0};
  if (rank > 64)
    return;
  int64_t last = rank - 1;
  bool contiguousInner = src.strides[last] == 1 && dst.strides[last] == 1;
  int64_t srcOffset = src.offset, dstOffset = dst.offset;
  while (true) {
    if (contiguousInner) {
      std::memcpy(dst.aligned + dstOffset * elemSize,
                  src.aligned + srcOffset * elemSize,
                  src.sizes[last] * elemSize);
    } else {
      for (int64_t i = 0; i < src.sizes[last]; ++i)
        std::memcpy(
            dst.aligned + (dstOffset + i * dst.strides[last]) * elemSize,
            src.aligned + (srcOffset + i * src.strides[last]) * elemSize,
            elemSize);
    }
    int64_t d = last - 1;
    for (; d >= 0; --d) {
      srcOffset += src.strides[d];
      dstOffset += dst.strides[d];
      if (++index[d] < src.sizes[d])
        break;
      srcOffset -= src.strides[d] * src.sizes[d];
      dstOffset -= dst.strides[d] * dst.sizes[d];
      index[d] = 0;
    }
    if (d < 0)
      return;
  }
}
