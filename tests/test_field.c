/* Header-field prediction (docs/field.md): field offsets on hand-built IPv4/IPv6/TCP/UDP
 * packets, occurrences in token sequences, the loss mask of a training row, the baseline
 * arithmetic, exact match from one forward pass against explicit greedy decoding, and a toy
 * corpus whose field is a function of earlier bytes, which training must learn exactly.
 * The command line is tests/cli_field.sh. */
#include "test.h"
#include "train/finetune_field.h"
#include "train/checkpoint.h"
#include "corpus/fields.h"
#include "corpus/tokens.h"
#include "corpus/shard.h"
#include "pktbuild.h"
#include "util/util.h"
#include <sys/stat.h>

static int loc(const char *name, const uint8_t *p, uint32_t n) { return field_locate(field_by_name(name)->id, p, n); }

static void test_table(void) {
    int n;
    const field_def *t = field_table(&n);
    CHECK_EQ(n, FIELD_COUNT - 1);
    for (int i = 0; i < n; i++) {
        CHECK_EQ(t[i].id, i + 1);   /* ids are stored in checkpoints: the table is in id order */
        CHECK(field_by_name(t[i].name) == &t[i]);
        CHECK(t[i].width >= 1 && t[i].width <= 4);
    }
    CHECK(field_by_name("ip.nope") == NULL);
    CHECK(field_by_id(0) == NULL && field_by_id(FIELD_COUNT) == NULL);
}

static void test_ipv4(void) {
    uint8_t p[256];
    uint32_t n = build_ip4(p, 6, 0x0a000001, 0x0a000002, 40000, 443, 0x18, 1000, 2000, 10);
    CHECK_EQ(loc("ip.tos", p, n), 1);
    CHECK_EQ(loc("ip.len", p, n), 2);
    CHECK_EQ(loc("ip.id", p, n), 4);
    CHECK_EQ(loc("ip.ttl", p, n), 8);
    CHECK_EQ(loc("ip.proto", p, n), 9);
    CHECK_EQ(loc("tcp.sport", p, n), 20);
    CHECK_EQ(loc("tcp.dport", p, n), 22);
    CHECK_EQ(loc("tcp.seq", p, n), 24);
    CHECK_EQ(loc("tcp.ack", p, n), 28);
    CHECK_EQ(loc("tcp.flags", p, n), 33);
    CHECK_EQ(p[33], 0x18);
    CHECK_EQ(loc("tcp.window", p, n), 34);
    CHECK_EQ(loc("udp.sport", p, n), -1);
    /* cut: the window's second byte missing; the flags still there */
    CHECK_EQ(loc("tcp.window", p, 35), -1);
    CHECK_EQ(loc("tcp.flags", p, 34), 33);
    CHECK_EQ(loc("ip.ttl", p, 8), -1);
    CHECK_EQ(loc("ip.ttl", p, 9), 8);
    /* UDP */
    n = build_ip4(p, 17, 0x0a000001, 0x0a000002, 5353, 53, 0, 0, 0, 4);
    CHECK_EQ(loc("udp.sport", p, n), 20);
    CHECK_EQ(loc("udp.dport", p, n), 22);
    CHECK_EQ(loc("udp.len", p, n), 24);
    CHECK_EQ(loc("tcp.sport", p, n), -1);
    /* options: IHL 7 moves the transport header to byte 28 */
    uint8_t q[256];
    n = build_ip4(p, 6, 1, 2, 1, 2, 0x02, 0, 0, 0);
    memcpy(q, p, 20);
    memset(q + 20, 1, 8);   /* 8 bytes of NOP options */
    memcpy(q + 28, p + 20, n - 20);
    q[0] = 0x47;
    CHECK_EQ(loc("tcp.sport", q, n + 8), 28);
    CHECK_EQ(loc("tcp.flags", q, n + 8), 41);
    CHECK_EQ(loc("ip.ttl", q, n + 8), 8);
    /* a later fragment has no transport header; the first one has */
    q[6] = 0x00; q[7] = 0x10;
    CHECK_EQ(loc("tcp.sport", q, n + 8), -1);
    CHECK_EQ(loc("ip.len", q, n + 8), 2);
    q[6] = 0x20; q[7] = 0;   /* MF set, offset 0: the first fragment */
    CHECK_EQ(loc("tcp.sport", q, n + 8), 28);
    /* a bad header length */
    q[0] = 0x44;
    CHECK_EQ(loc("tcp.sport", q, n + 8), -1);
    /* not IP */
    q[0] = 0x55;
    CHECK_EQ(loc("ip.ttl", q, n + 8), -1);
}

