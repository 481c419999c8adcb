/* The common front of every backbone: memory, LM head, loss, optimizer (model.h). */
#include "models/model.h"
#include "util/util.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

const model_ops *model_ops_for(int arch) {
    return arch > 0 && arch < ARCH_MAX ? model_backbones[arch].ops : NULL;
}
const char *model_arch_name(int arch) {
    return arch > 0 && arch < ARCH_MAX && model_backbones[arch].name ? model_backbones[arch].name : "unknown";
}
int model_arch_parse(const char *name) {
    for (int a = 1; a < ARCH_MAX; a++)
        if (model_backbones[a].name && !strcmp(name, model_backbones[a].name)) return a;
    return 0;
}

/* Fields the backbone does not read are zeroed (a verb's generic defaults, such as --heads 8,
 * mean nothing to a backbone without heads), then the backbone fills its own defaults. */
void model_config_defaults(model_config *c) {
    const model_ops *ops = model_ops_for(c->arch);
    if (!ops) return;
    for (int i = 0; i < model_nfields; i++)
        if (!(model_fields[i].archs & MF_ARCHES(c->arch))) model_field_set(c, &model_fields[i], 0);
    ops->defaults(c);
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

size_t model_vocab_rows(const model_config *c) {
    size_t v = (size_t)c->vocab, k = c->vocab_pad > 1 ? (size_t)c->vocab_pad : 1;
    return (v + k - 1) / k * k;
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
    char msg[160];
    const char *why = model_config_check_fields(&m->cfg, msg, sizeof msg);
    if (!why) why = m->ops->check(&m->cfg);
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
    return (i == 0 || i == m->head) && m->spec[i].size == model_vocab_rows(&m->cfg) * m->cfg.d_model;
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
int model_gather_rows(model *dst, const model *src, const int32_t *ids, const uint8_t *n, int stride, int rows) {
    const size_t C = (size_t)dst->cfg.d_model;
    const int64_t sv = src->cfg.vocab;
    if (dst->cfg.arch != src->cfg.arch || src->cfg.d_model != dst->cfg.d_model || rows > dst->cfg.vocab ||
        model_vocab_rows(&dst->cfg) != (size_t)dst->cfg.vocab || model_vocab_rows(&src->cfg) != (size_t)sv ||
        (dst->head == 0) != (src->head == 0) || (dst->head_bias < 0) != (src->head_bias < 0))
        return -1;
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < n[r]; k++)
            if (ids[(size_t)r * stride + k] < 0 || ids[(size_t)r * stride + k] >= sv) return -1;
    int td[3] = { 0, dst->head, dst->head_bias }, ts[3] = { 0, src->head, src->head_bias };
    for (int t = 0; t < 3; t++) {
        if (t == 1 && dst->head == 0) continue;   /* tied: the embedding is the head */
        if (t == 2 && dst->head_bias < 0) continue;
        size_t w = t == 2 ? 1 : C;
        float *d = model_tensor(dst, td[t]);
        const float *s = model_tensor(src, ts[t]);
        for (int r = 0; r < rows; r++) {
            if (!n[r]) continue;
            float *o = d + (size_t)r * w;
            for (size_t c = 0; c < w; c++) {
                double a = 0;
                for (int k = 0; k < n[r]; k++) a += s[(size_t)ids[(size_t)r * stride + k] * w + c];
                o[c] = (float)(a / n[r]);
            }
        }
    }
    return 0;
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

/* ---- decoding: the run state (model.h) ---- */

int model_run_init(model_run *rs, const model *m, int slots, int prec, int nthreads, char *err, size_t errlen) {
    memset(rs, 0, sizeof *rs);
    const model_config *c = &m->cfg;
    if (slots < 1) { snprintf(err, errlen, "decoding needs at least one slot"); return -1; }
    if (prec == NN_BF16 && !nn_panels_bf16_ok()) {
        snprintf(err, errlen, "bf16 decoding needs AVX-512 (this build or CPU has none)");
        return -2;
    }
    rs->m = m; rs->slots = slots; rs->prec = prec;
    rs->rows = slots > MODEL_RUN_PREFILL_ROWS ? slots : MODEL_RUN_PREFILL_ROWS;
    rs->nthreads = nthreads > 0 ? nthreads : omp_get_max_threads();
    rs->slot_bytes = (m->ops->slot_bytes(c, prec) + 63) / 64 * 64;
    size_t hb = nn_panels_bytes(c->vocab, c->d_model, prec == NN_BF16);
    void *hp = NULL;
    rs->iota = malloc(sizeof(int) * (size_t)c->ctx);
    if (!rs->iota || posix_memalign(&hp, 64, hb ? hb : 64) ||
        posix_memalign((void **)&rs->state, 64, rs->slot_bytes * (size_t)slots)) {
        free(hp); free(rs->iota); rs->iota = NULL;
        snprintf(err, errlen, "out of memory for %d decoding slots (%zu bytes each)", slots, rs->slot_bytes);
        return -1;
    }
    memset(rs->state, 0, rs->slot_bytes * (size_t)slots);
    for (int i = 0; i < c->ctx; i++) rs->iota[i] = i;
    nn_panels_pack(&rs->head, hp, model_tensor(m, m->head), (size_t)c->d_model, c->vocab, c->d_model, prec == NN_BF16);
    int r = m->ops->run_init(rs);
    if (r) {
        snprintf(err, errlen, r == -2 ? "%s: this precision is not supported for decoding" : "%s: out of memory for the decoding state",
                 m->ops->name);
        model_run_free(rs);
        return r;
    }
    model_run_team(rs, 1);
    return 0;
}

void model_run_free(model_run *rs) {
    if (rs->m && rs->priv) rs->m->ops->run_free(rs);
    free(rs->state); free(rs->head.p); free(rs->iota);
    memset(rs, 0, sizeof *rs);
}

void model_run_team(model_run *rs, int nt) { nn_barrier_init(&rs->bar, nt, MODEL_RUN_SPIN_NS, MODEL_RUN_HOLD_NS); }

void model_run_reset(model_run *rs, int slot) {
    if (rs->m->ops->reset) rs->m->ops->reset(rs, slot);
}

/* the LM head over the hidden rows thread t can read, split over vocab panels; then the barrier
 * that separates this step from the next (the backbone's buffers are reused) */
static void run_head(model_run *rs, int t, int nt, int n, const float *h, float *logits) {
    const model_config *c = &rs->m->cfg;
    const int W = rs->nthreads;
    for (int w = t; w < W; w += nt) {
        NN_SPLIT(nn_panels_count(c->vocab), w, W, v0, v1);
        nn_panels_matmul(logits, (size_t)c->vocab, h, (size_t)c->d_model, &rs->head, head_bias(rs->m), n, v0, v1, NN_PM_STORE);
    }
    nn_barrier_wait(&rs->bar);
}

void model_run_step(model_run *rs, int t, int nt, int n, const int *slot, const int *tok, const int *pos, float *logits) {
    run_head(rs, t, nt, n, rs->m->ops->step(rs, t, nt, n, slot, tok, pos), logits);
}

void model_run_prefill(model_run *rs, int t, int nt, int slot, const int *tok, int len, float *logits) {
    const float *h = NULL;
    if (rs->m->ops->prefill) h = rs->m->ops->prefill(rs, t, nt, slot, tok, len);
    else
        for (int i = 0; i < len; i++) {
            if (i) nn_barrier_wait(&rs->bar);   /* steps reuse the backbone's buffers */
            h = rs->m->ops->step(rs, t, nt, 1, &slot, tok + i, &i);
        }
    run_head(rs, t, nt, 1, h, logits);
}

const float *model_run_prefill_rows(model_run *rs, int t, int nt, int slot, const int *tok, int len) {
    int sl[MODEL_RUN_PREFILL_ROWS], n = 0;
    for (int i = 0; i < MODEL_RUN_PREFILL_ROWS; i++) sl[i] = slot;
    const float *h = NULL;
    for (int off = 0; off < len; off += n) {
        n = len - off < MODEL_RUN_PREFILL_ROWS ? len - off : MODEL_RUN_PREFILL_ROWS;
        if (off) nn_barrier_wait(&rs->bar);   /* the step's buffers are reused */
        h = rs->m->ops->step(rs, t, nt, n, sl, tok + off, rs->iota + off);
    }
    return h + (size_t)(n - 1) * rs->m->cfg.d_model;
}

void model_run_step_all(model_run *rs, int n, const int *slot, const int *tok, const int *pos, float *logits) {
    #pragma omp parallel num_threads(rs->nthreads)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        #pragma omp single
        model_run_team(rs, nt);
        model_run_step(rs, t, nt, n, slot, tok, pos, logits);
    }
}

uint64_t model_drop_seed(const model *m, int l, int site) {
    uint64_t s = m->dropout_seed ^ ((uint64_t)(l + 1) << 32) ^ (uint64_t)site;
    return splitmix64(&s);
}

void model_embed_forward(const model *m, float *x, const float *emb, const int *tok, int N, int C, float p) {
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) memcpy(x + (size_t)n * C, emb + (size_t)tok[n] * C, (size_t)C * sizeof(float));
    if (p > 0) dropout_forward(x, x, p, model_drop_seed(m, -1, 0), (size_t)N * C);
}

void model_embed_backward(const model *m, float *demb, const float *dx, float *tmp, const int *tok, int N, int C, float p) {
    if (p > 0) {
        nn_zero(tmp, (size_t)N * C);
        dropout_backward(tmp, dx, p, model_drop_seed(m, -1, 0), (size_t)N * C);
        dx = tmp;
    }
    encoder_backward(demb, NULL, dx, tok, 1, N, C);   /* token rows, no positions */
}
