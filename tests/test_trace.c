/* Trace writer: repair rules, checksums, TCP sequence arithmetic, endpoints, and the
 * external validity check (tshark, via ../shared/tools/validate-pcap) when present. */
#include "test.h"
#include "pktbuild.h"
#include "gen/trace.h"
#include "eval/flowfeat.h"

#include "testfiles.h"

static int add(trace_writer *w, int64_t ms, uint32_t flow_no, int dir, const uint8_t *ip, uint32_t n) {
    gen_pkt g = { ms * 1000000, flow_no, (uint8_t)dir, ip, n, { 0, 0 } };
    return trace_add(w, &g);
}

static void write_sample(const char *path, int pcapng, trace_stats *st) {
    trace_cfg cfg;
    trace_cfg_default(&cfg);
    cfg.pcapng = pcapng;
    trace_writer *w = trace_open(path, &cfg);
    CHECK(w != NULL);
    if (!w) return;
    uint8_t ip[1600];
    uint32_t n;
    /* flow 0: TCP handshake, 100 bytes up, 300 down, FIN both ways; addresses are "real"
     * ones that must not survive */
    n = build_ip4(ip, 6, 0x08080808, 0x01010101, 40000, 443, TCP_SYN, 7, 0, 0); CHECK_EQ(add(w, 0, 0, 0, ip, n), 1);
    n = build_ip4(ip, 6, 0x01010101, 0x08080808, 443, 40000, TCP_SYN | TCP_ACK, 9, 8, 0); CHECK_EQ(add(w, 1, 0, 1, ip, n), 1);
    n = build_ip4(ip, 6, 0x08080808, 0x01010101, 40000, 443, TCP_ACK, 0, 0, 0); CHECK_EQ(add(w, 2, 0, 0, ip, n), 1);
    n = build_ip4(ip, 6, 0x08080808, 0x01010101, 40000, 443, TCP_ACK | TCP_PSH, 0, 0, 100); CHECK_EQ(add(w, 3, 0, 0, ip, n), 1);
    /* the model kept only 20 payload bytes but says the packet was 340 bytes long: padded */
    n = build_ip4(ip, 6, 0x01010101, 0x08080808, 443, 40000, TCP_ACK, 0, 0, 20);
    wr16be(ip + 2, 340);
    CHECK_EQ(add(w, 4, 0, 1, ip, n), 1);
    /* a data offset of 3: repaired to 5 */
    n = build_ip4(ip, 6, 0x08080808, 0x01010101, 40000, 443, TCP_ACK | TCP_FIN, 0, 0, 0);
    ip[32] = 3 << 4;
    CHECK_EQ(add(w, 5, 0, 0, ip, n), 1);
    /* garbage TCP options: NOPed. doff 7 = 8 option bytes */
    n = build_ip4(ip, 6, 0x01010101, 0x08080808, 443, 40000, TCP_ACK | TCP_FIN, 0, 0, 8);
    ip[32] = 7 << 4; ip[40] = 2; ip[41] = 9;   /* MSS with length 9: impossible */
    CHECK_EQ(add(w, 6, 0, 1, ip, n), 1);
    n = build_ip4(ip, 6, 0x08080808, 0x01010101, 40000, 443, TCP_ACK, 0, 0, 0); CHECK_EQ(add(w, 7, 0, 0, ip, n), 1);
    /* flow 1: UDP over IPv6 with a wrong UDP length field */
    n = build_ip6(ip, 17, 1, 2, 5353, 53, 0, 30);
    wr16be(ip + 44, 999);
    CHECK_EQ(add(w, 8, 1, 0, ip, n), 1);
    n = build_ip6(ip, 17, 2, 1, 53, 5353, 0, 60); CHECK_EQ(add(w, 9, 1, 1, ip, n), 1);
    /* dropped: IP version 5, protocol 47 (GRE), IHL past the end, TCP header cut */
    n = build_ip4(ip, 17, 1, 2, 3, 4, 0, 0, 0, 4);
    ip[0] = 0x55; CHECK_EQ(add(w, 10, 2, 0, ip, n), 0);
    ip[0] = 0x45; ip[9] = 47; CHECK_EQ(add(w, 10, 2, 0, ip, n), 0);
    ip[9] = 17; ip[0] = 0x4f; CHECK_EQ(add(w, 10, 2, 0, ip, 30), 0);
    n = build_ip4(ip, 6, 1, 2, 3, 4, TCP_ACK, 0, 0, 0);
    CHECK_EQ(add(w, 10, 2, 0, ip, 30), 0);
    /* a SYN whose options were cut by a 72-byte snaplen (requet): 38 of its 44 TCP header
     * bytes; completed with zeros (end of option list), padded to its IP length 64 */
    n = build_ip4(ip, 6, 0x08080808, 0x09090909, 40001, 443, TCP_SYN, 0, 0, 24);
    ip[32] = 11 << 4;                                      /* data offset 44: 24 option bytes */
    memcpy(ip + 40, "\x02\x04\x05\xb4\x01\x03\x03\x05\x01\x01\x08\x0a\x11\x22\x33\x44\x55\x66", 18);
    CHECK_EQ(add(w, 10, 4, 0, ip, 58), 1);
    /* out-of-order time is clamped */
    n = build_ip4(ip, 1, 1, 2, 0, 0, 0, 0, 0, 0);
    ip[20] = 8;
    ip_fix_checksums(ip, n);
    CHECK_EQ(add(w, 1, 3, 0, ip, n), 1);
    CHECK_EQ(trace_close(w, st), 0);
}

