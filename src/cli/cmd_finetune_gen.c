/* pktlm finetune --task generate: continue causal-LM training from a pretrained checkpoint
 * on a labelled corpus (src/train/finetune_gen.c). Reached through cmd_finetune's --task
 * dispatcher; options parsed by the shared table parser (cli/opts.h). */
#include "cli/cli.h"
#include "cli/opts.h"
#include "train/finetune_gen.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f) {
    fprintf(f,
        "usage: pktlm finetune --task generate --init PRETRAINED.ckpt --data CORPUS_DIR -o GEN.ckpt [options]\n"
        "\n"
        "Continues causal-LM training of a pretrained model on a corpus of `pktlm prep`, whose\n"
        "sequences start `<bos> <label>`: the model learns to generate flows (--unit flow) or\n"
        "capture windows (--unit capture; the unit is prep's choice) given their label. The\n"
        "architecture and context come from --init; the optimizer and the schedule start afresh.\n"
        "Label tokens the pretrained model lacks get fresh embedding rows. Writes GEN.ckpt,\n"
        "GEN.csv and GEN.svg as `pktlm pretrain` does; use it with `pktlm generate --model`.\n"
        "\n"
        "  --steps N | --epochs E   default 1 epoch\n"
        "  --lr X        3e-4       --warmup N  20      --min-lr-frac X  0.1\n"
        "  --batch N     8          --accum N   1       --weight-decay X 0.1   --clip X 1.0\n"
        "  --dropout P   0          --seed N    1337    --pad (one sequence per row)\n"
        "  --eval-every N  --val-batches N 20  --save-every N 0  --threads N  --quiet\n"
        "  --bf16        mixed-precision matrix products (needs AVX512_BF16; see pktlm pretrain --help)\n"
        "  --new-embeddings  an --init model in another token format (`pktlm import`): keep its body,\n"
        "                fresh token embedding and head for the corpus (QwenNet; docs/interop.md)\n"
        "\n"
        "(NetGPT's header-field prediction: pktlm finetune --task field --help.)\n");
}

int cmd_finetune_gen(int argc, char **argv) {
    const char *V = "finetune", *task = NULL, *init = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        if (!strcmp(argv[i], "--task") && i + 1 < argc) task = argv[i + 1];
        if (!strcmp(argv[i], "--init") && i + 1 < argc) init = argv[i + 1];
    }
    if (!task) { cli_error(V, "missing --task generate"); usage(stderr); return 2; }
    if (strcmp(task, "generate")) return cli_error(V, "--task %s: not implemented here (generate)", task), 2;
    if (!init) { cli_error(V, "missing --init PRETRAINED.ckpt"); usage(stderr); return 2; }
    cli_prefer_passive_wait(argc, argv);
    pretrain_opts o;
    pretrain_defaults(&o);
    if (finetune_gen_prepare(&o, init) != 0) return cli_error(V, "%s", o.err);
    cli_opt opts[] = {
        OPT_SKIP("--task"), OPT_SKIP("--init"), OPT_FLAG("--new-embeddings", &o.new_embeddings, 1), OPT_STR("--data", &o.data_dir), OPT_STR2("-o", "--out", &o.out_path),
        OPT_OPTIM(o), OPT_INT_IN("--accum", &o.accum, 1, 65536), OPT_LONG_IN("--steps", &o.steps, 0, INT_MAX - 1), OPT_DOUBLE_IN("--epochs", &o.epochs, 0, HUGE_VAL),
        OPT_FLOAT_IN("--min-lr-frac", &o.min_frac, 0, 1), OPT_MODEL_RESUMABLE(o.cfg),
        OPT_INT_IN("--eval-every", &o.eval_every, 0, INT_MAX), OPT_INT_IN("--val-batches", &o.val_batches, 1, INT_MAX),
        OPT_INT_IN("--save-every", &o.save_every, 0, INT_MAX), OPT_FLAG("--pad", &o.pack, 0), OPT_FLAG("--bf16", &o.prec, NN_BF16),
        OPT_END
    };
    int pr = cli_parse_opts(V, argc, argv, opts);
    if (pr == 1) { usage(stdout); return 0; }
    if (pr) return pr;
    if (!o.out_path || !o.data_dir) { cli_error(V, "need --data CORPUS_DIR and -o GEN.ckpt"); usage(stderr); return 2; }
    if (o.batch < 1 || o.accum < 1 || o.steps < 0 || o.lr <= 0 || o.cfg.dropout < 0 || o.cfg.dropout >= 1)
        return cli_error(V, "invalid option values (batch, accum >= 1; lr > 0; 0 <= dropout < 1)"), 2;
    o.interrupt = cli_catch_interrupt();   /* Ctrl-C / SIGTERM: stop after the step, keep the checkpoint */
    int rc = finetune_gen_run(&o);
    if (rc != 0) return cli_error(V, "%s", o.err);
    if (!o.quiet)
        fprintf(stderr, "pktlm finetune: %s at step %ld: loss %.4f, validation loss %.4f (nats/token)\n",
                o.interrupted ? "stopped" : "done", o.final_step, o.final_loss, o.final_val);
    return 0;
}
