//===- SpxDialectTest.cpp - C++ API tests for the spx dialect -------------===//

#include "parsimony/Dialect/Spx/IR/SpxOps.h"
#include "parsimony/Dialect/Spx/Transforms/Passes.h"
#include "parsimony/InitAllParsimony.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace mlir::spx;

namespace {

class SpxDialectTest : public ::testing::Test {
protected:
  SpxDialectTest() {
    DialectRegistry registry;
    registry.insert<func::FuncDialect, arith::ArithDialect,
                    tensor::TensorDialect>();
    parsimony::registerAllDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }

  /// Parses `source`, collecting diagnostics instead of printing them.
  OwningOpRef<ModuleOp> parse(StringRef source) {
    diagnostics.clear();
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
      diagnostics += diag.str() + "\n";
      return success();
    });
    return parseSourceString<ModuleOp>(source, &context);
  }

  MLIRContext context;
  std::string diagnostics;
};

TEST_F(SpxDialectTest, CapacityFollowsTheSwitchFormula) {
  // C = ceil(T / E * capacity_factor)
  EXPECT_EQ(DispatchOp::getCapacity(16, 8, 1.0f), 2);
  EXPECT_EQ(DispatchOp::getCapacity(16, 8, 1.25f), 3);
  EXPECT_EQ(DispatchOp::getCapacity(3, 8, 1.0f), 1);
  EXPECT_EQ(DispatchOp::getCapacity(128, 64, 2.0f), 4);
  EXPECT_EQ(DispatchOp::getCapacity(0, 4, 1.0f), 0);
}

TEST_F(SpxDialectTest, QuantAttrRejectsUnsupportedBitWidths) {
  std::string errors;
  auto emit = [&]() { return mlir::emitError(UnknownLoc::get(&context)); };
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    errors += diag.str();
    return success();
  });
  EXPECT_TRUE(QuantAttr::getChecked(emit, &context, 8u, int64_t(0)));
  EXPECT_TRUE(QuantAttr::getChecked(emit, &context, 4u, int64_t(64)));
  EXPECT_FALSE(QuantAttr::getChecked(emit, &context, 3u, int64_t(0)));
  EXPECT_NE(errors.find("4 or 8 bits"), std::string::npos);
  EXPECT_FALSE(QuantAttr::getChecked(emit, &context, 4u, int64_t(-2)));
}

TEST_F(SpxDialectTest, ParsesAndQueriesSparseFFN) {
  OwningOpRef<ModuleOp> module = parse(R"mlir(
    func.func @f(%x: tensor<4x8xf32>, %w1: tensor<16x8xi4>,
                 %s1: tensor<16x1xf32>, %w2: tensor<16x8xf32>)
        -> tensor<4x8xf32> {
      %y = spx.sparse_ffn %x up %w1 up_scales %s1 down %w2
          {up_layout = #spx<layout nk>, up_quant = #spx.quant<bits = 4, group_size = 8>,
           topk = 4 : i64}
          : (tensor<4x8xf32>, tensor<16x8xi4>, tensor<16x1xf32>,
             tensor<16x8xf32>) -> tensor<4x8xf32>
      return %y : tensor<4x8xf32>
    })mlir");
  ASSERT_TRUE(module) << diagnostics;
  SparseFFNOp ffn;
  module->walk([&](SparseFFNOp op) { ffn = op; });
  ASSERT_TRUE(ffn);
  EXPECT_EQ(ffn.getHiddenSize(), 16);
  EXPECT_EQ(ffn.getTopk(), 4u);
  EXPECT_EQ(ffn.getUpQuantAttr().getBits(), 4u);
  EXPECT_EQ(ffn.getUpQuantAttr().getGroupSize(), 8);
  EXPECT_EQ(ffn.getActivation(), Activation::relu);
}

