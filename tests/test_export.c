/* The seed systems' files (src/corpus/export_netssm.c, export_netgpt.c): a packet as NetSSM
 * keeps it, NetSSM's lines and label tokens, NetGPT's rows, pretraining layout and label
 * numbering. tests/cli_interop.sh reads whole exports back as the seeds' code does. */
#include "test.h"
#include "pktbuild.h"
#include "corpus/export.h"
#include "corpus/tokens.h"
#include "util/sha256.h"

static const uint8_t CLI_SRV[14] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0 };

static int zero_from(const uint8_t *b, int i, int n) {
    for (; i < n; i++) if (b[i]) return 0;
    return 1;
}

static void test_netssm_packet_tcp_headers_only(void) {
    uint8_t ip[200], out[NETSSM_PKT_BYTES];
    uint32_t n = build_ip4(ip, 6, 0x0a000001, 0x0a000002, 40000, 443, TCP_ACK, 1, 2, 40);
    CHECK(netssm_packet(ip, n, 0, out));
    CHECK(!memcmp(out, CLI_SRV, 14));                       /* client -> server, IPv4 */
    CHECK(!memcmp(out + 14, ip, 40));                      /* IP + TCP header, no payload */
    CHECK(zero_from(out, 54, NETSSM_PKT_BYTES));
    ip[32] = 8 << 4;                                       /* 12 bytes of TCP options */
    CHECK(netssm_packet(ip, n, 1, out));
    CHECK(!memcmp(out + 14, ip, 52) && zero_from(out, 66, NETSSM_PKT_BYTES));
    CHECK(out[5] == 1 && out[11] == 2);                    /* server -> client */
}

static void test_netssm_packet_udp_12_payload_bytes(void) {
    uint8_t ip[200], out[NETSSM_PKT_BYTES];
    uint32_t n = build_ip4(ip, 17, 0x0a000001, 0x0a000002, 5353, 53, 0, 0, 0, 20);
    CHECK(netssm_packet(ip, n, 0, out));
    CHECK(!memcmp(out + 14, ip, 40) && zero_from(out, 54, NETSSM_PKT_BYTES));
    n = build_ip4(ip, 17, 0x0a000001, 0x0a000002, 5353, 53, 0, 0, 0, 5);
    CHECK(netssm_packet(ip, n, 0, out));
    CHECK(!memcmp(out + 14, ip, 33) && zero_from(out, 47, NETSSM_PKT_BYTES));
    n = build_ip6(ip, 17, 1, 2, 5353, 53, 0, 100);
    CHECK(netssm_packet(ip, n, 0, out));
    CHECK(out[12] == 0x86 && out[13] == 0xdd && !memcmp(out + 14, ip, 60) && zero_from(out, 74, NETSSM_PKT_BYTES));
    /* headers over 114 bytes are cut at 128 with the Ethernet header: IPv4 with 40 bytes of
     * options and a 60-byte TCP header */
    n = build_ip4(ip, 6, 1, 2, 1, 2, TCP_ACK, 0, 0, 100);
    ip[0] = 0x4f;
    ip[72] = 15 << 4;
    CHECK(netssm_packet(ip, n, 0, out));
    CHECK(!memcmp(out + 14, ip, NETSSM_PKT_BYTES - 14));
}

static void test_netssm_packet_skips_what_netssm_skips(void) {
    uint8_t ip[200], out[NETSSM_PKT_BYTES];
    uint32_t n = build_ip4(ip, 1, 0x0a000001, 0x0a000002, 0, 0, 0, 0, 0, 20);   /* ICMP */
    CHECK(!netssm_packet(ip, n, 0, out));
    n = build_ip4(ip, 17, 0x0a000001, 0x0a000002, 1, 2, 0, 0, 0, 20);
    ip[6] = 0x20;                                          /* more fragments: a first fragment */
    CHECK(!netssm_packet(ip, n, 0, out));
    CHECK(!netssm_packet(ip, 10, 0, out));                 /* cut inside the IP header */
}

static void test_netssm_label_tokens(void) {
    char *labels[] = { "AJP|Match by port", "a b", "a_b", "", "unlabelled", "ok.v2-x" };
    char **t = netssm_label_tokens(labels, 6);
    CHECK(t != NULL);
    if (!t) return;
    const char *want[7] = { "<|AJP_Match_by_port|>", "<|a_b|>", "<|a_b_2|>", "<|label|>", "<|unlabelled|>", "<|ok.v2-x|>",
                            "<|unlabelled_2|>" };
    for (int i = 0; i < 7; i++) { CHECKF(!strcmp(t[i], want[i]), "%s vs %s", t[i], want[i]); free(t[i]); }
    free(t);
}

