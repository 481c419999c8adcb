/* Test helpers: build IPv4/IPv6 TCP/UDP packets and capture files by hand. */
#ifndef PKTLM_PKTBUILD_H
#define PKTLM_PKTBUILD_H
#include "capture/capture.h"
#include "capture/packet.h"
#include "util/util.h"
#include <string.h>
#include <stdio.h>

/* IPv4 + TCP (flags, seq, ack) or UDP (flags ignored) with `plen` payload bytes of value 'x'.
 * Returns the IP packet length written to out. Checksums correct. */
static __attribute__((unused)) uint32_t build_ip4(uint8_t *out, int proto, uint32_t src, uint32_t dst, uint16_t sp, uint16_t dp,
                          uint8_t flags, uint32_t seq, uint32_t ack, uint32_t plen) {
    uint32_t l4 = proto == 6 ? 20 : 8, tot = 20 + l4 + plen;
    memset(out, 0, tot);
    out[0] = 0x45; wr16be(out + 2, (uint16_t)tot); wr16be(out + 4, 0x1234); out[8] = 64; out[9] = (uint8_t)proto;
    wr32be(out + 12, src); wr32be(out + 16, dst);
    uint8_t *t = out + 20;
    wr16be(t, sp); wr16be(t + 2, dp);
    if (proto == 6) { wr32be(t + 4, seq); wr32be(t + 8, ack); t[12] = 5 << 4; t[13] = flags; wr16be(t + 14, 65535); }
    else wr16be(t + 4, (uint16_t)(8 + plen));
    memset(t + l4, 'x', plen);
    ip_fix_checksums(out, tot);
    return tot;
}

static __attribute__((unused)) uint32_t build_ip6(uint8_t *out, int proto, uint8_t srclast, uint8_t dstlast, uint16_t sp, uint16_t dp,
                          uint8_t flags, uint32_t plen) {
    uint32_t l4 = proto == 6 ? 20 : 8, tot = 40 + l4 + plen;
    memset(out, 0, tot);
    out[0] = 0x60; wr16be(out + 4, (uint16_t)(l4 + plen)); out[6] = (uint8_t)proto; out[7] = 64;
    out[8] = 0x20; out[9] = 0x01; out[23] = srclast;
    out[24] = 0x20; out[25] = 0x01; out[39] = dstlast;
    uint8_t *t = out + 40;
    wr16be(t, sp); wr16be(t + 2, dp);
    if (proto == 6) { t[12] = 5 << 4; t[13] = flags; }
    else wr16be(t + 4, (uint16_t)(8 + plen));
    memset(t + l4, 'y', plen);
    ip_fix_checksums(out, tot);
    return tot;
}

/* Ethernet frame around an IP packet (ethertype from the version nibble). */
static __attribute__((unused)) uint32_t eth_wrap(uint8_t *out, const uint8_t *ip, uint32_t n) {
    static const uint8_t mac[12] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2 };
    memcpy(out, mac, 12);
    wr16be(out + 12, (ip[0] >> 4) == 6 ? 0x86dd : 0x0800);
    memcpy(out + 14, ip, n);
    return n + 14;
}

static __attribute__((unused)) void tpath(char *buf, size_t n, const char *name) {
    const char *d = getenv("PKTLM_TMP");
    snprintf(buf, n, "%s/%s", d && *d ? d : "/tmp", name);
}

static __attribute__((unused)) int write_bytes(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(b, 1, n, f);
    fclose(f);
    return w == n ? 0 : -1;
}
#endif
