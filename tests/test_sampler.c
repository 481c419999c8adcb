/* Sampler: greedy, mask, top-k, top-p, min-p, repetition penalty, temperature, determinism,
 * and frequencies that match the softmax. */
#include "test.h"
#include "gen/sampler.h"
#include "nn/nn.h"
#include "util/util.h"

static void test_sampler(void) {
    float logits[5] = { 1.0f, 3.0f, 2.0f, -1.0f, 0.5f };
    uint8_t mask[5] = { 1, 0, 1, 1, 1 };
    sampler s;
    CHECK_EQ(sampler_init(&s, 5, 0, 0, 1, 1), 0);
    CHECK_EQ(sampler_sample(&s, logits, NULL), 1);          /* greedy */
    CHECK_EQ(sampler_sample(&s, logits, mask), 2);          /* greedy under a mask */
    uint8_t none[5] = { 0 };
    CHECK_EQ(sampler_sample(&s, logits, none), -1);
    sampler_free(&s);
    /* top-k 2: only tokens 1 and 2 ever appear */
    sampler_init(&s, 5, 1.0f, 2, 1, 7);
    int cnt[5] = { 0 };
    for (int i = 0; i < 20000; i++) cnt[sampler_sample(&s, logits, NULL)]++;
    CHECK(cnt[0] == 0 && cnt[3] == 0 && cnt[4] == 0);
    double p1 = exp(3.0) / (exp(3.0) + exp(2.0));
    CHECK_NEAR(cnt[1] / 20000.0, p1, 0.015);
    sampler_free(&s);
    /* full softmax frequencies at temperature 2 */
    sampler_init(&s, 5, 2.0f, 0, 1, 9);
    int c2[5] = { 0 };
    double z = 0;
    for (int i = 0; i < 5; i++) z += exp(logits[i] / 2);
    for (int i = 0; i < 50000; i++) c2[sampler_sample(&s, logits, NULL)]++;
    for (int i = 0; i < 5; i++) CHECK_NEAR(c2[i] / 50000.0, exp(logits[i] / 2) / z, 0.01);
    sampler_free(&s);
    /* top-p 0.5: the smallest prefix holding half the mass is token 1 alone (p = 0.6) */
    sampler_init(&s, 5, 1.0f, 0, 0.5f, 3);
    for (int i = 0; i < 100; i++) CHECK_EQ(sampler_sample(&s, logits, NULL), 1);
    sampler_free(&s);
    /* same seed, same draws */
    sampler a, b;
    sampler_init(&a, 5, 1.0f, 0, 0.9f, 42);
    sampler_init(&b, 5, 1.0f, 0, 0.9f, 42);
    int same = 1;
    for (int i = 0; i < 1000; i++) same &= sampler_sample(&a, logits, NULL) == sampler_sample(&b, logits, NULL);
    CHECK(same);
    sampler_free(&a); sampler_free(&b);
}

/* min-p keeps tokens with p >= min_p * max p; the repetition penalty divides a seen token's
 * positive logit (multiplies a negative one) before the softmax */
/* Large vocabularies sort only a head set (sampler.c head_set): the same draws as sorting every
 * candidate, checked against that plain method (sort all, cut top-k, then top-p) on 65,600-id
 * distributions, peaked and flat, with and without a mask */
