//===- Diagnostics.h - printing MLIR diagnostics as tool messages -*- C++
//-*-===//
//
// The tools and the C API print diagnostics as `error: <message>` lines;
// this is the one place that spells the severity prefixes.
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_SUPPORT_DIAGNOSTICS_H
#define PARSIMONY_SUPPORT_DIAGNOSTICS_H

#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/StringRef.h"

namespace parsimony {

/// "error: ", "warning: ", "note: " or "remark: ".
inline llvm::StringRef severityPrefix(mlir::DiagnosticSeverity severity) {
  switch (severity) {
  case mlir::DiagnosticSeverity::Error:
    return "error: ";
  case mlir::DiagnosticSeverity::Warning:
    return "warning: ";
  case mlir::DiagnosticSeverity::Note:
    return "note: ";
  case mlir::DiagnosticSeverity::Remark:
    return "remark: ";
  }
  return "";
}

} // namespace parsimony

#endif // PARSIMONY_SUPPORT_DIAGNOSTICS_H
