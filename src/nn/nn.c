/* The neural core: see nn.h for names and conventions. */
#ifdef __clang__
/* `omp simd` asks for vectorisation; at -O1 (sanitizer build) clang cannot and would warn */
#pragma clang diagnostic ignored "-Wpass-failed"
#endif
#include "nn/nn.h"
#include "nn/fexp.h"
#include "nn/gemm.h"
#include "util/util.h"
#include <cblas.h>
#include <blis.h>   /* bli_thread_set_num_threads */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include <immintrin.h>

#define ATT_BQ 64   /* query block of the attention: scores are (BQ x keys so far) */

float *nn_alloc(size_t nfloats) {
    void *p = NULL;
    size_t bytes = (nfloats ? nfloats : 1) * sizeof(float);
    bytes = (bytes + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, bytes) != 0) return NULL;
    memset(p, 0, bytes);
    return p;
}
void nn_free(float *p) { free(p); }

void nn_zero(float *p, size_t n) {
    const size_t chunk = 16384;   /* 64 KB per piece */
    #pragma omp parallel for schedule(static) if (n > 2 * chunk)
    for (size_t c0 = 0; c0 < n; c0 += chunk) memset(p + c0, 0, (n - c0 < chunk ? n - c0 : chunk) * sizeof(float));
}

void nn_set_threads(int n) {
    static int def;
    if (!def) def = omp_get_max_threads();
    if (n <= 0) n = def;
    omp_set_max_active_levels(1);
    omp_set_num_threads(n);
    bli_thread_set_num_threads(n);
    /* Flush denormals to zero on every pool thread: tiny gradients and attention weights
     * otherwise make sgemm and the elementwise loops up to 20x slower late in training. */
    #pragma omp parallel
    _mm_setcsr(_mm_getcsr() | 0x8040);
}
int nn_threads(void) { return omp_get_max_threads(); }

float nn_randn(uint64_t *rng) {
    double u1 = 1.0 - rng_uniform(rng), u2 = rng_uniform(rng);   /* u1 in (0,1] */
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* ---- fast exp (nn/fexp.h) ---- */
static inline float fexp(float x) { return nn_fexp(x); }
float nn_expf(float x) { return fexp(x); }

/* ---- encoder ---- */
void encoder_forward(float *out, const int *tok, const float *wte, const float *wpe, int B, int T, int C) {
    #pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *o = out + ((size_t)b * T + t) * C;
            const float *e = wte + (size_t)tok[b * T + t] * C, *p = wpe + (size_t)t * C;
            for (int c = 0; c < C; c++) o[c] = e[c] + p[c];
        }
}

void encoder_backward(float *dwte, float *dwpe, const float *dout, const int *tok, int B, int T, int C) {
    /* Scatter into token rows: parallel over column blocks, so no two threads touch the
     * same float and the summation order is fixed. dwpe NULL: no learned positions (RoPE or
     * recurrent backbones), token rows only. */
    #pragma omp parallel for schedule(static)
    for (int c0 = 0; c0 < C; c0 += 16) {
        int c1 = c0 + 16 < C ? c0 + 16 : C;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                const float *d = dout + ((size_t)b * T + t) * C;
                float *e = dwte + (size_t)tok[b * T + t] * C;
                for (int c = c0; c < c1; c++) e[c] += d[c];
                if (dwpe) {
                    float *p = dwpe + (size_t)t * C;
                    for (int c = c0; c < c1; c++) p[c] += d[c];
                }
            }
    }
}

/* ---- layernorm ---- */
void layernorm_row(float *o, float *mean, float *rstd, const float *x, const float *w, const float *b, int C) {
    const float eps = 1e-5f;
    float m = 0, v = 0;
    #pragma omp simd reduction(+:m)
    for (int c = 0; c < C; c++) m += x[c];
    m /= C;
    #pragma omp simd reduction(+:v)
    for (int c = 0; c < C; c++) { float d = x[c] - m; v += d * d; }
    v /= C;
    float s = 1.0f / sqrtf(v + eps);
    #pragma omp simd
    for (int c = 0; c < C; c++) o[c] = (x[c] - m) * s * w[c] + b[c];
    if (mean) { *mean = m; *rstd = s; }
}

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, int N, int C) {
    #pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++)
        layernorm_row(out + (size_t)i * C, mean + i, rstd + i, inp + (size_t)i * C, w, b, C);
}

void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, const float *mean, const float *rstd, int N, int C) {
    #pragma omp parallel
    {
        #pragma omp for schedule(static)
        for (int i = 0; i < N; i++) {
            const float *x = inp + (size_t)i * C, *d = dout + (size_t)i * C;
            float m = mean[i], s = rstd[i], dn_mean = 0, dn_xh = 0;
            #pragma omp simd reduction(+:dn_mean, dn_xh)
            for (int c = 0; c < C; c++) {
                float dn = w[c] * d[c];
                dn_mean += dn;
                dn_xh += dn * (x[c] - m) * s;
            }
            dn_mean /= C; dn_xh /= C;
            float *di = dinp + (size_t)i * C;
            #pragma omp simd
            for (int c = 0; c < C; c++) {
                float xh = (x[c] - m) * s;
                di[c] += (w[c] * d[c] - dn_mean - xh * dn_xh) * s;
            }
        }
        /* parameter gradients: parallel over columns (each thread owns its columns) */
        #pragma omp for schedule(static)
        for (int c0 = 0; c0 < C; c0 += 16) {
            int c1 = c0 + 16 < C ? c0 + 16 : C;
            float aw[16] = { 0 }, ab[16] = { 0 };
            for (int i = 0; i < N; i++) {
                const float *x = inp + (size_t)i * C, *d = dout + (size_t)i * C;
                float m = mean[i], s = rstd[i];
                for (int c = c0; c < c1; c++) { aw[c - c0] += d[c] * (x[c] - m) * s; ab[c - c0] += d[c]; }
            }
            for (int c = c0; c < c1; c++) { dw[c] += aw[c - c0]; db[c] += ab[c - c0]; }
        }
    }
}

