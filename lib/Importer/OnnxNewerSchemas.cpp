//===- OnnxNewerSchemas.cpp - default-domain schemas newer than libonnx ---===//
//
// Debian's libonnx (1.12) knows the default domain up to opset 17. Models
// exported by newer PyTorch and ONNX Runtime tools import opsets 18 to 26.
// Operators whose version bumps only added element types are checked against
// their opset-17 schema (libonnx picks the newest schema at or below the
// model's opset); this file registers the schemas whose interface changed
// (inputs, attributes, output types) and the new operators the importer
// converts, each with its shape inference, so the checker and shape inference
// see those models as ONNX defines them.
//
// Compiled with -fexceptions -frtti like OnnxLoader.cpp: libonnx reports
// problems by throwing, and registration runs under OnnxLoader's guard.
//
//===----------------------------------------------------------------------===//

#include "OnnxLoader.h"

#include "onnx/defs/schema.h"
#include "onnx/defs/shape_inference.h"
#include "onnx/defs/tensor_proto_util.h"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace onnx;

namespace {

using parsimony::detail::addRmsNormalizationContract;
using parsimony::detail::inferSameAsInput0;
using parsimony::detail::inferTypeOf1ShapeOf0;

const std::vector<std::string> kFloatTypes = {
    "tensor(float)", "tensor(float16)", "tensor(bfloat16)", "tensor(double)"};
const std::vector<std::string> kNumericTypes = {
    "tensor(float)", "tensor(float16)", "tensor(bfloat16)", "tensor(double)",
    "tensor(int8)",  "tensor(int16)",   "tensor(int32)",    "tensor(int64)",
    "tensor(uint8)", "tensor(uint16)",  "tensor(uint32)",   "tensor(uint64)"};
const std::vector<std::string> kCastTypes = [] {
  std::vector<std::string> t = kNumericTypes;
  t.push_back("tensor(bool)");
  t.push_back("tensor(string)");
  return t;
}();

/// Whether libonnx already has `name` at exactly `version` (a newer libonnx).
bool known(const char *name, int version) {
  const OpSchema *s = OpSchemaRegistry::Schema(name, version, "");
  return s && s->SinceVersion() == version;
}

void add(OpSchema &schema) {
  if (!known(schema.Name().c_str(), schema.SinceVersion()))
    OpSchemaRegistry::OpSchemaRegisterOnce once(schema);
}

/// libonnx's `base` schema at `baseVersion` rebuilt as `name` at `version`
/// (same inputs, outputs, attributes, type constraints and inference; a
/// plain copy cannot be finalized twice); null when libonnx already has it
/// or lacks the base.
std::unique_ptr<OpSchema> derive(const char *base, int baseVersion,
                                 const char *name, int version) {
  if (known(name, version))
    return nullptr;
  const OpSchema *b = OpSchemaRegistry::Schema(base, baseVersion, "");
  if (!b)
    return nullptr;
  auto s = std::make_unique<OpSchema>(name, __FILE__, __LINE__);
  s->SetDomain("").SinceVersion(version).SetDoc(b->doc() ? b->doc() : "");
  auto addParams = [](const std::vector<OpSchema::FormalParameter> &params,
                      auto addOne) {
    for (size_t i = 0; i < params.size(); ++i) {
      const OpSchema::FormalParameter &p = params[i];
      addOne(static_cast<int>(i), p.GetName(), p.GetDescription(),
             p.GetTypeStr(), p.GetOption(), p.GetIsHomogeneous(),
             p.GetMinArity(), p.GetDifferentiationCategory());
    }
  };
  addParams(b->inputs(), [&](auto... args) { s->Input(args...); });
  addParams(b->outputs(), [&](auto... args) { s->Output(args...); });
  for (const auto &[attrName, attr] : b->attributes())
    s->Attr(attr);
  for (const OpSchema::TypeConstraintParam &t : b->typeConstraintParams())
    s->TypeConstraint(t.type_param_str, t.allowed_type_strs, t.description);
  s->TypeAndShapeInferenceFunction(b->GetTypeAndShapeInferenceFunction());
  s->PartialDataPropagationFunction(b->GetDataPropagationFunction());
  return s;
}

/// Split-18: the chunk count may come from `num_outputs`, and an uneven
/// split makes the last chunk smaller.
void inferSplit18(InferenceContext &ctx) {
  size_t n = ctx.getNumOutputs();
  for (size_t i = 0; i < n; ++i)
    propagateElemTypeFromInputToOutput(ctx, 0, i);
  if (!hasInputShape(ctx, 0))
    return;
  const TensorShapeProto &shape = getInputShape(ctx, 0);
  int64_t rank = shape.dim_size();
  int64_t axis = getAttribute(ctx, "axis", 0);
  if (axis < -rank || axis >= rank)
    fail_shape_inference("axis ", axis, " is out of range for rank ", rank);
  if (axis < 0)
    axis += rank;
  const AttributeProto *numOutputs = ctx.getAttribute("num_outputs");
  bool hasSplit = ctx.getNumInputs() > 1 && ctx.getInputType(1);
  if (numOutputs && hasSplit)
    fail_shape_inference("both the split input and num_outputs are given");
  if (numOutputs && numOutputs->i() != static_cast<int64_t>(n))
    fail_shape_inference("num_outputs is ", numOutputs->i(),
                         " but the node has ", n, " outputs");
  if (!numOutputs && !hasSplit)
    fail_shape_inference("either the split input or num_outputs is required");
  std::vector<int64_t> sizes;
  if (hasSplit) {
    const TensorProto *split = ctx.getInputData(1);
    if (!split)
      return; // sizes known at run time only
    sizes = ParseData<int64_t>(split);
    if (sizes.size() != n)
      fail_shape_inference("split has ", sizes.size(), " entries for ", n,
                           " outputs");
  } else if (shape.dim(axis).has_dim_value()) {
    int64_t d = shape.dim(axis).dim_value();
    int64_t chunk = (d + static_cast<int64_t>(n) - 1) / static_cast<int64_t>(n);
    for (size_t i = 0; i < n; ++i)
      sizes.push_back(std::max<int64_t>(
          0, std::min(chunk, d - static_cast<int64_t>(i) * chunk)));
  }
  for (size_t i = 0; i < n; ++i) {
    TensorShapeProto *out = getOutputShape(ctx, i);
    *out = shape;
    out->mutable_dim(axis)->Clear();
    if (!sizes.empty())
      out->mutable_dim(axis)->set_dim_value(sizes[i]);
  }
}

/// QuantizeLinear-19/21: the output type is the zero point's, else
/// `output_dtype` (21), else uint8.
void inferQuantizeLinear(InferenceContext &ctx) {
  if (ctx.getNumInputs() > 2 && ctx.getInputType(2)) {
    propagateElemTypeFromInputToOutput(ctx, 2, 0);
  } else {
    int64_t dtype = getAttribute(ctx, "output_dtype", 0);
    updateOutputElemType(ctx, 0,
                         dtype ? static_cast<int32_t>(dtype)
                               : static_cast<int32_t>(TensorProto::UINT8));
  }
  if (hasInputShape(ctx, 0))
    propagateShapeFromInputToOutput(ctx, 0, 0);
}

void registerQuantization() {
  const std::vector<std::string> quantized = {"tensor(int8)", "tensor(uint8)",
                                              "tensor(int16)", "tensor(uint16)",
                                              "tensor(int32)"};
  const std::vector<std::string> scales = {"tensor(float)", "tensor(float16)",
                                           "tensor(bfloat16)"};
  for (int version : {19, 21}) {
    OpSchema dq("DequantizeLinear", __FILE__, __LINE__);
    dq.SetDomain("")
        .SinceVersion(version)
        .SetDoc("y = (x - x_zero_point) * x_scale, per tensor, per axis or "
                "(21) per block of `block_size` along `axis`.")
        .Attr("axis", "The quantization axis.", AttributeProto::INT,
              static_cast<int64_t>(1))
        .Input(0, "x", "quantized tensor", "T1")
        .Input(1, "x_scale", "scale", "T2")
        .Input(2, "x_zero_point", "zero point", "T1", OpSchema::Optional)
        .Output(0, "y", "dequantized tensor", "T2")
        .TypeConstraint("T1", quantized, "Quantized types.")
        .TypeConstraint("T2", scales, "Scale and output types.")
        // The output has the scale's type.
        .TypeAndShapeInferenceFunction(inferTypeOf1ShapeOf0);
    if (version >= 21)
      dq.Attr("block_size", "Block size of blocked quantization (0: none).",
              AttributeProto::INT, static_cast<int64_t>(0));
    add(dq);

    OpSchema q("QuantizeLinear", __FILE__, __LINE__);
    q.SetDomain("")
        .SinceVersion(version)
        .SetDoc("y = saturate(round(x / y_scale) + y_zero_point).")
        .Attr("axis", "The quantization axis.", AttributeProto::INT,
              static_cast<int64_t>(1))
        .Attr("saturate", "Saturation of float8 outputs (ignored otherwise).",
              AttributeProto::INT, static_cast<int64_t>(1))
        .Input(0, "x", "tensor to quantize", "T1")
        .Input(1, "y_scale", "scale", version >= 21 ? "T2" : "T1")
        .Input(2, "y_zero_point", "zero point", "T3", OpSchema::Optional)
        .Output(0, "y", "quantized tensor", "T3")
        .TypeConstraint("T1",
                        {"tensor(float)", "tensor(float16)", "tensor(bfloat16)",
                         "tensor(int32)"},
                        "Input types.")
        .TypeConstraint("T3", quantized, "Quantized types.")
        .TypeAndShapeInferenceFunction(inferQuantizeLinear);
    if (version >= 21)
      q.TypeConstraint("T2",
                       {"tensor(float)", "tensor(float16)", "tensor(bfloat16)",
                        "tensor(int32)"},
                       "Scale types.")
          .Attr("block_size", "Block size of blocked quantization (0: none).",
                AttributeProto::INT, static_cast<int64_t>(0))
          .Attr("output_dtype", "Output type when there is no zero point.",
                AttributeProto::INT, static_cast<int64_t>(0));
    add(q);
  }
}

/// Attention-23/24 outputs: Y, present_key, present_value and the
/// attention scores, typed like Q.
void inferAttention(InferenceContext &ctx) {
  for (size_t i = 0; i < ctx.getNumOutputs(); ++i)
    propagateElemTypeFromInputToOutput(ctx, 0, i);
  if (!hasInputShape(ctx, 0) || !hasInputShape(ctx, 2))
    return;
  const TensorShapeProto &q = getInputShape(ctx, 0);
  const TensorShapeProto &v = getInputShape(ctx, 2);
  if (q.dim_size() != v.dim_size() || (q.dim_size() != 3 && q.dim_size() != 4))
    fail_shape_inference("Q and V must both be 3-D or both 4-D");
  TensorShapeProto *y = getOutputShape(ctx, 0);
  *y->add_dim() = q.dim(0);
  if (q.dim_size() == 4) {
    *y->add_dim() = q.dim(1);
    *y->add_dim() = q.dim(2);
    *y->add_dim() = v.dim(3);
    return;
  }
  *y->add_dim() = q.dim(1);
  int64_t qHeads = getAttribute(ctx, "q_num_heads", 0);
  int64_t kvHeads = getAttribute(ctx, "kv_num_heads", 0);
  TensorShapeProto_Dimension *hidden = y->add_dim();
  if (qHeads > 0 && kvHeads > 0 && v.dim(2).has_dim_value() &&
      v.dim(2).dim_value() % kvHeads == 0)
    hidden->set_dim_value(v.dim(2).dim_value() / kvHeads * qHeads);
}

/// A float elementwise operator of the default domain: Y has X's type and
/// shape.
OpSchema floatElementwise(const char *name, int version, const char *doc) {
  OpSchema schema(name, __FILE__, __LINE__);
  schema.SetDomain("")
      .SinceVersion(version)
      .SetDoc(doc)
      .Input(0, "X", "input", "T")
      .Output(0, "Y", "output", "T")
      .TypeConstraint("T", kFloatTypes, "Float tensors.")
      .TypeAndShapeInferenceFunction(inferSameAsInput0);
  return schema;
}

void registerNewOperators() {
  OpSchema mish = floatElementwise("Mish", 18, "x * tanh(softplus(x)).");
  add(mish);

  OpSchema gelu = floatElementwise(
      "Gelu", 20, "GELU, exact (erf) or with the tanh approximation.");
  gelu.Attr("approximate", "none or tanh.", AttributeProto::STRING,
            std::string("none"));
  add(gelu);

  OpSchema swish = floatElementwise("Swish", 24, "x * sigmoid(alpha * x).");
  swish.Attr("alpha", "Coefficient of x inside the sigmoid.",
             AttributeProto::FLOAT, 1.0f);
  add(swish);

  OpSchema rms("RMSNormalization", __FILE__, __LINE__);
  rms.SetDomain("").SinceVersion(23).SetDoc(
      "X / sqrt(mean(X^2 over [axis, rank)) + epsilon) * scale.");
  addRmsNormalizationContract(rms);
  add(rms);

  OpSchema rotary("RotaryEmbedding", __FILE__, __LINE__);
  rotary.SetDomain("")
      .SinceVersion(23)
      .SetDoc("Rotary position embedding of X ([B, S, hidden] with num_heads, "
              "or [B, H, S, D]) by cos/sin caches.")
      .Attr("interleaved", "Rotate interleaved pairs instead of halves.",
            AttributeProto::INT, static_cast<int64_t>(0))
      .Attr("num_heads", "Heads of a 3-D input.", AttributeProto::INT,
            static_cast<int64_t>(0))
      .Attr("rotary_embedding_dim", "Rotated part of each head (0: all).",
            AttributeProto::INT, static_cast<int64_t>(0))
      .Input(0, "X", "input", "T")
      .Input(1, "cos_cache", "cosines", "T")
      .Input(2, "sin_cache", "sines", "T")
      .Input(3, "position_ids", "positions indexing the caches", "M",
             OpSchema::Optional)
      .Output(0, "Y", "output", "T")
      .TypeConstraint("T", kFloatTypes, "Float tensors.")
      .TypeConstraint("M", {"tensor(int64)"}, "Position ids.")
      .TypeAndShapeInferenceFunction(inferSameAsInput0);
  add(rotary);

  for (int version : {23, 24}) {
    OpSchema attention("Attention", __FILE__, __LINE__);
    attention.SetDomain("")
        .SinceVersion(version)
        .SetDoc("Scaled dot-product attention with optional mask, causal "
                "masking, grouped key/value heads, KV cache and softcap.")
        .Attr("is_causal", "Causal masking.", AttributeProto::INT,
              static_cast<int64_t>(0))
        .Attr("kv_num_heads", "Key/value heads of 3-D inputs.",
              AttributeProto::INT, false)
        .Attr("q_num_heads", "Query heads of 3-D inputs.", AttributeProto::INT,
              false)
        .Attr("qk_matmul_output_mode",
              "Which scores the fourth output holds (0-3).",
              AttributeProto::INT, static_cast<int64_t>(0))
        .Attr("scale", "Score scale (default 1/sqrt(head size)).",
              AttributeProto::FLOAT, false)
        .Attr("softcap", "Softcap of the scores (0: none).",
              AttributeProto::FLOAT, 0.0f)
        .Attr("softmax_precision", "Element type of the softmax.",
              AttributeProto::INT, false)
        .Input(0, "Q", "queries", "T1")
        .Input(1, "K", "keys", "T1")
        .Input(2, "V", "values", "T2")
        .Input(3, "attn_mask", "boolean or additive mask", "U",
               OpSchema::Optional)
        .Input(4, "past_key", "key cache", "T1", OpSchema::Optional)
        .Input(5, "past_value", "value cache", "T2", OpSchema::Optional)
        .Output(0, "Y", "attention output", "T1")
        .Output(1, "present_key", "updated key cache", "T1", OpSchema::Optional)
        .Output(2, "present_value", "updated value cache", "T2",
                OpSchema::Optional)
        .Output(3, "qk_matmul_output", "attention scores", "T1",
                OpSchema::Optional)
        .TypeConstraint("T1", kFloatTypes, "Query and key types.")
        .TypeConstraint("T2", kFloatTypes, "Value types.")
        .TypeConstraint("U",
                        {"tensor(bool)", "tensor(float)", "tensor(float16)",
                         "tensor(bfloat16)", "tensor(double)"},
                        "Mask types.")
        .TypeAndShapeInferenceFunction(inferAttention);
    if (version >= 24)
      attention.Input(6, "nonpad_kv_seqlen", "valid key/value length per batch",
                      "tensor(int64)", OpSchema::Optional);
    add(attention);
  }
}

/// Pad-18 (optional `axes` input: pads only for those axes) and Pad-19
/// (mode "wrap"): the output shape when pads and axes are constant
/// initializers, else only the rank.
void registerPad() {
  auto readInts = [](const TensorProto *t) {
    if (t->data_type() == TensorProto::INT32) {
      std::vector<int32_t> v = ParseData<int32_t>(t);
      return std::vector<int64_t>(v.begin(), v.end());
    }
    return ParseData<int64_t>(t);
  };
  auto infer = [readInts](InferenceContext &ctx) {
    propagateElemTypeFromInputToOutput(ctx, 0, 0);
    if (!hasInputShape(ctx, 0))
      return;
    const TensorShapeProto &shape = getInputShape(ctx, 0);
    int64_t rank = shape.dim_size();
    TensorShapeProto *out = getOutputShape(ctx, 0);
    auto rankOnly = [&] {
      out->clear_dim();
      for (int64_t i = 0; i < rank; ++i)
        out->add_dim();
    };
    std::vector<int64_t> axes;
    if (ctx.getNumInputs() > 3 && ctx.getInputType(3)) {
      const TensorProto *a = ctx.getInputData(3);
      if (!a)
        return rankOnly();
      for (int64_t axis : readInts(a)) {
        if (axis < -rank || axis >= rank)
          fail_shape_inference("axis ", axis, " is out of range for rank ",
                               rank);
        if (axis < 0)
          axis += rank;
        if (std::find(axes.begin(), axes.end(), axis) != axes.end())
          fail_shape_inference("repeated axis ", axis);
        axes.push_back(axis);
      }
    } else {
      for (int64_t i = 0; i < rank; ++i)
        axes.push_back(i);
    }
    const TensorProto *p = ctx.getInputData(1);
    if (!p)
      return rankOnly();
    std::vector<int64_t> pads = readInts(p);
    size_t n = axes.size();
    if (pads.size() != 2 * n)
      fail_shape_inference("pads has ", pads.size(), " entries, expected ",
                           2 * n);
    *out = shape;
    for (size_t i = 0; i < n; ++i) {
      TensorShapeProto_Dimension *dim = out->mutable_dim(axes[i]);
      if (!dim->has_dim_value()) {
        dim->Clear();
        continue;
      }
      int64_t size = dim->dim_value() + pads[i] + pads[i + n];
      if (size < 0)
        fail_shape_inference("pads make dimension ", axes[i], " negative");
      dim->set_dim_value(size);
    }
  };
  for (int version : {18, 19}) {
    OpSchema pad("Pad", __FILE__, __LINE__);
    pad.SetDomain("")
        .SinceVersion(version)
        .SetDoc("Pads (or, with negative pads, crops) data along `axes`.")
        .Attr("mode",
              version >= 19 ? "constant, reflect, edge or wrap."
                            : "constant, reflect or edge.",
              AttributeProto::STRING, std::string("constant"))
        .Input(0, "data", "input", "T")
        .Input(1, "pads", "begin and end pads of each axis", "tensor(int64)")
        .Input(2, "constant_value", "value of constant padding", "T",
               OpSchema::Optional)
        .Input(3, "axes", "the padded axes (default: all)", "Tind",
               OpSchema::Optional)
        .Output(0, "output", "padded tensor", "T")
        .TypeConstraint("T", kCastTypes, "Input and output types.")
        .TypeConstraint("Tind", {"tensor(int32)", "tensor(int64)"},
                        "Axes types.")
        .TypeAndShapeInferenceFunction(infer);
    add(pad);
  }
}

/// Resize-18/19 (`axes`, `keep_aspect_ratio_policy`, `antialias`): the
/// output shape when X's sizes and the scales or sizes are constant, else
/// only the rank. Sizes as the importer and ONNX Runtime compute them:
/// floor(in * scale) in f32, round(scale * in) under a kept aspect ratio.
void inferResize18(InferenceContext &ctx) {
  propagateElemTypeFromInputToOutput(ctx, 0, 0);
  if (!hasInputShape(ctx, 0))
    return;
  const TensorShapeProto &shape = getInputShape(ctx, 0);
  int64_t rank = shape.dim_size();
  TensorShapeProto *out = getOutputShape(ctx, 0);
  out->clear_dim();
  for (int64_t i = 0; i < rank; ++i)
    out->add_dim();
  std::vector<int64_t> axes;
  if (const AttributeProto *a = ctx.getAttribute("axes")) {
    for (int64_t axis : a->ints()) {
      if (axis < -rank || axis >= rank)
        fail_shape_inference("axis ", axis, " is out of range for rank ", rank);
      axes.push_back(axis < 0 ? axis + rank : axis);
    }
  } else {
    for (int64_t i = 0; i < rank; ++i)
      axes.push_back(i);
  }
  const TensorProto *scales =
      ctx.getNumInputs() > 2 ? ctx.getInputData(2) : nullptr;
  const TensorProto *sizes =
      ctx.getNumInputs() > 3 ? ctx.getInputData(3) : nullptr;
  std::vector<float> scaleValues;
  if (scales && scales->data_type() == TensorProto::FLOAT)
    scaleValues = ParseData<float>(scales);
  std::vector<int64_t> sizeValues;
  if (sizes && sizes->data_type() == TensorProto::INT64)
    sizeValues = ParseData<int64_t>(sizes);
  size_t n = axes.size();
  if (scaleValues.empty() == sizeValues.empty())
    return;
  if ((!scaleValues.empty() && scaleValues.size() != n) ||
      (!sizeValues.empty() && sizeValues.size() != n))
    fail_shape_inference("scales or sizes have the wrong number of entries "
                         "for ",
                         n, " axes");
  std::vector<bool> resized(rank, false);
  for (int64_t d : axes)
    resized[d] = true;
  for (int64_t d = 0; d < rank; ++d)
    if (!resized[d])
      *out->mutable_dim(d) = shape.dim(d);
  for (int64_t d : axes)
    if (!shape.dim(d).has_dim_value())
      return;
  std::string policy = getAttribute(ctx, "keep_aspect_ratio_policy", "stretch");
  if (!sizeValues.empty() && policy != "stretch") {
    float scale =
        policy == "not_larger" ? std::numeric_limits<float>::max() : 0.0f;
    for (size_t k = 0; k < n; ++k) {
      float s = static_cast<float>(sizeValues[k]) /
                static_cast<float>(shape.dim(axes[k]).dim_value());
      scale = policy == "not_larger" ? std::min(scale, s) : std::max(scale, s);
    }
    for (size_t k = 0; k < n; ++k)
      sizeValues[k] = static_cast<int64_t>(std::round(
          scale * static_cast<float>(shape.dim(axes[k]).dim_value())));
  }
  for (size_t k = 0; k < n; ++k) {
    int64_t in = shape.dim(axes[k]).dim_value();
    int64_t size = sizeValues.empty()
                       ? static_cast<int64_t>(std::floor(
                             static_cast<float>(in) * scaleValues[k]))
                       : sizeValues[k];
    if (size < 0)
      fail_shape_inference("negative output size ", size);
    out->mutable_dim(axes[k])->set_dim_value(size);
  }
}

/// GridSample-20: Y is [N, C, grid's spatial sizes...] for any rank.
void inferGridSample20(InferenceContext &ctx) {
  propagateElemTypeFromInputToOutput(ctx, 0, 0);
  if (!hasInputShape(ctx, 0) || !hasInputShape(ctx, 1))
    return;
  const TensorShapeProto &x = getInputShape(ctx, 0);
  const TensorShapeProto &grid = getInputShape(ctx, 1);
  if (x.dim_size() < 3 || grid.dim_size() != x.dim_size())
    fail_shape_inference("X (rank ", x.dim_size(), ") and grid (rank ",
                         grid.dim_size(),
                         ") must have the same rank, at least 3");
  TensorShapeProto *out = getOutputShape(ctx, 0);
  out->clear_dim();
  *out->add_dim() = x.dim(0);
  *out->add_dim() = x.dim(1);
  for (int i = 1; i + 1 < grid.dim_size(); ++i)
    *out->add_dim() = grid.dim(i);
}

void registerGridSample() {
  OpSchema gridSample("GridSample", __FILE__, __LINE__);
  gridSample.SetDomain("")
      .SinceVersion(20)
      .SetDoc("Samples X at the normalized coordinates of grid (N-D).")
      .Attr("align_corners",
            "Whether -1 and 1 are the corner pixels' "
            "centres (else their outer edges).",
            AttributeProto::INT, static_cast<int64_t>(0))
      .Attr("mode", "linear, nearest or cubic.", AttributeProto::STRING,
            std::string("linear"))
      .Attr("padding_mode", "zeros, border or reflection.",
            AttributeProto::STRING, std::string("zeros"))
      .Input(0, "X", "input of rank r + 2", "T1")
      .Input(1, "grid", "coordinates [N, D1_out, ..., Dr_out, r]", "T2")
      .Output(0, "Y", "samples [N, C, D1_out, ..., Dr_out]", "T1")
      .TypeConstraint("T1", kCastTypes, "Input types.")
      .TypeConstraint("T2", kFloatTypes, "Coordinate types.")
      .TypeAndShapeInferenceFunction(inferGridSample20);
  add(gridSample);
}

void registerResize() {
  for (int version : {18, 19}) {
    std::unique_ptr<OpSchema> resize = derive("Resize", 13, "Resize", version);
    if (!resize)
      continue;
    resize
        ->Attr("antialias",
               "Antialiasing filter when downsampling (linear, "
               "cubic).",
               AttributeProto::INT, static_cast<int64_t>(0))
        .Attr("axes", "The axes scales, sizes and roi apply to.",
              AttributeProto::INTS, false)
        .Attr("keep_aspect_ratio_policy",
              "stretch, not_larger or not_smaller (with sizes).",
              AttributeProto::STRING, std::string("stretch"))
        .TypeAndShapeInferenceFunction(inferResize18);
    add(*resize);
  }
}

void registerChangedInterfaces() {
  // Reductions take their axes as an input since 18, as ReduceSum has since
  // 13: the same interface and shape inference.
  for (const char *name :
       {"ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax",
        "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSumSquare"}) {
    if (auto s = derive("ReduceSum", 13, name, 18))
      add(*s);
  }

  if (auto split = derive("Split", 13, "Split", 18)) {
    split
        ->Attr("num_outputs", "Number of equal chunks (the last smaller).",
               AttributeProto::INT, false)
        .TypeAndShapeInferenceFunction(inferSplit18);
    add(*split);
  }

  if (auto cast = derive("Cast", 13, "Cast", 19)) {
    cast->Attr("saturate", "Saturation of float8 outputs (ignored otherwise).",
               AttributeProto::INT, static_cast<int64_t>(1));
    add(*cast);
  }
  OpSchema castLike("CastLike", __FILE__, __LINE__);
  castLike.SetDomain("")
      .SinceVersion(19)
      .SetDoc("Casts input to the element type of target_type.")
      .Attr("saturate", "Saturation of float8 outputs (ignored otherwise).",
            AttributeProto::INT, static_cast<int64_t>(1))
      .Input(0, "input", "input", "T1")
      .Input(1, "target_type", "tensor whose element type is the target", "T2")
      .Output(0, "output", "cast input", "T2")
      .TypeConstraint("T1", kCastTypes, "Input types.")
      .TypeConstraint("T2", kCastTypes, "Target types.")
      .TypeAndShapeInferenceFunction(inferTypeOf1ShapeOf0);
  add(castLike);

  if (auto cumProd = derive("CumSum", 14, "CumProd", 26))
    add(*cumProd);
  registerQuantization();
  registerPad();
  registerResize();
  registerGridSample();
}

} // namespace

namespace parsimony::detail {

void registerNewerOnnxSchemas() {
  // Raise libonnx's default-domain version range so that schemas newer than
  // it can be registered (Map() is a view of a mutable member).
  auto &ranges =
      const_cast<std::unordered_map<std::string, std::pair<int, int>> &>(
          OpSchemaRegistry::DomainToVersionRange::Instance().Map());
  std::pair<int, int> &range = ranges[""];
  range.second = std::max(range.second, kNewestOnnxOpset);
  registerChangedInterfaces();
  registerNewOperators();
}

} // namespace parsimony::detail
