/* A fused GPT-2 decoding step for `pktlm generate` (fastgpt2.c): the same arithmetic as
 * model_step (gpt2.c) for one new token of each of n sequences, run as a single OpenMP
 * region over weights packed once into column panels, because decoding is bound by
 * per-operation overheads (batch 1) and by how often each weight is loaded (larger batches).
 * It reads the model's tensors by name and keeps its own key/value cache of B slots.
 *
 * Every sequence has its own position, so a finished sequence's slot can take a new one at
 * once (continuous batching). A row's arithmetic does not depend on the other rows, on n or
 * on the thread count: the same sequence gives the same logits in any batch. */
#ifndef PKTLM_FASTGPT2_H
#define PKTLM_FASTGPT2_H
#include "models/model.h"
#include "nn/barrier.h"

typedef struct {
    model *m;
    int B, nthreads, Tp;    /* Tp: context rounded up to 16 (cache blocks) */
    const float *wte, *wpe, *ln1w, *ln1b, *qkvb, *projb, *ln2w, *ln2b, *fcb, *fcpb, *lnfw, *lnfb;
    float *buf, *k, *v, *qkv, *att, *fc, *sc;
    float *part;            /* per worker: partial sums of the attention and MLP outputs */
    float *xt, *lnt;        /* per thread: its copy of the residual stream, normalised rows */
    void *pk;               /* packed weights: fp32, or bf16 pairs (see fastgpt2.c) */
    int bf16;
    nn_barrier bar;         /* gen_fast_step's barrier */
    size_t off[5], lstride[4];   /* qkv, proj, fc, fc-proj, head: offsets (elements) of
                                  * layer 0's packed weights, and the step to the next layer */
} gen_fast;

/* -1 when the model is not a GPT-2 (use model_step) or memory is short. bf16: keep the
 * weight matrices as bf16 (AVX-512 only; half the memory traffic, logits ~1e-3 relative
 * from fp32); -2 when this build or machine cannot. */
int gen_fast_init(gen_fast *g, model *m, int B, int bf16);
/* One token for each of n rows: row r is cache slot slot[r] (< B), its token tok[r] at
 * position pos[r] (slot positions 0..pos[r]-1 must have been stepped before); logits (n, V). */
void gen_fast_step(gen_fast *g, int n, const int *slot, const int *tok, const int *pos, float *logits);
/* The same, called by every thread t of a team of nt (inside a parallel region the caller
 * keeps open across steps, so no thread pool wakes up per token); bar is the team's barrier
 * (nn_barrier_init(bar, nt, GEN_SPIN_NS, GEN_HOLD_NS)). Returns after a barrier: the
 * logits are complete for every thread. */
void gen_fast_step_team(gen_fast *g, int t, int nt, nn_barrier *bar, int n, const int *slot, const int *tok,
                        const int *pos, float *logits);
/* barrier spin window and how long to sleep without spinning after a timeout (barrier.h) */
#define GEN_SPIN_NS 200000
#define GEN_HOLD_NS 20000000
void gen_fast_free(gen_fast *g);
#endif
