/* Token formats (corpus/tokfmt.h): shards with 32-bit ids and the version-1 files before them,
 * tcpflowgen's field tokens id by id and back to packets, NetGPT's bigrams, and the round trip
 * capture -> field tokens -> packets on the example captures and ../shared/data. */
#include "test.h"
#include "pktbuild.h"
#include "testfiles.h"
#include "corpus/tokfmt.h"
#include "corpus/tokens.h"
#include "corpus/tcpfields.h"
#include "corpus/bigrams.h"
#include "corpus/shard.h"
#include "corpus/prep.h"
#include <sys/stat.h>

/* A shard written before token formats (version 1, 16-bit ids; made by pktlm 4c47b5c:
 * `pktlm prep -o tests/fixtures/v1_corpus --packets 2 --payload 8 --no-hash --label dns -q
 * examples/dns_icmp_udp_ns.pcap`) loads as format bytes, with the tokens today's prep makes. */
static void test_v1_shard_loads(void) {
    shard old[3], now[3];
    char err[512], path[1300], dir[600];
    static const char *split[3] = { "train", "val", "test" };
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "tests/fixtures/v1_corpus/%s.tok", split[k]);
        CHECKF(shard_load(&old[k], path, err, sizeof err) == 0, "%s", err);
        CHECK_EQ(old[k].version, 1);
        CHECK_EQ(old[k].format, TOKFMT_BYTES);
    }
    prep_cfg c;
    prep_cfg_default(&c);
    c.max_pkts = 2; c.payload = 8; c.hash_inputs = 0;
    label_set ls = { 0 };
    label_set_add(&ls, "dns");
    prep *p = prep_new(&c, &ls, NULL, 0, NULL);
    CHECK_EQ(prep_add_file(p, "examples/dns_icmp_udp_ns.pcap", 0, err, sizeof err), 0);
    tpath(dir, sizeof dir, "v1now");
    CHECKF(prep_finish(p, dir, err, sizeof err) == 0, "%s", err);
    prep_free(p);
    label_set_free(&ls);
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s/%s.tok", dir, split[k]);
        CHECKF(shard_load(&now[k], path, err, sizeof err) == 0, "%s", err);
        CHECK_EQ(now[k].version, SHARD_VERSION);
        CHECK_EQ(now[k].n_tokens, old[k].n_tokens);
        CHECK_EQ(now[k].n_seqs, old[k].n_seqs);
        CHECK_EQ(now[k].vocab_size, old[k].vocab_size);
        CHECK(now[k].n_tokens == old[k].n_tokens && !memcmp(now[k].tokens, old[k].tokens, old[k].n_tokens * sizeof(tok_t)));
        CHECK_EQ(shard_check_same_format(&old[0], &now[k], path, err, sizeof err), 0);
        /* byte-format ids still take 2 bytes a token on disk */
        struct stat st;
        CHECK(stat(path, &st) == 0 && (uint64_t)st.st_size == 1024 + now[k].n_tokens * 2 + now[k].n_seqs * 32);
        shard_free(&old[k]); shard_free(&now[k]);
    }
}

/* Ids past 65535 survive a shard (4 bytes on disk); an id outside the vocabulary is refused
 * with its byte offset; another format does not belong with train.tok. */
static void test_wide_ids(void) {
    char path[600], err[512];
    tpath(path, sizeof path, "wide.tok");
    shard_builder b;
    shard_builder_init(&b, TCPF_LABEL0 + 2, TCPF_PAD, TCPF_COMPLETE, TCPF_EOS, 2, TCPF_LABEL0, 0);
    b.s.format = TOKFMT_FIELDS;
    tok_t t[6] = { TCPF_COMPLETE, TCPF_LABEL0 + 1, TCPF_FORWARD, 65535, 70000 - 4359, TCPF_EOS };
    CHECK_EQ(shard_builder_add(&b, t, 6, 1, 0, 0, 7), 0);
    CHECK_EQ(shard_write(&b, path), 0);
    shard s;
    CHECKF(shard_load(&s, path, err, sizeof err) == 0, "%s", err);
    CHECK_EQ(s.format, TOKFMT_FIELDS);
    CHECK_EQ(s.vocab_size, TCPF_LABEL0 + 2);
    CHECK(s.n_tokens == 6 && !memcmp(s.tokens, t, sizeof t));
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size == 1024 + 6 * 4 + 32);
    shard by = { 0 };
    by.format = TOKFMT_BYTES; by.vocab_size = s.vocab_size; by.pad_id = s.pad_id; by.bos_id = s.bos_id; by.eos_id = s.eos_id;
    by.n_labels = s.n_labels; by.label_base = s.label_base;
    CHECK_EQ(shard_check_same_format(&by, &s, path, err, sizeof err), -1);
    CHECKF(strstr(err, "'fields'") && strstr(err, "'bytes'"), "%s", err);
    shard_free(&s);
    /* id 70000 in a vocabulary of 65642 */
    b.s.tokens[3] = 70000;
    CHECK_EQ(shard_write(&b, path), 0);
    CHECK_EQ(shard_load(&s, path, err, sizeof err), -1);
    CHECKF(strstr(err, "70000") && strstr(err, "byte offset 1036"), "%s", err);
    shard_builder_free(&b);
}

