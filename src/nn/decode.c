/* Decoding kernels (decode.h): the panel product, the run-state arena, the key/value cache
 * and the attention step that every backbone's generation step is made of.
 *
 * Panels come from gemm.c's packing (nn_pack_b: 32 columns, k-major). bf16 panels round the
 * packed fp32 panel pairwise into one 32-bit word per (k even, k odd) of a column, even k in
 * the low half, gemm.c's bf16 layout: one shift or one mask turns a load into fp32 weights for
 * k and k + 1 (plain AVX-512F; no avx512_bf16 instructions needed).
 *
 * The register tile is 32 columns x up to 6 rows: each weight is loaded once per 6 rows and
 * used by 2 FMAs per row, and a row needs no horizontal sums. Each row keeps separate sums for
 * even and odd k (4 accumulators: enough independent FMA chains even at one row), in an order
 * that depends on nothing but the row: the same sequence gives the same numbers in any batch. */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wpass-failed"
#endif
#include "nn/decode.h"
#include "nn/gemm.h"
#include "nn/nn.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#define NP NN_PANEL
#define RB 6    /* rows per register tile */

size_t nn_panels_count(int out) { return (size_t)(out + NP - 1) / NP; }
/* elements of one panel: fp32 IN x 32; bf16 ceil(IN/2) words x 32 */
static size_t panel_words(int in, int bf16) { return bf16 ? (size_t)((in + 1) / 2) * NP : (size_t)in * NP; }
size_t nn_panels_bytes(int out, int in, int bf16) { return nn_panels_count(out) * panel_words(in, bf16) * 4; }

int nn_panels_bf16_ok(void) {
#ifdef __AVX512F__
    return 1;
#else
    return 0;
#endif
}

/* the bf16 bits of f, rounded as nn_bf16_round (nearest even; NaN stays NaN; denormals flush
 * to zero), inline: the cache stores go through it for every key and value */
static inline uint32_t bf16_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) == 0x7f800000u) return (u | (u & 0x007fffffu ? 0x00400000u : 0)) >> 16;
    if ((u & 0x7f800000u) == 0) return (u & 0x80000000u) >> 16;
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

/* one fp32 panel (IN x 32, k-major) of columns j0.. of W */
static void pack_panel(float *dst, const float *W, size_t ldw, int out, int in, int j0) {
#ifdef NN_HAVE_KERNEL
    nn_pack_b(dst, 1, W, (int)ldw, 0, in, j0, out);
#else
    for (int k = 0; k < in; k++)
        for (int j = 0; j < NP; j++) dst[(size_t)k * NP + j] = j0 + j < out ? W[(size_t)(j0 + j) * ldw + k] : 0.0f;
#endif
}

void nn_panels_pack(nn_panels *P, void *dst, const float *W, size_t ldw, int out, int in, int bf16) {
    P->p = dst; P->out = out; P->in = in; P->bf16 = bf16;
    const size_t np = nn_panels_count(out), pw = panel_words(in, bf16);
    float *tmp = bf16 ? malloc((size_t)(in + 1) * NP * sizeof *tmp) : NULL;
    for (size_t p = 0; p < np; p++) {
        if (!bf16) { pack_panel((float *)dst + p * pw, W, ldw, out, in, (int)(p * NP)); continue; }
        if (!tmp) abort();   /* a few KB; run_init sizes are checked long before */
        pack_panel(tmp, W, ldw, out, in, (int)(p * NP));
        if (in & 1) memset(tmp + (size_t)in * NP, 0, NP * sizeof *tmp);   /* the odd k's zero partner */
        uint32_t *d = (uint32_t *)dst + p * pw;
        for (int kp = 0; kp < (in + 1) / 2; kp++)
            for (int j = 0; j < NP; j++)
                d[(size_t)kp * NP + j] = bf16_bits(tmp[(size_t)2 * kp * NP + j]) | bf16_bits(tmp[(size_t)(2 * kp + 1) * NP + j]) << 16;
    }
    free(tmp);
}

