/* libFuzzer target: the whole ingest path on an arbitrary file.
 * bytes -> memfd (an in-memory file, so the reader's real read() path runs) -> cap_open /
 * cap_next to the end -> pkt_parse on every packet -> flow table -> flush.
 * Every error is fine; a crash, a sanitizer report, a leak or a hang is a bug.
 * See docs/fuzzing.md. */
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "memfd.h"
#include "capture/capture.h"
#include "capture/packet.h"
#include "flow/flow.h"

static void on_end(void *ctx, flow *f) { (void)f; (*(uint64_t *)ctx)++; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    int fd = fuzz_memfd("fuzz.pcap", data, size, path);
    if (fd < 0) return 0;
    cap_reader r;
    if (cap_open(&r, path) == 0) {
        flow_cfg cfg;
        flow_cfg_default(&cfg);
        cfg.max_flows = 64;          /* small, so eviction is exercised too */
        uint64_t ended = 0;
        flow_table *ft = flow_table_new(&cfg, on_end, &ended);
        cap_pkt p;
        /* A record is at least 16 bytes, so a reader that makes progress delivers fewer
         * packets than bytes; more means it loops. */
        long n = 0;
        while (cap_next(&r, &p) == 1) {
            if (++n > (long)size + 16) __builtin_trap();
            if (p.caplen && p.data) {
                /* touch every byte: ASan checks that data[0..caplen) is really ours */
                volatile uint8_t x = p.data[0] ^ p.data[p.caplen - 1]; (void)x;
            }
            pkt_info pi;
            if (pkt_parse(p.linktype, p.data, p.caplen, p.len, &pi) == PKT_IP) {
                int dir;
                flow_table_add(ft, &pi, p.ts_ns, p.len, &dir);
            }
        }
        flow_table_flush(ft);
        flow_table_free(ft);
    }
    cap_close(&r);   /* also after a failed cap_open: it frees what open had set up */
    close(fd);
    return 0;
}
