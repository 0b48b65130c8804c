//===- RuntimeProfileTest.cpp - the runtime's sparsity profiler -----------===//
//
// parsimony/Runtime/Profile.h: off by default, layer numbering per run,
// merging of runs and threads, and the figures each profiled kernel reports
// (checked on small hand-computed cases).
//
//===----------------------------------------------------------------------===//

#include "parsimony/Runtime/Profile.h"
#include "parsimony/Runtime/SpxKernels.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace {

#define F32_WEIGHT(ptr) ptr, nullptr, 0, 32, 0, 0
#define NO_WEIGHT nullptr, nullptr, 0, 32, 0, 0

std::string report() {
  int64_t n = parsimony_profile_report(nullptr, 0);
  std::string text(size_t(n) + 1, '\0');
  EXPECT_EQ(parsimony_profile_report(text.data(), n + 1), n);
  text.resize(size_t(n));
  return text;
}

/// The JSON objects of the report's layers, in order.
std::vector<std::string> layers(const std::string &text) {
  std::vector<std::string> result;
  size_t pos = text.find("\"layers\":[");
  while ((pos = text.find("{\"layer\":", pos)) != std::string::npos) {
    size_t end = text.find('}', pos);
    result.push_back(text.substr(pos, end + 1 - pos));
    pos = end;
  }
  return result;
}

/// The raw text of field `key` of a flat JSON object.
std::string field(const std::string &object, const std::string &key) {
  std::smatch m;
  std::regex re("\"" + key + "\":(\\[[^\\]]*\\]|\"[^\"]*\"|[^,}]+)");
  if (!std::regex_search(object, m, re))
    return "<missing " + key + ">";
  return m[1];
}
double number(const std::string &object, const std::string &key) {
  return std::stod(field(object, key));
}

/// A ReLU FFN with D = 4, F = 8: neuron j computes +x[j] (j < 4) or
/// -x[j - 4], so the hidden activation of token x is relu(x), relu(-x).
struct TinyFfn {
  static constexpr int64_t D = 4, F = 8;
  std::vector<float> up = std::vector<float>(D * F, 0.0f);
  std::vector<float> down = std::vector<float>(F * D, 0.0f);
  TinyFfn() {
    for (int64_t j = 0; j < F; ++j)
      up[(j % D) * F + j] = j < D ? 1.0f : -1.0f;
  }
  void run(const std::vector<float> &x, const int32_t *support = nullptr,
           int64_t S = 0, int64_t topk = 0) {
    int64_t T = int64_t(x.size()) / D;
    std::vector<float> y(size_t(T * D));
    parsimony_sparse_ffn_f32(x.data(), T, D, F, F32_WEIGHT(up.data()), nullptr,
                             NO_WEIGHT, F32_WEIGHT(down.data()), nullptr,
                             support, 0, S, 1, /*relu*/ 1, topk,
                             /*residual=*/nullptr, y.data());
  }
};

class RuntimeProfile : public ::testing::Test {
protected:
  void TearDown() override { parsimony_profile_enable(0); }
};

TEST_F(RuntimeProfile, OffByDefaultAndWhenTurnedOff) {
  EXPECT_EQ(parsimony_profile_enabled(), 0);
  TinyFfn ffn;
  parsimony_profile_run_begin();
  ffn.run({1, 2, 3, 4});
  EXPECT_EQ(report(), "{\"version\":1,\"runs\":0,\"layers\":[]}");
  parsimony_profile_enable(1);
  EXPECT_EQ(parsimony_profile_enabled(), 1);
  parsimony_profile_run_begin();
  ffn.run({1, 2, 3, 4});
  EXPECT_EQ(layers(report()).size(), 1u);
  // Turning it off (or on again) clears the records.
  parsimony_profile_enable(0);
  EXPECT_EQ(layers(report()).size(), 0u);
}

TEST_F(RuntimeProfile, ExactFfnDensity) {
  parsimony_profile_enable(1);
  parsimony_profile_run_begin();
  TinyFfn ffn;
  // Hidden nonzeros per token: 3 (x has one zero), 0, 4.
  ffn.run({1, 0, 2, -1, 0, 0, 0, 0, 1, 1, 1, 1});
  std::vector<std::string> l = layers(report());
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(field(l[0], "kind"), "\"sparse_ffn\"");
  EXPECT_EQ(field(l[0], "activation"), "\"relu\"");
  EXPECT_EQ(number(l[0], "tokens"), 3);
  EXPECT_EQ(number(l[0], "width"), 8);
  EXPECT_EQ(number(l[0], "nonzero_total"), 7);
  EXPECT_EQ(number(l[0], "nonzero_min"), 0);
  EXPECT_EQ(number(l[0], "nonzero_max"), 4);
  EXPECT_DOUBLE_EQ(number(l[0], "nonzero_mean_pct"), 700.0 / 24);
  EXPECT_DOUBLE_EQ(number(l[0], "nonzero_max_pct"), 50.0);
  EXPECT_EQ(field(l[0], "predicted"), "false");
  EXPECT_EQ(field(l[0], "recall_mean"), "<missing recall_mean>");
}

