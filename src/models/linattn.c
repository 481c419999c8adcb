/* Causal linear-attention backbone, the model of tcpflowgen (JonLens/tcpflowgen,
 * TCPHeaderTransformer), written from its description:
 *   x = embedding[tok], dropout
 *   per layer (pre-LayerNorm, eps 1e-5):
 *     h = LN1(x); q, k, v = Linear(h) each with bias (one fused (3C, C) product here)
 *     q, k = rope(q), rope(k)        interleaved pairs (2i, 2i+1), theta_i = 10000^(-2i/hs),
 *                                    position = token index (torchtune's RotaryPositionalEmbeddings)
 *     y = linear_attention(phi(q), phi(k), v), phi = elu + 1, eps 1e-6 (nn/linattn.h)
 *     x = x + drop(y)                NO output projection: the heads go straight back to C
 *     x = x + drop(W2 drop(gelu(W1 LN2(x) + b1)) + b2)    exact (erf) GELU
 *   hidden = LN(x); the LM head is untied and has a bias (lm_head.weight, lm_head.bias: the
 *   model front adds the bias when the table has one).
 * tcpflowgen's sizes are the defaults of `--arch linattn` (cli): 8 layers, d 256, 8 heads,
 * d_ff 1024, ctx 1024, dropout 0.1.
 *
 * Training runs the chunked kernel (linear in T: no (T,T) matrix is kept); generation carries
 * per sequence and layer the recurrent state (S, z) of every head, O(1) per token and
 * independent of the position, instead of re-running the window as tcpflowgen does.
 *
 * Tensors stacked (L, ...) per layer, Linear weights (out, in) as torch.nn.Linear;
 * qkv.weight = [q; k; v] rows. */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wpass-failed"
#endif
#include "models/model.h"
#include "nn/linattn.h"
#include "util/util.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

#define ROPE_BASE 10000.0

enum { EMB, LN1W, LN1B, QKVW, QKVB, LN2W, LN2B, FC1W, FC1B, FC2W, FC2B, LNFW, LNFB, HEADW, HEADB, NPARAMS };

static int la_params(const model_config *c, tensor_spec *s, int *head) {
    size_t V = c->vocab, L = c->layers, C = c->d_model, F = c->d_ff;
    tensor_spec t[NPARAMS] = {
        { "embedding.weight", V * C, 1 },
        { "layers.norm1.weight", L * C, 0 },         { "layers.norm1.bias", L * C, 0 },
        { "layers.qkv.weight", L * 3 * C * C, 1 },   { "layers.qkv.bias", L * 3 * C, 0 },
        { "layers.norm2.weight", L * C, 0 },         { "layers.norm2.bias", L * C, 0 },
        { "layers.linear1.weight", L * F * C, 1 },   { "layers.linear1.bias", L * F, 0 },
        { "layers.linear2.weight", L * C * F, 1 },   { "layers.linear2.bias", L * C, 0 },
        { "norm.weight", C, 0 },                     { "norm.bias", C, 0 },
        { "lm_head.weight", V * C, 1 },              { "lm_head.bias", V, 0 },
    };
    memcpy(s, t, sizeof t);
    *head = HEADW;
    return NPARAMS;
}

static const char *la_check(const model_config *c) {
    if (c->vocab < 2 || c->vocab > 65536) return "vocabulary size must be 2..65536";
    if (c->layers < 1 || c->d_model < 1 || c->heads < 1 || c->ctx < 1) return "layers, d-model, heads and ctx must be positive";
    if (c->layers > 1024 || c->d_model > 32768 || c->ctx > 1 << 20 || c->d_ff < 1 || c->d_ff > 1 << 18)
        return "layers must be 1..1024, d-model 1..32768, ctx 1..1048576, d_ff 1..262144";
    if (c->d_model % c->heads) return "d-model must be a multiple of heads";
    if ((c->d_model / c->heads) % 2) return "the head size (d-model / heads) must be even (RoPE rotates pairs)";
    if (c->kv_heads != c->heads) return "linear attention has no grouped-query heads (kv-heads = heads)";
    if (c->tied) return "the linear-attention model has an untied LM head (with a bias)";
    return NULL;
}

/* N(0, 0.02) matrices, linear2 N(0, 0.02 / sqrt(2L)) (GPT-2's residual scaling, for the same
 * stability from scratch), norms 1, biases 0 */
