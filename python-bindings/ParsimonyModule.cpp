//===- ParsimonyModule.cpp - the _parsimony Python extension --------------===//
//
// pybind11 bindings over the C API (parsimony/CAPI/Parsimony.h). This TU is
// built with exceptions and RTTI (pybind11 needs both) and therefore sees no
// LLVM/MLIR header: everything compiler-side is behind the plain-C API.
// The user-facing API (keyword arguments, dict inputs, docs) lives in
// parsimony/__init__.py.
//
//===----------------------------------------------------------------------===//

#include "parsimony/CAPI/Parsimony.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace py = pybind11;

namespace {

/// Exception types raised for C API failures (created at module import).
PyObject *compileErrorType = nullptr;
PyObject *unsupportedErrorType = nullptr;

/// Owns a string returned by the C API.
struct CString {
  char *data = nullptr;
  ~CString() { parsimonyStringFree(data); }
  std::string str() const { return data ? std::string(data) : std::string(); }
};

/// Raises the Python exception that corresponds to `status`.
[[noreturn]] void raise(ParsimonyStatus status, const CString &error) {
  std::string message = error.str();
  if (message.empty())
    message = std::string("error: ") + parsimonyStatusGetName(status);
  PyObject *type = PyExc_RuntimeError;
  switch (status) {
  case PARSIMONY_STATUS_INVALID_ARGUMENT:
    type = PyExc_ValueError;
    break;
  case PARSIMONY_STATUS_UNSUPPORTED:
    type = unsupportedErrorType;
    break;
  case PARSIMONY_STATUS_COMPILE_ERROR:
    type = compileErrorType;
    break;
  case PARSIMONY_STATUS_IO_ERROR:
    type = PyExc_OSError;
    break;
  case PARSIMONY_STATUS_OK:
  case PARSIMONY_STATUS_RUNTIME_ERROR:
    break;
  }
  PyErr_SetString(type, message.c_str());
  throw py::error_already_set();
}

void check(ParsimonyStatus status, const CString &error) {
  if (status != PARSIMONY_STATUS_OK)
    raise(status, error);
}

/// NumPy's spelling of an ABI element type. bfloat16 has no NumPy type: it
/// is exchanged as its uint16 bit patterns.
const char *numpyDTypeName(int32_t dtype) {
  switch (dtype) {
  case 1:
    return "float32";
  case 2:
    return "uint8";
  case 3:
    return "int8";
  case 4:
  case 16:
    return "uint16";
  case 5:
    return "int16";
  case 6:
    return "int32";
  case 7:
    return "int64";
  case 9:
    return "bool";
  case 10:
    return "float16";
  case 11:
    return "float64";
  case 12:
    return "uint32";
  case 13:
    return "uint64";
  default:
    return nullptr;
  }
}

py::dtype numpyDType(int32_t dtype) {
  const char *name = numpyDTypeName(dtype);
  if (!name)
    throw py::value_error("the model uses an unknown element type " +
                          std::to_string(dtype));
  return py::dtype(name);
}

/// True when `actual` is exactly the NumPy type `expected`, in native byte
/// order.
bool sameDType(const py::dtype &actual, const py::dtype &expected) {
  char order = actual.byteorder();
  bool native = order == '=' || order == '|' ||
                (order == '<' && PY_LITTLE_ENDIAN) ||
                (order == '>' && !PY_LITTLE_ENDIAN);
  return native && actual.kind() == expected.kind() &&
         actual.itemsize() == expected.itemsize();
}

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1)
    s += ",";
  return s + ")";
}

struct TensorDesc {
  std::string name;
  int32_t dtype;
  std::vector<int64_t> shape;
};

/// One shape variant: its tensors and the symbolic dimensions it binds.
struct VariantDesc {
  std::vector<TensorDesc> inputs;
  std::vector<TensorDesc> outputs;
  std::vector<std::pair<std::string, int64_t>> dims;
};

