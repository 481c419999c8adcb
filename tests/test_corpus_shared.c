/* pktlm prep on the real captures of ../shared/data (skipped when absent):
 * iot_sentinel (labels = device folder) and ndpi (per-flow nDPI labels) build, their
 * manifest counts agree with the shards, and predicting the label from the anonymised
 * addresses alone is no better than chance (while it is with addresses kept). */
#include "test.h"
#include "corpus/prep.h"
#include "corpus/shard.h"
#include "capture/capture.h"
#include "util/util.h"
#include "testfiles.h"
#include <sys/stat.h>

typedef tlist list;
/* The captures below dir (.pcap, .pcapng, .cap), in walk order. */
static void walk(const char *dir, list *l) {
    tlist all = { 0 };
    t_walk(dir, &all);
    for (int i = 0; i < all.n; i++) {
        const char *x = strrchr(all.v[i], '.');
        if (x && (!strcmp(x, ".pcap") || !strcmp(x, ".pcapng") || !strcmp(x, ".cap"))) {
            if (l->n == l->cap) { l->cap = l->cap ? l->cap * 2 : 256; l->v = realloc(l->v, (size_t)l->cap * sizeof *l->v); }
            l->v[l->n++] = all.v[i];
        } else free(all.v[i]);
    }
    free(all.v);
}
static void list_free(list *l) { tl_free(l); }

static char *parent(const char *p) {
    const char *e = strrchr(p, '/'), *b = e;
    while (b > p && b[-1] != '/') b--;
    return strndup(b, (size_t)(e - b));
}

/* the number after "key": in a JSON text (first occurrence after `from`) */
static long long jnum(const char *js, const char *from, const char *key) {
    const char *p = from ? strstr(js, from) : js;
    if (!p) return -1;
    char k[128];
    snprintf(k, sizeof k, "\"%s\": ", key);
    p = strstr(p, k);
    return p ? atoll(p + strlen(k)) : -1;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long L = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = calloc(1, (size_t)L + 1);
    if (fread(b, 1, (size_t)L, f) != (size_t)L) { free(b); b = NULL; }
    fclose(f);
    return b;
}

/* Build a corpus; files with per-file labels from the parent folder unless fl. */
static int build(const char *out, list *files, const flow_labels *fl, int addr_mode, int split, int stride) {
    label_set ls = { 0 };
    if (fl) { for (int i = 0; i < fl->n; i++) label_set_add(&ls, fl->v[i].label); }
    else for (int i = 0; i < files->n; i += stride) { char *p = parent(files->v[i]); label_set_add(&ls, p); free(p); }
    prep_cfg cfg;
    prep_cfg_default(&cfg);
    cfg.anon.addr = addr_mode;
    cfg.split = split;
    char *argv[] = { "prep", "shared-test" };
    prep *p = prep_new(&cfg, &ls, fl, 2, argv);
    char err[1024];
    for (int i = 0; i < files->n; i += stride) {
        char *pn = parent(files->v[i]);
        prep_add_file(p, files->v[i], fl ? -1 : label_set_find(&ls, pn), err, sizeof err);
        free(pn);
    }
    int rc = prep_finish(p, out, err, sizeof err);
    if (rc) printf("  %s\n", err);
    prep_free(p);
    label_set_free(&ls);
    return rc;
}

