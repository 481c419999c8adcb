/* Checkpoint reader/writer: layout in docs/checkpoint.md. Assumes a little-endian host for
 * the float payload (x86-64 / arm64), as the shard format does. */
#include "train/checkpoint.h"
#include "corpus/tokens.h"
#include "util/util.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#define HDR_BYTES 1024

enum {
    H_MAGIC = 0, H_VERSION, H_ARCH, H_VOCAB, H_CTX, H_LAYERS, H_DMODEL, H_HEADS, H_KVHEADS, H_DFF, H_TIED, H_DROPOUT,
    H_PAD = 12, H_BOS, H_EOS, H_NLABELS, H_LABELBASE, H_VHASH = 17, H_NPARAMS = 19, H_HASOPT = 21,
    H_STEP = 22, H_TOKENS = 24, H_RNG = 26, H_DEPOCH = 28, H_DINDEX = 30, H_DOFFSET = 32,
    H_BATCH = 34, H_ACCUM, H_SEQLEN, H_WARMUP, H_PACK, H_TOTAL = 39,
    H_LR = 41, H_MINFRAC, H_WD, H_BETA1, H_BETA2, H_EPS, H_CLIP, H_LASTLOSS, H_LASTVAL,
    H_SEED = 50, H_CHECKSUM = 52, H_TASK = 54, H_TFIELD, H_TPRE, H_TBEST, H_TSTEP, H_PREC = 60, H_HDRSUM = 61, H_THETA = 63,
    H_NORMEPS = 70, H_TOKFMT = 96,
    H_EVALEVERY = 97,   /* training fields from 97 on */
    H_DATADIR = 128
};

static void put32(uint8_t *h, int i, uint32_t v) { wr32le(h + 4 * i, v); }
static void put64(uint8_t *h, int i, uint64_t v) { wr32le(h + 4 * i, (uint32_t)v); wr32le(h + 4 * i + 4, (uint32_t)(v >> 32)); }
static void putf(uint8_t *h, int i, float f) { uint32_t u; memcpy(&u, &f, 4); put32(h, i, u); }
static uint32_t get32(const uint8_t *h, int i) { return rd32le(h + 4 * i); }
static uint64_t get64(const uint8_t *h, int i) { return rd64le(h + 4 * i); }
static float getf(const uint8_t *h, int i) { uint32_t u = get32(h, i); float f; memcpy(&f, &u, 4); return f; }

/* FNV-1a over 32-bit words: fast enough for hundreds of MB, catches truncation and flips. */
static uint64_t hash_words(uint64_t h, const float *p, size_t n) {
    const uint32_t *w = (const uint32_t *)(const void *)p;
    for (size_t i = 0; i < n; i++) h = (h ^ w[i]) * 0x100000001b3ull;
    return h;
}
#define HASH0 0xcbf29ce484222325ull

/* FNV-1a over the header bytes with its own slot (61..62) taken as zero: the payload checksum
 * does not cover the header, and a flipped bit there (a step count, the learning rate, the
 * corpus path) would otherwise go unnoticed. 0 in the slot: a file written before it existed. */
