/* Mamba-2 backbone as NetSSM uses it (mamba_ssm's MambaLMHeadModel with the Mamba2 mixer, no
 * MLP), written from the equations (docs/model.md):
 *   x = embedding[tok]
 *   per layer:  x = x + mixer(rmsnorm(x))                        RMSNorm weight only, eps 1e-5
 *   mixer(u):   z | xBC | dt = in_proj(u)                          no bias
 *               xBC = silu(causal depthwise conv(xBC) + bias)      width d_conv, on x, B and C
 *               x | B | C = xBC;  dt = softplus(dt + dt_bias);  A = -exp(A_log)
 *               y = SSD(x, dt, A, B, C) + D x                      nn/ssd.c; head h reads group h/(H/G)
 *               y = rmsnorm per group(y * silu(z)) * norm.weight   gate before the norm
 *               out_proj(y)
 *   hidden = rmsnorm(x) (norm_f); the LM head is the embedding (tied).
 * Sizes: d_inner Di = expand C, H = Di / head_dim heads of P = head_dim, N = d_state, G groups,
 * conv_dim Cd = Di + 2GN, in_proj rows Dp = 2Di + 2GN + H.
 *
 * Memory: training keeps only each layer's input (the residual stream, (L+1) N C floats) and
 * recomputes a layer's internals in its backward, one layer at a time (as the reference
 * implementation does): so the activations grow by C floats per token per layer, not by the
 * ~5 Di + 2Cd of the layer's internals, and ctx 65536 fits where saving everything would not.
 * The chunk states of the scan ((T/chunk + 1) H P N per row) are the largest scratch.
 *
 * Generation (step): per sequence and layer a conv window ((d_conv-1) x Cd inputs before
 * the conv) and the SSM state (H x P x N): O(1) memory and work per token. */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wpass-failed"
#endif
#include "models/model.h"
#include "nn/ssm.h"
#include "util/util.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

#define M2_EPS 1e-5f

enum { EMB, NORMW, INW, CONVW, CONVB, DTB, ALOG, DPAR, MNORMW, OUTW, NORMF, NPARAMS };

typedef struct { int C, Di, H, P, N, G, W, Q, Cd, Dp; } dims;
static dims dims_of(const model_config *c0) {
    model_config c = *c0;
    model_config_defaults(&c);
    dims d;
    d.C = c.d_model; d.Di = c.expand * c.d_model; d.P = c.head_dim; d.H = d.Di / d.P;
    d.N = c.d_state; d.G = c.groups; d.W = c.d_conv; d.Q = c.chunk;
    d.Cd = d.Di + 2 * d.G * d.N; d.Dp = 2 * d.Di + 2 * d.G * d.N + d.H;
    return d;
}

static int mamba2_params(const model_config *c, tensor_spec *s, int *head) {
    dims d = dims_of(c);
    size_t V = c->vocab, L = c->layers, C = d.C, Di = d.Di, H = d.H;
    tensor_spec t[NPARAMS] = {
        { "embedding", V * C, 1 },
        { "layers.norm.weight", L * C, 0 },
        { "layers.mixer.in_proj.weight", L * d.Dp * C, 1 },
        { "layers.mixer.conv1d.weight", L * d.Cd * d.W, 1 },
        { "layers.mixer.conv1d.bias", L * d.Cd, 0 },
        { "layers.mixer.dt_bias", L * H, 0 },
        { "layers.mixer.A_log", L * H, 0 },
        { "layers.mixer.D", L * H, 0 },
        { "layers.mixer.norm.weight", L * Di, 0 },
        { "layers.mixer.out_proj.weight", L * C * Di, 1 },
        { "norm_f.weight", C, 0 },
    };
    memcpy(s, t, sizeof t);
    *head = EMB;
    return NPARAMS;
}

