/* Qwen2 / Llama-style backbone, with Hugging Face Qwen2's semantics (modeling_qwen2):
 *   x = embed_tokens[tok]
 *   per layer:  x = x + o_proj(attn(rope(q), rope(k), v))   q,k,v = qkv_proj(rmsnorm(x)) (with bias)
 *               x = x + down(silu(gate(h)) * up(h))           h = rmsnorm(x)      (no biases)
 *   hidden = rmsnorm(x)  (final `norm`); LM head untied by default (lm_head), tied allowed.
 * RMSNorm: x * rsqrt(mean(x^2) + eps) * w, weight only (eps: cfg norm_eps, default 1e-6). RoPE:
 * base cfg rope_theta (default 10000; Qwen2.5 uses 1e6), HF's rotate_half convention (dimension i pairs with i + hs/2, frequency theta^(-2i/hs)). Grouped-query
 * attention: kv_heads K/V heads, query head h reads K/V head h / (heads / kv_heads).
 * No learned positions: ctx only bounds the activations and the KV cache.
 *
 * Parameter names follow HF's Qwen2ForCausalLM with the per-layer tensors stacked (L, ...),
 * Linear weights stored (out, in) as torch.nn.Linear. Two products are fused (one matmul call
 * each, the importer concatenates HF's rows): qkv_proj = [q_proj; k_proj; v_proj] (weight and
 * bias), gate_up_proj = [gate_proj; up_proj].
 *
 * Attention reuses the neural core's causal kernels (attention_forward/backward take a packed
 * (B,T,3C) [q|k|v] with one K/V per query head): forward expands each K/V head to the query
 * heads it serves; backward sums the expanded K/V gradients of a group back into its head.
 * The expansion costs one (N,3C) copy per layer; the kernels stay one code path. */
#ifdef __clang__
/* `omp simd` asks for vectorisation; at -O1 (sanitizer build) clang cannot and would warn */
#pragma clang diagnostic ignored "-Wpass-failed"
#endif
#include "models/model.h"
#include "nn/rope.h"
#include "nn/attention.h"
#include "util/util.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>


enum { EMB, LN1W, QKVW, QKVB, OW, LN2W, GUW, DOWNW, NORMW, LMHEAD, NPARAMS };

/* widths: hs head size, KC = kv_heads * hs (one of k, v), D = C + 2 KC (the qkv row) */
typedef struct { int C, NH, KVH, hs, KC, D, F; } dims;
static dims dims_of(const model_config *c) {
    dims d;
    d.C = c->d_model; d.NH = c->heads; d.KVH = c->kv_heads; d.hs = d.C / d.NH;
    d.KC = d.KVH * d.hs; d.D = d.C + 2 * d.KC; d.F = c->d_ff;
    return d;
}

static int qwen2_params(const model_config *c, tensor_spec *s, int *head) {
    dims d = dims_of(c);
    size_t V = c->vocab, L = c->layers, C = d.C, D = d.D, F = d.F;
    tensor_spec t[NPARAMS] = {
        { "embed_tokens", V * C, 1 },
        { "layers.input_layernorm.weight", L * C, 0 },
        { "layers.self_attn.qkv_proj.weight", L * D * C, 1 }, { "layers.self_attn.qkv_proj.bias", L * D, 0 },
        { "layers.self_attn.o_proj.weight", L * C * C, 1 },
        { "layers.post_attention_layernorm.weight", L * C, 0 },
        { "layers.mlp.gate_up_proj.weight", L * 2 * F * C, 1 },
        { "layers.mlp.down_proj.weight", L * C * F, 1 },
        { "norm.weight", C, 0 },
        { "lm_head.weight", V * C, 1 },
    };
    int n = c->tied ? NPARAMS - 1 : NPARAMS;
    memcpy(s, t, (size_t)n * sizeof *t);
    *head = c->tied ? EMB : LMHEAD;
    return n;
}

