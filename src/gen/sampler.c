#include "gen/sampler.h"
#include "util/util.h"
#include <math.h>
#include <stdlib.h>
#include <float.h>
#include <string.h>

/* candidates above which top-k / top-p sort a head set only (head_set) */
#define SAMPLER_FULL_SORT 4096

int sampler_init(sampler *s, int V, float temperature, int top_k, float top_p, uint64_t seed) {
    s->temperature = temperature < 0 ? 0 : temperature;
    s->top_k = top_k < 0 ? 0 : top_k;
    s->top_p = top_p <= 0 || top_p > 1 ? 1 : top_p;
    s->min_p = 0;
    s->rep_penalty = 1;
    s->rng = seed ^ 0x5DEECE66Dull;
    s->V = V;
    s->prob = malloc((size_t)V * sizeof *s->prob);
    s->idx = malloc((size_t)V * sizeof *s->idx);
    return s->prob && s->idx ? 0 : -1;
}

void sampler_free(sampler *s) {
    free(s->prob); free(s->idx);
    s->prob = NULL; s->idx = NULL;
}

/* descending by probability, ties by token id so the order is deterministic */
static int cmp_desc(const void *a, const void *b, void *prob) {
    int i = *(const int *)a, j = *(const int *)b;
    float x = ((const float *)prob)[i], y = ((const float *)prob)[j];
    if (x != y) return x < y ? 1 : -1;
    return i - j;
}

/* logit of token i after the repetition penalty */
static inline float penalised(const sampler *s, const float *logits, const uint8_t *seen, int i) {
    float l = logits[i];
    if (seen && seen[i] && s->rep_penalty != 1) l = l > 0 ? l / s->rep_penalty : l * s->rep_penalty;
    return l;
}

/* Top-k and top-p keep a prefix of the candidates sorted by probability. With many candidates
 * (the 65,536 values of the fields and bigrams formats) sorting all of them was most of a
 * token's time, so only a head set is sorted: the candidates with p >= t for the largest t in
 * 1/2, 1/8, ... whose set already holds k of them (top-k, k < n), or a little more than top_p of
 * the mass (top-p alone). Every candidate of the set comes before every other one in the full
 * order (descending p, ties by id), so the set sorted is the full order's prefix. Moves the set
 * to the front of idx (the rest after it) and returns its size, n when no smaller set does;
 * *rest: the mass of the others. */
static int head_set(sampler *s, int n, int topk, double sum, double *rest) {
    const float *p = s->prob;
    for (float t = 0.5f; t > 1e-30f; t *= 0.25f) {
        double mass = 0;
        int c = 0;
        for (int j = 0; j < n; j++)
            if (p[s->idx[j]] >= t) { c++; mass += p[s->idx[j]]; }
        if (topk ? c < topk : mass < s->top_p * sum * (1 + 1e-9)) continue;
        if (c == n) return n;
        int *tmp = malloc((size_t)(n - c) * sizeof *tmp), a = 0, b = 0;
        if (!tmp) return n;
        *rest = 0;
        for (int j = 0; j < n; j++) {
            int i = s->idx[j];
            if (p[i] >= t) s->idx[a++] = i;
            else { tmp[b++] = i; *rest += p[i]; }
        }
        memcpy(s->idx + c, tmp, (size_t)(n - c) * sizeof *tmp);
        free(tmp);
        return c;
    }
    return n;
}

int sampler_sample(sampler *s, const float *logits, const uint8_t *allowed) {
    return sampler_sample_seen(s, logits, allowed, NULL);
}

int sampler_sample_seen(sampler *s, const float *logits, const uint8_t *allowed, const uint8_t *seen) {
    int V = s->V, best = -1;
    float maxv = -FLT_MAX;
    for (int i = 0; i < V; i++) {
        float l = penalised(s, logits, seen, i);
        if ((!allowed || allowed[i]) && (best < 0 || l > maxv)) { maxv = l; best = i; }
    }
    if (best < 0 || s->temperature == 0) return best;
    /* softmax over allowed tokens at the given temperature; min-p drops those below min_p
     * times the largest (which is exp(0) = 1 here) before anything else */
    double sum = 0;
    int n = 0;
    for (int i = 0; i < V; i++) {
        if (allowed && !allowed[i]) continue;
        float p = expf((penalised(s, logits, seen, i) - maxv) / s->temperature);
        if (s->min_p > 0 && p < s->min_p) continue;
        s->prob[i] = p;
        s->idx[n++] = i;
        sum += p;
    }
    if ((s->top_k > 0 && s->top_k < n) || s->top_p < 1) {
        /* keep the k most likely, then the smallest prefix with mass >= top_p */
        const int topk = s->top_k > 0 && s->top_k < n ? s->top_k : 0;
        double rest = 0, tot = 0;
        int ns = n > SAMPLER_FULL_SORT ? head_set(s, n, topk, sum, &rest) : n, have_tot = 0;
        qsort_r(s->idx, (size_t)ns, sizeof *s->idx, cmp_desc, s->prob);
        if (topk) n = topk;
        else if (ns < n) {
            /* top-p over a head set: the total is the set's sorted sum plus the rest (the full
             * sort's sum up to its rounding); the cut must fall inside the set, else sort all */
            for (int j = 0; j < ns; j++) tot += s->prob[s->idx[j]];
            tot += rest;
            double acc = 0;
            for (int j = 0; j < ns && acc < s->top_p * tot; j++) acc += s->prob[s->idx[j]];
            if (acc >= s->top_p * tot) { n = ns; have_tot = 1; }
            else qsort_r(s->idx, (size_t)n, sizeof *s->idx, cmp_desc, s->prob);
        }
        if (!have_tot) {
            tot = 0;
            for (int j = 0; j < n; j++) tot += s->prob[s->idx[j]];
        }
        if (s->top_p < 1) {
            double acc = 0;
            for (int k = 0; k < n; k++) {
                acc += s->prob[s->idx[k]];
                if (acc >= s->top_p * tot) { n = k + 1; break; }
            }
        }
        sum = 0;
        for (int k = 0; k < n; k++) sum += s->prob[s->idx[k]];
    }
    double r = rng_uniform(&s->rng) * sum, acc = 0;
    for (int k = 0; k < n; k++) {
        acc += s->prob[s->idx[k]];
        if (r < acc) return s->idx[k];
    }
    return s->idx[n - 1];
}
