/* A sequence classifier on a backbone (issue 5; docs/classify.md): what `pktlm classify`,
 * `pktlm eval` and a streaming classifier load and run. Training the head (its backward, AdamW,
 * writing the file from a training run) is the training stage's (train/clshead.h); nothing here
 * includes train/.
 *
 * The head sits on the backbone's final hidden states (B,T,C), so the backbone never knows
 * which task trains it:
 *   pool      mean | last | first over the non-pad positions 0..len-1 of each row -> (B,C)
 *   linear    logits = pooled W^T + b                                             -> (B,K)
 *   loss      softmax cross-entropy, each row weighted by its class weight:
 *             L = sum_b w[y_b] * -log p_b[y_b] / sum_b w[y_b]
 *
 * Rows: cls_make_row() turns a corpus sequence into a model row exactly the same way for
 * fine-tuning, evaluation and `pktlm classify`: the label token (token 1) becomes
 * <unlabelled> so the model never sees the answer, EOS is dropped (an early decision after
 * K packets cannot know the flow ended), the sequence is cut after max_pkts packets and at
 * T tokens, then padded.
 *
 * Classifier file (CLS.ckpt): a 1024-byte header, the label names, the head, a bpe backbone's
 * tokenizer.json, then the backbone's model file as models/checkpoint.h writes it
 * (docs/classify.md). */
#ifndef PKTLM_MODELS_CLSHEAD_H
#define PKTLM_MODELS_CLSHEAD_H
#include <stdint.h>
#include <stddef.h>
#include "models/model.h"
#include "models/checkpoint.h"
#include "corpus/prep.h"
#include "corpus/shard.h"

enum { POOL_MEAN = 0, POOL_LAST = 1, POOL_FIRST = 2 };
const char *cls_pool_name(int pooling);
int cls_pool_parse(const char *s);   /* -1 if unknown */

typedef struct {
    int C, K, pooling;
    float *params;      /* w (K,C) then b (K): one allocation, like the backbone */
    float *grads, *adam_m, *adam_v;   /* the training stage's (same allocation) */
    float *w, *b, *gw, *gb;
    size_t nparams;
    int Bcap;
    float *pooled, *dpooled, *probs;   /* (B,C), (B,C), (B,K) */
} cls_head;

/* Allocate for C channels, K classes; weights small random (seed), bias 0. 0 ok. */
int cls_head_init(cls_head *h, int C, int K, int pooling, uint64_t seed);
int cls_head_alloc_batch(cls_head *h, int B);
void cls_head_free(cls_head *h);

/* the position that "last" / "first" pooling takes from a row of length len */
int cls_pool_pos(int len, int pooling);
void cls_pool_forward(float *pooled, const float *hidden, const int *len, int B, int T, int C, int pooling);
/* probs = softmax(pooled W^T + b) for rows b < B. With y (class or -1 = not counted):
 * returns the weighted mean loss (cw NULL = all 1). */
float cls_head_forward(cls_head *h, const float *pooled, const int *y, const float *cw, int B);

/* A corpus (or classify) sequence -> one model row of T ints. Returns the row length (>= 1). */
int cls_make_row(int *row, const tok_t *tok, size_t n, int T, int max_pkts, const tok_format *f);

/* Rows (B,T) -> rows (B,Tb) in place, Tb = the longest len[b] (>= 1): the padding after every
 * row's last real token is dropped. With a causal backbone and pooling over positions < len,
 * the result is the same as on the full rows and costs Tb/T of it (or less: attention is
 * quadratic). Returns Tb. */
int cls_trim_rows(int *rows, const int *len, int B, int T);

/* Run backbone + head (no loss) on rows (B,T) with lengths len; probabilities in h->probs.
 * The rows are trimmed in place (cls_trim_rows): rebuild them before the next call. */
void cls_predict_batch(model *m, cls_head *h, int *rows, const int *len, int B, int T);

/* Predict the sequences of a shard (labelled or not), B rows at a time cut at T tokens and
 * max_pkts packets: pred[i] = the top class of sequence i, prob[i] its probability (prob may
 * be NULL). Only batches part, part + nparts, part + 2 nparts, ... (of B sequences each) are
 * predicted, the others' entries are left as they are: part 0 of 1 is the whole shard; part r
 * of n is rank r's share in data-parallel validation (the same batches, so the same numbers).
 * The model needs activations for (B, T) and h a batch of B (model_alloc_acts,
 * cls_head_alloc_batch). 0 ok, -1 out of memory (pred, prob untouched). */
int cls_predict_shard(model *m, cls_head *h, const shard *s, int T, int max_pkts, int B, int part, int nparts, int *pred,
                      float *prob);

/* The n most probable classes of p[0..K), most probable first, ties to the lower class;
 * top[r] = -1 for r >= K. n = 1: the predicted class. */
void cls_top(const float *p, int K, int *top, int n);

/* ---- classifier file ---- */
#define CLS_MAGIC 0x4c434b50u   /* "PKCL" */
#define CLS_VERSION 1
typedef struct {
    int K, pooling, max_pkts, seq_len, frozen, pretrained, best_epoch;
    float best_val_f1;
    char **names;       /* K label names */
    char init_path[512];
    /* the training corpus's prep options that decide a flow's tokens (read from its
     * manifest.json by finetune), so that `pktlm classify` builds tokens as prep did and
     * `pktlm eval` can refuse a corpus made differently. prep_known 0: a file written before
     * these slots existed, or a corpus without a manifest: prep is prep's defaults then. */
    int prep_known, prep_secret;   /* prep_secret: the corpus was anonymised with a secret */
    prep_cfg prep;
    /* a --tokens bpe backbone: the bytes of its tokenizer.json, so that `pktlm classify` encodes
     * captures as prep did from this file alone (NULL otherwise). cls_write takes the caller's;
     * cls_load allocates them (cls_info_free) and checks their hash against the backbone's. */
    char *tokenizer;
    size_t tokenizer_len;
} cls_info;
#define CLS_MAX_TOKENIZER ((uint64_t)1 << 30)   /* bytes of an embedded tokenizer.json (Qwen2.5's: 7 MB) */

/* Write a classifier: the head, info and the backbone m speaking v; train_slots: the training
 * stage's header slots of the embedded model file (NULL: none). Atomic (temp file, rename).
 * 0 ok, -1 with err. */
int cls_write(const char *path, const model *m, const model_vocab *v, const ckpt_header *train_slots, const cls_head *h,
              const cls_info *info, char *err, size_t errlen);
/* Loads the backbone (m, what it speaks in v; v may be NULL), the head and info (names
 * allocated; cls_info_free). info->prep.tokens is the backbone's token format. 0 ok, -1 with
 * err naming the file and what is wrong. */
int cls_load(const char *path, model *m, model_vocab *v, cls_head *h, cls_info *info, char *err, size_t errlen);
void cls_info_free(cls_info *info);
#endif