static void la_init(model *m, uint64_t seed) {
    uint64_t rng = seed;
    float proj_std = 0.02f / sqrtf(2.0f * m->cfg.layers);
    for (int i = 0; i < m->ntensors; i++) {
        float *p = model_tensor(m, i);
        size_t n = m->spec[i].size;
        if (i == LN1W || i == LN2W || i == LNFW) { for (size_t k = 0; k < n; k++) p[k] = 1.0f; }
        else if (!m->spec[i].decay) memset(p, 0, n * sizeof *p);
        else {
            float sd = i == FC2W ? proj_std : 0.02f;
            for (size_t k = 0; k < n; k++) p[k] = sd * nn_randn(&rng);
        }
    }
}

/* ---- layers of this backbone ---- */

/* cos, sin of position pos: cs[0..hs/2) cos, cs[hs/2..hs) sin; angles in double */
static void rope_angles(float *cs, int pos, int hs) {
    int h2 = hs / 2;
    for (int i = 0; i < h2; i++) {
        double a = pos * pow(ROPE_BASE, -2.0 * i / hs);
        cs[i] = (float)cos(a); cs[h2 + i] = (float)sin(a);
    }
}
/* Rotate nh heads of hs at the start of a row, interleaved: (x[2i], x[2i+1]) ->
 * (x0 cos - x1 sin, x1 cos + x0 sin). inverse rotates by -angle (the backward). */
static void rope_row(float *x, int nh, int hs, const float *cs, int inverse) {
    const int h2 = hs / 2;
    const float sg = inverse ? -1.0f : 1.0f;
    for (int h = 0; h < nh; h++) {
        float *p = x + (size_t)h * hs;
        for (int i = 0; i < h2; i++) {
            float co = cs[i], si = sg * cs[h2 + i], a = p[2 * i], b = p[2 * i + 1];
            p[2 * i] = a * co - b * si;
            p[2 * i + 1] = b * co + a * si;
        }
    }
}
static void rope_rows(float *x, int ld, int nh, int hs, const float *cs, int N, int T, int inverse) {
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) rope_row(x + (size_t)n * ld, nh, hs, cs + (size_t)(n % T) * hs, inverse);
}

/* ---- activations: shared part, then one block per layer ---- */
typedef struct { float *ln1, *mean1, *rstd1, *qkv, *atty, *den, *res2, *ln2, *mean2, *rstd2, *fc1, *gl, *res3; } layer_acts;
typedef struct { float *emb, *meanf, *rstdf, *rope, *tmp; } shared_acts;

static size_t layer_floats(const model_config *c, int B, int T) {
    size_t N = (size_t)B * T, C = c->d_model, F = c->d_ff;
    return N * C * 5 + 4 * N + N * 3 * C + N * c->heads + N * 2 * F;
}
static size_t shared_floats(const model_config *c, int B, int T) {
    size_t N = (size_t)B * T, C = c->d_model;
    return 2 * N * C + 2 * N + (size_t)T * (C / c->heads);
}
static size_t la_act_floats(const model_config *c, int B, int T) {
    return shared_floats(c, B, T) + (size_t)c->layers * layer_floats(c, B, T);
}
static shared_acts shared_at(const model *m, int B, int T) {
    size_t N = (size_t)B * T, C = m->cfg.d_model;
    shared_acts s;
    s.emb = m->acts; s.meanf = s.emb + N * C; s.rstdf = s.meanf + N; s.rope = s.rstdf + N;
    s.tmp = s.rope + (size_t)T * (C / m->cfg.heads);
    return s;
}
static layer_acts layer_at(const model *m, int l, int B, int T) {
    const model_config *c = &m->cfg;
    size_t N = (size_t)B * T, C = c->d_model, F = c->d_ff;
    float *p = m->acts + shared_floats(c, B, T) + (size_t)l * layer_floats(c, B, T);
    layer_acts a;
    a.ln1 = p; p += N * C;
    a.mean1 = p; p += N;
    a.rstd1 = p; p += N;
    a.qkv = p; p += N * 3 * C;     /* [phi(rope(q)) | phi(rope(k)) | v] */
    a.atty = p; p += N * C;
    a.den = p; p += N * c->heads;
    a.res2 = p; p += N * C;
    a.ln2 = p; p += N * C;
    a.mean2 = p; p += N;
    a.rstd2 = p; p += N;
    a.fc1 = p; p += N * F;         /* before GELU */
    a.gl = p; p += N * F;          /* GELU output after dropout: linear2's input */
    a.res3 = p;
    return a;
}

