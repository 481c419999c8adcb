/* NetGPT's hex-bigram tokens (`pktlm prep --tokens bigrams`; docs/tokens.md, "bigrams").
 *
 * NetGPT writes each packet's bytes as overlapping two-byte words (byte i and i+1 for every
 * i, "4500 0000 003c ...") and its vocabulary file lists [PAD] [UNK] [CLS] [SEP] [MASK] then
 * 0000 .. ffff: ids 0..65540 here are exactly those lines, so its published vocabulary file
 * is usable. pktlm's additions come after: <pkt> before each packet (NetGPT joins packets
 * with a space, which its tokenizer drops; the boundary keeps the format reversible), then the
 * label tokens. A sequence is
 *     [CLS] LABEL ( <pkt> w(b0,b1) w(b1,b2) ... w(b(n-2),b(n-1)) )* [SEP]
 * No timing: a decoded flow's packets are 1 ms apart. */
#ifndef PKTLM_BIGRAMS_H
#define PKTLM_BIGRAMS_H
#include <stdint.h>
#include <stddef.h>
#include "corpus/tokfmt.h"

enum {
    BIG_PAD = 0, BIG_UNK = 1, BIG_CLS = 2, BIG_SEP = 3, BIG_MASK = 4,
    BIG_W0 = 5,                 /* word v (two bytes, big-endian) = BIG_W0 + v */
    BIG_SEED_VOCAB = 65541,     /* NetGPT's vocabulary: ids below this */
    BIG_PKT = 65541,            /* pktlm: packet boundary */
    BIG_UNLABELLED = 65542,
    BIG_LABEL0 = 65543,
};
#define BIG_GAP_NS 1000000      /* decoded gap between packets */

/* <pkt> and the n-1 words of a packet of n >= 2 bytes (a 1-byte packet gives one word with
 * the byte twice... never happens: IP headers are >= 20 bytes). Returns tokens written (n). */
size_t big_encode_packet(tok_t *out, const uint8_t *ip, uint32_t n);
/* Bytes of a packet from its words t[0..k): first byte of each, then the last word's second. */
uint32_t big_decode_words(const tok_t *t, size_t k, uint8_t *buf, uint32_t cap, uint64_t *bad);
#endif