/* One TCP packet with options, id by id as tcpflowgen lays it out (tcpfields.h). */
static uint32_t tcp_pkt(uint8_t *ip, int v6, int dir, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t plen) {
    uint32_t n = v6 ? build_ip6(ip, 6, dir ? 2 : 1, dir ? 1 : 2, dir ? 443 : 40001, dir ? 40001 : 443, flags, plen)
                    : build_ip4(ip, 6, dir ? 0x0a000002 : 0x0a000001, dir ? 0x0a000001 : 0x0a000002, dir ? 443 : 40001,
                                dir ? 40001 : 443, flags, seq, ack, plen);
    /* add 12 bytes of options: MSS 1460, NOP NOP, SACK-permitted, NOP NOP, wscale... (doff 8) */
    uint32_t ihl = v6 ? 40 : 20;
    uint8_t opt[12] = { 2, 4, 0x05, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7 };
    memmove(ip + ihl + 32, ip + ihl + 20, plen);
    memcpy(ip + ihl + 20, opt, 12);
    n += 12;
    uint8_t *h = ip + ihl;
    if (v6) { wr32be(h + 4, seq); wr32be(h + 8, ack); wr16be(ip + 4, (uint16_t)(n - 40)); }
    else wr16be(ip + 2, (uint16_t)n);
    h[12] = 8 << 4;
    wr16be(h + 14, 29200); wr16be(h + 18, 0);
    ip_fix_checksums(ip, n);
    return n;
}

static void test_fields_layout(void) {
    uint8_t ip[200];
    uint32_t n = tcp_pkt(ip, 0, 0, 0x02, 0x12345678, 0x9abcdef0, 10);
    tok_t out[64];
    int64_t clock = 1000;
    size_t k = tcpf_encode_packet(out, ip, n, 1000 + 5000, 0, &clock);
    tok_t want[] = { TCPF_FORWARD, TCPF_TIME0 + tok_time_bucket(5000), TCPF_PKT_SIZE, (tok_t)(n - 20), TCPF_HEAD, 40001, 443,
                     0x1234, 0x5678, 0x9abc, 0xdef0, 8, 0, 0x02, 29200, 0, 0, 0x0204, 0x05b4, 0x0101, 0x0402, 0x0103, 0x0307 };
    CHECK_EQ(k, sizeof want / sizeof want[0]);
    CHECK(!memcmp(out, want, sizeof want));
    CHECK_EQ(clock, 1000 + tok_time_value(tok_time_bucket(5000)));
    /* decoded: the same header, synthetic addresses, payload left to the length field */
    uint8_t dec[200];
    size_t i = 0;
    int dir, has_time;
    int64_t gap;
    uint64_t bad = 0;
    uint32_t m = tcpf_decode_packet(out, k, &i, 0, dec, sizeof dec, &dir, &gap, &has_time, &bad);
    CHECK_EQ(m, 20 + 32);
    CHECK_EQ(i, k);
    CHECK_EQ(bad, 0);
    CHECK_EQ(dir, 0);
    CHECK_EQ(has_time, 1);
    CHECK_EQ(rd16be(dec + 2), n);
    CHECK(!memcmp(dec + 20, ip + 20, 16));          /* ports, seq, ack, doff, flags, window */
    CHECK(!memcmp(dec + 20 + 18, ip + 20 + 18, 14)); /* urgent pointer, options */
    CHECK_EQ(dec[9], 6);
    /* not TCP, or the TCP header cut: no tokens */
    uint8_t u[100];
    uint32_t un = build_ip4(u, 17, 1, 2, 53, 53, 0, 0, 0, 4);
    CHECK_EQ(tcpf_encode_packet(out, u, un, 0, 0, &clock), 0);
    CHECK_EQ(tcpf_encode_packet(out, ip, 20 + 30, 0, 0, &clock), 0);
    /* the names */
    char nb[32];
    const tok_format *f = tokfmt_by_name("fields");
    CHECK(f && f->id == TOKFMT_FIELDS && f->pad == 65545 && f->bos == 65536 && f->eos == 65544);
    CHECK(!strcmp(tokfmt_name(f, TCPF_PKT_SIZE, nb), "<pkt_size>"));
    CHECK(!strcmp(tokfmt_name(f, 443, nb), "443"));
    CHECK(!strcmp(tokfmt_name(f, TCPF_LABEL0 + 3, nb), "<label:3>"));
}

