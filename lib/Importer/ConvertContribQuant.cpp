//===- ConvertContribQuant.cpp - ONNX Runtime contrib operators -----------===//

#include "Importer.h"

using namespace mlir;
using namespace parsimony::onnximport;

void parsimony::onnximport::registerContribQuantConverters(
    llvm::StringMap<ConverterFn> &map) {}
