/* Byte-level BPE (bpe.h). Written from the definition of GPT-2's byte-level BPE and the
 * tokenizer.json format; tools/torch_ref/bpe_ref.py is an independent Python implementation
 * (Python's regex engine for the pre-tokenizer, the textbook merge loop) that the tests
 * compare against. */
#include "corpus/bpe.h"
#include "util/sha256.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* string -> id: open addressing over ids, the strings are the tokens themselves */
typedef struct { int32_t *slot; size_t mask; } idmap;
/* (left id, right id) -> (rank, merged id) */
typedef struct { uint64_t key; int32_t rank, id; } merge_e;
/* pre-token -> its ids (most pre-tokens of hex text repeat: " 0000", "4", " ab") */
typedef struct { char *s; uint32_t len, off, n; } cache_e;

struct bpe {
    int pre, ignore_merges, n_ids;
    char **tok;                   /* id -> token text (UTF-8 byte-level characters; added tokens as given) */
    uint16_t *toklen;
    uint8_t *added;               /* id is an added token */
    idmap vocab;
    merge_e *merges;
    size_t mmask;
    int32_t byte_id[256];         /* the single-character token of each byte */
    uint16_t byte_cp[256];        /* GPT-2's byte -> code point */
    int16_t cp_byte[512];         /* and back (-1: none) */
    uint8_t sha[32];
    char *json;                   /* the file's bytes, as read (classifier files embed them) */
    size_t json_len;
    cache_e *cache;
    size_t cmask, cused;
    int32_t *cids;
    size_t cn, ccap;
};

static uint64_t fnv(const void *p, size_t n) {
    const uint8_t *s = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) { h ^= s[i]; h *= 1099511628211ull; }
    return h;
}
static uint64_t mix(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull; x ^= x >> 33;
    return x;
}

static int vocab_find(const bpe *b, const char *s, size_t n) {
    for (size_t i = fnv(s, n) & b->vocab.mask;; i = (i + 1) & b->vocab.mask) {
        int32_t id = b->vocab.slot[i];
        if (id < 0) return -1;
        if (b->toklen[id] == n && !memcmp(b->tok[id], s, n) && !b->added[id]) return id;
    }
}
static void vocab_put(bpe *b, int id) {
    size_t i = fnv(b->tok[id], b->toklen[id]) & b->vocab.mask;
    while (b->vocab.slot[i] >= 0) i = (i + 1) & b->vocab.mask;
    b->vocab.slot[i] = id;
}
static const merge_e *merge_find(const bpe *b, int l, int r) {
    uint64_t k = (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
    for (size_t i = mix(k) & b->mmask;; i = (i + 1) & b->mmask) {
        if (b->merges[i].rank < 0) return NULL;
        if (b->merges[i].key == k) return &b->merges[i];
    }
}

/* GPT-2's bytes_to_unicode: the printable bytes ! .. ~, ¡ .. ¬, ® .. ÿ are their own code
 * points; the other 68 bytes take U+0100 onwards in byte order */
static void byte_table(bpe *b) {
    int next = 256;
    for (int i = 0; i < 512; i++) b->cp_byte[i] = -1;
    for (int c = 0; c < 256; c++) {
        int printable = (c >= '!' && c <= '~') || (c >= 0xa1 && c <= 0xac) || (c >= 0xae && c <= 0xff);
        b->byte_cp[c] = (uint16_t)(printable ? c : next++);
        b->cp_byte[b->byte_cp[c]] = (int16_t)c;
    }
}
static int utf8_put(char *o, unsigned cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    o[0] = (char)(0xc0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3f));
    return 2;   /* every code point here is below U+0800 */
}

static int fail(char *err, size_t errlen, const char *path, const char *what) {
    snprintf(err, errlen, "%s: %s", path, what);
    return -1;
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 20, n = 0, k;
    char *buf = malloc(cap + 1);
    while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) {
            char *nb = cap < ((size_t)1 << 31) ? realloc(buf, 2 * cap + 1) : NULL;
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb; cap *= 2;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) { free(buf); errno = bad ? EIO : ENOMEM; return NULL; }
    buf[n] = 0;
    *len = n;
    return buf;
}

