/* Per-flow records for evaluation and shallow classification.
 *
 * One pass over captures (capture reader -> packet parser -> flow table) builds an ff_set:
 * one ff_flow per bidirectional flow with its totals and TCP state, and the first K packets
 * of the flow kept compactly (K = 0 keeps every packet, as `pktlm compare` needs), with
 * optionally the first H bytes of each kept packet from its IP header on.
 * ff_features() turns a flow into a fixed-length float vector for the forest (forest.h):
 * the shallow baseline of `pktlm eval` and the TSTR classifier of `pktlm compare`.
 * Memory: 16 + (H + 1) bytes per kept packet plus ~150 bytes per flow. */
#ifndef PKTLM_FLOWFEAT_H
#define PKTLM_FLOWFEAT_H
#include <stdint.h>
#include <stddef.h>
#include "flow/flow.h"

/* ff_pkt.valid bits: what the packet checks say (docs/compare.md, "Validity"). */
enum { FFP_LEN_OK = 1, FFP_CSUM_CHECKED = 2, FFP_CSUM_OK = 4, FFP_TRUNC = 8 };
/* FFP_LEN_OK: the IP packet fits in the frame on the wire, and a UDP header's length
 * equals the IP payload length. */

typedef struct {
    int64_t t_ns;        /* since the flow's first packet */
    uint16_t ip_len;     /* IP total length (wire size of the IP packet), saturated at 65535 */
    uint16_t pay_len;    /* transport payload bytes per the IP length */
    uint8_t dir;         /* 0 a->b (a sent the first packet), 1 b->a */
    uint8_t flags;       /* TCP flags, 0 for other protocols */
    uint8_t ttl;         /* TTL / hop limit */
    uint8_t valid;       /* FFP_* */
} ff_pkt;

typedef struct {
    flow_key key;
    int file;                  /* index into ff_set.files */
    int label;                 /* index into ff_set.labels, -1 when unlabelled */
    uint64_t id;               /* flow id within its file (order of first packet) */
    int64_t first_ns, last_ns;
    uint64_t pkts[2], bytes[2];/* whole flow per direction; bytes = IP lengths */
    uint8_t tcp;               /* FT_* bits of the flow table */
    uint8_t end_reason;        /* END_* */
    uint8_t seq_ok[2];         /* TCP: no forward gap in sequence numbers, per direction */
    uint8_t ack_ok[2];         /* TCP: never acknowledges bytes the other side did not send */
    uint32_t npk;              /* packets kept */
    size_t pk;                 /* index of the first kept packet in ff_set.pk */
} ff_flow;

/* Derived TCP facts (meaningful for key.proto == 6). */
int ff_handshake(const ff_flow *f);  /* SYN from a, SYN-ACK from b, ACK from a */
int ff_teardown(const ff_flow *f);   /* FIN from both sides and no RST */

typedef struct {
    uint64_t packets;          /* records read */
    uint64_t ip;               /* parsed as IPv4/IPv6 */
    uint64_t not_ip, unknown_link, malformed;
    uint64_t in_flows;         /* IP packets attributed to a flow */
    uint64_t ts_backwards;     /* records stamped before the previous record of their file */
    uint64_t files, files_bad; /* captures read; of which could not be opened or read to the end */
} ff_counts;

typedef struct {
    ff_flow *fl; size_t n, cap;
    ff_pkt *pk; size_t npk, pk_cap;
    uint8_t *hdr;              /* per kept packet: hdr_len+1 bytes = [bytes present, b0..] */
    int hdr_len;               /* H (0: no header bytes kept) */
    int k;                     /* packets kept per flow, 0 = all */
    char **files; int nfiles;
    char **labels; int nlabels;
    ff_counts cnt;
} ff_set;

void ff_set_init(ff_set *s, int k, int hdr_len);
void ff_set_free(ff_set *s);
/* Label name -> id, added when new. */
int ff_label_id(ff_set *s, const char *name);
static inline const ff_pkt *ff_pkts(const ff_set *s, const ff_flow *f) { return s->pk + f->pk; }
static inline const uint8_t *ff_hdr(const ff_set *s, size_t pkt_index) { return s->hdr + pkt_index * (size_t)(s->hdr_len + 1); }

/* Read one capture into the set (flows never span files). label: -1 or an ff_label_id().
 * cfg may be NULL (defaults). Returns 0, or -1 with a message in err (flows read before
 * the error are kept). */
int ff_read_file(ff_set *s, const char *path, int label, const flow_cfg *cfg, char *err, size_t errlen);

/* Append flow src (with its kept packets) of set `from` to `to` (same hdr_len), with a new
 * file index and label. Used to build replay baselines and split sets. */
void ff_copy_flow(ff_set *to, const ff_set *from, const ff_flow *src, int file, int label);
/* Append an empty flow and n packets to fill; returns the flow (valid until the next append). */
ff_flow *ff_append_flow(ff_set *s, const ff_flow *proto_flow, uint32_t n);

/* Feature vector of a flow for the shallow classifier. Only the first `k` kept packets are
 * used (k <= 0: all kept); totals over the whole flow are added when with_totals is set
 * (leave it off for early classification after K packets). */
typedef struct { int with_ports, with_totals, k; } ff_feat_cfg;
int ff_feature_count(const ff_feat_cfg *c);
const char *ff_feature_name(const ff_feat_cfg *c, int i);
void ff_features(const ff_set *s, const ff_flow *f, const ff_feat_cfg *c, float *out);

/* Service port of a flow: the responder's port (side b) for TCP/UDP; the lower port
 * when b's is ephemeral (>= 49152) and a's is not, 0 for protocols without ports. */
uint16_t ff_service_port(const ff_flow *f);
#endif
