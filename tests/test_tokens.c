/* Token vocabulary, encoder/decoder round trip, and the anonymiser on hand-built packets. */
#include "test.h"
#include "pktbuild.h"
#include "corpus/tokens.h"
#include "corpus/anon.h"
#include "util/sha256.h"

static void test_vocab_layout(void) {
    CHECK_EQ(TOK_LABEL0, 355);
    CHECK_EQ(tok_vocab_size(3), 358);
    CHECK_EQ(tok_label(-1), TOK_UNLABELLED);
    CHECK_EQ(tok_label(2), TOK_LABEL0 + 2);
    char b[32];
    CHECK(!strcmp(tok_name(0x45, b), "0x45"));
    CHECK(!strcmp(tok_name(TOK_PKT, b), "<pkt>"));
    CHECK(!strcmp(tok_name(TOK_LABEL0 + 4, b), "<label:4>"));
}

static void test_time_buckets(void) {
    CHECK_EQ(tok_time_bucket(-5), 0);
    CHECK_EQ(tok_time_bucket(0), 0);
    CHECK_EQ(tok_time_bucket(999), 0);
    CHECK_EQ(tok_time_bucket(1000), 1);
    CHECK_EQ(tok_time_bucket(1000000000000LL), TOK_NTIME - 1);
    CHECK_EQ(tok_time_value(0), 0);
    /* monotone, and every gap from 1 us to 1000 s decodes within the stated error */
    int prev = 0, bad = 0;
    for (double g = 1000; g < 1e12; g *= 1.0137) {
        int64_t gi = (int64_t)g;
        int k = tok_time_bucket(gi);
        if (k < prev) bad++;
        prev = k;
        double v = (double)tok_time_value(k);
        if (fabs(v - (double)gi) > TOK_TIME_REL_ERR * (double)gi + 1) bad++;
    }
    CHECK_EQ(bad, 0);
}

/* Encode three packets, decode: same bytes, direction, and timestamps in resolution. */
static void test_roundtrip_bytes_and_time(void) {
    uint8_t p[3][200];
    uint32_t n[3];
    n[0] = build_ip4(p[0], 6, 0x0a000001, 0x0a000002, 1234, 80, TCP_SYN, 100, 0, 0);
    n[1] = build_ip4(p[1], 6, 0x0a000002, 0x0a000001, 80, 1234, TCP_SYN | TCP_ACK, 500, 101, 0);
    n[2] = build_ip6(p[2], 17, 1, 2, 5353, 53, 0, 100);
    int64_t ts[3] = { 1700000000000000000LL, 1700000000000123456LL, 1700000002500000000LL };
    int dir[3] = { 0, 1, 0 };
    tok_seq s;
    tok_seq_init(&s);
    tok_seq_begin(&s, 2, ts[0]);
    for (int i = 0; i < 3; i++) tok_seq_packet(&s, p[i], n[i], ts[i], dir[i]);
    tok_seq_end(&s);
    CHECK_EQ(s.n, 2 + 3 * 3 + n[0] + n[1] + n[2] + 1);
    CHECK_EQ(s.t[0], TOK_BOS);
    CHECK_EQ(s.t[1], TOK_LABEL0 + 2);
    CHECK_EQ(s.t[2], TOK_PKT);
    CHECK_EQ(s.t[s.n - 1], TOK_EOS);
    tok_reader r;
    tok_packet k;
    uint8_t buf[256];
    tok_reader_init(&r, s.t, s.n, ts[0]);
    int i = 0;
    int64_t prev = ts[0];
    while (tok_reader_next(&r, &k, buf, sizeof buf) == 1 && i < 3) {
        CHECK_EQ(k.n, n[i]);
        CHECK(!memcmp(buf, p[i], n[i]));
        CHECK_EQ(k.dir, dir[i]);
        CHECK_EQ(k.flags, 0);
        double gap = i ? fabs((double)(ts[i] - prev)) : 0;   /* from the previous decoded time */
        CHECK_NEAR((double)k.ts_ns, (double)ts[i], TOK_TIME_REL_ERR * gap + 1000);
        prev = k.ts_ns;
        i++;
    }
    CHECK_EQ(i, 3);
    CHECK_EQ(r.label, 2);
    CHECK_EQ(r.stray, 0);
    tok_seq_free(&s);
}