typedef struct { float *dres, *dln, *dtmp, *dqkv, *dgl, *dfc1; } grad_bufs;
static size_t la_dact_floats(const model_config *c, int B, int T) {
    size_t N = (size_t)B * T, C = c->d_model, F = c->d_ff;
    return N * C * 3 + N * 3 * C + N * 2 * F;
}
static grad_bufs grads_at(const model *m, int B, int T) {
    size_t N = (size_t)B * T, C = m->cfg.d_model, F = m->cfg.d_ff;
    grad_bufs g;
    g.dres = m->dacts; g.dln = g.dres + N * C; g.dtmp = g.dln + N * C; g.dqkv = g.dtmp + N * C;
    g.dgl = g.dqkv + N * 3 * C; g.dfc1 = g.dgl + N * F;
    return g;
}

#define P(i) model_tensor(m, i)
#define G(i) model_grad(m, i)

static void la_forward(model *m, const int *tok, int B, int T) {
    const model_config *c = &m->cfg;
    const int L = c->layers, C = c->d_model, F = c->d_ff, NH = c->heads, hs = C / NH, N = B * T;
    const size_t NC = (size_t)N * C;
    const float p = m->training ? c->dropout : 0.0f;
    shared_acts s = shared_at(m, B, T);
    for (int t = 0; t < T; t++) rope_angles(s.rope + (size_t)t * hs, t, hs);
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) memcpy(s.emb + (size_t)n * C, P(EMB) + (size_t)tok[n] * C, (size_t)C * sizeof(float));
    if (p > 0) dropout_forward(s.emb, s.emb, p, model_drop_seed(m, -1, 0), NC);
    const float *x = s.emb;
    for (int l = 0; l < L; l++) {
        layer_acts a = layer_at(m, l, B, T);
        layernorm_forward(a.ln1, a.mean1, a.rstd1, x, P(LN1W) + (size_t)l * C, P(LN1B) + (size_t)l * C, N, C);
        matmul_forward_prec(a.qkv, a.ln1, P(QKVW) + (size_t)l * 3 * C * C, P(QKVB) + (size_t)l * 3 * C, N, C, 3 * C,
                            m->prec);
        rope_rows(a.qkv, 3 * C, 2 * NH, hs, s.rope, N, T, 0);   /* q heads then k heads */
        linattn_phi(a.qkv, N, 2 * C, 3 * C);
        linattn_forward(a.atty, a.den, a.qkv, B, T, C, NH, c->chunk, m->prec);
        const float *y = a.atty;   /* kept undropped: the kernel's backward reads it */
        if (p > 0) { dropout_forward(s.tmp, a.atty, p, model_drop_seed(m, l, 1), NC); y = s.tmp; }
        residual_forward(a.res2, x, y, NC);
        layernorm_forward(a.ln2, a.mean2, a.rstd2, a.res2, P(LN2W) + (size_t)l * C, P(LN2B) + (size_t)l * C, N, C);
        matmul_forward_prec(a.fc1, a.ln2, P(FC1W) + (size_t)l * F * C, P(FC1B) + (size_t)l * F, N, C, F, m->prec);
        gelu_erf_forward(a.gl, a.fc1, (size_t)N * F);
        if (p > 0) dropout_forward(a.gl, a.gl, p, model_drop_seed(m, l, 3), (size_t)N * F);
        matmul_forward_prec(s.tmp, a.gl, P(FC2W) + (size_t)l * C * F, P(FC2B) + (size_t)l * C, N, F, C, m->prec);
        if (p > 0) dropout_forward(s.tmp, s.tmp, p, model_drop_seed(m, l, 2), NC);
        residual_forward(a.res3, a.res2, s.tmp, NC);
        x = a.res3;
    }
    layernorm_forward(m->hidden, s.meanf, s.rstdf, x, P(LNFW), P(LNFB), N, C);
}

