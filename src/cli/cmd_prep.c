/* pktlm prep: captures -> anonymised token corpus with leakage-safe splits. */
#include "cli/cli.h"
#include "cli/opts.h"
#include "corpus/prepopts.h"
#include "corpus/prep.h"
#include "corpus/bpe.h"
#include "util/util.h"
#include <limits.h>
#include <stddef.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* --drop-port P[,P...] / --drop-proto N[,N...]: appended to what earlier ones gave */
static int add_list(const char *verb, const char *opt, const char *s, void *dst, int port) {
    prep_cfg *c = dst;
    int *n = port ? &c->ndrop_ports : &c->ndrop_protos;
    char *dup = strdup(s), *save = NULL;
    if (!dup) return cli_error(verb, "out of memory"), -1;
    for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        long v;
        if (*n >= 32) { cli_error(verb, "%s: at most 32 values", opt); free(dup); return -1; }
        if (cli_long_in(verb, opt, t, 0, port ? 65535 : 255, &v)) { free(dup); return -1; }
        if (port) c->drop_ports[(*n)++] = (uint16_t)v; else c->drop_protos[(*n)++] = (uint8_t)v;
    }
    free(dup);
    return 0;
}
static int add_ports(const char *verb, const char *opt, const char *s, void *dst) { return add_list(verb, opt, s, dst, 1); }
static int add_protos(const char *verb, const char *opt, const char *s, void *dst) { return add_list(verb, opt, s, dst, 0); }

/* --ratio A:B:C */
static int set_ratio(const char *verb, const char *opt, const char *s, void *dst) {
    double *r = dst;
    char tail;
    if (sscanf(s, "%lf:%lf:%lf%c", &r[0], &r[1], &r[2], &tail) == 3 && r[0] >= 0 && r[1] >= 0 && r[2] >= 0 &&
        r[0] + r[1] + r[2] > 0 && isfinite(r[0] + r[1] + r[2]))
        return 0;
    cli_error(verb, "%s must be A:B:C (three numbers >= 0, not all 0), got '%s'", opt, s);
    return -1;
}

/* the option table entries of prep's options (corpus/prepopts.c), each setting its prep_cfg
 * member of c; given[i] is set when option i is given. Returns the number written. */
static int prep_entries(cli_opt *t, prep_cfg *c, int *given) {
    int n = 0;
    for (int i = 0; i < prep_nopts; i++) {
        const prep_opt *p = &prep_opts[i];
        if (p->section) t[n++] = (cli_opt)OPT_SECTION(p->section);
        cli_opt o = { .name = p->flag, .dst = (char *)c + p->off, .arg = p->arg, .help = p->help, .set = &given[i],
                      .ranged = 1, .lo = p->lo, .hi = p->hi, .words = p->words, .flag = p->value };
        switch (p->type) {
        case PO_INT: o.kind = CO_INT; break;
        case PO_DOUBLE: o.kind = CO_DOUBLE; o.ranged = 2; break;   /* greater than 0 */
        case PO_U64: o.kind = CO_U64; o.ranged = 0; break;
        case PO_CHOICE: o.kind = CO_CHOICE; o.ranged = 0; break;
        case PO_FLAG: o.kind = CO_FLAG; o.ranged = 0; break;
        case PO_STR: o.kind = CO_STR; o.ranged = 0; o.nodef = 1; break;
        case PO_RATIO: o.kind = CO_FN; o.ranged = 0; o.fn = set_ratio; break;
        default: o.kind = CO_FN; o.ranged = 0; o.dst = c; o.fn = p->type == PO_PORTS ? add_ports : add_protos; break;
        }
        t[n++] = o;
    }
    return n;
}

static char *parent_name(const char *path) {
    /* a process substitution (/dev/fd/63, /proc/self/fd/N) has no folder that names it */
    if (!strncmp(path, "/dev/fd/", 8) || !strncmp(path, "/proc/", 6)) return NULL;
    const char *e = strrchr(path, '/');
    if (!e) return NULL;
    const char *b = e;
    while (b > path && b[-1] != '/') b--;
    if (e == b || (e - b == 1 && *b == '.') || (e - b == 2 && b[0] == '.' && b[1] == '.')) return NULL;
    return strndup(b, (size_t)(e - b));
}