static const char GPT2_PATTERN[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char QWEN2_PATTERN[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static int is_type(const cJSON *o, const char *t) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "type");
    return cJSON_IsString(v) && !strcmp(v->valuestring, t);
}
static int is_true(const cJSON *o, const char *k) { return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, k)); }
static int set_str(const cJSON *o, const char *k) {   /* a string that is set and not empty */
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) && v->valuestring[0];
}

/* The pre-tokenizer: GPT-2's ByteLevel (use_regex), or Qwen2's Split + ByteLevel. */
static int read_pre(bpe *b, const cJSON *j, const char *path, char *err, size_t errlen) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "pre_tokenizer");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "normalizer");
    if (n && !cJSON_IsNull(n) && !is_type(n, "NFC"))
        return fail(err, errlen, path, "normalizer other than NFC: only byte-level BPE as GPT-2 and Qwen2 use it is supported");
    if (is_type(p, "ByteLevel")) {
        if (is_true(p, "add_prefix_space")) return fail(err, errlen, path, "ByteLevel add_prefix_space is not supported");
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(p, "use_regex");
        if (r && !cJSON_IsTrue(r)) return fail(err, errlen, path, "ByteLevel without its regex and no Split: not supported");
        b->pre = BPE_PRE_GPT2;
        return 0;
    }
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers");
    if (is_type(p, "Sequence") && cJSON_GetArraySize(seq) == 2) {
        const cJSON *s = cJSON_GetArrayItem(seq, 0), *bl = cJSON_GetArrayItem(seq, 1);
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(s, "pattern"), "Regex");
        const cJSON *beh = cJSON_GetObjectItemCaseSensitive(s, "behavior");
        if (is_type(s, "Split") && is_type(bl, "ByteLevel") && !is_true(bl, "use_regex") && !is_true(bl, "add_prefix_space") &&
            !is_true(s, "invert") && cJSON_IsString(beh) && !strcmp(beh->valuestring, "Isolated") && cJSON_IsString(pat)) {
            if (!strcmp(pat->valuestring, QWEN2_PATTERN)) { b->pre = BPE_PRE_QWEN2; return 0; }
            if (!strcmp(pat->valuestring, GPT2_PATTERN)) { b->pre = BPE_PRE_GPT2; return 0; }
            return fail(err, errlen, path, "Split pattern is neither GPT-2's nor Qwen2's (the two pktlm implements)");
        }
    }
    return fail(err, errlen, path, "pre_tokenizer is neither GPT-2's ByteLevel nor Qwen2's Split + ByteLevel");
}

static int add_token(bpe *b, int id, const char *s, int added, const char *path, char *err, size_t errlen) {
    if (id < 0 || id >= b->n_ids) return fail(err, errlen, path, "token id out of range");
    if (b->tok[id]) {
        char m[160];
        snprintf(m, sizeof m, "id %d is given twice ('%.40s' and '%.40s')", id, b->tok[id], s);
        return fail(err, errlen, path, m);
    }
    size_t n = strlen(s);
    if (n == 0 || n > 1024) return fail(err, errlen, path, "a token is empty or longer than 1024 bytes");
    b->tok[id] = strdup(s);
    b->toklen[id] = (uint16_t)n;
    b->added[id] = (uint8_t)added;
    return b->tok[id] ? 0 : fail(err, errlen, path, "out of memory");
}

bpe *bpe_load(const char *path, char *err, size_t errlen) {
    size_t len = 0;
    char *txt = slurp(path, &len);
    if (!txt) { snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno)); return NULL; }
    bpe *b = bpe_load_mem(path, txt, len, err, errlen);
    free(txt);
    return b;
}

