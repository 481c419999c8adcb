#include "cli/cli.h"
#include <unistd.h>
#include "capture/capture.h"
#include "util/util.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <dirent.h>
#include <sys/stat.h>
#include <signal.h>

int cli_error(const char *verb, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "pktlm %s: ", verb);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

/* NaN and infinities are refused: "nan" or "inf" passes strtod but no option means it (a NaN
 * would slip through every `v <= 0` check). */
int cli_double(const char *verb, const char *opt, const char *s, double *out) {
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || errno || end == s || *end || !isfinite(v)) { cli_error(verb, "%s needs a number, got '%s'", opt, s ? s : ""); return -1; }
    *out = v;
    return 0;
}

int cli_long_in(const char *verb, const char *opt, const char *s, long lo, long hi, long *out) {
    long v;
    if (cli_long(verb, opt, s, &v)) return -1;
    if (v < lo || v > hi) {
        if (hi == LONG_MAX || hi == INT_MAX) cli_error(verb, "%s must be at least %ld, got %ld", opt, lo, v);
        else cli_error(verb, "%s must be %ld..%ld, got %ld", opt, lo, hi, v);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_positive(const char *verb, const char *opt, const char *s, double *out) {
    double v;
    if (cli_double(verb, opt, s, &v)) return -1;
    if (!(v > 0)) { cli_error(verb, "%s must be greater than 0, got %s", opt, s); return -1; }
    *out = v;
    return 0;
}

int cli_long(const char *verb, const char *opt, const char *s, long *out) {
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || end == s || *end) { cli_error(verb, "%s needs an integer, got '%s'", opt, s ? s : ""); return -1; }
    *out = v;
    return 0;
}

typedef struct { char **v; int n, cap; } strlist;

static int push(strlist *l, const char *s) {
    if (l->n == l->cap) {
        int nc = l->cap ? l->cap * 2 : 64;
        char **v = realloc(l->v, (size_t)nc * sizeof *v);
        if (!v) return -1;
        l->v = v; l->cap = nc;
    }
    l->v[l->n] = strdup(s);
    return l->v[l->n++] ? 0 : -1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Explicit file arguments are always taken (a wrong one gets a clear error later); inside
 * folders only files that start with a capture magic are, so READMEs and label files in
 * a dataset tree are passed over. */
static int walk(const char *verb, const char *path, strlist *out, int in_dir) {
    struct stat st;
    if (strcmp(path, "-") == 0) return push(out, path);
    if (stat(path, &st) != 0) return cli_error(verb, "%s: %s", path, strerror(errno)), -1;
    if (!S_ISDIR(st.st_mode)) return (!in_dir || cap_sniff(path)) ? push(out, path) : 0;
    DIR *d = opendir(path);
    if (!d) return cli_error(verb, "%s: %s", path, strerror(errno)), -1;
    strlist names = { 0 };
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)))
        if (e->d_name[0] != '.' && push(&names, e->d_name) != 0) { cli_error(verb, "out of memory"); rc = -1; }
    closedir(d);
    /* sorted: reproducible order (an empty folder has no array to sort) */
    if (names.n > 1) qsort(names.v, (size_t)names.n, sizeof *names.v, cmp_str);
    for (int i = 0; i < names.n && rc == 0; i++) {
        size_t L = strlen(path) + strlen(names.v[i]) + 2, pl = strlen(path);
        while (pl > 1 && path[pl - 1] == '/') pl--;   /* "dir/" + "x" -> "dir/x" */
        char *p = malloc(L);
        if (!p) { cli_error(verb, "out of memory"); rc = -1; break; }
        snprintf(p, L, "%.*s/%s", (int)pl, path, names.v[i]);
        if (stat(p, &st) == 0 && (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))) rc = walk(verb, p, out, 1);
        free(p);
    }
    cli_free_list(names.v, names.n);
    return rc;
}

int cli_expand_inputs(const char *verb, char **inputs, int n, char ***files, int *nfiles) {
    strlist out = { 0 };
    for (int i = 0; i < n; i++)
        if (walk(verb, inputs[i], &out, 0) != 0) { cli_free_list(out.v, out.n); return -1; }
    *files = out.v; *nfiles = out.n;
    return 0;
}

void cli_free_list(char **list, int n) {
    for (int i = 0; i < n; i++) free(list[i]);
    free(list);
}

/* OpenMP threads that spin while waiting (libgomp's default) collapse when the machine is
 * shared: a spinning thread burns the core its descheduled partner needs, and a training step
 * has hundreds of barriers (measured here under load: 350 tok/s spinning, 4,400 passive).
 * libgomp reads OMP_WAIT_POLICY once at start-up, so set it and re-execute ourselves.
 * An explicit OMP_WAIT_POLICY (e.g. active on a dedicated machine) is respected. */
void cli_prefer_passive_wait(int argc, char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    setenv("OMP_WAIT_POLICY", "passive", 1);
    char **nargv = calloc((size_t)argc + 2, sizeof *nargv);
    if (!nargv) return;
    nargv[0] = "pktlm";
    for (int i = 0; i < argc; i++) nargv[i + 1] = argv[i];
    execv("/proc/self/exe", nargv);
    free(nargv);   /* exec failed: carry on with the default policy */
}


void cli_json_str(FILE *f, const char *s) {
    fputc('"', f);
    json_escape(f, s);
    fputc('"', f);
}

void cli_csv_str(FILE *f, const char *s) {
    if (!s[strcspn(s, ",\"\r\n")]) { fputs(s, f); return; }
    fputc('"', f);
    for (; *s; s++) { if (*s == '"') fputc('"', f); fputc(*s, f); }
    fputc('"', f);
}

/* The one flag a signal handler may touch (C11 7.14.1.1: a volatile sig_atomic_t with static
 * storage); verbs reach it only through the pointer cli_catch_interrupt() hands them. */
static volatile sig_atomic_t interrupted;
static void on_interrupt(int sig) { interrupted = 1; signal(sig, SIG_DFL); /* a second one kills */ }

volatile sig_atomic_t *cli_catch_interrupt(void) {
    interrupted = 0;
    signal(SIGINT, on_interrupt);
    signal(SIGTERM, on_interrupt);
    return &interrupted;
}
