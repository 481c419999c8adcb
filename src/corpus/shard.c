#include "corpus/shard.h"
#include "corpus/bpe.h"
#include "corpus/bigrams.h"
#include "util/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#define HDR_INTS 256

int shard_check_same_format(const shard *a, const shard *b, const char *b_path, char *err, size_t errlen) {
    if (a->format == b->format && a->vocab_size == b->vocab_size && a->pad_id == b->pad_id && a->bos_id == b->bos_id && a->eos_id == b->eos_id &&
        a->n_labels == b->n_labels && a->label_base == b->label_base && a->tok_hash == b->tok_hash && a->pkt_id == b->pkt_id)
        return 0;
    if (a->format == b->format && (a->tok_hash != b->tok_hash || a->pkt_id != b->pkt_id)) {
        snprintf(err, errlen, "%s does not belong with train.tok: made with another tokenizer.json (hash %016llx, train.tok's "
                              "%016llx); were they written by the same `pktlm prep`?", b_path,
                 (unsigned long long)b->tok_hash, (unsigned long long)a->tok_hash);
        return -1;
    }
    if (a->format != b->format) {
        const tok_format *fa = tokfmt_get(a->format), *fb = tokfmt_get(b->format);
        snprintf(err, errlen, "%s does not belong with train.tok: its tokens are in format '%s', train.tok's in '%s'; "
                              "were they written by the same `pktlm prep`?", b_path, fb ? fb->name : "?", fa ? fa->name : "?");
        return -1;
    }
    snprintf(err, errlen, "%s does not belong with train.tok: vocabulary %d tokens, pad/bos/eos %d/%d/%d, %d labels "
                          "(train.tok: %d tokens, %d/%d/%d, %d labels); were they written by the same `pktlm prep`?",
             b_path, b->vocab_size, b->pad_id, b->bos_id, b->eos_id, b->n_labels, a->vocab_size, a->pad_id, a->bos_id,
             a->eos_id, a->n_labels);
    return -1;
}

const tok_format *shard_format(const shard *s, tok_format *buf) {
    if (s->format != TOKFMT_BPE) return tokfmt_get(s->format);
    tokfmt_bpe(buf, s->pad_id, s->eos_id, s->pkt_id);   /* the tokenizer's ids end where <pad> is */
    return buf;
}

void shard_reader_init(tok_reader *r, const shard *s, const shard_seq *q, int64_t t0_ns) {
    tok_reader_init_fmt(r, s->format, s->tokens + q->off, q->len, t0_ns);
    if (s->format == TOKFMT_BPE) {
        tokfmt_bpe(&r->tfb, s->pad_id, s->eos_id, s->pkt_id);
        tok_reader_set_bpe(r, s->bpe, &r->tfb);
    }
}

/* Open path and read and check its header into s (no tokens): the stream is at the first
 * token, *width the bytes per id. NULL with err. */
