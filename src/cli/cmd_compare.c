/* pktlm compare: how close is one capture (SYNTH) to another (REAL)? Distances, validity,
 * TCP state, TSTR utility and memorisation, each next to two baselines. The arithmetic
 * lives in src/eval/ (fidelity.h, metrics.h, forest.h); this file loads, runs and prints.
 * docs/compare.md defines every number. */
#include "cli/cli.h"
#include "cli/opts.h"
#include "eval/flowfeat.h"
#include "eval/fidelity.h"
#include "eval/forest.h"
#include "eval/shallow.h"
#include "eval/metrics.h"
#include "eval/svgplot.h"
#include "corpus/labels.h"
#include "util/util.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <math.h>
#include <errno.h>
#include <sys/stat.h>

enum { S_REAL, S_SYNTH, S_REPLAY, S_SAMPLER, NSIDE };
static const char *side_name[NSIDE] = { "real", "synth", "replay", "sampler" };

/* ---- labels ---- */
/* --labels FILE.csv[:COLUMN]: the file -> label CSV of `pktlm prep --file-labels`
 * (corpus/labels.h: a header with a File/path column and a Label/label/class column, or
 * the one named; a row's path matches an input equal to it or ending in "/" + it). A
 * capture reached through a symbolic link (the split recipes of docs/compare.md link
 * captures into set folders, under other names) is also looked up by its real path. */
static void split_col(char *arg, char **file, char **col) {
    struct stat st;
    *file = arg; *col = NULL;
    if (stat(arg, &st) == 0) return;   /* a file name that contains ':' */
    char *c = strrchr(arg, ':');
    if (c) { *c = 0; *col = c + 1; }
}

static const char *label_of(const char *path, const file_labels *m, int use_csv, char *buf, size_t n) {
    if (use_csv) {
        const char *l = file_labels_find(m, path);
        char *rp;
        if (!l && (rp = realpath(path, NULL))) {
            l = file_labels_find(m, rp);
            free(rp);
        }
        return l;
    }
    snprintf(buf, n, "%s", path);
    char *s = strrchr(buf, '/');
    if (!s) return ".";
    *s = 0;
    s = strrchr(buf, '/');
    return s ? s + 1 : buf;
}

/* *incomplete |= 1 when a capture or folder could not be read to the end (the report covers
 * what was read; the exit status is 1, as for stats). */
static int load_set(ff_set *s, char **inputs, int ninputs, const file_labels *lm, int use_csv, const char *what, int *incomplete) {
    char **files;
    int nf;
    int walk_skipped = cli_expand_inputs("compare", inputs, ninputs, &files, &nf);
    if (walk_skipped < 0) return -1;
    if (walk_skipped) *incomplete = 1;
    if (nf == 0) {
        cli_free_list(files, nf);
        cli_error("compare", "%s (%s): no capture files found", what, ninputs == 1 ? inputs[0] : "--train");
        return -1;
    }
    progress pr;
    progress_init(&pr, what, "files", 1);
    int rc = 0;
    for (int i = 0; i < nf && rc == 0; i++) {
        char buf[4096], err[600];
        const char *lab = label_of(files[i], lm, use_csv, buf, sizeof buf);
        /* A capture that cannot be read to the end is a validity finding, not a reason to
         * stop: what was read counts, and the file is counted as bad. */
        if (ff_read_file(s, files[i], lab ? ff_label_id(s, lab) : -1, NULL, err, sizeof err) != 0)
            fprintf(stderr, "pktlm compare: warning: %s\n", err);
        progress_update(&pr, i + 1, nf, NULL);
    }
    progress_end(&pr);
    cli_free_list(files, nf);
    if (s->cnt.files_bad) *incomplete = 1;
    if (s->cnt.files_bad == s->cnt.files && s->cnt.packets == 0) {   /* read in part still counts */
        cli_error("compare", "%s (%s): no capture could be read", what, ninputs == 1 ? inputs[0] : "--train");
        rc = -1;
    }
    return rc;
}

/* Give every set the same label ids (by name), in the order names are first met. */
static void unify_labels(ff_set **sets, int ns, char ***names, int *nn) {
    char **g = NULL;
    int n = 0;
    for (int k = 0; k < ns; k++) {
        ff_set *s = sets[k];
        int *map = malloc((size_t)(s->nlabels + 1) * sizeof *map);
        for (int i = 0; i < s->nlabels; i++) {
            int j = 0;
            while (j < n && strcmp(g[j], s->labels[i])) j++;
            if (j == n) { g = realloc(g, (size_t)(n + 1) * sizeof *g); g[n++] = strdup(s->labels[i]); }
            map[i] = j;
        }
        for (size_t i = 0; i < s->n; i++) if (s->fl[i].label >= 0) s->fl[i].label = map[s->fl[i].label];
        free(map);
    }
    for (int k = 0; k < ns; k++) {
        ff_set *s = sets[k];
        for (int i = 0; i < s->nlabels; i++) free(s->labels[i]);
        free(s->labels);
        s->labels = malloc((size_t)(n ? n : 1) * sizeof *s->labels);
        for (int i = 0; i < n; i++) s->labels[i] = strdup(g[i]);
        s->nlabels = n;
    }
    *names = g;
    *nn = n;
}

/* Split src into the first half of each capture's flows (by first packet) and the rest,
 * so both halves hold every capture, and so every label. */
static void split_halves(ff_set *first, ff_set *second, const ff_set *src) {
    ff_set *out[2] = { first, second };
    for (int k = 0; k < 2; k++) {
        ff_set_init(out[k], 0, src->hdr_len);
        for (int i = 0; i < src->nlabels; i++) ff_label_id(out[k], src->labels[i]);
        for (int i = 0; i < src->nfiles; i++) {
            out[k]->files = realloc(out[k]->files, (size_t)(out[k]->nfiles + 1) * sizeof *out[k]->files);
            out[k]->files[out[k]->nfiles++] = strdup(src->files[i]);
        }
    }
    for (size_t lo = 0; lo < src->n;) {   /* flows of one file are contiguous */
        size_t hi = lo;
        while (hi < src->n && src->fl[hi].file == src->fl[lo].file) hi++;
        size_t mid = lo + (hi - lo) / 2;
        for (size_t i = lo; i < hi; i++) ff_copy_flow(out[i >= mid], src, &src->fl[i], src->fl[i].file, src->fl[i].label);
        lo = hi;
    }
    for (int k = 0; k < 2; k++) out[k]->cnt.packets = out[k]->cnt.ip = out[k]->cnt.in_flows = out[k]->npk;
}

