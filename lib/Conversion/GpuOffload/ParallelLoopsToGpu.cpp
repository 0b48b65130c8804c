//===- ParallelLoopsToGpu.cpp - host loop nests to gpu.launch -------------===//
//
// Upstream's --convert-parallel-loops-to-gpu maps loop dimensions onto grid
// and block dimensions one by one, which needs a mapping attribute per
// loop and caps every dimension at the hardware's limits. Loop nests coming
// from linalg are simpler to run as one flat iteration space: one thread per
// iteration, the induction variables recovered by delinearization.
//
// Reductions are the exception: a point whose body is one long loop
// accumulating into a buffer element (a row of a softmax, a layer norm or
// a mean) would leave one thread walking the whole row. Such a loop runs
// with a block per point instead: each thread folds a strided share of the
// iterations, and a tree in workgroup memory combines the partial results
// (the reduction is reassociated, as the CPU's vectorized loops do).
//
//===----------------------------------------------------------------------===//

#include "parsimony/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/TypeSwitch.h"

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

/// Whether `op` itself reads or writes a buffer element.
bool isBufferAccess(Operation *op) {
  return isa<memref::LoadOp, memref::StoreOp, vector::LoadOp, vector::StoreOp,
             vector::TransferReadOp, vector::TransferWriteOp,
             memref::AtomicRMWOp, memref::GenericAtomicRMWOp>(op);
}

/// Marks the host's loads of values read back from a kernel (host memory).
constexpr StringLiteral kHostSlotAttr = "parsimony.host_slot";

/// Whether `op` reads or writes a device buffer outside any kernel.
bool accessesMemory(Operation *op) {
  WalkResult result = op->walk<WalkOrder::PreOrder>([](Operation *nested) {
    if (isa<gpu::LaunchOp>(nested))
      return WalkResult::skip();
    if (isBufferAccess(nested) && !nested->hasAttr(kHostSlotAttr))
      return WalkResult::interrupt();
    return WalkResult::advance();
  });
  return result.wasInterrupted();
}

/// Whether a value of `type` can be copied from device to host memory.
bool canReadBack(Type type) {
  return type.isIntOrIndexOrFloat() || isa<VectorType>(type);
}

/// The element type a read-back value travels as: indices, signless
/// integers and floats of up to 64 bits share i64 slots (so a kernel's
/// sizes and check conditions come back in one copy); others keep theirs.
Type slotTypeOf(Type type) {
  auto i64 = IntegerType::get(type.getContext(), 64);
  if (type.isIndex())
    return i64;
  if ((type.isSignlessInteger() || isa<FloatType>(type)) &&
      type.getIntOrFloatBitWidth() <= 64)
    return i64;
  return type;
}

/// `v` as its slot type's bits (zero-extended).
Value toSlot(OpBuilder &b, Location loc, Value v, Type slot) {
  Type type = v.getType();
  if (type == slot)
    return v;
  if (type.isIndex())
    return arith::IndexCastOp::create(b, loc, slot, v);
  unsigned width = type.getIntOrFloatBitWidth();
  if (isa<FloatType>(type))
    v = arith::BitcastOp::create(b, loc, b.getIntegerType(width), v);
  return width < 64 ? arith::ExtUIOp::create(b, loc, slot, v).getResult() : v;
}

/// The value of `type` whose bits `slot` holds (toSlot's inverse).
Value fromSlot(OpBuilder &b, Location loc, Value slot, Type type) {
  if (type == slot.getType())
    return slot;
  if (type.isIndex())
    return arith::IndexCastOp::create(b, loc, type, slot);
  unsigned width = type.getIntOrFloatBitWidth();
  Value v = slot;
  if (width < 64)
    v = arith::TruncIOp::create(b, loc, b.getIntegerType(width), v);
  if (isa<FloatType>(type))
    v = arith::BitcastOp::create(b, loc, type, v);
  return v;
}

