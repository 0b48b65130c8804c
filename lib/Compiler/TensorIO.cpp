//===- TensorIO.cpp - host tensors, .npy and ONNX .pb files ---------------===//

#include "parsimony/Compiler/TensorIO.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <onnx/onnx_pb.h>

#include <cstring>

using namespace parsimony;
using llvm::StringRef;

int64_t HostTensor::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

void HostTensor::allocate() {
  data.assign(static_cast<size_t>(numElements() * dtypeSize(dtype)), 0);
}

//===----------------------------------------------------------------------===//
// .npy
//===----------------------------------------------------------------------===//

static std::optional<DType> dtypeFromNpy(StringRef descr) {
  // Byte order: '<' little, '|' not applicable, '=' native (little here).
  if (descr.size() < 3)
    return std::nullopt;
  char order = descr[0];
  if (order != '<' && order != '|' && order != '=')
    return std::nullopt;
  StringRef kind = descr.drop_front();
  return llvm::StringSwitch<std::optional<DType>>(kind)
      .Case("f4", DType::Float32)
      .Case("f8", DType::Float64)
      .Case("f2", DType::Float16)
      .Case("i8", DType::Int64)
      .Case("i4", DType::Int32)
      .Case("i2", DType::Int16)
      .Case("i1", DType::Int8)
      .Case("u8", DType::UInt64)
      .Case("u4", DType::UInt32)
      .Case("u2", DType::UInt16)
      .Case("u1", DType::UInt8)
      .Case("b1", DType::Bool)
      .Default(std::nullopt);
}

static std::string npyDescr(DType dtype) {
  switch (dtype) {
  case DType::Float32:
    return "<f4";
  case DType::Float64:
    return "<f8";
  case DType::Float16:
    return "<f2";
  case DType::Int64:
    return "<i8";
  case DType::Int32:
    return "<i4";
  case DType::Int16:
    return "<i2";
  case DType::Int8:
    return "|i1";
  case DType::UInt64:
    return "<u8";
  case DType::UInt32:
    return "<u4";
  case DType::UInt16:
  case DType::BFloat16: // npy has no bfloat16: raw 16-bit words.
    return "<u2";
  case DType::UInt8:
    return "|u1";
  case DType::Bool:
    return "|b1";
  }
  return "";
}

/// The value of `key` in a .npy header dictionary (a Python literal).
static StringRef dictValue(StringRef header, StringRef key) {
  size_t pos = header.find(("'" + key + "'").str());
  if (pos == StringRef::npos)
    return {};
  StringRef rest = header.drop_front(pos + key.size() + 2).ltrim();
  if (!rest.consume_front(":"))
    return {};
  return rest.ltrim();
}

bool parsimony::readNpy(StringRef path, HostTensor &tensor,
                        std::string &error) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false);
  if (!buffer) {
    error = "cannot read '" + path.str() + "': " + buffer.getError().message();
    return false;
  }
  StringRef bytes = (*buffer)->getBuffer();
  if (!bytes.starts_with("\x93NUMPY") || bytes.size() < 10) {
    error = "'" + path.str() + "' is not a .npy file";
    return false;
  }
  uint8_t major = bytes[6];
  size_t headerLen, headerStart;
  if (major == 1) {
    headerLen =
        static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8);
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) {
      error = "'" + path.str() + "' is truncated";
      return false;
    }
    headerLen = 0;
    for (int i = 3; i >= 0; --i)
      headerLen = (headerLen << 8) | static_cast<uint8_t>(bytes[8 + i]);
    headerStart = 12;
  } else {
    error = "'" + path.str() + "' has unsupported .npy version " +
            std::to_string(major);
    return false;
  }
  if (headerStart + headerLen > bytes.size()) {
    error = "'" + path.str() + "' is truncated";
    return false;
  }
  StringRef header = bytes.substr(headerStart, headerLen);

  StringRef descr = dictValue(header, "descr");
  if (descr.empty() || (descr[0] != '\'' && descr[0] != '"')) {
    error = "'" + path.str() + "': malformed header";
    return false;
  }
  descr = descr.drop_front().take_until(
      [](char c) { return c == '\'' || c == '"'; });
  std::optional<DType> dtype = dtypeFromNpy(descr);
  if (!dtype) {
    error = "'" + path.str() + "': unsupported dtype '" + descr.str() + "'";
    return false;
  }
  if (dictValue(header, "fortran_order").starts_with("True")) {
    error = "'" + path.str() + "' is in Fortran order; save it C-contiguous";
    return false;
  }
  StringRef shape = dictValue(header, "shape");
  if (!shape.consume_front("(")) {
    error = "'" + path.str() + "': malformed shape";
    return false;
  }
  shape = shape.take_until([](char c) { return c == ')'; });
  tensor.shape.clear();
  for (StringRef dim : llvm::split(shape, ',')) {
    dim = dim.trim();
    if (dim.empty())
      continue;
    int64_t size;
    if (dim.getAsInteger(10, size) || size < 0) {
      error = "'" + path.str() + "': malformed shape";
      return false;
    }
    tensor.shape.push_back(size);
  }
  tensor.dtype = *dtype;
  size_t expected = tensor.numElements() * dtypeSize(tensor.dtype);
  StringRef payload = bytes.drop_front(headerStart + headerLen);
  if (payload.size() < expected) {
    error = "'" + path.str() + "' is truncated: expected " +
            std::to_string(expected) + " bytes of data, found " +
            std::to_string(payload.size());
    return false;
  }
  tensor.data.assign(payload.begin(), payload.begin() + expected);
  return true;
}

