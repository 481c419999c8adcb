/* Byte-level BPE (src/corpus/bpe.c) against an independent Python implementation
 * (tools/torch_ref/bpe_ref.py -> tests/fixtures/bpe/{gpt2,qwen2}: a tokenizer.json in the
 * Hugging Face layout and the ids the reference gives for hex text and English edge cases);
 * decoding gives the text back; tokenizers pktlm cannot follow are refused by name. */
#include "test.h"
#include "corpus/bpe.h"
#include "corpus/tokens.h"
#include "util/util.h"
#include <stdint.h>

static int unhex(const char *h, size_t n, char *out) {
    for (size_t i = 0; i + 1 < n; i += 2) {
        unsigned v;
        if (sscanf(h + i, "%2x", &v) != 1) return -1;
        out[i / 2] = (char)v;
    }
    return (int)(n / 2);
}

static void check_cases(const char *dir) {
    char p[512], err[512] = "";
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    bpe *b = bpe_load(p, err, sizeof err);
    CHECKF(b != NULL, "%s", err);
    if (!b) return;
    snprintf(p, sizeof p, "%s/cases.txt", dir);
    FILE *f = fopen(p, "r");
    CHECK(f != NULL);
    if (!f) { bpe_free(b); return; }
    static char line[1 << 16], text[1 << 15];
    int ncase = 0, bad = 0;
    size_t total = 0;
    while (fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        int n = unhex(line, (size_t)(tab - line), text);
        int32_t *ids = NULL;
        size_t nid = 0, cap = 0;
        /* twice: the second time from the pre-token cache */
        for (int pass = 0; pass < 2; pass++) {
            nid = 0;
            CHECKF(bpe_encode(b, text, (size_t)n, &ids, &nid, &cap, err, sizeof err) == 0, "%s", err);
            char *q = tab + 1;
            size_t k = 0;
            int same = 1;
            for (;;) {
                char *e;
                long v = strtol(q, &e, 10);
                if (e == q) break;
                same &= k < nid && ids[k] == v;
                k++;
                q = e;
            }
            same &= k == nid;
            if (!same) { bad++; printf("  case %d (%.*s): %zu ids, reference %zu\n", ncase, n < 40 ? n : 40, text, nid, k); }
        }
        /* decode: the text back */
        char back[1 << 15];
        size_t bn = 0;
        for (size_t i = 0; i < nid; i++) {
            int L = bpe_decode_id(b, ids[i], (uint8_t *)back + bn, (int)(sizeof back - bn));
            CHECK(L > 0);
            if (L > 0) bn += (size_t)L;
        }
        CHECKF(bn == (size_t)n && !memcmp(back, text, bn), "case %d decodes differently", ncase);
        total += nid;
        free(ids);
        ncase++;
    }
    fclose(f);
    printf("  %s: %d cases, %zu ids, %d differ from the Python reference\n", dir, ncase, total, bad);
    CHECK(ncase >= 20);
    CHECK_EQ(bad, 0);
    bpe_free(b);
}

static void test_gpt2_style(void) { check_cases("tests/fixtures/bpe/gpt2"); }
static void test_qwen2_style(void) { check_cases("tests/fixtures/bpe/qwen2"); }

static void test_ids_and_specials(void) {
    char err[512] = "";
    bpe *g = bpe_load("tests/fixtures/bpe/gpt2/tokenizer.json", err, sizeof err);
    bpe *q = bpe_load("tests/fixtures/bpe/qwen2/tokenizer.json", err, sizeof err);
    CHECKF(g && q, "%s", err);
    if (!g || !q) { bpe_free(g); bpe_free(q); return; }
    CHECK_EQ(bpe_pretokenizer(g), BPE_PRE_GPT2);
    CHECK_EQ(bpe_pretokenizer(q), BPE_PRE_QWEN2);
    int e = bpe_added_id(g, "<|endoftext|>");
    CHECK(e >= 256 && e == bpe_n_ids(g) - 1);
    CHECK_EQ(bpe_added_id(q, "<|im_start|>"), bpe_n_ids(q) - 1);
    CHECK_EQ(bpe_added_id(q, "<|nothing|>"), -1);
    int nl = bpe_text_id(g, "\n");
    uint8_t buf[16];
    CHECK(nl >= 0 && bpe_decode_id(g, nl, buf, 16) == 1 && buf[0] == '\n');
    CHECK(bpe_decode_id(g, e, buf, 16) == 13 && !memcmp(buf, "<|endoftext|>", 13));
    CHECK_EQ(bpe_decode_id(g, bpe_n_ids(g), buf, 16), -1);
    CHECK(bpe_hash(g) != bpe_hash(q) && bpe_hash(g) != 0);
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    CHECK(bpe_encode(g, "caf\xc3\xa9", 5, &ids, &n, &cap, err, sizeof err) == -1 && strstr(err, "ASCII"));
    free(ids);
    bpe_free(g); bpe_free(q);
}

