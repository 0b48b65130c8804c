"""Parsimony: compile sparsely-activated transformers (ONNX or MLIR) to native
code and run them on NumPy arrays.

    import numpy as np, parsimony
    model = parsimony.compile("model.onnx")
    y = model.run({"x": np.ones(model.input_shapes[0], np.float32)})["y"]

See docs/python.md for the full API.
"""

import json as _json
import os as _os
import re as _re

import numpy as _np

from . import _parsimony

__all__ = [
    "CompileError",
    "CompiledModel",
    "UnsupportedOptionError",
    "compile",
    "import_onnx",
    "load",
    "run_pipeline",
]

CompileError = _parsimony.CompileError
UnsupportedOptionError = _parsimony.UnsupportedOptionError

# An installed package carries the runtime archive that compiled models link
# against; the build tree's compiler finds its own.
_HERE = _os.path.dirname(_os.path.abspath(__file__))
if "PARSIMONY_RUNTIME_DIR" not in _os.environ and _os.path.exists(
        _os.path.join(_HERE, "libParsimonyRuntime.a")):
    _os.environ["PARSIMONY_RUNTIME_DIR"] = _HERE

_ABI_DTYPES = {
    _np.dtype("float32"): 1, _np.dtype("uint8"): 2, _np.dtype("int8"): 3,
    _np.dtype("uint16"): 4, _np.dtype("int16"): 5, _np.dtype("int32"): 6,
    _np.dtype("int64"): 7, _np.dtype("bool"): 9, _np.dtype("float16"): 10,
    _np.dtype("float64"): 11, _np.dtype("uint32"): 12,
    _np.dtype("uint64"): 13,
}


def _fspath(path):
    if isinstance(path, (str, _os.PathLike)):
        path = _os.fspath(path)
        if isinstance(path, bytes):
            path = _os.fsdecode(path)
        return path
    return None


def _existing_file(path):
    if not _os.path.exists(path):
        raise FileNotFoundError("no such file: '%s'" % path)
    return path


def import_onnx(model, raise_sparse_idioms=True):
    """Imports an ONNX model and returns the MLIR module as text.

    `model` is a path or the bytes of a serialized ModelProto. As
    `parsimony-translate --import-onnx`: ONNX checker and shape inference,
    import, then the default post-import pipeline, which raises sparse idioms
    into `spx` unless `raise_sparse_idioms` is False. Raises CompileError
    with the importer's diagnostics when the model cannot be imported.
    """
    if isinstance(model, (bytes, bytearray, memoryview)):
        return _parsimony.import_onnx_bytes(bytes(model), raise_sparse_idioms)
    path = _fspath(model)
    if path is None:
        raise TypeError("import_onnx expects a path or bytes, got %s" %
                        type(model).__name__)
    return _parsimony.import_onnx_file(_existing_file(path),
                                       raise_sparse_idioms)


def run_pipeline(mlir, pipeline):
    """Runs a textual pass pipeline over MLIR text and returns the result.

    Every upstream MLIR pass and every Parsimony pass and pipeline is
    available, e.g. "canonicalize,cse", "spx-decompose-moe" or
    "builtin.module(parsimony-cpu-pipeline)". Raises ValueError for an
    invalid pipeline and CompileError when parsing or a pass fails.
    """
    if not isinstance(mlir, str) or not isinstance(pipeline, str):
        raise TypeError("run_pipeline expects two strings")
    return _parsimony.run_pipeline(mlir, pipeline)


def _option_list(target, sparse_ffn, topk, predictor, moe, quantize, cpu,
                 capacity_factor, entry, group_size=None, gpu_arch=None,
                 gpu_binary=None):
    options = [("target", target), ("cpu", cpu), ("sparse_ffn", sparse_ffn)]
    if gpu_arch is not None:
        options.append(("gpu_arch", gpu_arch))
    if gpu_binary is not None:
        options.append(("gpu_binary", gpu_binary))
    if moe is not None:
        options.append(("moe", moe))
    if capacity_factor is not None:
        if isinstance(capacity_factor, bool) or not isinstance(
                capacity_factor, (int, float)):
            raise TypeError("capacity_factor must be a number")
        options.append(("capacity_factor", repr(float(capacity_factor))))
    if topk is not None:
        if isinstance(topk, bool) or not isinstance(topk, int):
            raise TypeError("topk must be an int")
        options.append(("topk", str(topk)))
    if predictor is not None:
        options.append(("predictor", predictor))
    if quantize is not None:
        options.append(("quantize", quantize))
    if group_size is not None:
        if isinstance(group_size, bool) or not isinstance(group_size, int):
            raise TypeError("group_size must be an int")
        options.append(("group_size", str(group_size)))
    if entry is not None:
        options.append(("entry", entry))
    for name, value in options:
        if not isinstance(value, str):
            raise TypeError("%s must be a string, got %s" %
                            (name, type(value).__name__))
    return options


