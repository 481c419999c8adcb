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
    "usage: pktlm export CORPUS_DIR --format netgpt|netssm|pcap -o OUT_DIR [--split S] [--packets K]\n"
    "\n"
    "Write the sequences of a corpus (pktlm prep) for other tools (docs/corpus.md):\n"
    "  netgpt  OUT_DIR/{train,valid,test}_dataset.tsv (label<TAB>text_a, 4-hex-digit\n"
    "          byte bigrams as NetGPT / ET-BERT take them) + vocab.txt (65,541 entries)\n"
    "          + labels.txt (label index -> name); unlabelled sequences are left out\n"
    "  netssm  OUT_DIR/{train,val,test}.jsonl, {\"text\": \"<|label|> b0 b1 ... <|pkt|> ...\"}\n"
    "  pcap    OUT_DIR/{train,val,test}.pcap: the decoded packets (raw IP)\n"
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
    int fmt = !strcmp(fmt_s, "netgpt") ? EXPORT_NETGPT : !strcmp(fmt_s, "netssm") ? EXPORT_NETSSM : !strcmp(fmt_s, "pcap") ? EXPORT_PCAP : -1;
    if (fmt < 0) { cli_error("export", "--format is netgpt, netssm or pcap, got '%s'", fmt_s); return 2; }
    static const char *nm[3] = { "train", "val", "test" };
    int which = -1;
    for (int k = 0; k < 3; k++) if (!strcmp(split, nm[k])) which = k;
    if (which < 0 && strcmp(split, "all")) { cli_error("export", "--split is train, val, test or all"); return 2; }
    const char *dir = argv[optind];
    if (mkdir(out, 0755) != 0 && errno != EEXIST) return cli_error("export", "%s: %s", out, strerror(errno));
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
