//===- WeightConstants.cpp - reading and writing constant weights ---------===//

#include "WeightConstants.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

using namespace mlir;

std::optional<std::vector<float>> spx::getConstantF32Values(Value value) {
  auto constant = value.getDefiningOp<arith::ConstantOp>();
  if (!constant)
    return std::nullopt;
  Attribute attr = constant.getValue();
  if (auto resource = dyn_cast<DenseF32ResourceElementsAttr>(attr)) {
    std::optional<ArrayRef<float>> data = resource.tryGetAsArrayRef();
    if (!data)
      return std::nullopt;
    return std::vector<float>(data->begin(), data->end());
  }
  if (auto dense = dyn_cast<DenseElementsAttr>(attr);
      dense && dense.getElementType().isF32()) {
    auto values = dense.getValues<float>();
    return std::vector<float>(values.begin(), values.end());
  }
  return std::nullopt;
}

template <typename T>
Value spx::createResourceConstant(OpBuilder &b, Location loc,
                                  RankedTensorType type, StringRef name,
                                  ArrayRef<T> data) {
  auto attr = mlir::detail::DenseResourceElementsAttrBase<T>::get(
      type, name, HeapAsmResourceBlob::allocateAndCopyInferAlign(data));
  return arith::ConstantOp::create(b, loc, cast<TypedAttr>(attr));
}

template Value spx::createResourceConstant<float>(OpBuilder &, Location,
                                                  RankedTensorType, StringRef,
                                                  ArrayRef<float>);
template Value spx::createResourceConstant<int8_t>(OpBuilder &, Location,
                                                   RankedTensorType, StringRef,
                                                   ArrayRef<int8_t>);

std::vector<float> spx::transpose(ArrayRef<float> data, int64_t rows,
                                  int64_t cols) {
  std::vector<float> out(data.size());
  // Blocked so both sides stay in cache for large weights.
  constexpr int64_t kBlock = 64;
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock)
    for (int64_t c0 = 0; c0 < cols; c0 += kBlock)
      for (int64_t r = r0; r < std::min(rows, r0 + kBlock); ++r)
        for (int64_t c = c0; c < std::min(cols, c0 + kBlock); ++c)
          out[c * rows + r] = data[r * cols + c];
  return out;
}
