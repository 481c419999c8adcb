/* The chunked SSD scan of Mamba-2 (ssm.h), forward and backward, and its one-token step.
 *
 * Per batch row and head, with a_t = dt_t A, chunk c of Q tokens (positions l, s inside it),
 * acs_l = a_0 + ... + a_l (cumulative inside the chunk), xd_s = dt_s x_s:
 *   Y_diag_l = sum_{s<=l} (C_l . B_s) exp(acs_l - acs_s) xd_s          (Q x Q products)
 *   S_c      = sum_s exp(acs_last - acs_s) xd_s B_s^T                    (the chunk's own state)
 *   H_{c+1}  = exp(acs_last) H_c + S_c,  H_0 = h0                        (sequential, cheap)
 *   Y_off_l  = exp(acs_l) H_c C_l;   y = Y_diag + Y_off + D x
 * Three passes: (1) Y_diag and S_c for every chunk in parallel, (2) the state passing per
 * (row, head), (3) Y_off in parallel. The backward reverses them, with every gradient term
 * written out from these equations (the chain rule through each exp(difference)):
 *   G_ls = (dy_l . xd_s) L_ls with L_ls = exp(acs_l - acs_s) (s <= l), CB_ls = C_l . B_s,
 *   w_s = exp(acs_last - acs_s), e_l = exp(acs_l), dHn = gradient of H_{c+1}:
 *   dxd_s = sum_l CB_ls L_ls dy_l + w_s dHn B_s
 *   dC_l  = sum_s G_ls B_s + e_l H_c^T dy_l;  dB_s = sum_l G_ls C_l + w_s dHn^T xd_s
 *   dacs_l += sum_s G_ls CB_ls - sum_l' G_l'l CB_l'l + e_l dy_l . (H_c C_l)
 *   dacs_s -= T_s, dacs_last += sum_s T_s + exp(acs_last) <dHn, H_c>,  T_s = w_s <dHn, xd_s B_s^T>
 *   da_t = sum_{l >= t} dacs_l;  dH_c = e-weighted dy C^T sum + exp(acs_last) dHn
 * Each term is summed on its own (no difference of large exponentials is formed), which is
 * what keeps the decay gradient accurate when exp(acs) underflows. */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wpass-failed"
#endif
#include "nn/ssm.h"
#include "nn/nn.h"
#include <math.h>
#include <string.h>
#include <omp.h>

static int nchunks(ssd_dims d) { return (d.T + d.Q - 1) / d.Q; }
static size_t state_floats(ssd_dims d) { return (size_t)d.B * (nchunks(d) + 1) * d.H * d.P * d.N; }
/* per thread: three Q x Q, three Q x P, one Q x N, five Q vectors */
static size_t scratch_floats(ssd_dims d) {
    size_t Q = d.Q;
    return (3 * Q * Q + 3 * Q * d.P + Q * d.N + 5 * Q + 15) & ~(size_t)15;
}
size_t ssd_work_floats(ssd_dims d, int backward) {
    size_t f = state_floats(d) + (size_t)omp_get_max_threads() * scratch_floats(d);
    if (backward) f += state_floats(d) + 3 * (size_t)d.B * nchunks(d) * d.H;
    return f;
}

typedef struct { float *cb, *gm, *mm, *xd, *dxd, *tp, *tn, *acs, *dtl, *e, *w, *dacs; } scratch;
static scratch scratch_of(float *work, ssd_dims d) {
    size_t Q = d.Q;
    float *p = work + state_floats(d) + (size_t)omp_get_thread_num() * scratch_floats(d);
    scratch s;
    s.cb = p; p += Q * Q;
    s.gm = p; p += Q * Q;
    s.mm = p; p += Q * Q;
    s.xd = p; p += Q * d.P;
    s.dxd = p; p += Q * d.P;
    s.tp = p; p += Q * d.P;
    s.tn = p; p += Q * d.N;
    s.acs = p; p += Q;
    s.dtl = p; p += Q;
    s.e = p; p += Q;
    s.w = p; p += Q;
    s.dacs = p;
    return s;
}
/* state entering chunk c (c = nchunks: the final state) of row b, head h */
static float *state_at(float *base, ssd_dims d, int b, int c, int h) {
    return base + (((size_t)b * (nchunks(d) + 1) + c) * d.H + h) * d.P * d.N;
}

