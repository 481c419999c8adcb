/* Fidelity metrics on hand-built captures: identical inputs give zero distances, and each
 * perturbation moves the metrics it should and leaves the others alone. Baselines and
 * memorisation on known copies. */
#include "test.h"
#include "pktbuild.h"
#include "eval/fidelity.h"
#include "eval/concurrency.h"
#include "eval/shallow.h"
#include "eval/metrics.h"
#include "eval/compare.h"
#include <sys/stat.h>
#include <sys/wait.h>

typedef struct { int extra; double tscale; uint16_t port; int ttl_delta; } perturb;

/* 12 TCP connections (handshake, data, FIN) to port p.port and 12 UDP/53 exchanges. */
static int make_capture(const char *path, perturb p) {
    cap_writer w;
    if (cap_writer_open(&w, path, LT_ETHERNET, 1, 65535)) return -1;
    uint8_t ip[3000], fr[3100];
    int64_t t0 = 1700000000000000000ll;
    for (int c = 0; c < 12; c++) {
        uint32_t C = 0x0a000001 + (uint32_t)c, S = 0xc0a80001;
        uint16_t cp = (uint16_t)(40000 + c);
        uint32_t data = 100 + 97 * (uint32_t)c;
        struct { int c2s; uint8_t fl; uint32_t seq, ack, len; } t[] = {
            { 1, TCP_SYN, 1, 0, 0 }, { 0, TCP_SYN | TCP_ACK, 5000, 2, 0 }, { 1, TCP_ACK, 2, 5001, 0 },
            { 1, TCP_ACK | TCP_PSH, 2, 5001, 40 }, { 0, TCP_ACK | TCP_PSH, 5001, 42, data },
            { 1, TCP_ACK | TCP_FIN, 42, 5001 + data, 0 }, { 0, TCP_ACK | TCP_FIN, 5001 + data, 43, 0 }, { 1, TCP_ACK, 43, 5002 + data, 0 },
        };
        int64_t ts = t0 + (int64_t)c * 1000000000ll;
        for (int i = 0; i < 8; i++) {
            uint32_t len = t[i].len ? t[i].len + (uint32_t)p.extra : 0;
            uint32_t seq = t[i].seq, ack = t[i].ack;
            if (p.extra) {   /* keep the sequence space consistent with the longer payloads */
                if (t[i].c2s && i >= 5) seq += (uint32_t)p.extra;
                if (!t[i].c2s && i >= 4) ack += (uint32_t)p.extra;
                if (!t[i].c2s && i >= 6) seq += (uint32_t)p.extra;
                if (t[i].c2s && i >= 5) ack += (uint32_t)p.extra;
            }
            uint32_t n = t[i].c2s ? build_ip4(ip, 6, C, S, cp, p.port, t[i].fl, seq, ack, len)
                                  : build_ip4(ip, 6, S, C, p.port, cp, t[i].fl, seq, ack, len);
            if (p.ttl_delta) { ip[8] = (uint8_t)(ip[8] + p.ttl_delta); ip_fix_checksums(ip, n); }
            uint32_t m = eth_wrap(fr, ip, n);
            ts += (int64_t)((1 + i * i) * 1000000 * p.tscale);
            cap_writer_write(&w, ts, fr, m, m);
        }
    }
    for (int c = 0; c < 12; c++) {
        uint32_t C = 0x0a000101 + (uint32_t)c, S = 0x08080808;
        int64_t ts = t0 + 500000000ll + (int64_t)c * 1000000000ll;
        for (int i = 0; i < 2; i++) {
            uint32_t len = (i ? 80 + 10 * (uint32_t)c : 30) + (uint32_t)p.extra;
            uint32_t n = i ? build_ip4(ip, 17, S, C, 53, (uint16_t)(5000 + c), 0, 0, 0, len) : build_ip4(ip, 17, C, S, (uint16_t)(5000 + c), 53, 0, 0, 0, len);
            uint32_t m = eth_wrap(fr, ip, n);
            ts += (int64_t)(3000000 * p.tscale);
            cap_writer_write(&w, ts, fr, m, m);
        }
    }
    return cap_writer_close(&w);
}

