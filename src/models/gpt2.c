/* GPT-2 backbone (pre-LN, learned positions, GELU MLP, tied LM head), as NetGPT uses it.
 * Parameter names follow Hugging Face's GPT2Model so a reader can map them:
 * wte, wpe, h.ln_1, h.attn.c_attn, h.attn.c_proj, h.ln_2, h.mlp.c_fc, h.mlp.c_proj, ln_f.
 * Per-layer tensors are stacked (L, ...): layer l = base + l * stride.
 * Linear weights are stored (out, in) like torch.nn.Linear (HF's Conv1D stores (in, out):
 * a converter transposes). */
#ifdef __clang__
/* `omp simd` asks for vectorisation; at -O1 (sanitizer build) clang cannot and would warn */
#pragma clang diagnostic ignored "-Wpass-failed"
#endif
#include "models/model.h"
#include "nn/attention.h"
#include "util/util.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

enum { WTE, WPE, LN1W, LN1B, QKVW, QKVB, ATTPROJW, ATTPROJB, LN2W, LN2B, FCW, FCB, FCPROJW, FCPROJB,
       LNFW, LNFB, NPARAMS };

static int gpt2_params(const model_config *c, tensor_spec *s, int *head) {
    size_t V = c->vocab, Tm = c->ctx, L = c->layers, C = c->d_model, F = c->d_ff;
    tensor_spec t[NPARAMS] = {
        { "wte", V * C, 1 },           { "wpe", Tm * C, 1 },
        { "h.ln_1.weight", L * C, 0 }, { "h.ln_1.bias", L * C, 0 },
        { "h.attn.c_attn.weight", L * 3 * C * C, 1 }, { "h.attn.c_attn.bias", L * 3 * C, 0 },
        { "h.attn.c_proj.weight", L * C * C, 1 },     { "h.attn.c_proj.bias", L * C, 0 },
        { "h.ln_2.weight", L * C, 0 }, { "h.ln_2.bias", L * C, 0 },
        { "h.mlp.c_fc.weight", L * F * C, 1 },        { "h.mlp.c_fc.bias", L * F, 0 },
        { "h.mlp.c_proj.weight", L * C * F, 1 },      { "h.mlp.c_proj.bias", L * C, 0 },
        { "ln_f.weight", C, 0 },       { "ln_f.bias", C, 0 },
    };
    memcpy(s, t, sizeof t);
    *head = WTE;
    return NPARAMS;
}

static const char *gpt2_check(const model_config *c) {
    /* the ranges of every field (model_fields[], checked before this by every caller) bound
     * every size product inside 64 bits and int indexing; here what only this backbone needs */
    if (c->d_model % c->heads) return "d-model must be a multiple of heads";
    if (c->kv_heads != c->heads) return "GPT-2 has no grouped-query attention (kv-heads = heads)";
    if (!c->tied) return "GPT-2 ties the LM head to the embedding";
    return NULL;
}

static void gpt2_init(model *m, uint64_t seed) {
    const model_config *c = &m->cfg;
    uint64_t rng = seed;
    float proj_std = 0.02f / sqrtf(2.0f * c->layers);  /* GPT-2: residual projections scaled */
    for (int i = 0; i < m->ntensors; i++) {
        float *p = model_tensor(m, i);
        size_t n = m->spec[i].size;
        if (i == LN1W || i == LN2W || i == LNFW) { for (size_t k = 0; k < n; k++) p[k] = 1.0f; }
        else if (!m->spec[i].decay) memset(p, 0, n * sizeof *p);
        else {
            float sd = (i == ATTPROJW || i == FCPROJW) ? proj_std : 0.02f;
            for (size_t k = 0; k < n; k++) p[k] = sd * nn_randn(&rng);
        }
    }
}

/* ---- activation layout ---- */
typedef struct {
    float *ln1, *ln1_mean, *ln1_rstd, *qkv, *atty, *att, *attproj, *res2, *ln2, *ln2_mean, *ln2_rstd,
          *fch, *fchg, *fcproj, *res3;
} layer_acts;