/* ---- TSTR ---- */
typedef struct {
    int done;
    size_t n_train, n_test;
    long *cm;
    cls_report rep;
} tstr_result;

static const ff_feat_cfg TSTR_FEAT = { 1, 1, 20 };

static void tstr_run(tstr_result *r, const ff_set *train, const ff_set *test, int C, int trees, uint64_t seed) {
    memset(r, 0, sizeof *r);
    if (C < 2) return;
    /* Meaningful only when the training flows carry at least two of the test labels
     * (a SYNTH labelled by another folder name would score 0 and say nothing). */
    char *in_test = calloc((size_t)C, 1), *in_train = calloc((size_t)C, 1);
    for (size_t i = 0; i < test->n; i++) if (test->fl[i].label >= 0) in_test[test->fl[i].label] = 1;
    for (size_t i = 0; i < train->n; i++) if (train->fl[i].label >= 0) in_train[train->fl[i].label] = 1;
    int shared = 0;
    for (int k = 0; k < C; k++) shared += in_test[k] && in_train[k];
    free(in_test); free(in_train);
    if (shared < 2) return;
    rf_cfg c;
    rf_cfg_default(&c);
    c.n_trees = trees;
    c.balanced = 1;
    c.seed = seed;
    shallow_model m;
    if (shallow_train(&m, train, NULL, 0, &TSTR_FEAT, &c, C) != 0) { shallow_free(&m); return; }
    for (size_t i = 0; i < train->n; i++) r->n_train += train->fl[i].label >= 0;
    r->cm = calloc((size_t)C * C, sizeof *r->cm);
    r->n_test = shallow_confusion(&m, test, NULL, 0, r->cm);
    shallow_free(&m);
    cls_report_compute(&r->rep, r->cm, C);
    r->done = 1;
}

/* ---- printing helpers ---- */
static double share(uint64_t a, uint64_t b) { return b ? 100.0 * (double)a / (double)b : NAN; }

static void pr_pct(FILE *o, double v) { if (isnan(v)) fprintf(o, " %10s", "n/a"); else fprintf(o, " %9.2f%%", v); }

static void jnum(FILE *o, double v) { if (isnan(v) || isinf(v)) fputs("null", o); else fprintf(o, "%.6g", v); }

/* Bin names of the categorical fields, for bar charts. */
static void bin_name(int field, int b, char *buf, size_t n) {
    switch (field) {
    case FC_PROTO: {
        const char *s = b == 6 ? "tcp" : b == 17 ? "udp" : b == 1 ? "icmp" : b == 58 ? "icmpv6" : NULL;
        if (s) snprintf(buf, n, "%s", s); else snprintf(buf, n, "%d", b);
        break;
    }
    case FC_FLAGS_A: case FC_FLAGS_B: {
        static const char fl[] = "FSRPAUEC";
        size_t k = 0;
        for (int i = 0; i < 8 && k + 1 < n; i++) if (b >> i & 1) buf[k++] = fl[i];
        if (!k && n > 1) buf[k++] = '-';
        buf[k] = 0;
        break;
    }
    case FC_IPVER: snprintf(buf, n, "IPv%d", b); break;
    case FC_DIRPAT: {
        int len = b / 256, bits = b % 256;
        size_t k = 0;
        for (int i = 0; i < len && k + 1 < n; i++) buf[k++] = (bits >> i & 1) ? 'b' : 'a';
        buf[k] = 0;
        break;
    }
    default: snprintf(buf, n, "%d", b);
    }
}

/* Categories of a field worth a bar: the `max` largest by REAL + SYNTH share. */
typedef struct { double v; int b; } binval;
static int cmp_binval(const void *x, const void *y) {
    const binval *a = x, *b = y;
    return a->v > b->v ? -1 : a->v < b->v ? 1 : a->b - b->b;
}
static int top_bins(const fid_side *sd, int field, int *bins, int max) {
    int nb = fid_cat_bins(field), nt = 0;
    double tot[2] = { 0, 0 };
    for (int s = 0; s < 2; s++) for (int b = 0; b < nb; b++) tot[s] += sd[s].cat[field][b];
    binval *v = malloc((size_t)nb * sizeof *v);
    for (int b = 0; b < nb; b++) {
        double x = (tot[0] ? sd[0].cat[field][b] / tot[0] : 0) + (tot[1] ? sd[1].cat[field][b] / tot[1] : 0);
        if (x > 0) v[nt++] = (binval){ x, b };
    }
    qsort(v, (size_t)nt, sizeof *v, cmp_binval);
    if (nt > max) nt = max;
    for (int i = 0; i < nt; i++) bins[i] = v[i].b;
    free(v);
    return nt;
}

typedef struct {
    const char *real_arg, *synth_arg;
    int has_train, labelled;
    ff_set *set[NSIDE], *train, *bsrc, *test;
    fid_side side[NSIDE];
    fid_dist dist[NSIDE];      /* [S_SYNTH..]: distance to REAL */
    char **names; int nnames;
    tstr_result tstr[NSIDE];   /* [S_REAL] = train on real (TRTR) */
    fid_memo memo[NSIDE];
    int memo_done;
    double seconds;
    size_t rss;
} report;

