/* Concurrent flows over time (`pktlm compare`, docs/compare.md "Concurrent flows").
 *
 * A capture's time, from its first flow's first packet to its last flow's last packet, is cut
 * into bins of bin_s seconds; a flow is active in every bin its [first packet, last packet]
 * touches. Per side: the distribution of active flows over all bins of all its captures
 * (flows never span captures), and the curve of active flows against time since each
 * capture's start (the mean over the captures that last that long). Whole-capture generation
 * is judged by it: flows generated one by one at random start times do not overlap as a
 * capture's flows do. */
#ifndef PKTLM_CONCURRENCY_H
#define PKTLM_CONCURRENCY_H
#include <stdio.h>
#include "eval/flowfeat.h"

#define FID_CONC_MAX_BINS (1u << 22)   /* per capture: bins after these are not counted */

typedef struct {
    double bin_s;
    double *active; size_t n;          /* active flows per bin, every bin of every capture, ascending */
    double *curve; size_t ncurve;      /* mean active flows in bin i after a capture's start */
    size_t captures;
    double mean, p50, p95, max;
    double emd, emd_flows;             /* distance to the reference side (fid_conc_compare): normalised, in flows */
} fid_conc;

/* The bin width for a comparison, from the reference side: the largest of 1 s, 100 ms, 10 ms and
 * 1 ms that cuts its longest capture into at least 100 bins (1 ms for shorter ones). */
double fid_conc_bin(const ff_set *ref);
/* Build from a set read with flow times that are absolute, or relative to the source capture's
 * start (the baselines). 0 ok, -1 out of memory (c is then empty). */
int fid_conc_build(fid_conc *c, const ff_set *s, double bin_s);
/* b->emd: Wasserstein-1 distance between the distributions of log10(1 + active flows), divided
 * by the reference's range on that scale (as the other count fields of compare); b->emd_flows:
 * the same in flows, untransformed. */
void fid_conc_compare(const fid_conc *ref, fid_conc *b);
void fid_conc_free(fid_conc *c);

/* The figure in compare's three outputs, one column per side (side 0 the reference: no distance). */
void fid_conc_text(FILE *o, const fid_conc *c, char **names, int ns);
void fid_conc_json(FILE *o, const fid_conc *c, char **names, int ns);   /* "concurrency":{...} without a leading comma */
void fid_conc_html(FILE *o, const fid_conc *c, char **names, int ns);   /* a table and two SVG plots */
#endif