static const char *qwen2_check(const model_config *c) {
    /* the ranges of every field (model_fields[], checked before this by every caller) bound
     * every size product inside 64 bits and int indexing; here what only this backbone needs */
    if (c->d_model % c->heads) return "d-model must be a multiple of heads";
    if ((c->d_model / c->heads) % 2) return "the head size (d-model / heads) must be even (RoPE rotates pairs)";
    if (c->kv_heads < 1 || c->kv_heads > c->heads || c->heads % c->kv_heads)
        return "kv-heads must divide heads (grouped-query attention)";
    return NULL;
}

/* N(0, 0.02) matrices (HF's initializer_range), residual projections (o_proj, down_proj)
 * N(0, 0.02 / sqrt(2L)) as GPT-2 does, for the same stability from scratch; norms 1, biases 0. */
static void qwen2_init(model *m, uint64_t seed) {
    const model_config *c = &m->cfg;
    uint64_t rng = seed;
    float proj_std = 0.02f / sqrtf(2.0f * c->layers);
    for (int i = 0; i < m->ntensors; i++) {
        float *p = model_tensor(m, i);
        size_t n = m->spec[i].size;
        if (i == LN1W || i == LN2W || i == NORMW) { for (size_t k = 0; k < n; k++) p[k] = 1.0f; }
        else if (!m->spec[i].decay) memset(p, 0, n * sizeof *p);
        else {
            float sd = (i == OW || i == DOWNW) ? proj_std : 0.02f;
            for (size_t k = 0; k < n; k++) p[k] = sd * nn_randn(&rng);
        }
    }
}

/* ---- layers of this backbone (RMSNorm and RoPE are the neural core's: nn.h, rope.h) ---- */

/* qkv (N, C+2KC) -> packed (N, 3C) [q | k per query head | v per query head] */
static void gqa_expand(float *qkvx, const float *qkv, int N, dims d) {
    const int G = d.NH / d.KVH;
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *s = qkv + (size_t)n * d.D;
        float *o = qkvx + (size_t)n * 3 * d.C;
        memcpy(o, s, (size_t)d.C * sizeof *o);
        for (int h = 0; h < d.NH; h++) {
            memcpy(o + d.C + h * d.hs, s + d.C + (h / G) * d.hs, (size_t)d.hs * sizeof *o);
            memcpy(o + 2 * d.C + h * d.hs, s + d.C + d.KC + (h / G) * d.hs, (size_t)d.hs * sizeof *o);
        }
    }
}
/* backward of gqa_expand: dqkv (N, C+2KC) = dq, and dk, dv summed over each group (overwritten) */
static void gqa_collapse(float *dqkv, const float *dqkvx, int N, dims d) {
    const int G = d.NH / d.KVH;
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *s = dqkvx + (size_t)n * 3 * d.C;
        float *o = dqkv + (size_t)n * d.D;
        memcpy(o, s, (size_t)d.C * sizeof *o);
        memset(o + d.C, 0, (size_t)2 * d.KC * sizeof *o);
        for (int h = 0; h < d.NH; h++) {
            float *dk = o + d.C + (h / G) * d.hs, *dv = o + d.C + d.KC + (h / G) * d.hs;
            const float *sk = s + d.C + h * d.hs, *sv = s + 2 * d.C + h * d.hs;
            for (int i = 0; i < d.hs; i++) { dk[i] += sk[i]; dv[i] += sv[i]; }
        }
    }
}

static inline float silu_mul(float g, float u) { return g / (1.0f + expf(-g)) * u; }
/* SwiGLU: gu rows are [gate (F) | up (F)]; h = silu(gate) * up, silu(g) = g * sigmoid(g) */
static void swiglu_forward(float *h, const float *gu, int N, int F) {
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *g = gu + (size_t)n * 2 * F, *u = g + F;
        float *o = h + (size_t)n * F;
        for (int j = 0; j < F; j++) o[j] = silu_mul(g[j], u[j]);
    }
}
/* dgate = dh * up * silu'(gate), silu' = s (1 + g (1 - s)); dup = dh * silu(gate) (overwritten) */
static void swiglu_backward_set(float *dgu, const float *dh, const float *gu, int N, int F) {
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *g = gu + (size_t)n * 2 * F, *u = g + F, *d = dh + (size_t)n * F;
        float *dg = dgu + (size_t)n * 2 * F, *du = dg + F;
        for (int j = 0; j < F; j++) {
            float s = 1.0f / (1.0f + expf(-g[j]));
            dg[j] = d[j] * u[j] * s * (1.0f + g[j] * (1.0f - s));
            du[j] = d[j] * g[j] * s;
        }
    }
}

