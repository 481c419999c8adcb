/* GPT-2 decoding step for generation, fused and in one parallel region (fastgpt2.h).
 *
 * Why not model_step: it runs the training kernels (one OpenMP region per operation). At
 * batch 1 a step is ~90 tiny operations, and each region start costs more than its work.
 * Here the whole step is one region, and threads meet at 2 barriers per layer.
 *
 * Weights are packed once, at init, into panels of 32 output columns, k-major: panel p of
 * an (OUT, IN) matrix holds W[32p + j][k] at [k][j]. A step's linear layer is then a small
 * matrix product (rows = sequences) whose register tile is 32 columns x up to 6 rows: each
 * weight is loaded once per 6 sequences and used by 2 FMAs per row, and a row needs no
 * horizontal sums. bf16 panels hold the pair (k even, k odd) of a column in one 32-bit
 * lane (even in the low half), so one shift or one mask turns a load into fp32 weights for
 * k and k + 1. Each row keeps separate sums for even and odd k (4 accumulators: enough
 * independent FMA chains even at batch 1), in an order that does not depend on other rows.
 *
 * Work split over W workers (W = the thread count at init; thread t runs workers t, t + nt,
 * ... if fewer threads come): worker w owns heads h0..h1 and a slice of the MLP's hidden
 * units. For its heads it computes q, k, v (packed per head, so any head size is panel
 * aligned), writes k and v into the cache, runs attention and multiplies the result by its
 * heads' columns of the output projection: a partial sum of the residual update. Likewise
 * its MLP slice: fc, GELU, then its rows of fc-proj. After each of the two barriers, every
 * thread adds all workers' partials, in worker order, into its own copy of the residual
 * stream x; so no thread ever waits for a shared x, and the copies stay identical. */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wpass-failed"
#endif
#include "gen/fastgpt2.h"
#include "nn/nn.h"
#include "nn/barrier.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#define NP 32   /* columns per panel */
#define RB 6    /* rows per register tile */

enum { LIN_STORE, LIN_ADD, LIN_GELU };

static const float *T(const model *m, const char *name) {
    int i = model_find_tensor(m, name);
    return i < 0 ? NULL : model_tensor(m, i);
}

static size_t npanels(int out) { return (size_t)(out + NP - 1) / NP; }
/* elements of the panels of one (OUT, IN) matrix: fp32 IN x 32 per panel; bf16 ceil(IN/2)
 * pairs x 32 columns x 2 per panel (an odd IN gets a zero partner) */
static size_t panel_elems(int out, int in, int bf16) {
    return npanels(out) * (bf16 ? (size_t)((in + 1) / 2) * 2 * NP : (size_t)in * NP);
}

static uint16_t to_bf16(float f) {   /* round to nearest even */
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

static void pack(void *dst, const float *W, int out, int in, int bf16) {
    size_t np = npanels(out);
    if (!bf16) {
        float *d = dst;
        for (size_t p = 0; p < np; p++)
            for (int k = 0; k < in; k++)
                for (int j = 0; j < NP; j++) {
                    size_t o = p * NP + j;
                    *d++ = o < (size_t)out ? W[o * in + k] : 0.0f;
                }
        return;
    }
    uint16_t *d = dst;
    int in2 = (in + 1) / 2;
    for (size_t p = 0; p < np; p++)
        for (int kp = 0; kp < in2; kp++)
            for (int j = 0; j < NP; j++)
                for (int h = 0; h < 2; h++) {
                    size_t o = p * NP + j;
                    int k = 2 * kp + h;
                    *d++ = o < (size_t)out && k < in ? to_bf16(W[o * in + k]) : 0;
                }
}

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
    if (mode == LIN_ADD) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mk, y));
    else if (mode == LIN_GELU) v = gelu512(v);
    _mm512_mask_storeu_ps(y, mk, v);
}

