//===- ParallelLoopsToGpu.cpp - host loop nests to gpu.launch -------------===//
//
// Upstream's --convert-parallel-loops-to-gpu maps loop dimensions onto grid
// and block dimensions one by one, which needs a mapping attribute per
// loop and caps every dimension at the hardware's limits. Loop nests coming
// from linalg are simpler to run as one flat iteration space: one thread per
// iteration, the induction variables recovered by delinearization.
//
//===----------------------------------------------------------------------===//

#include "parsimony/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"

namespace parsimony {
#define GEN_PASS_DEF_PARALLELLOOPSTOGPU
#include "parsimony/Conversion/Passes.h.inc"
} // namespace parsimony

using namespace mlir;

namespace {

/// Creates a 1-D launch of `blocks` x `threads` before `before`; returns it
/// with the builder's insertion point before its terminator.
gpu::LaunchOp createLaunch(OpBuilder &b, Location loc, Value blocks,
                           Value threads) {
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  auto launch =
      gpu::LaunchOp::create(b, loc, blocks, one, one, threads, one, one);
  b.setInsertionPointToEnd(&launch.getBody().front());
  gpu::TerminatorOp::create(b, loc);
  b.setInsertionPointToStart(&launch.getBody().front());
  return launch;
}

/// Whether `op` reads or writes a buffer outside any kernel.
bool accessesMemory(Operation *op) {
  WalkResult result = op->walk([](Operation *nested) {
    if (isa<gpu::LaunchOp>(nested))
      return WalkResult::skip();
    if (isa<memref::LoadOp, memref::StoreOp, vector::LoadOp, vector::StoreOp,
            vector::TransferReadOp, vector::TransferWriteOp,
            memref::AtomicRMWOp, memref::GenericAtomicRMWOp>(nested))
      return WalkResult::interrupt();
    return WalkResult::advance();
  });
  return result.wasInterrupted();
}

struct ParallelLoopsToGpuPass
    : parsimony::impl::ParallelLoopsToGpuBase<ParallelLoopsToGpuPass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (blockSize <= 0 || blockSize > 1024) {
      func.emitError("block-size must be in [1, 1024], got ") << blockSize;
      return signalPassFailure();
    }
    SmallVector<scf::ParallelOp> loops;
    func.walk<WalkOrder::PreOrder>([&](Operation *op) {
      if (isa<gpu::LaunchOp>(op))
        return WalkResult::skip();
      if (auto loop = dyn_cast<scf::ParallelOp>(op)) {
        loops.push_back(loop);
        return WalkResult::skip();
      }
      return WalkResult::advance();
    });
    for (scf::ParallelOp loop : loops)
      if (failed(convertLoop(loop)))
        return signalPassFailure();

    // What is left on the host and touches buffers runs in one thread.
    for (Block &block : func.getBody())
      for (Operation &op : llvm::make_early_inc_range(block)) {
        if (isa<gpu::LaunchOp>(op) || !accessesMemory(&op))
          continue;
        if (!op.use_empty()) {
          op.emitError("parsimony-parallel-loops-to-gpu: the host needs "
                       "this value computed from device memory");
          return signalPassFailure();
        }
        OpBuilder b(&op);
        Value one = arith::ConstantIndexOp::create(b, op.getLoc(), 1);
        auto launch = createLaunch(b, op.getLoc(), one, one);
        op.moveBefore(launch.getBody().front().getTerminator());
      }
  }

  LogicalResult convertLoop(scf::ParallelOp loop) {
    if (loop.getNumResults() != 0)
      return loop.emitError("parsimony-parallel-loops-to-gpu: parallel "
                            "reductions are not supported");
    Location loc = loop.getLoc();
    OpBuilder b(loop);
    // Trip count of each dimension, and their product.
    SmallVector<Value> counts;
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    Value total = arith::ConstantIndexOp::create(b, loc, 1);
    for (auto [lb, ub, step] : llvm::zip(
             loop.getLowerBound(), loop.getUpperBound(), loop.getStep())) {
      Value span = arith::SubIOp::create(b, loc, ub, lb);
      Value count = arith::CeilDivSIOp::create(b, loc, span, step);
      count = arith::MaxSIOp::create(b, loc, count, zero);
      counts.push_back(count);
      total = arith::MulIOp::create(b, loc, total, count);
    }
    Value threads = arith::ConstantIndexOp::create(b, loc, blockSize);
    Value blocks = arith::CeilDivSIOp::create(b, loc, total, threads);
    auto launch = createLaunch(b, loc, blocks, threads);

    // linear = blockIdx.x * blockDim.x + threadIdx.x, guarded.
    Value linear = arith::AddIOp::create(
        b, loc,
        arith::MulIOp::create(b, loc, launch.getBlockIds().x,
                              launch.getBlockSize().x),
        launch.getThreadIds().x);
    Value inRange =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, linear, total);
    auto guard = scf::IfOp::create(b, loc, inRange, /*withElse=*/false);
    b.setInsertionPointToStart(&guard.getThenRegion().front());

    IRMapping mapping;
    Value rest = linear;
    auto ivs = loop.getInductionVars();
    for (int64_t d = static_cast<int64_t>(ivs.size()) - 1; d >= 0; --d) {
      Value index = rest;
      if (d > 0) {
        index = arith::RemSIOp::create(b, loc, rest, counts[d]);
        rest = arith::DivSIOp::create(b, loc, rest, counts[d]);
      }
      Value iv = arith::AddIOp::create(
          b, loc, loop.getLowerBound()[d],
          arith::MulIOp::create(b, loc, index, loop.getStep()[d]));
      mapping.map(ivs[d], iv);
    }
    for (Operation &op : loop.getBody()->without_terminator())
      b.clone(op, mapping);
    loop.erase();
    return success();
  }
};

} // namespace