bpe *bpe_load_mem(const char *path, const char *txt, size_t len, char *err, size_t errlen) {
    bpe *b = calloc(1, sizeof *b);
    const char *where = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(txt, len, &where, 0);
    size_t bad_at = where && where >= txt && where <= txt + len ? (size_t)(where - txt) : 0;
    if (b) {
        sha256_ctx c;
        sha256_init(&c);
        sha256_update(&c, txt, len);
        sha256_final(&c, b->sha);
        byte_table(b);
        if ((b->json = malloc(len + 1))) { memcpy(b->json, txt, len); b->json[len] = 0; b->json_len = len; }
        else { free(b); b = NULL; }
    }
    int rc = b ? 0 : fail(err, errlen, path, "out of memory");
    if (!rc && !cJSON_IsObject(j)) {
        snprintf(err, errlen, "%s: not a JSON object (error near byte offset %zu)", path, bad_at);
        rc = -1;
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "model"), *v = cJSON_GetObjectItemCaseSensitive(m, "vocab");
    const cJSON *mg = cJSON_GetObjectItemCaseSensitive(m, "merges"), *ad = cJSON_GetObjectItemCaseSensitive(j, "added_tokens");
    if (!rc && !is_type(m, "BPE")) rc = fail(err, errlen, path, "model.type is not BPE (WordPiece, Unigram and WordLevel tokenizers are not byte-level BPE)");
    if (!rc && (!cJSON_IsObject(v) || !cJSON_IsArray(mg))) rc = fail(err, errlen, path, "model.vocab or model.merges is missing");
    if (!rc && (is_true(m, "byte_fallback") || set_str(m, "continuing_subword_prefix") || set_str(m, "end_of_word_suffix")))
        rc = fail(err, errlen, path, "byte_fallback, continuing_subword_prefix or end_of_word_suffix is set: not GPT-2-style byte-level BPE");
    if (!rc) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(m, "dropout");
        if (cJSON_IsNumber(d) && d->valuedouble > 0) rc = fail(err, errlen, path, "BPE dropout is set (encoding would be random)");
    }
    if (!rc) rc = read_pre(b, j, path, err, errlen);
    if (b) b->ignore_merges = is_true(m, "ignore_merges");
    /* ids: the vocabulary and the added tokens, 0 .. highest */
    int hi = -1;
    const cJSON *e;
    if (!rc) {
        cJSON_ArrayForEach(e, v) {
            if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > (1 << 24) || e->valuedouble != (int)e->valuedouble) {
                rc = fail(err, errlen, path, "model.vocab has an id that is not a whole number in 0..16777216");
                break;
            }
            if ((int)e->valuedouble > hi) hi = (int)e->valuedouble;
        }
        cJSON_ArrayForEach(e, ad) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id"), *ct = cJSON_GetObjectItemCaseSensitive(e, "content");
            if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble > (1 << 24) || !cJSON_IsString(ct)) {
                rc = fail(err, errlen, path, "added_tokens: an entry without a whole id or a content string");
                break;
            }
            if ((int)id->valuedouble > hi) hi = (int)id->valuedouble;
        }
    }
    if (!rc && hi < 255) rc = fail(err, errlen, path, "vocabulary has fewer than the 256 byte tokens");
    if (!rc) {
        b->n_ids = hi + 1;
        b->tok = calloc((size_t)b->n_ids, sizeof *b->tok);
        b->toklen = calloc((size_t)b->n_ids, sizeof *b->toklen);
        b->added = calloc((size_t)b->n_ids, 1);
        size_t cap = 1;
        while (cap < 2 * (size_t)b->n_ids) cap <<= 1;
        b->vocab.slot = malloc(cap * sizeof *b->vocab.slot);
        b->vocab.mask = cap - 1;
        if (!b->tok || !b->toklen || !b->added || !b->vocab.slot) rc = fail(err, errlen, path, "out of memory");
        else for (size_t i = 0; i < cap; i++) b->vocab.slot[i] = -1;
    }
    if (!rc) cJSON_ArrayForEach(e, v) if ((rc = add_token(b, (int)e->valuedouble, e->string, 0, path, err, errlen))) break;
    if (!rc) cJSON_ArrayForEach(e, ad) {
        int id = (int)cJSON_GetObjectItemCaseSensitive(e, "id")->valuedouble;
        const char *ct = cJSON_GetObjectItemCaseSensitive(e, "content")->valuestring;
        if (b->tok[id] && !strcmp(b->tok[id], ct)) { b->added[id] = 1; continue; }   /* listed in both, as Qwen2 does not */
        if ((rc = add_token(b, id, ct, 1, path, err, errlen))) break;
    }
    for (int id = 0; !rc && id < b->n_ids; id++) if (b->tok[id] && !b->added[id]) vocab_put(b, id);
    for (int c = 0; !rc && c < 256; c++) {
        char s[4];
        int n = utf8_put(s, b->byte_cp[c]);
        b->byte_id[c] = vocab_find(b, s, (size_t)n);
        if (b->byte_id[c] < 0) {
            char msg[96];
            snprintf(msg, sizeof msg, "the byte-level token of byte 0x%02x is not in model.vocab", c);
            rc = fail(err, errlen, path, msg);
        }
    }
    /* merges: "left right" (or ["left", "right"]), rank = position */
    if (!rc) {
        size_t nm = (size_t)cJSON_GetArraySize(mg), cap = 1;
        while (cap < 2 * nm + 2) cap <<= 1;
        b->merges = malloc(cap * sizeof *b->merges);
        b->mmask = cap - 1;
        if (!b->merges) rc = fail(err, errlen, path, "out of memory");
        else for (size_t i = 0; i < cap; i++) b->merges[i].rank = -1;
        int rank = 0;
        char buf[2100];
        cJSON_ArrayForEach(e, mg) {
            const char *l = NULL, *r = NULL;
            if (cJSON_IsString(e)) {
                const char *sp = strchr(e->valuestring, ' ');
                size_t k = sp ? (size_t)(sp - e->valuestring) : 0;
                if (sp && k < 1024 && strlen(sp + 1) < 1024 && !strchr(sp + 1, ' ')) {
                    memcpy(buf, e->valuestring, k);
                    buf[k] = 0;
                    l = buf; r = sp + 1;
                }
            } else if (cJSON_GetArraySize(e) == 2 && cJSON_IsString(e->child) && cJSON_IsString(e->child->next)) {
                l = e->child->valuestring; r = e->child->next->valuestring;
            }
            char both[2100];
            int li = l ? vocab_find(b, l, strlen(l)) : -1, ri = r ? vocab_find(b, r, strlen(r)) : -1, mi = -1;
            if (li >= 0 && ri >= 0 && strlen(l) + strlen(r) < sizeof both) {
                snprintf(both, sizeof both, "%s%s", l, r);
                mi = vocab_find(b, both, strlen(both));
            }
            if (mi < 0) {
                char msg[200];
                snprintf(msg, sizeof msg, "merge %d (\"%.60s\") is not two vocabulary tokens whose join is one", rank,
                         cJSON_IsString(e) ? e->valuestring : "[...]");
                rc = fail(err, errlen, path, msg);
                break;
            }
            uint64_t key = (uint64_t)(uint32_t)li << 32 | (uint32_t)ri;
            size_t i = mix(key) & b->mmask;
            while (b->merges[i].rank >= 0 && b->merges[i].key != key) i = (i + 1) & b->mmask;
            if (b->merges[i].rank < 0) { b->merges[i].key = key; b->merges[i].rank = rank; b->merges[i].id = mi; }
            rank++;   /* a pair listed twice keeps its first (lowest) rank */
        }
    }
    if (!rc) {
        b->cmask = (1u << 16) - 1;
        b->cache = calloc(b->cmask + 1, sizeof *b->cache);
        if (!b->cache) rc = fail(err, errlen, path, "out of memory");
    }
    cJSON_Delete(j);
    if (rc) { bpe_free(b); return NULL; }
    return b;
}

