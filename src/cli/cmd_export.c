/* pktlm export: a corpus split in the formats of NetGPT / ET-BERT, NetSSM, or as pcap. */
#include "cli/cli.h"
#include "corpus/vocab.h"
#include "corpus/export.h"
#include "corpus/shard.h"
#include "util/util.h"
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/stat.h>

static const char *USAGE =
    "usage: pktlm export CORPUS_DIR --format netgpt|netssm|pcap|tcpflowgen -o OUT_DIR [--split S] [--packets K]\n"
    "\n"
    "Write the sequences of a corpus (pktlm prep) for other tools (docs/corpus.md):\n"
    "  netgpt  OUT_DIR/{train,valid,test}_dataset.tsv (label<TAB>text_a, 4-hex-digit\n"
    "          byte bigrams as NetGPT / ET-BERT take them) + vocab.txt (65,541 entries)\n"
    "          + labels.txt (label index -> name); unlabelled sequences are left out\n"
    "  netssm  OUT_DIR/{train,val,test}.jsonl, {\"text\": \"<|label|> b0 b1 ... <|pkt|> ...\"}\n"
    "  pcap    OUT_DIR/{train,val,test}.pcap: the decoded packets (raw IP)\n"
    "  tcpflowgen  a --tokens fields corpus as tcpflowgen's files: OUT_DIR/CAPTURE.arrow per\n"
    "          input capture, one column token_sequences: list<int32>, pktlm's own ids (label,\n"
    "          time, IPv6) left out (docs/tokens.md)\n"
    "  --split train|val|test|all   (default all)\n"
    "  --packets K                  at most K packets per sequence (text formats; 0 = all)\n";

static int write_text(const char *path, int fmt, const shard *s, char **labels, int maxp, export_counts *c) {
    atomic_file a;
    char err[4400];
    FILE *f = atomic_open(&a, path, err, sizeof err);
    if (!f) return cli_error("export", "%s", err), -1;
    if (export_text(f, fmt, s, labels, maxp, c) != 0) { cli_error("export", "%s: cannot write: %m", path); atomic_abort(&a); return -1; }
    if (atomic_commit(&a, err, sizeof err) != 0) return cli_error("export", "%s", err), -1;
    return 0;
}

#include "corpus/tcpfields.h"

/* The input paths of a corpus, in manifest order ("inputs": [{"path": "..."}, ...]); NULL
 * when the manifest cannot be read (files are then named by their index). */
