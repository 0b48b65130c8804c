//===- CompileOptions.cpp - one validated place for compile options -------===//

#include "parsimony/Compiler/Compiler.h"

#include "llvm/ADT/StringExtras.h"

#include <cmath>

using namespace parsimony;
using llvm::StringRef;

static bool isCIdentifier(StringRef name) {
  if (name.empty() || !(llvm::isAlpha(name.front()) || name.front() == '_'))
    return false;
  return llvm::all_of(name,
                      [](char c) { return llvm::isAlnum(c) || c == '_'; });
}

OptionStatus parsimony::setCompileOption(CompileOptions &o, StringRef name,
                                         StringRef value,
                                         std::string &message) {
  std::string key = name.str();
  std::replace(key.begin(), key.end(), '_', '-');
  auto invalid = [&](StringRef expected) {
    message = ("invalid value '" + value + "' for --" + key + ": expected " +
               expected)
                  .str();
    return OptionStatus::invalid;
  };
  auto unsupported = [&](StringRef detail) {
    message = ("--" + key + "=" + value +
               " is not supported by this build of Parsimony" + detail)
                  .str();
    return OptionStatus::unsupported;
  };

  if (key == "target") {
    if (value == "cpu") {
      o.target = "cpu";
      return OptionStatus::ok;
    }
    if (value == "nvptx") {
      if (!isGpuTargetAvailable())
        return unsupported(" (it was built without a CUDA toolkit; supported "
                           "targets: cpu)");
      o.target = "nvptx";
      return OptionStatus::ok;
    }
    return invalid("cpu or nvptx");
  }
  if (key == "weights") {
    if (value != "auto" && value != "embed" && value != "sidecar")
      return invalid("auto, embed or sidecar");
    o.weights = value.str();
    return OptionStatus::ok;
  }
  if (key == "gpu-arch") {
    unsigned sm;
    StringRef digits = value;
    if (!digits.consume_front("sm_") || digits.getAsInteger(10, sm) || sm < 50)
      return invalid("sm_NN with NN >= 50 (sm_80, sm_90, ...)");
    o.gpuArch = value.str();
    return OptionStatus::ok;
  }
  if (key == "gpu-binary") {
    if (value != "fatbin" && value != "ptx")
      return invalid("fatbin or ptx");
    o.gpuBinaryFormat = value == "ptx" ? "isa" : "fatbin";
    return OptionStatus::ok;
  }
  if (key == "cpu") {
    if (value.empty())
      return invalid("native, x86-64-v3, x86-64-v4 or an LLVM CPU name");
    o.cpu = value.str();
    return OptionStatus::ok;
  }
  if (key == "moe") {
    if (value != "dropless" && value != "capacity")
      return invalid("dropless or capacity");
    o.moe = value.str();
    return OptionStatus::ok;
  }
  if (key == "capacity-factor") {
    double factor;
    if (value.trim().getAsDouble(factor) || !std::isfinite(factor) ||
        factor <= 0.0)
      return invalid("a positive number");
    o.capacityFactor = factor;
    return OptionStatus::ok;
  }
  if (key == "sparse-ffn") {
    if (value != "off" && value != "exact" && value != "predict")
      return invalid("off, exact or predict");
    o.sparseFFN = value.str();
    return OptionStatus::ok;
  }
  if (key == "topk") {
    int64_t k;
    if (value.trim().getAsInteger(10, k) || k <= 0)
      return invalid("a positive integer");
    o.topk = k;
    return OptionStatus::ok;
  }
  if (key == "predictor") {
    StringRef rest = value;
    int64_t rank = 0;
    bool lowRank = rest.consume_front("lowrank:");
    if (lowRank ? (rest.getAsInteger(10, rank) || rank <= 0)
                : (rest != "int8" && rest != "int4"))
      return invalid("int8, int4 or lowrank:R with a positive rank R");
    o.predictor = value.str();
    return OptionStatus::ok;
  }
  if (key == "quantize") {
    if (value != "int8" && value != "int4" && value != "none")
      return invalid("int8, int4 or none");
    o.quantize = value == "none" ? "" : value.str();
    return OptionStatus::ok;
  }
  if (key == "group-size") {
    int64_t size;
    if (value.trim().getAsInteger(10, size) ||
        (size != 32 && size != 64 && size != 128))
      return invalid("32, 64 or 128");
    o.groupSize = size;
    return OptionStatus::ok;
  }
  if (key == "name") {
    if (!isCIdentifier(value))
      return invalid("a C identifier");
    o.modelName = value.str();
    return OptionStatus::ok;
  }
  if (key == "entry") {
    o.entry = value.str();
    return OptionStatus::ok;
  }
  if (key == "kernels" || key == "approximate-math" ||
      key == "fuse-epilogues" || key == "runtime-checks") {
    bool flag;
    std::string lower = value.lower();
    if (lower == "true" || lower == "1" || lower == "on")
      flag = true;
    else if (lower == "false" || lower == "0" || lower == "off")
      flag = false;
    else
      return invalid("true or false");
    (key == "kernels"          ? o.useKernels
     : key == "fuse-epilogues" ? o.fuseEpilogues
     : key == "runtime-checks" ? o.runtimeChecks
                               : o.approximateMath) = flag;
    return OptionStatus::ok;
  }
  if (key == "dim") {
    auto [dim, list] = value.split('=');
    llvm::SmallVector<StringRef> items;
    list.split(items, ',');
    llvm::SmallVector<int64_t, 1> sizes;
    for (StringRef item : items) {
      int64_t n;
      if (item.trim().getAsInteger(10, n) || n <= 0)
        return invalid("NAME=VALUE or NAME=V1,V2,... with positive sizes");
      if (llvm::is_contained(sizes, n))
        return invalid("each size once");
      sizes.push_back(n);
    }
    if (dim.empty())
      return invalid("NAME=VALUE or NAME=V1,V2,... with positive sizes");
    o.dims[dim] = std::move(sizes);
    return OptionStatus::ok;
  }
  message = "unknown compile option --" + key;
  return OptionStatus::unknown;
}