void bpe_free(bpe *b) {
    if (!b) return;
    for (int i = 0; b->tok && i < b->n_ids; i++) free(b->tok[i]);
    for (size_t i = 0; b->cache && i <= b->cmask; i++) free(b->cache[i].s);
    free(b->json); free(b->tok); free(b->toklen); free(b->added); free(b->vocab.slot); free(b->merges); free(b->cache); free(b->cids);
    free(b);
}

int bpe_n_ids(const bpe *b) { return b->n_ids; }
const char *bpe_json(const bpe *b, size_t *len) { *len = b->json_len; return b->json; }
int bpe_pretokenizer(const bpe *b) { return b->pre; }
const uint8_t *bpe_sha256(const bpe *b) { return b->sha; }
uint64_t bpe_hash(const bpe *b) {
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--) h = h << 8 | b->sha[i];
    return h;
}
int bpe_added_id(const bpe *b, const char *content) {
    for (int id = 0; id < b->n_ids; id++)
        if (b->added[id] && !strcmp(b->tok[id], content)) return id;
    return -1;
}
int bpe_text_id(const bpe *b, const char *text) {
    char s[2100];
    size_t n = 0;
    for (const uint8_t *p = (const uint8_t *)text; *p && n + 2 < sizeof s; p++) n += (size_t)utf8_put(s + n, b->byte_cp[*p]);
    return vocab_find(b, s, n);
}

