/* pcap writer (microsecond or nanosecond timestamps). The file is written under a
 * temporary name and renamed into place by cap_writer_close(). */
#include "capture/capture.h"
#include "util/util.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cap_writer_open(cap_writer *w, const char *path, uint16_t linktype, int nsec, uint32_t snaplen) {
    return cap_writer_open_fmt(w, path, linktype, nsec, snaplen, 0);
}

/* pcapng: section header, then one interface description (with if_tsresol). */
static void ng_header(cap_writer *w, uint16_t linktype) {
    uint8_t shb[28], idb[32];
    wr32le(shb, 0x0a0d0d0a); wr32le(shb + 4, 28); wr32le(shb + 8, 0x1a2b3c4d);
    wr16le(shb + 12, 1); wr16le(shb + 14, 0);
    wr32le(shb + 16, 0xffffffff); wr32le(shb + 20, 0xffffffff); wr32le(shb + 24, 28);
    memset(idb, 0, sizeof idb);
    wr32le(idb, 1); wr32le(idb + 4, 32);
    wr16le(idb + 8, linktype); wr32le(idb + 12, w->snaplen);
    wr16le(idb + 16, 9); wr16le(idb + 18, 1); idb[20] = w->nsec ? 9 : 6;   /* if_tsresol */
    wr16le(idb + 24, 0); wr16le(idb + 26, 0);                           /* opt_endofopt */
    wr32le(idb + 28, 32);
    if (fwrite(shb, 1, 28, w->f) != 28 || fwrite(idb, 1, 32, w->f) != 32) w->failed = 1;
}

int cap_writer_open_fmt(cap_writer *w, const char *path, uint16_t linktype, int nsec, uint32_t snaplen, int pcapng) {
    memset(w, 0, sizeof *w);
    char err[64];
    w->f = atomic_open(&w->out, path, err, sizeof err);   /* errno says why */
    if (!w->f) return -1;
    setvbuf(w->f, NULL, _IOFBF, 1 << 20);
    w->nsec = nsec;
    w->pcapng = pcapng;
    w->snaplen = snaplen ? snaplen : 262144;
    if (pcapng) { ng_header(w, linktype); return 0; }
    uint8_t h[24];
    wr32le(h, nsec ? 0xa1b23c4du : 0xa1b2c3d4u);
    wr16le(h + 4, 2); wr16le(h + 6, 4);
    wr32le(h + 8, 0); wr32le(h + 12, 0);
    wr32le(h + 16, w->snaplen);
    wr32le(h + 20, linktype);
    if (fwrite(h, 1, 24, w->f) != 24) w->failed = 1;
    return 0;
}

int cap_writer_write(cap_writer *w, int64_t ts_ns, const uint8_t *data, uint32_t caplen, uint32_t len) {
    if (caplen > w->snaplen) caplen = w->snaplen;
    if (len < caplen) len = caplen;
    if (w->pcapng) {
        uint64_t t = w->nsec ? (uint64_t)ts_ns : (uint64_t)(ts_ns / 1000);
        uint32_t pad = (4 - caplen % 4) % 4, blen = 32 + caplen + pad;
        uint8_t h[28], tail[8] = { 0 };
        wr32le(h, 6); wr32le(h + 4, blen); wr32le(h + 8, 0);
        wr32le(h + 12, (uint32_t)(t >> 32)); wr32le(h + 16, (uint32_t)t);
        wr32le(h + 20, caplen); wr32le(h + 24, len);
        wr32le(tail + pad, blen);
        if (fwrite(h, 1, 28, w->f) != 28 || fwrite(data, 1, caplen, w->f) != caplen || fwrite(tail, 1, pad + 4, w->f) != pad + 4) {
            w->failed = 1;
            return -1;
        }
        w->packets++;
        return 0;
    }
    int64_t sec = ts_ns / 1000000000, frac = ts_ns % 1000000000;
    if (frac < 0) { frac += 1000000000; sec--; }
    uint8_t h[16];
    wr32le(h, (uint32_t)sec);
    wr32le(h + 4, (uint32_t)(w->nsec ? frac : frac / 1000));
    wr32le(h + 8, caplen); wr32le(h + 12, len);
    if (fwrite(h, 1, 16, w->f) != 16 || fwrite(data, 1, caplen, w->f) != caplen) { w->failed = 1; return -1; }
    w->packets++;
    return 0;
}

int cap_writer_close(cap_writer *w) {
    if (!w->f) return -1;
    char err[64];
    int bad = w->failed;
    if (bad) atomic_abort(&w->out);
    else bad = atomic_commit(&w->out, err, sizeof err) != 0;   /* errno says why */
    w->f = NULL;
    return bad ? -1 : 0;
}

void cap_writer_abort(cap_writer *w) {
    if (!w->f) return;
    atomic_abort(&w->out);
    w->f = NULL;
}
