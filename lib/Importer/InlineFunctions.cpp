//===- InlineFunctions.cpp - expand calls of model-local functions --------===//
//
// ONNX models may define functions (ModelProto.functions, IR 8+): PyTorch's
// dynamo exporter and onnxscript write one per module or ATen operator, and
// nodes call them by (domain, name). The importer converts operators, not
// calls, so every call is replaced by the function's body before the graph
// is checked: formal inputs and outputs become the call's values, the body's
// own values get fresh names, and attribute references take the call's
// attributes.
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

using namespace parsimony::onnximport;

namespace {

/// Calls nest at most this deep (a recursive function never ends).
constexpr int kMaxDepth = 64;

class Inliner {
public:
  explicit Inliner(onnx::ModelProto &model) : model(model) {}

  std::string run();

private:
  std::string inlineGraph(onnx::GraphProto &graph);
  std::string expand(const onnx::NodeProto &call, const onnx::FunctionProto &fn,
                     int depth, std::vector<onnx::NodeProto> &out);
  std::string mergeOpsets(const onnx::FunctionProto &fn);
  std::string fresh(const std::string &base);
  void collectNames(const onnx::GraphProto &graph);

  static std::string key(const std::string &domain, const std::string &name) {
    return (domain == "ai.onnx" ? std::string() : domain) + "::" + name;
  }

  onnx::ModelProto &model;
  llvm::StringMap<const onnx::FunctionProto *> functions;
  llvm::StringSet<> used;
};

void Inliner::collectNames(const onnx::GraphProto &graph) {
  for (const auto &v : graph.input())
    used.insert(v.name());
  for (const auto &v : graph.output())
    used.insert(v.name());
  for (const auto &t : graph.initializer())
    used.insert(t.name());
  for (const auto &n : graph.node()) {
    used.insert(n.name());
    for (const std::string &o : n.output())
      used.insert(o);
    for (const auto &a : n.attribute()) {
      if (a.has_g())
        collectNames(a.g());
      for (const auto &g : a.graphs())
        collectNames(g);
    }
  }
}

std::string Inliner::fresh(const std::string &base) {
  std::string name = base;
  for (int i = 1; used.contains(name); ++i)
    name = base + "_" + std::to_string(i);
  used.insert(name);
  return name;
}

std::string Inliner::mergeOpsets(const onnx::FunctionProto &fn) {
  for (const onnx::OperatorSetIdProto &fnOpset : fn.opset_import()) {
    std::string domain =
        fnOpset.domain() == "ai.onnx" ? std::string() : fnOpset.domain();
    bool found = false;
    for (const onnx::OperatorSetIdProto &m : model.opset_import()) {
      std::string mDomain =
          m.domain() == "ai.onnx" ? std::string() : m.domain();
      if (mDomain != domain)
        continue;
      found = true;
      if (m.version() != fnOpset.version())
        return "function '" + fn.name() + "' imports opset " +
               std::to_string(fnOpset.version()) + " of domain '" + domain +
               "' but the model imports " + std::to_string(m.version());
    }
    if (!found)
      *model.add_opset_import() = fnOpset;
  }
  return {};
}

std::string Inliner::expand(const onnx::NodeProto &call,
                            const onnx::FunctionProto &fn, int depth,
                            std::vector<onnx::NodeProto> &out) {
  if (depth > kMaxDepth)
    return "calls of function '" + fn.name() + "' nest deeper than " +
           std::to_string(kMaxDepth) + " levels (recursive function?)";
  if (call.input_size() > fn.input_size() ||
      call.output_size() > fn.output_size())
    return "node '" + call.name() + "' calls function '" + fn.name() +
           "' with " + std::to_string(call.input_size()) + " inputs and " +
           std::to_string(call.output_size()) + " outputs; it declares " +
           std::to_string(fn.input_size()) + " and " +
           std::to_string(fn.output_size());
  std::string scope = call.name().empty() ? fn.name() : call.name();
  // The body's own values get fresh names scoped by the call.
  FunctionCallNames names(fn, call, [&](const std::string &name) {
    return fresh(scope + "/" + name);
  });
  llvm::StringMap<const onnx::AttributeProto *> callAttrs;
  for (const onnx::AttributeProto &a : call.attribute())
    callAttrs[a.name()] = &a;

  for (const onnx::NodeProto &bodyNode : fn.node()) {
    onnx::NodeProto node = bodyNode;
    names.rename(node);
    node.set_name(fresh(
        scope + "/" +
        (bodyNode.name().empty() ? bodyNode.op_type() : bodyNode.name())));
    if (std::string err = bindAttributeReferences(node, callAttrs);
        !err.empty())
      return "function '" + fn.name() + "': " + err;
    std::string domain = node.domain() == "ai.onnx" ? "" : node.domain();
    auto callee = functions.find(key(domain, node.op_type()));
    if (callee == functions.end()) {
      out.push_back(std::move(node));
      continue;
    }
    if (std::string err = expand(node, *callee->second, depth + 1, out);
        !err.empty())
      return err;
  }
  return mergeOpsets(fn);
}

std::string Inliner::inlineGraph(onnx::GraphProto &graph) {
  std::vector<onnx::NodeProto> nodes;
  bool changed = false;
  for (onnx::NodeProto &node : *graph.mutable_node()) {
    for (onnx::AttributeProto &a : *node.mutable_attribute()) {
      if (a.has_g())
        if (std::string err = inlineGraph(*a.mutable_g()); !err.empty())
          return err;
      for (onnx::GraphProto &g : *a.mutable_graphs())
        if (std::string err = inlineGraph(g); !err.empty())
          return err;
    }
    auto fn = functions.find(key(node.domain(), node.op_type()));
    if (fn == functions.end()) {
      nodes.push_back(std::move(node));
      continue;
    }
    changed = true;
    if (std::string err = expand(node, *fn->second, 0, nodes); !err.empty())
      return err;
  }
  if (changed) {
    graph.clear_node();
    for (onnx::NodeProto &n : nodes)
      *graph.add_node() = std::move(n);
  }
  return {};
}

std::string Inliner::run() {
  if (model.functions_size() == 0)
    return {};
  for (const onnx::FunctionProto &fn : model.functions())
    if (!functions.try_emplace(key(fn.domain(), fn.name()), &fn).second)
      return "the model defines function '" + fn.domain() + ":" + fn.name() +
             "' twice (overloads are not supported)";
  collectNames(model.graph());
  if (std::string err = inlineGraph(*model.mutable_graph()); !err.empty())
    return err;
  model.clear_functions();
  return {};
}

} // namespace

