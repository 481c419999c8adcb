/* Damaged files a user can hand pktlm: checkpoints (info, --resume, --init read them through
 * ckpt_peek / ckpt_load) and token shards (every trainer reads them through shard_load).
 * Each case must give a clear error naming the file (and the byte offset where one applies),
 * never a crash, a huge allocation, or a model that silently indexes past its vocabulary. */
#include "test.h"
#include "train/checkpoint.h"
#include "train/pretrain.h"
#include "corpus/prep.h"
#include "corpus/shard.h"
#include "util/util.h"
#include <stdint.h>
#include <sys/stat.h>

static char ckpt[600], corpus[600];

static long fsize(const char *p) { struct stat st; return stat(p, &st) == 0 ? (long)st.st_size : -1; }

static unsigned char *slurp(const char *p, long *n) {
    *n = fsize(p);
    FILE *f = fopen(p, "rb");
    unsigned char *b = *n > 0 && f ? malloc((size_t)*n) : NULL;
    if (b && fread(b, 1, (size_t)*n, f) != (size_t)*n) { free(b); b = NULL; }
    if (f) fclose(f);
    return b;
}
static void spit(const char *p, const unsigned char *b, long n) {
    FILE *f = fopen(p, "wb");
    if (f) { fwrite(b, 1, (size_t)n, f); fclose(f); }
}

/* A copy of the checkpoint with int32 slot `slot` set to v; with keep_hdrsum = 0 the header
 * checksum (slots 61..62) is zeroed, as in files written before it existed, so the field
 * checks behind it are reached. */
static void patched(const char *out, int slot, uint32_t v, int keep_hdrsum) {
    long n;
    unsigned char *b = slurp(ckpt, &n);
    if (!b) return;
    wr32le(b + 4 * slot, v);
    if (!keep_hdrsum) memset(b + 4 * 61, 0, 8);
    spit(out, b, n);
    free(b);
}

/* A small corpus (two shards built here) and a checkpoint trained on it for two steps. */
static void make_corpus(const char *dir, int vocab, int n_labels) {
    mkdir(dir, 0755);
    for (int split = 0; split < 2; split++) {
        shard_builder b;
        shard_builder_init(&b, vocab, 0, 1, 2, n_labels, vocab - n_labels, split);
        for (int i = 0; i < 40; i++) {
            tok_t tok[12] = { 1 };
            for (int j = 1; j < 11; j++) tok[j] = (tok_t)(4 + (i + j) % 20);
            tok[11] = 2;
            shard_builder_add(&b, tok, 12, -1, 0, (uint32_t)i, (uint64_t)i);
        }
        char p[700];
        snprintf(p, sizeof p, "%s/%s", dir, split ? "val.tok" : "train.tok");
        shard_write(&b, p);
        shard_builder_free(&b);
    }
    /* the vocabulary file every corpus has (corpus/vocab.h) */
    char p[700], v[300];
    snprintf(p, sizeof p, "%s/vocab.json", dir);
    int n = snprintf(v, sizeof v, "{\"vocab_size\": %d, \"label_base\": %d, \"labels\": [", vocab, vocab - n_labels);
    for (int k = 0; k < n_labels; k++) n += snprintf(v + n, sizeof v - n, "%s\"l%d\"", k ? ", " : "", k);
    n += snprintf(v + n, sizeof v - n, "]}\n");
    write_file_atomic(p, v, (size_t)n);
}

static void setup(void) {
    snprintf(corpus, sizeof corpus, "%s/corpus", t_tmpdir());
    snprintf(ckpt, sizeof ckpt, "%s/m.ckpt", t_tmpdir());
    make_corpus(corpus, 30, 0);
    pretrain_opts o;
    pretrain_defaults(&o);
    o.data_dir = corpus; o.out_path = ckpt;
    o.cfg.layers = 1; o.cfg.d_model = 16; o.cfg.heads = 2; o.cfg.ctx = 16;
    o.batch = 2; o.steps = 2; o.quiet = 1; o.threads = 1;
    if (pretrain_run(&o) != 0) printf("  setup: %s\n", o.err);
}

static int load_fails(const char *p, const char *want, char *err, size_t n) {
    model m;
    train_state st;
    if (ckpt_load(p, &m, &st, 0, err, n) == 0) { model_free(&m); return 0; }
    if (!strstr(err, p)) { printf("  error does not name the file: %s\n", err); return 0; }
    if (want && !strstr(err, want)) { printf("  expected '%s' in: %s\n", want, err); return 0; }
    return 1;
}

