/* Training checkpoints (checkpoint.h): the model file of models/checkpoint.c plus the training
 * stage's header slots. */
#include "train/checkpoint.h"
#include "corpus/tokens.h"
#include "util/util.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* header slots of the training stage (the model file owns the rest: models/checkpoint.h) */
enum {
    H_STEP = 22, H_TOKENS = 24, H_RNG = 26, H_DEPOCH = 28, H_DINDEX = 30, H_DOFFSET = 32,
    H_BATCH = 34, H_ACCUM, H_SEQLEN, H_WARMUP, H_PACK, H_TOTAL = 39,
    H_LR = 41, H_MINFRAC, H_WD, H_BETA1, H_BETA2, H_EPS, H_CLIP, H_LASTLOSS, H_LASTVAL,
    H_SEED = 50, H_TASK = 54, H_TFIELD, H_TPRE, H_TBEST, H_TSTEP, H_PREC = 60,
    H_EVALEVERY = 97   /* 96 is the model file's token format */
};

#define HASH0 0xcbf29ce484222325ull

model_vocab train_vocab(const train_state *st) {
    model_vocab v;
    memset(&v, 0, sizeof v);
    v.pad_id = st->pad_id; v.bos_id = st->bos_id; v.eos_id = st->eos_id; v.n_labels = st->n_labels;
    v.label_base = st->label_base; v.vocab_hash = st->vocab_hash; v.tok_format = st->tok_format; v.tok_hash = st->tok_hash; v.unit = st->unit;
    memcpy(v.data_dir, st->data_dir, sizeof v.data_dir);
    v.data_dir[sizeof v.data_dir - 1] = 0;
    return v;
}
void train_set_vocab(train_state *st, const model_vocab *v) {
    st->pad_id = v->pad_id; st->bos_id = v->bos_id; st->eos_id = v->eos_id; st->n_labels = v->n_labels;
    st->label_base = v->label_base; st->vocab_hash = v->vocab_hash; st->tok_format = v->tok_format; st->tok_hash = v->tok_hash; st->unit = v->unit;
    memcpy(st->data_dir, v->data_dir, sizeof st->data_dir);
    st->data_dir[sizeof st->data_dir - 1] = 0;
}

uint64_t corpus_vocab_hash(const char *data_dir, int vocab, int pad, int bos, int eos, int n_labels, int label_base) {
    uint64_t h = HASH0;
    int32_t f[6] = { vocab, pad, bos, eos, n_labels, label_base };
    for (int i = 0; i < 6; i++) h = (h ^ (uint32_t)f[i]) * 0x100000001b3ull;
    /* the corpus's vocabulary file (pktlm prep writes vocab.json; vocab.txt accepted too) */
    const char *names[2] = { "vocab.json", "vocab.txt" };
    for (int k = 0; k < 2; k++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", data_dir, names[k]);
        FILE *fp = fopen(path, "rb");
        if (!fp) continue;
        int c;
        while ((c = getc(fp)) != EOF) h = (h ^ (uint8_t)c) * 0x100000001b3ull;
        fclose(fp);
        break;
    }
    return h;
}

