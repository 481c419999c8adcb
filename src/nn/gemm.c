/* Single-precision matrix product, row-major: C = alpha * op(A) op(B) + beta * C.
 *
 * Why our own: the Debian BLIS (0.9) does not recognise this CPU (AMD family 26, Zen 5) and
 * falls back to its portable "generic" kernels (~20 GFLOP/s per core); an AVX-512 micro-kernel
 * with packed panels runs several times faster. Where AVX-512 is not compiled in, or for
 * tiny products, BLIS is called instead (same semantics).
 *
 * Method (the BLIS/GotoBLAS scheme, simplified): for each K block of KC, pack op(B) into
 * column panels of NR = 32 (k-major, zero-padded), then, in parallel over row blocks of MR,
 * pack MR rows of op(A) (k-major) and run an MR x NR register-tile kernel along every panel.
 * Threads own disjoint rows of C, so results do not depend on the schedule. */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wpass-failed"
#endif
#include "nn/nn.h"
#include "nn/gemm.h"
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

/* 14 x 32 tile: 28 accumulators + 2 B vectors + 1 broadcast = 31 of the 32 zmm registers */
#define MR NN_MR
#define NR NN_NR
#define KC 512   /* 14 x 512 floats of A (28 KB) stay in L1 while a panel of B streams */

/* C = beta * C, or each row = bias when bias is not NULL */
static void scale_c(float *C, int ldc, int M, int N, float beta, const float *bias) {
    #pragma omp parallel for schedule(static) if ((double)M * N > 65536)
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * ldc;
        if (bias) memcpy(c, bias, (size_t)N * sizeof(float));
        else if (beta == 0.0f) memset(c, 0, (size_t)N * sizeof(float));
        else for (int j = 0; j < N; j++) c[j] *= beta;
    }
}

#ifdef __AVX512F__
/* In-register transpose of a 16 x 16 block: v[r] holds row r on entry, column r on exit
 * (unpack pairs, then pairs of pairs, then 128-bit lanes twice). */