FunctionCallNames::FunctionCallNames(
    const onnx::FunctionProto &fn, const onnx::NodeProto &call,
    std::function<std::string(const std::string &)> fresh)
    : fresh(std::move(fresh)) {
  for (int i = 0; i < fn.input_size(); ++i)
    names[fn.input(i)] = i < call.input_size() ? call.input(i) : "";
  for (int i = 0; i < fn.output_size(); ++i)
    names[fn.output(i)] = i < call.output_size() && !call.output(i).empty()
                              ? call.output(i)
                              : this->fresh(fn.output(i));
}

std::string FunctionCallNames::map(const std::string &name) {
  if (name.empty())
    return name;
  auto it = names.find(name);
  if (it != names.end())
    return it->second;
  return names[name] = fresh(name);
}

void FunctionCallNames::rename(onnx::NodeProto &node) {
  for (std::string &in : *node.mutable_input())
    in = map(in);
  for (std::string &out : *node.mutable_output())
    out = map(out);
}

std::string parsimony::onnximport::bindAttributeReferences(
    onnx::NodeProto &node,
    const llvm::StringMap<const onnx::AttributeProto *> &callAttrs) {
  auto *attrs = node.mutable_attribute();
  for (int i = 0; i < attrs->size();) {
    onnx::AttributeProto &a = (*attrs)[i];
    if (a.has_g() || a.graphs_size() > 0)
      return "a node of the body has a subgraph ('" + node.op_type() +
             "'); control flow inside functions is not supported";
    if (a.ref_attr_name().empty()) {
      ++i;
      continue;
    }
    // A reference takes the call's attribute; an attribute the call does
    // not set is absent from the body node (the operator's default).
    auto it = callAttrs.find(a.ref_attr_name());
    if (it == callAttrs.end()) {
      attrs->erase(attrs->begin() + i);
      continue;
    }
    std::string name = a.name();
    a = *it->second;
    a.set_name(name);
    ++i;
  }
  return {};
}

std::string
parsimony::onnximport::inlineModelFunctions(onnx::ModelProto &model) {
  return Inliner(model).run();
}
