//===- BuildPredictors.cpp - support predictors from FFN weights ----------===//
//
// A predicted-support FFN computes only the k neurons a cheap predictor
// picks. The predictors are built here, at compile time, from the model's
// up-projection: a low-bit copy (int8 per neuron, int4 per group) or a
// low-rank factorization.
//
//===----------------------------------------------------------------------===//

#include "parsimony/Dialect/Spx/Transforms/Passes.h"

#include "parsimony/Dialect/Spx/Transforms/WeightConstants.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <cmath>
#include <random>
#include <tuple>

namespace mlir::spx {
#define GEN_PASS_DEF_SPXBUILDPREDICTORS
#include "parsimony/Dialect/Spx/Transforms/Passes.h.inc"
} // namespace mlir::spx

using namespace mlir;
using namespace mlir::spx;

namespace {

/// A constant f32 weight matrix read row-major as [rows, cols].
struct Matrix {
  int64_t rows = 0, cols = 0;
  std::vector<float> data;
  float at(int64_t r, int64_t c) const { return data[r * cols + c]; }
};

/// W_up as [D, F] (input features x neurons), whatever its layout.
std::optional<Matrix> upProjection(SparseFFNOp op) {
  std::optional<std::vector<float>> values =
      getConstantF32Values(op.getUpWeight());
  if (!values)
    return std::nullopt;
  ArrayRef<int64_t> shape = op.getUpWeight().getType().getShape();
  Matrix m;
  m.rows = op.getUpLayout() == WeightLayout::kn ? shape[0] : shape[1];
  m.cols = op.getUpLayout() == WeightLayout::kn ? shape[1] : shape[0];
  m.data = op.getUpLayout() == WeightLayout::kn
               ? std::move(*values)
               : transpose(*values, m.cols, m.rows);
  return m;
}

/// Orthonormalizes the columns of `y` ([rows, r], row-major) in place
/// (modified Gram-Schmidt).
void orthonormalize(std::vector<double> &y, int64_t rows, int64_t r) {
  for (int64_t j = 0; j < r; ++j) {
    for (int64_t p = 0; p < j; ++p) {
      double dot = 0;
      for (int64_t i = 0; i < rows; ++i)
        dot += y[i * r + p] * y[i * r + j];
      for (int64_t i = 0; i < rows; ++i)
        y[i * r + j] -= dot * y[i * r + p];
    }
    double norm = 0;
    for (int64_t i = 0; i < rows; ++i)
      norm += y[i * r + j] * y[i * r + j];
    norm = std::sqrt(norm);
    for (int64_t i = 0; i < rows; ++i)
      y[i * r + j] = norm > 1e-30 ? y[i * r + j] / norm : 0.0;
  }
}

/// W [D, F] ~ U [D, r] * V [r, F]: U spans W's dominant column space
/// (subspace iteration on W W^T from a fixed random start), V = U^T W.
void lowRank(const Matrix &w, int64_t r, std::vector<float> &u,
             std::vector<float> &v) {
  int64_t d = w.rows, f = w.cols;
  std::mt19937 rng(1234);
  std::normal_distribution<double> normal;
  std::vector<double> y(d * r), z(f * r);
  for (double &x : y)
    x = normal(rng);
  orthonormalize(y, d, r);
  for (int iteration = 0; iteration < 4; ++iteration) {
    // z = W^T y, y = W z.
    std::fill(z.begin(), z.end(), 0.0);
    for (int64_t i = 0; i < d; ++i)
      for (int64_t n = 0; n < f; ++n) {
        double wv = w.at(i, n);
        for (int64_t j = 0; j < r; ++j)
          z[n * r + j] += wv * y[i * r + j];
      }
    std::fill(y.begin(), y.end(), 0.0);
    for (int64_t i = 0; i < d; ++i)
      for (int64_t n = 0; n < f; ++n) {
        double wv = w.at(i, n);
        for (int64_t j = 0; j < r; ++j)
          y[i * r + j] += wv * z[n * r + j];
      }
    orthonormalize(y, d, r);
  }
  u.assign(y.begin(), y.end());
  v.assign(r * f, 0.0f);
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < r; ++j) {
      double uv = y[i * r + j];
      for (int64_t n = 0; n < f; ++n)
        v[j * f + n] += static_cast<float>(uv * w.at(i, n));
    }
}