static int load(ff_set *s, const char *name, perturb p) {
    char path[512], err[512];
    tpath(path, sizeof path, name);
    if (make_capture(path, p)) return -1;
    ff_set_init(s, 0, 40);
    return ff_read_file(s, path, -1, NULL, err, sizeof err);
}

static const perturb BASE = { 0, 1, 443, 0 };

static void dist_of(fid_dist *d, const ff_set *a, const ff_set *b) {
    fid_side sa, sb;
    fid_side_build(&sa, a, 1);
    fid_side_build(&sb, b, 1);
    fid_distance(d, &sa, &sb);
    fid_side_free(&sa);
    fid_side_free(&sb);
}

/* Concurrent flows: bins counted by hand, the bin width chosen from the reference, a side
 * against itself at distance 0, and the baselines keeping starts relative to their capture. */
static void add_flow(ff_set *s, int file, double a, double b) {
    ff_flow proto;
    memset(&proto, 0, sizeof proto);
    proto.file = file; proto.label = -1; proto.key.proto = 17; proto.key.ipver = 4;
    proto.first_ns = 1000000000000LL * (file + 1) + (int64_t)(a * 1e9);
    proto.last_ns = 1000000000000LL * (file + 1) + (int64_t)(b * 1e9);
    ff_flow *f = ff_append_flow(s, &proto, 1);
    f->pkts[0] = 1;
    s->pk[f->pk].ip_len = 60;
}
static void test_concurrency(void) {
    ff_set s;
    ff_set_init(&s, 0, 0);
    s.files = malloc(2 * sizeof *s.files); s.files[0] = strdup("a"); s.files[1] = strdup("b"); s.nfiles = 2;
    /* capture 0, 1 s bins from its first packet: [0, 2.5] [1, 1.5] [3, 3] -> bins 1 2 1 1 */
    add_flow(&s, 0, 0, 2.5); add_flow(&s, 0, 1, 1.5); add_flow(&s, 0, 3, 3);
    /* capture 1 (flows listed out of order): [0.5, 0.7] [0, 0.2] -> one bin, 2 active */
    add_flow(&s, 1, 0.5, 0.7); add_flow(&s, 1, 0, 0.2);
    fid_conc c;
    CHECK_EQ(fid_conc_build(&c, &s, 1.0), 0);
    CHECK_EQ(c.captures, 2);
    CHECK_EQ(c.n, 5);
    CHECK_NEAR(c.mean, (1 + 2 + 1 + 1 + 2) / 5.0, 1e-12);
    CHECK_EQ(c.max, 2); CHECK_EQ(c.p50, 1);
    CHECK_EQ(c.ncurve, 4);
    CHECK_NEAR(c.curve[0], 1.5, 1e-12);    /* the mean over the captures that last that long */
    CHECK_NEAR(c.curve[1], 2, 1e-12);
    CHECK_NEAR(c.curve[3], 1, 1e-12);
    /* the bin: the largest of 1 s .. 1 ms giving the longest capture (3 s) 100 bins */
    CHECK_NEAR(fid_conc_bin(&s), 0.01, 1e-15);
    fid_conc d;
    CHECK_EQ(fid_conc_build(&d, &s, 1.0), 0);
    fid_conc_compare(&c, &d);
    CHECK_NEAR(d.emd, 0, 1e-12); CHECK_NEAR(d.emd_flows, 0, 1e-12);
    /* replay of every flow many times: starts relative to their capture's, so the concurrency
     * scales with the number of copies (absolute times would spread them 1000 s apart) */
    ff_set r;
    ff_set_init(&r, 0, 0);
    fid_replay(&r, &s, 50, 1);
    for (size_t i = 0; i < r.n; i++) CHECK(r.fl[i].first_ns >= 0 && r.fl[i].first_ns <= 3000000000LL && r.fl[i].last_ns >= r.fl[i].first_ns);
    fid_conc e;
    CHECK_EQ(fid_conc_build(&e, &r, 1.0), 0);
    CHECK_EQ(e.captures, 1);
    CHECK(e.max > 10);
    fid_conc_compare(&c, &e);
    CHECK(e.emd > 0.5);
    ff_set q;
    ff_set_init(&q, 0, 0);
    fid_sampler(&q, &s, 20, 1);
    for (size_t i = 0; i < q.n; i++) CHECK(q.fl[i].first_ns >= 0 && q.fl[i].first_ns <= 3000000000LL);
    /* the writers: every side, its distance, the SVG */
    char path[256];
    tpath(path, sizeof path, "conc.txt");
    FILE *f = fopen(path, "w+");
    fid_conc all[2] = { c, e };
    char *names[2] = { "REAL", "replay" };
    fid_conc_text(f, all, names, 2);
    fid_conc_json(f, all, names, 2);
    fid_conc_html(f, all, names, 2);
    fflush(f);
    rewind(f);
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    CHECK(strstr(buf, "Concurrent flows (active in each 1 s bin") != NULL);
    CHECK(strstr(buf, "\"concurrency\": {\"bin_s\": 1,\n    \"REAL\": {\"captures\": 2, \"bins\": 5, \"mean\": 1.4") != NULL);
    CHECK(strstr(buf, "<svg") != NULL && strstr(buf, "active flows over time") != NULL);
    fid_conc_free(&c); fid_conc_free(&d); fid_conc_free(&e);
    ff_set_free(&s); ff_set_free(&r); ff_set_free(&q);
}