/* ---- activation layout: shared part, then one block per layer ---- */
typedef struct { float *ln1, *rstd1, *qkvx, *atty, *att, *res2, *ln2, *rstd2, *gu, *h, *res3; } layer_acts;

static size_t layer_floats(const model_config *c, int B, int T) {
    dims d = dims_of(c);
    size_t N = (size_t)B * T, C = d.C, F = d.F;
    return N * C * 5 + 2 * N + N * 3 * C + (size_t)B * d.NH * T * T + N * 3 * F;
}
/* embedded tokens (N,C), final rstd (N), RoPE table (T,hs), qkv before expansion (N,D),
 * branch output before the residual (N,C) */
static size_t shared_floats(const model_config *c, int B, int T) {
    dims d = dims_of(c);
    size_t N = (size_t)B * T;
    return N * d.C + N + (size_t)T * d.hs + N * d.D + N * d.C;
}
static size_t qwen2_act_floats(const model_config *c, int B, int T) {
    return shared_floats(c, B, T) + (size_t)c->layers * layer_floats(c, B, T);
}
typedef struct { float *emb, *rstdf, *rope, *qkv, *tmp; } shared_acts;
static shared_acts shared_at(const model *m, int B, int T) {
    dims d = dims_of(&m->cfg);
    size_t N = (size_t)B * T;
    shared_acts s;
    s.emb = m->acts; s.rstdf = s.emb + N * d.C; s.rope = s.rstdf + N;
    s.qkv = s.rope + (size_t)T * d.hs; s.tmp = s.qkv + N * d.D;
    return s;
}
static layer_acts layer_at(const model *m, int l, int B, int T) {
    const model_config *c = &m->cfg;
    dims d = dims_of(c);
    size_t N = (size_t)B * T, C = d.C, F = d.F;
    float *p = m->acts + shared_floats(c, B, T) + (size_t)l * layer_floats(c, B, T);
    layer_acts a;
    a.ln1 = p; p += N * C;
    a.rstd1 = p; p += N;
    a.qkvx = p; p += N * 3 * C;
    a.atty = p; p += N * C;
    a.att = p; p += (size_t)B * d.NH * T * T;
    a.res2 = p; p += N * C;
    a.ln2 = p; p += N * C;
    a.rstd2 = p; p += N;
    a.gu = p; p += N * 2 * F;
    a.h = p; p += N * F;
    a.res3 = p;
    return a;
}

/* gradient buffers, reused by every layer */
typedef struct { float *dres, *dln, *dqkvx, *dqkv, *datty, *dtmp, *dh, *dgu, *scratch; } grad_bufs;
static size_t qwen2_dact_floats(const model_config *c, int B, int T) {
    dims d = dims_of(c);
    size_t N = (size_t)B * T, C = d.C, F = d.F;
    return N * C * 4 + N * 3 * C + N * d.D + N * 3 * F + (size_t)omp_get_max_threads() * attention_scratch_floats(T);
}
static grad_bufs grads_at(const model *m, int B, int T) {
    dims d = dims_of(&m->cfg);
    size_t N = (size_t)B * T, C = d.C, F = d.F;
    float *p = m->dacts;
    grad_bufs g;
    g.dres = p; p += N * C;
    g.dln = p; p += N * C;
    g.dqkvx = p; p += N * 3 * C;
    g.dqkv = p; p += N * d.D;
    g.datty = p; p += N * C;
    g.dtmp = p; p += N * C;
    g.dh = p; p += N * F;
    g.dgu = p; p += N * 2 * F;
    g.scratch = p;
    return g;
}

#define P(i) model_tensor(m, i)
#define G(i) model_grad(m, i)

