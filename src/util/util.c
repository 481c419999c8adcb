#include "util/util.h"
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
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

static void fmt_eta(char *buf, size_t n, double s) {
    if (s < 0 || s > 1e7) snprintf(buf, n, "?");
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
    if (total > 0 && done > 0) fmt_eta(eta, sizeof eta, el * (total - done) / done);
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

int write_file_atomic(const char *path, const void *buf, size_t n) {
    size_t L = strlen(path) + 32;
    char *tmp = malloc(L);
    if (!tmp) return -1;
    snprintf(tmp, L, "%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { free(tmp); return -1; }
    const char *p = buf;
    size_t left = n;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w <= 0) { close(fd); unlink(tmp); free(tmp); return -1; }
        p += w; left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) { unlink(tmp); free(tmp); return -1; }
    free(tmp);
    return 0;
}