/* A whole flow: type from tcpflowgen's rule; IPv6 flagged; decoding gives every packet back. */
static void flow_seq(tok_seq *s, int v6, const uint8_t *flags, int np) {
    tok_seq_init(s);
    tok_seq_set_format(s, TOKFMT_FIELDS);
    tok_seq_begin(s, 2, 0);
    uint8_t ip[200];
    for (int i = 0; i < np; i++) {
        int dir = i % 2;
        uint32_t n = tcp_pkt(ip, v6, dir, flags[i], 1000u + (uint32_t)i, 2000u + (uint32_t)i, (uint32_t)i * 3);
        tok_seq_packet(s, ip, n, (int64_t)i * 1000000, dir);
    }
    tok_seq_end(s);
}

static void test_fields_flow(void) {
    const uint8_t complete[] = { 0x02, 0x12, 0x10, 0x18, 0x11, 0x10, 0x11, 0x10 };
    const uint8_t start[] = { 0x02, 0x12, 0x10, 0x18, 0x18, 0x10, 0x18 };
    const uint8_t end[] = { 0x18, 0x10, 0x18, 0x11, 0x10, 0x11, 0x10 };
    const uint8_t ecn[] = { 0xc2, 0x52, 0x10, 0x11, 0x10, 0x11, 0x10 };   /* ECE/CWR are not read */
    CHECK_EQ(tcpf_flow_type(complete, 8), TCPF_COMPLETE);
    CHECK_EQ(tcpf_flow_type(start, 7), TCPF_START);
    CHECK_EQ(tcpf_flow_type(end, 7), TCPF_END);
    CHECK_EQ(tcpf_flow_type(ecn, 7), TCPF_COMPLETE);
    CHECK_EQ(tcpf_flow_type(complete, 6), TCPF_FREE);   /* fewer than 7 packets */
    for (int v6 = 0; v6 < 2; v6++) {
        tok_seq s;
        flow_seq(&s, v6, complete, 8);
        CHECK_EQ(s.t[0], TCPF_COMPLETE);
        CHECK_EQ(s.t[1], TCPF_LABEL0 + 2);
        CHECK_EQ(s.t[2] == TCPF_IP6, v6);
        CHECK_EQ(s.t[s.n - 1], TCPF_EOS);
        tok_reader r;
        tok_reader_init_fmt(&r, TOKFMT_FIELDS, s.t, s.n, 0);
        tok_packet p;
        uint8_t buf[400];
        int np = 0;
        while (tok_reader_next(&r, &p, buf, sizeof buf) == 1) {
            uint8_t ip[200];
            tcp_pkt(ip, v6, np % 2, complete[np], 1000u + (uint32_t)np, 2000u + (uint32_t)np, (uint32_t)np * 3);
            uint32_t hl = v6 ? 40 : 20;
            CHECK_EQ(p.n, hl + 32);
            CHECK_EQ(buf[0] >> 4, v6 ? 6 : 4);
            CHECK_EQ(p.dir, np % 2);
            CHECK(!memcmp(buf + hl, ip + hl, 16) && !memcmp(buf + hl + 18, ip + hl + 18, 14));
            CHECK_EQ(v6 ? rd16be(buf + 4) : rd16be(buf + 2), v6 ? rd16be(ip + 4) : rd16be(ip + 2));
            CHECK_NEAR((double)p.ts_ns, np * 1e6, np * 1e6 * 0.13 + 1000);
            np++;
        }
        CHECK_EQ(np, 8);
        CHECK_EQ(r.label, 2);
        CHECK_EQ(r.stray, 0);
        tok_seq_free(&s);
    }
}