static void test_ipv6(void) {
    uint8_t p[256];
    uint32_t n = build_ip6(p, 6, 1, 2, 40000, 443, 0x12, 5);
    CHECK_EQ(loc("ip.len", p, n), 4);
    CHECK_EQ(loc("ip.ttl", p, n), 7);
    CHECK_EQ(loc("ip.proto", p, n), 6);
    CHECK_EQ(loc("ip.id", p, n), -1);
    CHECK_EQ(loc("ip.tos", p, n), -1);
    CHECK_EQ(loc("tcp.sport", p, n), 40);
    CHECK_EQ(loc("tcp.flags", p, n), 53);
    CHECK_EQ(loc("tcp.window", p, n), 54);
    CHECK_EQ(loc("tcp.sport", p, 39), -1);
    /* hop-by-hop (8 bytes) + fragment header (8) before UDP */
    uint8_t u[256], q[256];
    uint32_t m = build_ip6(u, 17, 1, 2, 1234, 53, 0, 3);
    memcpy(q, u, 40);
    q[6] = 0;                                   /* next: hop-by-hop */
    memset(q + 40, 0, 8); q[40] = 44; q[41] = 0; /* 8 bytes, next: fragment */
    memset(q + 48, 0, 8); q[48] = 17;           /* fragment offset 0, next: UDP */
    memcpy(q + 56, u + 40, m - 40);
    uint32_t qn = m + 16;
    CHECK_EQ(loc("udp.sport", q, qn), 56);
    CHECK_EQ(loc("udp.len", q, qn), 60);
    CHECK_EQ(loc("ip.proto", q, qn), 6);        /* the fixed header's next header */
    CHECK_EQ(q[6], 0);
    q[50] = 0x00; q[51] = 0x08;                 /* offset 1 (x8 bytes): a later fragment */
    CHECK_EQ(loc("udp.sport", q, qn), -1);
    /* a chain cut by the capture */
    q[51] = 0;
    CHECK_EQ(loc("udp.sport", q, 45), -1);
}

/* a flow as tokens: packets given as (bytes, n, dir) */
static void seq_of(tok_seq *s, uint8_t pk[][256], const uint32_t *len, const int *dir, int np, int label) {
    tok_seq_init(s);
    tok_seq_begin(s, label, 0);
    for (int i = 0; i < np; i++) tok_seq_packet(s, pk[i], len[i], (int64_t)i * 1000000, dir[i]);
    tok_seq_end(s);
}

