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
 * Threads own disjoint rows of C, so results do not depend on the schedule.
 *
 * Mixed precision (NN_BF16, `pretrain --bf16`): the same scheme with both operands rounded to
 * bfloat16 while they are packed (round to nearest even, as PyTorch's autocast casts), pairs of
 * consecutive k interleaved in the panels, and a 14 x 32 kernel of vdpbf16ps (avx512_bf16:
 * each instruction multiplies 16 pairs and adds both products to fp32 accumulators, twice the
 * FLOPs of an fp32 FMA). Products of two bf16 are exact in fp32, so the result equals an fp32
 * product of the rounded inputs up to the order of the fp32 additions. Where the CPU lacks
 * avx512_bf16 (checked at run time) the rounded inputs go through the fp32 kernel instead:
 * the same numbers, at fp32 speed. */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wpass-failed"
#endif
#include "nn/nn.h"
#include "nn/gemm.h"
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include <stdint.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

/* 14 x 32 tile: 28 accumulators + 2 B vectors + 1 broadcast = 31 of the 32 zmm registers */
#define MR NN_MR
#define NR NN_NR
#ifndef KC
#define KC 512   /* 14 x 512 floats of A (28 KB) stay in L1 while a panel of B streams */
#endif
#ifndef KC_BF16
#define KC_BF16 1024   /* bf16: k's per block (even): 14 x 512 pairs of A, the same 28 KB; half the K
                        * blocks of fp32, so half the barriers of a weight gradient (K = tokens) */
#endif

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

void nn_transpose(float *dst, int ldd, const float *src, size_t lds, int rows, int cols) {
    for (int r0 = 0; r0 < rows; r0 += 16) pack_transposed(dst + r0, ldd, 16, src + (size_t)r0 * lds, lds, rows - r0, cols);
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

/* The kernels' epilogues are unrolled over the MR rows (a row past mr breaks out): indexed by
 * a run-time row, the accumulators went through a stack array, zeroed by a memset on every
 * call (~3% of a linear-attention training step). */

/* C[0:mr, 0:nr] += alpha * ap (MR x kc) . bp (kc x NR) */
void nn_kernel(int kc, const float *ap, const float *bp, float *C, int ldc, float alpha, int mr, int nr) {
    __m512 c0[MR], c1[MR];
    #pragma GCC unroll 14
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
        #pragma GCC unroll 14
        for (int r = 0; r < MR; r++) if (r < mr) {
            float *c = C + (size_t)r * ldc;
            _mm512_storeu_ps(c, _mm512_fmadd_ps(al, c0[r], _mm512_loadu_ps(c)));
            _mm512_storeu_ps(c + 16, _mm512_fmadd_ps(al, c1[r], _mm512_loadu_ps(c + 16)));
        }
    } else {
        __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1);
        __mmask16 m1 = (__mmask16)(nr <= 16 ? 0 : (nr >= 32 ? 0xffff : (1u << (nr - 16)) - 1));
        #pragma GCC unroll 14
        for (int r = 0; r < MR; r++) if (r < mr) {
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
    #pragma GCC unroll 14
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
    #pragma GCC unroll 14
    for (int r = 0; r < MR; r++) if (r < mr) {
        float *c = C + (size_t)r * ldc;
        _mm512_mask_storeu_ps(c, m0, _mm512_fmadd_ps(al, c0[r], z0));
        if (m1) _mm512_mask_storeu_ps(c + 16, m1, _mm512_fmadd_ps(al, c1[r], z1));
    }
}

void nn_kernel_store(int kc, const float *ap, const float *bp, float *C, int ldc, float alpha, int mr, int nr) {
    kernel_store(kc, ap, bp, C, ldc, alpha, mr, nr, NULL);
}

/* C[0:mr, 0:nr] = alpha * op(A) . bp (stored, C not read), reading op(A) in place: element
 * (r, k) at A[r*rs + k*ks] (no packing; for products with one or two column panels, where
 * packing A would cost as much as the FMAs). Rows r >= mr repeat row mr-1 (valid memory);
 * their results are not stored. */
void nn_kernel_strided(int kc, const float *A, int rs, int ks, const float *bp, float *C, int ldc, float alpha,
                       int mr, int nr) {
    const float *row[MR];
    for (int r = 0; r < MR; r++) row[r] = A + (size_t)(r < mr ? r : mr - 1) * rs;
    __m512 c0[MR], c1[MR];
    #pragma GCC unroll 14
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
    __mmask16 m0 = mask_n(nr), m1 = mask_n(nr - 16 > 0 ? nr - 16 : 0);
    #pragma GCC unroll 14
    for (int r = 0; r < MR; r++) if (r < mr) {
        float *c = C + (size_t)r * ldc;
        _mm512_mask_storeu_ps(c, m0, _mm512_mul_ps(al, c0[r]));
        if (m1) _mm512_mask_storeu_ps(c + 16, m1, _mm512_mul_ps(al, c1[r]));
    }
}

/* ---- bfloat16 (NN_BF16) ----
 * Panels hold 32-bit words, each a pair of bf16 (k even in the low half, k + 1 in the high
 * half; a missing k + 1 is zero): B as bp[(k/2)*NR + j], A as ap[(k/2)*MR + r]. The kernel
 * loads 2 x 16 words of B and broadcasts one word of A per row, as the fp32 kernel does per
 * k, so a panel of kc k's takes half the bytes and half the instructions. */
#define NN_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* Two rows of 16 floats -> 16 words pair(x0[j], x1[j]): one conversion of both (x0 to the low
 * 16 bf16, x1 to the high 16), then one permutation interleaves them. */
NN_BF16_TARGET static inline __m512i bf16_pairs(__m512 x0, __m512 x1) {
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                         23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(x1, x0));
}

