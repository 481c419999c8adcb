/* The common front of every backbone: memory, LM head, loss, optimizer (model.h). */
#include "models/model.h"
#include "util/util.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

extern const model_ops gpt2_ops, qwen2_ops, linattn_ops;

const model_ops *model_ops_for(int arch) {
    switch (arch) {
    case ARCH_GPT2: return &gpt2_ops;
    case ARCH_QWEN2: return &qwen2_ops;
    case ARCH_LINATTN: return &linattn_ops;
    default: return NULL;
    }
}
const char *model_arch_name(int arch) {
    switch (arch) {
    case ARCH_GPT2: return "gpt2";
    case ARCH_QWEN2: return "qwen2";
    case ARCH_MAMBA2: return "mamba2";
    case ARCH_LINATTN: return "linattn";
    default: return "unknown";
    }
}
int model_arch_parse(const char *name) {
    for (int a = ARCH_GPT2; a <= ARCH_LINATTN; a++)
        if (!strcmp(name, model_arch_name(a))) return a;
    return 0;
}

void model_config_defaults(model_config *c) {
    if (c->kv_heads <= 0) c->kv_heads = c->heads;
    /* Qwen2/Llama's SwiGLU has three matrices: width 8C/3 (rounded up to a multiple of 32)
     * gives the parameters of GPT-2's 4C two-matrix MLP */
    if (c->d_ff <= 0) c->d_ff = c->arch == ARCH_QWEN2 ? ((8 * c->d_model + 95) / 96) * 32 : 4 * c->d_model;
    if (c->arch == ARCH_GPT2) c->tied = 1;
    if (c->arch == ARCH_QWEN2) {
        if (c->rope_theta == 0) c->rope_theta = 10000.0f;
        if (c->norm_eps == 0) c->norm_eps = 1e-6f;
    }
}

size_t model_param_count(const model_config *c) {
    const model_ops *ops = model_ops_for(c->arch);
    if (!ops) return 0;
    tensor_spec s[NN_MAX_TENSORS];
    int head, n = ops->params(c, s, &head);
    size_t tot = 0;
    for (int i = 0; i < n; i++) tot += s[i].size;
    return tot;
}

/* Threads at allocation time size the per-thread scratch of the backbones. */
static size_t head_floats(const model_config *c, int B, int T, int grads) {
    size_t N = (size_t)B * T;
    return N * c->d_model + N * c->vocab + (grads ? N * c->vocab : N);
}

size_t model_memory_bytes(const model_config *c, int B, int T, int training) {
    const model_ops *ops = model_ops_for(c->arch);
    if (!ops) return 0;
    size_t p = model_param_count(c);
    size_t f = p * (training ? 4 : 1) + ops->act_floats(c, B, T) + head_floats(c, B, T, training);
    if (training) f += ops->dact_floats(c, B, T) + head_floats(c, B, T, 1);
    return f * sizeof(float);
}

int model_create(model *m, const model_config *c, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    model_config_defaults(&m->cfg);
    m->ops = model_ops_for(c->arch);
    if (!m->ops) { snprintf(err, errlen, "unknown architecture %d", c->arch); return -1; }
    const char *why = m->ops->check(&m->cfg);
    if (why) { snprintf(err, errlen, "%s: %s", m->ops->name, why); return -1; }
    m->ntensors = m->ops->params(&m->cfg, m->spec, &m->head);
    size_t off = 0;
    for (int i = 0; i < m->ntensors; i++) { m->offset[i] = off; off += m->spec[i].size; }
    m->nparams = off;
    m->head_bias = model_find_tensor(m, "lm_head.bias");
    m->params = nn_alloc(off);
    if (!m->params) { snprintf(err, errlen, "out of memory for %zu parameters", off); return -1; }
    return 0;
}

void model_init_weights(model *m, uint64_t seed) { m->ops->init(m, seed); }

int model_alloc_training(model *m) {
    if (m->grads) return 0;
    m->grads = nn_alloc(m->nparams);
    m->adam_m = nn_alloc(m->nparams);
    m->adam_v = nn_alloc(m->nparams);
    return m->grads && m->adam_m && m->adam_v ? 0 : -1;
}

int model_alloc_acts(model *m, int B, int T) {
    if (T > m->cfg.ctx || B <= 0 || T <= 0) return -1;
    if (m->acts && B == m->B && T == m->T && (!m->grads || m->dacts)) return 0;
    nn_free(m->acts); nn_free(m->dacts);
    m->acts = m->dacts = NULL;
    const model_config *c = &m->cfg;
    size_t N = (size_t)B * T, a = m->ops->act_floats(c, B, T), d = m->ops->dact_floats(c, B, T);
    m->acts = nn_alloc(a + head_floats(c, B, T, 0));
    if (!m->acts) return -1;
    m->hidden = m->acts + a;
    m->logits = m->hidden + N * c->d_model;
    m->losses = m->logits + N * c->vocab;
    if (m->grads) {
        m->dacts = nn_alloc(d + N * c->d_model + N * c->vocab);
        if (!m->dacts) return -1;
        m->dhidden = m->dacts + d;
        m->dlogits = m->dhidden + N * c->d_model;
    }
    m->B = B; m->T = T;
    return 0;
}