/* dt of head h over the q tokens from row n0, and their cumulative a = dt A */
static void chunk_decay(scratch *s, const ssd_in *in, size_t n0, int q, int h) {
    const float A = in->A[h];
    float acc = 0;
    for (int l = 0; l < q; l++) {
        float dt = in->dt[(n0 + l) * in->dts + h];
        s->dtl[l] = dt;
        acc += dt * A;
        s->acs[l] = acc;
    }
}

/* Pass 1 for one (row, chunk, group): Y_diag into y, S_c into the states */
static void chunk_forward(float *y, float *states, const ssd_in *in, ssd_dims d, scratch *s, int b, int c, int g) {
    const int Q = d.Q, P = d.P, N = d.N, hpg = d.H / d.G, t0 = c * Q, q = d.T - t0 < Q ? d.T - t0 : Q;
    const size_t n0 = (size_t)b * d.T + t0;
    const float *Cp = in->C + n0 * in->cs + (size_t)g * N, *Bp = in->B + n0 * in->bs + (size_t)g * N;
    nn_sgemm(0, 1, q, q, N, 1.0f, Cp, in->cs, Bp, in->bs, 0.0f, s->cb, Q);
    for (int hh = 0; hh < hpg; hh++) {
        const int h = g * hpg + hh;
        const float *xp = in->x + n0 * in->xs + (size_t)h * P;
        chunk_decay(s, in, n0, q, h);
        const float *acs = s->acs, *dtl = s->dtl;
        for (int l = 0; l < q; l++) {
            float *mr = s->gm + (size_t)l * Q;
            const float *cr = s->cb + (size_t)l * Q, al = acs[l];
            #pragma omp simd
            for (int j = 0; j <= l; j++) mr[j] = cr[j] * nn_expf(al - acs[j]) * dtl[j];
            for (int j = l + 1; j < q; j++) mr[j] = 0;
        }
        nn_sgemm(0, 0, q, P, q, 1.0f, s->gm, Q, xp, in->xs, 0.0f, y + n0 * d.H * P + (size_t)h * P, d.H * P);
        const float alast = acs[q - 1];
        for (int j = 0; j < q; j++) {
            float f = nn_expf(alast - acs[j]) * dtl[j];
            const float *xr = xp + (size_t)j * in->xs;
            for (int p = 0; p < P; p++) s->xd[(size_t)j * P + p] = f * xr[p];
        }
        nn_sgemm(1, 0, P, N, q, 1.0f, s->xd, P, Bp, in->bs, 0.0f, state_at(states, d, b, c + 1, h), N);
    }
}

/* Pass 2 for one (row, head): H_{c+1} = exp(sum of a over chunk c) H_c + S_c */
static void pass_states(float *states, const float *h0, const ssd_in *in, ssd_dims d, int b, int h) {
    const size_t PN = (size_t)d.P * d.N;
    float *st = state_at(states, d, b, 0, h);
    if (h0) memcpy(st, h0 + ((size_t)b * d.H + h) * PN, PN * sizeof *st);
    else memset(st, 0, PN * sizeof *st);
    const int nc = nchunks(d);
    for (int c = 0; c < nc; c++) {
        const int t0 = c * d.Q, q = d.T - t0 < d.Q ? d.T - t0 : d.Q;
        const size_t n0 = (size_t)b * d.T + t0;
        float acc = 0;   /* the same additions, in the same order, as chunk_decay */
        for (int l = 0; l < q; l++) acc += in->dt[(n0 + l) * in->dts + h] * in->A[h];
        const float dec = nn_expf(acc);
        float *cur = state_at(states, d, b, c, h), *nxt = state_at(states, d, b, c + 1, h);
        #pragma omp simd
        for (size_t i = 0; i < PN; i++) nxt[i] += dec * cur[i];
    }
}