/* a shard of sequences given as (label, file, flow, packets of bytes) */
typedef struct { int label; uint32_t file, flow; int np; const uint8_t *pk[4]; uint32_t n[4]; int dir[4]; } seqdef;
static void build(shard_builder *b, const seqdef *d, int nd, int n_labels) {
    shard_builder_init(b, tok_vocab_size(n_labels), TOK_PAD, TOK_BOS, TOK_EOS, n_labels, TOK_LABEL0, 0);
    tok_seq q;
    tok_seq_init(&q);
    for (int i = 0; i < nd; i++) {
        tok_seq_reset(&q);
        tok_seq_begin(&q, d[i].label, 0);
        for (int k = 0; k < d[i].np; k++) tok_seq_packet(&q, d[i].pk[k], d[i].n[k], 1000 * k, d[i].dir[k]);
        tok_seq_end(&q);
        shard_builder_add(b, q.t, (uint32_t)q.n, d[i].label, d[i].file, d[i].flow, (uint64_t)i);
    }
    tok_seq_free(&q);
}

/* what fn writes, as a string */
static char *text_of(int (*fn)(FILE *, void *), void *ctx) {
    FILE *f = tmpfile();
    if (!f) return strdup("");
    int bad = fn(f, ctx);
    long n = ftell(f);
    char *t = malloc((size_t)n + 1);
    rewind(f);
    t[bad ? 0 : fread(t, 1, (size_t)n, f)] = 0;
    fclose(f);
    return t;
}
static int starts(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }

typedef struct { const shard *s; const void *o; void *c; } call;
static int w_netssm(FILE *f, void *x) { call *c = x; return netssm_write(f, c->s, c->o, c->c); }
static int w_rows(FILE *f, void *x) { call *c = x; return netgpt_write_rows(f, c->s, c->o, c->c); }
static int w_traffic(FILE *f, void *x) { call *c = x; return netgpt_write_traffic(f, c->s, c->o, c->c); }

static void test_netssm_one_line_per_capture(void) {
    uint8_t a[100], b2[100], u[100];
    uint32_t na = build_ip4(a, 6, 1, 2, 10, 20, TCP_SYN, 0, 0, 0), nb = build_ip4(b2, 17, 1, 3, 30, 40, 0, 0, 0, 3);
    uint32_t nu = build_ip4(u, 1, 1, 4, 0, 0, 0, 0, 0, 8);
    /* file 0: flow 2 stored before flow 1; file 1: one packet (under NetSSM's 2) */
    seqdef d[3] = { { 0, 0, 2, 2, { b2, u }, { nb, nu }, { 0, 1 } }, { 0, 0, 1, 1, { a }, { na }, { 0 } },
                    { 0, 1, 1, 1, { a }, { na }, { 0 } } };
    shard_builder b;
    build(&b, d, 3, 1);
    char *tok[2] = { "<|web|>", "<|unlabelled|>" }, *in[2] = { "x.pcap", "y.pcap" };
    netssm_opts o = { 0, tok, in, 2 };
    netssm_counts c = { 0 };
    call cl = { &b.s, &o, &c };
    char *t = text_of(w_netssm, &cl);
    CHECK_EQ(c.lines, 1); CHECK_EQ(c.packets, 2); CHECK_EQ(c.short_lines, 1); CHECK_EQ(c.not_tcp_udp, 1);
    /* flow 1 (the TCP SYN) first, then flow 2's UDP packet; 128 numbers each */
    CHECKF(starts(t, "{\"Data\":\"<|web|> 2 0 0 0 0 2 2 0 0 0 0 1 8 0 69 0 0 40 "), "%.80s", t);
    char *p = strstr(t, " <|pkt|> ");
    CHECK(p && starts(p, " <|pkt|> 2 0 0 0 0 2 2 0 0 0 0 1 8 0 69 0 0 31 "));
    int spaces = 0;
    for (char *q = t + 9; *q != '"'; q++) spaces += *q == ' ';
    CHECK_EQ(spaces, 2 * 128 + 1);                         /* before each byte, and before <|pkt|> */
    uint8_t h[32];
    sha256_ctx sc;
    sha256_init(&sc); sha256_update(&sc, "x.pcap", 6); sha256_final(&sc, h);
    char hx[80] = "\"Hash\":\"";
    for (int i = 0; i < 32; i++) snprintf(hx + 8 + 2 * i, 3, "%02x", h[i]);
    CHECK(strstr(t, hx) != NULL);
    CHECK(strstr(t, "\",\"Filename\":\"x.pcap\",\"OrigLen\":2}\n") != NULL && strchr(t, '\n')[1] == 0);
    free(t);
    shard_builder_free(&b);
}

