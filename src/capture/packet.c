/* Frame parser: link layer -> IP -> transport, bounds-checked at every step against the
 * captured length. Nothing is copied; pkt_info holds offsets into the frame. */
#include "capture/packet.h"
#include "capture/capture.h"
#include "util/util.h"
#include <string.h>

#define ET_IPV4 0x0800
#define ET_IPV6 0x86dd
#define ET_VLAN 0x8100
#define ET_QINQ 0x88a8
#define ET_QINQ_OLD 0x9100
#define ET_MPLS 0x8847
#define ET_MPLS_MC 0x8848
#define ET_PPPOE 0x8864

static int parse_ip(const uint8_t *d, uint32_t caplen, uint32_t off, pkt_info *pi);

static int ip_by_version(const uint8_t *d, uint32_t caplen, uint32_t off, pkt_info *pi) {
    if (off >= caplen) return PKT_MALFORMED;
    return parse_ip(d, caplen, off, pi);
}

/* An ethertype found at offset off-2; payload starts at off. Handles tags and shims. */
static int after_ethertype(const uint8_t *d, uint32_t caplen, uint32_t off, uint16_t et, pkt_info *pi) {
    for (int guard = 0; guard < 64; guard++) {
        pi->ethertype = et;
        switch (et) {
        case ET_IPV4: case ET_IPV6: {
            int rc = ip_by_version(d, caplen, off, pi);
            /* an ethertype that disagrees with the IP version nibble is malformed */
            if (rc == PKT_IP && ((et == ET_IPV4) != (pi->ipver == 4))) return PKT_MALFORMED;
            return rc;
        }
        case ET_VLAN: case ET_QINQ: case ET_QINQ_OLD:
            if (off + 4 > caplen) return PKT_MALFORMED;
            pi->vlan_depth++;
            et = rd16be(d + off + 2);
            off += 4;
            continue;
        case ET_MPLS: case ET_MPLS_MC:
            /* pop labels to the bottom of the stack, then guess IP from the version nibble */
            for (;;) {
                if (off + 4 > caplen) return PKT_MALFORMED;
                int bottom = d[off + 2] & 1;
                off += 4;
                if (bottom) break;
            }
            if (off >= caplen) return PKT_MALFORMED;
            if ((d[off] >> 4) == 4 || (d[off] >> 4) == 6) return ip_by_version(d, caplen, off, pi);
            return PKT_NOT_IP;
        case ET_PPPOE: {
            if (off + 8 > caplen) return PKT_MALFORMED;
            uint16_t proto = rd16be(d + off + 6);
            off += 8;
            if (proto == 0x0021 || proto == 0x0057) return ip_by_version(d, caplen, off, pi);
            return PKT_NOT_IP;
        }
        default:
            return PKT_NOT_IP;
        }
    }
    return PKT_MALFORMED;
}

/* 802.2 LLC: SNAP carries an ethertype; anything else is not IP. */
static int llc(const uint8_t *d, uint32_t caplen, uint32_t off, pkt_info *pi) {
    if (off + 3 > caplen) return PKT_MALFORMED;
    if (d[off] == 0xaa && d[off + 1] == 0xaa && d[off + 2] == 0x03) {
        if (off + 8 > caplen) return PKT_MALFORMED;
        return after_ethertype(d, caplen, off + 8, rd16be(d + off + 6), pi);
    }
    return PKT_NOT_IP;
}

static int ethernet(const uint8_t *d, uint32_t caplen, uint32_t off, pkt_info *pi) {
    if (off + 14 > caplen) return PKT_MALFORMED;
    uint16_t et = rd16be(d + off + 12);
    if (et <= 1500) return llc(d, caplen, off + 14, pi);  /* 802.3 length field */
    return after_ethertype(d, caplen, off + 14, et, pi);
}

static int ppp(const uint8_t *d, uint32_t caplen, uint32_t off, pkt_info *pi) {
    if (off + 2 <= caplen && d[off] == 0xff && d[off + 1] == 0x03) off += 2;  /* HDLC address/control */
    if (off + 1 > caplen) return PKT_MALFORMED;
    uint16_t proto;
    if (d[off] & 1) { proto = d[off]; off += 1; }        /* protocol-field compression */
    else { if (off + 2 > caplen) return PKT_MALFORMED; proto = rd16be(d + off); off += 2; }
    if (proto == 0x0021) { pi->ethertype = ET_IPV4; return ip_by_version(d, caplen, off, pi); }
    if (proto == 0x0057) { pi->ethertype = ET_IPV6; return ip_by_version(d, caplen, off, pi); }
    return PKT_NOT_IP;
}

/* BSD NULL / LOOP: a 4-byte address family in the writer's byte order (NULL) or network
 * order (LOOP). Small values decide the order; all BSD AF_INET6 codes are accepted. */