/* Rows contiguous in k: dst[(k/2)*ldd + r] = pair(src[r*lds + k], src[r*lds + k + 1]) for
 * r < width (<= 16; rows r >= nrows are zero), k < kc: 32 floats of a row become 16 words,
 * then the 16 x 16 words are transposed in registers (as pack_transposed does for fp32). */
NN_BF16_TARGET static void pack_pairs_transposed(uint32_t *dst, int ldd, int width, const float *src, size_t lds,
                                                 int nrows, int kc) {
    const __mmask16 wm = mask_n(width);
    if (nrows > 16) nrows = 16;
    for (int k0 = 0; k0 < kc; k0 += 32) {
        int nk = kc - k0 < 32 ? kc - k0 : 32, np = (nk + 1) / 2;
        __mmask16 m0 = mask_n(nk), m1 = mask_n(nk - 16 > 0 ? nk - 16 : 0);
        __m512 v[16];
        for (int r = 0; r < 16; r++) {
            if (r < nrows) {
                const float *s = src + r * lds + k0;
                v[r] = (__m512)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(m1, s + 16), _mm512_maskz_loadu_ps(m0, s));
            } else v[r] = _mm512_setzero_ps();
        }
        transpose16(v);
        for (int p = 0; p < np; p++) _mm512_mask_storeu_ps((float *)dst + (size_t)(k0 / 2 + p) * ldd, wm, v[p]);
    }
}

/* k-major source: dst[(k/2)*ldd + j] = pair(src[k*lds + j], src[(k+1)*lds + j]) for j < n
 * (zero up to width, a multiple of 16), k < kc */
NN_BF16_TARGET static void pack_pairs_rows(uint32_t *dst, int ldd, int width, const float *src, size_t lds, int n,
                                           int kc) {
    for (int k = 0; k < kc; k += 2) {
        const float *r0 = src + (size_t)k * lds, *r1 = r0 + lds;
        uint32_t *d = dst + (size_t)(k / 2) * ldd;
        for (int h = 0; h < width; h += 16) {
            __mmask16 m = mask_n(n - h > 0 ? n - h : 0);
            __m512 x1 = k + 1 < kc ? _mm512_maskz_loadu_ps(m, r1 + h) : _mm512_setzero_ps();
            _mm512_storeu_si512(d + h, bf16_pairs(_mm512_maskz_loadu_ps(m, r0 + h), x1));
        }
    }
}

/* op(B)[k0:k0+kc, j0:j0+NR] -> bp[(k/2)*NR + jj] (pairs), zero beyond N and past kc */
NN_BF16_TARGET static void pack_b_bf16(uint32_t *bp, int transB, const float *B, int ldb, int k0, int kc, int j0,
                                       int N) {
    int nr = N - j0 < NR ? N - j0 : NR;
    if (!transB) pack_pairs_rows(bp, NR, NR, B + (size_t)k0 * ldb + j0, (size_t)ldb, nr, kc);
    else
        for (int h = 0; h < NR; h += 16) {
            int rows = nr - h < 0 ? 0 : nr - h;
            pack_pairs_transposed(bp + h, NR, 16, B + (size_t)(j0 + (rows ? h : 0)) * ldb + k0, (size_t)ldb, rows, kc);
        }
}