static FILE *open_header(shard *s, const char *path, int *width, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(err, errlen, "%s: cannot open: %m", path); return NULL; }
    uint8_t h[HDR_INTS * 4];
    size_t got = fread(h, 1, sizeof h, f);
    if (got != sizeof h) { snprintf(err, errlen, "%s: truncated header at byte offset %zu (need %zu)", path, got, sizeof h); fclose(f); return NULL; }
    if (rd32le(h) != SHARD_MAGIC) { snprintf(err, errlen, "%s: not a pktlm token shard (bad magic at byte offset 0)", path); fclose(f); return NULL; }
    s->version = (int)rd32le(h + 4);
    if (s->version != 1 && s->version != SHARD_VERSION) { snprintf(err, errlen, "%s: shard version %u, this pktlm reads versions 1 and %d (re-run pktlm prep)", path, rd32le(h + 4), SHARD_VERSION); fclose(f); return NULL; }
    /* version 1: byte format, 16-bit ids */
    s->format = s->version == 1 ? TOKFMT_BYTES : (int)rd32le(h + 52);
    int w = s->version == 1 ? 2 : (int)rd32le(h + 56);
    if (!tokfmt_get(s->format)) { snprintf(err, errlen, "%s: unknown token format %d at byte offset 52 (a newer pktlm?)", path, s->format); fclose(f); return NULL; }
    if (w != 2 && w != 4) { snprintf(err, errlen, "%s: corrupt header: %d bytes per token id at byte offset 56 (2 or 4)", path, w); fclose(f); return NULL; }
    s->vocab_size = (int)rd32le(h + 8); s->pad_id = (int)rd32le(h + 12); s->bos_id = (int)rd32le(h + 16);
    s->eos_id = (int)rd32le(h + 20); s->n_labels = (int)rd32le(h + 24); s->label_base = (int)rd32le(h + 28);
    s->n_seqs = rd64le(h + 32); s->n_tokens = rd64le(h + 40); s->split = (int)rd32le(h + 48);
    s->tok_hash = rd64le(h + 60); s->pkt_id = (int)rd32le(h + 68);
    if (s->vocab_size <= 0 || (w == 2 && s->vocab_size > 65536) || s->n_tokens > (1ull << 40) || s->n_seqs >= (1ull << 32)) {
        snprintf(err, errlen, "%s: implausible header (vocab %d, %llu tokens, %llu sequences)", path, s->vocab_size,
                 (unsigned long long)s->n_tokens, (unsigned long long)s->n_seqs);
        fclose(f); return NULL;
    }
    /* ids the trainers use as row indices of a (vocab, C) embedding: inside the vocabulary */
    const char *bad = NULL;
    int off = 0;
    if (s->pad_id < 0 || s->pad_id >= s->vocab_size) bad = "pad id", off = 12;
    else if (s->bos_id < 0 || s->bos_id >= s->vocab_size) bad = "bos id", off = 16;
    else if (s->eos_id < 0 || s->eos_id >= s->vocab_size) bad = "eos id", off = 20;
    else if (s->n_labels < 0 || s->n_labels > s->vocab_size) bad = "label count", off = 24;
    else if (s->label_base < 0 || s->label_base > s->vocab_size - s->n_labels) bad = "label base", off = 28;
    else if (s->format == TOKFMT_BPE && (s->pkt_id < 0 || s->pkt_id >= s->pad_id || s->label_base != s->pad_id + 2))
        bad = "bpe layout", off = 68;
    if (bad) {
        snprintf(err, errlen, "%s: corrupt header: %s out of range (vocabulary %d) at byte offset %d", path, bad, s->vocab_size, off);
        fclose(f); return NULL;
    }
    /* bigrams: the specials in NetGPT's order since [SEP] became 1 (bigrams.h); an older
     * corpus ends its sequences with 3, now [UNK] */
    if (s->format == TOKFMT_BIGRAMS && (s->pad_id != BIG_PAD || s->bos_id != BIG_CLS || s->eos_id != BIG_SEP)) {
        snprintf(err, errlen, "%s: a bigrams corpus made before pktlm took NetGPT's order of [SEP] and [UNK] (pad/bos/eos "
                 "%d/%d/%d, now %d/%d/%d): make it again with `pktlm prep CAPTURES --tokens bigrams -o DIR` (the same "
                 "options as before)", path, s->pad_id, s->bos_id, s->eos_id, BIG_PAD, BIG_CLS, BIG_SEP);
        fclose(f); return NULL;
    }
    /* the size the header implies, before allocating what it claims: a cut file (a copy that
     * stopped, a full disk) or one with bytes appended is named as such */
    struct stat sb;
    uint64_t want = sizeof h + s->n_tokens * (uint64_t)w + s->n_seqs * 32;
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size != want) {
        if ((uint64_t)sb.st_size < want)
            snprintf(err, errlen, "%s: truncated at byte offset %llu (the header's %llu tokens and %llu sequences need %llu bytes)",
                     path, (unsigned long long)sb.st_size, (unsigned long long)s->n_tokens, (unsigned long long)s->n_seqs,
                     (unsigned long long)want);
        else
            snprintf(err, errlen, "%s: %llu unexpected bytes after the index at byte offset %llu (corrupt)", path,
                     (unsigned long long)((uint64_t)sb.st_size - want), (unsigned long long)want);
        fclose(f); return NULL;
    }
    *width = w;
    return f;
}

