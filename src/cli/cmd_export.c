/* pktlm export: a corpus in the files of NetGPT / ET-BERT (UER-py), NetSSM, or as pcap.
 * The formats and which seed script reads which file: docs/interop.md. */
#include "cli/cli.h"
#include "cli/opts.h"
#include "corpus/vocab.h"
#include "corpus/export.h"
#include "corpus/manifest.h"
#include "corpus/shard.h"
#include "util/util.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/stat.h>

static const char *split_nm[3] = { "train", "val", "test" };

static int load_split(shard *s, const char *dir, int k, int nl) {
    char path[4200], err[512];
    snprintf(path, sizeof path, "%s/%s.tok", dir, split_nm[k]);
    if (shard_load(s, path, err, sizeof err)) return cli_error("export", "%s", err);
    /* --tokens bpe: its sequences are a tokenizer's text; the tokenizer reads them back */
    if (corpus_tokenizer(dir, s, err, sizeof err)) { shard_free(s); return cli_error("export", "%s", err); }
    if (s->n_labels > nl) {
        shard_free(s);
        return cli_error("export", "%s/vocab.json lists %d labels, %s has %d: were they written by the same `pktlm prep`?", dir, nl, path, s->n_labels);
    }
    return 0;
}

/* A split with nothing in it: no file, and none left from an earlier export. */
static void no_file(const char *path, const char *what, const char *why) {
    int old = unlink(path) == 0;
    printf("%-5s %8d -> %s not written%s (%s)\n", what, 0, path, old ? ", the old one removed" : "", why);
}

typedef struct { FILE *f; atomic_file a; const char *path; } out_file;
static int out_open(out_file *o, const char *path) {
    char err[4400];
    o->path = path;
    o->f = atomic_open(&o->a, path, err, sizeof err);
    return o->f ? 0 : cli_error("export", "%s", err);
}
static int out_close(out_file *o, int failed) {
    char err[4400];
    if (failed || ferror(o->f)) { atomic_abort(&o->a); return cli_error("export", "%s: cannot write: %s", o->path, strerror(errno)); }
    return atomic_commit(&o->a, err, sizeof err) ? cli_error("export", "%s", err) : 0;
}

