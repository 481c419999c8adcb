/* Shallow flow classifiers: forest on flow features, port lookup, majority. See shallow.h. */
#include "eval/shallow.h"
#include <stdlib.h>
#include <string.h>

#define IDX(i) (idx ? idx[i] : (i))

int shallow_train(shallow_model *m, const ff_set *s, const size_t *idx, size_t n, const ff_feat_cfg *feat,
                  const rf_cfg *rf, int n_classes) {
    memset(m, 0, sizeof *m);
    m->feat = *feat;
    m->n_classes = n_classes;
    if (!idx) n = s->n;
    int d = ff_feature_count(feat);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += s->fl[IDX(i)].label >= 0 && s->fl[IDX(i)].label < n_classes;
    if (!k) return -1;
    float *X = malloc(k * (size_t)d * sizeof *X);
    int *y = malloc(k * sizeof *y);
    if (!X || !y) { free(X); free(y); return -1; }
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        const ff_flow *f = &s->fl[IDX(i)];
        if (f->label < 0 || f->label >= n_classes) continue;
        ff_features(s, f, feat, X + j * d);
        y[j++] = f->label;
    }
    int rc = rf_train(&m->rf, rf, X, y, k, d, n_classes);
    free(X); free(y);
    return rc;
}

int shallow_predict(const shallow_model *m, const ff_set *s, const ff_flow *f, float *proba) {
    float x[256], p[256];
    int d = ff_feature_count(&m->feat);
    float *xx = d <= 256 ? x : malloc((size_t)d * sizeof *xx);
    float *pp = proba ? proba : m->n_classes <= 256 ? p : malloc((size_t)m->n_classes * sizeof *pp);
    ff_features(s, f, &m->feat, xx);
    int c = rf_predict_proba(&m->rf, xx, pp);
    if (xx != x) free(xx);
    if (pp != proba && pp != p) free(pp);
    return c;
}

void shallow_free(shallow_model *m) { rf_free(&m->rf); memset(m, 0, sizeof *m); }

static uint32_t port_key(const ff_flow *f) { return (uint32_t)f->key.proto << 16 | ff_service_port(f); }

static int argmax(const long *c, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) if (c[i] > c[b]) b = i;
    return b;
}

typedef struct { uint32_t key; int label; } kl;
static int cmp_kl(const void *a, const void *b) {
    const kl *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->label - y->label;
}

int portmap_train(portmap_model *m, const ff_set *s, const size_t *idx, size_t n, int use_port, int C) {
    memset(m, 0, sizeof *m);
    m->n_classes = C;
    m->use_port = use_port;
    if (!idx) n = s->n;
    long *all = calloc((size_t)C, sizeof *all), *proto = calloc((size_t)256 * C, sizeof *proto);
    kl *v = malloc((n ? n : 1) * sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const ff_flow *f = &s->fl[IDX(i)];
        if (f->label < 0 || f->label >= C) continue;
        all[f->label]++;
        proto[f->key.proto * C + f->label]++;
        v[k++] = (kl){ port_key(f), f->label };
    }
    m->fallback = argmax(all, C);
    for (int p = 0; p < 256; p++) {
        long t = 0;
        for (int c = 0; c < C; c++) t += proto[p * C + c];
        m->proto_best[p] = t ? argmax(proto + p * C, C) : m->fallback;
    }
    qsort(v, k, sizeof *v, cmp_kl);
    m->keys = malloc((k ? k : 1) * sizeof *m->keys);
    m->best = malloc((k ? k : 1) * sizeof *m->best);
    long *cnt = calloc((size_t)C, sizeof *cnt);
    for (size_t i = 0; i < k;) {   /* one run per key: its most frequent label (lowest id on ties) */
        size_t j = i;
        memset(cnt, 0, (size_t)C * sizeof *cnt);
        while (j < k && v[j].key == v[i].key) cnt[v[j++].label]++;
        m->keys[m->n] = v[i].key;
        m->best[m->n++] = argmax(cnt, C);
        i = j;
    }
    free(cnt); free(v); free(all); free(proto);
    return k ? 0 : -1;
}

int portmap_predict(const portmap_model *m, const ff_flow *f) {
    if (!m->use_port) return m->fallback;
    uint32_t key = port_key(f);
    size_t lo = 0, hi = m->n;
    while (lo < hi) { size_t mid = (lo + hi) / 2; if (m->keys[mid] < key) lo = mid + 1; else hi = mid; }
    if (lo < m->n && m->keys[lo] == key) return m->best[lo];
    return m->proto_best[f->key.proto];
}

void portmap_free(portmap_model *m) { free(m->keys); free(m->best); memset(m, 0, sizeof *m); }

size_t shallow_confusion(const shallow_model *m, const ff_set *s, const size_t *idx, size_t n, long *cm) {
    if (!idx) n = s->n;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const ff_flow *f = &s->fl[IDX(i)];
        if (f->label < 0 || f->label >= m->n_classes) continue;
        cm[f->label * m->n_classes + shallow_predict(m, s, f, NULL)]++;
        k++;
    }
    return k;
}

size_t portmap_confusion(const portmap_model *m, const ff_set *s, const size_t *idx, size_t n, long *cm) {
    if (!idx) n = s->n;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const ff_flow *f = &s->fl[IDX(i)];
        if (f->label < 0 || f->label >= m->n_classes) continue;
        cm[f->label * m->n_classes + portmap_predict(m, f)]++;
        k++;
    }
    return k;
}