void ckpt_train_header(ckpt_header *h, const train_state *st) {
    memset(h, 0, sizeof *h);
    ckpt_put64(h, H_STEP, (uint64_t)st->step); ckpt_put64(h, H_TOKENS, st->tokens); ckpt_put64(h, H_RNG, st->rng);
    ckpt_put64(h, H_DEPOCH, st->data.epoch); ckpt_put64(h, H_DINDEX, st->data.index); ckpt_put64(h, H_DOFFSET, st->data.offset);
    ckpt_put32(h, H_BATCH, (uint32_t)st->batch); ckpt_put32(h, H_ACCUM, (uint32_t)st->accum);
    ckpt_put32(h, H_SEQLEN, (uint32_t)st->seq_len); ckpt_put32(h, H_WARMUP, (uint32_t)st->warmup);
    ckpt_put32(h, H_PACK, (uint32_t)st->pack); ckpt_put64(h, H_TOTAL, (uint64_t)st->total_steps);
    ckpt_putf(h, H_LR, st->lr); ckpt_putf(h, H_MINFRAC, st->min_frac); ckpt_putf(h, H_WD, st->weight_decay);
    ckpt_putf(h, H_BETA1, st->beta1); ckpt_putf(h, H_BETA2, st->beta2); ckpt_putf(h, H_EPS, st->eps);
    ckpt_putf(h, H_CLIP, st->clip); ckpt_putf(h, H_LASTLOSS, st->last_loss); ckpt_putf(h, H_LASTVAL, st->last_val);
    ckpt_put64(h, H_SEED, st->seed);
    ckpt_put32(h, H_TASK, (uint32_t)st->task); ckpt_put32(h, H_TFIELD, (uint32_t)st->task_field);
    ckpt_put32(h, H_TPRE, (uint32_t)st->task_pretrained); ckpt_putf(h, H_TBEST, st->task_best);
    ckpt_put64(h, H_TSTEP, (uint64_t)st->task_best_step);
    ckpt_put32(h, H_PREC, (uint32_t)st->precision);
    ckpt_put32(h, H_EVALEVERY, (uint32_t)st->eval_every);
}

/* The training slots of a header the model file has already checked; 0 ok, -1 with err naming
 * the byte offset of a value out of range. */
static int get_train(const ckpt_header *h, const model_vocab *v, train_state *st, const char *path, char *err, size_t errlen) {
    memset(st, 0, sizeof *st);
    train_set_vocab(st, v);
    st->has_opt = ckpt_has_opt(h);
    st->step = (int64_t)ckpt_get64(h, H_STEP); st->tokens = ckpt_get64(h, H_TOKENS); st->rng = ckpt_get64(h, H_RNG);
    st->data.epoch = ckpt_get64(h, H_DEPOCH); st->data.index = ckpt_get64(h, H_DINDEX); st->data.offset = ckpt_get64(h, H_DOFFSET);
    st->batch = (int32_t)ckpt_get32(h, H_BATCH); st->accum = (int32_t)ckpt_get32(h, H_ACCUM);
    st->seq_len = (int32_t)ckpt_get32(h, H_SEQLEN); st->warmup = (int32_t)ckpt_get32(h, H_WARMUP);
    st->pack = (int32_t)ckpt_get32(h, H_PACK); st->total_steps = (int64_t)ckpt_get64(h, H_TOTAL);
    st->lr = ckpt_getf(h, H_LR); st->min_frac = ckpt_getf(h, H_MINFRAC); st->weight_decay = ckpt_getf(h, H_WD);
    st->beta1 = ckpt_getf(h, H_BETA1); st->beta2 = ckpt_getf(h, H_BETA2); st->eps = ckpt_getf(h, H_EPS);
    st->clip = ckpt_getf(h, H_CLIP); st->last_loss = ckpt_getf(h, H_LASTLOSS); st->last_val = ckpt_getf(h, H_LASTVAL);
    st->seed = ckpt_get64(h, H_SEED);
    st->task = (int32_t)ckpt_get32(h, H_TASK); st->task_field = (int32_t)ckpt_get32(h, H_TFIELD);
    st->task_pretrained = (int32_t)ckpt_get32(h, H_TPRE); st->task_best = ckpt_getf(h, H_TBEST);
    st->task_best_step = (int64_t)ckpt_get64(h, H_TSTEP);
    st->precision = (int32_t)ckpt_get32(h, H_PREC);
    st->eval_every = (int32_t)ckpt_get32(h, H_EVALEVERY);
    const char *bad = NULL;
    int off = 0;
    if ((uint32_t)st->task > CKPT_TASK_FIELD) bad = "task", off = H_TASK;
    else if ((uint32_t)st->precision > 1) bad = "precision", off = H_PREC;
    if (bad) {
        snprintf(err, errlen, "%s: corrupt header: %s %d out of range at byte offset %d", path, bad, (int32_t)ckpt_get32(h, off),
                 4 * off);
        return -1;
    }
    return 0;
}