/* ---- matmul (nn_gemm: own AVX-512 kernel, fp32 or bf16 inputs) ---- */
void matmul_forward_prec(float *out, const float *inp, const float *w, const float *bias, int N, int C, int OC,
                         int prec) {
    if (bias) nn_gemm_bias(prec, 0, 1, N, OC, C, 1.0f, inp, C, w, C, bias, out, OC);
    else nn_gemm(prec, 0, 1, N, OC, C, 1.0f, inp, C, w, C, 0.0f, out, OC);
}
void matmul_forward(float *out, const float *inp, const float *w, const float *bias, int N, int C, int OC) {
    matmul_forward_prec(out, inp, w, bias, N, C, OC, NN_FP32);
}

static void matmul_bwd(float *dinp, float dinp_beta, float *dw, float *dbias, const float *dout, const float *inp,
                       const float *w, int N, int C, int OC, int prec) {
    if (dinp)
        nn_gemm(prec, 0, 0, N, C, OC, 1.0f, dout, OC, w, C, dinp_beta, dinp, C);
    nn_gemm(prec, 1, 0, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dw, C);
    if (dbias) {   /* fp32 in either precision, as autocast sums a bias gradient */
        #pragma omp parallel for schedule(static)
        for (int o0 = 0; o0 < OC; o0 += 64) {
            int o1 = o0 + 64 < OC ? o0 + 64 : OC;
            float acc[64] = { 0 };
            for (int i = 0; i < N; i++) {
                const float *d = dout + (size_t)i * OC;
                #pragma omp simd
                for (int o = o0; o < o1; o++) acc[o - o0] += d[o];
            }
            for (int o = o0; o < o1; o++) dbias[o] += acc[o - o0];
        }
    }
}
void matmul_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                     const float *w, int N, int C, int OC) {
    matmul_bwd(dinp, 1.0f, dw, dbias, dout, inp, w, N, C, OC, NN_FP32);
}
void matmul_backward_set(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                         const float *w, int N, int C, int OC) {
    matmul_bwd(dinp, 0.0f, dw, dbias, dout, inp, w, N, C, OC, NN_FP32);
}
void matmul_backward_set_prec(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                              const float *w, int N, int C, int OC, int prec) {
    matmul_bwd(dinp, 0.0f, dw, dbias, dout, inp, w, N, C, OC, prec);
}

/* ---- attention ---- */
#ifdef NN_HAVE_KERNEL
/* Packed causal attention on the AVX-512 micro-kernel. Per (b,h), on one thread: K^T, V (and
 * in backward V^T, K, Q, dO) are packed once into 32-wide panels; query rows go by tiles of
 * NN_MR, and a tile only visits the key panels up to its last row (the causal triangle).
 * Probabilities and dS are kept as rows with zeros above the diagonal up to the end of the
 * tile's last key panel (further columns are never written nor read), so the transposed
 * products (dK = dS^T Q, dV = P^T dO) read them directly from the key block downwards. */
#define MR NN_MR
#define NR NN_NR
static int round_up(int x, int m) { return (x + m - 1) / m * m; }

size_t attention_scratch_floats(int T) { return (size_t)T * (size_t)T; }

/* panels of op(B) (kc x N, k-major per panel), all of K: dst[q*NR*kc + k*NR + jj] */
static void pack_panels(float *dst, int transB, const float *B, int ldb, int kc, int N) {
    for (int q = 0; q * NR < N; q++) nn_pack_b(dst + (size_t)q * NR * kc, transB, B, ldb, 0, kc, q * NR, N);
}

/* Row t of P or dS: zeros at columns t+1 .. t+MR-1 (< T), above the diagonal. What is read
 * there: a query tile's product with V or K reads its rows up to the tile's end (< t + MR),
 * and the key tile j0 of dK, dV reads columns j0 .. j0+MR-1 of rows t >= j0. Columns further
 * right (the rest of the last key panel of a tile's scores) are never read. */
static inline void zero_above(float *row, int t, int T) {
    int n = (t + MR < T ? t + MR : T) - (t + 1);
    if (n > 0) _mm512_mask_storeu_ps(row + t + 1, (__mmask16)((1u << n) - 1), _mm512_setzero_ps());
}

/* Softmax of a query tile's score rows (row r is query i0 + r, keys 0..i0+r) in place, then
 * zero_above. */
static void softmax_tile(float *S, int T, int i0, int mr, int kend) {
    for (int r = 0; r < mr; r++) {
        int t = i0 + r;
        float *s = S + (size_t)r * T, mx = -INFINITY, sum = 0;
        /* max is exact, so the vector order gives the same bits */
        #pragma omp simd reduction(max:mx)
        for (int j = 0; j <= t; j++) mx = s[j] > mx ? s[j] : mx;
        #pragma omp simd reduction(+:sum)
        for (int j = 0; j <= t; j++) { s[j] = fexp(s[j] - mx); sum += s[j]; }
        float inv = 1.0f / sum;
        #pragma omp simd
        for (int j = 0; j <= t; j++) s[j] *= inv;
        zero_above(s, t, T);
    }
}

