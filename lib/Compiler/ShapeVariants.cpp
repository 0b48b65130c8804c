//===- ShapeVariants.cpp - one library, several bindings of symbolic dims -===//
//
// Shapes are static inside the generated code, so a model with symbolic
// dimensions is compiled once per binding (`--dim seq=16,64,128`). Each
// binding is imported, prepared and lowered on its own; the lowered modules
// are then merged into one, so the library holds one entry per variant, the
// runtime declarations once and each weight once (variants read the same
// weights unless a shape-dependent transform made them differ). The
// generated wrapper picks the variant from the caller's input shapes at run
// time (docs/abi.md).
//
//===----------------------------------------------------------------------===//

#include "ConstantBytes.h"
#include "parsimony/Compiler/Compiler.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/AttrTypeSubElements.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringExtras.h"

#include <algorithm>
#include <cstring>

using namespace mlir;
using namespace parsimony;

FailureOr<std::vector<std::vector<DimBinding>>>
parsimony::enumerateShapeVariants(const CompileOptions &options,
                                  MLIRContext &context) {
  SmallVector<StringRef> names;
  for (const auto &dim : options.dims)
    names.push_back(dim.getKey());
  llvm::sort(names);
  std::vector<std::vector<DimBinding>> variants(1);
  for (StringRef name : names) {
    const SmallVector<int64_t, 1> &sizes = options.dims.find(name)->second;
    if (sizes.empty())
      return emitError(UnknownLoc::get(&context))
             << "--dim " << name << " lists no size";
    for (auto [i, size] : llvm::enumerate(sizes))
      if (llvm::is_contained(ArrayRef(sizes).take_front(i), size))
        return emitError(UnknownLoc::get(&context))
               << "--dim " << name << " lists the size " << size << " twice";
    if (variants.size() * sizes.size() > kMaxShapeVariants)
      return emitError(UnknownLoc::get(&context))
             << "the --dim lists make more than " << kMaxShapeVariants
             << " shape variants; compile separate libraries instead";
    std::vector<std::vector<DimBinding>> next;
    for (const std::vector<DimBinding> &prefix : variants)
      for (int64_t size : sizes) {
        next.push_back(prefix);
        next.back().push_back({name.str(), size});
      }
    variants = std::move(next);
  }
  return variants;
}

std::string parsimony::describeDims(ArrayRef<DimBinding> dims) {
  std::string text;
  for (const auto &[name, size] : dims)
    text += (text.empty() ? "" : ", ") + name + "=" + std::to_string(size);
  return text;
}

std::string parsimony::variantEntryName(const CompileOptions &options,
                                        size_t index, size_t numVariants) {
  if (numVariants == 1)
    return options.modelName + "_entry";
  return options.modelName + "_v" + std::to_string(index) + "_entry";
}

FailureOr<std::vector<ModelSignature>>
parsimony::loadAndLowerVariants(StringRef path, MLIRContext &context,
                                const CompileOptions &options,
                                OwningOpRef<ModuleOp> &lowered) {
  FailureOr<std::vector<std::vector<DimBinding>>> bindings =
      enumerateShapeVariants(options, context);
  if (failed(bindings))
    return failure();
  size_t numVariants = bindings->size();
  std::vector<ModelSignature> signatures;
  for (auto [index, binding] : llvm::enumerate(*bindings)) {
    CompileOptions variantOptions = options;
    variantOptions.dims.clear();
    for (const auto &[name, size] : binding)
      variantOptions.dims[name] = {size};
    // Errors in one variant name its binding.
    auto fail = [&]() -> FailureOr<std::vector<ModelSignature>> {
      if (numVariants > 1)
        emitError(UnknownLoc::get(&context))
            << "while compiling the shape variant " << describeDims(binding);
      return failure();
    };
    FailureOr<OwningOpRef<ModuleOp>> module =
        loadModel(path, context, variantOptions);
    if (failed(module))
      return fail();
    FailureOr<ModelSignature> signature =
        prepareEntry(**module, variantOptions,
                     variantEntryName(options, index, numVariants));
    if (failed(signature))
      return fail();
    // A listed dimension the model lacks would make identical variants.
    for (const auto &[name, size] : binding) {
      if (options.dims.lookup(name).size() < 2 ||
          llvm::any_of(signature->dims,
                       [&](const DimBinding &d) { return d.first == name; }))
        continue;
      InFlightDiagnostic diag = emitError(UnknownLoc::get(&context))
                                << "--dim " << name
                                << " lists several sizes, but no input or "
                                   "output of the model has a symbolic "
                                   "dimension '"
                                << name << "'";
      SmallVector<std::string> known;
      for (const DimBinding &d : signature->dims)
        known.push_back(d.first);
      if (!known.empty())
        diag << " (it has: " << llvm::join(known, ", ") << ")";
      return failure();
    }
    if (failed(lowerToLLVMDialect(**module, variantOptions)))
      return fail();
    if (!lowered)
      lowered = std::move(*module);
    else if (failed(mergeLoweredVariant(*lowered, **module,
                                        "v" + std::to_string(index) + ".")))
      return failure();
    signatures.push_back(std::move(*signature));
  }
  return signatures;
}

