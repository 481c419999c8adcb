/* pktlm eval: score a classifier (`pktlm finetune --task classify`) on a corpus split, beside
 * baselines trained on the same corpus's training split and scored on the same flows:
 * majority class, port-only lookup, and a random forest on per-flow header statistics with
 * and without ports (src/eval/shallow.h). */
#include "cli/cli.h"
#include "train/finetune.h"
#include "corpus/manifest.h"
#include "eval/metrics.h"
#include "eval/seqflows.h"
#include "eval/shallow.h"
#include "util/util.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
        "usage: pktlm eval --model CLASSIFIER.ckpt --data CORPUS_DIR [--split test] [--json] [--svg FILE]\n"
        "\n"
        "Accuracy, macro-F1, weighted F1, per-class precision/recall/F1/support and the confusion\n"
        "matrix of the classifier on one split of a corpus, and always, on the same flows, the\n"
        "baselines trained on CORPUS/train.tok: majority class, port-only lookup, and a random forest\n"
        "on per-flow header statistics (sizes, directions, gaps, flags, TTL) with and without ports.\n"
        "Baselines see the same first K packets as the model.\n"
        "\n"
        "  --split train|val|test   (default test)\n"
        "  --json                   machine-readable report on stdout instead of the text\n"
        "  --svg FILE               the model's confusion matrix as an SVG picture\n"
        "  --predictions FILE       one CSV row per labelled flow: seq,file,flow,label and the prediction\n"
        "                           of the model, port lookup and both forests (resample by capture with\n"
        "                           tools/classify_bootstrap.py)\n"
        "  --max-packets K          default: what the classifier was trained with\n"
        "  --trees N                forest size (default 100)\n"
        "  --batch N 32   --threads N   --seed N (forest, default 1)\n"
        "\n"
        "A header-field model (`pktlm finetune --task field`) is scored by exact match instead\n"
        "(`pktlm eval --model FIELD.ckpt --help`, docs/field.md).\n");
}

typedef struct { const char *name; long *cm; cls_report r; } scored;

/* --predictions FILE: one CSV row per labelled flow, so that scores can be resampled by
 * capture (tools/classify_bootstrap.py) */