bool parsimony::writeNpy(StringRef path, const HostTensor &tensor,
                         std::string &error) {
  std::string header = "{'descr': '" + npyDescr(tensor.dtype) +
                       "', 'fortran_order': False, 'shape': (";
  for (auto [i, d] : llvm::enumerate(tensor.shape))
    header += (i ? ", " : "") + std::to_string(d);
  header += tensor.shape.size() == 1 ? ",), }" : "), }";
  // Pad with spaces so the data starts on a 64-byte boundary, end with \n.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (ec) {
    error = "cannot write '" + path.str() + "': " + ec.message();
    return false;
  }
  os << "\x93NUMPY" << '\x01' << '\x00';
  os << static_cast<char>(header.size() & 0xff)
     << static_cast<char>(header.size() >> 8);
  os << header;
  os.write(tensor.data.data(), tensor.data.size());
  return true;
}

//===----------------------------------------------------------------------===//
// ONNX TensorProto
//===----------------------------------------------------------------------===//

template <typename T, typename Field>
static void copyField(const Field &field, HostTensor &tensor) {
  T *out = reinterpret_cast<T *>(tensor.data.data());
  for (int i = 0, e = field.size(); i < e; ++i)
    out[i] = static_cast<T>(field.Get(i));
}

bool parsimony::readTensorProto(StringRef path, HostTensor &tensor,
                                std::string &error) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false);
  if (!buffer) {
    error = "cannot read '" + path.str() + "': " + buffer.getError().message();
    return false;
  }
  onnx::TensorProto proto;
  if (!proto.ParseFromArray((*buffer)->getBufferStart(),
                            static_cast<int>((*buffer)->getBufferSize()))) {
    error = "'" + path.str() + "' is not a serialized ONNX TensorProto";
    return false;
  }
  tensor.name = proto.name();
  tensor.dtype = static_cast<DType>(proto.data_type());
  if (dtypeSize(tensor.dtype) == 0) {
    error = "'" + path.str() + "': unsupported tensor data type " +
            std::to_string(proto.data_type());
    return false;
  }
  // Validate the sizes before allocating: a file that is not really a
  // TensorProto parses into arbitrary dims.
  tensor.shape.clear();
  int64_t n = 1;
  for (int64_t dim : proto.dims()) {
    if (dim < 0 || (dim > 0 && n > (int64_t(1) << 40) / dim)) {
      error = "'" + path.str() + "' has an invalid or too large shape";
      return false;
    }
    tensor.shape.push_back(dim);
    n *= dim;
  }
  size_t bytes = static_cast<size_t>(n * dtypeSize(tensor.dtype));
  if (proto.has_data_location() &&
      proto.data_location() == onnx::TensorProto::EXTERNAL) {
    error = "'" + path.str() + "': external tensor data is not supported here";
    return false;
  }
  if (proto.has_raw_data()) {
    if (proto.raw_data().size() != bytes) {
      error = "'" + path.str() + "': raw_data has " +
              std::to_string(proto.raw_data().size()) + " bytes, expected " +
              std::to_string(bytes);
      return false;
    }
    tensor.allocate();
    std::memcpy(tensor.data.data(), proto.raw_data().data(), bytes);
    return true;
  }
  int typedValues = proto.float_data_size() + proto.double_data_size() +
                    proto.int64_data_size() + proto.uint64_data_size() +
                    proto.int32_data_size();
  if (typedValues != n) {
    error = "'" + path.str() + "' holds " + std::to_string(typedValues) +
            " values for " + std::to_string(n) + " elements";
    return false;
  }
  tensor.allocate();
  auto sizeMismatch = [&](int got) {
    error = "'" + path.str() + "' holds " + std::to_string(got) +
            " values for " + std::to_string(n) + " elements";
    return false;
  };
  switch (tensor.dtype) {
  case DType::Float32:
    if (proto.float_data_size() != n)
      return sizeMismatch(proto.float_data_size());
    copyField<float>(proto.float_data(), tensor);
    return true;
  case DType::Float64:
    if (proto.double_data_size() != n)
      return sizeMismatch(proto.double_data_size());
    copyField<double>(proto.double_data(), tensor);
    return true;
  case DType::Int64:
    if (proto.int64_data_size() != n)
      return sizeMismatch(proto.int64_data_size());
    copyField<int64_t>(proto.int64_data(), tensor);
    return true;
  case DType::UInt32:
  case DType::UInt64:
    if (proto.uint64_data_size() != n)
      return sizeMismatch(proto.uint64_data_size());
    if (tensor.dtype == DType::UInt32)
      copyField<uint32_t>(proto.uint64_data(), tensor);
    else
      copyField<uint64_t>(proto.uint64_data(), tensor);
    return true;
  case DType::Int32:
  case DType::Int16:
  case DType::UInt16:
  case DType::Int8:
  case DType::UInt8:
  case DType::Bool:
  case DType::Float16:
  case DType::BFloat16:
    if (proto.int32_data_size() != n)
      return sizeMismatch(proto.int32_data_size());
    switch (dtypeSize(tensor.dtype)) {
    case 4:
      copyField<int32_t>(proto.int32_data(), tensor);
      break;
    case 2:
      copyField<uint16_t>(proto.int32_data(), tensor);
      break;
    default:
      copyField<uint8_t>(proto.int32_data(), tensor);
      break;
    }
    return true;
  }
  return sizeMismatch(0);
}