/* rows 0..nr-1 of in (row stride ldi, IN used) times panel P (32 columns from column o) */
static inline __attribute__((always_inline)) void tile(float *out, int ldo, int OUT, const float *in, int ldi, int IN,
                                                       const void *P, int bf16, const float *bias, int o, int nr,
                                                       int mode) {
    __m512 acc[RB][4];   /* in registers: every loop over r below is unrolled (nr is a constant) */
    #pragma GCC unroll 6
    for (int r = 0; r < nr; r++) acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = _mm512_setzero_ps();
    const int in2 = IN / 2;
    const __m512i hi = _mm512_set1_epi32((int)0xffff0000u);
    for (int kp = 0; kp < in2; kp++) {
        __m512 w0, w1, w2, w3;   /* k even: columns 0-15, 16-31; k odd: the same */
        if (bf16) {
            const uint16_t *p = (const uint16_t *)P + (size_t)kp * 2 * NP;
            __m512i a = _mm512_loadu_si512(p), b = _mm512_loadu_si512(p + NP);
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
            const uint16_t *p = (const uint16_t *)P + (size_t)in2 * 2 * NP;
            w0 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_loadu_si512(p), 16));
            w1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_loadu_si512(p + NP), 16));
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
#define TILE_CASE(k) case k: tile(out + (size_t)r * ldo, ldo, OUT, in + (size_t)r * ldi, ldi, IN, P, bf16, bias, o, k, mode); break;
#else
/* Portable build: the same panels (fp32 only) and the same order of sums. */
static void tile_c(float *out, int ldo, int OUT, const float *in, int ldi, int IN, const float *P, const float *bias,
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
            if (mode == LIN_ADD) v += *y;
            else if (mode == LIN_GELU) v = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
            *y = v;
        }
    }
}
#endif

/* out (n, OUT; row stride ldo) (=, +=, gelu) in (n, IN; row stride ldi) W^T + bias, for the
 * columns of panels [p0, p1) of the packed W at Pm */
static void linear(const gen_fast *g, float *out, int ldo, const float *in, int ldi, const void *Pm, const float *bias,
                   int n, int IN, int OUT, size_t p0, size_t p1, int mode) {
    const int bf16 = g->bf16;
    const size_t pe = panel_elems(NP, IN, bf16);   /* elements per panel */
    for (size_t p = p0; p < p1; p++) {
            const void *P = bf16 ? (const void *)((const uint16_t *)Pm + p * pe) : (const void *)((const float *)Pm + p * pe);
        int o = (int)(p * NP);
        for (int r = 0; r < n; r += RB) {
            int nr = n - r < RB ? n - r : RB;
#ifdef __AVX512F__
            switch (nr) { TILE_CASE(1) TILE_CASE(2) TILE_CASE(3) TILE_CASE(4) TILE_CASE(5) TILE_CASE(6) }
#else
            tile_c(out + (size_t)r * ldo, ldo, OUT, in + (size_t)r * ldi, ldi, IN, P, bias, o, nr, mode);
#endif
        }
    }
}

/* [lo, hi) of n items for worker w of nw */
#define SPLIT(n, w, nw, lo, hi) size_t lo = (size_t)(n) * (w) / (nw), hi = (size_t)(n) * ((w) + 1) / (nw)

/* where each packed matrix of layer l lives (elements of pk) */
static size_t off_qkv(const gen_fast *g, int l, int h, int s) {
    const model_config *c = &g->m->cfg;
    int hs = c->d_model / c->heads;
    return g->off[0] + (size_t)l * g->lstride[0] + ((size_t)h * 3 + s) * panel_elems(hs, c->d_model, g->bf16);
}
static size_t off_proj(const gen_fast *g, int l, int h) {
    const model_config *c = &g->m->cfg;
    return g->off[1] + (size_t)l * g->lstride[1] + (size_t)h * panel_elems(c->d_model, c->d_model / c->heads, g->bf16);
}