static int write_predictions(const char *path, const shard *te, const int *pred, const int *bpred, char **names) {
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    if (!b) return -1;
    n += (size_t)snprintf(b, cap, "seq,file,flow,label,model,port_lookup,forest_ports,forest_no_ports\n");
    for (uint64_t i = 0; i < te->n_seqs; i++) {
        int y = te->seqs[i].label;
        if (y < 0) continue;
        if (cap - n < 4096) { char *nb = realloc(b, cap *= 2); if (!nb) { free(b); return -1; } b = nb; }
        n += (size_t)snprintf(b + n, cap - n, "%llu,%u,%u,%s,%s,%s,%s,%s\n", (unsigned long long)i, te->seqs[i].file, te->seqs[i].flow,
                              names[y], names[pred[i]], names[bpred[i]], names[bpred[te->n_seqs + i]], names[bpred[2 * te->n_seqs + i]]);
    }
    int rc = write_file_atomic(path, b, n);
    free(b);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i++)   /* header-field prediction is scored by cmd_field.c */
        if ((!strcmp(argv[i], "--model") && eval_is_field_model(argv[i + 1])) || !strcmp(argv[i], "--field"))
            return eval_field_main(argc, argv);
    cli_prefer_passive_wait(argc, argv);
    const char *V = "eval", *mpath = NULL, *data = NULL, *split = "test", *svg = NULL, *preds = NULL;
    int json = 0, B = 32, threads = 0, max_pkts = -1, trees = 100;
    long seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--model") && val) { mpath = val; i++; }
        else if (!strcmp(a, "--data") && val) { data = val; i++; }
        else if (!strcmp(a, "--split") && val) { split = val; i++; }
        else if (!strcmp(a, "--svg") && val) { svg = val; i++; }
        else if (!strcmp(a, "--predictions") && val) { preds = val; i++; }
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--batch")) { if (cli_long_in(V, a, val, 1, 65536, &n)) return 2; B = (int)n; i++; }
        else if (!strcmp(a, "--threads")) { if (cli_long_in(V, a, val, 0, 1024, &n)) return 2; threads = (int)n; i++; }
        else if (!strcmp(a, "--max-packets")) { if (cli_long_in(V, a, val, 0, 1000000, &n)) return 2; max_pkts = (int)n; i++; }
        else if (!strcmp(a, "--trees")) { if (cli_long_in(V, a, val, 1, 100000, &n)) return 2; trees = (int)n; i++; }
        else if (!strcmp(a, "--seed")) { if (cli_long_in(V, a, val, 0, LONG_MAX, &seed)) return 2; i++; }
        else { cli_error(V, "unknown option or missing value '%s' (see --help)", a); return 2; }
    }
    if (!mpath || !data) { cli_error(V, "need --model CLASSIFIER.ckpt and --data CORPUS_DIR"); usage(stderr); return 2; }
    if (strcmp(split, "train") && strcmp(split, "val") && strcmp(split, "test"))
        return cli_error(V, "--split: train, val or test"), 2;
    nn_set_threads(threads);
    char err[1024], path[1200];
    model m = { 0 };
    train_state st;
    cls_head h;
    cls_info info;
    if (cls_load(mpath, &m, &st, &h, &info, err, sizeof err) != 0) return cli_error(V, "%s", err);
    if (max_pkts < 0) max_pkts = info.max_pkts;
    if (info.prep_known) {   /* a corpus made with other prep options gives other tokens: refuse it */
        prep_cfg pc;
        int secret, pr = prep_cfg_from_manifest(data, &pc, &secret, err, sizeof err);
        char d[600];
        if (pr < 0) return cli_error(V, "%s", err);
        if (pr == 0 && prep_cfg_diff(&info.prep, &pc, d, sizeof d))
            return cli_error(V, "%s was made with other prep options than the classifier's training corpus (%s: classifier vs "
                                "corpus): its tokens are not what the classifier learned from", data, d);
    }
    shard tr = { 0 }, te = { 0 };
    snprintf(path, sizeof path, "%s/%s.tok", data, split);
    if (shard_load(&te, path, err, sizeof err) != 0) return cli_error(V, "%s", err);
    snprintf(path, sizeof path, "%s/train.tok", data);
    if (shard_load(&tr, path, err, sizeof err) != 0) return cli_error(V, "%s", err);
    const int K = info.K;
    char **names = info.names;
    if (te.n_labels != K) return cli_error(V, "%s has %d labels, the classifier %d: was it trained on this corpus?", data, te.n_labels, K);
    char **cnames = corpus_label_names(data, K);
    for (int k = 0; k < K; k++)
        if (strcmp(cnames[k], names[k]))
            return cli_error(V, "label %d is '%s' in %s but '%s' in the classifier", k, cnames[k], data, names[k]);
    free_names(cnames, K);
    int T = info.seq_len;
    if (T > m.cfg.ctx) T = m.cfg.ctx;
    if (model_alloc_acts(&m, B, T) != 0 || cls_head_alloc_batch(&h, B) != 0) return cli_error(V, "out of memory");

    /* the model */
    double t0 = now_sec();
    int *pred = malloc((te.n_seqs + 1) * sizeof(int));
    cls_predict_shard(&m, &h, &te, T, max_pkts, B, pred, NULL);
    double t_model = now_sec() - t0;
    scored sc[5];
    memset(sc, 0, sizeof sc);
    for (int j = 0; j < 5; j++) sc[j].cm = calloc((size_t)K * K, sizeof(long));
    sc[0].name = "model";
    long nlab = 0;
    for (uint64_t i = 0; i < te.n_seqs; i++) {
        int y = te.seqs[i].label;
        if (y < 0 || y >= K) continue;
        sc[0].cm[(size_t)y * K + pred[i]]++;
        nlab++;
    }
    if (nlab == 0) return cli_error(V, "%s: no labelled sequences in the %s split", data, split);

    /* baselines on the same flows, trained on the training split */
    ff_set ftr, fte;
    ff_set_init(&ftr, 0, 0);
    ff_set_init(&fte, 0, 0);
    ff_from_shard(&ftr, &tr, max_pkts, names, K);
    ff_from_shard(&fte, &te, max_pkts, names, K);
    portmap_model maj, port;
    portmap_train(&maj, &ftr, NULL, 0, 0, K);
    portmap_train(&port, &ftr, NULL, 0, 1, K);
    sc[1].name = "majority"; portmap_confusion(&maj, &fte, NULL, 0, sc[1].cm);
    sc[2].name = "port lookup"; portmap_confusion(&port, &fte, NULL, 0, sc[2].cm);
    int *bpred = NULL;   /* --predictions: port lookup, forest + ports, forest without ports, per sequence */
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
    if (bpred && write_predictions(preds, &te, pred, bpred, names) != 0) return cli_error(V, "%s: cannot write", preds);
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
    int rc_out = 0;
    if (svg) {
        char *buf = NULL;
        size_t len = 0;
        FILE *mf = open_memstream(&buf, &len);
        char title[300];
        snprintf(title, sizeof title, "%s on %s split", mpath, split);
        cm_svg(mf, sc[0].cm, K, names, title);
        fclose(mf);
        if (write_file_atomic(svg, buf, len) != 0) rc_out = cli_error(V, "%s: cannot write", svg);
        free(buf);
    }
    for (int j = 0; j < 5; j++) { cls_report_free(&sc[j].r); free(sc[j].cm); }
    portmap_free(&maj); portmap_free(&port);
    ff_set_free(&ftr); ff_set_free(&fte);
    free(pred); free(bpred);
    shard_free(&tr); shard_free(&te);
    cls_info_free(&info); cls_head_free(&h); model_free(&m);
    return rc_out;
}
