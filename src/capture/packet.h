/* Packet parsing: link layer -> IPv4/IPv6 -> TCP/UDP/ICMP, without copying.
 * Handles VLAN/QinQ of any depth, MPLS, PPPoE, LLC/SNAP, Linux SLL/SLL2, NULL/LOOP in
 * either byte order, PPP, Cisco HDLC, raw IP, radiotap/802.11 data frames, IPv4 options,
 * IPv6 extension headers and fragments. Ethernet padding is excluded: everything past
 * the IP total length is ignored. */
#ifndef PKTLM_PACKET_H
#define PKTLM_PACKET_H
#include <stdint.h>

enum pkt_status {
    PKT_IP = 0,          /* an IPv4/IPv6 packet was found */
    PKT_NOT_IP,          /* a valid frame carrying something else (ARP, STP, ...) */
    PKT_UNKNOWN_LINK,    /* a link type we do not decode */
    PKT_MALFORMED,       /* headers inconsistent or cut before the IP header ends */
};

enum { FRAG_NONE = 0, FRAG_FIRST = 1, FRAG_LATER = 2 };
enum { TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_RST = 0x04, TCP_PSH = 0x08, TCP_ACK = 0x10, TCP_URG = 0x20, TCP_ECE = 0x40, TCP_CWR = 0x80 };

typedef struct {
    uint8_t ipver;          /* 4 or 6; 0 when not IP */
    uint8_t proto;          /* transport protocol (after IPv6 extension headers) */
    uint8_t tcp_flags;
    uint8_t ttl;            /* TTL / hop limit */
    uint8_t frag;           /* FRAG_* */
    uint8_t has_l4;         /* the transport header (ports) is present in the capture */
    uint8_t vlan_depth;
    uint8_t truncated;      /* IP packet not wholly captured (caplen shorter than IP length) */
    uint16_t ethertype;     /* of the innermost link header (0x0800 / 0x86dd for IP) */
    uint16_t sport, dport;  /* 0 for protocols without ports */
    uint32_t frag_id;       /* IPv4 identification / IPv6 fragment identification */
    uint32_t frag_off;      /* fragment offset in bytes */
    uint8_t src[16], dst[16]; /* IPv4 addresses in the first 4 bytes, rest zero */
    uint32_t l3_off;        /* offset of the IP header in the frame */
    uint32_t l3_caplen;     /* IP packet bytes present: min(captured, IP total length) */
    uint32_t ip_len;        /* IP total length per the header (wire size of the IP packet) */
    uint32_t l4_off;        /* offset of the transport header in the frame (0 when none) */
    uint32_t l4_hdr_len;    /* TCP data offset * 4, 8 for UDP, 4+ for ICMP */
    uint32_t payload_off;   /* offset of the transport payload in the frame */
    uint32_t payload_caplen;/* payload bytes present */
    uint32_t payload_len;   /* payload bytes on the wire per the IP length */
    uint32_t seq, ack;
    uint16_t win;
    uint8_t icmp_type, icmp_code;
} pkt_info;

/* Parse one frame. Returns an enum pkt_status; pi is filled as far as parsing got. */
int pkt_parse(int linktype, const uint8_t *d, uint32_t caplen, uint32_t len, pkt_info *pi);
/* Parse starting at an IP header (version from the first nibble). */
int pkt_parse_ip(const uint8_t *d, uint32_t caplen, uint32_t off, pkt_info *pi);
/* Does pkt_parse() know this link type? */
int pkt_linktype_supported(int linktype);

/* Internet checksum helpers (RFC 1071), used by the writer, anonymiser and generator. */
uint32_t csum_add(uint32_t sum, const uint8_t *p, uint32_t n);
uint16_t csum_fold(uint32_t sum);
/* Recompute IPv4 header and TCP/UDP/ICMP/ICMPv6 checksums of an IP packet in place.
 * n = bytes present; transport checksums are only computed when the whole packet is
 * present (n >= IP total length). Returns 0 when all that could be fixed was fixed. */
int ip_fix_checksums(uint8_t *ip, uint32_t n);
/* 1 when every checksum that can be verified on the bytes present is correct. */
int ip_checksums_ok(const uint8_t *ip, uint32_t n);
#endif
