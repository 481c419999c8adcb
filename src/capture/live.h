/* Live capture from a network interface through libpcap (docs/live.md).
 *
 * The file reader (capture.h) is our own; for an interface the kernel's packet socket is the
 * only way in, and libpcap is the library every user expects there (tcpdump, Zeek, Wireshark):
 * it sets up the ring buffer, compiles BPF filters and counts the kernel's drops. This wraps
 * it so that a live packet looks like a packet from a file (cap_pkt: nanosecond timestamp,
 * link type as in files), and the rest of pktlm does not know the difference.
 *
 * Capturing needs CAP_NET_RAW (root, or `setcap cap_net_raw,cap_net_admin=eip pktlm`):
 * live_open says so when it is missing. */
#ifndef PKTLM_LIVE_H
#define PKTLM_LIVE_H
#include <stdint.h>
#include <stddef.h>
#include "capture/capture.h"

typedef struct {
    const char *iface;       /* "eth0", "any" (Linux cooked headers), ... */
    const char *filter;      /* BPF expression in tcpdump's syntax; NULL or "" = every packet */
    int snaplen;             /* bytes kept of each packet; default 262144 */
    int promisc;             /* promiscuous mode; default 0 */
    int buffer_mb;           /* kernel ring buffer in MiB; default 32 (bursts wait there) */
    int timeout_ms;          /* live_next returns 0 after this long without a packet; default 100 */
#define LIVE_BLOCK_MS 10     /* the most a packet waits in the kernel's ring before it is handed over */
} live_cfg;
void live_cfg_default(live_cfg *c);

typedef struct {
    uint64_t packets;        /* handed out by live_next */
    uint64_t bytes;          /* their wire lengths */
    uint64_t kernel_seen;    /* pcap_stats ps_recv: packets that passed the filter in the kernel */
    uint64_t kernel_drops;   /* ps_drop: dropped because the buffer was full (we were too slow) */
    uint64_t if_drops;       /* ps_ifdrop: dropped by the interface or its driver */
} live_counters;

typedef struct live_src live_src;

/* Open and activate the interface, apply the filter. NULL with err set (naming the interface
 * and, for a permission error, what to do). A warning (promiscuous mode not supported, ...)
 * goes to warn (may be NULL; "" when none). */
live_src *live_open(const live_cfg *c, char *err, size_t errlen, char *warn, size_t warnlen);
/* The next packet: 1 = packet in *p (valid until the next call), 0 = none within the timeout
 * (wait 0: none waiting in the buffer now), -1 = error (err set: the interface went down, ...). */
int live_next(live_src *s, cap_pkt *p, int wait, char *err, size_t errlen);
/* Make a waiting live_next return 0 (it does within timeout_ms anyway); safe from another
 * thread or a signal handler. */
void live_wake(live_src *s);
/* Link type of the packets (LINKTYPE_* as in files), their timestamp resolution in ns (1 or
 * 1000) and the snap length in effect. */
int live_linktype(const live_src *s);
int live_ts_ns_resolution(const live_src *s);
uint32_t live_snaplen(const live_src *s);
/* Counters so far (the kernel's from pcap_stats). 0 ok, -1 when the kernel's could not be read
 * (the others are filled). */
int live_counters_get(live_src *s, live_counters *c);
void live_close(live_src *s);
#endif
