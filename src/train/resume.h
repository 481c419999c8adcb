/* Checks of a checkpoint's training fields before a run continues from them (--resume).
 *
 * The header checksum (docs/checkpoint.md) catches a flipped bit, but a file written before it
 * existed, or one whose checksum was recomputed, still reaches the trainer: these checks do not
 * depend on it. Every field the loop turns into arithmetic is bounded as the command line bounds
 * the option it came from, so a damaged file is refused, naming the field and its value, instead
 * of training to "loss nan" or overflowing the schedule's int arithmetic. */
#ifndef PKTLM_RESUME_H
#define PKTLM_RESUME_H
#include <stddef.h>
#include "train/checkpoint.h"

/* 0 when every training field of st is in range for a model of context ctx; -1 with err naming
 * path, the field and the value of the first that is not. Bounds: as the command-line options'. */
int train_state_check(const train_state *st, int ctx, const char *path, char *err, size_t errlen);
#endif
