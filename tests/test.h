/* Minimal test harness: each tests/test_*.c is one binary that prints one line per
 * test case ("PASS name", "FAIL name", "SKIP name: why"); tests/run.sh counts them.
 * A binary that crashes is counted as a failure by the runner. */
#ifndef PKTLM_TEST_H
#define PKTLM_TEST_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <unistd.h>

static int t_cur_fail, t_cur_skip, t_total_fail;
static char t_skip_why[256];

#define CHECK(c) do { if (!(c)) { fprintf(stdout, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); t_cur_fail++; } } while (0)
#define CHECKF(c, ...) do { if (!(c)) { fprintf(stdout, "  %s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #c); fprintf(stdout, __VA_ARGS__); fputc('\n', stdout); t_cur_fail++; } } while (0)
#define CHECK_EQ(a, b) CHECKF((long long)(a) == (long long)(b), "%lld != %lld", (long long)(a), (long long)(b))
#define CHECK_NEAR(a, b, tol) CHECKF(fabs((double)(a) - (double)(b)) <= (tol), "%.9g vs %.9g (tol %g)", (double)(a), (double)(b), (double)(tol))
#define SKIP(...) do { snprintf(t_skip_why, sizeof t_skip_why, __VA_ARGS__); t_cur_skip = 1; return; } while (0)
#define RUN(fn) t_run(#fn, fn)

__attribute__((unused)) static void t_run(const char *name, void (*fn)(void)) {
    t_cur_fail = 0; t_cur_skip = 0;
    fn();
    if (t_cur_fail) { printf("FAIL %s\n", name); t_total_fail++; }
    else if (t_cur_skip) printf("SKIP %s: %s\n", name, t_skip_why);
    else printf("PASS %s\n", name);
    fflush(stdout);
}
__attribute__((unused)) static int t_done(void) { return t_total_fail ? 1 : 0; }

/* Comparing a tensor with a reference (the PyTorch fixtures): the largest |a - b| relative to
 * the largest |b|, and the cosine of the two as vectors. */
__attribute__((unused)) static double rel_err(const float *a, const float *b, size_t n) {
    double md = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > md) md = d;
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    return md / (mb > 1e-12 ? mb : 1e-12);
}
__attribute__((unused)) static double cosine(const float *a, const float *b, size_t n) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) { ab += (double)a[i] * b[i]; aa += (double)a[i] * a[i]; bb += (double)b[i] * b[i]; }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : (aa == bb ? 1 : 0);
}

/* ../shared next to the repository (or $PKTLM_SHARED); NULL when absent so tests skip. */
__attribute__((unused)) static const char *t_shared(void) {
    const char *s = getenv("PKTLM_SHARED");
    if (s && *s && access(s, R_OK) == 0) return s;
    return NULL;
}
/* A scratch directory for this test binary (made by tests/run.sh). */
__attribute__((unused)) static const char *t_tmpdir(void) {
    const char *s = getenv("PKTLM_TMP");
    return (s && *s) ? s : "/tmp";
}
/* True under the sanitizer run: heavy tests scale down. */
__attribute__((unused)) static int t_san(void) { const char *s = getenv("PKTLM_SAN"); return s && *s == '1'; }
#endif