static void test_trace_rules(void) {
    char path[256];
    tpath(path, sizeof path, "gen.pcap");
    trace_stats st;
    write_sample(path, 0, &st);
    CHECK_EQ(st.written, 12);
    CHECK_EQ(st.dropped, 4);
    CHECK_EQ(st.fix_cut, 1);
    CHECK(st.drop_version == 1 && st.drop_proto == 1 && st.drop_short == 2);
    CHECK(st.fix_doff == 1 && st.fix_options == 1);
    CHECK_EQ(st.flows, 4);
    static rec r[32];
    int n = read_back(path, r, 32);
    CHECK_EQ(n, 12);
    if (n != 12) return;
    uint32_t seq[2] = { 0 };
    for (int i = 0; i < n; i++) {
        pkt_info pi;
        CHECK_EQ(pkt_parse(r[i].p.linktype, r[i].p.data, r[i].p.caplen, r[i].p.len, &pi), PKT_IP);
        const uint8_t *ip = r[i].p.data + pi.l3_off;
        CHECKF(ip_checksums_ok(ip, pi.l3_caplen), "packet %d checksum", i);
        CHECK(!pi.truncated && pi.l3_caplen == pi.ip_len && pi.l3_off + pi.ip_len == r[i].p.caplen);
        CHECK(memcmp(pi.src, "\x08\x08\x08\x08", 4) != 0 && memcmp(pi.dst, "\x08\x08\x08\x08", 4) != 0);
        if (i < 8) {                  /* the TCP flow */
            int d = pi.sport == 443;
            uint32_t expect_ack = (pi.tcp_flags & TCP_ACK) ? seq[1 - d] : 0;
            if (i == 0) seq[0] = pi.seq;
            if (i == 1) { seq[1] = pi.seq; CHECK_EQ(pi.ack, seq[0]); }
            if (i >= 2) { CHECKF(pi.seq == seq[d], "packet %d seq", i); CHECKF(pi.ack == expect_ack, "packet %d ack", i); }
            seq[d] = pi.seq + pi.payload_len + ((pi.tcp_flags & TCP_SYN) != 0) + ((pi.tcp_flags & TCP_FIN) != 0);
            CHECK(pi.sport == 443 || pi.sport == 40000);
            CHECK_EQ(rd32be(pi.src) >> 24, d ? 198 : 10);   /* pool: clients 10/8, servers 198.18/15 */
        }
    }
    CHECK_EQ(r[4].p.len, 14 + 340);          /* padded to the length the model asked for */
    pkt_info pi;
    pkt_parse(LT_ETHERNET, r[8].p.data, r[8].p.caplen, r[8].p.len, &pi);
    CHECK(pi.ipver == 6 && rd16be(r[8].p.data + pi.l4_off + 4) == 38);   /* UDP length repaired */
    CHECK(r[11].p.ts_ns >= r[10].p.ts_ns);
    /* the cut SYN: whole 44-byte header, the option bytes the model gave kept, the rest 0 */
    pkt_parse(LT_ETHERNET, r[10].p.data, r[10].p.caplen, r[10].p.len, &pi);
    CHECK(pi.proto == 6 && pi.ip_len == 64 && pi.l4_off + 44 == 14 + 64 && pi.payload_len == 0);
    const uint8_t *opt = r[10].p.data + pi.l4_off + 20;
    CHECK(!memcmp(opt, "\x02\x04\x05\xb4\x01\x03\x03\x05\x01\x01\x08\x0a\x11\x22\x33\x44\x55\x66\0\0\0\0\0\0", 24));
}

