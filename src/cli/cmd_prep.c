/* pktlm prep: captures -> anonymised token corpus with leakage-safe splits. */
#include "cli/cli.h"
#include "corpus/prep.h"
#include "corpus/bpe.h"
#include "util/util.h"
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *USAGE =
    "usage: pktlm prep INPUT... -o CORPUS_DIR [options]\n"
    "\n"
    "Build a token corpus from pcap/pcapng captures (files or directories, recursed), or from\n"
    "tcpflowgen's token files (NAME.arrow: field tokens, --tokens fields implied):\n"
    "flows -> anonymised, reversible token sequences (docs/tokens.md) -> train/val/test\n"
    "shards, vocab.json, labels.txt and manifest.json in CORPUS_DIR (docs/corpus.md).\n"
    "\n"
    "Labels (default: the name of each file's parent folder)\n"
    "  --label NAME            one label for every flow\n"
    "  --file-labels CSV[:COL] file -> label CSV (File,Label as NetSSM; or path,...,class)\n"
    "  --flow-labels CSV[:COL] per-flow CSV (path,l4,a_ip,a_port,b_ip,b_port,COL); flows\n"
    "                          without a row are kept unlabelled\n"
    "  --no-labels             every flow unlabelled (pretraining)\n"
    "  --min-label-flows N     labels with fewer than N flows become unlabelled\n"
    "Tokens (docs/tokens.md)\n"
    "  --tokens bytes|fields|bigrams|bpe  pktlm's byte tokens (default) | tcpflowgen's\n"
    "                          TCP header-field tokens (TCP flows only, whole flows\n"
    "                          unless --packets) | NetGPT's hex bigrams | NetGPT's hex\n"
    "                          text through a model's own byte-level BPE (--tokenizer)\n"
    "  --tokenizer FILE        bpe: the model's tokenizer.json (GPT-2, Qwen2/Qwen2.5)\n"
    "  --complete-only         fields: only flows with handshake and termination\n"
    "Sequences\n"
    "  --unit flow|packet|capture  a flow's first K packets (default) | one packet |\n"
    "                          a whole capture cut into windows\n"
    "  --packets K             packets kept per flow (default 8)\n"
    "  --payload N             payload bytes kept after the transport header (default 64)\n"
    "  --max-bytes B           at most B bytes of a packet, from the IP header (default 192)\n"
    "  --window N              tokens per window with --unit capture (default 2048)\n"
    "Splits\n"
    "  --split flow|capture|time   (default flow, stratified by label; capture for\n"
    "                          --unit capture)\n"
    "  --ratio A:B:C           train:val:test (default 8:1:1)\n"
    "  --seed N                (default 1); same inputs + seed = byte-identical corpus\n"
    "  --no-dedup              keep sequences duplicated across splits\n"
    "Filters (non-IP frames such as ARP are always dropped)\n"
    "  --keep-dhcp             keep DHCP/DHCPv6 flows (dropped by default)\n"
    "  --drop-port P[,P...]    drop TCP/UDP flows with this port on either side\n"
    "  --drop-proto N[,N...]   drop flows of this IP protocol number\n"
    "  --min-packets N         drop flows with fewer packets (default 1)\n"
    "  --max-flow-packets N    drop flows with more packets (default: no limit)\n"
    "  --tcp-timeout S, --udp-timeout S   flow idle timeouts (default 300, 60)\n"
    "Anonymisation (on by default; docs/corpus.md)\n"
    "  --no-anon               keep addresses and identifiers as they are\n"
    "  --addr prefix|random|keep   address mapping (default prefix-preserving)\n"
    "  --anon-scope flow|capture  one address map per flow (default; per capture\n"
    "                          with --unit capture)\n"
    "  --keep-ids              keep IP id, flow label, TCP ISN and timestamps\n"
    "  --mask-ports            zero TCP/UDP ports\n"
    "  --checksums update|zero checksums after the rewrite (default update)\n"
    "  --anon-secret S         mixed into the mapping key, not recorded (also\n"
    "                          $PKTLM_ANON_SECRET); without it the seed reproduces the map\n"
    "Other\n"
    "  --no-hash               skip the sha256 of inputs in the manifest\n"
    "  -q, --quiet             no summary\n";

static int parse_list(const char *opt, const char *s, int max, long lo, long hi, long *out, int *n) {
    char *dup = strdup(s), *save = NULL;
    for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        long v;
        if (*n >= max) { cli_error("prep", "%s: at most 32 values", opt); free(dup); return -1; }
        if (cli_long_in("prep", opt, t, lo, hi, &v)) { free(dup); return -1; }
        out[(*n)++] = v;
    }
    free(dup);
    return 0;
}