static void la_backward(model *m, const int *tok, int B, int T) {
    const model_config *c = &m->cfg;
    const int L = c->layers, C = c->d_model, F = c->d_ff, NH = c->heads, hs = C / NH, N = B * T;
    const size_t NC = (size_t)N * C, NF = (size_t)N * F;
    const float p = m->training ? c->dropout : 0.0f;
    shared_acts s = shared_at(m, B, T);
    grad_bufs g = grads_at(m, B, T);
    nn_zero(g.dres, NC);   /* the residual stream's gradient, carried down the layers */
    layernorm_backward(g.dres, G(LNFW), G(LNFB), m->dhidden, layer_at(m, L - 1, B, T).res3, P(LNFW), s.meanf, s.rstdf,
                       N, C);
    for (int l = L - 1; l >= 0; l--) {
        layer_acts a = layer_at(m, l, B, T);
        const float *x = l > 0 ? layer_at(m, l - 1, B, T).res3 : s.emb;
        /* res3 = res2 + drop(linear2(gl)) */
        const float *dfc2 = g.dres;
        if (p > 0) { nn_zero(g.dtmp, NC); dropout_backward(g.dtmp, g.dres, p, model_drop_seed(m, l, 2), NC); dfc2 = g.dtmp; }
        matmul_backward_set_prec(g.dgl, G(FC2W) + (size_t)l * C * F, G(FC2B) + (size_t)l * C, dfc2, a.gl,
                                 P(FC2W) + (size_t)l * C * F, N, F, C, m->prec);
        const float *dgelu = g.dgl;
        if (p > 0) { nn_zero(g.dfc1, NF); dropout_backward(g.dfc1, g.dgl, p, model_drop_seed(m, l, 3), NF); dgelu = g.dfc1; }
        gelu_erf_backward_set(g.dfc1, a.fc1, dgelu, NF);
        matmul_backward_set_prec(g.dln, G(FC1W) + (size_t)l * F * C, G(FC1B) + (size_t)l * F, g.dfc1, a.ln2,
                                 P(FC1W) + (size_t)l * F * C, N, C, F, m->prec);
        layernorm_backward(g.dres, G(LN2W) + (size_t)l * C, G(LN2B) + (size_t)l * C, g.dln, a.res2,
                           P(LN2W) + (size_t)l * C, a.mean2, a.rstd2, N, C);
        /* res2 = x + drop(atty) */
        const float *datty = g.dres;
        if (p > 0) { nn_zero(g.dtmp, NC); dropout_backward(g.dtmp, g.dres, p, model_drop_seed(m, l, 1), NC); datty = g.dtmp; }
        linattn_backward(g.dqkv, datty, a.qkv, a.atty, a.den, B, T, C, NH, c->chunk, m->prec);
        linattn_phi_backward(g.dqkv, a.qkv, N, 2 * C, 3 * C);
        rope_rows(g.dqkv, 3 * C, 2 * NH, hs, s.rope, N, T, 1);
        matmul_backward_set_prec(g.dln, G(QKVW) + (size_t)l * 3 * C * C, G(QKVB) + (size_t)l * 3 * C, g.dqkv, a.ln1,
                                 P(QKVW) + (size_t)l * 3 * C * C, N, C, 3 * C, m->prec);
        layernorm_backward(g.dres, G(LN1W) + (size_t)l * C, G(LN1B) + (size_t)l * C, g.dln, x, P(LN1W) + (size_t)l * C,
                           a.mean1, a.rstd1, N, C);
    }
    const float *demb = g.dres;
    if (p > 0) { nn_zero(g.dtmp, NC); dropout_backward(g.dtmp, g.dres, p, model_drop_seed(m, -1, 0), NC); demb = g.dtmp; }
    /* scatter into token rows: parallel over column blocks (fixed order, no shared floats) */
    float *dE = G(EMB);
    #pragma omp parallel for schedule(static)
    for (int c0 = 0; c0 < C; c0 += 16) {
        int c1 = c0 + 16 < C ? c0 + 16 : C;
        for (int n = 0; n < N; n++) {
            const float *dr = demb + (size_t)n * C;
            float *e = dE + (size_t)tok[n] * C;
            for (int i = c0; i < c1; i++) e[i] += dr[i];
        }
    }
}

