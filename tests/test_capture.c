/* Reader and parser on captures made here: every format variant, link type and edge case
 * of docs/capture.md, written byte by byte. */
#include "test.h"
#include "pktbuild.h"
#include <stdlib.h>

typedef struct { uint8_t b[1 << 16]; size_t n; int be; } buf;
static void put(buf *x, const void *p, size_t n) { memcpy(x->b + x->n, p, n); x->n += n; }
static void p16(buf *x, uint16_t v) { uint8_t t[2]; if (x->be) wr16be(t, v); else wr16le(t, v); put(x, t, 2); }
static void p32(buf *x, uint32_t v) { uint8_t t[4]; if (x->be) wr32be(t, v); else wr32le(t, v); put(x, t, 4); }

static void pcap_hdr(buf *x, uint32_t magic, uint32_t lt) {
    p32(x, magic); p16(x, 2); p16(x, 4); p32(x, 0); p32(x, 0); p32(x, 65535); p32(x, lt);
}
static void pcap_rec(buf *x, uint32_t sec, uint32_t frac, const uint8_t *d, uint32_t caplen, uint32_t len) {
    p32(x, sec); p32(x, frac); p32(x, caplen); p32(x, len); put(x, d, caplen);
}

/* read a whole file: returns packets read, rc of the last cap_next in *last */
static int read_all(const char *path, cap_pkt *out, int max, int *last, char *err) {
    cap_reader r;
    int n = 0;
    if (cap_open(&r, path) != 0) { if (err) strcpy(err, r.err); cap_close(&r); *last = -2; return 0; }
    cap_pkt p;
    int rc;
    static uint8_t store[64][2048];
    while ((rc = cap_next(&r, &p)) == 1) {
        if (n < max) { out[n] = p; memcpy(store[n], p.data, p.caplen < 2048 ? p.caplen : 2048); out[n].data = store[n]; }
        n++;
    }
    if (rc < 0 && err) strcpy(err, r.err);
    *last = rc;
    cap_close(&r);
    return n;
}

static void test_pcap_variants(void) {
    uint8_t ip[128];
    uint32_t n = build_ip4(ip, 17, 0x0a000001, 0x0a000002, 1000, 53, 0, 0, 0, 10);
    struct { uint32_t magic; int be; int64_t mul; } v[] = {
        { 0xa1b2c3d4, 0, 1000 }, { 0xa1b2c3d4, 1, 1000 }, { 0xa1b23c4d, 0, 1 }, { 0xa1b23c4d, 1, 1 },
    };
    for (int k = 0; k < 4; k++) {
        buf x = { .be = v[k].be };
        pcap_hdr(&x, v[k].magic, LT_RAW);
        pcap_rec(&x, 100, 5, ip, n, n);
        pcap_rec(&x, 101, 7, ip, n, n);
        char path[256]; tpath(path, sizeof path, "v.pcap");
        write_bytes(path, x.b, x.n);
        cap_pkt p[4]; int last;
        int got = read_all(path, p, 4, &last, NULL);
        CHECK_EQ(got, 2);
        CHECK_EQ(last, 0);
        CHECK_EQ(p[0].ts_ns, 100 * 1000000000ll + 5 * v[k].mul);
        CHECK_EQ(p[1].ts_ns, 101 * 1000000000ll + 7 * v[k].mul);
        CHECK_EQ(p[0].caplen, n);
        CHECK(memcmp(p[0].data, ip, n) == 0);
        CHECK_EQ(p[0].linktype, LT_RAW);
    }
    /* modified (Kuznetzov) pcap: 24-byte record headers */
    buf x = { 0 };
    pcap_hdr(&x, 0xa1b2cd34, LT_RAW);
    p32(&x, 5); p32(&x, 1); p32(&x, n); p32(&x, n); p32(&x, 0); p32(&x, 0); put(&x, ip, n);
    char path[256]; tpath(path, sizeof path, "mod.pcap");
    write_bytes(path, x.b, x.n);
    cap_pkt p[2]; int last;
    CHECK_EQ(read_all(path, p, 2, &last, NULL), 1);
    CHECK_EQ(last, 0);
    CHECK(p[0].caplen == n && memcmp(p[0].data, ip, n) == 0);
    /* the FCS bits in the upper half of the link-type field are not part of the type */
    buf y = { 0 };
    pcap_hdr(&y, 0xa1b2c3d4, 0x30000001);
    uint8_t fr[160]; uint32_t fn = eth_wrap(fr, ip, n);
    pcap_rec(&y, 1, 0, fr, fn, fn);
    write_bytes(path, y.b, y.n);
    CHECK_EQ(read_all(path, p, 2, &last, NULL), 1);
    CHECK_EQ(p[0].linktype, LT_ETHERNET);
}

