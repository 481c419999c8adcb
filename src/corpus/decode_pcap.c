/* Token sequence -> raw-IP pcap: the decoder's output in a file tools can open. */
#include "corpus/tokens.h"
#include "capture/capture.h"
#include "util/util.h"
#include <stdio.h>
#include <stdlib.h>

/* Wire length of a decoded IP packet: its header's total length when plausible. */
static uint32_t wire_len(const uint8_t *ip, uint32_t n) {
    if (n >= 20 && ip[0] >> 4 == 4) { uint32_t L = rd16be(ip + 2); return L >= n ? L : n; }
    if (n >= 40 && ip[0] >> 4 == 6) { uint32_t L = 40u + rd16be(ip + 4); return L >= n ? L : n; }
    return n;
}

long tok_write_pcap(const uint16_t *t, size_t n, int64_t t0_ns, const char *path, char *err, size_t errlen) {
    cap_writer w;
    if (cap_writer_open(&w, path, LT_RAW, 1, 65535) != 0) { snprintf(err, errlen, "%s: cannot create", path); return -1; }
    uint8_t *buf = malloc(65536);
    if (!buf) { cap_writer_abort(&w); snprintf(err, errlen, "out of memory"); return -1; }
    tok_reader r;
    tok_packet p;
    long np = 0;
    tok_reader_init(&r, t, n, t0_ns);
    while (tok_reader_next(&r, &p, buf, 65536) == 1) {
        if (cap_writer_write(&w, p.ts_ns, buf, p.n, wire_len(buf, p.n)) != 0) {
            free(buf); cap_writer_abort(&w); snprintf(err, errlen, "%s: write failed", path); return -1;
        }
        np++;
    }
    free(buf);
    if (cap_writer_close(&w) != 0) { snprintf(err, errlen, "%s: write failed", path); return -1; }
    return np;
}