/* Error feedback: a long run of equal gaps does not drift. */
static void test_time_no_drift(void) {
    tok_seq s;
    tok_seq_init(&s);
    uint8_t ip[20] = { 0x45 };
    tok_seq_begin(&s, -1, 0);
    for (int i = 0; i < 1000; i++) tok_seq_packet(&s, ip, 20, (int64_t)i * 1370000, 0);   /* 1.37 ms */
    tok_seq_end(&s);
    tok_reader r;
    tok_packet k;
    uint8_t buf[64];
    tok_reader_init(&r, s.t, s.n, 0);
    double worst = 0;
    int i = 0;
    while (tok_reader_next(&r, &k, buf, sizeof buf) == 1) {
        double e = fabs((double)k.ts_ns - (double)i * 1370000);
        if (e > worst) worst = e;
        i++;
    }
    CHECK_EQ(i, 1000);
    CHECK(worst <= TOK_TIME_REL_ERR * 1370000);
    CHECK_EQ(r.label, -1);
    tok_seq_free(&s);
}

/* The lenient decoder: stray tokens skipped and counted, missing DIR/TIME flagged. */
static void test_decoder_lenient(void) {
    tok_t t[] = { TOK_BOS, TOK_LABEL0, TOK_PAD, TOK_PKT, 0x45, 0x00, TOK_PKT, TOK_TIME0 + 30, TOK_DIR_SC, 1, TOK_LABEL0 + 1, 2, TOK_EOS, 7 };
    tok_reader r;
    tok_packet k;
    uint8_t buf[8];
    tok_reader_init(&r, t, sizeof t / sizeof t[0], 0);
    CHECK_EQ(tok_reader_next(&r, &k, buf, sizeof buf), 1);
    CHECK_EQ(k.n, 2);
    CHECK_EQ(k.flags, TOKP_NO_DIR | TOKP_NO_TIME);
    CHECK_EQ(tok_reader_next(&r, &k, buf, sizeof buf), 1);
    CHECK_EQ(k.n, 2);
    CHECK_EQ(buf[0], 1); CHECK_EQ(buf[1], 2);
    CHECK_EQ(k.dir, 1);
    CHECK_EQ(k.ts_ns, tok_time_value(30));
    CHECK_EQ(tok_reader_next(&r, &k, buf, sizeof buf), 0);
    CHECK_EQ(r.stray, 2);
    CHECK_EQ(r.label, 0);
}

