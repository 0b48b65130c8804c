//===- EmulatedDriver.cpp - a CUDA driver that runs kernels on the host ---===//
//
// The slice of the CUDA driver API that lib/Runtime/Gpu/GpuRuntime.cpp
// uses, implemented over host memory and the SIMT emulator, built as a
// shared library whose soname is libcuda.so.1. A test executable linked
// against it has it loaded before the GPU runtime's dlopen("libcuda.so.1"),
// which then returns it: the runtime's launchers run unchanged, their
// kernels (GpuKernels.cu compiled as host C++) on fibers.
//
// "Device" memory is host memory, so a test passes host buffers to the
// parsimony_gpu_* launchers. A module's functions are the kernel library's
// kernels, plus, when its image is PTX text (a model compiled with
// --gpu-binary=ptx), the PTX's kernels, which PtxInterpreter runs. Other
// images (cubins, fatbins) load, but their own kernels are not found.
//
//===----------------------------------------------------------------------===//

#include "PtxInterpreter.h"
#include "SimtEmulator.h"

// The kernel library itself, compiled for the host.
#include "GpuKernels.cu"

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <utility>

namespace {

using CUresult = int;
using CUdeviceptr = unsigned long long;
constexpr CUresult CUDA_SUCCESS = 0;
constexpr CUresult CUDA_ERROR_INVALID_VALUE = 1;
constexpr CUresult CUDA_ERROR_OUT_OF_MEMORY = 2;
constexpr CUresult CUDA_ERROR_INVALID_PTX = 218;
constexpr CUresult CUDA_ERROR_NOT_FOUND = 500;
constexpr CUresult CUDA_ERROR_LAUNCH_FAILED = 719;

using Entry = std::function<void(void **)>;

template <typename... Args, size_t... I>
void callWith(void (*kernel)(Args...), void **params,
              std::index_sequence<I...>) {
  kernel(*static_cast<std::remove_reference_t<Args> *>(params[I])...);
}

/// Unpacks cuLaunchKernel's parameter array into the kernel's arguments.
template <typename... Args> Entry entry(void (*kernel)(Args...)) {
  return [kernel](void **params) {
    callWith(kernel, params, std::index_sequence_for<Args...>{});
  };
}

#define PARSIMONY_KERNEL(name)                                                 \
  { #name, entry(&name) }

const std::map<std::string, Entry> &kernels() {
  static const std::map<std::string, Entry> table = {
      PARSIMONY_KERNEL(parsimony_gpu_add_bias),
      PARSIMONY_KERNEL(parsimony_gpu_add_rows),
      PARSIMONY_KERNEL(parsimony_gpu_combine),
      PARSIMONY_KERNEL(parsimony_gpu_dispatch_plan),
      PARSIMONY_KERNEL(parsimony_gpu_expert_activation),
      PARSIMONY_KERNEL(parsimony_gpu_expert_hidden),
      PARSIMONY_KERNEL(parsimony_gpu_expert_matmul_mma),
      PARSIMONY_KERNEL(parsimony_gpu_expert_out),
      PARSIMONY_KERNEL(parsimony_gpu_ffn_hidden),
      PARSIMONY_KERNEL(parsimony_gpu_gather_rows),
      PARSIMONY_KERNEL(parsimony_gpu_init_rows),
      PARSIMONY_KERNEL(parsimony_gpu_matmul_columns),
      PARSIMONY_KERNEL(parsimony_gpu_matmul_mma),
      PARSIMONY_KERNEL(parsimony_gpu_matmul_warp),
      PARSIMONY_KERNEL(parsimony_gpu_predict_topk),
      PARSIMONY_KERNEL(parsimony_gpu_predictor_scores),
      PARSIMONY_KERNEL(parsimony_gpu_route),
      PARSIMONY_KERNEL(parsimony_gpu_row_experts),
      PARSIMONY_KERNEL(parsimony_gpu_scale),
      PARSIMONY_KERNEL(parsimony_gpu_sgemm_mma),
      PARSIMONY_KERNEL(parsimony_gpu_sgemm_rows),
      PARSIMONY_KERNEL(parsimony_gpu_sgemm_rows_nk),
      PARSIMONY_KERNEL(parsimony_gpu_sgemm_tiled),
      PARSIMONY_KERNEL(parsimony_gpu_sparse_rows),
      PARSIMONY_KERNEL(parsimony_gpu_support_ffn),
      PARSIMONY_KERNEL(parsimony_gpu_support_in),
      PARSIMONY_KERNEL(parsimony_gpu_support_mask),
      PARSIMONY_KERNEL(parsimony_gpu_support_out),
      PARSIMONY_KERNEL(parsimony_gpu_topk_activation),
      PARSIMONY_KERNEL(parsimony_gpu_topk_indices),
      PARSIMONY_KERNEL(parsimony_gpu_topk_rows),
  };
  return table;
}

struct Emulator {
  std::mutex mutex;
  std::set<CUdeviceptr> allocations;
  std::string lastFailure;
  int64_t launches = 0;
};

Emulator &emulator() {
  static Emulator *e = new Emulator;
  return *e;
}

/// A launchable function: a library kernel or a PTX kernel.
struct Function {
  const Entry *library = nullptr;
  const ptx::Kernel *ptx = nullptr;
};

struct Module {
  std::unique_ptr<ptx::Module> ptx;
  std::map<std::string, Function> functions;
};

/// Whether a module image is PTX text (NUL-terminated), not a binary.
bool isPtx(const void *image) {
  const char *p = static_cast<const char *>(image);
  for (size_t i = 0; i < 4096 && p[i]; ++i) {
    unsigned char c = static_cast<unsigned char>(p[i]);
    if (c != '\n' && c != '\t' && c != '\r' && (c < 32 || c > 126))
      return false;
    if (std::strncmp(p + i, ".version", 8) == 0)
      return true;
  }
  return false;
}

} // namespace

#define EXPORT extern "C" __attribute__((visibility("default")))

EXPORT CUresult cuInit(unsigned) { return CUDA_SUCCESS; }
EXPORT CUresult cuDeviceGetCount(int *count) {
  *count = 1;
  return CUDA_SUCCESS;
}
EXPORT CUresult cuDeviceGet(int *device, int ordinal) {
  if (ordinal != 0)
    return CUDA_ERROR_INVALID_VALUE;
  *device = 0;
  return CUDA_SUCCESS;
}
EXPORT CUresult cuDeviceGetAttribute(int *value, int attribute, int) {
  // Compute capability 9.0 (attributes 75 and 76).
  *value = attribute == 75 ? 9 : 0;
  return CUDA_SUCCESS;
}
EXPORT CUresult cuDevicePrimaryCtxRetain(void **context, int) {
  static int primary;
  *context = &primary;
  return CUDA_SUCCESS;
}
EXPORT CUresult cuCtxSetCurrent(void *) { return CUDA_SUCCESS; }
EXPORT CUresult cuCtxSynchronize() { return CUDA_SUCCESS; }

EXPORT CUresult cuModuleLoadData(void **module, const void *image) {
  if (!image)
    return CUDA_ERROR_INVALID_VALUE;
  auto m = std::make_unique<Module>();
  if (isPtx(image)) {
    std::string error;
    m->ptx = ptx::Module::parse(static_cast<const char *>(image), error);
    if (!m->ptx) {
      Emulator &e = emulator();
      std::lock_guard<std::mutex> lock(e.mutex);
      e.lastFailure = error;
      return CUDA_ERROR_INVALID_PTX;
    }
  }
  *module = m.release();
  return CUDA_SUCCESS;
}
EXPORT CUresult cuModuleUnload(void *module) {
  delete static_cast<Module *>(module);
  return CUDA_SUCCESS;
}
EXPORT CUresult cuModuleGetFunction(void **function, void *module,
                                    const char *name) {
  if (!module)
    return CUDA_ERROR_INVALID_VALUE;
  Module &m = *static_cast<Module *>(module);
  Function f;
  if (m.ptx)
    f.ptx = m.ptx->kernel(name);
  auto it = kernels().find(name);
  if (!f.ptx && it != kernels().end())
    f.library = &it->second;
  if (!f.ptx && !f.library)
    return CUDA_ERROR_NOT_FOUND;
  Emulator &e = emulator();
  std::lock_guard<std::mutex> lock(e.mutex);
  *function = &(m.functions[name] = f);
  return CUDA_SUCCESS;
}

EXPORT CUresult cuLaunchKernel(void *function, unsigned gx, unsigned gy,
                               unsigned gz, unsigned bx, unsigned by,
                               unsigned bz, unsigned sharedBytes, void *stream,
                               void **params, void **extra) {
  if (!function || extra || stream || sharedBytes)
    return CUDA_ERROR_INVALID_VALUE;
  const Function &f = *static_cast<const Function *>(function);
  std::string error =
      f.ptx ? ptx::launch(*f.ptx, {gx, gy, gz}, {bx, by, bz}, params)
            : simt::launch({gx, gy, gz}, {bx, by, bz},
                           [&] { (*f.library)(params); });
  Emulator &e = emulator();
  std::lock_guard<std::mutex> lock(e.mutex);
  ++e.launches;
  if (error.empty())
    return CUDA_SUCCESS;
  e.lastFailure = error;
  return CUDA_ERROR_LAUNCH_FAILED;
}

EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *ptr, size_t bytes) {
  void *p = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  if (!p)
    return CUDA_ERROR_OUT_OF_MEMORY;
  // Fresh device memory is not zero: make reads of unwritten memory show.
  std::memset(p, 0xff, bytes);
  Emulator &e = emulator();
  std::lock_guard<std::mutex> lock(e.mutex);
  *ptr = reinterpret_cast<CUdeviceptr>(p);
  e.allocations.insert(*ptr);
  return CUDA_SUCCESS;
}
EXPORT CUresult cuMemFree_v2(CUdeviceptr ptr) {
  Emulator &e = emulator();
  std::lock_guard<std::mutex> lock(e.mutex);
  if (!e.allocations.erase(ptr))
    return CUDA_ERROR_INVALID_VALUE;
  std::free(reinterpret_cast<void *>(ptr));
  return CUDA_SUCCESS;
}
EXPORT CUresult cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t bytes) {
  std::memmove(reinterpret_cast<void *>(dst), reinterpret_cast<void *>(src),
               bytes);
  return CUDA_SUCCESS;
}
EXPORT CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char v, size_t n) {
  std::memset(reinterpret_cast<void *>(dst), v, n);
  return CUDA_SUCCESS;
}
EXPORT CUresult cuMemsetD16_v2(CUdeviceptr dst, unsigned short v, size_t n) {
  auto *p = reinterpret_cast<unsigned short *>(dst);
  std::fill(p, p + n, v);
  return CUDA_SUCCESS;
}
EXPORT CUresult cuMemsetD32_v2(CUdeviceptr dst, unsigned v, size_t n) {
  auto *p = reinterpret_cast<unsigned *>(dst);
  std::fill(p, p + n, v);
  return CUDA_SUCCESS;
}

