/* pktlm prep end to end on captures made here: round trip, anonymisation, splits,
 * duplicates, determinism, units, label files. */
#include "test.h"
#include "pktbuild.h"
#include "corpus/prep.h"
#include "corpus/shard.h"
#include "corpus/export.h"
#include <sys/stat.h>
#include <ctype.h>

#define MAXF 64      /* flows per capture */
#define MAXP 12      /* packets per flow */
typedef struct { uint8_t ip[MAXP][400]; uint32_t n[MAXP]; int64_t ts[MAXP]; int dir[MAXP]; int np; } tflow;
typedef struct { tflow f[MAXF]; int nf; } tcap;
static tcap CAPS[4];

static const uint8_t MAC_A[6] = { 2, 0, 0, 0, 0, 1 }, MAC_B[6] = { 2, 0, 0, 0, 0, 2 };

/* Capture c: nf flows one after another (so flow ids follow the order), alternating
 * TCP/IPv4, UDP/IPv4 and UDP/IPv6; host addresses depend on c so captures differ. */
static void make_capture(int c, int nf, int64_t t0, const char *path) {
    tcap *k = &CAPS[c];
    k->nf = nf;
    cap_writer w;
    CHECK_EQ(cap_writer_open(&w, path, LT_ETHERNET, 1, 65535), 0);
    int64_t t = t0;
    for (int i = 0; i < nf; i++) {
        tflow *f = &k->f[i];
        int kind = i % 3;
        f->np = 2 + (i * 7 + c) % 9;   /* 2..10 packets */
        uint32_t cli = 0x0a010000u + (uint32_t)(c << 8) + 10, srv = 0xc6336400u + (uint32_t)i + 1;
        uint16_t cp = (uint16_t)(40000 + i), sp = kind == 0 ? 443 : 53;
        for (int j = 0; j < f->np; j++) {
            int d = j & 1;
            uint32_t pl = (uint32_t)(j * 37 % 150);
            if (kind == 0)
                f->n[j] = build_ip4(f->ip[j], 6, d ? srv : cli, d ? cli : srv, d ? sp : cp, d ? cp : sp,
                                    j == 0 ? TCP_SYN : TCP_ACK | (j == 1 ? TCP_SYN : 0), 1000u + (uint32_t)j * 100, j ? 5000u : 0, pl);
            else if (kind == 1)
                f->n[j] = build_ip4(f->ip[j], 17, d ? srv : cli, d ? cli : srv, d ? sp : cp, d ? cp : sp, 0, 0, 0, pl);
            else
                f->n[j] = build_ip6(f->ip[j], 17, d ? (uint8_t)(0x80 + i) : (uint8_t)(0x10 + c), d ? (uint8_t)(0x10 + c) : (uint8_t)(0x80 + i),
                                    d ? sp : cp, d ? cp : sp, 0, pl);
            if (kind == 1 && pl >= 12) {   /* an application quoting its own address and MAC */
                wr32be(f->ip[j] + 28, d ? srv : cli);
                memcpy(f->ip[j] + 34, d ? MAC_B : MAC_A, 6);
                ip_fix_checksums(f->ip[j], f->n[j]);
            }
            t += 1000 + (int64_t)((j * 7919 + i * 104729) % 5000000);   /* 1 us .. 5 ms */
            f->ts[j] = t;
            f->dir[j] = d;
            uint8_t frame[500];
            uint32_t fl = eth_wrap(frame, f->ip[j], f->n[j]);
            if (d) { memcpy(frame, MAC_A, 6); memcpy(frame + 6, MAC_B, 6); } else { memcpy(frame, MAC_B, 6); memcpy(frame + 6, MAC_A, 6); }
            CHECK_EQ(cap_writer_write(&w, t, frame, fl, fl), 0);
        }
        t += 10000000;
    }
    CHECK_EQ(cap_writer_close(&w), 0);
}

static char D[512];
static char FILES[4][600];

static void setup(void) {
    static int done;
    if (done) return;
    done = 1;
    snprintf(D, sizeof D, "%s/corpus_test", t_tmpdir());
    mkdir(D, 0755);
    char sub[600];
    snprintf(sub, sizeof sub, "%s/web", D); mkdir(sub, 0755);
    snprintf(sub, sizeof sub, "%s/dns", D); mkdir(sub, 0755);
    snprintf(FILES[0], sizeof FILES[0], "%s/web/a.pcap", D);
    snprintf(FILES[1], sizeof FILES[1], "%s/web/b.pcap", D);
    snprintf(FILES[2], sizeof FILES[2], "%s/dns/c.pcap", D);
    int nf = t_san() ? 30 : 60;
    for (int c = 0; c < 3; c++) make_capture(c, nf, 1700000000000000000LL + c * 1000000000000LL, FILES[c]);
}

