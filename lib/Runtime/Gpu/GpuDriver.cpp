//===- GpuDriver.cpp - driver loading, errors and device memory -----------===//
//
// The driver is opened with dlopen so that nothing here needs a GPU to
// link or load; every driver call goes through check(), which records the
// first failure of a run and turns later work into no-ops instead of
// aborting the host process.
//
//===----------------------------------------------------------------------===//

#include "GpuDriver.h"

#include <dlfcn.h>

#include <algorithm>

namespace parsimony::gpu {

State &state() {
  static State *s = new State; // never destroyed: used from static dtors
  return *s;
}

Driver &drv() { return state().driver; }

std::string describe(CUresult result) {
  Driver &d = state().driver;
  const char *name = nullptr, *text = nullptr;
  if (d.cuGetErrorName)
    d.cuGetErrorName(result, &name);
  if (d.cuGetErrorString)
    d.cuGetErrorString(result, &text);
  std::string s = name ? name : "CUDA error " + std::to_string(result);
  if (text)
    s += std::string(" (") + text + ")";
  return s;
}

void fail(const std::string &message) {
  State &s = state();
  if (s.runError.empty())
    s.runError = message;
}

bool ok() {
  State &s = state();
  return s.initError.empty() && s.runError.empty();
}

bool check(CUresult result, const char *what) {
  if (result == CUDA_SUCCESS)
    return true;
  std::string message = std::string(what) + ": " + describe(result);
  State &s = state();
  if (result == CUDA_ERROR_NO_BINARY_FOR_GPU)
    message += "; this GPU is sm_" + std::to_string(s.ccMajor) +
               std::to_string(s.ccMinor) +
               ": recompile the model with --gpu-arch=sm_" +
               std::to_string(s.ccMajor) + std::to_string(s.ccMinor);
  fail(message);
  return false;
}

template <typename F>
static bool resolve(void *handle, const char *name, F &fn) {
  fn = reinterpret_cast<F>(dlsym(handle, name));
  return fn != nullptr;
}

bool initialise() {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.initialised)
    return s.initError.empty();
  s.initialised = true;
  void *handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    s.initError = "no CUDA driver (libcuda.so.1 not found): this model was "
                  "compiled for an NVIDIA GPU";
    return false;
  }
  Driver &d = s.driver;
  bool all =
      resolve(handle, "cuInit", d.cuInit) &&
      resolve(handle, "cuDeviceGetCount", d.cuDeviceGetCount) &&
      resolve(handle, "cuDeviceGet", d.cuDeviceGet) &&
      resolve(handle, "cuDeviceGetAttribute", d.cuDeviceGetAttribute) &&
      resolve(handle, "cuDevicePrimaryCtxRetain", d.cuDevicePrimaryCtxRetain) &&
      resolve(handle, "cuCtxSetCurrent", d.cuCtxSetCurrent) &&
      resolve(handle, "cuModuleLoadData", d.cuModuleLoadData) &&
      resolve(handle, "cuModuleUnload", d.cuModuleUnload) &&
      resolve(handle, "cuModuleGetFunction", d.cuModuleGetFunction) &&
      resolve(handle, "cuLaunchKernel", d.cuLaunchKernel) &&
      resolve(handle, "cuMemAlloc_v2", d.cuMemAlloc) &&
      resolve(handle, "cuMemFree_v2", d.cuMemFree) &&
      resolve(handle, "cuMemAllocHost_v2", d.cuMemAllocHost) &&
      resolve(handle, "cuMemFreeHost", d.cuMemFreeHost) &&
      resolve(handle, "cuMemcpyHtoDAsync_v2", d.cuMemcpyHtoDAsync) &&
      resolve(handle, "cuMemcpyDtoHAsync_v2", d.cuMemcpyDtoHAsync) &&
      resolve(handle, "cuMemcpyDtoDAsync_v2", d.cuMemcpyDtoDAsync) &&
      resolve(handle, "cuMemsetD8Async", d.cuMemsetD8Async) &&
      resolve(handle, "cuMemsetD16Async", d.cuMemsetD16Async) &&
      resolve(handle, "cuMemsetD32Async", d.cuMemsetD32Async) &&
      resolve(handle, "cuStreamCreate", d.cuStreamCreate) &&
      resolve(handle, "cuStreamSynchronize", d.cuStreamSynchronize) &&
      resolve(handle, "cuGetErrorName", d.cuGetErrorName) &&
      resolve(handle, "cuGetErrorString", d.cuGetErrorString);
  if (!all) {
    s.initError = "the CUDA driver lacks a required entry point";
    return false;
  }
  // Graph replay needs all of these (cuFuncGetParamInfo: CUDA 12.4).
  bool graphs =
      resolve(handle, "cuFuncGetParamInfo", d.cuFuncGetParamInfo) &&
      resolve(handle, "cuStreamBeginCapture_v2", d.cuStreamBeginCapture) &&
      resolve(handle, "cuStreamEndCapture", d.cuStreamEndCapture) &&
      resolve(handle, "cuGraphInstantiateWithFlags", d.cuGraphInstantiate) &&
      resolve(handle, "cuGraphLaunch", d.cuGraphLaunch) &&
      resolve(handle, "cuGraphExecDestroy", d.cuGraphExecDestroy) &&
      resolve(handle, "cuGraphDestroy", d.cuGraphDestroy);
  if (!graphs)
    d.cuStreamBeginCapture = nullptr;
  CUresult r = d.cuInit(0);
  int count = 0;
  if (r == CUDA_SUCCESS)
    r = d.cuDeviceGetCount(&count);
  if (r != CUDA_SUCCESS || count == 0) {
    s.initError = "no usable GPU: " +
                  (r != CUDA_SUCCESS ? describe(r) : std::string("0 devices"));
    return false;
  }
  CUdevice device;
  if ((r = d.cuDeviceGet(&device, 0)) != CUDA_SUCCESS ||
      (r = d.cuDevicePrimaryCtxRetain(&s.context, device)) != CUDA_SUCCESS ||
      (r = d.cuCtxSetCurrent(s.context)) != CUDA_SUCCESS ||
      (r = d.cuStreamCreate(&s.stream, CU_STREAM_NON_BLOCKING)) !=
          CUDA_SUCCESS) {
    s.initError = "cannot create a CUDA context: " + describe(r);
    return false;
  }
  d.cuDeviceGetAttribute(&s.ccMajor,
                         CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device);
  d.cuDeviceGetAttribute(&s.ccMinor,
                         CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device);
  return true;
}

