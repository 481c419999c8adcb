/* pktlm eval: score a classifier (`pktlm finetune --task classify`) on a corpus split, beside
 * baselines trained on the same corpus's training split and scored on the same flows:
 * majority class, port-only lookup, and a random forest on per-flow header statistics with
 * and without ports (src/eval/shallow.h). */
#include "cli/cli.h"
#include "cli/opts.h"
#include "models/clshead.h"
#include "corpus/manifest.h"
#include "corpus/vocab.h"
#include "eval/metrics.h"
#include "eval/seqflows.h"
#include "eval/shallow.h"
#include "util/util.h"
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

typedef struct { const char *name; long *cm; cls_report r; } scored;

/* --predictions FILE: one CSV row per labelled flow, so that scores can be resampled by
 * capture (tools/classify_bootstrap.py) */
static int write_predictions(const char *path, const shard *te, const int *pred, const int *bpred, char **names) {
    char *b = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&b, &n);
    if (!f) return -1;
    fputs("seq,file,flow,label,model,port_lookup,forest_ports,forest_no_ports\n", f);
    for (uint64_t i = 0; i < te->n_seqs; i++) {
        int y = te->seqs[i].label;
        if (y < 0) continue;
        const int col[5] = { y, pred[i], bpred[i], bpred[te->n_seqs + i], bpred[2 * te->n_seqs + i] };
        fprintf(f, "%llu,%u,%u", (unsigned long long)i, te->seqs[i].file, te->seqs[i].flow);
        for (int c = 0; c < 5; c++) { fputc(',', f); cli_csv_str(f, names[col[c]]); }   /* names quoted as CSV */
        fputc('\n', f);
    }
    if (fclose(f) != 0) { free(b); return -1; }
    int rc = write_file_atomic(path, b, n), e = errno;
    free(b);
    errno = e;   /* the reason, for the message */
    return rc;
}

