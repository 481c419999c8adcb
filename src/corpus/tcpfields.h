/* tcpflowgen's TCP header-field tokens (`pktlm prep --tokens fields`), with pktlm's additions
 * (docs/tokens.md, "fields", id by id). This header is the format's whole API: the ids, the
 * per-packet encoder, the flow-type rule and the decoder back to IP packet bytes.
 *
 * A sequence (one TCP flow) is
 *     TYPE LABEL [IP6] ( DIR TIME PKT_SIZE size HEAD sport dport seq_hi seq_lo ack_hi ack_lo
 *                        doff 0 flags window 0 urgptr opt_word* )*  EOS
 * where every field value is one token 0..65535 (16-bit words, big-endian halves of the 32-bit
 * numbers); size = IP packet length minus the fixed IP header (IPv4 total length - 20 as
 * tcpflowgen computes it; IPv6 payload length); doff = the 4-bit data-offset value; the
 * reserved byte and the checksum are always 0; the TCP options are big-endian 16-bit words
 * (an odd length padded with 0x00). tcpflowgen's ids are 0..65545; LABEL, IP6 and TIME are
 * pktlm's additions, which `export --format tcpflowgen` leaves out. Payload bytes are not
 * part of this format (a decoded packet's payload is zeros of the recorded size). */
#ifndef PKTLM_TCPFIELDS_H
#define PKTLM_TCPFIELDS_H
#include <stdint.h>
#include <stddef.h>
#include "corpus/tokfmt.h"

enum {
    TCPF_NVALUES = 65536,      /* 0..65535: one 16-bit value */
    TCPF_COMPLETE = 65536,     /* flow type: handshake and termination */
    TCPF_START = 65537,        /* handshake only */
    TCPF_END = 65538,          /* termination only */
    TCPF_FREE = 65539,         /* neither (or fewer than 7 packets) */
    TCPF_FORWARD = 65540,      /* packet sent by the client (flow side a) */
    TCPF_REVERSE = 65541,      /* packet sent by the server */
    TCPF_HEAD = 65542,         /* the TCP header's words follow */
    TCPF_PKT_SIZE = 65543,     /* the size value follows */
    TCPF_EOS = 65544,
    TCPF_PAD = 65545,          /* tcpflowgen's padding id (data.py) */
    TCPF_SEED_VOCAB = 65546,   /* tcpflowgen's vocabulary: ids below this */
    /* pktlm's additions */
    TCPF_TIME0 = 65546,        /* 92 inter-arrival buckets, as the byte format's (tokens.h) */
    TCPF_NTIME = 92,
    TCPF_IP6 = TCPF_TIME0 + TCPF_NTIME,   /* 65638: the flow is IPv6 (after LABEL) */
    TCPF_UNLABELLED = 65639,
    TCPF_LABEL0 = 65640,
    TCPF_HDR_WORDS = 12,       /* sport .. urgptr */
    TCPF_PKT_FIXED = 5 + TCPF_HDR_WORDS,   /* DIR TIME PKT_SIZE size HEAD + 12 words: 17 tokens */
};

/* Flow-type rule (tcpflowgen's): with n >= 7 packets, handshake = the first three packets' flags
 * are exactly SYN, SYN+ACK, ACK; termination = the last four are FIN+ACK, ACK, FIN+ACK, ACK.
 * Flags compared without CWR/ECE (tcpflowgen does not read them). flags[i] of packet i. */
int tcpf_flow_type(const uint8_t *flags, size_t n);

/* Encode one IP packet (bytes from the IP header on, n present) of a TCP flow: writes at most
 * TCPF_PKT_FIXED + 20 tokens to out and returns how many, 0 when the packet is not TCP or its
 * TCP header is not all present. *clock_ns: the decoder's clock, as tok_encode_packet. */
size_t tcpf_encode_packet(tok_t *out, const uint8_t *ip, uint32_t n, int64_t ts_ns, int dir, int64_t *clock_ns);
/* 1 when ip is an IPv6 packet (the flow gets the IP6 token). */
static inline int tcpf_is_ip6(const uint8_t *ip, uint32_t n) { return n > 0 && ip[0] >> 4 == 6; }
/* The type of a finished sequence t[0..n) (TYPE LABEL ... packets): reads each packet's flags. */
int tcpf_seq_type(const tok_t *t, size_t n);

/* Decoding one packet: from position *i (at a DIR token) to the next DIR or EOS. Writes the IP
 * packet (IPv4 with TTL 64, or IPv6 with hop limit 64; synthetic addresses 10.0.0.1/10.0.0.2 or
 * fd00::1/fd00::2 by direction; checksums 0: the trace writer fills them) and its TCP header
 * with the options, no payload bytes: its length fields say size. Returns the bytes written
 * (at most cap), *dir, *gap_ns (0 without a TIME token); *bad counts tokens out of place. */
uint32_t tcpf_decode_packet(const tok_t *t, size_t n, size_t *i, int ip6, uint8_t *buf, uint32_t cap, int *dir,
                            int64_t *gap_ns, int *has_time, uint64_t *bad);

/* tcpflowgen's own files (Arrow IPC, one column token_sequences: list<int32>, corpus/arrow.h).
 * To the seed's layout: a pktlm sequence without pktlm's ids (LABEL, IP6, TIME); writes at
 * most n tokens to out, returns how many. */
size_t tcpf_to_seed(const tok_t *t, size_t n, tok_t *out);
/* From the seed's layout: seq[0..n) (ids below TCPF_SEED_VOCAB; padding dropped, an EOS added
 * when missing) with label token `label_tok` put in after the type; out holds n + 2. Returns
 * the tokens written, or -1 when the sequence is not a tcpflowgen flow (*bad_at = the index
 * of the first bad token: an id outside tcpflowgen's vocabulary, no type token first). */
long tcpf_from_seed(const int32_t *seq, size_t n, tok_t label_tok, tok_t *out, size_t *bad_at);
/* `pktlm export --format tcpflowgen`: the sequences of capture `file` (index in the manifest)
 * in the nsh shards sh (field tokens), in shard order, to the Arrow file path in the seed's
 * layout. *nseq, *ntok: what was written. 0 ok, -1 with err. */
#include "corpus/shard.h"
int tcpf_export_arrow(const shard *sh, int nsh, uint32_t file, const char *path, uint64_t *nseq, uint64_t *ntok,
                      char *err, size_t errlen);
#endif
