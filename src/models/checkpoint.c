/* Model file reader/writer (checkpoint.h; layout in docs/checkpoint.md). Assumes a
 * little-endian host for the float payload (x86-64 / arm64), as the shard format does. The
 * config fields are written and read through the field table (model_fields[]), so a new
 * field needs no change here. */
#include "models/checkpoint.h"
#include "corpus/tokfmt.h"
#include "corpus/bigrams.h"
#include "util/util.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define HDR CKPT_HDR_BYTES
enum { H_MAGIC = 0, H_VERSION = 1 };

void ckpt_put32(ckpt_header *h, int i, uint32_t v) { wr32le(h->b + 4 * i, v); }
void ckpt_put64(ckpt_header *h, int i, uint64_t v) { ckpt_put32(h, i, (uint32_t)v); ckpt_put32(h, i + 1, (uint32_t)(v >> 32)); }
void ckpt_putf(ckpt_header *h, int i, float f) { uint32_t u; memcpy(&u, &f, 4); ckpt_put32(h, i, u); }
uint32_t ckpt_get32(const ckpt_header *h, int i) { return rd32le(h->b + 4 * i); }
uint64_t ckpt_get64(const ckpt_header *h, int i) { return rd64le(h->b + 4 * i); }
float ckpt_getf(const ckpt_header *h, int i) { uint32_t u = ckpt_get32(h, i); float f; memcpy(&f, &u, 4); return f; }
int ckpt_has_opt(const ckpt_header *h) { return ckpt_get32(h, CKPT_H_HASOPT) == 1; }

/* FNV-1a over 32-bit words: fast enough for hundreds of MB, catches truncation and flips. */
static uint64_t hash_words(uint64_t x, const float *p, size_t n) {
    const uint32_t *w = (const uint32_t *)(const void *)p;
    for (size_t i = 0; i < n; i++) x = (x ^ w[i]) * 0x100000001b3ull;
    return x;
}
#define HASH0 0xcbf29ce484222325ull

/* FNV-1a over the header bytes with its own slot (61..62) taken as zero: the payload checksum
 * does not cover the header, and a flipped bit there (a step count, the learning rate, the
 * corpus path) would otherwise go unnoticed. 0 in the slot: a file written before it existed. */
static uint64_t header_sum(const ckpt_header *h) {
    uint64_t x = HASH0;
    for (int i = 0; i < HDR; i++)
        x = (x ^ (i / 4 == CKPT_H_HDRSUM || i / 4 == CKPT_H_HDRSUM + 1 ? 0 : h->b[i])) * 0x100000001b3ull;
    return x ? x : 1;
}

static void put_model(ckpt_header *h, const model *m, const model_vocab *v, int has_opt) {
    ckpt_put32(h, H_MAGIC, CKPT_MAGIC); ckpt_put32(h, H_VERSION, CKPT_VERSION);
    for (int i = 0; i < model_nfields; i++) {
        const model_field *f = &model_fields[i];
        double x = model_field_get(&m->cfg, f);
        if (f->type == MF_FLOAT) ckpt_putf(h, f->slot, (float)x);
        else ckpt_put32(h, f->slot, (uint32_t)(int32_t)x);
    }
    ckpt_put32(h, CKPT_H_PAD, (uint32_t)v->pad_id); ckpt_put32(h, CKPT_H_BOS, (uint32_t)v->bos_id);
    ckpt_put32(h, CKPT_H_EOS, (uint32_t)v->eos_id); ckpt_put32(h, CKPT_H_NLABELS, (uint32_t)v->n_labels);
    ckpt_put32(h, CKPT_H_LABELBASE, (uint32_t)v->label_base); ckpt_put64(h, CKPT_H_VHASH, v->vocab_hash);
    ckpt_put64(h, CKPT_H_NPARAMS, m->nparams); ckpt_put32(h, CKPT_H_HASOPT, (uint32_t)has_opt);
    ckpt_put32(h, CKPT_H_TOKFMT, (uint32_t)v->tok_format); ckpt_put64(h, CKPT_H_TOKHASH, v->tok_hash);
    ckpt_put32(h, CKPT_H_UNIT, (uint32_t)v->unit);
    memset(h->b + 4 * CKPT_H_DATADIR, 0, HDR - 4 * CKPT_H_DATADIR);
    memcpy(h->b + 4 * CKPT_H_DATADIR, v->data_dir, strnlen(v->data_dir, sizeof v->data_dir - 1));
}