int cmd_eval(int argc, char **argv) {
    /* header-field prediction is scored by cmd_field.c */
    if (eval_is_field_model(cli_peek_opt(argc, argv, "--model")) || cli_peek_opt(argc, argv, "--field"))
        return eval_field_main(argc, argv);
    static const char *const split_names[] = { "train", "val", "test" };
    const char *V = "eval", *mpath = NULL, *data = NULL, *svg = NULL, *preds = NULL;
    int json = 0, B = 32, threads = 0, max_pkts = -1, trees = 100, split_i = 2;
    uint64_t seed = 1;
    const cli_opt opts[] = {
        OPT_STR("--model", &mpath, "CLASSIFIER.ckpt", "a classifier of `pktlm finetune --task classify`", .req = 1),
        OPT_STR("--data", &data, "CORPUS_DIR", "the corpus", .req = 1),
        OPT_CHOICE("--split", &split_i, "train|val|test", "SPLIT", "the split scored"),
        OPT_FLAG("--json", &json, 1, "machine-readable report on stdout instead of the text"),
        OPT_STR("--svg", &svg, "FILE", "the model's confusion matrix as an SVG picture"),
        OPT_STR("--predictions", &preds, "FILE", "one CSV row per labelled flow: seq,file,flow,label and the prediction\n"
                "of the model, port lookup and both forests (resample by capture with\n"
                "tools/classify_bootstrap.py)"),
        OPT_INT_IN("--max-packets", &max_pkts, 0, 1000000, "K", "default: what the classifier was trained with"),
        OPT_INT_IN("--trees", &trees, 1, 100000, "N", "forest size"),
        OPT_INT_IN("--batch", &B, 1, 65536, "N", "flows per forward pass"),
        OPT_INT_IN("--threads", &threads, 0, 1024, "N", "default: all cores / OMP_NUM_THREADS", .nodef = 1),
        OPT_U64("--seed", &seed, "N", "the forests' seed"),
        OPT_END
    };
    const cli_cmd cmd = {
        .verb = V, .opts = opts,
        .usage = "--model CLASSIFIER.ckpt --data CORPUS_DIR [--split test] [--json] [--svg FILE]",
        .about = "Accuracy, macro-F1, weighted F1, per-class precision/recall/F1/support and the confusion\n"
                 "matrix of the classifier on one split of a corpus, and always, on the same flows, the\n"
                 "baselines trained on CORPUS/train.tok: majority class, port-only lookup, and a random forest\n"
                 "on per-flow header statistics (sizes, directions, gaps, flags, TTL) with and without ports.\n"
                 "Baselines see the same first K packets as the model.",
        .more = "A header-field model (`pktlm finetune --task field`) is scored by exact match instead\n"
                "(`pktlm eval --model FIELD.ckpt --help`, docs/field.md).",
    };
    int parsed = cli_parse(&cmd, argc, argv);
    if (parsed) return parsed == 1 ? 0 : 2;
    const char *split = split_names[split_i];
    cli_prefer_passive_wait(argc, argv);
    nn_set_threads(threads);
    char err[1024], path[1200];
    /* everything that is freed at the end, zeroed first: every error below goes through `out`,
     * so nothing leaks on the way out (LeakSanitizer runs the error paths in the test suite) */
    model m = { 0 };
    cls_head h = { 0 };
    cls_info info = { 0 };
    shard tr = { 0 }, te = { 0 };
    char **cnames = NULL;
    int *pred = NULL, *bpred = NULL, rc_out = 1, K = 0, loaded = 0;
    long nlab = 0;
    scored sc[5];
    memset(sc, 0, sizeof sc);
    ff_set ftr, fte;
    ff_set_init(&ftr, 0, 0);
    ff_set_init(&fte, 0, 0);
    portmap_model maj = { 0 }, port = { 0 };
    if (cls_load(mpath, &m, NULL, &h, &info, err, sizeof err) != 0) { cli_error(V, "%s", err); goto out; }
    loaded = 1;
    if (max_pkts < 0) max_pkts = info.max_pkts;
    if (info.prep_known) {   /* a corpus made with other prep options gives other tokens: refuse it */
        prep_cfg pc;
        int secret, pr = prep_cfg_from_manifest(data, &pc, &secret, err, sizeof err);
        char d[600];
        if (pr < 0) { cli_error(V, "%s", err); goto out; }
        if (pr == 0 && prep_cfg_diff(&info.prep, &pc, d, sizeof d)) {
            cli_error(V, "%s was made with other prep options than the classifier's training corpus (%s: classifier vs "
                         "corpus): its tokens are not what the classifier learned from", data, d);
            goto out;
        }
    }
    snprintf(path, sizeof path, "%s/%s.tok", data, split);
    if (shard_load(&te, path, err, sizeof err) != 0) { cli_error(V, "%s", err); goto out; }
    snprintf(path, sizeof path, "%s/train.tok", data);
    if (shard_load(&tr, path, err, sizeof err) != 0) { cli_error(V, "%s", err); goto out; }
    /* --tokens bpe: the baselines read the flows' packets back through the corpus's tokenizer */
    if (corpus_tokenizer(data, &te, err, sizeof err) || corpus_tokenizer(data, &tr, err, sizeof err)) { cli_error(V, "%s", err); goto out; }
    K = info.K;
    char **names = info.names;
    if (te.n_labels != K) { cli_error(V, "%s has %d labels, the classifier %d: was it trained on this corpus?", data, te.n_labels, K); goto out; }
    /* the corpus's names from its vocab.json (the one source of truth), against the classifier's */
    if (!(cnames = corpus_labels(data, &te, err, sizeof err))) { cli_error(V, "%s", err); goto out; }
    for (int k = 0; k < K; k++)
        if (strcmp(cnames[k], names[k])) {
            char a1[300], a2[300];
            label_escape(a1, sizeof a1, cnames[k]); label_escape(a2, sizeof a2, names[k]);
            cli_error(V, "label %d is '%s' in %s but '%s' in the classifier", k, a1, data, a2);
            goto out;
        }
    int T = info.seq_len;
    if (T > m.cfg.ctx) T = m.cfg.ctx;
    if (model_alloc_acts(&m, B, T) != 0 || cls_head_alloc_batch(&h, B) != 0) { cli_error(V, "out of memory"); goto out; }

    /* the model */
    double t0 = now_sec();
    pred = malloc((te.n_seqs + 1) * sizeof(int));
    if (!pred || cls_predict_shard(&m, &h, &te, T, max_pkts, B, 0, 1, pred, NULL) != 0) { cli_error(V, "out of memory"); goto out; }
    double t_model = now_sec() - t0;
    for (int j = 0; j < 5; j++) sc[j].cm = calloc((size_t)K * K, sizeof(long));
    sc[0].name = "model";
    for (uint64_t i = 0; i < te.n_seqs; i++) {
        int y = te.seqs[i].label;
        if (y < 0 || y >= K) continue;
        sc[0].cm[(size_t)y * K + pred[i]]++;
        nlab++;
    }
    if (nlab == 0) { cli_error(V, "%s: no labelled sequences in the %s split", data, split); goto out; }

    /* baselines on the same flows, trained on the training split */
    ff_from_shard(&ftr, &tr, max_pkts, names, K);
    ff_from_shard(&fte, &te, max_pkts, names, K);
    portmap_train(&maj, &ftr, NULL, 0, 0, K);
    portmap_train(&port, &ftr, NULL, 0, 1, K);
    sc[1].name = "majority"; portmap_confusion(&maj, &fte, NULL, 0, sc[1].cm);
    sc[2].name = "port lookup"; portmap_confusion(&port, &fte, NULL, 0, sc[2].cm);
    /* --predictions: port lookup, forest + ports, forest without ports, per sequence */
    if (preds) {
        bpred = calloc(3 * te.n_seqs + 1, sizeof *bpred);
        for (uint64_t i = 0; i < te.n_seqs; i++) bpred[i] = portmap_predict(&port, &fte.fl[i]);
    }
    rf_cfg rc;
    rf_cfg_default(&rc);
    rc.n_trees = trees; rc.seed = (uint64_t)seed;
    for (int wp = 1; wp >= 0; wp--) {
        shallow_model sm;
        ff_feat_cfg fc = { .with_ports = wp, .with_totals = 0, .k = 0 };
        scored *s = &sc[wp ? 3 : 4];
        s->name = wp ? "forest, header stats + ports" : "forest, header stats, no ports";
        if (shallow_train(&sm, &ftr, NULL, 0, &fc, &rc, K) == 0) {
            shallow_confusion(&sm, &fte, NULL, 0, s->cm);
            if (bpred)   /* fte holds one flow per sequence of te, in order */
                for (uint64_t i = 0; i < te.n_seqs; i++) bpred[(wp ? 1 : 2) * te.n_seqs + i] = shallow_predict(&sm, &fte, &fte.fl[i], NULL);
            shallow_free(&sm);
        }
    }
    if (bpred && write_predictions(preds, &te, pred, bpred, names) != 0) {
        cli_error(V, "%s: cannot write the predictions: %s", preds, strerror(errno));
        goto out;
    }
    for (int j = 0; j < 5; j++) cls_report_compute(&sc[j].r, sc[j].cm, K);

    const char *kind = info.frozen ? "frozen encoder + head" : "fine-tuned";
    char prep_opts[600] = "";   /* the training corpus's prep options that differ from the defaults */
    if (info.prep_known) prep_cfg_describe(&info.prep, prep_opts, sizeof prep_opts);
    if (json) {
        FILE *o = stdout;
        fprintf(o, "{\"model\": "); cli_json_str(o, mpath);
        fprintf(o, ", \"data\": "); cli_json_str(o, data);
        fprintf(o, ", \"split\": \"%s\", \"flows\": %ld, \"classes\": %d, \"max_packets\": %d, \"pretrained\": %s, "
                   "\"frozen\": %s, \"pooling\": \"%s\", \"model_flows_per_s\": %.1f,\n",
                split, nlab, K, max_pkts, info.pretrained ? "true" : "false", info.frozen ? "true" : "false",
                cls_pool_name(info.pooling), (double)te.n_seqs / (t_model > 0 ? t_model : 1e-9));
        fputs(" \"prep\": ", o);
        if (info.prep_known) cli_json_str(o, prep_opts); else fputs("null", o);
        fputs(",\n \"labels\": [", o);
        for (int k = 0; k < K; k++) { if (k) fputs(", ", o); cli_json_str(o, names[k]); }
        fputs("],\n \"results\": [", o);
        for (int j = 0; j < 5; j++) {
            cls_report *r = &sc[j].r;
            fprintf(o, "%s\n  {\"name\": \"%s\", \"accuracy\": %.6f, \"macro_f1\": %.6f, \"weighted_f1\": %.6f, \"per_class\": [",
                    j ? "," : "", sc[j].name, r->accuracy, r->macro_f1, r->weighted_f1);
            for (int k = 0; k < K; k++)
                fprintf(o, "%s{\"precision\": %.6f, \"recall\": %.6f, \"f1\": %.6f, \"support\": %ld}", k ? ", " : "",
                        r->precision[k], r->recall[k], r->f1[k], r->support[k]);
            fputs("], \"confusion\": [", o);
            for (int k = 0; k < K; k++) {
                fputs(k ? ", [" : "[", o);
                for (int c = 0; c < K; c++) fprintf(o, "%s%ld", c ? ", " : "", sc[j].cm[(size_t)k * K + c]);
                fputc(']', o);
            }
            fputs("]}", o);
        }
        fputs("\n ]}\n", o);
    } else {
        char pk[32];
        if (max_pkts) snprintf(pk, sizeof pk, "first %d", max_pkts); else snprintf(pk, sizeof pk, "all kept");
        printf("pktlm eval: %s on %s/%s.tok: %ld labelled flows, %d classes, %s packets of each flow\n", mpath, data, split,
               nlab, K, pk);
        printf("\nmodel: %s %d layers, d %d, %s%s, pooling %s (best validation macro-F1 %.4f at epoch %d); corpus prep: %s\n",
               model_arch_name(m.cfg.arch), m.cfg.layers, m.cfg.d_model, kind, info.pretrained ? " from pretrained" : " from scratch",
               cls_pool_name(info.pooling), info.best_val_f1, info.best_epoch,
               !info.prep_known ? "not recorded" : prep_opts[0] ? prep_opts : "defaults");
        cls_report_print(stdout, &sc[0].r, sc[0].cm, names);
        printf("\nbaselines on the same flows (trained on train.tok):\n");
        for (int j = 1; j < 5; j++) { printf("\n%s:\n", sc[j].name); cls_report_print(stdout, &sc[j].r, sc[j].cm, names); }
        printf("\nsummary                            accuracy  macro-F1  weighted-F1\n");
        for (int j = 0; j < 5; j++)
            printf("  %-32s %8.4f  %8.4f  %11.4f\n", sc[j].name, sc[j].r.accuracy, sc[j].r.macro_f1, sc[j].r.weighted_f1);
        printf("model: %.0f flows/s\n", (double)te.n_seqs / (t_model > 0 ? t_model : 1e-9));
    }
    rc_out = 0;
    if (svg) {
        char *buf = NULL;
        size_t len = 0;
        FILE *mf = open_memstream(&buf, &len);
        char title[300];
        snprintf(title, sizeof title, "%s on %s split", mpath, split);
        cm_svg(mf, sc[0].cm, K, names, title);
        fclose(mf);
        if (write_file_atomic(svg, buf, len) != 0) rc_out = cli_error(V, "%s: cannot write: %s", svg, strerror(errno));
        free(buf);
    }
out:
    for (int j = 0; j < 5; j++) { cls_report_free(&sc[j].r); free(sc[j].cm); }
    portmap_free(&maj); portmap_free(&port);
    ff_set_free(&ftr); ff_set_free(&fte);
    free(pred); free(bpred);
    corpus_labels_free(cnames, K);
    shard_free(&tr); shard_free(&te);
    if (loaded) { cls_info_free(&info); cls_head_free(&h); model_free(&m); }
    return rc_out;
}