/* Pass 3 for one (row, chunk, group): y += exp(acs_l) H_c C_l + D x */
static void chunk_output(float *y, float *states, const ssd_in *in, const float *h0, ssd_dims d, scratch *s, int b,
                         int c, int g) {
    const int Q = d.Q, P = d.P, N = d.N, hpg = d.H / d.G, t0 = c * Q, q = d.T - t0 < Q ? d.T - t0 : Q;
    const size_t n0 = (size_t)b * d.T + t0;
    const float *Cp = in->C + n0 * in->cs + (size_t)g * N;
    for (int hh = 0; hh < hpg; hh++) {
        const int h = g * hpg + hh;
        const float *xp = in->x + n0 * in->xs + (size_t)h * P;
        float *yp = y + n0 * d.H * P + (size_t)h * P;
        if (c > 0 || h0) {   /* a zero initial state adds nothing to chunk 0 */
            chunk_decay(s, in, n0, q, h);
            nn_sgemm(0, 1, q, P, N, 1.0f, Cp, in->cs, state_at(states, d, b, c, h), N, 0.0f, s->tp, P);
            for (int l = 0; l < q; l++) {
                float e = nn_expf(s->acs[l]);
                float *yr = yp + (size_t)l * d.H * P;
                const float *tr = s->tp + (size_t)l * P;
                for (int p = 0; p < P; p++) yr[p] += e * tr[p];
            }
        }
        if (in->D) {
            const float Dh = in->D[h];
            for (int l = 0; l < q; l++) {
                float *yr = yp + (size_t)l * d.H * P;
                const float *xr = xp + (size_t)l * in->xs;
                for (int p = 0; p < P; p++) yr[p] += Dh * xr[p];
            }
        }
    }
}

void ssd_forward(float *y, float *hT, const ssd_in *in, const float *h0, float *work, ssd_dims d) {
    const int nc = nchunks(d), items = d.B * nc * d.G;
    float *states = work;
    #pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < items; i++) {
        scratch s = scratch_of(work, d);
        chunk_forward(y, states, in, d, &s, i / (nc * d.G), (i / d.G) % nc, i % d.G);
    }
    #pragma omp parallel for schedule(static)
    for (int i = 0; i < d.B * d.H; i++) pass_states(states, h0, in, d, i / d.H, i % d.H);
    #pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < items; i++) {
        scratch s = scratch_of(work, d);
        chunk_output(y, states, in, h0, d, &s, i / (nc * d.G), (i / d.G) % nc, i % d.G);
    }
    if (hT) {
        const size_t HPN = (size_t)d.H * d.P * d.N;
        for (int b = 0; b < d.B; b++) memcpy(hT + b * HPN, state_at(states, d, b, nc, 0), HPN * sizeof *hT);
    }
}

/* ---- backward ---- */

/* Pass A for one (row, chunk, group): dstates[c] = sum_l exp(acs_l) dy_l C_l^T (the gradient
 * of H_c through Y_off; pass B adds what flows back from later chunks) */
static void chunk_dstate(float *dstates, const float *dy, const ssd_in *in, ssd_dims d, scratch *s, int b, int c,
                         int g) {
    const int Q = d.Q, P = d.P, N = d.N, hpg = d.H / d.G, t0 = c * Q, q = d.T - t0 < Q ? d.T - t0 : Q;
    const size_t n0 = (size_t)b * d.T + t0;
    const float *Cp = in->C + n0 * in->cs + (size_t)g * N;
    for (int hh = 0; hh < hpg; hh++) {
        const int h = g * hpg + hh;
        chunk_decay(s, in, n0, q, h);
        const float *dyp = dy + n0 * d.H * P + (size_t)h * P;
        for (int l = 0; l < q; l++) {
            float e = nn_expf(s->acs[l]);
            for (int p = 0; p < P; p++) s->tp[(size_t)l * P + p] = e * dyp[(size_t)l * d.H * P + p];
        }
        nn_sgemm(1, 0, P, N, q, 1.0f, s->tp, P, Cp, in->cs, 0.0f, state_at(dstates, d, b, c, h), N);
    }
}