EXPORT CUresult cuGetErrorName(CUresult result, const char **name) {
  switch (result) {
  case CUDA_SUCCESS:
    *name = "CUDA_SUCCESS";
    break;
  case CUDA_ERROR_INVALID_VALUE:
    *name = "CUDA_ERROR_INVALID_VALUE";
    break;
  case CUDA_ERROR_OUT_OF_MEMORY:
    *name = "CUDA_ERROR_OUT_OF_MEMORY";
    break;
  case CUDA_ERROR_NOT_FOUND:
    *name = "CUDA_ERROR_NOT_FOUND";
    break;
  case CUDA_ERROR_LAUNCH_FAILED:
    *name = "CUDA_ERROR_LAUNCH_FAILED";
    break;
  case CUDA_ERROR_INVALID_PTX:
    *name = "CUDA_ERROR_INVALID_PTX";
    break;
  default:
    *name = "CUDA_ERROR_UNKNOWN";
  }
  return CUDA_SUCCESS;
}
EXPORT CUresult cuGetErrorString(CUresult result, const char **text) {
  if (result == CUDA_ERROR_LAUNCH_FAILED || result == CUDA_ERROR_INVALID_PTX) {
    Emulator &e = emulator();
    std::lock_guard<std::mutex> lock(e.mutex);
    *text = e.lastFailure.c_str();
    return CUDA_SUCCESS;
  }
  *text = "emulated CUDA driver";
  return CUDA_SUCCESS;
}

/// For tests: kernel launches since the process started.
EXPORT int64_t parsimony_emulator_launches() {
  Emulator &e = emulator();
  std::lock_guard<std::mutex> lock(e.mutex);
  return e.launches;
}

/// For tests: 1 if the emulator runs kernel `name`.
EXPORT int32_t parsimony_emulator_has_kernel(const char *name) {
  return kernels().count(name) ? 1 : 0;
}