/* NetGPT's vocabulary order and rule; bytes come back from the overlapping words. */
static void test_bigrams(void) {
    const tok_format *f = tokfmt_by_name("bigrams");
    CHECK(f && f->pad == 0 && f->bos == 2 && f->eos == 1 && f->label_base == 65543);
    char nb[32];
    CHECK(!strcmp(tokfmt_name(f, 0, nb), "[PAD]") && !strcmp(tokfmt_name(f, 4, nb), "[MASK]"));
    CHECK(!strcmp(tokfmt_name(f, 5, nb), "0000") && !strcmp(tokfmt_name(f, 5 + 0x4500, nb), "4500"));
    CHECK(!strcmp(tokfmt_name(f, 65540, nb), "ffff"));
    uint8_t ip[100];
    uint32_t n = build_ip4(ip, 17, 0x0a000001, 0x0a000002, 1000, 53, 0, 0, 0, 6), n2 = build_ip4(ip + 50, 17, 0x0a000002, 0x0a000001, 53, 1000, 0, 0, 0, 9);
    tok_seq s;
    tok_seq_init(&s);
    tok_seq_set_format(&s, TOKFMT_BIGRAMS);
    tok_seq_begin(&s, -1, 0);
    tok_seq_packet(&s, ip, n, 0, 0);
    tok_seq_packet(&s, ip + 50, n2, 5, 1);
    tok_seq_end(&s);
    CHECK_EQ(s.n, 2 + n + n2 + 1);   /* CLS LABEL, <pkt> + n-1 words each, SEP */
    CHECK_EQ(s.t[0], BIG_CLS);
    CHECK_EQ(s.t[1], BIG_UNLABELLED);
    CHECK_EQ(s.t[2], BIG_PKT);
    CHECK_EQ(s.t[3], BIG_W0 + 0x4500);
    CHECK_EQ(s.t[4], BIG_W0 + 0x0000 + ip[2]);   /* bytes 1, 2 */
    CHECK_EQ(s.t[s.n - 1], BIG_SEP);
    tok_reader r;
    tok_reader_init_fmt(&r, TOKFMT_BIGRAMS, s.t, s.n, 0);
    tok_packet p;
    uint8_t buf[100];
    CHECK_EQ(tok_reader_next(&r, &p, buf, sizeof buf), 1);
    CHECK(p.n == n && !memcmp(buf, ip, n) && p.dir == 0);
    CHECK_EQ(tok_reader_next(&r, &p, buf, sizeof buf), 1);
    CHECK(p.n == n2 && !memcmp(buf, ip + 50, n2) && p.dir == 1);
    CHECK_EQ(tok_reader_next(&r, &p, buf, sizeof buf), 0);
    CHECK_EQ(r.label, -1);
    CHECK_EQ(r.stray, 0);
    tok_seq_free(&s);
}

/* ---- capture -> field tokens -> packets: every TCP header field comes back ---- */

typedef struct { tok_t **seq; size_t *len; int *tcp; int n, cap; } seqs;
static void keep_cb(void *v, const flow *f, const tok_t *tok, size_t n) {
    seqs *s = v;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->seq = realloc(s->seq, (size_t)s->cap * sizeof *s->seq);
        s->len = realloc(s->len, (size_t)s->cap * sizeof *s->len);
        s->tcp = realloc(s->tcp, (size_t)s->cap * sizeof *s->tcp);
    }
    s->seq[s->n] = tok ? malloc(n * sizeof *tok + 1) : NULL;
    if (tok) memcpy(s->seq[s->n], tok, n * sizeof *tok);
    s->len[s->n] = n;
    s->tcp[s->n] = f->key.proto == 6;
    s->n++;
}
static void seqs_free(seqs *s) {
    for (int i = 0; i < s->n; i++) free(s->seq[i]);
    free(s->seq); free(s->len); free(s->tcp);
}

/* TCP header fields of packet ip (n bytes) as field tokens would say them: 0 when none */
static int tcp_fields(const uint8_t *ip, uint32_t n, uint32_t *v) {
    tok_t t[64];
    int64_t clock = 0;
    size_t k = tcpf_encode_packet(t, ip, n, 0, 0, &clock);
    for (size_t i = 3; i < k; i++) v[i - 3] = (uint32_t)t[i];   /* from the size on */
    return (int)(k > 3 ? k - 3 : 0);
}

/* One capture: prep's byte tokens with whole headers are the truth, the field tokens decoded
 * must give the same fields for every TCP packet of every TCP flow. Adds to *flows, *pkts. */