static const char *mamba2_check(const model_config *c) {
    if (c->vocab < 2 || c->vocab > 65536) return "vocabulary size must be 2..65536";
    if (c->layers < 1 || c->layers > 1024 || c->d_model < 1 || c->d_model > 32768 || c->ctx < 1 || c->ctx > 1 << 24)
        return "layers must be 1..1024, d-model 1..32768, ctx 1..16777216";
    if (c->d_state < 1 || c->d_state > 1024) return "d-state must be 1..1024";
    if (c->expand < 1 || c->expand > 16) return "expand must be 1..16";
    if (c->head_dim < 1 || (c->expand * c->d_model) % c->head_dim)
        return "head-dim must divide expand * d-model (the inner width)";
    if (c->d_conv < 1 || c->d_conv > 16) return "d-conv must be 1..16";
    if (c->chunk < 1 || c->chunk > 4096) return "chunk must be 1..4096";
    int H = c->expand * c->d_model / c->head_dim;
    if (c->groups < 1 || H % c->groups) return "groups must divide the number of heads (expand * d-model / head-dim)";
    if (c->tied != 1) return "the LM head is tied to the embedding (NetSSM's tie_embeddings)";
    return NULL;
}

/* Mamba-2's initialisation: embedding N(0, 0.02); in_proj and out_proj PyTorch Linear's
 * default U(-1/sqrt(in), 1/sqrt(in)), out_proj then divided by sqrt(layers); conv weight and
 * bias U(-1/sqrt(W), 1/sqrt(W)) (Conv1d's default, fan-in W); dt log-uniform in [1e-3, 0.1]
 * (floor 1e-4) stored as its inverse softplus in dt_bias; A uniform in [1, 16] stored as
 * log A; D = 1; norms 1. */
static void mamba2_init(model *m, uint64_t seed) {
    const model_config *c = &m->cfg;
    const dims d = dims_of(c);
    uint64_t rng = seed;
#define U01() ((double)(splitmix64(&rng) >> 11) * 0x1.0p-53)
    for (int i = 0; i < m->ntensors; i++) {
        float *p = model_tensor(m, i);
        size_t n = m->spec[i].size;
        double bound;
        switch (i) {
        case EMB: for (size_t k = 0; k < n; k++) p[k] = 0.02f * nn_randn(&rng); break;
        case INW: case OUTW: case CONVW: case CONVB:
            bound = i == INW ? 1.0 / sqrt(d.C) : i == OUTW ? 1.0 / sqrt(d.Di) / sqrt(c->layers) : 1.0 / sqrt(d.W);
            for (size_t k = 0; k < n; k++) p[k] = (float)((2 * U01() - 1) * bound);
            break;
        case DTB:
            for (size_t k = 0; k < n; k++) {
                double dt = exp(U01() * (log(0.1) - log(1e-3)) + log(1e-3));
                if (dt < 1e-4) dt = 1e-4;
                p[k] = (float)(dt + log(-expm1(-dt)));
            }
            break;
        case ALOG: for (size_t k = 0; k < n; k++) p[k] = (float)log(1 + 15 * U01()); break;
        default: for (size_t k = 0; k < n; k++) p[k] = 1.0f; break;   /* D and the norms */
        }
    }
#undef U01
}

/* ---- activations: the residual stream saved, one layer's internals recomputed ---- */
static ssd_dims ssd_of(dims d, int B, int T) {
    ssd_dims s = { .B = B, .T = T, .H = d.H, .P = d.P, .G = d.G, .N = d.N, .Q = d.Q };
    return s;
}
typedef struct { float *xs, *rstdf, *ln, *rstd, *zx, *xbc, *dt, *A, *y, *rstdg, *yn, *tmp, *work; } acts_t;
/* saved: layer inputs and the final output (L+1) N C, final rstd N; per layer (reused): ln
 * N C, rstd N, zxbcdt N Dp, conv output N Cd, dt N H, A H, y N Di, group rstd N G, normed
 * y N Di, branch output N C, the scan's work (with its backward part) */
