/* Generation of a trace from a causal model (`pktlm generate`, docs/generate.md).
 *
 * B sequences are decoded at once, one token per sequence per step of the backbone's run state
 * (model_run: KV cache or recurrent state per slot; a finished slot takes the next flow). Each
 * sequence is one flow: it starts `BOS LABEL`, optionally continues with a forced prompt
 * (the first K packets of a real flow, tokenised exactly as `pktlm prep` does), then is
 * sampled under a grammar mask (gen_mask) until EOS or the end of the context. Finished
 * sequences are decoded with tok_reader; the packets of every flow are merged by their
 * timestamps and written through the trace writer (gen/trace.h), which repairs, drops
 * and counts. */
#ifndef PKTLM_GENERATE_H
#define PKTLM_GENERATE_H
#include <stdint.h>
#include <stddef.h>
#include "gen/trace.h"
#include "corpus/tokfmt.h"

/* ---- the grammar mask (exposed for tests) ----
 * What a well-formed sequence allows next, where only one kind of token can be right:
 *   pos 0 BOS; pos 1 a label token; after the label PKT; after PKT a direction (the first
 *   packet's is c->s: side a is by definition the sender of the first packet); after the
 *   direction a time token (the first packet's is TIME_0: its gap is 0 by definition);
 *   then bytes: the first byte's version nibble is 4 or 6, the protocol byte (IPv4 byte 9,
 *   IPv6 byte 6) TCP, UDP or ICMP/ICMPv6 (the writer drops the rest), after the first packet
 *   the flow's version and protocol (a flow is one 5-tuple), an ICMP type is echo, and
 *   the fixed headers (IP, then 20 bytes of TCP or 8 of UDP/ICMP) are complete before PKT
 *   or EOS may follow (TCP options may be cut, as a short snaplen cuts them; the trace
 *   writer completes them). After the first packet, the IP addresses and the TCP/UDP ports are
 *   the first packet's, swapped when the direction is reversed (a flow is one 5-tuple). A TCP
 *   header's data offset is at least 5 words with the reserved
 *   bits zero, and its flags are a combination a TCP stack sends (gen_tcp_flags_valid: no SYN
 *   with FIN or RST, no RST with FIN, ACK on everything but SYN and RST), unless raw_tcp_flags
 *   (`generate --raw-tcp-flags`: scans and other anomalies stay possible). With strict_headers
 *   (`generate --strict-headers`) the headers are also consistent: an IPv4 header of 5 words
 *   (the writer drops IP options), no fragment bits but DF, TTL / hop limit > 0, a length field
 *   that holds the fixed headers (the flow's protocol's, once known) and is at most the MTU,
 *   TCP only in a packet long enough for its 20 bytes, a data offset that fits the length,
 *   a TCP option list the writer keeps as it is: kinds EOL, NOP, MSS, window scale,
 *   SACK-permitted, SACK, timestamps, each with its own length, inside the data offset, zeros
 *   after EOL. BOS, PAD and label tokens never appear inside a sequence. */
typedef struct {
    int pos;          /* tokens so far */
    int phase;        /* GM_* */
    int npkts;        /* packets started */
    int nbytes;       /* bytes of the current packet */
    int ver;          /* its IP version (first byte's high nibble) */
    int flow_ver, flow_proto;   /* fixed by the first packet (0 before) */
    int ihl, proto, min_len;    /* current packet: IP header length, protocol, bytes before it may end */
    int raw_tcp_flags;          /* 1: any TCP flags and reserved bits (set after gen_gram_init) */
    /* 1: header-consistency rules too (`generate --strict-headers`, set after gen_gram_init):
     * the IP header length, fragment bits, TTL, the length field against the headers and the
     * MTU, the TCP option list, and the packet's end at its length are only what the trace
     * writer keeps unrepaired. Off by default: measured, they cut the writer's repairs but
     * moved TCP flags and states further from real traffic (docs/generate.md, "Header rules") */
    int strict_headers;
    int mtu;                    /* largest IP packet the writer keeps (gen_gram_init: 1500) */
    int len_hi, total;          /* current packet: the length field's high byte; IP total length (0 before) */
    int opt_end, opt_next, opt_len_pos, opt_kind, opt_eol;   /* TCP option list walk (bytes) */
    int dir;                    /* current packet's direction: 0 = as the first packet, 1 = reverse */
    /* the first packet's addresses and ports, as sent by side a: src, dst (4 or 16 bytes each),
     * then source and destination port (TCP/UDP); later packets must repeat them */
    uint8_t addr[2][16];
    uint8_t port[2][2];
    /* other token formats (tokfmt.h): fmt set after gen_gram_init; fields: the word of the
     * current packet (-1 before HEAD) and the first packet's ports; bigrams: the previous word */
    int fmt;
    /* capture units (set after gen_gram_init): packets of many flows interleave, so the rules
     * that hold within one flow (the first packet c->s at TIME_0, the flow's version, protocol,
     * addresses and ports) are off; the per-packet rules stay */
    int capture;
    int word, nopt, size_next;
    int fport[2];
    int prev;
    int cand;       /* bigrams and bpe: the sides (bit 0 a, bit 1 b) whose address the current packet's source still matches */
    /* bpe: the hex text of the current packet, character by character: hc characters of the
     * current word (4: complete, a space or the packet's end next), hi the high digit of the
     * byte being written, prevb the last complete byte (a word's first two digits repeat it);
     * bpe the tokens' text (set after gen_gram_init) */
    int hc, hi, prevb;
    const struct gen_bpe *bpe;
} gen_gram;
enum { GM_BOS, GM_LABEL, GM_FIRST_PKT, GM_DIR, GM_TIME, GM_BYTES, GM_END };
void gen_gram_init(gen_gram *g);
/* bpe (docs/generate.md "bpe"): every token whose text is hex digits and spaces, in a trie of
 * its characters (0..15 the digits 0-9a-f, 16 the space), so that a mask walks each allowed
 * prefix once; the "\n" token (pkt) and <|endoftext|> are the packet's and the sequence's end. */
