/* Per-flow records: one pass, the flow table's user pointer holds an active record that
 * buffers the flow's packets; when the table ends the flow, the record is copied into the
 * set's packed arrays and freed. See flowfeat.h. */
#include "eval/flowfeat.h"
#include "capture/capture.h"
#include "capture/packet.h"
#include "util/util.h"
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <math.h>

int ff_handshake(const ff_flow *f) {
    return (f->tcp & (FT_SYN_A | FT_SYNACK_B | FT_ACK_A)) == (FT_SYN_A | FT_SYNACK_B | FT_ACK_A);
}
int ff_teardown(const ff_flow *f) { return (f->tcp & (FT_FIN_A | FT_FIN_B)) == (FT_FIN_A | FT_FIN_B) && !(f->tcp & FT_RST); }

uint16_t ff_service_port(const ff_flow *f) {
    if (f->key.proto != 6 && f->key.proto != 17) return 0;
    uint16_t a = f->key.port[0], b = f->key.port[1];
    /* b answered, so it is normally the server; a flow caught mid-stream may have the
     * server on side a, recognisable by a well-known port facing an unprivileged one. */
    if (a < 1024 && b >= 1024) return a;
    return b;
}

void ff_set_init(ff_set *s, int k, int hdr_len) {
    memset(s, 0, sizeof *s);
    s->k = k < 0 ? 0 : k;
    s->hdr_len = hdr_len < 0 ? 0 : hdr_len > 255 ? 255 : hdr_len;
}

void ff_set_free(ff_set *s) {
    free(s->fl); free(s->pk); free(s->hdr);
    for (int i = 0; i < s->nfiles; i++) free(s->files[i]);
    for (int i = 0; i < s->nlabels; i++) free(s->labels[i]);
    free(s->files); free(s->labels);
    memset(s, 0, sizeof *s);
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) { fprintf(stderr, "pktlm: out of memory (%zu bytes)\n", n); exit(1); }
    return q;
}

int ff_label_id(ff_set *s, const char *name) {
    for (int i = 0; i < s->nlabels; i++) if (!strcmp(s->labels[i], name)) return i;
    s->labels = xrealloc(s->labels, (size_t)(s->nlabels + 1) * sizeof *s->labels);
    s->labels[s->nlabels] = strdup(name);
    return s->nlabels++;
}

static int add_file(ff_set *s, const char *path) {
    s->files = xrealloc(s->files, (size_t)(s->nfiles + 1) * sizeof *s->files);
    s->files[s->nfiles] = strdup(path);
    return s->nfiles++;
}

/* Room for n more packets. */
static void reserve_pkts(ff_set *s, size_t n) {
    if (s->npk + n <= s->pk_cap) return;
    size_t nc = s->pk_cap ? s->pk_cap : 4096;
    while (nc < s->npk + n) nc *= 2;
    s->pk = xrealloc(s->pk, nc * sizeof *s->pk);
    if (s->hdr_len) s->hdr = xrealloc(s->hdr, nc * (size_t)(s->hdr_len + 1));
    s->pk_cap = nc;
}

ff_flow *ff_append_flow(ff_set *s, const ff_flow *proto_flow, uint32_t n) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->fl = xrealloc(s->fl, s->cap * sizeof *s->fl);
    }
    reserve_pkts(s, n);
    ff_flow *f = &s->fl[s->n++];
    if (proto_flow) *f = *proto_flow; else memset(f, 0, sizeof *f);
    f->npk = n;
    f->pk = s->npk;
    memset(s->pk + s->npk, 0, n * sizeof *s->pk);
    if (s->hdr_len) memset(s->hdr + s->npk * (size_t)(s->hdr_len + 1), 0, n * (size_t)(s->hdr_len + 1));
    s->npk += n;
    return f;
}

void ff_copy_flow(ff_set *to, const ff_set *from, const ff_flow *src, int file, int label) {
    ff_flow *f = ff_append_flow(to, src, src->npk);
    f->file = file;
    f->label = label;
    memcpy(to->pk + f->pk, from->pk + src->pk, src->npk * sizeof *to->pk);
    if (to->hdr_len) {
        size_t row = (size_t)to->hdr_len + 1;
        if (from->hdr_len == to->hdr_len) memcpy(to->hdr + f->pk * row, from->hdr + src->pk * row, src->npk * row);
    }
}

/* ---- the one pass ---- */

typedef struct {
    ff_flow f;
    ff_pkt *pk; uint8_t *hdr; uint32_t cap;
    uint32_t next_seq[2];
    uint8_t seq_init[2];
} active;

typedef struct {
    ff_set *s;
    int file, label;
} pass_ctx;

