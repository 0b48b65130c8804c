//===- Profile.cpp - activation-sparsity profiling registry ---------------===//
//
// Implements parsimony/Runtime/Profile.h. Records are merged per layer (the
// call's position in its run, plus its kind and width) under one mutex;
// kernels only get here while profiling is on.
//
//===----------------------------------------------------------------------===//

#pragma GCC visibility push(default)
#include "parsimony/Runtime/Profile.h"
#pragma GCC visibility pop

#include "ProfileInternal.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <limits>
#include <mutex>
#include <string>
#include <vector>

using namespace parsimony::runtime::profile;

std::atomic<bool> parsimony::runtime::profile::Active{false};

namespace {

struct Layer {
  int64_t index = 0;
  Kind kind = Kind::SparseFFN;
  int64_t width = 0;
  int64_t calls = 0;
  int64_t tokens = 0;
  // Density kinds.
  int64_t nonzeroTotal = 0;
  int64_t nonzeroMin = std::numeric_limits<int64_t>::max();
  int64_t nonzeroMax = 0;
  int32_t activation = -1;
  int64_t topk = 0;
  bool predicted = false;
  int64_t recallK = 0;
  double recallSum = 0.0;
  double recallMin = 1.0;
  // Dispatch.
  int64_t k = 0;
  int32_t mode = 0;
  int64_t capacity = 0;
  std::vector<int64_t> routed, dispatched;
  int64_t dropped = 0, droppedTokens = 0;
};

struct Registry {
  std::mutex mutex;
  std::vector<Layer> layers;
  int64_t runs = 0;
};

Registry &registry() {
  static Registry *r = new Registry(); // never destroyed: safe at exit
  return *r;
}

/// The calling thread's position in its current run.
thread_local int64_t NextLayer = 0;

/// The merged record of layer `index` of `kind` and `width` (created).
Layer &layerFor(Registry &r, int64_t index, Kind kind, int64_t width) {
  for (Layer &l : r.layers)
    if (l.index == index && l.kind == kind && l.width == width)
      return l;
  r.layers.emplace_back();
  Layer &l = r.layers.back();
  l.index = index;
  l.kind = kind;
  l.width = width;
  return l;
}

const char *kindName(Kind kind) {
  switch (kind) {
  case Kind::SparseFFN:
    return "sparse_ffn";
  case Kind::TopK:
    return "topk_activation";
  case Kind::SparseMatmul:
    return "sparse_matmul";
  case Kind::Dispatch:
    return "dispatch";
  }
  return "unknown";
}

const char *activationName(int32_t code) {
  static const char *const names[] = {
      "identity", "relu", "gelu", "gelu_tanh", "silu", "sigmoid", "swiglu"};
  return code >= 0 && code < 7 ? names[code] : "unknown";
}

class Json {
public:
  void raw(const char *s) { text += s; }
  void key(const char *k) {
    comma();
    text += '"';
    text += k;
    text += "\":";
  }
  void field(const char *k, int64_t v) {
    key(k);
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%" PRId64, v);
    text += buf;
  }
  void field(const char *k, double v) {
    key(k);
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%.17g", v);
    text += buf;
  }
  void field(const char *k, const char *v) {
    key(k);
    text += '"';
    text += v;
    text += '"';
  }
  void field(const char *k, bool v) {
    key(k);
    text += v ? "true" : "false";
  }
  void field(const char *k, const std::vector<int64_t> &v) {
    key(k);
    text += '[';
    for (size_t i = 0; i < v.size(); ++i) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%s%" PRId64, i ? "," : "", v[i]);
      text += buf;
    }
    text += ']';
  }
  std::string text;

private:
  void comma() {
    if (!first)
      text += ',';
    first = false;
  }
  bool first = true;
};