static size_t layer_floats(const model_config *c, int B, int T) {
    size_t N = (size_t)B * T, C = c->d_model, F = c->d_ff;
    return N * C * 7 + N * 3 * C + N * 4 + 2 * N * F + (size_t)B * c->heads * T * T;
}
static size_t gpt2_act_floats(const model_config *c, int B, int T) {
    size_t N = (size_t)B * T;
    return N * c->d_model + 2 * N + (size_t)c->layers * layer_floats(c, B, T);
}
static layer_acts layer_at(const model *m, int l, int B, int T) {
    const model_config *c = &m->cfg;
    size_t N = (size_t)B * T, C = c->d_model, F = c->d_ff;
    float *p = m->acts + N * C + 2 * N + (size_t)l * layer_floats(c, B, T);
    layer_acts a;
    a.ln1 = p; p += N * C;
    a.ln1_mean = p; p += N;
    a.ln1_rstd = p; p += N;
    a.qkv = p; p += N * 3 * C;
    a.atty = p; p += N * C;
    a.att = p; p += (size_t)B * c->heads * T * T;
    a.attproj = p; p += N * C;
    a.res2 = p; p += N * C;
    a.ln2 = p; p += N * C;
    a.ln2_mean = p; p += N;
    a.ln2_rstd = p; p += N;
    a.fch = p; p += N * F;
    a.fchg = p; p += N * F;
    a.fcproj = p; p += N * C;
    a.res3 = p;
    return a;
}

/* gradient buffers, reused by every layer */
typedef struct { float *dres, *dln, *dqkv, *datty, *dtmp, *dfchg, *scratch; } grad_bufs;
static size_t gpt2_dact_floats(const model_config *c, int B, int T) {
    size_t N = (size_t)B * T, C = c->d_model, F = c->d_ff;
    return N * C * 4 + N * 3 * C + N * F + (size_t)omp_get_max_threads() * attention_scratch_floats(T);
}
static grad_bufs grads_at(const model *m, int B, int T) {
    size_t N = (size_t)B * T, C = m->cfg.d_model, F = m->cfg.d_ff;
    float *p = m->dacts;
    grad_bufs g;
    g.dres = p; p += N * C;
    g.dln = p; p += N * C;
    g.dqkv = p; p += N * 3 * C;
    g.datty = p; p += N * C;
    g.dtmp = p; p += N * C;
    g.dfchg = p; p += N * F;
    g.scratch = p;
    return g;
}

#define P(i) model_tensor(m, i)
#define G(i) model_grad(m, i)

static void gpt2_forward(model *m, const int *tok, int B, int T) {
    const model_config *c = &m->cfg;
    const int L = c->layers, C = c->d_model, F = c->d_ff, NH = c->heads, N = B * T;
    const float p = m->training ? c->dropout : 0.0f;
    float *encoded = m->acts;
    float *lnf_mean = encoded + (size_t)N * C, *lnf_rstd = lnf_mean + N;
    encoder_forward(encoded, tok, P(WTE), P(WPE), B, T, C);
    if (p > 0) dropout_forward(encoded, encoded, p, model_drop_seed(m, -1, 0), (size_t)N * C);
    const float *x = encoded;
    for (int l = 0; l < L; l++) {
        layer_acts a = layer_at(m, l, B, T);
        layernorm_forward(a.ln1, a.ln1_mean, a.ln1_rstd, x, P(LN1W) + l * C, P(LN1B) + l * C, N, C);
        matmul_forward_prec(a.qkv, a.ln1, P(QKVW) + (size_t)l * 3 * C * C, P(QKVB) + l * 3 * C, N, C, 3 * C, m->prec);
        attention_forward_prec(a.atty, a.att, a.qkv, B, T, C, NH, m->prec);
        matmul_forward_prec(a.attproj, a.atty, P(ATTPROJW) + (size_t)l * C * C, P(ATTPROJB) + l * C, N, C, C, m->prec);
        if (p > 0) dropout_forward(a.attproj, a.attproj, p, model_drop_seed(m, l, 1), (size_t)N * C);
        residual_forward(a.res2, x, a.attproj, (size_t)N * C);
        layernorm_forward(a.ln2, a.ln2_mean, a.ln2_rstd, a.res2, P(LN2W) + l * C, P(LN2B) + l * C, N, C);
        matmul_forward_prec(a.fch, a.ln2, P(FCW) + (size_t)l * F * C, P(FCB) + l * F, N, C, F, m->prec);
        gelu_forward(a.fchg, a.fch, (size_t)N * F);
        matmul_forward_prec(a.fcproj, a.fchg, P(FCPROJW) + (size_t)l * C * F, P(FCPROJB) + l * C, N, F, C, m->prec);
        if (p > 0) dropout_forward(a.fcproj, a.fcproj, p, model_drop_seed(m, l, 2), (size_t)N * C);
        residual_forward(a.res3, a.res2, a.fcproj, (size_t)N * C);
        x = a.res3;
    }
    layernorm_forward(m->hidden, lnf_mean, lnf_rstd, x, P(LNFW), P(LNFB), N, C);
}