static void ng_block(buf *x, uint32_t type, const buf *body) {
    uint32_t len = 12 + (uint32_t)((body->n + 3) & ~(size_t)3);
    p32(x, type); p32(x, len); put(x, body->b, body->n);
    static const uint8_t z[4];
    put(x, z, ((body->n + 3) & ~(size_t)3) - body->n);
    p32(x, len);
}
static void ng_shb(buf *x) {
    buf b = { .be = x->be };
    p32(&b, 0x1a2b3c4d); p16(&b, 1); p16(&b, 0); p32(&b, 0xffffffff); p32(&b, 0xffffffff);
    ng_block(x, 0x0a0d0d0a, &b);
}
static void ng_idb(buf *x, uint16_t lt, uint32_t snap, int tsresol) {
    buf b = { .be = x->be };
    p16(&b, lt); p16(&b, 0); p32(&b, snap);
    if (tsresol >= 0) { p16(&b, 9); p16(&b, 1); uint8_t r[4] = { (uint8_t)tsresol }; put(&b, r, 4); p16(&b, 0); p16(&b, 0); }
    ng_block(x, 1, &b);
}
static void ng_epb(buf *x, uint32_t ifid, uint64_t ts, const uint8_t *d, uint32_t caplen, uint32_t len) {
    buf b = { .be = x->be };
    p32(&b, ifid); p32(&b, (uint32_t)(ts >> 32)); p32(&b, (uint32_t)ts); p32(&b, caplen); p32(&b, len); put(&b, d, caplen);
    ng_block(x, 6, &b);
}

static void test_pcapng(void) {
    uint8_t ip[128], fr[160];
    uint32_t n = build_ip4(ip, 6, 0x0a000001, 0x0a000002, 1000, 80, TCP_SYN, 1, 0, 0);
    uint32_t fn = eth_wrap(fr, ip, n);
    for (int be = 0; be < 2; be++) {
        buf x = { .be = be };
        ng_shb(&x);
        ng_idb(&x, LT_ETHERNET, 65535, -1);          /* default µs */
        ng_idb(&x, LT_RAW, 96, 9);                    /* ns */
        ng_idb(&x, LT_LINUX_SLL2, 0, 0x80 | 20);      /* 2^-20 s */
        buf unk = { .be = be }; p32(&unk, 42);
        ng_block(&x, 0x00000bad, &unk);               /* unknown block: skipped */
        ng_epb(&x, 0, 1500000000ull * 1000000 + 3, fr, fn, fn);
        ng_epb(&x, 1, 1500000000ull * 1000000000 + 7, ip, 30, n);   /* cut to 30 bytes */
        uint8_t sll2[200]; memset(sll2, 0, 20); wr16be(sll2, 0x0800); memcpy(sll2 + 20, ip, n);
        ng_epb(&x, 2, (1ull << 20) * 10 + (1ull << 19), sll2, n + 20, n + 20);
        /* simple packet block: interface 0 */
        buf spb = { .be = be }; p32(&spb, fn); put(&spb, fr, fn);
        ng_block(&x, 3, &spb);
        /* a second section in the same file restarts interface numbering */
        ng_shb(&x);
        ng_idb(&x, LT_NULL, 65535, 6);
        uint8_t nul[200]; wr32le(nul, 2); memcpy(nul + 4, ip, n);
        ng_epb(&x, 0, 9, nul, n + 4, n + 4);
        char path[256]; tpath(path, sizeof path, "t.pcapng");
        write_bytes(path, x.b, x.n);
        cap_pkt p[8]; int last; char err[512] = "";
        int got = read_all(path, p, 8, &last, err);
        CHECKF(got == 5 && last == 0, "got %d last %d err %s", got, last, err);
        if (got != 5) continue;
        CHECK_EQ(p[0].linktype, LT_ETHERNET);
        CHECK_EQ(p[0].ts_ns, 1500000000ll * 1000000000 + 3000);
        CHECK_EQ(p[1].linktype, LT_RAW);
        CHECK_EQ(p[1].ts_ns, 1500000000ll * 1000000000 + 7);
        CHECK(p[1].caplen == 30 && p[1].len == n);
        CHECK_EQ(p[2].linktype, LT_LINUX_SLL2);
        CHECK_EQ(p[2].ts_ns, 10500000000ll);
        CHECK(p[3].caplen == fn && p[3].linktype == LT_ETHERNET);
        CHECK_EQ(p[4].linktype, LT_NULL);
        CHECK_EQ(p[4].ts_ns, 9000);
        /* every link type above parses to the same TCP SYN */
        for (int k = 0; k < 5; k++) {
            pkt_info pi;
            int st = pkt_parse(p[k].linktype, p[k].data, p[k].caplen, p[k].len, &pi);
            CHECKF(st == PKT_IP && pi.sport == 1000 && pi.dport == 80 && (k == 1 || pi.tcp_flags == TCP_SYN), "packet %d status %d", k, st);
            CHECK(k != 1 || (pi.truncated && !pi.has_l4));   /* cut inside the TCP header: ports only */
        }
    }
}

