/* Flow table: flows live in a slab (array) reused through a free list; an open-addressing
 * hash array (linear probing, backward-shift deletion, so no tombstones build up) maps a
 * symmetric hash of the 5-tuple to the slab index. Three activity lists (TCP, other,
 * closing) ordered by last packet make idle expiry O(1) per packet: only list heads are
 * ever old enough to expire. */
#include "flow/flow.h"
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <arpa/inet.h>

#define NIL 0xffffffffu
#define FRAG_SLOTS 4096
enum { L_TCP = 0, L_OTHER = 1, L_CLOSING = 2, N_LISTS = 3 };

typedef struct {
    uint8_t ipver, proto, used;
    uint32_t id;
    uint8_t src[16], dst[16];
    uint32_t flow_idx;
    uint64_t flow_id;
    int64_t ts;
} frag_entry;

struct flow_table {
    flow_cfg cfg;
    flow_end_fn on_end;
    void *ctx;
    flow *flows;               /* slab */
    uint32_t cap, used, free_head, active;
    uint64_t *hash;            /* (hash32 << 32) | (index + 1); 0 = empty */
    uint32_t hmask;
    uint32_t head[N_LISTS], tail[N_LISTS];
    int64_t now, timeout_ns[N_LISTS];
    uint64_t next_id;
    frag_entry *frags;
    flow_counters c;
};

void flow_cfg_default(flow_cfg *c) {
    c->tcp_timeout = 300;
    c->udp_timeout = 60;
    c->linger = 2;
    c->max_flows = 1u << 22;
}

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static inline uint64_t ep_hash(const uint8_t *addr, uint16_t port) {
    uint64_t a, b;
    memcpy(&a, addr, 8); memcpy(&b, addr + 8, 8);
    return mix64(a ^ mix64(b ^ ((uint64_t)port << 1 | 1)));
}

/* Symmetric in the two endpoints, so both directions land in the same probe sequence. */
static inline uint32_t key_hash(uint8_t ipver, uint8_t proto, const uint8_t *s, uint16_t sp, const uint8_t *d, uint16_t dp) {
    uint64_t h = ep_hash(s, sp) ^ ep_hash(d, dp);
    return (uint32_t)(mix64(h + ((uint64_t)ipver << 8 | proto)) >> 32);
}

static void list_unlink(flow_table *t, uint32_t i) {
    flow *f = &t->flows[i];
    if (f->prev != NIL) t->flows[f->prev].next = f->next; else t->head[f->list] = f->next;
    if (f->next != NIL) t->flows[f->next].prev = f->prev; else t->tail[f->list] = f->prev;
    f->prev = f->next = NIL;
}

static void list_append(flow_table *t, uint32_t i, int l) {
    flow *f = &t->flows[i];
    f->list = (uint8_t)l;
    f->next = NIL;
    f->prev = t->tail[l];
    if (t->tail[l] != NIL) t->flows[t->tail[l]].next = i; else t->head[l] = i;
    t->tail[l] = i;
}

static int hash_resize(flow_table *t, uint32_t ncap) {
    uint64_t *h = calloc(ncap, sizeof *h);
    if (!h) return -1;
    uint32_t mask = ncap - 1;
    if (t->hash)
        for (uint32_t s = 0; s <= t->hmask; s++) {
            uint64_t e = t->hash[s];
            if (!e) continue;
            uint32_t j = (uint32_t)(e >> 32) & mask;
            while (h[j]) j = (j + 1) & mask;
            h[j] = e;
            t->flows[(uint32_t)e - 1].slot = j;
        }
    free(t->hash);
    t->hash = h;
    t->hmask = mask;
    return 0;
}

/* Timeouts beyond ~30 years mean "never": clamp so the nanosecond value fits. */
static int64_t secs_to_ns(double s) {
    if (!(s > 0)) return 0;
    return s >= 1e9 ? INT64_MAX : (int64_t)(s * 1e9);
}

