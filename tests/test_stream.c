/* corpus/stream.c: flows decided as packets arrive (live classify) must carry the tokens that
 * prep_each_flow (file classify) builds for the same packets; decisions at the K-th packet,
 * at a flow's end, on idle expiry without packets, and on eviction from a full table. */
#include "test.h"
#include "pktbuild.h"
#include "corpus/stream.h"
#include "corpus/bpe.h"
#include "capture/capture.h"
#include <dirent.h>

typedef struct { uint64_t id; int64_t ts; int reason; uint64_t total; size_t n; tok_t *tok; } rec;
typedef struct { rec *r; int n, cap; } recs;

static void push(recs *R, uint64_t id, const tok_t *t, size_t n, int64_t ts, int reason, uint64_t total) {
    if (R->n == R->cap) { R->cap = R->cap ? 2 * R->cap : 256; R->r = realloc(R->r, (size_t)R->cap * sizeof *R->r); }
    rec *x = &R->r[R->n++];
    x->id = id; x->ts = ts; x->reason = reason; x->total = total; x->n = n;
    x->tok = malloc((n ? n : 1) * sizeof *t);
    memcpy(x->tok, t, n * sizeof *t);
}
static void recs_free(recs *R) { for (int i = 0; i < R->n; i++) free(R->r[i].tok); free(R->r); memset(R, 0, sizeof *R); }
static void on_file(void *ctx, const flow *f, const tok_t *tok, size_t n) { if (tok) push(ctx, f->id, tok, n, 0, -1, 0); }
static void on_live(void *ctx, const stream_decision *d) {
    push(ctx, d->f->id, d->tok, d->n, d->ts_ns, d->reason, d->f->pkts[0] + d->f->pkts[1]);
    /* the deciding packet is the flow's latest */
    if (d->reason == STREAM_AT_K) CHECK_EQ(d->ts_ns, d->f->last_ns);
}
static int by_id(const void *a, const void *b) { const rec *x = a, *y = b; return x->id < y->id ? -1 : x->id > y->id; }

/* Flows of one capture: file classify vs the stream. Returns the flows compared; *diff = those
 * whose tokens differ or that only one side has. */
static int compare_file(const char *path, const prep_cfg *cfg0, int K, int *diff, int *at_k) {
    prep_cfg c = *cfg0;
    c.max_pkts = K; c.hash_inputs = 0;
    recs A = { 0 }, B = { 0 };
    char err[512];
    if (prep_each_flow(&c, path, 0, on_file, &A, NULL, err, sizeof err) < 0) { recs_free(&A); return -1; }
    stream *s = stream_new(&c, K, on_live, NULL, &B);
    cap_reader r;
    if (!s || cap_open(&r, path) != 0) { stream_free(s); recs_free(&A); return -1; }
    cap_pkt p;
    while (cap_next(&r, &p) == 1) stream_packet(s, &p);
    cap_close(&r);
    stream_finish(s);
    const stream_counters *sc = stream_get_counters(s);
    CHECK_EQ(sc->decided_at_k + sc->decided_at_end, B.n);
    stream_free(s);
    if (A.n) qsort(A.r, (size_t)A.n, sizeof *A.r, by_id);
    if (B.n) qsort(B.r, (size_t)B.n, sizeof *B.r, by_id);
    int i = 0, j = 0, d = 0;
    while (i < A.n || j < B.n) {
        if (j >= B.n || (i < A.n && A.r[i].id < B.r[j].id)) { d++; i++; continue; }
        if (i >= A.n || B.r[j].id < A.r[i].id) { d++; j++; continue; }
        if (A.r[i].n != B.r[j].n || memcmp(A.r[i].tok, B.r[j].tok, A.r[i].n * sizeof(tok_t))) d++;
        if (B.r[j].reason == STREAM_AT_K) (*at_k)++;
        i++; j++;
    }
    *diff += d;
    int n = A.n;
    recs_free(&A); recs_free(&B);
    return n;
}

