/* pktlm compare: how close is one capture (SYNTH) to another (REAL)? Distances, validity,
 * TCP state, TSTR utility and memorisation, each next to two baselines. The method and the
 * writers live in src/eval/ (compare.h); this file parses, loads the captures, calls and
 * writes the files. docs/compare.md defines every number. */
#include "cli/cli.h"
#include "cli/opts.h"
#include "eval/compare.h"
#include "corpus/labels.h"
#include "util/util.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

/* ---- labels ---- */
/* --labels FILE.csv[:COLUMN]: the file -> label CSV of `pktlm prep --file-labels`
 * (corpus/labels.h: a header with a File/path column and a Label/label/class column, or
 * the one named; a row's path matches an input equal to it or ending in "/" + it). A
 * capture reached through a symbolic link (the split recipes of docs/compare.md link
 * captures into set folders, under other names) is also looked up by its real path. */
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

/* --json and --html: both written to temporary files first and renamed into place only when
 * both are complete, so a failing --html (a missing folder, a full disk) leaves an existing
 * --json as it was. 0 ok, 1 (printed). */
static int write_outputs(const char *json_path, const char *html_path, const compare_report *r) {
    const char *path[2] = { json_path, html_path };
    atomic_file a[2] = { { 0 }, { 0 } };
    char err[1024];
    int bad = 0;
    for (int k = 0; k < 2 && !bad; k++) {
        if (!path[k]) continue;
        FILE *f = atomic_open(&a[k], path[k], err, sizeof err);
        if (!f) { bad = 1; break; }
        if (k == 0) compare_write_json(f, r); else compare_write_html(f, r);
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
        label_csv_spec(spec, &csv, &col);
        int bad = file_labels_load(&lm, csv, col, err, sizeof err) != 0;
        if (bad) cli_error("compare", "--labels %s", err);
        else if (lm.n == 0) { cli_error("compare", "--labels %s: no rows with a file and a label", csv); bad = 1; }
        free(spec);
        if (bad) { file_labels_free(&lm); return 1; }
    }

    ff_set sets[3];   /* REAL, SYNTH, TRAIN */
    for (int i = 0; i < 3; i++) ff_set_init(&sets[i], 0, (int)hdr);
    compare_report r;
    int rc = 0, incomplete = 0;
    if (load_set(&sets[0], (char **)&real, 1, &lm, use_csv, "REAL", &incomplete) ||
        load_set(&sets[1], (char **)&synth, 1, &lm, use_csv, "SYNTH", &incomplete) ||
        (ntrain && load_set(&sets[2], train_args, ntrain, &lm, use_csv, "TRAIN", &incomplete))) { rc = 1; goto done; }
    compare_run(&r, &sets[0], &sets[1], ntrain ? &sets[2] : NULL, &(compare_cfg){ .trees = (int)trees, .seed = seed });
    r.real_name = real;
    r.synth_name = synth;
    r.seconds = now_sec() - t0;
    r.rss = peak_rss_bytes();
    if (json_stdout) compare_write_json(stdout, &r);
    else compare_write_text(stdout, &r);
    if (write_outputs(json_stdout ? NULL : json_path, html_path, &r)) rc = 1;
    if (incomplete) {
        cli_error("compare", "some inputs could not be read to the end (warnings above): the report covers what was read");
        rc = 1;
    }
    compare_free(&r);
done:
    for (int i = 0; i < 3; i++) ff_set_free(&sets[i]);
    file_labels_free(&lm);
    return rc;
}
