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
 * Generation: a run state (model_run) whose slots hold, per layer, a conv window and the SSM
 * state: O(1) memory and work per token. */
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
    size_t V = model_vocab_rows(c), L = c->layers, C = d.C, Di = d.Di, H = d.H;   /* V: padded (model.h) */
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
    model_embed_forward(m, a.xs, P(EMB), tok, N, d.C, p);
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

        model_layer_done(m, l);   /* layer l's gradients are final */
    }
    model_embed_backward(m, G(EMB), g.dres, g.dtmp, tok, N, d.C, p);
}

/* ---- decoding: a run state (model.h) ----
 * Per slot and layer: the conv window ((W-1) x Cd inputs before the conv, oldest first), then
 * the SSM state (H x P x N): O(1) memory and work per token whatever the position. The step of
 * n rows is split over the team's workers: in_proj and out_proj by 32-column weight panels
 * (nn_panels, packed once), the conv by (row, channel block), the scan by (row, head), the
 * norms by rows, with a barrier between. Each row's arithmetic is the same whoever computes it,
 * so results never depend on n, nt or the other rows. */
typedef struct {
    nn_panels *inp, *outp;          /* per layer */
    float *x, *ln, *zx, *xbc, *dt, *y, *yn, *rstd, *hidden, *A;
    float *pf;                      /* prefill's activations while it runs */
} m2run;

static size_t slot_floats(const model_config *c) {
    dims d = dims_of(c);
    return (size_t)c->layers * ((size_t)(d.W - 1) * d.Cd + (size_t)d.H * d.P * d.N);
}
static size_t mamba2_slot_bytes(const model_config *c, int prec) { (void)prec; return slot_floats(c) * sizeof(float); }

/* one walk: sizes (a->base NULL) or carves */
static void run_layout(m2run *r, const model_config *c, int S, int bf16, nn_arena *a) {
    dims d = dims_of(c);
    const int L = c->layers;
    r->inp = NN_TAKE(a, nn_panels, L);
    r->outp = NN_TAKE(a, nn_panels, L);
    r->x = NN_TAKE(a, float, (size_t)S * d.C);
    r->ln = NN_TAKE(a, float, (size_t)S * d.C);
    r->zx = NN_TAKE(a, float, (size_t)S * d.Dp);
    r->xbc = NN_TAKE(a, float, (size_t)S * d.Cd);
    r->dt = NN_TAKE(a, float, (size_t)S * d.H);
    r->y = NN_TAKE(a, float, (size_t)S * d.Di);
    r->yn = NN_TAKE(a, float, (size_t)S * d.Di);
    r->rstd = NN_TAKE(a, float, (size_t)S * d.G);
    r->hidden = NN_TAKE(a, float, (size_t)S * d.C);
    r->A = NN_TAKE(a, float, (size_t)L * d.H);
    for (int l = 0; l < L; l++) {   /* the packed weights last (the bulk) */
        void *pi = nn_arena_take(a, nn_panels_bytes(d.Dp, d.C, bf16));
        void *po = nn_arena_take(a, nn_panels_bytes(d.C, d.Di, bf16));
        if (a->base) { r->inp[l].p = pi; r->outp[l].p = po; }
    }
}

static int mamba2_run_init(model_run *rs) {
    const model *m = rs->m;
    const model_config *c = &m->cfg;
    const dims d = dims_of(c);
    const int bf16 = rs->prec == NN_BF16;
    if (bf16 && !nn_panels_bf16_ok()) return -2;
    m2run tmp, *r = malloc(sizeof *r);
    nn_arena a = { NULL, 0 };
    run_layout(&tmp, c, rs->slots, bf16, &a);
    char *buf = r ? aligned_alloc(64, (a.used + 63) / 64 * 64) : NULL;
    if (!buf) { free(r); return -1; }
    a = (nn_arena){ buf, 0 };
    run_layout(r, c, rs->slots, bf16, &a);
    for (int l = 0; l < c->layers; l++) {
        nn_panels_pack(&r->inp[l], r->inp[l].p, LP(INW, l, (size_t)d.Dp * d.C), d.C, d.Dp, d.C, bf16);
        nn_panels_pack(&r->outp[l], r->outp[l].p, LP(OUTW, l, (size_t)d.C * d.Di), d.Di, d.C, d.Di, bf16);
        for (int h = 0; h < d.H; h++) r->A[l * d.H + h] = -expf(LP(ALOG, l, d.H)[h]);
    }
    rs->priv = r;
    return 0;
}
static void mamba2_run_free(model_run *rs) {
    m2run *r = rs->priv;
    if (r) { free(r->inp); free(r); }   /* the arena starts with inp */
    rs->priv = NULL;
}
static void mamba2_reset(model_run *rs, int slot) {
    memset(rs->state + (size_t)slot * rs->slot_bytes, 0, rs->slot_bytes);
}

/* worker w's share [*a, *b) of K items among W workers */
static void share(int K, int w, int W, int *a, int *b) { *a = (int)((long)K * w / W); *b = (int)((long)K * (w + 1) / W); }
#define CONV_BLK 64

