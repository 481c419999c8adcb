/* Cross-check of our capture reader against libpcap, the independent reference.
 *
 * For every file under $PKTLM_SHARED/data and examples/ that libpcap opens, both readers
 * must deliver the same packets: count, timestamp (ns), caplen, len and bytes. libpcap is
 * opened with nanosecond precision so µs files are compared exactly (µs * 1000).
 *
 * Where libpcap stops with an error in the middle of a file (a truncated record, or a
 * pcapng whose interfaces have different link types, which libpcap 1.10 refuses), the
 * packets before that point must agree and ours must not stop earlier. Our reader may
 * go on (it accepts mixed link types); that is reported, not a failure.
 * Three differences are deliberate and tolerated (counted and printed, never silent):
 * timestamps libpcap 1.10 reads as signed 32-bit (past 2038, or a fraction >= 2^31) where
 * the pcap specification says unsigned; records longer than the file's snapshot length,
 * which libpcap cuts and we keep whole; a wire length below the captured length, which
 * our reader raises to the captured length. Anything else is a mismatch.
 * Under the ASan build only every 10th file is compared, to keep the suite fast. */
#include "test.h"
#include "capture/capture.h"
#include "util/util.h"
#include <pcap/pcap.h>
#include "testfiles.h"

/* Mismatches already reported to the reader's author, by file name: each is still compared
 * and printed; a listed file that agrees again prints a note to drop it from this list. */
/* Files where our reader is known to disagree with libpcap because of a reader bug
 * (none at present; the list ends with a NULL entry). */
static const struct { const char *file, *why; } known_bugs[] = {
    { NULL, NULL },
};
static const char *known_bug(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    for (size_t i = 0; known_bugs[i].file; i++)
        if (strcmp(base, known_bugs[i].file) == 0) return known_bugs[i].why;
    return NULL;
}

typedef struct {
    int compared, not_libpcap, mismatched, known, libpcap_stopped, ours_went_on, packets;
    uint64_t bytes;
    int ts_signed, snap_cut, len_raised;          /* packets with a known difference */
    int f_ts, f_snap, f_len;                      /* files with it (counted once per file) */
    char ex_ts[512], ex_snap[512], ex_len[512];   /* first file of each */
} summary;

/* Compare one file. Returns 0 when it agrees, 1 on a mismatch (described on stdout),
 * -1 when libpcap cannot open it. */
