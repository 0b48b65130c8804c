//===- ExternalWeights.cpp - weights in a memory-mapped sidecar file ------===//
//
// A model's weights are LLVM constants; embedded, they make the library as
// large as the model, and past 2 GB they no longer link with the default
// code model. Externalized, each large constant becomes a pointer global
// that a generated bind function points into the sidecar file, which the
// library maps read-only when it is loaded (docs/abi.md).
//
// Sidecar layout: a 64-byte header {magic "PRSMWGT1", u64 build id, u64
// payload bytes, u64 tensor count, zeros}, then each tensor at a 64-byte
// aligned offset. The build id ties a file to the library it was written
// with.
//
//===----------------------------------------------------------------------===//

#include "ConstantBytes.h"
#include "parsimony/Compiler/Compiler.h"
#include "parsimony/Support/OutputFile.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/RandomNumberGenerator.h"

#include <random>

using namespace mlir;
using namespace parsimony;

namespace {

constexpr int64_t kAlignment = 64;
constexpr int64_t kHeaderBytes = 64;

/// Whether every use of `global` is an addressof inside a function body.
bool onlyUsedInFunctions(LLVM::GlobalOp global, ModuleOp module) {
  std::optional<SymbolTable::UseRange> uses =
      SymbolTable::getSymbolUses(global, module);
  if (!uses)
    return false;
  for (const SymbolTable::SymbolUse &use : *uses) {
    auto addressOf = dyn_cast<LLVM::AddressOfOp>(use.getUser());
    if (!addressOf || !addressOf->getParentOfType<LLVM::LLVMFuncOp>())
      return false;
  }
  return true;
}

} // namespace

std::optional<ArrayRef<char>>
parsimony::getConstantBytes(LLVM::GlobalOp global) {
  if (!global.getConstant())
    return std::nullopt;
  auto elements = dyn_cast_or_null<ElementsAttr>(global.getValueOrNull());
  if (!elements)
    return std::nullopt;
  Type elementType = elements.getElementType();
  if (!elementType.isIntOrFloat() ||
      elementType.getIntOrFloatBitWidth() % 8 != 0)
    return std::nullopt;
  int64_t expected =
      elements.getNumElements() * (elementType.getIntOrFloatBitWidth() / 8);
  ArrayRef<char> data;
  if (auto dense = dyn_cast<DenseElementsAttr>(elements)) {
    if (dense.isSplat())
      return std::nullopt;
    data = dense.getRawData();
  } else if (auto resource = dyn_cast<DenseResourceElementsAttr>(elements)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob)
      return std::nullopt;
    data = blob->getData();
  } else {
    return std::nullopt;
  }
  if (static_cast<int64_t>(data.size()) != expected)
    return std::nullopt;
  return data;
}