/* op(A)[i0:i0+MR, k0:k0+kc] -> ap[(k/2)*MR + r] (pairs), zero beyond M */
NN_BF16_TARGET static void pack_a_bf16(uint32_t *ap, int transA, const float *A, int lda, int i0, int M, int k0,
                                       int kc) {
    int mr = M - i0 < MR ? M - i0 : MR;
    if (transA) {
        __mmask16 lm = mask_n(mr), sm = mask_n(MR);
        for (int k = 0; k < kc; k += 2) {
            const float *r0 = A + (size_t)(k0 + k) * lda + i0;
            __m512 x1 = k + 1 < kc ? _mm512_maskz_loadu_ps(lm, r0 + lda) : _mm512_setzero_ps();
            _mm512_mask_storeu_epi32(ap + (size_t)(k / 2) * MR, sm, bf16_pairs(_mm512_maskz_loadu_ps(lm, r0), x1));
        }
    } else
        pack_pairs_transposed(ap, MR, MR, A + (size_t)i0 * lda + k0, (size_t)lda, mr, kc);
}

/* the 14 x 32 tile over kp pairs: c0[r], c1[r] = sum over pairs of ap[r] . bp[0:32] */
#define BF16_TILE_LOOP                                                                            \
    __m512 c0[MR], c1[MR];                                                                        \
    _Pragma("GCC unroll 14")                                                                      \
    for (int r = 0; r < MR; r++) { c0[r] = _mm512_setzero_ps(); c1[r] = _mm512_setzero_ps(); }   \
    for (int k = 0; k < kp; k++) {                                                                \
        __m512bh b0 = (__m512bh)_mm512_load_si512(bp), b1 = (__m512bh)_mm512_load_si512(bp + 16); \
        for (int r = 0; r < MR; r++) {                                                            \
            __m512bh a = (__m512bh)_mm512_set1_epi32((int)ap[r]);                                 \
            c0[r] = _mm512_dpbf16_ps(c0[r], a, b0);                                               \
            c1[r] = _mm512_dpbf16_ps(c1[r], a, b1);                                               \
        }                                                                                         \
        ap += MR; bp += NR;                                                                       \
    }

/* C[0:mr, 0:nr] += alpha * ap . bp over kp pairs */
NN_BF16_TARGET static void kernel_bf16(int kp, const uint32_t *ap, const uint32_t *bp, float *C, int ldc, float alpha,
                                       int mr, int nr) {
    BF16_TILE_LOOP
    __m512 al = _mm512_set1_ps(alpha);
    __mmask16 m0 = mask_n(nr), m1 = mask_n(nr - 16 > 0 ? nr - 16 : 0);
    #pragma GCC unroll 14
    for (int r = 0; r < MR; r++) if (r < mr) {
        float *c = C + (size_t)r * ldc;
        _mm512_mask_storeu_ps(c, m0, _mm512_fmadd_ps(al, c0[r], _mm512_maskz_loadu_ps(m0, c)));
        if (m1) _mm512_mask_storeu_ps(c + 16, m1, _mm512_fmadd_ps(al, c1[r], _mm512_maskz_loadu_ps(m1, c + 16)));
    }
}

/* C[0:mr, 0:nr] = alpha * ap . bp + bias (C not read; bias may be NULL) */
NN_BF16_TARGET static void kernel_store_bf16(int kp, const uint32_t *ap, const uint32_t *bp, float *C, int ldc,
                                             float alpha, int mr, int nr, const float *bias) {
    BF16_TILE_LOOP
    __m512 al = _mm512_set1_ps(alpha);
    __mmask16 m0 = mask_n(nr), m1 = mask_n(nr - 16 > 0 ? nr - 16 : 0);
    __m512 z0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
    __m512 z1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
    #pragma GCC unroll 14
    for (int r = 0; r < MR; r++) if (r < mr) {
        float *c = C + (size_t)r * ldc;
        _mm512_mask_storeu_ps(c, m0, _mm512_fmadd_ps(al, c0[r], z0));
        if (m1) _mm512_mask_storeu_ps(c + 16, m1, _mm512_fmadd_ps(al, c1[r], z1));
    }
}
#undef BF16_TILE_LOOP

