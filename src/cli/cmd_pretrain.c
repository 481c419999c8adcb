/* pktlm pretrain: causal-LM pretraining of a backbone on a corpus (src/train/pretrain.c). */
#include "cli/cli.h"
#include "cli/opts.h"
#include "train/pretrain.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --resume takes the model, batch, schedule and seed from the checkpoint (docs/checkpoint.md):
 * say so when the command line asks for others, instead of dropping them silently. The config
 * fields --resume may change (the table's `resume` column: dropout) apply instead. */
static void warn_ignored_on_resume(const pretrain_opts *o) {
    pretrain_opts d;
    pretrain_defaults(&d);
    char list[256] = "";
#define IGN(cond, name) if (cond) snprintf(list + strlen(list), sizeof list - strlen(list), " %s", name)
    for (int i = 0; i < model_nfields; i++) {
        const model_field *f = &model_fields[i];
        if (f->flag && !f->resume) IGN(model_field_get(&o->cfg, f) != model_field_get(&d.cfg, f), f->flag);
    }
    IGN(o->batch != d.batch, "--batch"); IGN(o->accum != d.accum, "--accum"); IGN(o->pack != d.pack, "--pad");
    IGN(o->lr != d.lr, "--lr"); IGN(o->warmup != d.warmup, "--warmup"); IGN(o->min_frac != d.min_frac, "--min-lr-frac");
    IGN(o->weight_decay != d.weight_decay, "--weight-decay"); IGN(o->clip != d.clip, "--clip");
    IGN(o->seed != d.seed, "--seed"); IGN(o->epochs != d.epochs, "--epochs");
#undef IGN
    if (list[0])
        fprintf(stderr, "pktlm pretrain: warning: --resume continues with the checkpoint's model, batch, schedule and "
                        "seed; ignoring%s (only --steps, --data, --bf16/--fp32, --dropout and the run options apply)\n", list);
}

int cmd_pretrain(int argc, char **argv) {
    cli_prefer_passive_wait(argc, argv);
    pretrain_opts o;
    pretrain_defaults(&o);
    const char *V = "pretrain";
    /* the preset first, so that any size given beside it overrides its value */
    int preset = 0;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--tcpflowgen")) {
            o.cfg.arch = ARCH_LINATTN; o.cfg.layers = 8; o.cfg.d_model = 256; o.cfg.heads = 8;
            o.cfg.d_ff = 1024; o.cfg.ctx = 1024; o.cfg.dropout = 0.1f;
        }
    const cli_opt opts[] = {
        OPT_STR("--data", &o.data_dir, "CORPUS_DIR", "the corpus of `pktlm prep`"),
        OPT_OUT(&o.out_path, "MODEL.ckpt", "the checkpoint; MODEL.csv and MODEL.svg beside it", .req = 1),
        OPT_STR("--resume", &o.resume_path, "MODEL.ckpt", "continue exactly where the checkpoint stopped (model, batch, schedule\n"
                "and seed come from the checkpoint; --steps N extends the run)"),
        OPT_SECTION("model (a backbone reads the options that apply to it; docs/model.md):"),
        OPT_MODEL(o.cfg),
        OPT_FLAG("--tcpflowgen", &preset, 1, "tcpflowgen's model: --arch linattn --layers 8 --d-model 256 --heads 8\n"
                 "--d-ff 1024 --ctx 1024 --dropout 0.1 (options given as well override it)"),
        OPT_SECTION("training:"),
        OPT_OPTIM(o),
        OPT_INT_IN("--accum", &o.accum, 1, 65536, "N", "gradient accumulation steps"),
        OPT_LONG_IN("--steps", &o.steps, 0, INT_MAX - 1, "N", "optimizer steps (default: --epochs)"),
        OPT_DOUBLE_IN("--epochs", &o.epochs, 0, HUGE_VAL, "E", "passes over the training split (default 1 when --steps is not given)"),
        OPT_FLOAT_IN("--min-lr-frac", &o.min_frac, 0, 1, "X", "cosine decay after the warm-up down to lr*X"),
        OPT_FLAG("--pad", &o.pack, 0, "one sequence per row, padded (default: pack sequences into a stream)"),
        OPT_INT_IN("--eval-every", &o.eval_every, 0, INT_MAX, "N", "steps between validation losses (default: 20 per run; kept on --resume)"),
        OPT_INT_IN("--val-batches", &o.val_batches, 1, INT_MAX, "N", "batches per validation loss"),
        OPT_INT_IN("--save-every", &o.save_every, 0, INT_MAX, "N", "steps between checkpoints (0: only at the end)"),
        OPT_FLAG("--bf16", &o.prec, NN_BF16, "mixed precision: matrix products take bfloat16 inputs and accumulate in\n"
                 "fp32 (needs AVX512_BF16, e.g. AMD Zen 4+, Intel Cooper Lake+); weights,\n"
                 "optimizer, norms, softmax and loss stay fp32. Kept on --resume"),
        OPT_FLAG("--fp32", &o.prec, NN_FP32, "all fp32 (the default; on --resume, continue a --bf16 run in fp32)"),
        OPT_GIB("--max-mem", &o.mem_limit, "GIB", "refuse configs needing more (default: available memory)"),
        OPT_LONG_IN("--stop-after", &o.stop_after, 0, 1e19, "N", NULL),   /* testing: act as if interrupted */
        OPT_END
    };
    const cli_cmd cmd = {
        .verb = V, .opts = opts,
        .usage = "--data CORPUS_DIR -o MODEL.ckpt [options]\n--resume MODEL.ckpt -o MODEL.ckpt [--data CORPUS_DIR] [--steps N]",
        .about = "Trains a causal language model on the token shards of `pktlm prep` (CORPUS/train.tok,\n"
                 "validation on CORPUS/val.tok). Writes MODEL.ckpt (every --save-every steps, at the end\n"
                 "and on Ctrl-C), MODEL.csv (one row per step) and MODEL.svg (loss curves), the log and\n"
                 "plot written with each checkpoint (a run that dies before its first save leaves them).",
        .more = "Threads wait passively (OMP_WAIT_POLICY=passive) unless OMP_WAIT_POLICY is set: spinning\n"
                "threads collapse on a shared machine. Results do not depend on the thread count.\n"
                "Formats: docs/checkpoint.md; model and speed: docs/model.md.",
    };
    int parsed = cli_parse(&cmd, argc, argv);
    if (parsed) return parsed == 1 ? 0 : 2;
    if (!o.data_dir && !o.resume_path) return cli_error(V, "missing --data CORPUS_DIR (see pktlm pretrain --help)"), 2;
    if (o.resume_path) warn_ignored_on_resume(&o);
    else {
        pretrain_opts d;
        pretrain_defaults(&d);
        if (cli_model_check_given(V, &o.cfg, &d.cfg)) return 2;
    }
    return cli_lm_train(V, &o, pretrain_run);
}

int cli_lm_train(const char *verb, pretrain_opts *o, int (*run)(pretrain_opts *)) {
    o->interrupt = cli_catch_interrupt();   /* Ctrl-C / SIGTERM: stop after the step, keep the checkpoint */
    if (run(o) != 0) return cli_error(verb, "%s", o->err);
    /* a run stopped before its first evaluation has no validation loss (a loss is never 0) */
    char val[48] = "not evaluated yet";
    if (o->final_val > 0) snprintf(val, sizeof val, "%.4f (nats/token)", o->final_val);
    if (!o->quiet)
        fprintf(stderr, "pktlm %s: %s at step %ld: loss %.4f, validation loss %s\n", verb,
                o->interrupted ? "stopped" : "done", o->final_step, o->final_loss, val);
    return 0;
}
