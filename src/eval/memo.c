/* Memorisation and privacy: does a candidate capture copy training flows, exactly or
 * nearly, and does it contain addresses of the training captures? (docs/compare.md)
 *
 * Flow distance over the first FID_MEMO_PKTS packets of two flows, position by position:
 * 1 when one flow has no packet there or the directions differ, else
 * min(1, |IP length difference| / 1500 + 0.5 if the TCP flags differ); the mean over the
 * positions the longer flow has. Timing is left out on purpose: a generator that copies
 * a flow and jitters its clock still copies it.
 * Exact copy: same protocol, service port and total packet count, and distance 0.
 * Near copy: same protocol and service port, distance <= FID_NEAR, not exact. */
#include "eval/fidelity.h"
#include "util/util.h"
#include <stdlib.h>
#include <string.h>
#include <math.h>

double fid_flow_distance(const ff_set *a, const ff_flow *fa, const ff_set *b, const ff_flow *fb) {
    uint32_t na = fa->npk < FID_MEMO_PKTS ? fa->npk : FID_MEMO_PKTS, nb = fb->npk < FID_MEMO_PKTS ? fb->npk : FID_MEMO_PKTS;
    uint32_t M = na > nb ? na : nb;
    if (!M) return 0;
    const ff_pkt *p = ff_pkts(a, fa), *q = ff_pkts(b, fb);
    double d = 0;
    for (uint32_t i = 0; i < M; i++) {
        if (i >= na || i >= nb || p[i].dir != q[i].dir) { d += 1; continue; }
        double c = fabs((double)p[i].ip_len - q[i].ip_len) / 1500 + (p[i].flags != q[i].flags ? 0.5 : 0);
        d += c > 1 ? 1 : c;
    }
    return d / M;
}

static uint32_t bucket_of(const ff_flow *f) {
    uint32_t m = f->npk < FID_MEMO_PKTS ? f->npk : FID_MEMO_PKTS;
    return (uint32_t)f->key.proto << 24 | (uint32_t)ff_service_port(f) << 8 | m;
}

static uint64_t signature(const ff_set *s, const ff_flow *f) {
    uint64_t h = 0x1234567ull ^ ((uint64_t)bucket_of(f) << 20) ^ (f->pkts[0] + f->pkts[1]);
    h = splitmix64(&h);
    const ff_pkt *p = ff_pkts(s, f);
    uint32_t m = f->npk < FID_MEMO_PKTS ? f->npk : FID_MEMO_PKTS;
    for (uint32_t i = 0; i < m; i++) {
        h ^= (uint64_t)p[i].dir << 40 | (uint64_t)p[i].flags << 32 | p[i].ip_len;
        h = splitmix64(&h);
    }
    return h;
}

typedef struct { uint32_t bucket; uint32_t idx; } bent;
typedef struct { uint8_t a[17]; } addr17;

struct fid_train_index {
    const ff_set *train;
    bent *b; size_t nb;
    uint64_t *sig; size_t nsig;
    addr17 *addr; size_t naddr;
};

static int cmp_bent(const void *x, const void *y) {
    const bent *a = x, *b = y;
    if (a->bucket != b->bucket) return a->bucket < b->bucket ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}
static int cmp_u64(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}
static int cmp_addr(const void *x, const void *y) { return memcmp(x, y, 17); }

/* All endpoint addresses of a set, sorted and distinct. */
static addr17 *collect_addrs(const ff_set *s, size_t *n) {
    addr17 *v = malloc((2 * s->n + 1) * sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++)
        for (int e = 0; e < 2; e++) {
            v[k].a[0] = s->fl[i].key.ipver;
            memcpy(v[k].a + 1, s->fl[i].key.addr[e], 16);
            k++;
        }
    qsort(v, k, sizeof *v, cmp_addr);
    size_t u = 0;
    for (size_t i = 0; i < k; i++) if (!u || memcmp(&v[i], &v[u - 1], 17)) v[u++] = v[i];
    *n = u;
    return v;
}

fid_train_index *fid_train_index_new(const ff_set *train) {
    fid_train_index *x = calloc(1, sizeof *x);
    x->train = train;
    x->b = malloc((train->n + 1) * sizeof *x->b);
    x->sig = malloc((train->n + 1) * sizeof *x->sig);
    for (size_t i = 0; i < train->n; i++) {
        x->b[i] = (bent){ bucket_of(&train->fl[i]), (uint32_t)i };
        x->sig[i] = signature(train, &train->fl[i]);
    }
    x->nb = x->nsig = train->n;
    qsort(x->b, x->nb, sizeof *x->b, cmp_bent);
    qsort(x->sig, x->nsig, sizeof *x->sig, cmp_u64);
    x->addr = collect_addrs(train, &x->naddr);
    return x;
}

void fid_train_index_free(fid_train_index *x) {
    if (!x) return;
    free(x->b); free(x->sig); free(x->addr); free(x);
}

static size_t lower_bucket(const fid_train_index *x, uint32_t key) {
    size_t lo = 0, hi = x->nb;
    while (lo < hi) { size_t m = (lo + hi) / 2; if (x->b[m].bucket < key) lo = m + 1; else hi = m; }
    return lo;
}

/* Candidates compared per bucket: bounds the time on captures dominated by one service. */
#define MEMO_SCAN 4096

void fid_memorisation(fid_memo *out, const fid_train_index *x, const ff_set *cand) {
    memset(out, 0, sizeof *out);
    const ff_set *tr = x->train;
    for (size_t i = 0; i < cand->n; i++) {
        const ff_flow *f = &cand->fl[i];
        out->flows++;
        uint64_t sg = signature(cand, f);
        if (bsearch(&sg, x->sig, x->nsig, sizeof *x->sig, cmp_u64)) { out->exact++; continue; }
        uint32_t bk = bucket_of(f), m = bk & 0xff;
        int near = 0;
        for (int dm = -1; dm <= 1 && !near; dm++) {
            if ((int)m + dm < 0 || (int)m + dm > FID_MEMO_PKTS) continue;
            uint32_t key = (bk & ~0xffu) | (uint32_t)((int)m + dm);
            size_t j = lower_bucket(x, key);
            for (size_t c = 0; j < x->nb && x->b[j].bucket == key && c < MEMO_SCAN; j++, c++)
                if (fid_flow_distance(cand, f, tr, &tr->fl[x->b[j].idx]) <= FID_NEAR) { near = 1; break; }
        }
        out->near += near;
    }
    size_t na;
    addr17 *a = collect_addrs(cand, &na);
    out->addrs = na;
    for (size_t i = 0; i < na; i++)
        if (bsearch(&a[i], x->addr, x->naddr, sizeof *x->addr, cmp_addr)) {
            if (out->nleaked < 10) flow_addr_str(a[i].a[0], a[i].a + 1, out->leaked[out->nleaked++]);
            out->addrs_in_train++;
        }
    for (size_t i = 0; i < cand->n; i++) {
        const ff_flow *f = &cand->fl[i];
        int hit = 0;
        for (int e = 0; e < 2 && !hit; e++) {
            addr17 k;
            k.a[0] = f->key.ipver;
            memcpy(k.a + 1, f->key.addr[e], 16);
            hit = bsearch(&k, x->addr, x->naddr, sizeof *x->addr, cmp_addr) != NULL;
        }
        out->flows_with_train_addr += hit;
    }
    free(a);
}
