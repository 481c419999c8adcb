/* pktlm: foundation models of network traffic, one native binary. */
#include "cli/cli.h"
#include "train/dist.h"
#include "cli/opts.h"
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

/* The verbs' help as the man page and the completion see it: a verb with several option tables
 * (finetune's tasks, eval of a field model) is asked for each. */
static const char *const sections[][4] = {
    { "stats" }, { "prep" }, { "export" }, { "pretrain" }, { "info" }, { "import" }, { "export-model" },
    { "finetune", "--task", "classify" }, { "finetune", "--task", "generate" }, { "finetune", "--task", "field" },
    { "eval" }, { "eval", "--field", "ip.ttl" }, { "classify" }, { "generate" }, { "compare" },
};

/* every section's help through the verbs themselves (cli_parse prints it for --help) */
static void all_sections(int fmt, FILE *out) {
    cli_help_format(fmt, out);
    setenv("OMP_WAIT_POLICY", "passive", 0);   /* verbs that re-execute themselves for it: they need not */
    for (size_t k = 0; k < sizeof sections / sizeof sections[0]; k++) {
        char *av[6];
        int ac = 0;
        for (int j = 0; j < 4 && sections[k][j]; j++) av[ac++] = (char *)sections[k][j];
        av[ac++] = "--help";
        av[ac] = NULL;
        for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
            if (!strcmp(av[0], verbs[i].name)) verbs[i].fn(ac, av);
    }
    fflush(out);
    cli_help_format(CLI_HELP_TEXT, NULL);
}

/* pktlm --man: the man page pktlm(1), roff, from the option tables (the Makefile writes it to
 * build/pktlm.1) */
static void man_page(void) {
    printf(".TH PKTLM 1 \"\" \"pktlm 0.1\" \"User Commands\"\n"
           ".SH NAME\npktlm \\- foundation models of network traffic in one native binary\n"
           ".SH SYNOPSIS\n\\fBpktlm\\fR \\fIVERB\\fR [\\fIoptions\\fR] [\\fIINPUT\\fR...]\n.br\n"
           "\\fBpktlm\\fR \\fIVERB\\fR \\fB\\-\\-help\\fR\n"
           ".SH DESCRIPTION\n"
           "pktlm reads packet captures, builds anonymised token corpora, trains and fine-tunes language\n"
           "models of network traffic (GPT-2, Qwen2, Mamba-2, linear attention), classifies flows,\n"
           "generates valid captures and measures their fidelity. The verbs:\n");
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        printf(".TP\n.B ");
        cli_roff_text(stdout, verbs[i].name);
        cli_roff_text(stdout, verbs[i].help);
    }
    printf(".SH OPTIONS\n");
    cli_roff_text(stdout,
        "Every verb takes `--opt value' and `--opt=value'; flags take no value; option names are exact\n"
        "(no abbreviations); `-o' is `--out' and `-q' is `--quiet'; options and positional arguments\n"
        "may come in any order, and `--' ends the options. `--help' prints a verb's options with\n"
        "their defaults and ranges, from the same table that parses them.\n");
    printf(".SH COMMANDS\n");
    fflush(stdout);
    all_sections(CLI_HELP_ROFF, stdout);
    printf(".SH EXIT STATUS\n");
    cli_roff_text(stdout,
        "0 success; 1 an error (a file that cannot be read, an input read only in part); 2 a usage\n"
        "error (an unknown option, a value out of range: the message names the option, the range and\n"
        "the value); 130 interrupted by Ctrl-C or SIGTERM.\n");
    printf(".SH ENVIRONMENT\n");
    cli_roff_text(stdout,
        "OMP_NUM_THREADS: threads (default: all cores). OMP_WAIT_POLICY: passive unless set.\n"
        "PKTLM_PROGRESS=1: progress lines also when stderr is not a terminal. PKTLM_ANON_SECRET:\n"
        "the key of prep's anonymisation. TMPDIR: where streams read twice are copied.\n");
    printf(".SH SEE ALSO\n");
    cli_roff_text(stdout, "tshark(1), tcpdump(1); the documentation in docs/ of the source tree (docs/cli.md).\n");
}

/* pktlm --completion: a bash completion script, from the option tables */
static int completion(void) {
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m) return 1;
    all_sections(CLI_HELP_WORDS, m);
    fclose(m);
    printf("# bash completion for pktlm: generated by `pktlm --completion` from the option tables\n"
           "_pktlm() {\n"
           "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} opts=\n"
           "    [ \"$cur\" = \"=\" ] && cur=\n"
           "    [ \"$prev\" = \"=\" ] && prev=${COMP_WORDS[COMP_CWORD-2]}\n"
           "    if [ \"$COMP_CWORD\" -eq 1 ]; then\n"
           "        COMPREPLY=($(compgen -W \"");
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) printf("%s ", verbs[i].name);
    printf("--help --version\" -- \"$cur\"))\n        return\n    fi\n    case ${COMP_WORDS[1]} in\n");
    /* lines "verb<TAB>spelling<TAB>type<TAB>words"; a verb with several tables: each spelling once */
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        char words[8192] = " ";
        printf("    %s)\n        case $prev in\n", verbs[i].name);
        for (char *l = buf; l && *l;) {
            size_t L = strcspn(l, "\n");
            char line[1024], *f[4] = { 0 }, key[96];
            snprintf(line, sizeof line, "%.*s", (int)(L < sizeof line ? L : sizeof line - 1), l);
            l += L + (l[L] == '\n');
            int nf = 0;
            for (char *p = line, *t; nf < 4 && (t = strsep(&p, "\t"));) f[nf++] = t;
            if (nf < 4 || strcmp(f[0], verbs[i].name)) continue;
            snprintf(key, sizeof key, " %s ", f[1]);
            if (strstr(words, key) || strlen(words) + strlen(key) >= sizeof words) continue;
            strcat(words, key + 1);
            if (!strcmp(f[2], "choice")) printf("        %s) COMPREPLY=($(compgen -W \"%s\" -- \"$cur\")); return;;\n", f[1], f[3]);
            else if (!strcmp(f[2], "file")) printf("        %s) COMPREPLY=($(compgen -f -- \"$cur\")); return;;\n", f[1]);
            else if (!strcmp(f[2], "value")) printf("        %s) return;;\n", f[1]);
        }
        printf("        esac\n        opts=\"%s--help\";;\n", words + 1);
    }
    printf("    esac\n"
           "    case $cur in\n"
           "    -*) COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"));;\n"
           "    *) COMPREPLY=($(compgen -f -- \"$cur\"));;\n"
           "    esac\n"
           "}\n"
           "complete -o filenames -o bashdefault -F _pktlm pktlm\n");
    free(buf);
    return 0;
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
    if (!strcmp(argv[1], "--man")) { man_page(); return close_stdout(NULL, 0); }
    if (!strcmp(argv[1], "--completion")) return close_stdout(NULL, completion());
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        /* dist_exit: under mpirun, end MPI (or, on failure, every rank: docs/distributed.md) */
        if (!strcmp(argv[1], verbs[i].name)) return dist_exit(close_stdout(verbs[i].name, verbs[i].fn(argc - 1, argv + 1)));
    fprintf(stderr, "pktlm: unknown verb '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
