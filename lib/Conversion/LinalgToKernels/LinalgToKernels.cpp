//===- LinalgToKernels.cpp - linalg contractions -> runtime sgemm calls ---===//
//
// Dense matmuls are where a transformer spends its time, and a packed,
// register-blocked GEMM is hard to get from generic loop codegen. This pass
// hands every f32 contraction on memrefs to the runtime's micro-kernels
// (parsimony_sgemm_batched), reading transposes and leading dimensions from
// the operands' static strided layouts.
//
//===----------------------------------------------------------------------===//

#include "parsimony/Conversion/KernelCalls.h"
#include "parsimony/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"

namespace parsimony {
#define GEN_PASS_DEF_CONVERTLINALGTOKERNELS
#include "parsimony/Conversion/Passes.h.inc"
} // namespace parsimony

using namespace mlir;
using namespace parsimony;

namespace {

constexpr StringLiteral kSgemmBatched = "parsimony_sgemm_batched";

/// How one matrix operand is laid out for the BLAS-style call.
struct MatrixOperand {
  Value memref;
  bool transposed = false;
  int64_t leadingDim = 1;
  int64_t batchStride = 0;
};

/// A group of loop dimensions of one role (batch, M, N or K) as seen by one
/// operand, collapsed into a single dimension.
struct CollapsedDim {
  bool present = false;
  int64_t stride = 0;
};

/// Collapses the operand dimensions that `loopDims` index into one. They must
/// be all present or all absent, appear consecutively in loop order, and be
/// contiguous with each other (stride[i] == stride[i+1] * size[i+1]).
static FailureOr<CollapsedDim> collapse(MemRefType type,
                                        ArrayRef<int64_t> strides,
                                        AffineMap map,
                                        ArrayRef<unsigned> loopDims) {
  SmallVector<int64_t> positions;
  for (unsigned loopDim : loopDims)
    for (auto [pos, expr] : llvm::enumerate(map.getResults()))
      if (auto dim = dyn_cast<AffineDimExpr>(expr);
          dim && dim.getPosition() == loopDim)
        positions.push_back(pos);
  if (positions.empty())
    return CollapsedDim{};
  if (positions.size() != loopDims.size())
    return failure();
  for (size_t i = 0; i + 1 < positions.size(); ++i) {
    int64_t outer = positions[i], inner = positions[i + 1];
    if (inner != outer + 1 || type.isDynamicDim(inner) ||
        ShapedType::isDynamic(strides[outer]) ||
        ShapedType::isDynamic(strides[inner]) ||
        strides[outer] != strides[inner] * type.getDimSize(inner))
      return failure();
  }
  int64_t stride = strides[positions.back()];
  if (ShapedType::isDynamic(stride))
    return failure();
  return CollapsedDim{true, stride};
}

/// Describes a [rows x cols] matrix operand (either may be absent = size 1)
/// for the call: row-major when the column stride is 1, transposed when the
/// row stride is 1. Fails for any other layout.
static FailureOr<MatrixOperand> describeMatrix(Value memref, AffineMap map,
                                               ArrayRef<unsigned> batchDims,
                                               ArrayRef<unsigned> rowDims,
                                               ArrayRef<unsigned> colDims,
                                               int64_t rowLength) {
  auto type = cast<MemRefType>(memref.getType());
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(type.getStridesAndOffset(strides, offset)))
    return failure();
  FailureOr<CollapsedDim> batch = collapse(type, strides, map, batchDims);
  FailureOr<CollapsedDim> row = collapse(type, strides, map, rowDims);
  FailureOr<CollapsedDim> col = collapse(type, strides, map, colDims);
  if (failed(batch) || failed(row) || failed(col))
    return failure();

  MatrixOperand result;
  result.memref = memref;
  result.batchStride = batch->stride;
  if (!col->present || col->stride == 1) {
    // Row-major. A missing row dimension (a vector) has any leading dim.
    result.leadingDim =
        row->present ? row->stride : std::max<int64_t>(rowLength, 1);
    if (row->present && row->stride < rowLength)
      return failure();
    return result;
  }
  if (!row->present || row->stride == 1) {
    result.transposed = true;
    result.leadingDim = col->stride;
    return result;
  }
  return failure();
}

