/* Checkpoints of training runs: the model file (models/checkpoint.h: config, weights, token
 * ids) plus the training stage's header slots (progress, optimizer, schedule, task), read and
 * written here as train_state. docs/checkpoint.md has the layout. */
#ifndef PKTLM_CHECKPOINT_H
#define PKTLM_CHECKPOINT_H
#include <stdint.h>
#include <stddef.h>
#include "models/model.h"
#include "models/checkpoint.h"
#include "train/data.h"

/* Everything about training except the tensors. */
typedef struct {
    /* vocabulary reference: the corpus the model was trained on */
    int32_t pad_id, bos_id, eos_id, n_labels, label_base;
    uint64_t vocab_hash;
    char data_dir[512];
    /* optimisation */
    int32_t batch, accum, seq_len, warmup, pack;
    int64_t total_steps;
    float lr, min_frac, weight_decay, beta1, beta2, eps, clip;
    uint64_t seed;
    /* progress */
    int64_t step;              /* optimizer steps done */
    uint64_t tokens;           /* training tokens consumed */
    uint64_t rng;              /* trainer RNG state (dropout seeds) */
    data_pos data;             /* next training batch */
    float last_loss, last_val;
    int32_t has_opt;           /* AdamW m, v follow the parameters */
    /* what the model was fine-tuned for (header slots 54..59; 0 in older files = LM) */
    int32_t task;              /* CKPT_TASK_LM or CKPT_TASK_FIELD */
    int32_t task_field;        /* FIELD_* of corpus/fields.h (task field) */
    int32_t task_pretrained;   /* started from a pretrained checkpoint */
    float task_best;           /* best validation score (exact match for task field) */
    int64_t task_best_step;    /* optimizer step of that score */
    int32_t tok_format;        /* TOKFMT_* of the corpus (corpus/tokfmt.h), header slot 96; 0 = bytes in older files */
    uint64_t tok_hash;         /* bpe: the tokenizer's hash (slots 100..101) */
    int32_t precision;         /* matrix products of training: NN_FP32 (0) or NN_BF16 (1), header slot 60;
                                  weights, m and v are fp32 either way */
    int32_t unit;              /* PREP_UNIT_* of the corpus (model file slot 98): 2 = capture windows */
    int32_t eval_every;        /* steps between validation losses as given (--eval-every), header slot 97;
                                  0 = the default (20 per run), also in files written before it */
} train_state;

enum { CKPT_TASK_LM = 0, CKPT_TASK_FIELD = 1 };

/* Write model (+ m, v when st->has_opt and the model has them). 0 ok, -1 with err. */
int ckpt_save(const char *path, const model *m, const train_state *st, char *err, size_t errlen);
/* Read the header only (for `pktlm info` and to size the model). */
int ckpt_peek(const char *path, model_config *cfg, train_state *st, uint64_t *nparams, char *err, size_t errlen);
/* Create the model from the checkpoint and load weights (and m, v when want_opt and present;
 * allocates training buffers then). */
int ckpt_load(const char *path, model *m, train_state *st, int want_opt, char *err, size_t errlen);

/* The training stage's header slots of st, for a model file written elsewhere (a classifier
 * file embeds one: models/clshead.h). */
void ckpt_train_header(ckpt_header *h, const train_state *st);
/* what the model speaks, from / into a train_state */
model_vocab train_vocab(const train_state *st);
void train_set_vocab(train_state *st, const model_vocab *v);

/* The files a run writes beside its checkpoint: PATH.ckpt (or PATH) -> PATH + ext ("PATH.csv"). */
void ckpt_side_path(char *buf, size_t n, const char *ckpt, const char *ext);

/* Hash identifying a corpus vocabulary: shard header fields, then the bytes of CORPUS/vocab.json
 * (or vocab.txt) when present. */
/* The backbone a fine-tuning run starts from: the weights of init_path (NULL: a fresh model of
 * cfg, vocabulary from the corpus, initialised with seed), and st describing tr's corpus. An
 * init checkpoint must speak the corpus's token format: the same pad/bos/eos ids and every id
 * below the corpus's first label (fine-tuning rows hold no label token). 0 ok, -1 with err. */
int ckpt_backbone(const char *init_path, const shard *tr, const char *data_dir, model_config *cfg, uint64_t seed,
                  model *m, train_state *st, char *err, size_t errlen);
/* The same, for a checkpoint in another token format (an imported model, docs/interop.md): its
 * body kept, a fresh token embedding (and untied head) for the corpus's vocabulary, initialised
 * from seed at the scale of the old one (model_copy_weights; QwenNet's recipe). */
int ckpt_backbone_new_vocab(const char *init_path, const shard *tr, const char *data_dir, uint64_t seed, model *m,
                            train_state *st, char *err, size_t errlen);
/* 0 when the model of checkpoint ckpt_path (its train_state st, vocabulary vocab) speaks the token
 * format of the corpus shard sh (from shard_path): the same format, pad/bos/eos ids, and every id
 * below the corpus's first label. Else -1 with a message naming both and what differs. */
int ckpt_check_format(const train_state *st, int vocab, const shard *sh, const char *ckpt_path, const char *shard_path,
                      char *err, size_t errlen);
uint64_t corpus_vocab_hash(const char *data_dir, int vocab, int pad, int bos, int eos, int n_labels, int label_base);
#endif