int gen_fast_init(gen_fast *g, model *m, int B, int bf16) {
    memset(g, 0, sizeof *g);
    const model_config *c = &m->cfg;
    if (c->arch != ARCH_GPT2) return -1;
#ifndef __AVX512F__
    if (bf16) return -2;
#endif
    g->m = m; g->B = B; g->bf16 = bf16 ? 1 : 0;
    g->wte = T(m, "wte"); g->wpe = T(m, "wpe");
    g->ln1w = T(m, "h.ln_1.weight"); g->ln1b = T(m, "h.ln_1.bias");
    const float *qkvw = T(m, "h.attn.c_attn.weight"), *projw = T(m, "h.attn.c_proj.weight");
    const float *fcw = T(m, "h.mlp.c_fc.weight"), *fcpw = T(m, "h.mlp.c_proj.weight");
    g->qkvb = T(m, "h.attn.c_attn.bias"); g->projb = T(m, "h.attn.c_proj.bias");
    g->ln2w = T(m, "h.ln_2.weight"); g->ln2b = T(m, "h.ln_2.bias");
    g->fcb = T(m, "h.mlp.c_fc.bias"); g->fcpb = T(m, "h.mlp.c_proj.bias");
    g->lnfw = T(m, "ln_f.weight"); g->lnfb = T(m, "ln_f.bias");
    if (!g->wte || !g->wpe || !g->ln1w || !g->ln1b || !qkvw || !g->qkvb || !projw || !g->projb || !g->ln2w ||
        !g->ln2b || !fcw || !g->fcb || !fcpw || !g->fcpb || !g->lnfw || !g->lnfb)
        return -1;
    const int L = c->layers, C = c->d_model, F = c->d_ff, V = c->vocab, NH = c->heads, hs = C / NH;
    if (hs > 512) return -1;   /* attend()'s stack vector */
    const int W = g->nthreads = omp_get_max_threads() < 64 ? omp_get_max_threads() : 64;   /* busy[] in the step */
    const int bf = g->bf16;

    /* packed weights, per layer: q, k, v of each head; the output projection's columns of each
     * head; fc (all panels); fc-proj's columns of each worker's slice of the hidden units;
     * then the tied head */
    g->lstride[0] = (size_t)NH * 3 * panel_elems(hs, C, bf);
    g->lstride[1] = (size_t)NH * panel_elems(C, hs, bf);
    g->lstride[2] = panel_elems(F, C, bf);
    g->lstride[3] = 0;
    for (int w = 0; w < W; w++) {
        SPLIT(npanels(F), w, W, f0, f1);
        int u0 = (int)(f0 * NP), u1 = (int)(f1 * NP) < F ? (int)(f1 * NP) : F;
        if (u1 > u0) g->lstride[3] += panel_elems(C, u1 - u0, bf);
    }
    size_t tot = 0;
    for (int k = 0; k < 4; k++) { g->off[k] = tot; tot += (size_t)L * g->lstride[k]; }
    g->off[4] = tot; tot += panel_elems(V, C, bf);
    size_t esz = bf ? sizeof(uint16_t) : sizeof(float), bytes = tot * esz > 0 ? tot * esz : 64;
    if (posix_memalign(&g->pk, 64, bytes)) { g->pk = NULL; return -1; }
    char *pk = g->pk;
    float *tmp = malloc((size_t)C * (F > C ? F : C) * sizeof *tmp);   /* a column block, made contiguous */
    if (!tmp) { free(g->pk); g->pk = NULL; return -1; }
    for (int l = 0; l < L; l++) {
        for (int h = 0; h < NH; h++) {
            for (int s = 0; s < 3; s++)
                pack(pk + off_qkv(g, l, h, s) * esz, qkvw + ((size_t)l * 3 * C + (size_t)s * C + (size_t)h * hs) * C, hs, C, bf);
            const float *pw = projw + (size_t)l * C * C;
            for (int o = 0; o < C; o++) memcpy(tmp + (size_t)o * hs, pw + (size_t)o * C + h * hs, (size_t)hs * sizeof *tmp);
            pack(pk + off_proj(g, l, h) * esz, tmp, C, hs, bf);
        }
        pack(pk + (g->off[2] + l * g->lstride[2]) * esz, fcw + (size_t)l * F * C, F, C, bf);
        size_t o3 = g->off[3] + l * g->lstride[3];
        for (int w = 0; w < W; w++) {
            SPLIT(npanels(F), w, W, f0, f1);
            int u0 = (int)(f0 * NP), u1 = (int)(f1 * NP) < F ? (int)(f1 * NP) : F;
            if (u1 <= u0) continue;
            const float *pw = fcpw + (size_t)l * C * F;
            for (int o = 0; o < C; o++) memcpy(tmp + (size_t)o * (u1 - u0), pw + (size_t)o * F + u0, (size_t)(u1 - u0) * sizeof *tmp);
            pack(pk + o3 * esz, tmp, C, u1 - u0, bf);
            o3 += panel_elems(C, u1 - u0, bf);
        }
    }
    pack(pk + g->off[4] * esz, g->wte, V, C, bf);
    free(tmp);

    g->Tp = (c->ctx + 15) / 16 * 16;
    size_t Tm = g->Tp, Bz = B;
    /* k, v caches; qkv, att, fc; scores; per worker: two partial sums; per thread: x, ln */
    /* with --bf16 the cache is bf16 too: at larger batches reading it is most of attention */
    size_t kvf = (size_t)L * Bz * Tm * C, kvfl = bf ? (kvf + 1) / 2 : kvf;   /* elements, floats */
    size_t n = 2 * kvfl + Bz * (3 * C + C + F) + Bz * NH * Tm + (size_t)W * Bz * C * 4;
    g->buf = nn_alloc(n);
    if (!g->buf) { free(g->pk); g->pk = NULL; return -1; }
    g->k = g->buf; g->v = g->k + kvfl;
    g->qkv = g->v + kvfl; g->att = g->qkv + Bz * 3 * C; g->fc = g->att + Bz * C;
    g->sc = g->fc + Bz * F; g->part = g->sc + Bz * NH * Tm; g->xt = g->part + (size_t)W * Bz * C * 2;
    g->lnt = g->xt + (size_t)W * Bz * C;
    return 0;
}

