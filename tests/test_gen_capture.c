/* Whole-capture generation (docs/generate.md "Whole captures"): a model trained on `prep
 * --unit capture` windows writes one multi-flow capture. Checked on a constructed token stream
 * (a capture of interleaved flows cut into windows exactly as prep cuts them, decoded by the
 * generator's pool: flows found again by their 5-tuples, hosts kept across flows, time laid out
 * window after window, every TCP flow's seq/ack consistent) and end to end (a tiny Mamba-2
 * trained a few steps on a capture corpus generates --packets N exactly, label-conditioned,
 * batch-independent; with tshark and ../shared, validate_pcap.sh). */
#include "test.h"
#include "pktbuild.h"
#include "gen/generate.h"
#include "gen/sampler.h"
#include "corpus/prep.h"
#include "corpus/tokens.h"
#include "eval/flowfeat.h"
#include "models/model.h"
#include "train/pretrain.h"
#include "models/checkpoint.h"
#include "testfiles.h"
#include <sys/stat.h>

/* A capture of NF interleaved flows: TCP flows f = 0..NF-3 from 3 clients to 2 servers (handshake,
 * request, response, ACK, FIN both ways, ACK) and two UDP DNS exchanges, all overlapping in time.
 * Packets in time order, at most max; returns their count. */
enum { NF = 8, PER_TCP = 9 };
typedef struct { int64_t ts; uint8_t ip[256]; uint32_t n; int flow, dir; } tpkt;
static int cmp_tpkt(const void *a, const void *b) {
    const tpkt *x = a, *y = b;
    return x->ts != y->ts ? (x->ts < y->ts ? -1 : 1) : x->flow - y->flow;
}
static int make_packets(tpkt *p, int64_t t0, int variant) {
    int n = 0;
    for (int f = 0; f < NF; f++) {
        uint32_t c = 0x0a010001 + (uint32_t)(f % 3), s = 0xc0a80001 + (uint32_t)(f % 2);
        uint16_t cp = (uint16_t)(40000 + f + 16 * variant), sp = f % 2 ? 80 : 443;
        int64_t ts = t0 + (int64_t)f * 3000000;
        if (f >= NF - 2) {   /* DNS */
            for (int k = 0; k < 2; k++, n++) {
                p[n].n = k ? build_ip4(p[n].ip, 17, 0x08080808, c, 53, cp, 0, 0, 0, 40) : build_ip4(p[n].ip, 17, c, 0x08080808, cp, 53, 0, 0, 0, 20);
                p[n].ts = ts + k * 700000; p[n].flow = f; p[n].dir = k;
            }
            continue;
        }
        static const struct { int dir; uint8_t fl; uint32_t plen; } P[PER_TCP] = {
            { 0, TCP_SYN, 0 }, { 1, TCP_SYN | TCP_ACK, 0 }, { 0, TCP_ACK, 0 }, { 0, TCP_ACK | TCP_PSH, 20 },
            { 1, TCP_ACK | TCP_PSH, 100 }, { 0, TCP_ACK, 0 }, { 0, TCP_ACK | TCP_FIN, 0 }, { 1, TCP_ACK | TCP_FIN, 0 }, { 0, TCP_ACK, 0 },
        };
        for (int k = 0; k < PER_TCP; k++, n++) {
            p[n].n = P[k].dir ? build_ip4(p[n].ip, 6, s, c, sp, cp, P[k].fl, 7, 9, P[k].plen) : build_ip4(p[n].ip, 6, c, s, cp, sp, P[k].fl, 7, 9, P[k].plen);
            p[n].ts = ts + k * 2000000 + f * 100000; p[n].flow = f; p[n].dir = P[k].dir;
        }
    }
    qsort(p, (size_t)n, sizeof *p, cmp_tpkt);
    return n;
}

/* the capture cut into windows of at most `per` packets, as prep's window_packet does: the
 * label at the start of each, the clock carried over, EOS at the end of each */
static int windows_into_pool(gen_pool *pool, const tpkt *p, int n, int per) {
    tok_seq w;
    tok_seq_init(&w);
    int nw = 0;
    for (int i = 0; i < n; i += per) {
        tok_seq_begin(&w, 0, i ? w.clock_ns : p[0].ts);
        for (int k = i; k < n && k < i + per; k++) tok_seq_packet(&w, p[k].ip, p[k].n, p[k].ts, p[k].dir);
        tok_seq_end(&w);
        if (gen_pool_add_seq(pool, w.t, w.n, 1, (uint32_t)nw, 123456789) < 0) nw = -1000;
        nw++;
        int64_t c = w.clock_ns;
        tok_seq_reset(&w);
        w.clock_ns = c;
    }
    tok_seq_free(&w);
    return nw;
}