static int export_netgpt(const char *dir, const char *out, int which, int maxp, int ether, char **labels, int nl) {
    shard tr;
    if (load_split(&tr, dir, 0, nl)) return 1;
    int k_labels = 0, rc = 0;
    int *map = netgpt_label_map(&tr, nl, &k_labels);
    if (!map) { shard_free(&tr); return cli_error("export", "out of memory"); }
    netgpt_opts o = { maxp, ether, map };
    netgpt_counts c = { 0 };
    char path[4200];
    for (int k = 0; k < 3 && !rc; k++) {
        if (which >= 0 && k != which) continue;
        shard s;
        if (k == 0) s = tr;
        else if (load_split(&s, dir, k, nl)) { rc = 1; break; }
        snprintf(path, sizeof path, "%s/%s_dataset.tsv", out, k == 1 ? "valid" : split_nm[k]);
        uint64_t rows0 = c.rows, pk0 = c.packets, unl0 = c.unlabelled, unm0 = c.unmapped;
        if (!netgpt_row_count(&s, map)) no_file(path, split_nm[k], "no labelled sequence");
        else {
            out_file f;
            if (out_open(&f, path) || out_close(&f, netgpt_write_rows(f.f, &s, &o, &c))) rc = 1;
            else {
                printf("%-5s %8llu rows, %9llu packets -> %s", split_nm[k], (unsigned long long)(c.rows - rows0),
                       (unsigned long long)(c.packets - pk0), path);
                if (c.unlabelled > unl0) printf(" (%llu unlabelled left out)", (unsigned long long)(c.unlabelled - unl0));
                if (c.unmapped > unm0) printf(" (%llu of labels train lacks left out)", (unsigned long long)(c.unmapped - unm0));
                printf("\n");
            }
        }
        if (!rc && k == 0) {
            snprintf(path, sizeof path, "%s/traffic.txt", out);
            uint64_t np = 0;
            if (!s.n_seqs) no_file(path, "pretrain", "no sequence in train");
            else {
                out_file f;
                if (out_open(&f, path) || out_close(&f, netgpt_write_traffic(f.f, &s, &o, &np))) rc = 1;
                else printf("%-5s %8llu packets of %llu sequences -> %s (pretraining)\n", "train", (unsigned long long)np,
                            (unsigned long long)s.n_seqs, path);
            }
        }
        if (k) shard_free(&s);
    }
    shard_free(&tr);
    if (!rc) {
        out_file f;
        snprintf(path, sizeof path, "%s/vocab.txt", out);
        if (out_open(&f, path) || out_close(&f, netgpt_write_vocab(f.f))) rc = 1;
    }
    if (!rc) {
        out_file f;
        snprintf(path, sizeof path, "%s/labels.txt", out);
        if (out_open(&f, path)) rc = 1;
        else {
            for (int i = 0; i < nl; i++)
                if (map[i] >= 0) {   /* one line per label: names escaped (a newline in a folder name) */
                    char e[1024];
                    label_escape(e, sizeof e, labels[i]);
                    fprintf(f.f, "%d\t%s\n", map[i], e);
                }
            if (out_close(&f, 0)) rc = 1;
        }
        if (!rc) printf("labels_num %d (UER/NetGPT --labels_num) -> %s\n", k_labels, path);
        if (!rc && k_labels < nl)
            printf("note: %d of %d labels have no train sequence and are left out of the rows\n", nl - k_labels, nl);
    }
    uint64_t over;
    uint32_t q[4];
    netgpt_length_stats(c.row_tokens, c.n_row_tokens, NETGPT_SEQ_LEN, &over, q);
    if (!rc && over)
        fprintf(stderr, "pktlm export: warning: %llu of %zu rows (%.1f%%) are longer than %d tokens, UER's default "
                        "--seq_length, which cuts them there; tokens a row ([CLS] + words): p50 %u, p90 %u, p99 %u, max %u. "
                        "Give UER --seq_length %u (within the model's positions), or export fewer --packets.\n",
                (unsigned long long)over, c.n_row_tokens, 100.0 * (double)over / (double)c.n_row_tokens, NETGPT_SEQ_LEN,
                q[0], q[1], q[2], q[3], (q[2] + 127) / 128 * 128);
    free(c.row_tokens);
    free(map);
    return rc;
}

