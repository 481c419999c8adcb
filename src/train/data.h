/* Batches of (input, target) token rows from a corpus shard (corpus/shard.h).
 *
 * Sequences are visited in an order fixed by (seed, epoch): a Fisher-Yates permutation from
 * SplitMix64, redrawn for every epoch, so a position (epoch, index, offset) determines every
 * later batch exactly (what --resume relies on). Two layouts:
 *   pack: the permuted sequences form one stream; each row is the next T+1 tokens (input =
 *         first T, target = last T), the next row starts T tokens later. No padding.
 *   pad:  each row is one sequence from its start, cut at T+1 tokens, padded with pad_id.
 * Targets that are padding (pad_id, or past the sequence end) are -1: the loss ignores them.
 *
 * Data-parallel training (train/dist.h): every process walks the same global batches of B rows
 * and keeps rows r0 .. r0+nb-1 (data_share), so the batches and their order never depend on
 * the number of processes, and a position means the same to any of them (--resume with
 * another count). */
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
    int r0, nb;               /* this process's rows of each batch: tok/tgt hold nb rows (all B by default) */
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
/* Keep rows r0 .. r0+nb-1 of every batch (0 <= r0, r0 + nb <= B). */
void data_share(dataloader *d, int r0, int nb);
/* Fill d->tok / d->tgt with this process's rows of the next batch (all B rows unless shared);
 * returns the number of counted targets in them. */
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