/* every TCP flow of a capture with consistent seq/ack both ways and a handshake; *nflows flows */
static int tcp_ok(const char *path, size_t *nflows, size_t *tcp, size_t *hs) {
    ff_set s;
    ff_set_init(&s, 0, 0);
    char err[512];
    int ok = ff_read_file(&s, path, -1, NULL, err, sizeof err) == 0;
    *tcp = *hs = 0;
    for (size_t i = 0; ok && i < s.n; i++) {
        const ff_flow *f = &s.fl[i];
        if (f->key.proto != 6) continue;
        (*tcp)++;
        *hs += ff_handshake(f) != 0;
        if (!(f->seq_ok[0] && f->seq_ok[1] && f->ack_ok[0] && f->ack_ok[1])) ok = 0;
    }
    *nflows = s.n;
    ff_set_free(&s);
    return ok;
}

static void validate(const char *path) {
    const char *sh = t_shared();
    if (!sh || system("command -v tshark >/dev/null 2>&1") != 0) return;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "bash %s/tools/validate-pcap/validate_pcap.sh %s > %s.log 2>&1", sh, path, path);
    CHECKF(system(cmd) == 0, "validate_pcap.sh %s failed (see %s.log)", path, path);
}

static void test_capture_grammar(void) {
    gen_gram g;
    uint8_t m[TOK_LABEL0 + 1];
    gen_gram_init(&g);
    g.capture = 1;
    gen_gram_push(&g, TOK_BOS); gen_gram_push(&g, TOK_LABEL0); gen_gram_push(&g, TOK_PKT);
    gen_gram_mask(&g, m, TOK_LABEL0 + 1, TOK_LABEL0, TOK_LABEL0 + 1);
    CHECK(m[TOK_DIR_CS] && m[TOK_DIR_SC]);            /* a window may start with a server's packet */
    gen_gram_push(&g, TOK_DIR_SC);
    gen_gram_mask(&g, m, TOK_LABEL0 + 1, TOK_LABEL0, TOK_LABEL0 + 1);
    CHECK(m[TOK_TIME0] && m[TOK_TIME0 + 40]);         /* ... after a gap since the previous window */
    /* the second packet: another flow's version, protocol and addresses are allowed */
    uint8_t ip[64];
    uint32_t n = build_ip4(ip, 17, 0x0a000001, 0x0a000002, 1000, 53, 0, 0, 0, 4);
    gen_gram_push(&g, TOK_TIME0 + 40);
    for (uint32_t i = 0; i < n; i++) gen_gram_push(&g, ip[i]);
    gen_gram_push(&g, TOK_PKT); gen_gram_push(&g, TOK_DIR_CS); gen_gram_push(&g, TOK_TIME0 + 3);
    gen_gram_mask(&g, m, TOK_LABEL0 + 1, TOK_LABEL0, TOK_LABEL0 + 1);
    CHECK(m[0x45] && m[0x60]);
    for (int i = 0; i < 9; i++) gen_gram_push(&g, i == 0 ? 0x45 : 0);
    gen_gram_mask(&g, m, TOK_LABEL0 + 1, TOK_LABEL0, TOK_LABEL0 + 1);
    CHECK(m[6] && m[17] && m[1]);                     /* any protocol the writer writes */
    gen_gram_push(&g, 6);
    for (int i = 10; i < 12; i++) gen_gram_push(&g, 0);
    gen_gram_mask(&g, m, TOK_LABEL0 + 1, TOK_LABEL0, TOK_LABEL0 + 1);
    CHECK(m[0x0b] && m[0xc0]);                        /* any source address */
}

