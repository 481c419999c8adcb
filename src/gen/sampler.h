/* Sampling the next token from logits: temperature, top-k, top-p (nucleus), min-p, a
 * repetition penalty, and an optional mask of allowed tokens (the generator uses it to keep
 * sequences well formed).
 * Deterministic for a given seed: one splitmix64 stream per sampler. */
#ifndef PKTLM_SAMPLER_H
#define PKTLM_SAMPLER_H
#include <stdint.h>

typedef struct {
    float temperature;   /* 0 = greedy (argmax) */
    int top_k;           /* 0 = off */
    float top_p;         /* 1 = off */
    float min_p;         /* 0 = off: keep tokens with p >= min_p * (largest p) (NetSSM's sampler) */
    float rep_penalty;   /* 1 = off: a token already in the sequence has its logit divided by it
                            when positive, multiplied when negative (CTRL / Hugging Face) */
    uint64_t rng;        /* state; seed it with the user's --seed */
    /* scratch for top-k / top-p, V entries each (owned) */
    float *prob;
    int *idx;
    int V;
} sampler;

int sampler_init(sampler *s, int V, float temperature, int top_k, float top_p, uint64_t seed);
void sampler_free(sampler *s);
/* Pick a token. logits has V entries and is not modified; allowed (may be NULL) is a V-byte
 * mask, 0 = never pick. Returns -1 only when the mask allows nothing. */
int sampler_sample(sampler *s, const float *logits, const uint8_t *allowed);
/* The same with the repetition penalty applied to the tokens marked in seen (V bytes, nonzero
 * = in the sequence so far; NULL = none). min_p and rep_penalty are set after sampler_init. */
int sampler_sample_seen(sampler *s, const float *logits, const uint8_t *allowed, const uint8_t *seen);
#endif