static void test_identical(void) {
    ff_set a, b;
    CHECK_EQ(load(&a, "a.pcap", BASE), 0);
    CHECK_EQ(load(&b, "b.pcap", BASE), 0);
    CHECK_EQ(a.n, 24);
    fid_dist d;
    dist_of(&d, &a, &b);
    for (int k = 0; k < NFC; k++) CHECKF(d.jsd[k] == 0, "%s %g", fid_cat_name[k], d.jsd[k]);
    for (int k = 0; k < NFN; k++) CHECKF(d.emd[k] == 0 && d.emd_raw[k] == 0, "%s %g", fid_cont_name[k], d.emd[k]);
    CHECK_EQ(d.hdr_len, 40);
    CHECK_NEAR(d.bytepos_mean, 0, 0);
    fid_dist_free(&d);
    /* validity and TCP state of the clean capture */
    fid_side s;
    fid_side_build(&s, &a, 1);
    CHECK_EQ(s.tcp_flows, 12);
    CHECK_EQ(s.handshake, 12); CHECK_EQ(s.teardown, 12); CHECK_EQ(s.seq_ok, 12); CHECK_EQ(s.ack_ok, 12);
    CHECK_EQ(s.len_ok, s.kept); CHECK_EQ(s.csum_ok, s.kept); CHECK_EQ(s.csum_checked, s.kept);
    CHECK_EQ(s.packets, 12 * 8 + 12 * 2);
    fid_side_free(&s);
    ff_set_free(&a); ff_set_free(&b);
}

