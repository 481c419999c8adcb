/* Corpus sequences -> ff_set: see seqflows.h. */
#include "eval/seqflows.h"
#include "capture/packet.h"
#include "corpus/tokens.h"
#include <stdlib.h>
#include <string.h>

size_t ff_from_shard(ff_set *out, const shard *s, int max_pkts, char **names, int K) {
    for (int k = 0; names && k < K; k++) ff_label_id(out, names[k]);
    if (!out->nfiles) {
        out->files = malloc(sizeof *out->files);
        out->files[0] = strdup("(corpus)");
        out->nfiles = 1;
    }
    size_t cap = 64, added = 0;
    ff_pkt *tmp = malloc(cap * sizeof *tmp);
    uint8_t buf[65536];
    for (uint64_t i = 0; i < s->n_seqs; i++) {
        const shard_seq *q = &s->seqs[i];
        tok_reader r;
        shard_reader_init(&r, s, q, 0);
        tok_packet p;
        ff_flow proto;
        memset(&proto, 0, sizeof proto);
        uint32_t n = 0;
        int64_t t0 = 0;
        while (tok_reader_next(&r, &p, buf, sizeof buf)) {
            if (max_pkts > 0 && n >= (uint32_t)max_pkts) break;
            pkt_info pi;
            memset(&pi, 0, sizeof pi);
            int st = pkt_parse_ip(buf, p.n, 0, &pi);
            if (n == cap) { cap *= 2; tmp = realloc(tmp, cap * sizeof *tmp); }
            ff_pkt *k = &tmp[n];
            memset(k, 0, sizeof *k);
            if (n == 0) {
                t0 = p.ts_ns;
                if (st == PKT_IP) {
                    proto.key.ipver = pi.ipver; proto.key.proto = pi.proto;
                    proto.key.port[p.dir] = pi.sport; proto.key.port[!p.dir] = pi.dport;
                    memcpy(proto.key.addr[p.dir], pi.src, 16); memcpy(proto.key.addr[!p.dir], pi.dst, 16);
                }
            }
            k->t_ns = p.ts_ns - t0;
            k->dir = (uint8_t)(p.dir & 1);
            /* the IP length field says the wire size even when the corpus kept fewer bytes */
            uint32_t L = st == PKT_IP ? pi.ip_len : p.n;
            k->ip_len = (uint16_t)(L > 65535 ? 65535 : L);
            k->pay_len = (uint16_t)(st == PKT_IP && pi.payload_len < 65536 ? pi.payload_len : 0);
            k->flags = st == PKT_IP && pi.proto == 6 ? pi.tcp_flags : 0;
            k->ttl = pi.ttl;
            proto.pkts[k->dir]++;
            proto.bytes[k->dir] += k->ip_len;
            n++;
        }
        proto.label = q->label >= 0 && q->label < K ? q->label : -1;
        proto.id = q->flow;
        proto.last_ns = n ? tmp[n - 1].t_ns : 0;
        ff_flow *f = ff_append_flow(out, &proto, n);
        if (n) memcpy(out->pk + f->pk, tmp, n * sizeof *tmp);
        added++;
    }
    free(tmp);
    return added;
}
