/* RMSNorm with a weight and its gated, grouped form (Mamba-2's norm before out_proj; ssm.h).
 *   plain:  out = x rstd w,                      rstd = 1/sqrt(mean(x^2) + eps)
 *   gated:  u = y silu(z); per group of C/G:     out = u rstd_g w
 * Backward with xh = x rstd, g = dout w: dx = rstd (g - xh mean(g xh)) (the mean term is the
 * path through rstd); dw sums dout xh over rows, by column blocks so no two threads write one
 * float and the order of the sum is fixed. */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wpass-failed"
#endif
#include "nn/ssm.h"
#include "nn/nn.h"
#include "nn/fexp.h"
#include <math.h>
#include <string.h>
#include <omp.h>

static inline float sigm(float v) { return 1.0f / (1.0f + nn_fexp(-v)); }

float rmsnorm_row(float *o, const float *x, const float *w, int C, float eps) {
    float ss = 0;
    #pragma omp simd reduction(+:ss)
    for (int i = 0; i < C; i++) ss += x[i] * x[i];
    float r = 1.0f / sqrtf(ss / C + eps);
    for (int i = 0; i < C; i++) o[i] = x[i] * r * w[i];
    return r;
}

void rmsnorm_forward_eps(float *out, float *rstd, const float *x, const float *w, int N, int C, float eps) {
    #pragma omp parallel for schedule(static) if (N > 1)
    for (int n = 0; n < N; n++) {
        float r = rmsnorm_row(out + (size_t)n * C, x + (size_t)n * C, w, C, eps);
        if (rstd) rstd[n] = r;
    }
}

/* dw[i] += sum_n d[n,i] a[n,i] s[n, i / gs] (s = rstd per row and group of gs columns) */
static void colsum_scaled(float *dw, const float *d, const float *a, const float *s, int N, int C, int gs) {
    const int G = C / gs;
    #pragma omp parallel for schedule(static)
    for (int c0 = 0; c0 < C; c0 += 16) {
        int c1 = c0 + 16 < C ? c0 + 16 : C;
        for (int n = 0; n < N; n++) {
            const float *dr = d + (size_t)n * C, *ar = a + (size_t)n * C;
            for (int i = c0; i < c1; i++) dw[i] += dr[i] * ar[i] * s[(size_t)n * G + i / gs];
        }
    }
}

void rmsnorm_backward_eps(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd,
                          int N, int C) {
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C, *d = dout + (size_t)n * C;
        float *o = dx + (size_t)n * C, r = rstd[n], dot = 0;
        #pragma omp simd reduction(+:dot)
        for (int i = 0; i < C; i++) dot += d[i] * w[i] * xr[i] * r;
        dot /= C;
        for (int i = 0; i < C; i++) o[i] += r * (d[i] * w[i] - xr[i] * r * dot);
    }
    colsum_scaled(dw, dout, x, rstd, N, C, C);
}

void rmsnorm_gated_forward(float *out, float *rstd, const float *y, const float *z, int zs, const float *w, int N,
                           int C, int G, float eps) {
    const int gs = C / G;
    #pragma omp parallel for schedule(static) if (N > 1)
    for (int n = 0; n < N; n++) {
        const float *yr = y + (size_t)n * C, *zr = z + (size_t)n * zs;
        float *o = out + (size_t)n * C;
        for (int i = 0; i < C; i++) o[i] = yr[i] * zr[i] * sigm(zr[i]);
        for (int g = 0; g < G; g++) {
            float *u = o + (size_t)g * gs, ss = 0;
            #pragma omp simd reduction(+:ss)
            for (int i = 0; i < gs; i++) ss += u[i] * u[i];
            float r = 1.0f / sqrtf(ss / gs + eps);
            if (rstd) rstd[(size_t)n * G + g] = r;
            const float *wg = w + (size_t)g * gs;
            for (int i = 0; i < gs; i++) u[i] *= r * wg[i];
        }
    }
}

/* dy doubles as the buffer of u = y silu(z) for the dw column sums (then gets dy itself) */
void rmsnorm_gated_backward(float *dy, float *dz, int dzs, float *dw, const float *dout, const float *y,
                            const float *z, int zs, const float *w, const float *rstd, int N, int C, int G) {
    const int gs = C / G;
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *yr = y + (size_t)n * C, *zr = z + (size_t)n * zs;
        float *u = dy + (size_t)n * C;
        for (int i = 0; i < C; i++) u[i] = yr[i] * zr[i] * sigm(zr[i]);
    }
    colsum_scaled(dw, dout, dy, rstd, N, C, gs);
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *yr = y + (size_t)n * C, *zr = z + (size_t)n * zs, *d = dout + (size_t)n * C;
        float *u = dy + (size_t)n * C, *dzr = dz + (size_t)n * dzs;
        for (int g = 0; g < G; g++) {
            const int o = g * gs;
            const float r = rstd[(size_t)n * G + g];
            float dot = 0;
            for (int i = o; i < o + gs; i++) dot += d[i] * w[i] * u[i] * r;
            dot /= gs;
            for (int i = o; i < o + gs; i++) {
                float du = r * (d[i] * w[i] - u[i] * r * dot), s = sigm(zr[i]);
                dzr[i] = du * yr[i] * s * (1.0f + zr[i] * (1.0f - s));
                u[i] = du * zr[i] * s;
            }
        }
    }
}