static void test_scan_and_mask(void) {
    uint8_t pk[3][256];
    uint32_t len[3];
    int dir[3] = { 0, 1, 0 };
    len[0] = build_ip4(pk[0], 6, 1, 2, 40000, 80, 0x02, 7, 0, 0);
    len[1] = build_ip6(pk[1], 17, 1, 2, 53, 5353, 0, 2);   /* no TCP: no window */
    len[2] = build_ip4(pk[2], 6, 1, 2, 40000, 80, 0x10, 8, 1, 3);
    pk[0][8] = 61; pk[2][8] = 62;
    wr16be(pk[0] + 34, 0x1234); wr16be(pk[2] + 34, 0xabcd);
    tok_seq s;
    seq_of(&s, pk, len, dir, 3, 2);
    field_occ occ[8];
    int k = field_scan(FIELD_TCP_WINDOW, s.t, s.n, occ, 8);
    CHECK_EQ(k, 2);
    /* <bos> <label> then <pkt> DIR TIME: packet 0's bytes start at token 5 */
    CHECK_EQ(occ[0].pos, 5 + 34);
    CHECK_EQ(occ[0].value, 0x1234);
    CHECK_EQ(occ[0].pkt, 0); CHECK_EQ(occ[0].dir, 0);
    uint32_t p2 = 5 + len[0] + 3 + len[1] + 3;
    CHECK_EQ(occ[1].pos, p2 + 34);
    CHECK_EQ(occ[1].value, 0xabcd);
    CHECK_EQ(occ[1].pkt, 2); CHECK_EQ(occ[1].dir, 0);
    k = field_scan(FIELD_IP_TTL, s.t, s.n, occ, 8);
    CHECK_EQ(k, 3);
    CHECK_EQ(occ[0].value, 61); CHECK_EQ(occ[1].value, 64); CHECK_EQ(occ[2].value, 62);
    CHECK_EQ(occ[1].dir, 1);
    CHECK_EQ(occ[1].pos, 5 + len[0] + 3 + 7);
    CHECK_EQ(field_scan(FIELD_TCP_WINDOW, s.t, s.n, occ, 1), 2);   /* counts past cap */

    /* the loss mask: targets only where the next token is a byte of the field */
    int T = (int)s.n, row[1024], tgt[1024];
    CHECK_EQ(field_make_row(FIELD_TCP_WINDOW, s.t, s.n, T, TOK_PAD, row, tgt), 2);
    CHECK_EQ(row[1], TOK_UNLABELLED);   /* the label is never seen */
    CHECK_EQ(s.t[1], TOK_LABEL0 + 2);
    int set = 0;
    for (int t = 0; t < T; t++) {
        int want = -1;
        if (t == 38) want = 0x12; else if (t == 39) want = 0x34;
        else if (t == (int)p2 + 33) want = 0xab; else if (t == (int)p2 + 34) want = 0xcd;
        CHECKF(tgt[t] == want, "t %d: %d, want %d", t, tgt[t], want);
        set += tgt[t] >= 0;
        if (t > 1) CHECK_EQ(row[t], s.t[t]);
    }
    CHECK_EQ(set, 4);
    /* a row that ends inside the second window: only the first occurrence counts (T+1 tokens
     * must hold the whole field) */
    int Tc = (int)p2 + 34;   /* tokens 0..Tc: the second window's first byte only */
    CHECK_EQ(field_make_row(FIELD_TCP_WINDOW, s.t, s.n, Tc, TOK_PAD, row, tgt), 1);
    for (int t = 40; t < Tc; t++) CHECK_EQ(tgt[t], -1);
    CHECK_EQ(field_make_row(FIELD_TCP_WINDOW, s.t, s.n, Tc + 1, TOK_PAD, row, tgt), 2);
    CHECK_EQ(tgt[Tc], 0xcd);
    /* padding past the sequence */
    CHECK_EQ(field_make_row(FIELD_IP_TTL, s.t, s.n, T + 10, TOK_PAD, row, NULL), 3);
    CHECK_EQ(row[T + 5], TOK_PAD);
    tok_seq_free(&s);
}

/* a shard in memory from token sequences */
static void shard_from(shard *sh, tok_seq *seqs, int n) {
    memset(sh, 0, sizeof *sh);
    size_t tot = 0;
    for (int i = 0; i < n; i++) tot += seqs[i].n;
    sh->tokens = malloc(tot * sizeof(tok_t));
    sh->seqs = calloc((size_t)n, sizeof(shard_seq));
    sh->vocab_size = tok_vocab_size(4); sh->pad_id = TOK_PAD; sh->bos_id = TOK_BOS; sh->eos_id = TOK_EOS;
    sh->n_labels = 4; sh->label_base = TOK_LABEL0;
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        memcpy(sh->tokens + off, seqs[i].t, seqs[i].n * sizeof(tok_t));
        sh->seqs[i] = (shard_seq){ .off = off, .len = (uint32_t)seqs[i].n, .label = 0 };
        off += seqs[i].n;
    }
    sh->n_seqs = (uint64_t)n; sh->n_tokens = tot;
}

