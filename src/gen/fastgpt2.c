/* GPT-2 decoding step for generation, fused and in one parallel region (fastgpt2.h).
 *
 * Why not model_step: it runs the training kernels (BLAS sgemm, one OpenMP region per
 * operation). At batch 1 a step is ~90 tiny operations, and on this machine each region
 * start costs more than its work (passive waiting wakes threads through the kernel), so
 * generation ran at ~170 tokens/s. Here the whole step is one region: threads split the
 * output columns of every linear layer (each weight row is read once for all B sequences,
 * from L2/L3 for small models), and meet at 5 barriers per layer.
 * Bias, residual and GELU are fused into the matrix-vector products. */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wpass-failed"
#endif
#include "gen/fastgpt2.h"
#include "nn/nn.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

static const float *T(const model *m, const char *name) {
    int i = model_find_tensor(m, name);
    return i < 0 ? NULL : model_tensor(m, i);
}

int gen_fast_init(gen_fast *g, model *m, int B) {
    memset(g, 0, sizeof *g);
    const model_config *c = &m->cfg;
    if (c->arch != ARCH_GPT2) return -1;
    g->m = m; g->B = B;
    g->wte = T(m, "wte"); g->wpe = T(m, "wpe");
    g->ln1w = T(m, "h.ln_1.weight"); g->ln1b = T(m, "h.ln_1.bias");
    g->qkvw = T(m, "h.attn.c_attn.weight"); g->qkvb = T(m, "h.attn.c_attn.bias");
    g->projw = T(m, "h.attn.c_proj.weight"); g->projb = T(m, "h.attn.c_proj.bias");
    g->ln2w = T(m, "h.ln_2.weight"); g->ln2b = T(m, "h.ln_2.bias");
    g->fcw = T(m, "h.mlp.c_fc.weight"); g->fcb = T(m, "h.mlp.c_fc.bias");
    g->fcpw = T(m, "h.mlp.c_proj.weight"); g->fcpb = T(m, "h.mlp.c_proj.bias");
    g->lnfw = T(m, "ln_f.weight"); g->lnfb = T(m, "ln_f.bias");
    if (!g->wte || !g->wpe || !g->ln1w || !g->ln1b || !g->qkvw || !g->qkvb || !g->projw || !g->projb || !g->ln2w ||
        !g->ln2b || !g->fcw || !g->fcb || !g->fcpw || !g->fcpb || !g->lnfw || !g->lnfb)
        return -1;
    size_t L = c->layers, C = c->d_model, F = c->d_ff, Tm = c->ctx, Bz = B;
    g->nthreads = omp_get_max_threads();
    size_t n = 2 * L * Bz * Tm * C + Bz * (4 * C + 3 * C + F) + Bz * c->heads * Tm + (size_t)g->nthreads * Bz * C;
    g->buf = nn_alloc(n);
    if (!g->buf) return -1;
    g->k = g->buf; g->v = g->k + L * Bz * Tm * C;
    g->x = g->v + L * Bz * Tm * C; g->ln = g->x + Bz * C; g->att = g->ln + Bz * C; g->qkv = g->att + Bz * C;
    g->fc = g->qkv + Bz * 3 * C; g->sc = g->fc + Bz * F; g->lnt = g->sc + Bz * c->heads * Tm;
    return 0;
}

void gen_fast_free(gen_fast *g) { nn_free(g->buf); free(g->wb); memset(g, 0, sizeof *g); }

enum { LIN_STORE, LIN_ADD, LIN_GELU };
/* out[b][o] (=, +=, gelu) bias[o] + W[o,:] . in[b,:] for o in [o0, o1), every b < B.
*/
/* exp for softmax, vectorisable (libm's expf is not, here): 2^k * polynomial(r),
 * relative error ~2e-7 on the range softmax uses (x <= 0) */
static inline float vexp(float x) {
    x = x < -87.0f ? -87.0f : x;
    float k = floorf(x * 1.44269504f + 0.5f);
    float r = x - k * 0.693359375f + k * 2.12194440e-4f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.166666672f + r * (0.0416666679f + r * (0.00833333377f + r * 0.00138888892f)))));
    int32_t e = ((int32_t)k + 127) << 23;
    float f;
    memcpy(&f, &e, 4);
    return p * f;
}

static inline void put(float *y, float val, int mode) {
    if (mode == LIN_ADD) *y += val;
    else if (mode == LIN_GELU) {
        /* tanh(u) = (e^2u - 1) / (e^2u + 1) through vexp (libm's tanhf was a fifth of a step) */
        float u = 0.7978845608028654f * (val + 0.044715f * val * val * val);
        u = u > 9.0f ? 9.0f : u < -9.0f ? -9.0f : u;
        float e = vexp(2.0f * u);
        *y = 0.5f * val * (1.0f + (e - 1.0f) / (e + 1.0f));
    }
    else *y = val;
}