static void get_model(const ckpt_header *h, model_config *c, model_vocab *v) {
    memset(c, 0, sizeof *c);
    memset(v, 0, sizeof *v);
    for (int i = 0; i < model_nfields; i++) {
        const model_field *f = &model_fields[i];
        model_field_set(c, f, f->type == MF_FLOAT ? (double)ckpt_getf(h, f->slot) : (double)(int32_t)ckpt_get32(h, f->slot));
    }
    for (int i = 0; i < model_nfields; i++) {   /* 0 in a file written before the field: what it meant then */
        const model_field *f = &model_fields[i];
        if (f->old && c->arch > 0 && c->arch < ARCH_MAX && (f->archs & MF_ARCHES(c->arch)) && model_field_get(c, f) == 0) model_field_set(c, f, f->old);
    }
    v->pad_id = (int32_t)ckpt_get32(h, CKPT_H_PAD); v->bos_id = (int32_t)ckpt_get32(h, CKPT_H_BOS);
    v->eos_id = (int32_t)ckpt_get32(h, CKPT_H_EOS); v->n_labels = (int32_t)ckpt_get32(h, CKPT_H_NLABELS);
    v->label_base = (int32_t)ckpt_get32(h, CKPT_H_LABELBASE); v->vocab_hash = ckpt_get64(h, CKPT_H_VHASH);
    v->tok_format = (int32_t)ckpt_get32(h, CKPT_H_TOKFMT); v->tok_hash = ckpt_get64(h, CKPT_H_TOKHASH);
    v->unit = (int32_t)ckpt_get32(h, CKPT_H_UNIT);
    memcpy(v->data_dir, h->b + 4 * CKPT_H_DATADIR, sizeof v->data_dir - 1);
}

int ckpt_write_model(FILE *f, const model *m, const model_vocab *v, const ckpt_header *th, int has_opt) {
    has_opt = has_opt && m->adam_m && m->adam_v;
    ckpt_header h;
    if (th) h = *th; else memset(&h, 0, sizeof h);
    put_model(&h, m, v, has_opt);
    uint64_t sum = hash_words(HASH0, m->params, m->nparams);
    if (has_opt) { sum = hash_words(sum, m->adam_m, m->nparams); sum = hash_words(sum, m->adam_v, m->nparams); }
    ckpt_put64(&h, CKPT_H_CHECKSUM, sum);
    ckpt_put64(&h, CKPT_H_HDRSUM, 0);
    ckpt_put64(&h, CKPT_H_HDRSUM, header_sum(&h));
    int ok = fwrite(h.b, 1, HDR, f) == HDR && fwrite(m->params, 4, m->nparams, f) == m->nparams;
    if (ok && has_opt)
        ok = fwrite(m->adam_m, 4, m->nparams, f) == m->nparams && fwrite(m->adam_v, 4, m->nparams, f) == m->nparams;
    return ok ? 0 : -1;
}

int ckpt_save_model(const char *path, const model *m, const model_vocab *v, const ckpt_header *h, int has_opt, char *err,
                    size_t errlen) {
    atomic_file a;
    FILE *f = atomic_open(&a, path, err, errlen);
    if (!f) return -1;
    if (ckpt_write_model(f, m, v, h, has_opt) != 0) {
        snprintf(err, errlen, "%s: cannot write checkpoint: %s", path, strerror(errno));
        atomic_abort(&a);
        return -1;
    }
    return atomic_commit(&a, err, errlen);
}

