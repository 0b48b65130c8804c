//===- SpxToRuntime.h - spx ops bufferize into runtime kernels --*- C++ -*-===//

#ifndef PARSIMONY_CONVERSION_SPXTORUNTIME_H
#define PARSIMONY_CONVERSION_SPXTORUNTIME_H

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace parsimony {

/// Attaches BufferizableOpInterface models to the spx ops: one-shot
/// bufferization turns each op into a call to its kernel in
/// include/parsimony/Runtime/SpxKernels.h (spx.moe is decomposed first by
/// --spx-decompose-moe).
void registerSpxBufferizationModels(mlir::DialectRegistry &registry);

} // namespace parsimony

#endif // PARSIMONY_CONVERSION_SPXTORUNTIME_H