/// "batch=2, seq=4" (or "variant N" when the variant binds no dimension).
std::string describeDims(const VariantDesc &variant, size_t index) {
  if (variant.dims.empty())
    return "variant " + std::to_string(index);
  std::string text;
  for (const auto &[name, value] : variant.dims)
    text += (text.empty() ? "" : ", ") + name + "=" + std::to_string(value);
  return text;
}

/// A loaded model; owns the C API handle.
class Model {
public:
  explicit Model(ParsimonyModel *handle) : handle(handle) {
    ParsimonyTensorInfo info;
    int32_t numInputs = parsimonyModelGetNumInputs(handle);
    int32_t numOutputs = parsimonyModelGetNumOutputs(handle);
    for (int32_t v = 0, e = parsimonyModelGetNumVariants(handle); v < e; ++v) {
      VariantDesc variant;
      for (int32_t i = 0; i < numInputs; ++i)
        if (parsimonyModelGetVariantInput(handle, v, i, &info) ==
            PARSIMONY_STATUS_OK)
          variant.inputs.push_back(describe(info));
      for (int32_t i = 0; i < numOutputs; ++i)
        if (parsimonyModelGetVariantOutput(handle, v, i, &info) ==
            PARSIMONY_STATUS_OK)
          variant.outputs.push_back(describe(info));
      for (int32_t d = 0, n = parsimonyModelGetVariantNumDims(handle, v); d < n;
           ++d) {
        const char *name = nullptr;
        int64_t value = 0;
        if (parsimonyModelGetVariantDim(handle, v, d, &name, &value) ==
            PARSIMONY_STATUS_OK)
          variant.dims.emplace_back(name ? name : "", value);
      }
      variants.push_back(std::move(variant));
    }
    if (variants.empty())
      variants.emplace_back();
  }
  Model(const Model &) = delete;
  Model &operator=(const Model &) = delete;
  ~Model() { parsimonyModelDestroy(handle); }

  /// (name, abi dtype, shape) of every input / output.
  static py::list toList(const std::vector<TensorDesc> &tensors) {
    py::list list;
    for (const TensorDesc &t : tensors)
      list.append(
          py::make_tuple(t.name, t.dtype, py::tuple(py::cast(t.shape))));
    return list;
  }
  /// Variant 0's inputs and outputs.
  py::list getInputs() const { return toList(variants.front().inputs); }
  py::list getOutputs() const { return toList(variants.front().outputs); }

  /// [(dims [(name, size)], inputs, outputs)] of every shape variant.
  py::list getVariants() const {
    py::list list;
    for (const VariantDesc &variant : variants) {
      py::list dims;
      for (const auto &[name, value] : variant.dims)
        dims.append(py::make_tuple(name, value));
      list.append(py::make_tuple(dims, toList(variant.inputs),
                                 toList(variant.outputs)));
    }
    return list;
  }

  /// Runs on `args` (one array per input, in order) and returns the outputs
  /// as new arrays. Inputs must already have the exact dtype and be
  /// C-contiguous (they are passed to the model without a copy); their
  /// shapes pick the shape variant that runs.
  py::list run(const py::sequence &args) {
    return execute(args, /*report=*/nullptr);
  }