FailureOr<std::optional<WeightsFile>>
parsimony::externalizeWeights(ModuleOp module, const CompileOptions &options,
                              StringRef libraryPath) {
  if (options.weights == "embed")
    return std::optional<WeightsFile>();

  struct Candidate {
    LLVM::GlobalOp global;
    ArrayRef<char> bytes;
  };
  SmallVector<Candidate> candidates;
  int64_t total = 0;
  for (auto global : module.getOps<LLVM::GlobalOp>()) {
    std::optional<ArrayRef<char>> bytes = getConstantBytes(global);
    if (!bytes ||
        static_cast<int64_t>(bytes->size()) < options.minSidecarBytes ||
        !onlyUsedInFunctions(global, module))
      continue;
    candidates.push_back({global, *bytes});
    total += static_cast<int64_t>(bytes->size());
  }
  if (candidates.empty() ||
      (options.weights == "auto" && total < options.autoSidecarBytes))
    return std::optional<WeightsFile>();

  WeightsFile file;
  file.path = (libraryPath + ".weights").str();
  std::random_device random;
  file.buildId = (uint64_t(random()) << 32) ^ uint64_t(random()) ^
                 uint64_t(reinterpret_cast<uintptr_t>(&file));
  file.count = candidates.size();

  // Offsets, then the file (streamed: weights may be larger than memory
  // would like to hold twice).
  SmallVector<int64_t> offsets;
  int64_t offset = 0;
  for (const Candidate &c : candidates) {
    offsets.push_back(offset);
    offset = llvm::alignTo(offset + static_cast<int64_t>(c.bytes.size()),
                           kAlignment);
  }
  file.payloadBytes = offset;
  LogicalResult written = writeOutputFile(file.path, [&](raw_ostream &os) {
    char header[kHeaderBytes] = {};
    std::memcpy(header, "PRSMWGT1", 8);
    llvm::support::endian::write64le(header + 8, file.buildId);
    llvm::support::endian::write64le(header + 16, uint64_t(file.payloadBytes));
    llvm::support::endian::write64le(header + 24, uint64_t(file.count));
    os.write(header, kHeaderBytes);
    int64_t at = 0;
    for (auto [c, start] : llvm::zip(candidates, offsets)) {
      os.write_zeros(static_cast<unsigned>(start - at));
      os.write(c.bytes.data(), c.bytes.size());
      at = start + static_cast<int64_t>(c.bytes.size());
    }
    os.write_zeros(static_cast<unsigned>(file.payloadBytes - at));
    return success();
  });
  if (failed(written))
    return failure();

  // Each constant becomes a pointer global, bound to its place in the file.
  MLIRContext *ctx = module.getContext();
  auto ptr = LLVM::LLVMPointerType::get(ctx);
  auto i64 = IntegerType::get(ctx, 64);
  OpBuilder b(ctx);
  b.setInsertionPointToEnd(module.getBody());
  auto bind = LLVM::LLVMFuncOp::create(
      b, module.getLoc(), options.modelName + "_bind_weights",
      LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx), {ptr}));
  Block *body = bind.addEntryBlock(b);
  OpBuilder bb = OpBuilder::atBlockEnd(body);
  Value base = body->getArgument(0);
  for (auto [c, start] : llvm::zip(candidates, offsets)) {
    LLVM::GlobalOp global = c.global;
    Location loc = global.getLoc();
    std::string name = (global.getSymName() + "__weights").str();
    b.setInsertionPoint(global);
    auto pointerGlobal =
        LLVM::GlobalOp::create(b, loc, ptr, /*isConstant=*/false,
                               LLVM::Linkage::Internal, name, Attribute());
    {
      // Zero-initialized until bound.
      Block *init = b.createBlock(&pointerGlobal.getInitializerRegion());
      OpBuilder ib = OpBuilder::atBlockEnd(init);
      LLVM::ReturnOp::create(ib, loc, LLVM::ZeroOp::create(ib, loc, ptr));
    }
    Value address = LLVM::GEPOp::create(
        bb, loc, ptr, bb.getI8Type(), base,
        ValueRange{LLVM::ConstantOp::create(
            bb, loc, i64, bb.getI64IntegerAttr(kHeaderBytes + start))});
    Value slot = LLVM::AddressOfOp::create(bb, loc, pointerGlobal);
    LLVM::StoreOp::create(bb, loc, address, slot);

    // Every use loads the bound address instead.
    SmallVector<LLVM::AddressOfOp> uses;
    std::optional<SymbolTable::UseRange> symbolUses =
        SymbolTable::getSymbolUses(global, module);
    for (const SymbolTable::SymbolUse &use : *symbolUses)
      uses.push_back(cast<LLVM::AddressOfOp>(use.getUser()));
    for (LLVM::AddressOfOp use : uses) {
      OpBuilder ub(use);
      Value slotAddress = LLVM::AddressOfOp::create(ub, loc, pointerGlobal);
      Value loaded = LLVM::LoadOp::create(ub, loc, ptr, slotAddress);
      use.replaceAllUsesWith(loaded);
      use.erase();
    }
    global.erase();
  }
  LLVM::ReturnOp::create(bb, module.getLoc(), ValueRange());
  return std::optional<WeightsFile>(file);
}