/// Copies `values` (of one type), computed in `launch`, to the host after
/// it and maps each to the host's load of its copy in `toHost`: the kernel
/// stores them in a device buffer, which is copied into a host buffer (the
/// copy waits for the kernel). The host buffer is allocated at the
/// function's entry, since an alloca inside host control flow would grow
/// the stack per iteration, and zeroed before each copy so that a failed
/// copy (the runtime reports its error) reads 0, which ends loops, not
/// garbage. `b` inserts after the launch and is left after the loads.
void readBackToHost(OpBuilder &b, ArrayRef<Value> values, gpu::LaunchOp launch,
                    IRMapping &toHost) {
  Location loc = launch.getLoc();
  Type type = slotTypeOf(values.front().getType());
  auto slotType = MemRefType::get({int64_t(values.size())}, type);
  auto func = launch->getParentOfType<FunctionOpInterface>();
  auto entry = OpBuilder::atBlockBegin(&func.getFunctionBody().front());
  Value host = memref::AllocaOp::create(entry, loc, slotType);

  OpBuilder before(launch);
  SmallVector<Value> slots;
  for (int64_t i = 0, e = values.size(); i < e; ++i)
    slots.push_back(arith::ConstantIndexOp::create(before, loc, i));
  Value device = gpu::AllocOp::create(before, loc, slotType, Type(),
                                      ValueRange(), ValueRange(), ValueRange())
                     .getMemref();
  OpBuilder inKernel(launch.getBody().front().getTerminator());
  for (auto [value, slot] : llvm::zip(values, slots))
    memref::StoreOp::create(inKernel, loc, toSlot(inKernel, loc, value, type),
                            device, slot);

  Value zero =
      arith::ConstantOp::create(b, loc, cast<TypedAttr>(b.getZeroAttr(type)));
  for (Value slot : slots)
    memref::StoreOp::create(b, loc, zero, host, slot)
        ->setAttr(kHostSlotAttr, b.getUnitAttr());
  gpu::MemcpyOp::create(b, loc, Type(), ValueRange(), host, device);
  gpu::DeallocOp::create(b, loc, Type(), ValueRange(), device);
  for (auto [value, slot] : llvm::zip(values, slots)) {
    auto load = memref::LoadOp::create(b, loc, host, slot);
    load->setAttr(kHostSlotAttr, b.getUnitAttr());
    toHost.map(value, fromSlot(b, loc, load.getResult(), value.getType()));
  }
}

/// Gives the host code after `launch` the values computed in it that it
/// uses (a size, trip count or branch condition computed from tensor
/// contents): scalars are read back; views (a reshape's
/// memref.reinterpret_cast at sizes read from a buffer) and other pure
/// results are recomputed on the host from their read-back operands.
LogicalResult exportFromLaunch(gpu::LaunchOp launch) {
  Block &body = launch.getBody().front();
  llvm::MapVector<Type, SmallVector<Value>> scalars;
  llvm::SetVector<Operation *> recompute; // operands first
  std::function<LogicalResult(Value)> need = [&](Value value) -> LogicalResult {
    Operation *def = value.getDefiningOp();
    if (!def || !launch->isAncestor(def))
      return success();
    if (canReadBack(value.getType())) {
      SmallVector<Value> &group = scalars[slotTypeOf(value.getType())];
      if (!llvm::is_contained(group, value))
        group.push_back(value);
      return success();
    }
    if (def->getBlock() != &body || def->getNumRegions() ||
        !isMemoryEffectFree(def))
      return def->emitError("parsimony-parallel-loops-to-gpu: the host needs "
                            "a value of type ")
             << value.getType()
             << " computed from device memory, which cannot be copied back";
    if (recompute.contains(def))
      return success();
    for (Value operand : def->getOperands())
      if (failed(need(operand)))
        return failure();
    recompute.insert(def);
    return success();
  };
  SmallVector<Value> exported;
  for (Operation &op : body.without_terminator())
    for (Value result : op.getResults())
      if (llvm::any_of(result.getUsers(), [&](Operation *user) {
            return !launch->isAncestor(user);
          })) {
        if (failed(need(result)))
          return failure();
        exported.push_back(result);
      }
  if (exported.empty())
    return success();

  OpBuilder b(launch->getContext());
  b.setInsertionPointAfter(launch);
  IRMapping toHost;
  for (auto &[type, values] : scalars)
    readBackToHost(b, values, launch, toHost);
  for (Operation *op : recompute)
    b.clone(*op, toHost);
  for (Value value : exported)
    value.replaceUsesWithIf(toHost.lookup(value), [&](OpOperand &use) {
      return !launch->isAncestor(use.getOwner());
    });
  return success();
}