/* dS = P * (dP - sum_j P dP) * scale for a query tile, D holding dP on entry; zero_above.
 * P is the whole (T, T) probability matrix of the (batch, head). */
static void dsoftmax_tile(float *D, const float *P, int T, int i0, int mr, int kend, float scale) {
    for (int r = 0; r < mr; r++) {
        int t = i0 + r;
        const float *pr = P + (size_t)t * T;
        float *d = D + (size_t)r * T, dot = 0;
        #pragma omp simd reduction(+:dot)
        for (int j = 0; j <= t; j++) dot += pr[j] * d[j];
        #pragma omp simd
        for (int j = 0; j <= t; j++) d[j] = pr[j] * (d[j] - dot) * scale;
        zero_above(d, t, T);
    }
}

static void attention_forward_f32(float *out, float *att, const float *qkv, int B, int T, int C, int NH) {
    const int hs = C / NH, C3 = 3 * C, Tp = round_up(T, NR), hp = round_up(hs, NR);
    const float scale = 1.0f / sqrtf((float)hs);
    #pragma omp parallel
    {
        /* ap holds a query tile's MR x hs panel: sized by the head size, not by T (rows
         * shorter than a head once overflowed it) */
        float *kt = nn_alloc((size_t)Tp * hs), *vp = nn_alloc((size_t)hp * T), *ap = nn_alloc((size_t)MR * hs);
        #pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++) {
                const float *q = qkv + (size_t)b * T * C3 + h * hs, *k = q + C, *v = q + 2 * C;
                float *A = att + ((size_t)b * NH + h) * T * T;
                float *o = out + (size_t)b * T * C + h * hs;
                pack_panels(kt, 1, k, C3, hs, T);     /* K^T: hs x T */
                pack_panels(vp, 0, v, C3, T, hs);     /* V:   T x hs */
                for (int i0 = 0; i0 < T; i0 += MR) {
                    int mr = T - i0 < MR ? T - i0 : MR, kend = i0 + mr;
                    float *S = A + (size_t)i0 * T;
                    /* S = scale * Q K^T over the key panels up to the tile's last row (stored:
                     * columns past the last panel are never written nor read) */
                    nn_pack_a(ap, 0, q, C3, i0, T, 0, hs);
                    for (int p = 0; p * NR < kend; p++)
                        nn_kernel_store(hs, ap, kt + (size_t)p * NR * hs, S + p * NR, T, scale, mr,
                                  T - p * NR < NR ? T - p * NR : NR);
                    softmax_tile(S, T, i0, mr, kend);
                    /* O[tile] = P[tile, 0:kend] V[0:kend] (stored) */
                    for (int p = 0; p * NR < hs; p++)
                        nn_kernel_strided(kend, S, T, 1, vp + (size_t)p * NR * T, o + (size_t)i0 * C + p * NR, C, 1.0f,
                                          mr, hs - p * NR < NR ? hs - p * NR : NR);
                }
            }
        nn_free(kt); nn_free(vp); nn_free(ap);
    }
}

static void attention_backward_f32(float *dqkv, const float *dout, const float *qkv, const float *att,
                                   float *scratch, int B, int T, int C, int NH) {
    const int hs = C / NH, C3 = 3 * C, Tp = round_up(T, NR), hp = round_up(hs, NR);
    const float scale = 1.0f / sqrtf((float)hs);
    #pragma omp parallel
    {
        float *dS = scratch + (size_t)omp_get_thread_num() * attention_scratch_floats(T);
        float *vt = nn_alloc((size_t)Tp * hs), *kp = nn_alloc((size_t)hp * T), *qp = nn_alloc((size_t)hp * T);
        float *dop = nn_alloc((size_t)hp * T), *ap = nn_alloc((size_t)MR * hs);   /* dO tile: MR x hs */
        #pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++) {
                const float *q = qkv + (size_t)b * T * C3 + h * hs, *k = q + C, *v = q + 2 * C;
                float *dq = dqkv + (size_t)b * T * C3 + h * hs, *dk = dq + C, *dv = dq + 2 * C;
                const float *P = att + ((size_t)b * NH + h) * T * T;
                const float *dO = dout + (size_t)b * T * C + h * hs;
                pack_panels(vt, 1, v, C3, hs, T);    /* V^T: hs x T */
                pack_panels(kp, 0, k, C3, T, hs);    /* K:   T x hs */
                pack_panels(qp, 0, q, C3, T, hs);    /* Q:   T x hs */
                pack_panels(dop, 0, dO, C, T, hs);   /* dO:  T x hs */
                for (int i0 = 0; i0 < T; i0 += MR) {
                    int mr = T - i0 < MR ? T - i0 : MR, kend = i0 + mr;
                    float *D = dS + (size_t)i0 * T;
                    /* dP = dO V^T (stored, over the same panels as S) */
                    nn_pack_a(ap, 0, dO, C, i0, T, 0, hs);
                    for (int p = 0; p * NR < kend; p++)
                        nn_kernel_store(hs, ap, vt + (size_t)p * NR * hs, D + p * NR, T, 1.0f, mr,
                                  T - p * NR < NR ? T - p * NR : NR);
                    dsoftmax_tile(D, P, T, i0, mr, kend, scale);
                    /* dQ[tile] = dS[tile, 0:kend] K[0:kend] */
                    for (int p = 0; p * NR < hs; p++)
                        nn_kernel_strided(kend, D, T, 1, kp + (size_t)p * NR * T, dq + (size_t)i0 * C3 + p * NR, C3,
                                          1.0f, mr, hs - p * NR < NR ? hs - p * NR : NR);
                }
                /* key tiles: dK[tile] = dS[j0:T, tile]^T Q[j0:T];  dV[tile] = P[j0:T, tile]^T dO[j0:T] */
                for (int j0 = 0; j0 < T; j0 += MR) {
                    int mr = T - j0 < MR ? T - j0 : MR, kc = T - j0;
                    const float *dSj = dS + (size_t)j0 * T + j0, *Pj = P + (size_t)j0 * T + j0;
                    for (int p = 0; p * NR < hs; p++)
                        nn_kernel_strided(kc, dSj, 1, T, qp + (size_t)p * NR * T + (size_t)j0 * NR,
                                          dk + (size_t)j0 * C3 + p * NR, C3, 1.0f, mr, hs - p * NR < NR ? hs - p * NR : NR);
                    for (int p = 0; p * NR < hs; p++)
                        nn_kernel_strided(kc, Pj, 1, T, dop + (size_t)p * NR * T + (size_t)j0 * NR,
                                          dv + (size_t)j0 * C3 + p * NR, C3, 1.0f, mr, hs - p * NR < NR ? hs - p * NR : NR);
                }
            }
        nn_free(vt); nn_free(kp); nn_free(qp); nn_free(dop); nn_free(ap);
    }
}

