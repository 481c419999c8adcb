/* Evaluation library: metrics against hand-computed values, the random forest on toy
 * tasks, per-flow records and features on a hand-built capture. */
#include "test.h"
#include "pktbuild.h"
#include "eval/metrics.h"
#include "eval/forest.h"
#include "eval/flowfeat.h"

static void test_jsd(void) {
    double p[3] = { 1, 2, 3 }, q[3] = { 2, 4, 6 };
    CHECK_NEAR(jsd_counts(p, q, 3), 0, 1e-12);           /* same distribution, other scale */
    double a[2] = { 1, 0 }, b[2] = { 0, 1 };
    CHECK_NEAR(jsd_counts(a, b, 2), 1, 1e-12);           /* disjoint supports: 1 bit */
    double c[2] = { 1, 1 }, d[2] = { 1, 0 };
    /* m = (.75, .25): 0.5 (.5 log2(.5/.75) + .5 log2(.5/.25)) + 0.5 log2(1/.75) */
    CHECK_NEAR(jsd_counts(c, d, 2), 0.5 * (0.5 * log2(0.5 / 0.75) + 0.5) + 0.5 * log2(1 / 0.75), 1e-12);
    CHECK_NEAR(jsd_counts(c, d, 2), 0.3112781245, 1e-9);
    CHECK_NEAR(jsd_counts(c, d, 2), jsd_counts(d, c, 2), 1e-15);   /* symmetric */
    double z[2] = { 0, 0 };
    CHECK_NEAR(jsd_counts(z, z, 2), 0, 0);
}

static void test_emd(void) {
    double a[3] = { 2, 0, 1 }, b[3] = { 0, 1, 2 };
    CHECK_NEAR(emd_1d(a, 3, b, 3), 0, 0);
    double c[1] = { 0 }, d[1] = { 1 };
    CHECK_NEAR(emd_1d(c, 1, d, 1), 1, 1e-12);
    double e[2] = { 0, 2 }, f[1] = { 1 };
    CHECK_NEAR(emd_1d(e, 2, f, 1), 1, 1e-12);
    /* Fa = 2/3 on [0,3), Fb = 0 | .5 | 1 from 1 and 2: 2/3 + 1/6 + 1/3 */
    double g[3] = { 0, 0, 3 }, h[2] = { 1, 2 };
    CHECK_NEAR(emd_1d(g, 3, h, 2), 7.0 / 6, 1e-12);
    double s1[4] = { 1, 5, 9, 40 }, s2[4] = { 101, 105, 109, 140 };
    CHECK_NEAR(emd_1d(s1, 4, s2, 4), 100, 1e-9);         /* a shift moves it by the shift */
    double n1[3] = { NAN, 0, NAN }, n2[2] = { 1, NAN };
    CHECK_NEAR(emd_1d(n1, 3, n2, 2), 1, 1e-12);          /* NaNs are dropped, not looped on */
}

static int cmpd(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }

static void test_sort(void) {
    enum { N = 5000 };
    static double v[N], w[N];
    uint64_t s = 3;
    for (int i = 0; i < N; i++) {
        double u = rng_uniform(&s);
        v[i] = i % 7 == 0 ? 0 : i % 11 == 0 ? -0.0 : (u - 0.3) * (i % 3 ? 1e6 : 1e-3);
        w[i] = v[i];
    }
    sort_doubles(v, N);
    qsort(w, N, sizeof *w, cmpd);
    int same = 1;
    for (int i = 0; i < N; i++) same &= v[i] == w[i];
    CHECK(same);
}

static void test_bytepos(void) {
    uint64_t ha[2 * 257] = { 0 }, hb[2 * 257] = { 0 };
    ha[0x45] = 10; hb[0x45] = 10;                  /* position 0 identical */
    ha[257 + 1] = 5; hb[257 + 256] = 5;            /* position 1: value 1 vs absent */
    double out[2];
    CHECK_NEAR(jsd_bytepos(ha, hb, 2, out), 0.5, 1e-12);
    CHECK_NEAR(out[0], 0, 0);
    CHECK_NEAR(out[1], 1, 1e-12);
}

