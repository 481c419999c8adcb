/* Causal-LM pretraining loop behind `pktlm pretrain` (and reusable by finetune --task
 * generate): data, model, AdamW with warm-up + cosine, clipping, accumulation, validation,
 * checkpoints every N steps and at the end, CSV log + SVG plot, exact resume. */
#ifndef PKTLM_PRETRAIN_H
#define PKTLM_PRETRAIN_H
#include <signal.h>
#include <stdint.h>
#include "models/model.h"

typedef struct pretrain_opts {
    const char *data_dir, *out_path, *resume_path;
    const char *init_path;     /* fine-tuning: start from this checkpoint's weights (its architecture;
                                  fresh optimizer and schedule; vocabulary grown or cut to the corpus') */
    int new_embeddings;        /* with init_path: keep its body, fresh token embedding and head for the
                                  corpus's vocabulary (an imported model's own tokens; QwenNet's recipe) */
    model_config cfg;          /* arch, layers, d_model, heads, ctx, dropout (vocab from the corpus) */
    int batch, accum, warmup, pack;
    long steps;                /* total optimizer steps; 0 = from epochs */
    double epochs;
    float lr, min_frac, weight_decay, beta1, beta2, eps, clip;
    uint64_t seed;
    int eval_every, val_batches, save_every, threads;
    long stop_after;           /* tests: behave as if interrupted after this step (0 = off) */
    volatile sig_atomic_t *interrupt;  /* set by a SIGINT handler: save and return */
    size_t mem_limit;          /* bytes; 0 = MemAvailable of this machine */
    int quiet;
    int prec;                  /* matrix products: NN_FP32, NN_BF16 (mixed precision, needs avx512_bf16),
                                  or -1: fp32, or on resume the checkpoint's */
    /* results */
    float final_loss, final_val;
    double unigram_bits, unigram_val_bits;  /* baseline: entropy of the training tokens, and the
                                               validation tokens' cross-entropy under it (bits) */
    long final_step;
    int interrupted;
    char err[1024];
} pretrain_opts;

void pretrain_defaults(pretrain_opts *o);
/* 0 ok (also when interrupted: checkpoint saved), -1 error (message in o->err). */
int pretrain_run(pretrain_opts *o);
#endif