static void test_trace_validates(void) {
    const char *sh = t_shared();
    if (!sh) SKIP("../shared not present");
    if (system("command -v tshark >/dev/null 2>&1") != 0) SKIP("tshark not installed");
    for (int ng = 0; ng < 2; ng++) {
        char path[256], cmd[1024];
        tpath(path, sizeof path, ng ? "gen.pcapng" : "gen.pcap");
        trace_stats st;
        write_sample(path, ng, &st);
        snprintf(cmd, sizeof cmd, "bash %s/tools/validate-pcap/validate_pcap.sh %s > %s.log 2>&1", sh, path, path);
        int rc = system(cmd);
        CHECKF(rc == 0, "validate_pcap.sh %s failed (see %s.log)", path, path);
    }
}

/* The random-flags trace (random options too) through tshark: nothing malformed. */
static void test_trace_random_validates(void) {
    const char *sh = t_shared();
    if (!sh) SKIP("../shared not present");
    if (system("command -v tshark >/dev/null 2>&1") != 0) SKIP("tshark not installed");
    char path[256], cmd[1024];
    tpath(path, sizeof path, "gen-random.pcap");
    snprintf(cmd, sizeof cmd, "bash %s/tools/validate-pcap/validate_pcap.sh %s > %s.log 2>&1", sh, path, path);
    CHECKF(system(cmd) == 0, "validate_pcap.sh %s failed (see %s.log)", path, path);
}

/* A RST consumes no sequence space (RFC 1122 4.2.2.12: its data is diagnostic, not stream
 * data). Generated flows put RSTs mid-flow, with payload and with SYN/FIN beside them, and go
 * on; the writer used to advance the sequence number past them, which the independent flow
 * reader of `pktlm compare` (eval/flowfeat.c, which skips RST segments) rightly saw as
 * skipped bytes: 6-14 % of generated TCP flows "inconsistent". */
static void test_trace_rst_no_seq_space(void) {
    char path[256];
    tpath(path, sizeof path, "gen-rst.pcap");
    trace_writer *w = trace_open(path, NULL);
    CHECK(w != NULL);
    if (!w) return;
    uint8_t ip[1600];
    uint32_t n;
    n = build_ip4(ip, 6, 1, 2, 40000, 443, TCP_SYN, 0, 0, 0); add(w, 0, 0, 0, ip, n);
    n = build_ip4(ip, 6, 2, 1, 443, 40000, TCP_SYN | TCP_ACK, 0, 0, 0); add(w, 1, 0, 1, ip, n);
    n = build_ip4(ip, 6, 1, 2, 40000, 443, TCP_ACK | TCP_PSH, 0, 0, 100); add(w, 2, 0, 0, ip, n);
    n = build_ip4(ip, 6, 1, 2, 40000, 443, TCP_RST | TCP_FIN | TCP_ACK, 0, 0, 30); add(w, 3, 0, 0, ip, n);
    n = build_ip4(ip, 6, 1, 2, 40000, 443, TCP_ACK | TCP_PSH, 0, 0, 50); add(w, 4, 0, 0, ip, n);
    n = build_ip4(ip, 6, 2, 1, 443, 40000, TCP_ACK, 0, 0, 0); add(w, 5, 0, 1, ip, n);
    CHECK_EQ(trace_close(w, NULL), 0);
    static rec r[8];
    CHECK_EQ(read_back(path, r, 8), 6);
    pkt_info p3, p4, p5;
    pkt_parse(r[3].p.linktype, r[3].p.data, r[3].p.caplen, r[3].p.len, &p3);
    pkt_parse(r[4].p.linktype, r[4].p.data, r[4].p.caplen, r[4].p.len, &p4);
    pkt_parse(r[5].p.linktype, r[5].p.data, r[5].p.caplen, r[5].p.len, &p5);
    CHECK_EQ(p4.seq, p3.seq);                       /* the RST's 30 bytes and FIN took no space */
    CHECK_EQ(p5.ack, p4.seq + 50);
    ff_set s;
    ff_set_init(&s, 0, 0);
    char err[256];
    CHECK_EQ(ff_read_file(&s, path, -1, NULL, err, sizeof err), 0);
    CHECK_EQ(s.n, 1);
    if (s.n == 1) CHECK(s.fl[0].seq_ok[0] && s.fl[0].seq_ok[1] && s.fl[0].ack_ok[0] && s.fl[0].ack_ok[1] && ff_handshake(&s.fl[0]));
    ff_set_free(&s);
}

