/* Causal linear attention: chunked forward and backward, recurrent step, feature map
 * (linattn.h says what is computed).
 *
 * Backward, derived from out_i = num_i / den_i with num_i = S_i^T fq_i, den_i = fq_i . z_i + eps:
 *   dnum_i = g_i / den_i,  dden_i = -(g_i . out_i) / den_i          (g = dout)
 *   d fq_i = S_i dnum_i + z_i dden_i                                (needs the states up to i)
 *   d fk_j = R_j v_j + r_j,  dv_j = R_j^T fk_j                      (needs the sums from j on)
 *   with R_j = sum_{i>=j} fq_i dnum_i^T, r_j = sum_{i>=j} fq_i dden_i.
 * So one forward sweep over the chunks gives d fq and one reverse sweep gives d fk and dv; in
 * each chunk the within-chunk part is the lower-triangular D_ls = dnum_l . v_s + dden_l (and
 * A_ls = fq_l . fk_s), the rest comes through the carried (S, z) or (R, r).
 *
 * The chunked scan of the Mamba-2 issue (SSD) would compute the numerator with all decays 1 and
 * the denominator as a second scan of width 1; here the decays are gone, so this kernel skips
 * the exponentials and gets the denominator in the same pass as the numerator (fq_i . z_i with
 * z summed row by row, as the recurrent step does). */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wpass-failed"
#endif
#include "nn/linattn.h"
#include "nn/nn.h"
#include "nn/gemm.h"
#include "nn/rope.h"
#include "nn/fexp.h"
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

static inline float dot(const float *a, const float *b, int n) {
    float s = 0;
    #pragma omp simd reduction(+:s)
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}
/* y += a x */
static inline void axpy(float *y, float a, const float *x, int n) {
    #pragma omp simd
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

/* ---- the chunk products ----
 * C (n x m) = or += op(A) op(B), all small (chunk x chunk x hs, hs x hs x chunk). With AVX-512
 * and fp32 they run on a register tile that reads A in place (element (i, k) broadcast from
 * A[i*ar + k*ak], any strides: a transposed operand costs nothing) and B as rows of contiguous
 * columns (B row k at B + k*ldb): no packing, no allocation; a transposed B (a chunk of keys or
 * values, a state) is first transposed once into the task's scratch (nn_transpose). `tri`
 * skips what the causal mask makes zero: TRI_LOWER, A's row i is zero past column i (the
 * masked A or D): k < the block's last row + 1; TRI_UPPER, A's row i is zero before column i
 * (their transposes): k >= the block's first row; TRI_COLS, only columns j <= i are wanted
 * (the caller zeroes the rest). Skipped terms are exact zeros, so the numbers do not change.
 * Otherwise (bf16, or no AVX-512) nn_gemm computes the full product. */
enum { TRI_FULL, TRI_LOWER, TRI_UPPER, TRI_COLS };

typedef struct {
    int prec;
    float *bt;   /* transposed B: up to max(hs, chunk) rows of up to round16(max(hs, chunk)) */
} mm_ctx;

#ifdef NN_HAVE_KERNEL
#define MM_RB_MAX 12
/* rows i0.. (nr of them, nr <= rb) x nv vectors of 16 columns (the last masked by tail) */
static inline __attribute__((always_inline)) void mm_tile(float *C, size_t ldc, const float *A, size_t ar, size_t ak,
                                                          const float *B, size_t ldb, int nr, int k0, int k1, int nv,
                                                          __mmask16 tail, int acc, int rb) {
    __m512 c[MM_RB_MAX][4];
    const float *a[MM_RB_MAX];
    #pragma GCC unroll 12
    for (int r = 0; r < rb; r++) {
        a[r] = A + (size_t)(r < nr ? r : nr - 1) * ar;   /* rows past nr repeat the last (not stored) */
        #pragma GCC unroll 4
        for (int u = 0; u < nv; u++) c[r][u] = _mm512_setzero_ps();
    }
    for (int k = k0; k < k1; k++) {
        __m512 b[4];
        const float *bk = B + (size_t)k * ldb;
        const size_t ko = (size_t)k * ak;
        #pragma GCC unroll 4
        for (int u = 0; u < nv; u++) b[u] = _mm512_maskz_loadu_ps(u == nv - 1 ? tail : 0xffff, bk + 16 * u);
        #pragma GCC unroll 12
        for (int r = 0; r < rb; r++) {
            __m512 x = _mm512_set1_ps(a[r][ko]);
            #pragma GCC unroll 4
            for (int u = 0; u < nv; u++) c[r][u] = _mm512_fmadd_ps(x, b[u], c[r][u]);
        }
    }
    #pragma GCC unroll 12
    for (int r = 0; r < rb; r++) {
        if (r >= nr) break;
        float *cr = C + (size_t)r * ldc;
        #pragma GCC unroll 4
        for (int u = 0; u < nv; u++) {
            __mmask16 mk = u == nv - 1 ? tail : 0xffff;
            __m512 v = c[r][u];
            if (acc) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mk, cr + 16 * u));
            _mm512_mask_storeu_ps(cr + 16 * u, mk, v);
        }
    }
}