typedef struct gen_bpe {
    int32_t (*child)[17];   /* nodes: the node after each character, -1 none; node 0 the root */
    int32_t *tok;           /* the token whose text ends at the node, -1 none */
    int32_t *tok_node;      /* id -> its node, -1: not a hex-text token */
    int32_t *parent;        /* a node's parent and the character to it (a token's text, read backwards) */
    uint8_t *pchar;
    int nodes, cap, n_ids, n_hex;
    int bos, eos, pkt, unlabelled;
} gen_bpe;
struct bpe;
/* 0 ok, -1 out of memory */
int gen_bpe_init(gen_bpe *gb, const struct bpe *b, const tok_format *tf);
void gen_bpe_free(gen_bpe *gb);
/* Fill allowed[V] for the next token (label_lo..label_hi-1: label tokens allowed at pos 1).
 * Token format g->fmt: bytes as above; fields (tcpfields.h): TYPE, LABEL, [IP6], then per packet
 * DIR TIME PKT_SIZE size HEAD and the 12 header words (data offset 5..15, reserved and
 * checksum 0, flags as for bytes, the flow's ports) and as many option words as the data
 * offset says, the first packet forward with TIME_0; bigrams (bigrams.h): CLS, LABEL, <pkt>,
 * words each overlapping the previous one, the byte each word adds under the byte format's
 * rules (version, protocol, the flow's addresses and ports, TCP data offset and flags, ICMP
 * echo, whole headers before <pkt> or SEP); a later packet's source address is either of the
 * flow's two and sets its direction (bigrams have no direction token); bpe (g->bpe): the
 * bigrams' rules on NetGPT's text, a character at a time: a token is allowed when each of its
 * characters is (a word's first two digits repeat the previous word's last byte, the other
 * digits are the bytes the byte rules allow, a space only after four digits), "\n" and
 * <|endoftext|> when the packet's headers are complete and its last word is. */
void gen_gram_mask(const gen_gram *g, uint8_t *allowed, int V, int label_lo, int label_hi);
/* Advance over token t. */
void gen_gram_push(gen_gram *g, int t);
/* TCP flags byte b is a combination stacks send (see above). */
int gen_tcp_flags_valid(int b);

/* The seed of a window's sampler when the state is carried (gen_opts.carried): window k of
 * stream b (exposed for tests). */
uint64_t gen_stream_seed(uint64_t seed, int b, long k);

/* ---- decoding sequences into a trace ---- */
typedef struct {
    uint64_t seqs, packets, cut_ctx, stray, no_dir, no_time;
} gen_decode_stats;

/* Packets of decoded sequences, kept until they are merged by time. */
typedef struct {
    struct gen_rec { int64_t ts; uint32_t flow, seq; uint8_t dir; size_t off; uint32_t n; } *r;
    size_t n, cap;
    uint8_t *bytes; size_t nb, bcap;
    int64_t *gaps; size_t ngaps;      /* --timing replay: inter-arrival pool (ns), NULL = model timing */
    uint64_t rng;
    int fmt;                          /* token format of the sequences (TOKFMT_*; 0 after init) */
    const struct bpe *bpe;            /* bpe: the tokenizer and the ids (set after init) */
    const tok_format *tf;
    gen_decode_stats st;
    /* capture units (set after init): a sequence is a window of one capture, not a flow. Its
     * number is the `flow_no` given to gen_pool_add_seq and its t0_ns is taken as 0: windows
     * follow each other in number order from capture_t0_ns, each starting where the previous
     * one's last packet was (as prep cut them), and gen_pool_write finds the flows by the
     * packets' own addresses and ports (gen_pool_capture_flows) */
    int capture;
    int64_t capture_t0_ns;
    uint64_t max_packets;             /* capture: keep the first N packets in time (0 = all) */
    uint64_t *worder; size_t nworder; /* capture: each window's place in time (gen_pool_window_order); NULL: its number */
    uint32_t (*fhost)[2];             /* capture: hosts of each flow's sides (trace.h TRACE_HOST) */
    uint64_t nflows, nhosts;          /* capture: flows and hosts found */
} gen_pool;
void gen_pool_init(gen_pool *p, uint64_t seed);
void gen_pool_free(gen_pool *p);
/* Decode one sequence as flow `flow` starting at t0_ns. `ended`: the sequence reached EOS;
 * when it did not (cut by the context), its last packet may be incomplete and is dropped
 * (counted in cut_ctx). Returns packets added, -1 out of memory. */
