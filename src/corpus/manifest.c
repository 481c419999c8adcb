/* Prep options read back from a corpus's manifest.json: see manifest.h. */
#include "corpus/manifest.h"
#include "corpus/prepopts.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *path, *text;
    size_t lo, hi;        /* the object searched: text[lo, hi) */
    char *err; size_t errlen;
} mf;

/* offset of the value of "key" inside [lo, hi), or -1 (error set) */
static long find_key(mf *m, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    size_t pl = strlen(pat);
    for (size_t i = m->lo; i + pl <= m->hi; i++) {
        if (memcmp(m->text + i, pat, pl)) continue;
        size_t v = i + pl;
        while (v < m->hi && (m->text[v] == ' ' || m->text[v] == '\n')) v++;
        return (long)v;
    }
    snprintf(m->err, m->errlen, "%s: no \"%s\" in the config object (bytes %zu..%zu): not a manifest written by pktlm prep",
             m->path, key, m->lo, m->hi);
    return -1;
}

/* 1 when "key" is in the config object (optional keys of later versions) */
static int find_key_opt(mf *m, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    size_t pl = strlen(pat);
    for (size_t i = m->lo; i + pl <= m->hi; i++)
        if (!memcmp(m->text + i, pat, pl)) return 1;
    return 0;
}

static int get_num(mf *m, const char *key, double lo, double hi, double *out) {
    long v = find_key(m, key);
    if (v < 0) return -1;
    char *end;
    errno = 0;
    double d = strtod(m->text + v, &end);
    if (end == m->text + v || errno || !(d >= lo && d <= hi)) {
        snprintf(m->err, m->errlen, "%s: byte %ld: \"%s\" is not a number in [%g, %g]", m->path, v, key, lo, hi);
        return -1;
    }
    *out = d;
    return 0;
}

static int get_int(mf *m, const char *key, int lo, int hi, int *out) {
    double d;
    if (get_num(m, key, lo, hi, &d)) return -1;
    *out = (int)d;
    return 0;
}

static int get_bool(mf *m, const char *key, int *out) {
    long v = find_key(m, key);
    if (v < 0) return -1;
    if (!strncmp(m->text + v, "true", 4)) *out = 1;
    else if (!strncmp(m->text + v, "false", 5)) *out = 0;
    else { snprintf(m->err, m->errlen, "%s: byte %ld: \"%s\" is not true or false", m->path, v, key); return -1; }
    return 0;
}

/* a string value, one of names[0..n): its index */
static int get_choice(mf *m, const char *key, const char *const *names, int n, int *out) {
    long v = find_key(m, key);
    if (v < 0) return -1;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(names[i]);
        if (m->text[v] == '"' && !strncmp(m->text + v + 1, names[i], l) && m->text[v + 1 + l] == '"') { *out = i; return 0; }
    }
    snprintf(m->err, m->errlen, "%s: byte %ld: unknown value of \"%s\"", m->path, v, key);
    return -1;
}

/* [a, b, ...] of integers in [0, hi], at most max of them */
static int get_list(mf *m, const char *key, long hi, int max, long *out, int *n) {
    long v = find_key(m, key);
    if (v < 0) return -1;
    const char *p = m->text + v;
    *n = 0;
    if (*p++ != '[') goto bad;
    for (;;) {
        while (*p == ' ') p++;
        if (*p == ']') return 0;
        char *end;
        long x = strtol(p, &end, 10);
        if (end == p || x < 0 || x > hi || *n >= max) goto bad;
        out[(*n)++] = x;
        p = end;
        while (*p == ' ') p++;
        if (*p == ',') p++;
        else if (*p != ']') goto bad;
    }
bad:
    snprintf(m->err, m->errlen, "%s: byte %ld: \"%s\" is not a list of at most %d numbers up to %ld", m->path, v, key, max, hi);
    return -1;
}

