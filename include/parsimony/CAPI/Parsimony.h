//===- Parsimony.h - C API of the Parsimony compiler --------------*- C -*-===//
//
// A small C API over the ONNX importer, the pass pipelines and the
// ahead-of-time compiler, for the Python bindings and any other stack that
// wants to import, transform, compile and run models without touching C++.
//
// Conventions:
//  - Every fallible function returns a ParsimonyStatus. On failure it sets
//    `*error` (when `error` is not NULL) to a malloc'ed, NUL-terminated
//    message holding the compiler's diagnostics; free it with
//    parsimonyStringFree. On success `*error` is set to NULL. Nothing in this
//    API exits or aborts the process on bad input.
//  - Strings returned through `char **` out-parameters are malloc'ed; free
//    them with parsimonyStringFree.
//  - Handles are opaque and owned by the caller: destroy them with their
//    *Destroy function.
//  - Element types use the model ABI's numbering (docs/abi.md, ONNX
//    TensorProto.DataType): 1 float32, 2 uint8, 3 int8, 4 uint16, 5 int16,
//    6 int32, 7 int64, 9 bool, 10 float16, 11 float64, 12 uint32, 13 uint64,
//    16 bfloat16.
//
// docs/python.md describes the C API and the Python package built on it.
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_CAPI_PARSIMONY_H
#define PARSIMONY_CAPI_PARSIMONY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 2: parsimonyModelProfileSparsity.
   3: shape variants: parsimonyCompileOptionsBindDim adds sizes,
      parsimonyModel*Variant* functions. */
#define PARSIMONY_CAPI_VERSION 3

typedef enum ParsimonyStatus {
  PARSIMONY_STATUS_OK = 0,
  /* A malformed argument: unknown option or option value, wrong tensor
     count or size, NULL where a value is required. */
  PARSIMONY_STATUS_INVALID_ARGUMENT = 1,
  /* A well-formed request this build does not implement (an option value of
     a feature that has not landed, a target it was not built for). */
  PARSIMONY_STATUS_UNSUPPORTED = 2,
  /* The model could not be imported, parsed, transformed, lowered or
     linked; the message holds the compiler's diagnostics. */
  PARSIMONY_STATUS_COMPILE_ERROR = 3,
  /* A file could not be read or written, or a library not loaded. */
  PARSIMONY_STATUS_IO_ERROR = 4,
  /* A compiled model reported a failure while running. */
  PARSIMONY_STATUS_RUNTIME_ERROR = 5,
} ParsimonyStatus;

/* Frees a string returned by this API. NULL is ignored. */
void parsimonyStringFree(char *string);

/* The name of a status ("ok", "invalid argument", ...); static storage. */
const char *parsimonyStatusGetName(ParsimonyStatus status);

/* The name of an element type ("float32", ..., "unknown"); static storage. */
const char *parsimonyDTypeGetName(int32_t dtype);

/* Bytes per element of an element type; 0 for an unknown type. */
int64_t parsimonyDTypeGetSize(int32_t dtype);

/*===----------------------------------------------------------------------===*
 * Import and transformation (MLIR text in, MLIR text out)
 *===----------------------------------------------------------------------===*/

/* Imports the ONNX model at `path` as parsimony-translate --import-onnx
   does: ONNX checker and shape inference, import, then the default
   post-import pipeline (raising of sparse idioms into spx when
   `raiseSparseIdioms` is non-zero). `*mlir` receives the module as text. */
ParsimonyStatus parsimonyImportOnnxFile(const char *path, int raiseSparseIdioms,
                                        char **mlir, char **error);

/* The same for a serialized ONNX ModelProto held in memory. External-data
   locations are resolved relative to the current directory. */
ParsimonyStatus parsimonyImportOnnxBytes(const void *data, size_t size,
                                         int raiseSparseIdioms, char **mlir,
                                         char **error);

/* Parses `mlir` (textual MLIR, `size` bytes, need not be NUL-terminated),
   runs the textual pass pipeline `pipeline` over it and returns the
   result as text. Every upstream MLIR pass and every Parsimony pass and
   pipeline is available. The pipeline is anchored on builtin.module; a
   pipeline that does not start with "builtin.module(" is wrapped in one, so
   "canonicalize,cse" and "builtin.module(canonicalize,cse)" are the same. */
ParsimonyStatus parsimonyRunPassPipeline(const char *mlir, size_t size,
                                         const char *pipeline, char **result,
                                         char **error);

/*===----------------------------------------------------------------------===*
 * Compile options
 *===----------------------------------------------------------------------===*/

typedef struct ParsimonyCompileOptions ParsimonyCompileOptions;