static int null_loop(const uint8_t *d, uint32_t caplen, pkt_info *pi) {
    if (caplen < 4) return PKT_MALFORMED;
    uint32_t fam = rd32le(d);
    if (fam > 0xffff) fam = rd32be(d);
    if (fam == 2) { pi->ethertype = ET_IPV4; return ip_by_version(d, caplen, 4, pi); }
    if (fam == 10 || fam == 24 || fam == 28 || fam == 30) { pi->ethertype = ET_IPV6; return ip_by_version(d, caplen, 4, pi); }
    return PKT_NOT_IP;
}

static int ieee80211(const uint8_t *d, uint32_t caplen, uint32_t off, pkt_info *pi) {
    if (off + 24 > caplen) return PKT_MALFORMED;
    uint8_t fc0 = d[off], fc1 = d[off + 1];
    int type = (fc0 >> 2) & 3, subtype = fc0 >> 4;
    if (type != 2) return PKT_NOT_IP;             /* management / control */
    if (fc1 & 0x40) return PKT_NOT_IP;            /* protected: payload is encrypted */
    if (subtype & 4) return PKT_NOT_IP;           /* null data, no payload */
    uint32_t h = 24;
    if ((fc1 & 3) == 3) h += 6;                   /* four addresses (WDS) */
    if (subtype & 8) {                            /* QoS data */
        h += 2;
        if (fc1 & 0x80) h += 4;                   /* HT control */
    }
    return llc(d, caplen, off + h, pi);
}

int pkt_linktype_supported(int lt) {
    switch (lt) {
    case LT_NULL: case LT_LOOP: case LT_ETHERNET: case LT_PPP: case LT_PPP_HDLC: case LT_RAW_12: case LT_RAW_14:
    case LT_RAW: case LT_IPV4: case LT_IPV6: case LT_C_HDLC: case LT_LINUX_SLL: case LT_LINUX_SLL2:
    case LT_IEEE802_11: case LT_RADIOTAP: case LT_PPP_ETHER:
        return 1;
    default:
        return 0;
    }
}

int pkt_parse(int linktype, const uint8_t *d, uint32_t caplen, uint32_t len, pkt_info *pi) {
    memset(pi, 0, sizeof *pi);
    (void)len;
    switch (linktype) {
    case LT_ETHERNET:
        return ethernet(d, caplen, 0, pi);
    case LT_RAW: case LT_RAW_12: case LT_RAW_14: case LT_IPV4: case LT_IPV6:
        return ip_by_version(d, caplen, 0, pi);
    case LT_NULL: case LT_LOOP:
        return null_loop(d, caplen, pi);
    case LT_PPP: case LT_PPP_HDLC:
        return ppp(d, caplen, 0, pi);
    case LT_PPP_ETHER:                       /* a 6-byte PPPoE session header first */
        if (caplen < 6) return PKT_MALFORMED;
        return ppp(d, caplen, 6, pi);
    case LT_C_HDLC:
        if (caplen < 4) return PKT_MALFORMED;
        return after_ethertype(d, caplen, 4, rd16be(d + 2), pi);
    case LT_LINUX_SLL: {
        if (caplen < 16) return PKT_MALFORMED;
        uint16_t proto = rd16be(d + 14);
        if (proto == 0x0004) return llc(d, caplen, 16, pi);   /* 802.2 frames */
        return after_ethertype(d, caplen, 16, proto, pi);
    }
    case LT_LINUX_SLL2:
        if (caplen < 20) return PKT_MALFORMED;
        return after_ethertype(d, caplen, 20, rd16be(d), pi);
    case LT_IEEE802_11:
        return ieee80211(d, caplen, 0, pi);
    case LT_RADIOTAP: {
        if (caplen < 8) return PKT_MALFORMED;
        uint16_t hl = rd16le(d + 2);
        if (hl < 8 || hl > caplen) return PKT_MALFORMED;
        return ieee80211(d, caplen, hl, pi);
    }
    default:
        return PKT_UNKNOWN_LINK;
    }
}