namespace {
/// A constant global of the merged module whose bytes variants may share.
struct SharedConstant {
  LLVM::GlobalOp global;
  ArrayRef<char> bytes;
};

bool sameConstant(LLVM::GlobalOp a, ArrayRef<char> aBytes, LLVM::GlobalOp b,
                  ArrayRef<char> bBytes) {
  return a.getGlobalType() == b.getGlobalType() &&
         a.getAlignment() == b.getAlignment() &&
         a.getAddrSpace() == b.getAddrSpace() &&
         aBytes.size() == bBytes.size() &&
         std::memcmp(aBytes.data(), bBytes.data(), aBytes.size()) == 0;
}
/// Whether `symbol` is visible only inside its module, so that a variant's
/// copy may be renamed: private in MLIR's sense, or an LLVM global or
/// function with private or internal linkage (bufferization's
/// `__constant_*` globals are those, but public symbols to MLIR).
bool isLocalSymbol(SymbolOpInterface symbol) {
  auto isLocal = [](LLVM::Linkage linkage) {
    return linkage == LLVM::Linkage::Private ||
           linkage == LLVM::Linkage::Internal;
  };
  if (auto global = dyn_cast<LLVM::GlobalOp>(symbol.getOperation()))
    if (isLocal(global.getLinkage()))
      return true;
  if (auto func = dyn_cast<LLVM::LLVMFuncOp>(symbol.getOperation()))
    if (isLocal(func.getLinkage()))
      return true;
  return !symbol.isPublic();
}
} // namespace

LogicalResult parsimony::mergeLoweredVariant(ModuleOp merged, ModuleOp variant,
                                             StringRef prefix) {
  SymbolTable mergedSymbols(merged);
  // The merged module's weights, by size: candidates to share.
  DenseMap<size_t, SmallVector<SharedConstant>> constants;
  for (auto global : merged.getOps<LLVM::GlobalOp>())
    if (std::optional<ArrayRef<char>> bytes = getConstantBytes(global))
      constants[bytes->size()].push_back({global, *bytes});

  DenseMap<StringAttr, StringAttr> renames;
  SmallVector<Operation *> erase;
  for (Operation &op : variant.getBody()->getOperations()) {
    auto symbol = dyn_cast<SymbolOpInterface>(&op);
    if (!symbol)
      continue;
    StringAttr name = symbol.getNameAttr();
    Operation *existing = mergedSymbols.lookup(name);
    // Runtime functions and other declarations: one declaration serves all.
    auto function = dyn_cast<FunctionOpInterface>(&op);
    if (symbol.isDeclaration() || (function && function.isExternal())) {
      if (!existing)
        continue;
      auto a = dyn_cast<LLVM::LLVMFuncOp>(&op);
      auto b = dyn_cast<LLVM::LLVMFuncOp>(existing);
      if (!a || !b || a.getFunctionType() != b.getFunctionType())
        return op.emitError() << "shape variants declare '" << name.getValue()
                              << "' differently";
      erase.push_back(&op);
      continue;
    }
    if (auto global = dyn_cast<LLVM::GlobalOp>(&op)) {
      std::optional<ArrayRef<char>> bytes = getConstantBytes(global);
      SharedConstant *same = nullptr;
      if (bytes) {
        auto candidates = constants.find(bytes->size());
        if (candidates != constants.end())
          for (SharedConstant &c : candidates->second)
            if (sameConstant(c.global, c.bytes, global, *bytes)) {
              same = &c;
              break;
            }
      }
      if (same) {
        if (same->global.getSymNameAttr() != name)
          renames[name] = same->global.getSymNameAttr();
        erase.push_back(&op);
        continue;
      }
    }
    if (!existing)
      continue;
    if (!isLocalSymbol(symbol))
      return op.emitError() << "shape variants both define the public symbol '"
                            << name.getValue() << "'";
    std::string fresh = (prefix + name.getValue()).str();
    for (unsigned n = 0;
         mergedSymbols.lookup(fresh) || variant.lookupSymbol(fresh); ++n)
      fresh = (prefix + name.getValue() + "." + Twine(n)).str();
    StringAttr freshName = StringAttr::get(merged.getContext(), fresh);
    renames[name] = freshName;
    symbol.setName(freshName);
  }

  if (!renames.empty()) {
    AttrTypeReplacer replacer;
    // Only roots name top-level symbols: never descend into nested
    // references (@binary::@kernel), whose names live in other tables.
    replacer.addReplacement(
        [&](SymbolRefAttr ref)
            -> std::optional<std::pair<Attribute, WalkResult>> {
          auto it = renames.find(ref.getRootReference());
          if (it == renames.end())
            return std::make_pair(Attribute(ref), WalkResult::skip());
          return std::make_pair(Attribute(SymbolRefAttr::get(
                                    it->second, ref.getNestedReferences())),
                                WalkResult::skip());
        });
    for (Operation &op : variant.getBody()->getOperations())
      if (!llvm::is_contained(erase, &op))
        replacer.recursivelyReplaceElementsIn(&op, /*replaceAttrs=*/true,
                                              /*replaceLocs=*/false,
                                              /*replaceTypes=*/false);
  }
  for (Operation *op : erase)
    op->erase();
  Block *into = merged.getBody();
  into->getOperations().splice(into->end(), variant.getBody()->getOperations());
  return success();
}