/* C (M x N, ldc) = or += A (element (i, k) at A[i*ar + k*ak]) B (row k at B + k*ldb), K terms */
static void small_mm(float *C, size_t ldc, const float *A, size_t ar, size_t ak, const float *B, size_t ldb, int M,
                     int N, int K, int tri, int acc) {
    static const int rbs[5] = { 0, 12, 12, 8, 6 };   /* rows per tile: <= 24 accumulators */
    for (int j0 = 0; j0 < N; j0 += 64) {
        const int nfull = N - j0 < 64 ? N - j0 : 64, rb = tri == TRI_COLS ? 6 : rbs[(nfull + 15) / 16];
        for (int i0 = 0; i0 < M; i0 += rb) {
            const int nr = M - i0 < rb ? M - i0 : rb;
            int nn = nfull;
            if (tri == TRI_COLS) {   /* columns up to the block's last row */
                const int lim = i0 + nr - j0;
                if (lim <= 0) continue;
                if (lim < nn) nn = lim;
            }
            const int nv = (nn + 15) / 16, rest = nn - 16 * (nv - 1);
            const __mmask16 tail = (__mmask16)(rest >= 16 ? 0xffff : (1u << rest) - 1);
            int k0 = 0, k1 = K;
            if (tri == TRI_LOWER && i0 + nr < K) k1 = i0 + nr;
            if (tri == TRI_UPPER) k0 = i0;
            float *c = C + (size_t)i0 * ldc + j0;
            const float *a = A + (size_t)i0 * ar, *b = B + j0;
            if (rb == 6) switch (nv) {
                case 1: mm_tile(c, ldc, a, ar, ak, b, ldb, nr, k0, k1, 1, tail, acc, 6); break;
                case 2: mm_tile(c, ldc, a, ar, ak, b, ldb, nr, k0, k1, 2, tail, acc, 6); break;
                case 3: mm_tile(c, ldc, a, ar, ak, b, ldb, nr, k0, k1, 3, tail, acc, 6); break;
                default: mm_tile(c, ldc, a, ar, ak, b, ldb, nr, k0, k1, 4, tail, acc, 6); break;
                }
            else switch (nv) {
                case 1: mm_tile(c, ldc, a, ar, ak, b, ldb, nr, k0, k1, 1, tail, acc, 12); break;
                case 2: mm_tile(c, ldc, a, ar, ak, b, ldb, nr, k0, k1, 2, tail, acc, 12); break;
                default: mm_tile(c, ldc, a, ar, ak, b, ldb, nr, k0, k1, 3, tail, acc, 8); break;
                }
        }
    }
}
#endif

/* C (M x N) = (acc 0) or += (acc 1) op(A) op(B); op(X) = X (ta/tb 0) or X^T (row-major, ld*) */
static void mm(const mm_ctx *x, int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
               int acc, float *C, int ldc, int tri) {
#ifdef NN_HAVE_KERNEL
    if (x->prec != NN_BF16) {
        if (tb) {   /* B is N x K: its transpose, K x N, into the scratch */
            const int ldt = (N + 15) / 16 * 16;
            nn_transpose(x->bt, ldt, B, (size_t)ldb, N, K);
            B = x->bt; ldb = ldt;
        }
        small_mm(C, (size_t)ldc, A, ta ? 1 : (size_t)lda, ta ? (size_t)lda : 1, B, (size_t)ldb, M, N, K, tri, acc);
        return;
    }
#endif
    (void)tri;
    nn_gemm(x->prec, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, acc ? 1.0f : 0.0f, C, ldc);
}

