//===- OutputFile.cpp - write tool outputs without partial files ----------===//

#include "parsimony/Support/OutputFile.h"

#include "llvm/Support/Error.h"
#include "llvm/Support/FileSystem.h"

using namespace mlir;

/// Runs `write` on `os` and reports a failed write of `path`.
static LogicalResult
writeStream(llvm::raw_fd_ostream &os, llvm::StringRef path,
            llvm::function_ref<LogicalResult(llvm::raw_ostream &)> write) {
  bool ok = succeeded(write(os));
  os.flush();
  if (os.has_error()) {
    os.clear_error();
    llvm::errs() << "error: cannot write '" << path << "'\n";
    return failure();
  }
  return success(ok);
}

LogicalResult parsimony::writeOutputFile(
    llvm::StringRef path,
    llvm::function_ref<LogicalResult(llvm::raw_ostream &)> write) {
  if (path == "-")
    return writeStream(llvm::outs(), "<stdout>", write);

  llvm::sys::fs::file_status status;
  if (!llvm::sys::fs::status(path, status) && llvm::sys::fs::exists(status) &&
      !llvm::sys::fs::is_regular_file(status)) {
    std::error_code ec;
    llvm::raw_fd_ostream os(path, ec);
    if (ec) {
      llvm::errs() << "error: cannot open '" << path << "': " << ec.message()
                   << "\n";
      return failure();
    }
    return writeStream(os, path, write);
  }

  llvm::Expected<llvm::sys::fs::TempFile> temp =
      llvm::sys::fs::TempFile::create(path + ".tmp-%%%%%%");
  if (!temp) {
    llvm::errs() << "error: cannot create a temporary file next to '" << path
                 << "': " << llvm::toString(temp.takeError()) << "\n";
    return failure();
  }
  LogicalResult written = failure();
  {
    llvm::raw_fd_ostream os(temp->FD, /*shouldClose=*/false);
    written = writeStream(os, path, write);
  }
  if (failed(written)) {
    llvm::consumeError(temp->discard());
    return failure();
  }
  if (llvm::Error e = temp->keep(path)) {
    llvm::errs() << "error: cannot write '" << path
                 << "': " << llvm::toString(std::move(e)) << "\n";
    return failure();
  }
  return success();
}

LogicalResult parsimony::writeFileAtomically(llvm::StringRef path,
                                             llvm::StringRef contents) {
  return writeOutputFile(path, [&](llvm::raw_ostream &os) {
    os << contents;
    return success();
  });
}
