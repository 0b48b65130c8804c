//===- ConvertContribAttention.cpp - ONNX Runtime contrib operators -----------===//

#include "Importer.h"

using namespace mlir;
using namespace parsimony::onnximport;

void parsimony::onnximport::registerContribAttentionConverters(
    llvm::StringMap<ConverterFn> &map) {}
