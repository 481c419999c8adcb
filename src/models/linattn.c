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
#include "nn/rope.h"
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
    /* the ranges of every field (model_fields[], checked before this by every caller) bound
     * every size product inside 64 bits and int indexing; here what only this backbone needs */
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
    #pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) rope_angles(s.rope + (size_t)t * hs, t, hs, ROPE_BASE);
    model_embed_forward(m, s.emb, P(EMB), tok, N, C, p);
    const float *x = s.emb;
    for (int l = 0; l < L; l++) {
        layer_acts a = layer_at(m, l, B, T);
        layernorm_forward(a.ln1, a.mean1, a.rstd1, x, P(LN1W) + (size_t)l * C, P(LN1B) + (size_t)l * C, N, C);
        matmul_forward_prec(a.qkv, a.ln1, P(QKVW) + (size_t)l * 3 * C * C, P(QKVB) + (size_t)l * 3 * C, N, C, 3 * C,
                            m->prec);
        linattn_rope_phi(a.qkv, N, T, C, NH, s.rope);   /* q heads then k heads: rotated, then phi */
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
    const int L = c->layers, C = c->d_model, F = c->d_ff, NH = c->heads, N = B * T;
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
        linattn_rope_phi_backward(g.dqkv, a.qkv, N, T, C, NH, s.rope);
        matmul_backward_set_prec(g.dln, G(QKVW) + (size_t)l * 3 * C * C, G(QKVB) + (size_t)l * 3 * C, g.dqkv, a.ln1,
                                 P(QKVW) + (size_t)l * 3 * C * C, N, C, 3 * C, m->prec);
        layernorm_backward(g.dres, G(LN1W) + (size_t)l * C, G(LN1B) + (size_t)l * C, g.dln, x, P(LN1W) + (size_t)l * C,
                           a.mean1, a.rstd1, N, C);

        model_layer_done(m, l);   /* layer l's gradients are final */
    }
    model_embed_backward(m, G(EMB), g.dres, g.dtmp, tok, N, C, p);
}

/* ---- decoding (model.h: model_run) ----
 * Per slot, L layers of recurrent state (S, z) of every head (linattn_state_floats): nothing
 * grows with the position. The team's pass is GPT-2's (gpt2.c): worker w owns heads h0..h1
 * (their q, k, v products, rotation, features and recurrent update) and a slice of the MLP's
 * hidden units; there is no output projection, so after the first barrier every thread adds
 * the heads' outputs themselves into its own copy of x. */
typedef struct {
    int W;
    nn_panels *qkv;    /* [l][h][s]: q, k, v rows of head h (hs x C each) */
    nn_panels *fc1;    /* [l]: (F x C) */
    nn_panels *fc2;    /* [l][w]: linear2's columns of worker w's hidden units */
    int *u0, *u1, *busy_m;
    float *rope;       /* (ctx, hs) cos | sin */
    float *qkvb;       /* (B, 3C) */
    float *att;        /* (B, C) */
    float *fch;        /* (B, F) */
    float *part;       /* (W, B, C) MLP partial sums */
    float *xt, *lnt;   /* (W, B, C) per thread */
    void *mem;
} la_run;

static size_t la_slot_bytes(const model_config *c, int prec) {
    return (size_t)c->layers * linattn_state_floats(c->heads, c->d_model / c->heads) * sizeof(float);
}

static void take_panels(nn_arena *a, nn_panels *p, int out, int in, int bf16) {
    p->out = out; p->in = in; p->bf16 = bf16;
    p->p = nn_arena_take(a, nn_panels_bytes(out, in, bf16));
}