/* Manifest counts against the shards. */
static void check_manifest(const char *dir) {
    char path[700];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    char *js = slurp(path);
    CHECK(js != NULL);
    if (!js) return;
    static const char *nm[3] = { "train", "val", "test" };
    long long sum = 0, tok = 0;
    for (int k = 0; k < 3; k++) {
        shard s;
        char err[512], key[32];
        snprintf(path, sizeof path, "%s/%s.tok", dir, nm[k]);
        CHECK_EQ(shard_load(&s, path, err, sizeof err), 0);
        snprintf(key, sizeof key, "\"%s\": {\"file\"", nm[k]);
        CHECK_EQ(jnum(js, key, "sequences"), (long long)s.n_seqs);
        CHECK_EQ(jnum(js, key, "tokens"), (long long)s.n_tokens);
        sum += (long long)s.n_seqs;
        tok += (long long)s.n_tokens;
        /* per-label counts of this split add up to its sequences */
        const char *lab = strstr(strstr(js, key), "\"labels\": {");
        long long ls = 0;
        for (const char *q = lab + 11; *q && *q != '}'; q++) if (*q == ':') ls += atoll(q + 1);
        CHECK_EQ(ls, (long long)s.n_seqs);
        shard_free(&s);
    }
    long long seqs = jnum(js, "\"counts\"", "sequences"), kept = jnum(js, "\"counts\"", "sequences_kept");
    long long dv = jnum(js, "duplicates_removed", "val"), dt = jnum(js, "duplicates_removed", "test");
    CHECK_EQ(kept, sum);
    CHECK_EQ(seqs - dv - dt - jnum(js, "duplicates_removed", "train"), kept);
    long long flows = jnum(js, "\"counts\"", "flows"), fk = jnum(js, "\"counts\"", "flows_kept");
    long long d1 = jnum(js, "flows_dropped", "filter"), d2 = jnum(js, "flows_dropped", "min_packets"), d3 = jnum(js, "flows_dropped", "max_packets");
    CHECK_EQ(flows, fk + d1 + d2 + d3);
    CHECK_EQ(seqs, fk);   /* flow unit: one sequence per kept flow */
    CHECK(tok > 0);
    free(js);
}

/* Address lookup: label of a test sequence predicted from its first packet's (src, dst)
 * pair as seen in train (majority label of that pair), else the majority class. */
typedef struct { uint8_t a[32]; int label; } pairrow;
static int addr_pair(const shard *s, const shard_seq *q, uint8_t out[32]) {
    tok_reader r;
    tok_packet p;
    uint8_t b[64];
    tok_reader_init(&r, s->tokens + q->off, q->len, 0);
    if (tok_reader_next(&r, &p, b, sizeof b) != 1 || p.n < 20) return -1;
    memset(out, 0, 32);
    if (b[0] >> 4 == 4) { memcpy(out, b + 12, 4); memcpy(out + 16, b + 16, 4); return 0; }
    if (b[0] >> 4 == 6 && p.n >= 40) { memcpy(out, b + 8, 32); return 0; }
    return -1;
}
static void lookup_acc(const char *dir, double *acc, double *chance, long *ntest) {
    char path[700], err[512];
    shard tr, te;
    snprintf(path, sizeof path, "%s/train.tok", dir);
    shard_load(&tr, path, err, sizeof err);
    snprintf(path, sizeof path, "%s/test.tok", dir);
    shard_load(&te, path, err, sizeof err);
    int nl = tr.n_labels;
    long *cnt = calloc((size_t)nl + 1, sizeof *cnt);
    pairrow *rows = malloc((tr.n_seqs + 1) * sizeof *rows);
    long nr = 0;
    for (uint64_t i = 0; i < tr.n_seqs; i++) {
        if (tr.seqs[i].label < 0) continue;
        cnt[tr.seqs[i].label]++;
        if (addr_pair(&tr, &tr.seqs[i], rows[nr].a) == 0) rows[nr++].label = tr.seqs[i].label;
    }
    int maj = 0;
    for (int l = 1; l < nl; l++) if (cnt[l] > cnt[maj]) maj = l;
    long ok = 0, okmaj = 0, n = 0;
    long *votes = calloc((size_t)nl + 1, sizeof *votes);
    for (uint64_t i = 0; i < te.n_seqs; i++) {
        const shard_seq *q = &te.seqs[i];
        if (q->label < 0) continue;
        uint8_t a[32];
        int pred = maj;
        if (addr_pair(&te, q, a) == 0) {
            memset(votes, 0, (size_t)nl * sizeof *votes);
            long any = 0;
            for (long k = 0; k < nr; k++) if (!memcmp(rows[k].a, a, 32)) { votes[rows[k].label]++; any++; }
            if (any) { pred = 0; for (int l = 1; l < nl; l++) if (votes[l] > votes[pred]) pred = l; }
        }
        ok += pred == q->label;
        okmaj += maj == q->label;
        n++;
    }
    *acc = n ? (double)ok / n : 0;
    *chance = n ? (double)okmaj / n : 0;
    *ntest = n;
    free(cnt); free(rows); free(votes);
    shard_free(&tr); shard_free(&te);
}

