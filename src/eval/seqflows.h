/* Corpus sequences as per-flow records (flowfeat.h), so that the shallow baselines of
 * `pktlm eval` see exactly the flows (and the first K packets) the model sees: each sequence
 * is decoded with tok_reader and every packet's IP header parsed again for its length,
 * payload length, TCP flags, TTL and ports (addresses are the anonymised ones). */
#ifndef PKTLM_SEQFLOWS_H
#define PKTLM_SEQFLOWS_H
#include "corpus/shard.h"
#include "eval/flowfeat.h"

/* Append one flow per sequence of s (in order, labelled or not; label = the sequence's label
 * when < K else -1) to out, keeping at most max_pkts packets (0 = all). Label names, when
 * given, are registered first so that ids match. Returns the number of flows added. */
size_t ff_from_shard(ff_set *out, const shard *s, int max_pkts, char **names, int K);
#endif