static void test_sha256(void) {
    static const struct { const char *in, *hex; } v[] = {
        { "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
        { "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
        { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
    };
    for (int i = 0; i < 3; i++) {
        sha256_ctx c;
        uint8_t d[32];
        char hex[65];
        sha256_init(&c);
        /* feed in odd pieces to exercise the buffering */
        size_t L = strlen(v[i].in);
        for (size_t o = 0; o < L; o += 7) sha256_update(&c, v[i].in + o, L - o < 7 ? L - o : 7);
        sha256_final(&c, d);
        for (int k = 0; k < 32; k++) snprintf(hex + 2 * k, 3, "%02x", d[k]);
        CHECK(!strcmp(hex, v[i].hex));
    }
    /* one million 'a' */
    sha256_ctx c;
    uint8_t d[32], a[1000];
    memset(a, 'a', sizeof a);
    sha256_init(&c);
    for (int i = 0; i < 1000; i++) sha256_update(&c, a, sizeof a);
    sha256_final(&c, d);
    CHECK_EQ(d[0], 0xcd); CHECK_EQ(d[1], 0xc7); CHECK_EQ(d[31], 0xd0);
    /* the SHA-extension path (when the CPU has it) and the plain C rounds agree */
    static uint8_t r[10007];
    uint64_t rs = 5;
    for (size_t i = 0; i < sizeof r; i++) r[i] = (uint8_t)splitmix64(&rs);
    for (size_t L = 0; L < sizeof r; L += 997) {
        uint8_t d1[32], d2[32];
        sha256_ctx c1, c2;
        sha256_init(&c1); sha256_init(&c2);
        c2.ni = 0;
        sha256_update(&c1, r, L); sha256_update(&c2, r, L);
        sha256_final(&c1, d1); sha256_final(&c2, d2);
        CHECK(!memcmp(d1, d2, 32));
    }
}

/* ---- anonymisation ---- */

static anon_ctx A;   /* large (address cache): static, not on the stack */

static void test_anon_addresses(void) {
    anon_cfg cfg;
    anon_cfg_default(&cfg);
    anon_init(&A, &cfg, anon_key(1, NULL, 0));
    uint8_t a[4] = { 192, 168, 1, 10 }, b[4] = { 192, 168, 1, 77 }, c[4] = { 10, 0, 0, 1 }, oa[4], ob[4], oc[4];
    anon_addr(&A, A.key, 4, a, oa); anon_addr(&A, A.key, 4, b, ob); anon_addr(&A, A.key, 4, c, oc);
    CHECK(memcmp(oa, a, 4) != 0);
    /* prefix-preserving: a and b share 25 bits (192.168.1.0/25), and so do their images */
    uint32_t x = rd32be(a) ^ rd32be(b), y = rd32be(oa) ^ rd32be(ob);
    CHECK_EQ(__builtin_clz(x), __builtin_clz(y));
    CHECK_EQ(__builtin_clz(rd32be(a) ^ rd32be(c)), __builtin_clz(rd32be(oa) ^ rd32be(oc)));
    /* consistent within a capture, different across captures */
    uint8_t again[4], other[4];
    anon_init(&A, &cfg, anon_key(1, NULL, 0));
    anon_addr(&A, A.key, 4, a, again);
    CHECK(!memcmp(again, oa, 4));
    anon_init(&A, &cfg, anon_key(1, NULL, 1));
    anon_addr(&A, A.key, 4, a, other);
    CHECK(memcmp(other, oa, 4) != 0);
    /* scope: per flow by default (two flows map one address differently), or per capture */
    {
        anon_flow f1, f2;
        anon_init(&A, &cfg, anon_key(1, NULL, 0));
        anon_flow_init(&A, &f1, 1); anon_flow_init(&A, &f2, 2);
        uint8_t m1[4], m2[4];
        anon_addr(&A, f1.addr_key, 4, a, m1); anon_addr(&A, f2.addr_key, 4, a, m2);
        CHECK(memcmp(m1, m2, 4) != 0);
        cfg.scope = ANON_SCOPE_CAPTURE;
        anon_init(&A, &cfg, anon_key(1, NULL, 0));
        anon_flow_init(&A, &f1, 1); anon_flow_init(&A, &f2, 2);
        anon_addr(&A, f1.addr_key, 4, a, m1); anon_addr(&A, f2.addr_key, 4, a, m2);
        CHECK(!memcmp(m1, m2, 4) && !memcmp(m1, oa, 4));
        cfg.scope = ANON_SCOPE_FLOW;
    }
    /* special addresses stay */
    uint8_t mc[4] = { 224, 0, 0, 251 }, om[4];
    anon_addr(&A, A.key, 4, mc, om);
    CHECK(!memcmp(mc, om, 4));
    /* random mode is a bijection: 4096 consecutive addresses give 4096 distinct images */
    cfg.addr = ANON_ADDR_RANDOM;
    anon_init(&A, &cfg, 99);
    static uint32_t img[4096];
    for (uint32_t i = 0; i < 4096; i++) { uint8_t in[4], o[4]; wr32be(in, 0x0a000000u + i); anon_addr(&A, A.key, 4, in, o); img[i] = rd32be(o); }
    int dups = 0;
    for (int i = 0; i < 4096; i++) for (int j = i + 1; j < 4096; j++) dups += img[i] == img[j];
    CHECK_EQ(dups, 0);
    /* IPv6 prefix-preserving */
    cfg.addr = ANON_ADDR_PREFIX;
    anon_init(&A, &cfg, 5);
    uint8_t v6a[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1 }, v6b[16], o6a[16], o6b[16];
    memcpy(v6b, v6a, 16); v6b[15] = 9;
    anon_addr(&A, A.key, 6, v6a, o6a); anon_addr(&A, A.key, 6, v6b, o6b);
    CHECK(!memcmp(o6a, o6b, 15));
    CHECK_EQ((o6a[15] ^ o6b[15]) >> 4 == 0, (v6a[15] ^ v6b[15]) >> 4 == 0);
    CHECK(memcmp(o6a, v6a, 16) != 0);
}

/* Checksums stay valid after the rewrite, and the incremental update on a cut packet
 * equals the full computation cut at the same place. */
static void test_anon_checksums(void) {
    anon_cfg cfg;
    anon_cfg_default(&cfg);
    anon_init(&A, &cfg, anon_key(7, "s", 3));
    anon_flow f;
    anon_flow_init(&A, &f, 1);
    uint8_t p[600], q[600], full[600];
    uint32_t kinds[4][2] = { { 4, 6 }, { 4, 17 }, { 6, 6 }, { 6, 17 } };
    for (int k = 0; k < 4; k++) {
        uint32_t n = kinds[k][0] == 4 ? build_ip4(p, (int)kinds[k][1], 0xc0a80105, 0x08080808, 40000, 443, TCP_ACK | TCP_PSH, 1000, 2000, 300)
                                      : build_ip6(p, (int)kinds[k][1], 5, 6, 40000, 443, TCP_ACK, 300);
        CHECK(ip_checksums_ok(p, n));
        memcpy(full, p, n);
        anon_packet(&A, &f, 0, full, n);
        CHECKF(ip_checksums_ok(full, n), "kind %d", k);
        CHECK(memcmp(full, p, n) != 0);
        /* the same packet cut to 80 bytes: same bytes as the full rewrite's first 80 */
        memcpy(q, p, 80);
        anon_packet(&A, &f, 0, q, 80);
        CHECKF(!memcmp(q, full, 80), "kind %d", k);
        /* zero mode */
        cfg.csum = ANON_CSUM_ZERO;
        anon_init(&A, &cfg, anon_key(7, "s", 3));
        memcpy(q, p, n);
        anon_packet(&A, &f, 0, q, n);
        uint32_t l4 = kinds[k][0] == 4 ? 20 : 40;
        CHECK_EQ(rd16be(q + l4 + (kinds[k][1] == 6 ? 16 : 6)), 0);
        cfg.csum = ANON_CSUM_UPDATE;
        anon_init(&A, &cfg, anon_key(7, "s", 3));
    }
}

/* Per-flow identifiers: randomised, deltas kept, ack follows the other side's seq. */
static void test_anon_ids(void) {
    anon_cfg cfg;
    anon_cfg_default(&cfg);
    anon_init(&A, &cfg, 11);
    anon_flow f;
    anon_flow_init(&A, &f, 42);
    uint8_t a[100], b[100], c2[100];
    build_ip4(a, 6, 0x0a000001, 0x0a000002, 1000, 80, TCP_ACK, 5000, 9000, 10);
    build_ip4(b, 6, 0x0a000001, 0x0a000002, 1000, 80, TCP_ACK, 5010, 9000, 10);
    build_ip4(c2, 6, 0x0a000002, 0x0a000001, 80, 1000, TCP_ACK, 9000, 5020, 0);
    wr16be(b + 4, 0x1235); ip_fix_checksums(b, 50);
    anon_packet(&A, &f, 0, a, 50);
    anon_packet(&A, &f, 0, b, 50);
    anon_packet(&A, &f, 1, c2, 40);
    CHECK(rd32be(a + 24) != 5000);
    CHECK_EQ(rd32be(b + 24) - rd32be(a + 24), 10);        /* seq delta kept */
    CHECK_EQ(rd32be(c2 + 28) - rd32be(a + 24), 20);       /* ack refers to side a's seq */
    CHECK_EQ(rd32be(c2 + 24), rd32be(a + 28));            /* side b's seq = what a acked */
    CHECK_EQ((uint16_t)(rd16be(b + 4) - rd16be(a + 4)), 1); /* IP id delta kept */
    CHECK(rd16be(a + 4) != 0x1234);
    CHECK_EQ(rd16be(a + 20), 1000);                        /* ports kept by default */
    CHECK(ip_checksums_ok(a, 50) && ip_checksums_ok(c2, 40));
    /* masking ports */
    cfg.mask_ports = 1;
    anon_init(&A, &cfg, 11);
    build_ip4(a, 17, 0x0a000001, 0x0a000002, 1000, 53, 0, 0, 0, 10);
    anon_packet(&A, &f, 0, a, 38);
    CHECK_EQ(rd16be(a + 20), 0); CHECK_EQ(rd16be(a + 22), 0);
    CHECK(ip_checksums_ok(a, 38));
}

/* TCP timestamp option and ICMP errors quoting the original header. */
static void test_anon_options_and_icmp(void) {
    anon_cfg cfg;
    anon_cfg_default(&cfg);
    anon_init(&A, &cfg, 12);
    anon_flow f;
    anon_flow_init(&A, &f, 7);
    /* IPv4/TCP with NOP NOP TS(10) options: header 32 bytes */
    uint8_t p[64] = { 0 };
    p[0] = 0x45; wr16be(p + 2, 52); p[8] = 64; p[9] = 6;
    wr32be(p + 12, 0xc0a80001); wr32be(p + 16, 0xc0a80002);
    uint8_t *t = p + 20;
    wr16be(t, 1); wr16be(t + 2, 2); wr32be(t + 4, 1); t[12] = 8 << 4; t[13] = TCP_SYN;
    t[20] = 1; t[21] = 1; t[22] = 8; t[23] = 10; wr32be(t + 24, 123456); wr32be(t + 28, 0);
    ip_fix_checksums(p, 52);
    anon_packet(&A, &f, 0, p, 52);
    CHECK(rd32be(t + 24) != 123456);
    CHECK_EQ(rd32be(t + 24) - 123456u, f.ts[0]);
    CHECK_EQ(rd32be(t + 28), 0);    /* zero echo stays zero */
    CHECK(ip_checksums_ok(p, 52));
    /* ICMP port unreachable quoting a UDP packet from the same hosts */
    uint8_t inner[64], icmp[128] = { 0 };
    uint32_t ni = build_ip4(inner, 17, 0xc0a80001, 0xc0a80002, 5000, 53, 0, 0, 0, 4);
    icmp[0] = 0x45; wr16be(icmp + 2, (uint16_t)(28 + ni)); icmp[8] = 64; icmp[9] = 1;
    wr32be(icmp + 12, 0xc0a80002); wr32be(icmp + 16, 0xc0a80001);
    icmp[20] = 3; icmp[21] = 3;
    memcpy(icmp + 28, inner, ni);
    ip_fix_checksums(icmp, 28 + ni);
    anon_packet(&A, &f, 0, icmp, 28 + ni);
    CHECK(ip_checksums_ok(icmp, 28 + ni));
    CHECK(!memcmp(icmp + 28 + 12, icmp + 16, 4));   /* quoted src = outer dst, both mapped */
    CHECK(!memcmp(icmp + 28 + 16, icmp + 12, 4));
    CHECK(rd32be(icmp + 28 + 12) != 0xc0a80001);
}

/* Payload: DNS A answers, NTP reference ids, and addresses / MACs of the capture's
 * headers quoted in application data are rewritten; checksums stay correct. */
static void test_anon_payload(void) {
    static anon_dict d;
    anon_cfg cfg;
    anon_cfg_default(&cfg);
    anon_init(&A, &cfg, 21);
    anon_dict_clear(&d);
    const uint8_t host[4] = { 10, 9, 8, 7 }, mac[6] = { 0x74, 0xda, 0x38, 1, 2, 3 };
    anon_dict_add_ip(&d, 4, host);
    anon_dict_add_mac(&d, mac);
    A.dict = &d;
    anon_flow f;
    anon_flow_init(&A, &f, 3);
    /* DNS response: question "a.io" A IN, answer (pointer to it) A 93.184.216.34 */
    uint8_t dns[] = { 0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
                      1, 'a', 2, 'i', 'o', 0, 0, 1, 0, 1,
                      0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 93, 184, 216, 34 };
    uint8_t p[200];
    uint32_t n = build_ip4(p, 17, 0x08080808, 0x0a090807, 53, 40000, 0, 0, 0, sizeof dns);
    memcpy(p + 28, dns, sizeof dns);
    ip_fix_checksums(p, n);
    anon_packet(&A, &f, 1, p, n);
    CHECK(memcmp(p + 28 + sizeof dns - 4, dns + sizeof dns - 4, 4) != 0);
    CHECK(!memcmp(p + 28, dns, sizeof dns - 4));     /* the rest of the message untouched */
    CHECK(ip_checksums_ok(p, n));
    /* NTP server reply, stratum 2: refid is an address */
    uint8_t ntp[48] = { 0x24, 2, 6, 0xe9 };
    ntp[12] = 131; ntp[13] = 188; ntp[14] = 3; ntp[15] = 220;
    n = build_ip4(p, 17, 0x08080808, 0x0a090807, 123, 123, 0, 0, 0, sizeof ntp);
    memcpy(p + 28, ntp, sizeof ntp);
    ip_fix_checksums(p, n);
    anon_packet(&A, &f, 1, p, n);
    CHECK(memcmp(p + 28 + 12, ntp + 12, 4) != 0);
    CHECK(ip_checksums_ok(p, n));
    /* a discovery protocol quoting the host's address and MAC, cut at 60 bytes */
    uint8_t disc[40] = { 'H', 'E', 'L', 'O' };
    memcpy(disc + 5, host, 4);
    memcpy(disc + 11, mac, 6);
    n = build_ip4(p, 17, 0x0a090807, 0xffffffff, 9999, 9999, 0, 0, 0, sizeof disc);
    memcpy(p + 28, disc, sizeof disc);
    ip_fix_checksums(p, n);
    uint8_t full[200];
    memcpy(full, p, n);
    anon_packet(&A, &f, 0, full, n);
    CHECK(ip_checksums_ok(full, n));
    CHECK(memcmp(full + 28 + 5, host, 4) != 0);
    CHECK(!memcmp(full + 28 + 5, full + 12, 4));   /* mapped like the header's source */
    static const uint8_t zero[6];
    CHECK(!memcmp(full + 28 + 11, zero, 6));
    CHECK(!memcmp(full + 28, "HELO", 4));
    anon_packet(&A, &f, 0, p, 60);
    CHECK(!memcmp(p, full, 60));
    CHECK_EQ(A.scrubbed_mac, 2);
    /* IPv4 record-route option quoting the host */
    uint8_t o[64] = { 0x47, 0, 0, 36, 0, 1, 0, 0, 64, 17 };
    wr32be(o + 12, 0x0a090807); wr32be(o + 16, 0x08080808);
    o[20] = 7; o[21] = 7; o[22] = 8; memcpy(o + 23, host, 4); o[27] = 0;
    wr16be(o + 28, 1000); wr16be(o + 30, 53); wr16be(o + 32, 8);
    ip_fix_checksums(o, 36);
    CHECK(ip_checksums_ok(o, 36));
    anon_packet(&A, &f, 0, o, 36);
    CHECK(memcmp(o + 23, host, 4) != 0);
    CHECK(!memcmp(o + 23, o + 12, 4));
    CHECK(ip_checksums_ok(o, 36));
    anon_dict_free(&d);
}

int main(void) {
    RUN(test_vocab_layout);
    RUN(test_time_buckets);
    RUN(test_roundtrip_bytes_and_time);
    RUN(test_time_no_drift);
    RUN(test_decoder_lenient);
    RUN(test_sha256);
    RUN(test_anon_addresses);
    RUN(test_anon_checksums);
    RUN(test_anon_ids);
    RUN(test_anon_options_and_icmp);
    RUN(test_anon_payload);
    return t_done();
}