static inline void transpose16(__m512 v[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
        __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
        v[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        v[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        v[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        v[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (int i = 0; i < 2; i++)
        for (int m = 0; m < 4; m++) {
            t[8 * i + m] = _mm512_shuffle_f32x4(v[8 * i + m], v[8 * i + 4 + m], 0x88);
            t[8 * i + 4 + m] = _mm512_shuffle_f32x4(v[8 * i + m], v[8 * i + 4 + m], 0xdd);
        }
    for (int m = 0; m < 8; m++) {
        v[m] = _mm512_shuffle_f32x4(t[m], t[8 + m], 0x88);
        v[8 + m] = _mm512_shuffle_f32x4(t[m], t[8 + m], 0xdd);
    }
}

static inline __mmask16 mask_n(int n) { return (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1); }

/* dst[k*ldd + r] = src[r*lds + k] for k < kc, r < width (<= 16); rows r >= nrows are zero.
 * Packing a row-major operand into k-major panels is a transpose; done 16 x 16 in registers
 * it costs a fraction of a cycle per float (scalar, it cost ~10% of a training step). */
static void pack_transposed(float *dst, int ldd, int width, const float *src, size_t lds, int nrows, int kc) {
    const __mmask16 wm = mask_n(width);
    if (nrows > 16) nrows = 16;
    for (int k0 = 0; k0 < kc; k0 += 16) {
        int nk = kc - k0 < 16 ? kc - k0 : 16;
        __mmask16 km = mask_n(nk);
        __m512 v[16];
        for (int r = 0; r < 16; r++)
            v[r] = r < nrows ? _mm512_maskz_loadu_ps(km, src + r * lds + k0) : _mm512_setzero_ps();
        transpose16(v);
        for (int k = 0; k < nk; k++) _mm512_mask_storeu_ps(dst + (size_t)(k0 + k) * ldd, wm, v[k]);
    }
}

/* op(B)[k0:k0+kc, j0:j0+NR] -> bp[k*NR + jj], zero beyond N */
void nn_pack_b(float *bp, int transB, const float *B, int ldb, int k0, int kc, int j0, int N) {
    int nr = N - j0 < NR ? N - j0 : NR;
    if (!transB) {   /* B is K x N: rows are contiguous */
        for (int k = 0; k < kc; k++) {
            const float *src = B + (size_t)(k0 + k) * ldb + j0;
            float *dst = bp + (size_t)k * NR;
            if (nr == NR) {
                _mm512_store_ps(dst, _mm512_loadu_ps(src));
                _mm512_store_ps(dst + 16, _mm512_loadu_ps(src + 16));
            } else {
                _mm512_store_ps(dst, _mm512_maskz_loadu_ps(mask_n(nr), src));
                _mm512_store_ps(dst + 16, _mm512_maskz_loadu_ps(mask_n(nr - 16 > 0 ? nr - 16 : 0), src + 16));
            }
        }
    } else {         /* B is N x K: op(B)[k][j] = B[j][k], two 16-column halves */
        for (int h = 0; h < NR; h += 16) {
            int rows = nr - h < 0 ? 0 : nr - h;
            pack_transposed(bp + h, NR, 16, B + (size_t)(j0 + (rows ? h : 0)) * ldb + k0, (size_t)ldb, rows, kc);
        }
    }
}

/* op(A)[i0:i0+MR, k0:k0+kc] -> ap[k*MR + r], zero beyond M */
void nn_pack_a(float *ap, int transA, const float *A, int lda, int i0, int M, int k0, int kc) {
    int mr = M - i0 < MR ? M - i0 : MR;
    if (transA) {    /* A is K x M: op(A)[r][k] = A[k][r], MR contiguous floats per k */
        __mmask16 lm = mask_n(mr), sm = mask_n(MR);
        for (int k = 0; k < kc; k++)
            _mm512_mask_storeu_ps(ap + (size_t)k * MR, sm, _mm512_maskz_loadu_ps(lm, A + (size_t)(k0 + k) * lda + i0));
    } else
        pack_transposed(ap, MR, MR, A + (size_t)i0 * lda + k0, (size_t)lda, mr, kc);
}

/* C[0:mr, 0:nr] += alpha * ap (MR x kc) . bp (kc x NR) */
void nn_kernel(int kc, const float *ap, const float *bp, float *C, int ldc, float alpha, int mr, int nr) {
    __m512 c0[MR], c1[MR];
    for (int r = 0; r < MR; r++) { c0[r] = _mm512_setzero_ps(); c1[r] = _mm512_setzero_ps(); }
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16);
        for (int r = 0; r < MR; r++) {
            __m512 a = _mm512_set1_ps(ap[r]);
            c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);
            c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);
        }
        ap += MR; bp += NR;
    }
    __m512 al = _mm512_set1_ps(alpha);
    if (nr == NR) {
        for (int r = 0; r < mr; r++) {
            float *c = C + (size_t)r * ldc;
            _mm512_storeu_ps(c, _mm512_fmadd_ps(al, c0[r], _mm512_loadu_ps(c)));
            _mm512_storeu_ps(c + 16, _mm512_fmadd_ps(al, c1[r], _mm512_loadu_ps(c + 16)));
        }
    } else {
        __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1);
        __mmask16 m1 = (__mmask16)(nr <= 16 ? 0 : (nr >= 32 ? 0xffff : (1u << (nr - 16)) - 1));
        for (int r = 0; r < mr; r++) {
            float *c = C + (size_t)r * ldc;
            _mm512_mask_storeu_ps(c, m0, _mm512_fmadd_ps(al, c0[r], _mm512_maskz_loadu_ps(m0, c)));
            if (m1) _mm512_mask_storeu_ps(c + 16, m1, _mm512_fmadd_ps(al, c1[r], _mm512_maskz_loadu_ps(m1, c + 16)));
        }
    }
}