int cmd_prep(int argc, char **argv) {
    prep_cfg cfg;
    prep_cfg_default(&cfg);
    const char *out = NULL, *blanket = NULL, *file_csv_arg = NULL, *flow_csv_arg = NULL;
    char **inputs = NULL;
    int ninputs = 0, no_labels = 0, quiet = 0, given[64] = { 0 };
    cfg.secret = getenv("PKTLM_ANON_SECRET");
    cli_opt opts[128] = {
        OPT_POS_LIST("INPUT", &inputs, &ninputs, 1, "captures: pcap/pcapng files or directories (recursed), '-' = stdin"),
        OPT_OUT(&out, "CORPUS_DIR", "the corpus folder (replaced as a whole)", .req = 1),
        OPT_SECTION("Labels (default: the name of each file's parent folder)"),
        OPT_STR("--label", &blanket, "NAME", "one label for every flow"),
        OPT_STR("--file-labels", &file_csv_arg, "CSV[:COL]", "file -> label CSV (File,Label as NetSSM; or path,...,class)"),
        OPT_STR("--flow-labels", &flow_csv_arg, "CSV[:COL]", "per-flow CSV (path,l4,a_ip,a_port,b_ip,b_port,COL); flows\n"
                "without a row are kept unlabelled"),
        OPT_FLAG("--no-labels", &no_labels, 1, "every flow unlabelled (pretraining)"),
    };
    int nt = 7;
    nt += prep_entries(opts + nt, &cfg, given);   /* the rest: corpus/prepopts.c */
    opts[nt++] = (cli_opt)OPT_QUIET(&quiet, "no summary");
    opts[nt] = (cli_opt)OPT_END;
    const cli_cmd cmd = {
        .verb = "prep", .opts = opts,
        .usage = "INPUT... -o CORPUS_DIR [options]",
        .about = "Build a token corpus from pcap/pcapng captures (files or directories, recursed), or from\n"
                 "tcpflowgen's token files (NAME.arrow: field tokens, --tokens fields implied):\n"
                 "flows -> anonymised, reversible token sequences (docs/tokens.md) -> train/val/test\n"
                 "shards, vocab.json, labels.txt and manifest.json in CORPUS_DIR (docs/corpus.md).",
    };
    int parsed = cli_parse(&cmd, argc, argv);
    if (parsed) return parsed == 1 ? 0 : 2;
    int split_set = given[prep_opt_index(offsetof(prep_cfg, split))];
    int packets_set = given[prep_opt_index(offsetof(prep_cfg, max_pkts))];
    int tokens_set = given[prep_opt_index(offsetof(prep_cfg, tokens))];
    char *file_csv = (char *)file_csv_arg, *flow_csv = (char *)flow_csv_arg;   /* label_csv_spec cuts ":COL" off in place */
    if (cfg.unit == PREP_UNIT_CAPTURE) {
        if (split_set && cfg.split != PREP_SPLIT_CAPTURE) {
            cli_error("prep", "--unit capture interleaves every flow of a capture: it can only be split by capture");
            return 2;
        }
        cfg.split = PREP_SPLIT_CAPTURE;
    }
    if (cfg.unit == PREP_UNIT_PACKET && cfg.split == PREP_SPLIT_CAPTURE) { /* fine: still no flow in two splits */ }
    if (cfg.tokens != TOKFMT_BYTES && cfg.unit != PREP_UNIT_FLOW) {
        cli_error("prep", "--tokens %s makes one sequence per flow: --unit %s needs --tokens bytes", tokfmt_get(cfg.tokens)->name,
                  cfg.unit == PREP_UNIT_PACKET ? "packet" : "capture");
        return 2;
    }
    if (cfg.complete_only && cfg.tokens != TOKFMT_FIELDS) {
        cli_error("prep", "--complete-only is tcpflowgen's flow filter: it needs --tokens fields");
        return 2;
    }
    if ((cfg.tokens == TOKFMT_BPE) != (cfg.tokenizer != NULL)) {
        cli_error("prep", cfg.tokenizer ? "--tokenizer goes with --tokens bpe" : "--tokens bpe needs --tokenizer FILE (the model's tokenizer.json)");
        return 2;
    }
    /* tcpflowgen encodes whole flows; its flow type needs the last packets */
    if (cfg.tokens == TOKFMT_FIELDS && !packets_set) cfg.max_pkts = 1000000;

    char **files;
    int nfiles;
    int walk_skipped = cli_expand_inputs("prep", inputs, ninputs, &files, &nfiles);
    if (walk_skipped < 0) return 1;
    if (nfiles == 0) { cli_free_list(files, nfiles); return cli_error("prep", "no capture files found in the inputs"); }
    int narrow = 0;
    for (int k = 0; k < nfiles; k++) narrow += cli_is_arrow(files[k]);
    if (narrow && !tokens_set) cfg.tokens = TOKFMT_FIELDS;   /* tcpflowgen's files are field tokens */
    if (narrow && (cfg.tokens != TOKFMT_FIELDS || cfg.unit != PREP_UNIT_FLOW)) {
        cli_free_list(files, nfiles);
        return cli_error("prep", "tcpflowgen's .arrow files hold flows of field tokens: they make a --tokens fields "
                                 "--unit flow corpus"), 2;
    }

    int rc = 1;
    char err[1024];
    char *tok_abs = NULL;   /* bpe: vocab.json records where the tokenizer is, for export and eval run from elsewhere */
    file_labels fls = { 0 };
    flow_labels fws = { 0 };
    label_set labels = { 0 };
    int *flabel = calloc((size_t)nfiles, sizeof *flabel);
    prep *p = NULL;
    if (file_csv) {
        char *f, *col;
        label_csv_spec(file_csv, &f, &col);
        if (file_labels_load(&fls, f, col, err, sizeof err)) { cli_error("prep", "%s", err); goto done; }
    }
    if (flow_csv) {
        char *f, *col;
        label_csv_spec(flow_csv, &f, &col);
        if (flow_labels_load(&fws, f, col, err, sizeof err)) { cli_error("prep", "%s", err); goto done; }
        /* only the labels of rows that name one of the inputs */
        for (int i = 0; i < fws.n; i++)
            for (int k = 0; k < nfiles; k++)
                if (label_path_match(files[k], fws.v[i].path)) { label_set_add(&labels, fws.v[i].label); break; }
    }
    /* each file's label name, then the sorted label set, then indices */
    char **names = calloc((size_t)nfiles, sizeof *names);
    for (int k = 0; k < nfiles; k++) {
        if (no_labels) continue;
        if (blanket) names[k] = strdup(blanket);
        else if (file_csv) { const char *l = file_labels_find(&fls, files[k]); names[k] = l ? strdup(l) : NULL; }
        else if (!flow_csv) names[k] = parent_name(files[k]);
        if (names[k]) label_set_add(&labels, names[k]);
    }
    for (int k = 0; k < nfiles; k++) { flabel[k] = names[k] ? label_set_find(&labels, names[k]) : -1; free(names[k]); }
    free(names);

    if (cfg.tokens == TOKFMT_BPE) {
        if (!(cfg.bpe = bpe_load(cfg.tokenizer, err, sizeof err))) { cli_error("prep", "%s", err); goto done; }
        if ((tok_abs = realpath(cfg.tokenizer, NULL))) cfg.tokenizer = tok_abs;
        if (bpe_added_id(cfg.bpe, "<|endoftext|>") < 0 || bpe_text_id(cfg.bpe, "\n") < 0) {
            cli_error("prep", "%s: no <|endoftext|> token or no token of \"\\n\" (the bpe format's document and packet marks)",
                      cfg.tokenizer);
            goto done;
        }
    }

    p = prep_new(&cfg, &labels, flow_csv ? &fws : NULL, argc, argv);
    if (!p) { cli_error("prep", "out of memory"); goto done; }
    double total = 0;
    for (int k = 0; k < nfiles; k++) { struct stat st; if (stat(files[k], &st) == 0) total += (double)st.st_size; }
    progress pr;
    progress_init(&pr, "prep", "MB", 1e6);
    prep_set_progress(p, &pr, total);
    volatile sig_atomic_t *stop = cli_catch_interrupt();
    prep_set_interrupt(p, stop);
    double t0 = now_sec();
    int skipped = 0, partial = 0;
    for (int k = 0; k < nfiles && !*stop; k++) {
        int r = cli_is_arrow(files[k]) ? prep_add_arrow(p, files[k], flabel[k], err, sizeof err)
                                        : prep_add_file(p, files[k], flabel[k], err, sizeof err);
        if (r == -2) break;
        if (r != 0) {
            progress_end(&pr);
            if (!strcmp(err, "out of memory")) { cli_error("prep", "out of memory"); goto done; }
            fprintf(stderr, "pktlm prep: warning: %s%s\n", err, r < 0 ? " (skipped)" : " (packets before it kept)");
            skipped += r < 0;
            partial += r > 0;
        }
    }
    double t_read = now_sec() - t0;
    progress_end(&pr);
    /* Ctrl-C while reading: nothing has been written yet (the directory is as it was) */
    if (*stop) { cli_error("prep", "interrupted: nothing written, %s unchanged", out); rc = 130; goto done; }
    if (skipped == nfiles) { cli_error("prep", "none of the %d inputs could be read", nfiles); goto done; }
    if (prep_finish(p, out, err, sizeof err)) { cli_error("prep", "%s", err); goto done; }
    double el = now_sec() - t0;
    if (!quiet) {
        prep_summary(p, stdout);
        printf("time        %.2f s (%.1f MB/s reading, %.2f s total)\n", t_read, t_read > 0 ? total / 1e6 / t_read : 0, el);
        printf("wrote       %s/{train,val,test}.tok, vocab.json, labels.txt, manifest.json\n", out);
    }
    /* the corpus is written; as in `pktlm stats`, inputs that could not be read entirely make
     * the exit status 1 (docs/cli.md), and the manifest says which ("skipped" / "partial") */
    rc = skipped || partial || walk_skipped ? 1 : 0;
    if (skipped || partial)
        fprintf(stderr, "pktlm prep: %d of %d inputs skipped, %d read in part (see the warnings above and %s/manifest.json)\n",
                skipped, nfiles, partial, out);
done:
    prep_free(p);
    bpe_free(cfg.bpe);
    free(tok_abs);
    file_labels_free(&fls);
    flow_labels_free(&fws);
    label_set_free(&labels);
    free(flabel);
    cli_free_list(files, nfiles);
    return rc;
}