static const char *files[] = {
    "tests/fixtures/toy_cls/dns/0.pcap", "tests/fixtures/toy_cls/dns/1.pcap", "tests/fixtures/toy_cls/ntp/0.pcap",
    "tests/fixtures/toy_cls/ntp/1.pcap", "tests/fixtures/toy_cls/web/0.pcap", "examples/dns_icmp_udp_ns.pcap",
    "examples/http_ssh_2if.pcapng", "examples/http_tls.pcap", "examples/mixed_sll.pcapng", "examples/ssh_sll2.pcap",
};

static void run_files(int anon, int tokens) {
    prep_cfg c;
    prep_cfg_default(&c);
    c.anonymise = anon;
    c.tokens = tokens;
    int diff = 0, n = 0, at_k = 0;
    for (size_t f = 0; f < sizeof files / sizeof *files; f++)
        for (int K = 1; K <= 8; K += 3) {
            int k = compare_file(files[f], &c, K, &diff, &at_k);
            CHECKF(k >= 0, "%s", files[f]);
            n += k > 0 ? k : 0;
        }
    CHECKF(diff == 0, "%d of %d flows differ", diff, n);
    CHECK(n > 100);
    CHECK(at_k > 20);   /* most were decided before their end */
}
static void stream_equals_prep_raw(void) { run_files(0, TOKFMT_BYTES); }
static void stream_equals_prep_anonymised(void) { run_files(1, TOKFMT_BYTES); }
static void stream_equals_prep_fields(void) { run_files(1, TOKFMT_FIELDS); }
static void stream_equals_prep_bigrams(void) { run_files(1, TOKFMT_BIGRAMS); }
/* bpe (classify --live of a bpe classifier): the text through the same tokenizer */
static void stream_equals_prep_bpe(void) {
    char err[512];
    bpe *b = bpe_load("tests/fixtures/bpe/qwen2/tokenizer.json", err, sizeof err);
    CHECKF(b != NULL, "%s", err);
    if (!b) return;
    prep_cfg c;
    prep_cfg_default(&c);
    c.tokens = TOKFMT_BPE;
    c.bpe = b;
    int diff = 0, n = 0, at_k = 0;
    for (size_t f = 0; f < 5; f++) {
        int k = compare_file(files[f], &c, 3, &diff, &at_k);
        CHECKF(k >= 0, "%s", files[f]);
        n += k > 0 ? k : 0;
    }
    CHECKF(diff == 0, "%d of %d flows differ", diff, n);
    CHECK(n > 50);
    bpe_free(b);
}

/* prep's filters: DHCP, dropped ports and too-short flows are never decided; --min-flow-pkts
 * above K moves the decision to the packet that reaches it */
static void stream_filters(void) {
    prep_cfg c;
    prep_cfg_default(&c);
    c.min_flow_pkts = 3;
    c.ndrop_ports = 1; c.drop_ports[0] = 53;
    int diff = 0, at_k = 0;
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) CHECK(compare_file(files[f], &c, 2, &diff, &at_k) >= 0);
    CHECK_EQ(diff, 0);
}

typedef struct { recs R; } sink;
static void feed_udp(stream *s, uint32_t src, uint16_t sport, int64_t ts) {
    uint8_t ip[256], fr[300];
    uint32_t n = build_ip4(ip, 17, src, 0x0a000001, sport, 53, 0, 0, 0, 20);
    uint32_t m = eth_wrap(fr, ip, n);
    cap_pkt p = { .ts_ns = ts, .caplen = m, .len = m, .linktype = LT_ETHERNET, .data = fr };
    stream_packet(s, &p);
}

