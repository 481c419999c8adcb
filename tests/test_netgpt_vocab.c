/* NetGPT's vocabulary against the bigrams token format (src/corpus/netgpt_vocab.c, bigrams.h,
 * export_netgpt.c, models/model.c model_gather_rows): the special ids in the order of NetGPT's
 * published file, a word's id both ways, UER's word-piece split of words the file lacks, and
 * a checkpoint's rows gathered to pktlm's ids. */
#include "test.h"
#include "corpus/bigrams.h"
#include "corpus/netgpt_vocab.h"
#include "corpus/export.h"
#include "corpus/tokfmt.h"
#include "models/model.h"

/* the first lines of ET-BERT's models/encryptd_vocab.txt, which NetGPT's README passes to every
 * UER script as --vocab_path: five specials, then the single hex digits */
static const char *const NETGPT_HEAD[] = { "[PAD]", "[SEP]", "[CLS]", "[UNK]", "[MASK]", "0", "1", "2" };

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) { fputs(text, f); fclose(f); }
}

/* pktlm's ids 0..4 are NetGPT's lines 0..4; the vocab.txt `export --format netgpt` writes has
 * them in that order and word w on line 5 + w; the tokens name and encode the same ids */
static void test_specials_in_netgpt_order(void) {
    for (int i = 0; i < BIG_W0; i++) CHECKF(!strcmp(big_special[i], NETGPT_HEAD[i]), "id %d: %s", i, big_special[i]);
    CHECK(BIG_PAD == 0 && BIG_SEP == 1 && BIG_CLS == 2 && BIG_UNK == 3 && BIG_MASK == 4);
    const tok_format *f = tokfmt_by_name("bigrams");
    CHECK(f && f->pad == BIG_PAD && f->bos == BIG_CLS && f->eos == BIG_SEP);
    char path[512], line[64];
    snprintf(path, sizeof path, "%s/ng_vocab.txt", t_tmpdir());
    FILE *o = fopen(path, "w");
    CHECK(o && netgpt_write_vocab(o) == 0);
    if (o) fclose(o);
    FILE *r = fopen(path, "r");
    int n = 0, ok = 1;
    while (r && fgets(line, sizeof line, r)) {
        line[strcspn(line, "\n")] = 0;
        if (n < BIG_W0) ok &= !strcmp(line, NETGPT_HEAD[n]);
        if (n == BIG_W0 + 0x4500) CHECKF(!strcmp(line, "4500"), "line %d: %s", n, line);
        n++;
    }
    if (r) fclose(r);
    CHECK(ok);
    CHECK_EQ(n, BIG_SEED_VOCAB);
    char b[32];
    CHECK(!strcmp(tokfmt_name(f, BIG_W0 + 0x4500, b), "4500"));
    CHECK(!strcmp(tokfmt_name(f, BIG_SEP, b), "[SEP]") && !strcmp(tokfmt_name(f, BIG_UNK, b), "[UNK]"));
    tok_t t[4];
    const uint8_t ip[3] = { 0x45, 0x00, 0x3c };
    CHECK_EQ(big_encode_packet(t, ip, 3), 3);
    CHECK(t[0] == BIG_PKT && t[1] == BIG_W0 + 0x4500 && t[2] == BIG_W0 + 0x003c);
    /* and pktlm's own file read back as UER reads it: every id is its own line */
    netgpt_vocab v;
    char err[512];
    CHECKF(netgpt_vocab_load(&v, path, err, sizeof err) == 0, "%s", err);
    CHECK(v.n_lines == BIG_SEED_VOCAB && v.whole == 65536 && v.split == 0 && v.unk == 0);
    int same = 1;
    for (int i = 0; v.pieces && i < BIG_SEED_VOCAB; i++) same &= v.npieces[i] == 1 && v.pieces[i * NGV_MAXP] == i && v.to_big[i] == i;
    CHECK(same);
    netgpt_vocab_free(&v);
}

/* A small vocabulary laid out as NetGPT's (specials in its order, digits, ## pieces, words in
 * frequency order): ids both ways, and UER's longest-first split of the words it lacks. */
static const char *SMALL =
    "[PAD]\n[SEP]\n[CLS]\n[UNK]\n[MASK]\n"
    "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\na\nb\nc\nd\ne\nf\n"    /* ids 5..20 */
    "##0\n##5\n##c\n##00\n"                              /* 21..24 */
    "0000\n4500\n45\n003c\n##3c\n"                       /* 25..29 */
    "  c0a8   extra fields are ignored\n"                /* 30: UER takes the first field */
    "\n"                                                 /* 31: an empty line keeps its id */
    "ABCD\n";                                            /* 32: never matched (UER lowercases) */

