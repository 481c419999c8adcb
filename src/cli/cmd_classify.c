/* pktlm classify: the flows of captures through a fine-tuned classifier. Each flow's tokens
 * are built by prep_each_flow(), exactly as `pktlm prep` builds a corpus (same cut, same
 * anonymisation), then go through cls_make_row() as in fine-tuning (label hidden, EOS
 * dropped, first K packets), in batches. */
#include "cli/cli.h"
#include "cli/opts.h"
#include "cli/live.h"
#include "corpus/prep.h"
#include "corpus/manifest.h"
#include "corpus/bpe.h"
#include "models/clshead.h"
#include "util/util.h"
#include <stdlib.h>
#include <string.h>

typedef struct {
    char file[512];
    uint64_t id;
    flow_key key;
    uint32_t pkts;
    tok_t *tok; size_t n;
} item;

typedef struct {
    model *m; cls_head *h; cls_info *info;
    int B, T, max_pkts, fmt;   /* fmt 0 text, 1 csv, 2 json */
    const tok_format *tf;      /* the classifier's token format */
    item *it; int nit;
    int *rows, *len;
    const char *file;
    uint64_t flows, dropped;
    double t_model;
} ctx;

static void flush(ctx *c) {
    if (!c->nit) return;
    for (int b = 0; b < c->B; b++) {
        item *x = &c->it[b < c->nit ? b : 0];
        c->len[b] = cls_make_row(c->rows + (size_t)b * c->T, x->tok, x->n, c->T, c->max_pkts, c->tf);
    }
    double t0 = now_sec();
    cls_predict_batch(c->m, c->h, c->rows, c->len, c->B, c->T);
    c->t_model += now_sec() - t0;
    const int K = c->h->K;
    for (int b = 0; b < c->nit; b++) {
        item *x = &c->it[b];
        const float *p = c->h->probs + (size_t)b * K;
        int top[3];
        cls_top(p, K, top, 3);
        char a[64], bb[64];
        flow_addr_str(x->key.ipver, x->key.addr[0], a);
        flow_addr_str(x->key.ipver, x->key.addr[1], bb);
        char **nm = c->info->names;
        if (c->fmt == 1) {
            /* names (files, labels) as CSV fields: a comma or a newline in one stays inside it */
            cli_csv_str(stdout, x->file);
            printf(",%llu,%d,%s,%u,%s,%u,%u,", (unsigned long long)x->id, x->key.proto, a, x->key.port[0], bb, x->key.port[1], x->pkts);
            classify_print_top3(1, nm, p, top);
        } else if (c->fmt == 2) {
            printf("{\"file\": "); cli_json_str(stdout, x->file);
            printf(", \"flow\": %llu, \"proto\": %d, \"a\": \"%s\", \"a_port\": %u, \"b\": \"%s\", \"b_port\": %u, \"packets\": %u, "
                   "\"label\": ", (unsigned long long)x->id, x->key.proto, a, x->key.port[0], bb, x->key.port[1], x->pkts);
            classify_print_top3(2, nm, p, top);
        } else {
            char ea[80], eb[80], t3[200] = "";
            snprintf(ea, sizeof ea, "%s:%u", a, x->key.port[0]);
            snprintf(eb, sizeof eb, "%s:%u", bb, x->key.port[1]);
            for (int r = 1; r < 3 && top[r] >= 0; r++) {
                size_t l = strlen(t3);
                snprintf(t3 + l, sizeof t3 - l, "%s%s %.2f", r > 1 ? ", " : "", nm[top[r]], p[top[r]]);
            }
            printf("%-24.24s %6llu %3d %-28s %-28s %3u  %-20s %.3f  %s\n", x->file, (unsigned long long)x->id, x->key.proto, ea, eb,
                   x->pkts, nm[top[0]], p[top[0]], t3);
        }
        free(x->tok);
    }
    c->nit = 0;
}