/* Pass B for one (row, head), last chunk first: dH_c = dY_off part + exp(A_c) dH_{c+1};
 * ddec[c] = exp(A_c) <dH_{c+1}, H_c>, the gradient of chunk c's total decay exponent. */
static void pass_dstates(float *dstates, float *ddec, float *states, const ssd_in *in, ssd_dims d, int b, int h) {
    const size_t PN = (size_t)d.P * d.N;
    const int nc = nchunks(d);
    memset(state_at(dstates, d, b, nc, h), 0, PN * sizeof(float));
    for (int c = nc - 1; c >= 0; c--) {
        const int t0 = c * d.Q, q = d.T - t0 < d.Q ? d.T - t0 : d.Q;
        const size_t n0 = (size_t)b * d.T + t0;
        float acc = 0;
        for (int l = 0; l < q; l++) acc += in->dt[(n0 + l) * in->dts + h] * in->A[h];
        const float dec = nn_expf(acc);
        const float *dn = state_at(dstates, d, b, c + 1, h), *hc = state_at(states, d, b, c, h);
        float *dc = state_at(dstates, d, b, c, h), dot = 0;
        #pragma omp simd reduction(+:dot)
        for (size_t i = 0; i < PN; i++) { dot += dn[i] * hc[i]; dc[i] += dec * dn[i]; }
        ddec[((size_t)b * nc + c) * d.H + h] = dec * dot;
    }
}