static size_t mamba2_act_floats(const model_config *c, int B, int T) {
    dims d = dims_of(c);
    size_t N = (size_t)B * T;
    return (size_t)(c->layers + 1) * N * d.C + N + N * d.C + N + N * d.Dp + N * d.Cd + N * d.H + d.H +
           2 * N * d.Di + N * d.G + N * d.C + ssd_work_floats(ssd_of(d, B, T), 1);
}
static acts_t acts_at(const model *m, int B, int T) {
    dims d = dims_of(&m->cfg);
    size_t N = (size_t)B * T;
    float *p = m->acts;
    acts_t a;
    a.xs = p; p += (size_t)(m->cfg.layers + 1) * N * d.C;
    a.rstdf = p; p += N;
    a.ln = p; p += N * d.C;
    a.rstd = p; p += N;
    a.zx = p; p += N * d.Dp;
    a.xbc = p; p += N * d.Cd;
    a.dt = p; p += N * d.H;
    a.A = p; p += d.H;
    a.y = p; p += N * d.Di;
    a.rstdg = p; p += N * d.G;
    a.yn = p; p += N * d.Di;
    a.tmp = p; p += N * d.C;
    a.work = p;
    return a;
}
typedef struct { float *dres, *dln, *dzx, *dxbc, *ddt, *dy, *dyn, *dtmp, *dA; } grads_t;
static size_t mamba2_dact_floats(const model_config *c, int B, int T) {
    dims d = dims_of(c);
    size_t N = (size_t)B * T;
    return 3 * N * d.C + N * d.Dp + N * d.Cd + N * d.H + 2 * N * d.Di + d.H;
}
static grads_t grads_at(const model *m, int B, int T) {
    dims d = dims_of(&m->cfg);
    size_t N = (size_t)B * T;
    float *p = m->dacts;
    grads_t g;
    g.dres = p; p += N * d.C;
    g.dln = p; p += N * d.C;
    g.dtmp = p; p += N * d.C;
    g.dzx = p; p += N * d.Dp;
    g.dxbc = p; p += N * d.Cd;
    g.ddt = p; p += N * d.H;
    g.dy = p; p += N * d.Di;
    g.dyn = p; p += N * d.Di;
    g.dA = p;
    return g;
}

#define P(i) model_tensor(m, i)
#define G(i) model_grad(m, i)
#define LP(i, l, per) (P(i) + (size_t)(l) * (per))
#define LG(i, l, per) (G(i) + (size_t)(l) * (per))

static ssd_in scan_inputs(const acts_t *a, const model *m, int l, dims d) {
    ssd_in in = { .x = a->xbc, .B = a->xbc + d.Di, .C = a->xbc + d.Di + d.G * d.N, .dt = a->dt, .A = a->A,
                  .D = LP(DPAR, l, d.H), .xs = d.Cd, .bs = d.Cd, .cs = d.Cd, .dts = d.H };
    return in;
}

/* Layer l's mixer from its input x up to the normed gated output a->yn (all internals in a) */
static void mixer_forward(model *m, const acts_t *a, const float *x, int l, int B, int T) {
    const dims d = dims_of(&m->cfg);
    const int N = B * T;
    rmsnorm_forward_eps(a->ln, a->rstd, x, LP(NORMW, l, d.C), N, d.C, M2_EPS);
    matmul_forward_prec(a->zx, a->ln, LP(INW, l, (size_t)d.Dp * d.C), NULL, N, d.C, d.Dp, m->prec);
    conv1d_silu_forward(a->xbc, a->zx + d.Di, d.Dp, LP(CONVW, l, (size_t)d.Cd * d.W), LP(CONVB, l, d.Cd), B, T, d.Cd, d.W);
    softplus_bias_forward(a->dt, a->zx + d.Di + d.Cd, d.Dp, LP(DTB, l, d.H), N, d.H);
    for (int h = 0; h < d.H; h++) a->A[h] = -expf(LP(ALOG, l, d.H)[h]);
    ssd_in in = scan_inputs(a, m, l, d);
    ssd_forward(a->y, NULL, &in, NULL, a->work, ssd_of(d, B, T));
    rmsnorm_gated_forward(a->yn, a->rstdg, a->y, a->zx, d.Dp, LP(MNORMW, l, d.Di), N, d.Di, d.G, M2_EPS);
}

static void mamba2_forward(model *m, const int *tok, int B, int T) {
    const model_config *c = &m->cfg;
    const dims d = dims_of(c);
    const int N = B * T;
    const size_t NC = (size_t)N * d.C;
    const float p = m->training ? c->dropout : 0.0f;
    acts_t a = acts_at(m, B, T);
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) memcpy(a.xs + (size_t)n * d.C, P(EMB) + (size_t)tok[n] * d.C, (size_t)d.C * sizeof(float));
    if (p > 0) dropout_forward(a.xs, a.xs, p, model_drop_seed(m, -1, 0), NC);
    for (int l = 0; l < c->layers; l++) {
        const float *x = a.xs + (size_t)l * NC;
        mixer_forward(m, &a, x, l, B, T);
        matmul_forward_prec(a.tmp, a.yn, LP(OUTW, l, (size_t)d.C * d.Di), NULL, N, d.Di, d.C, m->prec);
        if (p > 0) dropout_forward(a.tmp, a.tmp, p, model_drop_seed(m, l, 1), NC);
        residual_forward(a.xs + (size_t)(l + 1) * NC, x, a.tmp, NC);
    }
    rmsnorm_forward_eps(m->hidden, a.rstdf, a.xs + (size_t)c->layers * NC, P(NORMF), N, d.C, M2_EPS);
}