bool enter() {
  if (!initialise())
    return false;
  thread_local CUcontext current = nullptr;
  State &s = state();
  if (current != s.context) {
    if (!check(s.driver.cuCtxSetCurrent(s.context), "cuCtxSetCurrent"))
      return false;
    current = s.context;
  }
  return true;
}

/// Bound on remembered (allocation number, size) pairs.
constexpr size_t kMaxRunBlocks = 1 << 16;

/// Takes a cached block of `bytes`, preferring `wanted`; 0 if none.
static CUdeviceptr takeCached(State &s, size_t bytes, CUdeviceptr wanted) {
  auto [first, last] = s.freeBlocks.equal_range(bytes);
  if (first == last)
    return 0;
  auto it = std::find_if(
      first, last, [&](const auto &block) { return block.second == wanted; });
  if (it == last)
    it = first;
  CUdeviceptr p = it->second;
  s.freeBlocks.erase(it);
  return p;
}

void *allocate(size_t bytes, bool runScoped) {
  if (!enter() || !ok())
    return nullptr;
  State &s = state();
  bytes = std::max<size_t>(bytes, 1);
  std::unique_lock<std::mutex> lock(s.mutex);
  // A run-scoped request asks for the block an earlier run got for the
  // same number and size, which is free again unless something took it.
  size_t number = runScoped && inRun() ? s.runAllocations++ : SIZE_MAX;
  auto numbered = s.runBlocks.find({number, bytes});
  CUdeviceptr wanted = numbered != s.runBlocks.end() ? numbered->second : 0;
  CUdeviceptr p = takeCached(s, bytes, wanted);
  if (!p) {
    CUresult r = drv().cuMemAlloc(&p, bytes);
    if (r != CUDA_SUCCESS) {
      // Out of memory: give the cache back (after the queued work that may
      // still use it) and try once more.
      lock.unlock();
      synchronize();
      lock.lock();
      for (auto &[size, block] : s.freeBlocks) {
        drv().cuMemFree(block);
        s.deviceBlocks.erase(block);
      }
      s.freeBlocks.clear();
      r = drv().cuMemAlloc(&p, bytes);
    }
    if (!check(r, "cuMemAlloc"))
      return nullptr;
    s.deviceBlocks[p] = bytes;
  }
  s.liveBlocks[p] = bytes;
  if (number != SIZE_MAX) {
    s.runLive.insert(p);
    if (s.runBlocks.size() >= kMaxRunBlocks)
      s.runBlocks.clear();
    s.runBlocks[{number, bytes}] = p;
  }
  return reinterpret_cast<void *>(p);
}

void release(void *ptr) {
  if (!ptr)
    return;
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  auto it = s.liveBlocks.find(reinterpret_cast<CUdeviceptr>(ptr));
  if (it == s.liveBlocks.end())
    return;
  // Work is ordered on one stream, so a later allocation that reuses the
  // block only touches it after the work that used it.
  s.freeBlocks.emplace(it->second, it->first);
  s.runLive.erase(it->first);
  s.liveBlocks.erase(it);
}

bool isDevicePointer(const void *ptr) {
  State &s = state();
  auto p = reinterpret_cast<CUdeviceptr>(ptr);
  std::lock_guard<std::mutex> lock(s.mutex);
  auto it = s.deviceBlocks.upper_bound(p);
  if (it == s.deviceBlocks.begin())
    return false;
  --it;
  return p < it->first + it->second;
}

} // namespace parsimony::gpu