static void la_layout(la_run *r, const model_config *c, int B, nn_arena *a, int bf) {
    const int L = c->layers, C = c->d_model, NH = c->heads, hs = C / NH, F = c->d_ff, W = r->W;
    for (int l = 0; l < L; l++) {
        for (int h = 0; h < NH; h++)
            for (int s = 0; s < 3; s++) take_panels(a, &r->qkv[((size_t)l * NH + h) * 3 + s], hs, C, bf);
        take_panels(a, &r->fc1[l], F, C, bf);
        for (int w = 0; w < W; w++)
            if (r->u1[w] > r->u0[w]) take_panels(a, &r->fc2[(size_t)l * W + w], C, r->u1[w] - r->u0[w], bf);
    }
    size_t Bz = B;
    r->rope = NN_TAKE(a, float, (size_t)c->ctx * hs);
    r->qkvb = NN_TAKE(a, float, Bz * 3 * C);
    r->att = NN_TAKE(a, float, Bz * C);
    r->fch = NN_TAKE(a, float, Bz * F);
    r->part = NN_TAKE(a, float, (size_t)W * Bz * C);
    r->xt = NN_TAKE(a, float, (size_t)W * Bz * C);
    r->lnt = NN_TAKE(a, float, (size_t)W * Bz * C);
}

static void la_run_free(model_run *rs) {
    la_run *r = rs->priv;
    if (!r) return;
    free(r->qkv); free(r->fc1); free(r->fc2); free(r->u0); free(r->u1); free(r->busy_m); free(r->mem); free(r);
    rs->priv = NULL;
}

static int la_run_init(model_run *rs) {
    const model *m = rs->m;
    const model_config *c = &m->cfg;
    const int L = c->layers, C = c->d_model, NH = c->heads, hs = C / NH, F = c->d_ff, W = rs->nthreads, bf = rs->prec == NN_BF16;
    la_run *r = calloc(1, sizeof *r);
    if (!r) return -1;
    rs->priv = r;
    r->W = W;
    r->qkv = calloc((size_t)L * NH * 3, sizeof *r->qkv); r->fc1 = calloc((size_t)L, sizeof *r->fc1);
    r->fc2 = calloc((size_t)L * W, sizeof *r->fc2);
    r->u0 = calloc((size_t)W, sizeof(int)); r->u1 = calloc((size_t)W, sizeof(int)); r->busy_m = calloc((size_t)W, sizeof(int));
    if (!r->qkv || !r->fc1 || !r->fc2 || !r->u0 || !r->u1 || !r->busy_m) return -1;
    for (int w = 0; w < W; w++) {
        nn_split_units(F, w, W, &r->u0[w], &r->u1[w]);
        r->busy_m[w] = r->u1[w] > r->u0[w];
    }
    nn_arena a = { NULL, 0 };
    la_layout(r, c, rs->rows, &a, bf);
    if (posix_memalign(&r->mem, 64, a.used)) { r->mem = NULL; return -1; }
    a = (nn_arena){ r->mem, 0 };
    la_layout(r, c, rs->rows, &a, bf);
    for (int l = 0; l < L; l++) {
        for (int h = 0; h < NH; h++)
            for (int s = 0; s < 3; s++) {
                nn_panels *q = &r->qkv[((size_t)l * NH + h) * 3 + s];
                nn_panels_pack(q, q->p, P(QKVW) + ((size_t)l * 3 * C + (size_t)s * C + (size_t)h * hs) * C, (size_t)C, hs, C, bf);
            }
        nn_panels_pack(&r->fc1[l], r->fc1[l].p, P(FC1W) + (size_t)l * F * C, (size_t)C, F, C, bf);
        for (int w = 0; w < W; w++)
            if (r->u1[w] > r->u0[w]) {
                nn_panels *f2 = &r->fc2[(size_t)l * W + w];
                nn_panels_pack(f2, f2->p, P(FC2W) + (size_t)l * C * F + r->u0[w], (size_t)F, C, r->u1[w] - r->u0[w], bf);
            }
    }
    for (int p = 0; p < c->ctx; p++) rope_angles(r->rope + (size_t)p * hs, p, hs, ROPE_BASE);
    return 0;
}

/* a new sequence starts from S = 0, z = 0 */
static void la_reset(model_run *rs, int slot) { memset(rs->state + (size_t)slot * rs->slot_bytes, 0, rs->slot_bytes); }

