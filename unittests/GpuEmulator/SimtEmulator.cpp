//===- SimtEmulator.cpp - fibers for the threads of a GPU block -----------===//
//
// See SimtEmulator.h. A block's threads are ucontext fibers scheduled in
// sweeps: each sweep runs every runnable fiber until it reaches a
// synchronisation point or returns; then a warp whose live lanes all wait
// at a warp intrinsic completes it, or, if none can, a block barrier that
// every live thread has reached opens. Anything else is a deadlock.
//
//===----------------------------------------------------------------------===//

#define SIMT_IMPLEMENTATION
#include "SimtEmulator.h"

#include <ucontext.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

namespace simt {
namespace {

constexpr size_t kStackBytes = 256 * 1024;
constexpr unsigned kMaxThreads = 1024;

enum class State { Runnable, AtBarrier, AtWarpOp, Done };

struct Fiber {
  ucontext_t context;
  std::unique_ptr<char[]> stack;
  Dim3 thread;
  State state = State::Done;
  // The pending warp intrinsic.
  WarpOp op = WarpOp::ShuffleXor;
  unsigned mask = 0;
  uint64_t value = 0;
  int arg = 0;
  uint64_t result = 0;
};

struct Launch {
  Dim3 grid, block, blockIdx;
  const std::function<void()> *body = nullptr;
  std::vector<Fiber> fibers;
  Fiber *current = nullptr;
  ucontext_t scheduler;
  std::string error;
};

// The launch in progress on this OS thread (launches do not nest).
thread_local Launch *active = nullptr;

Launch &launchInProgress() {
  if (!active) {
    std::fprintf(stderr, "simt: CUDA device code called outside a launch\n");
    std::abort();
  }
  return *active;
}

void fiberEntry() {
  Launch &l = *active;
  (*l.body)();
  l.current->state = State::Done;
  // uc_link returns to the scheduler.
}

/// Switches from the running fiber back to the scheduler.
void yieldToScheduler() {
  Launch &l = launchInProgress();
  Fiber *self = l.current;
  swapcontext(&self->context, &l.scheduler);
}

const char *opName(WarpOp op) {
  switch (op) {
  case WarpOp::ShuffleXor:
    return "__shfl_xor_sync";
  case WarpOp::ShuffleUp:
    return "__shfl_up_sync";
  case WarpOp::ShuffleDown:
    return "__shfl_down_sync";
  case WarpOp::ShuffleIndex:
    return "__shfl_sync";
  case WarpOp::MatchAny:
    return "__match_any_sync";
  case WarpOp::Ballot:
    return "__ballot_sync";
  case WarpOp::MmaTf32:
    return "mma.sync.m16n8k8.tf32";
  }
  return "?";
}

std::string where(const Launch &l, unsigned thread) {
  return "block (" + std::to_string(l.blockIdx.x) + ", " +
         std::to_string(l.blockIdx.y) + ", " + std::to_string(l.blockIdx.z) +
         ") thread " + std::to_string(thread);
}

/// mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 over the fragments
/// the 32 lanes deposited (value: a MmaTf32Fragment *). Lane l = 4g + t
/// holds A(g + 8i, t + 4j) in a[i + 2j], B(t + 4j, g) in b[j] and
/// D(g + 8i, 2t + j) in d[2i + j].
bool completeMma(Launch &l, unsigned first, unsigned live, Fiber **lane) {
  if (live != 0xffffffffu) {
    l.error = where(l, first) +
              ": mma.sync with fewer than 32 live lanes in the warp";
    return false;
  }
  MmaTf32Fragment *frag[32];
  for (unsigned i = 0; i < 32; ++i)
    frag[i] = reinterpret_cast<MmaTf32Fragment *>(lane[i]->value);
  auto tf32 = [](uint32_t b) { return fromBits<float>(b & 0xffffe000u); };
  auto a = [&](int row, int k) {
    return tf32(frag[row % 8 * 4 + k % 4]->a[row / 8 + 2 * (k / 4)]);
  };
  auto b = [&](int k, int n) { return tf32(frag[n * 4 + k % 4]->b[k / 4]); };
  float d[32][4];
  for (int i = 0; i < 32; ++i)
    for (int r = 0; r < 4; ++r) {
      int row = i / 4 + 8 * (r / 2), col = 2 * (i % 4) + r % 2;
      float acc = frag[i]->d[r];
      for (int k = 0; k < 8; ++k)
        acc = std::fma(a(row, k), b(k, col), acc);
      d[i][r] = acc;
    }
  for (unsigned i = 0; i < 32; ++i) {
    std::copy(d[i], d[i] + 4, frag[i]->d);
    lane[i]->state = State::Runnable;
  }
  return true;
}

/// Completes the warp intrinsic that lanes [first, first + lanes) wait at.
/// Returns false (and sets the error) on misuse.
bool completeWarpOp(Launch &l, unsigned first, unsigned lanes) {
  Fiber *lane[32] = {};
  unsigned live = 0;
  for (unsigned i = 0; i < lanes; ++i) {
    Fiber &f = l.fibers[first + i];
    if (f.state == State::AtWarpOp) {
      lane[i] = &f;
      live |= 1u << i;
    }
  }
  const Fiber &lead = *lane[__builtin_ctz(live)];
  for (unsigned i = 0; i < 32; ++i) {
    if (!(live >> i & 1))
      continue;
    if (lane[i]->op != lead.op) {
      l.error = where(l, first + i) + " is at " + opName(lane[i]->op) +
                " while its warp is at " + opName(lead.op) +
                " (divergent warp-synchronous calls)";
      return false;
    }
    if (lane[i]->mask != live) {
      l.error = where(l, first + i) + ": " + opName(lead.op) +
                " with a mask that names lanes that have exited or do not "
                "exist, or leaves out live lanes (mask " +
                std::to_string(lane[i]->mask) + ", live lanes " +
                std::to_string(live) + ")";
      return false;
    }
  }
  if (lead.op == WarpOp::MmaTf32)
    return completeMma(l, first, live, lane);
  for (unsigned i = 0; i < 32; ++i) {
    if (!(live >> i & 1))
      continue;
    Fiber &f = *lane[i];
    int source = -1;
    switch (f.op) {
    case WarpOp::ShuffleXor:
      source = int(i) ^ f.arg;
      break;
    case WarpOp::ShuffleUp:
      source = int(i) - f.arg >= 0 ? int(i) - f.arg : int(i);
      break;
    case WarpOp::ShuffleDown:
      source = int(i) + f.arg < 32 ? int(i) + f.arg : int(i);
      break;
    case WarpOp::ShuffleIndex:
      source = f.arg & 31;
      break;
    case WarpOp::MatchAny: {
      unsigned peers = 0;
      for (unsigned j = 0; j < 32; ++j)
        if ((live >> j & 1) && lane[j]->value == f.value)
          peers |= 1u << j;
      f.result = peers;
      break;
    }
    case WarpOp::Ballot: {
      unsigned votes = 0;
      for (unsigned j = 0; j < 32; ++j)
        if ((live >> j & 1) && lane[j]->value)
          votes |= 1u << j;
      f.result = votes;
      break;
    }
    case WarpOp::MmaTf32: // completeMma
      break;
    }
    if (source >= 0) {
      if (source > 31 || !(live >> source & 1)) {
        l.error = where(l, first + i) + ": " + opName(f.op) + " reads lane " +
                  std::to_string(source) +
                  ", which has exited or does not exist";
        return false;
      }
      f.result = lane[source]->value;
    }
  }
  for (unsigned i = 0; i < 32; ++i)
    if (live >> i & 1)
      lane[i]->state = State::Runnable;
  return true;
}

/// Runs one block to completion; false on a deadlock or misuse.
///
/// Between two block barriers, warps run one at a time, each through all
/// of its warp-synchronous calls up to the next barrier, first to last in
/// one phase and last to first in the next (lanes likewise): a legal but
/// adversarial schedule, under which a read of another warp's (or lane's)
/// write that no barrier orders sees the old value in some phase.
bool runBlock(Launch &l) {
  unsigned threads = l.block.x * l.block.y * l.block.z;
  for (unsigned t = 0; t < threads; ++t) {
    Fiber &f = l.fibers[t];
    f.thread = {t % l.block.x, t / l.block.x % l.block.y,
                t / (l.block.x * l.block.y)};
    f.state = State::Runnable;
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = f.stack.get();
    f.context.uc_stack.ss_size = kStackBytes;
    f.context.uc_link = &l.scheduler;
    makecontext(&f.context, fiberEntry, 0);
  }
  unsigned warps = (threads + 31) / 32;
  bool backward = false;
  for (;;) {
    for (unsigned n = 0; n < warps; ++n) {
      unsigned first = 32 * (backward ? warps - 1 - n : n);
      unsigned lanes = std::min(32u, threads - first);
      for (;;) {
        for (unsigned i = 0; i < lanes; ++i) {
          Fiber &f = l.fibers[first + (backward ? lanes - 1 - i : i)];
          if (f.state != State::Runnable)
            continue;
          l.current = &f;
          swapcontext(&l.scheduler, &f.context);
        }
        bool atWarpOp = false, atBarrier = false;
        for (unsigned i = 0; i < lanes; ++i) {
          State s = l.fibers[first + i].state;
          atWarpOp |= s == State::AtWarpOp;
          atBarrier |= s == State::AtBarrier;
        }
        if (!atWarpOp)
          break;
        if (atBarrier) {
          for (unsigned i = 0; i < lanes; ++i)
            if (l.fibers[first + i].state == State::AtWarpOp) {
              l.error = where(l, first + i) + " waits at " +
                        opName(l.fibers[first + i].op) +
                        " while other lanes of its warp wait at "
                        "__syncthreads (deadlock)";
              return false;
            }
        }
        if (!completeWarpOp(l, first, lanes))
          return false;
      }
    }
    backward = !backward;
    bool anyLive = false;
    for (unsigned t = 0; t < threads; ++t)
      if (l.fibers[t].state == State::AtBarrier) {
        l.fibers[t].state = State::Runnable;
        anyLive = true;
      }
    if (!anyLive)
      return true;
  }
}

} // namespace

const Dim3 &threadIndex() { return launchInProgress().current->thread; }
const Dim3 &blockIndex() { return launchInProgress().blockIdx; }
const Dim3 &blockDimension() { return launchInProgress().block; }
const Dim3 &gridDimension() { return launchInProgress().grid; }

void blockBarrier() {
  launchInProgress().current->state = State::AtBarrier;
  yieldToScheduler();
}

uint64_t warpExchange(WarpOp op, unsigned mask, uint64_t value, int arg) {
  Fiber &f = *launchInProgress().current;
  f.op = op;
  f.mask = mask;
  f.value = value;
  f.arg = arg;
  f.state = State::AtWarpOp;
  yieldToScheduler();
  return f.result;
}

void warpMmaTf32(MmaTf32Fragment &lane) {
  warpExchange(WarpOp::MmaTf32, 0xffffffffu,
               uint64_t(reinterpret_cast<uintptr_t>(&lane)), 0);
}

std::string launch(Dim3 grid, Dim3 block, const std::function<void()> &body) {
  uint64_t threads = uint64_t(block.x) * block.y * block.z;
  if (threads == 0 || threads > kMaxThreads)
    return "invalid block size " + std::to_string(threads);
  if (active)
    return "nested launch";
  // Fibers and their stacks are kept for the next launch.
  static thread_local std::vector<Fiber> pool;
  if (pool.size() < threads) {
    pool.resize(threads);
    for (Fiber &f : pool)
      if (!f.stack)
        f.stack.reset(new char[kStackBytes]);
  }
  Launch l;
  l.grid = grid;
  l.block = block;
  l.body = &body;
  l.fibers.swap(pool);
  active = &l;
  bool good = true;
  for (unsigned z = 0; z < grid.z && good; ++z)
    for (unsigned y = 0; y < grid.y && good; ++y)
      for (unsigned x = 0; x < grid.x && good; ++x) {
        l.blockIdx = {x, y, z};
        good = runBlock(l);
      }
  active = nullptr;
  l.fibers.swap(pool);
  return l.error;
}

} // namespace simt