static int export_netssm(const char *dir, const char *out, int which, int maxp, char **labels, int nl) {
    char **tok = netssm_label_tokens(labels, nl);
    if (!tok) return cli_error("export", "out of memory");
    char err[4400], path[4200];
    int n_in = 0, rc = 0;
    char **inputs = manifest_input_paths(dir, &n_in, err, sizeof err);
    if (!inputs) fprintf(stderr, "pktlm export: warning: %s; captures are named capture-N\n", err);
    netssm_opts o = { maxp, tok, inputs, n_in };
    netssm_counts tot = { 0 }, per[3] = { { 0 } };
    for (int k = 0; k < 3 && !rc; k++) {
        if (which >= 0 && k != which) continue;
        shard s;
        if (load_split(&s, dir, k, nl)) { rc = 1; break; }
        snprintf(path, sizeof path, "%s/%s.jsonl", out, split_nm[k]);
        out_file f;
        netssm_counts *c = &per[k];
        if (out_open(&f, path)) rc = 1;
        else if (netssm_write(f.f, &s, &o, c)) { out_close(&f, 1); rc = 1; }
        else if (!c->lines) {
            atomic_abort(&f.a);
            no_file(path, split_nm[k], s.n_seqs ? "no capture with 2 TCP/UDP packets" : "no sequence in the split");
        }
        else if (out_close(&f, 0)) rc = 1;
        else printf("%-5s %8llu lines, %9llu packets -> %s\n", split_nm[k], (unsigned long long)c->lines,
                    (unsigned long long)c->packets, path);
        tot.lines += c->lines; tot.packets += c->packets; tot.not_tcp_udp += c->not_tcp_udp; tot.short_lines += c->short_lines;
        shard_free(&s);
    }
    if (!rc && (tot.not_tcp_udp || tot.short_lines))
        printf("left out as NetSSM's preprocessor does: %llu packets not TCP/UDP (or later fragments), "
               "%llu captures with fewer than 2 TCP/UDP packets\n", (unsigned long long)tot.not_tcp_udp,
               (unsigned long long)tot.short_lines);
    snprintf(path, sizeof path, "%s/tokenizer", out);
    if (!rc && netssm_write_tokenizer(path, tok, nl + 1, err, sizeof err)) rc = cli_error("export", "%s", err);
    if (!rc) printf("tokenizer   %d tokens (NetSSM train.py --tokenizer %s)\n", 260 + nl + 1, path);
    if (!rc) {
        /* the label tokens mapped back to the corpus's labels, and what each split got */
        out_file f;
        snprintf(path, sizeof path, "%s/manifest.json", out);
        if (out_open(&f, path)) rc = 1;
        else {
            fputs("{\"format\": \"pktlm-netssm-export\", \"version\": 1, \"corpus\": \"", f.f);
            json_escape(f.f, dir);
            fprintf(f.f, "\", \"packet_bytes\": %d, \"udp_payload_bytes\": %d, \"max_packets\": %d,\n"
                         "  \"ethernet\": \"synthetic: 02:00:00:00:00:01 client, 02:00:00:00:00:02 server\", \"tokenizer\": \"tokenizer\",\n"
                         "  \"labels\": [\n", NETSSM_PKT_BYTES, NETSSM_UDP_PAYLOAD, maxp);
            for (int i = 0; i <= nl; i++) {
                fprintf(f.f, "    {\"token\": \"%s\", \"id\": %d, \"label\": ", tok[i], i < nl ? i : -1);
                if (i < nl) { fputc('"', f.f); json_escape(f.f, labels[i]); fputc('"', f.f); }
                else fputs("null", f.f);
                fprintf(f.f, "}%s\n", i < nl ? "," : "");
            }
            fputs("  ],\n  \"splits\": {", f.f);
            int first = 1;
            for (int k = 0; k < 3; k++) {
                if (which >= 0 && k != which) continue;
                fprintf(f.f, "%s\n    \"%s\": {\"file\": %s%s%s, \"lines\": %llu, \"packets\": %llu, \"packets_not_tcp_udp\": %llu, "
                             "\"captures_under_2_packets\": %llu}", first ? "" : ",", split_nm[k], per[k].lines ? "\"" : "null",
                        per[k].lines ? split_nm[k] : "", per[k].lines ? ".jsonl\"" : "", (unsigned long long)per[k].lines,
                        (unsigned long long)per[k].packets, (unsigned long long)per[k].not_tcp_udp, (unsigned long long)per[k].short_lines);
                first = 0;
            }
            fputs("\n  }\n}\n", f.f);
            if (out_close(&f, 0)) rc = 1;
        }
    }
    for (int i = 0; i <= nl; i++) free(tok[i]);
    free(tok);
    for (int i = 0; i < n_in; i++) free(inputs[i]);
    free(inputs);
    return rc;
}

static int export_pcaps(const char *dir, const char *out, int which, int nl) {
    for (int k = 0; k < 3; k++) {
        if (which >= 0 && k != which) continue;
        char path[4200], err[512];
        shard s;
        if (load_split(&s, dir, k, nl)) return 1;
        export_counts ec = { 0 };
        snprintf(path, sizeof path, "%s/%s.pcap", out, split_nm[k]);
        int bad = export_pcap(path, &s, 1600000000000000000LL, &ec, err, sizeof err);
        shard_free(&s);
        if (bad) return cli_error("export", "%s", err);
        printf("%-5s %8llu sequences, %9llu packets -> %s\n", split_nm[k], (unsigned long long)ec.written,
               (unsigned long long)ec.packets, path);
    }
    return 0;
}

#include "corpus/tcpfields.h"