void gen_fast_free(gen_fast *g) { nn_free(g->buf); free(g->pk); memset(g, 0, sizeof *g); }

/* The caches, per layer: for each slot and head a region of Tp (the context rounded up to 16)
 * x hs floats. Values by position, (pos, i); keys in blocks of 16 positions, (pos / 16, i,
 * pos % 16), so the scores of one query read each block as one contiguous stretch and sum
 * 16 positions in one vector. */
#define KIDX(hs, i, pos) ((size_t)((pos) / 16) * (hs) * 16 + (size_t)(i) * 16 + (pos) % 16)
static size_t kv_base(const gen_fast *g, int sl, int h) {
    const model_config *c = &g->m->cfg;
    return ((size_t)sl * c->heads + h) * (size_t)g->Tp * (c->d_model / c->heads);
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

/* head h of row r (cache slot sl, position P): softmax(q k^T / sqrt(hs)) v into att. K and
 * Vc are the layer's caches (float, or bf16 with --bf16).
 * Scores are summed in registers over the head's dimensions for 64 positions at a time, and
 * the weighted sum of values keeps its head-size vector in registers over the positions
 * (two interleaved sums): the cache is then read once and nothing else goes to memory. */
static void attend(const gen_fast *g, const void *K, const void *Vc, int r, int h, int sl, int P, float scale) {
    const model_config *c = &g->m->cfg;
    const int C = c->d_model, NH = c->heads, hs = C / NH, Tm = c->ctx, np = P + 1, bf = g->bf16;
    const float *q = g->qkv + (size_t)r * 3 * C + h * hs;
    float *sc = g->sc + ((size_t)r * NH + h) * Tm, mx = -INFINITY, sum = 0;
    const size_t kb0 = kv_base(g, sl, h);   /* element offsets of this slot and head */
    float *o = g->att + (size_t)r * C + h * hs;
#ifdef __AVX512F__
    for (int j = 0; j < np; j += 64) {
        __m512 a[4] = { _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps() };
        const int nb = (np - j + 15) / 16 < 4 ? (np - j + 15) / 16 : 4;   /* blocks of 16 in use */
        /* whole blocks are read (the cache holds Tp = 16k positions); lanes past P are
         * not stored */
        const size_t kb = kb0 + (size_t)(j / 16) * hs * 16;
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
            const size_t va = kb0 + (size_t)j * hs, vb = va + hs;
            for (int u = 0; u < nv; u++) {
                e[u] = _mm512_fmadd_ps(w0, load16(Vc, va + 16 * u, bf), e[u]);
                d[u] = _mm512_fmadd_ps(w1, load16(Vc, vb + 16 * u, bf), d[u]);
            }
        }
        if (j < np) {
            __m512 w0 = _mm512_set1_ps(sc[j]);
            for (int u = 0; u < nv; u++) e[u] = _mm512_fmadd_ps(w0, load16(Vc, kb0 + (size_t)j * hs + 16 * u, bf), e[u]);
        }
        for (int u = 0; u < nv; u++) _mm512_storeu_ps(o + 16 * u, _mm512_mul_ps(_mm512_add_ps(e[u], d[u]), _mm512_set1_ps(inv)));
        return;
    }
#else
    const float *kt = (const float *)K + kb0;
    for (int j = 0; j < np; j++) {
        float s = 0;
        for (int i = 0; i < hs; i++) s += q[i] * scale * kt[KIDX(hs, i, j)];
        sc[j] = s;
    }
    for (int j = 0; j < np; j++) mx = sc[j] > mx ? sc[j] : mx;
    for (int j = 0; j < np; j++) { sc[j] = nn_expf(sc[j] - mx); sum += sc[j]; }
    const float inv = 1.0f / sum;
#endif
    float acc[512];   /* heads up to 512 wide (checked at init) */
    for (int i = 0; i < hs; i++) acc[i] = 0;
    for (int j = 0; j < np; j++) {
        const size_t vo = kb0 + (size_t)j * hs;
        const float w = sc[j];
        if (bf) {
            const uint16_t *v = (const uint16_t *)Vc + vo;
            for (int i = 0; i < hs; i++) {
                uint32_t u = (uint32_t)v[i] << 16;
                float f;
                memcpy(&f, &u, 4);
                acc[i] += w * f;
            }
        } else {
            const float *v = (const float *)Vc + vo;
            #pragma omp simd
            for (int i = 0; i < hs; i++) acc[i] += w * v[i];
        }
    }
    for (int i = 0; i < hs; i++) o[i] = acc[i] * inv;
}