/// Whether `op` can run in a kernel as it is: pure computation, and reads
/// and writes of buffers, under any control flow.
bool runsOnDevice(Operation *op) {
  if (op->hasTrait<OpTrait::IsTerminator>())
    return false;
  WalkResult result = op->walk([](Operation *nested) {
    if (isa<gpu::LaunchOp>(nested))
      return WalkResult::interrupt();
    if (isBufferAccess(nested) || nested->hasTrait<OpTrait::IsTerminator>() ||
        nested->hasTrait<OpTrait::HasRecursiveMemoryEffects>() ||
        isMemoryEffectFree(nested))
      return WalkResult::advance();
    return WalkResult::interrupt();
  });
  return !result.wasInterrupted();
}

/// The reassociable combining kind of `op`, if it has one.
std::optional<arith::AtomicRMWKind> combiningKind(Operation *op) {
  using Kind = arith::AtomicRMWKind;
  return llvm::TypeSwitch<Operation *, std::optional<Kind>>(op)
      .Case([](arith::AddFOp) { return Kind::addf; })
      .Case([](arith::MulFOp) { return Kind::mulf; })
      .Case([](arith::MaximumFOp) { return Kind::maximumf; })
      .Case([](arith::MinimumFOp) { return Kind::minimumf; })
      .Case([](arith::MaxNumFOp) { return Kind::maxnumf; })
      .Case([](arith::MinNumFOp) { return Kind::minnumf; })
      .Case([](arith::AddIOp) { return Kind::addi; })
      .Case([](arith::MulIOp) { return Kind::muli; })
      .Case([](arith::MaxSIOp) { return Kind::maxs; })
      .Case([](arith::MinSIOp) { return Kind::mins; })
      .Case([](arith::MaxUIOp) { return Kind::maxu; })
      .Case([](arith::MinUIOp) { return Kind::minu; })
      .Case([](arith::AndIOp) { return Kind::andi; })
      .Case([](arith::OrIOp) { return Kind::ori; })
      .Default([](Operation *) { return std::nullopt; });
}

/// The buffer a memref value views (through subviews, casts, ...).
Value rootBuffer(Value memref) {
  while (auto view = memref.getDefiningOp<ViewLikeOpInterface>())
    memref = view.getViewSource();
  return memref;
}

/// A loop that only accumulates into one buffer element:
///   scf.for %k { ...pure ops and loads...
///                %a = memref.load %buf[I]; %v = combine %a, %x
///                memref.store %v, %buf[I] }
/// with I defined outside the loop and no other read of %buf's storage.
struct Reduction {
  scf::ForOp loop;
  memref::LoadOp load;
  memref::StoreOp store;
  Operation *combine = nullptr;
  Value operand; // %x
  arith::AtomicRMWKind kind;
};