float nn_gelu1(float v) { return 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v))); }

#ifdef __AVX512F__
/* e^x, x <= ~88: 2^k p(r) (relative error ~2e-7), as the scalar one the softmax uses */
static inline __m512 exp512(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
    __m512 k = _mm512_roundscale_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504f), _mm512_set1_ps(0.5f)),
                                    _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fmadd_ps(k, _mm512_set1_ps(2.12194440e-4f), _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), x));
    __m512 p = _mm512_set1_ps(0.00138888892f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.00833333377f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.0416666679f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.166666672f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, k);
}

/* GELU, tanh form: tanh(u) = (e^2u - 1) / (e^2u + 1) */
static inline __m512 gelu512(__m512 v) {
    __m512 u = _mm512_mul_ps(_mm512_set1_ps(0.7978845608028654f),
                             _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(0.044715f), v), _mm512_mul_ps(v, v), v));
    u = _mm512_min_ps(_mm512_max_ps(u, _mm512_set1_ps(-9.0f)), _mm512_set1_ps(9.0f));
    __m512 e = exp512(_mm512_add_ps(u, u)), one = _mm512_set1_ps(1.0f);
    __m512 t = _mm512_div_ps(_mm512_sub_ps(e, one), _mm512_add_ps(e, one));
    return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), v), _mm512_add_ps(one, t));
}

static inline void epilogue(float *y, __m512 v, const float *bias, int ncols, int mode) {
    if (ncols <= 0) return;
    __mmask16 mk = ncols >= 16 ? 0xffff : (__mmask16)((1u << ncols) - 1);
    if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mk, bias));
    if (mode == NN_PM_ADD) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mk, y));
    else if (mode == NN_PM_GELU) v = gelu512(v);
    _mm512_mask_storeu_ps(y, mk, v);
}

