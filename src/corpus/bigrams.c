/* NetGPT's hex bigrams: see bigrams.h and docs/tokens.md. */
#include "corpus/bigrams.h"

const char *const big_special[BIG_W0] = { "[PAD]", "[SEP]", "[CLS]", "[UNK]", "[MASK]" };

size_t big_encode_packet(tok_t *out, const uint8_t *ip, uint32_t n) {
    size_t k = 0;
    out[k++] = BIG_PKT;
    if (n == 1) { out[k++] = BIG_W0 + ((tok_t)ip[0] << 8 | ip[0]); return k; }
    for (uint32_t i = 0; i + 1 < n; i++) out[k++] = BIG_W0 + ((tok_t)ip[i] << 8 | ip[i + 1]);
    return k;
}

uint32_t big_decode_words(const tok_t *t, size_t k, uint8_t *buf, uint32_t cap, uint64_t *bad) {
    uint32_t n = 0;
    tok_t prev = 0;
    int have = 0;
    for (size_t i = 0; i < k; i++) {
        if (t[i] < BIG_W0 || t[i] >= BIG_SEED_VOCAB) { (*bad)++; continue; }
        tok_t v = t[i] - BIG_W0;
        /* overlapping words must agree: the next word starts with the previous one's second byte */
        if (have && (v >> 8) != (prev & 0xff)) (*bad)++;
        if (n < cap) buf[n++] = (uint8_t)(v >> 8);
        prev = v; have = 1;
    }
    if (have && n < cap) buf[n++] = (uint8_t)(prev & 0xff);
    return n;
}