int shard_peek(shard *s, const char *path, char *err, size_t errlen) {
    int w;
    FILE *f = open_header(s, path, &w, err, errlen);
    if (!f) return -1;
    fclose(f);
    return 0;
}

int shard_load(shard *s, const char *path, char *err, size_t errlen) {
    int w;
    FILE *f = open_header(s, path, &w, err, errlen);
    if (!f) return -1;
    const size_t hbytes = HDR_INTS * 4;
    size_t got;
    s->tokens = malloc(s->n_tokens * sizeof(tok_t) + sizeof(tok_t));
    s->seqs = malloc(s->n_seqs * sizeof(shard_seq) + 1);
    if (!s->tokens || !s->seqs) { snprintf(err, errlen, "%s: out of memory", path); fclose(f); shard_free(s); return -1; }
    /* read w-byte ids into the tail of the array, widen in place from the front (little-endian) */
    uint8_t *raw = (uint8_t *)s->tokens + (sizeof(tok_t) - (size_t)w) * s->n_tokens;
    got = fread(raw, (size_t)w, s->n_tokens, f);
    if (got != s->n_tokens) {
        snprintf(err, errlen, "%s: truncated token block at byte offset %zu", path, hbytes + got * (size_t)w);
        fclose(f); shard_free(s); return -1;
    }
    if (w == 2)
        for (uint64_t i = 0; i < s->n_tokens; i++) s->tokens[i] = rd16le(raw + 2 * i);
    else
        for (uint64_t i = 0; i < s->n_tokens; i++) s->tokens[i] = (tok_t)rd32le(raw + 4 * i);
    uint8_t rec[32];
    for (uint64_t i = 0; i < s->n_seqs; i++) {
        if (fread(rec, 1, 32, f) != 32) {
            snprintf(err, errlen, "%s: truncated index at byte offset %llu", path,
                     (unsigned long long)(hbytes + s->n_tokens * (uint64_t)w + i * 32));
            fclose(f); shard_free(s); return -1;
        }
        shard_seq *q = &s->seqs[i];
        q->off = rd64le(rec); q->len = rd32le(rec + 8); q->label = (int32_t)rd32le(rec + 12);
        q->file = rd32le(rec + 16); q->flow = rd32le(rec + 20); q->key = rd64le(rec + 24);
        if (q->off > s->n_tokens || q->len > s->n_tokens - q->off || q->label < -1 || q->label >= s->n_labels) {
            snprintf(err, errlen, "%s: index entry %llu out of range at byte offset %llu", path, (unsigned long long)i,
                     (unsigned long long)(hbytes + s->n_tokens * (uint64_t)w + i * 32));
            fclose(f); shard_free(s); return -1;
        }
    }
    fclose(f);
    for (uint64_t i = 0; i < s->n_tokens; i++)
        if (s->tokens[i] < 0 || s->tokens[i] >= s->vocab_size) {
            snprintf(err, errlen, "%s: token %d outside the vocabulary of size %d at byte offset %llu", path, s->tokens[i],
                     s->vocab_size, (unsigned long long)(hbytes + i * (uint64_t)w));
            shard_free(s); return -1;
        }
    return 0;
}

void shard_free(shard *s) {
    free(s->tokens); free(s->seqs);
    bpe_free(s->bpe);
    s->tokens = NULL; s->seqs = NULL; s->bpe = NULL;
}

