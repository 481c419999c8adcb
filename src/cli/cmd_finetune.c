/* pktlm finetune: adapt a pretrained backbone to a task. A thin dispatcher on --task, so
 * that each task lives in its own file: classify here (src/train/finetune.c); generate and
 * field (issue 6) are added beside it. */
#include "cli/cli.h"
#include "train/finetune.h"
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop_flag;
static void on_sigint(int sig) { (void)sig; stop_flag = 1; signal(SIGINT, SIG_DFL); }

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
        "  --task classify|generate  (generate: see pktlm finetune --task generate --help)\n"
        "  --init MODEL.ckpt    pretrained backbone (`pktlm pretrain`); omitted = from scratch:\n"
        "    --layers N 2  --d-model N 128  --heads N 4  --ctx N 256  --arch gpt2\n"
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
        "\n"
        "Evaluate with `pktlm eval --model CLASSIFIER.ckpt --data CORPUS_DIR`; classify captures with\n"
        "`pktlm classify --model CLASSIFIER.ckpt CAPTURE...`.\n");
}

int finetune_classify_main(int argc, char **argv) {
    cli_prefer_passive_wait(argc, argv);
    finetune_opts o;
    finetune_defaults(&o);
    const char *V = "finetune";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        long n; double d;
#define NEXT_L(dst) do { if (cli_long(V, a, val, &n)) return 2; dst = n; i++; } while (0)
#define NEXT_D(dst) do { if (cli_double(V, a, val, &d)) return 2; dst = d; i++; } while (0)
#define NEXT_S(dst) do { if (!val) return cli_error(V, "%s needs a value", a), 2; dst = val; i++; } while (0)
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--task")) i++;
        else if (!strcmp(a, "--data")) NEXT_S(o.data_dir);
        else if (!strcmp(a, "-o") || !strcmp(a, "--out")) NEXT_S(o.out_path);
        else if (!strcmp(a, "--init")) NEXT_S(o.init_path);
        else if (!strcmp(a, "--arch")) {
            if (!val || !(o.cfg.arch = model_arch_parse(val))) return cli_error(V, "--arch: unknown '%s'", val ? val : ""), 2;
            i++;
        }
        else if (!strcmp(a, "--layers")) NEXT_L(o.cfg.layers);
        else if (!strcmp(a, "--d-model")) NEXT_L(o.cfg.d_model);
        else if (!strcmp(a, "--heads")) NEXT_L(o.cfg.heads);
        else if (!strcmp(a, "--ctx")) NEXT_L(o.cfg.ctx);
        else if (!strcmp(a, "--pooling")) {
            if ((o.pooling = cls_pool_parse(val)) < 0) return cli_error(V, "--pooling: mean, last or first"), 2;
            i++;
        }
        else if (!strcmp(a, "--balance")) {
            if (!val) return cli_error(V, "--balance: weight, sample or none"), 2;
            if (!strcmp(val, "weight")) o.balance = BAL_WEIGHT;
            else if (!strcmp(val, "sample")) o.balance = BAL_SAMPLE;
            else if (!strcmp(val, "none")) o.balance = BAL_NONE;
            else return cli_error(V, "--balance: weight, sample or none"), 2;
            i++;
        }
        else if (!strcmp(a, "--freeze")) o.freeze = 1;
        else if (!strcmp(a, "--epochs")) NEXT_D(o.epochs);
        else if (!strcmp(a, "--batch")) NEXT_L(o.batch);
        else if (!strcmp(a, "--lr")) NEXT_D(o.lr);
        else if (!strcmp(a, "--max-packets")) NEXT_L(o.max_pkts);
        else if (!strcmp(a, "--seq-len")) NEXT_L(o.seq_len);
        else if (!strcmp(a, "--patience")) NEXT_L(o.patience);
        else if (!strcmp(a, "--bucket")) NEXT_L(o.bucket);
        else if (!strcmp(a, "--max-steps")) NEXT_L(o.max_steps);
        else if (!strcmp(a, "--time-limit")) NEXT_D(o.time_limit);
        else if (!strcmp(a, "--weight-decay")) NEXT_D(o.weight_decay);
        else if (!strcmp(a, "--clip")) NEXT_D(o.clip);
        else if (!strcmp(a, "--warmup")) NEXT_L(o.warmup);
        else if (!strcmp(a, "--seed")) NEXT_L(o.seed);
        else if (!strcmp(a, "--threads")) NEXT_L(o.threads);
        else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) o.quiet = 1;
        else { cli_error(V, "unknown option '%s' (see --help)", a); return 2; }
#undef NEXT_L
#undef NEXT_D
#undef NEXT_S
    }
    if (!o.data_dir || !o.out_path) { cli_error(V, "missing --data CORPUS_DIR or -o CLASSIFIER.ckpt"); usage(stderr); return 2; }
    if (o.batch < 1 || o.epochs <= 0 || o.lr < 0 || o.max_pkts < 0 || o.cfg.layers < 1 || o.cfg.d_model < 1 ||
        o.cfg.heads < 1 || o.cfg.ctx < 2 || o.bucket < 0 || (long)o.bucket * o.batch > 65535)
        return cli_error(V, "invalid option values (batch >= 1, epochs > 0, lr >= 0, max-packets >= 0, 0 <= bucket x batch < 65536)"), 2;
    o.interrupt = &stop_flag;
    signal(SIGINT, on_sigint);
    int rc = finetune_classify_run(&o);
    signal(SIGINT, SIG_DFL);
    if (rc != 0) return cli_error(V, "%s", o.err);
    if (!o.quiet)
        fprintf(stderr, "pktlm finetune: best validation macro-F1 %.4f (accuracy %.4f) at epoch %d of %d; saved %s\n",
                o.best_f1, o.best_acc, o.best_epoch, o.epochs_run, o.out_path);
    return 0;
}

int cmd_finetune(int argc, char **argv) {
    const char *task = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { if (!task) { usage(stdout); return 0; } }
        if (!strcmp(argv[i], "--task") && i + 1 < argc) task = argv[i + 1];
    }
    if (!task) { cli_error("finetune", "missing --task (classify)"); usage(stderr); return 2; }
    if (!strcmp(task, "classify")) return finetune_classify_main(argc, argv);
    if (!strcmp(task, "generate")) return cmd_finetune_gen(argc, argv);
    return cli_error("finetune", "unknown task '%s' (classify)", task), 2;
}