int ckpt_save(const char *path, const model *m, const train_state *st, char *err, size_t errlen) {
    ckpt_header h;
    ckpt_train_header(&h, st);
    model_vocab v = train_vocab(st);
    return ckpt_save_model(path, m, &v, &h, st->has_opt, err, errlen);
}

int ckpt_peek(const char *path, model_config *cfg, train_state *st, uint64_t *nparams, char *err, size_t errlen) {
    ckpt_header h;
    model_vocab v;
    if (ckpt_peek_model(path, cfg, &v, &h, nparams, err, errlen)) return -1;
    return get_train(&h, &v, st, path, err, errlen);
}

int ckpt_load(const char *path, model *m, train_state *st, int want_opt, char *err, size_t errlen) {
    ckpt_header h;
    model_vocab v;
    if (ckpt_load_model(path, m, &v, &h, want_opt, err, errlen)) return -1;
    if (get_train(&h, &v, st, path, err, errlen)) { model_free(m); return -1; }
    return 0;
}

int ckpt_check_format(const train_state *st, int vocab, const shard *sh, const char *ckpt_path, const char *shard_path,
                      char *err, size_t errlen) {
    const tok_format *mf = tokfmt_get(st->tok_format), *cf = tokfmt_get(sh->format);
    if (st->tok_format != sh->format) {
        snprintf(err, errlen, "%s was trained on '%s' tokens but %s holds '%s' tokens (pktlm prep --tokens): a model reads "
                              "only its own token format; prep the captures with --tokens %s, or train a model on this corpus",
                 ckpt_path, mf ? mf->name : "unknown", shard_path, cf ? cf->name : "unknown", mf ? mf->name : "?");
        return -1;
    }
    if (st->tok_format == TOKFMT_BPE) {
        /* the same tokenizer.json; pktlm's own ids (pad, labels) after the tokenizer's are
         * the corpus's, given rows by ckpt_backbone where the model has none */
        if (st->tok_hash != sh->tok_hash || st->bos_id != sh->bos_id || st->eos_id != sh->eos_id) {
            snprintf(err, errlen, "%s speaks another tokenizer than %s (tokenizer hash %016llx vs %016llx, <|endoftext|> %d vs "
                                  "%d): prep the corpus with --tokenizer of the model's own tokenizer.json",
                     ckpt_path, shard_path, (unsigned long long)st->tok_hash, (unsigned long long)sh->tok_hash, st->eos_id,
                     sh->eos_id);
            return -1;
        }
        return 0;
    }
    if (st->pad_id != sh->pad_id || st->bos_id != sh->bos_id || st->eos_id != sh->eos_id || sh->label_base > vocab) {
        snprintf(err, errlen, "%s was trained on another token format (vocabulary %d, pad/bos/eos %d/%d/%d); %s has "
                              "%d token ids before its labels, pad/bos/eos %d/%d/%d (a model from `pktlm import` needs "
                              "--new-embeddings: docs/interop.md)",
                 ckpt_path, vocab, st->pad_id, st->bos_id, st->eos_id, shard_path, sh->label_base, sh->pad_id, sh->bos_id,
                 sh->eos_id);
        return -1;
    }
    return 0;
}

