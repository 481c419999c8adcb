/* The one option parser of every verb. A verb lists its options once, as a table of
 * (name, kind, destination, range, help) entries, in a cli_cmd beside its usage line and its
 * description; cli_parse() walks argv against it. So the parsing, the messages, `pktlm VERB
 * --help`, the man page (`pktlm --man`) and the bash completion (`pktlm --completion`) all come
 * from the same table and cannot drift apart.
 *
 * The dialect (docs/cli.md): `--opt value` and `--opt=value`; flags take no value; exact names
 * only (no prefix guessing: `--pack` is not `--packets`); `-o` and `-q` are short spellings of
 * `--out` and `--quiet`; positional arguments anywhere (`--` ends the options); `--help` / `-h`
 * anywhere prints the help. Errors: "pktlm VERB: unknown option '--pack' (see pktlm VERB --help)",
 * "--packets must be 1..1000000, got 0", "--unit must be flow, packet or capture, got 'x'",
 * exit status 2.
 *
 * Adding an option: one line in the verb's table, e.g.
 *     OPT_INT_IN("--window", &cfg.window, 64, 1 << 24, "N", "tokens per window with --unit capture"),
 * the default shown by --help is the value the destination holds when the table is parsed.
 *
 * The OPT_* macros check the destination's type at compile time (_Generic): an `int`
 * option cannot be pointed at a `float`. Trailing arguments after HELP are designated
 * initializers of cli_opt (e.g. `.set = &given`, `.req = 1`). */
#ifndef PKTLM_CLI_OPTS_H
#define PKTLM_CLI_OPTS_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <limits.h>
#include <math.h>

typedef enum {
    CO_END = 0,
    CO_INT, CO_LONG, CO_U64, CO_FLOAT, CO_DOUBLE,
    CO_STR,        /* const char * = the value */
    CO_LIST,       /* repeatable: char *[.flag] array of the verb, .count = number given */
    CO_FLAG,       /* int = .flag (no value) */
    CO_CHOICE,     /* int = index of the value in .words ("a|b|c"), or .choice(value) (< 0: bad) */
    CO_GIB,        /* size_t = bytes, given in GiB */
    CO_MODEL,      /* model_config: every field of the config table with a flag (models/config.c);
                      .flag 1 = only the fields --resume may change (dropout) */
    CO_POS,        /* one positional argument: const char * (required unless .opt) */
    CO_POS_LIST,   /* the remaining positionals: char ** (a block of argv), .count = number,
                      at least .flag of them */
    CO_FN,         /* .fn(verb, name, value, dst) takes the value: 0 ok, -1 refused (it said why) */
    CO_SECTION,    /* a heading in --help: .help */
} cli_opt_kind;

typedef struct {
    const char *name;             /* "--packets" (a positional: its name in the usage, "INPUT") */
    const char *alias;            /* other spellings, '|'-separated: "-o|--output" */
    cli_opt_kind kind;
    void *dst;
    int *count;                   /* CO_LIST, CO_POS_LIST */
    int flag;                     /* CO_FLAG: the value stored; CO_MODEL: resumable only; CO_POS_LIST: minimum;
                                     CO_LIST: capacity of the array */
    int (*choice)(const char *);  /* CO_CHOICE without .words */
    int (*fn)(const char *verb, const char *name, const char *val, void *dst);   /* CO_FN */
    const char *words;            /* CO_CHOICE: "flow|packet|capture" */
    const char *hint;             /* CO_CHOICE with .choice: what is valid, for the message */
    /* numbers: ranged 1 = the value must lie in [lo, hi]; 2 = it must be greater than lo and at
     * most hi (a rate that cannot be 0). Unranged ints still must fit their type. */
    int ranged;
    double lo, hi;
    const char *arg;              /* the value's name in --help: "N", "FILE" */
    const char *help;             /* NULL: a hidden option (testing), not in --help / man / completion */
    int *set;                     /* set to 1 when the option is given */
    int req;                      /* a required option: "missing -o CORPUS_DIR" */
    int opt;                      /* CO_POS: may be absent */
    int nodef;                    /* --help shows no "(default ...)" for it */
} cli_opt;

typedef struct {
    const char *verb;             /* "prep"; in messages "pktlm prep: ..." */
    const char *title;            /* man page / completion section when one verb has several
                                     tables ("finetune --task generate"); NULL = verb */
    const char *usage;            /* after "usage: pktlm VERB "; '\n' separates further forms */
    const char *about;            /* what the verb does, before the options */
    const cli_opt *opts;
    const char *more;             /* after the options (notes, examples, see also) */
    void (*extra)(FILE *);        /* more text written by code (e.g. the list of header fields) */
} cli_cmd;

