/* Fidelity of a capture to a reference capture (`pktlm compare`, docs/compare.md):
 * field distributions of each side, distances between sides, validity, TCP state,
 * memorisation of training flows, and the two baselines (replay, per-field sampler). */
#ifndef PKTLM_FIDELITY_H
#define PKTLM_FIDELITY_H
#include "eval/flowfeat.h"

/* Categorical fields (compared by JSD). Flow-level: proto, service port, direction pattern
 * of the first 8 packets; packet-level: the rest (per direction where the direction
 * matters: a = the side that sent first). */
enum { FC_PROTO, FC_PORT, FC_FLAGS_A, FC_FLAGS_B, FC_TTL_A, FC_TTL_B, FC_IPVER, FC_DIRPAT, NFC };
/* Continuous fields (compared by normalised EMD); stored in natural units (bytes,
 * seconds, packets). */
enum { FN_SIZE_A, FN_SIZE_B, FN_IAT_A, FN_IAT_B, FN_FLOW_PKTS, FN_PKTS_A, FN_PKTS_B, FN_FLOW_BYTES, FN_DURATION, NFN };
extern const char *const fid_cat_name[NFC];
extern const char *const fid_cont_name[NFN];
extern const char *const fid_cont_unit[NFN];
int fid_cat_bins(int field);
/* log10(1 + x in the field's EMD unit) for heavy-tailed fields, x itself for sizes. */
double fid_cont_transform(int field, double x);
int fid_cont_is_log(int field);

typedef struct {
    /* validity (packets); meaningful only when has_bytes */
    int has_bytes;            /* 0 for the per-field sampler: no real packets behind it */
    uint64_t records, ip, not_parsed;   /* not_parsed = malformed + unknown link type (non-IP frames parse) */
    uint64_t kept, len_ok, csum_checked, csum_ok, truncated;
    uint64_t ts_backwards, files, files_bad;
    /* TCP state (flows) */
    uint64_t flows, tcp_flows, handshake, seq_ok, ack_ok, teardown, rst, midstream;
    int has_seq;              /* 0 when the side has no sequence numbers (sampler) */
    uint64_t packets;         /* packets in flows */
    double *cat[NFC];         /* counts per bin */
    double *cont[NFN]; size_t ncont[NFN];   /* samples, sorted ascending */
    uint64_t *bytepos; int hdr_len;   /* hdr_len x 257 counts (256 = byte absent) */
} fid_side;

/* Summarise an ff_set built with k = 0 (all packets kept). */
void fid_side_build(fid_side *d, const ff_set *s, int has_bytes);
void fid_side_free(fid_side *d);

typedef struct {
    double jsd[NFC];
    double emd[NFN];          /* normalised: W1 of transformed values / range of the reference */
    double emd_raw[NFN];      /* W1 in natural units (no transform) */
    double bytepos_mean;
    double *bytepos;          /* per position, hdr_len entries */
    int hdr_len;
} fid_dist;

/* Distances of side b from the reference side ref. */
void fid_distance(fid_dist *out, const fid_side *ref, const fid_side *b);
void fid_dist_free(fid_dist *d);

/* ---- baselines (baseline.c) ---- */
/* n flows picked uniformly with replacement from src, copied whole (labels kept). */
void fid_replay(ff_set *out, const ff_set *src, size_t n, uint64_t seed);
/* n flows whose every field is drawn independently from its own marginal in src (per
 * label when src is labelled): key fields and addresses per flow, packet count, then per
 * packet direction, IP length, TCP flags, TTL, inter-arrival time, and each header byte
 * position. */
void fid_sampler(ff_set *out, const ff_set *src, size_t n, uint64_t seed);

/* ---- memorisation (memo.c) ---- */
typedef struct {
    size_t flows, exact, near;      /* flows of the candidate; copies of a training flow */
    size_t addrs, addrs_in_train;   /* distinct addresses of the candidate, and how many are training addresses */
    size_t flows_with_train_addr;
    char leaked[10][46]; int nleaked;   /* a few of them, as text */
} fid_memo;
/* Near copy: same protocol and service port and flow distance <= FID_NEAR (memo.c). */
#define FID_NEAR 0.1
#define FID_MEMO_PKTS 16
double fid_flow_distance(const ff_set *a, const ff_flow *fa, const ff_set *b, const ff_flow *fb);
typedef struct fid_train_index fid_train_index;
fid_train_index *fid_train_index_new(const ff_set *train);
void fid_train_index_free(fid_train_index *x);
void fid_memorisation(fid_memo *out, const fid_train_index *x, const ff_set *cand);
#endif