static void print_text(FILE *o, const report *r) {
    const fid_side *sd = r->side;
    fprintf(o, "REAL   %s: %llu flows, %llu packets\n", r->real_arg, (unsigned long long)sd[S_REAL].flows, (unsigned long long)sd[S_REAL].packets);
    fprintf(o, "SYNTH  %s: %llu flows, %llu packets\n", r->synth_arg, (unsigned long long)sd[S_SYNTH].flows, (unsigned long long)sd[S_SYNTH].packets);
    fprintf(o, "baselines drawn from %s (%zu flows): replay %llu flows, sampler %llu flows\n",
            r->has_train ? "TRAIN" : "the first half of each REAL capture's flows", r->bsrc->n,
            (unsigned long long)sd[S_REPLAY].flows, (unsigned long long)sd[S_SAMPLER].flows);
    fprintf(o, "\nDistances to REAL (0 = same; JSD base 2 in [0,1]; EMD normalised by REAL's range,\n"
               "log10 scale for times and flow sizes; docs/compare.md)\n");
    fprintf(o, "  %-26s %10s %10s %10s\n", "field", "SYNTH", "replay", "sampler");
    for (int k = 0; k < NFC; k++) {
        fprintf(o, "  %-20s (JSD)", fid_cat_name[k]);
        for (int s = S_SYNTH; s < NSIDE; s++) fprintf(o, " %10.4f", r->dist[s].jsd[k]);
        fputc('\n', o);
    }
    for (int k = 0; k < NFN; k++) {
        fprintf(o, "  %-20s (EMD)", fid_cont_name[k]);
        for (int s = S_SYNTH; s < NSIDE; s++) fprintf(o, " %10.4f", r->dist[s].emd[k]);
        fputc('\n', o);
    }
    if (r->dist[S_SYNTH].hdr_len) {
        fprintf(o, "  %-20s (JSD)", "header bytes, mean");
        for (int s = S_SYNTH; s < NSIDE; s++) fprintf(o, " %10.4f", r->dist[s].bytepos_mean);
        fprintf(o, "   (%d positions from the IP header)\n", r->dist[S_SYNTH].hdr_len);
    }
    fprintf(o, "\nValidity (packets)          %10s %10s %10s %10s\n", "REAL", "SYNTH", "replay", "sampler");
    fprintf(o, "  %-26s", "records");
    for (int s = 0; s < NSIDE; s++) fprintf(o, " %10llu", (unsigned long long)sd[s].records);
    fprintf(o, "\n  %-26s", "files read to the end");
    for (int s = 0; s < NSIDE; s++) pr_pct(o, sd[s].has_bytes && sd[s].files ? share(sd[s].files - sd[s].files_bad, sd[s].files) : NAN);
    fprintf(o, "\n  %-26s", "records in time order");
    for (int s = 0; s < NSIDE; s++) pr_pct(o, sd[s].has_bytes && sd[s].files ? share(sd[s].records - sd[s].ts_backwards, sd[s].records) : NAN);
    fprintf(o, "\n  %-26s", "frames that parse");
    for (int s = 0; s < NSIDE; s++) pr_pct(o, sd[s].has_bytes ? share(sd[s].records - sd[s].not_parsed, sd[s].records) : NAN);
    fprintf(o, "\n  %-26s", "IP packets");
    for (int s = 0; s < NSIDE; s++) pr_pct(o, sd[s].has_bytes ? share(sd[s].ip, sd[s].records) : NAN);
    fprintf(o, "\n  %-26s", "lengths consistent");
    for (int s = 0; s < NSIDE; s++) pr_pct(o, sd[s].has_bytes ? share(sd[s].len_ok, sd[s].kept) : NAN);
    fprintf(o, "\n  %-26s", "checksums valid");
    for (int s = 0; s < NSIDE; s++) pr_pct(o, sd[s].has_bytes ? share(sd[s].csum_ok, sd[s].csum_checked) : NAN);
    fprintf(o, "\n  %-26s", "checksums checkable");
    for (int s = 0; s < NSIDE; s++) pr_pct(o, sd[s].has_bytes ? share(sd[s].csum_checked, sd[s].kept) : NAN);
    fprintf(o, "\n  %-26s", "cut short by snaplen");
    for (int s = 0; s < NSIDE; s++) pr_pct(o, sd[s].has_bytes ? share(sd[s].truncated, sd[s].kept) : NAN);
    fprintf(o, "\n\nTCP state (share of TCP flows) %7s %10s %10s %10s\n", "REAL", "SYNTH", "replay", "sampler");
    fprintf(o, "  %-26s", "TCP flows");
    for (int s = 0; s < NSIDE; s++) fprintf(o, " %10llu", (unsigned long long)sd[s].tcp_flows);
    const char *rows[6] = { "handshake", "seq continuity", "ack continuity", "FIN both ways, no RST", "RST", "mid-stream start" };
    for (int k = 0; k < 6; k++) {
        fprintf(o, "\n  %-26s", rows[k]);
        for (int s = 0; s < NSIDE; s++) {
            uint64_t v = k == 0 ? sd[s].handshake : k == 1 ? sd[s].seq_ok : k == 2 ? sd[s].ack_ok : k == 3 ? sd[s].teardown : k == 4 ? sd[s].rst : sd[s].midstream;
            pr_pct(o, (k == 1 || k == 2) && !sd[s].has_seq ? NAN : share(v, sd[s].tcp_flows));
        }
    }
    fputc('\n', o);
    fprintf(o, "\nUtility: random forest on flow features, trained on each column, tested on %s\n",
            r->has_train ? "REAL" : "the second half of each REAL capture");
    if (!r->labelled) fprintf(o, "  skipped: fewer than 2 labels in REAL (labels: --labels)\n");
    else {
        fprintf(o, "  %-26s %10s %10s %10s %10s\n", "trained on", r->has_train ? "TRAIN" : "REAL 1st", "SYNTH", "replay", "sampler");
        const char *m[3] = { "accuracy", "macro-F1", "weighted-F1" };
        for (int k = 0; k < 3; k++) {
            fprintf(o, "  %-26s", m[k]);
            for (int s = 0; s < NSIDE; s++) {
                const tstr_result *t = &r->tstr[s];
                if (!t->done) fprintf(o, " %10s", "n/a");
                else fprintf(o, " %10.4f", k == 0 ? t->rep.accuracy : k == 1 ? t->rep.macro_f1 : t->rep.weighted_f1);
            }
            fputc('\n', o);
        }
        fprintf(o, "  %-26s", "training flows");
        for (int s = 0; s < NSIDE; s++) fprintf(o, " %10zu", r->tstr[s].n_train);
        fputc('\n', o);
        if (r->tstr[S_SYNTH].done) {
            fprintf(o, "  TSTR per class (train SYNTH, test REAL):\n");
            cls_report_print(o, &r->tstr[S_SYNTH].rep, r->tstr[S_SYNTH].cm, r->names);
        }
    }
    fprintf(o, "\nMemorisation of TRAIN flows (exact: same first %d packets' direction, size, flags and\n"
               "packet count; near: flow distance <= %.2f; docs/compare.md)\n", FID_MEMO_PKTS, FID_NEAR);
    if (!r->memo_done) fprintf(o, "  skipped: needs --train\n");
    else {
        fprintf(o, "  %-26s %10s %10s %10s %10s\n", "", "REAL", "SYNTH", "replay", "sampler");
        fprintf(o, "  %-26s", "exact copies");
        for (int s = 0; s < NSIDE; s++) pr_pct(o, share(r->memo[s].exact, r->memo[s].flows));
        fprintf(o, "\n  %-26s", "near copies");
        for (int s = 0; s < NSIDE; s++) pr_pct(o, share(r->memo[s].near, r->memo[s].flows));
        fprintf(o, "\n  %-26s", "training addresses");
        for (int s = 0; s < NSIDE; s++) fprintf(o, " %10zu", r->memo[s].addrs_in_train);
        fprintf(o, "\n  %-26s", "flows with one");
        for (int s = 0; s < NSIDE; s++) pr_pct(o, share(r->memo[s].flows_with_train_addr, r->memo[s].flows));
        fputc('\n', o);
        if (r->memo[S_SYNTH].nleaked) {
            fprintf(o, "  training addresses in SYNTH:");
            for (int i = 0; i < r->memo[S_SYNTH].nleaked; i++) fprintf(o, " %s", r->memo[S_SYNTH].leaked[i]);
            fprintf(o, "%s\n", r->memo[S_SYNTH].addrs_in_train > (size_t)r->memo[S_SYNTH].nleaked ? " ..." : "");
        }
    }
    fprintf(o, "\ntime %.2f s, peak RSS %.1f MB\n", r->seconds, r->rss / 1e6);
}

