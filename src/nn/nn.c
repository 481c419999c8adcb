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

/* The weight and bias gradients are summed per block of LN_ROWS rows in the same pass as the
 * input gradient (x and dout are read once), then the blocks in order: the same numbers for any
 * thread count. (Summing them afterwards, per column strip over all rows, read both again.) */
#define LN_ROWS 64
void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, const float *mean, const float *rstd, int N, int C) {
    const int nb = (N + LN_ROWS - 1) / LN_ROWS;
    float *part = malloc((size_t)nb * 2 * C * sizeof(float));
    #pragma omp parallel
    {
        #pragma omp for schedule(static)
        for (int bk = 0; bk < nb; bk++) {
            float *pw = part ? part + (size_t)bk * 2 * C : NULL, *pb = pw ? pw + C : NULL;
            if (pw) memset(pw, 0, 2 * (size_t)C * sizeof(float));
            const int i1 = (bk + 1) * LN_ROWS < N ? (bk + 1) * LN_ROWS : N;
            for (int i = bk * LN_ROWS; i < i1; i++) {
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
                if (pw) {
                    #pragma omp simd
                    for (int c = 0; c < C; c++) { pw[c] += d[c] * (x[c] - m) * s; pb[c] += d[c]; }
                }
            }
        }
        if (part) {
            #pragma omp for schedule(static)
            for (int c = 0; c < C; c++) {
                float aw = 0, ab = 0;
                for (int bk = 0; bk < nb; bk++) { aw += part[(size_t)bk * 2 * C + c]; ab += part[(size_t)bk * 2 * C + C + c]; }
                dw[c] += aw; db[c] += ab;
            }
        } else {   /* no memory for the blocks' sums: per column strip, reading x and dout again */
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
    free(part);
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
            /* erf's e^(-u^2), u = x / sqrt 2, is the density's e^(-x^2 / 2): one exp for both */
            float x = inp[i], u = x * 0.70710678118654752f, au = fabsf(u), t = 1.0f / (1.0f + 0.3275911f * au);
            float p = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
            float e = fexp(-au * au), y = 1.0f - p * e;
            float g = 0.5f * (1.0f + (u < 0 ? -y : y)) + x * 0.39894228040143268f * e;
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