static void test_cls_report(void) {
    long cm[4] = { 3, 1, 2, 4 };
    cls_report r;
    cls_report_compute(&r, cm, 2);
    CHECK_NEAR(r.accuracy, 0.7, 1e-12);
    CHECK_NEAR(r.precision[0], 3.0 / 5, 1e-12); CHECK_NEAR(r.recall[0], 3.0 / 4, 1e-12);
    CHECK_NEAR(r.precision[1], 4.0 / 5, 1e-12); CHECK_NEAR(r.recall[1], 4.0 / 6, 1e-12);
    double f0 = 2 * 0.6 * 0.75 / 1.35, f1 = 2 * 0.8 * (4.0 / 6) / (0.8 + 4.0 / 6);
    CHECK_NEAR(r.f1[0], f0, 1e-12); CHECK_NEAR(r.f1[1], f1, 1e-12);
    CHECK_NEAR(r.macro_f1, (f0 + f1) / 2, 1e-12);
    CHECK_NEAR(r.weighted_f1, (4 * f0 + 6 * f1) / 10, 1e-12);
    CHECK_NEAR(r.weighted_f1, 0.703030303, 1e-8);
    CHECK_EQ(r.support[0], 4); CHECK_EQ(r.support[1], 6);
    cls_report_free(&r);
    /* a class never true nor predicted does not count in macro-F1 */
    long cm3[9] = { 2, 0, 0, 0, 2, 0, 0, 0, 0 };
    cls_report_compute(&r, cm3, 3);
    CHECK_NEAR(r.macro_f1, 1, 1e-12);
    cls_report_free(&r);
    char path[512];
    tpath(path, sizeof path, "cm.svg");
    FILE *f = fopen(path, "w");
    char *names[2] = { "a<b", "c" };
    cm_svg(f, cm, 2, names, "t");
    fclose(f);
    f = fopen(path, "r");
    char buf[4096] = { 0 };
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    CHECK(n > 100 && strstr(buf, "<svg") && strstr(buf, "a&lt;b") && strstr(buf, "</svg>"));
}

/* Two noisy classes separable on feature 1 only (feature 0 is noise), and XOR on 2 and 3. */
static void toy(float *X, int *y, int n, uint64_t seed) {
    for (int i = 0; i < n; i++) {
        int c = i % 4;
        float *x = X + i * 4;
        x[0] = (float)rng_uniform(&seed);
        x[1] = (float)((c & 1) * 2 + rng_uniform(&seed));
        int u = (int)(rng_uniform(&seed) * 2), v = (int)(rng_uniform(&seed) * 2);
        x[2] = (float)(u + 0.1 * rng_uniform(&seed)); x[3] = (float)(v + 0.1 * rng_uniform(&seed));
        y[i] = (c & 1) | (u ^ v) << 1;   /* 4 classes */
    }
}

static void test_forest(void) {
    enum { N = 800 };
    static float X[N * 4], Xt[N * 4];
    static int y[N], yt[N];
    toy(X, y, N, 1);
    toy(Xt, yt, N, 2);
    rf_cfg c;
    rf_cfg_default(&c);
    c.n_trees = 30;
    rf_model m, m2;
    CHECK_EQ(rf_train(&m, &c, X, y, N, 4, 4), 0);
    int ok = 0, ok_bit0 = 0, ok_train = 0;
    float pr[4];
    for (int i = 0; i < N; i++) {
        int k = rf_predict_proba(&m, Xt + i * 4, pr);
        ok += k == yt[i];
        ok_bit0 += (k & 1) == (yt[i] & 1);
        ok_train += rf_predict(&m, X + i * 4) == y[i];
        CHECK_NEAR(pr[0] + pr[1] + pr[2] + pr[3], 1, 1e-5);
    }
    CHECK_EQ(ok_train, N);     /* fully grown trees fit their training set */
    CHECK_EQ(ok_bit0, N);      /* one clean threshold: always right */
    CHECK(ok >= N * 97 / 100); /* XOR with noise features: trees split on noise at times */
    /* same seed, same forest; another seed, another forest */
    CHECK_EQ(rf_train(&m2, &c, X, y, N, 4, 4), 0);
    CHECK(m.n_nodes == m2.n_nodes && !memcmp(m.nodes, m2.nodes, m.n_nodes * sizeof *m.nodes));
    rf_free(&m2);
    c.seed = 7;
    CHECK_EQ(rf_train(&m2, &c, X, y, N, 4, 4), 0);
    CHECK(m.n_nodes != m2.n_nodes || memcmp(m.nodes, m2.nodes, m.n_nodes * sizeof *m.nodes));
    rf_free(&m2);
    rf_free(&m);
    /* class weights: with class 0 weighted to nothing, nothing is predicted as 0 */
    float w[4] = { 0, 1, 1, 1 };
    c.class_weight = w;
    CHECK_EQ(rf_train(&m, &c, X, y, N, 4, 4), 0);
    int zeros = 0;
    for (int i = 0; i < N; i++) zeros += rf_predict(&m, Xt + i * 4) == 0;
    CHECK_EQ(zeros, 0);
    rf_free(&m);
    /* a constant feature set gives one leaf per tree with the class shares */
    static float Z[10];
    int yz[10] = { 0, 0, 0, 1, 1, 1, 1, 1, 1, 1 };
    c.class_weight = NULL; c.n_trees = 1;
    CHECK_EQ(rf_train(&m, &c, Z, yz, 10, 1, 2), 0);
    CHECK_EQ(m.n_nodes, 1);
    rf_free(&m);
}