static char **manifest_inputs(const char *dir, int *n) {
    char path[4200];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    FILE *f = fopen(path, "rb");
    *n = 0;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long L = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *t = L > 0 ? calloc(1, (size_t)L + 1) : NULL;
    if (!t || fread(t, 1, (size_t)L, f) != (size_t)L) { fclose(f); free(t); return NULL; }
    fclose(f);
    char **v = NULL;
    const char *p = strstr(t, "\"inputs\": [");
    while (p && (p = strstr(p, "{\"path\": \""))) {
        p += 10;
        char *name = malloc(strlen(p) + 1), *o = name;
        for (; *p && *p != '"'; p++) *o++ = *p == '\\' && p[1] ? *++p : *p;   /* \" and \\ */
        *o = 0;
        char **q = realloc(v, (size_t)(*n + 1) * sizeof *v);
        if (!q) { free(name); break; }
        v = q;
        v[(*n)++] = name;
    }
    free(t);
    return v;
}

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
    char **inputs = manifest_inputs(dir, &nin);
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
    static const struct option opts[] = {
        { "format", required_argument, 0, 'f' }, { "output", required_argument, 0, 'o' },
        { "split", required_argument, 0, 's' }, { "packets", required_argument, 0, 'k' },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    const char *fmt_s = NULL, *out = NULL, *split = "all";
    long maxp = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hf:o:s:k:", opts, NULL)) != -1) {
        switch (c) {
        case 'f': fmt_s = optarg; break;
        case 'o': out = optarg; break;
        case 's': split = optarg; break;
        case 'k': if (cli_long_in("export", "--packets", optarg, 0, INT_MAX, &maxp)) return 2; break;
        case 'h': fputs(USAGE, stdout); return 0;
        default: fputs(USAGE, stderr); return 2;
        }
    }
    if (optind != argc - 1 || !fmt_s || !out) { fputs(USAGE, stderr); return 2; }
    int fmt = !strcmp(fmt_s, "netgpt") ? EXPORT_NETGPT : !strcmp(fmt_s, "netssm") ? EXPORT_NETSSM : !strcmp(fmt_s, "pcap") ? EXPORT_PCAP
            : !strcmp(fmt_s, "tcpflowgen") ? EXPORT_ARROW : -1;
    if (fmt < 0) { cli_error("export", "--format is netgpt, netssm, pcap or tcpflowgen, got '%s'", fmt_s); return 2; }
    static const char *nm[3] = { "train", "val", "test" };
    int which = -1;
    for (int k = 0; k < 3; k++) if (!strcmp(split, nm[k])) which = k;
    if (which < 0 && strcmp(split, "all")) { cli_error("export", "--split is train, val, test or all"); return 2; }
    const char *dir = argv[optind];
    if (mkdir(out, 0755) != 0 && errno != EEXIST) return cli_error("export", "%s: %s", out, strerror(errno));
    if (fmt == EXPORT_ARROW) return export_tcpflowgen(dir, out, which) ? 1 : 0;
    int nl = 0;
    char **labels = NULL;   /* from the corpus's vocab.json, checked against its first shard */
    int rc = 0;
    export_counts tot = { 0 };
    for (int k = 0; k < 3 && !rc; k++) {
        if (which >= 0 && k != which) continue;
        char path[4200], err[512];
        shard s;
        snprintf(path, sizeof path, "%s/%s.tok", dir, nm[k]);
        if (shard_load(&s, path, err, sizeof err)) { rc = cli_error("export", "%s", err); break; }
        if (!labels) {
            if (!(labels = corpus_labels(dir, &s, err, sizeof err))) { shard_free(&s); rc = cli_error("export", "%s", err); break; }
            nl = s.n_labels;
        } else if (s.n_labels != nl) {
            shard_free(&s);
            rc = cli_error("export", "%s has %d labels, the corpus's vocab.json %d: were they written by the same `pktlm prep`?", path,
                           s.n_labels, nl);
            break;
        }
        export_counts ec = { 0 };
        if (fmt == EXPORT_PCAP) {
            snprintf(path, sizeof path, "%s/%s.pcap", out, nm[k]);
            if (export_pcap(path, &s, 1600000000000000000LL, &ec, err, sizeof err)) rc = cli_error("export", "%s", err);
        } else {
            snprintf(path, sizeof path, fmt == EXPORT_NETGPT ? "%s/%s_dataset.tsv" : "%s/%s.jsonl", out,
                     fmt == EXPORT_NETGPT && k == 1 ? "valid" : nm[k]);
            if (write_text(path, fmt, &s, labels, (int)maxp, &ec)) rc = 1;
        }
        printf("%-5s %8llu sequences, %9llu packets -> %s", nm[k], (unsigned long long)ec.written, (unsigned long long)ec.packets, path);
        if (ec.skipped_unlabelled) printf(" (%llu unlabelled left out)", (unsigned long long)ec.skipped_unlabelled);
        printf("\n");
        tot.written += ec.written;
        shard_free(&s);
    }
    if (!rc && fmt == EXPORT_NETGPT) {
        char path[4200], err[4400];
        atomic_file a;
        snprintf(path, sizeof path, "%s/vocab.txt", out);
        FILE *f = atomic_open(&a, path, err, sizeof err);
        if (f && export_netgpt_vocab(f)) { snprintf(err, sizeof err, "%s: cannot write: %m", path); atomic_abort(&a); f = NULL; }
        if (!f || atomic_commit(&a, err, sizeof err)) rc = cli_error("export", "%s", err);
        snprintf(path, sizeof path, "%s/labels.txt", out);
        f = atomic_open(&a, path, err, sizeof err);
        for (int i = 0; f && i < nl; i++) {   /* one line per label: names escaped (a newline in a folder name) */
            char e[1024];
            label_escape(e, sizeof e, labels[i]);
            fprintf(f, "%d\t%s\n", i, e);
        }
        if (!f || atomic_commit(&a, err, sizeof err)) rc = cli_error("export", "%s", err);
    }
    corpus_labels_free(labels, nl);
    return rc;
}