flow_table *flow_table_new(const flow_cfg *cfg, flow_end_fn on_end, void *ctx) {
    flow_table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    if (cfg) t->cfg = *cfg; else flow_cfg_default(&t->cfg);
    if (t->cfg.max_flows < 16) t->cfg.max_flows = 16;
    if (t->cfg.max_flows > (1u << 30)) t->cfg.max_flows = 1u << 30;
    t->on_end = on_end; t->ctx = ctx;
    t->free_head = NIL;
    for (int l = 0; l < N_LISTS; l++) t->head[l] = t->tail[l] = NIL;
    t->timeout_ns[L_TCP] = secs_to_ns(t->cfg.tcp_timeout);
    t->timeout_ns[L_OTHER] = secs_to_ns(t->cfg.udp_timeout);
    t->timeout_ns[L_CLOSING] = secs_to_ns(t->cfg.linger);
    t->now = INT64_MIN;
    t->frags = calloc(FRAG_SLOTS, sizeof *t->frags);
    if (!t->frags || hash_resize(t, 1024) < 0) { flow_table_free(t); return NULL; }
    return t;
}

void flow_table_free(flow_table *t) {
    if (!t) return;
    free(t->flows); free(t->hash); free(t->frags);
    free(t);
}

const flow_counters *flow_table_counters(const flow_table *t) { return &t->c; }
size_t flow_table_active(const flow_table *t) { return t->active; }

/* Hand a flow to the callback, then drop it from the hash, its list, and reuse the slot. */
static void end_flow(flow_table *t, uint32_t i, int reason) {
    flow *f = &t->flows[i];
    f->end_reason = (uint8_t)reason;
    if (t->on_end) t->on_end(t->ctx, f);
    f = &t->flows[i];
    list_unlink(t, i);
    /* backward-shift deletion */
    uint32_t s = f->slot, mask = t->hmask;
    uint32_t j = s;
    for (;;) {
        j = (j + 1) & mask;
        uint64_t e = t->hash[j];
        if (!e) break;
        uint32_t home = (uint32_t)(e >> 32) & mask;
        /* move e into the hole when its home is not in (s, j] cyclically */
        int in_range = s <= j ? (home > s && home <= j) : (home > s || home <= j);
        if (!in_range) {
            t->hash[s] = e;
            t->flows[(uint32_t)e - 1].slot = s;
            s = j;
        }
    }
    t->hash[s] = 0;
    f->id = 0;                       /* marks the slab entry free (fragment cache checks it) */
    f->next = t->free_head;
    t->free_head = i;
    t->active--;
}

static void expire(flow_table *t) {
    for (int l = 0; l < N_LISTS; l++)
        /* unsigned difference: now >= last_ns always, and wild timestamps must not overflow */
        while (t->head[l] != NIL && (uint64_t)t->now - (uint64_t)t->flows[t->head[l]].last_ns > (uint64_t)t->timeout_ns[l])
            end_flow(t, t->head[l], l == L_CLOSING ? t->flows[t->head[l]].end_reason : END_IDLE);
}

static int same_ep(const uint8_t *a, uint16_t ap, const uint8_t *b, uint16_t bp) {
    return ap == bp && memcmp(a, b, 16) == 0;
}

static uint32_t lookup(const flow_table *t, uint32_t h, const pkt_info *pi, int *dir, uint32_t *slot) {
    uint32_t j = h & t->hmask;
    for (;;) {
        uint64_t e = t->hash[j];
        if (!e) { *slot = j; return NIL; }
        if ((uint32_t)(e >> 32) == h) {
            const flow *f = &t->flows[(uint32_t)e - 1];
            const flow_key *k = &f->key;
            if (k->ipver == pi->ipver && k->proto == pi->proto) {
                if (same_ep(k->addr[0], k->port[0], pi->src, pi->sport) && same_ep(k->addr[1], k->port[1], pi->dst, pi->dport)) {
                    *dir = 0; *slot = j; return (uint32_t)e - 1;
                }
                if (same_ep(k->addr[1], k->port[1], pi->src, pi->sport) && same_ep(k->addr[0], k->port[0], pi->dst, pi->dport)) {
                    *dir = 1; *slot = j; return (uint32_t)e - 1;
                }
            }
        }
        j = (j + 1) & t->hmask;
    }
}

