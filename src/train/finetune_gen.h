/* Fine-tuning for generation (`pktlm finetune --task generate`): causal-LM training that
 * starts from a pretrained checkpoint, on a corpus whose sequences begin `BOS LABEL`, so the
 * model learns to generate a flow given its label. It is the pretraining loop
 * (train/pretrain.c) with the weights of --init, a fresh optimizer and schedule; the
 * architecture and context come from the initial checkpoint. */
#ifndef PKTLM_FINETUNE_GEN_H
#define PKTLM_FINETUNE_GEN_H
#include "train/pretrain.h"

/* Fill o from the initial checkpoint (architecture, context) on top of pretrain_defaults()
 * with fine-tuning defaults (lr 3e-4, warm-up 20). 0 ok, -1 (o->err). */
int finetune_gen_prepare(pretrain_opts *o, const char *init_path);
/* Run it (pretrain_run with o->init_path set). */
int finetune_gen_run(pretrain_opts *o);
#endif
