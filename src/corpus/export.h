/* Exporters of a corpus split for the seed systems' tool chains (docs/corpus.md):
 *  - NetGPT / ET-BERT: TSV "label<TAB>text_a", text_a = the bytes of each packet as
 *    overlapping 2-byte words in 4 hex digits ("4500 0000 003c ..."), packets separated
 *    by a space; plus the 65,541-entry vocabulary ([PAD] [UNK] [CLS] [SEP] [MASK] then
 *    0000 .. ffff). Unlabelled sequences are left out (counted).
 *  - NetSSM: JSONL {"text": "<|label|> b0 b1 ... <|pkt|> b0 ..."} with bytes in decimal.
 *  - pcap: the packets the sequences decode to (raw IP), one sequence after another. */
#ifndef PKTLM_EXPORT_H
#define PKTLM_EXPORT_H
#include <stdio.h>
#include <stdint.h>
#include "corpus/shard.h"

enum { EXPORT_NETGPT = 0, EXPORT_NETSSM, EXPORT_PCAP };
typedef struct { uint64_t written, skipped_unlabelled, packets; } export_counts;

/* Write one split (shard s, label names) in format fmt to f (NetGPT, NetSSM). */
int export_text(FILE *f, int fmt, const shard *s, char **labels, int max_packets, export_counts *c);
/* The NetGPT/ET-BERT vocabulary file. */
int export_netgpt_vocab(FILE *f);
/* All sequences of s as one raw-IP pcap; sequence k starts 1 s after k-1 ends. */
int export_pcap(const char *path, const shard *s, int64_t t0_ns, export_counts *c, char *err, size_t errlen);
#endif
