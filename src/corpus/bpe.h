/* Byte-level BPE from a Hugging Face tokenizer.json (GPT-2, Qwen2 / Qwen2.5), so that an
 * imported model reads packets as the text it was trained on (`pktlm prep --tokens bpe
 * --tokenizer FILE`; docs/tokens.md "bpe").
 *
 * What tokenizer.json says and how it is used:
 *   model.vocab {token: id}, model.merges ["a b" or ["a", "b"], ...] in rank order,
 *   added_tokens [{id, content}] (ids beside the vocabulary: <|endoftext|> ...);
 *   pre_tokenizer: GPT-2's ByteLevel (its regex 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+|
 *   ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+) or Qwen2's Split regex ((?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|
 *   \p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+) then ByteLevel without regex;
 *   normalizer none or NFC (ASCII is its own NFC).
 * Encoding: the text is cut into pre-tokens by that pattern, each pre-token's bytes become
 * GPT-2's byte-to-unicode characters (printable bytes themselves, the others U+0100..), and the
 * lowest-ranked adjacent pair is merged until no merge applies. The patterns are applied to
 * ASCII text only (the letters and digits of \p{L}, \p{N} below 0x80): pktlm only writes hex
 * text, and bpe_encode refuses other bytes rather than guess at Unicode classes.
 * Other tokenizers (WordPiece, SentencePiece/Unigram, byte_fallback, add_prefix_space, other
 * patterns) are refused when loading, naming what is not supported. */
#ifndef PKTLM_BPE_H
#define PKTLM_BPE_H
#include <stddef.h>
#include <stdint.h>

enum { BPE_PRE_GPT2 = 1, BPE_PRE_QWEN2 = 2 };

typedef struct bpe bpe;

/* Load and check; NULL with err naming the file and what is wrong. */
bpe *bpe_load(const char *path, char *err, size_t errlen);
/* The same from a tokenizer.json's bytes in memory (path names them in errors: a classifier
 * file embeds them, docs/classify.md). */
bpe *bpe_load_mem(const char *path, const char *txt, size_t len, char *err, size_t errlen);
void bpe_free(bpe *b);
const char *bpe_json(const bpe *b, size_t *len);   /* the bytes it was loaded from (sha256: bpe_sha256) */
int bpe_n_ids(const bpe *b);              /* highest id + 1 (vocabulary and added tokens) */
int bpe_pretokenizer(const bpe *b);       /* BPE_PRE_* */
const uint8_t *bpe_sha256(const bpe *b);  /* of the file's bytes (32) */
uint64_t bpe_hash(const bpe *b);          /* its first 8 bytes, little-endian: what corpora and checkpoints record */
/* id of an added token ("<|endoftext|>") or of a vocabulary entry given as its text bytes
 * ("\n" is the byte-level token "\xc4\x8a"); -1 if absent */
int bpe_added_id(const bpe *b, const char *content);
int bpe_text_id(const bpe *b, const char *text);
/* Encode n bytes of ASCII text, appending ids to *ids (realloc'ed; *n_ids, *cap updated).
 * 0 ok; -1 (err) on a byte >= 0x80 or NUL, or out of memory. */
int bpe_encode(bpe *b, const char *text, size_t n, int32_t **ids, size_t *n_ids, size_t *cap, char *err, size_t errlen);
/* The bytes of token id (byte-level characters mapped back; an added token's content as it
 * is): writes at most cap bytes, returns the token's length, -1 for an id with no token. */
int bpe_decode_id(const bpe *b, int id, uint8_t *out, int cap);
#endif
