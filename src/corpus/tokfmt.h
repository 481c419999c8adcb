/* Token formats: the one description every reader and writer of token sequences goes
 * through (prep, the training loaders, finetune, eval, classify, generate, export).
 * Specification of each format, id by id: docs/tokens.md.
 *
 *   bytes    pktlm's reversible byte format (corpus/tokens.h), the default
 *   fields   tcpflowgen's 16-bit TCP header-field tokens (corpus/tcpfields.h), TCP flows only
 *   bigrams  NetGPT's overlapping two-byte hex bigrams (corpus/bigrams.h)
 *   bpe      NetGPT's hex text through a model's own byte-level BPE tokenizer.json (corpus/bpe.h):
 *            its ids depend on the tokenizer, so the table's entry has none; tokfmt_bpe()
 *            fills a description from the tokenizer, and a corpus's shards carry it
 *
 * Token ids are 32-bit (tok_t) everywhere in memory; a shard stores them 2 or 4 bytes wide
 * (corpus/shard.h). Every format puts a sequence's label token at index 1 (fine-tuning and
 * classification replace it with the format's <unlabelled>), and its label tokens last, so
 * that a corpus's vocabulary is label_base + number of labels. */
#ifndef PKTLM_TOKFMT_H
#define PKTLM_TOKFMT_H
#include <stdint.h>
#include <stddef.h>

typedef int32_t tok_t;    /* one token id, 0 .. 2^31-1: any vocabulary (and Arrow's int32) */

/* Format ids are stored in shard headers, manifests and checkpoints: never renumber. */
enum { TOKFMT_BYTES = 0, TOKFMT_FIELDS = 1, TOKFMT_BIGRAMS = 2, TOKFMT_BPE = 3, TOKFMT_COUNT };

typedef struct {
    int id;
    const char *name;      /* "bytes", "fields", "bigrams": prep's --tokens */
    int label_base;        /* id of label 0: vocabulary = label_base + n_labels */
    int pad, bos, eos;     /* bos: the id a generated sequence starts with */
    int unlabelled;        /* label token of a sequence without label (index 1) */
    int pkt, pkt2;         /* the token(s) that start every packet (fields: its two direction tokens), -1 none */
    int reversible;        /* tokens -> packets (corpus/tokens.h tok_reader) */
    int timing;            /* carries inter-arrival times */
    int tcp_only;          /* only TCP flows have tokens */
    const char *what;      /* one line for --help and the manifest */
} tok_format;

const tok_format *tokfmt_get(int id);              /* NULL for an unknown id (bpe: the entry without ids) */
/* The bpe format of a tokenizer of n_tok ids (0 .. n_tok-1 are the tokenizer's), eot its
 * <|endoftext|> (bos and eos, as GPT-2 and Qwen2 separate documents), newline the id of "\n"
 * (each packet's text starts with it: the <pkt> of this format); pktlm's own ids follow:
 * n_tok <pad>, n_tok + 1 <unlabelled>, n_tok + 2 + k label k (docs/tokens.md "bpe"). */
void tokfmt_bpe(tok_format *f, int n_tok, int eot, int newline);
const tok_format *tokfmt_by_name(const char *name); /* NULL when unknown */
static inline int tokfmt_vocab(const tok_format *f, int n_labels) { return f->label_base + n_labels; }
static inline int tokfmt_label(const tok_format *f, int label) { return label < 0 ? f->unlabelled : f->label_base + label; }
static inline int tokfmt_is_pkt(const tok_format *f, int t) { return t == f->pkt || t == f->pkt2; }
static inline int tokfmt_is_label(const tok_format *f, int t) { return t >= f->label_base || t == f->unlabelled; }
/* Printable name of token t of format f ("0x45", "<syn-ack>"...); buf >= 32 bytes. */
const char *tokfmt_name(const tok_format *f, int t, char *buf);
#endif