/* --format tcpflowgen: one Arrow file per input capture (not a text or pcap export of export.h). */
enum { EXPORT_ARROW = 100 };
static int export_tcpflowgen(const char *dir, const char *out, int which) {
    static const char *nm[3] = { "train", "val", "test" };
    shard sh[3];
    int nsh = 0, rc = 0;
    char err[4400], path[4200];
    uint32_t nfile = 0;
    for (int k = 0; k < 3; k++) {
        if (which >= 0 && k != which) continue;
        snprintf(path, sizeof path, "%s/%s.tok", dir, nm[k]);
        if (shard_load(&sh[nsh], path, err, sizeof err)) { rc = cli_error("export", "%s", err); goto done; }
        if (sh[nsh].format != TOKFMT_FIELDS) {
            nsh++;
            rc = cli_error("export", "%s holds '%s' tokens: tcpflowgen's files are field tokens (pktlm prep --tokens fields)", path,
                           tokfmt_get(sh[nsh - 1].format)->name);
            goto done;
        }
        for (uint64_t i = 0; i < sh[nsh].n_seqs; i++) if (sh[nsh].seqs[i].file + 1 > nfile) nfile = sh[nsh].seqs[i].file + 1;
        nsh++;
    }
    int nin;
    char **inputs = manifest_input_paths(dir, &nin, err, sizeof err);
    uint64_t tseq = 0, ttok = 0, nout = 0;
    for (uint32_t f = 0; f < nfile && !rc; f++) {
        /* CAPTURE.arrow after the input's name; its index first where two inputs share a name */
        const char *base = (int)f < nin ? strrchr(inputs[f], '/') : NULL;
        base = (int)f < nin ? (base ? base + 1 : inputs[f]) : NULL;
        int dup = 0;
        for (int g = 0; base && g < nin; g++) {
            const char *b2 = strrchr(inputs[g], '/');
            if (g != (int)f && !strcmp(b2 ? b2 + 1 : inputs[g], base)) dup = 1;
        }
        char name[512];
        if (!base) snprintf(name, sizeof name, "capture-%u", f);
        else if (dup) snprintf(name, sizeof name, "%u-%s", f, base);
        else snprintf(name, sizeof name, "%s", base);
        char *dot = strrchr(name, '.');
        if (dot && dot != name) *dot = 0;
        uint64_t ns = 0, nt = 0;
        int any = 0;
        for (int k = 0; k < nsh && !any; k++) for (uint64_t i = 0; i < sh[k].n_seqs && !any; i++) any = sh[k].seqs[i].file == f;
        if (!any) continue;
        snprintf(path, sizeof path, "%s/%s.arrow", out, name);
        if (tcpf_export_arrow(sh, nsh, f, path, &ns, &nt, err, sizeof err)) rc = cli_error("export", "%s", err);
        tseq += ns; ttok += nt; nout++;
    }
    if (!rc) printf("tcpflowgen %llu sequences, %llu tokens -> %llu files in %s\n", (unsigned long long)tseq, (unsigned long long)ttok,
                    (unsigned long long)nout, out);
    for (int i = 0; i < nin; i++) free(inputs[i]);
    free(inputs);
done:
    for (int k = 0; k < nsh; k++) shard_free(&sh[k]);
    return rc;
}

