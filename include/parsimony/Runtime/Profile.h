/*===- Profile.h - activation-sparsity profiling in the runtime ---*- C -*-===*\
|*                                                                          *|
|* A small registry inside the runtime that the spx kernels report to while *|
|* profiling is on (it is off by default; then each kernel call costs one   *|
|* relaxed atomic load). A compiled model library links its own copy of the *|
|* runtime, so every model library has its own registry; it exports it as   *|
|* parsimony_model_v1_profile_* (docs/abi.md).                              *|
|*                                                                          *|
|* Layers. A run starts with parsimony_profile_run_begin() (the generated   *|
|* NAME_run entry points call it), which resets the calling thread's layer  *|
|* counter. Every profiled kernel call then takes the next layer number, so *|
|* layer i is the i-th profiled spx op the run executes, in program order   *|
|* (the compiled code is straight-line, so the numbering is the same in     *|
|* every run). Records of the same layer from several runs (or concurrent   *|
|* runs on several threads) are merged: token counts add up, minima and    *|
|* maxima are taken over all tokens.                                        *|
|*                                                                          *|
|* Profiled kernels and what they record, per token:                        *|
|*  - sparse_ffn: nonzero hidden activations (after the activation, the     *|
|*    support restriction and top-k) out of F; with a support, also the     *|
|*    recall of the token's support against the true top-k of the dense     *|
|*    hidden activation (computed only while profiling), see                *|
|*    docs/runtime-kernels.md.                                              *|
|*  - topk_activation: nonzero outputs of each slice out of the axis size.  *|
|*  - sparse_matmul: nonzero inputs out of K.                               *|
|*  - dispatch: per-expert routed and dispatched assignments, dropped ones. *|
|*                                                                          *|
|* The report is JSON (docs/abi.md describes its fields).                   *|
\*===----------------------------------------------------------------------===*/

#ifndef PARSIMONY_RUNTIME_PROFILE_H
#define PARSIMONY_RUNTIME_PROFILE_H

#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define PARSIMONY_PROFILE_API __attribute__((visibility("default")))
#else
#define PARSIMONY_PROFILE_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Clears every record and turns profiling on (on != 0) or off. */
PARSIMONY_PROFILE_API void parsimony_profile_enable(int32_t on);

/* 1 while profiling is on. */
PARSIMONY_PROFILE_API int32_t parsimony_profile_enabled(void);

/* Marks the start of a model run on the calling thread: resets its layer
   counter and counts the run. A no-op (one relaxed load) when off. */
PARSIMONY_PROFILE_API void parsimony_profile_run_begin(void);

/* Writes the JSON report of the runs since profiling was turned on to
   buffer[0, size) (truncated, always NUL-terminated when size > 0) and
   returns the report's full length without the NUL, like snprintf. */
PARSIMONY_PROFILE_API int64_t parsimony_profile_report(char *buffer,
                                                       int64_t size);

#ifdef __cplusplus
}
#endif

#endif /* PARSIMONY_RUNTIME_PROFILE_H */