static void test_capture_pool(void) {
    tpkt *p = malloc(200 * sizeof *p);
    int n = make_packets(p, 1700000000LL * 1000000000LL, 0);
    CHECK_EQ(n, (NF - 2) * PER_TCP + 4);
    gen_pool pool;
    gen_pool_init(&pool, 3);
    pool.capture = 1;
    pool.capture_t0_ns = 1704067200LL * 1000000000LL;
    int nw = windows_into_pool(&pool, p, n, 7);
    CHECK_EQ(nw, (n + 6) / 7);
    CHECK_EQ(pool.st.packets, n);
    char out[256];
    tpath(out, sizeof out, "capture_pool.pcap");
    trace_cfg cfg;
    trace_cfg_default(&cfg);
    trace_stats st;
    CHECK_EQ(gen_pool_write(&pool, out, &cfg, &st), 0);
    CHECK_EQ(st.written, n);
    CHECK_EQ(st.dropped, 0);
    CHECK_EQ(pool.nflows, NF);                 /* found again by their 5-tuples */
    CHECK_EQ(pool.nhosts, 3 + 2 + 1);          /* 3 clients, 2 web servers, one DNS server */
    CHECK_EQ(st.flows, NF);
    size_t nf, tcp, hs;
    CHECK(tcp_ok(out, &nf, &tcp, &hs));
    CHECK_EQ(nf, NF);
    CHECK_EQ(tcp, NF - 2);
    CHECK_EQ(hs, NF - 2);                      /* side a = the SYN's sender, whatever the window */
    rec *r = malloc(200 * sizeof *r);
    int m = read_back(out, r, 200);
    CHECK_EQ(m, n);
    /* time: windows follow each other, gaps as the time tokens carry them (12 %, docs/tokens.md) */
    CHECK_EQ(r[0].p.ts_ns, pool.capture_t0_ns);
    double real = (double)(p[n - 1].ts - p[0].ts), got = (double)(r[m - 1].p.ts_ns - r[0].p.ts_ns);
    CHECKF(fabs(got - real) < 0.13 * real, "duration %.0f vs %.0f ns", got, real);
    /* hosts kept across flows: the packets in order, each client's address the same in all of
     * its flows; the three clients distinct and from the client pool */
    uint32_t caddr[3] = { 0, 0, 0 };
    for (int i = 0; i < m && i < n; i++) {
        pkt_info pi;
        CHECK_EQ(pkt_parse(r[i].p.linktype, r[i].p.data, r[i].p.caplen, r[i].p.len, &pi), 0);
        uint32_t c = (uint32_t)(p[i].flow % 3), a = rd32be(p[i].dir ? pi.dst : pi.src);
        CHECK((a >> 24) == 10);
        if (!caddr[c]) caddr[c] = a;
        CHECK_EQ(a, caddr[c]);
    }
    CHECK(caddr[0] != caddr[1] && caddr[1] != caddr[2] && caddr[0] != caddr[2]);
    free(r);
    validate(out);
    gen_pool_free(&pool);
    /* max_packets: the capture's first N packets in time */
    gen_pool_init(&pool, 3);
    pool.capture = 1; pool.max_packets = 10;
    windows_into_pool(&pool, p, n, 5);
    CHECK_EQ(gen_pool_write(&pool, out, &cfg, &st), 0);
    CHECK_EQ(st.written, 10);
    gen_pool_free(&pool);
    /* a packet too short for a 5-tuple gets no flow: dropped by the writer as before */
    gen_pool_init(&pool, 3);
    pool.capture = 1;
    tok_t t[64];
    size_t k = 0;
    int64_t clock = 0;
    t[k++] = TOK_BOS; t[k++] = TOK_LABEL0;
    k += tok_encode_packet(t + k, p[0].ip, 12, 0, 0, &clock);
    k += tok_encode_packet(t + k, p[0].ip, 24, 1000, 0, &clock);
    t[k++] = TOK_EOS;
    gen_pool_add_seq(&pool, t, k, 1, 0, 0);
    CHECK_EQ(gen_pool_write(&pool, out, &cfg, &st), 0);
    CHECK_EQ(st.written + st.dropped, 2);
    CHECK_EQ(st.drop_short, 2);
    CHECK_EQ(pool.nflows, 0);
    gen_pool_free(&pool);
    free(p);
}

