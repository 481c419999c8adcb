/* Flow table: direction, timeouts, FIN/RST endings, tuple reuse, fragments, eviction,
 * flat memory. */
#include "test.h"
#include "pktbuild.h"
#include "flow/flow.h"

typedef struct { int n; flow ended[64]; } sink;
static void on_end(void *ctx, flow *f) { sink *s = ctx; if (s->n < 64) s->ended[s->n] = *f; s->n++; }

static flow *add(flow_table *t, const uint8_t *ip, uint32_t n, int64_t ts_ms, int *dir) {
    pkt_info pi;
    if (pkt_parse_ip(ip, n, 0, &pi) != PKT_IP) return NULL;
    return flow_table_add(t, &pi, ts_ms * 1000000, n, dir);
}

#define C 0x0a000001u
#define S 0x0a000002u

static void test_bidirectional_and_handshake(void) {
    sink s = { 0 };
    flow_table *t = flow_table_new(NULL, on_end, &s);
    uint8_t ip[256];
    int dir;
    uint32_t n = build_ip4(ip, 6, C, S, 40000, 80, TCP_SYN, 100, 0, 0);
    flow *f = add(t, ip, n, 0, &dir);
    CHECK(f && dir == 0 && f->id == 1);
    n = build_ip4(ip, 6, S, C, 80, 40000, TCP_SYN | TCP_ACK, 500, 101, 0);
    f = add(t, ip, n, 1, &dir);
    CHECK(f && dir == 1 && f->id == 1);
    n = build_ip4(ip, 6, C, S, 40000, 80, TCP_ACK, 101, 501, 0);
    add(t, ip, n, 2, &dir);
    n = build_ip4(ip, 6, C, S, 40000, 80, TCP_ACK | TCP_PSH, 101, 501, 100);
    add(t, ip, n, 3, &dir);
    CHECK_EQ(flow_table_active(t), 1);
    flow_table_flush(t);
    CHECK_EQ(s.n, 1);
    flow *e = &s.ended[0];
    CHECK(e->pkts[0] == 3 && e->pkts[1] == 1);
    CHECK_EQ(e->bytes[0], 40 + 40 + 140);
    CHECK_EQ(e->tcp & (FT_SYN_A | FT_SYNACK_B | FT_ACK_A), FT_SYN_A | FT_SYNACK_B | FT_ACK_A);
    CHECK(!(e->tcp & FT_MIDSTREAM));
    CHECK_EQ(e->end_reason, END_FLUSH);
    CHECK_EQ(e->key.port[0], 40000);     /* a = the side that sent first */
    CHECK_EQ(e->last_ns - e->first_ns, 3000000);
    flow_table_free(t);
}

static void test_fin_linger_and_reuse(void) {
    sink s = { 0 };
    flow_table *t = flow_table_new(NULL, on_end, &s);
    uint8_t ip[256];
    int dir;
    uint32_t n;
    n = build_ip4(ip, 6, C, S, 1, 2, TCP_SYN, 0, 0, 0); add(t, ip, n, 0, &dir);
    n = build_ip4(ip, 6, C, S, 1, 2, TCP_FIN | TCP_ACK, 0, 0, 0); add(t, ip, n, 10, &dir);
    n = build_ip4(ip, 6, S, C, 2, 1, TCP_FIN | TCP_ACK, 0, 0, 0); add(t, ip, n, 11, &dir);
    /* the last ACK after FIN+FIN belongs to the same connection */
    n = build_ip4(ip, 6, C, S, 1, 2, TCP_ACK, 0, 0, 0);
    flow *f = add(t, ip, n, 12, &dir);
    CHECK(f && f->id == 1 && f->pkts[0] == 3);
    CHECK_EQ(s.n, 0);
    /* a SYN on the same tuple starts connection 2 and ends connection 1 */
    n = build_ip4(ip, 6, C, S, 1, 2, TCP_SYN, 0, 0, 0);
    f = add(t, ip, n, 500, &dir);
    CHECK(f && f->id == 2);
    CHECK(s.n == 1 && s.ended[0].end_reason == END_FIN && s.ended[0].pkts[0] == 3 && s.ended[0].pkts[1] == 1);
    /* RST ends after the linger time (2 s) once later packets move the clock */
    n = build_ip4(ip, 6, S, C, 2, 1, TCP_RST, 0, 0, 0); add(t, ip, n, 600, &dir);
    n = build_ip4(ip, 17, C, S, 9, 9, 0, 0, 0, 4); add(t, ip, n, 3000, &dir);
    CHECK(s.n == 2 && s.ended[1].end_reason == END_RST && s.ended[1].id == 2);
    flow_table_free(t);
}

