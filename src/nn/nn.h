/* The neural core: layers with explicit forward and backward, and the optimizer.
 *
 * Names, fixed once: B = batch, T = sequence length, C = channels, OC = output channels,
 * NH = heads, hs = C/NH head size, V = vocabulary, N = B*T rows.
 * Conventions (llm.c): outputs first, dimensions last; every tensor is row-major float;
 * forward caches what backward needs; backward ACCUMULATES (+=) into its input gradients
 * and parameter gradients, so one zero-grad per step and residual branches just add.
 * Loops are parallel (OpenMP) over what they write, so there are no atomics and results
 * do not depend on scheduling: the same thread count gives bit-identical results. */
#ifndef PKTLM_NN_H
#define PKTLM_NN_H
#include <stddef.h>
#include <stdint.h>

/* out[b,t,:] = wte[tok[b,t],:] + wpe[t,:] */
void encoder_forward(float *out, const int *tok, const float *wte, const float *wpe, int B, int T, int C);
void encoder_backward(float *dwte, float *dwpe, const float *dout, const int *tok, int B, int T, int C);  /* dwpe may be NULL */

/* y = (x - mean) * rstd * w + b per row; mean, rstd (N) kept for backward. */
/* one row of C: o = (x - mean) * rstd * w + b; mean / rstd stored unless mean is NULL
 * (the decoder, which needs no backward) */
void layernorm_row(float *o, float *mean, float *rstd, const float *x, const float *w, const float *b, int C);
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, int N, int C);
void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, const float *mean, const float *rstd, int N, int C);

/* RMSNorm with weight (Qwen2, Mamba-2; rmsnorm.c): out = x * rstd * w, rstd = 1/sqrt(mean(x^2) +
 * eps) per row (kept in rstd (N) for backward when not NULL). rmsnorm_row: one row, returns
 * its rstd (decoding steps). */
void rmsnorm_forward_eps(float *out, float *rstd, const float *x, const float *w, int N, int C, float eps);
float rmsnorm_row(float *o, const float *x, const float *w, int C, float eps);
/* dx += rstd (g - xh mean(g xh)) with xh = x rstd, g = dout w; dw += sum over rows of dout xh */
void rmsnorm_backward_eps(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd,
                          int N, int C);

/* out (N,OC) = inp (N,C) @ w^T + bias, w is (OC,C) as a PyTorch Linear; bias may be NULL. */
void matmul_forward(float *out, const float *inp, const float *w, const float *bias, int N, int C, int OC);
/* dinp += dout @ w; dw += dout^T @ inp; dbias += colsum(dout). dinp/dbias may be NULL. */
void matmul_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                     const float *w, int N, int C, int OC);
/* The same, but dinp is overwritten (dinp = dout @ w), not accumulated: for a gradient buffer
 * that only this product writes, which then needs no zeroing pass first. */
void matmul_backward_set(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                         const float *w, int N, int C, int OC);

/* C (M,N) = alpha * op(A) op(B) + beta * C, row-major, op = transpose when trans != 0
 * (A is M x K or K x M, B is K x N or N x K). AVX-512 kernel (gemm.c), else BLIS.
 * Parallel when called outside a parallel region. */
void nn_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);
/* C = alpha * op(A) op(B) + bias, bias (N) added to every row (a Linear layer's forward with
 * the bias added as the product's first block is stored: no separate pass over C). */
void nn_sgemm_bias(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, const float *bias, float *C, int ldc);

/* Precision of matrix products. NN_BF16 is mixed precision as PyTorch's CPU autocast does it:
 * both inputs rounded to bfloat16 (nearest even), products accumulated and returned in fp32;
 * everything else (norms, softmax, loss, optimizer, master weights) stays fp32. */
enum { NN_FP32 = 0, NN_BF16 = 1 };
/* nn_sgemm / nn_sgemm_bias at a precision. NN_BF16 uses avx512_bf16 instructions where the CPU
 * has them (nn_bf16_native()), else rounded copies through the fp32 product (same numbers up
 * to summation order, fp32 speed). */
void nn_gemm(int prec, int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc);
void nn_gemm_bias(int prec, int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, const float *bias, float *C, int ldc);
/* 1 when this build and CPU run NN_BF16 products natively (AVX-512 kernel and avx512_bf16). */
int nn_bf16_native(void);
/* x rounded to bfloat16 as the products round their inputs (nearest even, denormals to zero). */
float nn_bf16_round(float x);
/* The Linear layer at a precision (matmul_forward and matmul_backward_set are NN_FP32). */
void matmul_forward_prec(float *out, const float *inp, const float *w, const float *bias, int N, int C, int OC,
                         int prec);
