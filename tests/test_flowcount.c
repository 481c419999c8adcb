/* Flow counts against an independent count: ../shared/data/labels/flows.csv lists every
 * whole-capture bidirectional 5-tuple (no idle timeout). With timeouts off, our table may
 * only differ where the protocol says a new flow starts (a SYN reusing the tuple of a
 * finished connection) or in how IP fragments are keyed. Tolerance (docs/flows.md):
 * per data set the totals agree within 1%, and at least 95% of files agree exactly. */
#include "test.h"
#include "capture/capture.h"
#include "flow/flow.h"

#define MAXF 4096
static char *names[MAXF];
static long theirs[MAXF];
static int nnames;

static int find(const char *p) {
    for (int i = 0; i < nnames; i++) if (!strcmp(names[i], p)) return i;
    if (nnames == MAXF) return -1;
    names[nnames] = strdup(p);
    theirs[nnames] = 0;
    return nnames++;
}

static long count_flows(const char *path) {
    flow_cfg cfg;
    flow_cfg_default(&cfg);
    cfg.tcp_timeout = cfg.udp_timeout = 1e12;   /* as flows.csv: no idle timeout */
    flow_table *t = flow_table_new(&cfg, NULL, NULL);
    cap_reader r;
    if (cap_open(&r, path) != 0) { cap_close(&r); flow_table_free(t); return -1; }
    cap_pkt p;
    while (cap_next(&r, &p) == 1) {
        pkt_info pi;
        int dir;
        if (pkt_parse(p.linktype, p.data, p.caplen, p.len, &pi) == PKT_IP) flow_table_add(t, &pi, p.ts_ns, p.len, &dir);
    }
    cap_close(&r);
    long n = (long)flow_table_counters(t)->flows;
    flow_table_free(t);
    return n;
}

static void compare(const char *prefix, int sample) {
    const char *sh = t_shared();
    long ours_total = 0, theirs_total = 0;
    int files = 0, same = 0;
    for (int i = 0; i < nnames; i++) {
        if (strncmp(names[i], prefix, strlen(prefix))) continue;
        if (i % sample) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/data/%s", sh, names[i]);
        long n = count_flows(path);
        if (n < 0) continue;
        files++;
        same += n == theirs[i];
        ours_total += n;
        theirs_total += theirs[i];
    }
    double rel = theirs_total ? fabs((double)ours_total - theirs_total) / theirs_total : 1;
    printf("  %s: %d files, flows ours %ld, flows.csv %ld (%.2f%%), files identical %d (%.1f%%)\n", prefix, files, ours_total,
           theirs_total, 100 * rel, same, files ? 100.0 * same / files : 0);
    CHECK(files > 0);
    CHECKF(rel <= 0.01, "%s totals differ by %.2f%%", prefix, 100 * rel);
    CHECKF(same >= 0.95 * files, "%s: only %d of %d files agree", prefix, same, files);
}

static void test_flow_counts(void) {
    const char *sh = t_shared();
    if (!sh) SKIP("../shared not present");
    char path[4096];
    snprintf(path, sizeof path, "%s/data/labels/flows.csv", sh);
    FILE *f = fopen(path, "r");
    if (!f) SKIP("no labels/flows.csv");
    char line[8192];
    if (!fgets(line, sizeof line, f)) { fclose(f); return; }
    while (fgets(line, sizeof line, f)) {
        char *c = strchr(line, ',');
        if (!c) continue;
        *c = 0;
        int k = find(line);
        if (k >= 0) theirs[k]++;
    }
    fclose(f);
    int sample = t_san() ? 5 : 1;   /* the sanitizer run checks every 5th file */
    compare("iot_sentinel/", sample);
    compare("ndpi/", sample);
    compare("generation/", 1);
}

int main(void) {
    RUN(test_flow_counts);
    return t_done();
}