  /// Runs once with sparsity profiling on; returns (outputs, JSON report).
  py::tuple profile(const py::sequence &args) {
    std::string report;
    py::list results = execute(args, &report);
    return py::make_tuple(results, report);
  }

private:
  /// Runs on `args` (plain run, or a profiled one when `report` is set).
  py::list execute(const py::sequence &args, std::string *report) {
    // Variants share names, element types and ranks: check those against
    // variant 0, then let the shapes pick the variant.
    const std::vector<TensorDesc> &inputs = variants.front().inputs;
    if (args.size() != inputs.size())
      throw py::value_error("the model takes " + std::to_string(inputs.size()) +
                            " inputs, got " + std::to_string(args.size()));
    std::vector<py::array> arrays;
    std::vector<std::vector<int64_t>> shapes;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const TensorDesc &want = inputs[i];
      py::object arg = args[i];
      if (!py::isinstance<py::array>(arg))
        throw py::type_error(
            "input '" + want.name + "' must be a numpy.ndarray, got " +
            std::string(py::str(arg.get_type().attr("__name__"))));
      py::array array = py::reinterpret_borrow<py::array>(arg);
      py::dtype expected = numpyDType(want.dtype);
      if (!sameDType(array.dtype(), expected))
        throw py::type_error(
            "input '" + want.name + "' must have dtype " +
            std::string(py::str(expected)) + ", got " +
            std::string(py::str(array.dtype())) +
            (want.dtype == 16 ? " (bfloat16 is passed as uint16 bit patterns)"
                              : "") +
            "; convert it explicitly, e.g. with .astype()");
      shapes.emplace_back(array.shape(), array.shape() + array.ndim());
      arrays.push_back(std::move(array));
    }
    int32_t variant = findVariant(shapes);
    std::vector<const void *> inputPointers;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!(arrays[i].flags() & py::array::c_style))
        throw py::value_error("input '" + inputs[i].name +
                              "' must be C-contiguous (use "
                              "numpy.ascontiguousarray)");
      inputPointers.push_back(arrays[i].data());
    }
    py::list results;
    std::vector<void *> outputPointers;
    for (const TensorDesc &out : variants[variant].outputs) {
      py::array array(numpyDType(out.dtype), out.shape);
      outputPointers.push_back(array.mutable_data());
      results.append(array);
    }
    ParsimonyStatus status;
    CString error, text;
    {
      py::gil_scoped_release release;
      status =
          report
              ? parsimonyModelProfileSparsityVariant(
                    handle, variant, inputPointers.data(),
                    outputPointers.data(), &text.data, &error.data)
              : parsimonyModelRunVariant(handle, variant, inputPointers.data(),
                                         outputPointers.data(), &error.data);
    }
    check(status, error);
    if (report)
      *report = text.data ? text.data : "";
    return results;
  }

  /// The variant compiled for input shapes `shapes`; ValueError naming the
  /// input (one variant) or the compiled variants (several) when none is.
  int32_t findVariant(const std::vector<std::vector<int64_t>> &shapes) const {
    for (size_t v = 0; v < variants.size(); ++v) {
      const std::vector<TensorDesc> &inputs = variants[v].inputs;
      bool matches = true;
      for (size_t i = 0; i < inputs.size() && matches; ++i)
        matches = shapes[i] == inputs[i].shape;
      if (matches)
        return static_cast<int32_t>(v);
    }
    const std::vector<TensorDesc> &inputs = variants.front().inputs;
    if (variants.size() == 1) {
      for (size_t i = 0; i < inputs.size(); ++i)
        if (shapes[i] != inputs[i].shape)
          throw py::value_error(
              "input '" + inputs[i].name + "' must have shape " +
              shapeString(inputs[i].shape) + ", got " + shapeString(shapes[i]));
    }
    std::string given, compiled;
    for (size_t i = 0; i < inputs.size(); ++i)
      given += (i ? ", " : "") + inputs[i].name + " " + shapeString(shapes[i]);
    for (size_t v = 0; v < variants.size(); ++v) {
      compiled += (v ? "; " : "") + describeDims(variants[v], v) + " (";
      for (size_t i = 0; i < variants[v].inputs.size(); ++i)
        compiled += (i ? ", " : "") + variants[v].inputs[i].name + " " +
                    shapeString(variants[v].inputs[i].shape);
      compiled += ")";
    }
    throw py::value_error("no shape variant of the model takes these input "
                          "shapes (" +
                          given + "); compiled variants: " + compiled);
  }

  static TensorDesc describe(const ParsimonyTensorInfo &info) {
    TensorDesc t;
    t.name = info.name ? info.name : "";
    t.dtype = info.dtype;
    t.shape.assign(info.shape, info.shape + info.rank);
    return t;
  }

  ParsimonyModel *handle;
  /// At least one; variant 0 is the default.
  std::vector<VariantDesc> variants;
};

