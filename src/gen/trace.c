/* Trace writer: generated IP packets -> consistent, valid pcap/pcapng (see trace.h). */
#include "gen/trace.h"
#include "capture/capture.h"
#include "capture/packet.h"
#include "util/util.h"
#include <stdlib.h>
#include <string.h>

#define MAX_FLOWS (1u << 24)

typedef struct {
    uint8_t used, ipver, proto;
    uint16_t port[2];          /* [0] client, [1] server */
    uint8_t addr[2][16];
    uint32_t next_seq[2];      /* next sequence number each side sends */
    uint16_t ipid[2];
    uint32_t client;           /* client host index */
} flow_state;

struct trace_writer {
    trace_cfg cfg;
    cap_writer w;
    flow_state *flows;
    uint32_t nflows_cap;
    uint64_t rng;
    int64_t last_ts;
    trace_stats st;
    uint8_t buf[65536 + 64];
};

void trace_cfg_default(trace_cfg *c) {
    c->link = TRACE_ETHERNET;
    c->pcapng = 0;
    c->mtu = 1500;
    c->n_clients = 1;
    c->seed = 1;
}

trace_writer *trace_open(const char *path, const trace_cfg *cfg) {
    trace_writer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    if (cfg) t->cfg = *cfg; else trace_cfg_default(&t->cfg);
    if (t->cfg.mtu < 68 || t->cfg.mtu > 65535) t->cfg.mtu = 1500;
    if (t->cfg.n_clients == 0) t->cfg.n_clients = 1;
    t->rng = t->cfg.seed * 0x9E3779B97F4A7C15ull + 7;
    t->last_ts = INT64_MIN;
    uint16_t lt = t->cfg.link == TRACE_RAW ? LT_RAW : LT_ETHERNET;
    if (cap_writer_open_fmt(&t->w, path, lt, 1, 65535, t->cfg.pcapng) != 0) { free(t); return NULL; }
    return t;
}

/* Address pool (docs/generate.md): clients 10.0.0.0/8 and fd00::/8 (private), servers
 * 198.18.0.0/15 and 2001:db8::/32 (benchmarking and documentation ranges), so generated
 * traces never name a real host. */
static void assign_endpoints(trace_writer *t, flow_state *f, uint32_t flow) {
    uint32_t c = flow % t->cfg.n_clients;
    f->client = c;
    memset(f->addr, 0, sizeof f->addr);
    if (f->ipver == 4) {
        wr32be(f->addr[0], 0x0a000000u + 2 + c);
        wr32be(f->addr[1], 0xc6120000u + 1 + (flow % 131000));
    } else {
        f->addr[0][0] = 0xfd; wr32be(f->addr[0] + 12, 2 + c);
        f->addr[1][0] = 0x20; f->addr[1][1] = 0x01; f->addr[1][2] = 0x0d; f->addr[1][3] = 0xb8;
        wr32be(f->addr[1] + 12, 1 + flow);
    }
    f->next_seq[0] = (uint32_t)splitmix64(&t->rng);
    f->next_seq[1] = (uint32_t)splitmix64(&t->rng);
    f->ipid[0] = (uint16_t)splitmix64(&t->rng);
    f->ipid[1] = (uint16_t)splitmix64(&t->rng);
}

static flow_state *get_flow(trace_writer *t, uint32_t flow) {
    if (flow >= MAX_FLOWS) return NULL;
    if (flow >= t->nflows_cap) {
        uint32_t nc = t->nflows_cap ? t->nflows_cap : 256;
        while (nc <= flow) nc *= 2;
        flow_state *n = realloc(t->flows, (size_t)nc * sizeof *n);
        if (!n) return NULL;
        memset(n + t->nflows_cap, 0, (size_t)(nc - t->nflows_cap) * sizeof *n);
        t->flows = n; t->nflows_cap = nc;
    }
    return &t->flows[flow];
}

/* TCP options: keep those that parse with a plausible length, NOP out the rest. */
static int sanitize_tcp_options(uint8_t *o, uint32_t n) {
    int fixed = 0;
    uint32_t i = 0;
    while (i < n) {
        uint8_t k = o[i];
        if (k == 0) {                          /* end of list: the rest must be zero */
            for (uint32_t j = i + 1; j < n; j++) if (o[j]) { o[j] = 0; fixed = 1; }
            break;
        }
        if (k == 1) { i++; continue; }
        uint32_t len = i + 1 < n ? o[i + 1] : 0;
        int want = k == 2 ? 4 : k == 3 ? 3 : k == 4 ? 2 : k == 8 ? 10 : -1;
        int ok = len >= 2 && i + len <= n && (want < 0 ? (k != 5 || (len >= 10 && (len - 2) % 8 == 0)) : (int)len == want);
        if (!ok) { memset(o + i, 1, n - i); fixed = 1; break; }
        i += len;
    }
    return fixed;
}