static void transport(const uint8_t *d, uint32_t end, uint32_t off, uint32_t wire_end, pkt_info *pi) {
    /* end = last captured byte of the IP packet (+1); wire_end = per the IP length */
    uint32_t avail = end > off ? end - off : 0;
    uint32_t hl = 0;
    if ((pi->proto == 6 || pi->proto == 17 || pi->proto == 136 || pi->proto == 132) && avail >= 4) {
        /* ports even when the rest of the header was cut by the snapshot length */
        pi->sport = rd16be(d + off); pi->dport = rd16be(d + off + 2);
    }
    switch (pi->proto) {
    case 6:
        if (avail < 20) return;
        hl = (uint32_t)(d[off + 12] >> 4) * 4;
        if (hl < 20) hl = 20;                      /* bad data offset: keep the ports anyway */
        pi->sport = rd16be(d + off); pi->dport = rd16be(d + off + 2);
        pi->seq = rd32be(d + off + 4); pi->ack = rd32be(d + off + 8);
        pi->tcp_flags = d[off + 13]; pi->win = rd16be(d + off + 14);
        break;
    case 17: case 136:                             /* UDP, UDP-Lite */
        if (avail < 8) return;
        hl = 8;
        pi->sport = rd16be(d + off); pi->dport = rd16be(d + off + 2);
        break;
    case 132:                                      /* SCTP: ports only */
        if (avail < 12) return;
        hl = 12;
        pi->sport = rd16be(d + off); pi->dport = rd16be(d + off + 2);
        break;
    case 1: case 58:
        if (avail < 4) return;
        hl = avail < 8 ? 4 : 8;
        pi->icmp_type = d[off]; pi->icmp_code = d[off + 1];
        break;
    default:
        pi->l4_off = off;
        pi->payload_off = off;
        pi->payload_caplen = avail;
        pi->payload_len = wire_end > off ? wire_end - off : 0;
        return;
    }
    pi->has_l4 = 1;
    pi->l4_off = off;
    pi->l4_hdr_len = hl;
    pi->payload_off = off + hl;
    pi->payload_caplen = avail > hl ? avail - hl : 0;
    pi->payload_len = wire_end > off + hl ? wire_end - off - hl : 0;
}

int pkt_parse_ip(const uint8_t *d, uint32_t caplen, uint32_t off, pkt_info *pi) {
    memset(pi, 0, sizeof *pi);
    return parse_ip(d, caplen, off, pi);
}

static int parse_ip(const uint8_t *d, uint32_t caplen, uint32_t off, pkt_info *pi) {
    if (off >= caplen) return PKT_MALFORMED;
    uint32_t avail = caplen - off;
    const uint8_t *ip = d + off;
    int v = ip[0] >> 4;
    pi->l3_off = off;
    if (v == 4) {
        if (avail < 20) return PKT_MALFORMED;
        uint32_t ihl = (uint32_t)(ip[0] & 15) * 4;
        uint32_t tot = rd16be(ip + 2);
        if (ihl < 20 || ihl > avail) return PKT_MALFORMED;
        if (tot == 0) tot = avail;                 /* TSO / segmentation offload captures */
        if (tot < ihl) return PKT_MALFORMED;
        pi->ipver = 4;
        pi->ip_len = tot;
        pi->l3_caplen = tot < avail ? tot : avail;
        pi->truncated = avail < tot;
        pi->ttl = ip[8];
        pi->proto = ip[9];
        memcpy(pi->src, ip + 12, 4);
        memcpy(pi->dst, ip + 16, 4);
        uint16_t fo = rd16be(ip + 6);
        uint32_t frag_off = (uint32_t)(fo & 0x1fff) * 8;
        int mf = (fo & 0x2000) != 0;
        pi->frag_id = rd16be(ip + 4);
        if (frag_off || mf) {
            pi->frag = frag_off ? FRAG_LATER : FRAG_FIRST;
            pi->frag_off = frag_off;
        }
        if (pi->frag == FRAG_LATER) {
            pi->payload_off = off + ihl;
            pi->payload_caplen = pi->l3_caplen - ihl;
            pi->payload_len = tot - ihl;
            return PKT_IP;
        }
        transport(d, off + pi->l3_caplen, off + ihl, off + tot, pi);
        return PKT_IP;
    }
    if (v == 6) {
        if (avail < 40) return PKT_MALFORMED;
        uint32_t plen = rd16be(ip + 4);
        uint32_t tot = plen ? 40 + plen : avail;   /* 0: jumbogram or offload: take what is there */
        pi->ipver = 6;
        pi->ip_len = tot;
        pi->l3_caplen = tot < avail ? tot : avail;
        pi->truncated = avail < tot;
        pi->ttl = ip[7];
        memcpy(pi->src, ip + 8, 16);
        memcpy(pi->dst, ip + 24, 16);
        uint8_t nh = ip[6];
        uint32_t o = 40, end = pi->l3_caplen;
        for (int guard = 0; guard < 32; guard++) {
            if (nh == 0 || nh == 43 || nh == 60 || nh == 135 || nh == 139 || nh == 140) {
                if (o + 8 > end) { pi->proto = nh; return PKT_IP; }  /* cut inside: no transport */
                uint8_t next = ip[o];
                o += ((uint32_t)ip[o + 1] + 1) * 8;
                nh = next;
            } else if (nh == 51) {                 /* AH: length in 4-byte units minus 2 */
                if (o + 8 > end) { pi->proto = nh; return PKT_IP; }
                uint8_t next = ip[o];
                o += ((uint32_t)ip[o + 1] + 2) * 4;
                nh = next;
            } else if (nh == 44) {                 /* fragment header */
                if (o + 8 > end) { pi->proto = nh; return PKT_IP; }
                uint8_t next = ip[o];
                uint16_t fo = rd16be(ip + o + 2);
                pi->frag_off = (uint32_t)(fo & 0xfff8);
                int mf = fo & 1;
                pi->frag_id = rd32be(ip + o + 4);
                o += 8;
                nh = next;
                if (pi->frag_off || mf) {
                    pi->frag = pi->frag_off ? FRAG_LATER : FRAG_FIRST;
                    if (pi->frag == FRAG_LATER) {
                        pi->proto = nh;
                        pi->payload_off = off + (o < end ? o : end);
                        pi->payload_caplen = end > o ? end - o : 0;
                        pi->payload_len = tot > o ? tot - o : 0;
                        return PKT_IP;
                    }
                }
            } else {
                break;
            }
        }
        pi->proto = nh;
        if (o > end) return PKT_IP;                /* extension headers run past the capture */
        transport(d, off + end, off + o, off + tot, pi);
        return PKT_IP;
    }
    return PKT_MALFORMED;
}

