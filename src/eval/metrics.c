/* Classification scores and distribution distances. See metrics.h. */
#include "eval/metrics.h"
#include "eval/svgplot.h"
#include <stdlib.h>
#include <string.h>
#include <math.h>

void cls_report_compute(cls_report *r, const long *cm, int C) {
    memset(r, 0, sizeof *r);
    r->C = C;
    r->precision = calloc((size_t)C, sizeof(double));
    r->recall = calloc((size_t)C, sizeof(double));
    r->f1 = calloc((size_t)C, sizeof(double));
    r->support = calloc((size_t)C, sizeof(long));
    long correct = 0;
    int nf = 0;
    double sumf = 0, wsum = 0;
    for (int k = 0; k < C; k++) {
        long tp = cm[k * C + k], row = 0, col = 0;
        for (int j = 0; j < C; j++) { row += cm[k * C + j]; col += cm[j * C + k]; }
        correct += tp;
        r->total += row;
        r->support[k] = row;
        r->precision[k] = col ? (double)tp / col : 0;
        r->recall[k] = row ? (double)tp / row : 0;
        double pr = r->precision[k] + r->recall[k];
        r->f1[k] = pr > 0 ? 2 * r->precision[k] * r->recall[k] / pr : 0;
        if (row || col) { sumf += r->f1[k]; nf++; }   /* as scikit-learn: labels seen in y_true or y_pred */
        wsum += r->f1[k] * (double)row;
    }
    r->accuracy = r->total ? (double)correct / r->total : 0;
    r->macro_f1 = nf ? sumf / nf : 0;
    r->weighted_f1 = r->total ? wsum / r->total : 0;
}

void cls_report_free(cls_report *r) {
    free(r->precision); free(r->recall); free(r->f1); free(r->support);
    memset(r, 0, sizeof *r);
}

static const char *nm(char **names, int k, char *buf) {
    if (names && names[k]) return names[k];
    sprintf(buf, "%d", k);
    return buf;
}

void cls_report_print(FILE *f, const cls_report *r, const long *cm, char **names) {
    char b[32];
    int w = 8;
    for (int k = 0; k < r->C; k++) { int L = (int)strlen(nm(names, k, b)); if (L > w) w = L; }
    if (w > 24) w = 24;
    fprintf(f, "  %-*s %9s %9s %9s %9s\n", w, "class", "precision", "recall", "f1", "support");
    for (int k = 0; k < r->C; k++)
        fprintf(f, "  %-*.*s %9.4f %9.4f %9.4f %9ld\n", w, w, nm(names, k, b), r->precision[k], r->recall[k], r->f1[k], r->support[k]);
    fprintf(f, "  accuracy %.4f  macro-F1 %.4f  weighted-F1 %.4f  (n = %ld)\n", r->accuracy, r->macro_f1, r->weighted_f1, r->total);
    fprintf(f, "  confusion matrix (rows true, columns predicted):\n  %-*s", w, "");
    for (int j = 0; j < r->C; j++) fprintf(f, " %6d", j);
    fputc('\n', f);
    for (int k = 0; k < r->C; k++) {
        fprintf(f, "  %-*.*s", w, w, nm(names, k, b));
        for (int j = 0; j < r->C; j++) fprintf(f, " %6ld", cm[k * r->C + j]);
        fprintf(f, "   [%d]\n", k);
    }
}

void cm_svg(FILE *f, const long *cm, int C, char **names, const char *title) {
    int cell = C > 20 ? 18 : C > 10 ? 26 : 40, lab = 140, top = 40;
    char b[32];
    size_t longest = 1;                 /* column labels hang below the matrix, slanted */
    for (int k = 0; k < C; k++) { size_t l = strlen(nm(names, k, b)); if (l > longest) longest = l; }
    int W = lab + C * cell + 20, H = top + C * cell + 16 + (int)(longest * 6);
    if (H > top + C * cell + lab) H = top + C * cell + lab;
    /* room for the title (~7 px a character at 13 px) */
    int tw = lab + 7 * (int)(strlen(title ? title : "confusion matrix") + 50);
    if (W < tw) W = tw;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"11\">\n", W, H);
    fprintf(f, "<text x=\"%d\" y=\"18\" font-size=\"13\">", lab);
    svg_text(f, title ? title : "confusion matrix");
    fprintf(f, " (rows: true, columns: predicted; shade = row share)</text>\n");
    for (int k = 0; k < C; k++) {
        long row = 0;
        for (int j = 0; j < C; j++) row += cm[k * C + j];
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", lab - 4, top + k * cell + cell / 2 + 4);
        svg_text(f, nm(names, k, b));
        fputs("</text>\n", f);
        for (int j = 0; j < C; j++) {
            double v = row ? (double)cm[k * C + j] / row : 0;
            int g = (int)lround(255 - 200 * v);
            fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"rgb(%d,%d,255)\" stroke=\"#ccc\"/>",
                    lab + j * cell, top + k * cell, cell, cell, g, g);
            if (cm[k * C + j] && cell >= 26)
                fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"%s\">%ld</text>", lab + j * cell + cell / 2,
                        top + k * cell + cell / 2 + 4, v > 0.6 ? "white" : "black", cm[k * C + j]);
            fputc('\n', f);
        }
    }
    for (int j = 0; j < C; j++) {
        int x = lab + j * cell + cell / 2 + 4, y = top + C * cell + 6;
        fprintf(f, "<text x=\"%d\" y=\"%d\" transform=\"rotate(-60 %d %d)\" text-anchor=\"end\">", x, y, x, y);
        svg_text(f, nm(names, j, b));
        fputs("</text>\n", f);
    }
    fputs("</svg>\n", f);
}

