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
// Work runs when it is submitted, whatever the stream, except on a stream
// that is capturing: there it is recorded into a graph (parameters copied,
// host copies reading their source when the graph runs, as on a GPU), and
// calls that a GPU refuses during capture (allocation, launches on the
// legacy stream, waiting for the capturing stream) fail.
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
constexpr CUresult CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED = 900;

/// A library kernel: how to call it and its parameters' sizes.
struct Entry {
  std::function<void(void **)> call;
  std::vector<size_t> sizes;
};

template <typename... Args, size_t... I>
void callWith(void (*kernel)(Args...), void **params,
              std::index_sequence<I...>) {
  kernel(*static_cast<std::remove_reference_t<Args> *>(params[I])...);
}

/// Unpacks cuLaunchKernel's parameter array into the kernel's arguments.
template <typename... Args> Entry entry(void (*kernel)(Args...)) {
  return {[kernel](void **params) {
            callWith(kernel, params, std::index_sequence_for<Args...>{});
          },
          {sizeof(Args)...}};
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
      PARSIMONY_KERNEL(parsimony_gpu_quant_matmul_u8_columns),
      PARSIMONY_KERNEL(parsimony_gpu_quant_matmul_u8_mma),
      PARSIMONY_KERNEL(parsimony_gpu_quant_matmul_u8_mma_dequant),
      PARSIMONY_KERNEL(parsimony_gpu_quant_matmul_u8_warp),
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

/// One recorded step of a graph.
struct Node {
  enum Kind { Launch, Copy, Memset } kind;
  const void *function = nullptr;
  unsigned grid[3], block[3];
  std::vector<std::vector<char>> params;
  CUdeviceptr dst = 0, src = 0;
  size_t count = 0;
  unsigned value = 0, elementBytes = 0;
};

struct Graph {
  std::vector<Node> nodes;
};

struct Stream {
  Graph *capture = nullptr; // non-null while capturing
};

struct Emulator {
  std::mutex mutex;
  std::set<CUdeviceptr> allocations;
  std::string lastFailure;
  int64_t launches = 0, graphLaunches = 0;
  int capturing = 0; // streams capturing now
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

namespace {

/// The parameter sizes of a launchable function.
const std::vector<size_t> parameterSizes(const Function &f) {
  if (f.library)
    return f.library->sizes;
  const std::vector<unsigned> &sizes = ptx::parameterSizes(*f.ptx);
  return {sizes.begin(), sizes.end()};
}

CUresult run(const Function &f, unsigned gx, unsigned gy, unsigned gz,
             unsigned bx, unsigned by, unsigned bz, void **params) {
  std::string error =
      f.ptx ? ptx::launch(*f.ptx, {gx, gy, gz}, {bx, by, bz}, params)
            : simt::launch({gx, gy, gz}, {bx, by, bz},
                           [&] { f.library->call(params); });
  Emulator &e = emulator();
  std::lock_guard<std::mutex> lock(e.mutex);
  ++e.launches;
  if (error.empty())
    return CUDA_SUCCESS;
  e.lastFailure = error;
  return CUDA_ERROR_LAUNCH_FAILED;
}

void copy(CUdeviceptr dst, CUdeviceptr src, size_t bytes) {
  std::memmove(reinterpret_cast<void *>(dst), reinterpret_cast<void *>(src),
               bytes);
}

void fill(CUdeviceptr dst, unsigned value, unsigned elementBytes,
          size_t count) {
  if (elementBytes == 1)
    std::memset(reinterpret_cast<void *>(dst), int(value), count);
  else if (elementBytes == 2)
    std::fill_n(reinterpret_cast<unsigned short *>(dst), count,
                static_cast<unsigned short>(value));
  else
    std::fill_n(reinterpret_cast<unsigned *>(dst), count, value);
}

/// Runs a graph node.
CUresult replay(const Node &n) {
  switch (n.kind) {
  case Node::Launch: {
    std::vector<void *> params;
    for (const std::vector<char> &p : n.params)
      params.push_back(const_cast<char *>(p.data()));
    return run(*static_cast<const Function *>(n.function), n.grid[0], n.grid[1],
               n.grid[2], n.block[0], n.block[1], n.block[2], params.data());
  }
  case Node::Copy:
    copy(n.dst, n.src, n.count);
    return CUDA_SUCCESS;
  case Node::Memset:
    fill(n.dst, n.value, n.elementBytes, n.count);
    return CUDA_SUCCESS;
  }
  return CUDA_ERROR_INVALID_VALUE;
}

/// The graph `stream` is capturing into, or null.
Graph *capturing(void *stream) {
  return stream ? static_cast<Stream *>(stream)->capture : nullptr;
}

/// Whether any stream is capturing (calls outside streams are refused).
bool anyCapturing() {
  Emulator &e = emulator();
  std::lock_guard<std::mutex> lock(e.mutex);
  return e.capturing > 0;
}

} // namespace

EXPORT CUresult cuLaunchKernel(void *function, unsigned gx, unsigned gy,
                               unsigned gz, unsigned bx, unsigned by,
                               unsigned bz, unsigned sharedBytes, void *stream,
                               void **params, void **extra) {
  if (!function || extra || sharedBytes)
    return CUDA_ERROR_INVALID_VALUE;
  const Function &f = *static_cast<const Function *>(function);
  if (!stream && anyCapturing())
    return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  if (Graph *g = capturing(stream)) {
    Node n{Node::Launch};
    n.function = &f;
    unsigned grid[3] = {gx, gy, gz}, block[3] = {bx, by, bz};
    std::copy(grid, grid + 3, n.grid);
    std::copy(block, block + 3, n.block);
    std::vector<size_t> sizes = parameterSizes(f);
    for (size_t i = 0; i < sizes.size(); ++i) {
      const char *p = static_cast<const char *>(params[i]);
      n.params.emplace_back(p, p + sizes[i]);
    }
    g->nodes.push_back(std::move(n));
    return CUDA_SUCCESS;
  }
  return run(f, gx, gy, gz, bx, by, bz, params);
}

EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *ptr, size_t bytes) {
  if (anyCapturing())
    return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
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
namespace {

/// A copy on `stream`: recorded if it is capturing.
CUresult copyOn(void *stream, CUdeviceptr dst, CUdeviceptr src, size_t bytes) {
  if (Graph *g = capturing(stream)) {
    Node n{Node::Copy};
    n.dst = dst;
    n.src = src;
    n.count = bytes;
    g->nodes.push_back(std::move(n));
    return CUDA_SUCCESS;
  }
  copy(dst, src, bytes);
  return CUDA_SUCCESS;
}

CUresult fillOn(void *stream, CUdeviceptr dst, unsigned value,
                unsigned elementBytes, size_t count) {
  if (Graph *g = capturing(stream)) {
    Node n{Node::Memset};
    n.dst = dst;
    n.value = value;
    n.elementBytes = elementBytes;
    n.count = count;
    g->nodes.push_back(std::move(n));
    return CUDA_SUCCESS;
  }
  fill(dst, value, elementBytes, count);
  return CUDA_SUCCESS;
}

CUdeviceptr address(const void *p) { return reinterpret_cast<CUdeviceptr>(p); }

} // namespace

EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src,
                                     size_t bytes, void *stream) {
  return copyOn(stream, dst, address(src), bytes);
}
EXPORT CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t bytes,
                                     void *stream) {
  return copyOn(stream, address(dst), src, bytes);
}
EXPORT CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src,
                                     size_t bytes, void *stream) {
  return copyOn(stream, dst, src, bytes);
}
EXPORT CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char v, size_t n,
                                void *stream) {
  return fillOn(stream, dst, v, 1, n);
}
EXPORT CUresult cuMemsetD16Async(CUdeviceptr dst, unsigned short v, size_t n,
                                 void *stream) {
  return fillOn(stream, dst, v, 2, n);
}
EXPORT CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned v, size_t n,
                                 void *stream) {
  return fillOn(stream, dst, v, 4, n);
}

