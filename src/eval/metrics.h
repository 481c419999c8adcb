/* Evaluation arithmetic: classification scores from a confusion matrix, and distances
 * between distributions (docs/compare.md defines each one). */
#ifndef PKTLM_METRICS_H
#define PKTLM_METRICS_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- classification ---- */
/* cm is C x C, row = true class, column = predicted class. */
typedef struct {
    int C;
    double accuracy;
    double macro_f1;      /* mean F1 over classes with support > 0 or predicted at least once */
    double weighted_f1;   /* F1 weighted by support */
    double *precision, *recall, *f1;   /* per class; 0 where undefined (0/0) */
    long *support;        /* true count per class */
    long total;
} cls_report;

void cls_report_compute(cls_report *r, const long *cm, int C);
void cls_report_free(cls_report *r);
/* Text table: per-class P/R/F1/support, then the matrix. names may be NULL. */
void cls_report_print(FILE *f, const cls_report *r, const long *cm, char **names);
/* The confusion matrix as an SVG element (rows normalised to recall, shaded; counts written). */
void cm_svg(FILE *f, const long *cm, int C, char **names, const char *title);

/* ---- distances ---- */
/* Jensen-Shannon divergence, base 2 (so in [0, 1]), of two histograms given as counts
 * (each normalised to sum 1 here). 0 when both are empty. */
double jsd_counts(const double *p, const double *q, size_t n);
/* 1-D Wasserstein-1 (earth mover's) distance between two samples, in the samples' unit:
 * the integral of |F_a(t) - F_b(t)| dt over the empirical CDFs. Sorts a and b in place.
 * NaNs are dropped. Returns 0 when either sample is empty. */
double emd_1d(double *a, size_t na, double *b, size_t nb);
/* Sort ascending (radix sort; no NaNs please). */
void sort_doubles(double *v, size_t n);
/* The same on samples already sorted ascending, without NaNs. */
double emd_1d_sorted(const double *a, size_t na, const double *b, size_t nb);
/* Per-byte-position JSD: ha and hb are npos x 257 counts (byte value, or 256 = absent).
 * out[npos]; returns the mean over positions. */
double jsd_bytepos(const uint64_t *ha, const uint64_t *hb, int npos, double *out);
#endif