static void on_end(void *vctx, flow *fl) {
    pass_ctx *c = vctx;
    active *a = fl->user;
    if (!a) return;
    ff_set *s = c->s;
    a->f.key = fl->key;
    a->f.id = fl->id;
    a->f.first_ns = fl->first_ns;
    a->f.last_ns = fl->last_ns;
    a->f.tcp = fl->tcp;
    a->f.end_reason = fl->end_reason;
    ff_flow *f = ff_append_flow(s, &a->f, a->f.npk);
    memcpy(s->pk + f->pk, a->pk, a->f.npk * sizeof *a->pk);
    if (s->hdr_len) memcpy(s->hdr + f->pk * (size_t)(s->hdr_len + 1), a->hdr, a->f.npk * (size_t)(s->hdr_len + 1));
    free(a->pk); free(a->hdr); free(a);
    fl->user = NULL;
}

/* Sequence-space comparison (RFC 1982): >0 when x is after y. */
static inline int32_t seqdiff(uint32_t x, uint32_t y) { return (int32_t)(x - y); }

static void tcp_track(active *a, const pkt_info *pi, int d) {
    if (pi->tcp_flags & TCP_RST) return;   /* RST sequence numbers need not be in window */
    uint32_t seglen = pi->payload_len + ((pi->tcp_flags & TCP_SYN) != 0) + ((pi->tcp_flags & TCP_FIN) != 0);
    if (!a->seq_init[d]) { a->next_seq[d] = pi->seq + seglen; a->seq_init[d] = 1; }
    else {
        if (seqdiff(pi->seq, a->next_seq[d]) > 0) a->f.seq_ok[d] = 0;   /* bytes skipped */
        if (seqdiff(pi->seq + seglen, a->next_seq[d]) > 0) a->next_seq[d] = pi->seq + seglen;
    }
    if ((pi->tcp_flags & TCP_ACK) && a->seq_init[!d] && seqdiff(pi->ack, a->next_seq[!d]) > 0)
        a->f.ack_ok[d] = 0;
}

static uint8_t validity(const cap_pkt *p, const pkt_info *pi) {
    uint8_t v = 0;
    /* Lengths: the IP packet fits in the frame on the wire; UDP's own length matches IP's. */
    int ok = (uint64_t)pi->l3_off + pi->ip_len <= p->len;
    if (ok && pi->proto == 17 && pi->has_l4 && !pi->frag && pi->l4_off + 8 <= p->caplen)
        ok = rd16be(p->data + pi->l4_off + 4) == pi->ip_len - (pi->l4_off - pi->l3_off);
    if (ok) v |= FFP_LEN_OK;
    if (pi->truncated) v |= FFP_TRUNC;
    /* The IPv4 header checksum can always be checked; transport checksums only when the
     * whole packet was captured and not fragmented. */
    if (pi->ipver == 4 || (!pi->truncated && !pi->frag)) {
        v |= FFP_CSUM_CHECKED;
        if (ip_checksums_ok(p->data + pi->l3_off, pi->l3_caplen)) v |= FFP_CSUM_OK;
    }
    return v;
}

static int cmp_id(const void *x, const void *y) {
    const ff_flow *a = x, *b = y;
    return a->id < b->id ? -1 : a->id > b->id;
}