static void test_perturbed(void) {
    ff_set a, b;
    fid_dist d;
    CHECK_EQ(load(&a, "a.pcap", BASE), 0);
    /* +100 bytes on every packet with payload: sizes move by exactly that much where they
     * move, nothing categorical changes, counts and times stay */
    perturb p = BASE; p.extra = 100;
    CHECK_EQ(load(&b, "b.pcap", p), 0);
    dist_of(&d, &a, &b);
    CHECKF(d.emd[FN_SIZE_A] > 0.05 && d.emd[FN_SIZE_B] > 0.02, "%g %g", d.emd[FN_SIZE_A], d.emd[FN_SIZE_B]);
    CHECK_NEAR(d.emd_raw[FN_SIZE_B], 100.0 * 24 / 48, 1e-9);
    CHECK(d.emd[FN_FLOW_BYTES] > 0.01);
    /* a->b: of 5 TCP packets per flow one carries data, and the single UDP query: (12 + 12) / (60 + 12) move by 100 */
    CHECK_NEAR(d.emd_raw[FN_SIZE_A], 100.0 * 24 / 72, 1e-9);
    CHECK_NEAR(d.jsd[FC_PORT], 0, 0); CHECK_NEAR(d.jsd[FC_PROTO], 0, 0); CHECK_NEAR(d.jsd[FC_FLAGS_A], 0, 0);
    CHECK_NEAR(d.jsd[FC_TTL_A], 0, 0); CHECK_NEAR(d.jsd[FC_DIRPAT], 0, 0);
    CHECK_NEAR(d.emd[FN_FLOW_PKTS], 0, 0); CHECK_NEAR(d.emd[FN_IAT_A], 0, 0); CHECK_NEAR(d.emd[FN_DURATION], 0, 0);
    CHECK(d.bytepos_mean > 0);   /* total length and checksum bytes differ */
    fid_side sb;
    fid_side_build(&sb, &b, 1);
    CHECK_EQ(sb.seq_ok, 12); CHECK_EQ(sb.csum_ok, sb.kept);
    fid_side_free(&sb);
    fid_dist_free(&d); ff_set_free(&b);

    /* a slower clock: times move, sizes and categories do not */
    p = BASE; p.tscale = 10;
    CHECK_EQ(load(&b, "b.pcap", p), 0);
    dist_of(&d, &a, &b);
    CHECK(d.emd[FN_IAT_A] > 0.1 && d.emd[FN_IAT_B] > 0.1 && d.emd[FN_DURATION] > 0.1);
    CHECK_NEAR(d.emd[FN_SIZE_A], 0, 0); CHECK_NEAR(d.emd[FN_FLOW_BYTES], 0, 0);
    CHECK_NEAR(d.jsd[FC_PORT], 0, 0); CHECK_NEAR(d.bytepos_mean, 0, 0);
    fid_dist_free(&d); ff_set_free(&b);

    /* another service port: the port histogram moves, TCP's half of it entirely */
    p = BASE; p.port = 8443;
    CHECK_EQ(load(&b, "b.pcap", p), 0);
    dist_of(&d, &a, &b);
    /* {443: 1/2, 53: 1/2} vs {8443: 1/2, 53: 1/2}: JSD = 1/2 */
    CHECK_NEAR(d.jsd[FC_PORT], 0.5, 1e-12);
    CHECK_NEAR(d.emd[FN_SIZE_A], 0, 0); CHECK_NEAR(d.jsd[FC_TTL_A], 0, 0);
    fid_dist_free(&d); ff_set_free(&b);

    /* other TTLs on TCP: the TTL fields move and only they (among categoricals) */
    p = BASE; p.ttl_delta = 1;
    CHECK_EQ(load(&b, "b.pcap", p), 0);
    dist_of(&d, &a, &b);
    CHECK(d.jsd[FC_TTL_A] > 0.5 && d.jsd[FC_TTL_B] > 0.5);
    CHECK_NEAR(d.jsd[FC_PORT], 0, 0); CHECK_NEAR(d.jsd[FC_FLAGS_A], 0, 0); CHECK_NEAR(d.emd[FN_SIZE_A], 0, 0);
    fid_dist_free(&d); ff_set_free(&b);
    ff_set_free(&a);
}

