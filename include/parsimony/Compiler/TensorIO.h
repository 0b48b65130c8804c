//===- TensorIO.h - host tensors, .npy and ONNX .pb files -------*- C++ -*-===//

#ifndef PARSIMONY_COMPILER_TENSORIO_H
#define PARSIMONY_COMPILER_TENSORIO_H

#include "parsimony/Compiler/Compiler.h"

#include <string>
#include <vector>

namespace parsimony {

/// A contiguous row-major tensor in host memory.
struct HostTensor {
  std::string name;
  DType dtype = DType::Float32;
  llvm::SmallVector<int64_t> shape;
  std::vector<char> data;

  int64_t numElements() const;
  /// Allocates zeroed storage for `shape`.
  void allocate();
};

/// Reads a NumPy .npy file (C order, little-endian numeric dtypes).
/// On failure returns false and sets `error`.
bool readNpy(llvm::StringRef path, HostTensor &tensor, std::string &error);
bool writeNpy(llvm::StringRef path, const HostTensor &tensor,
              std::string &error);

/// Reads a serialized ONNX TensorProto (.pb), as ONNX backend tests store
/// their inputs and outputs.
bool readTensorProto(llvm::StringRef path, HostTensor &tensor,
                     std::string &error);

/// Dispatches on the extension: .npy or .pb.
bool readTensorFile(llvm::StringRef path, HostTensor &tensor,
                    std::string &error);

/// Converts every element to double (for comparisons and statistics).
std::vector<double> toDoubles(const HostTensor &tensor);

} // namespace parsimony

#endif // PARSIMONY_COMPILER_TENSORIO_H
