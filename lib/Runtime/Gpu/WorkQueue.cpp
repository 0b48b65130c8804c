//===- WorkQueue.cpp - queued GPU work, replayed from CUDA graphs ---------===//
//
// A decoding model run is dozens of small kernels, each costing a few
// microseconds of launch overhead against a few microseconds of work. A
// run's work is therefore queued (kernel parameters and host data copied
// as they are submitted) and issued when the host must wait: at a copy to
// the host or at the end of the run. A segment of queued work identical to
// one seen before (same kernels, grids, parameter bytes, device addresses
// and copy sizes; run-scoped allocations repeat their addresses, see
// allocate()) is captured once into a CUDA graph, which later repeats
// replay in one cuGraphLaunch. The host data of a replayed segment goes
// through a pinned staging buffer that the graph's copies read.
//
// The queue belongs to the thread inside a run: runs are serialised by a
// process-wide mutex held from parsimony_gpu_begin_run to _end_run. Work
// submitted outside a run goes straight to the stream.
//
//===----------------------------------------------------------------------===//

#include "GpuDriver.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <unordered_set>

namespace parsimony::gpu {
namespace {

/// Segments shorter than this are issued directly: a graph saves little.
constexpr size_t kMinReplayOps = 2;
/// Longest segment queued; longer work is issued in pieces.
constexpr size_t kMaxQueuedOps = 4096;
/// Graphs kept (least recently used ones are destroyed beyond this).
constexpr size_t kMaxGraphs = 64;
/// Segments remembered as seen once.
constexpr size_t kMaxSeen = 4096;
/// Alignment of parameters and host data in the queue's buffers.
constexpr size_t kAlign = 16;

struct Op {
  enum Kind : uint8_t { Launch, CopyToDevice, CopyOnDevice, Memset } kind;
  CUfunction function = nullptr;
  const char *what = "";
  unsigned grid[3] = {1, 1, 1}, block[3] = {1, 1, 1}, shared = 0;
  CUdeviceptr dst = 0, src = 0;
  size_t count = 0; // bytes of a copy, elements of a memset
  unsigned value = 0, elementBytes = 0;
  size_t firstParam = 0, numParams = 0; // into Queue::paramOffsets
  size_t dataOffset = 0;                // CopyToDevice: into hostData
};

struct Queue {
  std::vector<Op> ops;
  std::vector<size_t> paramOffsets;
  std::vector<unsigned char> paramBytes, hostData;
  // Everything that must match for a replay, as bytes (see enqueue).
  std::string key;

