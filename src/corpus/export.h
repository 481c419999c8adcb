/* Exporters of a corpus split for the seed systems' tool chains (docs/interop.md, docs/corpus.md).
 * Each writes the files the seed's own code reads, laid out as the seed's own preprocessor
 * writes them:
 *  - NetGPT / ET-BERT (UER-py): TSV "label<TAB>text_a" for the fine-tuning scripts, text_a =
 *    each packet's bytes as overlapping 2-byte words in 4 hex digits ("4500 0000 003c ..."),
 *    at most 256 words a packet, packets separated by a space; traffic.txt, the pretraining
 *    corpus (every sequence, labelled or not, a packet as two lines of words and a blank
 *    line); the vocabulary ([PAD] [SEP] [CLS] [UNK] [MASK], NetGPT's order, then 0000 .. ffff: the ids of the bigrams
 *    token format, corpus/bigrams.h).
 *  - NetSSM: JSONL, one line per capture {"Data", "Hash", "Filename", "OrigLen"}, Data =
 *    "<|label|> " then each TCP/UDP packet as 128 decimal bytes from an Ethernet header
 *    (headers only; 12 payload bytes for UDP), packets joined by " <|pkt|> "; a tokenizer
 *    folder that transformers' AutoTokenizer loads.
 *  - pcap: the packets the sequences decode to (raw IP), one sequence after another.
 * pktlm corpora hold packets from the IP header on (the link layer goes with the MACs in
 * anonymisation), so an Ethernet header, where one is wanted, is a synthetic one:
 * locally administered MACs 02:00:00:00:00:01 (client) and :02 (server), EtherType from
 * the IP version. */
#ifndef PKTLM_EXPORT_H
#define PKTLM_EXPORT_H
#include <stdio.h>
#include <stdint.h>
#include "corpus/shard.h"

enum { EXPORT_NETGPT = 0, EXPORT_NETSSM, EXPORT_PCAP };
typedef struct { uint64_t written, skipped_unlabelled, packets; } export_counts;

/* The synthetic Ethernet header of a packet sent by side dir (0 client, 1 server) of an
 * IP packet whose first byte is ip0 (version nibble). */
void export_ether_header(uint8_t out[14], int dir, uint8_t ip0);

/* ---- NetGPT / UER-py ---- */
#define NETGPT_MAX_WORDS 256      /* words a packet, as NetGPT's bigram_generation cuts */
#define NETGPT_SEQ_LEN 128        /* UER's default --seq_length */
typedef struct {
    int max_packets;              /* packets a row, 0 = all (NetGPT: 5) */
    int ether;                    /* 1: each packet from a synthetic Ethernet header */
    const int *label_map;         /* corpus label -> UER label index, -1: row left out */
} netgpt_opts;
typedef struct {
    uint64_t rows, unlabelled, unmapped, packets;
    uint32_t *row_tokens;         /* tokens UER makes of each row ([CLS] + words), for the length warning */
    size_t n_row_tokens, cap_row_tokens;
} netgpt_counts;
/* UER's labels: the labels the training split has, in corpus order, numbered 0..k-1 (UER sizes
 * its classifier by the distinct labels of the training file, so a label absent from it has no
 * output); n_labels entries, -1 for a label train lacks. NULL when out of memory. */
int *netgpt_label_map(const shard *train, int n_labels, int *k);
/* Rows a split would get (labelled sequences whose label maps), to leave out empty files. */
uint64_t netgpt_row_count(const shard *s, const int *label_map);
/* Header line and one row per labelled sequence. */
int netgpt_write_rows(FILE *f, const shard *s, const netgpt_opts *o, netgpt_counts *c);
/* Pretraining corpus (UER preprocess.py --corpus_path): every sequence, labelled or not. */
int netgpt_write_traffic(FILE *f, const shard *s, const netgpt_opts *o, uint64_t *packets);
/* The vocabulary file (65,541 lines; line i = id i of the bigrams token format). */
int netgpt_write_vocab(FILE *f);
/* Row lengths: how many of n exceed lim, and the 50/90/99th percentile and maximum. */
void netgpt_length_stats(uint32_t *len, size_t n, uint32_t lim, uint64_t *over, uint32_t q[4]);

/* ---- NetSSM ---- */
#define NETSSM_PKT_BYTES 128      /* every packet padded or cut to this */
#define NETSSM_UDP_PAYLOAD 12     /* payload bytes NetSSM keeps of a UDP packet */
typedef struct {
    int max_packets;              /* packets a line, 0 = all */
    char **tokens;                /* label i -> its token "<|name|>"; tokens[n_labels] for unlabelled */
    char **inputs;                /* manifest input paths (Filename), or NULL */
    int n_inputs;
} netssm_opts;
typedef struct { uint64_t lines, packets, not_tcp_udp, short_lines; } netssm_counts;
/* The packet as NetSSM keeps it: 128 bytes from the synthetic Ethernet header; 0 when it
 * is not a (first-fragment-free) TCP/UDP packet, which NetSSM's preprocessor skips. */
int netssm_packet(const uint8_t *ip, uint32_t n, int dir, uint8_t out[NETSSM_PKT_BYTES]);
/* One line per capture (and label) of the split; lines under 2 packets are left out. */
int netssm_write(FILE *f, const shard *s, const netssm_opts *o, netssm_counts *c);
/* Label tokens NetSSM's tokenizer takes (one word of [A-Za-z0-9_.-], unique): n_labels + 1
 * strings "<|name|>", the last for unlabelled sequences. */
char **netssm_label_tokens(char **labels, int n_labels);
/* DIR/tokenizer.json, tokenizer_config.json, special_tokens_map.json: a WordLevel tokenizer
 * ("0".."255", <|unk|>, <|endoftext|>, <|padding|>, <|pkt|>, then the n label tokens). */
int netssm_write_tokenizer(const char *dir, char **tokens, int n, char *err, size_t errlen);

/* All sequences of s as one raw-IP pcap; sequence k starts 1 s after k-1 ends. */
int export_pcap(const char *path, const shard *s, int64_t t0_ns, export_counts *c, char *err, size_t errlen);
#endif
