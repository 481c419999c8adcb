/* Field distributions of one side and distances between two sides. See fidelity.h and
 * docs/compare.md for the definitions. */
#include "eval/fidelity.h"
#include "eval/metrics.h"
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <stdio.h>

const char *const fid_cat_name[NFC] = { "l4_proto", "service_port", "tcp_flags_a2b", "tcp_flags_b2a", "ttl_a2b", "ttl_b2a",
                                        "ip_version", "dir_pattern8" };
const char *const fid_cont_name[NFN] = { "pkt_size_a2b", "pkt_size_b2a", "iat_a2b", "iat_b2a", "flow_pkts", "flow_pkts_a2b",
                                         "flow_pkts_b2a", "flow_bytes", "flow_duration" };
const char *const fid_cont_unit[NFN] = { "bytes", "bytes", "s", "s", "packets", "packets", "packets", "bytes", "s" };

int fid_cat_bins(int field) {
    switch (field) {
    case FC_PORT: return 65536;
    case FC_IPVER: return 16;
    case FC_DIRPAT: return 9 * 256;
    default: return 256;
    }
}

int fid_cont_is_log(int field) { return field != FN_SIZE_A && field != FN_SIZE_B; }

double fid_cont_transform(int field, double x) {
    if (x < 0) x = 0;
    switch (field) {
    case FN_SIZE_A: case FN_SIZE_B: return x;
    case FN_IAT_A: case FN_IAT_B: case FN_DURATION: return log10(1 + x * 1e6);   /* microseconds */
    default: return log10(1 + x);
    }
}

typedef struct { double *v; size_t n, cap; } dvec;
static void dpush(dvec *d, double x) {
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 1024;
        double *v = realloc(d->v, d->cap * sizeof *v);
        if (!v) { fprintf(stderr, "pktlm: out of memory\n"); exit(1); }
        d->v = v;
    }
    d->v[d->n++] = x;
}

void fid_side_build(fid_side *d, const ff_set *s, int has_bytes) {
    memset(d, 0, sizeof *d);
    d->has_bytes = has_bytes;
    d->has_seq = has_bytes;
    d->records = s->cnt.packets;
    d->ip = s->cnt.ip;
    d->not_parsed = s->cnt.malformed + s->cnt.unknown_link;
    d->ts_backwards = s->cnt.ts_backwards;
    d->files = s->cnt.files;
    d->files_bad = s->cnt.files_bad;
    for (int k = 0; k < NFC; k++) d->cat[k] = calloc((size_t)fid_cat_bins(k), sizeof(double));
    dvec cv[NFN] = { { 0 } };
    d->hdr_len = s->hdr_len;
    if (s->hdr_len) d->bytepos = calloc((size_t)s->hdr_len * 257, sizeof *d->bytepos);
    for (size_t i = 0; i < s->n; i++) {
        const ff_flow *f = &s->fl[i];
        const ff_pkt *p = ff_pkts(s, f);
        d->flows++;
        d->cat[FC_PROTO][f->key.proto]++;
        if (f->key.proto == 6 || f->key.proto == 17) d->cat[FC_PORT][ff_service_port(f)]++;
        uint32_t n8 = f->npk < 8 ? f->npk : 8, bits = 0;
        for (uint32_t j = 0; j < n8; j++) bits |= (uint32_t)p[j].dir << j;
        if (n8) d->cat[FC_DIRPAT][n8 * 256 + bits]++;
        if (f->key.proto == 6) {
            d->tcp_flows++;
            d->handshake += ff_handshake(f) != 0;
            d->teardown += ff_teardown(f) != 0;
            d->rst += (f->tcp & FT_RST) != 0;
            d->midstream += (f->tcp & FT_MIDSTREAM) != 0;
            d->seq_ok += f->seq_ok[0] && f->seq_ok[1];
            d->ack_ok += f->ack_ok[0] && f->ack_ok[1];
        }
        uint64_t np = f->pkts[0] + f->pkts[1];
        dpush(&cv[FN_FLOW_PKTS], (double)np);
        dpush(&cv[FN_PKTS_A], (double)f->pkts[0]);
        dpush(&cv[FN_PKTS_B], (double)f->pkts[1]);
        dpush(&cv[FN_FLOW_BYTES], (double)(f->bytes[0] + f->bytes[1]));
        dpush(&cv[FN_DURATION], f->last_ns > f->first_ns ? (double)(f->last_ns - f->first_ns) * 1e-9 : 0);
        int64_t last[2] = { -1, -1 };
        for (uint32_t j = 0; j < f->npk; j++) {
            int dir = p[j].dir & 1;
            d->packets++;
            d->cat[dir ? FC_TTL_B : FC_TTL_A][p[j].ttl]++;
            d->cat[FC_IPVER][f->key.ipver & 15]++;
            if (f->key.proto == 6) d->cat[dir ? FC_FLAGS_B : FC_FLAGS_A][p[j].flags]++;
            dpush(&cv[dir ? FN_SIZE_B : FN_SIZE_A], p[j].ip_len);
            /* captures are not always in time order: a packet stamped before its
             * predecessor counts as arriving with it (IAT 0) */
            if (last[dir] >= 0) dpush(&cv[dir ? FN_IAT_B : FN_IAT_A], p[j].t_ns > last[dir] ? (double)(p[j].t_ns - last[dir]) * 1e-9 : 0);
            if (p[j].t_ns > last[dir]) last[dir] = p[j].t_ns;
            d->kept++;
            d->len_ok += (p[j].valid & FFP_LEN_OK) != 0;
            d->csum_checked += (p[j].valid & FFP_CSUM_CHECKED) != 0;
            d->csum_ok += (p[j].valid & FFP_CSUM_OK) != 0;
            d->truncated += (p[j].valid & FFP_TRUNC) != 0;
            if (s->hdr_len) {
                const uint8_t *h = ff_hdr(s, f->pk + j);
                uint64_t *bp = d->bytepos;
                for (int k = 0; k < s->hdr_len; k++) bp[(size_t)k * 257 + (k < h[0] ? h[1 + k] : 256)]++;
            }
        }
    }
    /* Sorted once here: every distance to this side then merges in linear time (the
     * transforms are monotonic, so transformed samples stay sorted). */
    #pragma omp parallel for schedule(dynamic, 1)
    for (int k = 0; k < NFN; k++) sort_doubles(cv[k].v, cv[k].n);
    for (int k = 0; k < NFN; k++) { d->cont[k] = cv[k].v; d->ncont[k] = cv[k].n; }
}