/* ---- decoding (model_run): per slot, L layers of recurrent state (S, z per head), the same
 * size at every position; the weights packed once into panels (decode.h) ---- */
typedef struct {
    nn_panels *qkv, *fc1, *fc2;   /* per layer */
    float *x, *ln, *qkv_rows, *att, *h, *y, *cs, *hidden;   /* rows of the step (slots each) */
} la_run;

static size_t la_slot_bytes(const model_config *c, int prec) {
    (void)prec;   /* the state stays fp32 (bf16 packs only the weights) */
    return (size_t)c->layers * linattn_state_floats(c->heads, c->d_model / c->heads) * sizeof(float);
}

/* one walk that sizes (a->base NULL) or carves and packs */
static void run_layout(la_run *r, const model *m, int S, int bf16, nn_arena *a) {
    const model_config *c = &m->cfg;
    const int L = c->layers, C = c->d_model, F = c->d_ff, hs = C / c->heads;
    r->qkv = NN_TAKE(a, nn_panels, L); r->fc1 = NN_TAKE(a, nn_panels, L); r->fc2 = NN_TAKE(a, nn_panels, L);
    r->x = NN_TAKE(a, float, (size_t)S * C); r->ln = NN_TAKE(a, float, (size_t)S * C);
    r->qkv_rows = NN_TAKE(a, float, (size_t)S * 3 * C); r->att = NN_TAKE(a, float, (size_t)S * C);
    r->h = NN_TAKE(a, float, (size_t)S * F); r->y = NN_TAKE(a, float, (size_t)S * C);
    r->cs = NN_TAKE(a, float, (size_t)S * hs); r->hidden = NN_TAKE(a, float, (size_t)S * C);
    for (int l = 0; l < L; l++) {
        void *pq = nn_arena_take(a, nn_panels_bytes(3 * C, C, bf16));
        void *p1 = nn_arena_take(a, nn_panels_bytes(F, C, bf16));
        void *p2 = nn_arena_take(a, nn_panels_bytes(C, F, bf16));
        if (!a->base) continue;
        nn_panels_pack(&r->qkv[l], pq, P(QKVW) + (size_t)l * 3 * C * C, C, 3 * C, C, bf16);
        nn_panels_pack(&r->fc1[l], p1, P(FC1W) + (size_t)l * F * C, C, F, C, bf16);
        nn_panels_pack(&r->fc2[l], p2, P(FC2W) + (size_t)l * C * F, F, C, F, bf16);
    }
}

static int la_run_init(model_run *rs) {
    const int bf16 = rs->prec == NN_BF16;
    if (bf16 && !nn_panels_bf16_ok()) return -2;
    la_run tmp;
    nn_arena a = { NULL, 0 };
    run_layout(&tmp, rs->m, rs->slots, bf16, &a);
    /* the run struct first, then what it points to */
    const size_t head = (sizeof(la_run) + 63) / 64 * 64;
    void *buf;
    if (posix_memalign(&buf, 64, head + a.used)) return -1;
    la_run *r = buf;
    a = (nn_arena){ (char *)buf + head, 0 };
    run_layout(r, rs->m, rs->slots, bf16, &a);
    rs->priv = r;
    return 0;
}
static void la_run_free(model_run *rs) { free(rs->priv); rs->priv = NULL; }

static void la_reset(model_run *rs, int slot) { memset(rs->state + (size_t)slot * rs->slot_bytes, 0, rs->slot_bytes); }

/* row i's work goes to thread i % nt, output panels to workers (thread t runs t, t + nt, ...):
 * every row's arithmetic is the same whatever n, nt or the other rows */
static void panels(model_run *rs, int t, int nt, float *out, size_t ldo, const float *in, size_t ldi,
                   const nn_panels *Pn, const float *bias, int n) {
    const int W = rs->nthreads;
    for (int w = t; w < W; w += nt) {
        NN_SPLIT(nn_panels_count(Pn->out), w, W, p0, p1);
        nn_panels_matmul(out, ldo, in, ldi, Pn, bias, n, p0, p1, NN_PM_STORE);
    }
}

