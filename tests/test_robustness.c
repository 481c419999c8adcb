/* Robustness of the whole ingest path (reader -> pkt_parse -> flow table) on hostile input.
 *
 * 1. Every file of $PKTLM_SHARED/data/parser_robustness/ (tcpdump's dissector regression
 *    captures, some deliberately malformed) is read to its end without a crash; an error
 *    must name the file and the byte offset.
 * 2. Hand-made bad files: empty, garbage, truncated header, truncated record (header and
 *    data), a record with caplen 0xFFFFFFF0, pcapng blocks with a bad length and with a
 *    length that is not a multiple of 4. Each gives a clear error naming the file and the
 *    offset of the bad record, keeps the packets before it, and does not hang.
 * A watchdog (alarm) turns a hang into a failure that names the file. */
#include "test.h"
#include "capture/capture.h"
#include "capture/packet.h"
#include "flow/flow.h"
#include "util/util.h"
#include "testfiles.h"
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

static const char *g_current = "";   /* file being read, for the watchdog */

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "FAIL watchdog: reading took too long (hang?) on ";
    if (write(1, msg, sizeof msg - 1) < 0 || write(1, g_current, strlen(g_current)) < 0 || write(1, "\n", 1) < 0) {}
    _exit(1);
}

static void count_end(void *ctx, flow *f) { (void)f; (*(uint64_t *)ctx)++; }

typedef struct { long packets; int rc; char err[512]; uint64_t flows; } read_result;

/* Reads path to its end through the whole ingest path. rc: 0 clean end, -1 error (open or
 * read; err holds the message), and packets the count delivered before it. */
static read_result read_all(const char *path) {
    read_result res = {0};
    g_current = path;
    cap_reader r;
    if (cap_open(&r, path) != 0) {
        res.rc = -1;
        snprintf(res.err, sizeof res.err, "%s", r.err);
        cap_close(&r);   /* frees what cap_open had set up before it failed */
        return res;
    }
    flow_cfg cfg;
    flow_cfg_default(&cfg);
    cfg.max_flows = 4096;
    flow_table *ft = flow_table_new(&cfg, count_end, &res.flows);
    cap_pkt p;
    int rc;
    /* The bound is far above any file here: a reader that loops without progress fails. */
    while ((rc = cap_next(&r, &p)) == 1 && res.packets < 50000000) {
        pkt_info pi;
        if (pkt_parse(p.linktype, p.data, p.caplen, p.len, &pi) == PKT_IP) {
            int dir;
            flow_table_add(ft, &pi, p.ts_ns, p.len, &dir);
        }
        res.packets++;
    }
    flow_table_flush(ft);
    flow_table_free(ft);
    res.rc = rc < 0 ? -1 : 0;
    if (rc < 0) snprintf(res.err, sizeof res.err, "%s", r.err);
    cap_close(&r);
    return res;
}

/* An error message is clear when it names the file and a byte offset. */
static int err_is_clear(const char *err, const char *path) {
    return strstr(err, path) != NULL && strstr(err, "offset") != NULL;
}
static int err_has_offset(const char *err, uint64_t off) {
    char dec[32], hex[32];
    snprintf(dec, sizeof dec, "%llu", (unsigned long long)off);
    snprintf(hex, sizeof hex, "0x%llx", (unsigned long long)off);
    return strstr(err, dec) != NULL || strstr(err, hex) != NULL;
}

/* ---- 1. parser_robustness/ --------------------------------------------------------- */

typedef struct { int files, errors, unclear; long packets; uint64_t flows; } walk_stats;

static void walk_read(const char *dir, walk_stats *ws) {
    tlist files = { 0 };
    t_walk(dir, &files);
    for (int i = 0; i < files.n; i++) {
        const char *path = files.v[i];
        alarm(20);
        read_result res = read_all(path);
        alarm(0);
        ws->files++;
        ws->packets += res.packets;
        ws->flows += res.flows;
        if (res.rc < 0) {
            ws->errors++;
            if (!err_is_clear(res.err, path)) {
                ws->unclear++;
                if (ws->unclear <= 10) printf("  unclear error for %s: \"%s\"\n", path, res.err);
            }
        }
    }
    tl_free(&files);
}