/* C[0:mr, 0:nr] = alpha * ap . bp + bias[0:nr] (bias may be NULL: zero), C not read: the first
 * K block of a product with beta = 0 needs no zeroing pass. fma(alpha, acc, bias) is rounded
 * once, the same bits as presetting C to the bias (or 0) and accumulating. A separate copy of
 * the loop: one function with both epilogues made gcc spill an accumulator. */
static void kernel_store(int kc, const float *ap, const float *bp, float *C, int ldc, float alpha, int mr, int nr,
                         const float *bias) {
    __m512 c0[MR], c1[MR];
    for (int r = 0; r < MR; r++) { c0[r] = _mm512_setzero_ps(); c1[r] = _mm512_setzero_ps(); }
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16);
        for (int r = 0; r < MR; r++) {
            __m512 a = _mm512_set1_ps(ap[r]);
            c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);
            c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);
        }
        ap += MR; bp += NR;
    }
    __m512 al = _mm512_set1_ps(alpha);
    __mmask16 m0 = mask_n(nr), m1 = mask_n(nr - 16 > 0 ? nr - 16 : 0);
    __m512 z0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
    __m512 z1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
    for (int r = 0; r < mr; r++) {
        float *c = C + (size_t)r * ldc;
        _mm512_mask_storeu_ps(c, m0, _mm512_fmadd_ps(al, c0[r], z0));
        if (m1) _mm512_mask_storeu_ps(c + 16, m1, _mm512_fmadd_ps(al, c1[r], z1));
    }
}

void nn_kernel_store(int kc, const float *ap, const float *bp, float *C, int ldc, float alpha, int mr, int nr) {
    kernel_store(kc, ap, bp, C, ldc, alpha, mr, nr, NULL);
}

/* The same tile reading op(A) in place: element (r, k) at A[r*rs + k*ks] (no packing; for
 * products with one or two column panels, where packing A would cost as much as the FMAs).
 * Rows r >= mr repeat row mr-1 (valid memory); their results are not stored. */
void nn_kernel_strided(int kc, const float *A, int rs, int ks, const float *bp, float *C, int ldc, float alpha,
                       int mr, int nr) {
    const float *row[MR];
    for (int r = 0; r < MR; r++) row[r] = A + (size_t)(r < mr ? r : mr - 1) * rs;
    __m512 c0[MR], c1[MR];
    for (int r = 0; r < MR; r++) { c0[r] = _mm512_setzero_ps(); c1[r] = _mm512_setzero_ps(); }
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16);
        size_t o = (size_t)k * ks;
        for (int r = 0; r < MR; r++) {
            __m512 a = _mm512_set1_ps(row[r][o]);
            c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);
            c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);
        }
        bp += NR;
    }
    __m512 al = _mm512_set1_ps(alpha);
    __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1);
    __mmask16 m1 = (__mmask16)(nr <= 16 ? 0 : (nr >= 32 ? 0xffff : (1u << (nr - 16)) - 1));
    for (int r = 0; r < mr; r++) {
        float *c = C + (size_t)r * ldc;
        _mm512_mask_storeu_ps(c, m0, _mm512_fmadd_ps(al, c0[r], _mm512_maskz_loadu_ps(m0, c)));
        if (m1) _mm512_mask_storeu_ps(c + 16, m1, _mm512_fmadd_ps(al, c1[r], _mm512_maskz_loadu_ps(m1, c + 16)));
    }
}

/* Packing buffers for calls from outside a parallel region: kept and grown. A fresh
 * multi-megabyte allocation per product is a fresh mmap, and its page faults cost ~3% of a
 * training step. Calls nested in a parallel region (one thread each) allocate their own. */
static float *bbuf;
static size_t bcap;

static float *grow(float **buf, size_t *cap, size_t need) {
    if (need <= *cap) return *buf;
    free(*buf);
    *buf = aligned_alloc(64, need * sizeof(float) + 64);
    *cap = *buf ? need : 0;
    return *buf;
}

