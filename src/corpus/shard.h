/* Token shards: the binary files of a corpus directory (docs/corpus.md).
 *
 * One file per split: CORPUS/train.tok, val.tok, test.tok. Little-endian:
 *   header   256 x int32 (llm.c style): [0] magic 0x4b4f5450 ("PTOK"), [1] version 2,
 *            [2] vocab_size, [3] pad_id, [4] bos_id, [5] eos_id, [6] n_labels,
 *            [7] label_base (token id of label 0), [8..9] n_seqs (uint64),
 *            [10..11] n_tokens (uint64), [12] split (0 train, 1 val, 2 test),
 *            [13] token format (TOKFMT_* of tokfmt.h), [14] bytes per token id (2 or 4:
 *            the writer uses 2 when every id fits), [15..16] bpe: the tokenizer's hash
 *            (uint64: the first 8 bytes of tokenizer.json's sha256), [17] bpe: the id of "\n"
 *            that starts each packet, rest 0
 *   tokens   n_tokens x uint16 or uint32
 *   index    n_seqs x shard_seq (32 bytes each)
 * A sequence's tokens are tokens[off .. off+len). label = -1 for unlabelled.
 * Version 1 (before token formats): the same with [13], [14] zero, read as format bytes,
 * 2 bytes per id. In memory ids are always tok_t (32-bit). */
#ifndef PKTLM_SHARD_H
#define PKTLM_SHARD_H
#include <stdint.h>
#include <stddef.h>
#include "corpus/tokfmt.h"
#include "corpus/tokens.h"

#define SHARD_MAGIC 0x4b4f5450u
#define SHARD_VERSION 2

typedef struct {
    uint64_t off;       /* first token */
    uint32_t len;       /* tokens */
    int32_t label;      /* -1 = unlabelled */
    uint32_t file;      /* index of the source capture in the manifest */
    uint32_t flow;      /* flow id within that capture (0 for capture windows) */
    uint64_t key;       /* hash of the source flow (original 5-tuple + start), for leak checks */
} shard_seq;

typedef struct {
    int vocab_size, pad_id, bos_id, eos_id, n_labels, label_base, split;
    int format;         /* TOKFMT_*: set after shard_builder_init / shard_stream_open when not bytes */
    int version;        /* of the file read (1 or 2) */
    uint64_t tok_hash;  /* bpe: the tokenizer (bpe_hash) */
    int pkt_id;         /* bpe: the token of "\n" */
    struct bpe *bpe;    /* bpe: its tokenizer when attached (corpus_tokenizer; freed with the shard) */
    uint64_t n_seqs, n_tokens;
    tok_t *tokens;
    shard_seq *seqs;
} shard;

/* Load a whole shard into memory. 0 on success, -1 with a message in err naming the
 * file and what is wrong (bad magic, truncated at byte N, index out of range ...). */
int shard_load(shard *s, const char *path, char *err, size_t errlen);
void shard_free(shard *s);
/* 0 when shard b (loaded from b_path) has a's token format: vocabulary size, pad/bos/eos ids,
 * labels (a val.tok of another prep run would feed a model ids it does not have, or labels it
 * does not know); else -1 with a message in err naming b_path. */
int shard_check_same_format(const shard *a, const shard *b, const char *b_path, char *err, size_t errlen);
/* The token format of s: the table's entry, or for bpe the description built from the
 * header's ids into *buf (tokfmt_bpe). */
const tok_format *shard_format(const shard *s, tok_format *buf);
/* A reader of sequence q of s in s's format (bpe: with the tokenizer attached to s; without
 * one no packet comes back). */
void shard_reader_init(tok_reader *r, const shard *s, const shard_seq *q, int64_t t0_ns);
/* Bytes per token id on disk for a vocabulary. */
static inline int shard_id_width(int vocab_size) { return vocab_size <= 65536 ? 2 : 4; }

/* Writer: append sequences, then shard_write() writes the file atomically. */
typedef struct {
    shard s;
    size_t tok_cap, seq_cap;
} shard_builder;
void shard_builder_init(shard_builder *b, int vocab_size, int pad_id, int bos_id, int eos_id,
                        int n_labels, int label_base, int split);
int shard_builder_add(shard_builder *b, const tok_t *tok, uint32_t n, int32_t label,
                      uint32_t file, uint32_t flow, uint64_t key);
int shard_write(const shard_builder *b, const char *path);
void shard_builder_free(shard_builder *b);

/* Streaming writer, for corpora larger than one more copy in memory: tokens go to
 * PATH.tmp.PID as they come, the index (32 bytes a sequence) is kept until close, which
 * writes it, fills in the header counts, syncs and renames into place. */
#include <stdio.h>
#include "util/util.h"
typedef struct {
    atomic_file out;      /* written to a temporary file, renamed into place by close */
    FILE *f;              /* = out.f */
    shard hdr;            /* counts and ids; tokens unused; seqs = the index so far */
    size_t seq_cap;
    int failed;
} shard_stream;
int shard_stream_open(shard_stream *w, const char *path, int vocab_size, int pad_id, int bos_id, int eos_id,
                      int n_labels, int label_base, int split);
int shard_stream_add(shard_stream *w, const tok_t *tok, uint32_t n, int32_t label, uint32_t file, uint32_t flow,
                     uint64_t key);
int shard_stream_close(shard_stream *w);   /* 0: the file is in place */
void shard_stream_abort(shard_stream *w);
#endif
