/* Table-driven option parsing for the verbs that train (pretrain, finetune --task
 * classify|generate|field) and the ones beside them: each verb lists its options once as a
 * table of (name, kind, destination) and cli_parse_opts() walks argv, so the number and
 * string handling, the error messages and --help are the same everywhere.
 *
 * The OPT_* macros check the destination's type at compile time (_Generic): an `int`
 * option cannot be pointed at a `float`. */
#ifndef PKTLM_CLI_OPTS_H
#define PKTLM_CLI_OPTS_H
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <math.h>

typedef enum {
    CO_INT, CO_LONG, CO_U64, CO_FLOAT, CO_DOUBLE,
    CO_STR,        /* const char * = the next argument */
    CO_FLAG,       /* int = flag (no argument) */
    CO_SKIP,       /* takes an argument that another pass reads (e.g. --task) */
    CO_CHOICE,     /* int = choice(next argument), which returns < 0 for a bad one */
    CO_GIB,        /* size_t = bytes, given in GiB */
    CO_MODEL,      /* model_config: every field of the config table with a flag (models/config.c);
                      flag 1 = only the fields --resume may change (dropout) */
} cli_opt_kind;

typedef struct {
    const char *name, *alias;     /* alias may be NULL ("-o" / "--out") */
    cli_opt_kind kind;
    void *dst;
    int flag;                     /* CO_FLAG: the value stored */
    int (*choice)(const char *);  /* CO_CHOICE */
    const char *hint;             /* CO_CHOICE: the valid values, for the error message */
    /* numbers: ranged 1 = the value must lie in [lo, hi]; 2 = it must be greater than lo and at
     * most hi (a rate that cannot be 0). Unranged ints still must fit their type. */
    int ranged;
    double lo, hi;
} cli_opt;

#define OPT_INT(n, p)    { .name = n, .kind = CO_INT, .dst = _Generic((p), int *: (p)) }
#define OPT_LONG(n, p)   { .name = n, .kind = CO_LONG, .dst = _Generic((p), long *: (p)) }
#define OPT_U64(n, p)    { .name = n, .kind = CO_U64, .dst = _Generic((p), uint64_t *: (p)) }
#define OPT_FLOAT(n, p)  { .name = n, .kind = CO_FLOAT, .dst = _Generic((p), float *: (p)) }
#define OPT_DOUBLE(n, p) { .name = n, .kind = CO_DOUBLE, .dst = _Generic((p), double *: (p)) }
/* the same with a range: a value outside it is refused with the option, the range and the value */
#define OPT_INT_IN(n, p, l, h)    { .name = n, .kind = CO_INT, .dst = _Generic((p), int *: (p)), .ranged = 1, .lo = (l), .hi = (h) }
#define OPT_LONG_IN(n, p, l, h)   { .name = n, .kind = CO_LONG, .dst = _Generic((p), long *: (p)), .ranged = 1, .lo = (l), .hi = (h) }
#define OPT_FLOAT_IN(n, p, l, h)  { .name = n, .kind = CO_FLOAT, .dst = _Generic((p), float *: (p)), .ranged = 1, .lo = (l), .hi = (h) }
#define OPT_DOUBLE_IN(n, p, l, h) { .name = n, .kind = CO_DOUBLE, .dst = _Generic((p), double *: (p)), .ranged = 1, .lo = (l), .hi = (h) }
#define OPT_FLOAT_POS(n, p, h)    { .name = n, .kind = CO_FLOAT, .dst = _Generic((p), float *: (p)), .ranged = 2, .lo = 0, .hi = (h) }
#define OPT_STR(n, p)    { .name = n, .kind = CO_STR, .dst = _Generic((p), const char **: (p)) }
#define OPT_STR2(n, a, p) { .name = n, .alias = a, .kind = CO_STR, .dst = _Generic((p), const char **: (p)) }
#define OPT_FLAG(n, p, v) { .name = n, .kind = CO_FLAG, .dst = _Generic((p), int *: (p)), .flag = (v) }
#define OPT_FLAG2(n, a, p, v) { .name = n, .alias = a, .kind = CO_FLAG, .dst = _Generic((p), int *: (p)), .flag = (v) }
#define OPT_SKIP(n)      { .name = n, .kind = CO_SKIP }
#define OPT_CHOICE(n, p, fn, h) { .name = n, .kind = CO_CHOICE, .dst = _Generic((p), int *: (p)), .choice = (fn), .hint = (h) }
#define OPT_GIB(n, p)    { .name = n, .kind = CO_GIB, .dst = _Generic((p), size_t *: (p)) }
#define OPT_END          { .name = NULL }

/* The backbone options of a verb that can build a model from scratch (cfg: model_config): the
 * flags, types and ranges of the config field table (models/config.c: --arch, --layers,
 * --d-model, --heads, --kv-heads, --d-ff, --tied, --ctx, --dropout, --rope-theta, ...).
 * OPT_MODEL_RESUMABLE: only the fields a run from a checkpoint may change (--dropout). */
#define OPT_MODEL(cfg) { .name = "", .kind = CO_MODEL, .dst = _Generic(&(cfg), model_config *: &(cfg)) }
#define OPT_MODEL_RESUMABLE(cfg) { .name = "", .kind = CO_MODEL, .dst = _Generic(&(cfg), model_config *: &(cfg)), .flag = 1 }
/* The optimizer options every trainer shares (o: a struct with these members). */
#define OPT_OPTIM(o) \
    OPT_FLOAT_POS("--lr", &(o).lr, 10), OPT_INT_IN("--warmup", &(o).warmup, 0, INT_MAX), \
    OPT_FLOAT_IN("--weight-decay", &(o).weight_decay, 0, 10), OPT_FLOAT_IN("--clip", &(o).clip, 0, HUGE_VAL), \
    OPT_U64("--seed", &(o).seed), OPT_INT_IN("--batch", &(o).batch, 1, 65536), \
    OPT_INT_IN("--threads", &(o).threads, 0, 1024), OPT_FLAG2("--quiet", "-q", &(o).quiet, 1)

/* model_arch_parse() as a choice: the architecture id, -1 if unknown. */
int model_arch_parse_opt(const char *s);
/* --help lines for the config table's options (resumable_only: as OPT_MODEL_RESUMABLE), with
 * the verb's defaults from def (a field at 0 there: "backbone default"). */
#include <stdio.h>
void cli_model_help(FILE *f, const void *def, int resumable_only);
/* A config field set away from the verb's default (def) for a backbone that does not read it:
 * an error naming the option (2), else 0. cfg, def: model_config. */
int cli_model_check_given(const char *verb, const void *cfg, const void *def);

/* Parse argv[1..argc) against opts (ended by OPT_END). Returns 0 ok, 1 when --help / -h was
 * given (print the usage, exit 0), 2 on a usage error (message printed: exit 2). */
int cli_parse_opts(const char *verb, int argc, char **argv, const cli_opt *opts);
#endif
