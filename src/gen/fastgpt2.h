/* A fused GPT-2 decoding step for `pktlm generate` (fastgpt2.c): the same arithmetic as
 * model_step (gpt2.c) for one new token of B sequences, run as a single OpenMP region with
 * matrix-vector kernels, because batch-1 decoding is dominated by per-operation overheads.
 * It reads the model's tensors by name and keeps its own key/value cache. */
#ifndef PKTLM_FASTGPT2_H
#define PKTLM_FASTGPT2_H
#include "models/model.h"

typedef struct {
    model *m;
    int B, nthreads;
    const float *wte, *wpe, *ln1w, *ln1b, *qkvw, *qkvb, *projw, *projb, *ln2w, *ln2b, *fcw, *fcb, *fcpw, *fcpb,
        *lnfw, *lnfb;
    float *buf, *k, *v, *x, *ln, *att, *qkv, *fc, *sc, *lnt;   /* lnt: per-thread normalised rows */
    uint16_t *wb;           /* bf16 copies of the matrices (NULL: fp32) */
    size_t wb_off[5];       /* qkv, proj, fc, fc-proj, head (wte) within wb */
} gen_fast;

/* -1 when the model is not a GPT-2 (use model_step) or memory is short. */
int gen_fast_init(gen_fast *g, model *m, int B);
/* One token per sequence (B <= the batch given to init), all at position pos; logits (B, V). */
void gen_fast_step(gen_fast *g, const int *tok, int B, int pos, float *logits);
/* Read the weight matrices as bf16 from now on (AVX-512 only, d_model and d_ff multiples of
 * 16): half the memory traffic; logits then differ from fp32 by ~1e-3 relative. 0 ok. */
int gen_fast_use_bf16(gen_fast *g);
void gen_fast_free(gen_fast *g);
#endif