/* window order keys (a carried state's streams): windows are laid out by key, not number */
static void test_capture_order(void) {
    gen_pool pool;
    gen_pool_init(&pool, 3);
    pool.capture = 1;
    pool.capture_t0_ns = 1704067200LL * 1000000000LL;
    static const uint64_t key[3] = { 5ull << 32, 0, 1 };   /* window 0 last, then 1, then 2 */
    for (int w = 0; w < 3; w++) {
        uint8_t ip[128];
        uint32_t n = build_ip4(ip, 17, 0x0a000001, 0x0a000002, 1000, 53, 0, 0, 0, (uint32_t)(10 + 10 * w));
        tok_t t[256];
        size_t k = 0;
        int64_t clock = 0;
        t[k++] = TOK_BOS; t[k++] = TOK_LABEL0;
        k += tok_encode_packet(t + k, ip, n, 1000000000LL, 0, &clock);   /* 1 s after the previous window */
        t[k++] = TOK_EOS;
        CHECK(gen_pool_add_seq(&pool, t, k, 1, (uint32_t)w, 0) == 1);
        CHECK_EQ(gen_pool_window_order(&pool, (uint32_t)w, key[w]), 0);
    }
    char out[256];
    tpath(out, sizeof out, "capture_order.pcap");
    trace_cfg cfg;
    trace_cfg_default(&cfg);
    trace_stats st;
    CHECK_EQ(gen_pool_write(&pool, out, &cfg, &st), 0);
    rec r[4];
    CHECK_EQ(read_back(out, r, 4), 3);
    static const int want[3] = { 1, 2, 0 };
    for (int i = 0; i < 3; i++) {
        pkt_info pi;
        CHECK_EQ(pkt_parse(r[i].p.linktype, r[i].p.data, r[i].p.caplen, r[i].p.len, &pi), 0);
        CHECKF(pi.payload_len == (uint32_t)(10 + 10 * want[i]), "packet %d: %u bytes of UDP payload", i, pi.payload_len);
        int64_t dt = r[i].p.ts_ns - pool.capture_t0_ns - (int64_t)(i + 1) * 1000000000LL;
        CHECKF(llabs(dt) < 130000000LL * (i + 1), "packet %d at %lld ns", i, (long long)dt);   /* 12 % per gap */
    }
    gen_pool_free(&pool);
}

/* the finished sequences of a run (gen_opts.on_seq) */
typedef struct { long seq[64]; int stream[64]; tok_t *t[64]; size_t n[64]; int k; } seqs_seen;
static void on_seq(void *ctx, long seq, int stream, const tok_t *tok, size_t n) {
    seqs_seen *v = ctx;
    if (v->k >= 64) return;
    v->seq[v->k] = seq; v->stream[v->k] = stream; v->n[v->k] = n;
    v->t[v->k] = malloc(n * sizeof *tok);
    memcpy(v->t[v->k], tok, n * sizeof *tok);
    v->k++;
}
static void seqs_free(seqs_seen *v) { for (int i = 0; i < v->k; i++) free(v->t[i]); v->k = 0; }

/* Window k of stream 0's tokens after its <bos> were sampled (temperature 1, the window's own
 * sampler stream) under the grammar mask from logits (one row per token, row j predicting tok[j
 * + 1]): the tokens the same sampler draws from these logits that are not the window's. */
static int sample_misses(const float *logits, int V, const tok_t *tok, size_t n, int label, uint64_t seed, long k) {
    gen_gram g;
    gen_gram_init(&g);
    g.capture = 1; g.fmt = TOKFMT_BYTES;
    gen_gram_push(&g, tok[0]);
    uint8_t *m = malloc((size_t)V);
    sampler smp;
    sampler_init(&smp, V, 1.0f, 0, 1.0f, gen_stream_seed(seed, 0, k));
    int miss = 0;
    for (size_t j = 1; j < n; j++) {
        gen_gram_mask(&g, m, V, label, label + 1);
        miss += sampler_sample(&smp, logits + (j - 1) * (size_t)V, m) != tok[j];
        gen_gram_push(&g, tok[j]);
    }
    sampler_free(&smp);
    free(m);
    return miss;
}

/* A recurrent model's capture is one sequence: the windows of a stream at batch 1, concatenated
 * (each window whole, its last token included), are what the model's chunked forward of that one
 * sequence gives, token for token through the same samplers; the forward of each window alone (a
 * reset state) gives other logits. */
