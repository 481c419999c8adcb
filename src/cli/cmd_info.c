/* pktlm info MODEL.ckpt: config, parameter count and training state of a checkpoint. */
#include "cli/cli.h"
#include "cli/opts.h"
#include "train/checkpoint.h"
#include "corpus/fields.h"
#include "corpus/tokfmt.h"
#include <math.h>
#include <string.h>

static void json_num(char *b, size_t n, float v) {
    if (isfinite(v)) snprintf(b, n, "%g", v); else snprintf(b, n, "null");
}

/* The config fields c's backbone reads, from the field table: JSON members "name":value, or
 * text "name value" joined by ", " (arch first, as a name) */
static void print_config(const model_config *c, int json) {
    for (int i = 0, n = 0; i < model_nfields; i++) {
        const model_field *f = &model_fields[i];
        if (!(f->archs & MF_ARCHES(c->arch))) continue;
        double v = model_field_get(c, f);
        if (json) {
            if (f->type == MF_ARCH) printf("%s\"%s\":\"%s\"", n ? "," : "", f->name, model_arch_name((int)v));
            else printf("%s\"%s\":%g", n ? "," : "", f->name, v);
        } else if (f->type == MF_ARCH) printf("%s:", model_arch_name((int)v));
        else printf("%s %s %g", n > 1 ? "," : "", f->name, v);
        n++;
    }
}

int cmd_info(int argc, char **argv) {
    const char *V = "info", *path = NULL;
    int json = 0;
    const cli_opt opts[] = {
        OPT_POS("MODEL.ckpt", &path, "a checkpoint of any pktlm verb"),
        OPT_FLAG("--json", &json, 1, "one JSON object on stdout"),
        OPT_END
    };
    const cli_cmd cmd = {
        .verb = V, .opts = opts,
        .usage = "[--json] MODEL.ckpt",
        .about = "Prints a checkpoint's model config, parameter count, vocabulary reference and training\n"
                 "state (docs/checkpoint.md). The file is verified (size and checksum).",
    };
    int parsed = cli_parse(&cmd, argc, argv);
    if (parsed) return parsed == 1 ? 0 : 2;
    model m;
    train_state st;
    char err[512];
    if (ckpt_load(path, &m, &st, 0, err, sizeof err) != 0) return cli_error(V, "%s", err);
    const model_config *c = &m.cfg;
    double pct = st.total_steps ? 100.0 * st.step / st.total_steps : 0;
    const field_def *fd = st.task == CKPT_TASK_FIELD ? field_by_id(st.task_field) : NULL;
    /* what the model speaks and what one training sequence was (slots 96, 98) */
    const tok_format *tf = tokfmt_get(st.tok_format);
    const char *unit = st.unit == 2 ? "capture" : st.unit == 1 ? "packet" : "flow";
    if (json) {
        /* the corpus path is user text (quotes, backslashes) and a loss may be NaN: both kept
         * valid JSON (an escaped string; null) */
        char loss[32], val[32];
        json_num(loss, sizeof loss, st.last_loss);
        json_num(val, sizeof val, st.last_val);
        printf("{");
        print_config(c, 1);
        printf(",\"parameters\":%zu,\"vocab_hash\":\"%016llx\",\"tokens\":\"%s\",\"unit\":\"%s\",\"data\":", m.nparams,
               (unsigned long long)st.vocab_hash, tf ? tf->name : "?", unit);
        cli_json_str(stdout, st.data_dir);
        printf(",\"step\":%lld,\"total_steps\":%lld,\"tokens\":%llu,\"batch\":%d,\"accum\":%d,\"lr\":%g,\"warmup\":%d,"
               "\"loss\":%s,\"val_loss\":%s,\"optimizer_state\":%d,\"task\":\"%s\",\"field\":\"%s\",\"precision\":\"%s\"}\n",
               (long long)st.step, (long long)st.total_steps, (unsigned long long)st.tokens, st.batch, st.accum, st.lr,
               st.warmup, loss, val, st.has_opt, fd ? "field" : "lm", fd ? fd->name : "",
               st.precision == NN_BF16 ? "bf16" : "fp32");
    } else {
        printf("checkpoint   %s\n", path);
        printf("model        ");
        print_config(c, 0);
        printf("\n");
        printf("parameters   %zu (%.2f M, %.1f MB fp32)\n", m.nparams, m.nparams / 1e6, m.nparams * 4 / 1e6);
        printf("vocabulary   %d tokens, pad %d bos %d eos %d, %d labels from %d, hash %016llx\n", c->vocab, st.pad_id,
               st.bos_id, st.eos_id, st.n_labels, st.label_base, (unsigned long long)st.vocab_hash);
        printf("corpus       %s (%s tokens, one sequence per %s)\n", st.data_dir[0] ? st.data_dir : "-", tf ? tf->name : "?",
               st.unit == 2 ? "capture window" : unit);
        printf("training     step %lld of %lld (%.0f%%), %llu tokens, batch %d x accum %d x ctx %d, %s, %s\n",
               (long long)st.step, (long long)st.total_steps, pct, (unsigned long long)st.tokens, st.batch, st.accum,
               st.seq_len, st.pack ? "packed" : "padded", st.precision == NN_BF16 ? "bf16 products" : "fp32");
        printf("optimizer    AdamW lr %g (warm-up %d, cosine to x%g), betas %g/%g, wd %g, clip %g, dropout %g, seed %llu%s\n",
               st.lr, st.warmup, st.min_frac, st.beta1, st.beta2, st.weight_decay, st.clip, c->dropout,
               (unsigned long long)st.seed, st.has_opt ? "" : " (state not saved)");
        if (fd)
            printf("task         header-field prediction of %s (docs/field.md): best validation exact match %.4f at "
                   "step %lld, %s\n", fd->name, st.task_best, (long long)st.task_best_step,
                   st.task_pretrained ? "fine-tuned from a pretrained model" : "trained from scratch");
        printf("loss         train %.4f, validation %.4f nats/token (%.4f / %.4f bits)\n", st.last_loss, st.last_val,
               st.last_loss / 0.6931471805599453, st.last_val / 0.6931471805599453);
    }
    model_free(&m);
    return 0;
}