/* Every unicast IPv4 address in a capture's IP headers and every MAC in its Ethernet
 * headers, searched for in the bytes of that capture's sequences in the corpus. Keys are
 * (file index in the corpus, value): addresses of other captures are not what the
 * anonymiser promises to remove (and low-entropy ones like 0.0.0.1 match payload bytes
 * everywhere). */
static int cmp64(const void *a, const void *b) { uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b; return x < y ? -1 : x > y; }
typedef struct { uint64_t *v; size_t n, cap; } vec;
static void push64(vec *v, uint64_t x) {
    if (v->n == v->cap) { v->cap = v->cap ? v->cap * 2 : 4096; v->v = realloc(v->v, v->cap * 8); }
    v->v[v->n++] = x;
}
static void uniq(vec *v) {
    qsort(v->v, v->n, 8, cmp64);
    size_t u = 0;
    for (size_t j = 0; j < v->n; j++) if (!u || v->v[u - 1] != v->v[j]) v->v[u++] = v->v[j];
    v->n = u;
}
/* Text forms in one packet's bytes t[0..n): dotted quads (IPv4), reverse-DNS names in label
 * form (d.c.b.a.in-addr), and MACs written as six hex pairs with ':' or '-', or as 12 bare
 * hex digits (any case), looked up among the capture's originals. */
static int hexv(int c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; }
static void scan_text(const uint8_t *t, size_t n, uint64_t f, const vec *v4, const vec *mac, long *h4, long *hm) {
    for (size_t i = 0; i < n; i++) {
        if (t[i] >= 1 && t[i] <= 3) {   /* reverse-DNS name: "\x0258\x0210\x0210\x0210\x07in-addr" */
            uint64_t x = 0;
            size_t j = i;
            int k = 0;
            for (; k < 4; k++) {
                size_t L = j < n ? t[j] : 0;
                unsigned v = 0, d = 1;
                if (L < 1 || L > 3 || j + 1 + L > n) break;
                for (; d <= L && t[j + d] >= '0' && t[j + d] <= '9'; d++) v = v * 10 + (unsigned)(t[j + d] - '0');
                if (d <= L || v > 255) break;
                x |= (uint64_t)v << (8 * k);
                j += 1 + L;
            }
            uint64_t key = f << 32 | x;
            if (k == 4 && j + 8 <= n && t[j] == 7 && !memcmp(t + j + 1, "in-addr", 7) && bsearch(&key, v4->v, v4->n, 8, cmp64)) (*h4)++;
        }
        if (t[i] >= '0' && t[i] <= '9' && (i == 0 || !((t[i - 1] >= '0' && t[i - 1] <= '9') || t[i - 1] == '.'))) {
            uint64_t x = 0;
            size_t j = i;
            int k = 0;
            for (; k < 4; k++) {
                if (k) { if (j >= n || t[j] != '.') break; j++; }
                unsigned v = 0, d = 0;
                while (j < n && t[j] >= '0' && t[j] <= '9' && d < 3) { v = v * 10 + (unsigned)(t[j] - '0'); j++; d++; }
                if (!d || v > 255) break;
                x = x << 8 | v;
            }
            uint64_t key = f << 32 | x;
            if (k == 4 && bsearch(&key, v4->v, v4->n, 8, cmp64)) (*h4)++;
        }
        if (hexv(t[i]) >= 0 && i + 17 <= n && (t[i + 2] == ':' || t[i + 2] == '-')) {
            uint64_t x = 0;
            int k = 0;
            for (; k < 6; k++) {
                int hi = hexv(t[i + 3 * k]), lo = hexv(t[i + 3 * k + 1]);
                if (hi < 0 || lo < 0 || (k < 5 && t[i + 3 * k + 2] != t[i + 2])) break;
                x = x << 8 | (uint64_t)(hi << 4 | lo);
            }
            uint64_t key = f << 48 | x;
            if (k == 6 && bsearch(&key, mac->v, mac->n, 8, cmp64)) (*hm)++;
        }
        if (i + 12 <= n) {
            uint64_t x = 0;
            int k = 0;
            for (; k < 12 && hexv(t[i + k]) >= 0; k++) x = x << 4 | (uint64_t)hexv(t[i + k]);
            uint64_t key = f << 48 | x;
            if (k == 12 && bsearch(&key, mac->v, mac->n, 8, cmp64)) (*hm)++;
        }
    }
}