std::string report(Registry &r) {
  std::vector<Layer> layers = r.layers;
  std::stable_sort(
      layers.begin(), layers.end(),
      [](const Layer &a, const Layer &b) { return a.index < b.index; });
  Json j;
  j.raw("{");
  j.field("version", int64_t(1));
  j.field("runs", r.runs);
  j.key("layers");
  j.raw("[");
  bool firstLayer = true;
  for (const Layer &l : layers) {
    if (!firstLayer)
      j.raw(",");
    firstLayer = false;
    j.raw("{");
    Json f;
    f.field("layer", l.index);
    f.field("kind", kindName(l.kind));
    f.field("calls", l.calls);
    f.field("tokens", l.tokens);
    if (l.kind == Kind::Dispatch) {
      f.field("experts", l.width);
      f.field("k", l.k);
      f.field("mode", l.mode ? "capacity" : "dropless");
      f.field("capacity", l.capacity);
      f.field("expert_tokens", l.dispatched);
      f.field("expert_routed", l.routed);
      f.field("dropped", l.dropped);
      f.field("dropped_tokens", l.droppedTokens);
    } else {
      double width = double(std::max<int64_t>(l.width, 1));
      double tokens = double(std::max<int64_t>(l.tokens, 1));
      int64_t mn = l.tokens ? l.nonzeroMin : 0;
      f.field("width", l.width);
      f.field("nonzero_total", l.nonzeroTotal);
      f.field("nonzero_min", mn);
      f.field("nonzero_max", l.nonzeroMax);
      f.field("nonzero_mean_pct",
              100.0 * double(l.nonzeroTotal) / (width * tokens));
      f.field("nonzero_min_pct", 100.0 * double(mn) / width);
      f.field("nonzero_max_pct", 100.0 * double(l.nonzeroMax) / width);
      if (l.kind == Kind::TopK)
        f.field("topk", l.topk);
      if (l.kind == Kind::SparseFFN) {
        f.field("activation", activationName(l.activation));
        f.field("topk", l.topk);
        f.field("predicted", l.predicted);
        if (l.predicted) {
          f.field("recall_k", l.recallK);
          f.field("recall_mean", l.recallSum / tokens);
          f.field("recall_min", l.tokens ? l.recallMin : 1.0);
        }
      }
    }
    j.raw(f.text.c_str());
    j.raw("}");
  }
  j.raw("]");
  j.raw("}");
  return j.text;
}

} // namespace

void parsimony::runtime::profile::record(const DensitySample &s) {
  int64_t index = NextLayer++;
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  Layer &l = layerFor(r, index, s.kind, s.width);
  ++l.calls;
  l.tokens += s.tokens;
  l.activation = s.activation;
  l.topk = s.topk;
  for (int64_t t = 0; t < s.tokens; ++t) {
    l.nonzeroTotal += s.nonzeros[t];
    l.nonzeroMin = std::min(l.nonzeroMin, s.nonzeros[t]);
    l.nonzeroMax = std::max(l.nonzeroMax, s.nonzeros[t]);
  }
  if (s.recall) {
    l.predicted = true;
    l.recallK = s.recallK;
    for (int64_t t = 0; t < s.tokens; ++t) {
      l.recallSum += s.recall[t];
      l.recallMin = std::min(l.recallMin, s.recall[t]);
    }
  }
}

void parsimony::runtime::profile::record(const DispatchSample &s) {
  int64_t index = NextLayer++;
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  Layer &l = layerFor(r, index, Kind::Dispatch, s.experts);
  ++l.calls;
  l.tokens += s.tokens;
  l.k = s.k;
  l.mode = s.mode;
  l.capacity = s.capacity;
  l.routed.resize(size_t(std::max<int64_t>(s.experts, 0)), 0);
  l.dispatched.resize(l.routed.size(), 0);
  for (int64_t e = 0; e < s.experts; ++e) {
    l.routed[e] += s.routed[e];
    l.dispatched[e] += s.dispatched[e];
  }
  l.dropped += s.dropped;
  l.droppedTokens += s.droppedTokens;
}

void parsimony_profile_enable(int32_t on) {
  Registry &r = registry();
  {
    std::lock_guard<std::mutex> lock(r.mutex);
    r.layers.clear();
    r.runs = 0;
  }
  Active.store(on != 0, std::memory_order_relaxed);
}

int32_t parsimony_profile_enabled(void) { return active() ? 1 : 0; }

void parsimony_profile_run_begin(void) {
  if (!active())
    return;
  NextLayer = 0;
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  ++r.runs;
}

int64_t parsimony_profile_report(char *buffer, int64_t size) {
  std::string text;
  {
    Registry &r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    text = report(r);
  }
  if (buffer && size > 0) {
    size_t n = std::min<size_t>(text.size(), size_t(size - 1));
    std::memcpy(buffer, text.data(), n);
    buffer[n] = '\0';
  }
  return int64_t(text.size());
}