void matmul_backward_set_prec(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                              const float *w, int N, int C, int OC, int prec);

/* GELU, tanh approximation (GPT-2). */
void gelu_forward(float *out, const float *inp, size_t n);
void gelu_backward(float *dinp, const float *inp, const float *dout, size_t n);
/* dinp = gelu'(inp) * dout (overwritten; dinp may be dout: in place) */
void gelu_backward_set(float *dinp, const float *inp, const float *dout, size_t n);

/* GELU, exact (erf) form, as PyTorch's default nn.GELU(): x Phi(x). out may be inp. Single
 * thread when n <= 4096 (a decoding step's rows). */
void gelu_erf_forward(float *out, const float *inp, size_t n);
/* dinp = gelu'(inp) * dout (overwritten; dinp may be dout) */
void gelu_erf_backward_set(float *dinp, const float *inp, const float *dout, size_t n);

/* out = a + b */
void residual_forward(float *out, const float *a, const float *b, size_t n);
/* da += dout; db += dout */
void residual_backward(float *da, float *db, const float *dout, size_t n);

/* Inverted dropout with a mask drawn from a counter-based hash of (seed, index): nothing is
 * stored, backward regenerates the mask. p = 0 copies. In-place allowed (out == inp). */
void dropout_forward(float *out, const float *inp, float p, uint64_t seed, size_t n);
void dropout_backward(float *dinp, const float *dout, float p, uint64_t seed, size_t n);

/* Softmax cross-entropy over V classes for N rows. Targets < 0 are ignored (padding).
 * losses[i] = -log softmax(logits[i])[tgt[i]] (0 when ignored). When dlogits is not NULL
 * it receives (softmax - onehot) * scale for counted rows and 0 for ignored ones (fused:
 * the caller sets scale = 1 / number of counted targets in the whole (accumulated) batch).
 * Returns the number of counted rows. */
int crossentropy_forward(float *losses, float *dlogits, const float *logits, const int *tgt,
                         int N, int V, float scale);
/* Softmax probabilities of one row of n floats (used by sampling and tests). */
void softmax_row(float *out, const float *in, int n);

/* exp with ~1 ulp error that the compiler vectorises (libm's is scalar and dominates
 * attention and GELU time otherwise). */
float nn_expf(float x);

/* ---- optimizer ---- */
typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
} adamw_params;

/* One AdamW step (PyTorch semantics, decoupled weight decay) over n floats; step t >= 1.
 * decay = 0 for norms and biases. */
void adamw_update(float *p, const float *g, float *m, float *v, size_t n, const adamw_params *h,
                  int t, int decay);

/* Learning rate at step (0-based): linear warm-up over `warmup` steps from lr/warmup to lr,
 * then cosine decay to lr*min_frac at `total` steps. */
float lr_schedule(int step, float lr, int warmup, int total, float min_frac);

/* Global L2 norm of n floats (in double, deterministic order by fixed chunks). */
double global_norm(const float *g, size_t n);
/* Scale g by max_norm / norm when norm > max_norm; returns the norm before clipping. */
double clip_grad_norm(float *g, size_t n, double max_norm);
/* p[0:n] *= k with all threads. */
void nn_scale(float *p, size_t n, float k);

/* Threads for OpenMP and BLIS together (BLIS alone would default to 1 thread); nested
 * parallelism off, so an sgemm called inside a parallel loop runs on its own thread.
 * n <= 0: the OpenMP default (all cores or OMP_NUM_THREADS). */
void nn_set_threads(int n);
int nn_threads(void);

/* A tensor table (llm.c): one allocation, tensors pointed into it. */
#define NN_MAX_TENSORS 64
typedef struct {
    const char *name;
    size_t size;      /* floats */
    int decay;        /* 1: matrices (weight decay), 0: norms and biases */
} tensor_spec;

/* p[0:n] = 0 with all threads (a serial memset of the backward's big gradient buffers cost
 * ~5% of a training step on 2 threads). Serial when called inside a parallel region. */
void nn_zero(float *p, size_t n);

/* 64-byte aligned zeroed allocation; NULL on failure. */
float *nn_alloc(size_t nfloats);
void nn_free(float *p);

/* Normal(0, std) for initialisation, from the project RNG (Box-Muller). */
float nn_randn(uint64_t *rng);
#endif
