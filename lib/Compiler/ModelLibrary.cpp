//===- ModelLibrary.cpp - load a compiled model library -------------------===//

#include "parsimony/Compiler/ModelLibrary.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"

#include <dlfcn.h>

using namespace parsimony;

namespace {
/// Mirrors parsimony_tensor_info / parsimony_model_info, which the
/// generated header defines (docs/abi.md).
struct AbiTensorInfo {
  const char *name;
  int32_t dtype;
  int32_t rank;
  const int64_t *shape;
};
struct AbiModelInfo {
  uint32_t abiVersion;
  const char *name;
  int32_t numInputs;
  const AbiTensorInfo *inputs;
  int32_t numOutputs;
  const AbiTensorInfo *outputs;
  // Present in libraries that export parsimony_model_v1_num_variants.
  int32_t numDims;
  const char *const *dimNames;
  const int64_t *dimValues;
};
using AbiInfoFn = const AbiModelInfo *(*)();
using AbiNumVariantsFn = int32_t (*)();
using AbiVariantInfoFn = const AbiModelInfo *(*)(int32_t);

std::vector<TensorSignature> describe(const AbiTensorInfo *infos,
                                      int32_t count) {
  std::vector<TensorSignature> tensors;
  for (int32_t i = 0; i < count; ++i) {
    TensorSignature t;
    t.name = infos[i].name ? infos[i].name : "";
    t.dtype = static_cast<DType>(infos[i].dtype);
    t.shape.assign(infos[i].shape, infos[i].shape + infos[i].rank);
    tensors.push_back(std::move(t));
  }
  return tensors;
}
} // namespace

std::unique_ptr<ModelLibrary> ModelLibrary::load(llvm::StringRef path,
                                                 std::string &error) {
  // dlopen searches the library path for names without a slash.
  llvm::SmallString<256> absolute(path);
  llvm::sys::fs::make_absolute(absolute);
  std::unique_ptr<ModelLibrary> library(new ModelLibrary());
  dlerror();
  library->handle = dlopen(absolute.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library->handle) {
    const char *reason = dlerror();
    error = "cannot load '" + path.str() +
            "': " + (reason ? reason : "unknown dlopen error");
    return nullptr;
  }
  auto info = reinterpret_cast<AbiInfoFn>(
      dlsym(library->handle, "parsimony_model_v1_info"));
  library->runFn =
      reinterpret_cast<RunFn>(dlsym(library->handle, "parsimony_model_v1_run"));
  // Optional: libraries from before the GPU target lack it.
  library->lastErrorFn = reinterpret_cast<LastErrorFn>(
      dlsym(library->handle, "parsimony_model_v1_last_error"));
  if (!info || !library->runFn) {
    error = "'" + path.str() +
            "' is not a Parsimony model library (no parsimony_model_v1_* "
            "entry points)";
    return nullptr;
  }
  const AbiModelInfo *abi = info();
  if (!abi || abi->abiVersion != 1) {
    error = "'" + path.str() + "' has model ABI version " +
            std::to_string(abi ? abi->abiVersion : 0) + ", expected 1";
    return nullptr;
  }
  // Optional: the sparsity profiler.
  library->profileBegin = reinterpret_cast<VoidFn>(
      dlsym(library->handle, "parsimony_model_v1_profile_begin"));
  library->profileReport = reinterpret_cast<ReportFn>(
      dlsym(library->handle, "parsimony_model_v1_profile_report"));
  library->profileEnd = reinterpret_cast<VoidFn>(
      dlsym(library->handle, "parsimony_model_v1_profile_end"));
  // Optional: shape variants (libraries without them have one).
  auto numVariants = reinterpret_cast<AbiNumVariantsFn>(
      dlsym(library->handle, "parsimony_model_v1_num_variants"));
  auto variantInfo = reinterpret_cast<AbiVariantInfoFn>(
      dlsym(library->handle, "parsimony_model_v1_variant_info"));
  library->runVariantFn = reinterpret_cast<RunVariantFn>(
      dlsym(library->handle, "parsimony_model_v1_run_variant"));
  if (!numVariants || !variantInfo || !library->runVariantFn) {
    library->runVariantFn = nullptr;
    ModelSignature signature;
    signature.inputs = describe(abi->inputs, abi->numInputs);
    signature.outputs = describe(abi->outputs, abi->numOutputs);
    library->variants.push_back(std::move(signature));
    return library;
  }
  for (int32_t v = 0, e = numVariants(); v < e; ++v) {
    const AbiModelInfo *variant = variantInfo(v);
    if (!variant) {
      error = "'" + path.str() + "' lists " + std::to_string(e) +
              " shape variants but describes no variant " + std::to_string(v);
      return nullptr;
    }
    ModelSignature signature;
    signature.inputs = describe(variant->inputs, variant->numInputs);
    signature.outputs = describe(variant->outputs, variant->numOutputs);
    for (int32_t d = 0; d < variant->numDims; ++d)
      signature.dims.push_back(
          {variant->dimNames[d] ? variant->dimNames[d] : "",
           variant->dimValues[d]});
    library->variants.push_back(std::move(signature));
  }
  if (library->variants.empty()) {
    error = "'" + path.str() + "' has no shape variants";
    return nullptr;
  }
  return library;
}

ModelLibrary::~ModelLibrary() {
  if (!handle)
    return;
  // The runtime's workers run code of this library: stop them before it is
  // unmapped (libraries without the hook are left loaded).
  auto unload =
      reinterpret_cast<void (*)()>(dlsym(handle, "parsimony_model_v1_unload"));
  if (!unload)
    return;
  unload();
  dlclose(handle);
}

std::optional<size_t> ModelLibrary::findVariant(
    llvm::ArrayRef<llvm::SmallVector<int64_t>> shapes) const {
  for (auto [v, signature] : llvm::enumerate(variants)) {
    if (signature.inputs.size() != shapes.size())
      continue;
    if (llvm::all_of(llvm::zip(signature.inputs, shapes), [](auto pair) {
          return std::get<0>(pair).shape == std::get<1>(pair);
        }))
      return v;
  }
  return std::nullopt;
}

int32_t ModelLibrary::profile(const void *const *inputs, void *const *outputs,
                              std::string &report, size_t variant) const {
  report.clear();
  if (!canProfile())
    return -1;
  std::lock_guard<std::mutex> lock(profileMutex);
  profileBegin();
  int32_t rc = run(inputs, outputs, variant);
  if (rc == 0) {
    int64_t length = profileReport(nullptr, 0);
    std::string text(static_cast<size_t>(length) + 1, '\0');
    profileReport(text.data(), length + 1);
    text.resize(static_cast<size_t>(length));
    report = std::move(text);
  }
  profileEnd();
  return rc;
}