#define CLI_DST(T, p) _Generic((p), T *: (p))
#define OPT_INT(n, p, a, h, ...)    { .name = n, .kind = CO_INT, .dst = CLI_DST(int, p), .arg = a, .help = h, __VA_ARGS__ }
#define OPT_LONG(n, p, a, h, ...)   { .name = n, .kind = CO_LONG, .dst = CLI_DST(long, p), .arg = a, .help = h, __VA_ARGS__ }
#define OPT_U64(n, p, a, h, ...)    { .name = n, .kind = CO_U64, .dst = CLI_DST(uint64_t, p), .arg = a, .help = h, __VA_ARGS__ }
/* the same with a range: a value outside it is refused with the option, the range and the value */
#define OPT_INT_IN(n, p, l, hi_, a, h, ...)    { .name = n, .kind = CO_INT, .dst = CLI_DST(int, p), .ranged = 1, .lo = (l), .hi = (hi_), .arg = a, .help = h, __VA_ARGS__ }
#define OPT_LONG_IN(n, p, l, hi_, a, h, ...)   { .name = n, .kind = CO_LONG, .dst = CLI_DST(long, p), .ranged = 1, .lo = (l), .hi = (hi_), .arg = a, .help = h, __VA_ARGS__ }
#define OPT_FLOAT_IN(n, p, l, hi_, a, h, ...)  { .name = n, .kind = CO_FLOAT, .dst = CLI_DST(float, p), .ranged = 1, .lo = (l), .hi = (hi_), .arg = a, .help = h, __VA_ARGS__ }
#define OPT_DOUBLE_IN(n, p, l, hi_, a, h, ...) { .name = n, .kind = CO_DOUBLE, .dst = CLI_DST(double, p), .ranged = 1, .lo = (l), .hi = (hi_), .arg = a, .help = h, __VA_ARGS__ }
/* greater than 0 and at most hi (HUGE_VAL: no upper bound) */
#define OPT_FLOAT_POS(n, p, hi_, a, h, ...)    { .name = n, .kind = CO_FLOAT, .dst = CLI_DST(float, p), .ranged = 2, .lo = 0, .hi = (hi_), .arg = a, .help = h, __VA_ARGS__ }
#define OPT_DOUBLE_POS(n, p, hi_, a, h, ...)   { .name = n, .kind = CO_DOUBLE, .dst = CLI_DST(double, p), .ranged = 2, .lo = 0, .hi = (hi_), .arg = a, .help = h, __VA_ARGS__ }
#define OPT_STR(n, p, a, h, ...)    { .name = n, .kind = CO_STR, .dst = CLI_DST(const char *, p), .arg = a, .help = h, __VA_ARGS__ }
/* repeatable (--train A --train B): arr is an array `char *arr[CAP]` */
#define OPT_LIST(n, arr, cnt, a, h, ...) { .name = n, .kind = CO_LIST, .dst = CLI_DST(char *, &(arr)[0]), .flag = (int)(sizeof(arr) / sizeof((arr)[0])), .count = cnt, .arg = a, .help = h, __VA_ARGS__ }
#define OPT_FLAG(n, p, v, h, ...)   { .name = n, .kind = CO_FLAG, .dst = CLI_DST(int, p), .flag = (v), .help = h, __VA_ARGS__ }
/* a choice among fixed words: the index of the value in w ("none|weight|sample") is stored */
#define OPT_CHOICE(n, p, w, a, h, ...) { .name = n, .kind = CO_CHOICE, .dst = CLI_DST(int, p), .words = w, .arg = a, .help = h, __VA_ARGS__ }
/* a choice decided by fn (>= 0: the value; < 0: refused; what is valid: hint) */
#define OPT_CHOICE_FN(n, p, fn, hnt, a, h, ...) { .name = n, .kind = CO_CHOICE, .dst = CLI_DST(int, p), .choice = (fn), .hint = hnt, .arg = a, .help = h, __VA_ARGS__ }
#define OPT_GIB(n, p, a, h, ...)    { .name = n, .kind = CO_GIB, .dst = CLI_DST(size_t, p), .arg = a, .help = h, __VA_ARGS__ }
/* -o / --out / --output FILE and -q / --quiet, the same in every verb */
#define OPT_OUT(p, a, h, ...)       OPT_STR("--out", p, a, h, .alias = "-o|--output", __VA_ARGS__)
#define OPT_QUIET(p, h, ...)        OPT_FLAG("--quiet", p, 1, h, .alias = "-q", __VA_ARGS__)
/* positional arguments, in the order they come */
#define OPT_POS(n, p, h, ...)       { .name = n, .kind = CO_POS, .dst = CLI_DST(const char *, p), .help = h, __VA_ARGS__ }
#define OPT_POS_LIST(n, p, cnt, min, h, ...) { .name = n, .kind = CO_POS_LIST, .dst = CLI_DST(char **, p), .count = cnt, .flag = (min), .help = h, __VA_ARGS__ }
#define OPT_SECTION(h)              { .name = "", .kind = CO_SECTION, .help = h }
#define OPT_END                     { .kind = CO_END }