static void zero(float *p, size_t n) { nn_zero(p, n); }

static void gpt2_backward(model *m, const int *tok, int B, int T) {
    const model_config *c = &m->cfg;
    const int L = c->layers, C = c->d_model, F = c->d_ff, NH = c->heads, N = B * T;
    const size_t NC = (size_t)N * C;
    const float p = m->training ? c->dropout : 0.0f;
    float *encoded = m->acts;
    float *lnf_mean = encoded + NC, *lnf_rstd = lnf_mean + N;
    grad_bufs g = grads_at(m, B, T);
    /* dres: gradient of the residual stream, carried down through the layers */
    zero(g.dres, NC);
    const float *xL = L > 0 ? layer_at(m, L - 1, B, T).res3 : encoded;
    layernorm_backward(g.dres, G(LNFW), G(LNFB), m->dhidden, xL, P(LNFW), lnf_mean, lnf_rstd, N, C);
    for (int l = L - 1; l >= 0; l--) {
        layer_acts a = layer_at(m, l, B, T);
        const float *x = l > 0 ? layer_at(m, l - 1, B, T).res3 : encoded;
        /* res3 = res2 + drop(fcproj): the residual passes dres through unchanged */
        const float *dfcproj = g.dres;
        if (p > 0) { zero(g.dtmp, NC); dropout_backward(g.dtmp, g.dres, p, model_drop_seed(m, l, 2), NC); dfcproj = g.dtmp; }
        matmul_backward_set_prec(g.dfchg, G(FCPROJW) + (size_t)l * C * F, G(FCPROJB) + l * C, dfcproj, a.fchg,
                                 P(FCPROJW) + (size_t)l * C * F, N, F, C, m->prec);
        /* in place: dfchg becomes the gradient of the GELU's input */
        gelu_backward_set(g.dfchg, a.fch, g.dfchg, (size_t)N * F);
        matmul_backward_set_prec(g.dln, G(FCW) + (size_t)l * F * C, G(FCB) + l * F, g.dfchg, a.ln2,
                                 P(FCW) + (size_t)l * F * C, N, C, F, m->prec);
        layernorm_backward(g.dres, G(LN2W) + l * C, G(LN2B) + l * C, g.dln, a.res2, P(LN2W) + l * C,
                           a.ln2_mean, a.ln2_rstd, N, C);
        /* res2 = x + drop(attproj) */
        const float *dattproj = g.dres;
        if (p > 0) { zero(g.dtmp, NC); dropout_backward(g.dtmp, g.dres, p, model_drop_seed(m, l, 1), NC); dattproj = g.dtmp; }
        matmul_backward_set_prec(g.datty, G(ATTPROJW) + (size_t)l * C * C, G(ATTPROJB) + l * C, dattproj, a.atty,
                                 P(ATTPROJW) + (size_t)l * C * C, N, C, C, m->prec);
        attention_backward_prec(g.dqkv, g.datty, a.qkv, a.att, g.scratch, B, T, C, NH, m->prec);
        matmul_backward_set_prec(g.dln, G(QKVW) + (size_t)l * 3 * C * C, G(QKVB) + l * 3 * C, g.dqkv, a.ln1,
                                 P(QKVW) + (size_t)l * 3 * C * C, N, C, 3 * C, m->prec);
        layernorm_backward(g.dres, G(LN1W) + l * C, G(LN1B) + l * C, g.dln, x, P(LN1W) + l * C,
                           a.ln1_mean, a.ln1_rstd, N, C);

        model_layer_done(m, l);   /* layer l's gradients are final */
    }
    const float *denc = g.dres;
    if (p > 0) { zero(g.dtmp, NC); dropout_backward(g.dtmp, g.dres, p, model_drop_seed(m, -1, 0), NC); denc = g.dtmp; }
    encoder_backward(G(WTE), G(WPE), denc, tok, B, T, C);
}

