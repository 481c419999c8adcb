/* pktlm pretrain: causal-LM pretraining of a backbone on a corpus (src/train/pretrain.c). */
#include "cli/cli.h"
#include "train/pretrain.h"
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_flag;
static void on_sigint(int sig) { (void)sig; stop_flag = 1; signal(SIGINT, SIG_DFL); /* a second Ctrl-C kills */ }

static void usage(FILE *f) {
    fprintf(f,
        "usage: pktlm pretrain --data CORPUS_DIR -o MODEL.ckpt [options]\n"
        "       pktlm pretrain --resume MODEL.ckpt -o MODEL.ckpt [--data CORPUS_DIR] [--steps N]\n"
        "\n"
        "Trains a causal language model on the token shards of `pktlm prep` (CORPUS/train.tok,\n"
        "validation on CORPUS/val.tok). Writes MODEL.ckpt (every --save-every steps, at the end\n"
        "and on Ctrl-C), MODEL.csv (one row per step) and MODEL.svg (loss curves).\n"
        "\n"
        "model:\n"
        "  --arch gpt2          backbone (gpt2; qwen2, mamba2, linattn planned)\n"
        "  --layers N           6        --d-model N   256      --heads N   8\n"
        "  --ctx N              256 (context = training sequence length)\n"
        "  --dropout P          0 (residual and embedding dropout)\n"
        "training:\n"
        "  --batch N            8        --accum N     1 (gradient accumulation)\n"
        "  --steps N | --epochs E        (default 1 epoch)\n"
        "  --lr X               6e-4     --warmup N    100 (linear), then cosine to lr*--min-lr-frac (0.1)\n"
        "  --weight-decay X     0.1 (matrices only)   --clip X  1.0 (global norm)\n"
        "  --seed N             1337 (init, shuffling, dropout)\n"
        "  --pad                one sequence per row, padded (default: pack sequences into a stream)\n"
        "  --eval-every N       steps between validation losses (default: 20 per run)\n"
        "  --val-batches N      20       --save-every N  0 (only at the end)\n"
        "  --threads N          default: all cores / OMP_NUM_THREADS\n"
        "  --bf16               mixed precision: matrix products take bfloat16 inputs and accumulate in\n"
        "                       fp32 (needs AVX512_BF16, e.g. AMD Zen 4+, Intel Cooper Lake+); weights,\n"
        "                       optimizer, norms, softmax and loss stay fp32. Kept on --resume\n"
        "  --fp32               all fp32 (the default; on --resume, continue a --bf16 run in fp32)\n"
        "  --max-mem GIB        refuse configs needing more (default: available memory)\n"
        "  --quiet\n"
        "  --resume MODEL.ckpt  continue exactly where the checkpoint stopped (model, batch, schedule\n"
        "                       and seed come from the checkpoint; --steps N extends the run)\n"
        "\n"
        "Threads wait passively (OMP_WAIT_POLICY=passive) unless OMP_WAIT_POLICY is set: spinning\n"
        "threads collapse on a shared machine. Results do not depend on the thread count.\n"
        "Formats: docs/checkpoint.md; model and speed: docs/model.md.\n");
}

