/* Arrow IPC files of list<int32> (corpus/arrow.h), checked against the npm package
 * apache-arrow under node (tests/arrow_oracle.sh; skipped where node or the package cannot be
 * had): node reads what pktlm wrote, pktlm reads what node wrote. */
#include "test.h"
#include "pktbuild.h"
#include "corpus/arrow.h"
#include <sys/wait.h>

/* the oracle's rows (tests/arrow_oracle.js): row i has (i*7)%13 values (i*1000003 + j*65537) % 70001 */
static void oracle_rows(uint64_t n, int32_t **v, uint64_t **offs) {
    *offs = malloc((n + 1) * sizeof **offs);
    *v = malloc((n * 13 + 1) * sizeof **v);
    (*offs)[0] = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t k = (*offs)[i];
        for (uint64_t j = 0; j < (i * 7) % 13; j++) (*v)[k++] = (int32_t)((i * 1000003 + j * 65537) % 70001);
        (*offs)[i + 1] = k;
    }
}

static int same(const arrow_seqs *s, const int32_t *v, const uint64_t *offs, uint64_t n) {
    if (s->n != n || s->n_values != offs[n]) return 0;
    for (uint64_t i = 0; i <= n; i++) if (s->offs[i] != offs[i]) return 0;
    return !memcmp(s->values, v, offs[n] * sizeof *v);
}

static void test_roundtrip(void) {
    char path[600], err[512];
    tpath(path, sizeof path, "rt.arrow");
    int32_t *v;
    uint64_t *offs;
    oracle_rows(100, &v, &offs);
    CHECKF(arrow_write_lists(path, "token_sequences", v, offs, 100, err, sizeof err) == 0, "%s", err);
    arrow_seqs s;
    CHECKF(arrow_read_lists(path, "token_sequences", &s, err, sizeof err) == 0, "%s", err);
    CHECK(same(&s, v, offs, 100));
    arrow_seqs_free(&s);
    CHECK_EQ(arrow_read_lists(path, "other", &s, err, sizeof err), -1);
    CHECKF(strstr(err, "not named 'other'") != NULL, "%s", err);
    /* no sequences at all */
    CHECK_EQ(arrow_write_lists(path, "token_sequences", v, offs, 0, err, sizeof err), 0);
    CHECK_EQ(arrow_read_lists(path, NULL, &s, err, sizeof err), 0);
    CHECK_EQ(s.n, 0);
    arrow_seqs_free(&s);
    free(v); free(offs);
}

/* Cut, padded or corrupted files: an error naming the file and a byte offset, never a crash. */
static void test_bad_files(void) {
    char path[600], bad[600], err[512];
    tpath(path, sizeof path, "ok.arrow");
    tpath(bad, sizeof bad, "bad.arrow");
    int32_t *v;
    uint64_t *offs;
    oracle_rows(40, &v, &offs);
    CHECK_EQ(arrow_write_lists(path, "token_sequences", v, offs, 40, err, sizeof err), 0);
    FILE *f = fopen(path, "rb");
    uint8_t img[8192];
    size_t n = fread(img, 1, sizeof img, f);
    fclose(f);
    CHECK(n > 100 && n < sizeof img);
    arrow_seqs s;
    int errors = 0;
    for (size_t cut = 0; cut < n; cut += 7) {   /* every cut is refused */
        write_bytes(bad, img, cut);
        if (arrow_read_lists(bad, NULL, &s, err, sizeof err) == -1 && strstr(err, bad) && strstr(err, "byte offset")) errors++;
        else printf("  cut at %zu: %s\n", cut, err);
    }
    CHECK_EQ(errors, (int)((n + 6) / 7));
    uint64_t seed = 7;
    for (int k = 0; k < 2000; k++) {   /* flipped bytes: an error or the right shape, never a crash */
        uint8_t c[8192];
        memcpy(c, img, n);
        for (int j = 0; j < 3; j++) c[splitmix64(&seed) % n] ^= (uint8_t)(1 + splitmix64(&seed) % 255);
        write_bytes(bad, c, n);
        if (arrow_read_lists(bad, NULL, &s, err, sizeof err) == 0) {
            CHECK(s.offs[s.n] == s.n_values);
            arrow_seqs_free(&s);
        }
    }
    CHECK_EQ(arrow_read_lists("/nonexistent/x.arrow", NULL, &s, err, sizeof err), -1);
    free(v); free(offs);
}

/* Runs the oracle; 77 = node or the package unavailable. */
static int oracle(const char *args, const char *out) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "bash tests/arrow_oracle.sh %s > %s 2>&1", args, out);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_node_reads_pktlm(void) {
    char path[600], out[600], err[512], args[1300];
    tpath(path, sizeof path, "pktlm.arrow");
    tpath(out, sizeof out, "node.txt");
    int32_t *v;
    uint64_t *offs;
    oracle_rows(60, &v, &offs);
    CHECK_EQ(arrow_write_lists(path, "token_sequences", v, offs, 60, err, sizeof err), 0);
    snprintf(args, sizeof args, "read %s", path);
    int rc = oracle(args, out);
    if (rc == 77) { free(v); free(offs); SKIP("node or the npm package apache-arrow unavailable"); }
    CHECK_EQ(rc, 0);
    FILE *f = fopen(out, "r");
    char line[4096];
    CHECK(f && fgets(line, sizeof line, f) && !strcmp(line, "schema token_sequences: List<Int32>\n"));
    CHECK(f && fgets(line, sizeof line, f) && !strcmp(line, "batches 1 rows 60\n"));
    int rows_ok = 0;
    for (uint64_t i = 0; f && i < 60 && fgets(line, sizeof line, f); i++) {
        char want[4096] = "";
        size_t l = 0;
        for (uint64_t j = offs[i]; j < offs[i + 1]; j++) l += (size_t)snprintf(want + l, sizeof want - l, "%s%d", j > offs[i] ? " " : "", v[j]);
        snprintf(want + l, sizeof want - l, "\n");
        rows_ok += !strcmp(line, want);
    }
    CHECK_EQ(rows_ok, 60);
    if (f) fclose(f);
    free(v); free(offs);
}

static void test_pktlm_reads_node(void) {
    char path[600], out[600], err[512], args[1300];
    tpath(path, sizeof path, "node.arrow");
    tpath(out, sizeof out, "node_w.txt");
    snprintf(args, sizeof args, "write %s 75", path);
    int rc = oracle(args, out);
    if (rc == 77) SKIP("node or the npm package apache-arrow unavailable");
    CHECK_EQ(rc, 0);
    int32_t *v;
    uint64_t *offs;
    oracle_rows(75, &v, &offs);
    arrow_seqs s;
    CHECKF(arrow_read_lists(path, "token_sequences", &s, err, sizeof err) == 0, "%s", err);
    CHECK(same(&s, v, offs, 75));   /* two record batches, as node wrote them */
    arrow_seqs_free(&s);
    free(v); free(offs);
}

int main(void) {
    RUN(test_roundtrip);
    RUN(test_bad_files);
    RUN(test_node_reads_pktlm);
    RUN(test_pktlm_reads_node);
    return t_done();
}
