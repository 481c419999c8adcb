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
    if (c->vocab < 2 || c->vocab > (1 << 24)) return "vocabulary size must be 2..16777216";
    if (c->layers < 1 || c->d_model < 1 || c->heads < 1 || c->ctx < 1) return "layers, d-model, heads and ctx must be positive";
    /* bounds far past any CPU-trainable model; they keep every size product (L x 4C x C,
     * B x T x V ...) inside 64 bits and int indexing, whatever a damaged header or a typo says */
    if (c->layers > 1024 || c->d_model > 32768 || c->ctx > 1 << 20 || c->d_ff < 1 || c->d_ff > 1 << 18)
        return "layers must be 1..1024, d-model 1..32768, ctx 1..1048576, d_ff 1..262144";
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
    }
    const float *denc = g.dres;
    if (p > 0) { zero(g.dtmp, NC); dropout_backward(g.dtmp, g.dres, p, model_drop_seed(m, -1, 0), NC); denc = g.dtmp; }
    encoder_backward(G(WTE), G(WPE), denc, tok, B, T, C);
}

/* ---- generation: KV cache (L, B, ctx, C) for k and for v, then per-step scratch ---- */
static size_t gpt2_state_floats(const model_config *c, int B) {
    size_t C = c->d_model, F = c->d_ff, Bz = B;
    return 2 * (size_t)c->layers * Bz * c->ctx * C + Bz * (7 * C + F * 2 + 2) + Bz * c->heads * c->ctx;
}

static void gpt2_step(model *m, float *state, const int *tok, int B, int pos, float *hidden) {
    const model_config *c = &m->cfg;
    const int L = c->layers, C = c->d_model, F = c->d_ff, NH = c->heads, hs = C / NH, Tm = c->ctx;
    const size_t cache = (size_t)B * Tm * C;
    float *kc = state, *vc = state + (size_t)L * cache;
    float *x = vc + (size_t)L * cache, *ln = x + (size_t)B * C, *qkv = ln + (size_t)B * C;
    float *atty = qkv + (size_t)B * 3 * C, *tmp = atty + (size_t)B * C, *fch = tmp + (size_t)B * C;
    float *fchg = fch + (size_t)B * F, *mean = fchg + (size_t)B * F, *rstd = mean + B;
    float *scores = rstd + B;
    for (int b = 0; b < B; b++) {
        const float *e = P(WTE) + (size_t)tok[b] * C, *pp = P(WPE) + (size_t)pos * C;
        for (int i = 0; i < C; i++) x[(size_t)b * C + i] = e[i] + pp[i];
    }
    for (int l = 0; l < L; l++) {
        float *K = kc + l * cache, *Vv = vc + l * cache;
        layernorm_forward(ln, mean, rstd, x, P(LN1W) + l * C, P(LN1B) + l * C, B, C);
        matmul_forward(qkv, ln, P(QKVW) + (size_t)l * 3 * C * C, P(QKVB) + l * 3 * C, B, C, 3 * C);
        for (int b = 0; b < B; b++) {
            memcpy(K + ((size_t)b * Tm + pos) * C, qkv + (size_t)b * 3 * C + C, C * sizeof(float));
            memcpy(Vv + ((size_t)b * Tm + pos) * C, qkv + (size_t)b * 3 * C + 2 * C, C * sizeof(float));
        }
        attention_step(atty, qkv, 3 * C, K, Vv, C, B, NH, NH, hs, pos, Tm, scores);
        matmul_forward(tmp, atty, P(ATTPROJW) + (size_t)l * C * C, P(ATTPROJB) + l * C, B, C, C);
        residual_forward(x, x, tmp, (size_t)B * C);
        layernorm_forward(ln, mean, rstd, x, P(LN2W) + l * C, P(LN2B) + l * C, B, C);
        matmul_forward(fch, ln, P(FCW) + (size_t)l * F * C, P(FCB) + l * F, B, C, F);
        gelu_forward(fchg, fch, (size_t)B * F);
        matmul_forward(tmp, fchg, P(FCPROJW) + (size_t)l * C * F, P(FCPROJB) + l * C, B, F, C);
        residual_forward(x, x, tmp, (size_t)B * C);
    }
    layernorm_forward(hidden, mean, rstd, x, P(LNFW), P(LNFB), B, C);
}

const model_ops gpt2_ops = {
    .name = "gpt2",
    .params = gpt2_params,
    .check = gpt2_check,
    .init = gpt2_init,
    .act_floats = gpt2_act_floats,
    .dact_floats = gpt2_dact_floats,
    .forward = gpt2_forward,
    .backward = gpt2_backward,
    .state_floats = gpt2_state_floats,
    .step = gpt2_step,
};
