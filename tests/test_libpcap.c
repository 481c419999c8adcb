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
#include <pcap/pcap.h>
#include <dirent.h>
#include <sys/stat.h>

/* Mismatches already reported to the reader's author, by file name: each is still compared
 * and printed; a listed file that agrees again prints a note to drop it from this list. */
static const struct { const char *file, *why; } known_bugs[] = {
    { "fuzz-2021-10-13.pcap", "pcap version 2.0: libpcap swaps caplen and len for versions < 2.3 "
                              "(and when caplen > len for 2.3); our reader does not" },
};
static const char *known_bug(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    for (size_t i = 0; i < sizeof known_bugs / sizeof known_bugs[0]; i++)
        if (strcmp(base, known_bugs[i].file) == 0) return known_bugs[i].why;
    return NULL;
}

typedef struct { char **v; int n, cap; } strlist;

static void sl_push(strlist *l, const char *s) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->v = realloc(l->v, (size_t)l->cap * sizeof *l->v);
    }
    l->v[l->n++] = strdup(s);
}
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static void sl_free(strlist *l) { for (int i = 0; i < l->n; i++) free(l->v[i]); free(l->v); }

/* Every regular file below dir (recursively, symlinks not followed). */
static void walk(const char *dir, strlist *out) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) walk(path, out);
        else if (S_ISREG(st.st_mode)) sl_push(out, path);
    }
    closedir(d);
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

static void cross_check(const char *label, strlist *files, int stride) {
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

static void test_examples_agree_with_libpcap(void) {
    strlist l = {0};
    walk("examples", &l);
    if (l.n == 0) SKIP("no examples/ directory (run from the repository root)");
    qsort(l.v, (size_t)l.n, sizeof *l.v, cmp_str);
    cross_check("examples", &l, 1);
    sl_free(&l);
}

static void test_shared_data_agrees_with_libpcap(void) {
    const char *sh = t_shared();
    if (!sh) SKIP("../shared not present");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/data", sh);
    strlist l = {0};
    walk(dir, &l);
    if (l.n == 0) { sl_free(&l); SKIP("shared/data is empty"); }
    qsort(l.v, (size_t)l.n, sizeof *l.v, cmp_str);
    cross_check("shared/data", &l, t_san() ? 10 : 1);
    sl_free(&l);
}

int main(void) {
    RUN(test_examples_agree_with_libpcap);
    RUN(test_shared_data_agrees_with_libpcap);
    return t_done();
}