std::optional<Reduction> matchReduction(scf::ForOp loop) {
  if (loop.getNumResults() != 0)
    return std::nullopt;
  Reduction r;
  r.loop = loop;
  for (Operation &op : loop.getBody()->without_terminator()) {
    if (auto store = dyn_cast<memref::StoreOp>(op)) {
      if (r.store)
        return std::nullopt;
      r.store = store;
    } else if (!isa<memref::LoadOp>(op) && !isMemoryEffectFree(&op)) {
      return std::nullopt;
    }
  }
  if (!r.store || !loop.isDefinedOutsideOfLoop(r.store.getMemRef()) ||
      !llvm::all_of(r.store.getIndices(),
                    [&](Value v) { return loop.isDefinedOutsideOfLoop(v); }))
    return std::nullopt;
  r.combine = r.store.getValueToStore().getDefiningOp();
  if (!r.combine || r.combine->getBlock() != loop.getBody() ||
      r.combine->getNumOperands() != 2 || !r.combine->hasOneUse())
    return std::nullopt;
  std::optional<arith::AtomicRMWKind> kind = combiningKind(r.combine);
  if (!kind)
    return std::nullopt;
  r.kind = *kind;
  for (unsigned i = 0; i < 2 && !r.load; ++i) {
    auto load = r.combine->getOperand(i).getDefiningOp<memref::LoadOp>();
    if (load && load.getMemRef() == r.store.getMemRef() &&
        load->getBlock() == loop.getBody() && load->hasOneUse() &&
        llvm::equal(load.getIndices(), r.store.getIndices())) {
      r.load = load;
      r.operand = r.combine->getOperand(1 - i);
    }
  }
  if (!r.load)
    return std::nullopt;
  // Nothing else in the loop may read the accumulated storage.
  Value root = rootBuffer(r.store.getMemRef());
  WalkResult aliased = loop.getBody()->walk([&](memref::LoadOp load) {
    if (load != r.load && rootBuffer(load.getMemRef()) == root)
      return WalkResult::interrupt();
    return WalkResult::advance();
  });
  if (aliased.wasInterrupted())
    return std::nullopt;
  return r;
}

/// Fewest iterations for which a reduction gets a block per point.
constexpr int64_t kMinBlockReduction = 64;

/// Threads for a block-wide `r`: a power of two up to `blockSize` and the
/// loop's constant trip count; 0 when it should stay in one thread.
int64_t reductionThreads(Reduction r, int64_t blockSize) {
  std::optional<int64_t> lb = getConstantIntValue(r.loop.getLowerBound());
  std::optional<int64_t> ub = getConstantIntValue(r.loop.getUpperBound());
  std::optional<int64_t> step = getConstantIntValue(r.loop.getStep());
  if (!lb || !ub || !step || *step <= 0)
    return 0;
  int64_t trips = (*ub - *lb + *step - 1) / *step;
  if (trips < kMinBlockReduction)
    return 0;
  int64_t threads = 1;
  while (threads * 2 <= std::min(trips, blockSize))
    threads *= 2;
  return threads;
}

/// Workgroup memory for `threads` elements of `type`.
MemRefType scratchType(Type type, int64_t threads) {
  return MemRefType::get({threads}, type, MemRefLayoutAttrInterface{},
                         gpu::AddressSpaceAttr::get(
                             type.getContext(), gpu::AddressSpace::Workgroup));
}