int ckpt_backbone(const char *init_path, const shard *tr, const char *data_dir, model_config *cfg, uint64_t seed,
                  model *m, train_state *st, char *err, size_t errlen) {
    if (init_path) {
        if (ckpt_load(init_path, m, st, 0, err, errlen) != 0) return -1;
        char tp[600];
        snprintf(tp, sizeof tp, "%s/train.tok", data_dir);
        if (ckpt_check_format(st, m->cfg.vocab, tr, init_path, tp, err, errlen) != 0) { model_free(m); return -1; }
        if (tr->format == TOKFMT_BPE || (st->n_labels == 0 && m->cfg.vocab == tr->label_base)) {
            /* pad and labels come after the tokenizer's ids: a model whose vocabulary ends with
             * the tokenizer's (GPT-2) gets fresh rows for them, the rest of it as it was (what
             * Hugging Face's resize_token_embeddings does); Qwen2.5's padded rows are used as
             * they are. So do the labels of a model that has none (NetGPT's, imported with
             * --netgpt-vocab) */
            if (m->cfg.vocab < tr->vocab_size) {
                model g;
                model_config c = m->cfg;
                c.vocab = tr->vocab_size;
                if (model_create(&g, &c, err, errlen) != 0) { model_free(m); return -1; }
                model_init_weights(&g, seed);
                model_copy_weights(&g, m, 0);
                model_free(m);
                *m = g;
            }
            st->pad_id = tr->pad_id; st->n_labels = tr->n_labels; st->label_base = tr->label_base;
            st->vocab_hash = corpus_vocab_hash(data_dir, tr->vocab_size, tr->pad_id, tr->bos_id, tr->eos_id, tr->n_labels, tr->label_base);
        }
    } else {
        cfg->vocab = tr->vocab_size;
        model_config_defaults(cfg);
        if (model_create(m, cfg, err, errlen) != 0) return -1;
        model_init_weights(m, seed);
        memset(st, 0, sizeof *st);
        st->pad_id = tr->pad_id; st->bos_id = tr->bos_id; st->eos_id = tr->eos_id; st->n_labels = tr->n_labels;
        st->label_base = tr->label_base; st->tok_format = tr->format; st->tok_hash = tr->tok_hash;
        st->vocab_hash = corpus_vocab_hash(data_dir, tr->vocab_size, tr->pad_id, tr->bos_id, tr->eos_id, tr->n_labels, tr->label_base);
    }
    snprintf(st->data_dir, sizeof st->data_dir, "%s", data_dir);
    st->has_opt = 0;
    return 0;
}

int ckpt_backbone_new_vocab(const char *init_path, const shard *tr, const char *data_dir, uint64_t seed, model *m,
                            train_state *st, char *err, size_t errlen) {
    model src;
    train_state s0;
    if (ckpt_load(init_path, &src, &s0, 0, err, errlen) != 0) return -1;
    model_config c = src.cfg;
    c.vocab = tr->vocab_size;
    int rc = model_create(m, &c, err, errlen);
    if (rc == 0) {
        model_init_weights(m, seed);
        if (model_copy_weights(m, &src, 1) != m->ntensors) {
            snprintf(err, errlen, "%s: its tensors do not match its own architecture", init_path);
            model_free(m);
            rc = -1;
        }
    }
    model_free(&src);
    if (rc) return -1;
    memset(st, 0, sizeof *st);
    st->pad_id = tr->pad_id; st->bos_id = tr->bos_id; st->eos_id = tr->eos_id; st->n_labels = tr->n_labels;
    st->label_base = tr->label_base; st->tok_format = tr->format; st->tok_hash = tr->tok_hash;
    st->vocab_hash = corpus_vocab_hash(data_dir, tr->vocab_size, tr->pad_id, tr->bos_id, tr->eos_id, tr->n_labels, tr->label_base);
    snprintf(st->data_dir, sizeof st->data_dir, "%s", data_dir);
    return 0;
}

void ckpt_side_path(char *buf, size_t n, const char *ckpt, const char *ext) {
    size_t L = strlen(ckpt);
    if (L > 5 && !strcmp(ckpt + L - 5, ".ckpt")) L -= 5;
    snprintf(buf, n, "%.*s%s", (int)L, ckpt, ext);
}