/* ---- pre-tokenizers on ASCII ---- */
static int isL(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int isN(int c) { return c >= '0' && c <= '9'; }
static int isS(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
static int isO(int c) { return !isS(c) && !isL(c) && !isN(c); }   /* [^\s\p{L}\p{N}] */
static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* 's 't 're 've 'm 'll 'd at s[i] (ci: case-insensitive): its length, 0 if none */
static size_t contraction(const char *s, size_t i, size_t n, int ci) {
    if (s[i] != '\'' || i + 1 >= n) return 0;
    static const char *const suf[] = { "s", "t", "re", "ve", "m", "ll", "d" };
    for (int k = 0; k < 7; k++) {
        size_t L = strlen(suf[k]);
        if (i + 1 + L > n) continue;
        size_t q = 0;
        while (q < L && (ci ? lower(s[i + 1 + q]) : s[i + 1 + q]) == suf[k][q]) q++;
        if (q == L) return 1 + L;
    }
    return 0;
}
/* \s+(?!\S) then \s+ at a whitespace run s[i..j) */
static size_t spaces(const char *s, size_t i, size_t n) {
    size_t j = i;
    while (j < n && isS(s[j])) j++;
    if (j == n || j - i == 1) return j - i;   /* at the end: all of it; one before a non-space: \s+ takes it */
    return j - i - 1;                        /* the last one stays with what follows */
}
/* length of the pre-token at s[i] (i < n) */
static size_t gpt2_next(const char *s, size_t i, size_t n) {
    size_t k = contraction(s, i, n, 0), j;
    if (k) return k;
    j = i + (s[i] == ' ' && i + 1 < n);   /* " ?" then a class run */
    if (isL(s[j])) { while (j < n && isL(s[j])) j++; return j - i; }
    if (isN(s[j])) { while (j < n && isN(s[j])) j++; return j - i; }
    if (isO(s[j])) { while (j < n && isO(s[j])) j++; return j - i; }
    return spaces(s, i, n);
}
static size_t qwen2_next(const char *s, size_t i, size_t n) {
    size_t k = contraction(s, i, n, 1), j;
    if (k) return k;
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    j = i + (s[i] != '\r' && s[i] != '\n' && !isL(s[i]) && !isN(s[i]) && i + 1 < n && isL(s[i + 1]));
    if (isL(s[j])) { while (j < n && isL(s[j])) j++; return j - i; }
    if (isN(s[i])) return 1;
    /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
    j = i + (s[i] == ' ' && i + 1 < n && isO(s[i + 1]));
    if (isO(s[j])) {
        while (j < n && isO(s[j])) j++;
        while (j < n && (s[j] == '\r' || s[j] == '\n')) j++;
        return j - i;
    }
    /* \s*[\r\n]+: the whitespace run up to its last line break */
    size_t end = i, last = 0;
    while (end < n && isS(s[end])) { if (s[end] == '\r' || s[end] == '\n') last = end + 1; end++; }
    if (last) return last - i;
    return spaces(s, i, n);
}

/* ---- merges ---- */
static int word_ids(bpe *b, const char *w, size_t n, int32_t *out) {
    char s[4 * 1024];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) len += (size_t)utf8_put(s + len, b->byte_cp[(uint8_t)w[i]]);
    if (b->ignore_merges) {   /* a pre-token that is a token is taken whole */
        int id = vocab_find(b, s, len);
        if (id >= 0) { out[0] = id; return 1; }
    }
    int k = (int)n;
    for (size_t i = 0; i < n; i++) out[i] = b->byte_id[(uint8_t)w[i]];
    for (;;) {   /* merge the lowest-ranked adjacent pair, leftmost first */
        int best = -1, br = 0, bid = 0;
        for (int i = 0; i + 1 < k; i++) {
            const merge_e *e = merge_find(b, out[i], out[i + 1]);
            if (e && (best < 0 || e->rank < br)) { best = i; br = e->rank; bid = e->id; }
        }
        if (best < 0) return k;
        out[best] = bid;
        memmove(out + best + 1, out + best + 2, (size_t)(k - best - 2) * sizeof *out);
        k--;
    }
}

static int push(int32_t **ids, size_t *n, size_t *cap, const int32_t *v, size_t k) {
    if (*n + k > *cap) {
        size_t nc = *cap ? *cap : 256;
        while (nc < *n + k) nc *= 2;
        int32_t *p = realloc(*ids, nc * sizeof *p);
        if (!p) return -1;
        *ids = p; *cap = nc;
    }
    memcpy(*ids + *n, v, k * sizeof *v);
    *n += k;
    return 0;
}

int bpe_encode(bpe *b, const char *text, size_t n, int32_t **ids, size_t *n_ids, size_t *cap, char *err, size_t errlen) {
    for (size_t i = 0; i < n; i++)
        if ((uint8_t)text[i] >= 0x80 || text[i] == 0) {
            snprintf(err, errlen, "byte 0x%02x at offset %zu: the BPE pre-tokenizer here reads ASCII text only", (uint8_t)text[i], i);
            return -1;
        }
    int32_t tmp[1024];
    for (size_t i = 0; i < n;) {
        size_t L = b->pre == BPE_PRE_QWEN2 ? qwen2_next(text, i, n) : gpt2_next(text, i, n);
        const char *w = text + i;
        i += L;
        while (L > 0) {   /* pre-tokens longer than 1024 bytes (long runs) are cut: never in hex text */
            size_t part = L < 1024 ? L : 1024;
            uint64_t h = fnv(w, part);
            size_t s = h & b->cmask;
            while (b->cache[s].s && !(b->cache[s].len == part && !memcmp(b->cache[s].s, w, part))) s = (s + 1) & b->cmask;
            cache_e *c = &b->cache[s];
            if (c->s) {
                if (push(ids, n_ids, cap, b->cids + c->off, c->n)) goto oom;
            } else {
                int k = word_ids(b, w, part, tmp);
                if (push(ids, n_ids, cap, tmp, (size_t)k)) goto oom;
                if (b->cused * 4 < (b->cmask + 1) * 3 && (c->s = malloc(part))) {   /* keep it while the cache has room */
                    memcpy(c->s, w, part);
                    c->len = (uint32_t)part; c->n = (uint32_t)k; c->off = (uint32_t)b->cn;
                    if (push(&b->cids, &b->cn, &b->ccap, tmp, (size_t)k)) { free(c->s); c->s = NULL; goto oom; }
                    b->cused++;
                }
            }
            w += part; L -= part;
        }
    }
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

int bpe_decode_id(const bpe *b, int id, uint8_t *out, int cap) {
    if (id < 0 || id >= b->n_ids || !b->tok[id]) return -1;
    const uint8_t *s = (const uint8_t *)b->tok[id];
    int n = 0;
    if (b->added[id]) {
        for (; *s; s++, n++) if (n < cap) out[n] = *s;
        return n;
    }
    while (*s) {
        unsigned cp = *s++;
        if (cp >= 0xc0 && (*s & 0xc0) == 0x80) cp = (cp & 0x1f) << 6 | (*s++ & 0x3f);
        int byte = cp < 512 ? b->cp_byte[cp] : -1;
        if (byte < 0) return -1;   /* not a byte-level character */
        if (n < cap) out[n] = (uint8_t)byte;
        n++;
    }
    return n;
}
