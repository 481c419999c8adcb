/* NetGPT's published vocabulary against the bigrams token format (docs/tokens.md "bigrams",
 * docs/interop.md "NetGPT's vocabulary").
 *
 * NetGPT's checkpoint was trained through UER-py with ET-BERT's models/encryptd_vocab.txt:
 * UER gives line n (from 0) id n, the token being the line's first whitespace-separated field;
 * the file is [PAD] [SEP] [CLS] [UNK] [MASK] then word pieces in the order a WordPiece trainer
 * found them (0..f, "##" continuation pieces, then four-hex-digit words, not all of them).
 * UER's BERT tokenizer turns a word into the longest piece the file has from its start, then
 * the longest "##" piece from where that one ended, and so on; a word it cannot cover becomes
 * [UNK]. So each bigrams id stands for one or more ids of the file:
 *   ids 0..4 (the specials)  the file's line of that name
 *   BIG_W0 + w               the line "%04x" of w when the file has it, else its pieces
 * This table is what `pktlm import --netgpt-vocab FILE` gathers a checkpoint's embedding rows
 * by (models/model.h model_gather_rows), so that a NetGPT model reads pktlm's bigram ids. */
#ifndef PKTLM_NETGPT_VOCAB_H
#define PKTLM_NETGPT_VOCAB_H
#include <stdint.h>
#include <stddef.h>

#define NGV_MAXP 4   /* a four-digit word is at most four pieces */

typedef struct {
    int n_lines;          /* the file's ids: 0 .. n_lines-1 */
    int32_t *pieces;      /* [bigrams id * NGV_MAXP + k]: the file's ids UER gives bigrams ids 0 .. BIG_SEED_VOCAB-1 */
    uint8_t *npieces;     /* how many (1 .. NGV_MAXP) */
    int32_t *to_big;      /* [file id]: the bigrams id of that line (a special or a whole word), -1 for a piece */
    int whole, split, unk;   /* of the 65,536 words: one line, several pieces, [UNK] (no cover) */
} netgpt_vocab;

/* Read a UER vocabulary file. 0 ok; -1 with err (no such file, a special token missing). */
int netgpt_vocab_load(netgpt_vocab *v, const char *path, char *err, size_t errlen);
void netgpt_vocab_free(netgpt_vocab *v);
#endif
