/* pktlm finetune: adapt a pretrained backbone to a task. A thin dispatcher on --task, so
 * that each task lives in its own file: classify here (src/train/finetune.c), generate in
 * cmd_finetune_gen.c, field (header-field prediction) in cmd_field.c. */
#include "cli/cli.h"
#include "cli/opts.h"
#include "train/finetune.h"
#include <stdlib.h>
#include <string.h>

int finetune_classify_main(int argc, char **argv) {
    cli_prefer_passive_wait(argc, argv);
    finetune_opts o;
    finetune_defaults(&o);
    const char *V = "finetune";
    const cli_opt opts[] = {
        OPT_CHOICE("--task", &(int){ 0 }, "classify|generate|field", "TASK", "see pktlm finetune --task generate|field --help", .nodef = 1),
        OPT_STR("--data", &o.data_dir, "CORPUS_DIR", "a labelled corpus of `pktlm prep`", .req = 1),
        OPT_OUT(&o.out_path, "CLASSIFIER.ckpt", "the classifier; CLASSIFIER.csv beside it", .req = 1),
        OPT_STR("--init", &o.init_path, "MODEL.ckpt", "pretrained backbone (`pktlm pretrain`); omitted = from scratch,\n"
                "with the model options below"),
        OPT_NEW_EMBEDDINGS(o),
        OPT_CHOICE("--pooling", &o.pooling, "mean|last|first", "P", "pooled hidden state of the non-pad positions"),
        OPT_FLAG("--freeze", &o.freeze, 1, "train the head only on the frozen encoder's features"),
        OPT_CHOICE("--balance", &o.balance, "none|weight|sample", "B", "class-balanced loss weights, sampling, or none"),
        OPT_DOUBLE_POS("--epochs", &o.epochs, HUGE_VAL, "E", "passes over the training split"),
        OPT_INT_IN("--max-packets", &o.max_pkts, 0, 1000000, "K", "only the first K packets of each flow (early classification; 0 = all)"),
        OPT_INT_IN("--seq-len", &o.seq_len, 0, 1048576, "N", "cut rows at N tokens (default: longest sequence, at most ctx)"),
        OPT_INT_IN("--bucket", &o.bucket, 0, 4096, "G", "draw G batches at once and group them by row length (0 = off)"),
        OPT_INT_IN("--patience", &o.patience, 0, INT_MAX, "N", "stop after N epochs without a better validation macro-F1 (0 = off)"),
        OPT_LONG_IN("--max-steps", &o.max_steps, 0, 1e19, "N", "cap on optimizer steps (0 = none)"),
        OPT_DOUBLE_IN("--time-limit", &o.time_limit, 0, HUGE_VAL, "S", "stop after the epoch passing S seconds (0 = none)"),
        OPT_FLAG("--bf16", &o.prec, NN_BF16, "mixed-precision matrix products while training (needs AVX512_BF16; see\n"
                 "pktlm pretrain --help); validation, eval and classify run in fp32"),
        OPT_OPTIM(o),
        OPT_SECTION("model, without --init (docs/model.md):"),
        OPT_MODEL(o.cfg),
        OPT_END
    };
    const cli_cmd cmd = {
        .verb = V, .title = "finetune --task classify", .opts = opts,
        .usage = "--task classify --data CORPUS_DIR -o CLASSIFIER.ckpt [--init MODEL.ckpt] [options]",
        .about = "Trains a flow classifier on the labelled sequences of a corpus made by `pktlm prep`\n"
                 "(train.tok; val.tok for early stopping on validation macro-F1). The label token of each\n"
                 "sequence is replaced by <unlabelled>: the model never sees the answer. Writes the best\n"
                 "classifier (label names, head and backbone in one file, docs/classify.md) atomically to\n"
                 "CLASSIFIER.ckpt after every improving epoch, and CLASSIFIER.csv (one row per epoch).",
        .more = "--lr defaults to 3e-3 with --freeze. Evaluate with `pktlm eval --model CLASSIFIER.ckpt --data\n"
                "CORPUS_DIR`; classify captures with `pktlm classify --model CLASSIFIER.ckpt CAPTURE...`.",
    };
    int parsed = cli_parse(&cmd, argc, argv);
    if (parsed) return parsed == 1 ? 0 : 2;
    if ((long)o.bucket * o.batch > 65535) return cli_error(V, "--bucket x --batch must be below 65536, got %d x %d", o.bucket, o.batch), 2;
    o.interrupt = cli_catch_interrupt();   /* Ctrl-C / SIGTERM: stop after the step, keep the checkpoint */
    int rc = finetune_classify_run(&o);
    if (rc != 0) return cli_error(V, "%s", o.err);
    if (!o.quiet)
        fprintf(stderr, "pktlm finetune: best validation macro-F1 %.4f (accuracy %.4f) at epoch %d of %d; saved %s\n",
                o.best_f1, o.best_acc, o.best_epoch, o.epochs_run, o.out_path);
    return 0;
}

/* --init brings its backbone's architecture: say so when the command line asks for another
 * shape (as pretrain --resume does), instead of dropping it silently. */
static void warn_ignored_with_init(int argc, char **argv) {
    static const char *const shape[] = { "--arch", "--layers", "--d-model", "--heads", "--kv-heads", "--d-ff", "--ctx", "--tied" };
    enum { NS = sizeof shape / sizeof shape[0] };
    const char *init = cli_peek_opt(argc, argv, "--init");
    char list[200] = "";
    int seen[NS] = { 0 };
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)   /* in the order given, as --opt or --opt=value */
        for (int k = 0; k < NS; k++) {
            size_t L = strlen(shape[k]);
            if (!strncmp(argv[i], shape[k], L) && (!argv[i][L] || argv[i][L] == '=') && !seen[k]++)
                snprintf(list + strlen(list), sizeof list - strlen(list), " %s", shape[k]);
        }
    if (init && list[0])
        fprintf(stderr, "pktlm finetune: warning: --init %s brings its own architecture (layers, width, heads, context); "
                        "ignoring%s%s\n", init, list, strstr(list, "--ctx") ? " (--seq-len cuts the rows of --task classify)" : "");
}

int cmd_finetune(int argc, char **argv) {
    const char *task = cli_peek_opt(argc, argv, "--task");
    if (!task && cli_wants_help(argc, argv)) return finetune_classify_main(argc, argv);   /* the default task's help */
    if (!task) return cli_error("finetune", "missing --task (classify, generate or field; see pktlm finetune --help)"), 2;
    warn_ignored_with_init(argc, argv);
    if (!strcmp(task, "classify")) return finetune_classify_main(argc, argv);
    if (!strcmp(task, "generate")) return cmd_finetune_gen(argc, argv);
    if (!strcmp(task, "field")) return finetune_field_main(argc, argv);
    return cli_error("finetune", "--task must be classify, generate or field, got '%s'", task), 2;
}