int prep_cfg_from_manifest(const char *corpus_dir, prep_cfg *c, int *secret_used, char *err, size_t errlen) {
    char path[4200];
    snprintf(path, sizeof path, "%s/manifest.json", corpus_dir);
    prep_cfg_default(c);
    *secret_used = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return errno == ENOENT ? 1 : -1;
    }
    /* the config object sits near the top: the first 64 KB hold it (inputs follow it) */
    char *text = malloc(65537);
    if (!text) { fclose(f); snprintf(err, errlen, "out of memory"); return -1; }
    size_t n = fread(text, 1, 65536, f);
    fclose(f);
    text[n] = 0;
    mf m = { .path = path, .text = text, .lo = 0, .hi = n, .err = err, .errlen = errlen };
    int rc = -1;
    if (!strstr(text, "\"format\": \"pktlm-corpus\"")) {
        snprintf(err, errlen, "%s: not a pktlm corpus manifest (no \"format\": \"pktlm-corpus\")", path);
        goto done;
    }
    /* "seed" (top level) comes before "config"; the config object has no nested objects */
    const char *cfg = strstr(text, "\"config\": {");
    const char *cend = cfg ? strchr(cfg, '}') : NULL;
    if (!cfg || !cend) { snprintf(err, errlen, "%s: no complete \"config\" object in the first 64 KB", path); goto done; }
    m.hi = (size_t)(cfg - text);
    long sv = find_key(&m, "seed");
    if (sv < 0) goto done;
    char *end;
    errno = 0;
    c->seed = strtoull(text + sv, &end, 10);
    if (end == text + sv || errno || text[sv] == '-') { snprintf(err, errlen, "%s: byte %ld: \"seed\" is not a number", path, sv); goto done; }
    m.lo = (size_t)(cfg - text); m.hi = (size_t)(cend - text) + 1;
    static const char *const units[] = { "flow", "packet", "capture" }, *const addrs[] = { "prefix", "random", "keep" },
                             *const csums[] = { "update", "zero" }, *const scopes[] = { "flow", "capture" };
    int anon_addr = 0;
    if (get_choice(&m, "unit", units, 3, &c->unit) || get_int(&m, "max_packets", 0, 1 << 30, &c->max_pkts) ||
        get_int(&m, "min_flow_packets", 0, 1 << 30, &c->min_flow_pkts) ||
        get_int(&m, "max_flow_packets", 0, 1 << 30, &c->max_flow_pkts) ||
        get_int(&m, "payload_bytes", 0, 1 << 30, &c->payload) || get_int(&m, "max_bytes", 1, 1 << 30, &c->max_bytes) ||
        get_int(&m, "window", 0, 1 << 30, &c->window) || get_bool(&m, "drop_dhcp", &c->drop_dhcp) ||
        get_bool(&m, "anonymise", &c->anonymise) || get_choice(&m, "addresses", addrs, 3, &anon_addr) ||
        get_bool(&m, "ids", &c->anon.ids) || get_bool(&m, "mask_ports", &c->anon.mask_ports) ||
        get_choice(&m, "checksums", csums, 2, &c->anon.csum) || get_bool(&m, "secret", secret_used) ||
        get_choice(&m, "address_scope", scopes, 2, &c->anon.scope) ||
        get_num(&m, "tcp_timeout", 0, 1e12, &c->flows.tcp_timeout) || get_num(&m, "udp_timeout", 0, 1e12, &c->flows.udp_timeout))
        goto done;
    /* token format: manifests before formats existed have none (bytes) */
    static const char *const fmts[] = { "bytes", "fields", "bigrams", "bpe" };
    if (find_key_opt(&m, "tokens") && get_choice(&m, "tokens", fmts, TOKFMT_COUNT, &c->tokens)) goto done;
    if (find_key_opt(&m, "complete_only") && get_bool(&m, "complete_only", &c->complete_only)) goto done;
    if (c->anonymise) c->anon.addr = anon_addr;
    else anon_cfg_default(&c->anon);   /* prep writes "keep"/false then: the settings are unused */
    long list[32];
    int k;
    if (get_list(&m, "drop_ports", 65535, 32, list, &k)) goto done;
    c->ndrop_ports = k;
    for (int i = 0; i < k; i++) c->drop_ports[i] = (uint16_t)list[i];
    if (get_list(&m, "drop_protos", 255, 32, list, &k)) goto done;
    c->ndrop_protos = k;
    for (int i = 0; i < k; i++) c->drop_protos[i] = (uint8_t)list[i];
    rc = 0;
done:
    free(text);
    return rc;
}

static void list_str(char *b, size_t n, const void *v, int k, int wide) {
    size_t l = 0;
    b[0] = 0;
    for (int i = 0; i < k && l + 8 < n; i++)
        l += (size_t)snprintf(b + l, n - l, "%s%u", i ? "," : "", wide ? ((const uint16_t *)v)[i] : ((const uint8_t *)v)[i]);
    if (!k) snprintf(b, n, "none");
}

/* the value of prep option o in c as its command line writes it ("32", "random", "53,443"),
 * a flag as "given" / "not given" */
static void opt_value(const prep_opt *o, const prep_cfg *c, char *b, size_t n) {
    const char *p = (const char *)c + o->off;
    b[0] = 0;
    switch (o->type) {
    case PO_INT: snprintf(b, n, "%d", *(const int *)p); break;
    case PO_DOUBLE: snprintf(b, n, "%g", *(const double *)p); break;
    case PO_U64: snprintf(b, n, "%llu", (unsigned long long)*(const uint64_t *)p); break;
    case PO_FLAG: snprintf(b, n, "%s", *(const int *)p == o->value ? "given" : "not given"); break;
    case PO_CHOICE: {
        const char *w = o->words;
        for (int i = 0; w && i < *(const int *)p; i++) { w = strchr(w, '|'); if (w) w++; }
        snprintf(b, n, "%.*s", w ? (int)strcspn(w, "|") : 1, w ? w : "?");
        break;
    }
    case PO_PORTS:
    case PO_PROTOS: list_str(b, n, p, *(const int *)((const char *)c + o->count_off), o->type == PO_PORTS); break;
    default: break;
    }
}