static void on_flow(void *vc, const flow *f, const tok_t *tok, size_t n) {
    ctx *c = vc;
    if (!tok) { c->dropped++; return; }
    item *x = &c->it[c->nit++];
    const char *base = strrchr(c->file, '/');
    snprintf(x->file, sizeof x->file, "%s", base ? base + 1 : c->file);
    x->id = f->id;
    x->key = f->key;
    x->pkts = 0;
    for (size_t i = 0; i < n; i++) x->pkts += tokfmt_is_pkt(c->tf, tok[i]);
    if (c->max_pkts > 0 && x->pkts > (uint32_t)c->max_pkts) x->pkts = (uint32_t)c->max_pkts;
    x->tok = malloc((n ? n : 1) * sizeof *x->tok);
    memcpy(x->tok, tok, n * sizeof *tok);
    x->n = n;
    c->flows++;
    if (c->nit == c->B) flush(c);
}

int cmd_classify(int argc, char **argv) {
    cli_prefer_passive_wait(argc, argv);
    const char *V = "classify", *mpath = NULL, *tokpath = NULL;
    int fmt = 0, B = 32, threads = 0, after = -1, quiet = 0, payload = -1, max_bytes = -1, anon = -1;
    char **inputs = NULL;
    int nin = 0;
    cli_live lo;
    cli_live_default(&lo);
    const cli_opt opts[] = {
        OPT_STR("--model", &mpath, "CLASSIFIER.ckpt", "a classifier of `pktlm finetune --task classify`", .req = 1),
        OPT_POS_LIST("INPUT", &inputs, &nin, 0, "captures: pcap/pcapng files or directories (recursed), '-' = stdin"),
        OPT_INT_IN("--after", &after, 1, 1000000, "K", "decide on the first K packets of each flow (default: what the classifier\n"
                   "was trained with, else the packets per flow its corpus kept)"),
        OPT_FLAG("--csv", &fmt, 1, "machine-readable rows on stdout: CSV"),
        OPT_FLAG("--json", &fmt, 2, "machine-readable rows on stdout: one JSON object per line"),
        OPT_INT_IN("--batch", &B, 1, 65536, "N", "flows per forward pass (1 = the latency of one flow alone)"),
        OPT_SECTION("Tokens are built with the training corpus's prep options, which the classifier records\n"
                    "(payload, max bytes, anonymisation, flow timeouts, filters). For classifiers written before\n"
                    "they were recorded, give them here (defaults: prep's); an option that contradicts a\n"
                    "recorded one is an error:"),
        OPT_INT_IN("--payload", &payload, 0, 65535, "N", "payload bytes kept after the transport header", .nodef = 1),
        OPT_INT_IN("--max-bytes", &max_bytes, 20, 65535, "B", "at most B bytes of a packet, from the IP header", .nodef = 1),
        OPT_FLAG("--no-anon", &anon, 0, "addresses and identifiers as they are"),
        OPT_STR("--tokenizer", &tokpath, "FILE", "a --tokens bpe classifier: the tokenizer.json its corpus was made with\n"
                "(checked by hash; classifiers written since they embed it need none)"),
        OPT_SECTION(""),
        OPT_INT_IN("--threads", &threads, 0, 1024, "N", "default: all cores / OMP_NUM_THREADS", .nodef = 1),
        OPT_QUIET(&quiet, "no notes"),
        OPT_LIVE(lo),
        OPT_LIVE_CLASSIFY(lo),
        OPT_END
    };
    const cli_cmd cmd = {
        .verb = V, .opts = opts,
        .usage = "--model CLASSIFIER.ckpt INPUT... [--json|--csv] [--after K]\n"
                 "--model CLASSIFIER.ckpt --live IFACE [--filter BPF] [--json|--csv] [--after K]",
        .about = "Reads pcap/pcapng captures (files or directories), builds each flow's tokens as `pktlm prep`\n"
                 "does, and prints one row per flow: file, flow id, protocol, endpoints (original addresses),\n"
                 "packets used, predicted label, its probability and the top 3. Flows/s and the model's time\n"
                 "per flow are reported on stderr.\n"
                 "With --live IFACE instead of captures: one decision per flow as soon as its K-th packet\n"
                 "arrives (or when it ends), streamed and flushed line by line, each with the capture time of\n"
                 "the deciding packet and the latency from it; the summary (drops, latency) on stderr\n"
                 "(docs/live.md).",
    };
    int parsed = cli_parse(&cmd, argc, argv);
    if (parsed) return parsed == 1 ? 0 : 2;
    if (lo.cap.iface && nin) return cli_error(V, "--live %s reads an interface: give no capture files with it", lo.cap.iface) + 1;
    if (!lo.cap.iface && !nin) return cli_error(V, "missing INPUT: a capture, or --live IFACE (see pktlm classify --help)") + 1;
    char **files = NULL;
    int nfiles = 0;
    int walk_skipped = cli_expand_inputs(V, inputs, nin, &files, &nfiles);
    if (walk_skipped < 0) return 1;
    nn_set_threads(threads);
    char err[1024];
    model m = { 0 };
    cls_head h;
    cls_info info;
    model_vocab mv;
    bpe *bp = NULL;
    tok_format tfb;
    if (cls_load(mpath, &m, &mv, &h, &info, err, sizeof err) != 0) { cli_free_list(files, nfiles); return cli_error(V, "%s", err); }
    int rc = walk_skipped ? 1 : 0;
    ctx c = { 0 };
    /* tokens as the training corpus's prep built them: the options the classifier records
     * (docs/classify.md); an explicit option may only repeat them. Older classifiers do not
     * record them: prep's defaults then, or what the options say. */
    prep_cfg pc = info.prep;
    pc.hash_inputs = 0;
    pc.secret = NULL;
    if (info.prep_known) {
        char rec[512];
        prep_cfg_describe(&pc, rec, sizeof rec);
        char bad[64] = "";
        if (payload >= 0 && payload != pc.payload) snprintf(bad, sizeof bad, "--payload %d", payload);
        else if (max_bytes >= 0 && max_bytes != pc.max_bytes) snprintf(bad, sizeof bad, "--max-bytes %d", max_bytes);
        else if (anon == 0 && pc.anonymise) snprintf(bad, sizeof bad, "--no-anon");
        if (bad[0]) {
            cli_error(V, "%s contradicts %s: its training corpus was made with %s%s%s (--payload %d --max-bytes %d%s; recorded "
                         "in the classifier and used by default): leave the option out", bad, mpath, rec[0] ? "`pktlm prep " : "prep's defaults",
                      rec, rec[0] ? "`" : "", pc.payload, pc.max_bytes, pc.anonymise ? ", anonymised" : ", not anonymised");
            rc = 2; goto out;
        }
        if (pc.unit != PREP_UNIT_FLOW) {
            cli_error(V, "%s was trained on a --unit %s corpus; classify builds one sequence per flow (--unit flow)", mpath,
                      pc.unit == PREP_UNIT_PACKET ? "packet" : "capture");
            rc = 2; goto out;
        }
        if (info.prep_secret) {
            pc.secret = getenv("PKTLM_ANON_SECRET");
            if (!pc.secret && !quiet)
                fprintf(stderr, "pktlm classify: note: the training corpus was anonymised with a secret; without "
                                "PKTLM_ANON_SECRET the (keyed, random) address and identifier maps differ from prep's\n");
        }
    } else {
        if (payload >= 0) pc.payload = payload;
        if (max_bytes >= 0) pc.max_bytes = max_bytes;
        if (anon >= 0) pc.anonymise = anon;
        if (!quiet)
            fprintf(stderr, "pktlm classify: note: %s does not record its corpus's prep options (written by an older pktlm): "
                            "tokens are built with --payload %d --max-bytes %d%s, which must match the training corpus's prep\n",
                    mpath, pc.payload, pc.max_bytes, pc.anonymise ? "" : " --no-anon");
    }
    int K = after > 0 ? after : info.max_pkts > 0 ? info.max_pkts : pc.max_pkts;
    pc.max_pkts = K;
    c = (ctx){ .m = &m, .h = &h, .info = &info, .B = B, .T = info.seq_len < m.cfg.ctx ? info.seq_len : m.cfg.ctx, .max_pkts = K, .fmt = fmt,
               .tf = tokfmt_get(pc.tokens) };
    if (!c.tf) { cli_error(V, "%s: unknown token format %d (a newer pktlm?)", mpath, pc.tokens); rc = 1; goto out; }
    if (pc.tokens == TOKFMT_BPE) {
        /* the captures' text through the tokenizer the classifier embeds (its hash is the
         * backbone's: cls_load checked), or, for a classifier written before it did, --tokenizer */
        if (tokpath) bp = bpe_load(tokpath, err, sizeof err);
        else if (info.tokenizer) bp = bpe_load_mem(mpath, info.tokenizer, info.tokenizer_len, err, sizeof err);
        else snprintf(err, sizeof err, "%s was fine-tuned on a --tokens bpe corpus and does not carry its tokenizer.json (written by "
                      "an older pktlm): give --tokenizer FILE, the tokenizer.json of its corpus", mpath);
        if (bp && bpe_hash(bp) != mv.tok_hash) {
            snprintf(err, sizeof err, "%s is another tokenizer than the one %s was trained with (hash %016llx, the classifier's %016llx)",
                     tokpath, mpath, (unsigned long long)bpe_hash(bp), (unsigned long long)mv.tok_hash);
            bpe_free(bp); bp = NULL;
        }
        if (!bp) { cli_error(V, "%s", err); rc = 1; goto out; }
        tokfmt_bpe(&tfb, bpe_n_ids(bp), bpe_added_id(bp, "<|endoftext|>"), bpe_text_id(bp, "\n"));
        if (tfb.eos != mv.eos_id || tfb.pkt < 0 || tfb.label_base != mv.label_base) {
            cli_error(V, "%s: its tokenizer's ids (<|endoftext|> %d, label base %d) are not the backbone's (%d, %d)", mpath, tfb.eos,
                      tfb.label_base, mv.eos_id, mv.label_base);
            rc = 1; goto out;
        }
        pc.bpe = bp;
        c.tf = &tfb;
    }
    if (lo.cap.iface) { rc = classify_live(&lo, mpath, &pc, c.tf, K, fmt, B, threads, quiet); goto out; }
    if (model_alloc_acts(&m, B, c.T) != 0 || cls_head_alloc_batch(&h, B) != 0) { cli_error(V, "out of memory"); rc = 1; goto out; }
    c.it = calloc((size_t)B, sizeof *c.it);
    c.rows = malloc((size_t)B * c.T * sizeof(int));
    c.len = malloc((size_t)B * sizeof(int));
    if (fmt == 1) printf("file,flow,proto,a,a_port,b,b_port,packets,label,prob,top1,p1,top2,p2,top3,p3\n");
    else if (fmt == 0) printf("%-24s %6s %3s %-28s %-28s %3s  %-20s %5s  %s\n", "file", "flow", "pr", "a", "b", "pk", "label", "prob", "next");
    double t0 = now_sec();
    uint64_t bytes = 0;
    for (int i = 0; i < nfiles; i++) {
        c.file = files[i];
        uint64_t nb = 0;
        int r = prep_each_flow(&pc, files[i], 0, on_flow, &c, &nb, err, sizeof err);
        flush(&c);
        bytes += nb;
        /* as stats and prep: a capture read only in part (its flows up to the error are
         * classified) or not at all makes the exit status 1 */
        if (r < 0) { cli_error(V, "%s", err); rc = 1; }
        else if (r > 0) { cli_error(V, "warning: %s (flows before it classified)", err); rc = 1; }
    }
    double el = now_sec() - t0;
    if (!quiet)
        fprintf(stderr, "pktlm classify: %llu flows (%llu dropped by prep's filters) from %d capture(s), %.1f MB in %.2f s: "
                        "%.0f flows/s end to end; model %.3f ms per flow (batch %d, %.0f flows/s), first %d packets\n",
                (unsigned long long)c.flows, (unsigned long long)c.dropped, nfiles, bytes / 1e6, el,
                c.flows / (el > 0 ? el : 1e-9), c.flows ? c.t_model * 1e3 / (double)c.flows : 0, B,
                c.flows / (c.t_model > 0 ? c.t_model : 1e-9), K);
out:
    free(c.it); free(c.rows); free(c.len);
    cli_free_list(files, nfiles);
    cls_info_free(&info); cls_head_free(&h); model_free(&m);
    bpe_free(bp);
    return rc;
}
