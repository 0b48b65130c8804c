//===- SpxDialect.td - Sparse transformer dialect ----------*- tablegen -*-===//
//
// The `spx` dialect expresses the places where a transformer computes far
// less than its dense shape suggests: Top-k activations, activation-sparse and
// predicted-support matmuls, fused sparse FFNs, and mixture-of-experts
// routing/dispatch/combine.
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_DIALECT_SPX_IR_SPXDIALECT_TD
#define PARSIMONY_DIALECT_SPX_IR_SPXDIALECT_TD

include "mlir/IR/OpBase.td"

def Spx_Dialect : Dialect {
  let name = "spx";
  let cppNamespace = "::mlir::spx";
  let summary = "Sparsely-activated transformer operations";
  let description = [{
    The `spx` dialect holds the operations Parsimony uses to turn activation
    sparsity and expert routing into speed. All operations work on tensors
    (value semantics) and are side-effect free.

    Conventions shared by every matmul-bearing operation:

    * A *weight* is a 2-D matrix (or a stack of them, one per expert) that
      maps `K` input features to `N` output features. Its `layout` attribute
      says how it is stored: `kn` means `[K, N]` (the ONNX `MatMul` right-hand
      side) and `nk` means `[N, K]` (PyTorch `nn.Linear.weight`, ONNX Runtime
      MoE expert weights, and the *neuron-major* layout in which one output
      neuron's weights are contiguous).
    * A weight is either floating point (f32/f16/bf16), or quantized: then its
      element type is `i8` or `i4` (signed, symmetric, no zero point), it
      carries a `#spx.quant` attribute, and a `scales` operand of the same
      float type family holds the dequantization scales. Per-channel
      quantization (`group_size = 0`) has one scale per output feature: the
      scales have the weight's shape with the `K` dimension dropped.
      Group-wise quantization has one scale per `group_size` consecutive
      input features: the scales have the weight's shape with `K` replaced by
      `K / group_size`. The dequantized value is `q * scale`.
    * Packed int4: a `bits = 4` weight whose element type is `i8` stores two
      values per byte along its innermost (contiguous) dimension, whose size
      is halved: a `kn` weight `[K, N]` is `[K, N / 2] x i8`, an `nk` weight
      `[N, K]` is `[N, K / 2] x i8`. The logical row length must be a
      multiple of 32. Each run of 32 values of a row occupies 16 bytes:
      byte `i` holds value `i` in its low nibble and value `i + 16` in its
      high nibble (two's complement, -8..7), so one 16-byte load widens into
      two vectors of 16 consecutive values. Scales are as for any 4-bit
      weight (their shape follows the logical weight shape).
    * Index tensors (supports, expert ids, slots) use `i32` or `i64`.
  }];
  // Canonicalizations build arith/tensor ops; bufferization turns the ops
  // into runtime calls (func, memref, math, and llvm pointers).
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::LLVM::LLVMDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::tensor::TensorDialect"];
  let useDefaultAttributePrinterParser = 1;
  let hasConstantMaterializer = 0;
}

class Spx_Op<string mnemonic, list<Trait> traits = []>
    : Op<Spx_Dialect, mnemonic, traits>;

#endif // PARSIMONY_DIALECT_SPX_IR_SPXDIALECT_TD