/* Build a corpus from the three captures (labels web, dns) with cfg into dir. */
static int build(const prep_cfg *cfg, const char *dir, int ncopies) {
    label_set ls = { 0 };
    label_set_add(&ls, "web"); label_set_add(&ls, "dns");
    char *argv[] = { "prep", "test" };
    prep *p = prep_new(cfg, &ls, NULL, 2, argv);
    char err[512];
    int rc = 0;
    for (int c = 0; c < 3 && !rc; c++) rc = prep_add_file(p, FILES[c], label_set_find(&ls, c < 2 ? "web" : "dns"), err, sizeof err);
    for (int k = 0; k < ncopies && !rc; k++) rc = prep_add_file(p, FILES[0], label_set_find(&ls, "web"), err, sizeof err);
    if (!rc) rc = prep_finish(p, dir, err, sizeof err);
    if (rc) printf("  build: %s\n", err);
    prep_free(p);
    label_set_free(&ls);
    return rc;
}

static int load3(const char *dir, shard s[3]) {
    static const char *nm[3] = { "train", "val", "test" };
    char path[700], err[512];
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s/%s.tok", dir, nm[k]);
        if (shard_load(&s[k], path, err, sizeof err)) { printf("  %s\n", err); return -1; }
    }
    return 0;
}

static uint32_t expect_keep(const prep_cfg *c, const uint8_t *ip, uint32_t n) {
    pkt_info pi;
    pkt_parse_ip(ip, n, 0, &pi);
    return prep_keep_bytes(c, &pi);
}

/* capture -> tokens -> packets: the retained bytes come back exactly. */
static void test_roundtrip(void) {
    setup();
    prep_cfg cfg;
    prep_cfg_default(&cfg);
    cfg.anonymise = 0;
    cfg.dedup = 0;
    cfg.payload = 40;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/rt", D);
    CHECK_EQ(build(&cfg, dir, 0), 0);
    shard s[3];
    if (load3(dir, s)) { CHECK(0); return; }
    int nseq = 0, npk = 0, bad = 0;
    for (int k = 0; k < 3; k++)
        for (uint64_t i = 0; i < s[k].n_seqs; i++) {
            const shard_seq *q = &s[k].seqs[i];
            const tflow *f = &CAPS[q->file].f[q->flow - 1];
            tok_reader r;
            tok_packet p;
            uint8_t buf[1024];
            tok_reader_init(&r, s[k].tokens + q->off, q->len, f->ts[0]);
            int j = 0;
            int64_t prev = f->ts[0];
            while (tok_reader_next(&r, &p, buf, sizeof buf) == 1) {
                uint32_t keep = expect_keep(&cfg, f->ip[j], f->n[j]);
                if (j >= f->np || p.n != keep || memcmp(buf, f->ip[j], keep) || p.dir != f->dir[j] || p.flags) { bad++; printf("  seq %d pkt %d n %u keep %u dir %d/%d\n", nseq, j, p.n, keep, p.dir, f->dir[j]); }
                /* within the bucket resolution of the gap from the previous decoded time */
                double gap = j ? fabs((double)(f->ts[j] - prev)) : 0;
                prev = p.ts_ns;
                if (fabs((double)(p.ts_ns - f->ts[j])) > TOK_TIME_REL_ERR * gap + 1000) { bad++; printf("  time seq %d pkt %d %lld vs %lld gap %.0f\n", nseq, j, (long long)p.ts_ns, (long long)f->ts[j], gap); }
                j++; npk++;
            }
            if (j != (f->np < cfg.max_pkts ? f->np : cfg.max_pkts)) bad++;
            if (r.label != q->label || r.stray) bad++;
            nseq++;
        }
    CHECK_EQ(bad, 0);
    CHECK_EQ(nseq, 3 * CAPS[0].nf);
    CHECK(npk > nseq * 2);
    for (int k = 0; k < 3; k++) shard_free(&s[k]);
    /* decoded pcap: readable by our reader and by libpcap's rules (raw IP) */
    if (load3(dir, s) == 0) {
        char pc[700], err[256];
        snprintf(pc, sizeof pc, "%s/decoded.pcap", D);
        export_counts ec = { 0 };
        CHECK_EQ(export_pcap(pc, &s[0], 1700000000000000000LL, &ec, err, sizeof err), 0);
        long n = (long)ec.packets;
        CHECK(n > (long)s[0].n_seqs);
        cap_reader cr;
        CHECK_EQ(cap_open(&cr, pc), 0);
        cap_pkt cp;
        long got = 0, wrong = 0;
        /* capture -> tokens -> capture: every record holds the retained bytes of the
         * original packet, and its wire length is the original IP length */
        uint64_t q = 0;
        int j = 0;
        while (cap_next(&cr, &cp) == 1) {
            pkt_info pi;
            CHECK_EQ(pkt_parse(cp.linktype, cp.data, cp.caplen, cp.len, &pi), PKT_IP);
            const shard_seq *sq = &s[0].seqs[q];
            const tflow *f = &CAPS[sq->file].f[sq->flow - 1];
            uint32_t keep = expect_keep(&cfg, f->ip[j], f->n[j]);
            wrong += cp.caplen != keep || memcmp(cp.data, f->ip[j], keep) || cp.len != f->n[j];
            got++;
            if (++j == (f->np < cfg.max_pkts ? f->np : cfg.max_pkts)) { j = 0; q++; }
        }
        cap_close(&cr);
        CHECK_EQ(got, n);
        CHECK_EQ(wrong, 0);
        CHECK_EQ(q, s[0].n_seqs);
        for (int k = 0; k < 3; k++) shard_free(&s[k]);
    }
}