/* The backbone options of a verb that can build a model from scratch (cfg: model_config): the
 * flags, types and ranges of the config field table (models/config.c: --arch, --layers,
 * --d-model, --heads, --kv-heads, --d-ff, --tied, --ctx, --dropout, --rope-theta, ...), their
 * help from its help column, the default from cfg. OPT_MODEL_RESUMABLE: only the fields a run
 * from a checkpoint may change (--dropout). */
#define OPT_MODEL(cfg) { .name = "", .kind = CO_MODEL, .dst = _Generic(&(cfg), model_config *: &(cfg)) }
#define OPT_MODEL_RESUMABLE(cfg) { .name = "", .kind = CO_MODEL, .dst = _Generic(&(cfg), model_config *: &(cfg)), .flag = 1 }
/* The optimizer options every trainer shares (o: a struct with these members). */
#define OPT_OPTIM(o) \
    OPT_FLOAT_POS("--lr", &(o).lr, 10, "X", "peak learning rate"), \
    OPT_INT_IN("--warmup", &(o).warmup, 0, INT_MAX, "N", "linear warm-up steps"), \
    OPT_FLOAT_IN("--weight-decay", &(o).weight_decay, 0, 10, "X", "AdamW weight decay (matrices only)"), \
    OPT_FLOAT_IN("--clip", &(o).clip, 0, HUGE_VAL, "X", "clip the global gradient norm at X (0 = off)"), \
    OPT_U64("--seed", &(o).seed, "N", "initialisation, shuffling, dropout"), \
    OPT_INT_IN("--batch", &(o).batch, 1, 65536, "N", "sequences per step"), \
    OPT_INT_IN("--threads", &(o).threads, 0, 1024, "N", "default: all cores / OMP_NUM_THREADS", .nodef = 1), \
    OPT_QUIET(&(o).quiet, "no progress lines")

/* --new-embeddings of finetune's tasks (o: their options, with new_embeddings) */
#define OPT_NEW_EMBEDDINGS(o) \
    OPT_FLAG("--new-embeddings", &(o).new_embeddings, 1, "an --init model in another token format (`pktlm import`): keep its body,\n" \
             "fresh token embedding and head for the corpus (QwenNet; docs/interop.md)")

/* Parse argv[1..argc) against c->opts. Returns 0 ok; 1 when --help / -h was given (the help
 * is printed on stdout: exit 0); 2 on a usage error (the message is printed: exit 2).
 * argv is reordered in place as GNU getopt does (options first, then the positionals in
 * their order), so a CO_POS_LIST destination points into argv. */
int cli_parse(const cli_cmd *c, int argc, char **argv);
/* The help of c on f (the format set by cli_help_format: text, roff or completion words). */
void cli_usage(const cli_cmd *c, FILE *f);
/* argv holds --help or -h before any `--`. */
int cli_wants_help(int argc, char **argv);
/* The value of option name in argv (`name value` or `name=value`), NULL when absent: for the
 * verbs that pick a table by one option before parsing (finetune --task, eval --model). */
const char *cli_peek_opt(int argc, char **argv, const char *name);
/* How and where --help is written: the help text, a man page section (`pktlm --man`), or one
 * line per option "VERB<TAB>SPELLING<TAB>flag|file|value|choice<TAB>WORDS" for the bash
 * completion (`pktlm --completion`); out NULL: stdout. */
enum { CLI_HELP_TEXT, CLI_HELP_ROFF, CLI_HELP_WORDS };
void cli_help_format(int fmt, FILE *out);
/* Text written into a roff document as it is (backslashes, leading dots and quotes escaped). */
void cli_roff_text(FILE *f, const char *s);

/* model_arch_parse() as a choice: the architecture id, -1 if unknown. */
int model_arch_parse_opt(const char *s);
/* A config field set away from the verb's default (def) for a backbone that does not read it:
 * an error naming the option (2), else 0. cfg, def: model_config. */
int cli_model_check_given(const char *verb, const void *cfg, const void *def);
#endif