NN_BF16_TARGET void nn_pack_b_bf16(uint32_t *bp, int transB, const float *B, int ldb, int k0, int kc, int j0, int N) {
    pack_b_bf16(bp, transB, B, ldb, k0, kc, j0, N);
}
NN_BF16_TARGET void nn_pack_a_bf16(uint32_t *ap, int transA, const float *A, int lda, int i0, int M, int k0, int kc) {
    pack_a_bf16(ap, transA, A, lda, i0, M, k0, kc);
}
NN_BF16_TARGET void nn_kernel_bf16(int kp, const uint32_t *ap, const uint32_t *bp, float *C, int ldc, float alpha, int mr, int nr) {
    kernel_bf16(kp, ap, bp, C, ldc, alpha, mr, nr);
}
NN_BF16_TARGET void nn_kernel_store_bf16(int kp, const uint32_t *ap, const uint32_t *bp, float *C, int ldc, float alpha, int mr,
                          int nr) {
    kernel_store_bf16(kp, ap, bp, C, ldc, alpha, mr, nr, NULL);
}

/* fp32 op(A) with A K x M (transA): all row blocks of the K block [k0, k0+kc), k in [ka, kb),
 * into ap[ib*MR*kc + k*MR + r] (fp32) or ap[ib*MR*kcp + (k/2)*MR + r] (bf16 pairs, ka even).
 * Reading whole rows of A (a weight gradient's dout: tokens x outputs) is sequential; packing
 * 14 columns at a time per row block read 2 cache lines per k for 56 bytes. */
static void pack_a_trans_all(float *ap, const float *A, int lda, int M, int k0, int kc, int ka, int kb) {
    const int nblocks = (M + MR - 1) / MR;
    const __mmask16 sm = mask_n(MR);
    for (int k = ka; k < kb; k++) {
        const float *row = A + (size_t)(k0 + k) * lda;
        for (int ib = 0; ib < nblocks; ib++) {
            int i0 = ib * MR, mr = M - i0 < MR ? M - i0 : MR;
            _mm512_mask_storeu_ps(ap + (size_t)ib * MR * kc + (size_t)k * MR, sm, _mm512_maskz_loadu_ps(mask_n(mr), row + i0));
        }
    }
}
NN_BF16_TARGET static void pack_a_trans_all_bf16(uint32_t *ap, const float *A, int lda, int M, int k0, int kc,
                                                 int ka, int kb) {
    const int nblocks = (M + MR - 1) / MR, kcp = (kc + 1) / 2;
    const __mmask16 sm = mask_n(MR);
    for (int k = ka; k < kb; k += 2) {
        const float *r0 = A + (size_t)(k0 + k) * lda;
        for (int ib = 0; ib < nblocks; ib++) {
            int i0 = ib * MR, mr = M - i0 < MR ? M - i0 : MR;
            __mmask16 lm = mask_n(mr);
            __m512 x1 = k + 1 < kc ? _mm512_maskz_loadu_ps(lm, r0 + lda + i0) : _mm512_setzero_ps();
            _mm512_mask_storeu_epi32(ap + (size_t)ib * MR * kcp + (size_t)(k / 2) * MR, sm,
                                     bf16_pairs(_mm512_maskz_loadu_ps(lm, r0 + i0), x1));
        }
    }
}
#endif   /* __AVX512F__ */

/* Round to bfloat16 (nearest even; NaN stays NaN; denormals flush to zero as vcvtneps2bf16
 * does), returned as the float it represents. */
float nn_bf16_round(float x) {
    union { float f; uint32_t u; } v = { x };
    if ((v.u & 0x7f800000u) == 0x7f800000u) {           /* inf or NaN */
        if (v.u & 0x007fffffu) v.u |= 0x00400000u;        /* quiet NaN */
        v.u &= 0xffff0000u;
        return v.f;
    }
    if ((v.u & 0x7f800000u) == 0) { v.u &= 0x80000000u; return v.f; }
    v.u += 0x7fffu + ((v.u >> 16) & 1u);
    v.u &= 0xffff0000u;
    return v.f;
}

int nn_bf16_native(void) {
#ifdef __AVX512F__
    static int known = -1;   /* a CPU feature: the same answer for every caller */
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx512bf16") ? 1 : 0;
    }
    return known;
#else
    return 0;
#endif
}

