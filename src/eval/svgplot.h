/* Small inline-SVG plots for self-contained HTML reports (no scripts, no fonts to fetch). */
#ifndef PKTLM_SVGPLOT_H
#define PKTLM_SVGPLOT_H
#include <stdio.h>
#include <stddef.h>

typedef struct { const char *name; const double *v; size_t n; } svg_series;

/* Empirical CDFs of several samples on one axis (logx: log10 scale, values <= 0 are
 * drawn at the smallest positive value). Samples are copied and sorted here. */
void svg_cdf(FILE *f, const char *title, const char *xlabel, int logx, const svg_series *s, int ns);
/* Grouped bars: share[k * ncat + c] is the share of category c in series k. */
void svg_bars(FILE *f, const char *title, char **cats, int ncat, char **series, int ns, const double *share);
/* Line plot of y[k][i] against position i (e.g. per-byte JSD). Series k is drawn in
 * svg_colors[color0 + k], so a plot without REAL keeps the other plots' colours. */
void svg_lines(FILE *f, const char *title, const char *xlabel, const char *ylabel, char **series, int ns, const double *const *y, int n,
               int color0);
/* Lines of y[k][i] against x = i * dx, series k of its own length n[k] (an empty one is left
 * out), drawn in svg_colors[color0 + k]. */
void svg_xy(FILE *f, const char *title, const char *xlabel, const char *ylabel, char **series, int ns, const double *const *y,
            const size_t *n, double dx, int color0);
/* Escape text for XML/HTML. */
void svg_text(FILE *f, const char *s);
extern const char *const svg_colors[6];
#endif
