/* Fine-tuning a backbone for flow classification (`pktlm finetune --task classify`,
 * docs/classify.md): labelled sequences of a corpus, a head from clshead.h, class-balanced
 * loss weights or sampling, frozen encoder (head trained on cached pooled features) or all
 * weights, validation macro-F1 after every epoch, early stopping, the best classifier kept
 * (written atomically), a CSV log and a progress line. */
#ifndef PKTLM_FINETUNE_H
#define PKTLM_FINETUNE_H
#include <signal.h>
#include <stdint.h>
#include "models/model.h"
#include "corpus/shard.h"
#include "train/clshead.h"

enum { BAL_NONE = 0, BAL_WEIGHT = 1, BAL_SAMPLE = 2 };

typedef struct {
    const char *data_dir, *out_path, *init_path;   /* init NULL: from scratch */
    int new_embeddings;        /* init in another token format: its body, fresh embedding/head (docs/interop.md) */
    model_config cfg;          /* from scratch: arch, layers, d_model, heads, ctx */
    int pooling, freeze, balance, batch, max_pkts, seq_len, patience, threads, quiet;
    int bucket;                /* > 1: batches of similar length from pools of this many batches */
    int prec;                  /* matrix products of training: NN_FP32 (default) or NN_BF16 (mixed
                                  precision, needs avx512_bf16); validation always runs in fp32, as
                                  `pktlm eval` and `pktlm classify` do */
    double epochs;
    long max_steps;            /* 0 = no cap */
    double time_limit;         /* seconds; 0 = none: stop after the epoch that passes it */
    float lr, weight_decay, clip;
    int warmup;
    uint64_t seed;
    volatile sig_atomic_t *interrupt;
    /* results */
    float best_f1, best_acc;
    int best_epoch, epochs_run;
    long steps;
    char err[1024];
} finetune_opts;

void finetune_defaults(finetune_opts *o);
int finetune_classify_run(finetune_opts *o);


/* Confusion-matrix scores used for early stopping (eval/metrics.h has the full report). */
double cm_macro_f1(const long *cm, int K, double *accuracy);
#endif