static void json_side_counts(FILE *o, const fid_side *s) {
    fprintf(o, "{\"flows\": %llu, \"packets\": %llu, \"records\": %llu", (unsigned long long)s->flows, (unsigned long long)s->packets,
            (unsigned long long)s->records);
    if (s->has_bytes) {
        if (s->files) {
            fprintf(o, ", \"files\": %llu, \"files_bad\": %llu, \"time_order\": ", (unsigned long long)s->files, (unsigned long long)s->files_bad);
            jnum(o, share(s->records - s->ts_backwards, s->records) / 100);
        }
        fputs(", \"frames_parse\": ", o); jnum(o, share(s->records - s->not_parsed, s->records) / 100);
        fputs(", \"ip_packets\": ", o); jnum(o, share(s->ip, s->records) / 100);
        fputs(", \"truncated\": ", o); jnum(o, share(s->truncated, s->kept) / 100);
        fputs(", \"lengths_consistent\": ", o); jnum(o, share(s->len_ok, s->kept) / 100);
        fputs(", \"checksums_valid\": ", o); jnum(o, share(s->csum_ok, s->csum_checked) / 100);
        fputs(", \"checksums_checkable\": ", o); jnum(o, share(s->csum_checked, s->kept) / 100);
    }
    fprintf(o, ", \"tcp_flows\": %llu, \"handshake\": ", (unsigned long long)s->tcp_flows); jnum(o, share(s->handshake, s->tcp_flows) / 100);
    fputs(", \"seq_continuity\": ", o); jnum(o, s->has_seq ? share(s->seq_ok, s->tcp_flows) / 100 : NAN);
    fputs(", \"ack_continuity\": ", o); jnum(o, s->has_seq ? share(s->ack_ok, s->tcp_flows) / 100 : NAN);
    fputs(", \"teardown\": ", o); jnum(o, share(s->teardown, s->tcp_flows) / 100);
    fputs(", \"rst\": ", o); jnum(o, share(s->rst, s->tcp_flows) / 100);
    fputs(", \"midstream\": ", o); jnum(o, share(s->midstream, s->tcp_flows) / 100);
    fputc('}', o);
}