static void linear(float *out, const float *in, const float *W, const float *bias, int B, int IN, int OUT,
                   int o0, int o1, int mode) {
    int b = 0;
    /* blocks of 2 weight rows x 4 sequences: the rows stay in L1 while every block of
     * sequences passes over them, so each weight is read from memory once per step */
    int B4 = B / 4 * 4;
    if (B4) {
        int o = o0;
        for (; o + 2 <= o1; o += 2) {
            const float *w0 = W + (size_t)o * IN, *w1 = w0 + IN;
            float bo0 = bias ? bias[o] : 0.0f, bo1 = bias ? bias[o + 1] : 0.0f;
            for (int bb = 0; bb < B4; bb += 4) {
                const float *x0 = in + (size_t)bb * IN, *x1 = x0 + IN, *x2 = x1 + IN, *x3 = x2 + IN;
                float s0 = 0, s1 = 0, s2 = 0, s3 = 0, t0 = 0, t1 = 0, t2 = 0, t3 = 0;
                #pragma omp simd reduction(+:s0, s1, s2, s3, t0, t1, t2, t3)
                for (int i = 0; i < IN; i++) {
                    s0 += w0[i] * x0[i]; s1 += w0[i] * x1[i]; s2 += w0[i] * x2[i]; s3 += w0[i] * x3[i];
                    t0 += w1[i] * x0[i]; t1 += w1[i] * x1[i]; t2 += w1[i] * x2[i]; t3 += w1[i] * x3[i];
                }
                float *y = out + (size_t)bb * OUT + o;
                put(y, s0 + bo0, mode); put(y + OUT, s1 + bo0, mode); put(y + 2 * OUT, s2 + bo0, mode); put(y + 3 * OUT, s3 + bo0, mode);
                put(y + 1, t0 + bo1, mode); put(y + OUT + 1, t1 + bo1, mode); put(y + 2 * OUT + 1, t2 + bo1, mode); put(y + 3 * OUT + 1, t3 + bo1, mode);
            }
        }
        for (; o < o1; o++) {
            const float *w = W + (size_t)o * IN;
            float bo = bias ? bias[o] : 0.0f;
            for (int bb = 0; bb < B4; bb += 4) {
                const float *x0 = in + (size_t)bb * IN, *x1 = x0 + IN, *x2 = x1 + IN, *x3 = x2 + IN;
                float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                #pragma omp simd reduction(+:s0, s1, s2, s3)
                for (int i = 0; i < IN; i++) { s0 += w[i] * x0[i]; s1 += w[i] * x1[i]; s2 += w[i] * x2[i]; s3 += w[i] * x3[i]; }
                put(out + (size_t)bb * OUT + o, s0 + bo, mode);
                put(out + (size_t)(bb + 1) * OUT + o, s1 + bo, mode);
                put(out + (size_t)(bb + 2) * OUT + o, s2 + bo, mode);
                put(out + (size_t)(bb + 3) * OUT + o, s3 + bo, mode);
            }
        }
        b = B4;
    }
    /* the rest one at a time, four weight rows sharing each input load */
    for (; b < B; b++) {
        const float *x = in + (size_t)b * IN;
        float *y = out + (size_t)b * OUT;
        int o = o0;
        for (; o + 4 <= o1; o += 4) {
            const float *w0 = W + (size_t)o * IN, *w1 = w0 + IN, *w2 = w1 + IN, *w3 = w2 + IN;
            float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            #pragma omp simd reduction(+:s0, s1, s2, s3)
            for (int i = 0; i < IN; i++) { s0 += w0[i] * x[i]; s1 += w1[i] * x[i]; s2 += w2[i] * x[i]; s3 += w3[i] * x[i]; }
            put(y + o, s0 + (bias ? bias[o] : 0.0f), mode);
            put(y + o + 1, s1 + (bias ? bias[o + 1] : 0.0f), mode);
            put(y + o + 2, s2 + (bias ? bias[o + 2] : 0.0f), mode);
            put(y + o + 3, s3 + (bias ? bias[o + 3] : 0.0f), mode);
        }
        for (; o < o1; o++) {
            const float *w = W + (size_t)o * IN;
            float s0 = 0;
            #pragma omp simd reduction(+:s0)
            for (int i = 0; i < IN; i++) s0 += w[i] * x[i];
            put(y + o, s0 + (bias ? bias[o] : 0.0f), mode);
        }
    }
}

/* bf16 weights (--bf16): half the bytes to read per token, which is what batch-1 decoding
 * waits for once the weights leave the cache. Round to nearest even; activations and sums
 * stay fp32. */
static uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