static void qwen2_forward(model *m, const int *tok, int B, int T) {
    const model_config *c = &m->cfg;
    const dims d = dims_of(c);
    const int L = c->layers, C = d.C, F = d.F, D = d.D, N = B * T;
    const size_t NC = (size_t)N * C;
    const float p = m->training ? c->dropout : 0.0f;
    shared_acts s = shared_at(m, B, T);
    for (int t = 0; t < T; t++) rope_angles(s.rope + (size_t)t * d.hs, t, d.hs, c->rope_theta);
    model_embed_forward(m, s.emb, P(EMB), tok, N, C, p);
    const float *x = s.emb;
    for (int l = 0; l < L; l++) {
        layer_acts a = layer_at(m, l, B, T);
        rmsnorm_forward_eps(a.ln1, a.rstd1, x, P(LN1W) + (size_t)l * C, N, C, c->norm_eps);
        matmul_forward_prec(s.qkv, a.ln1, P(QKVW) + (size_t)l * D * C, P(QKVB) + (size_t)l * D, N, C, D, m->prec);
        rope_rows(s.qkv, D, d.NH + d.KVH, d.hs, s.rope, N, T, ROPE_HALF, 0);   /* q heads, then k heads */
        gqa_expand(a.qkvx, s.qkv, N, d);
        attention_forward_prec(a.atty, a.att, a.qkvx, B, T, C, d.NH, m->prec);
        matmul_forward_prec(s.tmp, a.atty, P(OW) + (size_t)l * C * C, NULL, N, C, C, m->prec);
        if (p > 0) dropout_forward(s.tmp, s.tmp, p, model_drop_seed(m, l, 1), NC);
        residual_forward(a.res2, x, s.tmp, NC);
        rmsnorm_forward_eps(a.ln2, a.rstd2, a.res2, P(LN2W) + (size_t)l * C, N, C, c->norm_eps);
        matmul_forward_prec(a.gu, a.ln2, P(GUW) + (size_t)l * 2 * F * C, NULL, N, C, 2 * F, m->prec);
        swiglu_forward(a.h, a.gu, N, F);
        matmul_forward_prec(s.tmp, a.h, P(DOWNW) + (size_t)l * C * F, NULL, N, F, C, m->prec);
        if (p > 0) dropout_forward(s.tmp, s.tmp, p, model_drop_seed(m, l, 2), NC);
        residual_forward(a.res3, a.res2, s.tmp, NC);
        x = a.res3;
    }
    rmsnorm_forward_eps(m->hidden, s.rstdf, x, P(NORMW), N, C, c->norm_eps);
}

static void qwen2_backward(model *m, const int *tok, int B, int T) {
    const model_config *c = &m->cfg;
    const dims d = dims_of(c);
    const int L = c->layers, C = d.C, F = d.F, D = d.D, N = B * T;
    const size_t NC = (size_t)N * C;
    const float p = m->training ? c->dropout : 0.0f;
    shared_acts s = shared_at(m, B, T);
    grad_bufs g = grads_at(m, B, T);
    /* dres: gradient of the residual stream, carried down through the layers */
    nn_zero(g.dres, NC);
    const float *xL = layer_at(m, L - 1, B, T).res3;
    rmsnorm_backward_eps(g.dres, G(NORMW), m->dhidden, xL, P(NORMW), s.rstdf, N, C);
    for (int l = L - 1; l >= 0; l--) {
        layer_acts a = layer_at(m, l, B, T);
        const float *x = l > 0 ? layer_at(m, l - 1, B, T).res3 : s.emb;
        /* res3 = res2 + drop(down): the residual passes dres through unchanged */
        const float *ddown = g.dres;
        if (p > 0) { nn_zero(g.dtmp, NC); dropout_backward(g.dtmp, g.dres, p, model_drop_seed(m, l, 2), NC); ddown = g.dtmp; }
        matmul_backward_set_prec(g.dh, G(DOWNW) + (size_t)l * C * F, NULL, ddown, a.h, P(DOWNW) + (size_t)l * C * F,
                                 N, F, C, m->prec);
        swiglu_backward_set(g.dgu, g.dh, a.gu, N, F);
        matmul_backward_set_prec(g.dln, G(GUW) + (size_t)l * 2 * F * C, NULL, g.dgu, a.ln2,
                                 P(GUW) + (size_t)l * 2 * F * C, N, C, 2 * F, m->prec);
        rmsnorm_backward_eps(g.dres, G(LN2W) + (size_t)l * C, g.dln, a.res2, P(LN2W) + (size_t)l * C, a.rstd2, N, C);
        /* res2 = x + drop(o_proj(atty)) */
        const float *dattproj = g.dres;
        if (p > 0) { nn_zero(g.dtmp, NC); dropout_backward(g.dtmp, g.dres, p, model_drop_seed(m, l, 1), NC); dattproj = g.dtmp; }
        matmul_backward_set_prec(g.datty, G(OW) + (size_t)l * C * C, NULL, dattproj, a.atty, P(OW) + (size_t)l * C * C,
                                 N, C, C, m->prec);
        attention_backward_prec(g.dqkvx, g.datty, a.qkvx, a.att, g.scratch, B, T, C, d.NH, m->prec);
        gqa_collapse(g.dqkv, g.dqkvx, N, d);
        rope_rows(g.dqkv, D, d.NH + d.KVH, d.hs, s.rope, N, T, ROPE_HALF, 1);
        matmul_backward_set_prec(g.dln, G(QKVW) + (size_t)l * D * C, G(QKVB) + (size_t)l * D, g.dqkv, a.ln1,
                                 P(QKVW) + (size_t)l * D * C, N, C, D, m->prec);
        rmsnorm_backward_eps(g.dres, G(LN1W) + (size_t)l * C, g.dln, x, P(LN1W) + (size_t)l * C, a.rstd1, N, C);

        model_layer_done(m, l);   /* layer l's gradients are final */
    }
    model_embed_backward(m, G(EMB), g.dres, g.dtmp, tok, N, C, p);
}