/* ---- the same in bf16 (NN_BF16): every product takes bf16-rounded inputs (the probabilities
 * and dS are rounded as they are packed; softmax and dS themselves stay fp32), so there is no
 * strided in-place kernel: P, dS and their transposes are packed into pair panels, which costs
 * a conversion per element but runs the products at the bf16 rate. Panels of T keys hold
 * Tq = ceil(T/2) pairs; panels of hs dimensions hq = ceil(hs/2). ---- */
typedef uint32_t u32;

/* all panels of op(B) (kc x N) in pairs: dst[q*NR*ceil(kc/2) + (k/2)*NR + jj] */
static void pack_panels_bf16(u32 *dst, int transB, const float *B, int ldb, int kc, int N) {
    for (int q = 0; q * NR < N; q++) nn_pack_b_bf16(dst + (size_t)q * NR * ((kc + 1) / 2), transB, B, ldb, 0, kc, q * NR, N);
}

static void attention_forward_bf16(float *out, float *att, const float *qkv, int B, int T, int C, int NH) {
    const int hs = C / NH, C3 = 3 * C, Tp = round_up(T, NR), hp = round_up(hs, NR), Tq = (T + 1) / 2, hq = (hs + 1) / 2;
    const float scale = 1.0f / sqrtf((float)hs);
    #pragma omp parallel
    {
        u32 *kt = (u32 *)nn_alloc((size_t)Tp * hq), *vp = (u32 *)nn_alloc((size_t)hp * Tq);
        u32 *ap = (u32 *)nn_alloc((size_t)MR * (Tq > hq ? Tq : hq));
        #pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++) {
                const float *q = qkv + (size_t)b * T * C3 + h * hs, *k = q + C, *v = q + 2 * C;
                float *A = att + ((size_t)b * NH + h) * T * T;
                float *o = out + (size_t)b * T * C + h * hs;
                pack_panels_bf16(kt, 1, k, C3, hs, T);     /* K^T: hs x T */
                pack_panels_bf16(vp, 0, v, C3, T, hs);     /* V:   T x hs */
                for (int i0 = 0; i0 < T; i0 += MR) {
                    int mr = T - i0 < MR ? T - i0 : MR, kend = i0 + mr;
                    float *S = A + (size_t)i0 * T;
                    nn_pack_a_bf16(ap, 0, q, C3, i0, T, 0, hs);
                    for (int p = 0; p * NR < kend; p++)
                        nn_kernel_store_bf16(hq, ap, kt + (size_t)p * NR * hq, S + p * NR, T, scale, mr,
                                             T - p * NR < NR ? T - p * NR : NR);
                    softmax_tile(S, T, i0, mr, kend);
                    /* O[tile] = P[tile, 0:kend] V[0:kend], stored */
                    nn_pack_a_bf16(ap, 0, S, T, 0, mr, 0, kend);
                    for (int p = 0; p * NR < hs; p++)
                        nn_kernel_store_bf16((kend + 1) / 2, ap, vp + (size_t)p * NR * Tq, o + (size_t)i0 * C + p * NR, C,
                                             1.0f, mr, hs - p * NR < NR ? hs - p * NR : NR);
                }
            }
        nn_free((float *)kt); nn_free((float *)vp); nn_free((float *)ap);
    }
}