static void test_baselines(void) {
    /* TTLs per flow (direction in brackets):
     *   flow 0: 64[c] 128[s] 64[c] 128[s]
     *   flow 1: 64[c] 64[c] 50[s] 51[s]
     *   flow 2: 30[c] 31[c] 31[c]
     * train = flows 0, 1, 2: values 64 x4, 128 x2, 31 x2, 50, 51, 30 -> majority 64 (4 of 11).
     * Scored on the same flows:
     *   majority hits: 4
     *   copy (same flow and direction, majority 64 when none):
     *     flow 0: 64(none->64 hit) 128(none->64 miss) 64(prev 64 hit) 128(prev 128 hit)   = 3
     *     flow 1: 64(none->64 hit) 64(prev 64 hit) 50(none->64 miss) 51(prev 50 miss)     = 2
     *     flow 2: 30(none->64 miss) 31(prev 30 miss) 31(prev 31 hit)                      = 1
     *   copy = 6 of 11; first of their direction: 5 (0c 0s 1c 1s 2c), of which copy hits 2. */
    const int ttl[3][4] = { { 64, 128, 64, 128 }, { 64, 64, 50, 51 }, { 30, 31, 31, 0 } };
    const int dr[3][4] = { { 0, 1, 0, 1 }, { 0, 0, 1, 1 }, { 0, 0, 0, 0 } };
    const int np[3] = { 4, 4, 3 };
    tok_seq seqs[3];
    for (int f = 0; f < 3; f++) {
        uint8_t pk[4][256];
        uint32_t len[4];
        for (int i = 0; i < np[f]; i++) { len[i] = build_ip4(pk[i], 17, 1, 2, 3, 4, 0, 0, 0, 2); pk[i][8] = (uint8_t)ttl[f][i]; }
        seq_of(&seqs[f], pk, len, dr[f], np[f], f);
    }
    shard sh;
    shard_from(&sh, seqs, 3);
    long cnt;
    uint32_t maj = field_majority(FIELD_IP_TTL, &sh, 1000, &cnt);
    CHECK_EQ(maj, 64);
    CHECK_EQ(cnt, 11);
    field_score sc;
    field_score_shard(NULL, FIELD_IP_TTL, &sh, 1000, 4, maj, &sc);
    CHECK_EQ(sc.n, 11);
    CHECK_EQ(sc.majority, 4);
    CHECK_EQ(sc.copy, 6);
    CHECK_EQ(sc.first_n, 5);
    CHECK_EQ(sc.first_copy, 2);
    CHECK_EQ(sc.model, 0);
    /* rows cut at T = 98 see fewer occurrences: a packet is 33 tokens, the TTL of packet i is
     * token 13 + 33 i, so the 4th packets of flows 0 and 1 (token 112) drop out */
    field_majority(FIELD_IP_TTL, &sh, 3 * 31 + 5, &cnt);
    CHECK_EQ(cnt, 9);
    field_score_shard(NULL, FIELD_IP_TTL, &sh, 3 * 31 + 5, 4, maj, &sc);
    CHECK_EQ(sc.n, 9);
    /* the mode of flow 2 alone: 31 (x2) over 30 */
    shard sh1;
    shard_from(&sh1, &seqs[2], 1);
    CHECK_EQ(field_majority(FIELD_IP_TTL, &sh1, 1000, &cnt), 31);
    shard_free(&sh1);
    shard_free(&sh);
    for (int f = 0; f < 3; f++) tok_seq_free(&seqs[f]);
}

/* Exact match from one teacher-forced forward pass = explicit greedy decoding. With a random
 * model: decode greedily, write the decoded value into the sequence, and the teacher-forced
 * scorer must call it exact; change its last byte and it must not. */
