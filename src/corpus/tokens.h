/* Token vocabulary, encoder and decoder of pktlm corpora (specification: docs/tokens.md).
 *
 * A sequence is   BOS LABEL  { PKT DIR TIME b0 b1 ... b(n-1) }*  EOS
 * where b* are the retained bytes of one IP packet (from the IP header on), DIR says
 * which side sent it and TIME is the quantised gap since the previous packet of the
 * sequence. The format is reversible: tok_reader gives back the exact bytes and the
 * timestamps within the bucket resolution (TOK_TIME_REL_ERR of the gap, or 1 us).
 *
 * Ids:  0..255 bytes | 256 PAD | 257 BOS | 258 EOS | 259 PKT | 260 DIR_CS | 261 DIR_SC |
 *       262 UNLABELLED | 263..354 TIME_0..TIME_91 | 355+i label i.
 * The label tokens come last so the vocabulary of a corpus is TOK_LABEL0 + n_labels. */
#ifndef PKTLM_TOKENS_H
#define PKTLM_TOKENS_H
#include <stdint.h>
#include <stddef.h>
#include "corpus/tokfmt.h"

enum {
    TOK_PAD = 256, TOK_BOS = 257, TOK_EOS = 258, TOK_PKT = 259,
    TOK_DIR_CS = 260,          /* client -> server (flow side a: sender of the first packet) */
    TOK_DIR_SC = 261,          /* server -> client */
    TOK_UNLABELLED = 262,      /* flow-start token of a sequence without label */
    TOK_TIME0 = 263,
    TOK_NTIME = 92,            /* 0: gap < 1 us; k = 1..90: [10^((k-1)/10), 10^(k/10)) us; 91: >= 1000 s */
    TOK_LABEL0 = TOK_TIME0 + TOK_NTIME,   /* 355 */
    TOK_PKT_OVERHEAD = 3,      /* PKT DIR TIME before each packet's bytes */
};
#define TOK_TIME_REL_ERR 0.1221  /* 10^0.05 - 1: worst relative error of a decoded gap */

static inline int tok_vocab_size(int n_labels) { return TOK_LABEL0 + n_labels; }
static inline int tok_is_time(int t) { return t >= TOK_TIME0 && t < TOK_TIME0 + TOK_NTIME; }
static inline int tok_is_label(int t) { return t >= TOK_LABEL0 || t == TOK_UNLABELLED; }
/* label -1 (unlabelled) -> TOK_UNLABELLED, else TOK_LABEL0 + label */
static inline int tok_label(int label) { return label < 0 ? TOK_UNLABELLED : TOK_LABEL0 + label; }

/* Bucket of a gap in ns (negative gaps count as 0), and the gap a bucket decodes to
 * (geometric middle of the bucket; 0 for bucket 0; 1000 s for the last). */
int tok_time_bucket(int64_t gap_ns);
int64_t tok_time_value(int bucket);
/* Printable name of any token ("0x45", "<pkt>", "<t:12us>", "<label:3>"). buf >= 32. */
const char *tok_name(int t, char *buf);

/* Encoder. The clock is the decoder's view of time: each gap is measured from the
 * previously *decoded* timestamp, so quantisation errors do not add up along a sequence.
 * The sequence is written in token format fmt (tokfmt.h; TOKFMT_BYTES after init): begin,
 * packet and end follow that format's layout (fields: tcpfields.h, bigrams: bigrams.h). */
