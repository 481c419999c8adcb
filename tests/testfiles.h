/* Test helpers shared by the capture tests: a growable byte buffer that writes integers in
 * either byte order (hand-made captures), and the list of regular files below a directory. */
#ifndef PKTLM_TESTFILES_H
#define PKTLM_TESTFILES_H
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct { uint8_t *b; size_t n, cap; int be; } tbuf;   /* be: integers big-endian */

static __attribute__((unused)) void tb_put(tbuf *w, const void *p, size_t n) {
    if (w->n + n > w->cap) { w->cap = (w->n + n) * 2 + 256; w->b = realloc(w->b, w->cap); }
    memcpy(w->b + w->n, p, n);
    w->n += n;
}
static __attribute__((unused)) void tb_u32(tbuf *w, uint32_t v) {
    uint8_t x[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    if (w->be) { uint8_t t = x[0]; x[0] = x[3]; x[3] = t; t = x[1]; x[1] = x[2]; x[2] = t; }
    tb_put(w, x, 4);
}
static __attribute__((unused)) void tb_u16(tbuf *w, uint16_t v) {
    uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
    if (w->be) { uint8_t t = x[0]; x[0] = x[1]; x[1] = t; }
    tb_put(w, x, 2);
}

typedef struct { char **v; int n, cap; } tlist;

static __attribute__((unused)) void tl_push(tlist *l, const char *s) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->v = realloc(l->v, (size_t)l->cap * sizeof *l->v);
    }
    l->v[l->n++] = strdup(s);
}
static __attribute__((unused)) void tl_free(tlist *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}
static int tl_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static __attribute__((unused)) void tl_sort(tlist *l) { if (l->n > 1) qsort(l->v, (size_t)l->n, sizeof *l->v, tl_cmp); }

/* Every regular file below dir, recursively (symlinks not followed), each directory's entries
 * in name order: the order `pktlm` walks a folder in (src/cli/common.c), so file indices (and
 * with them prep's anonymisation keys) are the ones the command line gives. */
static __attribute__((unused)) void t_walk(const char *dir, tlist *out) {
    DIR *d = opendir(dir);
    if (!d) return;
    tlist names = { 0 };
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') tl_push(&names, e->d_name);
    closedir(d);
    tl_sort(&names);
    char path[4096];
    for (int i = 0; i < names.n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names.v[i]);
        struct stat st;
        if (lstat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) t_walk(path, out);
        else if (S_ISREG(st.st_mode)) tl_push(out, path);
    }
    tl_free(&names);
}
/* read_back: the first max records of a capture, each with its bytes copied (at most 1600),
 * for tests that check what a writer wrote; -1 if it does not open */
#include "capture/capture.h"
typedef struct { cap_pkt p; uint8_t d[1600]; } rec;
static __attribute__((unused)) int read_back(const char *path, rec *out, int max) {
    cap_reader r;
    if (cap_open(&r, path) != 0) return -1;
    cap_pkt p;
    int n = 0;
    while (n < max && cap_next(&r, &p) == 1) {
        out[n].p = p;
        if (out[n].p.caplen > sizeof out[n].d) out[n].p.caplen = sizeof out[n].d;
        memcpy(out[n].d, p.data, out[n].p.caplen);
        out[n].p.data = out[n].d;
        n++;
    }
    cap_close(&r);
    return n;
}

#endif