static void mamba2_backward(model *m, const int *tok, int B, int T) {
    const model_config *c = &m->cfg;
    const dims d = dims_of(c);
    const int N = B * T;
    const size_t NC = (size_t)N * d.C;
    const float p = m->training ? c->dropout : 0.0f;
    acts_t a = acts_at(m, B, T);
    grads_t g = grads_at(m, B, T);
    nn_zero(g.dres, NC);
    rmsnorm_backward_eps(g.dres, G(NORMF), m->dhidden, a.xs + (size_t)c->layers * NC, P(NORMF), a.rstdf, N, d.C);
    for (int l = c->layers - 1; l >= 0; l--) {
        const float *x = a.xs + (size_t)l * NC;
        mixer_forward(m, &a, x, l, B, T);   /* recompute this layer's internals */
        const float *dout = g.dres;         /* x_{l+1} = x_l + drop(out_proj(yn)) */
        if (p > 0) { nn_zero(g.dtmp, NC); dropout_backward(g.dtmp, g.dres, p, model_drop_seed(m, l, 1), NC); dout = g.dtmp; }
        matmul_backward_set_prec(g.dyn, LG(OUTW, l, (size_t)d.C * d.Di), NULL, dout, a.yn, LP(OUTW, l, (size_t)d.C * d.Di),
                                 N, d.Di, d.C, m->prec);
        rmsnorm_gated_backward(g.dy, g.dzx, d.Dp, LG(MNORMW, l, d.Di), g.dyn, a.y, a.zx, d.Dp, LP(MNORMW, l, d.Di),
                               a.rstdg, N, d.Di, d.G);
        ssd_in in = scan_inputs(&a, m, l, d);
        nn_zero(g.dA, d.H);
        ssd_grad sg = { .x = g.dxbc, .B = g.dxbc + d.Di, .C = g.dxbc + d.Di + d.G * d.N, .dt = g.ddt, .A = g.dA,
                        .D = LG(DPAR, l, d.H), .xs = d.Cd, .bs = d.Cd, .cs = d.Cd, .dts = d.H, .h0 = NULL };
        ssd_backward(&sg, g.dy, &in, NULL, a.work, ssd_of(d, B, T));
        for (int h = 0; h < d.H; h++) LG(ALOG, l, d.H)[h] += g.dA[h] * a.A[h];   /* dA/dA_log = A */
        softplus_bias_backward(g.dzx + d.Di + d.Cd, d.Dp, LG(DTB, l, d.H), g.ddt, a.zx + d.Di + d.Cd, d.Dp,
                               LP(DTB, l, d.H), N, d.H);
        conv1d_silu_backward(g.dzx + d.Di, d.Dp, LG(CONVW, l, (size_t)d.Cd * d.W), LG(CONVB, l, d.Cd), g.dxbc,
                             a.zx + d.Di, d.Dp, LP(CONVW, l, (size_t)d.Cd * d.W), LP(CONVB, l, d.Cd), B, T, d.Cd, d.W);
        matmul_backward_set_prec(g.dln, LG(INW, l, (size_t)d.Dp * d.C), NULL, g.dzx, a.ln, LP(INW, l, (size_t)d.Dp * d.C),
                                 N, d.C, d.Dp, m->prec);
        rmsnorm_backward_eps(g.dres, LG(NORMW, l, d.C), g.dln, x, LP(NORMW, l, d.C), a.rstd, N, d.C);
    }
    const float *demb = g.dres;
    if (p > 0) { nn_zero(g.dtmp, NC); dropout_backward(g.dtmp, g.dres, p, model_drop_seed(m, -1, 0), NC); demb = g.dtmp; }
    float *dE = G(EMB);
    #pragma omp parallel for schedule(static)
    for (int c0 = 0; c0 < d.C; c0 += 16) {   /* column blocks: fixed order, no shared floats */
        int c1 = c0 + 16 < d.C ? c0 + 16 : d.C;
        for (int n = 0; n < N; n++) {
            const float *dr = demb + (size_t)n * d.C;
            float *e = dE + (size_t)tok[n] * d.C;
            for (int i = c0; i < c1; i++) e[i] += dr[i];
        }
    }
}

