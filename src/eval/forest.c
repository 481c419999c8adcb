/* Random forest: quantile-binned features, one tree per OpenMP iteration with its own
 * RNG stream (seed, tree index), trees concatenated in index order afterwards, so the
 * model does not depend on the schedule. See forest.h. */
#include "eval/forest.h"
#include "util/util.h"
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <float.h>

void rf_cfg_default(rf_cfg *c) {
    memset(c, 0, sizeof *c);
    c->n_trees = 100;
    c->max_depth = 24;
    c->min_leaf = 1;
    c->n_bins = 64;
    c->seed = 1;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* Edges of one feature: thresholds between consecutive distinct values (midpoints) when
 * there are few, else at quantiles. bin(x) = number of edges < x, so x <= edge[b] exactly
 * when bin(x) <= b. Returns the number of edges (<= nb - 1). */
static int make_edges(const float *col, size_t n, int nb, float *tmp, float *edges) {
    memcpy(tmp, col, n * sizeof *tmp);
    qsort(tmp, n, sizeof *tmp, cmp_float);
    size_t u = 0;
    for (size_t i = 0; i < n; i++) if (u == 0 || tmp[i] != tmp[u - 1]) tmp[u++] = tmp[i];
    int ne = 0;
    if (u <= (size_t)nb) {
        for (size_t i = 0; i + 1 < u; i++) edges[ne++] = tmp[i] + (tmp[i + 1] - tmp[i]) * 0.5f;
    } else {
        /* One edge per quantile window, placed in the widest gap between distinct values
         * inside the window: a gap that separates two clusters is then always a bin
         * boundary, wherever the quantiles happen to fall. */
        double step = (double)u / nb;
        for (int b = 1; b < nb; b++) {
            size_t lo = (size_t)((b - 0.5) * step), hi = (size_t)((b + 0.5) * step);
            if (lo < 1) lo = 1;
            if (hi > u - 1) hi = u - 1;
            size_t best = lo;
            for (size_t j = lo; j <= hi; j++) if (tmp[j] - tmp[j - 1] > tmp[best] - tmp[best - 1]) best = j;
            float e = tmp[best - 1] + (tmp[best] - tmp[best - 1]) * 0.5f;
            if (ne == 0 || e > edges[ne - 1]) edges[ne++] = e;
        }
    }
    /* midpoints of adjacent floats can round onto the upper value: keep edges below it */
    return ne;
}

static inline int bin_of(const float *edges, int ne, float x) {
    int lo = 0, hi = ne;   /* count edges < x */
    while (lo < hi) { int mid = (lo + hi) / 2; if (edges[mid] < x) lo = mid + 1; else hi = mid; }
    return lo;
}

typedef struct { rf_node *v; size_t n, cap; float *p; size_t np, pcap; } tree_buf;

static int32_t push_node(tree_buf *t) {
    if (t->n == t->cap) { t->cap = t->cap ? t->cap * 2 : 256; t->v = realloc(t->v, t->cap * sizeof *t->v); }
    memset(&t->v[t->n], 0, sizeof t->v[0]);
    return (int32_t)t->n++;
}
static size_t push_probs(tree_buf *t, int C) {
    if (t->np + (size_t)C > t->pcap) { t->pcap = (t->pcap ? t->pcap * 2 : 1024) + (size_t)C; t->p = realloc(t->p, t->pcap * sizeof *t->p); }
    size_t o = t->np;
    t->np += (size_t)C;
    return o;
}

typedef struct {
    const uint8_t *B;     /* n x d bins */
    const int *y;
    const float *edges; const int *ne; int emax;
    const double *cw;     /* class weights */
    int d, C, mtry, max_depth, min_leaf;
} train_ctx;

typedef struct { int32_t node; size_t lo, hi; int depth; } job;

/* Grow one tree over sample list idx (bootstrap, with repeats). */
static void grow(const train_ctx *c, uint32_t *idx, size_t n, uint64_t rng, tree_buf *t) {
    int C = c->C, nb = c->emax + 1;
    double *hist = malloc((size_t)nb * C * sizeof *hist), *tot = malloc((size_t)C * sizeof *tot);
    double *lw = malloc((size_t)C * sizeof *lw);
    int *feats = malloc((size_t)c->d * sizeof *feats);
    size_t *hcnt = malloc((size_t)nb * sizeof *hcnt);
    job *stack = malloc(sizeof(job) * (size_t)(2 * c->max_depth + 8));
    int sp = 0;
    stack[sp++] = (job){ push_node(t), 0, n, 0 };
    while (sp) {
        job j = stack[--sp];
        size_t m = j.hi - j.lo;
        memset(tot, 0, (size_t)C * sizeof *tot);
        for (size_t i = j.lo; i < j.hi; i++) tot[c->y[idx[i]]] += c->cw[c->y[idx[i]]];
        double W = 0; int ncls = 0;
        for (int k = 0; k < C; k++) { W += tot[k]; ncls += tot[k] > 0; }
        int best_f = -1, best_b = -1;
        /* As CART in scikit-learn: an impure node takes its best split even when the gain
         * is zero (XOR-like interactions show no gain on the first of the two splits). */
        double best = INFINITY;
        if (ncls > 1 && j.depth < c->max_depth && m >= (size_t)(2 * c->min_leaf)) {
            for (int f = 0; f < c->d; f++) feats[f] = f;
            for (int k = 0; k < c->mtry && k < c->d; k++) {   /* partial Fisher-Yates */
                int r = k + (int)(splitmix64(&rng) % (uint64_t)(c->d - k));
                int tmp = feats[k]; feats[k] = feats[r]; feats[r] = tmp;
                int f = feats[k], ne = c->ne[f];
                if (ne == 0) continue;
                memset(hist, 0, (size_t)(ne + 1) * C * sizeof *hist);
                memset(hcnt, 0, (size_t)(ne + 1) * sizeof *hcnt);
                for (size_t i = j.lo; i < j.hi; i++) {
                    uint32_t s = idx[i];
                    int b = c->B[(size_t)s * c->d + f];
                    hist[b * C + c->y[s]] += c->cw[c->y[s]];
                    hcnt[b]++;
                }
                memset(lw, 0, (size_t)C * sizeof *lw);
                double Wl = 0; size_t nl = 0;
                for (int b = 0; b < ne; b++) {   /* split after bin b */
                    for (int k2 = 0; k2 < C; k2++) { lw[k2] += hist[b * C + k2]; Wl += hist[b * C + k2]; }
                    nl += hcnt[b];
                    if (hcnt[b] == 0) continue;
                    if (nl < (size_t)c->min_leaf || m - nl < (size_t)c->min_leaf) continue;
                    double Wr = W - Wl;
                    if (Wl <= 0 || Wr <= 0) continue;
                    double sl = 0, sr = 0;
                    for (int k2 = 0; k2 < C; k2++) { double r2 = tot[k2] - lw[k2]; sl += lw[k2] * lw[k2]; sr += r2 * r2; }
                    double imp = (Wl - sl / Wl) + (Wr - sr / Wr);
                    if (imp < best) { best = imp; best_f = f; best_b = b; }
                }
            }
        }
        rf_node *nd = &t->v[j.node];
        if (best_f < 0) {   /* leaf: class distribution */
            size_t o = push_probs(t, C);
            nd = &t->v[j.node];
            for (int k = 0; k < C; k++) t->p[o + k] = W > 0 ? (float)(tot[k] / W) : 1.0f / C;
            nd->feat = -1; nd->left = (int32_t)o; nd->right = -1;
            continue;
        }
        /* partition idx[lo..hi) by bin <= best_b */
        size_t a = j.lo, b = j.hi;
        while (a < b) {
            if (c->B[(size_t)idx[a] * c->d + best_f] <= best_b) a++;
            else { uint32_t tmp = idx[a]; idx[a] = idx[--b]; idx[b] = tmp; }
        }
        int32_t L = push_node(t), R = push_node(t);
        nd = &t->v[j.node];
        nd->feat = best_f;
        nd->thr = c->edges[(size_t)best_f * c->emax + best_b];
        nd->left = L; nd->right = R;
        stack[sp++] = (job){ R, a, j.hi, j.depth + 1 };
        stack[sp++] = (job){ L, j.lo, a, j.depth + 1 };
    }
    free(hist); free(tot); free(lw); free(feats); free(hcnt); free(stack);
}

int rf_train(rf_model *m, const rf_cfg *cfg, const float *X, const int *y, size_t n, int d, int C) {
    memset(m, 0, sizeof *m);
    if (n == 0 || d <= 0 || C <= 0 || n > UINT32_MAX) return -1;
    int nb = cfg->n_bins < 2 ? 2 : cfg->n_bins > 256 ? 256 : cfg->n_bins;
    int emax = nb - 1;
    float *edges = calloc((size_t)d * emax, sizeof *edges), *col = malloc(n * sizeof *col), *tmp = malloc(n * sizeof *tmp);
    int *ne = calloc((size_t)d, sizeof *ne);
    uint8_t *B = malloc(n * (size_t)d);
    double *cw = calloc((size_t)C, sizeof *cw);
    if (!edges || !col || !tmp || !ne || !B || !cw) { free(edges); free(col); free(tmp); free(ne); free(B); free(cw); return -1; }
    for (int f = 0; f < d; f++) {
        for (size_t i = 0; i < n; i++) col[i] = X[i * d + f];
        ne[f] = make_edges(col, n, nb, tmp, edges + (size_t)f * emax);
        for (size_t i = 0; i < n; i++) B[i * d + f] = (uint8_t)bin_of(edges + (size_t)f * emax, ne[f], col[i]);
    }
    free(col); free(tmp);
    size_t *cnt = calloc((size_t)C, sizeof *cnt);
    for (size_t i = 0; i < n; i++) if (y[i] >= 0 && y[i] < C) cnt[y[i]]++;
    for (int k = 0; k < C; k++) {
        if (cfg->class_weight) cw[k] = cfg->class_weight[k];
        else if (cfg->balanced) cw[k] = cnt[k] ? (double)n / ((double)C * cnt[k]) : 0;
        else cw[k] = 1;
    }
    free(cnt);
    int T = cfg->n_trees > 0 ? cfg->n_trees : 100;
    train_ctx c = { B, y, edges, ne, emax, cw, d, C,
                    cfg->mtry > 0 ? cfg->mtry : (int)lround(sqrt((double)d)),
                    cfg->max_depth > 0 ? cfg->max_depth : 24, cfg->min_leaf > 0 ? cfg->min_leaf : 1 };
    if (c.mtry < 1) c.mtry = 1;
    tree_buf *trees = calloc((size_t)T, sizeof *trees);
    #pragma omp parallel for schedule(dynamic, 1)
    for (int ti = 0; ti < T; ti++) {
        uint64_t rng = cfg->seed * 0x9E3779B97F4A7C15ull + (uint64_t)ti * 0xD1B54A32D192ED03ull + 1;
        uint32_t *idx = malloc(n * sizeof *idx);
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {   /* bootstrap; labels outside [0, C) are dropped */
            uint32_t s = (uint32_t)(splitmix64(&rng) % n);
            if (y[s] >= 0 && y[s] < C) idx[k++] = s;
        }
        grow(&c, idx, k, splitmix64(&rng), &trees[ti]);
        free(idx);
    }
    size_t nn = 0, np = 0;
    for (int ti = 0; ti < T; ti++) { nn += trees[ti].n; np += trees[ti].np; }
    m->n_classes = C; m->n_feat = d; m->n_trees = T;
    m->nodes = malloc(nn * sizeof *m->nodes); m->probs = malloc((np ? np : 1) * sizeof *m->probs);
    m->root = malloc((size_t)T * sizeof *m->root);
    size_t on = 0, op = 0;
    for (int ti = 0; ti < T; ti++) {
        tree_buf *t = &trees[ti];
        m->root[ti] = (int32_t)on;
        for (size_t i = 0; i < t->n; i++) {
            rf_node nd = t->v[i];
            if (nd.feat < 0) nd.left += (int32_t)op;
            else { nd.left += (int32_t)on; nd.right += (int32_t)on; }
            m->nodes[on + i] = nd;
        }
        memcpy(m->probs + op, t->p, t->np * sizeof *t->p);
        on += t->n; op += t->np;
        free(t->v); free(t->p);
    }
    m->n_nodes = nn; m->n_probs = np;
    free(trees); free(edges); free(ne); free(B); free(cw);
    return 0;
}

int rf_predict_proba(const rf_model *m, const float *x, float *proba) {
    int C = m->n_classes;
    for (int k = 0; k < C; k++) proba[k] = 0;
    for (int t = 0; t < m->n_trees; t++) {
        const rf_node *nd = &m->nodes[m->root[t]];
        while (nd->feat >= 0) nd = &m->nodes[x[nd->feat] <= nd->thr ? nd->left : nd->right];
        const float *p = m->probs + nd->left;
        for (int k = 0; k < C; k++) proba[k] += p[k];
    }
    int best = 0;
    for (int k = 0; k < C; k++) {
        proba[k] /= (float)m->n_trees;
        if (proba[k] > proba[best]) best = k;
    }
    return best;
}

int rf_predict(const rf_model *m, const float *x) {
    float stackp[64], *p = m->n_classes <= 64 ? stackp : malloc((size_t)m->n_classes * sizeof *p);
    int r = rf_predict_proba(m, x, p);
    if (p != stackp) free(p);
    return r;
}

void rf_free(rf_model *m) {
    free(m->nodes); free(m->probs); free(m->root);
    memset(m, 0, sizeof *m);
}