static uint64_t header_sum(const uint8_t *h) {
    uint64_t x = HASH0;
    for (int i = 0; i < HDR_BYTES; i++) x = (x ^ (i / 4 == H_HDRSUM || i / 4 == H_HDRSUM + 1 ? 0 : h[i])) * 0x100000001b3ull;
    return x ? x : 1;
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

static void fill_header(uint8_t *h, const model *m, const train_state *st, int has_opt) {
    const model_config *c = &m->cfg;
    memset(h, 0, HDR_BYTES);
    put32(h, H_MAGIC, CKPT_MAGIC); put32(h, H_VERSION, CKPT_VERSION);
    put32(h, H_ARCH, (uint32_t)c->arch); put32(h, H_VOCAB, (uint32_t)c->vocab); put32(h, H_CTX, (uint32_t)c->ctx);
    put32(h, H_LAYERS, (uint32_t)c->layers); put32(h, H_DMODEL, (uint32_t)c->d_model); put32(h, H_HEADS, (uint32_t)c->heads);
    put32(h, H_KVHEADS, (uint32_t)c->kv_heads); put32(h, H_DFF, (uint32_t)c->d_ff); put32(h, H_TIED, (uint32_t)c->tied);
    putf(h, H_DROPOUT, c->dropout);
    putf(h, H_THETA, c->rope_theta); putf(h, H_NORMEPS, c->norm_eps);
    put32(h, H_PAD, (uint32_t)st->pad_id); put32(h, H_BOS, (uint32_t)st->bos_id); put32(h, H_EOS, (uint32_t)st->eos_id);
    put32(h, H_NLABELS, (uint32_t)st->n_labels); put32(h, H_LABELBASE, (uint32_t)st->label_base);
    put64(h, H_VHASH, st->vocab_hash); put64(h, H_NPARAMS, m->nparams); put32(h, H_HASOPT, (uint32_t)has_opt);
    put64(h, H_STEP, (uint64_t)st->step); put64(h, H_TOKENS, st->tokens); put64(h, H_RNG, st->rng);
    put64(h, H_DEPOCH, st->data.epoch); put64(h, H_DINDEX, st->data.index); put64(h, H_DOFFSET, st->data.offset);
    put32(h, H_BATCH, (uint32_t)st->batch); put32(h, H_ACCUM, (uint32_t)st->accum); put32(h, H_SEQLEN, (uint32_t)st->seq_len);
    put32(h, H_WARMUP, (uint32_t)st->warmup); put32(h, H_PACK, (uint32_t)st->pack); put64(h, H_TOTAL, (uint64_t)st->total_steps);
    putf(h, H_LR, st->lr); putf(h, H_MINFRAC, st->min_frac); putf(h, H_WD, st->weight_decay);
    putf(h, H_BETA1, st->beta1); putf(h, H_BETA2, st->beta2); putf(h, H_EPS, st->eps); putf(h, H_CLIP, st->clip);
    putf(h, H_LASTLOSS, st->last_loss); putf(h, H_LASTVAL, st->last_val);
    put64(h, H_SEED, st->seed);
    put32(h, H_TASK, (uint32_t)st->task); put32(h, H_TFIELD, (uint32_t)st->task_field);
    put32(h, H_TPRE, (uint32_t)st->task_pretrained); putf(h, H_TBEST, st->task_best);
    put64(h, H_TSTEP, (uint64_t)st->task_best_step);
    put32(h, H_PREC, (uint32_t)st->precision);
    put32(h, H_TOKFMT, (uint32_t)st->tok_format);
    put32(h, H_EVALEVERY, (uint32_t)st->eval_every);
    size_t n = strnlen(st->data_dir, sizeof st->data_dir - 1);
    memcpy(h + 4 * H_DATADIR, st->data_dir, n);
}

static void parse_header(const uint8_t *h, model_config *c, train_state *st) {
    memset(c, 0, sizeof *c);
    memset(st, 0, sizeof *st);
    c->arch = (int32_t)get32(h, H_ARCH); c->vocab = (int32_t)get32(h, H_VOCAB); c->ctx = (int32_t)get32(h, H_CTX);
    c->layers = (int32_t)get32(h, H_LAYERS); c->d_model = (int32_t)get32(h, H_DMODEL); c->heads = (int32_t)get32(h, H_HEADS);
    c->kv_heads = (int32_t)get32(h, H_KVHEADS); c->d_ff = (int32_t)get32(h, H_DFF); c->tied = (int32_t)get32(h, H_TIED);
    c->dropout = getf(h, H_DROPOUT);
    c->rope_theta = getf(h, H_THETA); c->norm_eps = getf(h, H_NORMEPS);   /* 0 in older files: defaults */
    st->pad_id = (int32_t)get32(h, H_PAD); st->bos_id = (int32_t)get32(h, H_BOS); st->eos_id = (int32_t)get32(h, H_EOS);
    st->n_labels = (int32_t)get32(h, H_NLABELS); st->label_base = (int32_t)get32(h, H_LABELBASE);
    st->vocab_hash = get64(h, H_VHASH); st->has_opt = (int32_t)get32(h, H_HASOPT);
    st->step = (int64_t)get64(h, H_STEP); st->tokens = get64(h, H_TOKENS); st->rng = get64(h, H_RNG);
    st->data.epoch = get64(h, H_DEPOCH); st->data.index = get64(h, H_DINDEX); st->data.offset = get64(h, H_DOFFSET);
    st->batch = (int32_t)get32(h, H_BATCH); st->accum = (int32_t)get32(h, H_ACCUM); st->seq_len = (int32_t)get32(h, H_SEQLEN);
    st->warmup = (int32_t)get32(h, H_WARMUP); st->pack = (int32_t)get32(h, H_PACK); st->total_steps = (int64_t)get64(h, H_TOTAL);
    st->lr = getf(h, H_LR); st->min_frac = getf(h, H_MINFRAC); st->weight_decay = getf(h, H_WD);
    st->beta1 = getf(h, H_BETA1); st->beta2 = getf(h, H_BETA2); st->eps = getf(h, H_EPS); st->clip = getf(h, H_CLIP);
    st->last_loss = getf(h, H_LASTLOSS); st->last_val = getf(h, H_LASTVAL);
    st->seed = get64(h, H_SEED);
    st->task = (int32_t)get32(h, H_TASK); st->task_field = (int32_t)get32(h, H_TFIELD);
    st->task_pretrained = (int32_t)get32(h, H_TPRE); st->task_best = getf(h, H_TBEST);
    st->task_best_step = (int64_t)get64(h, H_TSTEP);
    st->precision = (int32_t)get32(h, H_PREC);
    st->tok_format = (int32_t)get32(h, H_TOKFMT);
    st->eval_every = (int32_t)get32(h, H_EVALEVERY);
    memcpy(st->data_dir, h + 4 * H_DATADIR, sizeof st->data_dir - 1);
}

static int write_body(FILE *f, const model *m, const train_state *st, int has_opt) {
    uint8_t h[HDR_BYTES];
    fill_header(h, m, st, has_opt);
    uint64_t sum = hash_words(HASH0, m->params, m->nparams);
    if (has_opt) { sum = hash_words(sum, m->adam_m, m->nparams); sum = hash_words(sum, m->adam_v, m->nparams); }
    put64(h, H_CHECKSUM, sum);
    put64(h, H_HDRSUM, header_sum(h));
    int ok = fwrite(h, 1, HDR_BYTES, f) == HDR_BYTES && fwrite(m->params, 4, m->nparams, f) == m->nparams;
    if (ok && has_opt)
        ok = fwrite(m->adam_m, 4, m->nparams, f) == m->nparams && fwrite(m->adam_v, 4, m->nparams, f) == m->nparams;
    return ok;
}

uint64_t ckpt_bytes(const model *m, int has_opt) { return HDR_BYTES + (uint64_t)m->nparams * 4 * (has_opt ? 3 : 1); }

int ckpt_write_fp(FILE *f, const model *m, const train_state *st) {
    train_state s2 = *st;
    s2.has_opt = 0;
    return write_body(f, m, &s2, 0) ? 0 : -1;
}

int ckpt_save(const char *path, const model *m, const train_state *st, char *err, size_t errlen) {
    int has_opt = st->has_opt && m->adam_m && m->adam_v;
    atomic_file a;
    FILE *f = atomic_open(&a, path, err, errlen);
    if (!f) return -1;
    if (!write_body(f, m, st, has_opt)) {
        snprintf(err, errlen, "%s: cannot write checkpoint: %s", path, strerror(errno));
        atomic_abort(&a);
        return -1;
    }
    return atomic_commit(&a, err, errlen);
}

static int read_header(FILE *f, const char *path, uint8_t *h, char *err, size_t errlen) {
    size_t got = fread(h, 1, HDR_BYTES, f);
    if (got != HDR_BYTES) { snprintf(err, errlen, "%s: not a checkpoint (truncated header: %zu of %d bytes)", path, got, HDR_BYTES); return -1; }
    if (get32(h, H_MAGIC) != CKPT_MAGIC) { snprintf(err, errlen, "%s: not a pktlm checkpoint (bad magic)", path); return -1; }
    if (get32(h, H_VERSION) != CKPT_VERSION) {
        snprintf(err, errlen, "%s: checkpoint version %u, this pktlm reads version %d", path, get32(h, H_VERSION), CKPT_VERSION);
        return -1;
    }
    if (get64(h, H_HDRSUM) != 0 && get64(h, H_HDRSUM) != header_sum(h)) {
        snprintf(err, errlen, "%s: corrupt checkpoint header (header checksum mismatch in bytes 0..1023)", path);
        return -1;
    }
    return 0;
}

/* Everything the header says, checked before anything is allocated from it: the architecture's
 * own checks (they bound every dimension, so the sizes below cannot overflow), the parameter
 * count the config implies, token ids inside the vocabulary, flags that are 0 or 1. A header
 * that passes describes a model this build can create from exactly n_params floats. */
static int decode_header(const uint8_t *h, const char *path, model_config *c, train_state *st, uint64_t *np,
                         char *err, size_t errlen) {
    parse_header(h, c, st);
    *np = get64(h, H_NPARAMS);
    const model_ops *ops = model_ops_for(c->arch);
    if (!ops) { snprintf(err, errlen, "%s: unknown architecture %d in the header (byte offset %d)", path, c->arch, 4 * H_ARCH); return -1; }
    model_config d = *c;
    model_config_defaults(&d);
    const char *why = ops->check(&d);
    if (why) { snprintf(err, errlen, "%s: bad model config in checkpoint: %s: %s", path, ops->name, why); return -1; }
    size_t want = model_param_count(&d);
    if (*np != want) {
        snprintf(err, errlen, "%s: corrupt header: %llu parameters for a config that has %zu", path, (unsigned long long)*np, want);
        return -1;
    }
    const int V = c->vocab;
    const char *bad = NULL;
    int off = 0;
    if (st->pad_id < 0 || st->pad_id >= V) bad = "pad id", off = H_PAD;
    else if (st->bos_id < 0 || st->bos_id >= V) bad = "bos id", off = H_BOS;
    else if (st->eos_id < 0 || st->eos_id >= V) bad = "eos id", off = H_EOS;
    else if (st->n_labels < 0 || st->n_labels > V) bad = "label count", off = H_NLABELS;
    else if (st->label_base < 0 || st->label_base > V - st->n_labels) bad = "label base", off = H_LABELBASE;
    else if ((uint32_t)st->has_opt > 1) bad = "has_opt flag", off = H_HASOPT;
    else if ((uint32_t)st->task > CKPT_TASK_FIELD) bad = "task", off = H_TASK;
    else if ((uint32_t)st->precision > 1) bad = "precision", off = H_PREC;
    if (bad) {
        snprintf(err, errlen, "%s: corrupt header: %s %d out of range at byte offset %d (vocabulary %d tokens)", path, bad,
                 (int32_t)get32(h, off), 4 * off, V);
        return -1;
    }
    return 0;
}

int ckpt_peek(const char *path, model_config *cfg, train_state *st, uint64_t *nparams, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno)); return -1; }
    uint8_t h[HDR_BYTES];
    int rc = read_header(f, path, h, err, errlen);
    fclose(f);
    if (rc) return -1;
    uint64_t np;
    if (decode_header(h, path, cfg, st, &np, err, errlen)) return -1;
    if (nparams) *nparams = np;
    return 0;
}