/// Compile options from the Python layer: (name, value) pairs with the
/// command-line spelling, dimension bindings and frozen inputs as
/// (name, abi dtype, array).
using OptionList = std::vector<std::pair<std::string, std::string>>;
using DimList = std::vector<std::pair<std::string, int64_t>>;

struct OptionsDeleter {
  void operator()(ParsimonyCompileOptions *o) const {
    parsimonyCompileOptionsDestroy(o);
  }
};
using OptionsPtr = std::unique_ptr<ParsimonyCompileOptions, OptionsDeleter>;

OptionsPtr buildOptions(const OptionList &options, const DimList &dims,
                        const py::list &frozen) {
  OptionsPtr result(parsimonyCompileOptionsCreate());
  for (const auto &[name, value] : options) {
    CString error;
    check(parsimonyCompileOptionsSet(result.get(), name.c_str(), value.c_str(),
                                     &error.data),
          error);
  }
  for (const auto &[name, value] : dims) {
    CString error;
    check(parsimonyCompileOptionsBindDim(result.get(), name.c_str(), value,
                                         &error.data),
          error);
  }
  for (py::handle item : frozen) {
    auto entry = item.cast<py::tuple>();
    auto name = entry[0].cast<std::string>();
    auto dtype = entry[1].cast<int32_t>();
    auto array = py::array::ensure(entry[2], py::array::c_style);
    if (!array)
      throw py::type_error("frozen input '" + name + "' must be an array");
    std::vector<int64_t> shape(array.shape(), array.shape() + array.ndim());
    CString error;
    check(parsimonyCompileOptionsFreezeInput(
              result.get(), name.c_str(), dtype,
              static_cast<int32_t>(shape.size()), shape.data(), array.data(),
              static_cast<size_t>(array.nbytes()), &error.data),
          error);
  }
  return result;
}

std::unique_ptr<Model> compileFile(const std::string &path,
                                   const OptionList &options,
                                   const DimList &dims,
                                   const py::list &frozen) {
  OptionsPtr o = buildOptions(options, dims, frozen);
  ParsimonyModel *model = nullptr;
  ParsimonyStatus status;
  CString error;
  {
    py::gil_scoped_release release;
    status = parsimonyCompileFile(path.c_str(), o.get(), &model, &error.data);
  }
  check(status, error);
  return std::make_unique<Model>(model);
}

std::unique_ptr<Model> compileBytes(const py::bytes &data,
                                    const std::string &format,
                                    const OptionList &options,
                                    const DimList &dims,
                                    const py::list &frozen) {
  OptionsPtr o = buildOptions(options, dims, frozen);
  std::string bytes = data;
  ParsimonyModel *model = nullptr;
  ParsimonyStatus status;
  CString error;
  {
    py::gil_scoped_release release;
    status = parsimonyCompileBytes(bytes.data(), bytes.size(), format.c_str(),
                                   o.get(), &model, &error.data);
  }
  check(status, error);
  return std::make_unique<Model>(model);
}

std::unique_ptr<Model> loadLibrary(const std::string &path) {
  ParsimonyModel *model = nullptr;
  CString error;
  check(parsimonyModelLoad(path.c_str(), &model, &error.data), error);
  return std::make_unique<Model>(model);
}

std::string takeString(ParsimonyStatus status, CString &result,
                       const CString &error) {
  check(status, error);
  return result.str();
}

std::string importOnnxFile(const std::string &path, bool raiseSparseIdioms) {
  CString result, error;
  ParsimonyStatus status;
  {
    py::gil_scoped_release release;
    status = parsimonyImportOnnxFile(path.c_str(), raiseSparseIdioms,
                                     &result.data, &error.data);
  }
  return takeString(status, result, error);
}