/* Options with the command-line tools' defaults (docs/cli.md). */
ParsimonyCompileOptions *parsimonyCompileOptionsCreate(void);
void parsimonyCompileOptionsDestroy(ParsimonyCompileOptions *options);

/* Sets one option by its parsimony-compile name, with the same meaning and
   value syntax as the command line:
     target           "cpu" or "nvptx" (PARSIMONY_STATUS_UNSUPPORTED where
                      the build has no GPU target)
     gpu-arch         "sm_80", "sm_90", ... (target "nvptx")
     gpu-binary       "fatbin" or "ptx" (target "nvptx")
     weights          "auto", "embed" or "sidecar"
     cpu              "native", "x86-64-v3", "x86-64-v4" or an LLVM CPU name
     moe              "dropless" or "capacity" (overrides every MoE layer)
     capacity-factor  a positive number (overrides every MoE layer)
     sparse-ffn       "off" (dense), "exact" (activation-sparse kernel) or
                      "predict" (predicted support of topk neurons)
     topk             a positive integer: a Top-k imposed on FFNs without one
     predictor        "int8", "int4" or "lowrank:R" (for sparse-ffn=predict)
     quantize         "int8" or "int4": weight-only quantization of every
                      matmul weight ("none": f32)
     group-size       32, 64 or 128: the int4 quantization group
     name             the C identifier prefix of the generated API
     entry            the function to compile
     kernels          "true" or "false"
     approximate-math "true" or "false"
     fuse-epilogues   "true" or "false"
   Underscores are accepted for dashes (capacity_factor). An unknown option
   or a malformed value is PARSIMONY_STATUS_INVALID_ARGUMENT; a value of a
   feature this build does not implement is PARSIMONY_STATUS_UNSUPPORTED.
   Either message names the option. */
ParsimonyStatus parsimonyCompileOptionsSet(ParsimonyCompileOptions *options,
                                           const char *name, const char *value,
                                           char **error);

/* Binds a symbolic dimension (--dim NAME=VALUE); `value` must be positive.
   Binding a name that is already bound adds a size rather than replacing
   it, as --dim NAME=V1,V2,... does: the model is compiled once per
   combination of the sizes bound to each name (one shape variant each, at
   most 64, in one library; docs/abi.md), the names sorted and the last
   varying fastest, the sizes of a name in the order they were bound.
   Binding a size a name already has is PARSIMONY_STATUS_INVALID_ARGUMENT
   (the options are unchanged). */
ParsimonyStatus parsimonyCompileOptionsBindDim(ParsimonyCompileOptions *options,
                                               const char *name, int64_t value,
                                               char **error);

/* Compiles ONNX graph input `name` as a constant with the given value
   (--freeze-input): `data` holds the row-major elements of `shape`. The
   bytes are copied. Only for ONNX models. */
ParsimonyStatus
parsimonyCompileOptionsFreezeInput(ParsimonyCompileOptions *options,
                                   const char *name, int32_t dtype,
                                   int32_t rank, const int64_t *shape,
                                   const void *data, size_t size, char **error);

/*===----------------------------------------------------------------------===*
 * Compiled models
 *===----------------------------------------------------------------------===*/

typedef struct ParsimonyModel ParsimonyModel;

/* Describes one input or output. The strings and the shape array live as
   long as the model. */
typedef struct ParsimonyTensorInfo {
  const char *name;
  int32_t dtype;
  int32_t rank;
  const int64_t *shape;
} ParsimonyTensorInfo;

/* Compiles the model at `path` (.onnx through the importer; anything else is
   parsed as MLIR) to a shared library in a private temporary directory,
   loads it and removes the directory. `options` may be NULL for the
   defaults. */
ParsimonyStatus parsimonyCompileFile(const char *path,
                                     const ParsimonyCompileOptions *options,
                                     ParsimonyModel **model, char **error);

/* The same for a model held in memory; `format` is "onnx" (a serialized
   ModelProto) or "mlir" (MLIR text or bytecode). */
ParsimonyStatus parsimonyCompileBytes(const void *data, size_t size,
                                      const char *format,
                                      const ParsimonyCompileOptions *options,
                                      ParsimonyModel **model, char **error);

/* Loads a library written by parsimony-compile (docs/abi.md). */
ParsimonyStatus parsimonyModelLoad(const char *path, ParsimonyModel **model,
                                   char **error);

/* Unloads the model. NULL is ignored. */
void parsimonyModelDestroy(ParsimonyModel *model);

int32_t parsimonyModelGetNumInputs(const ParsimonyModel *model);
int32_t parsimonyModelGetNumOutputs(const ParsimonyModel *model);