static void scan_originals(const char *dir, list *files, int stride) {
    vec v4 = { 0 }, mac = { 0 };
    uint64_t fi = 0;
    for (int i = 0; i < files->n; i += stride, fi++) {
        cap_reader r;
        cap_pkt k;
        if (cap_open(&r, files->v[i]) != 0) { cap_close(&r); continue; }
        while (cap_next(&r, &k) == 1) {
            pkt_info pi;
            int st = pkt_parse(k.linktype, k.data, k.caplen, k.len, &pi);
            if (k.linktype == LT_ETHERNET && k.caplen >= 12)
                for (int m = 0; m < 2; m++) {
                    const uint8_t *a = k.data + 6 * m;
                    uint64_t x = (uint64_t)rd16be(a) << 32 | rd32be(a + 2);
                    int flat = a[0] == a[1] && a[1] == a[2] && a[2] == a[3] && a[3] == a[4] && a[4] == a[5];
                    if (!(a[0] & 1) && !flat) push64(&mac, fi << 48 | x);
                }
            if (st != PKT_IP || pi.ipver != 4) continue;
            for (int m = 0; m < 2; m++) {
                const uint8_t *a = m ? pi.dst : pi.src;
                uint32_t x = rd32be(a);
                /* flat patterns (170.170.170.170 in fuzzed captures) are not addresses a
                 * model could learn a host from, and fill whole payloads */
                int flat = a[0] == a[1] && a[1] == a[2] && a[2] == a[3];
                if (!flat && a[0] != 127 && (a[0] & 0xf0) != 0xe0) push64(&v4, fi << 32 | x);
            }
            if (v4.n > 1 << 20) uniq(&v4);
            if (mac.n > 1 << 20) uniq(&mac);
        }
        cap_close(&r);
    }
    uniq(&v4); uniq(&mac);
    static const char *nmv[3] = { "train", "val", "test" };
    long hits4 = 0, hitsm = 0, bytes = 0, text4 = 0, textm = 0;
    uint8_t pkt[65536];
    for (int k = 0; k < 3; k++) {
        char path[700], err[512];
        shard s;
        snprintf(path, sizeof path, "%s/%s.tok", dir, nmv[k]);
        if (shard_load(&s, path, err, sizeof err)) continue;
        for (uint64_t q = 0; q < s.n_seqs; q++) {
            const tok_t *t = s.tokens + s.seqs[q].off;
            uint64_t len = s.seqs[q].len, f = s.seqs[q].file;
            for (uint64_t a = 0; a < len;) {   /* packet by packet: no match across packets */
                uint64_t b = a;
                while (b < len && t[b] < 256) b++;
                for (uint64_t i = a; i + 4 <= b; i++) {
                    uint64_t x = (uint64_t)t[i] << 24 | (uint64_t)t[i + 1] << 16 | (uint64_t)t[i + 2] << 8 | t[i + 3];
                    uint64_t kx = f << 32 | x;
                    hits4 += bsearch(&kx, v4.v, v4.n, 8, cmp64) != NULL;
                    if (i + 6 <= b) {
                        uint64_t y = f << 48 | x << 16 | (uint64_t)t[i + 4] << 8 | t[i + 5];
                        hitsm += bsearch(&y, mac.v, mac.n, 8, cmp64) != NULL;
                    }
                }
                size_t pn = 0;
                for (uint64_t i = a; i < b && pn < sizeof pkt; i++) pkt[pn++] = (uint8_t)t[i];
                scan_text(pkt, pn, f, &v4, &mac, &text4, &textm);
                bytes += (long)(b - a);
                a = b + 1;
            }
        }
        shard_free(&s);
    }
    printf("  originals in the corpus bytes of their own capture: %ld hits of %zu (capture, IPv4 address) pairs, "
           "%ld of %zu (capture, MAC) pairs, in %ld bytes; as text: %ld IPv4, %ld MAC\n", hits4, v4.n, hitsm, mac.n, bytes,
           text4, textm);
    CHECK(hits4 <= 3);   /* random payload bytes may hit one by chance */
    CHECK_EQ(hitsm, 0);
    CHECK_EQ(text4, 0);  /* SSDP LOCATION URLs, JSON, device names (issue 13) */
    CHECK_EQ(textm, 0);
    free(v4.v); free(mac.v);
}

