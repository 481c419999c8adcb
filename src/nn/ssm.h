/* Kernels of state-space backbones (Mamba-2): the chunked SSD scan (ssd.c), the causal
 * depthwise convolution (conv1d.c) and RMSNorm with its gated, grouped form (rmsnorm.c).
 * Conventions of nn.h (row-major float, outputs first); where a kernel OVERWRITES a gradient
 * instead of accumulating it, its comment says so.
 *
 * The scan, per batch row and head h (head h reads group g = h / (H/G) of B and C):
 *   h_t = exp(dt_t A) h_{t-1} + dt_t x_t B_t^T       (state P x N)
 *   y_t = h_t C_t + D x_t
 * computed by chunks of Q tokens: inside a chunk by Q x Q matrix products, between chunks by
 * passing one state per chunk. Only differences of cumulative sums of dt A are exponentiated
 * (each is <= 0 when A <= 0), so nothing overflows however long the sequence. The result does
 * not depend on Q except through rounding. A = 0 and dt = 1 give plain running sums (causal
 * linear attention: x = v, B = phi(k), C = phi(q); x = 1 with P = 1 for its denominator). */
#ifndef PKTLM_NN_SSM_H
#define PKTLM_NN_SSM_H
#include <stddef.h>

typedef struct {
    int B, T;     /* batch rows, tokens per row */
    int H, P;     /* heads, head size (x and y per head) */
    int G, N;     /* groups of B/C (H % G == 0), state size */
    int Q;        /* chunk length */
} ssd_dims;

/* Inputs, each row-strided: token n = b*T + t of head h / group g is at
 *   x + n*xs + h*P,  dt + n*dts + h,  B + n*bs + g*N,  C + n*cs + g*N
 * (a stride of 0 repeats one row: dt = 1 everywhere, or x = 1 for a denominator).
 * dt is the step after softplus; A (H) the decay per unit step (<= 0 for a stable scan);
 * D (H) may be NULL (no skip term). */
typedef struct {
    const float *x, *dt, *B, *C, *A, *D;
    int xs, dts, bs, cs;
} ssd_in;

/* Gradients, strided as the inputs (strides of their own). dx, ddt, dB, dC are OVERWRITTEN
 * (dB/dC sum the heads of a group); dA, dD (H) are accumulated (+=). ddt, dA, dD may be NULL
 * (not wanted, e.g. linear attention), and so may dx. */
typedef struct {
    float *x, *dt, *B, *C, *A, *D;
    int xs, dts, bs, cs;
    float *h0;    /* (B,H,P,N) gradient of the initial state, OVERWRITTEN; NULL: not wanted */
} ssd_grad;

/* Floats of the work buffer: chunk states (B, nchunks+1, H, P, N) and per-thread scratch
 * (omp_get_max_threads()); backward = 1 adds the state gradients and per-chunk partial sums. */
size_t ssd_work_floats(ssd_dims d, int backward);
/* y (B,T,H,P) contiguous. h0 (B,H,P,N) the state before token 0, or NULL for zeros; hT
 * (B,H,P,N) receives the state after token T-1 (NULL: not wanted). work keeps the chunk states
 * for ssd_backward. Parallel over (row, chunk, group) when called outside a parallel region. */
void ssd_forward(float *y, float *hT, const ssd_in *in, const float *h0, float *work, ssd_dims d);
/* Backward of the ssd_forward just run on the same inputs and work (it reads the chunk states
 * from work). dy (B,T,H,P) contiguous. No gradient flows into a final state (hT is for
 * generation). */
void ssd_backward(const ssd_grad *g, const float *dy, const ssd_in *in, const float *h0, float *work, ssd_dims d);

/* One token of the recurrence for one sequence, heads h0..h1-1 (all: 0, H): state (H,P,N)
 * updated in place, y (H*P). x (H*P), dt (H), B, C (G*N). */
void ssd_step(float *y, float *state, const float *x, const float *dt, const float *A, const float *B,
              const float *C, const float *D, int H, int P, int G, int N, int h0, int h1);

/* dt = softplus(raw + bias) per head for N rows (raw row-strided by rs, dt contiguous (N,H));
 * softplus(v) = log(1 + exp(v)), v itself above 20 (where the two agree in float). */
void softplus_bias_forward(float *dt, const float *raw, int rs, const float *bias, int N, int H);
/* draw (row-strided, OVERWRITTEN) = ddt * sigmoid(raw + bias); dbias += column sums. */
void softplus_bias_backward(float *draw, int drs, float *dbias, const float *ddt, const float *raw, int rs,
                            const float *bias, int N, int H);

/* Causal depthwise convolution with bias, then SiLU, over Cd channels of B rows of T tokens:
 *   out[t,c] = silu(bias[c] + sum_k w[c,k] inp[t-W+1+k, c])   (inputs before t = 0 are 0)
 * inp row-strided by is (token n at inp + n*is), out (B*T, Cd) contiguous, w (Cd, W) as
 * PyTorch's Conv1d weight (Cd, 1, W). */
void conv1d_silu_forward(float *out, const float *inp, int is, const float *w, const float *bias, int B, int T,
                         int Cd, int W);
/* dinp (row-strided by ds) OVERWRITTEN; dw, dbias accumulated. Recomputes the pre-activation. */
void conv1d_silu_backward(float *dinp, int ds, float *dw, float *dbias, const float *dout, const float *inp, int is,
                          const float *w, const float *bias, int B, int T, int Cd, int W);
/* One token, channels c0..c1-1 (all: 0, Cd): window (W-1, Cd) holds the previous W-1 inputs,
 * oldest first; it is shifted and inp appended. out (Cd). */
void conv1d_silu_step(float *out, float *window, const float *inp, const float *w, const float *bias, int Cd, int W,
                      int c0, int c1);

/* (Plain RMSNorm, rmsnorm_forward_eps / rmsnorm_backward_eps, is in nn.h.) */
/* Gated, grouped RMSNorm (Mamba-2's, gate before the norm): u = y * silu(z), then each of the
 * G groups of C/G columns: out = u * rstd_g * w. y (N,C) contiguous, z row-strided by zs,
 * rstd (N*G) kept when not NULL. */
void rmsnorm_gated_forward(float *out, float *rstd, const float *y, const float *z, int zs, const float *w, int N,
                           int C, int G, float eps);
/* dy (N,C) and dz (row-strided by dzs) OVERWRITTEN, dw accumulated. */
void rmsnorm_gated_backward(float *dy, float *dz, int dzs, float *dw, const float *dout, const float *y,
                            const float *z, int zs, const float *w, const float *rstd, int N, int C, int G);
#endif
