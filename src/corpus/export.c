#include "corpus/export.h"
#include "corpus/tokens.h"
#include "capture/capture.h"
#include "util/util.h"
#include <stdlib.h>
#include <string.h>

void export_ether_header(uint8_t out[14], int dir, uint8_t ip0) {
    static const uint8_t mac[2][6] = { { 2, 0, 0, 0, 0, 1 }, { 2, 0, 0, 0, 0, 2 } };
    memcpy(out, mac[!dir], 6);          /* destination: the other side */
    memcpy(out + 6, mac[!!dir], 6);     /* source: the sender */
    wr16be(out + 12, ip0 >> 4 == 6 ? 0x86dd : 0x0800);
}

static uint32_t wire_len(const uint8_t *ip, uint32_t n) {
    if (n >= 20 && ip[0] >> 4 == 4) { uint32_t L = rd16be(ip + 2); return L >= n ? L : n; }
    if (n >= 40 && ip[0] >> 4 == 6) { uint32_t L = 40u + rd16be(ip + 4); return L >= n ? L : n; }
    return n;
}

int export_pcap(const char *path, const shard *s, int64_t t0_ns, export_counts *c, char *err, size_t errlen) {
    cap_writer w;
    if (cap_writer_open(&w, path, LT_RAW, 1, 65535) != 0) { snprintf(err, errlen, "%s: cannot create", path); return -1; }
    uint8_t *buf = malloc(65536);
    if (!buf) { cap_writer_abort(&w); snprintf(err, errlen, "out of memory"); return -1; }
    int64_t t = t0_ns;
    for (uint64_t i = 0; i < s->n_seqs; i++) {
        const shard_seq *q = &s->seqs[i];
        tok_reader r;
        tok_packet p;
        shard_reader_init(&r, s, q, t);
        while (tok_reader_next(&r, &p, buf, 65536) == 1) {
            if (cap_writer_write(&w, p.ts_ns, buf, p.n, wire_len(buf, p.n))) {
                free(buf); cap_writer_abort(&w); snprintf(err, errlen, "%s: write failed", path); return -1;
            }
            c->packets++;
            t = p.ts_ns;
        }
        t += 1000000000;
        c->written++;
    }
    free(buf);
    if (cap_writer_close(&w)) { snprintf(err, errlen, "%s: write failed", path); return -1; }
    return 0;
}
