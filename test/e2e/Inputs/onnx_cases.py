"""Writes small single-graph ONNX models with their inputs and the
manifest.json check_vs_ort.py reads. Shared by the make_*_models.py
generators whose models Debian's onnx Python package (opset 17) cannot
check: they are assembled with onnx.helper and stamped with the IR version
their opset's ONNX release wrote.
"""
import json
import os
import zlib

import numpy as np
import onnx
from onnx import TensorProto as T, helper, numpy_helper

# The IR version each opset's ONNX release wrote.
IR_VERSION = {11: 6, 13: 7, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10,
              22: 10, 23: 11, 24: 11, 25: 12, 26: 13}
NP_TYPES = {np.float32: T.FLOAT, np.float16: T.FLOAT16, np.float64: T.DOUBLE,
            np.int64: T.INT64,
            np.int32: T.INT32, np.int8: T.INT8, np.uint8: T.UINT8,
            np.uint16: T.UINT16, np.uint32: T.UINT32, np.uint64: T.UINT64,
            np.bool_: T.BOOL}


def rng_for(name):
    """A generator seeded by `name`: each case's values stay the same when
    cases are added or reordered."""
    return np.random.default_rng(zlib.crc32(name.encode()))


def normal(rng, shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def elem(a):
    """The ONNX element type of numpy array `a`."""
    return NP_TYPES[a.dtype.type]


# ONNX 1.16's 4-bit element types, which onnx 1.12 does not name.
UINT4, INT4 = 21, 22


def pack_bits(values, bits, axis=-1):
    """Unsigned `bits`-bit integers packed along `axis`, the first in the
    lowest bits of each byte (a short last byte padded with zeros)."""
    per = 8 // bits
    v = np.moveaxis(np.asarray(values, np.int64) & ((1 << bits) - 1), axis,
                    -1).astype(np.uint8)
    packed = np.zeros(v.shape[:-1] + ((v.shape[-1] + per - 1) // per,),
                      np.uint8)
    for i in range(per):
        part = v[..., i::per]
        packed[..., :part.shape[-1]] |= part << (i * bits)
    return np.moveaxis(packed, -1, axis)


def pack_nibbles(values):
    """Integers as ONNX packs 4-bit tensors: two per byte over the flattened
    tensor, the first in the low nibble, an odd count padded with a zero
    nibble."""
    return pack_bits(np.asarray(values).flatten(), 4)


def four_bit_tensor(name, values, signed=True, int32_data=False):
    """An INT4 (or UINT4) TensorProto of `values`, packed in raw_data or, as
    onnx.helper writes it, one packed byte per int32_data entry."""
    t = T()
    t.name = name
    t.data_type = INT4 if signed else UINT4
    t.dims.extend(np.shape(values))
    packed = pack_nibbles(values)
    if int32_data:
        t.int32_data.extend(int(b) for b in packed)
    else:
        t.raw_data = packed.tobytes()
    return t


class Cases:
    """Models written to `out`; `write_manifest()` lists them."""

    def __init__(self, out):
        self.out = out
        self.cases = []
        os.makedirs(out, exist_ok=True)

    def add(self, name, nodes, inputs, outputs, inits=(), opset=17,
            rtol=1e-4, extra_args=(), functions=(), extra_opsets=()):
        """inputs: {name: array}; outputs: [(name, elem_type, shape)];
        inits: [(name, array)] or TensorProtos; functions: model-local
        FunctionProtos;
        extra_opsets: [(domain, version)] besides the default domain's."""
        graph = helper.make_graph(
            nodes, name,
            [helper.make_tensor_value_info(n, elem(a), a.shape)
             for n, a in inputs.items()],
            [helper.make_tensor_value_info(n, t, shape)
             for n, t, shape in outputs],
            [i if isinstance(i, T) else numpy_helper.from_array(i[1], i[0])
             for i in inits])
        opsets = [helper.make_opsetid("", opset)] + [
            helper.make_opsetid(d, v) for d, v in extra_opsets]
        model = helper.make_model(graph, opset_imports=opsets,
                                  functions=list(functions))
        model.ir_version = IR_VERSION[opset]
        self.add_model(name, model, inputs, rtol, extra_args)

    def add_model(self, name, model, inputs, rtol=1e-4, extra_args=()):
        """A model built by the caller, with its inputs {name: array}."""
        onnx.save(model, os.path.join(self.out, name + ".onnx"))
        files = {}
        for n, a in inputs.items():
            files[n] = f"{name}.{n}.npy"
            np.save(os.path.join(self.out, files[n]), a)
        self.cases.append({"name": name, "model": name + ".onnx",
                           "inputs": files, "rtol": rtol,
                           "extra_args": list(extra_args)})

    def infer_output_shapes(self):
        """Gives outputs declared without a shape the one ONNX infers."""
        for case in self.cases:
            path = os.path.join(self.out, case["model"])
            m = onnx.load(path)
            if all(o.type.tensor_type.HasField("shape")
                   for o in m.graph.output):
                continue
            inferred = {v.name: v for v in onnx.shape_inference.infer_shapes(
                m).graph.output}
            for o in m.graph.output:
                if not o.type.tensor_type.HasField("shape"):
                    o.CopyFrom(inferred[o.name])
            onnx.save(m, path)

    def write_manifest(self):
        with open(os.path.join(self.out, "manifest.json"), "w") as f:
            json.dump(self.cases, f, indent=1)