#ifdef __AVX512F__
/* Packing buffers for calls from outside a parallel region: kept and grown. A fresh
 * multi-megabyte allocation per product is a fresh mmap, and its page faults cost ~3% of a
 * training step. Calls nested in a parallel region (one thread each) allocate their own. */
static float *bbuf, *abuf;
static size_t bcap, acap;

static float *grow(float **buf, size_t *cap, size_t need) {
    if (need <= *cap) return *buf;
    free(*buf);
    need = (need + 15) & ~(size_t)15;   /* aligned_alloc wants a multiple of the alignment */
    *buf = aligned_alloc(64, need * sizeof(float) + 64);
    *cap = *buf ? need : 0;
    return *buf;
}

/* C (+)= alpha op(A) op(B); overwrite: C is not read (beta = 0), and then, when bias is not
 * NULL, C = alpha op(A) op(B) + bias (bias[j] added to column j). bf16: the NN_BF16 kernel
 * (the caller checked the CPU). */
static void gemm_avx512(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                        const float *B, int ldb, float *C, int ldc, int overwrite, const float *bias, int bf16) {
    const int npanels = (N + NR - 1) / NR, nblocks = (M + MR - 1) / MR;
    const int kb = bf16 ? KC_BF16 : KC, kcmax = K < kb ? K : kb;
    /* floats per panel per K block: kc (fp32) or ceil(kc/2) words of bf16 pairs */
    const size_t bneed = (size_t)npanels * NR * (bf16 ? (kcmax + 1) / 2 : kcmax);
    const int nested = omp_in_parallel();
    /* transA (weight gradients): op(A) of the whole K block packed once, by all threads */
    const int apack = transA && !nested;
    float *bp = nested ? aligned_alloc(64, bneed * sizeof(float) + 64) : grow(&bbuf, &bcap, bneed);
    float *aall = apack ? grow(&abuf, &acap, (size_t)nblocks * MR * (bf16 ? (kcmax + 1) / 2 : kcmax)) : NULL;
    if (!bp || (apack && !aall)) {
        if (nested) free(bp);
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
        float ap[MR * (KC > KC_BF16 / 2 ? KC : KC_BF16 / 2)] __attribute__((aligned(64)));
        const long ntiles = (long)nblocks * npanels;
        const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
        const long t0 = ntiles * tid / nth, t1 = ntiles * (tid + 1) / nth;
        for (int k0 = 0; k0 < K; k0 += kb) {
            const int kc = K - k0 < kb ? K - k0 : kb, kcp = (kc + 1) / 2;
            const size_t pstride = bf16 ? (size_t)NR * kcp : (size_t)NR * kc;   /* floats per B panel */
            const size_t astride = bf16 ? (size_t)MR * kcp : (size_t)MR * kc;   /* floats per A row block */
            #pragma omp for schedule(static) nowait
            for (int p = 0; p < npanels; p++) {
                if (bf16) pack_b_bf16((uint32_t *)(bp + p * pstride), transB, B, ldb, k0, kc, p * NR, N);
                else nn_pack_b(bp + p * pstride, transB, B, ldb, k0, kc, p * NR, N);
            }
            if (apack) {   /* rows of the K block split between threads (an even split for pairs) */
                int ka = 2 * (int)((long)kcp * tid / nth), ke = 2 * (int)((long)kcp * (tid + 1) / nth);
                if (ke > kc) ke = kc;
                if (bf16) pack_a_trans_all_bf16((uint32_t *)aall, A, lda, M, k0, kc, ka, ke);
                else pack_a_trans_all(aall, A, lda, M, k0, kc, ka, ke);
            }
            #pragma omp barrier
            int packed = -1;   /* row block now in ap */
            for (long t = t0; t < t1; t++) {
                int ib = (int)(t / npanels), p = (int)(t % npanels);
                int i0 = ib * MR, mr = M - i0 < MR ? M - i0 : MR, j0 = p * NR, nr = N - j0 < NR ? N - j0 : NR;
                const float *apan = apack ? aall + ib * astride : ap;
                if (!apack && ib != packed) {
                    if (bf16) pack_a_bf16((uint32_t *)ap, transA, A, lda, i0, M, k0, kc);
                    else nn_pack_a(ap, transA, A, lda, i0, M, k0, kc);
                    packed = ib;
                }
                const float *bpan = bp + p * pstride;
                float *c = C + (size_t)i0 * ldc + j0;
                int store = overwrite && k0 == 0;
                if (bf16) {
                    if (store) kernel_store_bf16(kcp, (const uint32_t *)apan, (const uint32_t *)bpan, c, ldc, alpha, mr, nr,
                                                 bias ? bias + j0 : NULL);
                    else kernel_bf16(kcp, (const uint32_t *)apan, (const uint32_t *)bpan, c, ldc, alpha, mr, nr);
                } else {
                    if (store) kernel_store(kc, apan, bpan, c, ldc, alpha, mr, nr, bias ? bias + j0 : NULL);
                    else nn_kernel(kc, apan, bpan, c, ldc, alpha, mr, nr);
                }
            }
            #pragma omp barrier   /* bp (and the packed A) are repacked for the next K block */
        }
    }
    if (nested) free(bp);
}
#endif