void shard_builder_init(shard_builder *b, int vocab_size, int pad_id, int bos_id, int eos_id,
                        int n_labels, int label_base, int split) {
    memset(b, 0, sizeof *b);
    b->s.vocab_size = vocab_size; b->s.pad_id = pad_id; b->s.bos_id = bos_id; b->s.eos_id = eos_id;
    b->s.n_labels = n_labels; b->s.label_base = label_base; b->s.split = split;
}

int shard_builder_add(shard_builder *b, const tok_t *tok, uint32_t n, int32_t label,
                      uint32_t file, uint32_t flow, uint64_t key) {
    shard *s = &b->s;
    if (s->n_tokens + n > b->tok_cap) {
        size_t nc = b->tok_cap ? b->tok_cap : 1 << 16;
        while (nc < s->n_tokens + n) nc *= 2;
        tok_t *t = realloc(s->tokens, nc * sizeof *t);
        if (!t) return -1;
        s->tokens = t; b->tok_cap = nc;
    }
    if (s->n_seqs + 1 > b->seq_cap) {
        size_t nc = b->seq_cap ? b->seq_cap * 2 : 1024;
        shard_seq *q = realloc(s->seqs, nc * sizeof *q);
        if (!q) return -1;
        s->seqs = q; b->seq_cap = nc;
    }
    if (n) memcpy(s->tokens + s->n_tokens, tok, (size_t)n * sizeof *tok);
    s->seqs[s->n_seqs++] = (shard_seq){ s->n_tokens, n, label, file, flow, key };
    s->n_tokens += n;
    return 0;
}

/* The 1024-byte header (layout in shard.h). */
static void put_header(uint8_t *buf, const shard *s) {
    memset(buf, 0, HDR_INTS * 4);
    wr32le(buf, SHARD_MAGIC); wr32le(buf + 4, SHARD_VERSION); wr32le(buf + 8, (uint32_t)s->vocab_size);
    wr32le(buf + 12, (uint32_t)s->pad_id); wr32le(buf + 16, (uint32_t)s->bos_id); wr32le(buf + 20, (uint32_t)s->eos_id);
    wr32le(buf + 24, (uint32_t)s->n_labels); wr32le(buf + 28, (uint32_t)s->label_base);
    wr32le(buf + 32, (uint32_t)s->n_seqs); wr32le(buf + 36, (uint32_t)(s->n_seqs >> 32));
    wr32le(buf + 40, (uint32_t)s->n_tokens); wr32le(buf + 44, (uint32_t)(s->n_tokens >> 32));
    wr32le(buf + 48, (uint32_t)s->split);
    wr32le(buf + 52, (uint32_t)s->format); wr32le(buf + 56, (uint32_t)shard_id_width(s->vocab_size));
    wr32le(buf + 60, (uint32_t)s->tok_hash); wr32le(buf + 64, (uint32_t)(s->tok_hash >> 32)); wr32le(buf + 68, (uint32_t)s->pkt_id);
}

/* One 32-byte index entry (layout in shard.h). */
static void put_index(uint8_t *p, const shard_seq *q) {
    wr32le(p, (uint32_t)q->off); wr32le(p + 4, (uint32_t)(q->off >> 32)); wr32le(p + 8, q->len);
    wr32le(p + 12, (uint32_t)q->label); wr32le(p + 16, q->file); wr32le(p + 20, q->flow);
    wr32le(p + 24, (uint32_t)q->key); wr32le(p + 28, (uint32_t)(q->key >> 32));
}

