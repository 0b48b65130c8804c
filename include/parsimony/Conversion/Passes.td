//===- Passes.td - Parsimony conversion passes -------------*- tablegen -*-===//

#ifndef PARSIMONY_CONVERSION_PASSES_TD
#define PARSIMONY_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertLinalgToKernels : Pass<"convert-linalg-to-parsimony-kernels"> {
  let summary = "Lower f32 matmul-like linalg ops on memrefs to runtime "
                "micro-kernel calls";
  let description = [{
    Runs after bufferization. Every linalg op on memrefs that is a
    contraction (named `linalg.matmul`, `batch_matmul`, `matvec`, `vecmat`,
    their transposed forms, or an equivalent `linalg.generic` with a
    multiply-accumulate body) with f32 operands becomes a call to the
    runtime's `parsimony_sgemm_batched`:

    ```
    C[b] += op(A[b]) * op(B[b])    (alpha = 1, beta = 1)
    ```

    Several loop dimensions of one role (batch, M, N or K) collapse into one
    when they are contiguous in every operand that has them: an ONNX
    `MatMul` of a `[B, S, D]` activation with a `[D, N]` weight is a single
    `(B*S) x N x D` GEMM. Transposes and leading dimensions are read from
    the operands' static strided layouts; an operand missing the batch
    dimensions is broadcast (batch stride 0). Ops whose layouts are dynamic or not unit-stride in
    one of the two matrix dimensions stay as linalg and lower to loops.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::LLVM::LLVMDialect",
                           "::mlir::memref::MemRefDialect"];
  let options = [
    Option<"minFlops", "min-flops", "int64_t", /*default=*/"0",
           "Keep contractions with fewer statically known FLOPs as loops">,
    Option<"reportLoops", "report-loops", "bool", /*default=*/"false",
           "Emit a remark for every f32 contraction left to loops (dynamic "
           "sizes or a layout the call cannot describe)">
  ];
}