TEST_F(RuntimeProfile, TopkAfterActivation) {
  parsimony_profile_enable(1);
  parsimony_profile_run_begin();
  TinyFfn ffn;
  // Top-2 of 3, 0 and 4 nonzeros: 2, 0, 2.
  ffn.run({1, 0, 2, -1, 0, 0, 0, 0, 1, 1, 1, 1}, nullptr, 0, /*topk=*/2);
  std::vector<std::string> l = layers(report());
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(number(l[0], "topk"), 2);
  EXPECT_EQ(number(l[0], "nonzero_total"), 4);
  EXPECT_EQ(number(l[0], "nonzero_min"), 0);
  EXPECT_EQ(number(l[0], "nonzero_max"), 2);
}

TEST_F(RuntimeProfile, PredictedFfnRecall) {
  parsimony_profile_enable(1);
  parsimony_profile_run_begin();
  TinyFfn ffn;
  // Dense hidden activations:
  //   token 0: [1 0 2 0 | 0 0 0 1], true top-2 {2, 0} (the 1s tie: lower
  //            index); support {0, 3}: recall 1/2, computed nonzeros 1.
  //   token 1: all zero: no true neuron, recall 1; nonzeros 0.
  //   token 2: [1 1 1 1 | 0 0 0 0], true top-2 {0, 1}; support {1, 5}:
  //            recall 1/2; nonzeros 1.
  std::vector<int32_t> support = {0, 3, 2, 6, 1, 5};
  ffn.run({1, 0, 2, -1, 0, 0, 0, 0, 1, 1, 1, 1}, support.data(), 2);
  std::vector<std::string> l = layers(report());
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(field(l[0], "predicted"), "true");
  EXPECT_EQ(number(l[0], "recall_k"), 2);
  EXPECT_DOUBLE_EQ(number(l[0], "recall_mean"), 2.0 / 3);
  EXPECT_DOUBLE_EQ(number(l[0], "recall_min"), 0.5);
  EXPECT_EQ(number(l[0], "nonzero_total"), 2);
  EXPECT_EQ(number(l[0], "nonzero_max"), 1);
  // The few-token decode path (one token, no top-k) is profiled too.
  parsimony_profile_enable(1);
  parsimony_profile_run_begin();
  ffn.run({1, 0, 2, -1}, support.data(), 2);
  l = layers(report());
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(number(l[0], "nonzero_total"), 1);
  EXPECT_DOUBLE_EQ(number(l[0], "recall_mean"), 0.5);
}

TEST_F(RuntimeProfile, LayersPerRunAndMergedRuns) {
  parsimony_profile_enable(1);
  TinyFfn ffn;
  std::vector<float> in = {1, 0, 0, 2, 0, 0, 3, 0}, out(8);
  for (int run = 0; run < 3; ++run) {
    parsimony_profile_run_begin();
    ffn.run({1, 2, 3, 4});
    parsimony_sparse_matmul_f32(in.data(), 2, 4, 2, F32_WEIGHT(ffn.up.data()),
                                out.data());
  }
  std::string text = report();
  EXPECT_EQ(field(text, "runs"), "3");
  std::vector<std::string> l = layers(text);
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(number(l[0], "layer"), 0);
  EXPECT_EQ(field(l[0], "kind"), "\"sparse_ffn\"");
  EXPECT_EQ(number(l[0], "calls"), 3);
  EXPECT_EQ(number(l[0], "tokens"), 3);
  EXPECT_EQ(number(l[1], "layer"), 1);
  EXPECT_EQ(field(l[1], "kind"), "\"sparse_matmul\"");
  EXPECT_EQ(number(l[1], "calls"), 3);
  EXPECT_EQ(number(l[1], "tokens"), 6);
  EXPECT_EQ(number(l[1], "width"), 4);
  EXPECT_EQ(number(l[1], "nonzero_min"), 1);
  EXPECT_EQ(number(l[1], "nonzero_max"), 2);
}

