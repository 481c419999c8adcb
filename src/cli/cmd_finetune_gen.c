/* pktlm finetune --task generate: continue causal-LM training from a pretrained checkpoint
 * on a labelled corpus (src/train/finetune_gen.c). Reached through cmd_finetune's --task
 * dispatcher; options parsed by the shared table parser (cli/opts.h). */
#include "cli/cli.h"
#include "cli/opts.h"
#include "train/finetune_gen.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cmd_finetune_gen(int argc, char **argv) {
    const char *V = "finetune", *init = NULL;
    pretrain_opts o;
    pretrain_defaults(&o);
    o.lr = 3e-4f;   /* finetune_gen_prepare's schedule, shown by --help */
    o.warmup = 20;
    const cli_opt opts[] = {
        OPT_CHOICE("--task", &(int){ 1 }, "classify|generate|field", "generate", "this task", .nodef = 1),
        OPT_STR("--init", &init, "PRETRAINED.ckpt", "the pretrained model (`pktlm pretrain`)", .req = 1),
        OPT_STR("--data", &o.data_dir, "CORPUS_DIR", "a labelled corpus of `pktlm prep`", .req = 1),
        OPT_OUT(&o.out_path, "GEN.ckpt", "the generation model; GEN.csv and GEN.svg beside it", .req = 1),
        OPT_NEW_EMBEDDINGS(o),
        OPT_LONG_IN("--steps", &o.steps, 0, INT_MAX - 1, "N", "optimizer steps (default: --epochs)"),
        OPT_DOUBLE_IN("--epochs", &o.epochs, 0, HUGE_VAL, "E", "passes over the training split (default 1 when --steps is not given)"),
        OPT_OPTIM(o),
        OPT_INT_IN("--accum", &o.accum, 1, 65536, "N", "gradient accumulation steps"),
        OPT_FLOAT_IN("--min-lr-frac", &o.min_frac, 0, 1, "X", "cosine decay after the warm-up down to lr*X"),
        OPT_MODEL_RESUMABLE(o.cfg),
        OPT_FLAG("--pad", &o.pack, 0, "one sequence per row, padded (default: pack sequences into a stream)"),
        OPT_INT_IN("--eval-every", &o.eval_every, 0, INT_MAX, "N", "steps between validation losses (default: 20 per run)"),
        OPT_INT_IN("--val-batches", &o.val_batches, 1, INT_MAX, "N", "batches per validation loss"),
        OPT_INT_IN("--save-every", &o.save_every, 0, INT_MAX, "N", "steps between checkpoints (0: only at the end)"),
        OPT_FLAG("--bf16", &o.prec, NN_BF16, "mixed-precision matrix products (needs AVX512_BF16; see pktlm pretrain --help)"),
        OPT_END
    };
    const cli_cmd cmd = {
        .verb = V, .title = "finetune --task generate", .opts = opts,
        .usage = "--task generate --init PRETRAINED.ckpt --data CORPUS_DIR -o GEN.ckpt [options]",
        .about = "Continues causal-LM training of a pretrained model on a corpus of `pktlm prep`, whose\n"
                 "sequences start `<bos> <label>`: the model learns to generate flows (--unit flow) or\n"
                 "capture windows (--unit capture; the unit is prep's choice) given their label. The\n"
                 "architecture and context come from --init; the optimizer and the schedule start afresh.\n"
                 "Label tokens the pretrained model lacks get fresh embedding rows. Writes GEN.ckpt,\n"
                 "GEN.csv and GEN.svg as `pktlm pretrain` does; use it with `pktlm generate --model`.",
        .more = "(NetGPT's header-field prediction: pktlm finetune --task field --help.)",
    };
    int parsed = cli_parse(&cmd, argc, argv);
    if (parsed) return parsed == 1 ? 0 : 2;
    cli_prefer_passive_wait(argc, argv);
    /* the backbone's shape from --init, then the command line again over it (the same options,
     * already checked: it cannot fail now) */
    if (finetune_gen_prepare(&o, init) != 0) return cli_error(V, "%s", o.err);
    if (cli_parse(&cmd, argc, argv) != 0) return 2;
    return cli_lm_train(V, &o, finetune_gen_run);
}