/* TCP option kinds other than MSS, WS, SACK-permitted, SACK and timestamps are NOPed (a
 * generated Riverbed probe, kind 76 length 4, made tshark report a malformed packet);
 * the known options after it stay. */
static void test_trace_unknown_options(void) {
    char path[256];
    tpath(path, sizeof path, "gen-opts.pcap");
    trace_writer *w = trace_open(path, NULL);
    CHECK(w != NULL);
    if (!w) return;
    uint8_t ip[128];
    trace_stats st;
    uint32_t n = build_ip4(ip, 6, 1, 2, 443, 40000, TCP_ACK, 0, 0, 12);
    ip[32] = 8 << 4;                                       /* 12 option bytes */
    memcpy(ip + 40, "\x4c\x04\x03\x00\x02\x04\x05\xb4\x04\x02\x01\x01", 12);
    CHECK_EQ(add(w, 0, 0, 0, ip, n), 1);
    CHECK_EQ(trace_close(w, &st), 0);
    CHECK_EQ(st.fix_options, 1);
    static rec r[2];
    CHECK_EQ(read_back(path, r, 2), 1);
    CHECK(!memcmp(r[0].d + 14 + 40, "\x01\x01\x01\x01\x02\x04\x05\xb4\x04\x02\x01\x01", 12));
}

/* Property: whatever flags and sizes a model generates, the written trace reads back with
 * consistent sequence and acknowledgement numbers in every TCP flow (the flow reader of
 * `pktlm compare` as the judge). 40 flows of 40 packets with random flags, directions,
 * payloads, lengths and data offsets. */
static void test_trace_random_flags_consistent(void) {
    char path[256];
    tpath(path, sizeof path, "gen-random.pcap");
    trace_writer *w = trace_open(path, NULL);
    CHECK(w != NULL);
    if (!w) return;
    uint64_t rng = 12345;
    uint8_t ip[1600];
    int written = 0;
    for (uint32_t f = 0; f < 40; f++)
        for (int k = 0; k < 40; k++) {
            int d = k == 0 ? 0 : (int)(splitmix64(&rng) & 1);
            uint8_t fl = (uint8_t)splitmix64(&rng);
            uint32_t pay = (uint32_t)(splitmix64(&rng) % 3 == 0 ? 0 : splitmix64(&rng) % 200);
            uint32_t n = build_ip4(ip, 6, d ? 2 : 1, d ? 1 : 2, d ? 443 : 40000, d ? 40000 : 443, fl,
                                   (uint32_t)splitmix64(&rng), (uint32_t)splitmix64(&rng), pay);
            if (splitmix64(&rng) % 4 == 0) wr16be(ip + 2, (uint16_t)(40 + splitmix64(&rng) % 1500));  /* length says more */
            if (splitmix64(&rng) % 8 == 0) ip[32] = (uint8_t)((splitmix64(&rng) % 5) << 4);          /* bad data offset */
            else if (splitmix64(&rng) % 3 == 0) {   /* random options, possibly cut short */
                ip[32] = (uint8_t)((6 + splitmix64(&rng) % 10) << 4);
                for (uint32_t j = 40; j < n; j++) ip[j] = (uint8_t)splitmix64(&rng);
            }
            written += add(w, (int64_t)f * 100000 + k * 10, f, d, ip, n) == 1;
        }
    trace_stats st;
    CHECK_EQ(trace_close(w, &st), 0);
    CHECK(written > 1500);
    CHECK(st.fix_cut > 0 && st.fix_options > 0);
    ff_set s;
    ff_set_init(&s, 0, 0);
    char err[256];
    CHECK_EQ(ff_read_file(&s, path, -1, NULL, err, sizeof err), 0);
    CHECK(s.n >= 40);   /* a SYN after a RST starts a new flow in the reader: more is fine */
    int bad = 0;
    for (size_t i = 0; i < s.n; i++)
        bad += !(s.fl[i].seq_ok[0] && s.fl[i].seq_ok[1] && s.fl[i].ack_ok[0] && s.fl[i].ack_ok[1]);
    CHECKF(bad == 0, "%d of %zu flows inconsistent", bad, s.n);
    ff_set_free(&s);
}

int main(void) {
    RUN(test_trace_rules);
    RUN(test_trace_validates);
    RUN(test_trace_rst_no_seq_space);
    RUN(test_trace_unknown_options);
    RUN(test_trace_random_flags_consistent);
    RUN(test_trace_random_validates);
    return t_done();
}