/* ---- generation: per row, per layer a conv window ((W-1) x Cd) and the state (H x P x N);
 * then per-row scratch ---- */
static size_t row_state_floats(dims d, int L) { return (size_t)L * ((size_t)(d.W - 1) * d.Cd + (size_t)d.H * d.P * d.N); }
static size_t mamba2_state_floats(const model_config *c, int B) {
    dims d = dims_of(c);
    return (size_t)B * row_state_floats(d, c->layers) +
           (size_t)B * (2 * (size_t)d.C + d.Dp + d.Cd + d.H + 2 * (size_t)d.Di + d.G) + (size_t)c->layers * d.H;
}

static void mamba2_step(model *m, float *state, const int *tok, int B, int pos, float *hidden) {
    const model_config *c = &m->cfg;
    const dims d = dims_of(c);
    const int L = c->layers;
    const size_t rs = row_state_floats(d, L), cw = (size_t)(d.W - 1) * d.Cd, hs = (size_t)d.H * d.P * d.N;
    float *x = state + (size_t)B * rs, *ln = x + (size_t)B * d.C, *zx = ln + (size_t)B * d.C;
    float *xbc = zx + (size_t)B * d.Dp, *dt = xbc + (size_t)B * d.Cd, *y = dt + (size_t)B * d.H;
    float *yn = y + (size_t)B * d.Di, *rstd = yn + (size_t)B * d.Di, *A = rstd + (size_t)B * d.G;
    if (pos == 0) nn_zero(state, (size_t)B * rs);   /* a new sequence starts from zero states */
    for (int l = 0; l < L; l++)
        for (int h = 0; h < d.H; h++) A[l * d.H + h] = -expf(LP(ALOG, l, d.H)[h]);
    for (int b = 0; b < B; b++) memcpy(x + (size_t)b * d.C, P(EMB) + (size_t)tok[b] * d.C, (size_t)d.C * sizeof(float));
    for (int l = 0; l < L; l++) {
        rmsnorm_forward_eps(ln, NULL, x, LP(NORMW, l, d.C), B, d.C, M2_EPS);
        matmul_forward(zx, ln, LP(INW, l, (size_t)d.Dp * d.C), NULL, B, d.C, d.Dp);
        softplus_bias_forward(dt, zx + d.Di + d.Cd, d.Dp, LP(DTB, l, d.H), B, d.H);
        #pragma omp parallel for schedule(static) if (B > 1)
        for (int b = 0; b < B; b++) {
            float *st = state + (size_t)b * rs + (size_t)l * (cw + hs);
            float *xb = xbc + (size_t)b * d.Cd;
            conv1d_silu_step(xb, st, zx + (size_t)b * d.Dp + d.Di, LP(CONVW, l, (size_t)d.Cd * d.W), LP(CONVB, l, d.Cd),
                             d.Cd, d.W, 0, d.Cd);
            ssd_step(y + (size_t)b * d.Di, st + cw, xb, dt + (size_t)b * d.H, A + l * d.H, xb + d.Di,
                     xb + d.Di + d.G * d.N, LP(DPAR, l, d.H), d.H, d.P, d.G, d.N, 0, d.H);
        }
        rmsnorm_gated_forward(yn, rstd, y, zx, d.Dp, LP(MNORMW, l, d.Di), B, d.Di, d.G, M2_EPS);
        matmul_forward(ln, yn, LP(OUTW, l, (size_t)d.C * d.Di), NULL, B, d.Di, d.C);
        residual_forward(x, x, ln, (size_t)B * d.C);
    }
    rmsnorm_forward_eps(hidden, NULL, x, P(NORMF), B, d.C, M2_EPS);
}

const model_ops mamba2_ops = {
    .name = "mamba2",
    .params = mamba2_params,
    .check = mamba2_check,
    .init = mamba2_init,
    .act_floats = mamba2_act_floats,
    .dact_floats = mamba2_dact_floats,
    .forward = mamba2_forward,
    .backward = mamba2_backward,
    .state_floats = mamba2_state_floats,
    .step = mamba2_step,
};