typedef struct {
    tok_t *t;
    size_t n, cap;
    int64_t clock_ns;       /* decoded time of the last packet */
    uint32_t npkts;
    uint32_t skipped;       /* packets the format has no tokens for (fields: not TCP, header cut) */
    int oom;                /* an allocation failed: the sequence is incomplete */
    int fmt;                /* TOKFMT_* */
    const tok_format *tf;   /* bpe: its ids (tokfmt_bpe); NULL: the table's entry of fmt */
    struct bpe *bpe;        /* bpe: the tokenizer (not owned) */
} tok_seq;
void tok_seq_init(tok_seq *s);
static inline void tok_seq_set_format(tok_seq *s, int fmt) { s->fmt = fmt; s->tf = NULL; }
/* bpe: NetGPT's hex text of each packet through tokenizer b, with the ids of tf (tokfmt_bpe) */
static inline void tok_seq_set_bpe(tok_seq *s, struct bpe *b, const tok_format *tf) { s->fmt = TOKFMT_BPE; s->tf = tf; s->bpe = b; }
void tok_seq_free(tok_seq *s);
void tok_seq_reset(tok_seq *s);   /* empty, keep the memory */
/* BOS + label token (fields: TYPE placeholder + label; bigrams: [CLS] + label); t0_ns is the
 * time the first gap is measured from. */
void tok_seq_begin(tok_seq *s, int label, int64_t t0_ns);
/* PKT DIR TIME + n bytes of an IP packet (already cut and anonymised). dir 0 = c->s. */
void tok_seq_packet(tok_seq *s, const uint8_t *ip, uint32_t n, int64_t ts_ns, int dir);
void tok_seq_end(tok_seq *s);   /* EOS (fields: and the flow type in t[0]) */
/* Stateless core used by tok_seq_packet: writes n + 3 tokens to out, advances *clock_ns. */
size_t tok_encode_packet(tok_t *out, const uint8_t *ip, uint32_t n, int64_t ts_ns, int dir, int64_t *clock_ns);

/* Decoder: walks a token sequence packet by packet. Lenient, for generated sequences:
 * stray tokens (PAD, a second BOS, labels inside) are skipped and counted, a packet with
 * DIR or TIME missing is still returned with the flag set. */
enum { TOKP_NO_DIR = 1, TOKP_NO_TIME = 2, TOKP_CUT = 4 /* more bytes than the buffer */ };
typedef struct {
    int64_t ts_ns;
    int dir;                /* 0 c->s, 1 s->c */
    uint32_t n;             /* bytes written to the caller's buffer */
    int flags;              /* TOKP_* */
} tok_packet;
typedef struct {
    const tok_t *t;
    size_t n, i;
    int fmt;                /* TOKFMT_*: tok_reader_init_fmt */
    int ip6;                /* fields: the IP6 token was seen */
    int64_t clock_ns;
    int label;              /* -1 unlabelled, -2 no label token seen, else label index */
    uint64_t stray;         /* tokens that fit nowhere */
    int ended;              /* EOS seen */
    uint32_t npk_seen;      /* packets returned */
    uint8_t src0[16];       /* bigrams: the first packet's source address gives the direction */
    const tok_format *tf;   /* bpe: its ids; */
    const struct bpe *bpe;  /* and its tokenizer (tok_reader_set_bpe) */
    tok_format tfb;         /* room for tf (shard_reader_init) */
} tok_reader;
void tok_reader_init(tok_reader *r, const tok_t *t, size_t n, int64_t t0_ns);   /* bytes format */
/* Any reversible format: fields gives each packet's IP and TCP headers (payload left to the
 * length fields, tcpfields.h), bigrams the packet's bytes. */
void tok_reader_init_fmt(tok_reader *r, int fmt, const tok_t *t, size_t n, int64_t t0_ns);
/* bpe: the ids of tf, the text of the tokens from b (after tok_reader_init_fmt) */
static inline void tok_reader_set_bpe(tok_reader *r, const struct bpe *b, const tok_format *tf) { r->fmt = TOKFMT_BPE; r->bpe = b; r->tf = tf; }
/* 1 = a packet in *p with its bytes in buf (at most cap), 0 = end of the sequence. */
int tok_reader_next(tok_reader *r, tok_packet *p, uint8_t *buf, uint32_t cap);

/* Writing decoded sequences to a pcap: corpus/export.h (export_pcap). */
#endif