static void test_checkpoint_header(void) {
    char p[700], err[512];
    model m;
    train_state st;
    CHECK(ckpt_load(ckpt, &m, &st, 1, err, sizeof err) == 0);
    model_free(&m);
    /* any changed header byte fails the header checksum (it covers step, lr, the corpus path...) */
    snprintf(p, sizeof p, "%s/lr.ckpt", t_tmpdir());
    patched(p, 41, 0x3f800000u, 1);   /* lr = 1.0 */
    CHECK(load_fails(p, "header checksum", err, sizeof err));
    model_config c;
    uint64_t np;
    CHECK(ckpt_peek(p, &c, &st, &np, err, sizeof err) != 0);
    /* a file without the header checksum still has every field checked */
    snprintf(p, sizeof p, "%s/old.ckpt", t_tmpdir());
    patched(p, 0, 0x4b434b50u, 0);
    CHECK(ckpt_load(p, &m, &st, 1, err, sizeof err) == 0);
    model_free(&m);
    struct { int slot; uint32_t v; const char *want; } bad[] = {
        { 12, 30, "pad id 30 out of range at byte offset 48" },     /* = vocab */
        { 13, (uint32_t)-5, "bos id -5 out of range at byte offset 52" },
        { 16, 29, "label base" },                                   /* with 0 labels: ok */
        { 15, 5, "label base" },                                    /* 5 labels from 30 > vocab */
        { 21, 7, "has_opt" },
        { 60, 3, "precision" },
        { 54, 9, "task" },
        { 2, 9, "unknown architecture 9" },
        { 5, 100000, "layers 100000 out of range 1..1024 at byte offset 20" },   /* refused before any allocation */
        { 6, 1u << 30, "d_model 1.07374e+09 out of range" },   /* the size products would overflow */
        { 63, 0x49742400u, "rope_theta 1e+06 at byte offset 252 is not a setting of gpt2" },   /* gpt2 has no RoPE */
        { 19, 12345, "corrupt header: 12345 parameters" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(p, sizeof p, "%s/bad%zu.ckpt", t_tmpdir(), i);
        patched(p, bad[i].slot, bad[i].v, 0);
        if (bad[i].slot == 16) { CHECK(ckpt_load(p, &m, &st, 0, err, sizeof err) == 0); model_free(&m); continue; }
        CHECKF(load_fails(p, bad[i].want, err, sizeof err), "slot %d", bad[i].slot);
        CHECKF(ckpt_peek(p, &c, &st, &np, err, sizeof err) != 0, "peek slot %d", bad[i].slot);
    }
}

static void test_checkpoint_size(void) {
    char p[700], err[512];
    long n;
    unsigned char *b = slurp(ckpt, &n);
    CHECK(b != NULL);
    if (!b) return;
    snprintf(p, sizeof p, "%s/short.ckpt", t_tmpdir());
    spit(p, b, n - 4);
    CHECK(load_fails(p, "truncated", err, sizeof err));
    spit(p, b, 600);
    CHECK(load_fails(p, "truncated header: 600 of 1024", err, sizeof err));
    spit(p, b, 0);
    CHECK(load_fails(p, "truncated header: 0 of 1024", err, sizeof err));
    b[n - 1] ^= 1;   /* last byte of v */
    spit(p, b, n);
    CHECK(load_fails(p, "checksum", err, sizeof err));
    b[n - 1] ^= 1;
    wr32le(b + 4, 2);   /* version */
    spit(p, b, n);
    CHECK(load_fails(p, "version 2", err, sizeof err));
    wr32le(b, 0x12345678);
    spit(p, b, n);
    CHECK(load_fails(p, "bad magic", err, sizeof err));
    free(b);
}

static int shard_fails(const char *p, const char *want) {
    shard s;
    char err[512];
    if (shard_load(&s, p, err, sizeof err) == 0) { shard_free(&s); return 0; }
    if (!strstr(err, p) || (want && !strstr(err, want))) { printf("  expected '%s' in: %s\n", want, err); return 0; }
    return 1;
}

static void test_shard(void) {
    char src[700], p[700];
    snprintf(src, sizeof src, "%s/train.tok", corpus);
    long n;
    unsigned char *b = slurp(src, &n);
    CHECK(b != NULL);
    if (!b) return;
    snprintf(p, sizeof p, "%s/x.tok", t_tmpdir());
    spit(p, b, n - 1);
    CHECK(shard_fails(p, "truncated at byte offset"));
    spit(p, b, 1024 + 10);
    CHECK(shard_fails(p, "truncated at byte offset 1034"));
    unsigned char *b2 = calloc(1, (size_t)n + 64);
    memcpy(b2, b, (size_t)n);
    spit(p, b2, n + 64);   /* bytes appended (a file padded by a copy tool) */
    CHECK(shard_fails(p, "64 unexpected bytes after the index"));
    free(b2);
    wr32le(b + 12, 30);   /* pad id = vocab: would index past the embedding */
    spit(p, b, n);
    CHECK(shard_fails(p, "pad id out of range"));
    wr32le(b + 12, 0);
    wr32le(b + 24, 3);    /* 3 labels from 30 in a vocabulary of 30 */
    spit(p, b, n);
    CHECK(shard_fails(p, "label base"));
    free(b);
}

/* val.tok of another prep run (another vocabulary) beside train.tok: refused, not trained on. */
static void test_val_mismatch(void) {
    char other[700], p[800], q[800], out[800];
    snprintf(other, sizeof other, "%s/other", t_tmpdir());
    make_corpus(other, 40, 2);
    snprintf(p, sizeof p, "%s/val.tok", other);
    snprintf(q, sizeof q, "%s/val.tok", corpus);
    long n;
    unsigned char *b = slurp(p, &n);
    CHECK(b != NULL);
    if (!b) return;
    spit(q, b, n);
    free(b);
    snprintf(out, sizeof out, "%s/v.ckpt", t_tmpdir());
    pretrain_opts o;
    pretrain_defaults(&o);
    o.data_dir = corpus; o.out_path = out;
    o.cfg.layers = 1; o.cfg.d_model = 16; o.cfg.heads = 2; o.cfg.ctx = 16;
    o.batch = 2; o.steps = 1; o.quiet = 1; o.threads = 1;
    CHECK(pretrain_run(&o) != 0);
    CHECKF(strstr(o.err, "val.tok does not belong with train.tok"), "%s", o.err);
    CHECK(access(out, F_OK) != 0);
}

/* prep stops when its interrupt flag is set and leaves the output directory as it was. */
static void test_prep_interrupt(void) {
    char cap[700], out[700], err[512];
    snprintf(cap, sizeof cap, "%s/one.pcap", t_tmpdir());
    snprintf(out, sizeof out, "%s/never", t_tmpdir());
    /* a valid pcap with one raw-IPv4 UDP packet */
    unsigned char f[24 + 16 + 28] = { 0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0 };
    wr32le(f + 16, 65535); wr32le(f + 20, 101);
    wr32le(f + 24 + 8, 28); wr32le(f + 24 + 12, 28);
    unsigned char ip[28] = { 0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0x30, 0x39, 0, 53, 0, 8, 0, 0 };
    memcpy(f + 40, ip, 28);
    spit(cap, f, sizeof f);
    prep_cfg cfg;
    prep_cfg_default(&cfg);
    prep *pp = prep_new(&cfg, NULL, NULL, 0, NULL);
    CHECK(pp != NULL);
    if (!pp) return;
    volatile sig_atomic_t flag = 0;
    prep_set_interrupt(pp, &flag);
    CHECK_EQ(prep_add_file(pp, cap, -1, err, sizeof err), 0);
    flag = 1;
    CHECK_EQ(prep_add_file(pp, cap, -1, err, sizeof err), -2);
    prep_free(pp);
    CHECK(access(out, F_OK) != 0);
}

/* Files of checkpoint version 1 as written before the model-config table (tests/fixtures/
 * ckpt_v1_*.ckpt, made by tools/make_ckpt_v1.c): they keep loading, with the same config,
 * token ids and training fields, and weights equal to the init they were saved from. */
static void test_checkpoint_v1_fixture(void) {
    const char *names[2] = { "tests/fixtures/ckpt_v1_gpt2.ckpt", "tests/fixtures/ckpt_v1_qwen2.ckpt" };
    for (int a = 0; a < 2; a++) {
        model m, ref;
        train_state st;
        char err[512];
        CHECKF(ckpt_load(names[a], &m, &st, 0, err, sizeof err) == 0, "%s: %s", names[a], err);
        if (!m.params) continue;
        CHECK_EQ(m.cfg.arch, a ? ARCH_QWEN2 : ARCH_GPT2);
        CHECK_EQ(m.cfg.vocab, 40); CHECK_EQ(m.cfg.ctx, 12); CHECK_EQ(m.cfg.layers, 2); CHECK_EQ(m.cfg.d_model, 16);
        CHECK_EQ(m.cfg.heads, 4); CHECK_EQ(m.cfg.kv_heads, a ? 2 : 4); CHECK(m.cfg.dropout == 0.125f);
        CHECK_EQ(st.label_base, 37); CHECK_EQ(st.n_labels, 3); CHECK_EQ(st.eos_id, 2);
        CHECK(st.vocab_hash == 0x0123456789abcdefull); CHECK_EQ((int)st.step, 42); CHECK_EQ(st.batch, 4);
        CHECK(!strcmp(st.data_dir, "/tmp/corpus-v1"));
        CHECK_EQ(model_create(&ref, &m.cfg, err, sizeof err), 0);
        model_init_weights(&ref, 7);
        CHECK_EQ((long)ref.nparams, (long)m.nparams);
        CHECK(memcmp(ref.params, m.params, m.nparams * sizeof(float)) == 0);
        model_free(&ref);
        model_free(&m);
    }
}

int main(void) {
    setup();
    RUN(test_checkpoint_header);
    RUN(test_checkpoint_size);
    RUN(test_checkpoint_v1_fixture);
    RUN(test_shard);
    RUN(test_val_mismatch);
    RUN(test_prep_interrupt);
    return t_done();
}