struct LinalgToKernelsPass
    : parsimony::impl::ConvertLinalgToKernelsBase<LinalgToKernelsPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<linalg::LinalgOp> candidates;
    getOperation()->walk([&](linalg::LinalgOp op) {
      if (isCandidate(op))
        candidates.push_back(op);
    });
    for (linalg::LinalgOp op : candidates)
      if (failed(lower(op)))
        return signalPassFailure();
  }

  /// f32 contractions on memrefs.
  bool isCandidate(linalg::LinalgOp op) const {
    if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 ||
        op.getNumDpsInits() != 1 || !linalg::isaContractionOpInterface(op))
      return false;
    for (OpOperand &operand : op->getOpOperands()) {
      auto type = dyn_cast<MemRefType>(operand.get().getType());
      if (!type || !type.getElementType().isF32())
        return false;
    }
    FailureOr<linalg::ContractionDimensions> dims =
        linalg::inferContractionDims(op);
    return succeeded(dims) && !dims->k.empty();
  }

  LogicalResult lower(linalg::LinalgOp op) {
    linalg::ContractionDimensions dims = *linalg::inferContractionDims(op);
    SmallVector<int64_t> ranges = op.getStaticLoopRanges();
    // Each role's loop dimensions collapse into one (see `collapse`).
    auto rangeOf = [&](ArrayRef<unsigned> loopDims) -> int64_t {
      int64_t size = 1;
      for (unsigned d : loopDims) {
        if (ShapedType::isDynamic(ranges[d]))
          return ShapedType::kDynamic;
        size *= ranges[d];
      }
      return size;
    };
    int64_t m = rangeOf(dims.m), n = rangeOf(dims.n), k = rangeOf(dims.k);
    int64_t batch = rangeOf(dims.batch);
    if (ShapedType::isDynamic(m) || ShapedType::isDynamic(n) ||
        ShapedType::isDynamic(k) || ShapedType::isDynamic(batch))
      return success(); // Dynamic sizes stay as loops for now.
    if (minFlops > 0 && 2 * batch * m * n * k < minFlops)
      return success();

    SmallVector<AffineMap> maps = op.getIndexingMapsArray();
    Value lhsValue = op.getDpsInputOperand(0)->get();
    Value rhsValue = op.getDpsInputOperand(1)->get();
    Value accValue = op.getDpsInitOperand(0)->get();
    FailureOr<MatrixOperand> lhs =
        describeMatrix(lhsValue, maps[0], dims.batch, dims.m, dims.k, k);
    FailureOr<MatrixOperand> rhs =
        describeMatrix(rhsValue, maps[1], dims.batch, dims.k, dims.n, n);
    FailureOr<MatrixOperand> acc =
        describeMatrix(accValue, maps[2], dims.batch, dims.m, dims.n, n);
    if (failed(lhs) || failed(rhs) || failed(acc) || acc->transposed)
      return success(); // Unusual layouts stay as loops.

    OpBuilder b(op);
    Location loc = op.getLoc();
    // One constant per distinct value keeps the call site readable.
    DenseMap<std::pair<int64_t, unsigned>, Value> constants;
    auto integer = [&](int64_t v, unsigned width) {
      Value &c = constants[{v, width}];
      if (!c)
        c = arith::ConstantIntOp::create(b, loc, v, width);
      return c;
    };
    auto i64 = [&](int64_t v) { return integer(v, 64); };
    auto i32 = [&](bool v) { return integer(v ? 1 : 0, 32); };
    Value one =
        arith::ConstantFloatOp::create(b, loc, b.getF32Type(), APFloat(1.0f));
    SmallVector<Value> args = {i64(batch),
                               i64(m),
                               i64(n),
                               i64(k),
                               one,
                               getElementPointer(b, loc, lhs->memref),
                               i64(lhs->leadingDim),
                               i64(lhs->batchStride),
                               i32(lhs->transposed),
                               getElementPointer(b, loc, rhs->memref),
                               i64(rhs->leadingDim),
                               i64(rhs->batchStride),
                               i32(rhs->transposed),
                               one,
                               getElementPointer(b, loc, acc->memref),
                               i64(acc->leadingDim),
                               i64(acc->batchStride)};
    createKernelCall(b, loc, kSgemmBatched, args);
    op->erase();
    return success();
  }
};

} // namespace
