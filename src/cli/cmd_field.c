/* pktlm finetune --task field, and pktlm eval on the models it writes: NetGPT's
 * header-field prediction (src/train/finetune_field.c, docs/field.md). */
#include "cli/cli.h"
#include "corpus/vocab.h"
#include "cli/opts.h"
#include "train/finetune_field.h"
#include "train/checkpoint.h"
#include "corpus/tokens.h"
#include "util/util.h"
#include <stdlib.h>
#include <string.h>

static void list_fields(FILE *f) {
    int n;
    const field_def *t = field_table(&n);
    for (int i = 0; i < n; i++) fprintf(f, "    %-11s %d byte%s  %s\n", t[i].name, t[i].width, t[i].width > 1 ? "s" : " ", t[i].what);
}

static int field_parse(const char *s) { const field_def *d = field_by_name(s); return d ? d->id : -1; }

int finetune_field_main(int argc, char **argv) {
    const char *V = "finetune";
    field_opts o;
    field_defaults(&o);
    const cli_opt opts[] = {
        OPT_CHOICE("--task", &(int){ 2 }, "classify|generate|field", "field", "this task", .nodef = 1),
        OPT_CHOICE_FN("--field", &o.field, field_parse, "a field listed by --help", "NAME", "the field to predict (below)", .req = 1),
        OPT_STR("--data", &o.data_dir, "CORPUS_DIR", "a corpus of `pktlm prep --tokens bytes`", .req = 1),
        OPT_OUT(&o.out_path, "FIELD.ckpt", "the model; FIELD.csv beside it", .req = 1),
        OPT_STR("--init", &o.init_path, "MODEL.ckpt", "pretrained model (`pktlm pretrain`); omitted = from scratch,\n"
                "with the model options below"),
        OPT_NEW_EMBEDDINGS(o),
        OPT_DOUBLE_POS("--epochs", &o.epochs, HUGE_VAL, "E", "passes over the training split"),
        OPT_LONG_IN("--eval-every", &o.eval_every, 0, 1e19, "N", "steps between validation scores (default: once per epoch)"),
        OPT_INT_IN("--patience", &o.patience, 0, INT_MAX, "N", "stop after N evaluations without a better validation exact match (0 = off)"),
        OPT_LONG_IN("--max-steps", &o.max_steps, 0, 1e19, "N", "cap on optimizer steps (0 = none)"),
        OPT_DOUBLE_IN("--time-limit", &o.time_limit, 0, HUGE_VAL, "S", "stop after S seconds, then score and save (0 = none)"),
        OPT_INT_IN("--seq-len", &o.seq_len, 0, 1048576, "N", "rows of N tokens (default: longest sequence, at most ctx); occurrences\n"
                   "past it are neither trained nor scored"),
        OPT_OPTIM(o),
        OPT_SECTION("model, without --init (docs/model.md):"),
        OPT_MODEL(o.cfg),
        OPT_END
    };
    const cli_cmd cmd = {
        .verb = V, .title = "finetune --task field", .opts = opts, .extra = list_fields,
        .usage = "--task field --field NAME --data CORPUS_DIR -o FIELD.ckpt [--init MODEL.ckpt] [options]",
        .about = "NetGPT's header-field prediction: the model reads a flow's sequence up to a header field\n"
                 "(earlier packets whole, this packet's bytes before the field) and must produce the field's\n"
                 "bytes. Trains on train.tok with the language-model loss restricted to the field's bytes;\n"
                 "keeps the model with the best validation exact match (greedy decoding of the whole value),\n"
                 "written atomically to FIELD.ckpt, with FIELD.csv (one row per evaluation). Score the test\n"
                 "split beside the majority and copy baselines with `pktlm eval --model FIELD.ckpt --data CORPUS_DIR`.",
        .more = "fields (offsets from each packet's own IP header; docs/field.md):",
    };
    int parsed = cli_parse(&cmd, argc, argv);
    if (parsed) return parsed == 1 ? 0 : 2;
    cli_prefer_passive_wait(argc, argv);
    o.interrupt = cli_catch_interrupt();   /* Ctrl-C / SIGTERM: stop after the step, keep the checkpoint */
    int rc = field_finetune_run(&o);
    if (rc != 0) return cli_error(V, "%s", o.err);
    if (!o.quiet) {
        if (o.val_n)
            fprintf(stderr, "pktlm finetune: best validation exact match %.4f at step %ld of %ld (majority %.4f, copy %.4f on the "
                            "same %ld occurrences); saved %s\n", o.best_val, o.best_step, o.steps, o.val_majority, o.val_copy,
                    o.val_n, o.out_path);
        else fprintf(stderr, "pktlm finetune: no validation occurrences; saved the model of step %ld to %s\n", o.steps, o.out_path);
    }
    return 0;
}