static void write_json(FILE *o, const report *r) {
    fputs("{\n  \"real\": ", o); cli_json_str(o, r->real_arg);
    fputs(",\n  \"synth\": ", o); cli_json_str(o, r->synth_arg);
    fprintf(o, ",\n  \"baseline_source\": \"%s\",\n  \"baseline_source_flows\": %zu,\n", r->has_train ? "train" : "real_first_half", r->bsrc->n);
    fputs("  \"sides\": {", o);
    for (int s = 0; s < NSIDE; s++) { fprintf(o, "%s\n    \"%s\": ", s ? "," : "", side_name[s]); json_side_counts(o, &r->side[s]); }
    fputs("\n  },\n  \"jsd\": {", o);
    for (int k = 0; k < NFC; k++) {
        fprintf(o, "%s\n    \"%s\": {", k ? "," : "", fid_cat_name[k]);
        for (int s = S_SYNTH; s < NSIDE; s++) { fprintf(o, "%s\"%s\": ", s > S_SYNTH ? ", " : "", side_name[s]); jnum(o, r->dist[s].jsd[k]); }
        fputc('}', o);
    }
    fputs("\n  },\n  \"emd\": {", o);
    for (int k = 0; k < NFN; k++) {
        fprintf(o, "%s\n    \"%s\": {", k ? "," : "", fid_cont_name[k]);
        for (int s = S_SYNTH; s < NSIDE; s++) { fprintf(o, "%s\"%s\": ", s > S_SYNTH ? ", " : "", side_name[s]); jnum(o, r->dist[s].emd[k]); }
        fputc('}', o);
    }
    fputs("\n  },\n  \"emd_raw\": {", o);
    for (int k = 0; k < NFN; k++) {
        fprintf(o, "%s\n    \"%s\": {\"unit\": \"%s\"", k ? "," : "", fid_cont_name[k], fid_cont_unit[k]);
        for (int s = S_SYNTH; s < NSIDE; s++) { fprintf(o, ", \"%s\": ", side_name[s]); jnum(o, r->dist[s].emd_raw[k]); }
        fputc('}', o);
    }
    fputs("\n  },\n  \"header_byte_jsd\": {", o);
    for (int s = S_SYNTH; s < NSIDE; s++) {
        fprintf(o, "%s\n    \"%s\": {\"mean\": ", s > S_SYNTH ? "," : "", side_name[s]);
        jnum(o, r->dist[s].bytepos_mean);
        fputs(", \"per_position\": [", o);
        for (int i = 0; i < r->dist[s].hdr_len; i++) { if (i) fputs(", ", o); jnum(o, r->dist[s].bytepos[i]); }
        fputs("]}", o);
    }
    fputs("\n  },\n  \"tstr\": ", o);
    if (!r->labelled) fputs("null", o);
    else {
        fprintf(o, "{\n    \"test\": \"%s\",\n    \"labels\": [", r->has_train ? "real" : "real_second_half");
        for (int i = 0; i < r->nnames; i++) { if (i) fputs(", ", o); cli_json_str(o, r->names[i]); }
        fputs("]", o);
        for (int s = 0; s < NSIDE; s++) {
            const tstr_result *t = &r->tstr[s];
            fprintf(o, ",\n    \"%s\": ", s == S_REAL ? (r->has_train ? "train" : "real_first_half") : side_name[s]);
            if (!t->done) { fputs("null", o); continue; }
            fprintf(o, "{\"n_train\": %zu, \"n_test\": %zu, \"accuracy\": ", t->n_train, t->n_test); jnum(o, t->rep.accuracy);
            fputs(", \"macro_f1\": ", o); jnum(o, t->rep.macro_f1);
            fputs(", \"weighted_f1\": ", o); jnum(o, t->rep.weighted_f1);
            fputs(", \"per_class\": [", o);
            for (int c = 0; c < t->rep.C; c++)
                fprintf(o, "%s{\"precision\": %.6g, \"recall\": %.6g, \"f1\": %.6g, \"support\": %ld}", c ? ", " : "", t->rep.precision[c],
                        t->rep.recall[c], t->rep.f1[c], t->rep.support[c]);
            fputs("], \"confusion\": [", o);
            for (int a = 0; a < t->rep.C; a++) {
                fputs(a ? ", [" : "[", o);
                for (int b = 0; b < t->rep.C; b++) fprintf(o, "%s%ld", b ? ", " : "", t->cm[a * t->rep.C + b]);
                fputc(']', o);
            }
            fputs("]}", o);
        }
        fputs("\n  }", o);
    }
    fputs(",\n  \"memorisation\": ", o);
    if (!r->memo_done) fputs("null", o);
    else {
        fprintf(o, "{\"near_threshold\": %g, \"packets_compared\": %d", FID_NEAR, FID_MEMO_PKTS);
        for (int s = 0; s < NSIDE; s++) {
            const fid_memo *m = &r->memo[s];
            fprintf(o, ",\n    \"%s\": {\"flows\": %zu, \"exact\": %zu, \"near\": %zu, \"addresses\": %zu, \"train_addresses\": %zu, "
                    "\"flows_with_train_address\": %zu, \"examples\": [", side_name[s], m->flows, m->exact, m->near, m->addrs, m->addrs_in_train,
                    m->flows_with_train_addr);
            for (int i = 0; i < m->nleaked; i++) { if (i) fputs(", ", o); cli_json_str(o, m->leaked[i]); }
            fputs("]}", o);
        }
        fputs("\n  }", o);
    }
    fprintf(o, ",\n  \"seconds\": %.3f,\n  \"peak_rss_bytes\": %zu\n}\n", r->seconds, r->rss);
}

static void html_table_row(FILE *o, const char *name, const double *v, int from, int pct) {
    fputs("<tr><td>", o); svg_text(o, name); fputs("</td>", o);
    for (int s = from; s < NSIDE; s++) {
        if (isnan(v[s])) fputs("<td>n/a</td>", o);
        else if (pct) fprintf(o, "<td>%.2f%%</td>", v[s]);
        else fprintf(o, "<td>%.4f</td>", v[s]);
    }
    fputs("</tr>\n", o);
}