static float dotf(const float *a, const float *b, int n) {
    float s = 0;
    #pragma omp simd reduction(+:s)
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Pass C for one (row, chunk, group): every input gradient of the chunk */
static void chunk_backward(const ssd_grad *gr, float *part, const float *ddec, float *states, float *dstates,
                           const float *dy, const ssd_in *in, const float *h0, ssd_dims d, scratch *s, int b, int c,
                           int g) {
    const int Q = d.Q, P = d.P, N = d.N, HP = d.H * d.P, hpg = d.H / d.G, nc = nchunks(d);
    const int t0 = c * Q, q = d.T - t0 < Q ? d.T - t0 : Q;
    const size_t n0 = (size_t)b * d.T + t0;
    const float *Cp = in->C + n0 * in->cs + (size_t)g * N, *Bp = in->B + n0 * in->bs + (size_t)g * N;
    float *dCp = gr->C + n0 * gr->cs + (size_t)g * N, *dBp = gr->B + n0 * gr->bs + (size_t)g * N;
    for (int l = 0; l < q; l++) {
        memset(dCp + (size_t)l * gr->cs, 0, (size_t)N * sizeof(float));
        memset(dBp + (size_t)l * gr->bs, 0, (size_t)N * sizeof(float));
    }
    nn_sgemm(0, 1, q, q, N, 1.0f, Cp, in->cs, Bp, in->bs, 0.0f, s->cb, Q);
    const int has_state = c > 0 || h0;
    for (int hh = 0; hh < hpg; hh++) {
        const int h = g * hpg + hh;
        const float A = in->A[h];
        const float *xp = in->x + n0 * in->xs + (size_t)h * P, *dyp = dy + n0 * HP + (size_t)h * P;
        const float *hc = state_at(states, d, b, c, h), *dhn = state_at(dstates, d, b, c + 1, h);
        chunk_decay(s, in, n0, q, h);
        const float *acs = s->acs, *dtl = s->dtl, alast = acs[q - 1];
        float *dacs = s->dacs;
        for (int j = 0; j < q; j++) {
            s->e[j] = nn_expf(acs[j]);
            s->w[j] = nn_expf(alast - acs[j]);
            dacs[j] = 0;
            const float *xr = xp + (size_t)j * in->xs;
            for (int p = 0; p < P; p++) s->xd[(size_t)j * P + p] = dtl[j] * xr[p];
        }
        /* G = (dY Xd^T) o L, M = CB o L; intra-chunk decay gradients from G o CB */
        nn_sgemm(0, 1, q, q, P, 1.0f, dyp, HP, s->xd, P, 0.0f, s->gm, Q);
        for (int l = 0; l < q; l++) {
            float *gr_ = s->gm + (size_t)l * Q, *mr = s->mm + (size_t)l * Q;
            const float *cr = s->cb + (size_t)l * Q, al = acs[l];
            float rs = 0;
            #pragma omp simd reduction(+:rs)
            for (int j = 0; j <= l; j++) {
                float L = nn_expf(al - acs[j]);
                gr_[j] *= L;
                mr[j] = cr[j] * L;
                rs += gr_[j] * cr[j];
            }
            for (int j = l + 1; j < q; j++) gr_[j] = mr[j] = 0;
            dacs[l] += rs;
        }
        for (int l = 0; l < q; l++) {   /* column sums: the -G_l's CB_l's terms */
            const float *gr_ = s->gm + (size_t)l * Q, *cr = s->cb + (size_t)l * Q;
            for (int j = 0; j <= l; j++) dacs[j] -= gr_[j] * cr[j];
        }
        /* dXd = M^T dY + diag(w) B dHn^T */
        nn_sgemm(1, 0, q, P, q, 1.0f, s->mm, Q, dyp, HP, 0.0f, s->dxd, P);
        nn_sgemm(0, 1, q, P, N, 1.0f, Bp, in->bs, dhn, N, 0.0f, s->tp, P);
        for (int j = 0; j < q; j++)
            for (int p = 0; p < P; p++) s->dxd[(size_t)j * P + p] += s->w[j] * s->tp[(size_t)j * P + p];
        /* dC = G B + diag(e) dY H_c; dB = G^T C + diag(w) Xd dHn */
        nn_sgemm(0, 0, q, N, q, 1.0f, s->gm, Q, Bp, in->bs, 1.0f, dCp, gr->cs);
        nn_sgemm(1, 0, q, N, q, 1.0f, s->gm, Q, Cp, in->cs, 1.0f, dBp, gr->bs);
        if (has_state) {
            nn_sgemm(0, 0, q, N, P, 1.0f, dyp, HP, hc, N, 0.0f, s->tn, N);
            for (int l = 0; l < q; l++) {
                const float *tr = s->tn + (size_t)l * N;
                float *dcr = dCp + (size_t)l * gr->cs, e = s->e[l];
                dacs[l] += e * dotf(tr, Cp + (size_t)l * in->cs, N);
                for (int n = 0; n < N; n++) dcr[n] += e * tr[n];
            }
        }
        nn_sgemm(0, 0, q, N, P, 1.0f, s->xd, P, dhn, N, 0.0f, s->tn, N);
        float tsum = 0;
        for (int j = 0; j < q; j++) {
            const float *vr = s->tn + (size_t)j * N;
            float *dbr = dBp + (size_t)j * gr->bs, w = s->w[j];
            float Ts = w * dotf(vr, Bp + (size_t)j * in->bs, N);
            tsum += Ts;
            dacs[j] -= Ts;
            for (int n = 0; n < N; n++) dbr[n] += w * vr[n];
        }
        dacs[q - 1] += tsum + ddec[((size_t)b * nc + c) * d.H + h];
        /* da = reverse cumulative sum of dacs; then x, dt, A, D */
        float da = 0, pA = 0, pD = 0;
        const float Dh = in->D ? in->D[h] : 0.0f;
        for (int j = q - 1; j >= 0; j--) {
            da += dacs[j];
            const float *xr = xp + (size_t)j * in->xs, *dr = s->dxd + (size_t)j * P, *dyr = dyp + (size_t)j * HP;
            if (gr->x) {
                float *dxr = gr->x + (n0 + j) * gr->xs + (size_t)h * P;
                for (int p = 0; p < P; p++) dxr[p] = dtl[j] * dr[p] + Dh * dyr[p];
            }
            if (gr->dt) gr->dt[(n0 + j) * gr->dts + h] = dotf(dr, xr, P) + da * A;
            pA += da * dtl[j];
            pD += dotf(dyr, xr, P);
        }
        part[((size_t)b * nc + c) * d.H + h] = pA;
        part[((size_t)(d.B + b) * nc + c) * d.H + h] = pD;
    }
}

void ssd_backward(const ssd_grad *g, const float *dy, const ssd_in *in, const float *h0, float *work, ssd_dims d) {
    const int nc = nchunks(d), items = d.B * nc * d.G;
    float *states = work;
    float *dstates = work + state_floats(d) + (size_t)omp_get_max_threads() * scratch_floats(d);
    float *ddec = dstates + state_floats(d), *part = ddec + (size_t)d.B * nc * d.H;
    #pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < items; i++) {
        scratch s = scratch_of(work, d);
        chunk_dstate(dstates, dy, in, d, &s, i / (nc * d.G), (i / d.G) % nc, i % d.G);
    }
    #pragma omp parallel for schedule(static)
    for (int i = 0; i < d.B * d.H; i++) pass_dstates(dstates, ddec, states, in, d, i / d.H, i % d.H);
    #pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < items; i++) {
        scratch s = scratch_of(work, d);
        chunk_backward(g, part, ddec, states, dstates, dy, in, h0, d, &s, i / (nc * d.G), (i / d.G) % nc, i % d.G);
    }
    /* per-head sums over (row, chunk) in a fixed order */
    for (int h = 0; h < d.H; h++) {
        float sa = 0, sd = 0;
        for (int i = 0; i < d.B * nc; i++) {
            sa += part[(size_t)i * d.H + h];
            sd += part[((size_t)d.B * nc + i) * d.H + h];
        }
        if (g->A) g->A[h] += sa;
        if (g->D) g->D[h] += sd;
    }
    if (g->h0) {   /* the gradient of the initial state is dH_0 */
        const size_t HPN = (size_t)d.H * d.P * d.N;
        for (int b = 0; b < d.B; b++) memcpy(g->h0 + b * HPN, state_at(dstates, d, b, 0, 0), HPN * sizeof(float));
    }
}