static const float *la_step(model_run *rs, int t, int nt, int n, const int *slot, const int *tok, const int *pos) {
    const model *m = rs->m;
    const model_config *c = &m->cfg;
    la_run *r = rs->priv;
    const int L = c->layers, C = c->d_model, F = c->d_ff, NH = c->heads, hs = C / NH;
    const size_t one = linattn_state_floats(NH, hs), per_head = (size_t)hs * hs + hs;
    for (int i = t; i < n; i += nt) {
        memcpy(r->x + (size_t)i * C, P(EMB) + (size_t)tok[i] * C, (size_t)C * sizeof(float));
        rope_angles(r->cs + (size_t)i * hs, pos[i], hs);
    }
    for (int l = 0; l < L; l++) {
        for (int i = t; i < n; i += nt)
            layernorm_row(r->ln + (size_t)i * C, NULL, NULL, r->x + (size_t)i * C, P(LN1W) + (size_t)l * C,
                          P(LN1B) + (size_t)l * C, C);
        nn_barrier_wait(&rs->bar);
        panels(rs, t, nt, r->qkv_rows, 3 * C, r->ln, C, &r->qkv[l], P(QKVB) + (size_t)l * 3 * C, n);
        nn_barrier_wait(&rs->bar);
        for (int j = t; j < n * NH; j += nt) {   /* (row, head) pairs */
            const int i = j / NH, h = j % NH;
            float *row = r->qkv_rows + (size_t)i * 3 * C, *q = row + h * hs, *k = row + C + h * hs;
            const float *cs = r->cs + (size_t)i * hs;
            rope_row(q, 1, hs, cs, 0); rope_row(k, 1, hs, cs, 0);
            linattn_phi(q, 1, hs, hs); linattn_phi(k, 1, hs, hs);
            float *st = (float *)(rs->state + (size_t)slot[i] * rs->slot_bytes) + (size_t)l * one + (size_t)h * per_head;
            linattn_step(r->att + (size_t)i * C + h * hs, st, q, k, row + 2 * C + h * hs, 1, hs);
        }
        nn_barrier_wait(&rs->bar);
        for (int i = t; i < n; i += nt) {
            float *x = r->x + (size_t)i * C;
            residual_forward(x, x, r->att + (size_t)i * C, (size_t)C);
            layernorm_row(r->ln + (size_t)i * C, NULL, NULL, x, P(LN2W) + (size_t)l * C, P(LN2B) + (size_t)l * C, C);
        }
        nn_barrier_wait(&rs->bar);
        panels(rs, t, nt, r->h, F, r->ln, C, &r->fc1[l], P(FC1B) + (size_t)l * F, n);
        nn_barrier_wait(&rs->bar);
        {   /* exact GELU, split flat over the threads */
            size_t tot = (size_t)n * F, a0 = tot * t / nt, a1 = tot * (t + 1) / nt;
            gelu_erf_forward(r->h + a0, r->h + a0, a1 - a0);
        }
        nn_barrier_wait(&rs->bar);
        panels(rs, t, nt, r->y, C, r->h, F, &r->fc2[l], P(FC2B) + (size_t)l * C, n);
        nn_barrier_wait(&rs->bar);
        for (int i = t; i < n; i += nt) residual_forward(r->x + (size_t)i * C, r->x + (size_t)i * C, r->y + (size_t)i * C, (size_t)C);
    }
    for (int i = t; i < n; i += nt)
        layernorm_row(r->hidden + (size_t)i * C, NULL, NULL, r->x + (size_t)i * C, P(LNFW), P(LNFB), C);
    nn_barrier_wait(&rs->bar);
    return r->hidden;
}

/* kv_heads = heads (no grouped heads), d_ff 4C (tcpflowgen: 1024 at d 256), chunk 64 */
static void la_defaults(model_config *c) {
    if (c->kv_heads <= 0) c->kv_heads = c->heads;
    if (c->d_ff <= 0) c->d_ff = 4 * c->d_model;
    if (c->chunk <= 0) c->chunk = 64;
}

const model_ops linattn_ops = {
    .name = "linattn",
    .defaults = la_defaults,
    .params = la_params,
    .check = la_check,
    .init = la_init,
    .act_floats = la_act_floats,
    .dact_floats = la_dact_floats,
    .forward = la_forward,
    .backward = la_backward,
    .run_init = la_run_init,
    .run_free = la_run_free,
    .slot_bytes = la_slot_bytes,
    .reset = la_reset,
    .step = la_step,
};
