/*===- SpxKernels.h - runtime kernels behind the spx ops --------*- C -*-===*\
|*                                                                          *|
|* The C ABI that compiled models call for `spx` operations (the CPU        *|
|* lowering bufferizes each spx op into one call). Every tensor is a        *|
|* contiguous row-major buffer; "T" is the number of tokens (the product    *|
|* of the leading dimensions). Activations are f32.                        *|
|*                                                                          *|
|* A weight maps K input features to N output features and is passed as   *|
|* a PARSIMONY_WEIGHT_ARGS group:                                           *|
|*   const void *w      elements: f32, or int8 / int4 (one signed value per *|
|*                      byte, as MLIR stores i4) when quantized            *|
|*   const void *scales NULL for f32 weights; else f32 or f16 scales:       *|
|*                      per channel [N] (group == 0) or grouped            *|
|*                      [K/group, N] (kn) / [N, K/group] (nk)               *|
|*   int32_t layout     0 = kn ([K, N]), 1 = nk ([N, K])                   *|
|*   int32_t bits       32 (f32), 8, 4, or PARSIMONY_INT4_PACKED (int4,     *|
|*                      two values per byte, see below)                    *|
|*   int64_t group      0 = per output channel, else the group size        *|
|*   int32_t scales_f16 1 if scales are f16, 0 if f32                       *|
|* Stacked expert weights ([E, ...]) use the same group; expert e starts   *|
|* e * K * N elements (and e * |scales| scales) into the buffers.          *|
|*                                                                          *|
|* Packed int4 (PARSIMONY_INT4_PACKED = 4 | 0x100) stores every stored row *|
|* (a row of [K, N] for kn, of [N, K] for nk) in 32-value blocks of 16     *|
|* bytes: byte i of a block holds value i in its low nibble and value      *|
|* i + 16 in its high nibble (two's complement). Stored rows must hold a   *|
|* multiple of 32 values; expert e starts e * K * N / 2 bytes in.          *|
|*                                                                          *|
|* Index tensors (supports, expert ids, slots) are int32 or int64, chosen  *|
|* by an `*_i64` flag (1 = int64).                                         *|
|*                                                                          *|
|* Activation codes: 0 identity, 1 relu, 2 gelu (erf), 3 gelu_tanh,        *|
|* 4 silu, 5 sigmoid, 6 swiglu (experts only).                              *|
|*                                                                          *|
|* The kernels never allocate on the caller's behalf, may use the runtime's *|
|* thread pool, and are reentrant.                                          *|
|*                                                                          *|
|* Details the implementation (lib/Runtime/SpxKernels.cpp) fixes:          *|
|*  - int4 reads the low nibble of each byte, sign-extended, so sign- and   *|
|*    zero-extended byte storage both work. A group that is not a positive  *|
|*    divisor of K is treated as per channel.                              *|
|*  - Internal scratch is per-thread, grown on demand and reused (freed at  *|
|*    thread exit); out of memory aborts (no exceptions, no error channel). *|
|*  - Sparse kernels skip weight rows whose activation is zero, so a non-   *|
|*    finite weight in such a row does not propagate (0 * inf is not        *|
|*    formed); otherwise results equal the dense product up to rounding.    *|
\*===----------------------------------------------------------------------===*/

#ifndef PARSIMONY_RUNTIME_SPXKERNELS_H
#define PARSIMONY_RUNTIME_SPXKERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* `bits` of a packed int4 weight. */
#define PARSIMONY_INT4_PACKED (4 | 0x100)

#define PARSIMONY_WEIGHT_PARAMS(prefix)                                        \
  const void *prefix##_w, const void *prefix##_scales,                         \
      int32_t prefix##_layout, int32_t prefix##_bits, int64_t prefix##_group,  \
      int32_t prefix##_scales_f16

/* spx.topk_activation over the middle axis of an [outer, axis, inner] view:
 * keeps the k largest of every axis slice (ties to the lower index, NaN
 * largest, -0 == +0), zeroes the rest. approx != 0 allows a selection whose
 * expected recall is >= recall_target (the implementation's threshold
 * select is exact in both modes). k <= 0 zeroes everything. */
void parsimony_topk_activation_f32(const float *in, float *out, int64_t outer,
                                   int64_t axis, int64_t inner, int64_t k,
                                   int32_t approx, float recall_target);