/* "FILE:COLUMN" -> file, column (column NULL when absent and FILE exists as given). */
static void split_col(char *arg, char **file, char **col) {
    struct stat st;
    *file = arg; *col = NULL;
    if (stat(arg, &st) == 0) return;
    char *c = strrchr(arg, ':');
    if (c) { *c = 0; *col = c + 1; }
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
    enum { O_LABEL = 256, O_FILELAB, O_FLOWLAB, O_NOLAB, O_UNIT, O_PACKETS, O_PAYLOAD, O_MAXB, O_WINDOW, O_SPLIT, O_RATIO,
           O_SEED, O_NODEDUP, O_KEEPDHCP, O_DROPPORT, O_DROPPROTO, O_MINP, O_MAXP, O_TCPT, O_UDPT, O_NOANON, O_ADDR,
           O_KEEPIDS, O_MASKP, O_CSUM, O_SECRET, O_NOHASH, O_SCOPE, O_MINLAB, O_TOKENS, O_COMPLETE, O_TOKENIZER };
    static const struct option opts[] = {
        { "label", required_argument, 0, O_LABEL }, { "file-labels", required_argument, 0, O_FILELAB },
        { "flow-labels", required_argument, 0, O_FLOWLAB }, { "no-labels", no_argument, 0, O_NOLAB },
        { "unit", required_argument, 0, O_UNIT }, { "packets", required_argument, 0, O_PACKETS },
        { "payload", required_argument, 0, O_PAYLOAD }, { "max-bytes", required_argument, 0, O_MAXB },
        { "window", required_argument, 0, O_WINDOW }, { "split", required_argument, 0, O_SPLIT },
        { "ratio", required_argument, 0, O_RATIO }, { "seed", required_argument, 0, O_SEED },
        { "no-dedup", no_argument, 0, O_NODEDUP }, { "keep-dhcp", no_argument, 0, O_KEEPDHCP },
        { "drop-port", required_argument, 0, O_DROPPORT }, { "drop-proto", required_argument, 0, O_DROPPROTO },
        { "min-packets", required_argument, 0, O_MINP }, { "max-flow-packets", required_argument, 0, O_MAXP },
        { "tcp-timeout", required_argument, 0, O_TCPT }, { "udp-timeout", required_argument, 0, O_UDPT },
        { "no-anon", no_argument, 0, O_NOANON }, { "addr", required_argument, 0, O_ADDR },
        { "keep-ids", no_argument, 0, O_KEEPIDS }, { "mask-ports", no_argument, 0, O_MASKP },
        { "checksums", required_argument, 0, O_CSUM }, { "anon-secret", required_argument, 0, O_SECRET },
        { "no-hash", no_argument, 0, O_NOHASH }, { "anon-scope", required_argument, 0, O_SCOPE },
        { "min-label-flows", required_argument, 0, O_MINLAB }, { "quiet", no_argument, 0, 'q' },
        { "tokens", required_argument, 0, O_TOKENS }, { "complete-only", no_argument, 0, O_COMPLETE },
        { "tokenizer", required_argument, 0, O_TOKENIZER },
        { "output", required_argument, 0, 'o' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    prep_cfg cfg;
    prep_cfg_default(&cfg);
    const char *out = NULL, *blanket = NULL;
    char *file_csv = NULL, *flow_csv = NULL;
    int no_labels = 0, quiet = 0, split_set = 0, packets_set = 0, tokens_set = 0;
    cfg.secret = getenv("PKTLM_ANON_SECRET");
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:q", opts, NULL)) != -1) {
        long v, list[32];
        int n = 0;
        double d;
        switch (c) {
        case 'o': out = optarg; break;
        case 'q': quiet = 1; break;
        case O_LABEL: blanket = optarg; break;
        case O_FILELAB: file_csv = optarg; break;
        case O_FLOWLAB: flow_csv = optarg; break;
        case O_NOLAB: no_labels = 1; break;
        case O_UNIT:
            if (!strcmp(optarg, "flow")) cfg.unit = PREP_UNIT_FLOW;
            else if (!strcmp(optarg, "packet")) cfg.unit = PREP_UNIT_PACKET;
            else if (!strcmp(optarg, "capture")) cfg.unit = PREP_UNIT_CAPTURE;
            else { cli_error("prep", "--unit is flow, packet or capture, got '%s'", optarg); return 2; }
            break;
        case O_PACKETS: if (cli_long_in("prep", "--packets", optarg, 1, 1000000, &v)) return 2; cfg.max_pkts = (int)v; packets_set = 1; break;
        case O_TOKENS: {
            const tok_format *tf = tokfmt_by_name(optarg);
            if (!tf) { cli_error("prep", "--tokens is bytes, fields, bigrams or bpe, got '%s'", optarg); return 2; }
            cfg.tokens = tf->id;
            tokens_set = 1;
            break;
        }
        case O_COMPLETE: cfg.complete_only = 1; break;
        case O_TOKENIZER: cfg.tokenizer = optarg; break;
        case O_PAYLOAD: if (cli_long_in("prep", "--payload", optarg, 0, 65535, &v)) return 2; cfg.payload = (int)v; break;
        case O_MAXB: if (cli_long_in("prep", "--max-bytes", optarg, 20, 65535, &v)) return 2; cfg.max_bytes = (int)v; break;
        case O_WINDOW: if (cli_long_in("prep", "--window", optarg, 64, 1 << 24, &v)) return 2; cfg.window = (int)v; break;
        case O_SPLIT:
            split_set = 1;
            if (!strcmp(optarg, "flow")) cfg.split = PREP_SPLIT_FLOW;
            else if (!strcmp(optarg, "capture")) cfg.split = PREP_SPLIT_CAPTURE;
            else if (!strcmp(optarg, "time")) cfg.split = PREP_SPLIT_TIME;
            else { cli_error("prep", "--split is flow, capture or time, got '%s'", optarg); return 2; }
            break;
        case O_RATIO: {
            double r[3];
            char tail;
            if (sscanf(optarg, "%lf:%lf:%lf%c", &r[0], &r[1], &r[2], &tail) != 3 || !(r[0] >= 0) || !(r[1] >= 0) ||
                !(r[2] >= 0) || !(r[0] + r[1] + r[2] > 0) || !isfinite(r[0] + r[1] + r[2])) { cli_error("prep", "--ratio is A:B:C, got '%s'", optarg); return 2; }
            memcpy(cfg.ratio, r, sizeof r);
            break;
        }
        case O_SEED: if (cli_long_in("prep", "--seed", optarg, 0, LONG_MAX, &v)) return 2; cfg.seed = (uint64_t)v; break;
        case O_NODEDUP: cfg.dedup = 0; break;
        case O_KEEPDHCP: cfg.drop_dhcp = 0; break;
        case O_DROPPORT:
            n = cfg.ndrop_ports;
            { long tmp[32]; int k = 0; if (parse_list("--drop-port", optarg, 32 - n, 0, 65535, tmp, &k)) return 2;
              for (int i = 0; i < k; i++) cfg.drop_ports[cfg.ndrop_ports++] = (uint16_t)tmp[i]; }
            break;
        case O_DROPPROTO:
            if (parse_list("--drop-proto", optarg, 32 - cfg.ndrop_protos, 0, 255, list, &n)) return 2;
            for (int i = 0; i < n; i++) cfg.drop_protos[cfg.ndrop_protos++] = (uint8_t)list[i];
            break;
        case O_MINP: if (cli_long_in("prep", "--min-packets", optarg, 0, INT_MAX, &v)) return 2; cfg.min_flow_pkts = (int)v; break;
        case O_MAXP: if (cli_long_in("prep", "--max-flow-packets", optarg, 0, INT_MAX, &v)) return 2; cfg.max_flow_pkts = (int)v; break;
        case O_TCPT: if (cli_positive("prep", "--tcp-timeout", optarg, &d)) return 2; cfg.flows.tcp_timeout = d; break;
        case O_UDPT: if (cli_positive("prep", "--udp-timeout", optarg, &d)) return 2; cfg.flows.udp_timeout = d; break;
        case O_NOANON: cfg.anonymise = 0; break;
        case O_ADDR:
            if (!strcmp(optarg, "prefix")) cfg.anon.addr = ANON_ADDR_PREFIX;
            else if (!strcmp(optarg, "random")) cfg.anon.addr = ANON_ADDR_RANDOM;
            else if (!strcmp(optarg, "keep")) cfg.anon.addr = ANON_ADDR_KEEP;
            else { cli_error("prep", "--addr is prefix, random or keep, got '%s'", optarg); return 2; }
            break;
        case O_KEEPIDS: cfg.anon.ids = 0; break;
        case O_MASKP: cfg.anon.mask_ports = 1; break;
        case O_CSUM:
            if (!strcmp(optarg, "update")) cfg.anon.csum = ANON_CSUM_UPDATE;
            else if (!strcmp(optarg, "zero")) cfg.anon.csum = ANON_CSUM_ZERO;
            else { cli_error("prep", "--checksums is update or zero, got '%s'", optarg); return 2; }
            break;
        case O_SECRET: cfg.secret = optarg; break;
        case O_SCOPE:
            if (!strcmp(optarg, "flow")) cfg.anon.scope = ANON_SCOPE_FLOW;
            else if (!strcmp(optarg, "capture")) cfg.anon.scope = ANON_SCOPE_CAPTURE;
            else { cli_error("prep", "--anon-scope is flow or capture, got '%s'", optarg); return 2; }
            break;
        case O_NOHASH: cfg.hash_inputs = 0; break;
        case O_MINLAB: if (cli_long_in("prep", "--min-label-flows", optarg, 0, INT_MAX, &v)) return 2; cfg.min_label_flows = (int)v; break;
        case 'h': fputs(USAGE, stdout); return 0;
        default: fputs(USAGE, stderr); return 2;
        }
    }
    if (optind >= argc || !out) { fputs(USAGE, stderr); return 2; }
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
    int walk_skipped = cli_expand_inputs("prep", argv + optind, argc - optind, &files, &nfiles);
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
        split_col(file_csv, &f, &col);
        if (file_labels_load(&fls, f, col, err, sizeof err)) { cli_error("prep", "%s", err); goto done; }
    }
    if (flow_csv) {
        char *f, *col;
        split_col(flow_csv, &f, &col);
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
