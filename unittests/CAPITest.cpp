//===- CAPITest.cpp - the C API (parsimony/CAPI/Parsimony.h) --------------===//
//
// Shape variants through the C API: a model with a symbolic dimension bound
// to two sizes compiles into one model handle with two variants, each
// described, found by its input shapes and run against a reference.
//
//===----------------------------------------------------------------------===//

#include "parsimony/CAPI/Parsimony.h"

#include <onnx/onnx_pb.h>

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace {

constexpr int64_t kFeatures = 4;
constexpr int64_t kClasses = 3;

/// w[i][j] of the model's MatMul weight.
float weight(int64_t i, int64_t j) {
  return 0.25f * static_cast<float>((i * kClasses + j) % 7) - 0.5f;
}

/// y = Softmax(x @ w, axis=0) with x: float32 [seq, 4], y: float32 [seq, 3]:
/// the softmax runs over the symbolic dimension, so every size of `seq`
/// computes something different.
std::string makeSeqSoftmaxModel() {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(17);
  onnx::GraphProto *graph = model.mutable_graph();
  graph->set_name("seq_softmax");
  auto addTensor = [](onnx::ValueInfoProto *value, const char *name,
                      const char *symbol, int64_t size) {
    value->set_name(name);
    onnx::TypeProto_Tensor *tensor =
        value->mutable_type()->mutable_tensor_type();
    tensor->set_elem_type(onnx::TensorProto::FLOAT);
    onnx::TensorShapeProto *shape = tensor->mutable_shape();
    shape->add_dim()->set_dim_param(symbol);
    shape->add_dim()->set_dim_value(size);
  };
  addTensor(graph->add_input(), "x", "seq", kFeatures);
  addTensor(graph->add_output(), "y", "seq", kClasses);
  onnx::TensorProto *w = graph->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(kFeatures);
  w->add_dims(kClasses);
  for (int64_t i = 0; i < kFeatures; ++i)
    for (int64_t j = 0; j < kClasses; ++j)
      w->add_float_data(weight(i, j));
  onnx::NodeProto *matmul = graph->add_node();
  matmul->set_op_type("MatMul");
  matmul->add_input("x");
  matmul->add_input("w");
  matmul->add_output("h");
  onnx::NodeProto *softmax = graph->add_node();
  softmax->set_op_type("Softmax");
  softmax->add_input("h");
  softmax->add_output("y");
  onnx::AttributeProto *axis = softmax->add_attribute();
  axis->set_name("axis");
  axis->set_type(onnx::AttributeProto::INT);
  axis->set_i(0);
  return model.SerializeAsString();
}

std::vector<float> makeInput(int64_t seq) {
  std::vector<float> x(seq * kFeatures);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = std::sin(0.7f * static_cast<float>(i)) * 2.0f;
  return x;
}

std::vector<float> reference(const std::vector<float> &x, int64_t seq) {
  std::vector<float> h(seq * kClasses, 0.0f), y(seq * kClasses);
  for (int64_t s = 0; s < seq; ++s)
    for (int64_t j = 0; j < kClasses; ++j)
      for (int64_t i = 0; i < kFeatures; ++i)
        h[s * kClasses + j] += x[s * kFeatures + i] * weight(i, j);
  for (int64_t j = 0; j < kClasses; ++j) {
    float max = -INFINITY, sum = 0.0f;
    for (int64_t s = 0; s < seq; ++s)
      max = std::max(max, h[s * kClasses + j]);
    for (int64_t s = 0; s < seq; ++s)
      sum += std::exp(h[s * kClasses + j] - max);
    for (int64_t s = 0; s < seq; ++s)
      y[s * kClasses + j] = std::exp(h[s * kClasses + j] - max) / sum;
  }
  return y;
}

/// Owns an error string of the C API.
struct Error {
  char *text = nullptr;
  ~Error() { parsimonyStringFree(text); }
  std::string str() const { return text ? text : ""; }
};

std::vector<int64_t> shapeOf(const ParsimonyTensorInfo &info) {
  return std::vector<int64_t>(info.shape, info.shape + info.rank);
}

/// The model compiled once with seq=2 and seq=5.
class CAPIShapeVariantsTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    ParsimonyCompileOptions *options = parsimonyCompileOptionsCreate();
    Error error;
    ASSERT_EQ(parsimonyCompileOptionsBindDim(options, "seq", 2, &error.text),
              PARSIMONY_STATUS_OK);
    ASSERT_EQ(parsimonyCompileOptionsBindDim(options, "seq", 5, &error.text),
              PARSIMONY_STATUS_OK);
    std::string bytes = makeSeqSoftmaxModel();
    ParsimonyStatus status = parsimonyCompileBytes(
        bytes.data(), bytes.size(), "onnx", options, &model, &error.text);
    parsimonyCompileOptionsDestroy(options);
    ASSERT_EQ(status, PARSIMONY_STATUS_OK) << error.str();
  }
  static void TearDownTestSuite() {
    parsimonyModelDestroy(model);
    model = nullptr;
  }
  void SetUp() override { ASSERT_NE(model, nullptr); }

  static ParsimonyModel *model;
};
ParsimonyModel *CAPIShapeVariantsTest::model = nullptr;