static void test_idle_timeouts(void) {
    sink s = { 0 };
    flow_cfg cfg;
    flow_cfg_default(&cfg);
    cfg.udp_timeout = 10;
    cfg.tcp_timeout = 100;
    flow_table *t = flow_table_new(&cfg, on_end, &s);
    uint8_t ip[256];
    int dir;
    uint32_t n = build_ip4(ip, 17, C, S, 5000, 53, 0, 0, 0, 10);
    add(t, ip, n, 0, &dir);
    uint32_t m = build_ip4(ip + 64, 6, C, S, 5001, 22, TCP_ACK, 0, 0, 0);
    add(t, ip + 64, m, 0, &dir);
    add(t, ip, n, 9000, &dir);                /* 9 s idle: same UDP flow */
    CHECK_EQ(s.n, 0);
    flow *f = add(t, ip, n, 19500, &dir);     /* 10.5 s idle: a new UDP flow */
    CHECK(f && f->id == 3);
    CHECK(s.n == 1 && s.ended[0].end_reason == END_IDLE && s.ended[0].pkts[0] == 2);
    f = add(t, ip + 64, m, 99000, &dir);      /* TCP: 99 s idle is within its timeout */
    CHECK(f && f->id == 2 && (f->tcp & FT_MIDSTREAM));
    flow_table_free(t);
}

static void test_fragments(void) {
    sink s = { 0 };
    flow_table *t = flow_table_new(NULL, on_end, &s);
    uint8_t ip[256];
    int dir;
    uint32_t n = build_ip4(ip, 17, C, S, 4444, 53, 0, 0, 0, 100);
    ip[6] = 0x20;                             /* MF: first fragment */
    ip_fix_checksums(ip, n);
    flow *f = add(t, ip, n, 0, &dir);
    CHECK(f && f->id == 1);
    ip[6] = 0x00; ip[7] = 16;                 /* offset 128 bytes, last fragment: no ports */
    memset(ip + 20, 0x55, 8);
    f = add(t, ip, n, 1, &dir);
    CHECK(f && f->id == 1 && dir == 0 && f->pkts[0] == 2 && f->frags == 2);
    wr16be(ip + 4, 0x9999);                   /* unknown id: orphan */
    CHECK(add(t, ip, n, 2, &dir) == NULL);
    CHECK_EQ(flow_table_counters(t)->frag_later_orphan, 1);
    flow_table_free(t);
}

static void test_eviction_flat_memory(void) {
    sink s = { 0 };
    flow_cfg cfg;
    flow_cfg_default(&cfg);
    cfg.max_flows = 100;
    flow_table *t = flow_table_new(&cfg, on_end, &s);
    uint8_t ip[256];
    int dir;
    for (int i = 0; i < 1000; i++) {
        uint32_t n = build_ip4(ip, 17, C, S, (uint16_t)(1000 + i), 53, 0, 0, 0, 1);
        add(t, ip, n, i, &dir);
        CHECK(flow_table_active(t) <= 100);
    }
    CHECK_EQ(flow_table_counters(t)->evicted, 900);
    CHECK_EQ(s.n, 900);
    CHECK_EQ(s.ended[0].key.port[0], 1000);   /* least recently active goes first */
    /* a long capture of short flows keeps a flat table: idle flows expire */
    flow_table_free(t);
    s.n = 0;
    flow_cfg_default(&cfg);
    t = flow_table_new(&cfg, on_end, &s);
    for (int i = 0; i < 200000; i++) {
        uint32_t n = build_ip4(ip, 17, C + (uint32_t)(i % 50000), S, (uint16_t)(i & 0xffff), 53, 0, 0, 0, 1);
        add(t, ip, n, (int64_t)i * 10, &dir);  /* 10 ms apart: 60 s timeout -> <= 6001 active */
    }
    CHECKF(flow_table_counters(t)->active_peak <= 6002, "peak %llu", (unsigned long long)flow_table_counters(t)->active_peak);
    CHECK_EQ(flow_table_counters(t)->flows, 200000);
    flow_table_free(t);
}

int main(void) {
    RUN(test_bidirectional_and_handshake);
    RUN(test_fin_linger_and_reuse);
    RUN(test_idle_timeouts);
    RUN(test_fragments);
    RUN(test_eviction_flat_memory);
    return t_done();
}
