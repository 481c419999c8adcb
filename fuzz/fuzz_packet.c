/* libFuzzer target: the packet parser and the flow table on one frame.
 * Input: 2 bytes of link type (big endian), then the frame. The frame is copied into a
 * buffer of exactly its size so ASan sees any read past the captured bytes. The "wire
 * length" is varied from the input too (>= caplen), as in captures with a snap length.
 * See docs/fuzzing.md. */
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "capture/packet.h"
#include "flow/flow.h"

static void on_end(void *ctx, flow *f) { (void)ctx; (void)f; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    int lt = data[0] << 8 | data[1];
    size_t n = size - 2;
    uint8_t *frame = malloc(n ? n : 1);
    if (!frame) return 0;
    memcpy(frame, data + 2, n);
    uint32_t caplen = (uint32_t)n;
    uint32_t len = caplen + (n ? frame[n - 1] % 4 * 100u : 0);   /* sometimes longer on the wire */
    pkt_info pi;
    int st = pkt_parse(lt, frame, caplen, len, &pi);
    if (st == PKT_IP) {
        /* What the parser promises about offsets must stay inside the frame. */
        if (pi.l3_off > caplen || pi.l3_off + pi.l3_caplen > caplen) __builtin_trap();
        if (pi.has_l4 && pi.l4_off > caplen) __builtin_trap();
        if (pi.payload_caplen && (pi.payload_off > caplen || pi.payload_off + pi.payload_caplen > caplen)) __builtin_trap();
        if (pi.payload_caplen) { volatile uint8_t x = frame[pi.payload_off + pi.payload_caplen - 1]; (void)x; }
        flow_cfg cfg;
        flow_cfg_default(&cfg);
        cfg.max_flows = 8;
        flow_table *ft = flow_table_new(&cfg, on_end, NULL);
        int dir;
        flow_table_add(ft, &pi, 1000, len, &dir);
        flow_table_add(ft, &pi, 2000, len, &dir);   /* the same packet again: same flow */
        flow_table_flush(ft);
        flow_table_free(ft);
        /* the checksum helpers run on the IP packet the parser found */
        (void)ip_checksums_ok(frame + pi.l3_off, pi.l3_caplen);
        (void)ip_fix_checksums(frame + pi.l3_off, pi.l3_caplen);
    }
    free(frame);
    return 0;
}