int ff_read_file(ff_set *s, const char *path, int label, const flow_cfg *cfg, char *err, size_t errlen) {
    cap_reader r;
    s->cnt.files++;
    if (cap_open(&r, path) != 0) { snprintf(err, errlen, "%s", r.err); cap_close(&r); s->cnt.files_bad++; return -1; }
    pass_ctx ctx = { s, add_file(s, path), label };
    flow_table *t = flow_table_new(cfg, on_end, &ctx);
    if (!t) { snprintf(err, errlen, "out of memory"); cap_close(&r); return -1; }
    size_t row = (size_t)s->hdr_len + 1, first_flow = s->n;
    int64_t last_ts = INT64_MIN;
    cap_pkt p;
    int rc;
    while ((rc = cap_next(&r, &p)) == 1) {
        s->cnt.packets++;
        if (p.ts_ns < last_ts) s->cnt.ts_backwards++;
        last_ts = p.ts_ns;
        pkt_info pi;
        int st = pkt_parse(p.linktype, p.data, p.caplen, p.len, &pi);
        if (st != PKT_IP) {
            if (st == PKT_NOT_IP) s->cnt.not_ip++;
            else if (st == PKT_UNKNOWN_LINK) s->cnt.unknown_link++;
            else s->cnt.malformed++;
            continue;
        }
        s->cnt.ip++;
        int d;
        flow *fl = flow_table_add(t, &pi, p.ts_ns, p.len, &d);
        if (!fl) continue;
        s->cnt.in_flows++;
        active *a = fl->user;
        if (!a) {
            a = calloc(1, sizeof *a);
            if (!a) { snprintf(err, errlen, "out of memory"); rc = -2; break; }
            a->f.file = ctx.file; a->f.label = label;
            a->f.seq_ok[0] = a->f.seq_ok[1] = a->f.ack_ok[0] = a->f.ack_ok[1] = 1;
            fl->user = a;
        }
        a->f.pkts[d]++;
        a->f.bytes[d] += pi.ip_len;
        if (pi.proto == 6 && pi.has_l4 && !(pi.frag == FRAG_LATER)) tcp_track(a, &pi, d);
        if (s->k && a->f.npk >= (uint32_t)s->k) continue;
        if (a->f.npk == a->cap) {
            a->cap = a->cap ? a->cap * 2 : 8;
            if (s->k && a->cap > (uint32_t)s->k) a->cap = (uint32_t)s->k;
            a->pk = xrealloc(a->pk, a->cap * sizeof *a->pk);
            if (s->hdr_len) a->hdr = xrealloc(a->hdr, a->cap * row);
        }
        ff_pkt *k = &a->pk[a->f.npk];
        k->t_ns = p.ts_ns - fl->first_ns;
        k->ip_len = pi.ip_len > 65535 ? 65535 : (uint16_t)pi.ip_len;
        k->pay_len = pi.payload_len > 65535 ? 65535 : (uint16_t)pi.payload_len;
        k->dir = (uint8_t)d;
        k->flags = pi.proto == 6 ? pi.tcp_flags : 0;
        k->ttl = pi.ttl;
        k->valid = validity(&p, &pi);
        if (s->hdr_len) {
            uint8_t *h = a->hdr + a->f.npk * row;
            uint32_t n = pi.l3_caplen < (uint32_t)s->hdr_len ? pi.l3_caplen : (uint32_t)s->hdr_len;
            h[0] = (uint8_t)n;
            memcpy(h + 1, p.data + pi.l3_off, n);
            memset(h + 1 + n, 0, (size_t)s->hdr_len - n);
        }
        a->f.npk++;
    }
    flow_table_flush(t);
    flow_table_free(t);
    /* Flows reach the set in the order they end; order them by first packet instead, so
     * "the first half of a capture" means what it says. */
    if (s->n > first_flow) qsort(s->fl + first_flow, s->n - first_flow, sizeof *s->fl, cmp_id);
    if (rc == -1) snprintf(err, errlen, "%s", r.err);
    if (rc < 0) s->cnt.files_bad++;
    cap_close(&r);
    return rc < 0 ? -1 : 0;
}

/* ---- features ---- */

/* Per-direction statistics over the first k packets: for all / a->b / b->a each of
 * count, min, max, mean, std of IP length and of payload length, and mean, std, min, max
 * of the inter-arrival time (ms) within that direction. */
#define NPOS 8   /* first packets described one by one */
enum { S_N, S_LMIN, S_LMAX, S_LMEAN, S_LSTD, S_PMEAN, S_PSTD, S_PMAX, S_IMEAN, S_ISTD, S_IMIN, S_IMAX, NSTAT };
static const char *stat_names[NSTAT] = { "n", "len_min", "len_max", "len_mean", "len_std", "pay_mean", "pay_std", "pay_max",
                                         "iat_mean_ms", "iat_std_ms", "iat_min_ms", "iat_max_ms" };
static const char *dir_names[3] = { "all", "a2b", "b2a" };
static const char *flag_names[8] = { "fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr" };

/* Layout: [ports 3] proto ipver | 3 x NSTAT | NPOS signed sizes | NPOS directions |
 * 8 flag counts | ttl a, ttl b | duration_k_ms | [totals 5]. */
int ff_feature_count(const ff_feat_cfg *c) {
    return (c->with_ports ? 3 : 0) + 2 + 3 * NSTAT + 2 * NPOS + 8 + 2 + 1 + (c->with_totals ? 5 : 0);
}