def _is_int(value):
    return not isinstance(value, bool) and isinstance(value,
                                                      (int, _np.integer))


def _dim_list(dims):
    """(name, size) pairs, a name repeated once per listed size (the C API
    makes one shape variant per size bound to a name)."""
    if dims is None:
        return []
    result = []
    for name, value in dict(dims).items():
        name = str(name)
        if isinstance(value, (list, tuple)):
            sizes = list(value)
            if not sizes:
                raise ValueError("dims['%s'] lists no size" % name)
            if not all(_is_int(size) for size in sizes):
                raise TypeError("dims['%s'] must be an int or a list of ints"
                                % name)
        elif _is_int(value):
            sizes = [value]
        else:
            raise TypeError("dims['%s'] must be an int or a list of ints, "
                            "got %s" % (name, type(value).__name__))
        seen = set()
        for size in sizes:
            size = int(size)
            if size <= 0:
                raise ValueError("dims['%s'] must be positive, got %d" %
                                 (name, size))
            if size in seen:
                raise ValueError("dims['%s'] lists the size %d twice (each "
                                 "size makes one shape variant)" %
                                 (name, size))
            seen.add(size)
            result.append((name, size))
    return result


def _frozen_list(freeze):
    if freeze is None:
        return []
    result = []
    for name, value in dict(freeze).items():
        array = _np.ascontiguousarray(value)
        if array.dtype not in _ABI_DTYPES:
            raise TypeError("freeze['%s'] has unsupported dtype %s" %
                            (name, array.dtype))
        result.append((str(name), _ABI_DTYPES[array.dtype], array))
    return result


def compile(model, target="cpu", sparse_ffn="off", topk=None, predictor=None,
            moe="dropless", quantize=None, cpu="native", dims=None,
            capacity_factor=None, freeze=None, entry=None, group_size=None,
            gpu_arch=None, gpu_binary=None, runtime_checks=True):
    """Compiles a model to native code and loads it.

    model: a path to an .onnx model (anything else is parsed as MLIR), or the
      bytes of a serialized ONNX ModelProto.
    Options mean the same as parsimony-compile's (docs/cli.md):
      target: "cpu" or "nvptx" (NVIDIA GPUs, where the build has the GPU
        target; UnsupportedOptionError otherwise; docs/gpu.md).
      gpu_arch: "sm_80" (None: the default), "sm_90", ...: the GPU
        architecture of target="nvptx" (--gpu-arch).
      gpu_binary: "fatbin" (None: the default, a cubin for gpu_arch) or
        "ptx" (compiled by the CUDA driver when the model loads), what the
        model embeds for its generated kernels (--gpu-binary).
      cpu: "native", "x86-64-v3" (AVX2), "x86-64-v4" (AVX-512) or an LLVM
        CPU name.
      moe: "dropless" or "capacity": the dispatch of every MoE layer
        (--moe=...); None keeps each layer's own, as omitting --moe does.
      capacity_factor: slots per expert for capacity dispatch
        (--capacity-factor); None keeps each layer's own.
      dims: {name: size or [size, ...]} bindings of symbolic dimensions
        (--dim NAME=VALUE or NAME=V1,V2,...): a list compiles one shape
        variant per size (per combination, with several lists) into the one
        model, and run() picks the variant from the input shapes.
      freeze: {input name: array} ONNX inputs compiled as constants
        (--freeze-input).
      sparse_ffn: "off" (dense), "exact" (lossless activation-sparse
        down-projection) or "predict" (only the topk neurons a predictor
        picks) (--sparse-ffn).
      topk: impose a Top-k activation of this size on every FFN without one
        (--topk).
      predictor: "int8", "int4" or "lowrank:R", the support predictor of
        sparse_ffn="predict" (--predictor; None: int8).
      entry: the function to compile (--entry).
      quantize: "int8" (per output channel) or "int4" (group-wise, packed
        two per byte): weight-only quantization of every matmul weight
        (--quantize); None keeps f32 weights.
      group_size: 32, 64 or 128, the int4 group (--group-size; None: 64).
      runtime_checks: check sizes computed from tensor contents when the
        model runs (--runtime-checks): contradicting inputs raise
        RuntimeError naming the node instead of reading out of bounds.
    Raises CompileError (with the compiler's diagnostics) when the model does
    not compile, ValueError for malformed options.
    """
    options = _option_list(target, sparse_ffn, topk, predictor, moe, quantize,
                           cpu, capacity_factor, entry, group_size, gpu_arch,
                           gpu_binary)
    if not isinstance(runtime_checks, bool):
        raise TypeError("runtime_checks must be a bool")
    if not runtime_checks:
        options.append(("runtime_checks", "false"))
    dim_list = _dim_list(dims)
    frozen = _frozen_list(freeze)
    if isinstance(model, (bytes, bytearray, memoryview)):
        source, data = "<bytes>", bytes(model)

        def build():
            return _parsimony.compile_bytes(data, "onnx", options, dim_list,
                                            frozen)
    else:
        source = _fspath(model)
        if source is None:
            raise TypeError("compile expects a path or bytes, got %s" %
                            type(model).__name__)
        _existing_file(source)

        def build():
            return _parsimony.compile_file(source, options, dim_list, frozen)
    try:
        handle = build()
    except CompileError as error:
        hint = _dims_hint(str(error))
        if not hint:
            raise
        raise CompileError(str(error) + hint) from None
    return CompiledModel(handle, source)