/// Emits `r` block-wide at b's insertion point in `launch` (`threads`
/// threads), with `threads` elements of workgroup memory added to it:
/// thread t folds iterations t, t + threads, ... from the combining
/// identity, a tree combines the partials, and thread 0 folds the total
/// into the buffer element. `mapping` maps the values the loop uses from
/// outside.
void emitBlockReduction(OpBuilder &b, Location loc, Reduction r,
                        gpu::LaunchOp launch, int64_t threads,
                        IRMapping &mapping) {
  Type type = r.store.getValueToStore().getType();
  Value scratch =
      launch.addWorkgroupAttribution(scratchType(type, threads), loc);
  Value tid = launch.getThreadIds().x;
  Value lb = mapping.lookupOrDefault(r.loop.getLowerBound());
  Value ub = mapping.lookupOrDefault(r.loop.getUpperBound());
  Value step = mapping.lookupOrDefault(r.loop.getStep());
  Value start = arith::AddIOp::create(b, loc, lb,
                                      arith::MulIOp::create(b, loc, tid, step));
  Value stride = arith::MulIOp::create(
      b, loc, step, arith::ConstantIndexOp::create(b, loc, threads));
  Value identity = arith::getIdentityValue(r.kind, type, b, loc);
  auto partial = scf::ForOp::create(
      b, loc, start, ub, stride, ValueRange{identity},
      [&](OpBuilder &nb, Location l, Value k, ValueRange acc) {
        IRMapping inner = mapping;
        inner.map(r.loop.getInductionVar(), k);
        for (Operation &op : r.loop.getBody()->without_terminator())
          if (&op != r.load.getOperation() && &op != r.store.getOperation() &&
              &op != r.combine)
            nb.clone(op, inner);
        Value next = arith::getReductionOp(r.kind, nb, l, acc[0],
                                           inner.lookupOrDefault(r.operand));
        scf::YieldOp::create(nb, l, next);
      });
  memref::StoreOp::create(b, loc, partial.getResult(0), scratch, tid);
  gpu::BarrierOp::create(b, loc);
  for (int64_t half = threads / 2; half >= 1; half /= 2) {
    Value h = arith::ConstantIndexOp::create(b, loc, half);
    Value active =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, tid, h);
    auto level = scf::IfOp::create(b, loc, active, /*withElse=*/false);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(&level.getThenRegion().front());
      Value mine = memref::LoadOp::create(b, loc, scratch, tid);
      Value other = memref::LoadOp::create(
          b, loc, scratch, ValueRange{arith::AddIOp::create(b, loc, tid, h)});
      memref::StoreOp::create(
          b, loc, arith::getReductionOp(r.kind, b, loc, mine, other), scratch,
          tid);
    }
    gpu::BarrierOp::create(b, loc);
  }
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value first =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, tid, zero);
  auto last = scf::IfOp::create(b, loc, first, /*withElse=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&last.getThenRegion().front());
  SmallVector<Value> indices;
  for (Value index : r.store.getIndices())
    indices.push_back(mapping.lookupOrDefault(index));
  Value buffer = mapping.lookupOrDefault(r.store.getMemRef());
  Value init = memref::LoadOp::create(b, loc, buffer, indices);
  Value total = memref::LoadOp::create(b, loc, scratch, zero);
  memref::StoreOp::create(b, loc,
                          arith::getReductionOp(r.kind, b, loc, init, total),
                          buffer, indices);
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
      if (failed(runHostCodeOnDevice(block)))
        return signalPassFailure();
  }

  /// Moves the host code of `block` that reads or writes buffers into
  /// single-thread launches (block-wide ones for matched reductions). Runs
  /// of consecutive device-runnable ops share a launch, so a scalar loaded
  /// from a buffer can feed arithmetic and a store in the same kernel.
  LogicalResult runHostCodeOnDevice(Block &block) {
    // A full reduction over several dimensions is a loop nest: one loop
    // over the flattened space can become a block-wide reduction.
    for (auto loop : llvm::make_early_inc_range(block.getOps<scf::ForOp>()))
      if (accessesMemory(loop))
        (void)coalescePerfectlyNestedSCFForLoops(loop);
    SmallVector<Operation *> run;
    for (Operation &op : llvm::make_early_inc_range(block)) {
      if (auto loop = dyn_cast<scf::ForOp>(op))
        if (std::optional<Reduction> r = matchReduction(loop))
          if (int64_t threads = reductionThreads(*r, blockSize)) {
            if (failed(launchRun(run)))
              return failure();
            OpBuilder b(&op);
            Value one = arith::ConstantIndexOp::create(b, op.getLoc(), 1);
            Value count =
                arith::ConstantIndexOp::create(b, op.getLoc(), threads);
            auto launch = createLaunch(b, op.getLoc(), one, count);
            IRMapping mapping;
            emitBlockReduction(b, op.getLoc(), *r, launch, threads, mapping);
            op.erase();
            continue;
          }
      if (runsOnDevice(&op)) {
        run.push_back(&op);
        continue;
      }
      // An allocation between buffer accesses (a shape computed from a
      // tensor stored into a new buffer) need not end their kernel: it
      // moves before them.
      if (auto alloc = dyn_cast<gpu::AllocOp>(op);
          alloc && !run.empty() &&
          llvm::none_of(alloc->getOperands(), [&](Value size) {
            Operation *def = size.getDefiningOp();
            return def && llvm::is_contained(run, def);
          })) {
        alloc->moveBefore(run.front());
        continue;
      }
      if (failed(launchRun(run)))
        return failure();
      // Host control flow around kernels (a model's loop or branch): its
      // blocks get the same treatment.
      if (accessesMemory(&op) && !isBufferAccess(&op))
        for (Region &region : op.getRegions())
          for (Block &nested : region)
            if (failed(runHostCodeOnDevice(nested)))
              return failure();
      if (accessesMemory(&op))
        return op.emitError("parsimony-parallel-loops-to-gpu: host code "
                            "around kernels reads or writes device memory");
    }
    return launchRun(run);
  }

  /// Moves `run` (consecutive ops of a block) into one single-thread launch
  /// before it, if any of it touches buffers. Pure ops that do not depend on
  /// what the kernel reads stay on the host, before the launch.
  LogicalResult launchRun(SmallVectorImpl<Operation *> &run) {
    llvm::scope_exit clear([&] { run.clear(); });
    if (llvm::none_of(run, accessesMemory))
      return success();
    OpBuilder b(run.front());
    Value one = arith::ConstantIndexOp::create(b, run.front()->getLoc(), 1);
    auto launch = createLaunch(b, run.front()->getLoc(), one, one);
    Operation *end = launch.getBody().front().getTerminator();
    for (Operation *op : run) {
      bool readsKernelValues = llvm::any_of(op->getOperands(), [&](Value v) {
        return launch->isAncestor(v.getParentBlock()->getParentOp());
      });
      if (isMemoryEffectFree(op) && !readsKernelValues) {
        op->moveBefore(launch);
        continue;
      }
      op->moveBefore(end);
    }
    return exportFromLaunch(launch);
  }

  LogicalResult convertLoop(scf::ParallelOp loop) {
    if (loop.getNumResults() != 0)
      return loop.emitError("parsimony-parallel-loops-to-gpu: parallel "
                            "reductions are not supported");
    Location loc = loop.getLoc();
    OpBuilder b(loop);
    // A body that is index arithmetic around one reduction loop gets a
    // block per point.
    std::optional<Reduction> reduction;
    for (Operation &op : loop.getBody()->without_terminator()) {
      if (auto inner = dyn_cast<scf::ForOp>(op); inner && !reduction) {
        reduction = matchReduction(inner);
        if (!reduction)
          break;
      } else if (!isMemoryEffectFree(&op)) {
        reduction.reset();
        break;
      }
    }
    int64_t reductionBlock =
        reduction ? reductionThreads(*reduction, blockSize) : 0;
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
    Value linear;
    gpu::LaunchOp launch;
    if (reductionBlock) {
      // Block b takes point b.
      Value threads = arith::ConstantIndexOp::create(b, loc, reductionBlock);
      launch = createLaunch(b, loc, total, threads);
      linear = launch.getBlockIds().x;
    } else {
      Value threads = arith::ConstantIndexOp::create(b, loc, blockSize);
      Value blocks = arith::CeilDivSIOp::create(b, loc, total, threads);
      launch = createLaunch(b, loc, blocks, threads);
      // linear = blockIdx.x * blockDim.x + threadIdx.x, guarded.
      linear = arith::AddIOp::create(
          b, loc,
          arith::MulIOp::create(b, loc, launch.getBlockIds().x,
                                launch.getBlockSize().x),
          launch.getThreadIds().x);
      Value inRange = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                            linear, total);
      auto guard = scf::IfOp::create(b, loc, inRange, /*withElse=*/false);
      b.setInsertionPointToStart(&guard.getThenRegion().front());
    }

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
    for (Operation &op : loop.getBody()->without_terminator()) {
      if (reductionBlock && &op == reduction->loop.getOperation()) {
        emitBlockReduction(b, loc, *reduction, launch, reductionBlock, mapping);
        continue;
      }
      b.clone(op, mapping);
    }
    loop.erase();
    return success();
  }
};

} // namespace