static void test_word_ids_both_ways(void) {
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/ng_small.txt", t_tmpdir());
    write_text(path, SMALL);
    netgpt_vocab v;
    CHECKF(netgpt_vocab_load(&v, path, err, sizeof err) == 0, "%s", err);
    if (!v.pieces) return;
    CHECK_EQ(v.n_lines, 33);
    for (int i = 0; i < BIG_W0; i++) CHECK(v.npieces[i] == 1 && v.pieces[i * NGV_MAXP] == i && v.to_big[i] == i);
    /* 4500: line 26 both ways */
    const int32_t *p = v.pieces + (size_t)(BIG_W0 + 0x4500) * NGV_MAXP;
    CHECK(v.npieces[BIG_W0 + 0x4500] == 1 && p[0] == 26);
    CHECK_EQ(v.to_big[26], BIG_W0 + 0x4500);
    CHECK_EQ(v.to_big[25], BIG_W0 + 0x0000);
    CHECK_EQ(v.to_big[30], BIG_W0 + 0xc0a8);
    CHECK(v.to_big[27] == -1 && v.to_big[21] == -1 && v.to_big[31] == -1 && v.to_big[32] == -1);
    /* longest piece first: 4505 = "45" "##0" "##5"; 0050 = "0" (the file has no "00", "005",
     * "0050") "##0" "##5" "##0"; 453c = "45" "##3c" */
    p = v.pieces + (size_t)(BIG_W0 + 0x4505) * NGV_MAXP;
    CHECK(v.npieces[BIG_W0 + 0x4505] == 3 && p[0] == 27 && p[1] == 21 && p[2] == 22);
    p = v.pieces + (size_t)(BIG_W0 + 0x0050) * NGV_MAXP;
    CHECK(v.npieces[BIG_W0 + 0x0050] == 4 && p[0] == 5 && p[1] == 21 && p[2] == 22 && p[3] == 21);
    p = v.pieces + (size_t)(BIG_W0 + 0x453c) * NGV_MAXP;
    CHECK(v.npieces[BIG_W0 + 0x453c] == 2 && p[0] == 27 && p[1] == 29);
    /* 4511: no "##1" -> the whole word is [UNK] (line 3) */
    p = v.pieces + (size_t)(BIG_W0 + 0x4511) * NGV_MAXP;
    CHECK(v.npieces[BIG_W0 + 0x4511] == 1 && p[0] == BIG_UNK);
    CHECK_EQ(v.whole, 4);   /* 0000 4500 003c c0a8 */
    CHECK_EQ(v.whole + v.split + v.unk, 65536);
    netgpt_vocab_free(&v);
    /* not a UER vocabulary */
    write_text(path, "[PAD]\n[UNK]\n[CLS]\n[MASK]\n0000\n");
    CHECK(netgpt_vocab_load(&v, path, err, sizeof err) == -1 && strstr(err, "no line [SEP]"));
    CHECK(netgpt_vocab_load(&v, "tests/fixtures/no_such_vocab.txt", err, sizeof err) == -1 && strstr(err, "cannot open"));
}

/* A model of the small vocabulary's ids, gathered to the bigrams ids: a word the file has gets
 * its row exactly, a split word the mean of its pieces' rows, the rest stay as they were. */
static void test_gather_rows(void) {
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/ng_small.txt", t_tmpdir());
    write_text(path, SMALL);
    netgpt_vocab v;
    CHECKF(netgpt_vocab_load(&v, path, err, sizeof err) == 0, "%s", err);
    model_config c = { 0 };
    c.arch = ARCH_GPT2; c.layers = 1; c.d_model = 8; c.heads = 2; c.ctx = 8; c.vocab = v.n_lines;
    model_config_defaults(&c);
    model src, dst;
    CHECKF(model_create(&src, &c, err, sizeof err) == 0, "%s", err);
    c.vocab = BIG_LABEL0;
    CHECKF(model_create(&dst, &c, err, sizeof err) == 0, "%s", err);
    model_init_weights(&src, 1);
    model_init_weights(&dst, 2);
    const float *s = model_tensor(&src, 0), *d = model_tensor(&dst, 0);
    float keep = d[(size_t)BIG_PKT * 8 + 3];
    CHECK(model_gather_rows(&dst, &src, v.pieces, v.npieces, NGV_MAXP, BIG_SEED_VOCAB) == 0);
    CHECK(!memcmp(d + (size_t)(BIG_W0 + 0x4500) * 8, s + 26 * 8, 8 * sizeof(float)));
    CHECK(!memcmp(d + (size_t)BIG_SEP * 8, s + 1 * 8, 8 * sizeof(float)));
    for (int k = 0; k < 8; k++) CHECK_NEAR(d[(size_t)(BIG_W0 + 0x4505) * 8 + k], (s[27 * 8 + k] + s[21 * 8 + k] + s[22 * 8 + k]) / 3, 1e-6);
    CHECK(d[(size_t)BIG_PKT * 8 + 3] == keep);
    /* an id past the source's rows is refused */
    v.pieces[0] = v.n_lines;
    CHECK(model_gather_rows(&dst, &src, v.pieces, v.npieces, NGV_MAXP, BIG_SEED_VOCAB) == -1);
    model_free(&src);
    model_free(&dst);
    netgpt_vocab_free(&v);
}

int main(void) {
    RUN(test_specials_in_netgpt_order);
    RUN(test_word_ids_both_ways);
    RUN(test_gather_rows);
    return t_done();
}