static void drop(trace_writer *t, uint64_t *reason) {
    t->st.dropped++;
    (*reason)++;
}

int trace_add(trace_writer *t, const gen_pkt *p) {
    t->st.in++;
    const uint8_t *in = p->ip;
    uint32_t n = p->n;
    int repaired = 0;
    if (n < 1 || ((in[0] >> 4) != 4 && (in[0] >> 4) != 6)) { drop(t, &t->st.drop_version); return 0; }
    int v = in[0] >> 4;
    uint32_t ihl_in, l3 = v == 4 ? 20 : 40;
    uint8_t proto;
    uint32_t want_total;
    if (v == 4) {
        if (n < 20) { drop(t, &t->st.drop_short); return 0; }
        ihl_in = (uint32_t)(in[0] & 15) * 4;
        if (ihl_in < 20 || ihl_in > n) { drop(t, &t->st.drop_short); return 0; }
        if (ihl_in > 20) { t->st.fix_options++; repaired = 1; }   /* IPv4 options are dropped */
        proto = in[9];
        want_total = rd16be(in + 2);
        if (want_total) want_total = want_total - ihl_in + 20;
        if ((rd16be(in + 6) & 0x3fff) != 0) { t->st.fix_frag++; repaired = 1; }
    } else {
        if (n < 40) { drop(t, &t->st.drop_short); return 0; }
        ihl_in = 40;
        proto = in[6];
        want_total = 40 + (uint32_t)rd16be(in + 4);
    }
    if (proto != 6 && proto != 17 && proto != (v == 4 ? 1 : 58)) { drop(t, &t->st.drop_proto); return 0; }
    uint32_t avail = n - ihl_in;                    /* transport bytes present */
    uint32_t l4 = proto == 6 ? 20 : 8;
    if (avail < l4) { drop(t, &t->st.drop_short); return 0; }
    if ((proto == 1 && in[ihl_in] != 0 && in[ihl_in] != 8) || (proto == 58 && in[ihl_in] != 128 && in[ihl_in] != 129)) {
        /* ICMP other than echo: the other messages carry structured bodies (an invoking
         * packet, router advertisement options, ...) that generated bytes leave malformed */
        drop(t, &t->st.drop_proto);
        return 0;
    }
    uint32_t have = l3 + avail;                     /* bytes the model gave, IP header rebuilt */
    uint32_t present = have;                        /* ... and with a cut TCP header completed */
    if (proto == 6) {
        uint32_t doff = (uint32_t)(in[ihl_in + 12] >> 4) * 4;
        if (doff < 20) { t->st.fix_doff++; repaired = 1; doff = 20; }
        if (doff > avail) {
            /* the TCP header ends inside its options: a capture with a short snaplen (requet's
             * 72 bytes) keeps only the start of SYN options, and a model trained on it ends the
             * packet there. The missing option bytes are zero: end of the option list. */
            t->st.fix_cut++; repaired = 1;
            present = l3 + doff;
        }
        l4 = doff;
    }
    uint32_t total = want_total;
    if (total < l3 + l4) { total = present; t->st.fix_length++; repaired = 1; }
    if (total > t->cfg.mtu) { total = t->cfg.mtu; t->st.fix_length++; repaired = 1; }
    if (total < l3 + l4) { drop(t, &t->st.drop_short); return 0; }  /* MTU below the headers */
    uint32_t copy = present < total ? present : total;
    if (total > present) t->st.fix_padded++;

    flow_state *f = get_flow(t, p->flow);
    if (!f) { drop(t, &t->st.drop_short); return 0; }
    int d = p->dir ? 1 : 0;
    if (!f->used || f->ipver != v || f->proto != proto) {
        /* first packet fixes the flow's version, protocol and ports */
        if (!f->used) t->st.flows++;
        f->used = 1; f->ipver = (uint8_t)v; f->proto = proto;
        uint16_t sp = proto != 1 && proto != 58 ? rd16be(in + ihl_in) : 0, dp = proto != 1 && proto != 58 ? rd16be(in + ihl_in + 2) : 0;
        f->port[0] = d ? dp : sp;
        f->port[1] = d ? sp : dp;
        if (proto != 1 && proto != 58 && f->port[0] == 0) f->port[0] = (uint16_t)(49152 + splitmix64(&t->rng) % 16384);
        assign_endpoints(t, f, p->flow);
    }

    /* build the packet: [link header][IP header][transport header][payload] */
    uint32_t lh = t->cfg.link == TRACE_RAW ? 0 : 14;
    uint8_t *b = t->buf;
    memset(b, 0, lh + total);
    uint8_t *ip = b + lh;
    memcpy(ip + l3, in + ihl_in, (copy < have ? copy : have) - l3);   /* the rest stays zero */
    if (v == 4) {
        ip[0] = 0x45; ip[1] = in[1];
        wr16be(ip + 2, (uint16_t)total);
        wr16be(ip + 4, f->ipid[d]++);
        ip[6] = in[6] & 0x40;                         /* keep DF, never a fragment */
        ip[7] = 0;
        ip[8] = in[8] ? in[8] : 64;
        if (!in[8]) { t->st.fix_ttl++; repaired = 1; }
        ip[9] = proto;
        memcpy(ip + 12, f->addr[d], 4);
        memcpy(ip + 16, f->addr[1 - d], 4);
    } else {
        memcpy(ip, in, 4);                            /* version, traffic class, flow label */
        wr16be(ip + 4, (uint16_t)(total - 40));
        ip[6] = proto;
        ip[7] = in[7] ? in[7] : 64;
        if (!in[7]) { t->st.fix_ttl++; repaired = 1; }
        memcpy(ip + 8, f->addr[d], 16);
        memcpy(ip + 24, f->addr[1 - d], 16);
    }
    uint8_t *tp = ip + l3;
    if (proto == 6 || proto == 17) {
        uint16_t sp = f->port[d], dp = f->port[1 - d];
        if (rd16be(tp) != sp || rd16be(tp + 2) != dp) {
            if (rd16be(tp) != 0 || rd16be(tp + 2) != 0) { t->st.fix_ports++; repaired = 1; }   /* not just unset */
            wr16be(tp, sp); wr16be(tp + 2, dp);
        }
    }
    if (proto == 6) {
        uint8_t fl = tp[13];
        tp[12] = (uint8_t)((l4 / 4) << 4 | (tp[12] & 0x0f));
        if (sanitize_tcp_options(tp + 20, l4 - 20)) { t->st.fix_options++; repaired = 1; }
        uint32_t payload = total - l3 - l4;
        /* sequence numbers follow the bytes each side sent; SYN and FIN count one. A RST
         * consumes no sequence space: it ends the connection, and data it carries is
         * diagnostic, never part of the stream (RFC 1122 4.2.2.12), so the side's next
         * segment, if the model goes on, starts where the RST did. */
        wr32be(tp + 4, f->next_seq[d]);
        if (!(fl & TCP_RST)) f->next_seq[d] += payload + ((fl & TCP_SYN) ? 1 : 0) + ((fl & TCP_FIN) ? 1 : 0);
        wr32be(tp + 8, (fl & TCP_ACK) ? f->next_seq[1 - d] : 0);
        if (!(fl & TCP_URG)) wr16be(tp + 18, 0);
    } else if (proto == 17) {
        wr16be(tp + 4, (uint16_t)(total - l3));
    }
    if (ip_fix_checksums(ip, total) != 0) { drop(t, &t->st.drop_short); return 0; }
    if (lh) {
        /* clients 02:00:00:00:hi:lo, all servers behind one router 02:00:00:ff:ff:fe */
        uint8_t cm[6] = { 2, 0, 0, 0, (uint8_t)(f->client >> 8), (uint8_t)f->client }, sm[6] = { 2, 0, 0, 0xff, 0xff, 0xfe };
        memcpy(b, d ? cm : sm, 6);
        memcpy(b + 6, d ? sm : cm, 6);
        wr16be(b + 12, v == 4 ? 0x0800 : 0x86dd);
    }
    int64_t ts = p->ts_ns;
    if (ts < t->last_ts) ts = t->last_ts;            /* keep time order: tools expect it */
    t->last_ts = ts;
    if (cap_writer_write(&t->w, ts, b, lh + total, lh + total) != 0) return -1;
    t->st.written++;
    t->st.repaired += repaired;
    return 1;
}

int trace_close(trace_writer *t, trace_stats *st) {
    if (st) *st = t->st;
    int rc = cap_writer_close(&t->w);
    free(t->flows);
    free(t);
    return rc;
}

void trace_abort(trace_writer *t) {
    cap_writer_abort(&t->w);
    free(t->flows);
    free(t);
}