TEST_F(RuntimeProfile, ConcurrentRunsMerge) {
  parsimony_profile_enable(1);
  auto work = [] {
    TinyFfn ffn;
    for (int run = 0; run < 50; ++run) {
      parsimony_profile_run_begin();
      ffn.run({1, 2, 3, 4});
      ffn.run({-1, 2, 3, 4, 0, 0, 0, 0});
    }
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  std::vector<std::string> l = layers(report());
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(number(l[0], "calls"), 100);
  EXPECT_EQ(number(l[0], "nonzero_total"), 400);
  EXPECT_EQ(number(l[1], "calls"), 100);
  EXPECT_EQ(number(l[1], "tokens"), 200);
  EXPECT_EQ(number(l[1], "nonzero_min"), 0);
}

TEST_F(RuntimeProfile, TopkActivationSlices) {
  parsimony_profile_enable(1);
  parsimony_profile_run_begin();
  // [outer 1, axis 3, inner 2]: slices (0, 2, 4) and (1, 3, 5); top-2 of
  // {5, 0, 0} keeps one nonzero, of {1, 2, 3} two.
  std::vector<float> in = {5, 1, 0, 2, 0, 3}, out(6);
  parsimony_topk_activation_f32(in.data(), out.data(), 1, 3, 2, 2, 0, 1.0f);
  std::vector<std::string> l = layers(report());
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(field(l[0], "kind"), "\"topk_activation\"");
  EXPECT_EQ(number(l[0], "tokens"), 2);
  EXPECT_EQ(number(l[0], "width"), 3);
  EXPECT_EQ(number(l[0], "topk"), 2);
  EXPECT_EQ(number(l[0], "nonzero_min"), 1);
  EXPECT_EQ(number(l[0], "nonzero_max"), 2);
}

TEST_F(RuntimeProfile, DispatchCounts) {
  parsimony_profile_enable(1);
  parsimony_profile_run_begin();
  const int64_t D = 2;
  std::vector<float> x(8 * D, 1.0f), rows(8 * D);
  std::vector<int64_t> offsets(2), sizes(2), slots(8);
  // k = 1, capacity 2: expert 0 is chosen 3 times, one token dropped.
  std::vector<int32_t> experts = {0, 0, 0, 1};
  parsimony_dispatch_f32(x.data(), 4, D, experts.data(), 0, 1, 2, 1, 2,
                         rows.data(), 4, offsets.data(), sizes.data(),
                         slots.data());
  // k = 2, capacity 2, 3 tokens all choosing {0, 1}: the third loses both.
  std::vector<int32_t> pairs = {0, 1, 0, 1, 1, 0};
  parsimony_dispatch_f32(x.data(), 3, D, pairs.data(), 0, 2, 2, 1, 2,
                         rows.data(), 4, offsets.data(), sizes.data(),
                         slots.data());
  // Dropless drops nothing.
  parsimony_dispatch_f32(x.data(), 4, D, experts.data(), 0, 1, 2, 0, 0,
                         rows.data(), 4, offsets.data(), sizes.data(),
                         slots.data());
  std::vector<std::string> l = layers(report());
  ASSERT_EQ(l.size(), 3u);
  EXPECT_EQ(field(l[0], "mode"), "\"capacity\"");
  EXPECT_EQ(number(l[0], "capacity"), 2);
  EXPECT_EQ(field(l[0], "expert_tokens"), "[2,1]");
  EXPECT_EQ(field(l[0], "expert_routed"), "[3,1]");
  EXPECT_EQ(number(l[0], "dropped"), 1);
  EXPECT_EQ(number(l[0], "dropped_tokens"), 1);
  EXPECT_EQ(number(l[1], "k"), 2);
  EXPECT_EQ(field(l[1], "expert_tokens"), "[2,2]");
  EXPECT_EQ(field(l[1], "expert_routed"), "[3,3]");
  EXPECT_EQ(number(l[1], "dropped"), 2);
  EXPECT_EQ(number(l[1], "dropped_tokens"), 1);
  EXPECT_EQ(field(l[2], "mode"), "\"dropless\"");
  EXPECT_EQ(field(l[2], "expert_tokens"), "[3,1]");
  EXPECT_EQ(number(l[2], "dropped"), 0);
}

TEST_F(RuntimeProfile, ReportTruncation) {
  parsimony_profile_enable(1);
  int64_t n = parsimony_profile_report(nullptr, 0);
  ASSERT_GT(n, 10);
  char small[8];
  EXPECT_EQ(parsimony_profile_report(small, sizeof(small)), n);
  EXPECT_EQ(std::string(small), report().substr(0, 7));
}

} // namespace