static int compare_file(const char *path, summary *s) {
    char ebuf[PCAP_ERRBUF_SIZE];
    pcap_t *pc = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, ebuf);
    if (!pc) return -1;
    cap_reader r;
    if (cap_open(&r, path) != 0) {
        printf("  MISMATCH %s: libpcap opens it, ours does not: %s\n", path, r.err);
        cap_close(&r);
        pcap_close(pc);
        return 1;
    }
    int bad = 0, seen_ts = 0, seen_snap = 0, seen_len = 0;
    long n = 0;
    for (;;) {
        struct pcap_pkthdr *h;
        const u_char *d;
        int lr = pcap_next_ex(pc, &h, &d);
        cap_pkt p;
        if (lr != 1) {
            if (lr == PCAP_ERROR) {
                /* libpcap gave up here; ours may read on, but must not have stopped first
                 * (that was checked on the previous iterations). */
                s->libpcap_stopped++;
                int orr = cap_next(&r, &p);
                if (orr == 1) s->ours_went_on++;
            } else {
                int orr = cap_next(&r, &p);
                if (orr != 0) {
                    printf("  MISMATCH %s: libpcap ends cleanly after %ld packets, ours %s\n", path, n,
                           orr == 1 ? "has more packets" : r.err);
                    bad = 1;
                }
            }
            break;
        }
        int orr = cap_next(&r, &p);
        if (orr != 1) {
            printf("  MISMATCH %s: ours stops after %ld packets (%s), libpcap has more\n", path, n,
                   orr == 0 ? "clean end" : r.err);
            bad = 1;
            break;
        }
        int64_t lts = (int64_t)h->ts.tv_sec * 1000000000 + (int64_t)h->ts.tv_usec;  /* tv_usec holds ns */
        /* Known, deliberate differences (each counted and reported, see the header):
         * libpcap 1.10 reads the 32-bit seconds and fraction fields of pcap records as
         * signed, we read them as unsigned (as the pcap specification says), so dates past
         * 2038 and fractions >= 2^31 differ by a multiple of 2^32 ns; libpcap cuts a record
         * longer than the file's snapshot length to it, we keep every byte in the file;
         * we raise a wire length smaller than the captured length to the captured length. */
        int ts_signed = lts != p.ts_ns && p.ts_ns > lts && (p.ts_ns - lts) % ((int64_t)1 << 32) == 0;
        int snap_cut = h->caplen != p.caplen && h->caplen == (uint32_t)pcap_snapshot(pc) && p.caplen > h->caplen;
        int len_raised = h->len != p.len && h->len < p.caplen && p.len == p.caplen;
        uint32_t ncmp = h->caplen < p.caplen ? h->caplen : p.caplen;
        if ((lts != p.ts_ns && !ts_signed) || (h->caplen != p.caplen && !snap_cut) ||
            (h->len != p.len && !len_raised) || memcmp(d, p.data, ncmp) != 0) {
            long first = -1;
            for (uint32_t i = 0; i < ncmp; i++)
                if (d[i] != p.data[i]) { first = (long)i; break; }
            printf("  MISMATCH %s: packet %ld (ours at offset %llu): ts %lld vs ours %lld, caplen %u vs %u, "
                   "len %u vs %u, first differing byte %ld\n", path, n, (unsigned long long)p.offset,
                   (long long)lts, (long long)p.ts_ns, h->caplen, p.caplen, h->len, p.len, first);
            bad = 1;
            break;
        }
        s->ts_signed += ts_signed; s->snap_cut += snap_cut; s->len_raised += len_raised;
        seen_ts |= ts_signed; seen_snap |= snap_cut; seen_len |= len_raised;
        n++;
        s->bytes += h->caplen;
    }
    s->packets += (int)n;
    if (seen_ts && !s->f_ts++) snprintf(s->ex_ts, sizeof s->ex_ts, "%s", path);
    if (seen_snap && !s->f_snap++) snprintf(s->ex_snap, sizeof s->ex_snap, "%s", path);
    if (seen_len && !s->f_len++) snprintf(s->ex_len, sizeof s->ex_len, "%s", path);
    cap_close(&r);
    pcap_close(pc);
    return bad;
}

static void cross_check(const char *label, tlist *files, int stride) {
    summary s = {0};
    int tried = 0;
    for (int i = 0; i < files->n; i += stride) {
        tried++;
        int rc = compare_file(files->v[i], &s);
        const char *why = known_bug(files->v[i]);
        if (rc < 0) s.not_libpcap++;
        else if (rc && why) { s.compared++; s.known++; printf("  known reader bug (listed in %s): %s\n", __FILE__, why); }
        else { s.compared++; if (rc) s.mismatched++; }
        if (rc == 0 && why) printf("  NOTE: %s now agrees with libpcap: remove it from known_bugs[]\n", files->v[i]);
    }
    printf("  %s: %d files tried (every %d of %d), %d compared, %d not readable by libpcap, "
           "%d mismatched, %d known reader bugs; %d packets, %.1f MB agree; libpcap stopped with an error in %d "
           "(ours read on in %d)\n", label, tried, stride, files->n, s.compared, s.not_libpcap,
           s.mismatched, s.known, s.packets, (double)s.bytes / 1e6, s.libpcap_stopped, s.ours_went_on);
    if (s.f_ts) printf("  known difference: timestamps past 2038 / fraction >= 2^31 (libpcap reads them signed): "
                       "%d packets in %d files, e.g. %s\n", s.ts_signed, s.f_ts, s.ex_ts);
    if (s.f_snap) printf("  known difference: records longer than the snapshot length (libpcap cuts them): "
                         "%d packets in %d files, e.g. %s\n", s.snap_cut, s.f_snap, s.ex_snap);
    if (s.f_len) printf("  known difference: wire length < captured length (ours raises it): "
                        "%d packets in %d files, e.g. %s\n", s.len_raised, s.f_len, s.ex_len);
    CHECK(s.compared > 0);
    CHECK_EQ(s.mismatched, 0);
}