static void attention_backward_bf16(float *dqkv, const float *dout, const float *qkv, const float *att,
                                    float *scratch, int B, int T, int C, int NH) {
    const int hs = C / NH, C3 = 3 * C, Tp = round_up(T, NR), hp = round_up(hs, NR), Tq = (T + 1) / 2, hq = (hs + 1) / 2;
    const float scale = 1.0f / sqrtf((float)hs);
    #pragma omp parallel
    {
        float *dS = scratch + (size_t)omp_get_thread_num() * attention_scratch_floats(T);
        u32 *vt = (u32 *)nn_alloc((size_t)Tp * hq), *kp = (u32 *)nn_alloc((size_t)hp * Tq);
        u32 *qp = (u32 *)nn_alloc((size_t)hp * Tq), *dop = (u32 *)nn_alloc((size_t)hp * Tq);
        u32 *ap = (u32 *)nn_alloc((size_t)MR * (Tq > hq ? Tq : hq));
        #pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++) {
                const float *q = qkv + (size_t)b * T * C3 + h * hs, *k = q + C, *v = q + 2 * C;
                float *dq = dqkv + (size_t)b * T * C3 + h * hs, *dk = dq + C, *dv = dq + 2 * C;
                const float *P = att + ((size_t)b * NH + h) * T * T;
                const float *dO = dout + (size_t)b * T * C + h * hs;
                pack_panels_bf16(vt, 1, v, C3, hs, T);    /* V^T: hs x T */
                pack_panels_bf16(kp, 0, k, C3, T, hs);    /* K:   T x hs */
                pack_panels_bf16(qp, 0, q, C3, T, hs);    /* Q:   T x hs */
                pack_panels_bf16(dop, 0, dO, C, T, hs);   /* dO:  T x hs */
                for (int i0 = 0; i0 < T; i0 += MR) {
                    int mr = T - i0 < MR ? T - i0 : MR, kend = i0 + mr;
                    float *D = dS + (size_t)i0 * T;
                    nn_pack_a_bf16(ap, 0, dO, C, i0, T, 0, hs);
                    for (int p = 0; p * NR < kend; p++)
                        nn_kernel_store_bf16(hq, ap, vt + (size_t)p * NR * hq, D + p * NR, T, 1.0f, mr,
                                             T - p * NR < NR ? T - p * NR : NR);
                    dsoftmax_tile(D, P, T, i0, mr, kend, scale);
                    /* dQ[tile] = dS[tile, 0:kend] K[0:kend] */
                    nn_pack_a_bf16(ap, 0, D, T, 0, mr, 0, kend);
                    for (int p = 0; p * NR < hs; p++)
                        nn_kernel_store_bf16((kend + 1) / 2, ap, kp + (size_t)p * NR * Tq, dq + (size_t)i0 * C3 + p * NR,
                                             C3, 1.0f, mr, hs - p * NR < NR ? hs - p * NR : NR);
                }
                /* key tiles (j0 even: the pairs of Q and dO from query j0 on start at pair j0/2):
                 * dK[tile] = dS[j0:T, tile]^T Q[j0:T];  dV[tile] = P[j0:T, tile]^T dO[j0:T] */
                for (int j0 = 0; j0 < T; j0 += MR) {
                    int mr = T - j0 < MR ? T - j0 : MR, kc = T - j0, kq = (kc + 1) / 2;
                    nn_pack_a_bf16(ap, 1, dS, T, j0, T, j0, kc);
                    for (int p = 0; p * NR < hs; p++)
                        nn_kernel_store_bf16(kq, ap, qp + (size_t)p * NR * Tq + (size_t)(j0 / 2) * NR,
                                             dk + (size_t)j0 * C3 + p * NR, C3, 1.0f, mr, hs - p * NR < NR ? hs - p * NR : NR);
                    nn_pack_a_bf16(ap, 1, P, T, j0, T, j0, kc);
                    for (int p = 0; p * NR < hs; p++)
                        nn_kernel_store_bf16(kq, ap, dop + (size_t)p * NR * Tq + (size_t)(j0 / 2) * NR,
                                             dv + (size_t)j0 * C3 + p * NR, C3, 1.0f, mr, hs - p * NR < NR ? hs - p * NR : NR);
                }
            }
        nn_free((float *)vt); nn_free((float *)kp); nn_free((float *)qp); nn_free((float *)dop); nn_free((float *)ap);
    }
}

void attention_forward_prec(float *out, float *att, const float *qkv, int B, int T, int C, int NH, int prec) {
    if (prec == NN_BF16 && nn_bf16_native()) attention_forward_bf16(out, att, qkv, B, T, C, NH);
    else attention_forward_f32(out, att, qkv, B, T, C, NH);
}
void attention_backward_prec(float *dqkv, const float *dout, const float *qkv, const float *att, float *scratch,
                             int B, int T, int C, int NH, int prec) {
    if (prec == NN_BF16 && nn_bf16_native()) attention_backward_bf16(dqkv, dout, qkv, att, scratch, B, T, C, NH);
    else attention_backward_f32(dqkv, dout, qkv, att, scratch, B, T, C, NH);
}
#undef MR
#undef NR
#else
size_t attention_scratch_floats(int T) { return (size_t)ATT_BQ * (size_t)T; }

void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH) {
    const int hs = C / NH, C3 = 3 * C;
    const float scale = 1.0f / sqrtf((float)hs);
    /* Each (b,h) calls sgemm inside our parallel loop; BLIS then runs single-threaded
     * (nested parallelism is off), which is what we want: the loop is the parallelism. */
    #pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            const float *q = qkv + (size_t)b * T * C3 + h * hs, *k = q + C, *v = q + 2 * C;
            float *A = att + ((size_t)b * NH + h) * T * T;
            float *o = out + (size_t)b * T * C + h * hs;
            for (int q0 = 0; q0 < T; q0 += ATT_BQ) {
                int rows = q0 + ATT_BQ < T ? ATT_BQ : T - q0, kend = q0 + rows;
                float *S = A + (size_t)q0 * T;
                nn_sgemm(0, 1, rows, kend, hs, scale,
                            q + (size_t)q0 * C3, C3, k, C3, 0.0f, S, T);
                for (int r = 0; r < rows; r++) {
                    int t = q0 + r;
                    float *s = S + (size_t)r * T, mx = -INFINITY, sum = 0;
                    for (int j = 0; j <= t; j++) mx = s[j] > mx ? s[j] : mx;
                    #pragma omp simd reduction(+:sum)
                    for (int j = 0; j <= t; j++) { s[j] = fexp(s[j] - mx); sum += s[j]; }
                    float inv = 1.0f / sum;
                    #pragma omp simd
                    for (int j = 0; j <= t; j++) s[j] *= inv;
                    for (int j = t + 1; j < kend; j++) s[j] = 0;
                }
                nn_sgemm(0, 0, rows, hs, kend, 1.0f, S, T,
                            v, C3, 0.0f, o + (size_t)q0 * C, C);
            }
        }
}

