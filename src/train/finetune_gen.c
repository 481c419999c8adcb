/* finetune --task generate (finetune_gen.h). */
#include "train/finetune_gen.h"
#include "train/checkpoint.h"
#include <stddef.h>
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
    /* the backbone's shape is the checkpoint's: every config field but those a new run may
     * change (the table's resume column: dropout, this run's option) and the vocabulary (the
     * corpus's, resized by pretrain_run) */
    for (int i = 0; i < model_nfields; i++) {
        const model_field *f = &model_fields[i];
        if (!f->resume && f->off != offsetof(model_config, vocab)) model_field_set(&o->cfg, f, model_field_get(&c, f));
    }
    o->lr = 3e-4f;
    o->warmup = 20;
    return 0;
}

int finetune_gen_run(pretrain_opts *o) {
    if (!o->init_path) { snprintf(o->err, sizeof o->err, "no initial model (--init PRETRAINED.ckpt)"); return -1; }
    return pretrain_run(o);
}