/* no packet for longer than the UDP timeout: stream_advance ends the flow (decided, idle) */
static void stream_idle_expiry(void) {
    prep_cfg c;
    prep_cfg_default(&c);
    recs R = { 0 };
    stream *s = stream_new(&c, 5, on_live, NULL, &R);
    int64_t t0 = 1700000000000000000ll;
    feed_udp(s, 0xc0a80001, 4000, t0);
    feed_udp(s, 0xc0a80001, 4000, t0 + 1000000);
    stream_advance(s, t0 + 30000000000ll);
    CHECK_EQ(R.n, 0);
    CHECK_EQ(stream_active(s), 1);
    stream_advance(s, t0 + 61000000000ll);
    CHECK_EQ(R.n, 1);
    if (R.n) { CHECK_EQ(R.r[0].reason, END_IDLE); CHECK_EQ(R.r[0].total, 2); CHECK_EQ(R.r[0].ts, t0 + 1000000); }
    CHECK_EQ(stream_active(s), 0);
    stream_free(s);
    recs_free(&R);
}

/* a full table evicts the least recently active flow, which is decided with reason evict */
static void stream_eviction(void) {
    prep_cfg c;
    prep_cfg_default(&c);
    c.flows.max_flows = 16;
    recs R = { 0 };
    stream *s = stream_new(&c, 5, on_live, NULL, &R);
    int64_t t0 = 1700000000000000000ll;
    for (int i = 0; i < 40; i++) feed_udp(s, 0xc0a80001, (uint16_t)(5000 + i), t0 + i * 1000);
    CHECK_EQ(stream_flow_counters(s)->evicted, 24);
    CHECK_EQ(R.n, 24);
    int ev = 0;
    for (int i = 0; i < R.n; i++) ev += R.r[i].reason == END_EVICT;
    CHECK_EQ(ev, 24);
    CHECK_EQ(stream_active(s), 16);
    /* a decided flow is not decided again when it is evicted later */
    for (int i = 0; i < 5; i++) feed_udp(s, 0xc0a80002, 7000, t0 + 100000 + i);
    CHECK_EQ(R.n, 26);   /* one more eviction for the new flow + its decision at packet 5 */
    if (R.n == 26) CHECK_EQ(R.r[25].reason, STREAM_AT_K);
    stream_finish(s);
    CHECK_EQ(R.n, 26 + 15);
    stream_free(s);
    recs_free(&R);
}

/* real captures (../shared): the anonymised tokens match file classify except where a payload
 * quotes an address before any header carries it (prep's first pass knows the future): count */
static void stream_shared_iot(void) {
    const char *sh = t_shared();
    if (!sh) SKIP("no ../shared");
    static const char *dev[] = { "Aria", "D-LinkCam", "EdimaxPlug1101W", "HueBridge", "TP-LinkPlugHS110", "WeMoSwitch", "Withings" };
    prep_cfg c;
    prep_cfg_default(&c);
    c.payload = 1500; c.max_bytes = 1600;   /* whole packets: DNS answers and all, where the dictionary differs if anywhere */
    int diff = 0, n = 0, at_k = 0, nf = 0;
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/data/iot_sentinel/%s", sh, dev[i]);
        DIR *d = opendir(dir);
        if (!d) continue;
        struct dirent *e;
        int k = 0;
        while ((e = readdir(d)) && k < 3) {
            if (!strstr(e->d_name, ".pcap")) continue;
            char p[2048];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            int m = compare_file(p, &c, 8, &diff, &at_k);
            if (m > 0) { n += m; nf++; k++; }
        }
        closedir(d);
    }
    if (!nf) SKIP("no iot_sentinel captures in ../shared");
    printf("  iot_sentinel: %d captures, %d flows, %d differ (payload dictionary), %d decided at packet 8\n", nf, n, diff, at_k);
    CHECK(n > 0);
    CHECKF(diff * 20 <= n, "%d of %d", diff, n);
}

int main(void) {
    RUN(stream_equals_prep_raw);
    RUN(stream_equals_prep_anonymised);
    RUN(stream_equals_prep_fields);
    RUN(stream_equals_prep_bigrams);
    RUN(stream_equals_prep_bpe);
    RUN(stream_filters);
    RUN(stream_idle_expiry);
    RUN(stream_eviction);
    RUN(stream_shared_iot);
    return t_done();
}
