/* Causal depthwise convolution with bias, then SiLU (Mamba-2's conv1d on x, B and C; ssm.h).
 * Each channel has its own W taps; output t sees inputs t-W+1 .. t (zeros before the start),
 * which is PyTorch's Conv1d(groups=channels, padding=W-1) keeping the first T outputs. */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wpass-failed"
#endif
#include "nn/ssm.h"
#include "nn/nn.h"
#include "nn/fexp.h"
#include <math.h>
#include <string.h>
#include <omp.h>

#define CONV_MAX_W 16   /* the widths the backward keeps taps for on the stack (mamba2.c checks) */
#define CBLK 64         /* channels per work item */

static inline float sigm(float v) { return 1.0f / (1.0f + nn_fexp(-v)); }

/* wk (W, nc) = the taps of channels c0..c0+nc-1, transposed from w (Cd, W) so that the
 * loops run over channels, contiguous in the rows and in the taps */
static void taps_by_k(float *wk, const float *w, int c0, int nc, int W) {
    for (int c = 0; c < nc; c++)
        for (int k = 0; k < W; k++) wk[k * CBLK + c] = w[(size_t)(c0 + c) * W + k];
}

#define RBLK 64   /* rows per forward work item */
void conv1d_silu_forward(float *out, const float *inp, int is, const float *w, const float *bias, int B, int T,
                         int Cd, int W) {
    const int nblk = (Cd + CBLK - 1) / CBLK, N = B * T, nrb = (N + RBLK - 1) / RBLK;
    #pragma omp parallel for schedule(static)
    for (int it = 0; it < nrb * nblk; it++) {
        const int c0 = (it % nblk) * CBLK, nc = Cd - c0 < CBLK ? Cd - c0 : CBLK;
        const int n0 = (it / nblk) * RBLK, n1 = n0 + RBLK < N ? n0 + RBLK : N;
        float wk[CONV_MAX_W * CBLK];
        taps_by_k(wk, w, c0, nc, W);
        for (int n = n0; n < n1; n++) {
            const int t = n % T;
            float *o = out + (size_t)n * Cd + c0;
            memcpy(o, bias + c0, (size_t)nc * sizeof *o);
            for (int k = 0; k < W; k++) {
                int back = W - 1 - k;          /* tap k reads the input `back` tokens earlier */
                if (t - back < 0) continue;
                const float *x = inp + (size_t)(n - back) * is + c0, *wr = wk + k * CBLK;
                #pragma omp simd
                for (int c = 0; c < nc; c++) o[c] += wr[c] * x[c];
            }
            #pragma omp simd
            for (int c = 0; c < nc; c++) o[c] = o[c] * sigm(o[c]);
        }
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
        float dwl[CONV_MAX_W * CBLK], dbl[CBLK], pre[CBLK], wk[CONV_MAX_W * CBLK];   /* by tap, then channel */
        taps_by_k(wk, w, c0, nc, W);
        memset(dwl, 0, sizeof dwl); memset(dbl, 0, sizeof dbl);
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < T; t++) {
                const size_t n = (size_t)b * T + t;
                for (int c = 0; c < nc; c++) pre[c] = bias[c0 + c];
                for (int k = 0; k < W; k++) {
                    int back = W - 1 - k;
                    if (t - back < 0) continue;
                    const float *x = inp + (n - back) * is + c0, *wr = wk + k * CBLK;
                    #pragma omp simd
                    for (int c = 0; c < nc; c++) pre[c] += wr[c] * x[c];
                }
                const float *dr = dout + n * Cd + c0;
                float *dp = dinp + n * ds + c0;
                #pragma omp simd
                for (int c = 0; c < nc; c++) {
                    float s = sigm(pre[c]);
                    dp[c] = dr[c] * s * (1.0f + pre[c] * (1.0f - s));
                    dbl[c] += dp[c];
                }
                for (int k = 0; k < W; k++) {
                    int back = W - 1 - k;
                    if (t - back < 0) continue;
                    const float *x = inp + (n - back) * is + c0;
                    float *dk = dwl + k * CBLK;
                    #pragma omp simd
                    for (int c = 0; c < nc; c++) dk[c] += dp[c] * x[c];
                }
            }
            for (int t = 0; t < T; t++) {
                const size_t n = (size_t)b * T + t;
                float acc[CBLK];
                memset(acc, 0, sizeof acc);
                for (int k = 0; k < W; k++) {
                    int ahead = W - 1 - k;
                    if (t + ahead >= T) continue;
                    const float *dp = dinp + (n + ahead) * ds + c0, *wr = wk + k * CBLK;
                    #pragma omp simd
                    for (int c = 0; c < nc; c++) acc[c] += wr[c] * dp[c];
                }
                memcpy(dinp + n * ds + c0, acc, (size_t)nc * sizeof(float));
            }
        }
        for (int c = 0; c < nc; c++) {
            dbias[c0 + c] += dbl[c];
            for (int k = 0; k < W; k++) dw[(size_t)(c0 + c) * W + k] += dwl[k * CBLK + c];
        }
    }
}

void conv1d_silu_step(float *out, float *window, const float *inp, const float *w, const float *bias, int Cd, int W,
                      int c0, int c1) {
    for (int c = c0; c < c1; c++) {
        const float *wc = w + (size_t)c * W;
        float v = bias[c] + wc[W - 1] * inp[c];
        for (int k = 0; k < W - 1; k++) v += wc[k] * window[(size_t)k * Cd + c];
        out[c] = v * sigm(v);
    }
    for (int k = 0; k + 1 < W - 1; k++)   /* shift this range of channels by one token */
        memcpy(window + (size_t)k * Cd + c0, window + (size_t)(k + 1) * Cd + c0, (size_t)(c1 - c0) * sizeof *window);
    if (W > 1) memcpy(window + (size_t)(W - 2) * Cd + c0, inp + c0, (size_t)(c1 - c0) * sizeof *window);
}