int cmd_pretrain(int argc, char **argv) {
    cli_prefer_passive_wait(argc, argv);
    pretrain_opts o;
    pretrain_defaults(&o);
    const char *V = "pretrain";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        long n; double d;
#define NEXT_L(dst) do { if (cli_long(V, a, val, &n)) return 2; dst = n; i++; } while (0)
#define NEXT_D(dst) do { if (cli_double(V, a, val, &d)) return 2; dst = d; i++; } while (0)
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--data")) { if (!val) return cli_error(V, "--data needs a directory"), 2; o.data_dir = val; i++; }
        else if (!strcmp(a, "-o") || !strcmp(a, "--out")) { if (!val) return cli_error(V, "-o needs a path"), 2; o.out_path = val; i++; }
        else if (!strcmp(a, "--resume")) { if (!val) return cli_error(V, "--resume needs a checkpoint"), 2; o.resume_path = val; i++; }
        else if (!strcmp(a, "--arch")) {
            if (!val || !(o.cfg.arch = model_arch_parse(val))) return cli_error(V, "--arch: unknown '%s' (gpt2)", val ? val : ""), 2;
            i++;
        }
        else if (!strcmp(a, "--layers")) NEXT_L(o.cfg.layers);
        else if (!strcmp(a, "--d-model")) NEXT_L(o.cfg.d_model);
        else if (!strcmp(a, "--heads")) NEXT_L(o.cfg.heads);
        else if (!strcmp(a, "--ctx")) NEXT_L(o.cfg.ctx);
        else if (!strcmp(a, "--dropout")) NEXT_D(o.cfg.dropout);
        else if (!strcmp(a, "--batch")) NEXT_L(o.batch);
        else if (!strcmp(a, "--accum")) NEXT_L(o.accum);
        else if (!strcmp(a, "--steps")) NEXT_L(o.steps);
        else if (!strcmp(a, "--epochs")) NEXT_D(o.epochs);
        else if (!strcmp(a, "--lr")) NEXT_D(o.lr);
        else if (!strcmp(a, "--warmup")) NEXT_L(o.warmup);
        else if (!strcmp(a, "--min-lr-frac")) NEXT_D(o.min_frac);
        else if (!strcmp(a, "--weight-decay")) NEXT_D(o.weight_decay);
        else if (!strcmp(a, "--clip")) NEXT_D(o.clip);
        else if (!strcmp(a, "--seed")) NEXT_L(o.seed);
        else if (!strcmp(a, "--eval-every")) NEXT_L(o.eval_every);
        else if (!strcmp(a, "--val-batches")) NEXT_L(o.val_batches);
        else if (!strcmp(a, "--save-every")) NEXT_L(o.save_every);
        else if (!strcmp(a, "--threads")) NEXT_L(o.threads);
        else if (!strcmp(a, "--stop-after")) NEXT_L(o.stop_after);   /* testing: act as if interrupted */
        else if (!strcmp(a, "--max-mem")) { NEXT_D(d); o.mem_limit = (size_t)(d * 1073741824.0); }
        else if (!strcmp(a, "--pad")) o.pack = 0;
        else if (!strcmp(a, "--bf16")) o.prec = NN_BF16;
        else if (!strcmp(a, "--fp32")) o.prec = NN_FP32;
        else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) o.quiet = 1;
        else { cli_error(V, "unknown option '%s' (see --help)", a); return 2; }
#undef NEXT_L
#undef NEXT_D
    }
    if (!o.out_path) { cli_error(V, "missing -o MODEL.ckpt"); usage(stderr); return 2; }
    if (!o.data_dir && !o.resume_path) { cli_error(V, "missing --data CORPUS_DIR"); usage(stderr); return 2; }
    if (o.batch < 1 || o.accum < 1 || o.cfg.ctx < 2 || o.cfg.layers < 1 || o.cfg.d_model < 1 || o.cfg.heads < 1 ||
        o.steps < 0 || o.lr <= 0 || o.cfg.dropout < 0 || o.cfg.dropout >= 1)
        return cli_error(V, "invalid option values (batch, accum, layers, d-model, heads >= 1; ctx >= 2; lr > 0; 0 <= dropout < 1)"), 2;
    o.interrupt = &stop_flag;
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    int rc = pretrain_run(&o);
    signal(SIGINT, SIG_DFL);
    if (rc != 0) return cli_error(V, "%s", o.err);
    if (!o.quiet)
        fprintf(stderr, "pktlm pretrain: %s at step %ld: loss %.4f, validation loss %.4f (nats/token)\n",
                o.interrupted ? "stopped" : "done", o.final_step, o.final_loss, o.final_val);
    return 0;
}
