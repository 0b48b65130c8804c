//===- ThreadPool.cpp - persistent worker pool for the runtime ------------===//

#include "ThreadPool.h"

#include <chrono>
#include <cstdlib>
#include <sched.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PARSIMONY_CPU_RELAX() _mm_pause()
#else
#define PARSIMONY_CPU_RELAX() std::this_thread::yield()
#endif

using namespace parsimony::runtime;

namespace {
/// True on pool workers and on a dispatcher while it runs tasks: nested
/// parallelFor calls then run inline instead of deadlocking on the pool.
thread_local bool InsideTask = false;

/// How long an idle worker polls for the next job before blocking. Long
/// enough to cover the gap between the back-to-back matmuls of one layer,
/// short enough not to steal a core from other processes for long.
constexpr std::chrono::microseconds SpinTime(200);
} // namespace

static std::atomic<ThreadPool *> CreatedPool{nullptr};

ThreadPool &ThreadPool::get() {
  static ThreadPool *Pool = [] {
    auto *pool = new ThreadPool();
    CreatedPool.store(pool, std::memory_order_release);
    return pool;
  }();
  return *Pool;
}

void ThreadPool::stopWorkers() {
  ThreadPool *pool = CreatedPool.load(std::memory_order_acquire);
  if (!pool)
    return;
  std::lock_guard<std::mutex> lock(pool->runMutex);
  pool->resize(1);
}

ThreadPool::ThreadPool() { resize(defaultNumThreads()); }

int ThreadPool::defaultNumThreads() {
  if (const char *env = std::getenv("PARSIMONY_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0)
      return n > 1024 ? 1024 : n;
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0)
      return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? int(hw) : 1;
}

void ThreadPool::setNumThreads(int n) {
  if (n <= 0)
    n = defaultNumThreads();
  if (n > 1024)
    n = 1024; // the job word holds the thread count in 16 bits
  std::lock_guard<std::mutex> lock(runMutex);
  if (n != getNumThreads())
    resize(n);
}

void ThreadPool::resize(int n) {
  if (!workers.empty()) {
    {
      std::lock_guard<std::mutex> lock(wakeMutex);
      stopping.store(true, std::memory_order_relaxed);
      generation.fetch_add(uint64_t(1) << 16, std::memory_order_release);
    }
    wakeCv.notify_all();
    for (std::thread &w : workers)
      w.join();
    workers.clear();
    stopping.store(false, std::memory_order_relaxed);
  }
  uint64_t gen = generation.load(std::memory_order_relaxed);
  for (int id = 1; id < n; ++id)
    workers.emplace_back([this, id, gen] {
      InsideTask = true;
      uint64_t seen = gen;
      while (true) {
        // Wait for the next generation: spin first, then block.
        auto start = std::chrono::steady_clock::now();
        unsigned polls = 0;
        while (generation.load(std::memory_order_acquire) == seen) {
          PARSIMONY_CPU_RELAX();
          if ((++polls & 255) == 0 &&
              std::chrono::steady_clock::now() - start > SpinTime) {
            std::unique_lock<std::mutex> lock(wakeMutex);
            wakeCv.wait(lock, [&] {
              return generation.load(std::memory_order_acquire) != seen;
            });
            break;
          }
        }
        seen = generation.load(std::memory_order_acquire);
        if (stopping.load(std::memory_order_relaxed))
          return;
        if (id < int(seen & 0xFFFF)) {
          runTasks(id);
          pendingWorkers.fetch_sub(1, std::memory_order_acq_rel);
        }
      }
    });
  numThreads.store(n, std::memory_order_relaxed);
}

void ThreadPool::runTasks(int thread) {
  while (true) {
    int64_t t = nextTask.fetch_add(1, std::memory_order_relaxed);
    if (t >= jobTasks)
      return;
    jobFn(jobCtx, t, thread);
  }
}

void ThreadPool::parallelFor(int64_t numTasks, int maxThreads, TaskFn fn,
                             void *ctx) {
  if (numTasks <= 0)
    return;
  int64_t threads = maxThreads < getNumThreads() ? maxThreads : getNumThreads();
  if (threads > numTasks)
    threads = numTasks;
  // Inline execution: one thread wanted, nested call, or pool busy with a
  // call from another thread.
  if (threads <= 1 || InsideTask || !runMutex.try_lock()) {
    bool wasInside = InsideTask;
    InsideTask = true;
    for (int64_t t = 0; t < numTasks; ++t)
      fn(ctx, t, 0);
    InsideTask = wasInside;
    return;
  }
  if (threads > int64_t(workers.size()) + 1)
    threads = int64_t(workers.size()) + 1;

  jobFn = fn;
  jobCtx = ctx;
  jobTasks = numTasks;
  nextTask.store(0, std::memory_order_relaxed);
  pendingWorkers.store(int(threads) - 1, std::memory_order_relaxed);
  {
    // Publishing under the mutex orders the job fields before the wake-up
    // of a blocked worker; spinning workers synchronise on `generation`.
    std::lock_guard<std::mutex> lock(wakeMutex);
    uint64_t next = ((generation.load(std::memory_order_relaxed) >> 16) + 1)
                    << 16;
    generation.store(next | uint64_t(threads), std::memory_order_release);
  }
  wakeCv.notify_all();

  InsideTask = true;
  runTasks(0);
  InsideTask = false;

  // Wait for the workers to finish their last task.
  unsigned polls = 0;
  while (pendingWorkers.load(std::memory_order_acquire) != 0) {
    PARSIMONY_CPU_RELAX();
    if (++polls > 4096)
      std::this_thread::yield();
  }
  runMutex.unlock();
}
