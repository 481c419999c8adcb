#include "corpus/labels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <sys/stat.h>

void label_csv_spec(char *arg, char **file, char **col) {
    struct stat st;
    *file = arg; *col = NULL;
    if (stat(arg, &st) == 0) return;
    char *c = strrchr(arg, ':');
    if (c) { *c = 0; *col = c + 1; }
}

int label_set_find(const label_set *s, const char *name) {
    int lo = 0, hi = s->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(s->names[mid], name);
        if (!c) return mid;
        if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
}

int label_set_add(label_set *s, const char *name) {
    if (label_set_find(s, name) >= 0) return 0;
    if (s->n == s->cap) {
        int nc = s->cap ? s->cap * 2 : 16;
        char **v = realloc(s->names, (size_t)nc * sizeof *v);
        if (!v) return -1;
        s->names = v; s->cap = nc;
    }
    int i = s->n;
    while (i > 0 && strcmp(s->names[i - 1], name) > 0) { s->names[i] = s->names[i - 1]; i--; }
    s->names[i] = strdup(name);
    if (!s->names[i]) return -1;
    s->n++;
    return 0;
}

void label_set_free(label_set *s) {
    for (int i = 0; i < s->n; i++) free(s->names[i]);
    free(s->names);
    memset(s, 0, sizeof *s);
}

int label_path_match(const char *input, const char *csv_path) {
    size_t a = strlen(input), b = strlen(csv_path);
    if (b == 0 || b > a) return 0;
    if (strcmp(input + a - b, csv_path)) return 0;
    return a == b || input[a - b - 1] == '/';
}

/* Split one CSV line in place into fields (quotes allowed, no newlines inside). */
static int csv_split(char *line, char **f, int maxf) {
    int n = 0;
    char *p = line;
    size_t L = strlen(p);
    while (L && (p[L - 1] == '\n' || p[L - 1] == '\r')) p[--L] = 0;
    while (n < maxf) {
        if (*p == '"') {
            char *w = ++p, *r = p;
            f[n++] = w;
            while (*r && !(*r == '"' && r[1] != '"')) { if (*r == '"') r++; *w++ = *r++; }
            if (*r == '"') r++;
            *w = 0;
            p = r;
            if (*p == ',') { p++; continue; }
            break;
        }
        f[n++] = p;
        char *c = strchr(p, ',');
        if (!c) break;
        *c = 0;
        p = c + 1;
    }
    return n;
}

static int col_of(char **h, int n, const char *const *names) {
    for (const char *const *q = names; *q; q++)
        for (int i = 0; i < n; i++) if (!strcasecmp(h[i], *q)) return i;
    return -1;
}

#define MAXF 64
typedef struct { FILE *f; char *line; size_t cap; char *h[MAXF]; int nh; char *hline; } csv_file;

static int csv_open(csv_file *c, const char *path, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    c->f = fopen(path, "r");
    if (!c->f) { snprintf(err, errlen, "%s: cannot open: %m", path); return -1; }
    if (getline(&c->line, &c->cap, c->f) < 0) { snprintf(err, errlen, "%s: empty", path); fclose(c->f); free(c->line); return -1; }
    c->hline = strdup(c->line);
    c->nh = csv_split(c->hline, c->h, MAXF);
    return 0;
}
static void csv_close(csv_file *c) { fclose(c->f); free(c->line); free(c->hline); }

static const char *const FILE_COLS[] = { "File", "path", "file", "filename", NULL };
static const char *const LABEL_COLS[] = { "Label", "label", "class", NULL };

static int pick_label_col(csv_file *c, const char *column, const char *path, char *err, size_t errlen) {
    int lc;
    if (column && *column) {
        const char *one[] = { column, NULL };
        lc = col_of(c->h, c->nh, one);
    } else lc = col_of(c->h, c->nh, LABEL_COLS);
    if (lc < 0) snprintf(err, errlen, "%s: no label column '%s' in the header", path, column && *column ? column : "Label/label/class");
    return lc;
}