static int find(const uint8_t *h, size_t n, const uint8_t *needle, size_t m) {
    for (size_t i = 0; i + m <= n; i++) if (h[i] == needle[0] && !memcmp(h + i, needle, m)) return 1;
    return 0;
}

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long L = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)L + 1);
    *n = fread(b, 1, (size_t)L, f);
    fclose(f);
    return b;
}

/* No original IP address or MAC survives anywhere in the corpus: not in the raw files,
 * not in the byte stream the tokens decode to, not as text. */
static void test_no_original_addresses(void) {
    setup();
    prep_cfg cfg;
    prep_cfg_default(&cfg);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/anon", D);
    CHECK_EQ(build(&cfg, dir, 0), 0);
    /* needles: every address of every packet, both MACs, and their text forms */
    static uint8_t needles[4096][16];
    static size_t nlen[4096];
    int nn = 0;
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < CAPS[c].nf; i++) {
            const uint8_t *ip = CAPS[c].f[i].ip[0];
            int v6 = ip[0] >> 4 == 6;
            for (int s = 0; s < 2 && nn < 4094; s++) {
                memcpy(needles[nn], ip + (v6 ? 8 + 16 * s : 12 + 4 * s), v6 ? 16 : 4);
                nlen[nn++] = v6 ? 16 : 4;
            }
        }
    memcpy(needles[nn], MAC_A, 6); nlen[nn++] = 6;
    memcpy(needles[nn], MAC_B, 6); nlen[nn++] = 6;
    static const char *files[] = { "train.tok", "val.tok", "test.tok", "vocab.json", "labels.txt", "manifest.json" };
    int hits = 0;
    for (int k = 0; k < 6; k++) {
        char path[700];
        snprintf(path, sizeof path, "%s/%s", dir, files[k]);
        size_t n;
        uint8_t *b = slurp(path, &n);
        CHECK(b != NULL);
        if (!b) continue;
        for (int i = 0; i < nn; i++) hits += find(b, n, needles[i], nlen[i]);
        /* text forms of IPv4 addresses */
        for (int i = 0; i < nn; i++) if (nlen[i] == 4) {
            char txt[32];
            snprintf(txt, sizeof txt, "%u.%u.%u.%u", needles[i][0], needles[i][1], needles[i][2], needles[i][3]);
            hits += find(b, n, (const uint8_t *)txt, strlen(txt));
        }
        if (k < 3) {   /* the bytes the tokens stand for */
            shard s;
            char err[256];
            if (shard_load(&s, path, err, sizeof err) == 0) {
                uint8_t *bytes = malloc(s.n_tokens + 1);
                size_t m = 0;
                for (uint64_t t = 0; t < s.n_tokens; t++) if (s.tokens[t] < 256) bytes[m++] = (uint8_t)s.tokens[t]; else if (m && bytes[m - 1] != 0xEE) bytes[m++] = 0xEE;
                for (int i = 0; i < nn; i++) hits += find(bytes, m, needles[i], nlen[i]);
                free(bytes);
                shard_free(&s);
            }
        }
        free(b);
    }
    CHECK_EQ(hits, 0);
    /* and the decoded packets still have correct checksums (the whole packets kept here) */
}

/* Addresses written as text in payloads (issue 13): SSDP LOCATION URLs, JSON, device names,
 * UUIDs and bridge ids derived from a MAC, IPv6 text. A capture of one UDP flow between two
 * hosts whose payloads quote them; after prep, no original form is anywhere in the corpus's
 * bytes (any case), the packets keep their lengths and valid checksums, the LOCATION address
 * is the one the headers' address maps to, and multicast text and version numbers stay. */
