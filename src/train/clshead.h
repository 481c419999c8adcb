/* Training a classification head (issue 5; docs/classify.md). The head, its forward, rows,
 * prediction and the classifier file are the model stage's (models/clshead.h: what classify
 * loads); training adds the backward passes, AdamW and the file written from a training run.
 *
 * Backward is explicit: the head's gradients accumulate (+=) into gw, gb, and the pooling
 * backward writes (not accumulates) the backbone's dhidden. */
#ifndef PKTLM_CLSHEAD_H
#define PKTLM_CLSHEAD_H
#include "models/clshead.h"
#include "train/checkpoint.h"

/* dhidden (B,T,C) is overwritten: zero except at the pooled positions. */
void cls_pool_backward(float *dhidden, const float *dpooled, const int *len, int B, int T, int C, int pooling);
/* Gradients of the last forward's loss: gw, gb accumulate; dpooled written. */
void cls_head_backward(cls_head *h, const float *pooled, const int *y, const float *cw, int B);
void cls_head_zero_grad(cls_head *h);
void cls_head_adamw(cls_head *h, const adamw_params *p, int t);

/* cls_write with the training run's state st in the embedded model file's header. */
int cls_save(const char *path, const model *m, const train_state *st, const cls_head *h, const cls_info *info,
             char *err, size_t errlen);
#endif
