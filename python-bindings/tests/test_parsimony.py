"""Tests of the `parsimony` Python package (run by run_tests.py, `make test`).

Models are generated here (fixed seeds) into a temporary directory.
"""

import ctypes
import gc
import json
import os
import subprocess
import sys
import tempfile
import tracemalloc
import unittest

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import parsimony

BUILD_DIR = os.environ.get("PARSIMONY_BUILD_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(parsimony.__file__))))
BIN_DIR = os.path.join(BUILD_DIR, "bin")

_TMP = None


def setUpModule():
    global _TMP
    _TMP = tempfile.TemporaryDirectory(prefix="parsimony-pytest-")


def tearDownModule():
    _TMP.cleanup()


def tmp_path(name):
    return os.path.join(_TMP.name, name)


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc/self/status")


def relative_error(actual, expected):
    return float(np.abs(actual - expected).max() / np.abs(expected).max())


# A small dense model: y = relu(x @ W + b), z = reduce_sum(y, axis 1).
RNG = np.random.default_rng(1234)
W = RNG.standard_normal((8, 16)).astype(np.float32)
B = RNG.standard_normal(16).astype(np.float32)


def small_model_proto():
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["t"]),
        helper.make_node("Add", ["t", "b"], ["u"]),
        helper.make_node("Relu", ["u"], ["y"]),
        helper.make_node("ReduceSum", ["y", "axes"], ["z"], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, "small",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 16]),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, [4])],
        [numpy_helper.from_array(W, "W"), numpy_helper.from_array(B, "b"),
         numpy_helper.from_array(np.array([1], np.int64), "axes")])
    return helper.make_model(graph,
                             opset_imports=[helper.make_opsetid("", 17)])


def small_reference(x):
    y = np.maximum(x @ W + B, 0)
    return y, y.sum(axis=1)


def has_cuda_driver():
    """Whether the CUDA driver the GPU runtime opens can be loaded."""
    try:
        ctypes.CDLL("libcuda.so.1")
        return True
    except OSError:
        return False


def small_model_path():
    path = tmp_path("small.onnx")
    if not os.path.exists(path):
        onnx.save(small_model_proto(), path)
    return path


class SmallModelTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = parsimony.compile(small_model_path())

    def test_signature(self):
        m = self.model
        self.assertEqual(m.input_names, ["x"])
        self.assertEqual(m.input_dtypes, [np.dtype(np.float32)])
        self.assertEqual(m.input_shapes, [(4, 8)])
        self.assertEqual(m.input_types, ["float32"])
        self.assertEqual(m.output_names, ["y", "z"])
        self.assertEqual(m.output_dtypes, [np.dtype(np.float32)] * 2)
        self.assertEqual(m.output_shapes, [(4, 16), (4,)])
        self.assertIn("x: float32[4, 8]", repr(m))

    def test_run_matches_numpy(self):
        x = RNG.standard_normal((4, 8)).astype(np.float32)
        out = self.model.run({"x": x})
        self.assertEqual(sorted(out), ["y", "z"])
        y, z = small_reference(x)
        np.testing.assert_allclose(out["y"], y, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(out["z"], z, rtol=1e-5, atol=1e-5)
        self.assertEqual(out["y"].dtype, np.float32)
        self.assertTrue(out["y"].flags.owndata and out["y"].flags.writeable)

    def test_call_with_keywords(self):
        x = RNG.standard_normal((4, 8)).astype(np.float32)
        np.testing.assert_array_equal(self.model(x=x)["y"],
                                      self.model.run({"x": x})["y"])

    def test_outputs_are_fresh(self):
        x = RNG.standard_normal((4, 8)).astype(np.float32)
        first = self.model.run({"x": x})["y"]
        kept = first.copy()
        second = self.model.run({"x": 2 * x})["y"]
        self.assertIsNot(first, second)
        np.testing.assert_array_equal(first, kept)

    def test_non_contiguous_input(self):
        base = RNG.standard_normal((8, 4)).astype(np.float32)
        x = base.T  # Fortran order: made contiguous, same answer.
        self.assertFalse(x.flags.c_contiguous)
        np.testing.assert_allclose(self.model.run({"x": x})["y"],
                                   small_reference(np.ascontiguousarray(x))[0],
                                   rtol=1e-5, atol=1e-5)
        strided = RNG.standard_normal((4, 16)).astype(np.float32)[:, ::2]
        np.testing.assert_allclose(self.model.run({"x": strided})["y"],
                                   small_reference(strided.copy())[0],
                                   rtol=1e-5, atol=1e-5)

    def test_concurrent_runs(self):
        # The GIL is released while a model runs; runs are reentrant.
        import threading
        xs = [RNG.standard_normal((4, 8)).astype(np.float32)
              for _ in range(8)]
        results = [None] * len(xs)

        def work(i):
            for _ in range(200):
                results[i] = self.model.run({"x": xs[i]})["y"]

        threads = [threading.Thread(target=work, args=(i,))
                   for i in range(len(xs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for x, y in zip(xs, results):
            np.testing.assert_allclose(y, small_reference(x)[0], rtol=1e-5,
                                       atol=1e-5)

    def test_concurrent_compiles(self):
        import threading
        models, errors = [None] * 3, []

        def work(i):
            try:
                models[i] = parsimony.compile(small_model_path())
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        x = RNG.standard_normal((4, 8)).astype(np.float32)
        for model in models:
            np.testing.assert_allclose(model(x=x)["y"], small_reference(x)[0],
                                       rtol=1e-5, atol=1e-5)

    def test_compile_from_bytes(self):
        model = parsimony.compile(small_model_proto().SerializeToString())
        x = RNG.standard_normal((4, 8)).astype(np.float32)
        np.testing.assert_array_equal(model.run({"x": x})["y"],
                                      self.model.run({"x": x})["y"])

    def test_same_answers_as_the_cli(self):
        x = RNG.standard_normal((4, 8)).astype(np.float32)
        np.save(tmp_path("cli_x.npy"), x)
        out_dir = tmp_path("cli_out")
        subprocess.run([os.path.join(BIN_DIR, "parsimony-run"),
                        small_model_path(), "--input",
                        "x=" + tmp_path("cli_x.npy"), "--output-dir", out_dir],
                       check=True, stdout=subprocess.DEVNULL)
        ours = self.model.run({"x": x})
        for name in ("y", "z"):
            np.testing.assert_array_equal(
                ours[name], np.load(os.path.join(out_dir, name + ".npy")))
        # A library written by parsimony-compile loads too.
        library = tmp_path("small_cli.so")
        subprocess.run([os.path.join(BIN_DIR, "parsimony-compile"),
                        small_model_path(), "-o", library], check=True)
        loaded = parsimony.load(library)
        self.assertEqual(loaded.output_names, ["y", "z"])
        np.testing.assert_array_equal(loaded.run({"x": x})["y"], ours["y"])

    def test_inputs_are_not_copied(self):
        # A 16 MiB input reduced to 16 bytes: a copy of the input would show
        # in the traced peak (NumPy allocations are traced).
        proto = helper.make_model(
            helper.make_graph(
                [helper.make_node("ReduceSum", ["x", "axes"], ["s"],
                                  keepdims=0)], "sum",
                [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                               [4, 1 << 20])],
                [helper.make_tensor_value_info("s", TensorProto.FLOAT, [4])],
                [numpy_helper.from_array(np.array([1], np.int64), "axes")]),
            opset_imports=[helper.make_opsetid("", 17)])
        model = parsimony.compile(proto.SerializeToString())
        x = np.ones((4, 1 << 20), np.float32)
        model.run({"x": x})
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            s = model.run({"x": x})["s"]
            _, peak = tracemalloc.get_traced_memory()
            # The same input, non-contiguous, must be copied once.
            xt = np.ones((1 << 20, 4), np.float32).T
            tracemalloc.reset_peak()
            model.run({"x": xt})
            _, copied_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        np.testing.assert_allclose(s, np.full(4, 1 << 20, np.float32))
        self.assertLess(peak, 1 << 20)
        self.assertGreaterEqual(copied_peak, x.nbytes)


    def test_inputs_are_not_written(self):
        # Ops that update a tensor in place (a scatter, a loop-carried
        # value) write a copy of an input, never the caller's array.
        body = helper.make_graph(
            [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
             helper.make_node("Add", ["v", "v"], ["v_out"])], "double",
            [helper.make_tensor_value_info("i", TensorProto.INT64, []),
             helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
             helper.make_tensor_value_info("v", TensorProto.FLOAT, [3])],
            [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
             helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [3])])
        proto = helper.make_model(
            helper.make_graph(
                [helper.make_node("ScatterND", ["d", "idx", "u"], ["s"]),
                 helper.make_node("Loop", ["trips", "", "v"], ["w"],
                                  body=body)], "in_place",
                [helper.make_tensor_value_info("d", TensorProto.FLOAT,
                                               [4, 3]),
                 helper.make_tensor_value_info("u", TensorProto.FLOAT,
                                               [1, 3]),
                 helper.make_tensor_value_info("v", TensorProto.FLOAT, [3])],
                [helper.make_tensor_value_info("s", TensorProto.FLOAT,
                                               [4, 3]),
                 helper.make_tensor_value_info("w", TensorProto.FLOAT, [3])],
                [numpy_helper.from_array(np.array([[2]], np.int64), "idx"),
                 numpy_helper.from_array(np.array(3, np.int64), "trips")]),
            opset_imports=[helper.make_opsetid("", 17)])
        model = parsimony.compile(proto.SerializeToString())
        d = RNG.standard_normal((4, 3)).astype(np.float32)
        u = RNG.standard_normal((1, 3)).astype(np.float32)
        v = RNG.standard_normal(3).astype(np.float32)
        originals = [a.copy() for a in (d, u, v)]
        out = model.run({"d": d, "u": u, "v": v})
        for a, original in zip((d, u, v), originals):
            np.testing.assert_array_equal(a, original)
        expected = d.copy()
        expected[2] = u[0]
        np.testing.assert_array_equal(out["s"], expected)
        np.testing.assert_allclose(out["w"], 8 * v, rtol=1e-6)


class TypedModelTest(unittest.TestCase):
    """Integer inputs: an embedding lookup with int64 ids."""

    def test_int64_gather(self):
        table = RNG.standard_normal((10, 4)).astype(np.float32)
        proto = helper.make_model(
            helper.make_graph(
                [helper.make_node("Gather", ["table", "ids"], ["e"])], "emb",
                [helper.make_tensor_value_info("ids", TensorProto.INT64, [5])],
                [helper.make_tensor_value_info("e", TensorProto.FLOAT,
                                               [5, 4])],
                [numpy_helper.from_array(table, "table")]),
            opset_imports=[helper.make_opsetid("", 17)])
        model = parsimony.compile(proto.SerializeToString())
        self.assertEqual(model.input_dtypes, [np.dtype(np.int64)])
        ids = np.array([3, 0, 9, 3, 1], np.int64)
        np.testing.assert_array_equal(model(ids=ids)["e"], table[ids])
        with self.assertRaises(TypeError):
            model(ids=ids.astype(np.int32))


class RuntimeChecksTest(unittest.TestCase):
    """A Reshape to a shape input: contents that contradict the model's
    shapes fail the run with RuntimeError naming the node, and the model
    stays usable."""

    @classmethod
    def setUpClass(cls):
        graph = helper.make_graph(
            [helper.make_node("Reshape", ["x", "shape"], ["y"],
                              name="to_rows")], "reshape",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6]),
             helper.make_tensor_value_info("shape", TensorProto.INT64,
                                           [2])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 4])])
        cls.proto = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", 17)])
        cls.model = parsimony.compile(cls.proto.SerializeToString())
        cls.x = np.arange(12, dtype=np.float32).reshape(2, 6)

    def run_with(self, *shape):
        return self.model(x=self.x, shape=np.array(shape, np.int64))["y"]

    def test_contradicting_contents_fail_then_good_ones_run(self):
        for _ in range(50):  # temporaries of failed runs are freed
            with self.assertRaises(RuntimeError) as ctx:
                self.run_with(5, 5)
            self.assertIn("another element count", str(ctx.exception))
            self.assertIn("(node 'to_rows')", str(ctx.exception))
            with self.assertRaises(RuntimeError) as ctx:
                self.run_with(4, 3)
            self.assertIn("(dimension 0) is not 3", str(ctx.exception))
            np.testing.assert_array_equal(self.run_with(3, -1),
                                          self.x.reshape(3, 4))

    def test_checks_can_be_turned_off(self):
        model = parsimony.compile(self.proto.SerializeToString(),
                                  runtime_checks=False)
        np.testing.assert_array_equal(
            model(x=self.x, shape=np.array([3, 4], np.int64))["y"],
            self.x.reshape(3, 4))


