#include "util/util.h"
#include <stdarg.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <sys/resource.h>

double now_sec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

size_t peak_rss_bytes(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (size_t)ru.ru_maxrss * 1024;
}

void progress_init(progress *p, const char *what, const char *unit, double scale) {
    memset(p, 0, sizeof *p);
    p->what = what; p->unit = unit; p->scale = scale > 0 ? scale : 1;
    p->t0 = p->last = now_sec();
    const char *env = getenv("PKTLM_PROGRESS");
    p->enabled = env ? *env == '1' : isatty(2);
}

void fmt_duration(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 1e8) snprintf(buf, n, "?");
    else if (s < 60) snprintf(buf, n, "%.0fs", s);
    else if (s < 3600) snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, n, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

void progress_update(progress *p, double done, double total, const char *extra) {
    if (!p->enabled) return;
    double t = now_sec();
    if (t - p->last < 0.5) return;
    p->last = t;
    double el = t - p->t0, rate = el > 0 ? done / p->scale / el : 0;
    char eta[32] = "?";
    if (total > 0 && done > 0) fmt_duration(eta, sizeof eta, el * (total - done) / done);
    if (total > 0)
        fprintf(stderr, "\r%s %5.1f%%  %.1f %s/s  ETA %s%s%s\033[K", p->what, 100.0 * done / total, rate,
                p->unit, eta, extra ? "  " : "", extra ? extra : "");
    else
        fprintf(stderr, "\r%s  %.1f %s/s%s%s\033[K", p->what, rate, p->unit, extra ? "  " : "", extra ? extra : "");
    p->drawn = 1;
}

void progress_end(progress *p) {
    if (p->drawn) fputc('\n', stderr);
    p->drawn = 0;
}

static void atomic_release(atomic_file *a) {
    free(a->path); free(a->tmp);
    a->f = NULL; a->path = a->tmp = NULL;
}

FILE *atomic_open(atomic_file *a, const char *path, char *err, size_t errlen) {
    size_t L = strlen(path) + 32;
    a->f = NULL;
    a->path = strdup(path);
    a->tmp = malloc(L);
    if (!a->path || !a->tmp) {
        snprintf(err, errlen, "%s: out of memory", path);
        atomic_release(a);
        errno = ENOMEM;
        return NULL;
    }
    snprintf(a->tmp, L, "%s.tmp.%d", path, (int)getpid());
    a->f = fopen(a->tmp, "wb");
    if (!a->f) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(e));
        atomic_release(a);
        errno = e;
    }
    return a->f;
}

int atomic_commit(atomic_file *a, char *err, size_t errlen) {
    if (!a->f) { snprintf(err, errlen, "%s: not open", a->path ? a->path : "(file)"); atomic_release(a); return -1; }
    /* a write error (full disk) sets the stream's error flag; fclose alone may not report it.
     * stdio keeps the bytes it could not write, so a second flush says why (ENOSPC rather
     * than a generic EIO); EIO only when that flush goes through after all. */
    int e = 0;
    if (ferror(a->f)) { clearerr(a->f); e = fflush(a->f) != 0 && errno ? errno : EIO; }
    else if (fflush(a->f) != 0 || fsync(fileno(a->f)) != 0) e = errno;
    if (fclose(a->f) != 0 && !e) e = errno;
    a->f = NULL;
    if (!e && rename(a->tmp, a->path) != 0) e = errno;
    if (e) {
        snprintf(err, errlen, "%s: cannot write: %s", a->path, strerror(e));
        unlink(a->tmp);
    }
    atomic_release(a);
    errno = e;
    return e ? -1 : 0;
}

void atomic_abort(atomic_file *a) {
    int e = errno;
    if (a->f) { fclose(a->f); unlink(a->tmp); }
    atomic_release(a);
    errno = e;
}

int write_file_atomic(const char *path, const void *buf, size_t n) {
    atomic_file a;
    char err[64];
    FILE *f = atomic_open(&a, path, err, sizeof err);
    if (!f) return -1;
    if (n && fwrite(buf, 1, n, f) != n) { int e = errno ? errno : EIO; atomic_abort(&a); errno = e; return -1; }
    return atomic_commit(&a, err, sizeof err);
}

int err_set(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

int json_escape_byte(char out[7], unsigned char c) {
    if (c == '"' || c == '\\') return snprintf(out, 7, "\\%c", c);
    if (c < 0x20) return snprintf(out, 7, "\\u%04x", (unsigned)c);
    out[0] = (char)c; out[1] = 0;
    return 1;
}

void json_escape(FILE *f, const char *s) {
    char e[7];
    for (; *s; s++) fwrite(e, 1, (size_t)json_escape_byte(e, (unsigned char)*s), f);
}