/* ---- hand-made edge cases: both byte orders, every timestamp resolution, odd blocks ---- */

static void wpad(tbuf *w) { static const uint8_t z[4] = {0}; if (w->n % 4) tb_put(w, z, 4 - w->n % 4); }
/* frame i: 42..(42+i*7) bytes of Ethernet/IPv4/UDP-looking data, distinct per packet */
static uint32_t frame_len(int i) { return 42 + (uint32_t)i * 7; }
static void wframe(tbuf *w, int i) {
    for (uint32_t k = 0; k < frame_len(i); k++) { uint8_t c = (uint8_t)(k * 31 + i * 7 + 1); tb_put(w, &c, 1); }
}

static void mk_pcap(tbuf *w, uint32_t magic, int be) {
    w->be = be;
    int mod = magic == 0xa1b2cd34u;
    tb_u32(w, magic); tb_u16(w, 2); tb_u16(w, 4); tb_u32(w, 0); tb_u32(w, 0); tb_u32(w, 65535); tb_u32(w, 1);
    for (int i = 0; i < 5; i++) {
        tb_u32(w, 1700000000u + (uint32_t)i * 3600); tb_u32(w, (uint32_t)i * 123457 % 1000000);
        tb_u32(w, frame_len(i)); tb_u32(w, frame_len(i) + (i == 3 ? 100 : 0));   /* one cut packet */
        if (mod) { tb_u32(w, 1); tb_u16(w, 0x0800); tb_u16(w, 0); }   /* ifindex, protocol, pkt_type+pad */
        wframe(w, i);
    }
}

static void shb(tbuf *w) {
    tb_u32(w, 0x0A0D0D0A); tb_u32(w, 28); tb_u32(w, 0x1A2B3C4D); tb_u16(w, 1); tb_u16(w, 0);
    tb_u32(w, 0xffffffff); tb_u32(w, 0xffffffff); tb_u32(w, 28);
}
/* An IDB with optional if_tsresol (tsresol < 0: absent) and if_tsoffset (seconds). */
static void idb(tbuf *w, uint16_t lt, uint32_t snap, int tsresol, int64_t tsoffset) {
    size_t start = w->n;
    tb_u32(w, 1); tb_u32(w, 0); tb_u16(w, lt); tb_u16(w, 0); tb_u32(w, snap);
    if (tsresol >= 0) { tb_u16(w, 9); tb_u16(w, 1); uint8_t v = (uint8_t)tsresol; tb_put(w, &v, 1); wpad(w); }
    if (tsoffset) { tb_u16(w, 14); tb_u16(w, 8); tb_u32(w, w->be ? (uint32_t)((uint64_t)tsoffset >> 32) : (uint32_t)tsoffset);
                    tb_u32(w, w->be ? (uint32_t)tsoffset : (uint32_t)((uint64_t)tsoffset >> 32)); }
    tb_u16(w, 0); tb_u16(w, 0);   /* opt_endofopt */
    tb_u32(w, 0);
    uint32_t len = (uint32_t)(w->n - start);
    tbuf tmp = { .b = w->b + start + 4, .n = 0, .cap = 4, .be = w->be };
    tb_u32(&tmp, len);              /* patch the leading length */
    w->n -= 4; tb_u32(w, len);      /* and the trailing one */
}
static void epb(tbuf *w, uint32_t ifid, uint64_t ticks, int i, int type2) {
    size_t start = w->n;
    tb_u32(w, type2 ? 2 : 6); tb_u32(w, 0);
    if (type2) { tb_u16(w, (uint16_t)ifid); tb_u16(w, 0); } else tb_u32(w, ifid);
    tb_u32(w, (uint32_t)(ticks >> 32)); tb_u32(w, (uint32_t)ticks);
    tb_u32(w, frame_len(i)); tb_u32(w, frame_len(i) + (i == 2 ? 60 : 0));
    wframe(w, i); wpad(w);
    tb_u16(w, 1); tb_u16(w, 5); tb_put(w, "hello", 5); wpad(w);   /* opt_comment */
    tb_u16(w, 0); tb_u16(w, 0);
    tb_u32(w, 0);
    uint32_t len = (uint32_t)(w->n - start);
    tbuf tmp = { .b = w->b + start + 4, .n = 0, .cap = 4, .be = w->be };
    tb_u32(&tmp, len);
    w->n -= 4; tb_u32(w, len);
}
static void spb(tbuf *w, int i, uint32_t snap) {   /* holds min(len, snap) bytes, as the spec says */
    size_t start = w->n;
    tb_u32(w, 3); tb_u32(w, 0); tb_u32(w, frame_len(i));
    size_t at = w->n;
    wframe(w, i);
    if (w->n - at > snap) w->n = at + snap;
    wpad(w); tb_u32(w, 0);
    uint32_t len = (uint32_t)(w->n - start);
    tbuf tmp = { .b = w->b + start + 4, .n = 0, .cap = 4, .be = w->be };
    tb_u32(&tmp, len);
    w->n -= 4; tb_u32(w, len);
}
/* Blocks the readers must skip: a name resolution block (only its end record), an
 * interface statistics block, a custom block (private enterprise number, then data). */