#ifdef __AVX512F__
static inline __m512 load_bf16(const uint16_t *p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
}
/* as linear(), weights bf16 (IN % 16 == 0): four weight rows at a time, every sequence */
static void linear_bf16(float *out, const float *in, const uint16_t *W, const float *bias, int B, int IN, int OUT,
                        int o0, int o1, int mode) {
    int o = o0;
    for (; o + 4 <= o1; o += 4) {
        const uint16_t *w0 = W + (size_t)o * IN, *w1 = w0 + IN, *w2 = w1 + IN, *w3 = w2 + IN;
        for (int b = 0; b < B; b++) {
            const float *x = in + (size_t)b * IN;
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int i = 0; i < IN; i += 16) {
                __m512 xv = _mm512_loadu_ps(x + i);
                a0 = _mm512_fmadd_ps(load_bf16(w0 + i), xv, a0);
                a1 = _mm512_fmadd_ps(load_bf16(w1 + i), xv, a1);
                a2 = _mm512_fmadd_ps(load_bf16(w2 + i), xv, a2);
                a3 = _mm512_fmadd_ps(load_bf16(w3 + i), xv, a3);
            }
            float *y = out + (size_t)b * OUT + o;
            put(y, _mm512_reduce_add_ps(a0) + (bias ? bias[o] : 0.0f), mode);
            put(y + 1, _mm512_reduce_add_ps(a1) + (bias ? bias[o + 1] : 0.0f), mode);
            put(y + 2, _mm512_reduce_add_ps(a2) + (bias ? bias[o + 2] : 0.0f), mode);
            put(y + 3, _mm512_reduce_add_ps(a3) + (bias ? bias[o + 3] : 0.0f), mode);
        }
    }
    for (; o < o1; o++) {
        const uint16_t *w = W + (size_t)o * IN;
        for (int b = 0; b < B; b++) {
            const float *x = in + (size_t)b * IN;
            __m512 a = _mm512_setzero_ps();
            for (int i = 0; i < IN; i += 16) a = _mm512_fmadd_ps(load_bf16(w + i), _mm512_loadu_ps(x + i), a);
            put(out + (size_t)b * OUT + o, _mm512_reduce_add_ps(a) + (bias ? bias[o] : 0.0f), mode);
        }
    }
}
#endif

/* one linear layer in the chosen precision; Wf is the fp32 tensor, off its offset in wb */
static void lin(const gen_fast *g, float *out, const float *in, const float *Wf, size_t off, const float *bias, int B,
                int IN, int OUT, int o0, int o1, int mode) {
#ifdef __AVX512F__
    if (g->wb) { linear_bf16(out, in, g->wb + off, bias, B, IN, OUT, o0, o1, mode); return; }
#endif
    linear(out, in, Wf + off, bias, B, IN, OUT, o0, o1, mode);
}

int gen_fast_use_bf16(gen_fast *g) {
#ifdef __AVX512F__
    const model_config *c = &g->m->cfg;
    if (c->d_model % 16 || c->d_ff % 16) return -1;
    size_t L = c->layers, C = c->d_model, F = c->d_ff, V = c->vocab;
    size_t nq = L * 3 * C * C, np = L * C * C, nf = L * F * C, nfp = L * C * F, nv = V * C;
    g->wb = malloc((nq + np + nf + nfp + nv) * sizeof *g->wb);
    if (!g->wb) return -1;
    const float *src[5] = { g->qkvw, g->projw, g->fcw, g->fcpw, g->wte };
    size_t n[5] = { nq, np, nf, nfp, nv }, o = 0;
    for (int k = 0; k < 5; k++) {
        g->wb_off[k] = o;
        for (size_t i = 0; i < n[k]; i++) g->wb[o + i] = to_bf16(src[k][i]);
        o += n[k];
    }
    return 0;
#else
    (void)g;
    return -1;
#endif
}

static void layernorm_row(float *out, const float *x, const float *w, const float *b, int C) {
    float m = 0, v = 0;
    #pragma omp simd reduction(+:m)
    for (int c = 0; c < C; c++) m += x[c];
    m /= C;
    #pragma omp simd reduction(+:v)
    for (int c = 0; c < C; c++) { float d = x[c] - m; v += d * d; }
    float r = 1.0f / sqrtf(v / C + 1e-5f);
    #pragma omp simd
    for (int c = 0; c < C; c++) out[c] = (x[c] - m) * r * w[c] + b[c];
}

/* [lo, hi) of n items for thread t of nt */
#define SPLIT(n, t, nt, lo, hi) int lo = (int)((long)(n) * (t) / (nt)), hi = (int)((long)(n) * ((t) + 1) / (nt))

