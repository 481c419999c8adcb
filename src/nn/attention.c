/* Causal self-attention: see attention.h. */
#ifdef __clang__
/* `omp simd` asks for vectorisation; at -O1 (sanitizer build) clang cannot and would warn */
#pragma clang diagnostic ignored "-Wpass-failed"
#endif
#include "nn/attention.h"
#include "nn/fexp.h"
#include "nn/gemm.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include <immintrin.h>

#define ATT_BQ 64   /* query block of the attention: scores are (BQ x keys so far) */
static inline float fexp(float x) { return nn_fexp(x); }

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

/* ---- one query against a cache (generation) ---- */
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