struct SpxBuildPredictorsPass
    : mlir::spx::impl::SpxBuildPredictorsBase<SpxBuildPredictorsPass> {
  using Base::Base;

  void runOnOperation() override {
    if (predictor != "int8" && predictor != "int4" && predictor != "lowrank") {
      getOperation()->emitError()
          << "spx-build-predictors: unknown predictor '" << predictor
          << "' (expected int8, int4 or lowrank)";
      return signalPassFailure();
    }
    int64_t requestedRank = rank, requestedGroup = groupSize, requestedK = k;
    if (predictor == "lowrank" && requestedRank <= 0) {
      getOperation()->emitError()
          << "spx-build-predictors: the rank must be positive, got "
          << requestedRank;
      return signalPassFailure();
    }
    SmallVector<SparseFFNOp> ffns;
    getOperation()->walk([&](SparseFFNOp op) {
      if (!op.getSupport())
        ffns.push_back(op);
    });
    for (auto [index, op] : llvm::enumerate(ffns))
      if (failed(build(op, index, requestedRank, requestedGroup, requestedK)))
        return signalPassFailure();
  }

  LogicalResult build(SparseFFNOp op, size_t index, int64_t requestedRank,
                      int64_t requestedGroup, int64_t requestedK) {
    int64_t keep =
        op.getTopk() ? static_cast<int64_t>(*op.getTopk()) : requestedK;
    if (keep <= 0)
      return op.emitError("a predicted-support FFN needs k: give the FFN a "
                          "top-k (--topk=K) or set the k option");
    if (op.getGateWeight() || op.getUpQuantAttr()) {
      op.emitRemark("no support predictor: gated or quantized up-projection");
      return success();
    }
    std::optional<Matrix> w = upProjection(op);
    if (!w) {
      op.emitRemark("no support predictor: the up-projection is not a "
                    "constant");
      return success();
    }
    if (keep > w->cols)
      return op.emitError() << "k = " << keep << " exceeds the " << w->cols
                            << " neurons of this FFN";

    OpBuilder b(op);
    Location loc = op.getLoc();
    MLIRContext *ctx = b.getContext();
    std::string prefix = "predictor_" + std::to_string(index);
    Type f32 = b.getF32Type();
    Value weight, factor, scales;
    QuantAttr quant;
    PredictorKind kind = PredictorKind::quantized;
    WeightLayout layout = WeightLayout::kn;
    if (predictor == "lowrank") {
      int64_t r = std::min(requestedRank, std::min(w->rows, w->cols));
      std::vector<float> u, v;
      lowRank(*w, r, u, v);
      weight = createResourceConstant<float>(
          b, loc, RankedTensorType::get({w->rows, r}, f32), prefix + "_u", u);
      factor = createResourceConstant<float>(
          b, loc, RankedTensorType::get({r, w->cols}, f32), prefix + "_v", v);
      kind = PredictorKind::lowrank;
    } else {
      unsigned bits = predictor == "int8" ? 8 : 4;
      int64_t group =
          bits == 4 && requestedGroup > 0 && w->rows % requestedGroup == 0
              ? requestedGroup
              : 0;
      // Stored neuron-major (nk), int4 packed two per byte when the rows
      // allow: the scores are a GEMV that streams one contiguous row (and
      // its scales) per neuron, the runtime's quantized GEMV fast path.
      QuantizedWeight q =
          quantizeWeight(transpose(w->data, w->rows, w->cols), /*experts=*/1,
                         w->rows, w->cols, WeightLayout::nk, bits, group);
      // At group 32, f32 scales are a fifth of an int4 predictor's bytes;
      // f16 halves them, and a predictor only ranks neurons (rounding a
      // scale by 2^-11 is far below the int4 rounding). Scales outside
      // f16's normal range stay f32.
      bool f16Scales = bits == 4 && group > 0 && scalesFitF16(q);
      std::tie(weight, scales) =
          createQuantizedConstants(b, loc, q, prefix, /*pack=*/true,
                                   /*stacked=*/false, f16Scales);
      quant = QuantAttr::get(ctx, bits, group);
      layout = WeightLayout::nk;
    }

    // The support shares the FFN input's leading (token) dimensions.
    RankedTensorType input = op.getInput().getType();
    SmallVector<int64_t> supportShape(input.getShape());
    supportShape.back() = keep;
    auto supportType = RankedTensorType::get(supportShape, b.getI32Type());
    auto predict = PredictSupportOp::create(
        b, loc, supportType, op.getInput(), weight, factor, scales,
        op.getUpBias(), b.getI64IntegerAttr(keep),
        PredictorKindAttr::get(ctx, kind), WeightLayoutAttr::get(ctx, layout),
        quant);
    op.getSupportMutable().assign(predict.getSupport());
    return success();
  }
};

} // namespace