int file_labels_load(file_labels *fl, const char *path, const char *column, char *err, size_t errlen) {
    memset(fl, 0, sizeof *fl);
    csv_file c;
    if (csv_open(&c, path, err, errlen)) return -1;
    int fc = col_of(c.h, c.nh, FILE_COLS), lc = pick_label_col(&c, column, path, err, errlen);
    if (fc < 0 && lc >= 0) snprintf(err, errlen, "%s: no file column (File/path) in the header", path);
    if (fc < 0 || lc < 0) { csv_close(&c); return -1; }
    int cap = 0;
    char *f[MAXF];
    while (getline(&c.line, &c.cap, c.f) > 0) {
        int n = csv_split(c.line, f, MAXF);
        if (n <= fc || n <= lc || !*f[fc] || !*f[lc]) continue;
        if (fl->n == cap) { cap = cap ? cap * 2 : 256; fl->v = realloc(fl->v, (size_t)cap * sizeof *fl->v); }
        fl->v[fl->n].path = strdup(f[fc]);
        fl->v[fl->n].label = strdup(f[lc]);
        fl->n++;
    }
    csv_close(&c);
    return 0;
}

const char *file_labels_find(const file_labels *fl, const char *input) {
    for (int i = 0; i < fl->n; i++) if (label_path_match(input, fl->v[i].path)) return fl->v[i].label;
    return NULL;
}

void file_labels_free(file_labels *fl) {
    for (int i = 0; i < fl->n; i++) { free(fl->v[i].path); free(fl->v[i].label); }
    free(fl->v);
    memset(fl, 0, sizeof *fl);
}

static const char *base_name(const char *p) { const char *s = strrchr(p, '/'); return s ? s + 1 : p; }

/* Hash of (basename, proto, endpoints in a canonical order). */
static uint64_t flow_hash(const char *path, int ver, int proto, const uint8_t *a0, uint16_t p0, const uint8_t *a1, uint16_t p1) {
    int alen = ver == 4 ? 4 : 16;
    int c = memcmp(a0, a1, (size_t)alen);
    if (c > 0 || (c == 0 && p0 > p1)) { const uint8_t *t = a0; a0 = a1; a1 = t; uint16_t q = p0; p0 = p1; p1 = q; }
    uint64_t h = 14695981039346656037ull;
#define H(b) h = (h ^ (uint8_t)(b)) * 1099511628211ull
    for (const char *s = base_name(path); *s; s++) H(*s);
    H(ver); H(proto);
    for (int i = 0; i < alen; i++) H(a0[i]);
    for (int i = 0; i < alen; i++) H(a1[i]);
    H(p0); H(p0 >> 8); H(p1); H(p1 >> 8);
#undef H
    return h;
}

static int parse_ip(const char *s, uint8_t *ver, uint8_t out[16]) {
    memset(out, 0, 16);
    if (inet_pton(AF_INET, s, out) == 1) { *ver = 4; return 0; }
    if (inet_pton(AF_INET6, s, out) == 1) { *ver = 6; return 0; }
    return -1;
}

static int same_endpoints(const flow_label *r, int ver, int proto, const uint8_t *a0, uint16_t p0, const uint8_t *a1, uint16_t p1) {
    int alen = ver == 4 ? 4 : 16;
    if (r->ver != ver || r->proto != proto) return 0;
    if (!memcmp(r->addr[0], a0, (size_t)alen) && r->port[0] == p0 && !memcmp(r->addr[1], a1, (size_t)alen) && r->port[1] == p1) return 1;
    return !memcmp(r->addr[0], a1, (size_t)alen) && r->port[0] == p1 && !memcmp(r->addr[1], a0, (size_t)alen) && r->port[1] == p0;
}

