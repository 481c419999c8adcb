/* pktlm finetune: adapt a pretrained backbone to a task. A thin dispatcher on --task, so
 * that each task lives in its own file: classify here (src/train/finetune.c), generate in
 * cmd_finetune_gen.c, field (header-field prediction) in cmd_field.c. */
#include "cli/cli.h"
#include "cli/opts.h"
#include "train/finetune.h"
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
        "usage: pktlm finetune --task classify --data CORPUS_DIR -o CLASSIFIER.ckpt [--init MODEL.ckpt] [options]\n"
        "\n"
        "Trains a flow classifier on the labelled sequences of a corpus made by `pktlm prep`\n"
        "(train.tok; val.tok for early stopping on validation macro-F1). The label token of each\n"
        "sequence is replaced by <unlabelled>: the model never sees the answer. Writes the best\n"
        "classifier (label names, head and backbone in one file, docs/classify.md) atomically to\n"
        "CLASSIFIER.ckpt after every improving epoch, and CLASSIFIER.csv (one row per epoch).\n"
        "\n"
        "  --task classify|generate|field  (see pktlm finetune --task generate|field --help)\n"
        "  --init MODEL.ckpt    pretrained backbone (`pktlm pretrain`); omitted = from scratch:\n"
        "    --layers N 2  --d-model N 128  --heads N 4  --ctx N 256  --arch gpt2\n"
        "  --new-embeddings     an --init model in another token format (`pktlm import`): keep its body,\n"
        "                       fresh token embedding and head for the corpus (QwenNet; docs/interop.md)\n"
        "  --pooling mean|last|first   pooled hidden state of the non-pad positions (default mean)\n"
        "  --freeze             train the head only on the frozen encoder's features\n"
        "  --epochs E           10        --batch N  16      --lr X  3e-4 (3e-3 with --freeze)\n"
        "  --balance weight|sample|none  class-balanced loss weights (default), sampling, or none\n"
        "  --max-packets K      only the first K packets of each flow (early classification)\n"
        "  --seq-len N          cut rows at N tokens (default: longest sequence, at most ctx)\n"
        "  --bucket G           draw G batches at once and group them by row length (0 = off)\n"
        "  --patience N         stop after N epochs without a better validation macro-F1 (3; 0 = off)\n"
        "  --max-steps N        cap on optimizer steps   --time-limit S  stop after the epoch passing S seconds\n"
        "  --weight-decay X 0.01  --clip X 1.0  --warmup N 20  --seed N 1337  --threads N  --quiet\n"
        "  --bf16               mixed-precision matrix products while training (needs AVX512_BF16; see\n"
        "                       pktlm pretrain --help); validation, eval and classify run in fp32\n"
        "\n"
        "Evaluate with `pktlm eval --model CLASSIFIER.ckpt --data CORPUS_DIR`; classify captures with\n"
        "`pktlm classify --model CLASSIFIER.ckpt CAPTURE...`.\n");
}

static int balance_parse(const char *s) {
    return !strcmp(s, "weight") ? BAL_WEIGHT : !strcmp(s, "sample") ? BAL_SAMPLE : !strcmp(s, "none") ? BAL_NONE : -1;
}

int finetune_classify_main(int argc, char **argv) {
    cli_prefer_passive_wait(argc, argv);
    finetune_opts o;
    finetune_defaults(&o);
    const char *V = "finetune";
    cli_opt opts[] = {
        OPT_SKIP("--task"), OPT_STR("--data", &o.data_dir), OPT_STR2("-o", "--out", &o.out_path),
        OPT_STR("--init", &o.init_path), OPT_MODEL(o.cfg), OPT_OPTIM(o), OPT_FLAG("--new-embeddings", &o.new_embeddings, 1),
        OPT_CHOICE("--pooling", &o.pooling, cls_pool_parse, "mean, last or first"),
        OPT_CHOICE("--balance", &o.balance, balance_parse, "weight, sample or none"),
        OPT_FLAG("--freeze", &o.freeze, 1), OPT_DOUBLE_IN("--epochs", &o.epochs, 0, HUGE_VAL), OPT_INT_IN("--max-packets", &o.max_pkts, 0, 1000000),
        OPT_INT_IN("--seq-len", &o.seq_len, 0, 1048576), OPT_INT_IN("--patience", &o.patience, 0, INT_MAX), OPT_INT_IN("--bucket", &o.bucket, 0, 4096), OPT_LONG_IN("--max-steps", &o.max_steps, 0, 1e19),
        OPT_DOUBLE_IN("--time-limit", &o.time_limit, 0, HUGE_VAL), OPT_FLAG("--bf16", &o.prec, NN_BF16),
        OPT_END
    };
    int pr = cli_parse_opts(V, argc, argv, opts);
    if (pr == 1) { usage(stdout); return 0; }
    if (pr) return pr;
    if (!o.data_dir || !o.out_path) { cli_error(V, "missing --data CORPUS_DIR or -o CLASSIFIER.ckpt"); usage(stderr); return 2; }
    if (o.batch < 1 || o.epochs <= 0 || o.lr < 0 || o.max_pkts < 0 || o.cfg.layers < 1 || o.cfg.d_model < 1 ||
        o.cfg.heads < 1 || o.cfg.ctx < 2 || o.bucket < 0 || (long)o.bucket * o.batch > 65535)
        return cli_error(V, "invalid option values (batch >= 1, epochs > 0, lr >= 0, max-packets >= 0, 0 <= bucket x batch < 65536)"), 2;
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
    const char *init = NULL;
    char list[200] = "";
    int seen[NS] = { 0 };
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--init") && i + 1 < argc) init = argv[i + 1];
        for (int k = 0; k < NS; k++)
            if (!strcmp(argv[i], shape[k]) && !seen[k]++) snprintf(list + strlen(list), sizeof list - strlen(list), " %s", shape[k]);
    }
    if (init && list[0])
        fprintf(stderr, "pktlm finetune: warning: --init %s brings its own architecture (layers, width, heads, context); "
                        "ignoring%s%s\n", init, list, strstr(list, "--ctx") ? " (--seq-len cuts the rows of --task classify)" : "");
}

int cmd_finetune(int argc, char **argv) {
    const char *task = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { if (!task) { usage(stdout); return 0; } }
        if (!strcmp(argv[i], "--task") && i + 1 < argc) task = argv[i + 1];
    }
    if (!task) { cli_error("finetune", "missing --task (classify, generate or field)"); usage(stderr); return 2; }
    warn_ignored_with_init(argc, argv);
    if (!strcmp(task, "classify")) return finetune_classify_main(argc, argv);
    if (!strcmp(task, "generate")) return cmd_finetune_gen(argc, argv);
    if (!strcmp(task, "field")) return finetune_field_main(argc, argv);
    return cli_error("finetune", "unknown task '%s' (classify, generate or field)", task), 2;
}