/* spx.sparse_matmul: out[T, N] = in[T, K] * W, reading only the rows of W
 * whose activation is nonzero. */
void parsimony_sparse_matmul_f32(const float *in, int64_t T, int64_t K,
                                 int64_t N, PARSIMONY_WEIGHT_PARAMS(weight),
                                 float *out);

/* spx.quant_matmul: out[T, N] = in[T, K] * W for a quantized W (int8 or
 * int4, any layout; nk is the fast one). The weights are dequantized in
 * registers: for few tokens (T <= 16 on nk weights) every weight byte is
 * read once per 4-token tile and widened, scaled and multiplied without
 * leaving registers; larger T dequantizes one L2-sized tile of rows at a
 * time into per-thread scratch for the f32 GEMM micro-kernels. */
void parsimony_quant_matmul_f32(const float *in, int64_t T, int64_t K,
                                int64_t N, PARSIMONY_WEIGHT_PARAMS(weight),
                                float *out);

/* spx.quant_matmul with an epilogue:
 *   out[T, N] = act(in[T, K] * W + bias) + residual
 * bias (N values) and residual (T x N, contiguous) are optional (null);
 * activation codes as in parsimony_sgemm_epilogue. Each block of the output
 * gets its epilogue right after its accumulation, while it is in cache. */
void parsimony_quant_matmul_epilogue_f32(const float *in, int64_t T, int64_t K,
                                         int64_t N,
                                         PARSIMONY_WEIGHT_PARAMS(weight),
                                         const float *bias, int32_t activation,
                                         const float *residual, float *out);

/* spx.quant_matmul on 8-bit integer activations (an ONNX MatMulInteger):
 *   out[T, N] = act(float(sum_k (in[T, k] - zero_point) * q[k, N]) * scale
 *                   + bias) + residual
 * with `in` read as int8 when in_signed, as uint8 otherwise, and the zero
 * point already widened. On CPUs with AVX-512 VNNI and int8 nk weights with
 * one scale per output feature (K <= 32768) the integer sums are exact
 * (u8 x s8 dot products, vpdpbusd); otherwise x - zero_point runs through
 * parsimony_quant_matmul_epilogue_f32 (exact products, f32 sums). bias,
 * residual and the activation as in parsimony_quant_matmul_epilogue_f32. */
void parsimony_quant_matmul_u8_f32(const uint8_t *in, int64_t T, int64_t K,
                                   int64_t N, PARSIMONY_WEIGHT_PARAMS(weight),
                                   int32_t in_signed, int32_t zero_point,
                                   const float *bias, int32_t activation,
                                   const float *residual, float *out);

/* spx.support_matmul. side 0 (output): out[T, S] = in[T, K] * W[:, support];
 * side 1 (input): out[T, N] = sum_j in[T, j] * W[support[t, j], :], where
 * `in` is the compact [T, S] activation. Indices outside [0, neurons)
 * (neurons = N for side 0, K for side 1) contribute zero; duplicates count
 * once per occurrence. */
void parsimony_support_matmul_f32(const float *in, int64_t T, int64_t K,
                                  int64_t N, PARSIMONY_WEIGHT_PARAMS(weight),
                                  const void *support, int32_t support_i64,
                                  int64_t S, int32_t side, float *out);

/* spx.predict_support: scores = x * P (+ bias) with P the weight group
 * (quantized predictor) or weight [K, rank] times factor [rank, N] (low
 * rank; factor != NULL, weight group maps K -> rank, any format, normally
 * f32 kn [K, rank]); writes the k highest-scoring neuron indices per token
 * in ascending order (ties to the lower index, NaN largest). For k > N the
 * indices past the N valid ones are -1. */
void parsimony_predict_support_f32(const float *x, int64_t T, int64_t K,
                                   int64_t N, PARSIMONY_WEIGHT_PARAMS(weight),
                                   const float *factor, int64_t rank,
                                   const float *bias, int64_t k, void *out,
                                   int32_t out_i64);