/* x (n, C) += bias + the partial sums of every worker that had work, in worker order */
static void add_partials(float *x, const float *part, const float *bias, const int *busy, int W, int n, int C,
                         size_t wstride) {
    for (int r = 0; r < n; r++) {
        float *xr = x + (size_t)r * C;
        #pragma omp simd
        for (int i = 0; i < C; i++) xr[i] += bias[i];
        for (int w = 0; w < W; w++) {
            if (!busy[w]) continue;
            const float *p = part + w * wstride + (size_t)r * C;
            #pragma omp simd
            for (int i = 0; i < C; i++) xr[i] += p[i];
        }
    }
}

void gen_fast_step_team(gen_fast *g, int t, int nt, nn_barrier *bar, int n, const int *slot, const int *tok,
                        const int *pos, float *logits) {
    const model_config *c = &g->m->cfg;
    const int L = c->layers, C = c->d_model, F = c->d_ff, NH = c->heads, hs = C / NH, V = c->vocab;
    const int W = g->nthreads, bf = g->bf16;
    const float scale = 1.0f / sqrtf((float)hs);
    const size_t cache = (size_t)g->B * g->Tp * C;   /* cache elements per layer */
    const size_t kesz = bf ? sizeof(uint16_t) : sizeof(float);
    const size_t esz = bf ? sizeof(uint16_t) : sizeof(float);
    const size_t wstride = (size_t)g->B * C;      /* one worker's partial sums */
    const char *pk = g->pk;
    float *pa = g->part, *pm = g->part + (size_t)W * wstride;   /* attention, MLP partials */
    int busy_a[64], busy_m[64], Wn = W < 64 ? W : 64;
    for (int w = 0; w < Wn; w++) {
        SPLIT(NH, w, W, h0, h1);
        SPLIT(npanels(F), w, W, f0, f1);
        busy_a[w] = h1 > h0; busy_m[w] = f1 > f0;
    }
    {
        float *x = g->xt + (size_t)t * wstride, *ln = g->lnt + (size_t)t * wstride;
        for (int r = 0; r < n; r++) {
            const float *e = g->wte + (size_t)tok[r] * C, *p = g->wpe + (size_t)pos[r] * C;
            for (int i = 0; i < C; i++) x[(size_t)r * C + i] = e[i] + p[i];
        }
        for (int l = 0; l < L; l++) {
            void *K = (char *)g->k + l * cache * kesz, *Vc = (char *)g->v + l * cache * kesz;
            const float *bq = g->qkvb + (size_t)l * 3 * C;
            for (int r = 0; r < n; r++)
                layernorm_row(ln + (size_t)r * C, NULL, NULL, x + (size_t)r * C, g->ln1w + l * C, g->ln1b + l * C, C);
            for (int w = t; w < Wn; w += nt) {
                SPLIT(NH, w, W, h0, h1);
                float *part = pa + w * wstride;
                for (size_t h = h0; h < h1; h++) {
                    /* q, k, v of head h; k and v into the cache */
                    for (int s = 0; s < 3; s++) {
                        size_t col = (size_t)s * C + h * hs;
                        linear(g, g->qkv + col, 3 * C, ln, C, pk + off_qkv(g, l, (int)h, s) * esz, bq + col, n, C, hs, 0,
                               npanels(hs), LIN_STORE);
                    }
                    for (int r = 0; r < n; r++) {
                        const float *q = g->qkv + (size_t)r * 3 * C;
                        size_t sl = (size_t)slot[r];
                        size_t kb = kv_base(g, (int)sl, (int)h), vo = kb + (size_t)pos[r] * hs;
                        const float *kq = q + C + h * hs, *vq = q + 2 * C + h * hs;
                        if (bf)
                            for (int i = 0; i < hs; i++) {
                                ((uint16_t *)K)[kb + KIDX(hs, i, pos[r])] = to_bf16(kq[i]);
                                ((uint16_t *)Vc)[vo + i] = to_bf16(vq[i]);
                            }
                        else {
                            for (int i = 0; i < hs; i++) ((float *)K)[kb + KIDX(hs, i, pos[r])] = kq[i];
                            memcpy((float *)Vc + vo, vq, (size_t)hs * sizeof(float));
                        }
                    }
                    for (int r = 0; r < n; r++) attend(g, K, Vc, r, (int)h, slot[r], pos[r], scale);
                    /* this head's share of the output projection */
                    linear(g, part, C, g->att + h * hs, C, pk + off_proj(g, l, (int)h) * esz, NULL, n, hs, C, 0, npanels(C),
                           h == h0 ? LIN_STORE : LIN_ADD);
                }
            }
            nn_barrier_wait(bar);
            add_partials(x, pa, g->projb + l * C, busy_a, Wn, n, C, wstride);
            for (int r = 0; r < n; r++)
                layernorm_row(ln + (size_t)r * C, NULL, NULL, x + (size_t)r * C, g->ln2w + l * C, g->ln2b + l * C, C);
            size_t o3 = g->off[3] + l * g->lstride[3];
            for (int w = 0; w < Wn; w++) {
                SPLIT(npanels(F), w, W, f0, f1);
                int u0 = (int)(f0 * NP), u1 = (int)(f1 * NP) < F ? (int)(f1 * NP) : F;
                if (u1 <= u0) continue;
                if (w % nt == t) {
                    linear(g, g->fc, F, ln, C, pk + (g->off[2] + l * g->lstride[2]) * esz, g->fcb + l * F, n, C, F, f0, f1,
                           LIN_GELU);
                    linear(g, pm + w * wstride, C, g->fc + u0, F, pk + o3 * esz, NULL, n, u1 - u0, C, 0, npanels(C),
                           LIN_STORE);
                }
                o3 += panel_elems(C, u1 - u0, bf);
            }
            nn_barrier_wait(bar);
            add_partials(x, pm, g->fcpb + l * C, busy_m, Wn, n, C, wstride);
        }
        for (int r = 0; r < n; r++) layernorm_row(ln + (size_t)r * C, NULL, NULL, x + (size_t)r * C, g->lnfw, g->lnfb, C);
        for (int w = t; w < Wn; w += nt) {
            SPLIT(npanels(V), w, W, v0, v1);
            linear(g, logits, V, ln, C, pk + g->off[4] * esz, NULL, n, C, V, v0, v1, LIN_STORE);
        }
        nn_barrier_wait(bar);   /* every row's logits are complete */
    }
}

void gen_fast_step(gen_fast *g, int n, const int *slot, const int *tok, const int *pos, float *logits) {
    #pragma omp parallel num_threads(g->nthreads)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        #pragma omp single
        nn_barrier_init(&g->bar, nt, GEN_SPIN_NS, GEN_HOLD_NS);
        gen_fast_step_team(g, t, nt, &g->bar, n, slot, tok, pos, logits);
    }
}
