/* The two baselines every fidelity number is shown next to (docs/compare.md):
 *   replay  - whole flows picked at random from the training data: a "generator" that
 *             copies. It scores near-perfect fidelity and 100% memorisation;
 *   sampler - every field drawn on its own from its marginal in the training data: right
 *             marginals, no structure between fields, packets or directions.
 * A model is worth something where it beats the sampler without copying like replay. */
#include "eval/fidelity.h"
#include "util/util.h"
#include <stdlib.h>
#include <string.h>

static size_t pick(uint64_t *rng, size_t n) { return (size_t)(rng_uniform(rng) * (double)n) % n; }

/* The first packet of each capture of s (min over its flows), so a baseline flow keeps its
 * start relative to its capture's: the concurrency of flows over time (concurrency.h) then
 * compares alike. NULL out of memory. */
static int64_t *file_starts(const ff_set *s) {
    int nf = s->nfiles > 0 ? s->nfiles : 1;
    int64_t *t = malloc((size_t)nf * sizeof *t);
    if (!t) return NULL;
    for (int i = 0; i < nf; i++) t[i] = INT64_MAX;
    for (size_t i = 0; i < s->n; i++) {
        int f = s->fl[i].file >= 0 && s->fl[i].file < nf ? s->fl[i].file : 0;
        if (s->fl[i].first_ns < t[f]) t[f] = s->fl[i].first_ns;
    }
    return t;
}
static int64_t start_in_file(const ff_set *s, const int64_t *t0, const ff_flow *f) {
    int nf = s->nfiles > 0 ? s->nfiles : 1;
    return t0 ? f->first_ns - t0[f->file >= 0 && f->file < nf ? f->file : 0] : 0;
}

/* out gets src's labels (the same ids) and one pseudo file named what */
static void begin_set(ff_set *out, const ff_set *src, const char *what) {
    for (int i = 0; i < src->nlabels; i++) ff_label_id(out, src->labels[i]);
    if (!out->nfiles) {
        out->files = malloc(sizeof *out->files);
        out->files[0] = strdup(what);
        out->nfiles = 1;
    }
}

void fid_replay(ff_set *out, const ff_set *src, size_t n, uint64_t seed) {
    begin_set(out, src, "(replay)");
    if (!src->n) return;
    uint64_t rng = seed;
    int64_t *t0 = file_starts(src);
    for (size_t i = 0; i < n; i++) {
        const ff_flow *f = &src->fl[pick(&rng, src->n)];
        ff_copy_flow(out, src, f, 0, f->label);
        ff_flow *g = &out->fl[out->n - 1];
        g->id = i + 1;
        int64_t d = start_in_file(src, t0, f);   /* times relative to its capture's start */
        g->last_ns = d + (f->last_ns - f->first_ns);
        g->first_ns = d;
    }
    free(t0);
    out->cnt.in_flows = out->cnt.ip = out->cnt.packets = out->npk;
}

/* Marginals of one label (or of everything). Small categorical fields are drawn from
 * alias tables (Walker/Vose: O(1) per draw, one random number), IP lengths and
 * inter-arrival times from lists of observed values. */
typedef struct { uint32_t thr[257]; uint16_t alias[257]; int n; } alias_t;

typedef struct {
    size_t *flows, nf;
    size_t *pkts, np;          /* indices into src->pk */
    double *iat; size_t niat;  /* seconds between consecutive packets of a flow */
    uint64_t dir[2], ttl[256], flags[256], hlen[256];
    uint64_t *hdr;             /* hdr_len x 257 counts */
    alias_t a_dir, a_ttl, a_flags, a_hlen, *a_hdr;
} pool;