void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                        float *scratch, int B, int T, int C, int NH) {
    nn_zero(dqkv, (size_t)B * T * 3 * C);   /* the products below accumulate; the result overwrites */
    const int hs = C / NH, C3 = 3 * C;
    const float scale = 1.0f / sqrtf((float)hs);
    #pragma omp parallel
    {
        float *dS = scratch + (size_t)omp_get_thread_num() * attention_scratch_floats(T);
        #pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++) {
                const float *q = qkv + (size_t)b * T * C3 + h * hs, *k = q + C, *v = q + 2 * C;
                float *dq = dqkv + (size_t)b * T * C3 + h * hs, *dk = dq + C, *dv = dq + 2 * C;
                const float *A = att + ((size_t)b * NH + h) * T * T;
                const float *dO = dout + (size_t)b * T * C + h * hs;
                for (int q0 = 0; q0 < T; q0 += ATT_BQ) {
                    int rows = q0 + ATT_BQ < T ? ATT_BQ : T - q0, kend = q0 + rows;
                    const float *P = A + (size_t)q0 * T;
                    /* dP = dO V^T */
                    nn_sgemm(0, 1, rows, kend, hs, 1.0f,
                                dO + (size_t)q0 * C, C, v, C3, 0.0f, dS, kend);
                    /* dS = P * (dP - sum_j P dP), times the score scale */
                    for (int r = 0; r < rows; r++) {
                        int t = q0 + r;
                        const float *p = P + (size_t)r * T;
                        float *d = dS + (size_t)r * kend, dot = 0;
                        #pragma omp simd reduction(+:dot)
                        for (int j = 0; j <= t; j++) dot += p[j] * d[j];
                        #pragma omp simd
                        for (int j = 0; j <= t; j++) d[j] = p[j] * (d[j] - dot) * scale;
                        for (int j = t + 1; j < kend; j++) d[j] = 0;
                    }
                    /* dQ[block] += dS K;  dK += dS^T Q[block];  dV += P^T dO[block] */
                    nn_sgemm(0, 0, rows, hs, kend, 1.0f, dS, kend,
                                k, C3, 1.0f, dq + (size_t)q0 * C3, C3);
                    nn_sgemm(1, 0, kend, hs, rows, 1.0f, dS, kend,
                                q + (size_t)q0 * C3, C3, 1.0f, dk, C3);
                    nn_sgemm(1, 0, kend, hs, rows, 1.0f, P, T,
                                dO + (size_t)q0 * C, C, 1.0f, dv, C3);
                }
            }
    }
}

void attention_forward_prec(float *out, float *att, const float *qkv, int B, int T, int C, int NH, int prec) {
    (void)prec;   /* BLIS products here: fp32 */
    attention_forward(out, att, qkv, B, T, C, NH);
}
void attention_backward_prec(float *dqkv, const float *dout, const float *qkv, const float *att, float *scratch,
                             int B, int T, int C, int NH, int prec) {
    (void)prec;
    attention_backward(dqkv, dout, qkv, att, scratch, B, T, C, NH);
}
#endif
#ifdef NN_HAVE_KERNEL
void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH) {
    attention_forward_f32(out, att, qkv, B, T, C, NH);
}
void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                        float *scratch, int B, int T, int C, int NH) {
    attention_backward_f32(dqkv, dout, qkv, att, scratch, B, T, C, NH);
}
#endif

/* ---- GELU (tanh approximation) ---- */
#define GELU_K 0.7978845608028654f  /* sqrt(2/pi) */
static inline float ftanh(float x) {
    /* tanh via exp; for |x| tiny use the odd series to keep relative accuracy */
    float ax = fabsf(x);
    float e = fexp(-2.0f * ax);
    float t = (1.0f - e) / (1.0f + e);
    float small = x * (1.0f - x * x * (1.0f / 3.0f));
    float r = x < 0 ? -t : t;
    return ax < 1e-3f ? small : r;
}

/* chunks of 4096 per thread, each a simd loop (gcc does not vectorise `parallel for simd`
 * around an inlined helper here) */
#define CHUNK 4096
void gelu_forward(float *out, const float *inp, size_t n) {
    #pragma omp parallel for schedule(static)
    for (size_t c0 = 0; c0 < n; c0 += CHUNK) {
        size_t c1 = c0 + CHUNK < n ? c0 + CHUNK : n;
        #pragma omp simd
        for (size_t i = c0; i < c1; i++) {
            float x = inp[i];
            float u = GELU_K * (x + 0.044715f * x * x * x);
            out[i] = 0.5f * x * (1.0f + ftanh(u));
        }
    }
}

static inline float gelu_grad(float x) {
    float u = GELU_K * (x + 0.044715f * x * x * x);
    float th = ftanh(u);
    float sech2 = 1.0f - th * th;
    return 0.5f * (1.0f + th) + 0.5f * x * sech2 * GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
}