void model_free(model *m) {
    nn_free(m->params); nn_free(m->grads); nn_free(m->adam_m); nn_free(m->adam_v);
    nn_free(m->acts); nn_free(m->dacts);
    memset(m, 0, sizeof *m);
}

float *model_tensor(const model *m, int i) { return m->params + m->offset[i]; }

/* the (V, C) tensors of the vocabulary: the token embedding (every backbone's first tensor) and
 * the LM head */
static int vocab_tensor(const model *m, int i) {
    return (i == 0 || i == m->head) && m->spec[i].size == (size_t)m->cfg.vocab * m->cfg.d_model;
}
static double rms(const float *p, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)p[i] * p[i];
    return n ? sqrt(s / n) : 0;
}

int model_copy_weights(model *dst, const model *src, int fresh_vocab) {
    int done = 0;
    for (int i = 0; i < dst->ntensors; i++) {
        int j = model_find_tensor(src, dst->spec[i].name);
        if (j < 0) continue;
        float *d = model_tensor(dst, i);
        size_t n = dst->spec[i].size;
        if (fresh_vocab && vocab_tensor(dst, i) && vocab_tensor(src, j)) {
            double a = rms(d, n), b = rms(model_tensor(src, j), src->spec[j].size);
            float k = a > 0 ? (float)(b / a) : 1.0f;
            for (size_t q = 0; q < n; q++) d[q] *= k;
        } else {
            if (src->spec[j].size < n) n = src->spec[j].size;
            memcpy(d, model_tensor(src, j), n * sizeof(float));
        }
        done++;
    }
    return done;
}
float *model_grad(const model *m, int i) { return m->grads ? m->grads + m->offset[i] : NULL; }
int model_find_tensor(const model *m, const char *name) {
    for (int i = 0; i < m->ntensors; i++)
        if (!strcmp(m->spec[i].name, name)) return i;
    return -1;
}

/* the LM head's bias (V), or NULL when the backbone's head has none */
static const float *head_bias(const model *m) { return m->head_bias >= 0 ? model_tensor(m, m->head_bias) : NULL; }

float model_forward(model *m, const int *tok, const int *tgt, int B, int T) {
    const model_config *c = &m->cfg;
    int N = B * T;
    m->ops->forward(m, tok, B, T);
    matmul_forward_prec(m->logits, m->hidden, model_tensor(m, m->head), head_bias(m), N, c->d_model, c->vocab, m->prec);
    m->loss = 0; m->counted = 0;
    if (tgt) {
        m->counted = crossentropy_forward(m->losses, NULL, m->logits, tgt, N, c->vocab, 0);
        double s = 0;
        for (int i = 0; i < N; i++) s += m->losses[i];
        m->loss = m->counted ? (float)(s / m->counted) : 0;
    }
    return m->loss;
}

void model_backward(model *m, const int *tok, const int *tgt, int B, int T, float scale) {
    const model_config *c = &m->cfg;
    int N = B * T;
    if (scale <= 0) scale = m->counted ? 1.0f / m->counted : 0;
    crossentropy_forward(m->losses, m->dlogits, m->logits, tgt, N, c->vocab, scale);
    matmul_backward_set_prec(m->dhidden, model_grad(m, m->head), m->head_bias >= 0 ? model_grad(m, m->head_bias) : NULL,
                             m->dlogits, m->hidden,
                             model_tensor(m, m->head), N, c->d_model, c->vocab, m->prec);
    m->ops->backward(m, tok, B, T);
}

void model_zero_grad(model *m) {
    if (m->grads) nn_zero(m->grads, m->nparams);
}

void model_adamw(model *m, const adamw_params *h, int t) {
    for (int i = 0; i < m->ntensors; i++) {
        size_t o = m->offset[i];
        adamw_update(m->params + o, m->grads + o, m->adam_m + o, m->adam_v + o, m->spec[i].size, h, t,
                     m->spec[i].decay);
    }
}

float *model_state_alloc(const model *m, int B) {
    return nn_alloc(m->ops->state_floats(&m->cfg, B) + (size_t)B * m->cfg.d_model);
}

void model_step(model *m, float *state, const int *tok, int B, int pos, float *logits) {
    const model_config *c = &m->cfg;
    float *hidden = state + m->ops->state_floats(c, B);
    m->ops->step(m, state, tok, B, pos, hidden);
    matmul_forward(logits, hidden, model_tensor(m, m->head), head_bias(m), B, c->d_model, c->vocab);
}

uint64_t model_drop_seed(const model *m, int l, int site) {
    uint64_t s = m->dropout_seed ^ ((uint64_t)(l + 1) << 32) ^ (uint64_t)site;
    return splitmix64(&s);
}