int flow_labels_load(flow_labels *fl, const char *path, const char *column, char *err, size_t errlen) {
    memset(fl, 0, sizeof *fl);
    csv_file c;
    if (csv_open(&c, path, err, errlen)) return -1;
    static const char *const PROTO[] = { "l4", "proto", "protocol", NULL };
    static const char *const AIP[] = { "a_ip", "src_ip", "saddr", NULL }, *const APORT[] = { "a_port", "src_port", "sport", NULL };
    static const char *const BIP[] = { "b_ip", "dst_ip", "daddr", NULL }, *const BPORT[] = { "b_port", "dst_port", "dport", NULL };
    int fc = col_of(c.h, c.nh, FILE_COLS), pc = col_of(c.h, c.nh, PROTO);
    int ac = col_of(c.h, c.nh, AIP), apc = col_of(c.h, c.nh, APORT), bc = col_of(c.h, c.nh, BIP), bpc = col_of(c.h, c.nh, BPORT);
    int lc = pick_label_col(&c, column, path, err, errlen);
    if (lc < 0) { csv_close(&c); return -1; }
    if (fc < 0 || pc < 0 || ac < 0 || apc < 0 || bc < 0 || bpc < 0) {
        snprintf(err, errlen, "%s: a per-flow label file needs columns path, l4, a_ip, a_port, b_ip, b_port (or src_/dst_)", path);
        csv_close(&c); return -1;
    }
    int cap = 0;
    char *f[MAXF];
    while (getline(&c.line, &c.cap, c.f) > 0) {
        int n = csv_split(c.line, f, MAXF);
        int cols[] = { pc, ac, apc, bc, bpc, lc }, need = fc;
        for (int k = 0; k < 6; k++) need = cols[k] > need ? cols[k] : need;
        if (n <= need || !*f[lc]) continue;
        flow_label r = { 0 };
        uint8_t v2;
        if (parse_ip(f[ac], &r.ver, r.addr[0]) || parse_ip(f[bc], &v2, r.addr[1]) || v2 != r.ver) continue;
        r.proto = (uint8_t)atoi(f[pc]);
        r.port[0] = (uint16_t)atoi(f[apc]); r.port[1] = (uint16_t)atoi(f[bpc]);
        if (fl->n == cap) { cap = cap ? cap * 2 : 1024; fl->v = realloc(fl->v, (size_t)cap * sizeof *fl->v); }
        r.path = strdup(f[fc]); r.label = strdup(f[lc]);
        fl->v[fl->n++] = r;
    }
    csv_close(&c);
    fl->nslots = 64;
    while (fl->nslots < (size_t)fl->n * 2) fl->nslots *= 2;
    fl->slots = calloc(fl->nslots, sizeof *fl->slots);
    fl->next = calloc((size_t)fl->n + 1, sizeof *fl->next);
    for (int i = 0; i < fl->n; i++) {
        flow_label *r = &fl->v[i];
        size_t s = flow_hash(r->path, r->ver, r->proto, r->addr[0], r->port[0], r->addr[1], r->port[1]) & (fl->nslots - 1);
        fl->next[i] = fl->slots[s];
        fl->slots[s] = (uint32_t)i + 1;
    }
    return 0;
}

const char *flow_labels_find(const flow_labels *fl, const char *input, int ver, int proto,
                             const uint8_t *a0, uint16_t p0, const uint8_t *a1, uint16_t p1) {
    if (!fl->n) return NULL;
    size_t s = flow_hash(input, ver, proto, a0, p0, a1, p1) & (fl->nslots - 1);
    for (uint32_t i = fl->slots[s]; i; i = fl->next[i - 1]) {
        const flow_label *r = &fl->v[i - 1];
        if (same_endpoints(r, ver, proto, a0, p0, a1, p1) && label_path_match(input, r->path)) return r->label;
    }
    return NULL;
}

void flow_labels_free(flow_labels *fl) {
    for (int i = 0; i < fl->n; i++) { free(fl->v[i].path); free(fl->v[i].label); }
    free(fl->v); free(fl->slots); free(fl->next);
    memset(fl, 0, sizeof *fl);
}