static uint32_t oldest(const flow_table *t) {
    uint32_t best = NIL;
    for (int l = 0; l < N_LISTS; l++) {
        uint32_t h = t->head[l];
        if (h != NIL && (best == NIL || t->flows[h].last_ns < t->flows[best].last_ns)) best = h;
    }
    return best;
}

static uint32_t new_flow(flow_table *t, uint32_t h, const pkt_info *pi, int64_t ts) {
    if (t->active >= t->cfg.max_flows) {
        end_flow(t, oldest(t), END_EVICT);
        t->c.evicted++;
    }
    /* keep the hash array at most half full */
    if ((uint64_t)(t->active + 1) * 2 > (uint64_t)t->hmask + 1)
        if (hash_resize(t, (t->hmask + 1) * 2) < 0) return NIL;
    uint32_t i;
    if (t->free_head != NIL) {
        i = t->free_head;
        t->free_head = t->flows[i].next;
    } else {
        if (t->used == t->cap) {
            uint32_t nc = t->cap ? t->cap * 2 : 1024;
            flow *n = realloc(t->flows, (size_t)nc * sizeof *n);
            if (!n) return NIL;
            t->flows = n; t->cap = nc;
        }
        i = t->used++;
    }
    flow *f = &t->flows[i];
    memset(f, 0, sizeof *f);
    f->key.ipver = pi->ipver; f->key.proto = pi->proto;
    memcpy(f->key.addr[0], pi->src, 16); memcpy(f->key.addr[1], pi->dst, 16);
    f->key.port[0] = pi->sport; f->key.port[1] = pi->dport;
    f->id = ++t->next_id;
    f->first_ns = f->last_ns = ts;
    f->prev = f->next = NIL;
    if (pi->proto == 6 && (pi->tcp_flags & (TCP_SYN | TCP_ACK)) != TCP_SYN) f->tcp |= FT_MIDSTREAM;
    /* insert into the hash array: first empty slot of the probe sequence */
    uint32_t j = h & t->hmask;
    while (t->hash[j]) j = (j + 1) & t->hmask;
    t->hash[j] = (uint64_t)h << 32 | (i + 1);
    f->slot = j;
    list_append(t, i, pi->proto == 6 ? L_TCP : L_OTHER);
    t->active++;
    t->c.flows++;
    if (t->active > t->c.active_peak) t->c.active_peak = t->active;
    return i;
}

static frag_entry *frag_slot(flow_table *t, const pkt_info *pi) {
    uint64_t h = ep_hash(pi->src, 0) ^ mix64(ep_hash(pi->dst, 1) + pi->frag_id + ((uint64_t)pi->proto << 40));
    return &t->frags[h & (FRAG_SLOTS - 1)];
}

static int frag_match(const frag_entry *e, const pkt_info *pi) {
    return e->used && e->ipver == pi->ipver && e->proto == pi->proto && e->id == pi->frag_id &&
           !memcmp(e->src, pi->src, 16) && !memcmp(e->dst, pi->dst, 16);
}

static void touch(flow_table *t, uint32_t i, int dir, int64_t ts, uint32_t wire_len) {
    flow *f = &t->flows[i];
    f->pkts[dir]++;
    f->bytes[dir] += wire_len;
    if (ts > f->last_ns) f->last_ns = ts;
    if (t->tail[f->list] != i) { int l = f->list; list_unlink(t, i); list_append(t, i, l); }
}