int shard_write(const shard_builder *b, const char *path) {
    const shard *s = &b->s;
    int w = shard_id_width(s->vocab_size);
    size_t n = HDR_INTS * 4 + s->n_tokens * (size_t)w + s->n_seqs * 32;
    uint8_t *buf = calloc(1, n);
    if (!buf) return -1;
    put_header(buf, s);
    uint8_t *p = buf + HDR_INTS * 4;
    if (w == 2) for (uint64_t i = 0; i < s->n_tokens; i++, p += 2) wr16le(p, (uint16_t)s->tokens[i]);
    else for (uint64_t i = 0; i < s->n_tokens; i++, p += 4) wr32le(p, (uint32_t)s->tokens[i]);
    for (uint64_t i = 0; i < s->n_seqs; i++, p += 32) put_index(p, &s->seqs[i]);
    int rc = write_file_atomic(path, buf, n);
    free(buf);
    return rc;
}

void shard_builder_free(shard_builder *b) {
    free(b->s.tokens); free(b->s.seqs);
    memset(b, 0, sizeof *b);
}

/* ---- streaming writer ---- */

int shard_stream_open(shard_stream *w, const char *path, int vocab_size, int pad_id, int bos_id, int eos_id,
                      int n_labels, int label_base, int split) {
    memset(w, 0, sizeof *w);
    char err[64];
    w->f = atomic_open(&w->out, path, err, sizeof err);   /* errno says why */
    if (!w->f) { shard_stream_abort(w); return -1; }
    shard *h = &w->hdr;
    h->vocab_size = vocab_size; h->pad_id = pad_id; h->bos_id = bos_id; h->eos_id = eos_id;
    h->n_labels = n_labels; h->label_base = label_base; h->split = split;
    uint8_t buf[HDR_INTS * 4];
    put_header(buf, h);   /* counts filled in at close */
    if (fwrite(buf, 1, sizeof buf, w->f) != sizeof buf) w->failed = 1;
    return w->failed ? -1 : 0;
}

int shard_stream_add(shard_stream *w, const tok_t *tok, uint32_t n, int32_t label, uint32_t file, uint32_t flow,
                     uint64_t key) {
    shard *h = &w->hdr;
    if (h->n_seqs == w->seq_cap) {
        size_t nc = w->seq_cap ? w->seq_cap * 2 : 1024;
        shard_seq *q = realloc(h->seqs, nc * sizeof *q);
        if (!q) { w->failed = 1; return -1; }
        h->seqs = q; w->seq_cap = nc;
    }
    uint8_t b[4096];
    size_t wd = (size_t)shard_id_width(h->vocab_size);
    for (uint32_t i = 0; i < n;) {
        uint32_t k = 0;
        if (wd == 2) for (; k < sizeof b / 2 && i < n; k++, i++) wr16le(b + 2 * k, (uint16_t)tok[i]);
        else for (; k < sizeof b / 4 && i < n; k++, i++) wr32le(b + 4 * k, (uint32_t)tok[i]);
        if (fwrite(b, wd, k, w->f) != k) { w->failed = 1; return -1; }
    }
    h->seqs[h->n_seqs++] = (shard_seq){ h->n_tokens, n, label, file, flow, key };
    h->n_tokens += n;
    return 0;
}

int shard_stream_close(shard_stream *w) {
    shard *h = &w->hdr;
    uint8_t rec[32];
    for (uint64_t i = 0; i < h->n_seqs && !w->failed; i++) {
        put_index(rec, &h->seqs[i]);
        if (fwrite(rec, 1, 32, w->f) != 32) w->failed = 1;
    }
    uint8_t buf[HDR_INTS * 4];
    put_header(buf, h);
    if (!w->failed && (fseek(w->f, 0, SEEK_SET) != 0 || fwrite(buf, 1, sizeof buf, w->f) != sizeof buf)) w->failed = 1;
    char err[64];
    int rc = w->failed ? -1 : atomic_commit(&w->out, err, sizeof err);   /* errno says why */
    shard_stream_abort(w);   /* frees; removes the temporary file when it is still there */
    return rc;
}

void shard_stream_abort(shard_stream *w) {
    atomic_abort(&w->out);
    free(w->hdr.seqs);
    memset(w, 0, sizeof *w);
}