static void test_exact_is_greedy(void) {
    model m;
    char err[256];
    model_config c = { .arch = ARCH_GPT2, .vocab = tok_vocab_size(4), .ctx = 128, .layers = 1, .d_model = 32, .heads = 2 };
    CHECK(model_create(&m, &c, err, sizeof err) == 0);
    model_init_weights(&m, 7);
    const int T = 128;
    CHECK(model_alloc_acts(&m, 1, T) == 0);
    uint8_t pk[2][256];
    uint32_t len[2];
    int dir[2] = { 0, 1 };
    len[0] = build_ip4(pk[0], 6, 1, 2, 40000, 80, 0x02, 7, 0, 0);
    len[1] = build_ip4(pk[1], 6, 2, 1, 80, 40000, 0x12, 99, 8, 0);
    tok_seq s;
    seq_of(&s, pk, len, dir, 2, 1);
    const int fields[3] = { FIELD_IP_LEN, FIELD_TCP_SEQ, FIELD_TCP_WINDOW };
    int row[128], row2[128], tested = 0;
    for (int fi = 0; fi < 3; fi++) {
        int w = field_by_id(fields[fi])->width;
        field_occ occ[4];
        int k = field_scan(fields[fi], s.t, s.n, occ, 4);
        CHECK_EQ(k, 2);
        for (int j = 0; j < k; j++) {
            field_make_row(fields[fi], s.t, s.n, T, TOK_PAD, row, NULL);
            memcpy(row2, row, sizeof row);
            uint32_t v = field_greedy(&m, row2, T, occ[j].pos, w);
            /* the greedy bytes are now in row2 at the field: score that row teacher-forced */
            model_forward(&m, row2, NULL, 1, T);
            CHECK(field_exact(m.logits, c.vocab, occ[j].pos, w, v) == 1);
            CHECK(field_exact(m.logits, c.vocab, occ[j].pos, w, v ^ 1) == 0);
            /* and on the true row: exact iff greedy decoding gives the true value */
            model_forward(&m, row, NULL, 1, T);
            CHECK_EQ(field_exact(m.logits, c.vocab, occ[j].pos, w, occ[j].value), v == occ[j].value);
            /* a wrong first byte makes every value with that first byte wrong */
            uint32_t top = v >> (8 * (w - 1));
            CHECK(field_exact(m.logits, c.vocab, occ[j].pos, w, ((top ^ 0x80) << (8 * (w - 1)))) == 0);
            tested++;
        }
    }
    CHECK_EQ(tested, 6);
    tok_seq_free(&s);
    model_free(&m);
}

/* A toy corpus: one IPv4/UDP packet per flow, TTL = f(type of service), 16 values of the
 * type of service. The field is a function of an earlier byte, so a model must learn it
 * exactly; the majority baseline gets 1/16. */
static void write_toy(const char *dir, int split, int n, uint64_t seed) {
    shard_builder b;
    shard_builder_init(&b, tok_vocab_size(1), TOK_PAD, TOK_BOS, TOK_EOS, 1, TOK_LABEL0, split);
    for (int i = 0; i < n; i++) {
        uint8_t pk[1][256];
        uint32_t len[1];
        int d[1] = { 0 };
        int tos = (int)(splitmix64(&seed) % 16);
        len[0] = build_ip4(pk[0], 17, 0x0a000001, 0x0a000002, (uint16_t)(1024 + splitmix64(&seed) % 4096), 53, 0, 0, 0, 4);
        pk[0][1] = (uint8_t)(tos << 2);
        pk[0][8] = (uint8_t)(128 + 7 * tos);   /* apart from every input byte: the LM head is the (tied) embedding */
        tok_seq s;
        seq_of(&s, pk, len, d, 1, 0);
        shard_builder_add(&b, s.t, (uint32_t)s.n, 0, 0, (uint32_t)i, (uint64_t)i);
        tok_seq_free(&s);
    }
    char path[512];
    const char *nm[3] = { "train", "val", "test" };
    snprintf(path, sizeof path, "%s/%s.tok", dir, nm[split]);
    CHECK(shard_write(&b, path) == 0);
    shard_builder_free(&b);
    /* the vocabulary file every corpus has (corpus/vocab.h): one label */
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    char v[200];
    int k = snprintf(v, sizeof v, "{\"vocab_size\": %d, \"label_base\": %d, \"labels\": [\"toy\"]}\n", tok_vocab_size(1), TOK_LABEL0);
    CHECK(write_file_atomic(path, v, (size_t)k) == 0);
}

