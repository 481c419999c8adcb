/* finetune --task generate (finetune_gen.h). */
#include "train/finetune_gen.h"
#include "train/checkpoint.h"
#include <stdio.h>

int finetune_gen_prepare(pretrain_opts *o, const char *init_path) {
    model_config c;
    train_state st;
    uint64_t np;
    char err[512];
    o->init_path = init_path;
    if (ckpt_peek(init_path, &c, &st, &np, err, sizeof err) != 0) {
        snprintf(o->err, sizeof o->err, "%s", err);
        return -1;
    }
    /* the backbone's shape is the checkpoint's (vocabulary: the corpus's, resized by
     * pretrain_run; dropout: this run's option) */
    o->cfg.arch = c.arch; o->cfg.layers = c.layers; o->cfg.d_model = c.d_model; o->cfg.heads = c.heads;
    o->cfg.ctx = c.ctx; o->cfg.kv_heads = c.kv_heads; o->cfg.d_ff = c.d_ff; o->cfg.tied = c.tied;
    o->lr = 3e-4f;
    o->warmup = 20;
    return 0;
}

int finetune_gen_run(pretrain_opts *o) {
    if (!o->init_path) { snprintf(o->err, sizeof o->err, "no initial model (--init PRETRAINED.ckpt)"); return -1; }
    return pretrain_run(o);
}