static void alias_build(alias_t *t, const uint64_t *cnt, int n) {
    double tot = 0, p[257];
    int small[257], large[257], ns = 0, nl = 0;
    t->n = n;
    for (int i = 0; i < n; i++) tot += (double)cnt[i];
    for (int i = 0; i < n; i++) {
        p[i] = tot > 0 ? (double)cnt[i] * n / tot : 1.0;
        t->alias[i] = (uint16_t)i;
        if (p[i] < 1) small[ns++] = i; else large[nl++] = i;
    }
    while (ns && nl) {
        int s = small[--ns], l = large[nl - 1];
        t->thr[s] = (uint32_t)(p[s] * 4294967295.0);
        t->alias[s] = (uint16_t)l;
        p[l] -= 1 - p[s];
        if (p[l] < 1) { nl--; small[ns++] = l; }
    }
    while (nl) t->thr[large[--nl]] = UINT32_MAX;
    while (ns) t->thr[small[--ns]] = UINT32_MAX;   /* rounding leftovers */
}
static inline int draw(const alias_t *t, uint64_t *rng) {
    uint64_t r = splitmix64(rng);
    uint32_t i = (uint32_t)(((r >> 32) * (uint64_t)t->n) >> 32);
    return (uint32_t)r < t->thr[i] ? (int)i : t->alias[i];   /* an empty bin (thr 0) is never drawn */
}

static void build_pool(pool *p, const ff_set *s, int label, int any) {
    memset(p, 0, sizeof *p);
    size_t nf = 0, np = 0, row = (size_t)s->hdr_len + 1;
    for (size_t i = 0; i < s->n; i++) if (any || s->fl[i].label == label) { nf++; np += s->fl[i].npk; }
    p->flows = malloc((nf ? nf : 1) * sizeof *p->flows);
    p->pkts = malloc((np ? np : 1) * sizeof *p->pkts);
    p->iat = malloc((np ? np : 1) * sizeof *p->iat);
    if (s->hdr_len) p->hdr = calloc((size_t)s->hdr_len * 257, sizeof *p->hdr);
    for (size_t i = 0; i < s->n; i++) {
        const ff_flow *f = &s->fl[i];
        if (!any && f->label != label) continue;
        p->flows[p->nf++] = i;
        for (uint32_t j = 0; j < f->npk; j++) {
            const ff_pkt *k = &s->pk[f->pk + j];
            p->pkts[p->np++] = f->pk + j;
            p->dir[k->dir & 1]++;
            p->ttl[k->ttl]++;
            if (f->key.proto == 6) p->flags[k->flags]++;
            if (j) {   /* out-of-order stamps count as 0, as in fidelity.c */
                int64_t dt = k->t_ns - s->pk[f->pk + j - 1].t_ns;
                p->iat[p->niat++] = dt > 0 ? (double)dt * 1e-9 : 0;
            }
            if (s->hdr_len) {
                const uint8_t *h = s->hdr + (f->pk + j) * row;
                p->hlen[h[0]]++;
                for (int b = 0; b < s->hdr_len; b++) p->hdr[(size_t)b * 257 + (b < h[0] ? h[1 + b] : 256)]++;
            }
        }
    }
    alias_build(&p->a_dir, p->dir, 2); alias_build(&p->a_ttl, p->ttl, 256);
    alias_build(&p->a_flags, p->flags, 256); alias_build(&p->a_hlen, p->hlen, 256);
    if (s->hdr_len) {
        p->a_hdr = malloc((size_t)s->hdr_len * sizeof *p->a_hdr);
        for (int b = 0; b < s->hdr_len; b++) alias_build(&p->a_hdr[b], p->hdr + (size_t)b * 257, 257);
    }
}
static void free_pool(pool *p) { free(p->flows); free(p->pkts); free(p->iat); free(p->hdr); free(p->a_hdr); }