static void check_carried(const char *ckpt, gen_opts base) {
    gen_opts o = base;
    seqs_seen v = { .k = 0 };
    o.batch = 1; o.max_len = 100; o.packets = 0; o.tokens = 380; o.label = 0;
    o.on_seq = on_seq; o.on_seq_ctx = &v;
    CHECKF(gen_run(&o) == 0, "%s", o.err);
    CHECK_EQ(o.carried, 1);
    CHECK(v.k >= 3);
    model m = { 0 };
    model_vocab voc;
    char err[512];
    CHECKF(ckpt_load_model(ckpt, &m, &voc, NULL, 0, err, sizeof err) == 0, "%s", err);
    const int V = m.cfg.vocab;
    int all[1024], T = 0;
    for (int w = 0; w < v.k; w++) {
        CHECK_EQ(v.stream[w], 0);
        CHECK_EQ(v.seq[w], w);
        for (size_t j = 0; j < v.n[w] && T < 1024; j++) all[T++] = v.t[w][j];
    }
    CHECK(T <= m.cfg.ctx);
    if (T > m.cfg.ctx) T = m.cfg.ctx;
    CHECK_EQ(model_alloc_acts(&m, 1, T), 0);
    model_forward(&m, all, NULL, 1, T);
    int carried_miss = 0, pos = 0;
    double reset_diff = 0;
    float *lg = malloc((size_t)T * V * sizeof *lg);
    memcpy(lg, m.logits, (size_t)T * V * sizeof *lg);
    for (int w = 0; w < v.k && pos < T; w++) {
        carried_miss += sample_misses(lg + (size_t)pos * V, V, v.t[w], v.n[w], TOK_LABEL0, o.seed, w);
        if (w > 0) {
            int n = (int)v.n[w];
            CHECK_EQ(model_alloc_acts(&m, 1, n), 0);
            model_forward(&m, all + pos, NULL, 1, n);
            /* the logits, not the sampled tokens: a barely trained model's state may move its
             * logits too little to flip a draw (seen in the -O1 sanitizer build) */
            for (size_t i = 0; i < (size_t)n * V; i++) {
                double d = fabs((double)m.logits[i] - lg[(size_t)pos * V + i]);
                if (d > reset_diff) reset_diff = d;
            }
        }
        pos += (int)v.n[w];
    }
    CHECKF(carried_miss == 0, "%d tokens are not what the forward of the whole stream gives", carried_miss);
    CHECKF(reset_diff > 1e-3, "windows from a reset state give the same logits (largest difference %.2e): the state "
           "was not carried", reset_diff);
    free(lg);
    model_free(&m);
    seqs_free(&v);
}