def _dims_hint(message):
    """A note with the Python spelling of the compiler's --dim advice."""
    names = _re.findall(r"bind it with --dim (\S+)=VALUE", message)
    if not names:
        return ""
    return "\nnote: from Python, pass dims={%s} to parsimony.compile" % (
        ", ".join("'%s': VALUE" % name for name in dict.fromkeys(names)))


def load(path):
    """Loads a shared library written by parsimony-compile (docs/abi.md)."""
    path = _fspath(path)
    if path is None:
        raise TypeError("load expects a path")
    return CompiledModel(_parsimony.load(_existing_file(path)), path)


class CompiledModel:
    """A compiled, loaded model. Create it with parsimony.compile or
    parsimony.load.

    Inputs are passed without a copy when they are C-contiguous NumPy arrays
    of the exact dtype and shape; other layouts are made contiguous (one
    copy); other dtypes are rejected (TypeError), never converted. Outputs
    are new NumPy arrays owned by the caller. bfloat16 tensors are exchanged
    as uint16 bit patterns (NumPy has no bfloat16).

    A model compiled with several sizes of a symbolic dimension
    (dims={'seq': [16, 64]}) holds one shape variant per size: run() and
    profile_sparsity() run the variant compiled for the given arrays'
    shapes; `variants` lists them. input_shapes / output_shapes describe
    variant 0.
    """

    def __init__(self, handle, source):
        self._handle = handle
        self._source = source
        self._inputs = handle.inputs
        self._outputs = handle.outputs
        self._variants = [
            {"dims": dict(dims),
             "input_shapes": [tuple(s) for _, _, s in inputs],
             "output_shapes": [tuple(s) for _, _, s in outputs]}
            for dims, inputs, outputs in handle.variants]
        self._input_index = {name: i for i, (name, _, _) in
                             enumerate(self._inputs)}

    def __repr__(self):
        def fmt(tensors):
            return ", ".join("%s: %s%s" % (n, _parsimony.dtype_name(d),
                                           list(s)) for n, d, s in tensors)
        variants = ""
        if len(self._variants) > 1:
            variants = ", %d shape variants" % len(self._variants)
        return "<parsimony.CompiledModel %r (%s) -> (%s)%s>" % (
            self._source, fmt(self._inputs), fmt(self._outputs), variants)

    @property
    def num_variants(self):
        """The number of shape variants (1 unless compiled with a list of
        sizes for a symbolic dimension)."""
        return len(self._variants)

    @property
    def variants(self):
        """One dict per shape variant, variant 0 first:
        {"dims": {name: size}, "input_shapes": [tuple], "output_shapes":
        [tuple]}. "dims" holds the symbolic dimensions the variant binds
        (empty for a model without them)."""
        return [{"dims": dict(v["dims"]),
                 "input_shapes": list(v["input_shapes"]),
                 "output_shapes": list(v["output_shapes"])}
                for v in self._variants]

    @property
    def input_names(self):
        return [name for name, _, _ in self._inputs]

    @property
    def input_dtypes(self):
        return [_parsimony.numpy_dtype(d) for _, d, _ in self._inputs]

    @property
    def input_types(self):
        """Element type names as the model ABI spells them ("bfloat16")."""
        return [_parsimony.dtype_name(d) for _, d, _ in self._inputs]

    @property
    def input_shapes(self):
        """The input shapes of shape variant 0 (see `variants`)."""
        return [tuple(s) for _, _, s in self._inputs]

    @property
    def output_names(self):
        return [name for name, _, _ in self._outputs]

    @property
    def output_dtypes(self):
        return [_parsimony.numpy_dtype(d) for _, d, _ in self._outputs]

    @property
    def output_types(self):
        return [_parsimony.dtype_name(d) for _, d, _ in self._outputs]

    @property
    def output_shapes(self):
        """The output shapes of shape variant 0 (see `variants`)."""
        return [tuple(s) for _, _, s in self._outputs]

    def run(self, inputs):
        """Runs the model on {input name: numpy.ndarray}; returns
        {output name: numpy.ndarray}. The arrays' shapes pick the shape
        variant; ValueError (naming the compiled variants) when no variant
        takes them."""
        outputs = self._handle.run(self._ordered_inputs(inputs, "run"))
        return dict(zip(self.output_names, outputs))

    def _ordered_inputs(self, inputs, method):
        """The input arrays in model order, checked (contiguous copies of
        non-contiguous arrays)."""
        if not isinstance(inputs, dict):
            raise TypeError("%s expects a dict of input name -> "
                            "numpy.ndarray, got %s" %
                            (method, type(inputs).__name__))
        unknown = [name for name in inputs if name not in self._input_index]
        if unknown:
            raise ValueError("the model has no input named %s (inputs: %s)" %
                             (", ".join("'%s'" % n for n in unknown),
                              ", ".join(self.input_names)))
        missing = [name for name in self.input_names if name not in inputs]
        if missing:
            raise ValueError("missing value for input %s" %
                             ", ".join("'%s'" % n for n in missing))
        ordered = []
        for name, dtype, _ in self._inputs:
            value = inputs[name]
            if not isinstance(value, _np.ndarray):
                raise TypeError("input '%s' must be a numpy.ndarray, got %s" %
                                (name, type(value).__name__))
            if not value.flags.c_contiguous:
                value = _np.ascontiguousarray(value)
            ordered.append(value)
        return ordered

    def __call__(self, **inputs):
        return self.run(inputs)

    def profile_sparsity(self, inputs):
        """Runs the model once on {input name: numpy.ndarray} (the shape
        variant their shapes pick, as run() does) with
        activation-sparsity profiling on and returns the figures that
        `parsimony-run --profile-sparsity` prints: a list with one dict per
        profiled layer (the i-th profiled spx kernel call of the run), with
        the fields of the JSON report in docs/abi.md, e.g.

          {"layer": 0, "kind": "sparse_ffn", "tokens": 24, "width": 256,
           "nonzero_mean_pct": 49.95, "nonzero_min_pct": 44.53,
           "nonzero_max_pct": 57.81, "predicted": False, ...}
          {"layer": 1, "kind": "dispatch", "experts": 4, "mode": "capacity",
           "expert_tokens": [2, 1, 2, 2], "dropped": 9, ...}

        FFNs of a model compiled with sparse_ffn="off" (the default) run as
        dense matmuls and are not profiled: compile with "exact" (lossless)
        or "predict"."""
        _, report = self._handle.profile(
            self._ordered_inputs(inputs, "profile_sparsity"))
        return _json.loads(report)["layers"]