void ssd_step(float *y, float *state, const float *x, const float *dt, const float *A, const float *B,
              const float *C, const float *D, int H, int P, int G, int N) {
    const int hpg = H / G;
    for (int h = 0; h < H; h++) {
        const float *Bg = B + (size_t)(h / hpg) * N, *Cg = C + (size_t)(h / hpg) * N, *xh = x + (size_t)h * P;
        const float dec = nn_expf(dt[h] * A[h]), Dh = D ? D[h] : 0.0f;
        float *st = state + (size_t)h * P * N;
        for (int p = 0; p < P; p++) {
            float *sr = st + (size_t)p * N, u = dt[h] * xh[p], acc = 0;
            #pragma omp simd reduction(+:acc)
            for (int n = 0; n < N; n++) {
                sr[n] = sr[n] * dec + u * Bg[n];
                acc += sr[n] * Cg[n];
            }
            y[(size_t)h * P + p] = acc + Dh * xh[p];
        }
    }
}

void softplus_bias_forward(float *dt, const float *raw, int rs, const float *bias, int N, int H) {
    #pragma omp parallel for schedule(static) if (N > 64)
    for (int n = 0; n < N; n++)
        for (int h = 0; h < H; h++) {
            float v = raw[(size_t)n * rs + h] + bias[h];
            dt[(size_t)n * H + h] = v > 20.0f ? v : log1pf(expf(v));
        }
}

void softplus_bias_backward(float *draw, int drs, float *dbias, const float *ddt, const float *raw, int rs,
                            const float *bias, int N, int H) {
    #pragma omp parallel for schedule(static) if (N > 64)
    for (int n = 0; n < N; n++)
        for (int h = 0; h < H; h++) {
            float v = raw[(size_t)n * rs + h] + bias[h];
            draw[(size_t)n * drs + h] = ddt[(size_t)n * H + h] / (1.0f + expf(-v));
        }
    for (int n = 0; n < N; n++)   /* H is small: serial, fixed order */
        for (int h = 0; h < H; h++) dbias[h] += draw[(size_t)n * drs + h];
}