const char *ff_feature_name(const ff_feat_cfg *c, int i) {
    static char buf[64];
    if (c->with_ports) {
        if (i < 3) return (const char *[]){ "port_a", "port_b", "service_port" }[i];
        i -= 3;
    }
    if (i < 2) return i ? "ipver" : "proto";
    i -= 2;
    if (i < 3 * NSTAT) { snprintf(buf, sizeof buf, "%s_%s", dir_names[i / NSTAT], stat_names[i % NSTAT]); return buf; }
    i -= 3 * NSTAT;
    if (i < NPOS) { snprintf(buf, sizeof buf, "pkt%d_signed_len", i + 1); return buf; }
    i -= NPOS;
    if (i < NPOS) { snprintf(buf, sizeof buf, "pkt%d_dir", i + 1); return buf; }
    i -= NPOS;
    if (i < 8) { snprintf(buf, sizeof buf, "flag_%s", flag_names[i]); return buf; }
    i -= 8;
    if (i < 3) return (const char *[]){ "ttl_a", "ttl_b", "duration_ms" }[i];
    i -= 3;
    if (c->with_totals && i < 5) return (const char *[]){ "total_pkts_a2b", "total_pkts_b2a", "total_bytes_a2b", "total_bytes_b2a", "total_duration_ms" }[i];
    return "?";
}

void ff_features(const ff_set *s, const ff_flow *f, const ff_feat_cfg *c, float *out) {
    const ff_pkt *p = ff_pkts(s, f);
    uint32_t n = f->npk;
    if (c->k > 0 && (uint32_t)c->k < n) n = (uint32_t)c->k;
    float *o = out;
    if (c->with_ports) { *o++ = f->key.port[0]; *o++ = f->key.port[1]; *o++ = ff_service_port(f); }
    *o++ = f->key.proto;
    *o++ = f->key.ipver;
    for (int g = 0; g < 3; g++) {   /* g 0 = both directions, 1 = a->b, 2 = b->a */
        double cnt = 0, lmin = 0, lmax = 0, ls = 0, ls2 = 0, ps = 0, ps2 = 0, pmax = 0;
        double ic = 0, is = 0, is2 = 0, imin = 0, imax = 0;
        int64_t prev = -1;
        for (uint32_t i = 0; i < n; i++) {
            if (g && p[i].dir != g - 1) continue;
            double L = p[i].ip_len, P = p[i].pay_len;
            if (cnt == 0 || L < lmin) lmin = L;
            if (L > lmax) lmax = L;
            if (P > pmax) pmax = P;
            ls += L; ls2 += L * L; ps += P; ps2 += P * P; cnt++;
            if (prev >= 0) {
                double iat = (double)(p[i].t_ns - prev) * 1e-6;
                if (ic == 0 || iat < imin) imin = iat;
                if (iat > imax) imax = iat;
                is += iat; is2 += iat * iat; ic++;
            }
            prev = p[i].t_ns;
        }
        double lm = cnt ? ls / cnt : 0, pm = cnt ? ps / cnt : 0, im = ic ? is / ic : 0;
        o[S_N] = (float)cnt; o[S_LMIN] = (float)lmin; o[S_LMAX] = (float)lmax; o[S_LMEAN] = (float)lm;
        o[S_LSTD] = cnt ? (float)sqrt(fmax(0, ls2 / cnt - lm * lm)) : 0;
        o[S_PMEAN] = (float)pm; o[S_PSTD] = cnt ? (float)sqrt(fmax(0, ps2 / cnt - pm * pm)) : 0; o[S_PMAX] = (float)pmax;
        o[S_IMEAN] = (float)im; o[S_ISTD] = ic ? (float)sqrt(fmax(0, is2 / ic - im * im)) : 0;
        o[S_IMIN] = (float)imin; o[S_IMAX] = (float)imax;
        o += NSTAT;
    }
    for (int i = 0; i < NPOS; i++) *o++ = (uint32_t)i < n ? (p[i].dir ? -(float)p[i].ip_len : (float)p[i].ip_len) : 0;
    for (int i = 0; i < NPOS; i++) *o++ = (uint32_t)i < n ? (p[i].dir ? -1.0f : 1.0f) : 0;
    float fl[8] = { 0 };
    for (uint32_t i = 0; i < n; i++) for (int b = 0; b < 8; b++) fl[b] += (p[i].flags >> b) & 1;
    for (int b = 0; b < 8; b++) *o++ = fl[b];
    float ttl[2] = { 0, 0 };
    for (uint32_t i = n; i-- > 0;) ttl[p[i].dir] = p[i].ttl;   /* first TTL per direction */
    *o++ = ttl[0]; *o++ = ttl[1];
    *o++ = n ? (float)((double)p[n - 1].t_ns * 1e-6) : 0;
    if (c->with_totals) {
        *o++ = (float)f->pkts[0]; *o++ = (float)f->pkts[1]; *o++ = (float)f->bytes[0]; *o++ = (float)f->bytes[1];
        *o++ = (float)((double)(f->last_ns - f->first_ns) * 1e-6);
    }
}