static void test_parser_robustness_corpus(void) {
    const char *sh = t_shared();
    if (!sh) SKIP("../shared not present");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/data/parser_robustness", sh);
    walk_stats ws = {0};
    walk_read(dir, &ws);
    if (ws.files == 0) SKIP("parser_robustness/ is empty");
    printf("  parser_robustness: %d files read, %ld packets, %llu flows, %d ended with an error, %d unclear errors\n",
           ws.files, ws.packets, (unsigned long long)ws.flows, ws.errors, ws.unclear);
    CHECK(ws.packets > 0);
    CHECK_EQ(ws.unclear, 0);
}

/* ---- 2. hand-made bad files ---------------------------------------------------------- */

/* A small valid Ethernet/IPv4/UDP frame of 60 bytes (checksums not needed here). */
static void frame(uint8_t f[60], int i) {
    memset(f, 0, 60);
    memset(f, 0x02, 6); memset(f + 6, 0x04, 6);
    f[12] = 0x08; f[13] = 0x00;
    uint8_t *ip = f + 14;
    ip[0] = 0x45; wr16be(ip + 2, 46); ip[8] = 64; ip[9] = 17;
    ip[12] = 127; ip[15] = 1; ip[16] = 127; ip[19] = 2;
    uint8_t *udp = ip + 20;
    wr16be(udp, (uint16_t)(40000 + i)); wr16be(udp + 2, 53); wr16be(udp + 4, 26);
}

static void pcap_header(tbuf *b) {
    tb_u32(b, 0xa1b2c3d4); tb_u16(b, 2); tb_u16(b, 4); tb_u32(b, 0); tb_u32(b, 0);
    tb_u32(b, 65535); tb_u32(b, LT_ETHERNET);
}
static void pcap_record(tbuf *b, int i, uint32_t caplen_field) {
    uint8_t f[60];
    frame(f, i);
    tb_u32(b, 1700000000u + (uint32_t)i); tb_u32(b, 1000u * (uint32_t)i);
    tb_u32(b, caplen_field); tb_u32(b, 60);
    tb_put(b, f, 60);
}
static void pcapng_shb_idb(tbuf *b) {
    tb_u32(b, 0x0A0D0D0A); tb_u32(b, 28); tb_u32(b, 0x1A2B3C4D); tb_u16(b, 1); tb_u16(b, 0);
    tb_u32(b, 0xffffffff); tb_u32(b, 0xffffffff); tb_u32(b, 28);
    tb_u32(b, 1); tb_u32(b, 20); tb_u16(b, LT_ETHERNET); tb_u16(b, 0); tb_u32(b, 65535); tb_u32(b, 20);
}
static void pcapng_epb(tbuf *b, int i, uint32_t total_len_field) {
    uint8_t f[60];
    frame(f, i);
    tb_u32(b, 6); tb_u32(b, total_len_field); tb_u32(b, 0);
    uint64_t ts = 1700000000000000ull + (uint64_t)i;  /* default resolution: µs */
    tb_u32(b, (uint32_t)(ts >> 32)); tb_u32(b, (uint32_t)ts);
    tb_u32(b, 60); tb_u32(b, 60);
    tb_put(b, f, 60);
    tb_u32(b, total_len_field);
}
enum { EPB_LEN = 32 + 60 };

static char *write_tmp(const char *name, const tbuf *b) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", t_tmpdir(), name);
    FILE *f = fopen(path, "wb");
    if (!f) return NULL;
    if (b->n) fwrite(b->b, 1, b->n, f);
    fclose(f);
    return path;
}

/* Reads the file; requires `want_pkts` packets, then an error naming the file and
 * (when want_off >= 0) the byte offset want_off. */
static void expect_error(const char *name, const tbuf *b, long want_pkts, long long want_off) {
    char *path = write_tmp(name, b);
    CHECK(path != NULL);
    if (!path) return;
    alarm(10);
    read_result res = read_all(path);
    alarm(0);
    CHECKF(res.rc == -1, "%s: no error reported", name);
    CHECKF(res.packets == want_pkts, "%s: %ld packets before the error, want %ld", name, res.packets, want_pkts);
    CHECKF(err_is_clear(res.err, path), "%s: error does not name the file and an offset: \"%s\"", name, res.err);
    if (want_off >= 0)
        CHECKF(err_has_offset(res.err, (uint64_t)want_off), "%s: error does not give offset %lld: \"%s\"",
               name, want_off, res.err);
}