double jsd_counts(const double *p, const double *q, size_t n) {
    double sp = 0, sq = 0;
    for (size_t i = 0; i < n; i++) { sp += p[i]; sq += q[i]; }
    if (sp <= 0 && sq <= 0) return 0;
    if (sp <= 0 || sq <= 0) return 1;   /* one side empty: as far apart as can be */
    double d = 0;
    for (size_t i = 0; i < n; i++) {
        double a = p[i] / sp, b = q[i] / sq, m = 0.5 * (a + b);
        if (a > 0) d += 0.5 * a * log2(a / m);
        if (b > 0) d += 0.5 * b * log2(b / m);
    }
    return d < 0 ? 0 : d > 1 ? 1 : d;
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* Drop NaNs (they have no place on the line, and would stall the merge below). */
static size_t drop_nan(double *v, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) if (!isnan(v[i])) v[k++] = v[i];
    return k;
}

/* LSD radix sort on the bit patterns: 8 passes of 8 bits, about 10x faster than qsort on
 * a million values. Negative numbers get their bits flipped so the order holds. */
void sort_doubles(double *v, size_t n) {
    if (n < 2) return;
    if (n < 256) { qsort(v, n, sizeof *v, cmp_double); return; }
    uint64_t *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    if (!a || !b) { free(a); free(b); qsort(v, n, sizeof *v, cmp_double); return; }
    for (size_t i = 0; i < n; i++) {
        uint64_t u;
        memcpy(&u, &v[i], 8);
        a[i] = (u >> 63) ? ~u : u | 0x8000000000000000ull;
    }
    for (int sh = 0; sh < 64; sh += 8) {
        size_t cnt[256] = { 0 };
        for (size_t i = 0; i < n; i++) cnt[(a[i] >> sh) & 255]++;
        if (cnt[(a[0] >> sh) & 255] == n) continue;   /* all equal in this byte */
        size_t pos = 0;
        for (int k = 0; k < 256; k++) { size_t c = cnt[k]; cnt[k] = pos; pos += c; }
        for (size_t i = 0; i < n; i++) b[cnt[(a[i] >> sh) & 255]++] = a[i];
        uint64_t *t = a; a = b; b = t;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t u = (a[i] >> 63) ? a[i] & 0x7fffffffffffffffull : ~a[i];
        memcpy(&v[i], &u, 8);
    }
    free(a); free(b);
}

double emd_1d(double *a, size_t na, double *b, size_t nb) {
    na = drop_nan(a, na);
    nb = drop_nan(b, nb);
    if (!na || !nb) return 0;
    sort_doubles(a, na);
    sort_doubles(b, nb);
    return emd_1d_sorted(a, na, b, nb);
}

double emd_1d_sorted(const double *a, size_t na, const double *b, size_t nb) {
    if (!na || !nb) return 0;
    /* Walk the merged order; between consecutive sample points both CDFs are constant. */
    size_t i = 0, j = 0;
    double t = a[0] < b[0] ? a[0] : b[0], d = 0;
    while (i < na || j < nb) {
        double next = (j >= nb || (i < na && a[i] <= b[j])) ? a[i] : b[j];
        d += fabs((double)i / na - (double)j / nb) * (next - t);
        t = next;
        while (i < na && a[i] == t) i++;
        while (j < nb && b[j] == t) j++;
    }
    return d;
}

double jsd_bytepos(const uint64_t *ha, const uint64_t *hb, int npos, double *out) {
    double p[257], q[257], sum = 0;
    for (int k = 0; k < npos; k++) {
        for (int v = 0; v < 257; v++) { p[v] = (double)ha[k * 257 + v]; q[v] = (double)hb[k * 257 + v]; }
        double d = jsd_counts(p, q, 257);
        if (out) out[k] = d;
        sum += d;
    }
    return npos ? sum / npos : 0;
}