static const float *la_step(model_run *rs, int t, int nt, int n, const int *slot, const int *tok, const int *pos) {
    const model *m = rs->m;
    const model_config *c = &m->cfg;
    la_run *r = rs->priv;
    const int L = c->layers, C = c->d_model, F = c->d_ff, NH = c->heads, hs = C / NH, W = r->W;
    const size_t wstride = (size_t)rs->rows * C, one = (size_t)hs * hs + hs;
    float *x = r->xt + (size_t)t * wstride, *ln = r->lnt + (size_t)t * wstride;
    for (int i = 0; i < n; i++) memcpy(x + (size_t)i * C, P(EMB) + (size_t)tok[i] * C, (size_t)C * sizeof(float));
    for (int l = 0; l < L; l++) {
        const float *bq = P(QKVB) + (size_t)l * 3 * C;
        for (int i = 0; i < n; i++)
            layernorm_row(ln + (size_t)i * C, NULL, NULL, x + (size_t)i * C, P(LN1W) + (size_t)l * C, P(LN1B) + (size_t)l * C, C);
        for (int w = t; w < W; w += nt) {
            NN_SPLIT(NH, w, W, h0, h1);
            for (size_t h = h0; h < h1; h++) {
                for (int s = 0; s < 3; s++) {
                    size_t col = (size_t)s * C + h * hs;
                    nn_panels_matmul(r->qkvb + col, 3 * (size_t)C, ln, (size_t)C, &r->qkv[((size_t)l * NH + h) * 3 + s], bq + col,
                                     n, 0, nn_panels_count(hs), NN_PM_STORE);
                }
                for (int i = 0; i < n; i++) {
                    float *q = r->qkvb + (size_t)i * 3 * C + h * hs, *k = q + C;
                    const float *cs = r->rope + (size_t)pos[i] * hs;
                    rope_row(q, 1, hs, cs, ROPE_INTERLEAVED, 0);
                    rope_row(k, 1, hs, cs, ROPE_INTERLEAVED, 0);
                    linattn_phi(q, 1, hs, hs);
                    linattn_phi(k, 1, hs, hs);
                    float *st = (float *)(void *)(rs->state + (size_t)slot[i] * rs->slot_bytes) + ((size_t)l * NH + h) * one;
                    linattn_step(r->att + (size_t)i * C + h * hs, st, q, k, k + C, 1, hs);
                }
            }
        }
        nn_barrier_wait(&rs->bar);
        for (size_t k = 0; k < (size_t)n * C; k++) x[k] += r->att[k];   /* no output projection */
        for (int i = 0; i < n; i++)
            layernorm_row(ln + (size_t)i * C, NULL, NULL, x + (size_t)i * C, P(LN2W) + (size_t)l * C, P(LN2B) + (size_t)l * C, C);
        for (int w = t; w < W; w += nt) {
            if (!r->busy_m[w]) continue;
            NN_SPLIT(nn_panels_count(F), w, W, f0, f1);
            const int u0 = r->u0[w], u1 = r->u1[w];
            nn_panels_matmul(r->fch, (size_t)F, ln, (size_t)C, &r->fc1[l], P(FC1B) + (size_t)l * F, n, f0, f1, NN_PM_STORE);
            for (int i = 0; i < n; i++) {
                float *g = r->fch + (size_t)i * F;
                gelu_erf_forward(g + u0, g + u0, (size_t)(u1 - u0));   /* as forward (single-threaded here) */
            }
            nn_panels_matmul(r->part + w * wstride, (size_t)C, r->fch + u0, (size_t)F, &r->fc2[(size_t)l * W + w], NULL, n, 0,
                             nn_panels_count(C), NN_PM_STORE);
        }
        nn_barrier_wait(&rs->bar);
        for (int i = 0; i < n; i++) {
            float *xr = x + (size_t)i * C;
            const float *b2 = P(FC2B) + (size_t)l * C;
            for (int k = 0; k < C; k++) xr[k] += b2[k];
            for (int w = 0; w < W; w++) {
                if (!r->busy_m[w]) continue;
                const float *pp = r->part + w * wstride + (size_t)i * C;
                for (int k = 0; k < C; k++) xr[k] += pp[k];
            }
        }
    }
    for (int i = 0; i < n; i++) layernorm_row(ln + (size_t)i * C, NULL, NULL, x + (size_t)i * C, P(LNFW), P(LNFB), C);
    return ln;
}

/* kv_heads = heads (no grouped heads), d_ff 4C (tcpflowgen: 1024 at d 256), chunk 64 (the
 * training kernel's; speed only) */
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
    .prefill = model_run_prefill_rows,
};