static void test_empty_file(void) {
    tbuf b = {0};
    expect_error("empty.pcap", &b, 0, 0);
}

static void test_garbage_file(void) {
    tbuf b = {0};
    uint64_t s = 42;
    for (int i = 0; i < 4096; i++) { uint8_t x = (uint8_t)splitmix64(&s); tb_put(&b, &x, 1); }
    expect_error("garbage.pcap", &b, 0, 0);
    free(b.b);
}

static void test_truncated_header(void) {
    tbuf b = {0};
    pcap_header(&b);
    b.n = 10;
    expect_error("short_header.pcap", &b, 0, 0);
    tbuf g = {0};
    pcapng_shb_idb(&g);
    g.n = 20;   /* inside the section header block */
    expect_error("short_shb.pcapng", &g, 0, 0);
    free(b.b); free(g.b);
}

static void test_truncated_record(void) {
    tbuf b = {0};
    pcap_header(&b);
    for (int i = 0; i < 3; i++) pcap_record(&b, i, 60);
    size_t full = b.n;
    long long third = 24 + 2 * (16 + 60);
    b.n = full - 30;  /* cut inside the third packet's data */
    expect_error("truncated_data.pcap", &b, 2, third);
    b.n = (size_t)third + 9;  /* cut inside the third record header */
    expect_error("truncated_rechdr.pcap", &b, 2, third);
    free(b.b);
}

static void test_huge_caplen(void) {
    tbuf b = {0};
    pcap_header(&b);
    pcap_record(&b, 0, 60);
    pcap_record(&b, 1, 60);
    pcap_record(&b, 2, 0xFFFFFFF0u);
    pcap_record(&b, 3, 60);
    expect_error("huge_caplen.pcap", &b, 2, 24 + 2 * (16 + 60));
    free(b.b);
}

static void test_pcapng_bad_block_length(void) {
    long long third = 28 + 20 + 2 * EPB_LEN;
    uint32_t bad[] = { 0xFFFFFFF0u, 8, 0 };   /* past the end, shorter than a block header, zero */
    for (int k = 0; k < 3; k++) {
        tbuf b = {0};
        pcapng_shb_idb(&b);
        pcapng_epb(&b, 0, EPB_LEN);
        pcapng_epb(&b, 1, EPB_LEN);
        pcapng_epb(&b, 2, bad[k]);
        pcapng_epb(&b, 3, EPB_LEN);
        char name[64];
        snprintf(name, sizeof name, "bad_blocklen_%u.pcapng", bad[k]);
        expect_error(name, &b, 2, third);
        free(b.b);
    }
}

static void test_pcapng_block_length_not_multiple_of_4(void) {
    tbuf b = {0};
    pcapng_shb_idb(&b);
    pcapng_epb(&b, 0, EPB_LEN);
    pcapng_epb(&b, 1, EPB_LEN);
    pcapng_epb(&b, 2, EPB_LEN + 2);
    pcapng_epb(&b, 3, EPB_LEN);
    expect_error("blocklen_not4.pcapng", &b, 2, 28 + 20 + 2 * EPB_LEN);
    free(b.b);
}

static void test_pcapng_trailing_length_mismatch(void) {
    tbuf b = {0};
    pcapng_shb_idb(&b);
    pcapng_epb(&b, 0, EPB_LEN);
    pcapng_epb(&b, 1, EPB_LEN);
    pcapng_epb(&b, 2, EPB_LEN);
    wr32le(b.b + b.n - 4, EPB_LEN + 4);  /* trailing copy of the length disagrees */
    expect_error("trailer_mismatch.pcapng", &b, 2, 28 + 20 + 2 * EPB_LEN);
    free(b.b);
}

/* The valid versions of the same files read cleanly: the checks above test the errors,
 * not a reader that rejects everything. */
static void test_valid_controls(void) {
    tbuf b = {0};
    pcap_header(&b);
    for (int i = 0; i < 3; i++) pcap_record(&b, i, 60);
    char *path = write_tmp("good.pcap", &b);
    read_result res = read_all(path);
    CHECKF(res.rc == 0, "good.pcap: %s", res.err);
    CHECK_EQ(res.packets, 3);
    CHECK_EQ(res.flows, 3);
    tbuf g = {0};
    pcapng_shb_idb(&g);
    for (int i = 0; i < 3; i++) pcapng_epb(&g, i, EPB_LEN);
    path = write_tmp("good.pcapng", &g);
    res = read_all(path);
    CHECKF(res.rc == 0, "good.pcapng: %s", res.err);
    CHECK_EQ(res.packets, 3);
    free(b.b); free(g.b);
}