static void write_html(FILE *o, report *r) {
    const fid_side *sd = r->side;
    char *sn[NSIDE] = { "REAL", "SYNTH", "replay", "sampler" };
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>pktlm compare</title>\n<style>"
          "body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}table{border-collapse:collapse;margin:1em 0}"
          "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}th{background:#f3f3f3}"
          "svg{display:block;margin:1em 0}code{font-family:monospace,monospace}.note{color:#666;font-size:90%}</style></head><body>\n<h1>pktlm compare</h1>\n<p>REAL: <code>", o);
    svg_text(o, r->real_arg);
    fprintf(o, "</code> (%llu flows, %llu packets)<br>SYNTH: <code>", (unsigned long long)sd[S_REAL].flows, (unsigned long long)sd[S_REAL].packets);
    svg_text(o, r->synth_arg);
    fprintf(o, "</code> (%llu flows, %llu packets)<br>Baselines drawn from %s (%zu flows).</p>\n", (unsigned long long)sd[S_SYNTH].flows,
            (unsigned long long)sd[S_SYNTH].packets, r->has_train ? "TRAIN" : "the first half of each REAL capture's flows", r->bsrc->n);
    fputs("<h2>Distances to REAL</h2><p class=\"note\">0 = same distribution. JSD in bits (0..1). EMD: 1-D Wasserstein distance of the "
          "values (log10 scale for times and flow sizes) divided by the range of REAL's values. Definitions: docs/compare.md.</p>\n"
          "<table><tr><th>field</th><th>SYNTH</th><th>replay</th><th>sampler</th></tr>\n", o);
    double v[NSIDE];
    char nm[64];
    for (int k = 0; k < NFC; k++) {
        for (int s = 0; s < NSIDE; s++) v[s] = r->dist[s].jsd[k];
        snprintf(nm, sizeof nm, "%s (JSD)", fid_cat_name[k]);
        html_table_row(o, nm, v, S_SYNTH, 0);
    }
    for (int k = 0; k < NFN; k++) {
        for (int s = 0; s < NSIDE; s++) v[s] = r->dist[s].emd[k];
        snprintf(nm, sizeof nm, "%s (EMD)", fid_cont_name[k]);
        html_table_row(o, nm, v, S_SYNTH, 0);
    }
    for (int s = 0; s < NSIDE; s++) v[s] = r->dist[s].bytepos_mean;
    html_table_row(o, "header bytes (mean JSD)", v, S_SYNTH, 0);
    fputs("</table>\n<h2>Validity and TCP state</h2>\n<table><tr><th></th><th>REAL</th><th>SYNTH</th><th>replay</th><th>sampler</th></tr>\n", o);
    for (int s = 0; s < NSIDE; s++) v[s] = sd[s].has_bytes && sd[s].files ? share(sd[s].files - sd[s].files_bad, sd[s].files) : NAN;
    html_table_row(o, "files read to the end", v, 0, 1);
    for (int s = 0; s < NSIDE; s++) v[s] = sd[s].has_bytes && sd[s].files ? share(sd[s].records - sd[s].ts_backwards, sd[s].records) : NAN;
    html_table_row(o, "records in time order", v, 0, 1);
    for (int s = 0; s < NSIDE; s++) v[s] = sd[s].has_bytes ? share(sd[s].records - sd[s].not_parsed, sd[s].records) : NAN;
    html_table_row(o, "frames that parse", v, 0, 1);
    for (int s = 0; s < NSIDE; s++) v[s] = sd[s].has_bytes ? share(sd[s].ip, sd[s].records) : NAN;
    html_table_row(o, "IP packets", v, 0, 1);
    for (int s = 0; s < NSIDE; s++) v[s] = sd[s].has_bytes ? share(sd[s].len_ok, sd[s].kept) : NAN;
    html_table_row(o, "lengths consistent", v, 0, 1);
    for (int s = 0; s < NSIDE; s++) v[s] = sd[s].has_bytes ? share(sd[s].csum_ok, sd[s].csum_checked) : NAN;
    html_table_row(o, "checksums valid", v, 0, 1);
    for (int s = 0; s < NSIDE; s++) v[s] = share(sd[s].handshake, sd[s].tcp_flows);
    html_table_row(o, "TCP handshake", v, 0, 1);
    for (int s = 0; s < NSIDE; s++) v[s] = sd[s].has_seq ? share(sd[s].seq_ok, sd[s].tcp_flows) : NAN;
    html_table_row(o, "TCP seq continuity", v, 0, 1);
    for (int s = 0; s < NSIDE; s++) v[s] = sd[s].has_seq ? share(sd[s].ack_ok, sd[s].tcp_flows) : NAN;
    html_table_row(o, "TCP ack continuity", v, 0, 1);
    for (int s = 0; s < NSIDE; s++) v[s] = share(sd[s].teardown, sd[s].tcp_flows);
    html_table_row(o, "TCP teardown (FIN both ways, no RST)", v, 0, 1);
    for (int s = 0; s < NSIDE; s++) v[s] = share(sd[s].rst, sd[s].tcp_flows);
    html_table_row(o, "TCP RST", v, 0, 1);
    fputs("</table>\n", o);
    if (r->labelled) {
        fprintf(o, "<h2>Utility (TSTR)</h2><p class=\"note\">Random forest on flow features, trained on each column, tested on %s.</p>\n"
                   "<table><tr><th>trained on</th><th>%s</th><th>SYNTH</th><th>replay</th><th>sampler</th></tr>\n",
                r->has_train ? "REAL" : "the second half of each REAL capture", r->has_train ? "TRAIN" : "REAL first halves");
        for (int k = 0; k < 2; k++) {
            for (int s = 0; s < NSIDE; s++) v[s] = r->tstr[s].done ? (k ? r->tstr[s].rep.macro_f1 : r->tstr[s].rep.accuracy) : NAN;
            html_table_row(o, k ? "macro-F1" : "accuracy", v, 0, 0);
        }
        fputs("</table>\n", o);
        if (r->tstr[S_SYNTH].done) cm_svg(o, r->tstr[S_SYNTH].cm, r->nnames, r->names, "TSTR: trained on SYNTH, tested on REAL");
        if (r->tstr[S_REAL].done) cm_svg(o, r->tstr[S_REAL].cm, r->nnames, r->names, "trained on real, tested on REAL");
    }
    if (r->memo_done) {
        fputs("<h2>Memorisation</h2><table><tr><th></th><th>REAL</th><th>SYNTH</th><th>replay</th><th>sampler</th></tr>\n", o);
        for (int s = 0; s < NSIDE; s++) v[s] = share(r->memo[s].exact, r->memo[s].flows);
        html_table_row(o, "exact copies of TRAIN flows", v, 0, 1);
        for (int s = 0; s < NSIDE; s++) v[s] = share(r->memo[s].near, r->memo[s].flows);
        html_table_row(o, "near copies", v, 0, 1);
        for (int s = 0; s < NSIDE; s++) v[s] = share(r->memo[s].flows_with_train_addr, r->memo[s].flows);
        html_table_row(o, "flows with a TRAIN address", v, 0, 1);
        fputs("</table>\n", o);
    }
    fputs("<h2>Distributions</h2>\n", o);
    static const struct { int f1, f2; const char *title, *xl; int logx; } cdfs[] = {
        { FN_SIZE_A, FN_SIZE_B, "packet size (IP length), both directions", "bytes", 0 },
        { FN_IAT_A, FN_IAT_B, "inter-arrival time within a flow and direction", "seconds", 1 },
        { FN_FLOW_BYTES, -1, "flow size", "bytes", 1 },
        { FN_FLOW_PKTS, -1, "packets per flow", "packets", 1 },
        { FN_DURATION, -1, "flow duration", "seconds", 1 },
    };
    for (size_t c = 0; c < sizeof cdfs / sizeof cdfs[0]; c++) {
        svg_series ser[NSIDE];
        double *tmp[NSIDE] = { 0 };
        for (int s = 0; s < NSIDE; s++) {
            ser[s].name = sn[s];
            if (cdfs[c].f2 < 0) { ser[s].v = sd[s].cont[cdfs[c].f1]; ser[s].n = sd[s].ncont[cdfs[c].f1]; continue; }
            size_t na = sd[s].ncont[cdfs[c].f1], nb = sd[s].ncont[cdfs[c].f2];
            tmp[s] = malloc((na + nb + 1) * sizeof(double));
            if (na) memcpy(tmp[s], sd[s].cont[cdfs[c].f1], na * sizeof(double));
            if (nb) memcpy(tmp[s] + na, sd[s].cont[cdfs[c].f2], nb * sizeof(double));
            ser[s].v = tmp[s]; ser[s].n = na + nb;
        }
        svg_cdf(o, cdfs[c].title, cdfs[c].xl, cdfs[c].logx, ser, NSIDE);
        for (int s = 0; s < NSIDE; s++) free(tmp[s]);
    }
    static const int bars[] = { FC_PROTO, FC_PORT, FC_FLAGS_A, FC_FLAGS_B, FC_TTL_A, FC_TTL_B, FC_IPVER, FC_DIRPAT };
    for (size_t b = 0; b < sizeof bars / sizeof bars[0]; b++) {
        int f = bars[b], bins[12];
        int nt = top_bins(sd, f, bins, 12);
        char *cats[12], cbuf[12][24];
        double sh[NSIDE * 12];
        for (int i = 0; i < nt; i++) { bin_name(f, bins[i], cbuf[i], sizeof cbuf[i]); cats[i] = cbuf[i]; }
        for (int s = 0; s < NSIDE; s++) {
            double tot = 0;
            for (int i = 0; i < fid_cat_bins(f); i++) tot += sd[s].cat[f][i];
            for (int i = 0; i < nt; i++) sh[s * nt + i] = tot ? sd[s].cat[f][bins[i]] / tot : 0;
        }
        char title[96];
        snprintf(title, sizeof title, "%s: share of the largest categories", fid_cat_name[f]);
        svg_bars(o, title, cats, nt, sn, NSIDE, sh);
    }
    if (r->dist[S_SYNTH].hdr_len) {
        const double *ys[3] = { r->dist[S_SYNTH].bytepos, r->dist[S_REPLAY].bytepos, r->dist[S_SAMPLER].bytepos };
        char *ln[3] = { "SYNTH", "replay", "sampler" };
        int n = r->dist[S_SYNTH].hdr_len;
        if (ys[1] && ys[2] && r->dist[S_REPLAY].hdr_len == n && r->dist[S_SAMPLER].hdr_len == n)
            svg_lines(o, "JSD to REAL per header byte position", "byte offset from the IP header", "JSD", ln, 3, ys, n, S_SYNTH);
    }
    fprintf(o, "<p class=\"note\">pktlm compare, %.2f s, peak RSS %.1f MB.</p>\n</body></html>\n", r->seconds, r->rss / 1e6);
}