void gelu_backward(float *dinp, const float *inp, const float *dout, size_t n) {
    #pragma omp parallel for schedule(static)
    for (size_t c0 = 0; c0 < n; c0 += CHUNK) {
        size_t c1 = c0 + CHUNK < n ? c0 + CHUNK : n;
        #pragma omp simd
        for (size_t i = c0; i < c1; i++) dinp[i] += gelu_grad(inp[i]) * dout[i];
    }
}

void gelu_backward_set(float *dinp, const float *inp, const float *dout, size_t n) {
    #pragma omp parallel for schedule(static)
    for (size_t c0 = 0; c0 < n; c0 += CHUNK) {
        size_t c1 = c0 + CHUNK < n ? c0 + CHUNK : n;
        #pragma omp simd
        for (size_t i = c0; i < c1; i++) dinp[i] = gelu_grad(inp[i]) * dout[i];
    }
}

/* ---- GELU, exact form x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)) (PyTorch's default) ----
 * erf by Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7, below the fp32 rounding of the
 * 1 + erf that uses it) on the vectorised exp: libm's erff is scalar and cost ~10% of a
 * linear-attention training step. */
static inline float ferf(float x) {
    float ax = fabsf(x), t = 1.0f / (1.0f + 0.3275911f * ax);
    float p = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
    float y = 1.0f - p * fexp(-ax * ax);
    return x < 0 ? -y : y;
}
void gelu_erf_forward(float *out, const float *inp, size_t n) {
    #pragma omp parallel for schedule(static) if (n > CHUNK)
    for (size_t c0 = 0; c0 < n; c0 += CHUNK) {
        size_t c1 = c0 + CHUNK < n ? c0 + CHUNK : n;
        #pragma omp simd
        for (size_t i = c0; i < c1; i++) out[i] = 0.5f * inp[i] * (1.0f + ferf(inp[i] * 0.70710678118654752f));
    }
}
/* gelu'(x) = Phi(x) + x phi(x), phi the standard normal density */
void gelu_erf_backward_set(float *dinp, const float *inp, const float *dout, size_t n) {
    #pragma omp parallel for schedule(static) if (n > CHUNK)
    for (size_t c0 = 0; c0 < n; c0 += CHUNK) {
        size_t c1 = c0 + CHUNK < n ? c0 + CHUNK : n;
        #pragma omp simd
        for (size_t i = c0; i < c1; i++) {
            float x = inp[i];
            float g = 0.5f * (1.0f + ferf(x * 0.70710678118654752f)) + x * 0.39894228040143268f * fexp(-0.5f * x * x);
            dinp[i] = g * dout[i];
        }
    }
}

/* ---- residual ---- */
void residual_forward(float *out, const float *a, const float *b, size_t n) {
    #pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}
void residual_backward(float *da, float *db, const float *dout, size_t n) {
    #pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) { da[i] += dout[i]; db[i] += dout[i]; }
}

/* ---- dropout ---- */
static inline int drop_keep(uint64_t seed, size_t i, float p) {
    uint64_t s = seed ^ ((uint64_t)i * 0xD1B54A32D192ED03ull);
    return rng_uniform(&s) >= p;
}
void dropout_forward(float *out, const float *inp, float p, uint64_t seed, size_t n) {
    if (p <= 0) { if (out != inp) memcpy(out, inp, n * sizeof(float)); return; }
    float k = 1.0f / (1.0f - p);
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = drop_keep(seed, i, p) ? inp[i] * k : 0.0f;
}
void dropout_backward(float *dinp, const float *dout, float p, uint64_t seed, size_t n) {
    float k = p > 0 ? 1.0f / (1.0f - p) : 1.0f;
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) dinp[i] += (p <= 0 || drop_keep(seed, i, p)) ? dout[i] * k : 0.0f;
}

/* ---- softmax cross-entropy ---- */
void softmax_row(float *out, const float *in, int n) {
    float mx = -INFINITY, sum = 0;
    for (int j = 0; j < n; j++) mx = in[j] > mx ? in[j] : mx;
    for (int j = 0; j < n; j++) { out[j] = expf(in[j] - mx); sum += out[j]; }
    for (int j = 0; j < n; j++) out[j] /= sum;
}

int crossentropy_forward(float *losses, float *dlogits, const float *logits, const int *tgt,
                         int N, int V, float scale) {
    int count = 0;
    #pragma omp parallel for schedule(static) reduction(+:count)
    for (int i = 0; i < N; i++) {
        const float *l = logits + (size_t)i * V;
        float *d = dlogits ? dlogits + (size_t)i * V : NULL;
        int y = tgt[i];
        if (y < 0 || y >= V) {
            losses[i] = 0;
            if (d) memset(d, 0, (size_t)V * sizeof(float));
            continue;
        }
        count++;
        float mx = -INFINITY;
        for (int j = 0; j < V; j++) mx = l[j] > mx ? l[j] : mx;
        float sum = 0;
        #pragma omp simd reduction(+:sum)
        for (int j = 0; j < V; j++) sum += fexp(l[j] - mx);
        losses[i] = mx + logf(sum) - l[y];
        if (d) {
            float k = scale / sum;
            #pragma omp simd
            for (int j = 0; j < V; j++) d[j] = fexp(l[j] - mx) * k;
            d[y] -= scale;
        }
    }
    return count;
}