/* ---- decoding (model.h: model_run) ----
 * One step is one pass of the team over the layers with 2 barriers per layer. Work is split
 * over W workers (W = rs->nthreads; thread t runs workers t, t + nt, ...): worker w owns heads
 * h0..h1 and a slice of the MLP's hidden units. For its heads it computes q, k, v (packed per
 * head, so any head size is panel aligned), writes k and v into the slot's cache, runs
 * attention and multiplies the result by its heads' columns of the output projection: a
 * partial sum of the residual update. Likewise its MLP slice: fc, GELU, then its columns of
 * fc-proj. After each barrier every thread adds all workers' partials, in worker order, into
 * its own copy of the residual stream x: no thread waits for a shared x, the copies stay
 * identical, and a row's sums never depend on the other rows. */
typedef struct {
    int W;
    nn_panels *qkv;    /* [l][h][s]: q, k, v rows of head h (hs x C each) */
    nn_panels *proj;   /* [l][h]: the output projection's columns of head h (C x hs) */
    nn_panels *fc;     /* [l]: (F x C) */
    nn_panels *fcp;    /* [l][w]: fc-proj's columns of worker w's hidden units (C x (u1 - u0)) */
    int *u0, *u1;      /* [w]: worker w's hidden units */
    int *busy_a, *busy_m;   /* [w]: worker has heads / hidden units (its partials count) */
    float *qkvb;       /* (B, 3C) q, k, v of every row */
    float *att;        /* (B, C) attention output */
    float *fch;        /* (B, F) GELU(fc) */
    float *sc;         /* (B, NH, Tp) scores */
    float *part;       /* (2, W, B, C) attention and MLP partial sums per worker */
    float *xt, *lnt;   /* (W, B, C) per thread: residual stream, normalised rows */
    void *mem;
} gpt2_run;

static size_t gpt2_slot_bytes(const model_config *c, int prec) {
    return (size_t)c->layers * c->heads * nn_kv_bytes(c->d_model / c->heads, c->ctx, prec == NN_BF16);
}

static void take_panels(nn_arena *a, nn_panels *P, int out, int in, int bf16) {
    P->out = out; P->in = in; P->bf16 = bf16;
    P->p = nn_arena_take(a, nn_panels_bytes(out, in, bf16));
}

/* One walk: sizes everything (a->base NULL) or carves it. */
static void gpt2_layout(gpt2_run *r, const model_config *c, int B, nn_arena *a, int bf) {
    const int L = c->layers, C = c->d_model, NH = c->heads, hs = C / NH, F = c->d_ff, W = r->W;
    for (int l = 0; l < L; l++) {
        for (int h = 0; h < NH; h++) {
            for (int s = 0; s < 3; s++) take_panels(a, &r->qkv[((size_t)l * NH + h) * 3 + s], hs, C, bf);
            take_panels(a, &r->proj[(size_t)l * NH + h], C, hs, bf);
        }
        take_panels(a, &r->fc[l], F, C, bf);
        for (int w = 0; w < W; w++)
            if (r->u1[w] > r->u0[w]) take_panels(a, &r->fcp[(size_t)l * W + w], C, r->u1[w] - r->u0[w], bf);
    }
    size_t Bz = B;
    r->qkvb = NN_TAKE(a, float, Bz * 3 * C);
    r->att = NN_TAKE(a, float, Bz * C);
    r->fch = NN_TAKE(a, float, Bz * F);
    r->sc = NN_TAKE(a, float, Bz * NH * nn_kv_tp(c->ctx));
    r->part = NN_TAKE(a, float, 2 * (size_t)W * Bz * C);
    r->xt = NN_TAKE(a, float, (size_t)W * Bz * C);
    r->lnt = NN_TAKE(a, float, (size_t)W * Bz * C);
}

static void gpt2_run_free(model_run *rs) {
    gpt2_run *r = rs->priv;
    if (!r) return;
    free(r->qkv); free(r->proj); free(r->fc); free(r->fcp); free(r->u0); free(r->u1); free(r->busy_a); free(r->busy_m);
    free(r->mem); free(r);
    rs->priv = NULL;
}