void gen_fast_step(gen_fast *g, const int *tok, int B, int pos, float *logits) {
    const model_config *c = &g->m->cfg;
    const int L = c->layers, C = c->d_model, F = c->d_ff, NH = c->heads, hs = C / NH, Tm = c->ctx, V = c->vocab;
    const float scale = 1.0f / sqrtf((float)hs);
    const size_t cache = (size_t)B * Tm * C;   /* per layer; B may be below the allocated batch */
    for (int b = 0; b < B; b++) {
        const float *e = g->wte + (size_t)tok[b] * C, *p = g->wpe + (size_t)pos * C;
        for (int i = 0; i < C; i++) g->x[(size_t)b * C + i] = e[i] + p[i];
    }
    /* Each thread normalises every row itself (B x C is small next to the products that
     * follow), which saves the barrier a shared normalised copy would need. */
    #pragma omp parallel num_threads(g->nthreads)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        float *ln = g->lnt + (size_t)t * B * C;
        SPLIT(3 * C, t, nt, q0, q1);
        SPLIT(C, t, nt, c0, c1);
        SPLIT(F, t, nt, f0, f1);
        SPLIT(B * NH, t, nt, h0, h1);
        for (int l = 0; l < L; l++) {
            float *K = g->k + l * cache, *Vc = g->v + l * cache;
            for (int b = 0; b < B; b++)
                layernorm_row(ln + (size_t)b * C, g->x + (size_t)b * C, g->ln1w + l * C, g->ln1b + l * C, C);
            lin(g, g->qkv, ln, g->qkvw, g->wb_off[0] + (size_t)l * 3 * C * C, g->qkvb + l * 3 * C, B, C, 3 * C, q0, q1, LIN_STORE);
            /* this thread's slice of k and v into the cache */
            for (int b = 0; b < B; b++) {
                const float *q = g->qkv + (size_t)b * 3 * C;
                int lo = q0 > C ? q0 : C, hi = q1 < 2 * C ? q1 : 2 * C;
                /* keys stored transposed, (b, head, i, position): the scores of one query
                 * are then a contiguous, vectorised loop over positions */
                for (int i = lo; i < hi; i++) K[((size_t)b * C + (i - C)) * Tm + pos] = q[i];
                lo = q0 > 2 * C ? q0 : 2 * C; hi = q1;
                if (lo < hi) memcpy(Vc + ((size_t)b * Tm + pos) * C + (lo - 2 * C), q + lo, (size_t)(hi - lo) * sizeof(float));
            }
            #pragma omp barrier
            for (int bh = h0; bh < h1; bh++) {
                int b = bh / NH, h = bh % NH;
                const float *q = g->qkv + (size_t)b * 3 * C + h * hs;
                float *s = g->sc + (size_t)bh * Tm, mx = -INFINITY, sum = 0;
                const float *kt = K + ((size_t)b * C + h * hs) * Tm;
                for (int j = 0; j <= pos; j++) s[j] = 0;
                for (int i = 0; i < hs; i++) {
                    const float qi = q[i] * scale, *kr = kt + (size_t)i * Tm;
                    #pragma omp simd
                    for (int j = 0; j <= pos; j++) s[j] += qi * kr[j];
                }
                for (int j = 0; j <= pos; j++) mx = s[j] > mx ? s[j] : mx;
                #pragma omp simd reduction(+:sum)
                for (int j = 0; j <= pos; j++) { s[j] = vexp(s[j] - mx); sum += s[j]; }
                float *o = g->att + (size_t)b * C + h * hs, inv = 1.0f / sum;
                for (int i = 0; i < hs; i++) o[i] = 0;
                for (int j = 0; j <= pos; j++) {
                    const float *v = Vc + ((size_t)b * Tm + j) * C + h * hs;
                    float w = s[j] * inv;
                    #pragma omp simd
                    for (int i = 0; i < hs; i++) o[i] += w * v[i];
                }
            }
            #pragma omp barrier
            lin(g, g->x, g->att, g->projw, g->wb_off[1] + (size_t)l * C * C, g->projb + l * C, B, C, C, c0, c1, LIN_ADD);
            #pragma omp barrier
            for (int b = 0; b < B; b++)
                layernorm_row(ln + (size_t)b * C, g->x + (size_t)b * C, g->ln2w + l * C, g->ln2b + l * C, C);
            lin(g, g->fc, ln, g->fcw, g->wb_off[2] + (size_t)l * F * C, g->fcb + l * F, B, C, F, f0, f1, LIN_GELU);
            #pragma omp barrier
            lin(g, g->x, g->fc, g->fcpw, g->wb_off[3] + (size_t)l * C * F, g->fcpb + l * C, B, F, C, c0, c1, LIN_ADD);
            #pragma omp barrier
        }
        for (int b = 0; b < B; b++) layernorm_row(ln + (size_t)b * C, g->x + (size_t)b * C, g->lnfw, g->lnfb, C);
        SPLIT(V, t, nt, v0, v1);
        lin(g, logits, ln, g->wte, g->wb_off[4], NULL, B, C, V, v0, v1, LIN_STORE);
    }
}