/* ---- decoding (model.h: model_run) ----
 * As GPT-2's step (gpt2.c): one pass of the team over the layers, 2 barriers per layer, worker
 * w owns key/value heads kh0..kh1 with the query heads that read them (so the grouped cache
 * is written and read by one worker) and a slice of the MLP's hidden units; partial sums of
 * the residual updates are added by every thread into its own copy of x in worker order.
 * RoPE angles come from a (ctx, hs) table made by forward's own rope_angles. */
typedef struct {
    int W;
    nn_panels *q;      /* [l][h]: q rows of query head h (hs x C) */
    nn_panels *kv;     /* [l][kh][2]: k, v rows of key/value head kh */
    nn_panels *o;      /* [l][h]: o_proj's columns of head h (C x hs) */
    nn_panels *gate, *up;   /* [l]: (F x C) each */
    nn_panels *down;   /* [l][w]: down_proj's columns of worker w's hidden units */
    int *u0, *u1, *busy_a, *busy_m;
    float *rope;       /* (ctx, hs) cos | sin */
    float *qkvb;       /* (B, D) */
    float *att;        /* (B, C) */
    float *g, *u;      /* (B, F) gate, up -> silu(gate) * up in g */
    float *sc;         /* (B, NH, Tp) */
    float *part;       /* (2, W, B, C) */
    float *xt, *lnt;   /* (W, B, C) */
    void *mem;
} qwen2_run;

static size_t qwen2_slot_bytes(const model_config *c, int prec) {
    dims d = dims_of(c);
    return (size_t)c->layers * d.KVH * nn_kv_bytes(d.hs, c->ctx, prec == NN_BF16);
}

static void take_panels(nn_arena *a, nn_panels *p, int out, int in, int bf16) {
    p->out = out; p->in = in; p->bf16 = bf16;
    p->p = nn_arena_take(a, nn_panels_bytes(out, in, bf16));
}

