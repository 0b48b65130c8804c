//===- PtxInterpreter.h - runs generated PTX kernels on the SIMT emulator -===//
//
// The emulated CUDA driver runs the kernel library as host code, but a
// model's generated kernels only exist as PTX (--gpu-binary=ptx embeds it).
// This interprets that PTX, one fiber per GPU thread, so whole models run
// on the emulator. It covers the PTX that LLVM's NVPTX backend emits for
// the generated kernels (integer and float arithmetic, comparisons,
// conversions, predicated branches, global and parameter memory, the
// approximate math instructions, bar.sync); anything else is rejected when
// the module loads, naming the line, so a new construct fails loudly
// instead of running wrong.
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_UNITTESTS_PTXINTERPRETER_H
#define PARSIMONY_UNITTESTS_PTXINTERPRETER_H

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "SimtEmulator.h"

namespace ptx {

struct Kernel;

/// The .entry kernels of one PTX module.
class SIMT_API Module {
public:
  /// Parses `text`; on failure returns null and sets `error`.
  static std::unique_ptr<Module> parse(const std::string &text,
                                       std::string &error);
  ~Module();

  /// The kernel called `name`, or null.
  const Kernel *kernel(const std::string &name) const;

private:
  std::map<std::string, std::unique_ptr<Kernel>> kernels;
};

/// The byte size of each of `kernel`'s parameters, in order.
SIMT_API const std::vector<unsigned> &parameterSizes(const Kernel &kernel);

/// Runs `kernel` over a grid; `params` as cuLaunchKernel takes them (one
/// pointer per .param). Returns "" or what went wrong.
SIMT_API std::string launch(const Kernel &kernel, simt::Dim3 grid,
                            simt::Dim3 block, void **params);

} // namespace ptx

#endif // PARSIMONY_UNITTESTS_PTXINTERPRETER_H