static void other_block(tbuf *w, uint32_t type) {
    if (type == 4) { tb_u32(w, 4); tb_u32(w, 16); tb_u32(w, 0); tb_u32(w, 16); return; }
    tb_u32(w, type); tb_u32(w, 24);
    if (type == 5) { tb_u32(w, 0); tb_u32(w, 0x0006); tb_u32(w, 0x05060708); }
    else { tb_u32(w, 32473); tb_u32(w, 0x01020304); tb_u32(w, 0x05060708); }
    tb_u32(w, 24);
}

/* One pcapng section per (byte order, resolution) case. */
static void mk_pcapng(tbuf *w, int be, int tsresol, int64_t tsoffset, uint64_t tick0, uint64_t step) {
    w->be = be;
    shb(w);
    idb(w, 1, 262144, tsresol, tsoffset);
    other_block(w, 4);
    for (int i = 0; i < 4; i++) epb(w, 0, tick0 + (uint64_t)i * step, i, 0);
    other_block(w, 5);
    epb(w, 0, tick0 + 10 * step, 4, 1);   /* obsolete packet block */
    other_block(w, 0x40000BAD);           /* custom block */
}

static void write_case(tlist *l, const char *name, tbuf *w) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", t_tmpdir(), name);
    FILE *f = fopen(path, "wb");
    if (f) { fwrite(w->b, 1, w->n, f); fclose(f); tl_push(l, path); }
    free(w->b);
    memset(w, 0, sizeof *w);
}