static int load_fp(FILE *f, const char *path, uint64_t avail, model *m, train_state *st, int want_opt, char *err, size_t errlen);

/* A checksum proves the bytes are the ones written, not that they are numbers: a run that
 * diverged (or a forged file) stores NaN or infinite weights, and a model made of them outputs
 * NaN without a word. Weights and AdamW's m must be finite, v finite and not negative. */
static int check_finite(const model *m, const char *path, char *err, size_t errlen) {
    const float *arr[3] = { m->params, m->adam_m, m->adam_v };
    const char *what[3] = { "weight", "AdamW m", "AdamW v" };
    for (int a = 0; a < 3; a++) {
        const float *x = arr[a];
        if (!x) continue;
        size_t bad = m->nparams;
        for (size_t i = 0; i < m->nparams; i++)
            if (!isfinite(x[i]) || (a == 2 && x[i] < 0)) { bad = i; break; }
        if (bad == m->nparams) continue;
        const char *name = "?";
        size_t at = bad;
        for (int t = 0; t < m->ntensors; t++) {
            size_t off = (size_t)(model_tensor(m, t) - m->params);
            if (bad >= off && bad < off + m->spec[t].size) { name = m->spec[t].name; at = bad - off; break; }
        }
        snprintf(err, errlen, "%s: corrupt checkpoint: %s %zu of tensor %s (parameter %zu) is %g; a model whose numbers are "
                              "not finite cannot be used (did its training diverge?)", path, what[a], at, name, bad, (double)x[bad]);
        return -1;
    }
    return 0;
}