uint64_t ckpt_bytes(const model *m, int has_opt) { return HDR + (uint64_t)m->nparams * 4 * (has_opt ? 3 : 1); }

static int read_header(FILE *f, const char *path, ckpt_header *h, char *err, size_t errlen) {
    size_t got = fread(h->b, 1, HDR, f);
    if (got != HDR) { snprintf(err, errlen, "%s: not a checkpoint (truncated header: %zu of %d bytes)", path, got, HDR); return -1; }
    if (ckpt_get32(h, H_MAGIC) != CKPT_MAGIC) { snprintf(err, errlen, "%s: not a pktlm checkpoint (bad magic)", path); return -1; }
    if (ckpt_get32(h, H_VERSION) != CKPT_VERSION) {
        snprintf(err, errlen, "%s: checkpoint version %u, this pktlm reads version %d", path, ckpt_get32(h, H_VERSION), CKPT_VERSION);
        return -1;
    }
    if (ckpt_get64(h, CKPT_H_HDRSUM) != 0 && ckpt_get64(h, CKPT_H_HDRSUM) != header_sum(h)) {
        snprintf(err, errlen, "%s: corrupt checkpoint header (header checksum mismatch in bytes 0..1023)", path);
        return -1;
    }
    return 0;
}

/* Everything the model's slots say, checked before anything is allocated from them: each
 * config field against its range (the table's, which bounds every dimension, so the sizes
 * below cannot overflow), the architecture's own checks, the parameter count the config
 * implies, token ids inside the vocabulary, has_opt 0 or 1. A header that passes describes a
 * model this build can create from exactly n_params floats. */
static int decode_header(const ckpt_header *h, const char *path, model_config *c, model_vocab *v, uint64_t *np,
                         char *err, size_t errlen) {
    get_model(h, c, v);
    *np = ckpt_get64(h, CKPT_H_NPARAMS);
    const model_ops *ops = model_ops_for(c->arch);
    if (!ops) {
        if (c->arch > 0 && c->arch < ARCH_MAX)
            snprintf(err, errlen, "%s: architecture %s is not built into this pktlm", path, model_arch_name(c->arch));
        else snprintf(err, errlen, "%s: unknown architecture %d in the header (byte offset 8)", path, c->arch);
        return -1;
    }
    for (int i = 0; i < model_nfields; i++) {   /* a field this backbone does not read is 0 */
        const model_field *f = &model_fields[i];
        if (!(f->archs & MF_ARCHES(c->arch)) && model_field_get(c, f) != 0) {
            snprintf(err, errlen, "%s: corrupt header: %s %g at byte offset %d is not a setting of %s", path, f->name,
                     model_field_get(c, f), 4 * f->slot, ops->name);
            return -1;
        }
    }
    model_config d = *c;
    model_config_defaults(&d);
    for (int i = 0; i < model_nfields; i++) {
        const model_field *f = &model_fields[i];
        double x = model_field_get(&d, f);
        if ((f->archs & MF_ARCHES(d.arch)) && !(x >= f->lo && x <= f->hi)) {
            snprintf(err, errlen, "%s: bad model config in checkpoint: %s %g out of range %g..%g at byte offset %d", path, f->name,
                     x, f->lo, f->hi, 4 * f->slot);
            return -1;
        }
    }
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
    if (v->pad_id < 0 || v->pad_id >= V) bad = "pad id", off = CKPT_H_PAD;
    else if (v->bos_id < 0 || v->bos_id >= V) bad = "bos id", off = CKPT_H_BOS;
    else if (v->eos_id < 0 || v->eos_id >= V) bad = "eos id", off = CKPT_H_EOS;
    else if (v->n_labels < 0 || v->n_labels > V) bad = "label count", off = CKPT_H_NLABELS;
    else if (v->label_base < 0 || v->label_base > V - v->n_labels) bad = "label base", off = CKPT_H_LABELBASE;
    else if (ckpt_get32(h, CKPT_H_HASOPT) > 1) bad = "has_opt flag", off = CKPT_H_HASOPT;
    else if (ckpt_get32(h, CKPT_H_UNIT) > 2) bad = "sequence unit", off = CKPT_H_UNIT;
    if (bad) {
        snprintf(err, errlen, "%s: corrupt header: %s %d out of range at byte offset %d (vocabulary %d tokens)", path, bad,
                 (int32_t)ckpt_get32(h, off), 4 * off, V);
        return -1;
    }
    if (v->tok_format == TOKFMT_BIGRAMS && v->eos_id != BIG_SEP) {   /* corpus/bigrams.h: [SEP] was 3 */
        snprintf(err, errlen, "%s: a model of the bigrams token format from before pktlm took NetGPT's order of [SEP] "
                 "and [UNK] (its [SEP] is %d, now %d): its rows do not match today's ids; train it again on a corpus "
                 "made with `pktlm prep CAPTURES --tokens bigrams`", path, v->eos_id, BIG_SEP);
        return -1;
    }
    return 0;
}