int gen_pool_add_seq(gen_pool *p, const tok_t *tok, size_t n, int ended, uint32_t flow_no, int64_t t0_ns);
/* Capture units: window `win` takes place `key` in time (windows are laid out by key, then
 * number): a recurrent model's streams go one after another, each window of a stream after the
 * previous one. Windows never given a key keep their number as key. 0 ok, -1 out of memory. */
int gen_pool_window_order(gen_pool *p, uint32_t win, uint64_t key);
/* Capture units: lay the windows out in time, keep max_packets, and give every packet the flow
 * of its 5-tuple (version, protocol, addresses, TCP/UDP ports; side a = the sender of the
 * flow's first packet, whatever direction token the model wrote) and every address a host of
 * the trace writer's pools (client pool when first seen as a flow's side a, else server pool),
 * so one host keeps one address across its flows. A packet the writer drops whatever its flow
 * (not IPv4/IPv6, another protocol, fixed headers cut short) joins no flow. Called by gen_pool_write. 0 ok, -1 out of memory. */
int gen_pool_capture_flows(gen_pool *p);
/* Merge by timestamp and write; 0 ok, -1 (cannot write, or out of memory). */
int gen_pool_write(gen_pool *p, const char *path, const trace_cfg *cfg, trace_stats *st);

/* ---- the whole generator ---- */
enum { GEN_TIMING_MODEL = 0, GEN_TIMING_REPLAY = 1 };
typedef struct {
    const char *model_path, *out_path;
    int label;                 /* >= 0 label index, -1 unlabelled token, -2 sampled from the model (default) */
    long flows, packets, tokens;   /* stop after this many sequences / decoded packets / sampled tokens */
    float temperature, top_p;
    int top_k;
    float min_p;               /* 0 = off: drop tokens below min_p x the most likely one */
    float rep_penalty;         /* 1 = off: tokens already in the flow are penalised (CTRL) */
    uint64_t seed;
    int batch, max_len;        /* max_len: tokens per sequence (0 = model context) */
    int pcapng, raw_ip, n_clients;
    double window_s;           /* flows start uniformly within [0, window_s) */
    int timing;                /* GEN_TIMING_* */
    const char *timing_from;   /* real capture for --timing replay */
    const char *prompt_pcap;   /* real flows' first prompt_packets packets as prompts */
    const char *tokenizer;     /* bpe: the model's tokenizer.json (NULL: the one its training corpus's vocab.json names) */
    int prompt_packets, prompt_payload, prompt_max_bytes;
    int threads, quiet;
    int full;                  /* never sample EOS: every flow runs to max_len (benchmarks) */
    int raw_tcp_flags;         /* the grammar leaves TCP flags and reserved bits to the model */
    int strict_headers;        /* the grammar also fixes length fields, fragment bits, TTL and TCP options (gen_gram) */
    int bf16;                  /* weight matrices read as bf16 (faster at batch 1, ~1e-3 relative on logits) */
    int reset_windows;         /* capture units: every window from a reset state (default for a recurrent
                                  backbone: each slot is one stream whose state runs on from window to window) */
    /* called with every finished sequence (tests): its number, its stream (the slot, when windows carry the
       state; -1 otherwise), its tokens */
    void (*on_seq)(void *ctx, long seq, int stream, const tok_t *tok, size_t n);
    void *on_seq_ctx;
    int unit;                  /* -1: the model's (its checkpoint says what a training sequence was); PREP_UNIT_FLOW:
                                  one flow per sequence; PREP_UNIT_CAPTURE: a sequence is a window of one
                                  capture, the windows make one multi-flow capture (docs/generate.md) */
    /* results */
    int capture;               /* the unit used was capture */
    int carried;               /* capture: the state ran on across windows (a recurrent backbone, no --reset-windows) */
    uint64_t capture_flows, capture_hosts;   /* capture: flows and hosts found in the packets */
    trace_stats ts;
    gen_decode_stats ds;
    uint64_t sampled, stepped;  /* tokens sampled; positions run through the model (x batch) */
    size_t nprompts;
    uint64_t tok_hash;          /* FNV-1a over every sequence's tokens (determinism checks) */
    double secs;
    char err[1024];
} gen_opts;
void gen_defaults(gen_opts *o);
/* 0 ok, -1 error (o->err). */
int gen_run(gen_opts *o);
#endif