static void check_parse(const char *what, int lt, const uint8_t *fr, uint32_t n, int ipver, uint16_t sp, uint16_t dp) {
    pkt_info pi;
    int st = pkt_parse(lt, fr, n, n, &pi);
    CHECKF(st == PKT_IP && pi.ipver == ipver && pi.sport == sp && pi.dport == dp, "%s: status %d ipver %d ports %u %u", what, st,
           pi.ipver, pi.sport, pi.dport);
}

static void test_link_types(void) {
    uint8_t ip[256], ip6[256], fr[512];
    uint32_t n = build_ip4(ip, 17, 0xc0a80001, 0xc0a80002, 5353, 53, 0, 0, 0, 20);
    uint32_t n6 = build_ip6(ip6, 6, 1, 2, 443, 50000, TCP_ACK, 10);
    /* Ethernet + 802.1Q + 802.1ad QinQ + a third tag */
    static const uint8_t mac[12] = { 0 };
    uint16_t tags[] = { 0x88a8, 0x8100, 0x8100 };
    for (int depth = 0; depth <= 3; depth++) {
        uint32_t o = 12;
        memcpy(fr, mac, 12);
        for (int k = 0; k < depth; k++) { wr16be(fr + o, tags[k]); wr16be(fr + o + 2, 100); o += 4; }
        wr16be(fr + o, 0x0800); o += 2;
        memcpy(fr + o, ip, n);
        pkt_info pi;
        CHECK_EQ(pkt_parse(LT_ETHERNET, fr, o + n, o + n, &pi), PKT_IP);
        CHECK_EQ(pi.vlan_depth, depth);
        CHECK_EQ(pi.l3_off, o);
    }
    /* Ethernet padding after a short IP packet is not payload */
    uint8_t small[64];
    uint32_t sn = build_ip4(small, 17, 1, 2, 3, 4, 0, 0, 0, 2);
    uint32_t en = eth_wrap(fr, small, sn);
    memset(fr + en, 0xee, 60 - en);
    pkt_info pi;
    CHECK_EQ(pkt_parse(LT_ETHERNET, fr, 60, 60, &pi), PKT_IP);
    CHECK_EQ(pi.l3_caplen, sn);
    CHECK_EQ(pi.payload_caplen, 2);
    CHECK(!pi.truncated);
    /* raw IP under every code */
    int raw[] = { LT_RAW, LT_RAW_12, LT_RAW_14, LT_IPV4 };
    for (int k = 0; k < 4; k++) check_parse("raw", raw[k], ip, n, 4, 5353, 53);
    check_parse("raw6", LT_IPV6, ip6, n6, 6, 443, 50000);
    /* Linux SLL and SLL2 */
    memset(fr, 0, 20); wr16be(fr + 14, 0x86dd); memcpy(fr + 16, ip6, n6);
    check_parse("sll", LT_LINUX_SLL, fr, 16 + n6, 6, 443, 50000);
    memset(fr, 0, 20); wr16be(fr, 0x0800); memcpy(fr + 20, ip, n);
    check_parse("sll2", LT_LINUX_SLL2, fr, 20 + n, 4, 5353, 53);
    /* NULL in both byte orders, every BSD AF_INET6 value; LOOP in network order */
    uint32_t fams6[] = { 10, 24, 28, 30 };
    for (int k = 0; k < 4; k++) {
        wr32le(fr, fams6[k]); memcpy(fr + 4, ip6, n6);
        check_parse("null-le6", LT_NULL, fr, 4 + n6, 6, 443, 50000);
        wr32be(fr, fams6[k]);
        check_parse("null-be6", LT_NULL, fr, 4 + n6, 6, 443, 50000);
        check_parse("loop6", LT_LOOP, fr, 4 + n6, 6, 443, 50000);
    }
    wr32be(fr, 2); memcpy(fr + 4, ip, n);
    check_parse("loop4", LT_LOOP, fr, 4 + n, 4, 5353, 53);
    /* PPP with and without address/control, Cisco HDLC */
    fr[0] = 0xff; fr[1] = 0x03; wr16be(fr + 2, 0x0021); memcpy(fr + 4, ip, n);
    check_parse("ppp-hdlc", LT_PPP, fr, 4 + n, 4, 5353, 53);
    wr16be(fr, 0x0057); memcpy(fr + 2, ip6, n6);
    check_parse("ppp", LT_PPP, fr, 2 + n6, 6, 443, 50000);
    fr[0] = 0x0f; fr[1] = 0; wr16be(fr + 2, 0x0800); memcpy(fr + 4, ip, n);
    check_parse("chdlc", LT_C_HDLC, fr, 4 + n, 4, 5353, 53);
    /* radiotap + 802.11 QoS data + LLC/SNAP */
    memset(fr, 0, 8); wr16le(fr + 2, 8);
    uint8_t *w = fr + 8;
    memset(w, 0, 26); w[0] = 0x88; w[1] = 0x01;
    uint8_t snap[8] = { 0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00 };
    memcpy(w + 26, snap, 8); memcpy(w + 34, ip, n);
    check_parse("radiotap", LT_RADIOTAP, fr, 8 + 34 + n, 4, 5353, 53);
    /* unknown link types are reported, not fatal */
    CHECK_EQ(pkt_parse(147, fr, 40, 40, &pi), PKT_UNKNOWN_LINK);
    /* ARP is valid but not IP */
    memset(fr, 0, 42); wr16be(fr + 12, 0x0806);
    CHECK_EQ(pkt_parse(LT_ETHERNET, fr, 42, 42, &pi), PKT_NOT_IP);
}