/* Fills `*info` for input/output `index` of shape variant 0;
   INVALID_ARGUMENT when out of range. */
ParsimonyStatus parsimonyModelGetInput(const ParsimonyModel *model,
                                       int32_t index,
                                       ParsimonyTensorInfo *info);
ParsimonyStatus parsimonyModelGetOutput(const ParsimonyModel *model,
                                        int32_t index,
                                        ParsimonyTensorInfo *info);

/* Runs the model (shape variant 0). `inputs[i]` / `outputs[i]` point to
   contiguous row-major buffers of the shapes and element types described
   above, in order; any alignment. Outputs are overwritten. Reentrant:
   concurrent calls with distinct outputs are safe. */
ParsimonyStatus parsimonyModelRun(const ParsimonyModel *model,
                                  const void *const *inputs,
                                  void *const *outputs, char **error);

/* Runs the model once, as parsimonyModelRun, with activation-sparsity
   profiling on, and hands back the per-layer report as malloc'ed JSON text
   in `*report` (free with parsimonyStringFree): the figures
   `parsimony-run --profile-sparsity` prints, in the format docs/abi.md
   describes (nonzero % per token of sparse FFN / top-k layers, the
   predictor's recall, per-expert token counts and dropped tokens of MoE
   dispatch). Layers are counted only for kernels the model was compiled to
   use: compile FFNs with sparse-ffn "exact" or "predict" to profile them.
   Profiled runs of one model are serialized; plain runs of the same model
   that overlap one are counted in its report. A library without the
   profiler (built by an older parsimony-compile) is
   PARSIMONY_STATUS_UNSUPPORTED. */
ParsimonyStatus parsimonyModelProfileSparsity(const ParsimonyModel *model,
                                              const void *const *inputs,
                                              void *const *outputs,
                                              char **report, char **error);

/*===----------------------------------------------------------------------===*
 * Shape variants
 *
 * A model with symbolic dimensions compiled for several sizes of them (see
 * parsimonyCompileOptionsBindDim) holds one shape variant per binding;
 * every other model holds exactly one. Variant 0 is the one the functions
 * above describe and run. Variants have the same inputs and outputs (names,
 * element types, ranks); only their shapes differ.
 *===----------------------------------------------------------------------===*/

/* The number of shape variants (>= 1; 0 for a NULL model). */
int32_t parsimonyModelGetNumVariants(const ParsimonyModel *model);

/* The first variant whose input shapes equal the caller's:
   `inputShapes[i]` points to the rank sizes of input i (the ranks are the
   model's). -1 when no variant was compiled for these shapes, and for a
   NULL model or `inputShapes`. */
int32_t parsimonyModelFindVariant(const ParsimonyModel *model,
                                  const int64_t *const *inputShapes);

/* Fills `*info` for input/output `index` of shape variant `variant`;
   INVALID_ARGUMENT when either is out of range. */
ParsimonyStatus parsimonyModelGetVariantInput(const ParsimonyModel *model,
                                              int32_t variant, int32_t index,
                                              ParsimonyTensorInfo *info);
ParsimonyStatus parsimonyModelGetVariantOutput(const ParsimonyModel *model,
                                               int32_t variant, int32_t index,
                                               ParsimonyTensorInfo *info);

/* The symbolic dimensions variant `variant` binds, sorted by name (0 for a
   model without symbolic dimensions, a library from before shape variants,
   or an out-of-range variant). */
int32_t parsimonyModelGetVariantNumDims(const ParsimonyModel *model,
                                        int32_t variant);

/* The name and size of bound dimension `index` of variant `variant`; the
   name lives as long as the model. INVALID_ARGUMENT when out of range or
   when `name` or `value` is NULL. */
ParsimonyStatus parsimonyModelGetVariantDim(const ParsimonyModel *model,
                                            int32_t variant, int32_t index,
                                            const char **name, int64_t *value);

/* parsimonyModelRun for shape variant `variant`: the buffers have that
   variant's shapes. An out-of-range variant is INVALID_ARGUMENT (the
   message gives the number of variants). */
ParsimonyStatus parsimonyModelRunVariant(const ParsimonyModel *model,
                                         int32_t variant,
                                         const void *const *inputs,
                                         void *const *outputs, char **error);

/* parsimonyModelProfileSparsity for shape variant `variant`. */
ParsimonyStatus parsimonyModelProfileSparsityVariant(
    const ParsimonyModel *model, int32_t variant, const void *const *inputs,
    void *const *outputs, char **report, char **error);

#ifdef __cplusplus
}
#endif

#endif /* PARSIMONY_CAPI_PARSIMONY_H */
