/* Header-field prediction (`pktlm finetune --task field`, docs/field.md): NetGPT's
 * generation task — hide a header field, predict its value — on a causal model.
 *
 * The model reads everything before the field (the flow's earlier packets whole, this
 * packet's bytes up to the field) and must produce the field's bytes. Training is the
 * causal-LM loss restricted to the field's byte positions (every other target is -1, which
 * the loss ignores), from --init or from scratch, AdamW with warm-up + cosine, the best
 * validation exact-match kept. Scoring is exact match of the whole value under greedy
 * decoding over the 256 byte tokens; it is computed from one forward pass over the true
 * sequence, which is provably the same (field_exact, below; tested against an explicit
 * decoder). Baselines on the same occurrences: the majority value of the training split, and
 * the value of the previous packet of the flow in the same direction (copy).
 *
 * The result is a plain model checkpoint (docs/checkpoint.md) whose task slots say
 * "field prediction of field F", so `pktlm eval --model FIELD.ckpt` knows what to score. */
#ifndef PKTLM_FINETUNE_FIELD_H
#define PKTLM_FINETUNE_FIELD_H
#include <signal.h>
#include <stdint.h>
#include "models/model.h"
#include "corpus/shard.h"
#include "corpus/fields.h"

typedef struct {
    const char *data_dir, *out_path, *init_path;   /* init NULL: from scratch */
    int new_embeddings;        /* init in another token format: its body, fresh embedding/head (docs/interop.md) */
    int field;                 /* FIELD_* */
    model_config cfg;          /* from scratch: arch, layers, d_model, heads, ctx; dropout either way */
    int batch, seq_len, patience, warmup, threads, quiet;
    double epochs, time_limit; /* time_limit: seconds, stop after the evaluation that passes it (0 = none) */
    long max_steps, eval_every;/* 0 = no cap / once per epoch */
    float lr, weight_decay, clip;
    uint64_t seed;
    volatile sig_atomic_t *interrupt;
    /* results */
    double best_val;           /* best validation exact match */
    double val_majority, val_copy; /* the baselines on the same validation occurrences */
    long best_step, steps, val_n;
    int epochs_run;
    char err[1024];
} field_opts;

void field_defaults(field_opts *o);
/* 0 ok (also when interrupted or stopped early: the best model is saved), -1 (o->err). */
int field_finetune_run(field_opts *o);

/* ---- building blocks (used by eval and the tests) ---- */

/* A corpus sequence -> one model row of T tokens (label token -> <unlabelled>, padded) and
 * its targets: tgt[t] = the token at t+1 when t+1 is a byte of an occurrence of the field
 * that lies wholly within the first T+1 tokens, else -1. Returns the number of such
 * occurrences (tgt may be NULL). */
int field_make_row(int field, const tok_t *tok, size_t n, int T, int pad_id, int *row, int *tgt);

/* Exact match of the model on one occurrence (first byte at token pos, width w), given the
 * logits (T,V) of a forward pass over the true row: every byte of the value is the argmax
 * over byte tokens 0..255 at its position. This equals greedy decoding: if the model's first
 * byte is right, the prefix it feeds itself is the true one, so its next choice is the
 * argmax at the next position of the true row; if any byte is wrong the value is wrong. */
int field_exact(const float *logits, int V, uint32_t pos, int w, uint32_t value);

/* Explicit greedy decoding (reference for the tests): row holds the true tokens up to pos;
 * the model's own bytes are written at pos.. and fed back. The decoded value is returned.
 * m needs activations for (1, T); row has T tokens and is modified at pos..pos+w-1. */
uint32_t field_greedy(model *m, int *row, int T, uint32_t pos, int w);

/* Scores on a shard: every occurrence within the first T+1 tokens of every sequence. */
typedef struct {
    long n;                    /* occurrences scored */
    long model, majority, copy;/* exact matches */
    long first_n, first_model, first_copy;   /* occurrences with no earlier one in the same direction */
    uint32_t majority_value;
} field_score;
/* The majority value of the field over the training shard's occurrences (ties: smallest);
 * *count = occurrences seen (0: no occurrence, value 0). */
uint32_t field_majority(int field, const shard *s, int T, long *count);
/* Score the model (m may be NULL: baselines only; m needs activations for (B,T)) and the
 * baselines on shard s. copy: the previous occurrence in the same flow and direction, the
 * majority value when there is none. */
void field_score_shard(model *m, int field, const shard *s, int T, int B, uint32_t majority, field_score *out);
/* The same for batches part, part + nparts, ... of B scored sequences only (data-parallel
 * validation: the batches one process runs, so the same counts once added up). */
void field_score_part(model *m, int field, const shard *s, int T, int B, uint32_t majority, int part, int nparts,
                      field_score *out);
#endif