bool parsimony::readTensorFile(StringRef path, HostTensor &tensor,
                               std::string &error) {
  if (path.ends_with(".npy"))
    return readNpy(path, tensor, error);
  if (path.ends_with(".pb"))
    return readTensorProto(path, tensor, error);
  error = "'" + path.str() + "': expected a .npy or .pb tensor file";
  return false;
}

//===----------------------------------------------------------------------===//
// Conversion
//===----------------------------------------------------------------------===//

static double halfToDouble(uint16_t h) {
  uint32_t sign = (h >> 15) & 1, exponent = (h >> 10) & 0x1f,
           mantissa = h & 0x3ff;
  double value;
  if (exponent == 0)
    value = std::ldexp(static_cast<double>(mantissa), -24);
  else if (exponent == 31)
    value = mantissa ? NAN : INFINITY;
  else
    value = std::ldexp(static_cast<double>(mantissa | 0x400), exponent - 25);
  return sign ? -value : value;
}

std::vector<double> parsimony::toDoubles(const HostTensor &tensor) {
  int64_t n = tensor.numElements();
  std::vector<double> out(n);
  const char *p = tensor.data.data();
  for (int64_t i = 0; i < n; ++i) {
    switch (tensor.dtype) {
    case DType::Float32:
      out[i] = reinterpret_cast<const float *>(p)[i];
      break;
    case DType::Float64:
      out[i] = reinterpret_cast<const double *>(p)[i];
      break;
    case DType::Float16:
      out[i] = halfToDouble(reinterpret_cast<const uint16_t *>(p)[i]);
      break;
    case DType::BFloat16: {
      uint32_t bits =
          static_cast<uint32_t>(reinterpret_cast<const uint16_t *>(p)[i]) << 16;
      float f;
      std::memcpy(&f, &bits, 4);
      out[i] = f;
      break;
    }
    case DType::Int64:
      out[i] = static_cast<double>(reinterpret_cast<const int64_t *>(p)[i]);
      break;
    case DType::UInt64:
      out[i] = static_cast<double>(reinterpret_cast<const uint64_t *>(p)[i]);
      break;
    case DType::Int32:
      out[i] = reinterpret_cast<const int32_t *>(p)[i];
      break;
    case DType::UInt32:
      out[i] = reinterpret_cast<const uint32_t *>(p)[i];
      break;
    case DType::Int16:
      out[i] = reinterpret_cast<const int16_t *>(p)[i];
      break;
    case DType::UInt16:
      out[i] = reinterpret_cast<const uint16_t *>(p)[i];
      break;
    case DType::Int8:
      out[i] = reinterpret_cast<const int8_t *>(p)[i];
      break;
    case DType::UInt8:
    case DType::Bool:
      out[i] = reinterpret_cast<const uint8_t *>(p)[i];
      break;
    }
  }
  return out;
}