static int find_ci(const uint8_t *h, size_t n, const char *needle) {
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++) {
        size_t k = 0;
        while (k < m && tolower(h[i + k]) == tolower((unsigned char)needle[k])) k++;
        if (k == m) return 1;
    }
    return 0;
}
static void test_text_addresses(void) {
    setup();
    static const uint8_t MAC_S[6] = { 0xac, 0xcf, 0x23, 0x62, 0x3c, 0x6e }, MAC_D[6] = { 0x00, 0x17, 0x88, 0x62, 0x3c, 0x6f };
    uint32_t src = 0x0a0a0a25u /* 10.10.10.37 */, dst = 0xc0a80114u /* 192.168.1.20 */;
    static const char *pay[] = {
        "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nLOCATION: http://10.10.10.37:50510/d.xml\r\n\r\n",
        "{\"mac\": \"ac:cf:23:62:3c:6e\", \"ip\":\"192.168.1.20\", \"id\": \"ACCF23623C6E\", \"gw\": \"10.10.10.1\"}",
        "_hue._tcp Philips-hue-623C6F uuid:2f402f80-da50-11e1-9b23-001788623c6f bridgeid 001788FFFE623C6F",
        "v6 fe80::aecf:23ff:fe62:3c6e, dash AC-CF-23-62-3C-6E, Host:192.168.1.20, cut 10.10.1",
        /* reverse-DNS names in label form: 37.10.10.10.in-addr.arpa and fe80::aecf:23ff:fe62:3c6e's ip6.arpa */
        "ptr \x02" "37\x02" "10\x02" "10\x02" "10\x07" "in-addr\x04" "arpa ip6 " "\x01" "e" "\x01" "6" "\x01" "c" "\x01" "3" "\x01" "2" "\x01" "6" "\x01" "e" "\x01" "f" "\x01" "f" "\x01" "f" "\x01" "3" "\x01" "2" "\x01" "f" "\x01" "c" "\x01" "e" "\x01" "a" "\x01" "0" "\x01" "0" "\x01" "0" "\x01" "0" "\x01" "0" "\x01" "0" "\x01" "0" "\x01" "0" "\x01" "0" "\x01" "0" "\x01" "0" "\x01" "0" "\x01" "0" "\x01" "8" "\x01" "e" "\x01" "f" "\x03" "ip6\x04" "arpa",
    };
    char path[800], dir[700];
    snprintf(path, sizeof path, "%s/text.pcap", D);
    snprintf(dir, sizeof dir, "%s/text_corpus", D);
    cap_writer w;
    CHECK_EQ(cap_writer_open(&w, path, LT_ETHERNET, 1, 65535), 0);
    uint32_t orig_len[5];
    for (int j = 0; j < 5; j++) {
        uint8_t ip[400], frame[420];
        uint32_t pl = (uint32_t)strlen(pay[j]);
        int d = j == 1;
        uint32_t n = build_ip4(ip, 17, d ? dst : src, d ? src : dst, d ? 1900 : 50510, d ? 50510 : 1900, 0, 0, 0, pl);
        memcpy(ip + 28, pay[j], pl);
        ip_fix_checksums(ip, n);
        orig_len[j] = n;
        uint32_t fl = eth_wrap(frame, ip, n);
        memcpy(frame, d ? MAC_S : MAC_D, 6); memcpy(frame + 6, d ? MAC_D : MAC_S, 6);
        CHECK_EQ(cap_writer_write(&w, 1700000000000000000LL + j * 1000000, frame, fl, fl), 0);
    }
    CHECK_EQ(cap_writer_close(&w), 0);
    prep_cfg cfg;
    prep_cfg_default(&cfg);
    cfg.payload = 400; cfg.max_bytes = 400;     /* whole packets: checksums can be verified */
    cfg.ratio[0] = 1; cfg.ratio[1] = 0; cfg.ratio[2] = 0;
    label_set ls = { 0 };
    char *argv[] = { "prep", "test" }, err[512];
    prep *p = prep_new(&cfg, &ls, NULL, 2, argv);
    CHECK_EQ(prep_add_file(p, path, -1, err, sizeof err), 0);
    CHECK_EQ(prep_finish(p, dir, err, sizeof err), 0);
    prep_free(p);
    shard s;
    snprintf(path, sizeof path, "%s/train.tok", dir);
    if (shard_load(&s, path, err, sizeof err)) { CHECKF(0, "%s", err); return; }
    CHECK_EQ(s.n_seqs, 1);
    /* the packets: runs of byte tokens */
    uint8_t pk[5][400];
    uint32_t pn[5] = { 0 };
    int np = -1;
    for (uint64_t t = 0; t < s.n_tokens; t++) {
        if (s.tokens[t] == TOK_PKT) { np++; continue; }
        if (s.tokens[t] < 256 && np >= 0 && np < 5 && pn[np] < 400) pk[np][pn[np]++] = (uint8_t)s.tokens[t];
    }
    shard_free(&s);
    CHECK_EQ(np + 1, 5);
    static const char *orig[] = { "10.10.10.37", "192.168.1.20", "10.10.10.1", "ac:cf:23:62:3c:6e", "ac-cf-23-62-3c-6e",
                                  "accf23623c6e", "623c6f", "001788623c6f", "001788fffe623c6f", "aecf:23ff:fe62:3c6e", "10.10.1" };
    int hits = 0, bad_len = 0, bad_csum = 0;
    for (int j = 0; j < 5 && j <= np; j++) {
        for (size_t k = 0; k < sizeof orig / sizeof *orig; k++)
            if (find_ci(pk[j] + 28, pn[j] - 28, orig[k])) { hits++; printf("  packet %d still quotes %s\n", j, orig[k]); }
        bad_len += pn[j] != orig_len[j];
        bad_csum += !ip_checksums_ok(pk[j], pn[j]);
    }
    CHECK_EQ(hits, 0);
    CHECK_EQ(bad_len, 0);
    CHECK_EQ(bad_csum, 0);
    /* kept: multicast text, version numbers, ports and the rest of the text */
    CHECK(find_ci(pk[0], pn[0], "HOST: 239.255.255.250:1900\r\nLOCATION: http://"));
    CHECK(find_ci(pk[0], pn[0], "NOTIFY * HTTP/1.1"));
    CHECK(find_ci(pk[1], pn[1], "\"mac\": \"00:00:00:00:00:00\""));
    /* the same mapping as the headers: LOCATION names the (mapped) sender of packet 0 */
    const char *loc = (const char *)pk[0] + 28 + strlen("NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nLOCATION: http://");
    unsigned o[4] = { 0 };
    int got = sscanf(loc, "%u.%u.%u.%u", &o[0], &o[1], &o[2], &o[3]);   /* decimal: leading zeros pad */
    CHECK_EQ(got, 4);
    CHECK(o[0] == pk[0][12] && o[1] == pk[0][13] && o[2] == pk[0][14] && o[3] == pk[0][15]);
    CHECK(rd32be(pk[0] + 12) != src);
    /* reverse-DNS names: the original labels are gone, and they name the mapped address */
    static const uint8_t ptr4[] = { 2, '3', '7', 2, '1', '0', 2, '1', '0', 2, '1', '0', 7, 'i', 'n', '-', 'a', 'd', 'd', 'r' };
    CHECK(!find(pk[4], pn[4], ptr4, sizeof ptr4));
    CHECK(!find(pk[4], pn[4], (const uint8_t *)"\x01" "e\x01" "6\x01" "c\x01" "3", 8));
    const uint8_t *q4 = pk[4] + 28 + 4;   /* after "ptr " */
    unsigned oct[4], at = 0;
    for (int k = 0; k < 4; k++) { unsigned L = q4[at], v = 0; for (unsigned d = 1; d <= L; d++) v = v * 10 + (unsigned)(q4[at + d] - '0'); oct[k] = v; at += 1 + L; }
    CHECK(oct[3] == pk[0][12] && oct[2] == pk[0][13] && oct[1] == pk[0][14] && oct[0] == pk[0][15]);
    CHECK(q4[at] == 7 && !memcmp(q4 + at + 1, "in-addr", 7));
    /* and the JSON "ip" of packet 1 (its sender, 192.168.1.20) is that packet's mapped source */
    const char *ipq = strstr((const char *)pk[1] + 28, "\"ip\":\"");
    CHECK(ipq != NULL);
    if (ipq) {
        got = sscanf(ipq + 6, "%u.%u.%u.%u", &o[0], &o[1], &o[2], &o[3]);
        CHECK(got == 4 && o[0] == pk[1][12] && o[1] == pk[1][13] && o[2] == pk[1][14] && o[3] == pk[1][15]);
    }
}

