//===- FourBitTensors.cpp - INT4/UINT4 tensors as 8-bit ones --------------===//
//
// ONNX 1.16 added INT4 and UINT4 (two values per byte, the first in the low
// nibble): ONNX Runtime's quantizer writes int4 weights as DequantizeLinear
// of INT4 initializers with per-block scales (opset 21). Debian's libonnx
// (1.12) cannot check or infer such tensors, so before checking the model
// they are rewritten as INT8/UINT8 tensors holding the same values, one per
// byte. The values keep their meaning everywhere a 4-bit tensor may appear
// (DequantizeLinear, reshapes, Cast from it); the one operator whose result
// depends on the narrower type, QuantizeLinear, saturates to the 4-bit range
// for outputs recorded in `fourBitValues`.
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include "llvm/ADT/STLExtras.h"

using namespace parsimony::onnximport;

/// Whether `onnxType` is INT4 or UINT4.
static bool isFourBit(int64_t onnxType) {
  return onnxType == kOnnxInt4 || onnxType == kOnnxUint4;
}

/// The 8-bit type that holds the values of a 4-bit one.
static int32_t widened(int64_t onnxType) {
  return onnxType == kOnnxInt4 ? onnx::TensorProto::INT8
                               : onnx::TensorProto::UINT8;
}

/// `count` values packed two per byte (value 2i in the low nibble of byte i)
/// as one byte each, sign-extended for INT4.
static std::string unpackNibbles(llvm::ArrayRef<uint8_t> packed, int64_t count,
                                 bool isSigned) {
  std::string out(static_cast<size_t>(count), '\0');
  for (int64_t i = 0; i < count; ++i) {
    uint8_t nibble = (packed[i / 2] >> (i % 2 ? 4 : 0)) & 15;
    int value = isSigned && nibble >= 8 ? nibble - 16 : nibble;
    out[i] = static_cast<char>(value);
  }
  return out;
}

/// Rewrites one 4-bit tensor in place as its 8-bit form.
/// `readExternal(n)` returns the n bytes of an external-data tensor.
static LogicalResult
widenTensor(onnx::TensorProto &tensor,
            llvm::function_ref<FailureOr<ArrayRef<char>>(int64_t)> readExternal,
            const std::function<NodeError()> &err) {
  int64_t count = 1;
  for (int64_t d : tensor.dims()) {
    if (d < 0)
      return err() << "tensor '" << tensor.name()
                   << "' has a negative dimension";
    if (d != 0 && count > std::numeric_limits<int64_t>::max() / 4 / d)
      return err() << "tensor '" << tensor.name() << "' is too large";
    count *= d;
  }
  int64_t packedBytes = (count + 1) / 2;
  bool isSigned = tensor.data_type() == kOnnxInt4;
  std::vector<uint8_t> packed;
  if (tensor.data_location() == onnx::TensorProto::EXTERNAL) {
    FailureOr<ArrayRef<char>> bytes = readExternal(packedBytes);
    if (failed(bytes))
      return failure();
    packed.assign(bytes->begin(), bytes->end());
  } else if (tensor.has_raw_data()) {
    if (static_cast<int64_t>(tensor.raw_data().size()) != packedBytes)
      return err() << "tensor '" << tensor.name() << "' has "
                   << tensor.raw_data().size() << " bytes of raw data, "
                   << count << " 4-bit values need " << packedBytes;
    packed.assign(tensor.raw_data().begin(), tensor.raw_data().end());
  } else {
    // int32_data holds one packed byte per entry.
    if (tensor.int32_data_size() != packedBytes)
      return err() << "tensor '" << tensor.name() << "' holds "
                   << tensor.int32_data_size() << " entries of int32_data, "
                   << count << " 4-bit values need " << packedBytes
                   << " (two per entry)";
    for (int32_t v : tensor.int32_data()) {
      if (v < 0 || v > 255)
        return err() << "tensor '" << tensor.name()
                     << "' has an int32_data entry " << v
                     << " that is not a byte of two 4-bit values";
      packed.push_back(static_cast<uint8_t>(v));
    }
  }
  tensor.set_data_type(widened(tensor.data_type()));
  tensor.clear_int32_data();
  tensor.clear_external_data();
  tensor.clear_data_location();
  tensor.set_raw_data(unpackNibbles(packed, count, isSigned));
  return success();
}

/// Retypes a 4-bit tensor type as 8-bit; returns whether it was 4-bit and
/// (in `isSigned`) whether it was INT4.
static bool widenType(onnx::TypeProto &type, bool &isSigned) {
  if (!type.has_tensor_type() || !isFourBit(type.tensor_type().elem_type()))
    return false;
  isSigned = type.tensor_type().elem_type() == kOnnxInt4;
  type.mutable_tensor_type()->set_elem_type(
      widened(type.tensor_type().elem_type()));
  return true;
}

