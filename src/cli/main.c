/* pktlm: foundation models of network traffic, one native binary. */
#include "cli/cli.h"
#include "train/dist.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const struct { const char *name, *help; int (*fn)(int, char **); } verbs[] = {
    { "stats", "read captures, split flows, print a summary (and a per-flow CSV)", cmd_stats },
    { "prep", "build an anonymised token corpus with leakage-safe splits (docs/corpus.md)", cmd_prep },
    { "export", "write a corpus for NetGPT/ET-BERT (TSV), NetSSM (JSONL), or as pcap", cmd_export },
    { "pretrain", "train a causal language model on a corpus (GPT-2)", cmd_pretrain },
    { "info", "describe a model checkpoint", cmd_info },
    { "import", "read a Hugging Face model folder (GPT-2, Qwen2/Qwen2.5 safetensors) as a checkpoint", cmd_import },
    { "export-model", "write a checkpoint as a Hugging Face model folder (config.json + safetensors)", cmd_export_model },
    { "finetune", "fine-tune a pretrained model: --task classify, generate or field", cmd_finetune },
    { "eval", "score a classifier or header-field model on a corpus split beside baselines", cmd_eval },
    { "classify", "classify the flows of captures with a fine-tuned classifier", cmd_classify },
    { "generate", "sample flows from a generation model into a valid pcap (docs/generate.md)", cmd_generate },
    { "compare", "fidelity of one capture to another: distances, validity, TSTR, memorisation", cmd_compare },
};

static void usage(FILE *f) {
    fprintf(f, "usage: pktlm VERB [options] ...\n\nverbs:\n");
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) fprintf(f, "  %-12s %s\n", verbs[i].name, verbs[i].help);
    fprintf(f, "\n`pktlm VERB --help` describes each verb. Documentation: docs/.\n");
}

/* What a verb printed on stdout (a JSON summary, CSV rows) must have reached it: a full disk
 * or a closed pipe is an error, not exit 0 with the output cut short. stdio keeps the
 * unwritten bytes after a failed write, so a second flush reports why (errno). */
static int close_stdout(const char *verb, int rc) {
    int e = 0;
    if (ferror(stdout)) { clearerr(stdout); e = fflush(stdout) != 0 ? errno : EIO; }
    else if (fflush(stdout) != 0) e = errno;
    if (fclose(stdout) != 0 && !e) e = errno;
    if (!e) return rc;
    fprintf(stderr, "pktlm%s%s: cannot write standard output: %s\n", verb ? " " : "", verb ? verb : "", strerror(e));
    return rc ? rc : 1;
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) { usage(stdout); return close_stdout(NULL, 0); }
    if (!strcmp(argv[1], "--version")) {
        /* the portable binary's dispatcher names the copy it chose (src/cli/portable/dispatch.c) */
        const char *cpu = getenv("PKTLM_CPU_RUNNING");
        printf("pktlm 0.1\ncode: %s\n", cpu ? cpu : "built for this CPU (make's ARCH, -march=native by default)");
        return close_stdout(NULL, 0);
    }
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        /* dist_exit: under mpirun, end MPI (or, on failure, every rank: docs/distributed.md) */
        if (!strcmp(argv[1], verbs[i].name)) return dist_exit(close_stdout(verbs[i].name, verbs[i].fn(argc - 1, argv + 1)));
    fprintf(stderr, "pktlm: unknown verb '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