static void test_ip_details(void) {
    uint8_t ip[256];
    pkt_info pi;
    /* IPv4 with options: IHL 7 */
    uint32_t n = build_ip4(ip, 6, 1, 2, 1234, 80, TCP_SYN, 5, 0, 4);
    memmove(ip + 28, ip + 20, n - 20);
    ip[0] = 0x47; memset(ip + 20, 1, 8); wr16be(ip + 2, (uint16_t)(n + 8));
    ip_fix_checksums(ip, n + 8);
    CHECK_EQ(pkt_parse_ip(ip, n + 8, 0, &pi), PKT_IP);
    CHECK(pi.sport == 1234 && pi.l4_off == 28 && pi.payload_caplen == 4);
    CHECK(ip_checksums_ok(ip, n + 8));
    ip[30] ^= 1;
    CHECK(!ip_checksums_ok(ip, n + 8));
    /* IPv6 hop-by-hop + destination options + fragment header (first fragment) */
    uint8_t p6[256];
    uint32_t n6 = build_ip6(p6, 17, 1, 2, 7, 9, 0, 8);
    uint8_t ext[24] = { 60, 0, 1, 4, 0, 0, 0, 0, /* HBH -> dst opts */ 44, 0, 1, 4, 0, 0, 0, 0, /* dst opts -> frag */
                        17, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef /* frag: offset 0, M=1, id */ };
    memmove(p6 + 64, p6 + 40, n6 - 40);
    memcpy(p6 + 40, ext, 24);
    p6[6] = 0;
    wr16be(p6 + 4, (uint16_t)(n6 - 40 + 24));
    CHECK_EQ(pkt_parse_ip(p6, n6 + 24, 0, &pi), PKT_IP);
    CHECK(pi.proto == 17 && pi.sport == 7 && pi.dport == 9 && pi.frag == FRAG_FIRST && pi.frag_id == 0xdeadbeef);
    /* a later IPv6 fragment: no ports, attributed by id */
    p6[40 + 16 + 2] = 0; p6[40 + 16 + 3] = 0x10 | 0; /* offset 2 (16 bytes), M=0 */
    CHECK_EQ(pkt_parse_ip(p6, n6 + 24, 0, &pi), PKT_IP);
    CHECK(pi.frag == FRAG_LATER && pi.sport == 0 && !pi.has_l4);
    /* caplen shorter than the IP length: flagged, parsed as far as present */
    n = build_ip4(ip, 6, 1, 2, 1, 2, TCP_ACK, 0, 0, 100);
    CHECK_EQ(pkt_parse_ip(ip, 40, 0, &pi), PKT_IP);
    CHECK(pi.truncated && pi.has_l4 && pi.ip_len == n && pi.payload_caplen == 0 && pi.payload_len == 100);
    /* cut inside the IP header: malformed, never read past the end */
    CHECK_EQ(pkt_parse_ip(ip, 12, 0, &pi), PKT_MALFORMED);
    ip[0] = 0x43;
    CHECK_EQ(pkt_parse_ip(ip, n, 0, &pi), PKT_MALFORMED);
}