static void qwen2_layout(qwen2_run *r, const model_config *c, int B, nn_arena *a, int bf) {
    const dims d = dims_of(c);
    const int L = c->layers, W = r->W;
    for (int l = 0; l < L; l++) {
        for (int h = 0; h < d.NH; h++) {
            take_panels(a, &r->q[(size_t)l * d.NH + h], d.hs, d.C, bf);
            take_panels(a, &r->o[(size_t)l * d.NH + h], d.C, d.hs, bf);
        }
        for (int kh = 0; kh < d.KVH; kh++)
            for (int s = 0; s < 2; s++) take_panels(a, &r->kv[((size_t)l * d.KVH + kh) * 2 + s], d.hs, d.C, bf);
        take_panels(a, &r->gate[l], d.F, d.C, bf);
        take_panels(a, &r->up[l], d.F, d.C, bf);
        for (int w = 0; w < W; w++)
            if (r->u1[w] > r->u0[w]) take_panels(a, &r->down[(size_t)l * W + w], d.C, r->u1[w] - r->u0[w], bf);
    }
    size_t Bz = B;
    r->rope = NN_TAKE(a, float, (size_t)c->ctx * d.hs);
    r->qkvb = NN_TAKE(a, float, Bz * d.D);
    r->att = NN_TAKE(a, float, Bz * d.C);
    r->g = NN_TAKE(a, float, Bz * d.F);
    r->u = NN_TAKE(a, float, Bz * d.F);
    r->sc = NN_TAKE(a, float, Bz * d.NH * nn_kv_tp(c->ctx));
    r->part = NN_TAKE(a, float, 2 * (size_t)W * Bz * d.C);
    r->xt = NN_TAKE(a, float, (size_t)W * Bz * d.C);
    r->lnt = NN_TAKE(a, float, (size_t)W * Bz * d.C);
}

static void qwen2_run_free(model_run *rs) {
    qwen2_run *r = rs->priv;
    if (!r) return;
    free(r->q); free(r->kv); free(r->o); free(r->gate); free(r->up); free(r->down);
    free(r->u0); free(r->u1); free(r->busy_a); free(r->busy_m); free(r->mem); free(r);
    rs->priv = NULL;
}

static int qwen2_run_init(model_run *rs) {
    const model *m = rs->m;
    const model_config *c = &m->cfg;
    const dims d = dims_of(c);
    const int L = c->layers, W = rs->nthreads, bf = rs->prec == NN_BF16;
    qwen2_run *r = calloc(1, sizeof *r);
    if (!r) return -1;
    rs->priv = r;
    r->W = W;
    r->q = calloc((size_t)L * d.NH, sizeof *r->q); r->o = calloc((size_t)L * d.NH, sizeof *r->o);
    r->kv = calloc((size_t)L * d.KVH * 2, sizeof *r->kv);
    r->gate = calloc((size_t)L, sizeof *r->gate); r->up = calloc((size_t)L, sizeof *r->up);
    r->down = calloc((size_t)L * W, sizeof *r->down);
    r->u0 = calloc((size_t)W, sizeof(int)); r->u1 = calloc((size_t)W, sizeof(int));
    r->busy_a = calloc((size_t)W, sizeof(int)); r->busy_m = calloc((size_t)W, sizeof(int));
    if (!r->q || !r->o || !r->kv || !r->gate || !r->up || !r->down || !r->u0 || !r->u1 || !r->busy_a || !r->busy_m) return -1;
    for (int w = 0; w < W; w++) {
        nn_split_units(d.F, w, W, &r->u0[w], &r->u1[w]);
        NN_SPLIT(d.KVH, w, W, k0, k1);
        r->busy_a[w] = k1 > k0; r->busy_m[w] = r->u1[w] > r->u0[w];
    }
    nn_arena a = { NULL, 0 };
    qwen2_layout(r, c, rs->rows, &a, bf);
    if (posix_memalign(&r->mem, 64, a.used)) { r->mem = NULL; return -1; }
    a = (nn_arena){ r->mem, 0 };
    qwen2_layout(r, c, rs->rows, &a, bf);
    for (int l = 0; l < L; l++) {
        const float *qkvw = P(QKVW) + (size_t)l * d.D * d.C, *ow = P(OW) + (size_t)l * d.C * d.C;
        const float *guw = P(GUW) + (size_t)l * 2 * d.F * d.C, *dw = P(DOWNW) + (size_t)l * d.C * d.F;
        for (int h = 0; h < d.NH; h++) {
            nn_panels *q = &r->q[(size_t)l * d.NH + h], *o = &r->o[(size_t)l * d.NH + h];
            nn_panels_pack(q, q->p, qkvw + (size_t)h * d.hs * d.C, (size_t)d.C, d.hs, d.C, bf);
            nn_panels_pack(o, o->p, ow + (size_t)h * d.hs, (size_t)d.C, d.C, d.hs, bf);
        }
        for (int kh = 0; kh < d.KVH; kh++)
            for (int s = 0; s < 2; s++) {
                nn_panels *k = &r->kv[((size_t)l * d.KVH + kh) * 2 + s];
                nn_panels_pack(k, k->p, qkvw + ((size_t)d.C + (size_t)s * d.KC + (size_t)kh * d.hs) * d.C, (size_t)d.C, d.hs, d.C, bf);
            }
        nn_panels_pack(&r->gate[l], r->gate[l].p, guw, (size_t)d.C, d.F, d.C, bf);
        nn_panels_pack(&r->up[l], r->up[l].p, guw + (size_t)d.F * d.C, (size_t)d.C, d.F, d.C, bf);
        for (int w = 0; w < W; w++)
            if (r->u1[w] > r->u0[w]) {
                nn_panels *dn = &r->down[(size_t)l * W + w];
                nn_panels_pack(dn, dn->p, dw + r->u0[w], (size_t)d.F, d.C, r->u1[w] - r->u0[w], bf);
            }
    }
    for (int p = 0; p < c->ctx; p++) rope_angles(r->rope + (size_t)p * d.hs, p, d.hs, c->rope_theta);
    return 0;
}