/* ---- optimizer ---- */
void adamw_update(float *p, const float *g, float *m, float *v, size_t n, const adamw_params *h,
                  int t, int decay) {
    const float b1 = h->beta1, b2 = h->beta2, lr = h->lr, eps = h->eps;
    const float bc1 = 1.0f - powf(b1, (float)t), bc2 = 1.0f - powf(b2, (float)t);
    const float step = lr / bc1, rbc2 = 1.0f / sqrtf(bc2);
    const float wd = decay ? lr * h->weight_decay : 0.0f;
    const size_t chunk = 4096;
    #pragma omp parallel for schedule(static)
    for (size_t c0 = 0; c0 < n; c0 += chunk) {
        size_t i = c0, c1 = c0 + chunk < n ? c0 + chunk : n;
#ifdef __AVX512F__
        /* 16 at a time: the compiler keeps sqrtf scalar (errno), which made AdamW ~4x slower.
         * The same operations in the same order as the scalar loop, so the same bits. */
        const __m512 vb1 = _mm512_set1_ps(b1), vb2 = _mm512_set1_ps(b2), v1b1 = _mm512_set1_ps(1.0f - b1),
                     v1b2 = _mm512_set1_ps(1.0f - b2), vwd = _mm512_set1_ps(wd), vstep = _mm512_set1_ps(step),
                     vrbc2 = _mm512_set1_ps(rbc2), veps = _mm512_set1_ps(eps);
        for (; i + 16 <= c1; i += 16) {
            __m512 gi = _mm512_loadu_ps(g + i), pv = _mm512_loadu_ps(p + i);
            __m512 mi = _mm512_add_ps(_mm512_mul_ps(vb1, _mm512_loadu_ps(m + i)), _mm512_mul_ps(v1b1, gi));
            __m512 vi = _mm512_add_ps(_mm512_mul_ps(vb2, _mm512_loadu_ps(v + i)), _mm512_mul_ps(_mm512_mul_ps(v1b2, gi), gi));
            _mm512_storeu_ps(m + i, mi);
            _mm512_storeu_ps(v + i, vi);
            __m512 pi = _mm512_sub_ps(pv, _mm512_mul_ps(vwd, pv));
            __m512 den = _mm512_add_ps(_mm512_mul_ps(_mm512_sqrt_ps(vi), vrbc2), veps);
            _mm512_storeu_ps(p + i, _mm512_sub_ps(pi, _mm512_div_ps(_mm512_mul_ps(vstep, mi), den)));
        }
#endif
        for (; i < c1; i++) {
            float gi = g[i];
            float mi = b1 * m[i] + (1.0f - b1) * gi;
            float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
            m[i] = mi; v[i] = vi;
            float pi = p[i] - wd * p[i];
            p[i] = pi - step * mi / (sqrtf(vi) * rbc2 + eps);
        }
    }
}

float lr_schedule(int step, float lr, int warmup, int total, float min_frac) {
    if (warmup > 0 && step < warmup) return lr * (float)(step + 1) / (float)warmup;
    if (total <= warmup) return lr;
    double prog = (double)(step - warmup) / (double)(total - warmup);
    if (prog > 1) prog = 1;
    double c = 0.5 * (1.0 + cos(3.141592653589793 * prog));
    return (float)(lr * (min_frac + (1.0 - min_frac) * c));
}

#define NORM_CHUNK 65536
double global_norm(const float *g, size_t n) {
    size_t nch = (n + NORM_CHUNK - 1) / NORM_CHUNK;
    double *part = malloc((nch ? nch : 1) * sizeof(double));
    if (!part) return NAN;
    #pragma omp parallel for schedule(static)
    for (size_t c = 0; c < nch; c++) {
        size_t a = c * NORM_CHUNK, e = a + NORM_CHUNK < n ? a + NORM_CHUNK : n;
        double s = 0;
        for (size_t i = a; i < e; i++) s += (double)g[i] * g[i];
        part[c] = s;
    }
    double s = 0;
    for (size_t c = 0; c < nch; c++) s += part[c];
    free(part);
    return sqrt(s);
}

void nn_scale(float *p, size_t n, float k) {
    #pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) p[i] *= k;
}

double clip_grad_norm(float *g, size_t n, double max_norm) {
    double norm = global_norm(g, n);
    if (max_norm > 0 && norm > max_norm) nn_scale(g, n, (float)(max_norm / (norm + 1e-6)));
    return norm;
}

void attention_step(float *out, const float *q, int q_stride, const float *K, const float *V, int kv_stride,
                    int B, int NH, int KVH, int hs, int pos, int Tm, float *scores) {
    const int G = NH / KVH, C = NH * hs;
    const float scale = 1.0f / sqrtf((float)hs);
    #pragma omp parallel for collapse(2) schedule(static) if (B * NH * (pos + 1) > 4096)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            const int kh = h / G;
            const float *qh = q + (size_t)b * q_stride + h * hs;
            float *s = scores + ((size_t)b * NH + h) * Tm, mx = -INFINITY, sum = 0;
            for (int j = 0; j <= pos; j++) {
                const float *k = K + ((size_t)b * Tm + j) * kv_stride + kh * hs;
                float d = 0;
                #pragma omp simd reduction(+:d)
                for (int i = 0; i < hs; i++) d += qh[i] * k[i];
                s[j] = d * scale;
                mx = s[j] > mx ? s[j] : mx;
            }
            for (int j = 0; j <= pos; j++) { s[j] = nn_expf(s[j] - mx); sum += s[j]; }
            float *o = out + (size_t)b * C + h * hs;
            for (int i = 0; i < hs; i++) o[i] = 0;
            for (int j = 0; j <= pos; j++) {
                const float *v = V + ((size_t)b * Tm + j) * kv_stride + kh * hs;
                float w = s[j] / sum;
                #pragma omp simd
                for (int i = 0; i < hs; i++) o[i] += w * v[i];
            }
        }
}