/* Splits: ratios per label, no flow (original 5-tuple + start) in two splits, even when
 * the same capture is given twice; no duplicate sequence across splits. */
static void test_splits(void) {
    setup();
    prep_cfg cfg;
    prep_cfg_default(&cfg);
    cfg.anonymise = 0;      /* copies of a capture give identical sequences: exercises dedup */
    char dir[600];
    snprintf(dir, sizeof dir, "%s/split", D);
    CHECK_EQ(build(&cfg, dir, 1), 0);
    shard s[3];
    if (load3(dir, s)) { CHECK(0); return; }
    int nf = CAPS[0].nf;
    /* dns has nf flows: 8:1:1 exactly by rounding */
    int per[3][2] = { { 0 } };
    for (int k = 0; k < 3; k++) for (uint64_t i = 0; i < s[k].n_seqs; i++) per[k][s[k].seqs[i].label]++;
    int dns = 0;   /* labels sorted: dns = 0, web = 1 */
    CHECK_EQ(per[0][dns], (int)(nf * 0.8 + 0.5));
    CHECK_EQ(per[1][dns], (int)(nf * 0.1 + 0.5));
    CHECK_EQ(per[0][dns] + per[1][dns] + per[2][dns], nf);
    int leaks = 0, dups = 0;
    for (int a = 0; a < 3; a++) for (int b = a + 1; b < 3; b++)
        for (uint64_t i = 0; i < s[a].n_seqs; i++) for (uint64_t j = 0; j < s[b].n_seqs; j++) {
            const shard_seq *x = &s[a].seqs[i], *y = &s[b].seqs[j];
            leaks += x->key == y->key;
            dups += x->len == y->len && !memcmp(s[a].tokens + x->off + 2, s[b].tokens + y->off + 2, (x->len - 2) * sizeof(tok_t));
        }
    CHECK_EQ(leaks, 0);
    CHECK_EQ(dups, 0);
    /* the copy of a.pcap: its flows sit with their originals (same key -> same split) */
    int copies = 0;
    for (int k = 0; k < 3; k++) for (uint64_t i = 0; i < s[k].n_seqs; i++) copies += s[k].seqs[i].file == 3;
    CHECK_EQ(copies, nf);
    for (int k = 0; k < 3; k++) shard_free(&s[k]);
    /* capture split: every sequence of a file in one split */
    cfg.split = PREP_SPLIT_CAPTURE;
    snprintf(dir, sizeof dir, "%s/split_cap", D);
    CHECK_EQ(build(&cfg, dir, 0), 0);
    if (load3(dir, s)) { CHECK(0); return; }
    int where[3] = { -1, -1, -1 }, mixed = 0;
    for (int k = 0; k < 3; k++) for (uint64_t i = 0; i < s[k].n_seqs; i++) {
        int f = (int)s[k].seqs[i].file;
        if (where[f] >= 0 && where[f] != k) mixed++;
        where[f] = k;
    }
    CHECK_EQ(mixed, 0);
    for (int k = 0; k < 3; k++) shard_free(&s[k]);
    /* time split: train flows start before val flows, val before test */
    cfg.split = PREP_SPLIT_TIME;
    snprintf(dir, sizeof dir, "%s/split_time", D);
    CHECK_EQ(build(&cfg, dir, 0), 0);
    if (load3(dir, s)) { CHECK(0); return; }
    int64_t mx[3] = { INT64_MIN, INT64_MIN, INT64_MIN }, mn[3] = { INT64_MAX, INT64_MAX, INT64_MAX };
    for (int k = 0; k < 3; k++) for (uint64_t i = 0; i < s[k].n_seqs; i++) {
        const shard_seq *q = &s[k].seqs[i];
        int64_t t = CAPS[q->file].f[q->flow - 1].ts[0];
        if (t > mx[k]) mx[k] = t;
        if (t < mn[k]) mn[k] = t;
    }
    CHECK(mx[0] < mn[1] && mx[1] < mn[2]);
    for (int k = 0; k < 3; k++) shard_free(&s[k]);
}