/* spx.sparse_ffn:
 *   u = x * W_up + b_up; h = act(u) or act(x * W_gate) * u (gate != NULL)
 *   h restricted to support (support != NULL; tokens in blocks of
 *   support_block share the union of their supports), then top-k (topk > 0)
 *   y = h * W_down + b_down + residual (residual, [T, D], may be null)
 * x: [T, D], y: [T, D], F hidden neurons. The support is a set: duplicates
 * and indices outside [0, F) are ignored. Top-k ranks the whole hidden row,
 * unsupported neurons counting as zeros (so a zero can outrank a negative
 * supported value). Activation 6 (swiglu) means silu here, i.e. the gated
 * LLaMA-style silu(x * W_gate) * u. */
void parsimony_sparse_ffn_f32(const float *x, int64_t T, int64_t D, int64_t F,
                              PARSIMONY_WEIGHT_PARAMS(up), const float *up_bias,
                              PARSIMONY_WEIGHT_PARAMS(gate),
                              PARSIMONY_WEIGHT_PARAMS(down),
                              const float *down_bias, const void *support,
                              int32_t support_i64, int64_t S,
                              int64_t support_block, int32_t activation,
                              int64_t topk, const float *residual, float *y);

/* spx.route: logits = router_w ? x[T, D] * router_w[D, E] (+ router_b) : x
 * ([T, E]); p = softmax(logits); the k most probable experts per token
 * (descending, ties to the lower index) and their probabilities,
 * renormalised to sum to 1 if normalize. router_b is only used with
 * router_w. A NaN logit makes the token's probabilities NaN (NaN ranks
 * largest). For k > E the choices past E get gate 0 and expert -1. */
void parsimony_route_f32(const float *x, int64_t T, int64_t D,
                         const float *router_w, const float *router_b,
                         int64_t E, int64_t k, int32_t normalize, float *gates,
                         void *experts, int32_t experts_i64);

/* spx.dispatch: mode 0 dropless (R = T * k), mode 1 capacity (R = E * C,
 * expert e at rows [e * C, e * C + size_e)). rows [R, D] (unused rows are
 * zero), offsets/sizes [E] int64, slots [T, k] int64 (-1 = dropped).
 * Assignments are taken in token order, then choice order. `capacity` is C
 * (ignored in dropless mode). Expert ids outside [0, E) are dropped, and
 * so is an assignment whose row would be >= R; sizes count the rows
 * actually filled. */
void parsimony_dispatch_f32(const float *x, int64_t T, int64_t D,
                            const void *experts, int32_t experts_i64, int64_t k,
                            int64_t E, int32_t mode, int64_t capacity,
                            float *rows, int64_t R, int64_t *offsets,
                            int64_t *sizes, int64_t *slots);

/* spx.expert_ffn over ragged groups: rows [offsets[e], offsets[e]+sizes[e])
 * of `rows` go through expert e; other output rows are zero. F is the
 * hidden size (fc1 has 2F outputs when swiglu_fusion is 1 interleaved or
 * 2 block). swiglu_limit is ignored when it is NaN. Biases are [E, *] or
 * NULL. fc3 is absent when fc3_w is NULL. swiglu_fusion only applies to
 * activation 6 (and then fc3 is ignored); swiglu with neither fusion nor
 * fc3 uses value = 1. Groups are clipped to [0, R); empty groups read no
 * weights. */
void parsimony_expert_ffn_f32(
    const float *rows, int64_t R, int64_t D, const int64_t *offsets,
    const int64_t *sizes, int64_t E, int64_t F, PARSIMONY_WEIGHT_PARAMS(fc1),
    const float *fc1_bias, PARSIMONY_WEIGHT_PARAMS(fc2), const float *fc2_bias,
    PARSIMONY_WEIGHT_PARAMS(fc3), const float *fc3_bias, int32_t activation,
    int32_t swiglu_fusion, float alpha, float beta, float swiglu_limit,
    float *out);

/* spx.combine: out[t] = residual[t] + sum_j gates[t, j] *
 * expert_out[slots[t, j]] (slots outside [0, R) contribute zero; residual,
 * T x D, may be null). */
void parsimony_combine_f32(const float *expert_out, int64_t R, int64_t D,
                           const void *slots, int32_t slots_i64, int64_t T,
                           int64_t k, const float *gates, const float *residual,
                           float *out);

#ifdef __cplusplus
}
#endif

#endif /* PARSIMONY_RUNTIME_SPXKERNELS_H */
