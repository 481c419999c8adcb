/* Corpus building (`pktlm prep`, docs/corpus.md): captures -> flows -> anonymised token
 * sequences -> leakage-safe splits -> CORPUS_DIR/{train,val,test}.tok, vocab.json,
 * labels.txt, manifest.json.
 *
 * Use: prep_cfg_default(); prep_new(); prep_add_file() for each capture in order;
 * prep_finish() assigns splits, removes duplicates and writes the directory. The same
 * inputs, configuration and seed give byte-identical files.
 *
 * prep_each_flow() gives the flows of a capture as token sequences without building a
 * corpus, so that `pktlm classify` builds exactly the tokens prep builds; prep_flow_*()
 * are the per-packet steps (cut, anonymise, encode) for callers with their own reader. */
#ifndef PKTLM_PREP_H
#define PKTLM_PREP_H
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include "corpus/anon.h"
#include "corpus/labels.h"
#include "corpus/tokens.h"
#include "capture/packet.h"
#include "flow/flow.h"
#include "util/util.h"

enum { PREP_UNIT_FLOW = 0, PREP_UNIT_PACKET, PREP_UNIT_CAPTURE };
enum { PREP_SPLIT_FLOW = 0, PREP_SPLIT_CAPTURE, PREP_SPLIT_TIME };
enum { SPLIT_TRAIN = 0, SPLIT_VAL, SPLIT_TEST, NSPLIT };

typedef struct {
    int unit, split;
    double ratio[NSPLIT];     /* default 8:1:1 */
    uint64_t seed;            /* default 1 */
    int max_pkts;             /* packets kept per flow (flow and packet units); default 8 */
    int min_flow_pkts;        /* flows with fewer packets are dropped; default 1 */
    int max_flow_pkts;        /* flows with more packets are dropped; 0 = no limit */
    int payload;              /* payload bytes kept after the transport header; default 64 */
    int max_bytes;            /* cap on the bytes kept of one packet; default 192 */
    int window;               /* capture unit: tokens per window; default 2048 */
    int drop_dhcp;            /* DHCP / DHCPv6 flows (ports 67/68, 546/547); default 1 */
    int ndrop_ports, ndrop_protos;
    uint16_t drop_ports[32];  /* flows with this port on either side are dropped */
    uint8_t drop_protos[32];  /* flows of this IP protocol are dropped */
    int anonymise;            /* default 1 */
    anon_cfg anon;
    const char *secret;       /* mixed into the anonymisation key, never written out */
    int dedup;                /* remove sequences duplicated across splits; default 1 */
    int min_label_flows;      /* labels with fewer flows become unlabelled; default 0 (keep all) */
    int hash_inputs;          /* sha256 of every input for the manifest; default 1 */
    flow_cfg flows;
    int tokens;               /* token format TOKFMT_* (corpus/tokfmt.h); default bytes */
    int complete_only;        /* fields: keep only flows of type complete, as tcpflowgen does */
    struct bpe *bpe;          /* bpe: the tokenizer (the caller's; corpus/bpe.h) */
    const char *tokenizer;    /* bpe: its tokenizer.json, as vocab.json records it */
} prep_cfg;
void prep_cfg_default(prep_cfg *c);

/* Bytes kept of a parsed packet (from the IP header on). */
uint32_t prep_keep_bytes(const prep_cfg *c, const pkt_info *pi);

/* The per-flow part of the encoder, shared with classify: anonymisation offsets and the
 * growing sequence. Init at the flow's first packet, add packets, end. */
typedef struct {
    anon_flow af;
    tok_seq seq;
    uint32_t npk;
} prep_flow;
/* The sequence is in token format pf->seq.fmt: set it with tok_seq_set_format before (prep
 * does, from cfg->tokens); it stays across begin. */
void prep_flow_begin(prep_flow *pf, const anon_ctx *a, uint64_t flow_no, int label, int64_t t0_ns);
/* Cut, anonymise (a may be NULL: keep bytes as they are) and encode one packet. */
void prep_flow_packet(prep_flow *pf, const prep_cfg *c, anon_ctx *a, const uint8_t *frame, const pkt_info *pi,
                      int64_t ts_ns, int dir);
void prep_flow_free(prep_flow *pf);
/* 1 when prep's filters drop a flow whatever its packets (DHCP, --drop-port, --drop-proto):
 * known at its first packet. */
int prep_flow_filtered(const prep_cfg *c, const flow *f);
/* 1 when the token format has no sequence for an ended sequence q of flow f (fields: not TCP,
 * no packet with a whole TCP header, or --complete-only and not complete). */
int prep_seq_unwanted(const prep_cfg *c, const flow *f, const tok_seq *q);

/* The tokens of every flow of one capture, built exactly as prep_add_file builds them for
 * --unit flow (same cut, same anonymisation: give the same cfg, seed, secret and the
 * file's index among prep's inputs, 0 for a single capture), label token <unlabelled>.
 * fn gets each flow when it ends (flow order of the flow table), with tok = NULL, n = 0
 * when a filter dropped it. For `pktlm classify`: set cfg->max_pkts to decide after K
 * packets. *bytes (may be NULL): the bytes of the capture read. Returns as prep_add_file. */
typedef void (*prep_flow_fn)(void *ctx, const flow *f, const tok_t *tok, size_t n);
int prep_each_flow(const prep_cfg *cfg, const char *path, uint32_t file_index, prep_flow_fn fn, void *ctx,
                   uint64_t *bytes, char *err, size_t errlen);

typedef struct prep prep;
/* labels: the label names (sorted); flow_labels may be NULL. argv is recorded in the
 * manifest. */
prep *prep_new(const prep_cfg *cfg, const label_set *labels, const flow_labels *fl, int argc, char **argv);
/* Add one capture with its label index (-1 = unlabelled). Returns 0, or -1 when the
 * file could not be read at all (err set; the file is listed as skipped). A read
 * error part way keeps the packets before it (warned in err, returns 1). -2: the
 * interrupt flag was set (prep_set_interrupt); stop and write nothing. */
int prep_add_file(prep *p, const char *path, int label, char *err, size_t errlen);
/* Add one of tcpflowgen's token files (Arrow IPC, token_sequences: list<int32>; cfg->tokens must
 * be TOKFMT_FIELDS): each sequence, with the label token put in after its type, is a flow of
 * the corpus (no time tokens: tcpflowgen has none). Returns as prep_add_file; err names the
 * file and the sequence of the first bad token. */
int prep_add_arrow(prep *p, const char *path, int label, char *err, size_t errlen);
/* Bytes of input read so far (for a progress line). */
uint64_t prep_bytes_done(const prep *p);
/* Draw a progress line while reading (total = bytes of all inputs). */
void prep_set_progress(prep *p, progress *pr, double total_bytes);
/* Stop reading when *flag becomes non-zero (a SIGINT handler sets it). */
void prep_set_interrupt(prep *p, const volatile sig_atomic_t *flag);
/* Split, deduplicate, write the corpus directory: every file into a new folder beside it,
 * then that folder swapped with outdir in one rename (signals held), so outdir holds either
 * the previous corpus or this one, even after a kill at any moment; other files in outdir
 * are carried over. 0 ok, -1 (err set; nothing of this run left behind). */
int prep_finish(prep *p, const char *outdir, char *err, size_t errlen);
/* Human summary of what was built (after prep_finish). */
void prep_summary(const prep *p, FILE *f);
void prep_free(prep *p);
#endif
