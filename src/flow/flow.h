/* Bidirectional 5-tuple flow table: one pass, open addressing, bounded memory.
 *
 * A flow is keyed by (IP version, protocol, the two endpoints); side a is the endpoint
 * that sent the first packet seen. A flow ends on idle timeout (per protocol), after FIN
 * in both directions or an RST (it lingers briefly so the final ACKs stay with it), when
 * a SYN reuses the tuple of a finished connection, when the table is full (the least
 * recently active flow is evicted), or at flush. Ended flows are handed to the callback
 * and their slot is reused, so memory stays flat however long the capture.
 * Later IP fragments are attributed to their flow through the first fragment's
 * (src, dst, protocol, IP id). */
#ifndef PKTLM_FLOW_H
#define PKTLM_FLOW_H
#include <stdint.h>
#include <stddef.h>
#include "capture/packet.h"

typedef struct {
    uint8_t ipver, proto;
    uint16_t port[2];        /* [0] side a, [1] side b */
    uint8_t addr[2][16];
} flow_key;

/* TCP state bits, per flow */
enum {
    FT_SYN_A = 1, FT_SYNACK_B = 2, FT_ACK_A = 4,      /* handshake = all three */
    FT_FIN_A = 8, FT_FIN_B = 16, FT_RST = 32, FT_MIDSTREAM = 64, /* first packet was not a SYN */
};
enum { END_IDLE = 1, END_FIN, END_RST, END_REUSE, END_EVICT, END_FLUSH };

typedef struct flow {
    flow_key key;
    uint64_t id;              /* 1, 2, ... in order of first packet, per table */
    int64_t first_ns, last_ns;
    uint64_t pkts[2], bytes[2];  /* [0] a->b, [1] b->a; bytes are frame wire lengths */
    uint32_t frags;           /* IP fragments counted in pkts */
    uint8_t tcp;              /* FT_* bits */
    uint8_t end_reason;       /* END_*, set when handed to the callback */
    uint8_t closing;          /* FIN+FIN or RST seen: lingering for trailing packets */
    void *user;               /* free for the caller (e.g. a per-flow buffer) */
    /* private to the table */
    uint32_t slot;            /* index in the hash array */
    uint32_t prev, next;      /* activity list (least recently active first) */
    uint8_t list;
} flow;

typedef void (*flow_end_fn)(void *ctx, flow *f);

typedef struct {
    double tcp_timeout;       /* seconds of idle time; default 300 */
    double udp_timeout;       /* UDP and every other protocol; default 60 */
    double linger;            /* after FIN+FIN / RST; default 2 */
    size_t max_flows;         /* active flows kept at once; default 1<<22 */
} flow_cfg;

typedef struct {
    uint64_t flows, active_peak, evicted;
    uint64_t frag_later_matched, frag_later_orphan;
    uint64_t not_attributed;  /* IP packets without a usable flow key */
} flow_counters;

typedef struct flow_table flow_table;

void flow_cfg_default(flow_cfg *c);
flow_table *flow_table_new(const flow_cfg *cfg, flow_end_fn on_end, void *ctx);
/* Attribute a parsed IP packet. Returns its flow (valid until the next call) and the
 * direction in *dir (0 a->b, 1 b->a), or NULL when it belongs to no flow (an orphan
 * later fragment). ts_ns must be roughly increasing (the max seen is "now"). */
flow *flow_table_add(flow_table *t, const pkt_info *pi, int64_t ts_ns, uint32_t wire_len, int *dir);
/* Live capture: time has reached now_ns without a packet (the wall clock); flows idle for
 * longer than their timeout end now, as the next packet would have ended them. A now_ns not
 * past the latest packet's time changes nothing. */
void flow_table_advance(flow_table *t, int64_t now_ns);
/* End every active flow, in order of their first packet (deterministic). */
void flow_table_flush(flow_table *t);
const flow_counters *flow_table_counters(const flow_table *t);
size_t flow_table_active(const flow_table *t);
void flow_table_free(flow_table *t);

/* "a.b.c.d" or IPv6 text of an endpoint address. buf >= 46 bytes. */
const char *flow_addr_str(int ipver, const uint8_t *addr, char *buf);
#endif