void fid_side_free(fid_side *d) {
    for (int k = 0; k < NFC; k++) free(d->cat[k]);
    for (int k = 0; k < NFN; k++) free(d->cont[k]);
    free(d->bytepos);
    memset(d, 0, sizeof *d);
}

static double emd_field(const fid_side *ref, const fid_side *b, int k, int transform) {
    size_t na = ref->ncont[k], nb = b->ncont[k];
    if (!na || !nb) return 0;
    if (!transform) return emd_1d_sorted(ref->cont[k], na, b->cont[k], nb);
    double *x = malloc(na * sizeof *x), *y = malloc(nb * sizeof *y);
    for (size_t i = 0; i < na; i++) x[i] = fid_cont_transform(k, ref->cont[k][i]);
    for (size_t i = 0; i < nb; i++) y[i] = fid_cont_transform(k, b->cont[k][i]);
    double w = emd_1d_sorted(x, na, y, nb), lo = x[0], hi = x[na - 1];
    free(x); free(y);
    return hi > lo ? w / (hi - lo) : w;   /* a constant reference: the transformed unit */
}

void fid_distance(fid_dist *out, const fid_side *ref, const fid_side *b) {
    memset(out, 0, sizeof *out);
    for (int k = 0; k < NFC; k++) out->jsd[k] = jsd_counts(ref->cat[k], b->cat[k], (size_t)fid_cat_bins(k));
    for (int k = 0; k < NFN; k++) {
        out->emd[k] = emd_field(ref, b, k, 1);
        out->emd_raw[k] = emd_field(ref, b, k, 0);
    }
    int H = ref->hdr_len < b->hdr_len ? ref->hdr_len : b->hdr_len;
    if (H > 0 && ref->bytepos && b->bytepos) {
        out->hdr_len = H;
        out->bytepos = malloc((size_t)H * sizeof *out->bytepos);
        out->bytepos_mean = jsd_bytepos(ref->bytepos, b->bytepos, H, out->bytepos);
    }
}

void fid_dist_free(fid_dist *d) { free(d->bytepos); memset(d, 0, sizeof *d); }