/* C (+)= alpha op(A) op(B); overwrite: C is not read (beta = 0), and then, when bias is not
 * NULL, C = alpha op(A) op(B) + bias (bias[j] added to column j). */
static void gemm_avx512(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                        const float *B, int ldb, float *C, int ldc, int overwrite, const float *bias) {
    const int npanels = (N + NR - 1) / NR, nblocks = (M + MR - 1) / MR;
    const int kcmax = K < KC ? K : KC;
    const size_t bneed = (size_t)npanels * NR * kcmax;
    const int nested = omp_in_parallel();
    float *bp = nested ? aligned_alloc(64, bneed * sizeof(float) + 64) : grow(&bbuf, &bcap, bneed);
    if (!bp) {
        if (bias) scale_c(C, ldc, M, N, 0.0f, bias);
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    M, N, K, alpha, A, lda, B, ldb, overwrite && !bias ? 0.0f : 1.0f, C, ldc);
        return;
    }
    /* One parallel region for the whole product (each region costs a wake-up of the pool).
     * The C tiles (row block, panel), row-block major, are split into one contiguous range
     * per thread, the same for every K block: a tile never changes hands, so results do not
     * depend on the thread count, and a product with few row blocks (weight gradients of
     * 256 rows: 19 blocks) is still balanced to within one tile. */
    const int par = !nested && (double)M * N * K > 2e5;
    #pragma omp parallel if (par)
    {
        float ap[MR * KC] __attribute__((aligned(64)));
        const long ntiles = (long)nblocks * npanels;
        const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
        const long t0 = ntiles * tid / nth, t1 = ntiles * (tid + 1) / nth;
        for (int k0 = 0; k0 < K; k0 += KC) {
            int kc = K - k0 < KC ? K - k0 : KC;
            #pragma omp for schedule(static)
            for (int p = 0; p < npanels; p++) nn_pack_b(bp + (size_t)p * NR * kc, transB, B, ldb, k0, kc, p * NR, N);
            int packed = -1;   /* row block now in ap */
            for (long t = t0; t < t1; t++) {
                int ib = (int)(t / npanels), p = (int)(t % npanels);
                int i0 = ib * MR, mr = M - i0 < MR ? M - i0 : MR, j0 = p * NR, nr = N - j0 < NR ? N - j0 : NR;
                if (ib != packed) { nn_pack_a(ap, transA, A, lda, i0, M, k0, kc); packed = ib; }
                if (overwrite && k0 == 0)
                    kernel_store(kc, ap, bp + (size_t)p * NR * kc, C + (size_t)i0 * ldc + j0, ldc, alpha, mr, nr,
                                 bias ? bias + j0 : NULL);
                else
                    nn_kernel(kc, ap, bp + (size_t)p * NR * kc, C + (size_t)i0 * ldc + j0, ldc, alpha, mr, nr);
            }
            #pragma omp barrier   /* bp is repacked for the next K block */
        }
    }
    if (nested) free(bp);
}
#endif

void nn_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { scale_c(C, ldc, M, N, beta, NULL); return; }   /* BLAS rejects lda < 1 */
#ifdef __AVX512F__
    if (beta != 1.0f && beta != 0.0f) scale_c(C, ldc, M, N, beta, NULL);
    gemm_avx512(transA, transB, M, N, K, alpha, A, lda, B, ldb, C, ldc, beta == 0.0f, NULL);
#else
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N, K,
                alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

void nn_sgemm_bias(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, const float *bias, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
#ifdef __AVX512F__
    if (K > 0) { gemm_avx512(transA, transB, M, N, K, alpha, A, lda, B, ldb, C, ldc, 1, bias); return; }
#endif
    scale_c(C, ldc, M, N, 0.0f, bias);
    if (K > 0)
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N, K,
                    alpha, A, lda, B, ldb, 1.0f, C, ldc);
}