LogicalResult GraphImporter::widenFourBitTensors() {
  onnx::GraphProto &graph = *model.mutable_graph();
  // The external bytes of `tensor` (the mapped file stays cached).
  auto reader = [&](const onnx::TensorProto &tensor,
                    const std::function<NodeError()> &err) {
    return [&, err](int64_t numBytes) -> FailureOr<ArrayRef<char>> {
      FailureOr<ExternalBytes> bytes = externalBytes(tensor, numBytes, err);
      if (failed(bytes))
        return failure();
      return bytes->bytes;
    };
  };

  for (onnx::TensorProto &init : *graph.mutable_initializer()) {
    if (!isFourBit(init.data_type()))
      continue;
    std::string name = init.name();
    auto err = [&]() {
      return NodeError(fileLoc(), " (initializer '" + name + "')");
    };
    fourBitValues[name] = init.data_type() == kOnnxInt4;
    if (failed(widenTensor(init, reader(init, err), err)))
      return failure();
  }

  // The signature: 4-bit arguments or results would change the calling
  // convention (packed nibbles), so only initializers listed as inputs
  // (IR < 4 models) may be 4-bit.
  auto checkSignature = [&](onnx::ValueInfoProto &info,
                            StringRef what) -> LogicalResult {
    bool isSigned = false;
    int64_t elemType = info.type().has_tensor_type()
                           ? info.type().tensor_type().elem_type()
                           : 0;
    if (!isFourBit(elemType))
      return success();
    if (!fourBitValues.count(info.name()))
      return emitError(fileLoc())
             << what << " '" << info.name() << "' has element type "
             << onnxTypeName(elemType)
             << ": 4-bit tensors are supported as weights, constants and "
                "QuantizeLinear outputs inside the model, not in its inputs "
                "and outputs";
    widenType(*info.mutable_type(), isSigned);
    return success();
  };
  for (onnx::ValueInfoProto &in : *graph.mutable_input())
    if (failed(checkSignature(in, "graph input")))
      return failure();
  for (onnx::ValueInfoProto &out : *graph.mutable_output())
    if (failed(checkSignature(out, "graph output")))
      return failure();
  for (onnx::ValueInfoProto &info : *graph.mutable_value_info()) {
    bool isSigned = false;
    if (widenType(*info.mutable_type(), isSigned))
      fourBitValues[info.name()] = isSigned;
  }

  // Constant attributes (Constant, ConstantOfShape), and QuantizeLinear's
  // output_dtype.
  for (onnx::NodeProto &node : *graph.mutable_node()) {
    auto err = [&]() { return NodeError(nodeLoc(node), nodeSuffix(node)); };
    for (onnx::AttributeProto &attr : *node.mutable_attribute()) {
      auto widenAttrTensor = [&](onnx::TensorProto &t) -> LogicalResult {
        if (!isFourBit(t.data_type()))
          return success();
        bool isSigned = t.data_type() == kOnnxInt4;
        if (failed(widenTensor(t, reader(t, err), err)))
          return failure();
        for (const std::string &out : node.output())
          if (!out.empty())
            fourBitValues[out] = isSigned;
        return success();
      };
      if (attr.has_t() && failed(widenAttrTensor(*attr.mutable_t())))
        return failure();
      for (onnx::TensorProto &t : *attr.mutable_tensors())
        if (failed(widenAttrTensor(t)))
          return failure();
      if (attr.type() != onnx::AttributeProto::INT || !isFourBit(attr.i()))
        continue;
      if (node.op_type() == "QuantizeLinear" && attr.name() == "output_dtype") {
        if (node.output_size() > 0)
          fourBitValues[node.output(0)] = attr.i() == kOnnxInt4;
        attr.set_i(widened(attr.i()));
        continue;
      }
      if (attr.name() == "to" || attr.name() == "dtype" ||
          attr.name() == "output_dtype")
        return err() << "the attribute '" << attr.name() << "' asks for "
                     << onnxTypeName(attr.i())
                     << " results: 4-bit tensors are supported as weights, "
                        "constants and QuantizeLinear outputs only";
    }
  }
  // QuantizeLinear to a 4-bit zero point's type; CastLike to a 4-bit type.
  for (const onnx::NodeProto &node : graph.node()) {
    auto fourBitInput = [&](int i) {
      return node.input_size() > i ? fourBitValues.find(node.input(i))
                                   : fourBitValues.end();
    };
    if (node.op_type() == "QuantizeLinear") {
      auto zp = fourBitInput(2);
      if (zp != fourBitValues.end() && node.output_size() > 0)
        fourBitValues[node.output(0)] = zp->second;
    } else if (node.op_type() == "CastLike" &&
               fourBitInput(1) != fourBitValues.end()) {
      return emitError(nodeLoc(node))
             << "CastLike to the 4-bit type of '" << node.input(1)
             << "' is not supported: 4-bit tensors are supported as weights, "
                "constants and QuantizeLinear outputs only"
             << nodeSuffix(node);
    }
  }
  return success();
}