/* A TCP connection (handshake, data both ways, FIN both ways) and a UDP exchange. */
static int write_toy_capture(const char *path, int gap) {
    cap_writer w;
    if (cap_writer_open(&w, path, LT_ETHERNET, 0, 65535)) return -1;
    uint8_t ip[2000], fr[2100];
    uint32_t C = 0x0a000001, S = 0x0a000002;
    struct { int c2s; uint8_t fl; uint32_t seq, ack, len; } t[] = {
        { 1, TCP_SYN, 100, 0, 0 }, { 0, TCP_SYN | TCP_ACK, 900, 101, 0 }, { 1, TCP_ACK, 101, 901, 0 },
        { 1, TCP_ACK | TCP_PSH, 101, 901, 50 }, { 0, TCP_ACK | TCP_PSH, 901, 151, 1000 },
        { 1, TCP_ACK | TCP_FIN, 151, 1901, 0 }, { 0, TCP_ACK | TCP_FIN, 1901, 152, 0 }, { 1, TCP_ACK, 152, 1902, 0 },
    };
    int64_t ts = 1000000000000ll;
    for (int i = 0; i < 8; i++) {
        uint32_t seq = t[i].seq + (gap && i >= 4 && !t[i].c2s ? 500 : 0);
        uint32_t n = t[i].c2s ? build_ip4(ip, 6, C, S, 40000, 443, t[i].fl, seq, t[i].ack, t[i].len)
                              : build_ip4(ip, 6, S, C, 443, 40000, t[i].fl, seq, t[i].ack, t[i].len);
        uint32_t m = eth_wrap(fr, ip, n);
        cap_writer_write(&w, ts + i * 1000000, fr, m, m);
    }
    for (int i = 0; i < 2; i++) {
        uint32_t n = i ? build_ip4(ip, 17, S, C, 53, 5353, 0, 0, 0, 100) : build_ip4(ip, 17, C, S, 5353, 53, 0, 0, 0, 30);
        uint32_t m = eth_wrap(fr, ip, n);
        if (i) fr[14 + 10] ^= 0xff;   /* break the IPv4 header checksum of the answer */
        cap_writer_write(&w, ts + 20000000 + i * 2000000, fr, m, m);
    }
    return cap_writer_close(&w);
}

