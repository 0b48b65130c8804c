//===- KernelCalls.cpp - helpers for calling runtime kernels --------------===//

#include "parsimony/Conversion/KernelCalls.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;

Value parsimony::getElementPointer(OpBuilder &b, Location loc, Value memref) {
  auto metadata = memref::ExtractStridedMetadataOp::create(b, loc, memref);
  Value base = memref::ExtractAlignedPointerAsIndexOp::create(
      b, loc, metadata.getBaseBuffer());
  int64_t elementBytes = std::max<int64_t>(
      cast<MemRefType>(memref.getType()).getElementTypeBitWidth() / 8, 1);
  Value byteOffset = arith::MulIOp::create(
      b, loc, metadata.getOffset(),
      arith::ConstantIndexOp::create(b, loc, elementBytes));
  Value address = arith::AddIOp::create(b, loc, base, byteOffset);
  Value asI64 = arith::IndexCastOp::create(b, loc, b.getI64Type(), address);
  return LLVM::IntToPtrOp::create(
      b, loc, LLVM::LLVMPointerType::get(b.getContext()), asI64);
}

Value parsimony::getNullPointer(OpBuilder &b, Location loc) {
  return LLVM::ZeroOp::create(b, loc,
                              LLVM::LLVMPointerType::get(b.getContext()));
}

func::FuncOp parsimony::getOrDeclareKernel(Operation *anchor, StringRef name,
                                           FunctionType type) {
  auto module = dyn_cast<ModuleOp>(anchor);
  if (!module)
    module = anchor->getParentOfType<ModuleOp>();
  if (auto existing = module.lookupSymbol<func::FuncOp>(name))
    return existing;
  OpBuilder b(module.getContext());
  b.setInsertionPointToStart(module.getBody());
  auto decl = func::FuncOp::create(b, module.getLoc(), name, type);
  decl.setPrivate();
  return decl;
}

void parsimony::createKernelCall(OpBuilder &b, Location loc, StringRef name,
                                 ValueRange args) {
  auto type = FunctionType::get(b.getContext(), args.getTypes(), {});
  func::FuncOp callee =
      getOrDeclareKernel(b.getInsertionBlock()->getParentOp(), name, type);
  func::CallOp::create(b, loc, callee, args);
}
