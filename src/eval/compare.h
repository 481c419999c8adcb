/* `pktlm compare` as a library call (docs/compare.md defines every number): how close is one
 * set of flows (SYNTH, e.g. generated) to another (REAL)? compare_run() takes the loaded sets
 * and returns the whole report as a struct; compare_text.c, compare_json.c and compare_html.c
 * write it. The method:
 *   - label ids unified across REAL, SYNTH and TRAIN by name;
 *   - baselines (replay of random flows, an independent per-field sampler) drawn from TRAIN,
 *     or without TRAIN from the first half of each REAL capture's flows (split_halves: both
 *     halves hold every capture, so every label), with TSTR tested on the second halves;
 *   - distances to REAL (fidelity.h), validity and TCP state of every side;
 *   - TSTR: a random forest on flow features trained on each side, tested on REAL, when REAL's
 *     test flows carry at least two labels and the training side two of those;
 *   - memorisation of TRAIN flows and leaked TRAIN addresses, with TRAIN. */
#ifndef PKTLM_EVAL_COMPARE_H
#define PKTLM_EVAL_COMPARE_H
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include "eval/flowfeat.h"
#include "eval/fidelity.h"
#include "eval/metrics.h"
#include "eval/concurrency.h"

/* The columns of every table: REAL, SYNTH and the two baselines. */
enum { CMP_REAL, CMP_SYNTH, CMP_REPLAY, CMP_SAMPLER, CMP_NSIDE };
extern const char *const compare_side_name[CMP_NSIDE];   /* "real", "synth", "replay", "sampler" */

/* A random forest trained on one side, tested on REAL (done 0: not meaningful, see above). */
typedef struct {
    int done;
    size_t n_train, n_test;
    long *cm;                  /* (C, C) confusion, true class by row */
    cls_report rep;
} compare_tstr;

typedef struct {
    int trees;                 /* TSTR forest size */
    uint64_t seed;             /* baselines and forest */
} compare_cfg;

typedef struct {
    const char *real_name, *synth_name;   /* the inputs as the user named them (the writers print them) */
    int has_train, labelled;              /* labelled: REAL's test flows carry >= 2 labels */
    const ff_set *set[CMP_NSIDE];         /* REAL, SYNTH (the caller's), replay, sampler */
    const ff_set *bsrc, *test;            /* where the baselines were drawn from; TSTR's test flows */
    fid_side side[CMP_NSIDE];
    fid_dist dist[CMP_NSIDE];             /* [CMP_SYNTH..]: distance to REAL */
    char **names; int nnames;             /* the unified labels */
    compare_tstr tstr[CMP_NSIDE];         /* [CMP_REAL]: trained on the baseline source (TRTR) */
    fid_memo memo[CMP_NSIDE];
    int memo_done;
    fid_conc conc[CMP_NSIDE];             /* concurrent flows over time; [CMP_SYNTH..]: with the distance to REAL */
    double seconds;                       /* time and peak RSS of the whole run */
    size_t rss;
    ff_set own[4];                        /* what the report derives: replay, sampler, two halves */
} compare_report;

/* Compare synth to real. train: the generator's training flows, or NULL. The sets are read by
 * the caller with the same hdr_len; their label ids are unified in place. real, synth and
 * train must outlive r. The caller fills real_name, synth_name, seconds and rss (what the
 * writers print of the run) afterwards. Free with compare_free. */
void compare_run(compare_report *r, ff_set *real, ff_set *synth, ff_set *train, const compare_cfg *cfg);
void compare_free(compare_report *r);

/* The writers: the text summary, every number as JSON, a self-contained HTML page with SVG
 * plots. Output only; nothing in r changes. */
void compare_write_text(FILE *o, const compare_report *r);
void compare_write_json(FILE *o, const compare_report *r);
void compare_write_html(FILE *o, const compare_report *r);

/* a as a percentage of b; NaN when b is 0 (printed "n/a" / null) */
static inline double compare_pct(uint64_t a, uint64_t b) { return b ? 100.0 * (double)a / (double)b : NAN; }

/* The validity (of packets) and TCP-state (of TCP flows) measures of one side, in percent; NaN
 * where the side cannot have it (the sampler has no bytes, no files; no sequence numbers).
 * Every writer prints these, so they are computed in one place. */
enum { CMP_M_FILES_READ, CMP_M_TIME_ORDER, CMP_M_PARSE, CMP_M_IP, CMP_M_LEN_OK, CMP_M_CSUM_OK, CMP_M_CSUM_CHECKABLE,
       CMP_M_TRUNCATED, CMP_M_HANDSHAKE, CMP_M_SEQ, CMP_M_ACK, CMP_M_TEARDOWN, CMP_M_RST, CMP_M_MIDSTREAM };
double compare_measure(const fid_side *s, int measure);
#endif
