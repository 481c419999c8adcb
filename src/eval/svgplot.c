/* Inline SVG plots. Sizes are fixed (640 x 300) so reports stay small and readable. */
#include "eval/svgplot.h"
#include <stdlib.h>
#include <string.h>
#include <math.h>

const char *const svg_colors[6] = { "#222222", "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e" };
enum { W = 640, H = 300, ML = 60, MR = 150, MT = 30, MB = 45 };

void svg_text(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

static int cmpd(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }

static void frame(FILE *f, const char *title) {
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"11\">\n", W, H);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/><text x=\"%d\" y=\"18\" font-size=\"13\">", W, H, ML);
    svg_text(f, title);
    fprintf(f, "</text>\n<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n", ML, MT, W - ML - MR, H - MT - MB);
}

static void legend(FILE *f, char **names, int ns, int color0) {
    for (int k = 0; k < ns; k++) {
        int y = MT + 10 + k * 16;
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"4\" fill=\"%s\"/><text x=\"%d\" y=\"%d\">", W - MR + 10, y, svg_colors[(color0 + k) % 6], W - MR + 26, y + 5);
        svg_text(f, names[k]);
        fputs("</text>\n", f);
    }
}

static void fmt_tick(char *b, size_t n, double v) {
    if (v != 0 && (fabs(v) >= 1e5 || fabs(v) < 1e-3)) snprintf(b, n, "%.0e", v);
    else snprintf(b, n, "%.4g", v);
}

void svg_cdf(FILE *f, const char *title, const char *xlabel, int logx, const svg_series *s, int ns) {
    double lo = INFINITY, hi = -INFINITY, minpos = INFINITY;
    for (int k = 0; k < ns; k++)
        for (size_t i = 0; i < s[k].n; i++) {
            double v = s[k].v[i];
            if (v > 0 && v < minpos) minpos = v;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
    frame(f, title);
    if (!(hi >= lo)) { fputs("<text x=\"200\" y=\"150\">no data</text></svg>\n", f); return; }
    if (logx) { if (!isfinite(minpos)) minpos = 1; lo = log10(minpos); hi = hi > 0 ? log10(hi) : lo + 1; }
    if (hi <= lo) hi = lo + 1;
    int pw = W - ML - MR, ph = H - MT - MB;
    /* x ticks: on a log axis spanning two decades or more, at whole decades (1e-04, 0.01,
     * 1, 100: values a reader can place); otherwise five evenly spaced */
    int dec = logx && hi - lo >= 2;
    double d0 = ceil(lo - 1e-9), dstep = ceil((hi - lo) / 6);
    for (int t = 0; t <= (dec ? 64 : 4); t++) {
        double xv = dec ? d0 + t * dstep : lo + (hi - lo) * t / 4;
        if (xv > hi + 1e-9) break;
        char b[32];
        fmt_tick(b, sizeof b, logx ? pow(10, xv) : xv);
        int x = (int)(ML + (xv - lo) / (hi - lo) * pw + 0.5);
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/><text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
                x, MT, x, MT + ph, x, MT + ph + 14, b);
    }
    for (int t = 0; t <= 4; t++) {   /* y ticks: the CDF */
        int y = MT + ph - ph * t / 4;
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/><text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.2f</text>\n",
                ML, y, ML + pw, y, ML - 4, y + 4, t / 4.0);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", ML + pw / 2, H - 8);
    svg_text(f, xlabel);
    fputs(logx ? " (log scale)</text>\n" : "</text>\n", f);
    char *names[16];
    for (int k = 0; k < ns && k < 16; k++) {
        names[k] = (char *)s[k].name;
        if (!s[k].n) continue;
        double *v = malloc(s[k].n * sizeof *v);
        memcpy(v, s[k].v, s[k].n * sizeof *v);
        qsort(v, s[k].n, sizeof *v, cmpd);
        fprintf(f, "<polyline fill=\"none\" stroke-width=\"1.5\" stroke=\"%s\" points=\"", svg_colors[k % 6]);
        int P = 300;
        double px_prev = -1, py_prev = -1;
        for (int i = 0; i <= P; i++) {   /* the CDF at P+1 quantiles: a step curve, subsampled */
            size_t j = (size_t)((double)i / P * (double)(s[k].n - 1));
            double x = v[j];
            x = logx ? log10(x > 0 ? x : minpos) : x;
            double px = ML + (x - lo) / (hi - lo) * pw, py = MT + ph - (double)(j + 1) / s[k].n * ph;
            if (i && px_prev >= 0) fprintf(f, "%.1f,%.1f ", px, py_prev);
            if (px != px_prev || py != py_prev) fprintf(f, "%.1f,%.1f ", px, py);
            px_prev = px; py_prev = py;
        }
        fputs("\"/>\n", f);
        free(v);
    }
    legend(f, names, ns < 16 ? ns : 16, 0);
    fputs("</svg>\n", f);
}