/* A bf16 product without the avx512_bf16 kernel: round copies of A and B, then the fp32
 * product (exact products of the rounded values, fp32 sums: the same numbers up to order). */
static int gemm_bf16_emulated(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                              const float *B, int ldb, float beta, float *C, int ldc, const float *bias) {
    /* rows x cols of each operand as stored: (rows - 1) * ld + cols floats are the operand's (a
     * column block of a wider matrix, e.g. one head of a (T, 3C) row, ends before its last row's
     * stride) */
    size_t na = (size_t)((transA ? K : M) - 1) * lda + (transA ? M : K);
    size_t nb = (size_t)((transB ? N : K) - 1) * ldb + (transB ? K : N);
    float *a = malloc(na * sizeof(float)), *b = malloc(nb * sizeof(float));
    if (!a || !b) { free(a); free(b); return -1; }
    for (size_t i = 0; i < na; i++) a[i] = nn_bf16_round(A[i]);
    for (size_t i = 0; i < nb; i++) b[i] = nn_bf16_round(B[i]);
    if (bias) nn_sgemm_bias(transA, transB, M, N, K, alpha, a, lda, b, ldb, bias, C, ldc);
    else nn_sgemm(transA, transB, M, N, K, alpha, a, lda, b, ldb, beta, C, ldc);
    free(a); free(b);
    return 0;
}

void nn_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { scale_c(C, ldc, M, N, beta, NULL); return; }   /* BLAS rejects lda < 1 */
#ifdef __AVX512F__
    if (beta != 1.0f && beta != 0.0f) scale_c(C, ldc, M, N, beta, NULL);
    gemm_avx512(transA, transB, M, N, K, alpha, A, lda, B, ldb, C, ldc, beta == 0.0f, NULL, 0);
#else
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N, K,
                alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

void nn_sgemm_bias(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, const float *bias, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
#ifdef __AVX512F__
    if (K > 0) { gemm_avx512(transA, transB, M, N, K, alpha, A, lda, B, ldb, C, ldc, 1, bias, 0); return; }
#endif
    scale_c(C, ldc, M, N, 0.0f, bias);
    if (K > 0)
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N, K,
                    alpha, A, lda, B, ldb, 1.0f, C, ldc);
}

void nn_gemm(int prec, int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc) {
    if (prec != NN_BF16 || M <= 0 || N <= 0 || K <= 0) {
        nn_sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
#ifdef __AVX512F__
    if (nn_bf16_native()) {
        if (beta != 1.0f && beta != 0.0f) scale_c(C, ldc, M, N, beta, NULL);
        gemm_avx512(transA, transB, M, N, K, alpha, A, lda, B, ldb, C, ldc, beta == 0.0f, NULL, 1);
        return;
    }
#endif
    if (gemm_bf16_emulated(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL) != 0)
        nn_sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);   /* out of memory: fp32 */
}

void nn_gemm_bias(int prec, int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, const float *bias, float *C, int ldc) {
    if (prec != NN_BF16 || M <= 0 || N <= 0 || K <= 0) {
        nn_sgemm_bias(transA, transB, M, N, K, alpha, A, lda, B, ldb, bias, C, ldc);
        return;
    }
#ifdef __AVX512F__
    if (nn_bf16_native()) {
        gemm_avx512(transA, transB, M, N, K, alpha, A, lda, B, ldb, C, ldc, 1, bias, 1);
        return;
    }
#endif
    if (gemm_bf16_emulated(transA, transB, M, N, K, alpha, A, lda, B, ldb, 0.0f, C, ldc, bias) != 0)
        nn_sgemm_bias(transA, transB, M, N, K, alpha, A, lda, B, ldb, bias, C, ldc);
}