TEST_F(SpxDialectTest, VerifierRejectsRouterOutsideF32) {
  OwningOpRef<ModuleOp> module = parse(R"mlir(
    func.func @f(%l: tensor<4x8xf16>) -> tensor<4x2xf32> {
      %g, %e = spx.route %l {k = 2 : i64}
          : (tensor<4x8xf16>) -> (tensor<4x2xf32>, tensor<4x2xi64>)
      return %g : tensor<4x2xf32>
    })mlir");
  EXPECT_FALSE(module);
  EXPECT_NE(diagnostics.find("router logits must be f32"), std::string::npos)
      << diagnostics;
}

TEST_F(SpxDialectTest, DecomposeMoEBuildsTheExpertPipeline) {
  OwningOpRef<ModuleOp> module = parse(R"mlir(
    func.func @f(%x: tensor<2x3x8xf16>, %r: tensor<6x4xf16>,
                 %w1: tensor<4x16x8xf16>, %w2: tensor<4x8x16xf16>)
        -> tensor<2x3x8xf16> {
      %y = spx.moe %x, %r fc1 %w1 fc2 %w2 {k = 2 : i64,
          dispatch = #spx<dispatch capacity>, capacity_factor = 2.0 : f32}
          : (tensor<2x3x8xf16>, tensor<6x4xf16>, tensor<4x16x8xf16>,
             tensor<4x8x16xf16>) -> tensor<2x3x8xf16>
      return %y : tensor<2x3x8xf16>
    })mlir");
  ASSERT_TRUE(module) << diagnostics;
  PassManager pm(&context);
  pm.addPass(createSpxDecomposeMoE());
  ASSERT_TRUE(succeeded(pm.run(*module)));

  int moes = 0;
  RouteOp route;
  DispatchOp dispatch;
  module->walk([&](Operation *op) {
    if (isa<MoEOp>(op))
      ++moes;
    if (auto r = dyn_cast<RouteOp>(op))
      route = r;
    if (auto d = dyn_cast<DispatchOp>(op))
      dispatch = d;
  });
  EXPECT_EQ(moes, 0);
  ASSERT_TRUE(route && dispatch);
  // The f16 router logits were extended to f32 for the router.
  EXPECT_TRUE(route.getInput().getType().getElementType().isF32());
  // 6 tokens, 4 experts, factor 2: C = ceil(6 / 4 * 2) = 3, R = 12.
  EXPECT_EQ(dispatch.getRows().getType().getDimSize(0), 12);
  EXPECT_EQ(dispatch.getMode(), DispatchMode::capacity);
  EXPECT_TRUE(succeeded(mlir::verify(module->getOperation())));
}

TEST_F(SpxDialectTest, CanonicalizeTurnsOneExpertMoEIntoFFN) {
  OwningOpRef<ModuleOp> module = parse(R"mlir(
    func.func @f(%x: tensor<4x8xf32>, %r: tensor<4x1xf32>,
                 %w1: tensor<1x16x8xf32>, %b1: tensor<1x16xf32>,
                 %w2: tensor<1x8x16xf32>) -> tensor<4x8xf32> {
      %y = spx.moe %x, %r fc1 %w1 fc1_bias %b1 fc2 %w2
          {activation = #spx<activation gelu>}
          : (tensor<4x8xf32>, tensor<4x1xf32>, tensor<1x16x8xf32>,
             tensor<1x16xf32>, tensor<1x8x16xf32>) -> tensor<4x8xf32>
      return %y : tensor<4x8xf32>
    })mlir");
  ASSERT_TRUE(module) << diagnostics;
  PassManager pm(&context);
  pm.addPass(createCanonicalizerPass());
  ASSERT_TRUE(succeeded(pm.run(*module)));
  SparseFFNOp ffn;
  module->walk([&](SparseFFNOp op) { ffn = op; });
  ASSERT_TRUE(ffn);
  EXPECT_EQ(ffn.getActivation(), Activation::gelu);
  EXPECT_EQ(ffn.getUpLayout(), WeightLayout::nk);
  EXPECT_EQ(ffn.getDownLayout(), WeightLayout::nk);
  EXPECT_EQ(ffn.getHiddenSize(), 16);
}

} // namespace