/* rows 0..nr-1 of in (row stride ldi, IN used) times panel P (32 columns from column o) */
static inline __attribute__((always_inline)) void tile(float *out, size_t ldo, int OUT, const float *in, size_t ldi,
                                                       int IN, const void *P, int bf16, const float *bias, int o, int nr,
                                                       int mode) {
    __m512 acc[RB][4];   /* in registers: every loop over r below is unrolled (nr is a constant) */
    #pragma GCC unroll 6
    for (int r = 0; r < nr; r++) acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = _mm512_setzero_ps();
    const int in2 = IN / 2;
    const __m512i hi = _mm512_set1_epi32((int)0xffff0000u);
    for (int kp = 0; kp < in2; kp++) {
        __m512 w0, w1, w2, w3;   /* k even: columns 0-15, 16-31; k odd: the same */
        if (bf16) {
            const uint32_t *p = (const uint32_t *)P + (size_t)kp * NP;
            __m512i a = _mm512_loadu_si512(p), b = _mm512_loadu_si512(p + 16);
            w0 = _mm512_castsi512_ps(_mm512_slli_epi32(a, 16)); w1 = _mm512_castsi512_ps(_mm512_slli_epi32(b, 16));
            w2 = _mm512_castsi512_ps(_mm512_and_si512(a, hi)); w3 = _mm512_castsi512_ps(_mm512_and_si512(b, hi));
        } else {
            const float *p = (const float *)P + (size_t)kp * 2 * NP;
            w0 = _mm512_loadu_ps(p); w1 = _mm512_loadu_ps(p + 16);
            w2 = _mm512_loadu_ps(p + NP); w3 = _mm512_loadu_ps(p + NP + 16);
        }
        #pragma GCC unroll 6
        for (int r = 0; r < nr; r++) {
            __m512 x0 = _mm512_set1_ps(in[(size_t)r * ldi + 2 * kp]), x1 = _mm512_set1_ps(in[(size_t)r * ldi + 2 * kp + 1]);
            acc[r][0] = _mm512_fmadd_ps(x0, w0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(x0, w1, acc[r][1]);
            acc[r][2] = _mm512_fmadd_ps(x1, w2, acc[r][2]);
            acc[r][3] = _mm512_fmadd_ps(x1, w3, acc[r][3]);
        }
    }
    if (IN & 1) {   /* the last, unpaired k: into the even sums */
        __m512 w0, w1;
        if (bf16) {
            const uint32_t *p = (const uint32_t *)P + (size_t)in2 * NP;
            w0 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_loadu_si512(p), 16));
            w1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_loadu_si512(p + 16), 16));
        } else {
            const float *p = (const float *)P + (size_t)(IN - 1) * NP;
            w0 = _mm512_loadu_ps(p); w1 = _mm512_loadu_ps(p + 16);
        }
        #pragma GCC unroll 6
        for (int r = 0; r < nr; r++) {
            __m512 x0 = _mm512_set1_ps(in[(size_t)r * ldi + IN - 1]);
            acc[r][0] = _mm512_fmadd_ps(x0, w0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(x0, w1, acc[r][1]);
        }
    }
    #pragma GCC unroll 6
    for (int r = 0; r < nr; r++) {
        float *y = out + (size_t)r * ldo + o;
        epilogue(y, _mm512_add_ps(acc[r][0], acc[r][2]), bias ? bias + o : NULL, OUT - o, mode);
        epilogue(y + 16, _mm512_add_ps(acc[r][1], acc[r][3]), bias ? bias + o + 16 : NULL, OUT - o - 16, mode);
    }
}
#define TILE_CASE(k) case k: tile(out + (size_t)r * ldo, ldo, OUT, in + (size_t)r * ldi, ldi, IN, Pp, bf, bias, o, k, mode); break;
#else
/* Portable build: the same fp32 panels and the same order of sums. */
static void tile_c(float *out, size_t ldo, int OUT, const float *in, size_t ldi, int IN, const float *P, const float *bias,
                   int o, int nr, int mode) {
    for (int r = 0; r < nr; r++) {
        float e[NP] = { 0 }, od[NP] = { 0 };
        const float *x = in + (size_t)r * ldi;
        int k = 0;
        for (; k + 1 < IN; k += 2)
            for (int j = 0; j < NP; j++) { e[j] += x[k] * P[(size_t)k * NP + j]; od[j] += x[k + 1] * P[(size_t)(k + 1) * NP + j]; }
        if (k < IN) for (int j = 0; j < NP; j++) e[j] += x[k] * P[(size_t)k * NP + j];
        for (int j = 0; j < NP && o + j < OUT; j++) {
            float v = e[j] + od[j] + (bias ? bias[o + j] : 0.0f), *y = out + (size_t)r * ldo + o + j;
            if (mode == NN_PM_ADD) v += *y;
            else if (mode == NN_PM_GELU) v = nn_gelu1(v);
            *y = v;
        }
    }
}
#endif

void nn_panels_matmul(float *out, size_t ldo, const float *in, size_t ldi, const nn_panels *P, const float *bias, int n,
                      size_t p0, size_t p1, int mode) {
    const int IN = P->in, OUT = P->out, bf = P->bf16;
    const size_t pw = panel_words(IN, bf);
    for (size_t p = p0; p < p1; p++) {
        const void *Pp = (const uint32_t *)P->p + p * pw;
        int o = (int)(p * NP);
        for (int r = 0; r < n; r += RB) {
            int nr = n - r < RB ? n - r : RB;
#ifdef __AVX512F__
            switch (nr) { TILE_CASE(1) TILE_CASE(2) TILE_CASE(3) TILE_CASE(4) TILE_CASE(5) TILE_CASE(6) }
#else
            tile_c(out + (size_t)r * ldo, ldo, OUT, in + (size_t)r * ldi, ldi, IN, Pp, bias, o, nr, mode);
#endif
        }
    }
}

