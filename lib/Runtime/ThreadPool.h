//===- ThreadPool.h - persistent worker pool for the runtime ----*- C++ -*-===//
//
// A small fork-join pool: the calling thread plus N-1 persistent workers run
// the tasks of one parallelFor, pulling task indices from a shared atomic
// counter (dynamic scheduling keeps both cores busy when one is slowed down
// by other processes). Idle workers spin briefly, then block on a condition
// variable. One parallelFor runs at a time; a call that finds the pool busy,
// or that comes from inside a task, runs its tasks inline on its own thread.
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_LIB_RUNTIME_THREADPOOL_H
#define PARSIMONY_LIB_RUNTIME_THREADPOOL_H

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace parsimony {
namespace runtime {

/// Task body: runs task `task` (in [0, numTasks)) on worker `thread` (in
/// [0, numThreads of this call)).
using TaskFn = void (*)(void *ctx, int64_t task, int thread);

class ThreadPool {
public:
  /// The process-wide pool (created on first use, never destroyed so that
  /// no worker is joined during static destruction).
  static ThreadPool &get();

  /// Threads a parallelFor may use, the caller included.
  int getNumThreads() const {
    return numThreads.load(std::memory_order_relaxed);
  }
  /// Sets the thread count; n <= 0 restores the default.
  void setNumThreads(int n);

  /// Joins the workers of the pool if it was ever created (the library
  /// holding their code is about to be unloaded). A later parallelFor runs
  /// on the calling thread only.
  static void stopWorkers();

  /// Runs fn(ctx, t, thread) for every t in [0, numTasks) on up to
  /// maxThreads threads and returns when all are done.
  void parallelFor(int64_t numTasks, int maxThreads, TaskFn fn, void *ctx);

  /// The default thread count: PARSIMONY_NUM_THREADS, else the number of
  /// CPUs in this process's affinity mask.
  static int defaultNumThreads();

private:
  ThreadPool();
  void resize(int n);
  void workerLoop(int id);
  void runTasks(int thread);

  std::atomic<int> numThreads{1};
  std::vector<std::thread> workers;

  /// Serialises parallelFor and resize.
  std::mutex runMutex;

  // Current job; written by the dispatcher before `generation` is bumped.
  TaskFn jobFn = nullptr;
  void *jobCtx = nullptr;
  int64_t jobTasks = 0;
  std::atomic<int64_t> nextTask{0};
  std::atomic<int> pendingWorkers{0};

  std::mutex wakeMutex;
  std::condition_variable wakeCv;
  /// Job word: (job counter << 16) | number of threads taking part. Workers
  /// decide whether they take part from this single atomic, so a worker that
  /// lags behind never reads the fields of a job being set up.
  std::atomic<uint64_t> generation{0};
  std::atomic<bool> stopping{false};
};

} // namespace runtime
} // namespace parsimony

#endif // PARSIMONY_LIB_RUNTIME_THREADPOOL_H
