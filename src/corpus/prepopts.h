/* prep's options, listed once: the command line of `pktlm prep` (src/cli/cmd_prep.c builds
 * its option table from this one), its --help, and the messages that name an option of a
 * recorded prep configuration (prep_cfg_describe / prep_cfg_diff in manifest.c: "made with
 * `pktlm prep --payload 32`", "--payload 32 vs 64") all read it, so they cannot disagree.
 * Each entry is a prep_cfg member (offsetof), its option, its value's type and range. */
#ifndef PKTLM_PREPOPTS_H
#define PKTLM_PREPOPTS_H
#include <stddef.h>
#include "corpus/prep.h"

enum {
    PO_INT,        /* int, lo..hi */
    PO_DOUBLE,     /* double, greater than 0 */
    PO_U64,        /* uint64_t */
    PO_CHOICE,     /* int = index of the word in .words */
    PO_FLAG,       /* int = .value when given (1, or 0 for --no-X / --keep-X) */
    PO_STR,        /* const char * */
    PO_RATIO,      /* double[3]: A:B:C */
    PO_PORTS,      /* uint16_t[32] + count at .count_off: P[,P...], repeatable */
    PO_PROTOS,     /* uint8_t[32] + count at .count_off: N[,N...], repeatable */
};

typedef struct {
    const char *flag, *arg, *help;
    int type;
    size_t off, count_off;
    double lo, hi;
    const char *words;
    int value;
    int tokens;           /* 1: decides how a flow becomes tokens (recorded by classifiers,
                             compared by prep_cfg_diff, named by prep_cfg_describe); 2: named
                             by prep_cfg_describe only (the seed) */
    int anon;             /* 1: read only when anonymising */
    const char *section;  /* --help heading before it */
} prep_opt;

extern const prep_opt prep_opts[];
extern const int prep_nopts;
/* the entry of member off (offsetof(prep_cfg, ...)), or -1 */
int prep_opt_index(size_t off);
#endif