static void test_edge_cases_agree_with_libpcap(void) {
    tlist l = {0};
    tbuf w = {0};
    mk_pcap(&w, 0xa1b2c3d4u, 0); write_case(&l, "us_le.pcap", &w);
    mk_pcap(&w, 0xa1b2c3d4u, 1); write_case(&l, "us_be.pcap", &w);
    mk_pcap(&w, 0xa1b23c4du, 0); write_case(&l, "ns_le.pcap", &w);
    mk_pcap(&w, 0xa1b23c4du, 1); write_case(&l, "ns_be.pcap", &w);
    mk_pcap(&w, 0xa1b2cd34u, 0); write_case(&l, "modified_le.pcap", &w);
    mk_pcap(&w, 0xa1b2cd34u, 1); write_case(&l, "modified_be.pcap", &w);
    /* if_tsresol: absent (µs), 10^-9, 10^-3, 10^0, 2^-10, 2^-0, 2^-32; and an if_tsoffset */
    static const struct { const char *name; int res; int64_t off; uint64_t t0, step; } ng[] = {
        { "ng_us", -1, 0, 1700000000000000ull, 1234567 },
        { "ng_ns", 9, 0, 1700000000000000000ull, 987654321 },
        { "ng_ms", 3, 0, 1700000000000ull, 1500 },
        { "ng_s", 0, 0, 1700000000ull, 2 },
        { "ng_2pow10", 0x80 | 10, 0, 1700000000ull << 10, 1000 },
        { "ng_2pow0", 0x80, 0, 1700000000ull, 3 },
        { "ng_2pow32", 0x80 | 32, 0, 1700000000ull << 32, 1ull << 31 },
        { "ng_tsoffset", 6, 1000000000, 700000000000000ull, 1000 },
    };
    for (size_t k = 0; k < sizeof ng / sizeof ng[0]; k++)
        for (int be = 0; be < 2; be++) {
            char name[64];
            snprintf(name, sizeof name, "%s_%s.pcapng", ng[k].name, be ? "be" : "le");
            mk_pcapng(&w, be, ng[k].res, ng[k].off, ng[k].t0, ng[k].step);
            write_case(&l, name, &w);
        }
    /* simple packet blocks (no timestamp; caplen from the block, cut to the snap length) */
    w.be = 0; shb(&w); idb(&w, 1, 50, -1, 0);
    for (int i = 0; i < 4; i++) spb(&w, i, 50);
    write_case(&l, "ng_simple.pcapng", &w);
    /* two sections, the second in the other byte order with its own interface */
    mk_pcapng(&w, 0, 9, 0, 1700000000000000000ull, 1000);
    { tbuf w2 = {0}; mk_pcapng(&w2, 1, 6, 0, 1700000001000000ull, 1000); tb_put(&w, w2.b, w2.n); free(w2.b); }
    write_case(&l, "ng_two_sections.pcapng", &w);
    /* ~9 MB of records of random sizes (up to 64 KiB): records straddle the reader's
     * buffer refills many times */
    {
        uint64_t seed = 7;
        w.be = 0;
        tb_u32(&w, 0xa1b2c3d4u); tb_u16(&w, 2); tb_u16(&w, 4); tb_u32(&w, 0); tb_u32(&w, 0); tb_u32(&w, 262144); tb_u32(&w, 1);
        for (int i = 0; w.n < 9000000; i++) {
            uint32_t n = 1 + (uint32_t)(splitmix64(&seed) % 65536);
            tb_u32(&w, 1700000000u + (uint32_t)i); tb_u32(&w, (uint32_t)i % 1000000); tb_u32(&w, n); tb_u32(&w, n);
            size_t at = w.n;
            for (uint32_t k = 0; k < n; k++) { uint8_t c = (uint8_t)(k ^ (uint32_t)i); tb_put(&w, &c, 1); }
            w.b[at] = (uint8_t)i;
        }
        write_case(&l, "big_random_sizes.pcap", &w);
    }
    cross_check("edge cases", &l, 1);
    tl_free(&l);
}

static void test_examples_agree_with_libpcap(void) {
    tlist l = {0};
    t_walk("examples", &l);
    if (l.n == 0) SKIP("no examples/ directory (run from the repository root)");
    tl_sort(&l);
    cross_check("examples", &l, 1);
    tl_free(&l);
}

static void test_shared_data_agrees_with_libpcap(void) {
    const char *sh = t_shared();
    if (!sh) SKIP("../shared not present");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/data", sh);
    tlist l = {0};
    t_walk(dir, &l);
    if (l.n == 0) { tl_free(&l); SKIP("shared/data is empty"); }
    tl_sort(&l);
    cross_check("shared/data", &l, t_san() ? 10 : 1);
    tl_free(&l);
}

int main(void) {
    RUN(test_edge_cases_agree_with_libpcap);
    RUN(test_examples_agree_with_libpcap);
    RUN(test_shared_data_agrees_with_libpcap);
    return t_done();
}
