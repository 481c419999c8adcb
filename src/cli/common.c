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
#include <fcntl.h>
#include <stdint.h>

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

int cli_is_arrow(const char *path) {
    size_t n = strlen(path);
    return n > 6 && !strcmp(path + n - 6, ".arrow");
}

/* (device, inode) pairs already walked: each real folder is entered once and each real file
 * found in a folder listed once, however many symbolic links lead to it (a link to a parent
 * folder would otherwise loop until the path is too long). */
typedef struct { uint64_t *k; size_t cap, n; } idset;

static int idset_add(idset *s, dev_t dev, ino_t ino) {   /* 1 added, 0 already there, -1 oom */
    if (s->n * 2 >= s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 256;
        uint64_t *nk = calloc(nc * 2, sizeof *nk);
        if (!nk) return -1;
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->k[2 * i] && !s->k[2 * i + 1]) continue;
            size_t h = (size_t)((s->k[2 * i] * 0x9E3779B97F4A7C15ull) ^ s->k[2 * i + 1]) * 0xBF58476D1CE4E5B9ull % nc;
            while (nk[2 * h] || nk[2 * h + 1]) h = (h + 1) % nc;
            nk[2 * h] = s->k[2 * i]; nk[2 * h + 1] = s->k[2 * i + 1];
        }
        free(s->k);
        s->k = nk; s->cap = nc;
    }
    uint64_t a = (uint64_t)dev + 1, b = (uint64_t)ino;   /* +1: (0, 0) marks an empty slot */
    size_t h = (size_t)((a * 0x9E3779B97F4A7C15ull) ^ b) * 0xBF58476D1CE4E5B9ull % s->cap;
    for (; s->k[2 * h] || s->k[2 * h + 1]; h = (h + 1) % s->cap)
        if (s->k[2 * h] == a && s->k[2 * h + 1] == b) return 0;
    s->k[2 * h] = a; s->k[2 * h + 1] = b;
    s->n++;
    return 1;
}

typedef struct { const char *verb; strlist *out; idset seen; int skipped; } walker;

/* Explicit file arguments are always taken (a wrong one gets a clear error later); inside
 * folders only files that start with a capture magic are, so READMEs and label files in
 * a dataset tree are passed over (tcpflowgen's token files, NAME.arrow, are taken). A file in a folder that cannot be opened is taken too:
 * the verb then reports it as it reports an unreadable argument (warning, exit status 1).
 * A folder that cannot be listed is skipped with a warning (w->skipped), the walk goes on. */
static int walk(walker *w, const char *path, int in_dir) {
    const char *verb = w->verb;
    struct stat st;
    if (strcmp(path, "-") == 0) return push(w->out, path);
    if (stat(path, &st) != 0) {
        if (!in_dir) return cli_error(verb, "%s: %s", path, strerror(errno)), -1;
        fprintf(stderr, "pktlm %s: warning: %s: %s (skipped)\n", verb, path, strerror(errno));
        w->skipped++;
        return 0;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (!in_dir) return push(w->out, path);
        int fresh = idset_add(&w->seen, st.st_dev, st.st_ino);
        if (fresh < 0) return cli_error(verb, "out of memory"), -1;
        if (!fresh) return 0;
        int fd = open(path, O_RDONLY);
        if (fd < 0) return push(w->out, path);
        close(fd);
        return cap_sniff(path) || cli_is_arrow(path) ? push(w->out, path) : 0;
    }
    int fresh = idset_add(&w->seen, st.st_dev, st.st_ino);
    if (fresh < 0) return cli_error(verb, "out of memory"), -1;
    if (!fresh) return 0;   /* reached again through a link */
    DIR *d = opendir(path);
    if (!d) {
        if (!in_dir) return cli_error(verb, "%s: %s", path, strerror(errno)), -1;
        fprintf(stderr, "pktlm %s: warning: %s: %s (folder skipped)\n", verb, path, strerror(errno));
        w->skipped++;
        return 0;
    }
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
        /* a dangling link or an entry we may not stat: warned in walk */
        if (stat(p, &st) != 0 || S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) rc = walk(w, p, 1);
        free(p);
    }
    cli_free_list(names.v, names.n);
    return rc;
}

int cli_expand_inputs(const char *verb, char **inputs, int n, char ***files, int *nfiles) {
    strlist out = { 0 };
    walker w = { verb, &out, { 0 }, 0 };
    for (int i = 0; i < n; i++)
        if (walk(&w, inputs[i], 0) != 0) { free(w.seen.k); cli_free_list(out.v, out.n); return -1; }
    free(w.seen.k);
    *files = out.v; *nfiles = out.n;
    return w.skipped ? 1 : 0;
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
static void on_interrupt(int sig) { (void)sig; interrupted = 1; }

/* SA_RESETHAND: a second signal kills. No SA_RESTART: a system call blocked on input that
 * never comes (open() of a FIFO nobody writes to, a read from an idle pipe) fails with EINTR
 * instead of resuming, so the verb sees the flag and stops. */
volatile sig_atomic_t *cli_catch_interrupt(void) {
    interrupted = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return &interrupted;
}