static int gpt2_run_init(model_run *rs) {
    const model *m = rs->m;
    const model_config *c = &m->cfg;
    const int L = c->layers, C = c->d_model, NH = c->heads, hs = C / NH, F = c->d_ff, W = rs->nthreads, bf = rs->prec == NN_BF16;
    gpt2_run *r = calloc(1, sizeof *r);
    if (!r) return -1;
    rs->priv = r;
    r->W = W;
    r->qkv = calloc((size_t)L * NH * 3, sizeof *r->qkv); r->proj = calloc((size_t)L * NH, sizeof *r->proj);
    r->fc = calloc((size_t)L, sizeof *r->fc); r->fcp = calloc((size_t)L * W, sizeof *r->fcp);
    r->u0 = calloc((size_t)W, sizeof(int)); r->u1 = calloc((size_t)W, sizeof(int));
    r->busy_a = calloc((size_t)W, sizeof(int)); r->busy_m = calloc((size_t)W, sizeof(int));
    if (!r->qkv || !r->proj || !r->fc || !r->fcp || !r->u0 || !r->u1 || !r->busy_a || !r->busy_m) return -1;
    for (int w = 0; w < W; w++) {
        nn_split_units(F, w, W, &r->u0[w], &r->u1[w]);
        NN_SPLIT(NH, w, W, h0, h1);
        r->busy_a[w] = h1 > h0; r->busy_m[w] = r->u1[w] > r->u0[w];
    }
    nn_arena a = { NULL, 0 };
    gpt2_layout(r, c, rs->rows, &a, bf);
    if (posix_memalign(&r->mem, 64, a.used)) { r->mem = NULL; return -1; }
    a = (nn_arena){ r->mem, 0 };
    gpt2_layout(r, c, rs->rows, &a, bf);
    const float *qkvw = P(QKVW), *projw = P(ATTPROJW), *fcw = P(FCW), *fcpw = P(FCPROJW);
    for (int l = 0; l < L; l++) {
        for (int h = 0; h < NH; h++) {
            for (int s = 0; s < 3; s++) {
                nn_panels *q = &r->qkv[((size_t)l * NH + h) * 3 + s];
                nn_panels_pack(q, q->p, qkvw + ((size_t)l * 3 * C + (size_t)s * C + (size_t)h * hs) * C, (size_t)C, hs, C, bf);
            }
            nn_panels *pp = &r->proj[(size_t)l * NH + h];
            nn_panels_pack(pp, pp->p, projw + (size_t)l * C * C + (size_t)h * hs, (size_t)C, C, hs, bf);
        }
        nn_panels_pack(&r->fc[l], r->fc[l].p, fcw + (size_t)l * F * C, (size_t)C, F, C, bf);
        for (int w = 0; w < W; w++)
            if (r->u1[w] > r->u0[w]) {
                nn_panels *fp = &r->fcp[(size_t)l * W + w];
                nn_panels_pack(fp, fp->p, fcpw + (size_t)l * C * F + r->u0[w], (size_t)F, C, r->u1[w] - r->u0[w], bf);
            }
    }
    return 0;
}

/* x (n, C) += bias + the partial sums of every worker that had work, in worker order */
static void add_partials(float *x, const float *part, const float *bias, const int *busy, int W, int n, int C,
                         size_t wstride) {
    for (int r = 0; r < n; r++) {
        float *xr = x + (size_t)r * C;
        if (bias) {
            #pragma omp simd
            for (int i = 0; i < C; i++) xr[i] += bias[i];
        }
        for (int w = 0; w < W; w++) {
            if (!busy[w]) continue;
            const float *p = part + w * wstride + (size_t)r * C;
            #pragma omp simd
            for (int i = 0; i < C; i++) xr[i] += p[i];
        }
    }
}