static int same_file(const char *a, const char *b) {
    size_t na, nb;
    uint8_t *x = slurp(a, &na), *y = slurp(b, &nb);
    int same = x && y && na == nb && !memcmp(x, y, na);
    free(x); free(y);
    return same;
}

static void test_deterministic(void) {
    setup();
    prep_cfg cfg;
    prep_cfg_default(&cfg);
    cfg.seed = 1234;
    char d1[600], d2[600], d3[600];
    snprintf(d1, sizeof d1, "%s/det1", D);
    snprintf(d2, sizeof d2, "%s/det2", D);
    snprintf(d3, sizeof d3, "%s/det3", D);
    CHECK_EQ(build(&cfg, d1, 0), 0);
    CHECK_EQ(build(&cfg, d2, 0), 0);
    cfg.seed = 1235;
    CHECK_EQ(build(&cfg, d3, 0), 0);
    static const char *files[] = { "train.tok", "val.tok", "test.tok", "vocab.json", "labels.txt", "manifest.json" };
    int differ_seed = 0;
    for (int k = 0; k < 6; k++) {
        char a[700], b[700], c[700];
        snprintf(a, sizeof a, "%s/%s", d1, files[k]);
        snprintf(b, sizeof b, "%s/%s", d2, files[k]);
        snprintf(c, sizeof c, "%s/%s", d3, files[k]);
        CHECKF(same_file(a, b), "%s", files[k]);
        differ_seed += !same_file(a, c);
    }
    CHECK(differ_seed >= 3);   /* another seed: other splits and anonymisation */
}