/* z += the column sums of the n rows of x (stride ld) */
static void colsum_add(float *z, const float *x, int ld, int n, int hs) {
    for (int s = 0; s < n; s++) axpy(z, 1.0f, x + (size_t)s * ld, hs);
}
/* zero the strict upper triangle of the n x n matrix M (row stride Q) */
static void mask_upper(float *M, int n, int Q) {
    for (int l = 0; l < n; l++) memset(M + (size_t)l * Q + l + 1, 0, (size_t)(n - l - 1) * sizeof(float));
}

/* Scratch of one (b, h) task: a state (hs*hs), a vector (hs), A and D (Q*Q), dnum (Q*hs), dden
 * (Q), a transposed operand (max(hs, Q) x round16(max(hs, Q))). */
static float *task_scratch(int hs, int Q, mm_ctx *x) {
    const size_t w = (size_t)(hs > Q ? hs : Q), w16 = (w + 15) / 16 * 16;
    float *p = malloc(((size_t)hs * hs + hs + 2 * (size_t)Q * Q + (size_t)Q * hs + Q + w * w16) * sizeof(float));
    if (p) x->bt = p + (size_t)hs * hs + hs + 2 * (size_t)Q * Q + (size_t)Q * hs + Q;
    return p;
}

void linattn_forward(float *out, float *den, const float *qkv, int B, int T, int C, int NH, int chunk, int prec) {
    const int hs = C / NH, ld = 3 * C, Q = chunk < 1 ? 1 : (chunk > T ? T : chunk);
    #pragma omp parallel
    {
        mm_ctx x = { prec, NULL };
        float *S = task_scratch(hs, Q, &x), *z = S + (size_t)hs * hs, *A = z + hs;
        #pragma omp for schedule(static)
        for (int bh = 0; bh < B * NH; bh++) {
            const int b = bh / NH, h = bh % NH;
            const float *base = qkv + (size_t)b * T * ld + (size_t)h * hs;   /* fq of row 0 */
            memset(S, 0, ((size_t)hs * hs + hs) * sizeof(float));
            for (int c0 = 0; c0 < T; c0 += Q) {
                const int n = T - c0 < Q ? T - c0 : Q;
                const float *fq = base + (size_t)c0 * ld, *fk = fq + C, *v = fq + 2 * C;
                float *o = out + ((size_t)b * T + c0) * C + (size_t)h * hs;
                mm(&x, 0, 1, n, n, hs, fq, ld, fk, ld, 0, A, Q, TRI_COLS);      /* A = fq fk^T, lower part used */
                mask_upper(A, n, Q);
                mm(&x, 0, 0, n, hs, hs, fq, ld, S, hs, 0, o, C, TRI_FULL);      /* num = fq S (earlier chunks) */
                mm(&x, 0, 0, n, hs, n, A, Q, v, ld, 1, o, C, TRI_LOWER);        /*     + A v (this chunk)     */
                for (int l = 0; l < n; l++) {   /* den = fq . z with z summed up to this row */
                    axpy(z, 1.0f, fk + (size_t)l * ld, hs);
                    float d = dot(fq + (size_t)l * ld, z, hs) + LINATTN_EPS, *ol = o + (size_t)l * C;
                    den[((size_t)b * T + c0 + l) * NH + h] = d;
                    const float inv = 1.0f / d;
                    #pragma omp simd
                    for (int m = 0; m < hs; m++) ol[m] *= inv;
                }
                mm(&x, 1, 0, hs, hs, n, fk, ld, v, ld, 1, S, hs, TRI_FULL);     /* S += fk^T v */
            }
        }
        free(S);
    }
}