static void test_netgpt_rows_and_labels(void) {
    static const uint8_t p1[3] = { 1, 2, 3 }, p2[2] = { 0xab, 0xcd }, p3[2] = { 0x45, 0 };
    seqdef d[3] = { { 1, 0, 1, 2, { p1, p2 }, { 3, 2 }, { 0, 1 } }, { -1, 0, 2, 1, { p1 }, { 3 }, { 0 } },
                    { 3, 0, 3, 1, { p3 }, { 2 }, { 0 } } };
    shard_builder b;
    build(&b, d, 3, 4);
    int k = 0, *map = netgpt_label_map(&b.s, 4, &k);
    CHECK_EQ(k, 2);
    CHECK(map[0] == -1 && map[1] == 0 && map[2] == -1 && map[3] == 1);
    CHECK_EQ(netgpt_row_count(&b.s, map), 2);
    netgpt_opts o = { 5, 0, map };
    netgpt_counts c = { 0 };
    call cl = { &b.s, &o, &c };
    char *t = text_of(w_rows, &cl);
    CHECKF(!strcmp(t, "label\ttext_a\n0\t0102 0203 abcd\n1\t4500\n"), "%s", t);
    CHECK_EQ(c.rows, 2); CHECK_EQ(c.unlabelled, 1); CHECK_EQ(c.n_row_tokens, 2);
    CHECK(c.row_tokens[0] == 4 && c.row_tokens[1] == 2);   /* [CLS] + words */
    free(t); free(c.row_tokens);
    netgpt_counts c1 = { 0 };
    o = (netgpt_opts){ 1, 1, map };                        /* one packet, from an Ethernet header */
    cl.c = &c1;
    t = text_of(w_rows, &cl);
    CHECKF(!strcmp(t, "label\ttext_a\n0\t0200 0000 0000 0000 0002 0202 0200 0000 0000 0000 0001 0108 0800 0001 0102 0203\n"
                      "1\t0200 0000 0000 0000 0002 0202 0200 0000 0000 0000 0001 0108 0800 0045 4500\n"), "%s", t);
    free(t); free(c1.row_tokens); free(map);
    shard_builder_free(&b);
}

static void test_netgpt_traffic_layout(void) {
    uint8_t big[600], small[4] = { 1, 2, 3, 4 };
    for (int i = 0; i < 600; i++) big[i] = (uint8_t)i;
    /* 61 bytes: NetGPT cuts 122 hex digits at 61 + 61 % 4 = 62 -> 31 bytes and 30 bytes;
     * 600 bytes: 300 and 300, each line at most 256 words */
    seqdef d[1] = { { -1, 0, 1, 3, { big, small, big }, { 61, 4, 600 }, { 0, 1, 0 } } };
    shard_builder b;
    build(&b, d, 1, 0);
    int map0 = -1;
    netgpt_opts o = { 0, 0, &map0 };
    uint64_t np = 0;
    call cl = { &b.s, &o, &np };
    char *t = text_of(w_traffic, &cl);
    CHECK_EQ(np, 2);
    int line = 0, words[8] = { 0 }, blank[8] = { 0 };
    for (char *p = t; *p && line < 8; p++) {
        if (*p == '\n') { blank[line] = p == t || p[-1] == '\n'; line++; }
        else if (*p == ' ') words[line]++;
    }
    CHECK_EQ(line, 6);
    CHECK(words[0] == 30 && words[1] == 29 && blank[2]);
    CHECK(words[3] == 256 && words[4] == 256 && blank[5]);
    CHECK(starts(t, "0001 0102 "));
    char *l2 = strchr(t, '\n') + 1;
    CHECK(starts(l2, "1f20 2021 "));                 /* the second half starts at byte 31 */
    free(t);
    shard_builder_free(&b);
}

static void test_netgpt_length_stats(void) {
    uint32_t v[100];
    for (int i = 0; i < 100; i++) v[i] = (uint32_t)(100 - i);
    uint64_t over;
    uint32_t q[4];
    netgpt_length_stats(v, 100, 50, &over, q);
    CHECK_EQ(over, 50);
    CHECK(q[0] == 50 && q[1] == 90 && q[2] == 99 && q[3] == 100);
    netgpt_length_stats(v, 0, 50, &over, q);
    CHECK(over == 0 && q[3] == 0);
}

int main(void) {
    RUN(test_netssm_packet_tcp_headers_only);
    RUN(test_netssm_packet_udp_12_payload_bytes);
    RUN(test_netssm_packet_skips_what_netssm_skips);
    RUN(test_netssm_label_tokens);
    RUN(test_netssm_one_line_per_capture);
    RUN(test_netgpt_rows_and_labels);
    RUN(test_netgpt_traffic_layout);
    RUN(test_netgpt_length_stats);
    return t_done();
}