/* prep --unit capture of 6 captures of interleaved flows -> a tiny Mamba-2 -> generate */
static void test_capture_generate(void) {
    char dir[256], corpus[300], ckpt[300], out[300], out2[300];
    tpath(dir, sizeof dir, "capgen");
    mkdir(dir, 0755);
    tpkt *p = malloc(200 * sizeof *p);
    prep_cfg pc;
    prep_cfg_default(&pc);
    pc.unit = PREP_UNIT_CAPTURE; pc.window = 512; pc.payload = 8; pc.hash_inputs = 0;
    label_set ls = { 0 };
    label_set_add(&ls, "web");
    prep *pr = prep_new(&pc, &ls, NULL, 0, NULL);
    char err[512] = "";
    for (int c = 0; c < 6; c++) {
        char path[320];
        snprintf(path, sizeof path, "%s/cap%d.pcap", dir, c);
        int n = make_packets(p, 1700000000LL * 1000000000LL + c * 1000000000LL, c);
        cap_writer w;
        CHECK_EQ(cap_writer_open(&w, path, 101, 1, 65535), 0);
        for (int i = 0; i < n; i++) cap_writer_write(&w, p[i].ts, p[i].ip, p[i].n, p[i].n);
        CHECK_EQ(cap_writer_close(&w), 0);
        CHECKF(prep_add_file(pr, path, 0, err, sizeof err) == 0, "%s", err);
    }
    snprintf(corpus, sizeof corpus, "%s/corpus", dir);
    CHECKF(prep_finish(pr, corpus, err, sizeof err) == 0, "%s", err);
    prep_free(pr);
    label_set_free(&ls);
    free(p);
    snprintf(ckpt, sizeof ckpt, "%s/m2.ckpt", dir);
    pretrain_opts po;
    pretrain_defaults(&po);
    po.data_dir = corpus; po.out_path = ckpt;
    po.cfg.arch = ARCH_MAMBA2; po.cfg.layers = 1; po.cfg.d_model = 32; po.cfg.d_state = 8; po.cfg.head_dim = 16;
    po.cfg.chunk = 64; po.cfg.ctx = 512;
    po.batch = 2; po.steps = t_san() ? 3 : 40; po.lr = 1e-2f; po.warmup = 2; po.threads = 1; po.quiet = 1;
    CHECKF(pretrain_run(&po) == 0, "%s", po.err);
    gen_opts o;
    gen_defaults(&o);
    o.model_path = ckpt;
    snprintf(out, sizeof out, "%s/gen.pcap", dir);
    o.out_path = out; o.packets = 60; o.batch = 4; o.seed = 5; o.threads = 1; o.quiet = 1; o.label = 0;
    int rc = gen_run(&o);
    CHECKF(rc == 0, "%s", o.err);
    CHECK_EQ(o.capture, 1);                 /* from the checkpoint: its corpus was capture windows */
    CHECK_EQ(o.carried, 1);                 /* Mamba-2: each slot one stream of windows */
    CHECK(o.ds.packets >= 60);
    CHECK_EQ(o.ts.in, 60);                  /* exactly the first 60 packets of the capture */
    CHECK_EQ(o.ts.written + o.ts.dropped, 60);
    CHECK(o.capture_flows >= 1);
    size_t nf, tcp, hs;
    CHECK(tcp_ok(out, &nf, &tcp, &hs));     /* every TCP flow's seq/ack consistent */
    validate(out);
    /* the carried state: a stream's windows do not depend on --batch (stream 0 at batch 4 is the
     * start of the one stream at batch 1), and are the model's forward of the whole stream */
    {
        seqs_seen v4 = { .k = 0 }, v1 = { .k = 0 };
        gen_opts a = o;
        a.on_seq = on_seq; a.on_seq_ctx = &v4;
        CHECK_EQ(gen_run(&a), 0);
        a.batch = 1; a.on_seq_ctx = &v1;
        CHECK_EQ(gen_run(&a), 0);
        int s0 = 0;
        for (int i = 0; i < v4.k; i++) {
            CHECK(v4.stream[i] >= 0 && v4.stream[i] < 4);
            if (v4.stream[i] != 0) continue;
            CHECK(s0 < v1.k && v1.n[s0] == v4.n[i] && !memcmp(v1.t[s0], v4.t[i], v4.n[i] * sizeof(tok_t)));
            s0++;
        }
        CHECK(s0 >= 1 && v1.k > s0);
        seqs_free(&v4); seqs_free(&v1);
        check_carried(ckpt, o);
    }
    /* every window from a reset state (--reset-windows): the same file at batch 1 (window 0
     * samples the label first either way; more windows may run past the budget at batch 4, so
     * the token hashes differ, not the first 60 packets) */
    o.reset_windows = 1;
    CHECK_EQ(gen_run(&o), 0);
    CHECK_EQ(o.carried, 0);
    CHECK_EQ(o.ts.in, 60);
    gen_opts o2 = o;
    snprintf(out2, sizeof out2, "%s/gen1.pcap", dir);
    o2.out_path = out2; o2.batch = 1;
    CHECK_EQ(gen_run(&o2), 0);
    rec *a = malloc(128 * sizeof *a), *b = malloc(128 * sizeof *b);
    int na = read_back(out, a, 128), nb = read_back(out2, b, 128);
    CHECK_EQ(na, nb);
    for (int i = 0; i < na && i < nb; i++) CHECK(a[i].p.caplen == b[i].p.caplen && !memcmp(a[i].d, b[i].d, a[i].p.caplen));
    free(a); free(b);
    /* --tokens: a budget in tokens */
    gen_opts o3 = o;
    o3.packets = 0; o3.tokens = 300; o3.label = -2;
    CHECKF(gen_run(&o3) == 0, "%s", o3.err);
    CHECK_EQ(o3.sampled, 300);
    CHECK_EQ(o3.capture, 1);
    CHECK(tcp_ok(out, &nf, &tcp, &hs));
    /* --flows means nothing for one capture: refused; --unit flow: one flow per sequence */
    gen_opts o4 = o;
    o4.packets = 0; o4.flows = 5;
    CHECK(gen_run(&o4) != 0 && strstr(o4.err, "--flows"));
    o4.unit = PREP_UNIT_FLOW;
    CHECKF(gen_run(&o4) == 0, "%s", o4.err);
    CHECK_EQ(o4.capture, 0);
    CHECK_EQ(o4.ds.seqs, 5);
}

int main(void) {
    RUN(test_capture_grammar);
    RUN(test_capture_pool);
    RUN(test_capture_order);
    RUN(test_capture_generate);
    return t_done();
}
