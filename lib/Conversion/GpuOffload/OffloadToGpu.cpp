//===- OffloadToGpu.cpp - buffers to device memory, kernels to the GPU ----===//
//
// After bufferization a model is a function over memrefs: arguments are the
// caller's host tensors, allocations are temporaries, globals are weights,
// and the heavy lifting is calls into the runtime's kernels. This pass puts
// every buffer the function computes with in device memory and retargets
// the kernel calls to the GPU runtime; what remains (loops over buffers)
// becomes generated kernels in --parsimony-parallel-loops-to-gpu.
//
//===----------------------------------------------------------------------===//

#include "parsimony/Conversion/KernelCalls.h"
#include "parsimony/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/StringMap.h"

namespace parsimony {
#define GEN_PASS_DEF_OFFLOADTOGPU
#include "parsimony/Conversion/Passes.h.inc"
} // namespace parsimony

using namespace mlir;

namespace {

/// The CPU runtime kernels that have a device-pointer twin named
/// parsimony_gpu_<suffix> (include/parsimony/Runtime/GpuRuntime.h), with the
/// positions of the pointer parameters they write (Kernels.h,
/// SpxKernels.h).
const llvm::StringMap<SmallVector<unsigned>> &gpuKernels() {
  static const llvm::StringMap<SmallVector<unsigned>> kernels = {
      {"parsimony_sgemm_batched", {14}},
      {"parsimony_topk_activation_f32", {1}},
      {"parsimony_sparse_matmul_f32", {10}},
      {"parsimony_quant_matmul_f32", {10}},
      {"parsimony_quant_matmul_u8_f32", {15}},
      {"parsimony_support_matmul_f32", {14}},
      {"parsimony_predict_support_f32", {14}},
      {"parsimony_sparse_ffn_f32", {31}},
      {"parsimony_route_f32", {8, 9}},
      {"parsimony_dispatch_f32", {9, 11, 12, 13}},
      {"parsimony_expert_ffn_f32", {33}},
      {"parsimony_combine_f32", {9}}};
  return kernels;
}

/// For a buffer whose address reaches kernel calls (through
/// extract_strided_metadata and pointer arithmetic, see getElementPointer),
/// whether some call reads and/or writes it.
void collectCallUse(Value address, bool &read, bool &written) {
  for (OpOperand &operand : address.getUses()) {
    Operation *user = operand.getOwner();
    if (auto call = dyn_cast<func::CallOp>(user)) {
      auto it = gpuKernels().find(call.getCallee());
      if (it == gpuKernels().end()) {
        read = written = true; // unknown callee
        continue;
      }
      bool isOutput =
          llvm::is_contained(it->second, operand.getOperandNumber());
      written |= isOutput;
      read |= !isOutput;
      continue;
    }
    for (Value result : user->getResults())
      collectCallUse(result, read, written);
  }
}

/// How a function uses one of its memref arguments.
struct ArgumentUse {
  bool read = false;
  bool written = false;
};

/// Whether the function (transitively through views of `value`) reads
/// and/or writes the buffer. Unknown effects count as both.
void collectUse(Value value, ArgumentUse &use) {
  for (OpOperand &operand : value.getUses()) {
    Operation *user = operand.getOwner();
    if (auto metadata = dyn_cast<memref::ExtractStridedMetadataOp>(user)) {
      // A kernel call's pointer (or unknown uses of the address).
      collectCallUse(metadata.getBaseBuffer(), use.read, use.written);
      continue;
    }
    if (auto view = dyn_cast<ViewLikeOpInterface>(user)) {
      if (view.getViewSource() == value) {
        collectUse(view.getViewDest(), use);
        continue;
      }
      // Another operand (a memref.reshape's shape): read for the sizes.
      use.read = true;
      continue;
    }
    if (isa<memref::DimOp>(user))
      continue;
    auto effects = dyn_cast<MemoryEffectOpInterface>(user);
    if (!effects) {
      use.read = use.written = true;
      continue;
    }
    SmallVector<MemoryEffects::EffectInstance> instances;
    effects.getEffectsOnValue(value, instances);
    for (auto &instance : instances) {
      use.read |= isa<MemoryEffects::Read>(instance.getEffect());
      use.written |= isa<MemoryEffects::Write>(instance.getEffect());
    }
  }
}

/// A memref of static type `type` over the raw pointer `pointer`, as an
/// LLVM descriptor cast back to the memref type; the memref-to-LLVM
/// conversion folds the cast away.
Value memrefFromPointer(OpBuilder &b, Location loc, Value pointer,
                        MemRefType type) {
  MLIRContext *ctx = b.getContext();
  auto i64 = b.getI64Type();
  auto ptr = LLVM::LLVMPointerType::get(ctx);
  SmallVector<Type> fields = {ptr, ptr, i64};
  int64_t rank = type.getRank();
  if (rank > 0) {
    fields.push_back(LLVM::LLVMArrayType::get(i64, rank));
    fields.push_back(LLVM::LLVMArrayType::get(i64, rank));
  }
  auto structType = LLVM::LLVMStructType::getLiteral(ctx, fields);
  Value desc = LLVM::PoisonOp::create(b, loc, structType);
  desc =
      LLVM::InsertValueOp::create(b, loc, desc, pointer, ArrayRef<int64_t>{0});
  desc =
      LLVM::InsertValueOp::create(b, loc, desc, pointer, ArrayRef<int64_t>{1});
  auto constant = [&](int64_t v) {
    return LLVM::ConstantOp::create(b, loc, i64, b.getI64IntegerAttr(v));
  };
  desc = LLVM::InsertValueOp::create(b, loc, desc, constant(0),
                                     ArrayRef<int64_t>{2});
  SmallVector<int64_t> strides = type.getStridesAndOffset().first;
  for (int64_t d = 0; d < rank; ++d) {
    desc = LLVM::InsertValueOp::create(
        b, loc, desc, constant(type.getDimSize(d)), ArrayRef<int64_t>{3, d});
    desc = LLVM::InsertValueOp::create(b, loc, desc, constant(strides[d]),
                                       ArrayRef<int64_t>{4, d});
  }
  return UnrealizedConversionCastOp::create(b, loc, type, desc).getResult(0);
}

int64_t byteSize(MemRefType type) {
  int64_t bits = type.getElementTypeBitWidth();
  return type.getNumElements() * std::max<int64_t>(bits / 8, 1);
}

struct OffloadToGpuPass : parsimony::impl::OffloadToGpuBase<OffloadToGpuPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isDeclaration())
        continue;
      if (failed(offloadFunction(func)))
        return signalPassFailure();
    }
    // Declarations of CPU kernels that nothing calls any more.
    for (auto func : llvm::make_early_inc_range(module.getOps<func::FuncOp>()))
      if (func.isDeclaration() && gpuKernels().count(func.getSymName()) &&
          SymbolTable::symbolKnownUseEmpty(func, module))
        func.erase();
  }

  LogicalResult offloadFunction(func::FuncOp func) {
    Block &entry = func.getBody().front();
    for (Type t : func.getResultTypes())
      if (isa<BaseMemRefType>(t))
        return func.emitError("GPU offload needs functions that return no "
                              "buffers (run --buffer-results-to-out-params "
                              "first)");

    // Arguments: a device twin, copied in and/or out.
    OpBuilder b(func.getContext());
    SmallVector<std::pair<BlockArgument, Value>> outputs;
    SmallVector<Value> twins;
    for (BlockArgument arg : entry.getArguments()) {
      auto type = dyn_cast<MemRefType>(arg.getType());
      if (!type)
        continue;
      if (!type.hasStaticShape() || !type.getLayout().isIdentity())
        return func.emitError("GPU offload needs arguments of static shape "
                              "and identity layout; argument #")
               << arg.getArgNumber() << " is " << type;
      ArgumentUse use;
      collectUse(arg, use);
      b.setInsertionPointToStart(&entry);
      Value twin = gpu::AllocOp::create(b, func.getLoc(), type,
                                        /*asyncToken=*/Type(), ValueRange(),
                                        ValueRange(), ValueRange())
                       .getMemref();
      arg.replaceAllUsesWith(twin);
      if (use.read)
        gpu::MemcpyOp::create(b, func.getLoc(), Type(), ValueRange(), twin,
                              arg);
      if (use.written)
        outputs.push_back({arg, twin});
      twins.push_back(twin);
    }
    WalkResult result = func.walk([&](Operation *op) -> WalkResult {
      if (auto ret = dyn_cast<func::ReturnOp>(op)) {
        b.setInsertionPoint(ret);
        for (auto [arg, twin] : outputs)
          gpu::MemcpyOp::create(b, ret.getLoc(), Type(), ValueRange(), arg,
                                twin);
        for (Value twin : twins)
          gpu::DeallocOp::create(b, ret.getLoc(), Type(), ValueRange(), twin);
        return WalkResult::advance();
      }
      if (isa<memref::AllocOp, memref::AllocaOp>(op))
        return convertAllocation(op, func);
      if (auto dealloc = dyn_cast<memref::DeallocOp>(op)) {
        b.setInsertionPoint(dealloc);
        gpu::DeallocOp::create(b, dealloc.getLoc(), Type(), ValueRange(),
                               dealloc.getMemref());
        dealloc.erase();
        return WalkResult::skip();
      }
      if (auto global = dyn_cast<memref::GetGlobalOp>(op))
        return convertGlobal(global);
      if (auto copy = dyn_cast<memref::CopyOp>(op))
        return convertCopy(copy);
      if (auto call = dyn_cast<func::CallOp>(op))
        return retargetCall(call);
      return WalkResult::advance();
    });
    return failure(result.wasInterrupted());
  }

  WalkResult convertAllocation(Operation *op, func::FuncOp func) {
    auto type = cast<MemRefType>(op->getResult(0).getType());
    if (!type.getLayout().isIdentity())
      return op->emitError("GPU offload: allocation with a layout"),
             WalkResult::interrupt();
    OpBuilder b(op);
    auto alloc =
        gpu::AllocOp::create(b, op->getLoc(), type, Type(), ValueRange(),
                             op->getOperands(), ValueRange());
    op->getResult(0).replaceAllUsesWith(alloc.getMemref());
    // An alloca lives until the function returns.
    if (isa<memref::AllocaOp>(op))
      func.walk([&](func::ReturnOp ret) {
        OpBuilder rb(ret);
        gpu::DeallocOp::create(rb, ret.getLoc(), Type(), ValueRange(),
                               alloc.getMemref());
      });
    op->erase();
    return WalkResult::skip();
  }

  WalkResult convertGlobal(memref::GetGlobalOp global) {
    auto type = global.getType();
    if (!type.hasStaticShape() || !type.getLayout().isIdentity())
      return global.emitError("GPU offload: global of dynamic shape or "
                              "non-identity layout"),
             WalkResult::interrupt();
    OpBuilder b(global);
    b.setInsertionPointAfter(global);
    Location loc = global.getLoc();
    llvm::SmallPtrSet<Operation *, 8> hostUsers(llvm::from_range,
                                                global.getResult().getUsers());
    Value host = parsimony::getElementPointer(b, loc, global.getResult());
    // The ops just created read the host global itself.
    llvm::SmallPtrSet<Operation *, 2> pointerOps;
    for (Operation *user : global.getResult().getUsers())
      if (!hostUsers.contains(user))
        pointerOps.insert(user);
    auto ptr = LLVM::LLVMPointerType::get(b.getContext());
    auto i64 = b.getI64Type();
    ModuleOp module = global->getParentOfType<ModuleOp>();
    auto upload =
        module.lookupSymbol<LLVM::LLVMFuncOp>("parsimony_gpu_constant");
    if (!upload) {
      OpBuilder mb(module.getBodyRegion());
      upload = LLVM::LLVMFuncOp::create(
          mb, module.getLoc(), "parsimony_gpu_constant",
          LLVM::LLVMFunctionType::get(ptr, {ptr, i64}));
    }
    Value bytes = LLVM::ConstantOp::create(b, loc, i64,
                                           b.getI64IntegerAttr(byteSize(type)));
    Value device = LLVM::CallOp::create(b, loc, upload, ValueRange{host, bytes})
                       .getResult();
    Value twin = memrefFromPointer(b, loc, device, type);
    global.getResult().replaceUsesWithIf(twin, [&](OpOperand &use) {
      return !pointerOps.contains(use.getOwner());
    });
    return WalkResult::skip();
  }

  WalkResult convertCopy(memref::CopyOp copy) {
    OpBuilder b(copy);
    auto source = cast<MemRefType>(copy.getSource().getType());
    auto target = cast<MemRefType>(copy.getTarget().getType());
    if (source.getLayout().isIdentity() && target.getLayout().isIdentity() &&
        source.hasStaticShape() && source == target) {
      gpu::MemcpyOp::create(b, copy.getLoc(), Type(), ValueRange(),
                            copy.getTarget(), copy.getSource());
    } else {
      linalg::CopyOp::create(b, copy.getLoc(), copy.getSource(),
                             copy.getTarget());
    }
    copy.erase();
    return WalkResult::skip();
  }

  WalkResult retargetCall(func::CallOp call) {
    StringRef callee = call.getCallee();
    auto module = call->getParentOfType<ModuleOp>();
    auto decl = module.lookupSymbol<func::FuncOp>(callee);
    if (!decl || !decl.isDeclaration())
      return WalkResult::advance(); // a call inside the module
    if (!gpuKernels().count(callee))
      return call.emitError("GPU offload: '")
                 << callee << "' has no GPU implementation",
             WalkResult::interrupt();
    std::string name =
        ("parsimony_gpu_" + callee.drop_front(strlen("parsimony_"))).str();
    if (callee == kByteMatmul) {
      retargetByteMatmul(call, name);
      return WalkResult::advance();
    }
    parsimony::getOrDeclareKernel(module, name, decl.getFunctionType());
    call.setCallee(name);
    return WalkResult::advance();
  }

  /// parsimony_quant_matmul_u8_f32's operands: signedness of the activations
  /// and their zero point.
  static constexpr const char *kByteMatmul = "parsimony_quant_matmul_u8_f32";
  static constexpr unsigned kInSigned = 10, kZeroPoint = 11;

  /// The activations' zero point of a model that computes it
  /// (DynamicQuantizeLinear) is a host read of a device buffer, `ext(load)`,
  /// which the GPU target cannot do: the GPU twin takes the zero point's
  /// device address after the zero point (`zero_point_at`, null when the
  /// host value holds; GpuRuntime.h), and the read goes away.
  void retargetByteMatmul(func::CallOp call, StringRef name) {
    OpBuilder b(call);
    Location loc = call.getLoc();
    SmallVector<Value> operands(call.getOperands());
    memref::LoadOp load = deviceZeroPoint(call);
    Operation *ext = load ? operands[kZeroPoint].getDefiningOp() : nullptr;
    Value address = load
                        ? parsimony::getElementPointer(b, loc, load.getMemRef())
                        : parsimony::getNullPointer(b, loc);
    if (load)
      operands[kZeroPoint] = arith::ConstantIntOp::create(b, loc, 0, 32);
    operands.insert(operands.begin() + kZeroPoint + 1, address);
    call->setOperands(operands);
    call.setCallee(name);
    parsimony::getOrDeclareKernel(
        call, name,
        b.getFunctionType(ValueRange(operands).getTypes(), TypeRange()));
    // The host read goes, unless something else still needs the value.
    if (ext && ext->use_empty()) {
      ext->erase();
      if (load->use_empty())
        load->erase();
    }
  }

  /// The load of a call's zero point from a one-byte buffer, widened as the
  /// activations' type says (arith.extui for uint8, arith.extsi for int8),
  /// or null.
  static memref::LoadOp deviceZeroPoint(func::CallOp call) {
    Value zeroPoint = call.getOperand(kZeroPoint);
    Operation *ext = zeroPoint.getDefiningOp();
    APInt inSigned;
    if (!ext || !isa<arith::ExtUIOp, arith::ExtSIOp>(ext) ||
        !matchPattern(call.getOperand(kInSigned), m_ConstantInt(&inSigned)) ||
        isa<arith::ExtSIOp>(ext) != !inSigned.isZero())
      return nullptr;
    auto load = ext->getOperand(0).getDefiningOp<memref::LoadOp>();
    if (!load)
      return nullptr;
    MemRefType type = load.getMemRefType();
    if (!type.hasStaticShape() || type.getNumElements() != 1 ||
        !type.getElementType().isInteger(8))
      return nullptr;
    return load;
  }
};

} // namespace
