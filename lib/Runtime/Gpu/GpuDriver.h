//===- GpuDriver.h - the GPU runtime's view of the CUDA driver --*- C++ -*-===//
//
// Private to lib/Runtime/Gpu. The slice of the CUDA driver API the runtime
// uses (driver ABI, stable across versions; declared here so that building
// needs no CUDA headers), opened with dlopen, plus the runtime's shared
// state: errors, the caching allocator and the work queue of WorkQueue.cpp.
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_LIB_RUNTIME_GPU_GPUDRIVER_H
#define PARSIMONY_LIB_RUNTIME_GPU_GPUDRIVER_H

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace parsimony::gpu {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
struct CUctx_st;
struct CUmod_st;
struct CUfunc_st;
struct CUstream_st;
struct CUgraph_st;
struct CUgraphExec_st;
using CUcontext = CUctx_st *;
using CUmodule = CUmod_st *;
using CUfunction = CUfunc_st *;
using CUstream = CUstream_st *;
using CUgraph = CUgraph_st *;
using CUgraphExec = CUgraphExec_st *;
constexpr CUresult CUDA_SUCCESS = 0;
constexpr CUresult CUDA_ERROR_NO_BINARY_FOR_GPU = 209;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
constexpr unsigned CU_STREAM_NON_BLOCKING = 1;
constexpr int CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1;

struct Driver {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDeviceGetCount)(int *);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuModuleLoadData)(CUmodule *, const void *);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned,
                             unsigned, unsigned, unsigned, CUstream, void **,
                             void **);
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemAllocHost)(void **, size_t);
  CUresult (*cuMemFreeHost)(void *);
  CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream);
  CUresult (*cuMemcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream);
  CUresult (*cuMemcpyDtoDAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
  CUresult (*cuMemsetD8Async)(CUdeviceptr, unsigned char, size_t, CUstream);
  CUresult (*cuMemsetD16Async)(CUdeviceptr, unsigned short, size_t, CUstream);
  CUresult (*cuMemsetD32Async)(CUdeviceptr, unsigned, size_t, CUstream);
  CUresult (*cuStreamCreate)(CUstream *, unsigned);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuGetErrorName)(CUresult, const char **);
  CUresult (*cuGetErrorString)(CUresult, const char **);
  // Optional: without them runs are not replayed from CUDA graphs.
  CUresult (*cuFuncGetParamInfo)(CUfunction, size_t, size_t *, size_t *);
  CUresult (*cuStreamBeginCapture)(CUstream, int);
  CUresult (*cuStreamEndCapture)(CUstream, CUgraph *);
  CUresult (*cuGraphInstantiate)(CUgraphExec *, CUgraph, unsigned long long);
  CUresult (*cuGraphLaunch)(CUgraphExec, CUstream);
  CUresult (*cuGraphExecDestroy)(CUgraphExec);
  CUresult (*cuGraphDestroy)(CUgraph);
};

struct State {
  std::mutex mutex;
  bool initialised = false;
  Driver driver{};
  CUcontext context = nullptr;
  // The one stream all work goes to (non-blocking: graphs can capture it).
  CUstream stream = nullptr;
  int ccMajor = 0, ccMinor = 0;
  // Sticky: the driver or device cannot be used at all.
  std::string initError;
  // The first failure since the run began.
  std::string runError;
  CUmodule library = nullptr;
  std::unordered_map<std::string, CUfunction> functions;
  // Caching allocator: free blocks by exact size; live blocks' sizes; every
  // block the driver gave us (to tell device from host addresses).
  std::multimap<size_t, CUdeviceptr> freeBlocks;
  std::unordered_map<CUdeviceptr, size_t> liveBlocks;
  std::map<CUdeviceptr, size_t> deviceBlocks;
  // The block a run got by (allocation number, size), so that a run that
  // allocates as an earlier one did gets the same addresses (which lets
  // its work replay from a CUDA graph), also when runs of other shapes
  // come between.
  std::map<std::pair<size_t, size_t>, CUdeviceptr> runBlocks;
  size_t runAllocations = 0;
  // Live blocks the open run allocated (freed by
  // parsimony_gpu_release_run_buffers when a failed check ended it early).
  std::unordered_set<CUdeviceptr> runLive;
  // Zeroed counters for the kernels' last-block steps (they reset them).
  void *counters = nullptr;
  int64_t counterCount = 0;
  // Uploaded constants by (host address, size).
  std::map<std::pair<const void *, int64_t>, CUdeviceptr> constants;
};

State &state();
Driver &drv();
std::string describe(CUresult result);
/// Records `message` as the run's error unless one is recorded already.
void fail(const std::string &message);
/// No error so far (initialisation or run).
bool ok();
/// Records a failed driver call; returns whether `result` is success.
bool check(CUresult result, const char *what);
/// Opens the driver and the first device once; false with initError set
/// when there is none.
bool initialise();
/// Makes the context current on the calling thread.
bool enter();

/// Device memory from the caching allocator. Run-scoped blocks (the
/// generated code's buffers and launchers' scratch) are numbered within a
/// run so that repeated runs get the same addresses.
void *allocate(size_t bytes, bool runScoped = true);
void release(void *ptr);
/// Whether `ptr` lies in a block the driver allocated for us.
bool isDevicePointer(const void *ptr);

//===----------------------------------------------------------------------===//
// Work submission (WorkQueue.cpp). All device work goes to state().stream.
// Within a run it is queued and issued at the next point where the host
// waits (a copy to the host, the end of the run); a queued segment that
// repeats is captured once into a CUDA graph and replayed from it.
//===----------------------------------------------------------------------===//

struct Dim3 {
  int64_t x = 1, y = 1, z = 1;
};

/// A kernel launch; `params[i]` points at `sizes[i]` bytes (copied now).
void submitLaunch(CUfunction function, const char *what, Dim3 grid, Dim3 block,
                  unsigned sharedBytes, void *const *params,
                  const size_t *sizes, size_t count);
/// A launch whose parameter sizes are unknown: queued work is issued first
/// and the launch goes straight to the stream.
void submitUnsizedLaunch(CUfunction function, const char *what, Dim3 grid,
                         Dim3 block, unsigned sharedBytes, void **params,
                         void **extra);
/// Copies host bytes to the device; the host data is read now.
void submitCopyToDevice(CUdeviceptr dst, const void *host, size_t bytes);
void submitCopyOnDevice(CUdeviceptr dst, CUdeviceptr src, size_t bytes);
/// Fills `count` elements of `elementBytes` (1, 2 or 4) with `value`.
void submitMemset(CUdeviceptr dst, unsigned value, unsigned elementBytes,
                  size_t count);
/// Issues queued work, then copies device bytes to the host and waits.
void copyToHost(void *host, CUdeviceptr src, size_t bytes);
/// Issues queued work (without waiting).
void flushWork();
/// Issues queued work and waits for the stream.
void synchronize();
/// Whether the calling thread is inside a run.
bool inRun();
/// The parameter sizes of a generated kernel with `count` parameters, or
/// null if the driver does not tell them (cuFuncGetParamInfo); cached per
/// function.
const size_t *generatedParamSizes(CUfunction function, size_t count);
/// Run brackets for the calling thread: queueing starts and stops.
void beginQueueing();
void endQueueing();

/// Segments captured into graphs and graph launches since the process
/// started.
struct ReplayCounts {
  int64_t captured = 0, replayed = 0;
};
ReplayCounts replayCounts();

} // namespace parsimony::gpu

#endif // PARSIMONY_LIB_RUNTIME_GPU_GPUDRIVER_H