TEST(CAPIBindDimTest, RebindingAddsSizesAndRefusesRepeats) {
  ParsimonyCompileOptions *options = parsimonyCompileOptionsCreate();
  Error first, second, repeat, zero;
  EXPECT_EQ(parsimonyCompileOptionsBindDim(options, "seq", 4, &first.text),
            PARSIMONY_STATUS_OK);
  EXPECT_EQ(first.text, nullptr);
  EXPECT_EQ(parsimonyCompileOptionsBindDim(options, "seq", 8, &second.text),
            PARSIMONY_STATUS_OK);
  EXPECT_EQ(parsimonyCompileOptionsBindDim(options, "seq", 4, &repeat.text),
            PARSIMONY_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(repeat.str().find("dimension 'seq' is already bound to the size 4"),
            std::string::npos)
      << repeat.str();
  EXPECT_EQ(parsimonyCompileOptionsBindDim(options, "seq", 0, &zero.text),
            PARSIMONY_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(zero.str().find("positive"), std::string::npos) << zero.str();
  EXPECT_EQ(parsimonyCompileOptionsBindDim(options, "", 1, nullptr),
            PARSIMONY_STATUS_INVALID_ARGUMENT);
  parsimonyCompileOptionsDestroy(options);
}

TEST(CAPIBindDimTest, SingleSizeMakesOneVariant) {
  ParsimonyCompileOptions *options = parsimonyCompileOptionsCreate();
  Error error;
  ASSERT_EQ(parsimonyCompileOptionsBindDim(options, "seq", 3, &error.text),
            PARSIMONY_STATUS_OK);
  std::string bytes = makeSeqSoftmaxModel();
  ParsimonyModel *model = nullptr;
  ASSERT_EQ(parsimonyCompileBytes(bytes.data(), bytes.size(), "onnx", options,
                                  &model, &error.text),
            PARSIMONY_STATUS_OK)
      << error.str();
  parsimonyCompileOptionsDestroy(options);
  EXPECT_EQ(parsimonyModelGetNumVariants(model), 1);
  ASSERT_EQ(parsimonyModelGetVariantNumDims(model, 0), 1);
  const char *name = nullptr;
  int64_t value = 0;
  ASSERT_EQ(parsimonyModelGetVariantDim(model, 0, 0, &name, &value),
            PARSIMONY_STATUS_OK);
  EXPECT_STREQ(name, "seq");
  EXPECT_EQ(value, 3);
  std::vector<float> x = makeInput(3), y(3 * kClasses);
  const void *inputs[] = {x.data()};
  void *outputs[] = {y.data()};
  ASSERT_EQ(parsimonyModelRun(model, inputs, outputs, &error.text),
            PARSIMONY_STATUS_OK)
      << error.str();
  std::vector<float> expected = reference(x, 3);
  for (size_t i = 0; i < y.size(); ++i)
    EXPECT_NEAR(y[i], expected[i], 1e-5) << i;
  Error outOfRange;
  EXPECT_EQ(
      parsimonyModelRunVariant(model, 1, inputs, outputs, &outOfRange.text),
      PARSIMONY_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(outOfRange.str().find("no shape variant 1 (the model has 1 shape "
                                  "variant)"),
            std::string::npos)
      << outOfRange.str();
  parsimonyModelDestroy(model);
}

TEST_F(CAPIShapeVariantsTest, DescribesEveryVariant) {
  ASSERT_EQ(parsimonyModelGetNumVariants(model), 2);
  const int64_t sizes[] = {2, 5};
  for (int32_t v = 0; v < 2; ++v) {
    SCOPED_TRACE("variant " + std::to_string(v));
    ASSERT_EQ(parsimonyModelGetVariantNumDims(model, v), 1);
    const char *name = nullptr;
    int64_t value = 0;
    ASSERT_EQ(parsimonyModelGetVariantDim(model, v, 0, &name, &value),
              PARSIMONY_STATUS_OK);
    EXPECT_STREQ(name, "seq");
    EXPECT_EQ(value, sizes[v]);
    ParsimonyTensorInfo info;
    ASSERT_EQ(parsimonyModelGetVariantInput(model, v, 0, &info),
              PARSIMONY_STATUS_OK);
    EXPECT_STREQ(info.name, "x");
    EXPECT_EQ(info.dtype, 1);
    EXPECT_EQ(shapeOf(info), (std::vector<int64_t>{sizes[v], kFeatures}));
    ASSERT_EQ(parsimonyModelGetVariantOutput(model, v, 0, &info),
              PARSIMONY_STATUS_OK);
    EXPECT_STREQ(info.name, "y");
    EXPECT_EQ(shapeOf(info), (std::vector<int64_t>{sizes[v], kClasses}));
    EXPECT_EQ(parsimonyModelGetVariantInput(model, v, 1, &info),
              PARSIMONY_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(parsimonyModelGetVariantDim(model, v, 1, &name, &value),
              PARSIMONY_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(parsimonyModelGetVariantDim(model, v, 0, nullptr, &value),
              PARSIMONY_STATUS_INVALID_ARGUMENT);
  }
  // The variant-less accessors describe variant 0.
  ParsimonyTensorInfo info;
  ASSERT_EQ(parsimonyModelGetInput(model, 0, &info), PARSIMONY_STATUS_OK);
  EXPECT_EQ(shapeOf(info), (std::vector<int64_t>{2, kFeatures}));
  EXPECT_EQ(parsimonyModelGetNumInputs(model), 1);
  EXPECT_EQ(parsimonyModelGetNumOutputs(model), 1);
  // Out of range.
  for (int32_t v : {-1, 2}) {
    EXPECT_EQ(parsimonyModelGetVariantInput(model, v, 0, &info),
              PARSIMONY_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(parsimonyModelGetVariantOutput(model, v, 0, &info),
              PARSIMONY_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(parsimonyModelGetVariantNumDims(model, v), 0);
  }
  EXPECT_EQ(parsimonyModelGetNumVariants(nullptr), 0);
}

TEST_F(CAPIShapeVariantsTest, FindsVariantsByInputShape) {
  const int64_t shape2[] = {2, kFeatures}, shape5[] = {5, kFeatures},
                shape3[] = {3, kFeatures}, wide[] = {5, kFeatures + 1};
  const int64_t *const find2[] = {shape2};
  const int64_t *const find5[] = {shape5};
  const int64_t *const find3[] = {shape3};
  const int64_t *const findWide[] = {wide};
  EXPECT_EQ(parsimonyModelFindVariant(model, find2), 0);
  EXPECT_EQ(parsimonyModelFindVariant(model, find5), 1);
  EXPECT_EQ(parsimonyModelFindVariant(model, find3), -1);
  EXPECT_EQ(parsimonyModelFindVariant(model, findWide), -1);
  EXPECT_EQ(parsimonyModelFindVariant(model, nullptr), -1);
  EXPECT_EQ(parsimonyModelFindVariant(nullptr, find2), -1);
}

TEST_F(CAPIShapeVariantsTest, RunsEachVariant) {
  for (int64_t seq : {2, 5}) {
    SCOPED_TRACE("seq " + std::to_string(seq));
    std::vector<float> x = makeInput(seq), y(seq * kClasses, -1.0f);
    const int64_t shape[] = {seq, kFeatures};
    const int64_t *const shapes[] = {shape};
    int32_t variant = parsimonyModelFindVariant(model, shapes);
    ASSERT_GE(variant, 0);
    const void *inputs[] = {x.data()};
    void *outputs[] = {y.data()};
    Error error;
    ASSERT_EQ(
        parsimonyModelRunVariant(model, variant, inputs, outputs, &error.text),
        PARSIMONY_STATUS_OK)
        << error.str();
    EXPECT_EQ(error.text, nullptr);
    std::vector<float> expected = reference(x, seq);
    for (size_t i = 0; i < y.size(); ++i)
      EXPECT_NEAR(y[i], expected[i], 1e-5) << i;

    // The profiled run computes the same.
    std::vector<float> profiled(y.size(), -1.0f);
    void *profiledOutputs[] = {profiled.data()};
    Error profileError;
    char *report = nullptr;
    ASSERT_EQ(parsimonyModelProfileSparsityVariant(model, variant, inputs,
                                                   profiledOutputs, &report,
                                                   &profileError.text),
              PARSIMONY_STATUS_OK)
        << profileError.str();
    ASSERT_NE(report, nullptr);
    EXPECT_NE(std::string(report).find("\"layers\""), std::string::npos)
        << report;
    parsimonyStringFree(report);
    EXPECT_EQ(profiled, y);
  }
  // parsimonyModelRun is variant 0.
  std::vector<float> x = makeInput(2), y(2 * kClasses);
  const void *inputs[] = {x.data()};
  void *outputs[] = {y.data()};
  Error error;
  ASSERT_EQ(parsimonyModelRun(model, inputs, outputs, &error.text),
            PARSIMONY_STATUS_OK)
      << error.str();
  std::vector<float> expected = reference(x, 2);
  for (size_t i = 0; i < y.size(); ++i)
    EXPECT_NEAR(y[i], expected[i], 1e-5) << i;
}

TEST_F(CAPIShapeVariantsTest, RefusesBadVariants) {
  std::vector<float> x = makeInput(5), y(5 * kClasses);
  const void *inputs[] = {x.data()};
  void *outputs[] = {y.data()};
  for (int32_t v : {2, -1}) {
    Error error;
    EXPECT_EQ(parsimonyModelRunVariant(model, v, inputs, outputs, &error.text),
              PARSIMONY_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(error.str(),
              "error: parsimonyModelRunVariant: no shape variant " +
                  std::to_string(v) + " (the model has 2 shape variants)");
    Error profileError;
    char *report = nullptr;
    EXPECT_EQ(parsimonyModelProfileSparsityVariant(model, v, inputs, outputs,
                                                   &report, &profileError.text),
              PARSIMONY_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(report, nullptr);
    EXPECT_NE(profileError.str().find("no shape variant"), std::string::npos)
        << profileError.str();
  }
  Error missing;
  EXPECT_EQ(parsimonyModelRunVariant(model, 1, nullptr, outputs, &missing.text),
            PARSIMONY_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(missing.str().find("no input pointers"), std::string::npos)
      << missing.str();
  Error noModel;
  EXPECT_EQ(
      parsimonyModelRunVariant(nullptr, 0, inputs, outputs, &noModel.text),
      PARSIMONY_STATUS_INVALID_ARGUMENT);
}

} // namespace