/* a copy of the GPT-2-style tokenizer.json with `from` replaced by `to` */
static const char *variant(const char *from, const char *to) {
    static char path[512];
    size_t n;
    FILE *f = fopen("tests/fixtures/bpe/gpt2/tokenizer.json", "rb");
    static char buf[1 << 20], out[(1 << 20) + 4096];
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *at = strstr(buf, from);
    if (at) snprintf(out, sizeof out, "%.*s%s%s", (int)(at - buf), buf, to, at + strlen(from));
    else snprintf(out, sizeof out, "%s", buf);
    snprintf(path, sizeof path, "%s/variant.json", t_tmpdir());
    CHECK(write_file_atomic(path, out, strlen(out)) == 0);
    return path;
}
static void expect_refused(const char *path, const char *want) {
    char err[512] = "";
    bpe *b = bpe_load(path, err, sizeof err);
    CHECKF(b == NULL, "loaded %s", path);
    bpe_free(b);
    CHECKF(strstr(err, want) != NULL, "'%s' lacks '%s'", err, want);
}
static void test_refused(void) {
    expect_refused(variant("\"type\": \"BPE\"", "\"type\": \"WordPiece\""), "not BPE");
    expect_refused(variant("\"byte_fallback\": false", "\"byte_fallback\": true"), "byte_fallback");
    expect_refused(variant("\"add_prefix_space\": false", "\"add_prefix_space\": true"), "add_prefix_space");
    expect_refused(variant("\"dropout\": null", "\"dropout\": 0.1"), "dropout");
    expect_refused(variant("\"merges\": [", "\"merges\": [\"zz qq\", "), "merge 0");
    expect_refused(variant("\"version\"", "\"normalizer\": {\"type\": \"Lowercase\"}, \"version\""), "normalizer");
    expect_refused(variant("{", "{{"), "not a JSON object");
    expect_refused("tests/fixtures/bpe/none.json", "cannot read");
}

/* the bpe token format: a flow's packets as NetGPT's hex text through the tokenizer, and back */
static void test_format_roundtrip(void) {
    char err[512] = "";
    bpe *b = bpe_load("tests/fixtures/bpe/qwen2/tokenizer.json", err, sizeof err);
    CHECKF(b != NULL, "%s", err);
    if (!b) return;
    tok_format tf;
    int eot = bpe_added_id(b, "<|endoftext|>"), nl = bpe_text_id(b, "\n");
    tokfmt_bpe(&tf, bpe_n_ids(b), eot, nl);
    CHECK_EQ(tf.pad, bpe_n_ids(b));
    CHECK_EQ(tf.label_base, bpe_n_ids(b) + 2);
    tok_seq s;
    tok_seq_init(&s);
    tok_seq_set_bpe(&s, b, &tf);
    uint8_t pk[3][80];
    uint32_t len[3] = { 20, 60, 41 };
    uint64_t r = 7;
    for (int k = 0; k < 3; k++)
        for (uint32_t i = 0; i < len[k]; i++) pk[k][i] = (uint8_t)(splitmix64(&r) >> (i % 3 ? 60 : 56));   /* many 0x0? bytes */
    tok_seq_begin(&s, 2, 0);
    for (int k = 0; k < 3; k++) tok_seq_packet(&s, pk[k], len[k], 1000 * k, k & 1);
    tok_seq_end(&s);
    CHECK(!s.oom);
    CHECK_EQ(s.t[0], eot);
    CHECK_EQ(s.t[1], tf.label_base + 2);
    CHECK_EQ(s.t[2], nl);
    CHECK_EQ(s.t[s.n - 1], eot);
    /* the ids are those of the text "\n4500 00.." encoded in one piece */
    char txt[1024];
    size_t k = 0;
    for (int p = 0; p < 3; p++) {
        txt[k++] = '\n';
        for (uint32_t i = 0; i + 1 < len[p]; i++) k += (size_t)sprintf(txt + k, "%s%02x%02x", i ? " " : "", pk[p][i], pk[p][i + 1]);
    }
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    CHECK(bpe_encode(b, txt, k, &ids, &n, &cap, err, sizeof err) == 0);
    CHECK(n == s.n - 3 && !memcmp(ids, s.t + 2, n * sizeof *ids));
    free(ids);
    tok_reader rd;
    tok_reader_init_fmt(&rd, TOKFMT_BPE, s.t, s.n, 0);
    tok_reader_set_bpe(&rd, b, &tf);
    tok_packet p;
    uint8_t buf[256];
    int np = 0;
    while (tok_reader_next(&rd, &p, buf, sizeof buf)) {
        CHECK(np < 3);
        if (np < 3) CHECKF(p.n == len[np] && !memcmp(buf, pk[np], p.n), "packet %d: %u bytes back of %u", np, p.n, len[np]);
        np++;
    }
    CHECK_EQ(np, 3);
    CHECK_EQ(rd.label, 2);
    CHECK_EQ(rd.stray, 0);
    tok_seq_free(&s);
    bpe_free(b);
}

int main(void) {
    RUN(test_format_roundtrip);
    RUN(test_gpt2_style);
    RUN(test_qwen2_style);
    RUN(test_ids_and_specials);
    RUN(test_refused);
    return t_done();
}
