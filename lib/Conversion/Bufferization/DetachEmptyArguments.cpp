//===- DetachEmptyArguments.cpp - empty memref arguments as 1-D pointers --===//
//
// Zero-element memref arguments cannot cross the bare-pointer calling
// convention in their own type; nothing of them is ever accessed, so the
// body uses a local zero-size buffer and the signature keeps a pointer.
//
//===----------------------------------------------------------------------===//

#include "parsimony/Conversion/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"

namespace parsimony {
#define GEN_PASS_DEF_DETACHEMPTYARGUMENTS
#include "parsimony/Conversion/Passes.h.inc"
} // namespace parsimony

using namespace mlir;

namespace {
/// Whether `type` is an empty memref the bare-pointer convention rejects.
bool needsDetaching(Type type) {
  auto memref = dyn_cast<MemRefType>(type);
  return memref && memref.hasStaticShape() && memref.getNumElements() == 0 &&
         memref.getRank() > 1 && memref.getLayout().isIdentity();
}

struct DetachEmptyArgumentsPass
    : parsimony::impl::DetachEmptyArgumentsBase<DetachEmptyArgumentsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal() || func.isPrivate() ||
          !llvm::any_of(func.getArgumentTypes(), needsDetaching) ||
          !SymbolTable::symbolKnownUseEmpty(func, module))
        continue;
      Block &entry = func.getBody().front();
      OpBuilder b = OpBuilder::atBlockBegin(&entry);
      SmallVector<Type> inputs(func.getArgumentTypes());
      for (BlockArgument arg : entry.getArguments()) {
        if (!needsDetaching(arg.getType()))
          continue;
        auto type = cast<MemRefType>(arg.getType());
        Value local = memref::AllocaOp::create(b, arg.getLoc(), type);
        arg.replaceAllUsesWith(local);
        auto flat = MemRefType::get({0}, type.getElementType(), nullptr,
                                    type.getMemorySpace());
        arg.setType(flat);
        inputs[arg.getArgNumber()] = flat;
      }
      func.setType(
          FunctionType::get(&getContext(), inputs, func.getResultTypes()));
    }
  }
};
} // namespace
