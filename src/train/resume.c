/* Range checks of a checkpoint's training fields: see resume.h. */
#include "train/resume.h"
#include <limits.h>
#include <math.h>
#include <stdio.h>

/* the largest step count: lr_schedule and AdamW's bias correction take the step as an int */
#define MAX_STEPS (INT_MAX - 1)

int train_state_check(const train_state *st, int ctx, const char *path, char *err, size_t errlen) {
    const char *f = NULL;
    double v = 0;
    long long iv = 0;
    int isint = 0;
    /* (bounds of the command-line options: docs/cli.md) */
#define BAD_INT(cond, name, val) if (!f && (cond)) { f = name; iv = (long long)(val); isint = 1; }
#define BAD_F(ok, name, val) if (!f && !(ok)) { f = name; v = (double)(val); }
    BAD_INT(st->batch < 1 || st->batch > 65536, "batch (1..65536)", st->batch);
    BAD_INT(st->accum < 1 || st->accum > 65536, "accum (1..65536)", st->accum);
    BAD_INT(st->seq_len < 2 || st->seq_len > ctx, "seq_len (2..the model's ctx)", st->seq_len);
    BAD_INT(st->warmup < 0 || st->warmup > MAX_STEPS, "warmup (0..2147483646)", st->warmup);
    BAD_INT(st->pack != 0 && st->pack != 1, "pack (0 or 1)", st->pack);
    BAD_INT(st->total_steps < 0 || st->total_steps > MAX_STEPS, "total_steps (0..2147483646)", st->total_steps);
    BAD_INT(st->step < 0 || st->step > MAX_STEPS, "step (0..2147483646)", st->step);
    BAD_INT(st->eval_every < 0, "eval_every (0 or more)", st->eval_every);
    /* the comparisons are written so that NaN fails them */
    BAD_F(st->lr > 0 && st->lr <= 10, "lr (greater than 0, at most 10)", st->lr);
    BAD_F(st->min_frac >= 0 && st->min_frac <= 1, "min_lr_frac (0..1)", st->min_frac);
    BAD_F(st->weight_decay >= 0 && st->weight_decay <= 10, "weight_decay (0..10)", st->weight_decay);
    BAD_F(st->beta1 >= 0 && st->beta1 < 1, "beta1 (0 to below 1)", st->beta1);
    BAD_F(st->beta2 >= 0 && st->beta2 < 1, "beta2 (0 to below 1)", st->beta2);
    BAD_F(st->eps > 0 && st->eps <= 1, "eps (greater than 0, at most 1)", st->eps);
    BAD_F(st->clip >= 0 && isfinite(st->clip), "clip (0 or more, finite)", st->clip);
#undef BAD_INT
#undef BAD_F
    if (!f) return 0;
    char vb[40];
    if (isint) snprintf(vb, sizeof vb, "%lld", iv); else snprintf(vb, sizeof vb, "%.9g", v);
    snprintf(err, errlen, "%s: corrupt checkpoint: training field %s is %s; cannot resume from it (docs/checkpoint.md)",
             path, f, vb);
    return -1;
}