static void test_baselines_and_memo(void) {
    ff_set a, b, rep, smp, smp2;
    CHECK_EQ(load(&a, "a.pcap", BASE), 0);
    perturb p = BASE; p.extra = 100;
    CHECK_EQ(load(&b, "b.pcap", p), 0);
    fid_train_index *x = fid_train_index_new(&a);
    fid_memo m;
    fid_memorisation(&m, x, &a);                    /* a copy of the training data */
    CHECK_EQ(m.flows, 24); CHECK_EQ(m.exact, 24); CHECK_EQ(m.near, 0);
    CHECK_EQ(m.addrs_in_train, m.addrs); CHECK_EQ(m.flows_with_train_addr, 24);
    fid_memorisation(&m, x, &b);                    /* +100 bytes: a near copy (100/1500 per moved packet) */
    CHECK_EQ(m.exact, 0); CHECK_EQ(m.near, 24);
    CHECK_NEAR(fid_flow_distance(&a, &a.fl[0], &b, &b.fl[0]), 2 * (100.0 / 1500) / 8, 1e-12);
    ff_set_init(&rep, 0, 40);
    fid_replay(&rep, &a, 50, 3);
    CHECK_EQ(rep.n, 50);
    fid_memorisation(&m, x, &rep);
    CHECK_EQ(m.exact, 50);                          /* replay copies by construction */
    ff_set_init(&smp, 0, 40); ff_set_init(&smp2, 0, 40);
    fid_sampler(&smp, &a, 200, 5);
    fid_sampler(&smp2, &a, 200, 5);
    CHECK_EQ(smp.n, 200);
    CHECK(smp.npk == smp2.npk && !memcmp(smp.pk, smp2.pk, smp.npk * sizeof *smp.pk));   /* deterministic */
    fid_memorisation(&m, x, &smp);
    CHECK(m.exact < 200 / 2);
    /* the sampler keeps each marginal: protocol and IP-length distributions stay close */
    fid_dist d;
    dist_of(&d, &a, &smp);
    CHECK(d.jsd[FC_PROTO] < 0.05);
    CHECK(d.jsd[FC_DIRPAT] > 0.1);                  /* but not the order of directions */
    fid_dist_free(&d);
    fid_train_index_free(x);
    ff_set_free(&a); ff_set_free(&b); ff_set_free(&rep); ff_set_free(&smp); ff_set_free(&smp2);
}

/* The shallow classifiers on two labelled toy captures: web (TCP/443) and alt (TCP/8443,
 * other TTL); both have the same DNS flows. */
static void test_shallow(void) {
    char path[512], err[512];
    ff_set s;
    ff_set_init(&s, 0, 0);
    perturb alt = BASE;
    alt.port = 8443; alt.ttl_delta = 1;
    tpath(path, sizeof path, "web.pcap"); CHECK_EQ(make_capture(path, BASE), 0);
    CHECK_EQ(ff_read_file(&s, path, ff_label_id(&s, "web"), NULL, err, sizeof err), 0);
    tpath(path, sizeof path, "alt.pcap"); CHECK_EQ(make_capture(path, alt), 0);
    CHECK_EQ(ff_read_file(&s, path, ff_label_id(&s, "alt"), NULL, err, sizeof err), 0);
    CHECK_EQ(s.n, 48);
    /* port lookup: TCP by port; DNS/53 is 12:12, the tie goes to the lower id (web) */
    portmap_model pm;
    CHECK_EQ(portmap_train(&pm, &s, NULL, 0, 1, 2), 0);
    long cm[4] = { 0 };
    CHECK_EQ(portmap_confusion(&pm, &s, NULL, 0, cm), 48);
    CHECK(cm[0] == 24 && cm[1] == 0 && cm[2] == 12 && cm[3] == 12);
    ff_flow probe = s.fl[0];
    probe.key.proto = 6; probe.key.port[0] = 50000; probe.key.port[1] = 9999;
    CHECK_EQ(portmap_predict(&pm, &probe), 0);          /* unseen port: the protocol's majority (tie: web) */
    portmap_free(&pm);
    CHECK_EQ(portmap_train(&pm, &s, NULL, 0, 0, 2), 0);  /* majority class */
    CHECK_EQ(portmap_predict(&pm, &s.fl[30]), 0);
    portmap_free(&pm);
    /* forest without ports: TTL and timing still tell the TCP flows apart */
    rf_cfg rc;
    rf_cfg_default(&rc);
    rc.n_trees = 20;
    ff_feat_cfg fc = { 0, 1, 0 };
    shallow_model m;
    size_t tcp[24], k = 0;
    for (size_t i = 0; i < s.n; i++) if (s.fl[i].key.proto == 6) tcp[k++] = i;
    CHECK_EQ(k, 24);
    CHECK_EQ(shallow_train(&m, &s, tcp, k, &fc, &rc, 2), 0);
    memset(cm, 0, sizeof cm);
    CHECK_EQ(shallow_confusion(&m, &s, tcp, k, cm), 24);
    CHECK(cm[0] == 12 && cm[3] == 12);
    float pr[2];
    int c = shallow_predict(&m, &s, &s.fl[tcp[0]], pr);
    CHECK(c == s.fl[tcp[0]].label && pr[c] > 0.5f);
    shallow_free(&m);
    ff_set_free(&s);
}