/* dnum (n x hs) and dden (n) of rows c0.. of sequence b, head h */
static void dnum_dden(float *dn, float *dd, const float *dout, const float *out, const float *den, int b, int T,
                      int C, int NH, int h, int c0, int n) {
    const int hs = C / NH;
    for (int l = 0; l < n; l++) {
        size_t row = (size_t)b * T + c0 + l;
        const float *g = dout + row * C + (size_t)h * hs, *o = out + row * C + (size_t)h * hs;
        const float inv = 1.0f / den[row * NH + h];
        for (int m = 0; m < hs; m++) dn[(size_t)l * hs + m] = g[m] * inv;
        dd[l] = -dot(g, o, hs) * inv;
    }
}
/* D = dnum v^T + dden (row l) on and below the diagonal, 0 above */
static void d_matrix(const mm_ctx *x, float *D, const float *dn, const float *dd, const float *v, int ld, int n, int hs,
                     int Q) {
    mm(x, 0, 1, n, n, hs, dn, hs, v, ld, 0, D, Q, TRI_COLS);
    for (int l = 0; l < n; l++) {
        float *Dl = D + (size_t)l * Q;
        const float a = dd[l];
        #pragma omp simd
        for (int s = 0; s <= l; s++) Dl[s] += a;
    }
    mask_upper(D, n, Q);
}

void linattn_backward(float *dqkv, const float *dout, const float *qkv, const float *out, const float *den, int B,
                      int T, int C, int NH, int chunk, int prec) {
    const int hs = C / NH, ld = 3 * C, Q = chunk < 1 ? 1 : (chunk > T ? T : chunk);
    #pragma omp parallel
    {
        mm_ctx x = { prec, NULL };
        float *S = task_scratch(hs, Q, &x), *z = S + (size_t)hs * hs, *A = z + hs, *D = A + (size_t)Q * Q;
        float *dn = D + (size_t)Q * Q, *dd = dn + (size_t)Q * hs;
        #pragma omp for schedule(static)
        for (int bh = 0; bh < B * NH; bh++) {
            const int b = bh / NH, h = bh % NH;
            const size_t off = (size_t)b * T * ld + (size_t)h * hs;
            const float *base = qkv + off;
            float *dbase = dqkv + off;
            /* forward sweep: d fq = dnum S^T + dden z^T (state before the chunk) + D fk (in-chunk) */
            memset(S, 0, ((size_t)hs * hs + hs) * sizeof(float));
            for (int c0 = 0; c0 < T; c0 += Q) {
                const int n = T - c0 < Q ? T - c0 : Q;
                const float *fk = base + (size_t)c0 * ld + C, *v = fk + C;
                float *dq = dbase + (size_t)c0 * ld;
                dnum_dden(dn, dd, dout, out, den, b, T, C, NH, h, c0, n);
                d_matrix(&x, D, dn, dd, v, ld, n, hs, Q);
                mm(&x, 0, 1, n, hs, hs, dn, hs, S, hs, 0, dq, ld, TRI_FULL);
                for (int l = 0; l < n; l++) axpy(dq + (size_t)l * ld, dd[l], z, hs);
                mm(&x, 0, 0, n, hs, n, D, Q, fk, ld, 1, dq, ld, TRI_LOWER);
                mm(&x, 1, 0, hs, hs, n, fk, ld, v, ld, 1, S, hs, TRI_FULL);
                colsum_add(z, fk, ld, n, hs);
            }
            /* reverse sweep: R = sum over later rows of fq dnum^T, r = sum of fq dden:
             * d fk = v R^T + r + D^T fq, dv = fk R + A^T dnum */
            float *R = S, *r = z;
            memset(R, 0, ((size_t)hs * hs + hs) * sizeof(float));
            const int last = (T - 1) / Q * Q;
            for (int c0 = last; c0 >= 0; c0 -= Q) {
                const int n = T - c0 < Q ? T - c0 : Q;
                const float *fq = base + (size_t)c0 * ld, *fk = fq + C, *v = fq + 2 * C;
                float *dk = dbase + (size_t)c0 * ld + C, *dv = dk + C;
                dnum_dden(dn, dd, dout, out, den, b, T, C, NH, h, c0, n);
                mm(&x, 0, 1, n, n, hs, fq, ld, fk, ld, 0, A, Q, TRI_COLS);
                mask_upper(A, n, Q);
                d_matrix(&x, D, dn, dd, v, ld, n, hs, Q);
                mm(&x, 0, 1, n, hs, hs, v, ld, R, hs, 0, dk, ld, TRI_FULL);
                for (int s = 0; s < n; s++) axpy(dk + (size_t)s * ld, 1.0f, r, hs);
                mm(&x, 1, 0, n, hs, n, D, Q, fq, ld, 1, dk, ld, TRI_UPPER);
                mm(&x, 0, 0, n, hs, hs, fk, ld, R, hs, 0, dv, ld, TRI_FULL);
                mm(&x, 1, 0, n, hs, n, A, Q, dn, hs, 1, dv, ld, TRI_UPPER);
                mm(&x, 1, 0, hs, hs, n, fq, ld, dn, hs, 1, R, hs, TRI_FULL);
                for (int l = 0; l < n; l++) axpy(r, dd[l], fq + (size_t)l * ld, hs);
            }
        }
        free(S);
    }
}

