"""ONNX Runtime com.microsoft:QMoE layers (integer-quantized experts: 2-,
4- and 8-bit values packed along K, per-column or per-block scales,
optional packed zero points) with their inputs (fixed seeds).

  make_qmoe_models.py DIR           writes DIR/*.onnx, DIR/*.npy and
                                    DIR/manifest.json
  make_qmoe_models.py --errors DIR  writes DIR/<error>.onnx, models the
                                    importer refuses
"""
import sys

import numpy as np
from onnx import TensorProto as T, helper

from onnx_cases import Cases, pack_bits as pack

rng = np.random.default_rng(30)


def projection(prefix, e, n, k, bits, block, zero_points, bias):
    """Initializers of one projection: weights [e, n, k / pack], scales,
    bias, and zero points when asked for (2^(bits-1) otherwise)."""
    q = rng.integers(0, 1 << bits, size=(e, n, k))
    blocks = k // block if block else 1
    scale = (rng.random((e, n, blocks)) * 0.02 + 0.005).astype(np.float32)
    inits = {prefix: pack(q, bits),
             prefix + "_scales": scale if block else scale[:, :, 0]}
    if bias:
        inits[prefix + "_bias"] = rng.standard_normal((e, n)).astype(
            np.float32)
    if zero_points:
        z = rng.integers(0, 1 << bits, size=(e, n, blocks))
        inits[prefix + "_zp"] = (pack(z, bits) if block
                                 else pack(z[:, :, 0], bits))
    return inits


def qmoe(e=4, d=64, f=128, k=2, bits=4, block=0, zero_points=False,
         activation="relu", fusion=0, fc3=False, bias=True, tokens=(5,),
         **extra):
    """A QMoE node, its initializers and inputs."""
    fused = activation == "swiglu" and fusion
    inits = {}
    inits.update(projection("fc1", e, (2 if fused else 1) * f, d, bits,
                            block, zero_points, bias))
    inits.update(projection("fc2", e, d, f, bits, block, zero_points, bias))
    if fc3:
        inits.update(projection("fc3", e, f, d, bits, block, zero_points,
                                bias))
    names = ["x", "router"]
    for p in ["fc1", "fc2", "fc3"]:
        names += [n if n in inits else "" for n in
                  [p, p + "_scales", p + "_bias"]]
    names += [p + "_zp" if p + "_zp" in inits else "" for p in
              ["fc1", "fc2", "fc3"]]
    while names[-1] == "":
        names.pop()
    attrs = dict(k=k, activation_type=activation, normalize_routing_weights=1,
                 expert_weight_bits=bits)
    if block:
        attrs["block_size"] = block
    if activation == "swiglu":
        attrs.update(swiglu_fusion=fusion, swiglu_limit=7.0,
                     activation_alpha=1.702, activation_beta=1.0)
    attrs.update(extra)
    node = helper.make_node("QMoE", names, ["y"], domain="com.microsoft",
                            **attrs)
    x = rng.standard_normal((*tokens, d)).astype(np.float32)
    router = rng.standard_normal((int(np.prod(tokens)), e)).astype(np.float32)
    return node, list(inits.items()), {"x": x, "router": router}


def add(models, name, **kw):
    node, inits, inputs = qmoe(**kw)
    models.add(name, [node], inputs,
               [("y", T.FLOAT, inputs["x"].shape)], inits,
               extra_opsets=[("com.microsoft", 1)], rtol=1e-5)


if sys.argv[1] == "--errors":
    models = Cases(sys.argv[2])
    add(models, "qmoe_fp4", quant_type="fp4")
    add(models, "qmoe_prepacked", weights_prepacked=1)
    add(models, "qmoe_block_size_24", block_size=24)
    add(models, "qmoe_bits_3", expert_weight_bits=3)
    add(models, "qmoe_wrong_scales", block=32, block_size=16)
else:
    models = Cases(sys.argv[1])
    add(models, "qmoe_int4_relu")
    add(models, "qmoe_int8_relu", bits=8)
    add(models, "qmoe_int2_relu", bits=2)
    add(models, "qmoe_int4_block32_silu", block=32, activation="silu")
    add(models, "qmoe_int4_block32_zero_points", block=32, zero_points=True)
    add(models, "qmoe_int4_block16_zero_points_gelu", block=16,
        zero_points=True, activation="gelu")
    add(models, "qmoe_int8_block32_zero_points_swiglu", bits=8, block=32,
        zero_points=True, activation="swiglu", fusion=1)
    add(models, "qmoe_int8_zero_points_silu", bits=8, zero_points=True,
        activation="silu")
    add(models, "qmoe_int4_swiglu", activation="swiglu",
        fusion=1)
    add(models, "qmoe_int4_no_bias_3d", bias=False, tokens=(2, 3), k=1)
    add(models, "qmoe_int4_e8_decode", e=8, tokens=(1,), block=32)
models.write_manifest()
