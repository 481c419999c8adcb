/* Batches of (input, target) token rows from a corpus shard (corpus/shard.h).
 *
 * Sequences are visited in an order fixed by (seed, epoch): a Fisher-Yates permutation from
 * SplitMix64, redrawn for every epoch, so a position (epoch, index, offset) determines every
 * later batch exactly (what --resume relies on). Two layouts:
 *   pack: the permuted sequences form one stream; each row is the next T+1 tokens (input =
 *         first T, target = last T), the next row starts T tokens later. No padding.
 *   pad:  each row is one sequence from its start, cut at T+1 tokens, padded with pad_id.
 * Targets that are padding (pad_id, or past the sequence end) are -1: the loss ignores them. */
#ifndef PKTLM_TRAIN_DATA_H
#define PKTLM_TRAIN_DATA_H
#include <stdint.h>
#include <stddef.h>
#include "corpus/shard.h"

typedef struct {
    uint64_t epoch, index, offset;   /* sequence index in the epoch's order, token offset in it */
} data_pos;

typedef struct {
    shard sh;
    int B, T, pack, shuffle;
    uint64_t seed;
    uint32_t *perm;           /* order of the current epoch */
    uint64_t perm_epoch;
    data_pos pos;
    int *tok, *tgt;           /* B*T rows of the last batch */
    tok_t *row;            /* T+1 scratch */
    uint64_t n_usable;        /* sequences with at least 2 tokens */
} dataloader;

/* Open a shard; 0 ok, -1 with a message. shuffle=0 keeps the file order (validation). */
int data_open(dataloader *d, const char *path, int B, int T, int pack, int shuffle, uint64_t seed,
              char *err, size_t errlen);
void data_close(dataloader *d);
void data_seek(dataloader *d, data_pos p);
/* Fill d->tok / d->tgt with the next batch; returns the number of counted targets. */
int data_next(dataloader *d);
/* One sequence per row (pack 0): the rows end in padding that carries no target. Rewrites the
 * last batch at row stride Tr = the last position with a target in any row + 1 and returns Tr
 * (T when packed or when a row is full): a causal model's outputs before Tr do not depend on
 * the positions after it, so training at (B, Tr) gives the same losses and gradients without
 * the padding's cost (short flows in a long context: fields tokens, 65k-id heads). */
int data_trim(dataloader *d);
/* Batches in one pass over the data (an epoch), at least 1. */
uint64_t data_batches_per_epoch(const dataloader *d);
#endif