static const float *gpt2_step(model_run *rs, int t, int nt, int n, const int *slot, const int *tok, const int *pos) {
    const model *m = rs->m;
    const model_config *c = &m->cfg;
    gpt2_run *r = rs->priv;
    const int L = c->layers, C = c->d_model, F = c->d_ff, NH = c->heads, hs = C / NH, W = r->W, ctx = c->ctx;
    const int bf = rs->prec == NN_BF16, Tp = nn_kv_tp(ctx);
    const float scale = 1.0f / sqrtf((float)hs);
    const size_t wstride = (size_t)rs->rows * C, kvb = nn_kv_bytes(hs, ctx, bf);
    float *pa = r->part, *pm = r->part + (size_t)W * wstride;   /* attention, MLP partials */
    float *x = r->xt + (size_t)t * wstride, *ln = r->lnt + (size_t)t * wstride;
    for (int i = 0; i < n; i++) {
        const float *e = P(WTE) + (size_t)tok[i] * C, *pp = P(WPE) + (size_t)pos[i] * C;
        for (int k = 0; k < C; k++) x[(size_t)i * C + k] = e[k] + pp[k];
    }
    for (int l = 0; l < L; l++) {
        const float *bq = P(QKVB) + (size_t)l * 3 * C;
        for (int i = 0; i < n; i++)
            layernorm_row(ln + (size_t)i * C, NULL, NULL, x + (size_t)i * C, P(LN1W) + l * C, P(LN1B) + l * C, C);
        for (int w = t; w < W; w += nt) {
            NN_SPLIT(NH, w, W, h0, h1);
            float *part = pa + w * wstride;
            for (size_t h = h0; h < h1; h++) {
                /* q, k, v of head h; k and v into the slot's cache; attention; this head's share
                 * of the output projection */
                for (int s = 0; s < 3; s++) {
                    size_t col = (size_t)s * C + h * hs;
                    nn_panels_matmul(r->qkvb + col, 3 * (size_t)C, ln, (size_t)C, &r->qkv[((size_t)l * NH + h) * 3 + s],
                                     bq + col, n, 0, nn_panels_count(hs), NN_PM_STORE);
                }
                for (int i = 0; i < n; i++) {
                    const float *q = r->qkvb + (size_t)i * 3 * C + h * hs;
                    uint8_t *kv = rs->state + (size_t)slot[i] * rs->slot_bytes + ((size_t)l * NH + h) * kvb;
                    nn_kv_store(kv, hs, ctx, bf, pos[i], q + C, q + 2 * C);
                    nn_attend(r->att + (size_t)i * C + h * hs, q, kv, hs, ctx, bf, pos[i], scale,
                              r->sc + ((size_t)i * NH + h) * Tp);
                }
                nn_panels_matmul(part, (size_t)C, r->att + h * hs, (size_t)C, &r->proj[(size_t)l * NH + h], NULL, n, 0,
                                 nn_panels_count(C), h == h0 ? NN_PM_STORE : NN_PM_ADD);
            }
        }
        nn_barrier_wait(&rs->bar);
        add_partials(x, pa, P(ATTPROJB) + l * C, r->busy_a, W, n, C, wstride);
        for (int i = 0; i < n; i++)
            layernorm_row(ln + (size_t)i * C, NULL, NULL, x + (size_t)i * C, P(LN2W) + l * C, P(LN2B) + l * C, C);
        for (int w = t; w < W; w += nt) {
            if (!r->busy_m[w]) continue;
            NN_SPLIT(nn_panels_count(F), w, W, f0, f1);
            nn_panels_matmul(r->fch, (size_t)F, ln, (size_t)C, &r->fc[l], P(FCB) + l * F, n, f0, f1, NN_PM_GELU);
            nn_panels_matmul(pm + w * wstride, (size_t)C, r->fch + r->u0[w], (size_t)F, &r->fcp[(size_t)l * W + w], NULL, n, 0,
                             nn_panels_count(C), NN_PM_STORE);
        }
        nn_barrier_wait(&rs->bar);
        add_partials(x, pm, P(FCPROJB) + l * C, r->busy_m, W, n, C, wstride);
    }
    for (int i = 0; i < n; i++) layernorm_row(ln + (size_t)i * C, NULL, NULL, x + (size_t)i * C, P(LNFW), P(LNFB), C);
    return ln;
}

static void gpt2_defaults(model_config *c) {
    if (c->kv_heads <= 0) c->kv_heads = c->heads;
    if (c->d_ff <= 0) c->d_ff = 4 * c->d_model;
    c->tied = 1;
}

const model_ops gpt2_ops = {
    .name = "gpt2",
    .defaults = gpt2_defaults,
    .params = gpt2_params,
    .check = gpt2_check,
    .init = gpt2_init,
    .act_floats = gpt2_act_floats,
    .dact_floats = gpt2_dact_floats,
    .forward = gpt2_forward,
    .backward = gpt2_backward,
    .run_init = gpt2_run_init,
    .run_free = gpt2_run_free,
    .slot_bytes = gpt2_slot_bytes,
    .step = gpt2_step,
    .prefill = model_run_prefill_rows,
};