static void run_set(const char *name, list *files, const flow_labels *fl) {
    char d1[600], d2[600];
    snprintf(d1, sizeof d1, "%s/%s_anon", t_tmpdir(), name);
    snprintf(d2, sizeof d2, "%s/%s_keep", t_tmpdir(), name);
    int stride = t_san() ? 4 : 1;
    CHECK_EQ(build(d1, files, fl, ANON_ADDR_PREFIX, PREP_SPLIT_FLOW, stride), 0);
    check_manifest(d1);
    scan_originals(d1, files, stride);
    CHECK_EQ(build(d2, files, fl, ANON_ADDR_KEEP, PREP_SPLIT_FLOW, stride), 0);
    double acc, chance, acck, chancek;
    long n, nk;
    lookup_acc(d1, &acc, &chance, &n);
    lookup_acc(d2, &acck, &chancek, &nk);
    printf("  %s: address lookup accuracy %.3f anonymised vs %.3f with addresses kept; chance (majority) %.3f; %ld test flows\n",
           name, acc, acck, chance, n);
    CHECK(n > 50);
    /* at chance: within two standard errors of the majority-class accuracy */
    double se = sqrt(chance * (1 - chance) / (double)(n > 0 ? n : 1));
    CHECKF(acc <= chance + 2 * se + 0.01, "%.3f vs chance %.3f (se %.3f)", acc, chance, se);
    CHECK(acck > chance + 0.05);     /* and the check has the power to see a leak */
    /* split by capture (issue 5's setting): at chance too */
    char d3[600];
    snprintf(d3, sizeof d3, "%s/%s_cap", t_tmpdir(), name);
    CHECK_EQ(build(d3, files, fl, ANON_ADDR_PREFIX, PREP_SPLIT_CAPTURE, stride), 0);
    double accc, chancec;
    long nc;
    lookup_acc(d3, &accc, &chancec, &nc);
    double sec = sqrt(chancec * (1 - chancec) / (double)(nc > 0 ? nc : 1));
    printf("  %s, split by capture: address lookup %.3f, chance %.3f, %ld test flows\n", name, accc, chancec, nc);
    CHECKF(nc == 0 || accc <= chancec + 2 * sec + 0.01, "%.3f vs chance %.3f", accc, chancec);
}

static void test_iot_sentinel(void) {
    const char *sh = t_shared();
    if (!sh) SKIP("../shared absent");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/data/iot_sentinel", sh);
    list files = { 0 };
    walk(dir, &files);
    if (files.n == 0) { list_free(&files); SKIP("no iot_sentinel captures"); }
    run_set("iot_sentinel", &files, NULL);
    list_free(&files);
}

static void test_ndpi(void) {
    const char *sh = t_shared();
    if (!sh) SKIP("../shared absent");
    char dir[512], csv[512], err[512];
    snprintf(dir, sizeof dir, "%s/data/ndpi/pcap", sh);
    snprintf(csv, sizeof csv, "%s/data/labels/flows.csv", sh);
    list files = { 0 };
    walk(dir, &files);
    flow_labels fl;
    if (files.n == 0 || flow_labels_load(&fl, csv, "ndpi42", err, sizeof err)) { list_free(&files); SKIP("no ndpi captures / labels"); }
    run_set("ndpi", &files, &fl);
    flow_labels_free(&fl);
    list_free(&files);
}

int main(void) {
    RUN(test_iot_sentinel);
    RUN(test_ndpi);
    return t_done();
}
