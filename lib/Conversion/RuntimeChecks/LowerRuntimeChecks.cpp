//===- LowerRuntimeChecks.cpp - failed cf.assert ends the run -------------===//
//
// Upstream lowers cf.assert to a call to abort(); a model library must not
// take its host process down over a tensor's contents. A failed check
// records its message in the runtime (parsimony_check_failed) and returns
// from the entry point; the library's wrapper turns that into an error.
//
//===----------------------------------------------------------------------===//

#include "parsimony/Conversion/Passes.h"

#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/SymbolTable.h"

namespace parsimony {
#define GEN_PASS_DEF_LOWERRUNTIMECHECKS
#include "parsimony/Conversion/Passes.h.inc"
} // namespace parsimony

using namespace mlir;

namespace {

constexpr StringLiteral kCheckFailed = "parsimony_check_failed";

struct LowerRuntimeChecksPass
    : parsimony::impl::LowerRuntimeChecksBase<LowerRuntimeChecksPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    LLVM::LLVMFuncOp callee;
    // One global per distinct message in the module.
    llvm::StringMap<std::string> messageGlobals;
    for (auto func : module.getOps<func::FuncOp>()) {
      SmallVector<cf::AssertOp> asserts;
      func.walk([&](cf::AssertOp op) { asserts.push_back(op); });
      if (asserts.empty())
        continue;
      if (func.getNumResults() != 0) {
        asserts.front().emitError(
            "parsimony-lower-runtime-checks: a runtime check in a function "
            "with results (only bufferized entry points can return early)");
        return signalPassFailure();
      }
      if (!callee)
        callee = declareCallee(module);
      // One failure block per message and function.
      llvm::StringMap<Block *> failBlocks;
      for (cf::AssertOp op : asserts) {
        Block *block = op->getBlock();
        if (block->getParent() != &func.getBody()) {
          op.emitError("parsimony-lower-runtime-checks: a runtime check "
                       "inside a region (run after --convert-scf-to-cf)");
          return signalPassFailure();
        }
        Block *&fail = failBlocks[op.getMsg()];
        if (!fail) {
          std::string &global = messageGlobals[op.getMsg()];
          fail = buildFailBlock(module, func, op, callee, global);
        }
        Block *rest = block->splitBlock(std::next(Block::iterator(op)));
        OpBuilder b(op);
        cf::CondBranchOp::create(b, op.getLoc(), op.getArg(), rest, fail);
        op.erase();
      }
    }
  }

  /// `llvm.func @parsimony_check_failed(!llvm.ptr)`, the runtime's record of
  /// the failure (lib/Runtime/RunScope.cpp).
  LLVM::LLVMFuncOp declareCallee(ModuleOp module) {
    if (auto existing = SymbolTable::lookupSymbolIn(module, kCheckFailed))
      return cast<LLVM::LLVMFuncOp>(existing);
    auto b = OpBuilder::atBlockBegin(module.getBody());
    MLIRContext *ctx = module.getContext();
    auto type = LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx),
                                            {LLVM::LLVMPointerType::get(ctx)});
    return LLVM::LLVMFuncOp::create(b, module.getLoc(), kCheckFailed, type,
                                    LLVM::Linkage::External);
  }

  /// A block at the end of `func` that passes the message of `op` to the
  /// runtime and returns. `global` names the message's string constant
  /// (created on first use).
  Block *buildFailBlock(ModuleOp module, func::FuncOp func, cf::AssertOp op,
                        LLVM::LLVMFuncOp callee, std::string &global) {
    Block *fail = new Block();
    func.getBody().push_back(fail);
    auto b = OpBuilder::atBlockEnd(fail);
    Location loc = op.getLoc();
    Value message;
    if (global.empty()) {
      // Unique among the module's symbols (merged variants rename clashes).
      global = "parsimony_check_message";
      for (unsigned n = 0; SymbolTable::lookupSymbolIn(module, global); ++n)
        global = "parsimony_check_message_" + std::to_string(n);
      std::string text = op.getMsg().str();
      text.push_back('\0');
      message = LLVM::createGlobalString(loc, b, global, text,
                                         LLVM::Linkage::Internal);
    } else {
      message = LLVM::AddressOfOp::create(
          b, loc,
          cast<LLVM::GlobalOp>(SymbolTable::lookupSymbolIn(module, global)));
    }
    LLVM::CallOp::create(b, loc, callee, ValueRange{message});
    func::ReturnOp::create(b, loc);
    return fail;
  }
};

} // namespace