static void test_toy_learns(void) {
    char dir[512], out[600];
    snprintf(dir, sizeof dir, "%s/toy_field", t_tmpdir());
    mkdir(dir, 0755);
    write_toy(dir, 0, 256, 1);
    write_toy(dir, 1, 64, 2);
    write_toy(dir, 2, 64, 3);
    snprintf(out, sizeof out, "%s/ttl.ckpt", t_tmpdir());   /* beside the corpus: never inside it */
    field_opts o;
    field_defaults(&o);
    o.data_dir = dir; o.out_path = out; o.field = FIELD_IP_TTL;
    o.cfg.layers = 1; o.cfg.d_model = 32; o.cfg.heads = 2; o.cfg.ctx = 64;
    o.batch = 16; o.lr = 3e-3f; o.warmup = 10; o.epochs = 25; o.patience = 0; o.threads = 1; o.quiet = 1;
    int rc = field_finetune_run(&o);
    CHECKF(rc == 0, "%s", o.err);
    CHECKF(o.best_val == 1.0, "best validation exact match %.4f after %ld steps", o.best_val, o.steps);
    CHECK(o.val_majority < 0.2);
    /* the saved model says what it is, and scores 100% on the test split */
    model m;
    train_state st;
    char err[512], path[600];
    CHECK(ckpt_load(out, &m, &st, 0, err, sizeof err) == 0);
    CHECK_EQ(st.task, CKPT_TASK_FIELD);
    CHECK_EQ(st.task_field, FIELD_IP_TTL);
    CHECK_EQ(st.task_pretrained, 0);
    CHECK_NEAR(st.task_best, 1.0, 1e-6);
    shard tr, te;
    snprintf(path, sizeof path, "%s/train.tok", dir);
    CHECK(shard_load(&tr, path, err, sizeof err) == 0);
    snprintf(path, sizeof path, "%s/test.tok", dir);
    CHECK(shard_load(&te, path, err, sizeof err) == 0);
    CHECK(model_alloc_acts(&m, 8, st.seq_len) == 0);
    long cnt;
    uint32_t maj = field_majority(FIELD_IP_TTL, &tr, st.seq_len, &cnt);
    CHECK_EQ(cnt, 256);
    field_score sc;
    field_score_shard(&m, FIELD_IP_TTL, &te, st.seq_len, 8, maj, &sc);
    CHECK_EQ(sc.n, 64);
    CHECK_EQ(sc.model, 64);
    CHECK(sc.majority < 16);
    /* greedy decoding agrees on every test occurrence */
    int row[64], ok = 0;
    CHECK(model_alloc_acts(&m, 1, st.seq_len) == 0);
    for (uint64_t i = 0; i < te.n_seqs; i++) {
        field_occ occ[2];
        const tok_t *tk = te.tokens + te.seqs[i].off;
        field_scan(FIELD_IP_TTL, tk, te.seqs[i].len, occ, 2);
        field_make_row(FIELD_IP_TTL, tk, te.seqs[i].len, st.seq_len, TOK_PAD, row, NULL);
        ok += field_greedy(&m, row, st.seq_len, occ[0].pos, 1) == occ[0].value;
    }
    CHECK_EQ(ok, 64);
    shard_free(&tr); shard_free(&te);
    model_free(&m);
}

int main(void) {
    RUN(test_table);
    RUN(test_ipv4);
    RUN(test_ipv6);
    RUN(test_scan_and_mask);
    RUN(test_baselines);
    RUN(test_exact_is_greedy);
    RUN(test_toy_learns);
    return t_done();
}