/* ---- pktlm eval --model FIELD.ckpt ---- */

int eval_is_field_model(const char *path) {
    if (!path) return 0;
    model_config c;
    train_state st;
    char err[512];
    return path && ckpt_peek(path, &c, &st, NULL, err, sizeof err) == 0 && st.task == CKPT_TASK_FIELD;
}

int eval_field_main(int argc, char **argv) {
    static const char *const split_names[] = { "train", "val", "test" };
    const char *V = "eval", *mpath = NULL, *data = NULL;
    int json = 0, B = 16, threads = 0, field = 0, seq_len = 0, split_i = 2;
    const cli_opt opts[] = {
        OPT_STR("--model", &mpath, "FIELD.ckpt", "a header-field model, or any language model with --field", .req = 1),
        OPT_STR("--data", &data, "CORPUS_DIR", "the corpus", .req = 1),
        OPT_CHOICE("--split", &split_i, "train|val|test", "SPLIT", "the split scored"),
        OPT_CHOICE_FN("--field", &field, field_parse, "a field listed by pktlm finetune --task field --help", "NAME",
                      "score a language model on this field, zero-shot"),
        OPT_INT_IN("--seq-len", &seq_len, 0, 1048576, "N", "rows of N tokens (default: what the model was trained with, else its context)"),
        OPT_FLAG("--json", &json, 1, "machine-readable report on stdout"),
        OPT_INT_IN("--batch", &B, 1, 65536, "N", "rows per forward pass"),
        OPT_INT_IN("--threads", &threads, 0, 1024, "N", "default: all cores / OMP_NUM_THREADS", .nodef = 1),
        OPT_END
    };
    const cli_cmd cmd = {
        .verb = V, .title = "eval --field", .opts = opts,
        .usage = "--model FIELD.ckpt --data CORPUS_DIR [--split test] [--json] [--batch N] [--threads N]\n"
                 "--model MODEL.ckpt --field NAME --data CORPUS_DIR ...   (a language model, zero-shot)",
        .about = "Exact match of a header-field model (`pktlm finetune --task field`) on one split of a corpus:\n"
                 "greedy decoding of every occurrence of its field within the rows it was trained with, beside\n"
                 "two baselines on the same occurrences: the field's most frequent value in CORPUS/train.tok, and\n"
                 "the value of the previous packet of the same flow in the same direction (copy; the majority\n"
                 "value when there is none). With --field, any language model (`pktlm pretrain`) is scored on\n"
                 "that field as it is, without fine-tuning (rows of --seq-len tokens, default its context).",
    };
    int parsed = cli_parse(&cmd, argc, argv);
    if (parsed) return parsed == 1 ? 0 : 2;
    const char *split = split_names[split_i];
    cli_prefer_passive_wait(argc, argv);
    nn_set_threads(threads);
    char err[1024], path[1200], tpath[1200];
    model m = { 0 };
    train_state st;
    if (ckpt_load(mpath, &m, &st, 0, err, sizeof err) != 0) return cli_error(V, "%s", err);
    int is_field = st.task == CKPT_TASK_FIELD;
    if (field && is_field && field != st.task_field)
        return model_free(&m), cli_error(V, "%s predicts %s, not %s", mpath, field_by_id(st.task_field) ? field_by_id(st.task_field)->name : "?",
                                          field_by_id(field)->name), 2;
    if (!field) field = is_field ? st.task_field : 0;
    const field_def *f = field_by_id(field);
    if (!f) { model_free(&m); return cli_error(V, "%s: not a header-field model (score a language model with --field NAME)", mpath); }
    shard tr = { 0 }, te = { 0 };
    snprintf(path, sizeof path, "%s/%s.tok", data, split);
    if (shard_load(&te, path, err, sizeof err) != 0) { model_free(&m); return cli_error(V, "%s", err); }
    snprintf(tpath, sizeof tpath, "%s/train.tok", data);
    if (shard_load(&tr, tpath, err, sizeof err) != 0) { shard_free(&te); model_free(&m); return cli_error(V, "%s", err); }
    int rc = 0;
    char **lnames = corpus_labels(data, &tr, err, sizeof err);   /* a corpus's vocab.json is checked by every verb */
    if (!lnames) { rc = cli_error(V, "%s", err); goto out; }
    corpus_labels_free(lnames, tr.n_labels);
    if (ckpt_check_format(&st, m.cfg.vocab, &te, mpath, path, err, sizeof err) != 0) { rc = cli_error(V, "%s", err); goto out; }
    if (te.format != TOKFMT_BYTES) {
        rc = cli_error(V, "%s: header-field scoring reads byte tokens (pktlm prep --tokens bytes)%s", path,
                       te.format == TOKFMT_BPE ? "; a BPE token is not a byte, so bpe corpora have no field targets (docs/field.md)" : "");
        goto out;
    }
    /* rows as the model was trained (a language model: its context), or --seq-len */
    int T = is_field && st.seq_len > 1 && st.seq_len <= m.cfg.ctx ? st.seq_len : m.cfg.ctx;
    if (seq_len > 1 && seq_len < m.cfg.ctx) T = seq_len;
    if (model_alloc_acts(&m, B, T) != 0) { rc = cli_error(V, "out of memory for batch %d x %d", B, T); goto out; }
    long ntrain;
    uint32_t maj = field_majority(field, &tr, T, &ntrain);
    double t0 = now_sec();
    field_score sc;
    field_score_shard(&m, field, &te, T, B, maj, &sc);
    double el = now_sec() - t0;
    if (sc.n == 0) { rc = cli_error(V, "%s: no occurrence of %s in the first %d tokens of any sequence", path, f->name, T + 1); goto out; }
    double r = 1.0 / (double)sc.n, rf = sc.first_n ? 1.0 / (double)sc.first_n : 0;
    if (json) {
        printf("{\"model\": "); cli_json_str(stdout, mpath);
        printf(", \"data\": "); cli_json_str(stdout, data);
        printf(", \"split\": \"%s\", \"field\": \"%s\", \"width\": %d, \"occurrences\": %ld, \"sequences\": %llu, "
               "\"seq_len\": %d, \"fine_tuned\": %s, \"pretrained\": %s, \"best_val_exact\": %.6f, \"best_step\": %lld, "
               "\"train_occurrences\": %ld, \"model_occurrences_per_s\": %.1f,\n \"results\": [\n"
               "  {\"name\": \"model\", \"exact\": %.6f, \"hits\": %ld, \"first_exact\": %.6f},\n"
               "  {\"name\": \"majority\", \"value\": %u, \"exact\": %.6f, \"hits\": %ld},\n"
               "  {\"name\": \"copy\", \"exact\": %.6f, \"hits\": %ld, \"first_exact\": %.6f}\n ],\n"
               " \"first_in_direction\": %ld}\n",
               split, f->name, f->width, sc.n, (unsigned long long)te.n_seqs, T, is_field ? "true" : "false",
               st.task_pretrained || !is_field ? "true" : "false",
               st.task_best, (long long)st.task_best_step, ntrain, (double)sc.n / (el > 0 ? el : 1e-9),
               sc.model * r, sc.model, sc.first_model * rf, maj, sc.majority * r, sc.majority, sc.copy * r, sc.copy,
               sc.first_copy * rf, sc.first_n);
    } else {
        printf("pktlm eval: %s on %s: field %s (%d byte%s), %ld occurrences in the first %d tokens of %llu sequences\n",
               mpath, path, f->name, f->width, f->width > 1 ? "s" : "", sc.n, T + 1, (unsigned long long)te.n_seqs);
        if (is_field)
            printf("model: %s %d layers, d %d, %s (best validation exact match %.4f at step %lld)\n\n",
                   model_arch_name(m.cfg.arch), m.cfg.layers, m.cfg.d_model,
                   st.task_pretrained ? "fine-tuned from a pretrained model" : "trained from scratch", st.task_best,
                   (long long)st.task_best_step);
        else
            printf("model: %s %d layers, d %d, a language model as it is (no fine-tuning for the field)\n\n",
                   model_arch_name(m.cfg.arch), m.cfg.layers, m.cfg.d_model);
        printf("                                        exact match     hits   first packet of its direction\n");
        printf("  %-36s %11.4f %8ld   %.4f\n", "model (greedy decoding)", sc.model * r, sc.model, sc.first_model * rf);
        char name[64];
        snprintf(name, sizeof name, "majority value (%u, from train)", maj);
        printf("  %-36s %11.4f %8ld\n", name, sc.majority * r, sc.majority);
        printf("  %-36s %11.4f %8ld   %.4f\n", "copy (previous packet, same dir.)", sc.copy * r, sc.copy, sc.first_copy * rf);
        printf("(%ld of the %ld occurrences are the first of their flow and direction: copy falls back to the majority value)\n",
               sc.first_n, sc.n);
        printf("model: %.0f occurrences/s\n", (double)sc.n / (el > 0 ? el : 1e-9));
    }
out:
    shard_free(&tr); shard_free(&te);
    model_free(&m);
    return rc;
}
