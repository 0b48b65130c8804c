//===- OutputFile.h - write tool outputs without partial files --*- C++ -*-===//

#ifndef PARSIMONY_SUPPORT_OUTPUTFILE_H
#define PARSIMONY_SUPPORT_OUTPUTFILE_H

#include "mlir/Support/LLVM.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/raw_ostream.h"

namespace parsimony {

/// Writes an output file through `write`:
/// - "-" is standard output;
/// - devices, pipes and other special files (-o /dev/null) are written in
///   place: renaming over them would replace them;
/// - anything else is written to a temporary next to it and renamed into
///   place only when `write` and the write itself succeeded, so a failed run
///   never leaves a partial file.
/// Reports failures as `error: ...` on stderr.
mlir::LogicalResult writeOutputFile(
    llvm::StringRef path,
    llvm::function_ref<mlir::LogicalResult(llvm::raw_ostream &)> write);

/// writeOutputFile for contents already in memory.
mlir::LogicalResult writeFileAtomically(llvm::StringRef path,
                                        llvm::StringRef contents);

} // namespace parsimony

#endif // PARSIMONY_SUPPORT_OUTPUTFILE_H