void nn_swiglu(float *g, const float *u, int n) {
    int i = 0;
#ifdef __AVX512F__
    const __m512 one = _mm512_set1_ps(1.0f);
    for (; i + 16 <= n; i += 16) {
        __m512 x = _mm512_loadu_ps(g + i);
        __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), x));
        _mm512_storeu_ps(g + i, _mm512_mul_ps(_mm512_div_ps(x, _mm512_add_ps(one, e)), _mm512_loadu_ps(u + i)));
    }
#endif
    for (; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

void *nn_arena_take(nn_arena *a, size_t bytes) {
    bytes = (bytes + 63) / 64 * 64;
    void *p = a->base ? a->base + a->used : NULL;
    a->used += bytes;
    return p;
}

/* ---- key/value cache ---- */
int nn_kv_tp(int ctx) { return (ctx + 15) / 16 * 16; }
size_t nn_kv_bytes(int hs, int ctx, int bf16) {
    size_t b = 2 * (size_t)nn_kv_tp(ctx) * hs * (bf16 ? 2 : 4);
    return (b + 63) / 64 * 64;
}
#define KIDX(hs, i, pos) ((size_t)((pos) / 16) * (hs) * 16 + (size_t)(i) * 16 + (pos) % 16)

void nn_kv_store(void *kv, int hs, int ctx, int bf16, int pos, const float *k, const float *v) {
    const size_t vo = (size_t)nn_kv_tp(ctx) * hs;   /* values after the keys */
    if (bf16) {
        uint16_t *K = kv, *V = K + vo + (size_t)pos * hs;
        for (int i = 0; i < hs; i++) { K[KIDX(hs, i, pos)] = (uint16_t)bf16_bits(k[i]); V[i] = (uint16_t)bf16_bits(v[i]); }
    } else {
        float *K = kv;
        for (int i = 0; i < hs; i++) K[KIDX(hs, i, pos)] = k[i];
        memcpy(K + vo + (size_t)pos * hs, v, (size_t)hs * sizeof(float));
    }
}

#ifdef __AVX512F__
/* 16 cache values (fp32, or bf16 widened) */
static inline __m512 load16(const void *base, size_t i, int bf16) {
    if (bf16)
        return _mm512_castsi512_ps(_mm512_slli_epi32(
            _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)((const uint16_t *)base + i))), 16));
    return _mm512_loadu_ps((const float *)base + i);
}
#endif

/* Scores are summed in registers over the head's dimensions for 64 positions at a time, and
 * the weighted sum of values keeps its head-size vector in registers over the positions
 * (two interleaved sums): the cache is read once and nothing else goes to memory. */
