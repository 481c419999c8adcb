/* Flows of a packet stream as token sequences, decided as they happen (live classify,
 * docs/live.md).
 *
 * prep_each_flow() hands out a capture file's flows when they end, with the tokens of their
 * first max_pkts packets. A live stream cannot wait for the end: a flow is handed out
 * ("decided") as soon as its K-th packet has been encoded, or when it ends with fewer. The
 * tokens are the ones prep_each_flow builds for the same packets (same flow table, same
 * cut, anonymisation key of capture 0, flow numbers, label <unlabelled>), so a live decision
 * equals `pktlm classify --after K` on a file of the same packets. Two deliberate
 * differences, because the future is unknown:
 *  - prep's first pass collects every address and MAC of the capture's headers to scrub them
 *    from payloads too; here the dictionary holds the ones seen so far (the current packet's
 *    included), capped at STREAM_DICT_MAX entries. A payload that quotes an address before
 *    any header carries it (a DNS answer, usually cut by --payload) keeps it.
 *  - a corpus made with --max-flow-pkts drops flows that turn out longer; a flow decided at
 *    its K-th packet cannot be taken back (counted in decided_over_max when it happens).
 *
 * Memory is bounded: the flow table's cap (cfg->flows.max_flows; the least recently active
 * flow is evicted and decided), idle timeouts driven by stream_advance() when no packet
 * comes, and a decided flow keeps no tokens. */
#ifndef PKTLM_STREAM_H
#define PKTLM_STREAM_H
#include <stdint.h>
#include <stddef.h>
#include "capture/capture.h"
#include "corpus/prep.h"
#include "flow/flow.h"

#define STREAM_DICT_MAX (1u << 20)

enum { STREAM_AT_K = 0 };   /* reason of a decision at the K-th packet; else END_* (flow.h) */

typedef struct {
    const flow *f;          /* key, id, packet counts so far */
    const tok_t *tok;       /* the first K packets' tokens, ended (EOS) */
    size_t n;
    uint32_t pkts;          /* packets encoded in tok */
    int64_t ts_ns;          /* capture time of the deciding packet (at an end: the flow's last) */
    int reason;             /* STREAM_AT_K, or END_* when the flow ended first */
} stream_decision;
typedef void (*stream_fn)(void *ctx, const stream_decision *d);
/* Every flow when it ends (decided or not), e.g. for a flow log; may be NULL. */
typedef void (*stream_end_fn)(void *ctx, const flow *f, int decided);

typedef struct {
    uint64_t packets, bytes, ipv4, ipv6, not_ip, unknown_link, malformed, orphans;
    uint64_t flows, decided_at_k, decided_at_end;
    uint64_t filtered;          /* flows prep's filters drop (DHCP, ports, protocols, too short, format) */
    uint64_t decided_over_max;  /* decided at K, then longer than --max-flow-pkts */
    uint64_t dict_full;         /* addresses not added to the payload dictionary (cap reached) */
    uint64_t oom;               /* flows whose tokens could not be allocated */
} stream_counters;

typedef struct stream stream;

/* cfg: prep's options (unit flow; cfg->max_pkts is ignored: K = after); after >= 1.
 * NULL when out of memory. */
stream *stream_new(const prep_cfg *cfg, int after, stream_fn fn, stream_end_fn end_fn, void *ctx);
/* One captured packet. */
void stream_packet(stream *s, const cap_pkt *p);
/* No packet until now_ns (wall clock, same epoch as the packets): end the flows idle since. */
void stream_advance(stream *s, int64_t now_ns);
/* End every flow (capture over): the undecided ones are decided now. */
void stream_finish(stream *s);
const stream_counters *stream_get_counters(const stream *s);
const flow_counters *stream_flow_counters(const stream *s);
size_t stream_active(const stream *s);
void stream_free(stream *s);
#endif
