/* Causal depthwise convolution with bias, then SiLU (Mamba-2's conv1d on x, B and C; ssm.h).
 * Each channel has its own W taps; output t sees inputs t-W+1 .. t (zeros before the start),
 * which is PyTorch's Conv1d(groups=channels, padding=W-1) keeping the first T outputs. */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wpass-failed"
#endif
#include "nn/ssm.h"
#include "nn/nn.h"
#include <math.h>
#include <string.h>
#include <omp.h>

#define CONV_MAX_W 16   /* the widths the backward keeps taps for on the stack (mamba2.c checks) */
#define CBLK 64         /* channels per thread block in backward */

static inline float sigm(float v) { return 1.0f / (1.0f + nn_expf(-v)); }

void conv1d_silu_forward(float *out, const float *inp, int is, const float *w, const float *bias, int B, int T,
                         int Cd, int W) {
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < B * T; n++) {
        const int t = n % T;
        float *o = out + (size_t)n * Cd;
        memcpy(o, bias, (size_t)Cd * sizeof *o);
        for (int k = 0; k < W; k++) {
            int back = W - 1 - k;          /* tap k reads the input `back` tokens earlier */
            if (t - back < 0) continue;
            const float *x = inp + (size_t)(n - back) * is;
            #pragma omp simd
            for (int c = 0; c < Cd; c++) o[c] += w[(size_t)c * W + k] * x[c];
        }
        #pragma omp simd
        for (int c = 0; c < Cd; c++) o[c] = o[c] * sigm(o[c]);
    }
}

/* Per block of channels (a thread owns its columns of dinp, dw, dbias): first dpre_t =
 * dout_t silu'(pre_t) into dinp, with dw and dbias; then in place, t ascending,
 * dinp_t = sum_k w_k dpre_{t+W-1-k} (it reads only dpre at t and later, not yet overwritten). */
void conv1d_silu_backward(float *dinp, int ds, float *dw, float *dbias, const float *dout, const float *inp, int is,
                          const float *w, const float *bias, int B, int T, int Cd, int W) {
    const int nblk = (Cd + CBLK - 1) / CBLK;
    #pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        const int c0 = blk * CBLK, nc = Cd - c0 < CBLK ? Cd - c0 : CBLK;
        float dwl[CBLK * CONV_MAX_W], dbl[CBLK], pre[CBLK];
        memset(dwl, 0, sizeof dwl); memset(dbl, 0, sizeof dbl);
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < T; t++) {
                const size_t n = (size_t)b * T + t;
                for (int c = 0; c < nc; c++) pre[c] = bias[c0 + c];
                for (int k = 0; k < W; k++) {
                    int back = W - 1 - k;
                    if (t - back < 0) continue;
                    const float *x = inp + (n - back) * is + c0;
                    for (int c = 0; c < nc; c++) pre[c] += w[(size_t)(c0 + c) * W + k] * x[c];
                }
                const float *dr = dout + n * Cd + c0;
                float *dp = dinp + n * ds + c0;
                for (int c = 0; c < nc; c++) {
                    float s = sigm(pre[c]);
                    dp[c] = dr[c] * s * (1.0f + pre[c] * (1.0f - s));
                    dbl[c] += dp[c];
                }
                for (int k = 0; k < W; k++) {
                    int back = W - 1 - k;
                    if (t - back < 0) continue;
                    const float *x = inp + (n - back) * is + c0;
                    for (int c = 0; c < nc; c++) dwl[c * CONV_MAX_W + k] += dp[c] * x[c];
                }
            }
            for (int t = 0; t < T; t++) {
                const size_t n = (size_t)b * T + t;
                float acc[CBLK];
                memset(acc, 0, sizeof acc);
                for (int k = 0; k < W; k++) {
                    int ahead = W - 1 - k;
                    if (t + ahead >= T) continue;
                    const float *dp = dinp + (n + ahead) * ds + c0;
                    for (int c = 0; c < nc; c++) acc[c] += w[(size_t)(c0 + c) * W + k] * dp[c];
                }
                memcpy(dinp + n * ds + c0, acc, (size_t)nc * sizeof(float));
            }
        }
        for (int c = 0; c < nc; c++) {
            dbias[c0 + c] += dbl[c];
            for (int k = 0; k < W; k++) dw[(size_t)(c0 + c) * W + k] += dwl[c * CONV_MAX_W + k];
        }
    }
}

void conv1d_silu_step(float *out, float *window, const float *inp, const float *w, const float *bias, int Cd, int W) {
    for (int c = 0; c < Cd; c++) {
        const float *wc = w + (size_t)c * W;
        float v = bias[c] + wc[W - 1] * inp[c];
        for (int k = 0; k < W - 1; k++) v += wc[k] * window[(size_t)k * Cd + c];
        out[c] = v * sigm(v);
    }
    if (W > 1) {
        memmove(window, window + Cd, (size_t)(W - 2) * Cd * sizeof *window);
        memcpy(window + (size_t)(W - 2) * Cd, inp, (size_t)Cd * sizeof *window);
    }
}
