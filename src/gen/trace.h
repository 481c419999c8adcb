/* From generated packets to a valid trace (docs/generate.md, "From tokens to packets").
 *
 * A model emits, per packet, the retained bytes of an IP packet (headers and the first
 * payload bytes), a direction, a flow number and a time. Those bytes may be inconsistent.
 * The trace writer turns them into packets every tool accepts:
 *   - repairs what has one unambiguous fix (length fields, TCP data offset below 5,
 *     unparseable TCP options -> NOPs, TCP options cut short -> end of list, fragment bits,
 *     TTL 0) and drops the rest (IP version other than 4/6, protocols other than
 *     TCP/UDP/ICMP/ICMPv6, IP header or fixed TCP/UDP/ICMP header cut short);
 *   - pads the payload up to the IP total length the model asked for (zeros), capped at
 *     the MTU, so packet sizes follow the model while every length field is consistent;
 *   - gives every flow consistent endpoints from a documented synthetic pool, fixed
 *     ports per flow, TCP sequence/acknowledgement numbers that follow the bytes sent in
 *     each direction (random initial numbers), and correct checksums;
 *   - synthesises an Ethernet header (or writes raw IP) and writes pcap or pcapng through
 *     a temporary file renamed into place. */
#ifndef PKTLM_TRACE_H
#define PKTLM_TRACE_H
#include <stdint.h>

typedef struct {
    int64_t ts_ns;
    uint32_t flow;          /* flow number in this trace (any value; flows are found by it) */
    uint8_t dir;            /* 0 client -> server, 1 server -> client */
    const uint8_t *ip;      /* generated IP packet bytes */
    uint32_t n;
    /* hosts of side a (client) and side b (server), kept across flows (whole-capture
     * generation: one host talks to many servers); 0 = the writer's pool gives the flow its
     * own endpoints. Else TRACE_HOST(pool, i): host i of the client or server pool. Read with
     * a flow's first packet. */
    uint32_t host[2];
} gen_pkt;
enum { TRACE_POOL_CLIENT = 0, TRACE_POOL_SERVER = 1 };
#define TRACE_HOST(pool, i) ((uint32_t)(pool) << 31 | ((uint32_t)(i) + 1))
/* The address of host i of a pool (documented ranges, docs/generate.md): clients 10.0.0.2 + i /
 * fd00::2 + i, servers 198.18.0.1 + (i mod 131000) / 2001:db8::1 + i. */
void trace_host_addr(int ipver, int pool, uint32_t i, uint8_t out[16]);

enum { TRACE_ETHERNET = 0, TRACE_RAW = 1 };

typedef struct {
    int link;               /* TRACE_ETHERNET or TRACE_RAW */
    int pcapng;             /* write pcapng instead of pcap */
    uint32_t mtu;           /* largest IP packet written (default 1500) */
    uint32_t n_clients;     /* distinct client hosts flows are spread over (default 1) */
    uint64_t seed;          /* initial sequence numbers, client ports */
} trace_cfg;

typedef struct {
    uint64_t in, written, dropped, repaired;
    /* drop reasons */
    uint64_t drop_version, drop_proto, drop_short;
    /* repair kinds (a packet may have several) */
    uint64_t fix_length, fix_doff, fix_options, fix_frag, fix_ttl, fix_ports, fix_padded;
    uint64_t fix_cut;       /* TCP header cut inside its options: completed with zeros (end of list) */
    uint64_t flows;
} trace_stats;

typedef struct trace_writer trace_writer;

void trace_cfg_default(trace_cfg *c);
/* NULL on failure (cannot create the file). */
trace_writer *trace_open(const char *path, const trace_cfg *cfg);
/* 1 written, 0 dropped, -1 write error. */
int trace_add(trace_writer *w, const gen_pkt *p);
/* Finish: 0 and the file is in place; -1 and nothing is left behind. */
int trace_close(trace_writer *w, trace_stats *st);
void trace_abort(trace_writer *w);
#endif