EXPORT CUresult cuMemAllocHost_v2(void **ptr, size_t bytes) {
  *ptr = std::malloc(std::max<size_t>(bytes, 1));
  return *ptr ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}
EXPORT CUresult cuMemFreeHost(void *ptr) {
  std::free(ptr);
  return CUDA_SUCCESS;
}

EXPORT CUresult cuFuncGetParamInfo(void *function, size_t index, size_t *offset,
                                   size_t *size) {
  if (!function)
    return CUDA_ERROR_INVALID_VALUE;
  std::vector<size_t> sizes =
      parameterSizes(*static_cast<const Function *>(function));
  if (index >= sizes.size())
    return CUDA_ERROR_INVALID_VALUE;
  // Offsets as the driver lays parameters out: each at its own alignment.
  size_t at = 0;
  for (size_t i = 0; i <= index; ++i) {
    size_t align = std::min<size_t>(sizes[i], 8);
    at = (at + align - 1) / align * align;
    if (i < index)
      at += sizes[i];
  }
  *offset = at;
  *size = sizes[index];
  return CUDA_SUCCESS;
}

EXPORT CUresult cuStreamCreate(void **stream, unsigned) {
  *stream = new Stream;
  return CUDA_SUCCESS;
}
EXPORT CUresult cuStreamSynchronize(void *stream) {
  return capturing(stream) ? CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED
                           : CUDA_SUCCESS;
}
EXPORT CUresult cuStreamBeginCapture_v2(void *stream, int) {
  if (!stream || capturing(stream))
    return CUDA_ERROR_INVALID_VALUE;
  static_cast<Stream *>(stream)->capture = new Graph;
  Emulator &e = emulator();
  std::lock_guard<std::mutex> lock(e.mutex);
  ++e.capturing;
  return CUDA_SUCCESS;
}
EXPORT CUresult cuStreamEndCapture(void *stream, void **graph) {
  Graph *g = capturing(stream);
  if (!g)
    return CUDA_ERROR_INVALID_VALUE;
  static_cast<Stream *>(stream)->capture = nullptr;
  *graph = g;
  Emulator &e = emulator();
  std::lock_guard<std::mutex> lock(e.mutex);
  --e.capturing;
  return CUDA_SUCCESS;
}
EXPORT CUresult cuGraphInstantiateWithFlags(void **exec, void *graph,
                                            unsigned long long) {
  if (!graph)
    return CUDA_ERROR_INVALID_VALUE;
  *exec = new Graph(*static_cast<Graph *>(graph));
  return CUDA_SUCCESS;
}
EXPORT CUresult cuGraphLaunch(void *exec, void *stream) {
  if (!exec || capturing(stream))
    return CUDA_ERROR_INVALID_VALUE;
  for (const Node &n : static_cast<Graph *>(exec)->nodes)
    if (CUresult r = replay(n))
      return r;
  Emulator &e = emulator();
  std::lock_guard<std::mutex> lock(e.mutex);
  ++e.graphLaunches;
  return CUDA_SUCCESS;
}
EXPORT CUresult cuGraphExecDestroy(void *exec) {
  delete static_cast<Graph *>(exec);
  return CUDA_SUCCESS;
}
EXPORT CUresult cuGraphDestroy(void *graph) {
  delete static_cast<Graph *>(graph);
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
  case CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED:
    *name = "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED";
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

/// For tests: graph launches since the process started.
EXPORT int64_t parsimony_emulator_graph_launches() {
  Emulator &e = emulator();
  std::lock_guard<std::mutex> lock(e.mutex);
  return e.graphLaunches;
}

/// For tests: 1 if the emulator runs kernel `name`.
EXPORT int32_t parsimony_emulator_has_kernel(const char *name) {
  return kernels().count(name) ? 1 : 0;
}