int ckpt_peek_model(const char *path, model_config *cfg, model_vocab *v, ckpt_header *hout, uint64_t *nparams, char *err,
                    size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno)); return -1; }
    ckpt_header h;
    int rc = read_header(f, path, &h, err, errlen);
    fclose(f);
    if (rc) return -1;
    uint64_t np;
    model_vocab vv;
    if (decode_header(&h, path, cfg, v ? v : &vv, &np, err, errlen)) return -1;
    if (nparams) *nparams = np;
    if (hout) *hout = h;
    return 0;
}

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

int ckpt_load_model(const char *path, model *m, model_vocab *v, ckpt_header *h, int want_opt, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno)); return -1; }
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) { snprintf(err, errlen, "%s: %s", path, strerror(errno)); fclose(f); return -1; }
    return ckpt_read_model_fp(f, path, (uint64_t)sb.st_size, m, v, h, want_opt, err, errlen);
}

/* Reads from f's position; avail = bytes of the checkpoint from there. Closes f. */
int ckpt_read_model_fp(FILE *f, const char *path, uint64_t avail, model *m, model_vocab *vout, ckpt_header *hout,
                       int want_opt, char *err, size_t errlen) {
    ckpt_header h;
    model_vocab vv, *v = vout ? vout : &vv;
    memset(m, 0, sizeof *m);
    if (read_header(f, path, &h, err, errlen)) { fclose(f); return -1; }
    model_config c;
    uint64_t np;
    if (decode_header(&h, path, &c, v, &np, err, errlen)) { fclose(f); return -1; }
    const int has_opt = ckpt_has_opt(&h);
    /* the size before the allocation: a damaged file costs no memory */
    uint64_t want = HDR + np * 4 * (has_opt ? 3 : 1);
    if (avail != want) {
        snprintf(err, errlen, "%s: corrupt or truncated checkpoint: %llu bytes, expected %llu", path, (unsigned long long)avail,
                 (unsigned long long)want);
        fclose(f); return -1;
    }
    if (want_opt && !has_opt) {
        snprintf(err, errlen, "%s: has no optimizer state (saved for inference only); cannot resume training", path);
        fclose(f); return -1;
    }
    char e2[256];
    if (model_create(m, &c, e2, sizeof e2) != 0) {
        snprintf(err, errlen, "%s: %s", path, e2);
        fclose(f); return -1;
    }
    int ok = fread(m->params, 4, np, f) == np;
    uint64_t sum = hash_words(HASH0, m->params, np);
    if (ok && has_opt) {
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
    if (sum != ckpt_get64(&h, CKPT_H_CHECKSUM)) {
        snprintf(err, errlen, "%s: corrupt checkpoint (checksum mismatch)", path);
        model_free(m); return -1;
    }
    if (check_finite(m, path, err, errlen) != 0) { model_free(m); return -1; }
    if (hout) *hout = h;
    return 0;
}