/* --json and --html: both written to temporary files first and renamed into place only when
 * both are complete, so a failing --html (a missing folder, a full disk) leaves an existing
 * --json as it was. 0 ok, 1 (printed). */
static int write_outputs(const char *json_path, const char *html_path, report *r) {
    const char *path[2] = { json_path, html_path };
    atomic_file a[2] = { { 0 }, { 0 } };
    char err[1024];
    int bad = 0;
    for (int k = 0; k < 2 && !bad; k++) {
        if (!path[k]) continue;
        FILE *f = atomic_open(&a[k], path[k], err, sizeof err);
        if (!f) { bad = 1; break; }
        if (k == 0) write_json(f, r); else write_html(f, r);
        if (fflush(f) != 0 || ferror(f)) { snprintf(err, sizeof err, "%s: cannot write: %s", path[k], strerror(errno)); bad = 1; }
    }
    if (bad) {
        for (int k = 0; k < 2; k++) atomic_abort(&a[k]);
        return cli_error("compare", "%s%s", err, path[0] && path[1] ? " (neither --json nor --html written)" : "");
    }
    for (int k = 0; k < 2; k++)
        if (path[k] && atomic_commit(&a[k], err, sizeof err) != 0) { bad = 1; cli_error("compare", "%s", err); }
    return bad;
}