flow *flow_table_add(flow_table *t, const pkt_info *pi, int64_t ts, uint32_t wire_len, int *dir) {
    if (pi->ipver != 4 && pi->ipver != 6) { t->c.not_attributed++; return NULL; }
    if (ts > t->now) { t->now = ts; expire(t); }
    int d = 0;
    if (pi->frag == FRAG_LATER) {
        frag_entry *e = frag_slot(t, pi);
        if (!frag_match(e, pi) || (uint64_t)t->now - (uint64_t)e->ts > 60000000000ull || t->flows[e->flow_idx].id != e->flow_id) {
            t->c.frag_later_orphan++;
            return NULL;
        }
        flow *f = &t->flows[e->flow_idx];
        d = memcmp(f->key.addr[0], pi->src, 16) != 0;
        touch(t, e->flow_idx, d, ts, wire_len);
        f->frags++;
        t->c.frag_later_matched++;
        *dir = d;
        return f;
    }
    uint32_t h = key_hash(pi->ipver, pi->proto, pi->src, pi->sport, pi->dst, pi->dport);
    uint32_t slot;
    uint32_t i = lookup(t, h, pi, &d, &slot);
    int syn = pi->proto == 6 && (pi->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN;
    if (i != NIL && syn && (t->flows[i].closing || (t->flows[i].tcp & (FT_FIN_A | FT_FIN_B | FT_RST)))) {
        /* a new connection on the tuple of a finished one */
        end_flow(t, i, t->flows[i].closing ? t->flows[i].end_reason : END_REUSE);
        i = NIL;
    }
    if (i == NIL) {
        i = new_flow(t, h, pi, ts);
        if (i == NIL) { t->c.not_attributed++; return NULL; }
        d = 0;
    }
    touch(t, i, d, ts, wire_len);
    flow *f = &t->flows[i];
    if (pi->frag == FRAG_FIRST) {
        f->frags++;
        frag_entry *e = frag_slot(t, pi);
        e->used = 1; e->ipver = pi->ipver; e->proto = pi->proto; e->id = pi->frag_id;
        memcpy(e->src, pi->src, 16); memcpy(e->dst, pi->dst, 16);
        e->flow_idx = i; e->flow_id = f->id; e->ts = ts;
    }
    if (pi->proto == 6 && pi->has_l4) {
        uint8_t fl = pi->tcp_flags;
        if (d == 0 && (fl & (TCP_SYN | TCP_ACK)) == TCP_SYN) f->tcp |= FT_SYN_A;
        if (d == 1 && (fl & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK) && (f->tcp & FT_SYN_A)) f->tcp |= FT_SYNACK_B;
        if (d == 0 && (fl & (TCP_SYN | TCP_ACK)) == TCP_ACK && (f->tcp & FT_SYNACK_B)) f->tcp |= FT_ACK_A;
        if (fl & TCP_FIN) f->tcp |= d ? FT_FIN_B : FT_FIN_A;
        if (fl & TCP_RST) f->tcp |= FT_RST;
        if (!f->closing && ((f->tcp & (FT_FIN_A | FT_FIN_B)) == (FT_FIN_A | FT_FIN_B) || (f->tcp & FT_RST))) {
            /* linger so the last ACKs stay with this connection */
            f->closing = 1;
            f->end_reason = (f->tcp & FT_RST) ? END_RST : END_FIN;
            list_unlink(t, i);
            list_append(t, i, L_CLOSING);
        }
    }
    *dir = d;
    return f;
}

void flow_table_advance(flow_table *t, int64_t now_ns) {
    if (now_ns > t->now) { t->now = now_ns; expire(t); }
}

static int cmp_id(const void *a, const void *b, void *flows) {
    const flow *f = flows;
    uint64_t x = f[*(const uint32_t *)a].id, y = f[*(const uint32_t *)b].id;
    return x < y ? -1 : x > y;
}

void flow_table_flush(flow_table *t) {
    if (!t->active) return;
    uint32_t *idx = malloc((size_t)t->active * sizeof *idx), n = 0;
    if (!idx) {                       /* no memory to sort: end them in list order */
        for (int l = 0; l < N_LISTS; l++)
            while (t->head[l] != NIL) end_flow(t, t->head[l], END_FLUSH);
        return;
    }
    for (int l = 0; l < N_LISTS; l++)
        for (uint32_t i = t->head[l]; i != NIL; i = t->flows[i].next) idx[n++] = i;
    qsort_r(idx, n, sizeof *idx, cmp_id, t->flows);
    for (uint32_t k = 0; k < n; k++) {
        flow *f = &t->flows[idx[k]];
        end_flow(t, idx[k], f->closing ? f->end_reason : END_FLUSH);
    }
    free(idx);
    memset(t->frags, 0, FRAG_SLOTS * sizeof *t->frags);
    t->now = INT64_MIN;
}

const char *flow_addr_str(int ipver, const uint8_t *addr, char *buf) {
    if (!inet_ntop(ipver == 6 ? AF_INET6 : AF_INET, addr, buf, 46)) snprintf(buf, 46, "?");
    return buf;
}
