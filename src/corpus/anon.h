/* Anonymisation of IP packet bytes (docs/corpus.md, "Anonymisation").
 *
 * Works on the bytes from the IP header on, possibly cut short (only the retained
 * prefix of a packet is rewritten; nothing past n is read or written).
 *  - addresses: mapped by a keyed bijection, one key per capture, so the same address
 *    maps alike within a capture and differently across captures. Prefix-preserving
 *    (two addresses sharing k leading bits map to addresses sharing exactly k) or
 *    random. Unspecified, loopback, limited broadcast and multicast stay as they are.
 *    Addresses quoted inside ICMP errors and IPv6 neighbour discovery are mapped too;
 *    link-layer addresses in ND options are zeroed.
 *  - per-flow identifiers (on by default): IPv4 id, IPv6 flow label, TCP sequence and
 *    acknowledgement numbers (one random offset per direction, so deltas are kept, SACK
 *    edges follow), TCP timestamp option values (offset per direction), ICMP echo id.
 *  - ports kept by default (real signal), or zeroed.
 *  - checksums: updated incrementally (RFC 1624 style: what the rewrite changes is
 *    taken out and the new bytes put in), so they stay correct even for cut packets
 *    whose payload is gone, and a checksum that was wrong stays wrong; or zeroed.
 * The mapping is a keyed hash, not cryptography: with the seed (written to the
 * manifest) and without --anon-secret, anyone can recompute it. */
#ifndef PKTLM_ANON_H
#define PKTLM_ANON_H
#include <stdint.h>
#include <stddef.h>

enum { ANON_ADDR_PREFIX = 0, ANON_ADDR_RANDOM, ANON_ADDR_KEEP };
enum { ANON_CSUM_UPDATE = 0, ANON_CSUM_ZERO };
/* Where the address map stays the same: within one flow (default for flow and packet
 * sequences: flows of one capture cannot be linked through their addresses, so a
 * flow split cannot leak a capture's hosts from train to test) or within a capture
 * (needed by multi-flow sequences, and what tools that rewrite traces do). */
enum { ANON_SCOPE_FLOW = 0, ANON_SCOPE_CAPTURE };

typedef struct {
    int addr;           /* ANON_ADDR_* */
    int ids;            /* randomise per-flow identifiers (default 1) */
    int mask_ports;     /* zero TCP/UDP ports (default 0) */
    int csum;           /* ANON_CSUM_* */
    int scope;          /* ANON_SCOPE_* */
} anon_cfg;
void anon_cfg_default(anon_cfg *c);

/* Dictionary of the addresses and MACs a capture uses in its headers (filled by a first
 * pass over the capture): payload bytes equal to one of them are rewritten too (an IP
 * address is mapped like the headers' addresses, a MAC is zeroed), so DNS/mDNS answers,
 * NTP reference ids and discovery protocols do not carry the originals into the corpus. */
typedef struct {
    uint64_t *slot;          /* open addressing; 0 = empty */
    size_t cap, n;
    uint8_t pre4[8192], pre6[8192], pre_mac[8192];   /* bitmaps of the first two bytes */
} anon_dict;
void anon_dict_clear(anon_dict *d);
void anon_dict_add_ip(anon_dict *d, int ipver, const uint8_t *addr);   /* special ones ignored */
void anon_dict_add_mac(anon_dict *d, const uint8_t *mac);              /* group/zero ignored */
void anon_dict_free(anon_dict *d);

#define ANON_CACHE 8192
typedef struct {
    anon_cfg cfg;
    uint64_t key;                       /* per-capture key */
    const anon_dict *dict;              /* optional: scrub payload bytes (set after anon_init) */
    uint64_t scrubbed_ip, scrubbed_mac; /* payload rewrites done (binary) */
    uint64_t scrubbed_text_ip, scrubbed_text_mac;   /* addresses mapped, MACs zeroed as text */
    struct { uint64_t key; uint8_t ver, in[16], out[16]; } cache[ANON_CACHE];  /* recent mappings */
} anon_ctx;
/* key: derive with anon_key(seed, secret, file_index). */
void anon_init(anon_ctx *a, const anon_cfg *cfg, uint64_t key);
uint64_t anon_key(uint64_t seed, const char *secret, uint32_t file_index);

typedef struct {
    uint32_t seq[2], ts[2];   /* offsets per direction */
    uint16_t ipid[2], echo_id;
    uint32_t flowlabel[2];
    uint64_t addr_key;        /* the address map of this flow (the capture's with scope capture) */
} anon_flow;
/* Offsets of one flow, drawn from the capture key and a flow number. */
void anon_flow_init(const anon_ctx *a, anon_flow *f, uint64_t flow_no);

/* Map one address (ipver 4: 4 bytes, 6: 16 bytes) with an address key (a->key for the
 * capture's map, or a flow's addr_key). */
void anon_addr(anon_ctx *a, uint64_t key, int ipver, const uint8_t *in, uint8_t *out);
/* Rewrite n bytes of an IP packet in place; dir 0 = sent by flow side a. */
void anon_packet(anon_ctx *a, const anon_flow *f, int dir, uint8_t *ip, uint32_t n);
#endif
