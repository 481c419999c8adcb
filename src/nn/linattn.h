/* Causal linear attention (Katharopoulos et al. 2020, "Transformers are RNNs"): the softmax
 * is replaced by a positive feature map phi, so attention is a running sum.
 *
 * For one sequence and one head, with features fq_i = phi(q_i), fk_i = phi(k_i) (hs each)
 * and values v_i (hs):
 *   S_i = sum_{j<=i} fk_j v_j^T   (hs x hs)       z_i = sum_{j<=i} fk_j   (hs)
 *   out_i = S_i^T fq_i / den_i,   den_i = fq_i . z_i + LINATTN_EPS
 * No 1/sqrt(hs) scale; the sums include token i itself.
 *
 * Training runs it in chunks of `chunk` rows: inside a chunk the products fq_l . fk_s are a
 * small lower-triangular matrix (the quadratic form, but only chunk x chunk), and the chunks
 * before it enter through the carried (S, z); both are small matrix products (nn_gemm). Memory and time are linear in T; the result
 * does not depend on chunk except for rounding. Generation uses the recurrent form
 * (linattn_step): per sequence and head the state (S, z), O(1) per token.
 *
 * Layout (as attention_forward): qkv (B,T,3C) rows [fq | fk | v], head h at columns h*hs of
 * each third; the feature map is applied by the caller (linattn_phi) so that the kernel is
 * the same for any positive map. Parallel over (b, h); no atomics, so results do not depend
 * on the thread count. */
#ifndef PKTLM_LINATTN_H
#define PKTLM_LINATTN_H
#include <stddef.h>

#define LINATTN_EPS 1e-6f

/* out (B,T,C); den (B,T,NH) receives the denominators (kept for backward). prec: NN_FP32, or
 * NN_BF16 to round the inputs of the chunk products (nn_gemm); states, sums and the
 * normaliser stay fp32. */
void linattn_forward(float *out, float *den, const float *qkv, int B, int T, int C, int NH, int chunk, int prec);
/* dqkv (B,T,3C) is OVERWRITTEN with the gradients of fq, fk and v (as attention_backward).
 * out and den are forward's. */
void linattn_backward(float *dqkv, const float *dout, const float *qkv, const float *out, const float *den, int B,
                      int T, int C, int NH, int chunk, int prec);

/* Recurrent state of one sequence: per head S (hs*hs, row e = key feature) then z (hs). */
static inline size_t linattn_state_floats(int NH, int hs) { return (size_t)NH * ((size_t)hs * hs + hs); }
/* One token of one sequence: adds fk v^T and fk to the state, then out = S^T fq / den.
 * fq, fk, v: NH heads of hs contiguous; out (NH*hs). Equals row i of linattn_forward after
 * the rows before it went through the same state. */
void linattn_step(float *out, float *state, const float *fq, const float *fk, const float *v, int NH, int hs);

/* Feature map phi(x) = elu(x) + 1 (x + 1 for x > 0, exp(x) otherwise), in place on the first
 * `width` columns of N rows of stride ld. */
void linattn_phi(float *x, int N, int width, int ld);
/* Backward of linattn_phi from its OUTPUT f: phi'(x) = 1 for x > 0, exp(x) = f otherwise (so
 * f > 1 <=> x > 0); d *= phi'. Same rows and columns as linattn_phi. */
void linattn_phi_backward(float *d, const float *f, int N, int width, int ld);
/* Rotary positions (rope.h, interleaved pairs) then the feature map, on the q and k heads
 * (the first 2C columns) of N rows of qkv (stride 3C), row n at position n % T, cs: (T, hs)
 * from rope_angles: rope_rows + linattn_phi in one pass over memory. */
void linattn_rope_phi(float *qkv, int N, int T, int C, int NH, const float *cs);
/* Its backward: d *= phi' (from the output f, as linattn_phi_backward), then the inverse
 * rotation. d and f: (N, 3C), the first 2C columns. */
void linattn_rope_phi_backward(float *d, const float *f, int N, int T, int C, int NH, const float *cs);
#endif