void svg_bars(FILE *f, const char *title, char **cats, int ncat, char **series, int ns, const double *share) {
    frame(f, title);
    int pw = W - ML - MR, ph = H - MT - MB;
    double mx = 0;
    for (int i = 0; i < ns * ncat; i++) if (share[i] > mx) mx = share[i];
    if (mx <= 0) mx = 1;
    for (int t = 0; t <= 4; t++) {
        int y = MT + ph - ph * t / 4;
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/><text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.2f</text>\n",
                ML, y, ML + pw, y, ML - 4, y + 4, mx * t / 4);
    }
    double gw = ncat ? (double)pw / ncat : pw, bw = gw * 0.8 / (ns ? ns : 1);
    /* labels wider than their group (about 6 px a character) are drawn slanted */
    int rotate = 0;
    for (int c = 0; c < ncat; c++) if (strlen(cats[c]) * 6.0 > gw) rotate = 1;
    for (int c = 0; c < ncat; c++) {
        for (int k = 0; k < ns; k++) {
            double v = share[k * ncat + c], h = v / mx * ph;
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>", ML + c * gw + gw * 0.1 + k * bw,
                    MT + ph - h, bw, h, svg_colors[k % 6]);
            svg_text(f, series[k]);
            fprintf(f, " %s: %.4f</title></rect>\n", cats[c], v);
        }
        int x = (int)(ML + c * gw + gw / 2), y = MT + ph + 12;
        if (rotate) fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" font-size=\"9\" transform=\"rotate(-30 %d %d)\">", x + 3, y, x + 3, y);
        else fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"%d\">", x, y, ncat > 12 ? 8 : 10);
        svg_text(f, cats[c]);
        fputs("</text>\n", f);
    }
    legend(f, series, ns, 0);
    fputs("</svg>\n", f);
}

/* The y and x ticks and the axis labels of a line plot: y from 0 to ymax; x from 0 to xmax,
 * as a sample index ("%d", svg_lines) or a value (fmt_tick, svg_xy) */
static void axes(FILE *f, double ymax, double xmax, int index_x, const char *xlabel, const char *ylabel) {
    int pw = W - ML - MR, ph = H - MT - MB;
    for (int t = 0; t <= 4; t++) {
        int yy = MT + ph - ph * t / 4, x = ML + pw * t / 4;
        char b[32];
        if (index_x) snprintf(b, sizeof b, "%d", (int)xmax * t / 4);
        else fmt_tick(b, sizeof b, xmax * t / 4);
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/><text x=\"%d\" y=\"%d\" text-anchor=\"end\">",
                ML, yy, ML + pw, yy, ML - 4, yy + 4);
        fprintf(f, index_x ? "%.2f" : "%.4g", ymax * t / 4);
        fprintf(f, "</text>\n<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", x, MT + ph + 14, b);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", ML + pw / 2, H - 8);
    svg_text(f, xlabel);
    fprintf(f, "</text><text x=\"12\" y=\"%d\" transform=\"rotate(-90 12 %d)\" text-anchor=\"middle\">", MT + ph / 2, MT + ph / 2);
    svg_text(f, ylabel);
    fputs("</text>\n", f);
}

void svg_lines(FILE *f, const char *title, const char *xlabel, const char *ylabel, char **series, int ns, const double *const *y, int n,
               int color0) {
    frame(f, title);
    int pw = W - ML - MR, ph = H - MT - MB;
    double mx = 0;
    for (int k = 0; k < ns; k++) for (int i = 0; i < n; i++) if (y[k][i] > mx) mx = y[k][i];
    if (mx <= 0) mx = 1;
    axes(f, mx, n > 1 ? n - 1 : 0, 1, xlabel, ylabel);
    for (int k = 0; k < ns; k++) {
        fprintf(f, "<polyline fill=\"none\" stroke-width=\"1.5\" stroke=\"%s\" points=\"", svg_colors[(color0 + k) % 6]);
        for (int i = 0; i < n; i++) fprintf(f, "%.1f,%.1f ", ML + (n > 1 ? (double)i / (n - 1) : 0) * pw, MT + ph - y[k][i] / mx * ph);
        fputs("\"/>\n", f);
    }
    legend(f, series, ns, color0);
    fputs("</svg>\n", f);
}

void svg_xy(FILE *f, const char *title, const char *xlabel, const char *ylabel, char **series, int ns, const double *const *y,
            const size_t *n, double dx, int color0) {
    frame(f, title);
    int pw = W - ML - MR, ph = H - MT - MB;
    double my = 0, mx = 0;
    for (int k = 0; k < ns; k++) {
        for (size_t i = 0; i < n[k]; i++) if (y[k][i] > my) my = y[k][i];
        if (n[k] > 1 && (double)(n[k] - 1) * dx > mx) mx = (double)(n[k] - 1) * dx;
    }
    if (my <= 0) my = 1;
    if (mx <= 0) mx = 1;
    axes(f, my, mx, 0, xlabel, ylabel);
    for (int k = 0; k < ns; k++) {
        if (!n[k]) continue;
        fprintf(f, "<polyline fill=\"none\" stroke-width=\"1.5\" stroke=\"%s\" points=\"", svg_colors[(color0 + k) % 6]);
        for (size_t i = 0; i < n[k]; i++) fprintf(f, "%.1f,%.1f ", ML + (double)i * dx / mx * pw, MT + ph - y[k][i] / my * ph);
        fputs("\"/>\n", f);
    }
    legend(f, series, ns, color0);
    fputs("</svg>\n", f);
}
