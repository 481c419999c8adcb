/* Header fields of the packets in a token sequence (docs/field.md): where a named field
 * (ip.ttl, tcp.window, ...) sits in a packet's bytes, and every occurrence of it in a
 * corpus sequence, for NetGPT's header-field prediction task (`pktlm finetune --task field`).
 *
 * Offsets are computed per packet from its own IP header, so they are exact: IPv4 header
 * length from IHL, IPv6 fixed 40 bytes plus the extension-header chain (hop-by-hop,
 * routing, destination options, fragment, AH). Transport fields exist only in packets that
 * carry the start of the transport header (no later IP fragment) and only when every byte
 * of the field was retained by the corpus. */
#ifndef PKTLM_FIELDS_H
#define PKTLM_FIELDS_H
#include <stdint.h>
#include <stddef.h>
#include "corpus/tokfmt.h"

/* Field ids are stored in checkpoints (docs/checkpoint.md): never renumber, only append. */
enum {
    FIELD_NONE = 0,
    FIELD_IP_LEN = 1,      /* IPv4 total length / IPv6 payload length (2 bytes) */
    FIELD_IP_ID = 2,       /* IPv4 identification (2); IPv6 has none */
    FIELD_IP_TTL = 3,      /* IPv4 TTL / IPv6 hop limit (1) */
    FIELD_IP_PROTO = 4,    /* IPv4 protocol / IPv6 next header of the fixed header (1) */
    FIELD_IP_TOS = 5,      /* IPv4 type of service, DSCP + ECN (1); IPv6: none */
    FIELD_TCP_SPORT = 6,   /* (2) */
    FIELD_TCP_DPORT = 7,   /* (2) */
    FIELD_TCP_SEQ = 8,     /* (4) */
    FIELD_TCP_ACK = 9,     /* (4) */
    FIELD_TCP_FLAGS = 10,  /* byte 13 of the TCP header: CWR ECE URG ACK PSH RST SYN FIN (1) */
    FIELD_TCP_WINDOW = 11, /* (2) */
    FIELD_UDP_SPORT = 12,  /* (2) */
    FIELD_UDP_DPORT = 13,  /* (2) */
    FIELD_UDP_LEN = 14,    /* (2) */
    FIELD_COUNT
};

typedef struct {
    int id;
    const char *name;      /* "ip.ttl" */
    int width;             /* bytes, 1..4 */
    const char *what;      /* one line for --help and the docs */
} field_def;

/* The table (ids 1 .. FIELD_COUNT-1, in id order); *n = its length. */
const field_def *field_table(int *n);
const field_def *field_by_id(int id);          /* NULL if unknown */
const field_def *field_by_name(const char *s); /* NULL if unknown */

/* Offset of the field's first byte in an IP packet of which n bytes are present (from the
 * IP header on), or -1 when the packet has no such field or not all its bytes are present. */
int field_locate(int id, const uint8_t *ip, uint32_t n);

/* Bytes of a packet looked at to find a field: fields starting further in are not found. */
#define FIELD_SCAN_BYTES 512

/* One occurrence of a field in a token sequence. */
typedef struct {
    uint32_t pos;          /* token index of the field's first byte */
    uint32_t value;        /* big-endian value of its `width` bytes */
    int32_t pkt;           /* packet number in the sequence (0-based) */
    int32_t dir;           /* 0 client->server, 1 server->client, -1 no direction token */
} field_occ;

/* Every occurrence of field `id` in the sequence tok[0..n) (layout of docs/tokens.md:
 * <pkt> DIR TIME bytes...), in order. Writes at most cap; returns how many there are. */
int field_scan(int id, const tok_t *tok, size_t n, field_occ *out, int cap);
#endif