static void test_flowfeat(void) {
    char path[512], err[512];
    tpath(path, sizeof path, "toy.pcap");
    CHECK_EQ(write_toy_capture(path, 0), 0);
    ff_set s;
    ff_set_init(&s, 0, 40);
    int lab = ff_label_id(&s, "web");
    CHECK_EQ(ff_label_id(&s, "web"), 0);
    CHECK_EQ(ff_read_file(&s, path, lab, NULL, err, sizeof err), 0);
    CHECK_EQ(s.n, 2);
    CHECK_EQ(s.cnt.packets, 10);
    const ff_flow *t = &s.fl[0], *u = &s.fl[1];
    CHECK_EQ(t->key.proto, 6); CHECK_EQ(u->key.proto, 17);
    CHECK_EQ(t->npk, 8); CHECK_EQ(t->pkts[0], 5); CHECK_EQ(t->pkts[1], 3);
    CHECK_EQ(t->bytes[0], 40 * 4 + 90); CHECK_EQ(t->bytes[1], 40 * 2 + 1040);
    CHECK(ff_handshake(t) && ff_teardown(t));
    CHECK(t->seq_ok[0] && t->seq_ok[1] && t->ack_ok[0] && t->ack_ok[1]);
    CHECK_EQ(ff_service_port(t), 443); CHECK_EQ(ff_service_port(u), 53);
    const ff_pkt *p = ff_pkts(&s, t);
    CHECK_EQ(p[4].dir, 1); CHECK_EQ(p[4].ip_len, 1040); CHECK_EQ(p[4].pay_len, 1000); CHECK_EQ(p[4].t_ns, 4000000);
    CHECK_EQ(p[0].flags, TCP_SYN); CHECK_EQ(p[0].ttl, 64);
    CHECK_EQ(p[0].valid & (FFP_LEN_OK | FFP_CSUM_OK), FFP_LEN_OK | FFP_CSUM_OK);
    const ff_pkt *q = ff_pkts(&s, u);
    CHECK(q[0].valid & FFP_CSUM_OK);
    CHECK(!(q[1].valid & FFP_CSUM_OK) && (q[1].valid & FFP_CSUM_CHECKED));
    const uint8_t *h = ff_hdr(&s, t->pk);
    CHECK_EQ(h[0], 40); CHECK_EQ(h[1], 0x45);
    /* features */
    ff_feat_cfg fc = { 1, 1, 0 };
    int d = ff_feature_count(&fc);
    float x[256];
    CHECK(d < 256);
    ff_features(&s, t, &fc, x);
    int found = 0;
    for (int i = 0; i < d; i++) {
        const char *nmi = ff_feature_name(&fc, i);
        if (!strcmp(nmi, "service_port")) { CHECK_NEAR(x[i], 443, 0); found++; }
        if (!strcmp(nmi, "all_n")) { CHECK_NEAR(x[i], 8, 0); found++; }
        if (!strcmp(nmi, "b2a_len_max")) { CHECK_NEAR(x[i], 1040, 0); found++; }
        if (!strcmp(nmi, "pkt2_signed_len")) { CHECK_NEAR(x[i], -40, 0); found++; }
        if (!strcmp(nmi, "flag_syn")) { CHECK_NEAR(x[i], 2, 0); found++; }
        if (!strcmp(nmi, "a2b_iat_mean_ms")) { CHECK_NEAR(x[i], 7.0 / 4, 1e-6); found++; }  /* 0,2,3,5,7 ms */
        if (!strcmp(nmi, "total_bytes_b2a")) { CHECK_NEAR(x[i], 1120, 0); found++; }
    }
    CHECK_EQ(found, 7);
    ff_feat_cfg np = { 0, 0, 3 };
    CHECK_EQ(ff_feature_count(&np), d - 8);
    ff_features(&s, t, &np, x);
    CHECK_NEAR(x[2], 3, 0);   /* all_n with k = 3 */
    ff_set_free(&s);

    /* the server skips 500 bytes of sequence space: its direction is not continuous,
     * and the client's ACKs then acknowledge... what the server sent, so stay fine */
    CHECK_EQ(write_toy_capture(path, 1), 0);
    ff_set_init(&s, 4, 0);
    CHECK_EQ(ff_read_file(&s, path, -1, NULL, err, sizeof err), 0);
    CHECK_EQ(s.fl[0].npk, 4);        /* K = 4 kept */
    CHECK_EQ(s.fl[0].pkts[0] + s.fl[0].pkts[1], 8);
    CHECK(s.fl[0].seq_ok[0] && !s.fl[0].seq_ok[1]);
    CHECK(s.fl[0].ack_ok[1]);
    CHECK_EQ(s.fl[0].label, -1);
    ff_set_free(&s);
}

int main(void) {
    RUN(test_jsd);
    RUN(test_emd);
    RUN(test_sort);
    RUN(test_bytepos);
    RUN(test_cls_report);
    RUN(test_forest);
    RUN(test_flowfeat);
    return t_done();
}