std::string importOnnxBytes(const py::bytes &data, bool raiseSparseIdioms) {
  std::string bytes = data;
  CString result, error;
  ParsimonyStatus status;
  {
    py::gil_scoped_release release;
    status =
        parsimonyImportOnnxBytes(bytes.data(), bytes.size(), raiseSparseIdioms,
                                 &result.data, &error.data);
  }
  return takeString(status, result, error);
}

std::string runPipeline(const std::string &mlir, const std::string &pipeline) {
  CString result, error;
  ParsimonyStatus status;
  {
    py::gil_scoped_release release;
    status = parsimonyRunPassPipeline(
        mlir.data(), mlir.size(), pipeline.c_str(), &result.data, &error.data);
  }
  return takeString(status, result, error);
}

} // namespace

PYBIND11_MODULE(_parsimony, m) {
  m.doc() = "Low-level bindings of Parsimony's C API; use the `parsimony` "
            "package instead.";

  compileErrorType = PyErr_NewExceptionWithDoc(
      "parsimony.CompileError",
      "A model could not be imported, parsed, transformed, lowered or "
      "linked. str(error) holds the compiler's diagnostics.",
      PyExc_RuntimeError, nullptr);
  py::tuple unsupportedBases = py::make_tuple(
      py::handle(PyExc_ValueError), py::handle(PyExc_NotImplementedError));
  unsupportedErrorType = PyErr_NewExceptionWithDoc(
      "parsimony.UnsupportedOptionError",
      "A compile option value this build of Parsimony does not implement "
      "(a ValueError and a NotImplementedError).",
      unsupportedBases.ptr(), nullptr);
  if (!compileErrorType || !unsupportedErrorType)
    throw py::error_already_set();
  m.attr("CompileError") = py::handle(compileErrorType);
  m.attr("UnsupportedOptionError") = py::handle(unsupportedErrorType);
  m.attr("CAPI_VERSION") = PARSIMONY_CAPI_VERSION;

  py::class_<Model>(m, "Model")
      .def_property_readonly("inputs", &Model::getInputs,
                             "[(name, abi dtype, shape)] of the inputs")
      .def_property_readonly("outputs", &Model::getOutputs,
                             "[(name, abi dtype, shape)] of the outputs")
      .def_property_readonly("variants", &Model::getVariants,
                             "[(dims [(name, size)], inputs, outputs)] of "
                             "every shape variant")
      .def("run", &Model::run, py::arg("inputs"),
           "Runs on one array per input (exact dtype, C-contiguous; not "
           "copied; the shapes pick the shape variant) and returns new "
           "output arrays.")
      .def("profile", &Model::profile, py::arg("inputs"),
           "Runs once as run() does with sparsity profiling on; returns "
           "(outputs, JSON report).");

  m.def("dtype_name", [](int32_t dtype) {
    return std::string(parsimonyDTypeGetName(dtype));
  });
  m.def("numpy_dtype", &numpyDType, py::arg("abi_dtype"));
  m.def("import_onnx_file", &importOnnxFile, py::arg("path"),
        py::arg("raise_sparse_idioms") = true);
  m.def("import_onnx_bytes", &importOnnxBytes, py::arg("data"),
        py::arg("raise_sparse_idioms") = true);
  m.def("run_pipeline", &runPipeline, py::arg("mlir"), py::arg("pipeline"));
  m.def("compile_file", &compileFile, py::arg("path"), py::arg("options"),
        py::arg("dims"), py::arg("frozen"));
  m.def("compile_bytes", &compileBytes, py::arg("data"), py::arg("format"),
        py::arg("options"), py::arg("dims"), py::arg("frozen"));
  m.def("load", &loadLibrary, py::arg("path"));
}