static const float *mamba2_step(model_run *rs, int t, int nt, int n, const int *slot, const int *tok, const int *pos) {
    const model *m = rs->m;
    const model_config *c = &m->cfg;
    const dims d = dims_of(c);
    m2run *r = rs->priv;
    const int W = rs->nthreads, L = c->layers;
    const size_t cw = (size_t)(d.W - 1) * d.Cd, hs = (size_t)d.H * d.P * d.N;
    (void)pos;   /* a recurrent state needs no position */
    int a, b;
    for (int w = t; w < W; w += nt) {
        share(n, w, W, &a, &b);
        for (int i = a; i < b; i++) memcpy(r->x + (size_t)i * d.C, P(EMB) + (size_t)tok[i] * d.C, (size_t)d.C * sizeof(float));
    }
    nn_barrier_wait(&rs->bar);
    const int cblocks = (d.Cd + CONV_BLK - 1) / CONV_BLK;
    for (int l = 0; l < L; l++) {
        for (int w = t; w < W; w += nt) {
            share(n, w, W, &a, &b);
            if (b > a) rmsnorm_forward_eps(r->ln + (size_t)a * d.C, NULL, r->x + (size_t)a * d.C, LP(NORMW, l, d.C), b - a, d.C, M2_EPS);
        }
        nn_barrier_wait(&rs->bar);
        for (int w = t; w < W; w += nt) {
            share((int)nn_panels_count(d.Dp), w, W, &a, &b);
            nn_panels_matmul(r->zx, d.Dp, r->ln, d.C, &r->inp[l], NULL, n, a, b, NN_PM_STORE);
        }
        nn_barrier_wait(&rs->bar);
        for (int w = t; w < W; w += nt) {   /* conv by (row, channel block) */
            share(n * cblocks, w, W, &a, &b);
            for (int i = a; i < b; i++) {
                const int row = i / cblocks, c0 = (i % cblocks) * CONV_BLK;
                const int c1 = c0 + CONV_BLK < d.Cd ? c0 + CONV_BLK : d.Cd;
                float *st = (float *)(rs->state + (size_t)slot[row] * rs->slot_bytes) + (size_t)l * (cw + hs);
                conv1d_silu_step(r->xbc + (size_t)row * d.Cd, st, r->zx + (size_t)row * d.Dp + d.Di,
                                 LP(CONVW, l, (size_t)d.Cd * d.W), LP(CONVB, l, d.Cd), d.Cd, d.W, c0, c1);
            }
        }
        nn_barrier_wait(&rs->bar);
        for (int w = t; w < W; w += nt) {   /* the scan by (row, head) */
            share(n * d.H, w, W, &a, &b);
            for (int i = a; i < b; i++) {
                const int row = i / d.H, h = i % d.H;
                float *st = (float *)(rs->state + (size_t)slot[row] * rs->slot_bytes) + (size_t)l * (cw + hs) + cw;
                const float *xb = r->xbc + (size_t)row * d.Cd;
                float *dt = r->dt + (size_t)row * d.H;
                softplus_bias_forward(dt + h, r->zx + (size_t)row * d.Dp + d.Di + d.Cd + h, 0, LP(DTB, l, d.H) + h, 1, 1);
                ssd_step(r->y + (size_t)row * d.Di, st, xb, dt, r->A + l * d.H, xb + d.Di, xb + d.Di + d.G * d.N,
                         LP(DPAR, l, d.H), d.H, d.P, d.G, d.N, h, h + 1);
            }
        }
        nn_barrier_wait(&rs->bar);
        for (int w = t; w < W; w += nt) {
            share(n, w, W, &a, &b);
            if (b > a)
                rmsnorm_gated_forward(r->yn + (size_t)a * d.Di, r->rstd + (size_t)a * d.G, r->y + (size_t)a * d.Di,
                                      r->zx + (size_t)a * d.Dp, d.Dp, LP(MNORMW, l, d.Di), b - a, d.Di, d.G, M2_EPS);
        }
        nn_barrier_wait(&rs->bar);
        for (int w = t; w < W; w += nt) {
            share((int)nn_panels_count(d.C), w, W, &a, &b);
            nn_panels_matmul(r->x, d.C, r->yn, d.Di, &r->outp[l], NULL, n, a, b, NN_PM_ADD);
        }
        nn_barrier_wait(&rs->bar);
    }
    for (int w = t; w < W; w += nt) {
        share(n, w, W, &a, &b);
        if (b > a) rmsnorm_forward_eps(r->hidden + (size_t)a * d.C, NULL, r->x + (size_t)a * d.C, P(NORMF), b - a, d.C, M2_EPS);
    }
    nn_barrier_wait(&rs->bar);
    return r->hidden;
}

/* A prompt into one freshly reset slot by the chunked scan (the training forward's kernels on
 * one row of len tokens): the slot's SSM states are the scan's final states and its conv
 * windows the last d_conv - 1 inputs (zeros before the prompt), as len steps would leave them.
 * Thread 0 does the work (the kernels run serially inside the team's region; prompts are short
 * next to what is generated); the others wait at the barrier. */