def ApproximateMath : Pass<"parsimony-approximate-math"> {
  let summary = "Replace math functions with vectorizable polynomial "
                "approximations";
  let description = [{
    Rewrites `math.erf`, `math.exp`, `math.expm1`, `math.log`, `math.log1p`,
    `math.log2`, `math.tanh`, `math.atan`, `math.atan2`, `math.sin`,
    `math.cos`, `math.rsqrt` and friends (f32, and f16/bf16 through f32) into
    polynomial approximations built from arith ops (upstream's
    `populateMathPolynomialApproximationPatterns`), so loops over them
    vectorize instead of calling libm per element. The approximations are
    accurate to a few f32 ulps.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::vector::VectorDialect"];
}

def FuseElementwise : Pass<"parsimony-fuse-elementwise"> {
  let summary = "Fuse elementwise producers into consumers, keeping "
                "contractions clean";
  let description = [{
    Upstream's elementwise fusion (producer-into-consumer fusion of
    `linalg.generic` ops, reshape folding by expansion, constant folding,
    and their cleanups) with one difference: nothing is fused into a
    contraction. Fusing LayerNorm's normalization or a bias + GELU into the
    following matmul would make the matmul a generic op that recomputes the
    producer for every output element and can no longer run on the GEMM
    micro-kernels; it is fused into the matmul's *other* consumers instead.
    The one exception is a matrix transpose (the innermost two dimensions
    swapped) of a contraction operand: it is
    folded into the operand's indexing map (the GEMM reads a transposed
    operand through its leading dimension), so a `Gemm` with `transB = 1`
    does not copy its weight at run time.
  }];
  let dependentDialects = ["::mlir::affine::AffineDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def DistinctReturnedBuffers : Pass<"parsimony-distinct-returned-buffers"> {
  let summary = "Give every returned memref its own buffer";
  let description = [{
    A function may return the same buffer more than once (an ONNX graph
    that outputs one value twice, or CSE merging identical empty tensors).
    Each repeated operand of `func.return` is replaced by a fresh copy, so
    `--buffer-results-to-out-params` can give every result its own
    caller-allocated out-parameter.
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
}

def ReadOnlyArguments : Pass<"parsimony-read-only-arguments",
                             "::mlir::ModuleOp"> {
  let summary = "Mark the tensor arguments of entry points read-only for "
                "one-shot bufferization";
  let description = [{
    One-shot bufferization with function boundaries treats a tensor
    argument as writable unless it carries `bufferization.writable = false`,
    so an op that updates a tensor in place (a scatter, a loop-carried
    value, an insert_slice) may write straight into the caller's input
    buffer. Model inputs belong to the caller: every tensor argument of a
    public function with a body gets `bufferization.writable = false`
    (arguments that already carry the attribute keep it), and bufferization
    copies such a value before writing it.
  }];
  let dependentDialects = ["::mlir::bufferization::BufferizationDialect"];
}

def DetachEmptyArguments : Pass<"parsimony-detach-empty-arguments",
                                "::mlir::ModuleOp"> {
  let summary = "Give empty memref arguments a local zero-size buffer and "
                "a 1-D signature type";
  let description = [{
    An ONNX tensor may have a zero-size dimension (`tensor<3x0x5xf32>`).
    The bare-pointer calling convention that model entry points use cannot
    describe such a memref (its row-major strides are not well defined), so
    `--convert-func-to-llvm` would leave the function unconverted. Nothing
    of an empty tensor is ever read or written: in a public function with a
    body that the module does not call itself (an entry point), every
    argument of a static, identity-layout memref type with no elements and
    rank above 1 is retyped to `memref<0xT>` (still one pointer in the
    signature) and its uses read a zero-size `memref.alloca` of the
    original type instead.
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
}


def InsertRuntimeChecks : Pass<"parsimony-insert-runtime-checks",
                               "::mlir::ModuleOp"> {
  let summary = "Check at run time the sizes that only run time knows";
  let description = [{
    A model compiled for static shapes can still compute sizes from tensor
    contents (a Reshape to a shape input, Expand, Tile or ConstantOfShape by
    a runtime tensor, a slice at runtime bounds). Tensor ops whose meaning
    depends on such sizes agreeing are undefined when they do not; this
    pass adds a `cf.assert` before each of them in public functions with a
    body (model entry points), under their host control flow (`scf.for`,
    `scf.while`, `scf.if`; not inside linalg bodies), so a run with
    contradicting contents fails with a message instead of reading or
    writing out of bounds:

    - `tensor.cast` to a static size: the runtime size equals it;
    - `tensor.reshape`: no negative entry, the shape's element count equals
      the source's, and static result sizes agree with the shape;
    - `tensor.expand_shape`: each group's sizes multiply to the source size;
    - `tensor.empty`: no negative size;
    - `tensor.concat`: the inputs agree on every dimension but the axis;
    - `tensor.extract_slice` / `tensor.insert_slice` with runtime offsets or
      sizes: the slice lies inside the tensor;
    - linalg structured ops: operand dimensions that the indexing maps tie
      to the same loop (a plain `dN` result) have the same size.

    Checks are built with folding, so statically true ones vanish: a model
    without runtime sizes gets no check. Messages name the node (the op's
    `NameLoc`) and the failed condition. Run it first, before
    canonicalization folds casts into their users.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::cf::ControlFlowDialect",
                           "::mlir::tensor::TensorDialect"];
}

def LowerRuntimeChecks : Pass<"parsimony-lower-runtime-checks",
                              "::mlir::ModuleOp"> {
  let summary = "Make a failed cf.assert end the model run with its message";
  let description = [{
    Runs on host functions after `--convert-scf-to-cf`, before the LLVM
    lowering (which would make `cf.assert` abort the process). Each
    `cf.assert` in a `func.func` with no results (a bufferized entry point)
    becomes a branch: on failure the function calls
    `parsimony_check_failed(message)`, which records the first failure of
    the calling thread's run in the runtime, and returns. The model library
    then frees what the run had allocated and `NAME_run` returns 4 with the
    message (see docs/abi.md). A `cf.assert` in a function with results is
    an error.
  }];
  let dependentDialects = ["::mlir::cf::ControlFlowDialect",
                           "::mlir::LLVM::LLVMDialect"];
}

def OffloadToGpu : Pass<"parsimony-offload-to-gpu", "::mlir::ModuleOp"> {
  let summary = "Move a bufferized model's buffers to GPU memory and its "
                "kernel calls to the GPU runtime";
  let description = [{
    The first step of `--parsimony-gpu-pipeline`, after bufferization. In
    every function with a body:

    - memref arguments (the caller's host tensors) get a device twin: inputs
      are copied in at entry, outputs copied back before each return
      (`gpu.alloc` + `gpu.memcpy`), judged by whether the function reads or
      writes the argument;
    - `memref.alloc`/`alloca`/`dealloc` become `gpu.alloc`/`gpu.dealloc`;
    - `memref.get_global` (weights) becomes the device copy that the runtime
      uploads once per process (`parsimony_gpu_constant`);
    - `memref.copy` becomes `gpu.memcpy` between contiguous buffers and a
      `linalg.copy` (a generated kernel) otherwise;
    - calls of the CPU runtime kernels (`parsimony_sgemm_batched`, the
      `spx` kernels) are retargeted to their device-pointer versions
      (`parsimony_gpu_*`, include/parsimony/Runtime/GpuRuntime.h).

    Whatever else reads or writes memory is left for
    `--parsimony-parallel-loops-to-gpu`. A call of an external function
    with no GPU version is an error.
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::LLVM::LLVMDialect",
                           "::mlir::memref::MemRefDialect"];
}

def ParallelLoopsToGpu : Pass<"parsimony-parallel-loops-to-gpu",
                              "::mlir::func::FuncOp"> {
  let summary = "Turn host-level loop nests into GPU kernel launches";
  let description = [{
    Every outermost `scf.parallel` (from `convert-linalg-to-parallel-loops`)
    becomes a `gpu.launch` over its flattened iteration space: 256 threads
    per block, one iteration per thread, the loop's induction variables
    recovered from the linear thread index and guarded against the
    remainder. Inner loops (reductions, nested parallel loops) run
    sequentially in each thread. A host loop nest that accumulates into one
    buffer element (a full reduction) is coalesced into one loop and, from
    64 iterations on, runs block-wide like a row reduction. Other host code
    between kernels that reads or
    writes buffers (the loop of a full reduction, a scalar load, arithmetic
    on it, a store) runs in single-thread kernels, since buffers live in
    device memory: consecutive operations share one kernel, and pure
    computations that do not depend on what it reads stay on the host. Host
    control flow around kernels (a model's loop or branch) gets the same
    treatment inside its blocks. A scalar the host needs from such a kernel
    (a trip count, a branch condition, a size read from a shape buffer) is
    copied back: the kernel stores it in a device buffer (one per kernel
    and type), `gpu.memcpy` copies that into a host buffer allocated at the
    function's entry, and the host loads it; pure ops building views from
    such values (`memref.reinterpret_cast`) are recomputed on the host. The
    pass fails with a diagnostic if the host needs a value of another type
    (a buffer chosen on the device).
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::gpu::GPUDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect"];
  let options = [
    Option<"blockSize", "block-size", "int64_t", /*default=*/"256",
           "Threads per block of the generated kernels">
  ];
}

def ParallelIteratorsFirst : Pass<"parsimony-parallel-iterators-first",
                                  "::mlir::func::FuncOp"> {
  let summary = "Interchange linalg iterators so parallel ones come first";
  let description = [{
    Reorders the loops of every linalg op whose reduction iterators come
    before some parallel ones (named ops are generalized first), keeping
    the order within each group. `convert-linalg-to-parallel-loops` then
    makes one `scf.parallel` over the parallel dimensions with the
    reduction loops inside it, which `parsimony-parallel-loops-to-gpu`
    turns into one kernel, instead of a sequential host loop around a
    parallel loop. Each output element is folded in the same order, so
    results are unchanged.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def MergeGpuModules : Pass<"parsimony-merge-gpu-modules", "::mlir::ModuleOp"> {
  let summary = "Put every outlined kernel into one gpu.module";
  let description = [{
    `gpu-kernel-outlining` makes one `gpu.module` per kernel, each compiled,
    embedded and loaded on its own. This pass moves all kernels into the
    first module (renaming each kernel after its old module, which is
    unique) and retargets the `gpu.launch_func` ops, so a model has one
    PTX/cubin image: one module load at startup and one file for
    `--emit=ptx`.
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

#endif // PARSIMONY_CONVERSION_PASSES_TD