static void test_bad_files(void) {
    char path[256], err[512];
    cap_pkt p[8]; int last;
    tpath(path, sizeof path, "bad.pcap");
    /* empty file */
    write_bytes(path, "", 0);
    CHECK_EQ(read_all(path, p, 8, &last, err), 0);
    CHECK(last == -2 && strstr(err, path) && strstr(err, "empty"));
    /* garbage */
    write_bytes(path, "hello world, not a capture at all", 33);
    read_all(path, p, 8, &last, err);
    CHECK(last == -2 && strstr(err, "not a pcap") && strstr(err, "offset 0"));
    /* truncated last record: earlier packets kept, error names the offset */
    uint8_t ip[128];
    uint32_t n = build_ip4(ip, 17, 1, 2, 3, 4, 0, 0, 0, 10);
    buf x = { 0 };
    pcap_hdr(&x, 0xa1b2c3d4, LT_RAW);
    pcap_rec(&x, 1, 0, ip, n, n);
    pcap_rec(&x, 2, 0, ip, n, n);
    write_bytes(path, x.b, x.n - 5);
    CHECK_EQ(read_all(path, p, 8, &last, err), 1);
    CHECKF(last == -1 && strstr(err, "truncated record") && strstr(err, "byte offset 78"), "%s", err);
    /* corrupt record length */
    x.n = 0;
    pcap_hdr(&x, 0xa1b2c3d4, LT_RAW);
    pcap_rec(&x, 1, 0, ip, n, n);
    p32(&x, 2); p32(&x, 0); p32(&x, 0xfffffff0); p32(&x, 0xfffffff0);
    write_bytes(path, x.b, x.n);
    CHECK_EQ(read_all(path, p, 8, &last, err), 1);
    CHECKF(last == -1 && strstr(err, "corrupt record length"), "%s", err);
    /* pcapng: block length not a multiple of 4 */
    x.n = 0;
    ng_shb(&x);
    p32(&x, 1); p32(&x, 21); p32(&x, 0); p32(&x, 0); p32(&x, 21);
    write_bytes(path, x.b, x.n);
    read_all(path, p, 8, &last, err);
    CHECKF(last == -1 && strstr(err, "corrupt block length 21") && strstr(err, "byte offset 28"), "%s", err);
    /* a packet naming an undefined interface is skipped with a warning, not fatal */
    x.n = 0;
    ng_shb(&x);
    ng_idb(&x, LT_RAW, 0, -1);
    ng_epb(&x, 3, 0, ip, n, n);
    ng_epb(&x, 0, 0, ip, n, n);
    write_bytes(path, x.b, x.n);
    cap_reader r;
    CHECK_EQ(cap_open(&r, path), 0);
    cap_pkt q;
    CHECK_EQ(cap_next(&r, &q), 1);
    CHECK_EQ(cap_next(&r, &q), 0);
    CHECK(r.bad_blocks == 1 && strstr(r.warn, "undefined interface"));
    cap_close(&r);
    /* a missing file */
    read_all("/nonexistent/x.pcap", p, 8, &last, err);
    CHECK(last == -2 && strstr(err, "/nonexistent/x.pcap"));
}

static void test_writer_roundtrip(void) {
    char path[256];
    tpath(path, sizeof path, "w.pcap");
    cap_writer w;
    unlink(path);
    CHECK_EQ(cap_writer_open(&w, path, LT_RAW, 1, 0), 0);
    uint8_t ip[128];
    uint32_t n = build_ip4(ip, 6, 1, 2, 3, 4, TCP_SYN, 0, 0, 0);
    CHECK_EQ(access(path, F_OK), -1);      /* not visible under its name until closed */
    for (int i = 0; i < 10; i++) cap_writer_write(&w, 1000000000ll * i + i, ip, n, n);
    CHECK_EQ(cap_writer_close(&w), 0);
    cap_pkt p[16]; int last;
    CHECK_EQ(read_all(path, p, 16, &last, NULL), 10);
    CHECK_EQ(p[9].ts_ns, 9000000009ll);
    CHECK(memcmp(p[3].data, ip, n) == 0);
}

int main(void) {
    RUN(test_pcap_variants);
    RUN(test_pcapng);
    RUN(test_link_types);
    RUN(test_ip_details);
    RUN(test_bad_files);
    RUN(test_writer_roundtrip);
    return t_done();
}