  void clear() {
    ops.clear();
    paramOffsets.clear();
    paramBytes.clear();
    hostData.clear();
    key.clear();
  }
  template <typename T> void addKey(const T &value) {
    key.append(reinterpret_cast<const char *>(&value), sizeof(T));
  }
  /// Appends `bytes` to `buffer` at an aligned offset, which it returns.
  static size_t append(std::vector<unsigned char> &buffer, const void *data,
                       size_t bytes) {
    size_t offset = (buffer.size() + kAlign - 1) / kAlign * kAlign;
    buffer.resize(offset + bytes);
    if (bytes)
      std::memcpy(buffer.data() + offset, data, bytes);
    return offset;
  }
};

struct Replay {
  CUgraphExec exec = nullptr; // null: capture failed, issue directly
  void *staging = nullptr;    // pinned: what the graph's host copies read
  size_t stagingBytes = 0;
  uint64_t launchedAt = UINT64_MAX; // sync epoch of the last launch
  uint64_t lastUse = 0;
};

struct Replays {
  std::unordered_map<std::string, Replay> graphs;
  std::unordered_set<size_t> seen;
  std::atomic<uint64_t> syncEpoch{0};
  uint64_t uses = 0;
  std::atomic<int64_t> captured{0}, replayed{0};
  // Parameter sizes of generated kernels (empty: unknown).
  std::mutex paramSizesMutex;
  std::unordered_map<CUfunction, std::vector<size_t>> paramSizes;
};

Queue &queue() {
  static Queue *q = new Queue;
  return *q;
}

Replays &replays() {
  static Replays *r = new Replays;
  return *r;
}

std::mutex &runMutex() {
  static std::mutex *m = new std::mutex;
  return *m;
}

thread_local bool holdsRun = false; // this thread is inside a run
thread_local bool queueing = false; // ... and queues its work

CUstream stream() { return state().stream; }

/// Launches kernel op `op` with the given parameter pointers.
CUresult launch(const Op &op, void **params, void **extra = nullptr) {
  return drv().cuLaunchKernel(op.function, op.grid[0], op.grid[1], op.grid[2],
                              op.block[0], op.block[1], op.block[2], op.shared,
                              stream(), params, extra);
}

/// Issues one op to the stream, a launch with its parameters from `q`; a
/// copy to the device reads `host`.
CUresult issue(const Queue &q, const Op &op, const void *host) {
  Driver &d = drv();
  switch (op.kind) {
  case Op::Launch: {
    std::vector<void *> params(op.numParams + 1, nullptr);
    for (size_t i = 0; i < op.numParams; ++i)
      params[i] = const_cast<unsigned char *>(
          q.paramBytes.data() + q.paramOffsets[op.firstParam + i]);
    return launch(op, params.data());
  }
  case Op::CopyToDevice:
    return d.cuMemcpyHtoDAsync(op.dst, host, op.count, stream());
  case Op::CopyOnDevice:
    return d.cuMemcpyDtoDAsync(op.dst, op.src, op.count, stream());
  case Op::Memset:
    if (op.elementBytes == 1)
      return d.cuMemsetD8Async(op.dst, static_cast<unsigned char>(op.value),
                               op.count, stream());
    if (op.elementBytes == 2)
      return d.cuMemsetD16Async(op.dst, static_cast<unsigned short>(op.value),
                                op.count, stream());
    return d.cuMemsetD32Async(op.dst, op.value, op.count, stream());
  }
  return CUDA_SUCCESS;
}

void issueDirectly(const Queue &q) {
  for (const Op &op : q.ops)
    if (!ok() ||
        !check(issue(q, op, q.hostData.data() + op.dataOffset), op.what))
      return;
}

void waitForStream() {
  check(drv().cuStreamSynchronize(stream()), "running the GPU work");
  ++replays().syncEpoch;
}

void destroy(Replay &r) {
  if (r.exec)
    drv().cuGraphExecDestroy(r.exec);
  if (r.staging)
    drv().cuMemFreeHost(r.staging);
  r = Replay();
}

/// Captures the queued segment into `r`; false (nothing issued) if the
/// driver refuses any step.
bool capture(const Queue &q, Replay &r) {
  Driver &d = drv();
  if (!q.hostData.empty()) {
    if (d.cuMemAllocHost(&r.staging, q.hostData.size()) != CUDA_SUCCESS)
      return false;
    r.stagingBytes = q.hostData.size();
  }
  CUresult result =
      d.cuStreamBeginCapture(stream(), CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
  if (result != CUDA_SUCCESS) {
    destroy(r);
    return false;
  }
  for (const Op &op : q.ops) {
    result = issue(q, op, static_cast<char *>(r.staging) + op.dataOffset);
    if (result != CUDA_SUCCESS)
      break;
  }
  CUgraph graph = nullptr;
  CUresult ended = d.cuStreamEndCapture(stream(), &graph);
  if (result == CUDA_SUCCESS)
    result = ended;
  if (result == CUDA_SUCCESS)
    result = d.cuGraphInstantiate(&r.exec, graph, 0);
  if (graph)
    d.cuGraphDestroy(graph);
  if (result != CUDA_SUCCESS) {
    r.exec = nullptr;
    destroy(r);
    return false;
  }
  return true;
}

/// Makes room for one more graph.
void evictOne(Replays &all) {
  if (all.graphs.size() < kMaxGraphs)
    return;
  auto oldest = std::min_element(all.graphs.begin(), all.graphs.end(),
                                 [](const auto &a, const auto &b) {
                                   return a.second.lastUse < b.second.lastUse;
                                 });
  waitForStream(); // its staging may still be read
  destroy(oldest->second);
  all.graphs.erase(oldest);
}

/// The graph for the queued segment: found, or captured now if the segment
/// was seen once before; null if it runs directly.
Replay *replayFor(const Queue &q) {
  if (q.ops.size() < kMinReplayOps)
    return nullptr;
  Replays &all = replays();
  auto it = all.graphs.find(q.key);
  if (it != all.graphs.end())
    return &it->second;
  size_t hash = std::hash<std::string>{}(q.key);
  if (all.seen.insert(hash).second) {
    if (all.seen.size() > kMaxSeen) {
      all.seen.clear();
      all.seen.insert(hash);
    }
    return nullptr;
  }
  evictOne(all);
  Replay r;
  if (capture(q, r))
    ++all.captured;
  return &all.graphs.emplace(q.key, r).first->second;
}

void flushQueue() {
  Queue &q = queue();
  if (!queueing || q.ops.empty())
    return;
  if (!ok()) {
    q.clear();
    return;
  }
  Replays &all = replays();
  Replay *r = replayFor(q);
  if (r && r->exec) {
    r->lastUse = ++all.uses;
    if (r->stagingBytes) {
      if (r->launchedAt == all.syncEpoch)
        waitForStream(); // the last launch may still read the staging
      std::memcpy(r->staging, q.hostData.data(), r->stagingBytes);
    }
    if (check(drv().cuGraphLaunch(r->exec, stream()), "cuGraphLaunch")) {
      r->launchedAt = all.syncEpoch;
      ++all.replayed;
    }
  } else {
    issueDirectly(q);
  }
  q.clear();
}

/// Queues `op`, copying the host data of a copy to the device and a
/// launch's parameters (`params[i]` points at `sizes[i]` bytes). The replay
/// key gets every field that reaches the driver except host addresses.
void enqueue(Queue &q, Op op, const void *host, void *const *params,
             const size_t *sizes) {
  if (op.kind == Op::CopyToDevice)
    op.dataOffset = Queue::append(q.hostData, host, op.count);
  q.addKey(op.kind);
  q.addKey(op.function);
  q.addKey(op.grid);
  q.addKey(op.block);
  q.addKey(op.shared);
  q.addKey(op.dst);
  q.addKey(op.src);
  q.addKey(op.count);
  q.addKey(op.value);
  q.addKey(op.elementBytes);
  q.addKey(op.numParams);
  op.firstParam = q.paramOffsets.size();
  for (size_t i = 0; i < op.numParams; ++i) {
    q.paramOffsets.push_back(Queue::append(q.paramBytes, params[i], sizes[i]));
    q.addKey(sizes[i]);
    q.key.append(static_cast<const char *>(params[i]), sizes[i]);
  }
  q.ops.push_back(op);
  if (q.ops.size() >= kMaxQueuedOps)
    flushQueue();
}

/// Queues `op` within a run; issues it now outside one.
void submit(const Op &op, const void *host = nullptr,
            void *const *params = nullptr, const size_t *sizes = nullptr) {
  if (queueing)
    enqueue(queue(), op, host, params, sizes);
  else if (op.kind == Op::Launch)
    check(launch(op, const_cast<void **>(params)), op.what);
  else
    check(issue(queue(), op, host), op.what);
}

Op launchOp(CUfunction function, const char *what, Dim3 grid, Dim3 block,
            unsigned sharedBytes) {
  Op op{Op::Launch};
  op.function = function;
  op.what = what;
  op.grid[0] = unsigned(grid.x), op.grid[1] = unsigned(grid.y);
  op.grid[2] = unsigned(grid.z);
  op.block[0] = unsigned(block.x), op.block[1] = unsigned(block.y);
  op.block[2] = unsigned(block.z);
  op.shared = sharedBytes;
  return op;
}

bool graphsEnabled() {
  if (!drv().cuStreamBeginCapture)
    return false;
  const char *env = std::getenv("PARSIMONY_GPU_GRAPHS");
  return !env || std::strcmp(env, "0") != 0;
}

} // namespace

void submitLaunch(CUfunction function, const char *what, Dim3 grid, Dim3 block,
                  unsigned sharedBytes, void *const *params,
                  const size_t *sizes, size_t count) {
  if (!function || !ok())
    return;
  Op op = launchOp(function, what, grid, block, sharedBytes);
  op.numParams = count;
  submit(op, nullptr, params, sizes);
}

void submitUnsizedLaunch(CUfunction function, const char *what, Dim3 grid,
                         Dim3 block, unsigned sharedBytes, void **params,
                         void **extra) {
  if (!function || !ok())
    return;
  flushQueue();
  check(
      launch(launchOp(function, what, grid, block, sharedBytes), params, extra),
      what);
}

void submitCopyToDevice(CUdeviceptr dst, const void *host, size_t bytes) {
  if (!bytes || !ok())
    return;
  // Outside a run the copy is issued now: pageable host memory is staged
  // before the call returns.
  Op op{Op::CopyToDevice};
  op.what = "copying to the GPU";
  op.dst = dst;
  op.count = bytes;
  submit(op, host);
}

void submitCopyOnDevice(CUdeviceptr dst, CUdeviceptr src, size_t bytes) {
  if (!bytes || !ok())
    return;
  Op op{Op::CopyOnDevice};
  op.what = "copying on the GPU";
  op.dst = dst;
  op.src = src;
  op.count = bytes;
  submit(op);
}

void submitMemset(CUdeviceptr dst, unsigned value, unsigned elementBytes,
                  size_t count) {
  if (!count || !ok())
    return;
  Op op{Op::Memset};
  op.what = "setting GPU memory";
  op.dst = dst;
  op.value = value;
  op.elementBytes = elementBytes;
  op.count = count;
  submit(op);
}

void copyToHost(void *host, CUdeviceptr src, size_t bytes) {
  if (!bytes || !ok())
    return;
  flushQueue();
  if (check(drv().cuMemcpyDtoHAsync(host, src, bytes, stream()),
            "copying from the GPU"))
    waitForStream();
}

void flushWork() { flushQueue(); }

void synchronize() {
  if (!state().stream)
    return;
  flushQueue();
  waitForStream();
}

bool inRun() { return holdsRun; }

void beginQueueing() {
  if (!holdsRun) {
    runMutex().lock();
    holdsRun = true;
  }
  queue().clear();
  queueing = graphsEnabled();
}

void endQueueing() {
  synchronize();
  queueing = false;
  if (holdsRun) {
    holdsRun = false;
    runMutex().unlock();
  }
}

ReplayCounts replayCounts() {
  Replays &all = replays();
  return {all.captured.load(), all.replayed.load()};
}

const size_t *generatedParamSizes(CUfunction function, size_t count) {
  Replays &all = replays();
  std::lock_guard<std::mutex> lock(all.paramSizesMutex);
  auto [it, fresh] = all.paramSizes.try_emplace(function);
  if (fresh && drv().cuFuncGetParamInfo) {
    for (size_t i = 0; i < count; ++i) {
      size_t offset = 0, size = 0;
      if (drv().cuFuncGetParamInfo(function, i, &offset, &size) !=
          CUDA_SUCCESS) {
        it->second.clear();
        break;
      }
      it->second.push_back(size);
    }
  }
  // Entries are never changed once made, and map nodes do not move.
  return it->second.size() == count && count ? it->second.data() : nullptr;
}

} // namespace parsimony::gpu