/* o is the same in a and b (timeouts: within a relative 1e-9, what the manifest's %g keeps) */
static int opt_same(const prep_opt *o, const prep_cfg *a, const prep_cfg *b, const char *va, const char *vb) {
    if (o->type != PO_DOUBLE) return !strcmp(va, vb);
    double x = *(const double *)((const char *)a + o->off), y = *(const double *)((const char *)b + o->off);
    return !(fabs(x - y) > 1e-9 * fabs(x));
}

int prep_cfg_diff(const prep_cfg *a, const prep_cfg *b, char *buf, size_t n) {
    for (int i = 0; i < prep_nopts; i++) {
        const prep_opt *o = &prep_opts[i];
        if (o->tokens != 1 || (o->anon && (!a->anonymise || !b->anonymise))) continue;
        char va[256], vb[256];
        opt_value(o, a, va, sizeof va);
        opt_value(o, b, vb, sizeof vb);
        if (!opt_same(o, a, b, va, vb)) { snprintf(buf, n, "%s %s vs %s", o->flag, va, vb); return 1; }
    }
    if (n) buf[0] = 0;
    return 0;
}

void prep_cfg_describe(const prep_cfg *c, char *buf, size_t n) {
    prep_cfg d;
    prep_cfg_default(&d);
    size_t l = 0;
    buf[0] = 0;
    for (int i = 0; i < 2 * prep_nopts && l < n; i++) {   /* the seed (tokens 2) last */
        const prep_opt *o = &prep_opts[i % prep_nopts];
        if (o->tokens != 1 + (i >= prep_nopts) || (o->anon && !c->anonymise)) continue;
        char v[256], dv[256];
        opt_value(o, c, v, sizeof v);
        opt_value(o, &d, dv, sizeof dv);
        if (opt_same(o, c, &d, v, dv)) continue;
        if (o->type == PO_FLAG) l += (size_t)snprintf(buf + l, n - l, "%s%s", l ? " " : "", o->flag);
        else l += (size_t)snprintf(buf + l, n - l, "%s%s %s", l ? " " : "", o->flag, v);
    }
}

/* A JSON string as util's json_escape writes it (\" \\ and \u00XX escapes) starting at p (after
 * the opening quote): malloc'd, *end just past the closing quote. NULL when malformed. */
static char *json_str(const char *p, const char **end) {
    size_t n = 0;
    char *o = malloc(strlen(p) + 1);
    if (!o) return NULL;
    for (; *p && *p != '"'; p++) {
        if (*p != '\\') { o[n++] = *p; continue; }
        p++;
        if (*p == '"' || *p == '\\' || *p == '/') o[n++] = *p;
        else if (*p == 'u' && p[1] && p[2] && p[3] && p[4]) {
            char h[5] = { p[1], p[2], p[3], p[4], 0 }, *e;
            unsigned long v = strtoul(h, &e, 16);
            if (*e || v > 0x7f) break;
            o[n++] = (char)v;
            p += 4;
        } else break;
    }
    if (*p != '"') { free(o); return NULL; }
    o[n] = 0;
    *end = p + 1;
    return o;
}

char **manifest_input_paths(const char *corpus_dir, int *n, char *err, size_t errlen) {
    char path[4200];
    snprintf(path, sizeof path, "%s/manifest.json", corpus_dir);
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
    char *text = NULL, *line = NULL, **v = NULL;
    size_t cap = 0;
    int m = 0, in = 0, bad = 0;
    long off = 0;
    ssize_t len;
    /* prep writes one input a line between "inputs": [ and ] */
    while (!bad && (len = getline(&line, &cap, f)) > 0) {
        if (!in) { in = strstr(line, "\"inputs\": [") != NULL; off += len; continue; }
        const char *p = line;
        while (*p == ' ') p++;
        if (*p == ']') { in = 2; break; }
        const char *e;
        if (strncmp(p, "{\"path\": \"", 10) || !(text = json_str(p + 10, &e))) { bad = 1; break; }
        if (*n == m) {
            m = m ? 2 * m : 64;
            char **q = realloc(v, (size_t)m * sizeof *q);
            if (!q) { free(text); bad = 1; break; }
            v = q;
        }
        v[(*n)++] = text;
        off += len;
    }
    free(line);
    fclose(f);
    if (bad || in != 2) {
        if (bad) snprintf(err, errlen, "%s: byte %ld: an \"inputs\" entry without a \"path\" string", path, off);
        else snprintf(err, errlen, "%s: no \"inputs\" list: not a manifest written by pktlm prep", path);
        for (int i = 0; i < *n; i++) free(v[i]);
        free(v);
        *n = 0;
        return NULL;
    }
    return v;
}