static void test_units(void) {
    setup();
    prep_cfg cfg;
    prep_cfg_default(&cfg);
    cfg.unit = PREP_UNIT_PACKET;
    cfg.max_pkts = 4;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/unit_pkt", D);
    CHECK_EQ(build(&cfg, dir, 0), 0);
    shard s[3];
    if (load3(dir, s)) { CHECK(0); return; }
    int bad = 0;
    long total = 0, expect = 0;
    for (int c = 0; c < 3; c++) for (int i = 0; i < CAPS[c].nf; i++) expect += CAPS[c].f[i].np < 4 ? CAPS[c].f[i].np : 4;
    for (int k = 0; k < 3; k++) for (uint64_t i = 0; i < s[k].n_seqs; i++) {
        const shard_seq *q = &s[k].seqs[i];
        int pk = 0;
        for (uint32_t j = 0; j < q->len; j++) pk += s[k].tokens[q->off + j] == TOK_PKT;
        bad += pk != 1 || s[k].tokens[q->off] != TOK_BOS || s[k].tokens[q->off + q->len - 1] != TOK_EOS;
        total++;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(total, expect);
    for (int k = 0; k < 3; k++) shard_free(&s[k]);

    cfg.unit = PREP_UNIT_CAPTURE;
    cfg.split = PREP_SPLIT_CAPTURE;
    cfg.window = 512;
    cfg.ratio[0] = 1; cfg.ratio[1] = 0; cfg.ratio[2] = 0;
    snprintf(dir, sizeof dir, "%s/unit_cap", D);
    CHECK_EQ(build(&cfg, dir, 0), 0);
    if (load3(dir, s)) { CHECK(0); return; }
    long pkts = 0, want = 0;
    for (int c = 0; c < 3; c++) for (int i = 0; i < CAPS[c].nf; i++) want += CAPS[c].f[i].np;
    for (uint64_t i = 0; i < s[0].n_seqs; i++) {
        const shard_seq *q = &s[0].seqs[i];
        CHECK(q->len <= 512);
        tok_reader r;
        tok_packet p;
        uint8_t buf[600];
        tok_reader_init(&r, s[0].tokens + q->off, q->len, 0);
        while (tok_reader_next(&r, &p, buf, sizeof buf) == 1) pkts++;
        CHECK_EQ(r.stray, 0);
    }
    CHECK_EQ(pkts, want);
    CHECK_EQ(s[1].n_seqs + s[2].n_seqs, 0);
    for (int k = 0; k < 3; k++) shard_free(&s[k]);
}

static void test_label_files(void) {
    char p1[600], p2[600];
    snprintf(p1, sizeof p1, "%s/files.csv", t_tmpdir());
    snprintf(p2, sizeof p2, "%s/flows.csv", t_tmpdir());
    const char *a = "File,Label\nnetflix.pcap,netflix\n\"sub/x,y.pcap\",\"odd \"\"name\"\"\"\n";
    const char *b = "path,l4,a_ip,a_port,b_ip,b_port,start,ndpi42\n"
                    "data/c.pcap,17,10.1.2.10,40001,198.51.100.2,53,0,DNS\n"
                    "data/c.pcap,6,2001:db8::1,1,2001:db8::2,2,0,\n";
    CHECK_EQ(write_bytes(p1, a, strlen(a)), 0);
    CHECK_EQ(write_bytes(p2, b, strlen(b)), 0);
    file_labels fl;
    char err[256];
    CHECK_EQ(file_labels_load(&fl, p1, NULL, err, sizeof err), 0);
    CHECK_EQ(fl.n, 2);
    CHECK(file_labels_find(&fl, "/x/netflix.pcap") && !strcmp(file_labels_find(&fl, "/x/netflix.pcap"), "netflix"));
    CHECK(file_labels_find(&fl, "/x/mynetflix.pcap") == NULL);
    CHECK(file_labels_find(&fl, "a/sub/x,y.pcap") && !strcmp(file_labels_find(&fl, "a/sub/x,y.pcap"), "odd \"name\""));
    file_labels_free(&fl);
    flow_labels fw;
    CHECK_EQ(flow_labels_load(&fw, p2, "ndpi42", err, sizeof err), 0);
    CHECK_EQ(fw.n, 1);   /* the empty label is no label */
    uint8_t x[16] = { 198, 51, 100, 2 }, y[16] = { 10, 1, 2, 10 };
    const char *l = flow_labels_find(&fw, "/abs/data/c.pcap", 4, 17, x, 53, y, 40001);   /* reversed order */
    CHECK(l && !strcmp(l, "DNS"));
    CHECK(flow_labels_find(&fw, "/abs/data/c.pcap", 4, 6, x, 53, y, 40001) == NULL);
    CHECK(flow_labels_find(&fw, "/abs/data/d.pcap", 4, 17, x, 53, y, 40001) == NULL);
    flow_labels_free(&fw);
    CHECK(flow_labels_load(&fw, p2, "nosuch", err, sizeof err) != 0);
    label_set s = { 0 };
    label_set_add(&s, "b"); label_set_add(&s, "a"); label_set_add(&s, "b");
    CHECK_EQ(s.n, 2);
    CHECK_EQ(label_set_find(&s, "a"), 0);
    label_set_free(&s);
}

/* prep_each_flow (what classify uses) gives the same tokens as the corpus, but for the label. */
typedef struct { shard *s; int flows, same, dropped; } each_ctx;
static void each_cb(void *v, const flow *f, const tok_t *tok, size_t n) {
    each_ctx *c = v;
    c->flows++;
    if (!tok) { c->dropped++; return; }
    for (int k = 0; k < 3; k++)
        for (uint64_t i = 0; i < c->s[k].n_seqs; i++) {
            const shard_seq *q = &c->s[k].seqs[i];
            if (q->file != 0 || q->flow != f->id) continue;
            c->same += q->len == n && tok[1] == TOK_UNLABELLED && !memcmp(c->s[k].tokens + q->off + 2, tok + 2, (n - 2) * sizeof *tok);
        }
}
static void test_each_flow_matches_prep(void) {
    setup();
    prep_cfg cfg;
    prep_cfg_default(&cfg);
    char dir[600], err[256];
    snprintf(dir, sizeof dir, "%s/each", D);
    CHECK_EQ(build(&cfg, dir, 0), 0);
    shard s[3];
    if (load3(dir, s)) { CHECK(0); return; }
    each_ctx c = { s, 0, 0, 0 };
    CHECK_EQ(prep_each_flow(&cfg, FILES[0], 0, each_cb, &c, NULL, err, sizeof err), 0);
    CHECK_EQ(c.flows, CAPS[0].nf);
    CHECK_EQ(c.same, CAPS[0].nf);
    CHECK_EQ(c.dropped, 0);
    for (int k = 0; k < 3; k++) shard_free(&s[k]);
}

static void test_min_label_flows(void) {
    setup();
    prep_cfg cfg;
    prep_cfg_default(&cfg);
    cfg.min_label_flows = CAPS[0].nf + 1;   /* web has 2 captures' flows, dns one's */
    char dir[600];
    snprintf(dir, sizeof dir, "%s/minlab", D);
    CHECK_EQ(build(&cfg, dir, 0), 0);
    shard s[3];
    if (load3(dir, s)) { CHECK(0); return; }
    int web = 0, unl = 0, bad = 0;
    for (int k = 0; k < 3; k++) {
        CHECK_EQ(s[k].n_labels, 1);
        for (uint64_t i = 0; i < s[k].n_seqs; i++) {
            const shard_seq *q = &s[k].seqs[i];
            int tok = s[k].tokens[q->off + 1];
            if (q->label == 0) { web++; bad += tok != TOK_LABEL0 || q->file == 2; }
            else { unl++; bad += q->label != -1 || tok != TOK_UNLABELLED || q->file != 2; }
        }
        shard_free(&s[k]);
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(web, 2 * CAPS[0].nf);
    CHECK_EQ(unl, CAPS[0].nf);
}

/* The streaming shard writer writes the same bytes as the in-memory builder. */
static void test_shard_stream(void) {
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/b.tok", t_tmpdir());
    snprintf(b, sizeof b, "%s/s.tok", t_tmpdir());
    shard_builder sb;
    shard_stream ss;
    shard_builder_init(&sb, 400, TOK_PAD, TOK_BOS, TOK_EOS, 3, TOK_LABEL0, 1);
    CHECK_EQ(shard_stream_open(&ss, b, 400, TOK_PAD, TOK_BOS, TOK_EOS, 3, TOK_LABEL0, 1), 0);
    static tok_t t[5000];
    for (int i = 0; i < 5000; i++) t[i] = (tok_t)(i * 7 % 400);
    for (int k = 0; k < 50; k++) {
        uint32_t n = (uint32_t)(k * 97 % 4000);
        shard_builder_add(&sb, t + k, n, k % 4 - 1, (uint32_t)k, (uint32_t)k + 1, (uint64_t)k * 0x9e3779b97f4a7c15ull);
        shard_stream_add(&ss, t + k, n, k % 4 - 1, (uint32_t)k, (uint32_t)k + 1, (uint64_t)k * 0x9e3779b97f4a7c15ull);
    }
    CHECK_EQ(shard_write(&sb, a), 0);
    CHECK_EQ(shard_stream_close(&ss), 0);
    shard_builder_free(&sb);
    size_t na, nb;
    uint8_t *x = slurp(a, &na), *y = slurp(b, &nb);
    CHECK(x && y && na == nb && !memcmp(x, y, na));
    free(x); free(y);
    shard s;
    char err[256];
    CHECK_EQ(shard_load(&s, b, err, sizeof err), 0);
    CHECK_EQ(s.n_seqs, 50);
    shard_free(&s);
}

int main(void) {
    RUN(test_roundtrip);
    RUN(test_no_original_addresses);
    RUN(test_text_addresses);
    RUN(test_splits);
    RUN(test_deterministic);
    RUN(test_units);
    RUN(test_label_files);
    RUN(test_each_flow_matches_prep);
    RUN(test_min_label_flows);
    RUN(test_shard_stream);
    return t_done();
}