int cmd_export(int argc, char **argv) {
    const char *out = NULL, *dir = NULL;
    long maxp = -1;
    int fmt = -1, ether = 0, which = 3;   /* which: train, val, test or all */
    const cli_opt opts[] = {
        OPT_POS("CORPUS_DIR", &dir, "a corpus of `pktlm prep`"),
        OPT_CHOICE("--format", &fmt, "netgpt|netssm|pcap|tcpflowgen", "F", "the files written (above)", .req = 1),
        OPT_OUT(&out, "OUT_DIR", "the folder written into", .req = 1),
        OPT_CHOICE("--split", &which, "train|val|test|all", "S", "the split(s) written"),
        OPT_LONG_IN("--packets", &maxp, 0, INT_MAX, "K", "at most K packets a row (netgpt, default 5 as NetGPT) or a line\n"
                    "(netssm, default 0 = all)"),
        OPT_FLAG("--ether", &ether, 1, "netgpt: each packet from a synthetic Ethernet header, as NetGPT's\n"
                 "flow text starts (corpora hold packets from the IP header on)"),
        OPT_END
    };
    const cli_cmd cmd = {
        .verb = "export", .opts = opts,
        .usage = "CORPUS_DIR --format netgpt|netssm|pcap|tcpflowgen -o OUT_DIR [--split S] [--packets K] [--ether]",
        .about = "Write the sequences of a corpus (pktlm prep) in the files the seed systems' own code\n"
                 "reads (docs/interop.md):\n"
                 "  netgpt  for NetGPT / ET-BERT (UER-py): OUT_DIR/{train,valid,test}_dataset.tsv\n"
                 "          (label<TAB>text_a, a flow's packets as 4-hex-digit byte pairs, at most 256 a\n"
                 "          packet; labels numbered 0..k-1 over the labels train has; unlabelled\n"
                 "          sequences left out), traffic.txt (pretraining corpus of every train sequence,\n"
                 "          labelled or not, laid out as NetGPT's pre-process/main.py writes it),\n"
                 "          vocab.txt (65,541 words), labels.txt (index<TAB>label)\n"
                 "  netssm  for NetSSM: OUT_DIR/{train,val,test}.jsonl, one line per capture (and label):\n"
                 "          {\"Data\": \"<|label|> b0 ... b127 <|pkt|> ...\", \"Hash\", \"Filename\", \"OrigLen\"},\n"
                 "          each TCP/UDP packet from a synthetic Ethernet header, headers only (+12 payload\n"
                 "          bytes of UDP), padded or cut to 128 bytes; OUT_DIR/tokenizer/ (load it with\n"
                 "          NetSSM's --tokenizer); manifest.json maps the label tokens back to labels\n"
                 "  pcap    OUT_DIR/{train,val,test}.pcap: the decoded packets (raw IP)\n"
                 "  tcpflowgen  a --tokens fields corpus as tcpflowgen's files: OUT_DIR/CAPTURE.arrow per\n"
                 "          input capture, one column token_sequences: list<int32>, pktlm's own ids (label,\n"
                 "          time, IPv6) left out (docs/tokens.md)",
        .more = "A split with nothing to write gets no file (an old one is removed): UER's evaluation\n"
                "divides by the rows of its files.",
    };
    int parsed = cli_parse(&cmd, argc, argv);
    if (parsed) return parsed == 1 ? 0 : 2;
    static const int fmt_id[] = { EXPORT_NETGPT, EXPORT_NETSSM, EXPORT_PCAP, EXPORT_ARROW };
    fmt = fmt_id[fmt];
    if (ether && fmt != EXPORT_NETGPT) { cli_error("export", "--ether is for --format netgpt (netssm packets always start at an Ethernet header)"); return 2; }
    if (which == 3) which = -1;
    if (mkdir(out, 0755) != 0 && errno != EEXIST) return cli_error("export", "%s: %s", out, strerror(errno));
    if (fmt == EXPORT_ARROW) return export_tcpflowgen(dir, out, which) ? 1 : 0;
    int nl = 0;
    char **labels = NULL;   /* from the corpus's vocab.json (the one source of label names), checked against train.tok */
    {
        char path[4200], err[4400];
        shard s;
        snprintf(path, sizeof path, "%s/train.tok", dir);
        if (shard_load(&s, path, err, sizeof err)) return cli_error("export", "%s", err);
        labels = corpus_labels(dir, &s, err, sizeof err);
        nl = s.n_labels;
        shard_free(&s);
        if (!labels) return cli_error("export", "%s", err);
    }
    int rc = fmt == EXPORT_NETGPT ? export_netgpt(dir, out, which, maxp < 0 ? 5 : (int)maxp, ether, labels, nl)
           : fmt == EXPORT_NETSSM ? export_netssm(dir, out, which, maxp < 0 ? 0 : (int)maxp, labels, nl)
           : export_pcaps(dir, out, which, nl);
    corpus_labels_free(labels, nl);
    return rc;
}