/* Our validity and TCP-state checks against the defect cases of the external validator
 * (../shared/tools/validate-pcap/cases: one known defect per file, flagged by tshark). */
static void test_validate_cases(void) {
    const char *sh = t_shared();
    if (!sh) SKIP("no ../shared");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tools/validate-pcap/cases", sh);
    if (access(dir, R_OK)) SKIP("no validate-pcap cases");
    enum { GOOD, CSUM, LEN, READ, TIME, SEQ, ACK, SEQACK, MID, NONE };
    static const struct { const char *file; int expect; } cases[] = {
        { "good.pcap", GOOD }, { "bad_ip_checksum.pcap", CSUM }, { "bad_tcp_checksum.pcap", CSUM },
        { "bad_udp_checksum.pcap", CSUM }, { "bad_icmp_checksum.pcap", CSUM }, { "bad_ip_total_length.pcap", LEN },
        { "bad_udp_length.pcap", LEN },
        /* the reader raises a record's length to its captured length (as libpcap does), so
         * this record looks consistent here; only validate-pcap flags it */
        { "caplen_gt_len.pcap", NONE },
        /* a 60-byte TCP header claimed in a 20-byte one: the payload length comes out 40 short,
         * which the sequence tracking catches in both directions */
        { "bad_tcp_header_length.pcap", SEQACK }, { "corrupt_caplen.pcap", READ }, { "cut_short.pcap", READ },
        { "time_backwards.pcap", TIME }, { "tcp_lost_segment.pcap", SEQ }, { "tcp_out_of_order.pcap", SEQ },
        { "tcp_acked_unseen.pcap", ACK }, { "tcp_no_handshake_midstream.pcap", MID },
        /* legitimate TCP behaviour: nothing to flag */
        { "tcp_retransmission.pcap", NONE }, { "tcp_dup_ack.pcap", NONE }, { "tcp_zero_window.pcap", NONE },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[1200], err[512];
        snprintf(path, sizeof path, "%s/%s", dir, cases[i].file);
        ff_set s;
        ff_set_init(&s, 0, 0);
        int rc = ff_read_file(&s, path, -1, NULL, err, sizeof err);
        fid_side d;
        fid_side_build(&d, &s, 1);
        int e = cases[i].expect;
        int csum_bad = d.csum_ok < d.csum_checked, len_bad = d.len_ok < d.kept, read_bad = rc != 0 && d.files_bad == 1;
        int time_bad = d.ts_backwards > 0, seq_bad = d.seq_ok < d.tcp_flows, ack_bad = d.ack_ok < d.tcp_flows;
        int mid = d.midstream > 0 && d.handshake == 0;
        CHECKF(csum_bad == (e == CSUM), "%s: checksums", cases[i].file);
        CHECKF(len_bad == (e == LEN), "%s: lengths", cases[i].file);
        CHECKF(read_bad == (e == READ), "%s: read", cases[i].file);
        CHECKF(time_bad == (e == TIME), "%s: time order", cases[i].file);
        CHECKF(seq_bad == (e == SEQ || e == SEQACK), "%s: seq continuity", cases[i].file);
        CHECKF(ack_bad == (e == ACK || e == SEQACK), "%s: ack continuity", cases[i].file);
        CHECKF(mid == (e == MID), "%s: handshake", cases[i].file);
        if (e == GOOD) CHECK(d.handshake == 1 && d.teardown == 1 && d.not_parsed == 0);
        fid_side_free(&d);
        ff_set_free(&s);
    }
}

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long L = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)L + 1);
    *n = fread(b, 1, (size_t)L, f);
    b[*n] = 0;
    fclose(f);
    return b;
}

/* compare_run, the library call behind `pktlm compare`, on two labelled captures per side:
 * label ids unified by name whatever the order they were met in; without TRAIN the baselines
 * come from the first half of each REAL capture's flows and TSTR tests on the second halves;
 * the writers print from the struct. */