int ckpt_load(const char *path, model *m, train_state *st, int want_opt, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno)); return -1; }
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) { snprintf(err, errlen, "%s: %s", path, strerror(errno)); fclose(f); return -1; }
    return load_fp(f, path, (uint64_t)sb.st_size, m, st, want_opt, err, errlen);
}

int ckpt_read_fp(FILE *f, const char *path, uint64_t bytes, model *m, train_state *st, char *err, size_t errlen) {
    return load_fp(f, path, bytes, m, st, 0, err, errlen);
}

/* Reads from f's position; avail = bytes of the checkpoint from there. Closes f. */
static int load_fp(FILE *f, const char *path, uint64_t avail, model *m, train_state *st, int want_opt, char *err, size_t errlen) {
    uint8_t h[HDR_BYTES];
    if (read_header(f, path, h, err, errlen)) { fclose(f); return -1; }
    model_config c;
    uint64_t np;
    if (decode_header(h, path, &c, st, &np, err, errlen)) { fclose(f); return -1; }
    /* the size before the allocation: a damaged file costs no memory */
    uint64_t want = HDR_BYTES + np * 4 * (st->has_opt ? 3 : 1);
    if (avail != want) {
        snprintf(err, errlen, "%s: corrupt or truncated checkpoint: %llu bytes, expected %llu", path, (unsigned long long)avail,
                 (unsigned long long)want);
        fclose(f); return -1;
    }
    char e2[256];
    if (model_create(m, &c, e2, sizeof e2) != 0) {
        snprintf(err, errlen, "%s: %s", path, e2);
        fclose(f); return -1;
    }
    int ok = fread(m->params, 4, np, f) == np;
    uint64_t sum = hash_words(HASH0, m->params, np);
    if (ok && st->has_opt) {
        if (want_opt) {
            if (model_alloc_training(m) != 0) { snprintf(err, errlen, "out of memory for optimizer state"); fclose(f); model_free(m); return -1; }
            ok = fread(m->adam_m, 4, np, f) == np && fread(m->adam_v, 4, np, f) == np;
            sum = hash_words(sum, m->adam_m, np);
            sum = hash_words(sum, m->adam_v, np);
        } else {
            /* checksum the optimizer state too, in chunks, without keeping it */
            float buf[4096];
            size_t left = 2 * (size_t)np;
            while (ok && left) {
                size_t k = left < 4096 ? left : 4096;
                ok = fread(buf, 4, k, f) == k;
                sum = hash_words(sum, buf, k);
                left -= k;
            }
        }
    }
    fclose(f);
    if (!ok) { snprintf(err, errlen, "%s: read error", path); model_free(m); return -1; }
    if (sum != get64(h, H_CHECKSUM)) {
        snprintf(err, errlen, "%s: corrupt checkpoint (checksum mismatch)", path);
        model_free(m); return -1;
    }
    if (want_opt && !st->has_opt) {
        snprintf(err, errlen, "%s: has no optimizer state (saved for inference only); cannot resume training", path);
        model_free(m); return -1;
    }
    if (check_finite(m, path, err, errlen) != 0) { model_free(m); return -1; }
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
    } else {
        cfg->vocab = tr->vocab_size;
        model_config_defaults(cfg);
        if (model_create(m, cfg, err, errlen) != 0) return -1;
        model_init_weights(m, seed);
        memset(st, 0, sizeof *st);
        st->pad_id = tr->pad_id; st->bos_id = tr->bos_id; st->eos_id = tr->eos_id; st->n_labels = tr->n_labels;
        st->label_base = tr->label_base; st->tok_format = tr->format;
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
    st->label_base = tr->label_base; st->tok_format = tr->format;
    st->vocab_hash = corpus_vocab_hash(data_dir, tr->vocab_size, tr->pad_id, tr->bos_id, tr->eos_id, tr->n_labels, tr->label_base);
    snprintf(st->data_dir, sizeof st->data_dir, "%s", data_dir);
    return 0;
}