/* ---- checksums ---- */

uint32_t csum_add(uint32_t sum, const uint8_t *p, uint32_t n) {
    uint64_t s = sum;
    uint32_t i = 0;
    for (; i + 1 < n; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (i < n) s += (uint32_t)p[i] << 8;
    while (s >> 32) s = (s & 0xffffffff) + (s >> 32);
    return (uint32_t)s;
}

uint16_t csum_fold(uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Pseudo-header sum for TCP/UDP/ICMPv6. */
static uint32_t pseudo(const uint8_t *ip, int v, uint8_t proto, uint32_t l4len) {
    uint32_t s = 0;
    if (v == 4) s = csum_add(0, ip + 12, 8);
    else s = csum_add(0, ip + 8, 32);
    uint8_t tail[8] = { 0 };
    wr32be(tail, l4len);
    tail[7] = proto;
    return csum_add(s, tail, 8);
}

/* Location of the transport checksum field (offset within the transport header), or -1. */
static int csum_field(uint8_t proto) {
    switch (proto) {
    case 6: return 16;
    case 17: return 6;
    case 1: case 58: return 2;
    default: return -1;
    }
}

static int l4_span(const uint8_t *ip, uint32_t n, pkt_info *pi) {
    if (pkt_parse_ip(ip, n, 0, pi) != PKT_IP) return -1;
    return 0;
}

int ip_fix_checksums(uint8_t *ip, uint32_t n) {
    pkt_info pi;
    if (l4_span(ip, n, &pi) < 0) return -1;
    if (pi.ipver == 4) {
        uint32_t ihl = (uint32_t)(ip[0] & 15) * 4;
        ip[10] = ip[11] = 0;
        wr16be(ip + 10, csum_fold(csum_add(0, ip, ihl)));
    }
    if (pi.truncated || pi.frag || !pi.has_l4) return pi.truncated ? -1 : 0;
    int f = csum_field(pi.proto);
    if (f < 0) return 0;
    uint32_t l4len = pi.ip_len - pi.l4_off;
    uint8_t *l4 = ip + pi.l4_off;
    if ((uint32_t)f + 2 > l4len) return -1;
    l4[f] = l4[f + 1] = 0;
    uint32_t s = pi.proto == 1 ? 0 : pseudo(ip, pi.ipver, pi.proto, l4len);
    uint16_t c = csum_fold(csum_add(s, l4, l4len));
    if (pi.proto == 17 && c == 0) c = 0xffff;      /* 0 means "no checksum" for UDP */
    wr16be(l4 + f, c);
    return 0;
}

int ip_checksums_ok(const uint8_t *ip, uint32_t n) {
    pkt_info pi;
    if (l4_span(ip, n, &pi) < 0) return 0;
    if (pi.ipver == 4) {
        uint32_t ihl = (uint32_t)(ip[0] & 15) * 4;
        if (csum_fold(csum_add(0, ip, ihl)) != 0) return 0;
    }
    if (pi.truncated || pi.frag || !pi.has_l4) return 1;
    int f = csum_field(pi.proto);
    if (f < 0) return 1;
    uint32_t l4len = pi.ip_len - pi.l4_off;
    const uint8_t *l4 = ip + pi.l4_off;
    if (pi.proto == 17 && pi.ipver == 4 && rd16be(l4 + 6) == 0) return 1;   /* UDP/IPv4 checksum unused */
    uint32_t s = pi.proto == 1 ? 0 : pseudo(ip, pi.ipver, pi.proto, l4len);
    return csum_fold(csum_add(s, l4, l4len)) == 0;
}