void fid_sampler(ff_set *out, const ff_set *src, size_t n, uint64_t seed) {
    begin_set(out, src, "(sampler)");
    if (!src->n) return;
    uint64_t rng = seed, trng = seed ^ 0x6a09e667f3bcc909ull;   /* start times: a stream of their own */
    int64_t *t0 = file_starts(src);
    int L = src->nlabels, labelled = L > 0;
    int np = labelled ? L + 1 : 1;   /* pools per label, and the last for unlabelled flows */
    pool *pools = calloc((size_t)np, sizeof *pools);
    for (int c = 0; c < np; c++) build_pool(&pools[c], src, labelled && c < L ? c : -1, !labelled);
    size_t row = (size_t)out->hdr_len + 1;
    for (size_t i = 0; i < n; i++) {
        /* the label follows its share of flows in src */
        const ff_flow *lf = &src->fl[pick(&rng, src->n)];
        pool *P = &pools[labelled && lf->label >= 0 ? lf->label : np - 1];
        if (!P->nf) P = &pools[0];
#define FL() (&src->fl[P->flows[pick(&rng, P->nf)]])
        ff_flow proto;
        memset(&proto, 0, sizeof proto);
        proto.key.ipver = FL()->key.ipver;
        proto.key.proto = FL()->key.proto;
        const ff_flow *fa = FL(), *fb = FL();
        proto.key.port[0] = fa->key.port[0];
        proto.key.port[1] = fb->key.port[1];
        const ff_flow *aa = FL(), *ab = FL();
        memcpy(proto.key.addr[0], aa->key.addr[0], 16);
        memcpy(proto.key.addr[1], ab->key.addr[1], 16);
        proto.label = lf->label;
        proto.id = i + 1;
        uint32_t npk = FL()->npk;
        if (npk == 0) npk = 1;
        ff_flow *f = ff_append_flow(out, &proto, npk);
        ff_pkt *pk = out->pk + f->pk;
        int64_t t = 0;
        int tcp = proto.key.proto == 6;
        uint32_t hl = (proto.key.ipver == 6 ? 40 : 20) + (tcp ? 20 : proto.key.proto == 17 ? 8 : 0);
        for (uint32_t j = 0; j < npk; j++) {
            pk[j].dir = (uint8_t)draw(&P->a_dir, &rng);
            pk[j].ip_len = src->pk[P->pkts[pick(&rng, P->np)]].ip_len;
            pk[j].ttl = (uint8_t)draw(&P->a_ttl, &rng);
            if (tcp) pk[j].flags = (uint8_t)draw(&P->a_flags, &rng);
            pk[j].pay_len = pk[j].ip_len > hl ? (uint16_t)(pk[j].ip_len - hl) : 0;
            if (j && P->niat) t += (int64_t)(P->iat[pick(&rng, P->niat)] * 1e9);
            pk[j].t_ns = t;
            pk[j].valid = 0;
            f->pkts[pk[j].dir & 1]++;
            f->bytes[pk[j].dir & 1] += pk[j].ip_len;
            if (out->hdr_len && src->hdr_len == out->hdr_len) {
                uint8_t *h = out->hdr + (f->pk + j) * row;
                h[0] = (uint8_t)draw(&P->a_hlen, &rng);   /* bytes present */
                for (int k = 0; k < out->hdr_len; k++) {   /* 256 = absent: written as 0 */
                    int v = draw(&P->a_hdr[k], &rng);
                    h[1 + k] = v < 256 ? (uint8_t)v : 0;
                }
            }
        }
        /* the start within its capture, from the marginal of the flows' starts in theirs */
        f->first_ns = start_in_file(src, t0, &src->fl[P->flows[pick(&trng, P->nf)]]);
        f->last_ns = f->first_ns + t;
        /* TCP state bits from the drawn flags, as the flow table would set them */
        if (tcp) {
            uint8_t b = 0;
            if ((pk[0].flags & (TCP_SYN | TCP_ACK)) != TCP_SYN) b |= FT_MIDSTREAM;
            for (uint32_t j = 0; j < npk; j++) {
                uint8_t fl = pk[j].flags, d = pk[j].dir;
                if (!d && (fl & (TCP_SYN | TCP_ACK)) == TCP_SYN) b |= FT_SYN_A;
                if (d && (fl & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK) && (b & FT_SYN_A)) b |= FT_SYNACK_B;
                if (!d && (fl & (TCP_SYN | TCP_ACK)) == TCP_ACK && (b & FT_SYNACK_B)) b |= FT_ACK_A;
                if (fl & TCP_FIN) b |= d ? FT_FIN_B : FT_FIN_A;
                if (fl & TCP_RST) b |= FT_RST;
            }
            f->tcp = b;
        }
        f->seq_ok[0] = f->seq_ok[1] = f->ack_ok[0] = f->ack_ok[1] = 0;   /* no sequence numbers */
#undef FL
    }
    out->cnt.in_flows = out->cnt.ip = out->cnt.packets = out->npk;
    for (int c = 0; c < np; c++) free_pool(&pools[c]);
    free(pools);
    free(t0);
}