void linattn_step(float *out, float *state, const float *fq, const float *fk, const float *v, int NH, int hs) {
    for (int h = 0; h < NH; h++) {
        float *S = state + (size_t)h * ((size_t)hs * hs + hs), *z = S + (size_t)hs * hs, *o = out + (size_t)h * hs;
        const float *q = fq + (size_t)h * hs, *k = fk + (size_t)h * hs, *vv = v + (size_t)h * hs;
        for (int e = 0; e < hs; e++) { z[e] += k[e]; axpy(S + (size_t)e * hs, k[e], vv, hs); }
        const float inv = 1.0f / (dot(q, z, hs) + LINATTN_EPS);
        memset(o, 0, (size_t)hs * sizeof(float));
        for (int e = 0; e < hs; e++) axpy(o, q[e], S + (size_t)e * hs, hs);
        for (int m = 0; m < hs; m++) o[m] *= inv;
    }
}

static inline void phi_row(float *p, int width) {
    #pragma omp simd
    for (int i = 0; i < width; i++) p[i] = p[i] > 0 ? p[i] + 1.0f : nn_fexp(p[i]);
}
static inline void phi_backward_row(float *g, const float *p, int width) {
    #pragma omp simd
    for (int i = 0; i < width; i++) g[i] *= p[i] > 1.0f ? 1.0f : p[i];
}

void linattn_rope_phi(float *qkv, int N, int T, int C, int NH, const float *cs) {
    const int hs = C / NH;
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *p = qkv + (size_t)n * 3 * C;
        rope_row(p, 2 * NH, hs, cs + (size_t)(n % T) * hs, ROPE_INTERLEAVED, 0);
        phi_row(p, 2 * C);
    }
}

void linattn_rope_phi_backward(float *d, const float *f, int N, int T, int C, int NH, const float *cs) {
    const int hs = C / NH;
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *g = d + (size_t)n * 3 * C;
        phi_backward_row(g, f + (size_t)n * 3 * C, 2 * C);
        rope_row(g, 2 * NH, hs, cs + (size_t)(n % T) * hs, ROPE_INTERLEAVED, 1);
    }
}

void linattn_phi(float *x, int N, int width, int ld) {
    #pragma omp parallel for schedule(static) if (N > 1)
    for (int n = 0; n < N; n++) {
        float *p = x + (size_t)n * ld;
        #pragma omp simd
        for (int i = 0; i < width; i++) p[i] = p[i] > 0 ? p[i] + 1.0f : nn_fexp(p[i]);
    }
}

void linattn_phi_backward(float *d, const float *f, int N, int width, int ld) {
    #pragma omp parallel for schedule(static) if (N > 1)
    for (int n = 0; n < N; n++) {
        float *g = d + (size_t)n * ld;
        const float *p = f + (size_t)n * ld;
        #pragma omp simd
        for (int i = 0; i < width; i++) g[i] *= p[i] > 1.0f ? 1.0f : p[i];
    }
}