void nn_attend(float *o, const float *q, const void *kv, int hs, int ctx, int bf, int P, float scale, float *sc) {
    const int np = P + 1;
    const size_t vo = (size_t)nn_kv_tp(ctx) * hs;
    const void *K = kv;
    const void *Vc = bf ? (const void *)((const uint16_t *)kv + vo) : (const void *)((const float *)kv + vo);
    float mx = -INFINITY, sum = 0;
#ifdef __AVX512F__
    for (int j = 0; j < np; j += 64) {
        __m512 a[4] = { _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps() };
        const int nb = (np - j + 15) / 16 < 4 ? (np - j + 15) / 16 : 4;   /* blocks of 16 in use */
        /* whole blocks are read (the cache holds Tp = 16k positions); lanes past P are not stored */
        const size_t kb = (size_t)(j / 16) * hs * 16;
        for (int i = 0; i < hs; i++) {
            __m512 qi = _mm512_set1_ps(q[i] * scale);
            for (int u = 0; u < nb; u++) a[u] = _mm512_fmadd_ps(qi, load16(K, kb + (size_t)u * hs * 16 + i * 16, bf), a[u]);
        }
        for (int u = 0; u < nb; u++) {
            int left = np - j - 16 * u;
            _mm512_mask_storeu_ps(sc + j + 16 * u, left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1), a[u]);
        }
    }
    __m512 vm = _mm512_set1_ps(-INFINITY), vs = _mm512_setzero_ps();
    for (int j = 0; j < np; j += 16) {
        __mmask16 mk = np - j >= 16 ? 0xffff : (__mmask16)((1u << (np - j)) - 1);
        vm = _mm512_mask_max_ps(vm, mk, vm, _mm512_maskz_loadu_ps(mk, sc + j));
    }
    mx = _mm512_reduce_max_ps(vm);
    for (int j = 0; j < np; j += 16) {
        __mmask16 mk = np - j >= 16 ? 0xffff : (__mmask16)((1u << (np - j)) - 1);
        __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, sc + j), _mm512_set1_ps(mx)));
        _mm512_mask_storeu_ps(sc + j, mk, e);
        vs = _mm512_mask_add_ps(vs, mk, vs, e);
    }
    sum = _mm512_reduce_add_ps(vs);
    const float inv = 1.0f / sum;
    if (hs % 16 == 0 && hs <= 64) {
        __m512 e[4], d[4];
        const int nv = hs / 16;
        for (int u = 0; u < nv; u++) e[u] = d[u] = _mm512_setzero_ps();
        int j = 0;
        for (; j + 1 < np; j += 2) {
            __m512 w0 = _mm512_set1_ps(sc[j]), w1 = _mm512_set1_ps(sc[j + 1]);
            const size_t va = (size_t)j * hs, vb = va + hs;
            for (int u = 0; u < nv; u++) {
                e[u] = _mm512_fmadd_ps(w0, load16(Vc, va + 16 * u, bf), e[u]);
                d[u] = _mm512_fmadd_ps(w1, load16(Vc, vb + 16 * u, bf), d[u]);
            }
        }
        if (j < np) {
            __m512 w0 = _mm512_set1_ps(sc[j]);
            for (int u = 0; u < nv; u++) e[u] = _mm512_fmadd_ps(w0, load16(Vc, (size_t)j * hs + 16 * u, bf), e[u]);
        }
        for (int u = 0; u < nv; u++) _mm512_storeu_ps(o + 16 * u, _mm512_mul_ps(_mm512_add_ps(e[u], d[u]), _mm512_set1_ps(inv)));
        return;
    }
#else
    if (bf) abort();   /* bf16 runs are refused without AVX-512 (nn_panels_bf16_ok) */
    const float *kt = K;
    for (int j = 0; j < np; j++) {
        float s = 0;
        for (int i = 0; i < hs; i++) s += q[i] * scale * kt[KIDX(hs, i, j)];
        sc[j] = s;
    }
    for (int j = 0; j < np; j++) mx = sc[j] > mx ? sc[j] : mx;
    for (int j = 0; j < np; j++) { sc[j] = nn_expf(sc[j] - mx); sum += sc[j]; }
    const float inv = 1.0f / sum;
#endif
    for (int i = 0; i < hs; i++) o[i] = 0;
    for (int j = 0; j < np; j++) {
        const size_t vj = (size_t)j * hs;
        const float w = sc[j];
        if (bf) {
            const uint16_t *v = (const uint16_t *)Vc + vj;
            for (int i = 0; i < hs; i++) {
                uint32_t u = (uint32_t)v[i] << 16;
                float f;
                memcpy(&f, &u, 4);
                o[i] += w * f;
            }
        } else {
            const float *v = (const float *)Vc + vj;
            #pragma omp simd
            for (int i = 0; i < hs; i++) o[i] += w * v[i];
        }
    }
    for (int i = 0; i < hs; i++) o[i] *= inv;
}

void nn_split_units(int F, int w, int nw, int *u0, int *u1) {
    NN_SPLIT(nn_panels_count(F), w, nw, f0, f1);
    *u0 = (int)(f0 * NN_PANEL);
    *u1 = (int)(f1 * NN_PANEL) < F ? (int)(f1 * NN_PANEL) : F;
}