static const float *mamba2_prefill(model_run *rs, int t, int nt, int slot, const int *tok, int len) {
    const model *m = rs->m;
    const model_config *c = &m->cfg;
    const dims d = dims_of(c);
    m2run *r = rs->priv;
    const size_t T = len, cw = (size_t)(d.W - 1) * d.Cd, hs = (size_t)d.H * d.P * d.N;
    const ssd_dims sd = ssd_of(d, 1, len);
    if (t == 0) {
        r->pf = nn_alloc(T * (2 * (size_t)d.C + d.Dp + d.Cd + d.H + 2 * (size_t)d.Di + d.G) + ssd_work_floats(sd, 0));
    }
    nn_barrier_wait(&rs->bar);
    const int have = r->pf != NULL;
    nn_barrier_wait(&rs->bar);   /* every thread has read r->pf before thread 0 may clear it */
    if (!have) {   /* out of memory for the prompt's activations: step it (same state, slower) */
        const float *h = NULL;
        for (int i = 0; i < len; i++) h = mamba2_step(rs, t, nt, 1, &slot, tok + i, &i);
        return h;
    }
    if (t == 0) {
        float *buf = r->pf;
        float *x = buf, *ln = x + T * d.C, *zx = ln + T * d.C, *xbc = zx + T * d.Dp, *dt = xbc + T * d.Cd;
        float *y = dt + T * d.H, *yn = y + T * d.Di, *rstd = yn + T * d.Di, *work = rstd + T * d.G;
        float *st0 = (float *)(rs->state + (size_t)slot * rs->slot_bytes);
        for (size_t i = 0; i < T; i++) memcpy(x + i * d.C, P(EMB) + (size_t)tok[i] * d.C, (size_t)d.C * sizeof(float));
        for (int l = 0; l < c->layers; l++) {
            float *st = st0 + (size_t)l * (cw + hs);
            rmsnorm_forward_eps(ln, NULL, x, LP(NORMW, l, d.C), len, d.C, M2_EPS);
            matmul_forward_prec(zx, ln, LP(INW, l, (size_t)d.Dp * d.C), NULL, len, d.C, d.Dp, rs->prec);
            conv1d_silu_forward(xbc, zx + d.Di, d.Dp, LP(CONVW, l, (size_t)d.Cd * d.W), LP(CONVB, l, d.Cd), 1, len,
                                d.Cd, d.W);
            for (int k = 0; k < d.W - 1; k++) {   /* window row k: token len - (W-1) + k */
                long i = (long)len - (d.W - 1) + k;
                if (i >= 0) memcpy(st + (size_t)k * d.Cd, zx + (size_t)i * d.Dp + d.Di, (size_t)d.Cd * sizeof(float));
            }
            softplus_bias_forward(dt, zx + d.Di + d.Cd, d.Dp, LP(DTB, l, d.H), len, d.H);
            ssd_in in = { .x = xbc, .B = xbc + d.Di, .C = xbc + d.Di + d.G * d.N, .dt = dt, .A = r->A + l * d.H,
                          .D = LP(DPAR, l, d.H), .xs = d.Cd, .bs = d.Cd, .cs = d.Cd, .dts = d.H };
            ssd_forward(y, st + cw, &in, NULL, work, sd);
            rmsnorm_gated_forward(yn, rstd, y, zx, d.Dp, LP(MNORMW, l, d.Di), len, d.Di, d.G, M2_EPS);
            matmul_forward_prec(ln, yn, LP(OUTW, l, (size_t)d.C * d.Di), NULL, len, d.Di, d.C, rs->prec);
            residual_forward(x, x, ln, T * d.C);
        }
        rmsnorm_forward_eps(r->hidden, NULL, x + (T - 1) * d.C, P(NORMF), 1, d.C, M2_EPS);
        nn_free(buf);
        r->pf = NULL;
    }
    nn_barrier_wait(&rs->bar);
    return r->hidden;
}

static void mamba2_defaults(model_config *c) {   /* NetSSM's: mamba_ssm's Mamba2 defaults */
    if (c->d_state <= 0) c->d_state = 128;
    if (c->head_dim <= 0) c->head_dim = 64;
    if (c->expand <= 0) c->expand = 2;
    if (c->d_conv <= 0) c->d_conv = 4;
    if (c->chunk <= 0) c->chunk = 256;
    if (c->groups <= 0) c->groups = 1;
    if (c->vocab_pad <= 0) c->vocab_pad = 16;
    c->tied = 1;
}

const model_ops mamba2_ops = {
    .name = "mamba2",
    .defaults = mamba2_defaults,
    .check = mamba2_check,
    .params = mamba2_params,
    .init = mamba2_init,
    .act_floats = mamba2_act_floats,
    .dact_floats = mamba2_dact_floats,
    .forward = mamba2_forward,
    .backward = mamba2_backward,
    .run_init = mamba2_run_init,
    .run_free = mamba2_run_free,
    .slot_bytes = mamba2_slot_bytes,
    .reset = mamba2_reset,
    .step = mamba2_step,
    .prefill = mamba2_prefill,
    .recurrent = 1,
};