int cmd_compare(int argc, char **argv) {
    char *train_args[256];
    int ntrain = 0;
    const char *json_path = NULL, *html_path = NULL, *labels = "folder", *real = NULL, *synth = NULL;
    long hdr = 40, trees = 100;
    uint64_t seed = 1;
    const cli_opt opts[] = {
        OPT_POS("REAL", &real, "real captures: a file or a folder"),
        OPT_POS("SYNTH", &synth, "the captures compared with REAL (e.g. generated)"),
        OPT_LIST("--train", train_args, &ntrain, "PATH", "the captures the generator was trained on (repeatable); they feed\n"
                 "the baselines and the memorisation check. Without it the\n"
                 "baselines draw from the first half of each REAL capture's flows,\n"
                 "and TSTR is tested on the second halves."),
        OPT_STR("--labels", &labels, "SPEC", "flow labels for TSTR: 'folder' (the capture's parent\n"
                "folder name) or FILE.csv[:COLUMN], the CSV of prep --file-labels\n"
                "(File/path and Label/label/class columns, or COLUMN; a row\n"
                "matches a capture, or its real path, ending in its path)"),
        OPT_STR("--json", &json_path, "FILE", "write every number as JSON ('-': on stdout, instead of the text)"),
        OPT_STR("--html", &html_path, "FILE", "write a self-contained HTML report with SVG plots"),
        OPT_LONG_IN("--header-bytes", &hdr, 0, 255, "N", "bytes from the IP header on for per-byte JSD"),
        OPT_LONG_IN("--trees", &trees, 1, 100000, "N", "trees of the TSTR random forest"),
        OPT_U64("--seed", &seed, "N", "seed of baselines and forest"),
        OPT_END
    };
    const cli_cmd cmd = {
        .verb = "compare", .opts = opts,
        .usage = "REAL SYNTH [--train TRAIN]... [--json OUT.json] [--html OUT.html]\n"
                 "REAL SYNTH [--labels folder|FILE.csv[:COL]] [--header-bytes N] [--trees N] [--seed N]",
        .about = "Compare the traffic in SYNTH (e.g. generated) with REAL: field distributions (JSD,\n"
                 "normalised EMD, per-byte-position JSD), validity of the packets, TCP state, utility\n"
                 "(train a flow classifier on SYNTH, test on REAL: TSTR) and, with --train, memorisation\n"
                 "of the training flows and leaked training addresses. Every table also shows two\n"
                 "baselines computed on the same data: replay of random training flows, and an\n"
                 "independent per-field sampler. REAL, SYNTH and TRAIN are capture files or folders.",
        .more = "Definitions: docs/compare.md.",
    };
    int parsed = cli_parse(&cmd, argc, argv);
    if (parsed) return parsed == 1 ? 0 : 2;
    /* --json - : the JSON on stdout instead of the text summary */
    int json_stdout = json_path && !strcmp(json_path, "-");
    double t0 = now_sec();
    file_labels lm = { 0 };
    int use_csv = strcmp(labels, "folder") != 0;
    if (use_csv) {
        char *spec = strdup(labels), *csv, *col, err[1024];
        split_col(spec, &csv, &col);
        int bad = file_labels_load(&lm, csv, col, err, sizeof err) != 0;
        if (bad) cli_error("compare", "--labels %s", err);
        else if (lm.n == 0) { cli_error("compare", "--labels %s: no rows with a file and a label", csv); bad = 1; }
        free(spec);
        if (bad) { file_labels_free(&lm); return 1; }
    }

    report r;
    memset(&r, 0, sizeof r);
    r.real_arg = real;
    r.synth_arg = synth;
    r.has_train = ntrain > 0;
    ff_set sets[NSIDE + 3];
    for (int i = 0; i < NSIDE + 3; i++) ff_set_init(&sets[i], 0, (int)hdr);
    for (int s = 0; s < NSIDE; s++) r.set[s] = &sets[s];
    ff_set *train = &sets[NSIDE], *bsrc_half = &sets[NSIDE + 1], *test_half = &sets[NSIDE + 2];
    int rc = 0, incomplete = 0;
    if (load_set(r.set[S_REAL], (char **)&real, 1, &lm, use_csv, "REAL", &incomplete) ||
        load_set(r.set[S_SYNTH], (char **)&synth, 1, &lm, use_csv, "SYNTH", &incomplete) ||
        (ntrain && load_set(train, train_args, ntrain, &lm, use_csv, "TRAIN", &incomplete))) { rc = 1; goto done; }
    {
        ff_set *all[3] = { r.set[S_REAL], r.set[S_SYNTH], train };
        unify_labels(all, 3, &r.names, &r.nnames);
    }
    if (r.has_train) { r.bsrc = train; r.test = r.set[S_REAL]; }
    else {
        split_halves(bsrc_half, test_half, r.set[S_REAL]);
        r.bsrc = bsrc_half; r.test = test_half;
    }
    size_t nb = r.set[S_SYNTH]->n ? r.set[S_SYNTH]->n : r.set[S_REAL]->n;
    fid_replay(r.set[S_REPLAY], r.bsrc, nb, (uint64_t)seed * 7919 + 1);
    fid_sampler(r.set[S_SAMPLER], r.bsrc, nb, (uint64_t)seed * 7919 + 2);
    for (int s = 0; s < NSIDE; s++) fid_side_build(&r.side[s], r.set[s], s != S_SAMPLER);
    for (int s = S_SYNTH; s < NSIDE; s++) fid_distance(&r.dist[s], &r.side[S_REAL], &r.side[s]);

    /* TSTR: labels present in the test flows, at least two of them */
    {
        int *seen = calloc((size_t)(r.nnames + 1), sizeof *seen), nl = 0;
        for (size_t i = 0; i < r.test->n; i++) if (r.test->fl[i].label >= 0 && !seen[r.test->fl[i].label]++) nl++;
        free(seen);
        r.labelled = nl >= 2;
    }
    if (r.labelled) {
        tstr_run(&r.tstr[S_REAL], r.bsrc, r.test, r.nnames, (int)trees, (uint64_t)seed);
        for (int s = S_SYNTH; s < NSIDE; s++) tstr_run(&r.tstr[s], r.set[s], r.test, r.nnames, (int)trees, (uint64_t)seed);
    }
    if (r.has_train) {
        fid_train_index *x = fid_train_index_new(train);
        for (int s = 0; s < NSIDE; s++) fid_memorisation(&r.memo[s], x, r.set[s]);
        fid_train_index_free(x);
        r.memo_done = 1;
    }
    r.seconds = now_sec() - t0;
    r.rss = peak_rss_bytes();
    if (json_stdout) write_json(stdout, &r);
    else print_text(stdout, &r);
    if (write_outputs(json_stdout ? NULL : json_path, html_path, &r)) rc = 1;
    if (incomplete) {
        cli_error("compare", "some inputs could not be read to the end (warnings above): the report covers what was read");
        rc = 1;
    }
    for (int s = 0; s < NSIDE; s++) {
        fid_side_free(&r.side[s]);
        if (s) fid_dist_free(&r.dist[s]);
        if (r.tstr[s].done) { cls_report_free(&r.tstr[s].rep); }
        free(r.tstr[s].cm);
    }
    for (int i = 0; i < r.nnames; i++) free(r.names[i]);
    free(r.names);
done:
    for (int i = 0; i < NSIDE + 3; i++) ff_set_free(&sets[i]);
    file_labels_free(&lm);
    return rc;
}