static void roundtrip_capture(const char *path, long *flows, long *pkts, long *bad) {
    prep_cfg c;
    prep_cfg_default(&c);
    c.anonymise = 0; c.payload = 0; c.max_bytes = 65535; c.max_pkts = 1000000; c.hash_inputs = 0; c.drop_dhcp = 0;
    seqs by = { 0 }, fl = { 0 };
    char err[512];
    int r1 = prep_each_flow(&c, path, 0, keep_cb, &by, NULL, err, sizeof err);
    c.tokens = TOKFMT_FIELDS;
    int r2 = prep_each_flow(&c, path, 0, keep_cb, &fl, NULL, err, sizeof err);
    CHECK_EQ(r1, r2);
    CHECK_EQ(by.n, fl.n);
    uint8_t *b1 = malloc(65536), *b2 = malloc(65536);
    for (int i = 0; i < by.n && i < fl.n; i++) {
        if (!by.tcp[i] || !by.seq[i]) { CHECK(!fl.seq[i]); continue; }   /* fields: TCP flows only */
        if (!fl.seq[i]) continue;                                      /* no packet with a whole TCP header */
        tok_reader rb, rf;
        tok_reader_init(&rb, by.seq[i], by.len[i], 0);
        tok_reader_init_fmt(&rf, TOKFMT_FIELDS, fl.seq[i], fl.len[i], 0);
        tok_packet pb, pf;
        while (tok_reader_next(&rb, &pb, b1, 65536) == 1) {
            uint32_t want[64], got[64];
            int nw = tcp_fields(b1, pb.n, want);
            if (!nw) continue;   /* a fragment or a cut header: the field format has no packet for it */
            if (tok_reader_next(&rf, &pf, b2, 65536) != 1) { (*bad)++; break; }
            int ng = tcp_fields(b2, pf.n, got);
            /* a size below the TCP header's (IPv4 total length 0 under segmentation offload) decodes
             * to the smallest valid one: the header alone */
            uint32_t hl = want[8] < 5 ? 20 : want[8] * 4;
            if (want[0] < hl) want[0] = hl;
            if (ng != nw || memcmp(want, got, (size_t)nw * sizeof *want) || pf.dir != pb.dir ||
                llabs(pf.ts_ns - pb.ts_ns) > 1000 + (pb.ts_ns - 0) / 4) {
                if (*bad < 3) {
                    printf("  %s flow %d packet differs (%d vs %d words, dir %d/%d, t %lld/%lld):", path, i, nw, ng, pb.dir, pf.dir,
                           (long long)pb.ts_ns, (long long)pf.ts_ns);
                    for (int w = 0; w < nw && w < ng; w++) if (want[w] != got[w]) printf(" word %d %u/%u", w, want[w], got[w]);
                    printf("\n");
                }
                (*bad)++;
            }
            (*pkts)++;
        }
        CHECK_EQ(tok_reader_next(&rf, &pf, b2, 65536), 0);
        (*flows)++;
    }
    free(b1); free(b2);
    seqs_free(&by); seqs_free(&fl);
}

static void test_fields_roundtrip_examples(void) {
    static const char *caps[] = { "examples/http_tls.pcap", "examples/http_ssh_2if.pcapng", "examples/ssh_sll2.pcap",
                                  "examples/mixed_sll.pcapng" };
    long flows = 0, pkts = 0, bad = 0;
    for (int i = 0; i < 4; i++) roundtrip_capture(caps[i], &flows, &pkts, &bad);
    CHECK(flows >= 5);
    CHECK(pkts >= 50);
    CHECK_EQ(bad, 0);
    printf("  examples: %ld TCP flows, %ld packets, %ld differ\n", flows, pkts, bad);
}

static void test_fields_roundtrip_shared(void) {
    const char *sh = getenv("PKTLM_SHARED");
    if (!sh || !*sh) SKIP("../shared/data absent");
    char dir[600];
    snprintf(dir, sizeof dir, "%s/data", sh);
    tlist all = { 0 };
    t_walk(dir, &all);
    long flows = 0, pkts = 0, bad = 0, files = 0;
    for (int i = 0; i < all.n; i++) {
        const char *x = strrchr(all.v[i], '.');
        if (!x || (strcmp(x, ".pcap") && strcmp(x, ".pcapng") && strcmp(x, ".cap"))) continue;
        roundtrip_capture(all.v[i], &flows, &pkts, &bad);
        files++;
    }
    tl_free(&all);
    CHECK(flows > 1000);
    CHECK_EQ(bad, 0);
    printf("  ../shared/data: %ld captures, %ld TCP flows, %ld packets, %ld differ\n", files, flows, pkts, bad);
}

int main(void) {
    RUN(test_v1_shard_loads);
    RUN(test_wide_ids);
    RUN(test_fields_layout);
    RUN(test_fields_flow);
    RUN(test_bigrams);
    RUN(test_fields_roundtrip_examples);
    RUN(test_fields_roundtrip_shared);
    return t_done();
}