static int cmp_ref(const void *a, const void *b, void *prob) {
    int i = *(const int *)a, j = *(const int *)b;
    float x = ((const float *)prob)[i], y = ((const float *)prob)[j];
    if (x != y) return x < y ? 1 : -1;
    return i - j;
}
static int ref_sample(int V, const float *logits, const uint8_t *allowed, float temp, int top_k, float top_p, uint64_t *rng,
                      float *prob, int *idx) {
    float maxv = -1e30f;
    for (int i = 0; i < V; i++) if ((!allowed || allowed[i]) && logits[i] > maxv) maxv = logits[i];
    int n = 0;
    for (int i = 0; i < V; i++)
        if (!allowed || allowed[i]) { prob[i] = expf((logits[i] - maxv) / temp); idx[n++] = i; }
    qsort_r(idx, (size_t)n, sizeof *idx, cmp_ref, prob);
    if (top_k > 0 && top_k < n) n = top_k;
    double tot = 0;
    for (int k = 0; k < n; k++) tot += prob[idx[k]];
    double acc = 0;
    for (int k = 0; k < n; k++) { acc += prob[idx[k]]; if (acc >= top_p * tot) { n = k + 1; break; } }
    double sum = 0;
    for (int k = 0; k < n; k++) sum += prob[idx[k]];
    double r = rng_uniform(rng) * sum;
    acc = 0;
    for (int k = 0; k < n; k++) { acc += prob[idx[k]]; if (r < acc) return idx[k]; }
    return idx[n - 1];
}
static void test_large_vocab_head_set(void) {
    enum { V = 65600 };
    float *logits = malloc(sizeof(float) * V), *prob = malloc(sizeof(float) * V);
    int *idx = malloc(sizeof(int) * V), diff = 0, draws = 0;
    uint8_t *mask = malloc(V);
    uint64_t g = 5;
    for (int i = 0; i < V; i++) mask[i] = (splitmix64(&g) & 3) != 0;
    const int ks[] = { 0, 0, 50, 40 };
    const float ps[] = { 0.95f, 0.5f, 1.0f, 0.9f };
    for (int shape = 0; shape < 3; shape++) {
        float scale = shape == 0 ? 0.01f : shape == 1 ? 1.0f : 6.0f;   /* flat, moderate, peaked */
        for (int i = 0; i < V; i++) logits[i] = scale * nn_randn(&g);
        for (int c = 0; c < 4; c++)
            for (int m = 0; m < 2; m++) {
                sampler s;
                sampler_init(&s, V, 1.0f, ks[c], ps[c], 77 + c);
                uint64_t rng = s.rng;
                for (int t = 0; t < 6; t++) {
                    int a = sampler_sample(&s, logits, m ? mask : NULL);
                    int b = ref_sample(V, logits, m ? mask : NULL, 1.0f, ks[c], ps[c], &rng, prob, idx);
                    diff += a != b;
                    draws++;
                }
                sampler_free(&s);
            }
    }
    CHECKF(diff == 0, "%d of %d draws differ from sorting every candidate", diff, draws);
    free(logits); free(prob); free(idx); free(mask);
}

static void test_min_p_repetition(void) {
    float logits[5] = { 1.0f, 3.0f, 2.0f, -1.0f, 0.5f };
    sampler s;
    sampler_init(&s, 5, 1.0f, 0, 1, 11);
    s.min_p = 0.3f;   /* p / p_max: token 2 e^-1 = 0.37 kept, token 0 e^-2 = 0.14 dropped */
    int cnt[5] = { 0 };
    for (int i = 0; i < 20000; i++) cnt[sampler_sample(&s, logits, NULL)]++;
    CHECK(cnt[0] == 0 && cnt[3] == 0 && cnt[4] == 0 && cnt[1] > 0 && cnt[2] > 0);
    CHECK_NEAR(cnt[1] / 20000.0, exp(3.0) / (exp(3.0) + exp(2.0)), 0.015);
    sampler_free(&s);
    /* greedy with penalty 2 on token 1: 3 / 2 = 1.5 < 2, so token 2 wins */
    uint8_t seen[5] = { 0, 1, 0, 1, 0 };
    sampler_init(&s, 5, 0, 0, 1, 1);
    s.rep_penalty = 2.0f;
    CHECK_EQ(sampler_sample_seen(&s, logits, NULL, seen), 2);
    CHECK_EQ(sampler_sample_seen(&s, logits, NULL, NULL), 1);
    sampler_free(&s);
    /* frequencies under the penalty: logits 1, 1.5, 2, -2, 0.5 */
    sampler_init(&s, 5, 1.0f, 0, 1, 5);
    s.rep_penalty = 2.0f;
    const double pl[5] = { 1.0, 1.5, 2.0, -2.0, 0.5 };
    double z = 0;
    for (int i = 0; i < 5; i++) z += exp(pl[i]);
    int c2[5] = { 0 };
    for (int i = 0; i < 50000; i++) c2[sampler_sample_seen(&s, logits, NULL, seen)]++;
    for (int i = 0; i < 5; i++) CHECK_NEAR(c2[i] / 50000.0, exp(pl[i]) / z, 0.01);
    sampler_free(&s);
}

int main(void) {
    RUN(test_sampler);
    RUN(test_min_p_repetition);
    RUN(test_large_vocab_head_set);
    return t_done();
}