static void test_compare_run(void) {
    char pa[512], pb[512], sa[512], sb[512], err[512];
    perturb web = BASE, alt = BASE;
    alt.port = 8443; alt.ttl_delta = 1;
    tpath(pa, sizeof pa, "cr_web.pcap"); CHECK_EQ(make_capture(pa, web), 0);
    tpath(pb, sizeof pb, "cr_alt.pcap"); CHECK_EQ(make_capture(pb, alt), 0);
    web.tscale = alt.tscale = 2;
    tpath(sa, sizeof sa, "cs_web.pcap"); CHECK_EQ(make_capture(sa, web), 0);
    tpath(sb, sizeof sb, "cs_alt.pcap"); CHECK_EQ(make_capture(sb, alt), 0);
    ff_set real, synth;
    ff_set_init(&real, 0, 40);
    ff_set_init(&synth, 0, 40);
    CHECK_EQ(ff_read_file(&real, pa, ff_label_id(&real, "web"), NULL, err, sizeof err), 0);
    CHECK_EQ(ff_read_file(&real, pb, ff_label_id(&real, "alt"), NULL, err, sizeof err), 0);
    CHECK_EQ(ff_read_file(&synth, sb, ff_label_id(&synth, "alt"), NULL, err, sizeof err), 0);   /* other order */
    CHECK_EQ(ff_read_file(&synth, sa, ff_label_id(&synth, "web"), NULL, err, sizeof err), 0);
    compare_report r;
    compare_run(&r, &real, &synth, NULL, &(compare_cfg){ .trees = 10, .seed = 1 });
    r.real_name = "REAL"; r.synth_name = "SYNTH";
    CHECK_EQ(r.nnames, 2);
    CHECK(!strcmp(r.names[0], "web") && !strcmp(r.names[1], "alt"));
    /* synth's first flows are from the alt capture: after unification they carry "alt"'s id */
    CHECK_EQ(synth.fl[0].label, 1);
    CHECK_EQ(synth.fl[synth.n - 1].label, 0);
    CHECK(!r.has_train && !r.memo_done && r.labelled);
    /* halves: 24 flows per capture, 12 of each in the baseline source, 12 in the test flows */
    CHECK_EQ(r.bsrc->n, 24); CHECK_EQ(r.test->n, 24);
    CHECK_EQ(r.set[CMP_REPLAY]->n, synth.n); CHECK_EQ(r.set[CMP_SAMPLER]->n, synth.n);
    CHECK(r.tstr[CMP_SYNTH].done && r.tstr[CMP_REAL].done);
    CHECK_EQ(r.tstr[CMP_SYNTH].n_test, 24);
    CHECK_EQ(r.tstr[CMP_SYNTH].n_train, 48);
    CHECK_EQ(r.tstr[CMP_REAL].n_train, 24);
    /* each capture's second half (by first packet) is its 12 DNS exchanges, the same in both
     * classes: whatever the forest says, 12 of the 24 test flows are right */
    size_t udp = 0;
    for (size_t i = 0; i < r.test->n; i++) udp += r.test->fl[i].key.proto == 17;
    CHECK_EQ(udp, 24);
    CHECK_NEAR(r.tstr[CMP_SYNTH].rep.accuracy, 0.5, 1e-9);
    /* only the clock differs: every categorical field the same, inter-arrival times not */
    for (int k = 0; k < NFC; k++) CHECKF(r.dist[CMP_SYNTH].jsd[k] == 0, "%s %g", fid_cat_name[k], r.dist[CMP_SYNTH].jsd[k]);
    CHECK(r.dist[CMP_SYNTH].emd[FN_IAT_A] > 0);
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    compare_write_text(f, &r);
    compare_write_json(f, &r);
    fclose(f);
    CHECK(buf && strstr(buf, "the first half of each REAL capture's flows (24 flows)"));
    CHECK(buf && strstr(buf, "\"baseline_source\": \"real_first_half\""));
    CHECK(buf && strstr(buf, "\"labels\": [\"web\", \"alt\"]"));
    free(buf);
    compare_free(&r);
    ff_set_free(&real); ff_set_free(&synth);
}