class DynamicDimsTest(unittest.TestCase):
    def setUp(self):
        graph = helper.make_graph(
            [helper.make_node("Relu", ["x"], ["y"])], "dyn",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                           ["batch", 3])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                           ["batch", 3])])
        self.path = tmp_path("dynamic.onnx")
        onnx.save(helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", 17)]), self.path)

    def test_unbound_dimension_is_a_compile_error(self):
        with self.assertRaises(parsimony.CompileError) as ctx:
            parsimony.compile(self.path)
        self.assertIn("dynamic dimension 0 ('batch')", str(ctx.exception))
        self.assertIn("dims={'batch': VALUE}", str(ctx.exception))
        self.assertIsInstance(ctx.exception, RuntimeError)

    def test_bound_dimension(self):
        model = parsimony.compile(self.path, dims={"batch": 5})
        self.assertEqual(model.input_shapes, [(5, 3)])
        x = RNG.standard_normal((5, 3)).astype(np.float32)
        np.testing.assert_array_equal(model(x=x)["y"], np.maximum(x, 0))


# A ReLU FFN (8 -> 32 -> 8) over [batch, seq, 8] followed by a softmax over
# seq: every size of seq computes something different.
VW1 = RNG.standard_normal((8, 32)).astype(np.float32) * 0.5
VB1 = np.full(32, -0.25, np.float32)
VW2 = RNG.standard_normal((32, 8)).astype(np.float32) * 0.5
VB2 = np.zeros(8, np.float32)


def variants_model_path(rank=3):
    """x: [batch, seq, 8] -> y: [batch, seq, 8] (rank 3), or x: [seq, 8]
    -> y: [seq, 8] (rank 2)."""
    path = tmp_path("variants%d.onnx" % rank)
    if not os.path.exists(path):
        dims = ["batch", "seq"] if rank == 3 else ["seq"]
        nodes = [helper.make_node("MatMul", ["x", "W1"], ["h0"]),
                 helper.make_node("Add", ["h0", "b1"], ["h1"]),
                 helper.make_node("Relu", ["h1"], ["h"]),
                 helper.make_node("MatMul", ["h", "W2"], ["s0"]),
                 helper.make_node("Add", ["s0", "b2"], ["s"]),
                 helper.make_node("Softmax", ["s"], ["y"], axis=rank - 2)]
        graph = helper.make_graph(
            nodes, "variants",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                           dims + [8])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                           dims + [8])],
            [numpy_helper.from_array(a, n) for a, n in
             ((VW1, "W1"), (VB1, "b1"), (VW2, "W2"), (VB2, "b2"))])
        onnx.save(helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def variants_reference(x):
    """The softmax runs over seq (axis -2)."""
    s = np.maximum(x @ VW1 + VB1, 0) @ VW2 + VB2
    p = np.exp(s - s.max(axis=-2, keepdims=True))
    return p / p.sum(axis=-2, keepdims=True)


class ShapeVariantsTest(unittest.TestCase):
    """dims with a list of sizes: one model, one shape variant per size,
    picked by the input shapes."""

    @classmethod
    def setUpClass(cls):
        cls.model = parsimony.compile(variants_model_path(),
                                      dims={"seq": [3, 6], "batch": 2})

    def test_variants(self):
        m = self.model
        self.assertEqual(m.num_variants, 2)
        self.assertEqual(m.variants, [
            {"dims": {"batch": 2, "seq": 3}, "input_shapes": [(2, 3, 8)],
             "output_shapes": [(2, 3, 8)]},
            {"dims": {"batch": 2, "seq": 6}, "input_shapes": [(2, 6, 8)],
             "output_shapes": [(2, 6, 8)]}])
        # The variant-less properties describe variant 0.
        self.assertEqual(m.input_shapes, [(2, 3, 8)])
        self.assertEqual(m.output_shapes, [(2, 3, 8)])
        self.assertEqual(m.input_names, ["x"])
        self.assertEqual(m.output_names, ["y"])
        self.assertIn("2 shape variants", repr(m))
        # `variants` hands out copies.
        m.variants[0]["dims"]["seq"] = 99
        self.assertEqual(m.variants[0]["dims"]["seq"], 3)

    def test_runs_the_variant_of_the_input_shape(self):
        for seq in (3, 6, 3):
            with self.subTest(seq=seq):
                x = RNG.standard_normal((2, seq, 8)).astype(np.float32)
                y = self.model.run({"x": x})["y"]
                self.assertEqual(y.shape, (2, seq, 8))
                np.testing.assert_allclose(y, variants_reference(x),
                                           rtol=1e-5, atol=1e-6)
                np.testing.assert_array_equal(self.model(x=x)["y"], y)

    def test_non_contiguous_input(self):
        x = RNG.standard_normal((6, 2, 8)).astype(np.float32)
        xt = x.transpose(1, 0, 2)
        self.assertFalse(xt.flags.c_contiguous)
        np.testing.assert_allclose(self.model(x=xt)["y"],
                                   variants_reference(xt), rtol=1e-5,
                                   atol=1e-6)

    def test_shape_not_compiled(self):
        for shape in ((2, 5, 8), (1, 3, 8), (2, 3, 9), (6, 8)):
            with self.subTest(shape=shape):
                with self.assertRaises(ValueError) as ctx:
                    self.model.run({"x": np.zeros(shape, np.float32)})
                message = str(ctx.exception)
                self.assertIn("no shape variant", message)
                self.assertIn("batch=2, seq=3 (x (2, 3, 8))", message)
                self.assertIn("batch=2, seq=6 (x (2, 6, 8))", message)
        with self.assertRaises(ValueError):
            self.model.profile_sparsity({"x": np.zeros((2, 5, 8),
                                                       np.float32)})

    def test_dtype_is_still_strict(self):
        with self.assertRaises(TypeError) as ctx:
            self.model.run({"x": np.zeros((2, 6, 8), np.float64)})
        self.assertIn("float32", str(ctx.exception))

    def test_profile_sparsity_per_variant(self):
        model = parsimony.compile(variants_model_path(rank=2),
                                  dims={"seq": [3, 6]}, sparse_ffn="exact")
        self.assertEqual(model.num_variants, 2)
        for seq in (6, 3):
            with self.subTest(seq=seq):
                x = RNG.standard_normal((seq, 8)).astype(np.float32)
                layers = model.profile_sparsity({"x": x})
                self.assertEqual(len(layers), 1)
                self.assertEqual(layers[0]["kind"], "sparse_ffn")
                self.assertEqual(layers[0]["tokens"], seq)
                np.testing.assert_allclose(model(x=x)["y"],
                                           variants_reference(x), rtol=1e-5,
                                           atol=1e-6)
                h = np.maximum(x @ VW1 + VB1, 0)
                self.assertAlmostEqual(layers[0]["nonzero_mean_pct"],
                                       100.0 * np.count_nonzero(h) / h.size,
                                       places=3)

    def test_tuples_and_numpy_sizes(self):
        model = parsimony.compile(variants_model_path(),
                                  dims={"seq": (np.int64(4), 2),
                                        "batch": [1]})
        self.assertEqual([v["dims"] for v in model.variants],
                         [{"batch": 1, "seq": 4}, {"batch": 1, "seq": 2}])
        x = RNG.standard_normal((1, 2, 8)).astype(np.float32)
        np.testing.assert_allclose(model(x=x)["y"], variants_reference(x),
                                   rtol=1e-5, atol=1e-6)

    def test_single_size_has_one_variant(self):
        model = parsimony.compile(variants_model_path(),
                                  dims={"seq": 5, "batch": 1})
        self.assertEqual(model.num_variants, 1)
        self.assertEqual(model.variants, [
            {"dims": {"batch": 1, "seq": 5}, "input_shapes": [(1, 5, 8)],
             "output_shapes": [(1, 5, 8)]}])
        # One variant keeps the plain shape error.
        with self.assertRaises(ValueError) as ctx:
            model.run({"x": np.zeros((1, 4, 8), np.float32)})
        self.assertIn("input 'x' must have shape (1, 5, 8), got (1, 4, 8)",
                      str(ctx.exception))

    def test_bad_dims(self):
        path = variants_model_path()
        with self.assertRaises(ValueError) as ctx:
            parsimony.compile(path, dims={"seq": [4, 8, 4], "batch": 1})
        self.assertIn("dims['seq'] lists the size 4 twice", str(ctx.exception))
        with self.assertRaises(ValueError) as ctx:
            parsimony.compile(path, dims={"seq": [], "batch": 1})
        self.assertIn("lists no size", str(ctx.exception))
        with self.assertRaises(ValueError):
            parsimony.compile(path, dims={"seq": [4, 0], "batch": 1})
        for bad in ([4, "8"], [4, True], "4", 4.0, None):
            with self.subTest(seq=bad):
                with self.assertRaises(TypeError):
                    parsimony.compile(path, dims={"seq": bad, "batch": 1})
        # A size list for a dimension the model lacks.
        with self.assertRaises(parsimony.CompileError) as ctx:
            parsimony.compile(path, dims={"seq": 4, "batch": 1,
                                          "heads": [1, 2]})
        self.assertIn("--dim heads lists several sizes", str(ctx.exception))


class TorchEncoderTest(unittest.TestCase):
    """A PyTorch-exported nn.TransformerEncoderLayer against PyTorch."""

    def test_transformer_encoder_layer(self):
        import torch
        torch.manual_seed(0)
        layer = torch.nn.TransformerEncoderLayer(
            64, 4, 128, dropout=0.0, batch_first=True).eval()
        x = torch.randn(1, 8, 64)
        path = tmp_path("encoder.onnx")
        # Not under torch.no_grad(): that picks PyTorch's fused fast path,
        # which has no ONNX export.
        torch.onnx.export(layer, (x,), path, input_names=["x"],
                          output_names=["y"], opset_version=17)
        with torch.no_grad():
            reference = layer(x).numpy()
        model = parsimony.compile(path)
        self.assertEqual(model.input_shapes, [(1, 8, 64)])
        y = model.run({"x": x.numpy()})["y"]
        self.assertEqual(y.shape, reference.shape)
        self.assertLess(relative_error(y, reference), 1e-4)
        np.testing.assert_allclose(y, reference, rtol=1e-4, atol=1e-4)


SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
ORT_DRIVER = os.path.join(SOURCE_DIR, "scripts", "ort", "run-ort.js")
ORT_PACKAGE = os.path.join(SOURCE_DIR, "third_party", "ort", "node_modules",
                           "onnxruntime-node")


def run_ort(model_path, inputs):
    """Runs a model with ONNX Runtime (scripts/setup-ort.sh); returns
    {output name: array}."""
    work = tempfile.mkdtemp(dir=_TMP.name)
    args = ["node", ORT_DRIVER, model_path, "--output-dir", work]
    for name, value in inputs.items():
        np.save(os.path.join(work, name + ".npy"), value)
        args += ["--input", "%s=%s" % (name, os.path.join(work, name + ".npy"))]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return {f[:-4]: np.load(os.path.join(work, f))
            for f in os.listdir(work) if f.endswith(".npy")
            and f[:-4] not in inputs}


class ExampleModelTest(unittest.TestCase):
    """The example model of `make demo` (examples/make_example.py: a 2-layer
    PyTorch transformer encoder, d=256, ReLU FFN 1024) against PyTorch and
    ONNX Runtime."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tmp_path("example")
        subprocess.run([sys.executable,
                        os.path.join(SOURCE_DIR, "examples", "make_example.py"),
                        cls.dir], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        cls.path = os.path.join(cls.dir, "tiny_transformer.onnx")
        cls.x = np.load(os.path.join(cls.dir, "x.npy"))
        cls.reference = np.load(os.path.join(cls.dir, "reference.npy"))

    def test_matches_pytorch(self):
        for mode in ("off", "exact"):
            model = parsimony.compile(self.path, sparse_ffn=mode)
            y = model(x=self.x)["y"]
            self.assertLess(relative_error(y, self.reference), 1e-4, mode)

    @unittest.skipUnless(os.path.isdir(ORT_PACKAGE),
                         "ONNX Runtime not set up (scripts/setup-ort.sh)")
    def test_matches_onnx_runtime(self):
        y = parsimony.compile(self.path)(x=self.x)["y"]
        self.assertLess(relative_error(y, run_ort(self.path, {"x": self.x})["y"]),
                        1e-4)


class SparseFfnTest(unittest.TestCase):
    """sparse_ffn / topk on a ReLU FFN (x @ K + b1 -> relu -> @ V + b2),
    raised to spx.sparse_ffn by the importer."""

    @classmethod
    def setUpClass(cls):
        rng = np.random.default_rng(7)
        cls.k1 = rng.standard_normal((16, 64)).astype(np.float32) * 0.5
        cls.b1 = rng.standard_normal(64).astype(np.float32) * 0.5
        cls.k2 = rng.standard_normal((64, 16)).astype(np.float32) * 0.5
        cls.b2 = rng.standard_normal(16).astype(np.float32) * 0.5
        cls.x = rng.standard_normal((6, 16)).astype(np.float32)
        nodes = [helper.make_node("MatMul", ["x", "k1"], ["h0"]),
                 helper.make_node("Add", ["h0", "b1"], ["h1"]),
                 helper.make_node("Relu", ["h1"], ["h"]),
                 helper.make_node("MatMul", ["h", "k2"], ["y0"]),
                 helper.make_node("Add", ["y0", "b2"], ["y"])]
        graph = helper.make_graph(
            nodes, "ffn",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6, 16])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [6, 16])],
            [numpy_helper.from_array(getattr(cls, n), n)
             for n in ("k1", "b1", "k2", "b2")])
        cls.path = tmp_path("ffn.onnx")
        onnx.save(helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", 17)]), cls.path)

    def reference(self, topk=None):
        h = np.maximum(self.x @ self.k1 + self.b1, 0)
        if topk is not None:
            # Keep the k largest per token (ties to the lower index).
            order = np.argsort(-h, axis=1, kind="stable")[:, :topk]
            kept = np.zeros_like(h)
            np.put_along_axis(kept, order,
                              np.take_along_axis(h, order, axis=1), axis=1)
            h = kept
        return h @ self.k2 + self.b2

    def test_raised_to_spx(self):
        self.assertIn("spx.sparse_ffn", parsimony.import_onnx(self.path))

    def test_dense_and_exact_sparse(self):
        expected = self.reference()
        for mode in ("off", "exact"):
            model = parsimony.compile(self.path, sparse_ffn=mode)
            np.testing.assert_allclose(model(x=self.x)["y"], expected,
                                       rtol=1e-4, atol=1e-4, err_msg=mode)

    def test_quantize(self):
        # Weight-only quantization (dense and activation-sparse): int8 stays
        # close to f32, int4 is coarser; the routerless FFN has no f32 left.
        errors = {}
        for quantize, group in (("int8", None), ("int4", 32)):
            for mode in ("off", "exact"):
                model = parsimony.compile(self.path, sparse_ffn=mode,
                                          quantize=quantize, group_size=group)
                y = model(x=self.x)["y"]
                self.assertTrue(np.isfinite(y).all())
                errors[quantize, mode] = relative_error(y, self.reference())
        self.assertLess(max(errors["int8", m] for m in ("off", "exact")),
                        0.02, errors)
        self.assertLess(max(errors["int4", m] for m in ("off", "exact")),
                        0.25, errors)
        with self.assertRaises(parsimony.CompileError) as ctx:
            parsimony.compile(self.path, quantize="int8", group_size=32)
        self.assertIn("--group-size", str(ctx.exception))

    def test_predicted_support(self):
        # Predicting all 64 neurons is the dense FFN.
        model = parsimony.compile(self.path, sparse_ffn="predict", topk=64)
        np.testing.assert_allclose(model(x=self.x)["y"], self.reference(),
                                   rtol=1e-4, atol=1e-4)
        # A predicted top-8 support approximates the exact Top-8 FFN (this
        # random 64-neuron FFN is a hard case: int8 measures 0.18).
        errors = {}
        for predictor in ("int8", "int4", "lowrank:8"):
            model = parsimony.compile(self.path, sparse_ffn="predict", topk=8,
                                      predictor=predictor)
            y = model(x=self.x)["y"]
            self.assertTrue(np.isfinite(y).all())
            errors[predictor] = relative_error(y, self.reference(topk=8))
        self.assertLess(errors["int8"], 0.25, errors)
        # Without k there is no support size: the compiler says so.
        with self.assertRaises(parsimony.CompileError) as ctx:
            parsimony.compile(self.path, sparse_ffn="predict")
        self.assertIn("--topk", str(ctx.exception))

    def test_topk(self):
        for mode in ("off", "exact"):
            model = parsimony.compile(self.path, sparse_ffn=mode, topk=8)
            np.testing.assert_allclose(model(x=self.x)["y"],
                                       self.reference(topk=8), rtol=1e-4,
                                       atol=1e-4, err_msg=mode)


MOE_MLIR = """
// T = 8 tokens, D = 16, F = 32, E = 4 experts, k = %(k)d, ReLU experts in
// ONNX Runtime's nk layout.
func.func @main(%%x: tensor<8x16xf32>, %%router: tensor<8x4xf32>,
                %%w1: tensor<4x32x16xf32>, %%b1: tensor<4x32xf32>,
                %%w2: tensor<4x16x32xf32>, %%b2: tensor<4x16xf32>)
    -> tensor<8x16xf32> {
  %%y = spx.moe %%x, %%router fc1 %%w1 fc1_bias %%b1 fc2 %%w2 fc2_bias %%b2
      {k = %(k)d : i64, activation = #spx<activation relu>,
       normalize_routing_weights = true}
      : (tensor<8x16xf32>, tensor<8x4xf32>, tensor<4x32x16xf32>,
         tensor<4x32xf32>, tensor<4x16x32xf32>, tensor<4x16xf32>)
      -> tensor<8x16xf32>
  return %%y : tensor<8x16xf32>
}
"""


def moe_reference(inputs, k, capacity_factor=None):
    """Softmax router, top-k (ties to the lower index), renormalised gates,
    ReLU experts; with a capacity factor, C = ceil(T / E * factor) slots per
    expert, later assignments (token order, then choice order) dropped."""
    x, router = inputs["x"], inputs["router"]
    w1, b1, w2, b2 = inputs["w1"], inputs["b1"], inputs["w2"], inputs["b2"]
    tokens, experts = router.shape
    p = np.exp(router - router.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    chosen = np.argsort(-p, axis=1, kind="stable")[:, :k]
    gates = np.take_along_axis(p, chosen, axis=1)
    gates /= gates.sum(axis=1, keepdims=True)
    capacity = None
    if capacity_factor is not None:
        capacity = int(np.ceil(tokens / experts * capacity_factor))
    used = np.zeros(experts, np.int64)
    y = np.zeros_like(x)
    for t in range(tokens):
        for j in range(k):
            e = chosen[t, j]
            if capacity is not None:
                if used[e] >= capacity:
                    continue
                used[e] += 1
            h = np.maximum(w1[e] @ x[t] + b1[e], 0)
            y[t] += gates[t, j] * (w2[e] @ h + b2[e])
    return y


class MoETest(unittest.TestCase):
    """The moe / capacity_factor options on an spx.moe model (.mlir)."""

    @classmethod
    def setUpClass(cls):
        rng = np.random.default_rng(3)
        cls.inputs = {
            "x": rng.standard_normal((8, 16)).astype(np.float32),
            "router": rng.standard_normal((8, 4)).astype(np.float32) * 2,
            "w1": rng.standard_normal((4, 32, 16)).astype(np.float32) * 0.3,
            "b1": rng.standard_normal((4, 32)).astype(np.float32) * 0.3,
            "w2": rng.standard_normal((4, 16, 32)).astype(np.float32) * 0.3,
            "b2": rng.standard_normal((4, 16)).astype(np.float32) * 0.3,
        }
        cls.paths = {}
        for k in (1, 2):
            cls.paths[k] = tmp_path("moe_k%d.mlir" % k)
            with open(cls.paths[k], "w") as f:
                f.write(MOE_MLIR % {"k": k})

    def run_model(self, k, **options):
        model = parsimony.compile(self.paths[k], **options)
        self.assertEqual(model.input_names,
                         ["input0", "input1", "input2", "input3", "input4",
                          "input5"])
        ordered = [self.inputs[n] for n in ("x", "router", "w1", "b1", "w2",
                                            "b2")]
        return model.run(dict(zip(model.input_names, ordered)))["output0"]

    def check(self, actual, expected):
        self.assertLess(relative_error(actual, expected), 1e-5)

    def test_dropless(self):
        for k in (1, 2):
            self.check(self.run_model(k, moe="dropless"),
                       moe_reference(self.inputs, k))

    def test_capacity(self):
        for k, factor in ((1, 1.0), (2, 1.0), (2, 0.5)):
            expected = moe_reference(self.inputs, k, factor)
            # A small capacity drops assignments: the result must differ
            # from dropless.
            self.assertGreater(
                relative_error(moe_reference(self.inputs, k), expected), 1e-3)
            self.check(self.run_model(k, moe="capacity",
                                      capacity_factor=factor), expected)

    def test_large_capacity_is_dropless(self):
        self.check(self.run_model(2, moe="capacity", capacity_factor=8),
                   moe_reference(self.inputs, 2))

    def test_layer_default(self):
        # moe=None keeps the layer's own dispatch (dropless here).
        self.check(self.run_model(1, moe=None), moe_reference(self.inputs, 1))


class ImportAndPipelineTest(unittest.TestCase):
    def test_import_onnx(self):
        text = parsimony.import_onnx(small_model_path())
        self.assertIn("func.func @main", text)
        self.assertIn('onnx.name = "x"', text)
        self.assertEqual(
            text, parsimony.import_onnx(
                small_model_proto().SerializeToString()))

    def test_round_trip(self):
        text = parsimony.import_onnx(small_model_path())
        canonical = parsimony.run_pipeline(text, "canonicalize,cse")
        # Idempotent, and the anchored spelling is the same pipeline.
        self.assertEqual(
            canonical,
            parsimony.run_pipeline(canonical,
                                   "builtin.module(canonicalize,cse)"))
        # The transformed module compiles to the same model.
        path = tmp_path("small_roundtrip.mlir")
        with open(path, "w") as f:
            f.write(canonical)
        x = RNG.standard_normal((4, 8)).astype(np.float32)
        from_mlir = parsimony.compile(path).run({"x": x})
        from_onnx = parsimony.compile(small_model_path()).run({"x": x})
        for name in ("y", "z"):
            np.testing.assert_allclose(from_mlir[name], from_onnx[name],
                                       rtol=1e-6, atol=1e-6)

    def test_parsimony_passes_are_registered(self):
        text = parsimony.run_pipeline(
            MOE_MLIR % {"k": 2}, "spx-decompose-moe,canonicalize")
        self.assertNotIn("spx.moe", text)
        self.assertIn("spx.dispatch", text)

    def test_bad_pipeline(self):
        with self.assertRaises(ValueError) as ctx:
            parsimony.run_pipeline("module {}", "no-such-pass")
        self.assertIn("no-such-pass", str(ctx.exception))

    def test_bad_mlir(self):
        with self.assertRaises(parsimony.CompileError) as ctx:
            parsimony.run_pipeline("func.func @f(%a: i32) {\n  return %b\n}",
                                   "cse")
        self.assertIn("<input>:2:", str(ctx.exception))

    def test_import_errors(self):
        with self.assertRaises(parsimony.CompileError):
            parsimony.import_onnx(b"\x08\x07garbage")
        with self.assertRaises(FileNotFoundError):
            parsimony.import_onnx(tmp_path("missing.onnx"))
        with self.assertRaises(TypeError):
            parsimony.import_onnx(42)


class ErrorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = parsimony.compile(small_model_path())
        cls.x = RNG.standard_normal((4, 8)).astype(np.float32)

    def test_wrong_dtype(self):
        with self.assertRaises(TypeError) as ctx:
            self.model.run({"x": self.x.astype(np.float64)})
        self.assertIn("float32", str(ctx.exception))
        with self.assertRaises(TypeError):
            self.model.run({"x": self.x.astype(">f4")})

    def test_wrong_shape(self):
        with self.assertRaises(ValueError) as ctx:
            self.model.run({"x": np.zeros((4, 9), np.float32)})
        self.assertIn("(4, 8)", str(ctx.exception))
        with self.assertRaises(ValueError):
            self.model.run({"x": np.zeros(32, np.float32)})

    def test_missing_and_unknown_inputs(self):
        with self.assertRaises(ValueError) as ctx:
            self.model.run({})
        self.assertIn("'x'", str(ctx.exception))
        with self.assertRaises(ValueError) as ctx:
            self.model.run({"x": self.x, "extra": self.x})
        self.assertIn("'extra'", str(ctx.exception))
        with self.assertRaises(TypeError):
            self.model.run({"x": self.x.tolist()})
        with self.assertRaises(TypeError):
            self.model.run([self.x])

    def test_bad_option_values(self):
        path = small_model_path()
        for options in ({"moe": "sideways"}, {"capacity_factor": -1.0},
                        {"target": "tpu"}, {"sparse_ffn": "always"},
                        {"topk": 0}, {"predictor": "int3"},
                        {"predictor": "lowrank:0"}, {"dims": {"n": 0}},
                        {"quantize": "int3"}, {"group_size": 48},
                        {"gpu_arch": "sm_5"}, {"gpu_binary": "cubin"}):
            with self.subTest(options=options):
                with self.assertRaises(ValueError) as ctx:
                    parsimony.compile(path, **options)
                name = next(iter(options))
                if name != "dims":
                    self.assertIn(name, str(ctx.exception))
        with self.assertRaises(TypeError):
            parsimony.compile(path, topk="8")

    def test_gpu_target(self):
        # --target=nvptx compiles wherever the GPU target was built; without
        # a driver the run raises RuntimeError with the runtime's reason.
        try:
            model = parsimony.compile(small_model_path(), target="nvptx")
        except parsimony.UnsupportedOptionError as e:
            self.skipTest(str(e))
        inputs = {name: np.ones(shape, np.float32) for name, shape in
                  zip(model.input_names, model.input_shapes)}
        if has_cuda_driver():
            cpu = parsimony.compile(small_model_path())
            for name, value in model.run(inputs).items():
                np.testing.assert_allclose(value, cpu.run(inputs)[name],
                                           rtol=1e-5, atol=1e-6)
            return
        with self.assertRaises(RuntimeError) as ctx:
            model.run(inputs)
        self.assertIn("no CUDA driver", str(ctx.exception))

    def test_gpu_target_on_the_emulated_driver(self):
        # gpu_binary="ptx" embeds the generated kernels as PTX, which the
        # build's emulated CUDA driver runs (docs/gpu.md#tests); preloaded,
        # it must give the CPU's results. A subprocess, since the driver is
        # opened once per process.
        emulator = os.path.join(BUILD_DIR, "lib", "cuda-emulator",
                                "libcuda.so.1")
        asan = subprocess.run(["gcc", "-print-file-name=libasan.so"],
                              capture_output=True, text=True).stdout.strip()
        if not os.path.exists(emulator) or not os.path.isabs(asan):
            self.skipTest("no emulated CUDA driver in this build")
        script = (
            "import numpy as np, parsimony\n"
            "path = %r\n"
            "gpu = parsimony.compile(path, target='nvptx', gpu_arch='sm_90',\n"
            "                        gpu_binary='ptx')\n"
            "cpu = parsimony.compile(path)\n"
            "rng = np.random.default_rng(3)\n"
            "x = {n: rng.standard_normal(s).astype(np.float32)\n"
            "     for n, s in zip(cpu.input_names, cpu.input_shapes)}\n"
            "want, got = cpu.run(x), gpu.run(x)\n"
            "for n in want:\n"
            "    np.testing.assert_allclose(got[n], want[n], rtol=1e-5,\n"
            "                               atol=1e-6)\n"
            "print('gpu matches cpu')\n" % small_model_path())
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0",
                   LD_PRELOAD="%s %s" % (asan, emulator),
                   PYTHONPATH=os.path.dirname(
                       os.path.dirname(os.path.abspath(parsimony.__file__))))
        proc = subprocess.run([sys.executable, "-c", script], env=env,
                              capture_output=True, text=True, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("gpu matches cpu", proc.stdout)

    def test_malformed_models(self):
        with self.assertRaises(parsimony.CompileError) as ctx:
            parsimony.compile(b"this is not an ONNX model")
        self.assertIn("<bytes>", str(ctx.exception))
        path = tmp_path("broken.mlir")
        with open(path, "w") as f:
            f.write("func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {\n"
                    "  return %y : tensor<4xf32>\n}\n")
        with self.assertRaises(parsimony.CompileError) as ctx:
            parsimony.compile(path)
        self.assertIn("broken.mlir:2:", str(ctx.exception))
        with self.assertRaises(FileNotFoundError):
            parsimony.compile(tmp_path("missing.onnx"))

    def test_profile_sparsity_bad_inputs(self):
        with self.assertRaises(TypeError) as ctx:
            self.model.profile_sparsity([self.x])
        self.assertIn("profile_sparsity expects a dict", str(ctx.exception))
        with self.assertRaises(ValueError):
            self.model.profile_sparsity({})
        with self.assertRaises(TypeError):
            self.model.profile_sparsity({"x": self.x.astype(np.float64)})


class ProfileSparsityTest(unittest.TestCase):
    """CompiledModel.profile_sparsity against parsimony-run --profile-sparsity
    (the same JSON figures) and NumPy, on the e2e test's residual ReLU FFN
    stack (test/e2e/Inputs/make_ffn_stack.py) and an spx.moe model."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tmp_path("profile")
        os.makedirs(cls.dir, exist_ok=True)
        subprocess.run([sys.executable,
                        os.path.join(SOURCE_DIR, "test", "e2e", "Inputs",
                                     "make_ffn_stack.py"), cls.dir],
                       check=True)
        cls.path = os.path.join(cls.dir, "stack.onnx")
        cls.x_path = os.path.join(cls.dir, "x.npy")
        cls.x = np.load(cls.x_path)

    def cli_layers(self, model, inputs, *options):
        report = os.path.join(self.dir, "cli.json")
        args = [os.path.join(BIN_DIR, "parsimony-run"), model,
                "--profile-sparsity", "--profile-json", report]
        for name, path in inputs.items():
            args += ["--input", "%s=%s" % (name, path)]
        table = subprocess.run(args + list(options), check=True,
                               stdout=subprocess.PIPE, text=True).stdout
        self.assertIn("sparsity profile: 1 run", table)
        with open(report) as f:
            return json.load(f)["layers"]

    def test_exact_matches_cli_and_numpy(self):
        model = parsimony.compile(self.path, sparse_ffn="exact")
        layers = model.profile_sparsity({"x": self.x})
        self.assertEqual(layers, self.cli_layers(
            self.path, {"x": self.x_path}, "--sparse-ffn=exact"))
        self.assertEqual([l["kind"] for l in layers], ["sparse_ffn"] * 3)
        # NumPy along the residual stack; float32 kernels may flip an
        # activation within rounding of zero, hence +-2 of 6144 entries.
        m = onnx.load(self.path)
        w = {i.name: numpy_helper.to_array(i).astype(np.float64)
             for i in m.graph.initializer}
        x = self.x.reshape(-1, 64).astype(np.float64)
        for i, layer in enumerate(layers):
            h = np.maximum(x @ w["l%d_w1" % i] + w["l%d_b1" % i], 0)
            nonzero = (h != 0).sum(1)
            self.assertEqual(layer["layer"], i)
            self.assertEqual((layer["tokens"], layer["width"]), (24, 256))
            self.assertLessEqual(abs(layer["nonzero_total"] - nonzero.sum()),
                                 2)
            self.assertLessEqual(abs(layer["nonzero_min"] - nonzero.min()), 1)
            self.assertLessEqual(abs(layer["nonzero_max"] - nonzero.max()), 1)
            self.assertAlmostEqual(layer["nonzero_mean_pct"],
                                   100.0 * layer["nonzero_total"] / (24 * 256))
            self.assertFalse(layer["predicted"])
            x = x + h @ w["l%d_w2" % i] + w["l%d_b2" % i]
        # A second profile starts afresh; plain runs record nothing.
        model.run({"x": self.x})
        self.assertEqual(model.profile_sparsity({"x": self.x}), layers)

    def test_predicted_matches_cli(self):
        model = parsimony.compile(self.path, sparse_ffn="predict", topk=32)
        layers = model.profile_sparsity({"x": self.x})
        self.assertEqual(layers, self.cli_layers(
            self.path, {"x": self.x_path}, "--sparse-ffn=predict",
            "--topk=32"))
        for layer in layers:
            self.assertTrue(layer["predicted"])
            self.assertEqual(layer["recall_k"], 32)
            self.assertGreater(layer["recall_mean"], 0.9)
            self.assertLessEqual(layer["recall_min"], layer["recall_mean"])
            self.assertLessEqual(layer["recall_mean"], 1.0)

    def test_dense_ffns_are_not_profiled(self):
        model = parsimony.compile(self.path)  # sparse_ffn="off"
        self.assertEqual(model.profile_sparsity({"x": self.x}), [])

    def test_moe_dispatch(self):
        rng = np.random.default_rng(3)
        inputs = {
            "input0": rng.standard_normal((8, 16)).astype(np.float32),
            "input1": rng.standard_normal((8, 4)).astype(np.float32) * 2,
            "input2": rng.standard_normal((4, 32, 16)).astype(np.float32),
            "input3": rng.standard_normal((4, 32)).astype(np.float32),
            "input4": rng.standard_normal((4, 16, 32)).astype(np.float32),
            "input5": rng.standard_normal((4, 16)).astype(np.float32),
        }
        path = tmp_path("profile_moe.mlir")
        with open(path, "w") as f:
            f.write(MOE_MLIR % {"k": 2})
        paths = {}
        for name, value in inputs.items():
            paths[name] = os.path.join(self.dir, name + ".npy")
            np.save(paths[name], value)
        # NumPy routing: top-2 by softmax probability, C = ceil(8 * 0.5 / 4).
        chosen = np.argsort(-inputs["input1"], axis=1, kind="stable")[:, :2]
        used, dropped, dropped_tokens = np.zeros(4, np.int64), 0, 0
        for t in range(8):
            kept = 0
            for e in chosen[t]:
                if used[e] < 1:
                    used[e] += 1
                    kept += 1
                else:
                    dropped += 1
            dropped_tokens += kept == 0
        for moe, factor in (("capacity", "0.5"), ("dropless", None)):
            options = {"moe": moe}
            cli = ["--moe=" + moe]
            if factor:
                options["capacity_factor"] = float(factor)
                cli.append("--capacity-factor=" + factor)
            model = parsimony.compile(path, **options)
            layers = model.profile_sparsity(inputs)
            self.assertEqual(layers, self.cli_layers(path, paths, *cli))
            self.assertEqual(len(layers), 1)
            layer = layers[0]
            self.assertEqual(layer["kind"], "dispatch")
            self.assertEqual(layer["mode"], moe)
            self.assertEqual(layer["expert_routed"],
                             np.bincount(chosen.ravel(), minlength=4).tolist())
            if moe == "capacity":
                self.assertEqual(layer["capacity"], 1)
                self.assertEqual(layer["expert_tokens"], used.tolist())
                self.assertEqual(layer["dropped"], dropped)
                self.assertEqual(layer["dropped_tokens"], dropped_tokens)
                self.assertGreater(dropped, 0)
            else:
                self.assertEqual(layer["expert_tokens"],
                                 layer["expert_routed"])
                self.assertEqual((layer["dropped"], layer["dropped_tokens"]),
                                 (0, 0))

    def test_library_without_profiler(self):
        # A model library from before the profiler: the v1 run entry points
        # only.
        source = tmp_path("old_model.c")
        with open(source, "w") as f:
            f.write("""
#include <stdint.h>
typedef struct { const char *name; int32_t dtype, rank;
                 const int64_t *shape; } info_t;
typedef struct { uint32_t abi; const char *name; int32_t ni;
                 const info_t *in; int32_t no; const info_t *out; } model_t;
static const int64_t shape[] = {2};
static const info_t x = {"x", 1, 1, shape}, y = {"y", 1, 1, shape};
static const model_t model = {1, "old", 1, &x, 1, &y};
const model_t *parsimony_model_v1_info(void) { return &model; }
int32_t parsimony_model_v1_run(const void *const *i, void *const *o) {
  ((float *)o[0])[0] = ((const float *)i[0])[0];
  ((float *)o[0])[1] = ((const float *)i[0])[1];
  return 0;
}
""")
        library = tmp_path("old_model.so")
        subprocess.run(["cc", "-shared", "-fPIC", source, "-o", library],
                       check=True)
        model = parsimony.load(library)
        x = np.ones(2, np.float32)
        np.testing.assert_array_equal(model.run({"x": x})["y"], x)
        with self.assertRaises(NotImplementedError) as ctx:
            model.profile_sparsity({"x": x})
        self.assertIn("no sparsity profiler", str(ctx.exception))


class ResourceTest(unittest.TestCase):
    """Repeated compile/run: bounded RSS, no references kept to inputs."""

    def test_repeated_compile_and_run(self):
        path = small_model_path()
        x = RNG.standard_normal((4, 8)).astype(np.float32)
        for _ in range(5):  # warm-up: one-time initialisation
            parsimony.compile(path).run({"x": x})
        gc.collect()
        refs = sys.getrefcount(x)
        before = rss_mb()
        for _ in range(50):
            model = parsimony.compile(path)
            out = model.run({"x": x})
            del model, out
        gc.collect()
        growth = rss_mb() - before
        self.assertEqual(sys.getrefcount(x), refs)
        # Each compiled library stays mapped until the process exits (about
        # 0.2 MB each; docs/python.md); a leaked compiler context would be
        # tens of MB per iteration.
        self.assertLess(growth, 24.0, "RSS grew by %.1f MB" % growth)

    def test_repeated_run(self):
        model = parsimony.compile(small_model_path())
        x = RNG.standard_normal((4, 8)).astype(np.float32)
        for _ in range(100):
            model.run({"x": x})
        gc.collect()
        refs, model_refs = sys.getrefcount(x), sys.getrefcount(model)
        before = rss_mb()
        for _ in range(5000):
            model.run({"x": x})
        gc.collect()
        self.assertEqual(sys.getrefcount(x), refs)
        self.assertEqual(sys.getrefcount(model), model_refs)
        self.assertLess(rss_mb() - before, 2.0)

    def test_errors_do_not_leak(self):
        model = parsimony.compile(small_model_path())
        bad = np.zeros((4, 8), np.float64)
        refs = sys.getrefcount(bad)
        for _ in range(1000):
            with self.assertRaises(TypeError):
                model.run({"x": bad})
        self.assertEqual(sys.getrefcount(bad), refs)


if __name__ == "__main__":
    unittest.main()
