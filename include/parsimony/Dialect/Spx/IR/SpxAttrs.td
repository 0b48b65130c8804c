//===- SpxAttrs.td - spx attributes and enums --------------*- tablegen -*-===//

#ifndef PARSIMONY_DIALECT_SPX_IR_SPXATTRS_TD
#define PARSIMONY_DIALECT_SPX_IR_SPXATTRS_TD

include "parsimony/Dialect/Spx/IR/SpxDialect.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

def Spx_TopKMode : I32EnumAttr<"TopKMode", "top-k selection mode", [
    I32EnumAttrCase<"exact", 0>,
    I32EnumAttrCase<"approx", 1>
  ]> {
  let cppNamespace = "::mlir::spx";
  let genSpecializedAttr = 0;
}
def Spx_TopKModeAttr : EnumAttr<Spx_Dialect, Spx_TopKMode, "topk_mode">;

def Spx_Activation : I32EnumAttr<"Activation", "FFN activation function", [
    I32EnumAttrCase<"identity", 0>,
    I32EnumAttrCase<"relu", 1>,
    I32EnumAttrCase<"gelu", 2>,
    I32EnumAttrCase<"gelu_tanh", 3>,
    I32EnumAttrCase<"silu", 4>,
    I32EnumAttrCase<"sigmoid", 5>,
    I32EnumAttrCase<"swiglu", 6>
  ]> {
  let cppNamespace = "::mlir::spx";
  let genSpecializedAttr = 0;
}
def Spx_ActivationAttr : EnumAttr<Spx_Dialect, Spx_Activation, "activation">;

def Spx_WeightLayout : I32EnumAttr<"WeightLayout", "weight storage layout", [
    I32EnumAttrCase<"kn", 0>,
    I32EnumAttrCase<"nk", 1>
  ]> {
  let cppNamespace = "::mlir::spx";
  let genSpecializedAttr = 0;
}
def Spx_WeightLayoutAttr : EnumAttr<Spx_Dialect, Spx_WeightLayout, "layout">;

def Spx_SupportSide : I32EnumAttr<"SupportSide",
    "which matmul dimension a support indexes", [
    I32EnumAttrCase<"output", 0>,
    I32EnumAttrCase<"input", 1>
  ]> {
  let cppNamespace = "::mlir::spx";
  let genSpecializedAttr = 0;
}
def Spx_SupportSideAttr : EnumAttr<Spx_Dialect, Spx_SupportSide, "side">;

def Spx_PredictorKind : I32EnumAttr<"PredictorKind",
    "how a support predictor approximates the up-projection", [
    I32EnumAttrCase<"quantized", 0>,
    I32EnumAttrCase<"lowrank", 1>
  ]> {
  let cppNamespace = "::mlir::spx";
  let genSpecializedAttr = 0;
}
def Spx_PredictorKindAttr
    : EnumAttr<Spx_Dialect, Spx_PredictorKind, "predictor">;

def Spx_DispatchMode : I32EnumAttr<"DispatchMode", "MoE dispatch mode", [
    I32EnumAttrCase<"dropless", 0>,
    I32EnumAttrCase<"capacity", 1>
  ]> {
  let cppNamespace = "::mlir::spx";
  let genSpecializedAttr = 0;
}
def Spx_DispatchModeAttr
    : EnumAttr<Spx_Dialect, Spx_DispatchMode, "dispatch">;

def Spx_SwiGLUFusion : I32EnumAttr<"SwiGLUFusion",
    "how gate and value halves share the first expert projection", [
    I32EnumAttrCase<"none", 0>,
    I32EnumAttrCase<"interleaved", 1>,
    I32EnumAttrCase<"block", 2>
  ]> {
  let cppNamespace = "::mlir::spx";
  let genSpecializedAttr = 0;
}
def Spx_SwiGLUFusionAttr
    : EnumAttr<Spx_Dialect, Spx_SwiGLUFusion, "swiglu_fusion">;

//===----------------------------------------------------------------------===//
// Quantization
//===----------------------------------------------------------------------===//

def Spx_QuantAttr : AttrDef<Spx_Dialect, "Quant"> {
  let mnemonic = "quant";
  let summary = "weight-only symmetric quantization scheme";
  let description = [{
    Describes how an integer weight maps back to floating point:
    `w = q * scale`, symmetric, no zero point. `bits` is 8 or 4 and must match
    the weight's element type (`i8` / `i4`), except that a 4-bit weight may
    also be stored *packed* as `i8`, two values per byte (see the dialect
    description). `group_size = 0` means one scale
    per output channel; otherwise one scale per `group_size` consecutive input
    features of each output channel (32, 64 and 128 are the usual choices;
    any positive divisor of the input dimension is accepted).

    ```mlir
    #spx.quant<bits = 8>                  // int8 per output channel
    #spx.quant<bits = 4, group_size = 64> // int4, groups of 64
    ```
  }];
  let parameters = (ins "unsigned":$bits,
                        DefaultValuedParameter<"int64_t", "0">:$group_size);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    bool isPerChannel() const { return getGroupSize() == 0; }
  }];
}

#endif // PARSIMONY_DIALECT_SPX_IR_SPXATTRS_TD
