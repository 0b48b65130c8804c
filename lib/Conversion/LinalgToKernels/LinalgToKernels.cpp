//===- LinalgToKernels.cpp - linalg contractions -> runtime sgemm calls ---===//
//
// Dense matmuls are where a transformer spends its time, and a packed,
// register-blocked GEMM is hard to get from generic loop codegen. This pass
// hands every f32 contraction on memrefs to the runtime's micro-kernels
// (parsimony_sgemm_batched), reading transposes and leading dimensions from
// the operands' strided layouts (static, or read at run time from the
// memref descriptors where sizes or strides are dynamic).
//
//===----------------------------------------------------------------------===//

#include "parsimony/Conversion/KernelCalls.h"
#include "parsimony/Conversion/Passes.h"
#include "parsimony/Support/Contraction.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
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

/// A stride of an operand: a static value, or the run-time stride of memref
/// dimension `dim` (read from its strided metadata).
struct Stride {
  int64_t value = 0;
  int64_t dim = -1;
  bool isDynamic() const { return dim >= 0; }
  bool is(int64_t v) const { return !isDynamic() && value == v; }
};

/// How one matrix operand is laid out for the BLAS-style call. A missing
/// leading dimension (a vector) is the row length.
struct MatrixOperand {
  Value memref;
  bool transposed = false;
  std::optional<Stride> leadingDim;
  Stride batchStride;
};

/// A group of loop dimensions of one role (batch, M, N or K) as seen by one
/// operand, collapsed into a single dimension.
struct CollapsedDim {
  bool present = false;
  Stride stride;
};

/// Collapses the operand dimensions that `loopDims` index into one. They must
/// be all present or all absent, appear consecutively in loop order, and be
/// contiguous with each other (stride[i] == stride[i+1] * size[i+1]: checked
/// on static strides and sizes, and true by construction of an identity
/// layout, whatever its dynamic sizes).
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
  bool identity = type.getLayout().isIdentity();
  for (size_t i = 0; i + 1 < positions.size(); ++i) {
    int64_t outer = positions[i], inner = positions[i + 1];
    if (inner != outer + 1)
      return failure();
    if (identity)
      continue;
    if (type.isDynamicDim(inner) || ShapedType::isDynamic(strides[outer]) ||
        ShapedType::isDynamic(strides[inner]) ||
        strides[outer] != strides[inner] * type.getDimSize(inner))
      return failure();
  }
  int64_t last = positions.back();
  CollapsedDim result;
  result.present = true;
  if (ShapedType::isDynamic(strides[last]))
    result.stride.dim = last;
  else
    result.stride.value = strides[last];
  return result;
}

/// Describes a [rows x cols] matrix operand (either may be absent = size 1)
/// for the call: row-major when the column stride is 1, transposed when the
/// row stride is 1. Fails for any other layout (or one that is only known at
/// run time).
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
  if (!col->present || col->stride.is(1)) {
    // Row-major. A missing row dimension (a vector) has any leading dim.
    if (row->present) {
      // Rows must not overlap (checked where both are static).
      if (!row->stride.isDynamic() && !ShapedType::isDynamic(rowLength) &&
          row->stride.value < rowLength)
        return failure();
      result.leadingDim = row->stride;
    }
    return result;
  }
  if (!row->present || row->stride.is(1)) {
    result.transposed = true;
    result.leadingDim = col->stride;
    return result;
  }
  return failure();
}

/// A loop size for diagnostics ("?" when dynamic).
static std::string sizeString(int64_t size) {
  return ShapedType::isDynamic(size) ? "?" : std::to_string(size);
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
        op.getNumDpsInits() != 1 || !parsimony::isMulAddContraction(op))
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
    bool dynamic = ShapedType::isDynamic(m) || ShapedType::isDynamic(n) ||
                   ShapedType::isDynamic(k) || ShapedType::isDynamic(batch);
    // Static sizes below the threshold stay as loops; dynamic ones are
    // assumed large.
    if (!dynamic && minFlops > 0 && 2 * batch * m * n * k < minFlops)
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
    if (failed(lhs) || failed(rhs) || failed(acc) || acc->transposed) {
      // Unusual layouts stay as loops.
      if (reportLoops)
        op->emitRemark() << "contraction of " << sizeString(batch) << " x "
                         << sizeString(m) << " x " << sizeString(n) << " x "
                         << sizeString(k)
                         << " (batch x M x N x K) left to loops: the "
                         << (failed(lhs)   ? "LHS"
                             : failed(rhs) ? "RHS"
                                           : "result")
                         << " layout is not a (batched) row-major or "
                            "transposed matrix";
      return success();
    }

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
    auto indexToI64 = [&](Value v) {
      return arith::IndexCastOp::create(b, loc, b.getI64Type(), v).getResult();
    };
    // Loop sizes: static products, or products of the operands' dims.
    SmallVector<Range> loopRanges;
    if (dynamic)
      loopRanges = op.createLoopRanges(b, loc);
    auto size = [&](int64_t staticSize, ArrayRef<unsigned> loopDims) {
      if (!ShapedType::isDynamic(staticSize))
        return i64(staticSize);
      Value product;
      for (unsigned d : loopDims) {
        Value v = getValueOrCreateConstantIndexOp(b, loc, loopRanges[d].size);
        product = product ? arith::MulIOp::create(b, loc, product, v) : v;
      }
      return indexToI64(product);
    };
    auto stride = [&](const MatrixOperand &operand, Stride s) {
      if (!s.isDynamic())
        return i64(s.value);
      auto metadata =
          memref::ExtractStridedMetadataOp::create(b, loc, operand.memref);
      return indexToI64(metadata.getStrides()[s.dim]);
    };
    Value mValue = size(m, dims.m), nValue = size(n, dims.n),
          kValue = size(k, dims.k), batchValue = size(batch, dims.batch);
    // A vector's leading dimension is its length (any value >= 1 would do).
    auto leadingDim = [&](const MatrixOperand &operand, Value length) {
      if (operand.leadingDim)
        return stride(operand, *operand.leadingDim);
      return arith::MaxSIOp::create(b, loc, length, i64(1)).getResult();
    };
    Value one =
        arith::ConstantFloatOp::create(b, loc, b.getF32Type(), APFloat(1.0f));
    SmallVector<Value> args = {batchValue,
                               mValue,
                               nValue,
                               kValue,
                               one,
                               getElementPointer(b, loc, lhs->memref),
                               leadingDim(*lhs, kValue),
                               stride(*lhs, lhs->batchStride),
                               i32(lhs->transposed),
                               getElementPointer(b, loc, rhs->memref),
                               leadingDim(*rhs, nValue),
                               stride(*rhs, rhs->batchStride),
                               i32(rhs->transposed),
                               one,
                               getElementPointer(b, loc, acc->memref),
                               leadingDim(*acc, nValue),
                               stride(*acc, acc->batchStride)};
    createKernelCall(b, loc, kSgemmBatched, args);
    op->erase();
    return success();
  }
};

} // namespace
