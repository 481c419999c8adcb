/* A learnable toy corpus for training tests, and a backbone's training test on it: sequences "bos, k, k+1, k+2, ..., eos" (mod 30,
 * offset 4; pad 0, bos 1, eos 2), lengths 5..24, nseq training and nseq/4 validation
 * sequences drawn from seed; DIR/train.tok, DIR/val.tok and DIR/vocab.json. */
#ifndef PKTLM_TOYCORPUS_H
#define PKTLM_TOYCORPUS_H
#include "test.h"
#include "corpus/shard.h"
#include "train/pretrain.h"
#include "train/checkpoint.h"
#include "util/util.h"
#include <stdio.h>
#include <sys/stat.h>

static __attribute__((unused)) void make_toy_corpus(const char *dir, int vocab, int nseq, uint64_t seed) {
    mkdir(dir, 0755);
    for (int split = 0; split < 2; split++) {
        shard_builder b;
        shard_builder_init(&b, vocab, 0, 1, 2, 0, vocab, split);
        uint64_t s = seed + (uint64_t)split;
        for (int i = 0; i < (split ? nseq / 4 : nseq); i++) {
            tok_t tok[64];
            int len = 5 + (int)(splitmix64(&s) % 20), k = (int)(splitmix64(&s) % 30);
            tok[0] = 1;
            for (int j = 1; j < len - 1; j++) tok[j] = (tok_t)(4 + (k + j) % 30);
            tok[len - 1] = 2;
            shard_builder_add(&b, tok, (uint32_t)len, -1, 0, (uint32_t)i, (uint64_t)i);
        }
        char p[600];
        snprintf(p, sizeof p, "%s/%s", dir, split ? "val.tok" : "train.tok");
        shard_write(&b, p);
        shard_builder_free(&b);
    }
    /* the vocabulary file every corpus has (corpus/vocab.h): no labels */
    char p[600], v[200];
    snprintf(p, sizeof p, "%s/vocab.json", dir);
    int n = snprintf(v, sizeof v, "{\"vocab_size\": %d, \"label_base\": %d, \"labels\": []}\n", vocab, vocab);
    write_file_atomic(p, v, (size_t)n);
}

static __attribute__((unused)) void toy_opts(pretrain_opts *o, const char *dir, const char *out, long steps, const model_config *shape) {
    pretrain_defaults(o);
    o->data_dir = dir; o->out_path = out;
    o->cfg = *shape;
    o->batch = 4; o->accum = 2; o->steps = steps; o->warmup = 2; o->lr = 3e-3f;
    o->eval_every = 2; o->val_batches = 2; o->quiet = 1; o->seed = 5;
    o->threads = 1;
}

/* Training end to end through pretrain_run on a toy corpus (vocabulary 40) in the test's
 * scratch folder (files named after tag), a model of shape (the fields given, the rest the
 * backbone's defaults; d_ff what they make of it): the validation loss falls below 2 nats and
 * 1 bit under the unigram baseline (3.3 and 0.2 under the sanitizers), the checkpoint records
 * the config and the steps, and a run interrupted at step 3 and resumed (dropout on) ends
 * bit-identical to a straight one. */
static __attribute__((unused)) void check_toy_training(const model_config *shape, int d_ff, const char *tag) {
    char dir[512], out[600], part[600], err[512];
    snprintf(dir, sizeof dir, "%s/%scorpus", t_tmpdir(), tag);
    make_toy_corpus(dir, 40, 200, 7);
    snprintf(out, sizeof out, "%s/%s.ckpt", t_tmpdir(), tag);
    snprintf(part, sizeof part, "%s/%spart.ckpt", t_tmpdir(), tag);
    long steps = t_san() ? 15 : 60;
    pretrain_opts o;
    toy_opts(&o, dir, out, steps, shape);
    CHECK(pretrain_run(&o) == 0);
    if (o.err[0]) printf("  %s\n", o.err);
    printf("  %ld steps: val loss %.3f nats (uniform ln 40 = %.3f), unigram %.3f bits\n", o.final_step, o.final_val,
           log(40.0), o.unigram_val_bits);
    CHECKF(o.final_val < (t_san() ? 3.3 : 2.0), "val loss %.3f", o.final_val);
    CHECKF(o.final_val / log(2.0) < o.unigram_val_bits - (t_san() ? 0.2 : 1.0), "val %.3f bits vs unigram %.3f",
           o.final_val / log(2.0), o.unigram_val_bits);
    model_config c;
    train_state st;
    uint64_t np;
    CHECK(ckpt_peek(out, &c, &st, &np, err, sizeof err) == 0);
    CHECK_EQ(c.arch, shape->arch); CHECK_EQ(c.layers, shape->layers); CHECK_EQ(c.d_model, shape->d_model);
    CHECK_EQ(c.kv_heads, shape->kv_heads ? shape->kv_heads : shape->heads); CHECK_EQ(c.d_ff, d_ff); CHECK_EQ(c.tied, shape->tied);
    CHECK_EQ(st.step, steps);
    long rs = t_san() ? 5 : 8;
    toy_opts(&o, dir, out, rs, shape); o.cfg.dropout = 0.1f;
    CHECK(pretrain_run(&o) == 0);
    float full = o.final_loss;
    toy_opts(&o, dir, part, rs, shape); o.cfg.dropout = 0.1f; o.stop_after = 3;
    CHECK(pretrain_run(&o) == 0 && o.interrupted);
    pretrain_opts r;
    toy_opts(&r, dir, part, 0, shape);
    r.data_dir = NULL; r.resume_path = part;
    CHECK(pretrain_run(&r) == 0);
    if (r.err[0]) printf("  %s\n", r.err);
    CHECK_EQ(r.final_step, rs);
    CHECKF(r.final_loss == full, "resumed %.9g vs uninterrupted %.9g", r.final_loss, full);
    model a, b;
    train_state sa, sb;
    CHECK(ckpt_load(out, &a, &sa, 1, err, sizeof err) == 0);
    CHECK(ckpt_load(part, &b, &sb, 1, err, sizeof err) == 0);
    CHECK(a.cfg.arch == shape->arch && a.nparams == b.nparams && !memcmp(a.params, b.params, a.nparams * 4));
    model_free(&a); model_free(&b);
}
#endif