/* The command line end to end on two labelled toy "captures": TSTR separates the two
 * services perfectly, JSON and HTML are written, the HTML needs nothing from outside. */
static void test_cli(void) {
    const char *bin = getenv("PKTLM");
    if (!bin || access(bin, X_OK)) SKIP("no $PKTLM binary");
    const char *tmp = t_tmpdir();
    char cmd[4096], p[1024];
    const char *dirs[] = { "cli", "cli/real", "cli/real/web", "cli/real/alt", "cli/synth", "cli/synth/web", "cli/synth/alt" };
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) { snprintf(p, sizeof p, "%s/%s", tmp, dirs[i]); mkdir(p, 0755); }
    perturb web = BASE, alt = BASE;
    alt.port = 8443; alt.ttl_delta = 1;
    snprintf(p, sizeof p, "%s/cli/real/web/a.pcap", tmp); CHECK_EQ(make_capture(p, web), 0);
    snprintf(p, sizeof p, "%s/cli/real/alt/b.pcap", tmp); CHECK_EQ(make_capture(p, alt), 0);
    web.tscale = alt.tscale = 2;
    snprintf(p, sizeof p, "%s/cli/synth/web/a.pcap", tmp); CHECK_EQ(make_capture(p, web), 0);
    snprintf(p, sizeof p, "%s/cli/synth/alt/b.pcap", tmp); CHECK_EQ(make_capture(p, alt), 0);
    snprintf(cmd, sizeof cmd, "'%s' compare '%s/cli/real' '%s/cli/synth' --train '%s/cli/real' --trees 10 --json '%s/cli/o.json' --html '%s/cli/o.html' > '%s/cli/o.txt' 2>&1",
             bin, tmp, tmp, tmp, tmp, tmp, tmp);
    CHECK_EQ(system(cmd), 0);
    size_t n;
    snprintf(p, sizeof p, "%s/cli/o.json", tmp);
    char *j = slurp(p, &n);
    CHECK(j != NULL);
    if (j) {
        char *t = strstr(j, "\"tstr\"");
        /* TCP flows are told apart by port and TTL; the DNS flows are the same in both
         * classes, so half of them (12 of 48 flows) must be wrong whoever trains */
        CHECK(t && strstr(t, "\"synth\": {\"n_train\": 48, \"n_test\": 48, \"accuracy\": 0.75,"));
        CHECK(t && strstr(t, "\"train\": {\"n_train\": 48, \"n_test\": 48, \"accuracy\": 0.75,"));
        CHECK(strstr(j, "\"memorisation\": {") && strstr(j, "\"real\": {\"flows\": 48, \"exact\": 48"));
        CHECK(strstr(j, "\"service_port\": {\"synth\": 0,"));   /* only the clock differs */
        free(j);
    }
    snprintf(p, sizeof p, "%s/cli/o.html", tmp);
    char *h = slurp(p, &n);
    CHECK(h != NULL);
    if (h) {
        int svgs = 0;
        for (char *q = h; (q = strstr(q, "<svg")); q++) svgs++;
        CHECK(svgs >= 14);
        CHECK(!strstr(h, "<script") && !strstr(h, "src=") && !strstr(h, "https:"));
        for (char *q = h; (q = strstr(q, "http")); q++) CHECK(!strncmp(q, "http://www.w3.org/2000/svg", 26));
        CHECK(strstr(h, "TSTR: trained on SYNTH"));
        free(h);
    }
    snprintf(cmd, sizeof cmd, "'%s' compare '%s/cli/real' > /dev/null 2>&1", bin, tmp);
    int rc = system(cmd);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 2);
    snprintf(cmd, sizeof cmd, "'%s' compare --help | grep -q -- --train", bin);
    CHECK_EQ(system(cmd), 0);
}

int main(void) {
    RUN(test_identical);
    RUN(test_concurrency);
    RUN(test_perturbed);
    RUN(test_baselines_and_memo);
    RUN(test_shallow);
    RUN(test_compare_run);
    RUN(test_cli);
    RUN(test_validate_cases);
    return t_done();
}
