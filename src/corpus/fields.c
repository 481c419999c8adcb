/* Header fields in packets and token sequences: see fields.h. */
#include "corpus/fields.h"
#include "corpus/tokens.h"
#include <string.h>

static const field_def table[FIELD_COUNT - 1] = {
    { FIELD_IP_LEN, "ip.len", 2, "IPv4 total length / IPv6 payload length" },
    { FIELD_IP_ID, "ip.id", 2, "IPv4 identification (IPv4 packets only)" },
    { FIELD_IP_TTL, "ip.ttl", 1, "IPv4 time to live / IPv6 hop limit" },
    { FIELD_IP_PROTO, "ip.proto", 1, "IPv4 protocol / IPv6 next header (of the fixed header)" },
    { FIELD_IP_TOS, "ip.tos", 1, "IPv4 type of service (DSCP + ECN; IPv4 packets only)" },
    { FIELD_TCP_SPORT, "tcp.sport", 2, "TCP source port" },
    { FIELD_TCP_DPORT, "tcp.dport", 2, "TCP destination port" },
    { FIELD_TCP_SEQ, "tcp.seq", 4, "TCP sequence number" },
    { FIELD_TCP_ACK, "tcp.ack", 4, "TCP acknowledgement number" },
    { FIELD_TCP_FLAGS, "tcp.flags", 1, "TCP flags byte (CWR ECE URG ACK PSH RST SYN FIN)" },
    { FIELD_TCP_WINDOW, "tcp.window", 2, "TCP window (unscaled)" },
    { FIELD_UDP_SPORT, "udp.sport", 2, "UDP source port" },
    { FIELD_UDP_DPORT, "udp.dport", 2, "UDP destination port" },
    { FIELD_UDP_LEN, "udp.len", 2, "UDP length" },
};

const field_def *field_table(int *n) { *n = FIELD_COUNT - 1; return table; }
const field_def *field_by_id(int id) { return id > FIELD_NONE && id < FIELD_COUNT ? &table[id - 1] : NULL; }
const field_def *field_by_name(const char *s) {
    for (int i = 0; s && i < FIELD_COUNT - 1; i++)
        if (!strcmp(s, table[i].name)) return &table[i];
    return NULL;
}

/* Transport header of an IP packet: its protocol and offset, or -1 when the packet has none
 * (not IP, header cut, a later fragment, an extension-header chain we cannot walk). */
static int transport(const uint8_t *b, uint32_t n, int *proto) {
    if (n < 1) return -1;
    int v = b[0] >> 4;
    if (v == 4) {
        uint32_t ihl = (uint32_t)(b[0] & 15) * 4;
        if (ihl < 20 || n < 20) return -1;
        if (((b[6] & 0x1f) << 8 | b[7]) != 0) return -1;   /* a later fragment */
        *proto = b[9];
        return (int)ihl;
    }
    if (v != 6 || n < 40) return -1;
    int nh = b[6];
    uint32_t off = 40;
    for (int k = 0; k < 8; k++) {   /* a bounded walk: real chains are short */
        if (nh == 0 || nh == 43 || nh == 60 || nh == 51) {   /* hop-by-hop, routing, dest opts, AH */
            if (off + 2 > n) return -1;
            uint32_t len = nh == 51 ? ((uint32_t)b[off + 1] + 2) * 4 : ((uint32_t)b[off + 1] + 1) * 8;
            nh = b[off];
            off += len;
        } else if (nh == 44) {   /* fragment: transport header only in the first one */
            if (off + 8 > n) return -1;
            if ((((uint32_t)b[off + 2] << 8 | b[off + 3]) >> 3) != 0) return -1;
            nh = b[off];
            off += 8;
        } else {
            *proto = nh;
            return off > 0x7fffffff ? -1 : (int)off;
        }
    }
    return -1;
}

int field_locate(int id, const uint8_t *b, uint32_t n) {
    const field_def *f = field_by_id(id);
    if (!f || n < 1) return -1;
    int v = b[0] >> 4, off = -1;
    if (v != 4 && v != 6) return -1;
    switch (id) {
    case FIELD_IP_LEN: off = v == 4 ? 2 : 4; break;
    case FIELD_IP_ID: off = v == 4 ? 4 : -1; break;
    case FIELD_IP_TTL: off = v == 4 ? 8 : 7; break;
    case FIELD_IP_PROTO: off = v == 4 ? 9 : 6; break;
    case FIELD_IP_TOS: off = v == 4 ? 1 : -1; break;
    default: {
        int proto = -1, t = transport(b, n, &proto);
        if (t < 0) return -1;
        int want = id <= FIELD_TCP_WINDOW ? 6 : 17;
        if (proto != want) return -1;
        static const int rel[FIELD_COUNT] = {
            [FIELD_TCP_SPORT] = 0, [FIELD_TCP_DPORT] = 2, [FIELD_TCP_SEQ] = 4, [FIELD_TCP_ACK] = 8,
            [FIELD_TCP_FLAGS] = 13, [FIELD_TCP_WINDOW] = 14, [FIELD_UDP_SPORT] = 0, [FIELD_UDP_DPORT] = 2,
            [FIELD_UDP_LEN] = 4,
        };
        off = t + rel[id];
    }
    }
    if (off < 0 || (uint32_t)off + (uint32_t)f->width > n) return -1;
    return off;
}

int field_scan(int id, const tok_t *tok, size_t n, field_occ *out, int cap) {
    const field_def *f = field_by_id(id);
    if (!f) return 0;
    uint8_t buf[FIELD_SCAN_BYTES];
    int found = 0, pkt = -1;
    size_t i = 0;
    while (i < n) {
        if (tok[i] != TOK_PKT) { i++; continue; }
        pkt++;
        i++;
        int dir = -1;
        if (i < n && (tok[i] == TOK_DIR_CS || tok[i] == TOK_DIR_SC)) { dir = tok[i] == TOK_DIR_SC; i++; }
        if (i < n && tok_is_time(tok[i])) i++;
        size_t start = i;
        uint32_t nb = 0;
        while (i < n && tok[i] < 256) {
            if (nb < FIELD_SCAN_BYTES) buf[nb++] = (uint8_t)tok[i];
            i++;
        }
        int off = field_locate(id, buf, nb);
        if (off < 0) continue;
        if (found < cap) {
            uint32_t v = 0;
            for (int k = 0; k < f->width; k++) v = v << 8 | buf[off + k];
            out[found] = (field_occ){ .pos = (uint32_t)(start + (size_t)off), .value = v, .pkt = pkt, .dir = dir };
        }
        found++;
    }
    return found;
}
