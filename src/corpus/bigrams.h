/* NetGPT's hex-bigram tokens (`pktlm prep --tokens bigrams`; docs/tokens.md, "bigrams").
 *
 * NetGPT writes each packet's bytes as overlapping two-byte words (byte i and i+1 for every
 * i, "4500 0000 003c ...") and reads them with UER-py's WordPiece tokenizer over ET-BERT's
 * published vocabulary (models/encryptd_vocab.txt; UER: line n is id n). That file starts
 * [PAD] [SEP] [CLS] [UNK] [MASK], and so do pktlm's ids 0..4. After them it lists word pieces
 * as a WordPiece trainer found them (0..f, ##-pieces, then four-hex-digit words, most frequent
 * first, not all 65,536 of them): pktlm cannot take that order as its own (it is not a
 * function of the word), so its ids 5 + w are the 65,536 words in numeric order, and a NetGPT
 * checkpoint's rows are rearranged to them on import (corpus/netgpt_vocab.h,
 * `pktlm import --netgpt-vocab`). pktlm's additions come after: <pkt> before each packet
 * (NetGPT joins packets with a space, which its tokenizer drops; the boundary keeps the format
 * reversible), then the label tokens. A sequence is
 *     [CLS] LABEL ( <pkt> w(b0,b1) w(b1,b2) ... w(b(n-2),b(n-1)) )* [SEP]
 * No timing: a decoded flow's packets are 1 ms apart.
 * Corpora and checkpoints made before the specials took NetGPT's order ([UNK] 1, [SEP] 3) are
 * refused with the command that remakes them (shard.c, train/checkpoint.c). */
#ifndef PKTLM_BIGRAMS_H
#define PKTLM_BIGRAMS_H
#include <stdint.h>
#include <stddef.h>
#include "corpus/tokfmt.h"

enum {
    BIG_PAD = 0, BIG_SEP = 1, BIG_CLS = 2, BIG_UNK = 3, BIG_MASK = 4,   /* NetGPT's file's order */
    BIG_W0 = 5,                 /* word v (two bytes, big-endian) = BIG_W0 + v */
    BIG_SEED_VOCAB = 65541,     /* NetGPT's specials and the 65,536 words: ids below this */
    BIG_OLD_SEP = 3,            /* [SEP] of corpora made before the order above (refused) */
    BIG_PKT = 65541,            /* pktlm: packet boundary */
    BIG_UNLABELLED = 65542,
    BIG_LABEL0 = 65543,
};
#define BIG_GAP_NS 1000000      /* decoded gap between packets */

/* names of ids 0 .. BIG_W0-1, as NetGPT's vocabulary file has them */
extern const char *const big_special[BIG_W0];

/* <pkt> and the n-1 words of a packet of n >= 2 bytes (a 1-byte packet gives one word with
 * the byte twice... never happens: IP headers are >= 20 bytes). Returns tokens written (n). */
size_t big_encode_packet(tok_t *out, const uint8_t *ip, uint32_t n);
/* Bytes of a packet from its words t[0..k): first byte of each, then the last word's second. */
uint32_t big_decode_words(const tok_t *t, size_t k, uint8_t *buf, uint32_t cap, uint64_t *bad);
#endif