/* ---- buffer edges: a record larger than the read buffer, and a pipe -------------------- */

/* pcapng: packets of 100 B, 6 MiB (larger than the 4 MiB read buffer), 100 B. */
static void test_record_larger_than_buffer(void) {
    tbuf b = {0};
    pcapng_shb_idb(&b);
    b.b[28 + 12] = 0; b.b[28 + 13] = 0; b.b[28 + 14] = 0; b.b[28 + 15] = 0;   /* snaplen 0: no limit */
    uint32_t sizes[3] = { 100, 6u << 20, 100 };
    for (int i = 0; i < 3; i++) {
        uint32_t n = sizes[i], blen = 32 + n;
        tb_u32(&b, 6); tb_u32(&b, blen); tb_u32(&b, 0); tb_u32(&b, 0); tb_u32(&b, (uint32_t)i);
        tb_u32(&b, n); tb_u32(&b, n);
        size_t at = b.n;
        for (uint32_t k = 0; k < n; k += 4) tb_u32(&b, k ^ (uint32_t)i);
        b.b[at] = (uint8_t)(0x40 + i);
        tb_u32(&b, blen);
    }
    char *path = write_tmp("huge_record.pcapng", &b);
    cap_reader r;
    CHECK_EQ(cap_open(&r, path), 0);
    cap_pkt p;
    for (int i = 0; i < 3; i++) {
        int rc = cap_next(&r, &p);
        CHECKF(rc == 1, "packet %d: %s", i, r.err);
        if (rc != 1) break;
        CHECK_EQ(p.caplen, sizes[i]);
        CHECK_EQ(p.data[0], 0x40 + i);
        CHECK_EQ(rd32le(p.data + p.caplen - 4), (p.caplen - 4) ^ (uint32_t)i);
    }
    CHECK_EQ(cap_next(&r, &p), 0);
    cap_close(&r);
    free(b.b);
}

/* The same capture read from a file and from a pipe fed in odd-sized chunks gives the
 * same packets (a pipe has no size, and read() returns whatever the writer has put in). */
static void test_pipe_matches_file(void) {
    const char *ex = "examples/http_ssh_2if.pcapng";
    FILE *f = fopen(ex, "rb");
    if (!f) SKIP("%s not found (run from the repository root)", ex);
    tbuf b = {0};
    uint8_t tmp[4096];
    size_t got;
    while ((got = fread(tmp, 1, sizeof tmp, f)) > 0) tb_put(&b, tmp, got);
    fclose(f);
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        for (size_t o = 0; o < b.n; o += 777) {
            size_t n = b.n - o < 777 ? b.n - o : 777;
            if (write(fds[1], b.b + o, n) != (ssize_t)n) _exit(1);
        }
        _exit(0);
    }
    close(fds[1]);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fds[0]);
    cap_reader a, p;
    CHECK_EQ(cap_open(&a, ex), 0);
    CHECKF(cap_open(&p, path) == 0, "%s", p.err);
    alarm(20);
    long n = 0;
    for (;;) {
        cap_pkt x, y;
        int ra = cap_next(&a, &x), rp = cap_next(&p, &y);
        CHECK_EQ(ra, rp);
        if (ra != 1 || rp != 1) break;
        CHECK(x.caplen == y.caplen && x.ts_ns == y.ts_ns && x.offset == y.offset && memcmp(x.data, y.data, x.caplen) == 0);
        n++;
    }
    alarm(0);
    CHECK(n > 100);
    cap_close(&a);
    cap_close(&p);
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    free(b.b);
}

int main(void) {
    signal(SIGALRM, on_alarm);
    RUN(test_valid_controls);
    RUN(test_empty_file);
    RUN(test_garbage_file);
    RUN(test_truncated_header);
    RUN(test_truncated_record);
    RUN(test_huge_caplen);
    RUN(test_pcapng_bad_block_length);
    RUN(test_pcapng_block_length_not_multiple_of_4);
    RUN(test_pcapng_trailing_length_mismatch);
    RUN(test_record_larger_than_buffer);
    RUN(test_pipe_matches_file);
    RUN(test_parser_robustness_corpus);
    return t_done();
}