/* x (n, C) += the partial sums of every worker that had work, in worker order */
static void add_partials(float *x, const float *part, const int *busy, int W, int n, int C, size_t wstride) {
    for (int i = 0; i < n; i++) {
        float *xr = x + (size_t)i * C;
        for (int w = 0; w < W; w++) {
            if (!busy[w]) continue;
            const float *p = part + w * wstride + (size_t)i * C;
            #pragma omp simd
            for (int k = 0; k < C; k++) xr[k] += p[k];
        }
    }
}

static const float *qwen2_step(model_run *rs, int t, int nt, int n, const int *slot, const int *tok, const int *pos) {
    const model *m = rs->m;
    const model_config *c = &m->cfg;
    const dims d = dims_of(c);
    qwen2_run *r = rs->priv;
    const int L = c->layers, C = d.C, F = d.F, D = d.D, hs = d.hs, G = d.NH / d.KVH, W = r->W, ctx = c->ctx;
    const int bf = rs->prec == NN_BF16, Tp = nn_kv_tp(ctx);
    const float scale = 1.0f / sqrtf((float)hs);
    const size_t wstride = (size_t)rs->rows * C, kvb = nn_kv_bytes(hs, ctx, bf);
    float *pa = r->part, *pm = r->part + (size_t)W * wstride;
    float *x = r->xt + (size_t)t * wstride, *ln = r->lnt + (size_t)t * wstride;
    for (int i = 0; i < n; i++) memcpy(x + (size_t)i * C, P(EMB) + (size_t)tok[i] * C, (size_t)C * sizeof(float));
    for (int l = 0; l < L; l++) {
        const float *bq = P(QKVB) + (size_t)l * D;
        for (int i = 0; i < n; i++) rmsnorm_row(ln + (size_t)i * C, x + (size_t)i * C, P(LN1W) + (size_t)l * C, C, c->norm_eps);
        for (int w = t; w < W; w += nt) {
            NN_SPLIT(d.KVH, w, W, k0, k1);
            float *part = pa + w * wstride;
            for (size_t kh = k0; kh < k1; kh++) {
                /* k, v of this key/value head and q of its query heads, rotated; k, v into the
                 * slot's cache; attention of each query head; their share of o_proj */
                for (int s = 0; s < 2; s++) {
                    size_t col = (size_t)C + (size_t)s * d.KC + kh * hs;
                    nn_panels_matmul(r->qkvb + col, (size_t)D, ln, (size_t)C, &r->kv[((size_t)l * d.KVH + kh) * 2 + s], bq + col,
                                     n, 0, nn_panels_count(hs), NN_PM_STORE);
                }
                for (int h = (int)kh * G; h < (int)(kh + 1) * G; h++)
                    nn_panels_matmul(r->qkvb + (size_t)h * hs, (size_t)D, ln, (size_t)C, &r->q[(size_t)l * d.NH + h],
                                     bq + (size_t)h * hs, n, 0, nn_panels_count(hs), NN_PM_STORE);
                for (int i = 0; i < n; i++) {
                    float *row = r->qkvb + (size_t)i * D, *k = row + C + kh * hs;
                    const float *cs = r->rope + (size_t)pos[i] * hs;
                    rope_row(k, 1, hs, cs, ROPE_HALF, 0);
                    uint8_t *kv = rs->state + (size_t)slot[i] * rs->slot_bytes + ((size_t)l * d.KVH + kh) * kvb;
                    nn_kv_store(kv, hs, ctx, bf, pos[i], k, k + d.KC);
                    for (int h = (int)kh * G; h < (int)(kh + 1) * G; h++) {
                        rope_row(row + (size_t)h * hs, 1, hs, cs, ROPE_HALF, 0);
                        nn_attend(r->att + (size_t)i * C + (size_t)h * hs, row + (size_t)h * hs, kv, hs, ctx, bf, pos[i], scale,
                                  r->sc + ((size_t)i * d.NH + h) * Tp);
                    }
                }
                for (int h = (int)kh * G; h < (int)(kh + 1) * G; h++)
                    nn_panels_matmul(part, (size_t)C, r->att + (size_t)h * hs, (size_t)C, &r->o[(size_t)l * d.NH + h], NULL, n, 0,
                                     nn_panels_count(C), kh == k0 && h == (int)kh * G ? NN_PM_STORE : NN_PM_ADD);
            }
        }
        nn_barrier_wait(&rs->bar);
        add_partials(x, pa, r->busy_a, W, n, C, wstride);
        for (int i = 0; i < n; i++) rmsnorm_row(ln + (size_t)i * C, x + (size_t)i * C, P(LN2W) + (size_t)l * C, C, c->norm_eps);
        for (int w = t; w < W; w += nt) {
            if (!r->busy_m[w]) continue;
            NN_SPLIT(nn_panels_count(F), w, W, f0, f1);
            const int u0 = r->u0[w], u1 = r->u1[w];
            nn_panels_matmul(r->g, (size_t)F, ln, (size_t)C, &r->gate[l], NULL, n, f0, f1, NN_PM_STORE);
            nn_panels_matmul(r->u, (size_t)F, ln, (size_t)C, &r->up[l], NULL, n, f0, f1, NN_PM_STORE);
            for (int i = 0; i < n; i++) nn_swiglu(r->g + (size_t)i * F + u0, r->u + (size_t)i * F + u0, u1 - u0);
            nn_panels_matmul(pm + w * wstride, (size_t)C, r->g + u0, (size_t)F, &r->down[(size_t)l * W + w], NULL, n, 0,
                             nn_panels_count(C), NN_PM_STORE);
        }
        nn_barrier_wait(&rs->bar);
        add_partials(x, pm, r->busy_m, W, n, C, wstride);
    }
    for (int i = 0; i < n; i++) rmsnorm_row(ln + (size_t)i * C, x + (size_t)i * C, P(NORMW), C, c->norm_eps);
    return ln;
}

static void qwen2_defaults(model_config *c) {
    if (c->kv_heads <= 0) c->kv_heads = c->heads;
    /* SwiGLU has three matrices: width 8C/3 (rounded up to a multiple of 32) gives the
     * parameters of GPT-2's 4C two-matrix MLP */
    if (c->d_ff <= 0) c->d_ff = ((8 * c->d_model + 95) / 96) * 32;
    if (c->rope_theta <= 0) c->rope_theta = 10000.0f;
    if (c->norm_eps <= 0) c->norm_eps = 1e-6f;
}

const model_ops qwen2_ops = {
    .name = "qwen2",
    .defaults = qwen2_defaults,
    .params = qwen2_params,
    .check = qwen2_check,
    .init = qwen2_init,
    .act_floats = qwen2_act_floats,
    .dact_floats = qwen2_dact_floats,
    .forward = qwen2_forward,
    .backward = qwen2_backward,
    .run_init = qwen2_run_init,
    .run_free = qwen2_run_free,
    .slot_bytes = qwen2_slot_bytes,
    .step = qwen2_step,
    .prefill = model_run_prefill_rows,
};
