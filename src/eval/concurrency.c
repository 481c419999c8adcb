/* Concurrent flows over time (concurrency.h, docs/compare.md "Concurrent flows"). */
#include "eval/concurrency.h"
#include "eval/metrics.h"
#include "eval/svgplot.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

double fid_conc_bin(const ff_set *ref) {
    /* the longest capture: flows of a file are not always contiguous, so per file index */
    int nf = ref->nfiles > 0 ? ref->nfiles : 1;
    int64_t *lo = malloc((size_t)nf * sizeof *lo), *hi = malloc((size_t)nf * sizeof *hi);
    double longest = 0;
    if (lo && hi) {
        for (int i = 0; i < nf; i++) { lo[i] = INT64_MAX; hi[i] = INT64_MIN; }
        for (size_t i = 0; i < ref->n; i++) {
            int f = ref->fl[i].file >= 0 && ref->fl[i].file < nf ? ref->fl[i].file : 0;
            if (ref->fl[i].first_ns < lo[f]) lo[f] = ref->fl[i].first_ns;
            if (ref->fl[i].last_ns > hi[f]) hi[f] = ref->fl[i].last_ns;
        }
        for (int i = 0; i < nf; i++) if (hi[i] > lo[i] && (double)(hi[i] - lo[i]) * 1e-9 > longest) longest = (double)(hi[i] - lo[i]) * 1e-9;
    }
    free(lo); free(hi);
    for (double b = 1; b >= 1e-3 * 0.99; b /= 10) if (longest / b >= 100) return b;
    return 1e-3;
}

static int cmp_flow_file(const void *a, const void *b) {
    const ff_flow *x = *(const ff_flow *const *)a, *y = *(const ff_flow *const *)b;
    return x->file != y->file ? (x->file < y->file ? -1 : 1) : (x->first_ns > y->first_ns) - (x->first_ns < y->first_ns);
}

int fid_conc_build(fid_conc *c, const ff_set *s, double bin_s) {
    memset(c, 0, sizeof *c);
    c->bin_s = bin_s;
    if (!s->n) return 0;
    const ff_flow **fl = malloc(s->n * sizeof *fl);
    if (!fl) return -1;
    for (size_t i = 0; i < s->n; i++) fl[i] = &s->fl[i];
    qsort(fl, s->n, sizeof *fl, cmp_flow_file);
    /* per capture: a difference array over its bins (+1 where a flow starts, -1 after it ends) */
    int64_t *diff = NULL;
    double *sum = NULL, *cnt = NULL;   /* the curve: active flows summed over captures, captures per bin */
    size_t dcap = 0, ccap = 0, acap = 0;
    const double bns = bin_s * 1e9;
    int rc = 0;
    for (size_t lo = 0; lo < s->n && rc == 0;) {
        size_t hi = lo;
        int64_t t0 = fl[lo]->first_ns, t1 = fl[lo]->last_ns;
        while (hi < s->n && fl[hi]->file == fl[lo]->file) {
            if (fl[hi]->last_ns > t1) t1 = fl[hi]->last_ns;
            hi++;
        }
        double span = (double)(t1 - t0) / bns;
        size_t nb = span >= FID_CONC_MAX_BINS - 1 ? FID_CONC_MAX_BINS : (size_t)span + 1;
        if (nb + 1 > dcap) {
            void *q = realloc(diff, (nb + 1) * sizeof *diff);
            if (!q) { rc = -1; break; }
            diff = q; dcap = nb + 1;
        }
        memset(diff, 0, (nb + 1) * sizeof *diff);
        for (size_t i = lo; i < hi; i++) {
            double a = (double)(fl[i]->first_ns - t0) / bns, b = (double)(fl[i]->last_ns - t0) / bns;
            if (a >= (double)nb) continue;
            size_t ia = (size_t)a, ib = b >= (double)nb ? nb - 1 : (size_t)(b > a ? b : a);
            diff[ia]++; diff[ib + 1]--;
        }
        if (nb > ccap) {
            double *q1 = realloc(sum, nb * sizeof *sum), *q2 = q1 ? realloc(cnt, nb * sizeof *cnt) : NULL;
            if (q1) sum = q1;
            if (!q2) { rc = -1; break; }
            cnt = q2;
            memset(sum + ccap, 0, (nb - ccap) * sizeof *sum);
            memset(cnt + ccap, 0, (nb - ccap) * sizeof *cnt);
            ccap = nb;
        }
        if (c->n + nb > acap) {
            size_t na = acap ? 2 * acap : 4096;
            while (na < c->n + nb) na *= 2;
            double *q = realloc(c->active, na * sizeof *q);
            if (!q) { rc = -1; break; }
            c->active = q; acap = na;
        }
        int64_t run = 0;
        for (size_t i = 0; i < nb; i++) {
            run += diff[i];
            c->active[c->n++] = (double)run;
            sum[i] += (double)run; cnt[i] += 1;
        }
        if (nb > c->ncurve) c->ncurve = nb;
        c->captures++;
        lo = hi;
    }
    free(fl); free(diff);
    if (rc == 0 && c->ncurve) {
        c->curve = malloc(c->ncurve * sizeof *c->curve);
        if (!c->curve) rc = -1;
        for (size_t i = 0; rc == 0 && i < c->ncurve; i++) c->curve[i] = sum[i] / cnt[i];
    }
    free(sum); free(cnt);
    if (rc) { fid_conc_free(c); c->bin_s = bin_s; return -1; }
    sort_doubles(c->active, c->n);
    double tot = 0;
    for (size_t i = 0; i < c->n; i++) tot += c->active[i];
    if (c->n) {
        c->mean = tot / (double)c->n;
        c->p50 = c->active[(c->n - 1) / 2];
        c->p95 = c->active[(size_t)(0.95 * (double)(c->n - 1))];
        c->max = c->active[c->n - 1];
    }
    return 0;
}

void fid_conc_compare(const fid_conc *ref, fid_conc *b) {
    b->emd = b->emd_flows = NAN;
    if (!ref->n || !b->n) return;
    b->emd_flows = emd_1d_sorted(ref->active, ref->n, b->active, b->n);
    double *x = malloc(ref->n * sizeof *x), *y = malloc(b->n * sizeof *y);
    if (!x || !y) { free(x); free(y); return; }
    for (size_t i = 0; i < ref->n; i++) x[i] = log10(1 + ref->active[i]);
    for (size_t i = 0; i < b->n; i++) y[i] = log10(1 + b->active[i]);
    double w = emd_1d_sorted(x, ref->n, y, b->n), range = x[ref->n - 1] - x[0];
    b->emd = range > 0 ? w / range : w;
    free(x); free(y);
}

void fid_conc_free(fid_conc *c) { free(c->active); free(c->curve); memset(c, 0, sizeof *c); }

static void num(FILE *o, double v, int json) {
    if (json) { if (isnan(v)) fputs("null", o); else fprintf(o, "%.6g", v); }
    else if (isnan(v)) fprintf(o, " %10s", "n/a");
    else fprintf(o, " %10.4g", v);
}

void fid_conc_text(FILE *o, const fid_conc *c, char **names, int ns) {
    fprintf(o, "\nConcurrent flows (active in each %g s bin of a capture; docs/compare.md)\n  %-26s", c[0].bin_s, "");
    for (int s = 0; s < ns; s++) fprintf(o, " %10s", names[s]);
    fprintf(o, "\n  %-26s", "captures / bins");
    for (int s = 0; s < ns; s++) {
        char b[32];
        snprintf(b, sizeof b, "%zu/%zu", c[s].captures, c[s].n);
        fprintf(o, " %10s", b);
    }
    static const char *rows[] = { "mean", "median", "95th percentile", "max", "EMD to REAL (normalised)", "EMD to REAL (flows)" };
    for (int k = 0; k < 6; k++) {
        fprintf(o, "\n  %-26s", rows[k]);
        for (int s = 0; s < ns; s++) {
            const fid_conc *x = &c[s];
            double v[] = { x->mean, x->p50, x->p95, x->max, s ? x->emd : NAN, s ? x->emd_flows : NAN };
            num(o, x->n ? v[k] : NAN, 0);
        }
    }
    fputc('\n', o);
}

void fid_conc_json(FILE *o, const fid_conc *c, char **names, int ns) {
    fprintf(o, "\"concurrency\": {\"bin_s\": %g", c[0].bin_s);
    for (int s = 0; s < ns; s++) {
        const fid_conc *x = &c[s];
        fprintf(o, ",\n    \"%s\": {\"captures\": %zu, \"bins\": %zu, \"mean\": ", names[s], x->captures, x->n);
        num(o, x->n ? x->mean : NAN, 1); fputs(", \"median\": ", o); num(o, x->n ? x->p50 : NAN, 1);
        fputs(", \"p95\": ", o); num(o, x->n ? x->p95 : NAN, 1); fputs(", \"max\": ", o); num(o, x->n ? x->max : NAN, 1);
        if (s) { fputs(", \"emd\": ", o); num(o, x->emd, 1); fputs(", \"emd_flows\": ", o); num(o, x->emd_flows, 1); }
        fputc('}', o);
    }
    fputc('}', o);
}

void fid_conc_html(FILE *o, const fid_conc *c, char **names, int ns) {
    fprintf(o, "<h2>Concurrent flows</h2><p class=\"note\">Flows active in each %g s bin of a capture (from its first packet to its "
               "last). EMD: Wasserstein distance of log10(1 + active flows) divided by REAL's range on that scale.</p>\n"
               "<table><tr><th></th>", c[0].bin_s);
    for (int s = 0; s < ns; s++) { fputs("<th>", o); svg_text(o, names[s]); fputs("</th>", o); }
    fputs("</tr>\n", o);
    static const char *rows[] = { "mean", "median", "95th percentile", "max", "EMD to REAL" };
    for (int k = 0; k < 5; k++) {
        fprintf(o, "<tr><td>%s</td>", rows[k]);
        for (int s = 0; s < ns; s++) {
            const fid_conc *x = &c[s];
            double v[] = { x->mean, x->p50, x->p95, x->max, s ? x->emd : NAN };
            if (!x->n || isnan(v[k])) fputs("<td>n/a</td>", o); else fprintf(o, "<td>%.4g</td>", v[k]);
        }
        fputs("</tr>\n", o);
    }
    fputs("</table>\n", o);
    /* the curves, averaged down to at most 400 points each */
    double *y[8] = { 0 };
    size_t n[8] = { 0 };
    double dx = 0;
    size_t longest = 0;
    for (int s = 0; s < ns && s < 8; s++) if (c[s].ncurve > longest) longest = c[s].ncurve;
    size_t g = longest > 400 ? (longest + 399) / 400 : 1;
    dx = c[0].bin_s * (double)g;
    for (int s = 0; s < ns && s < 8; s++) {
        n[s] = (c[s].ncurve + g - 1) / g;
        y[s] = calloc(n[s] + 1, sizeof *y[s]);
        if (!y[s]) { n[s] = 0; continue; }
        for (size_t i = 0; i < n[s]; i++) {
            size_t a = i * g, b = a + g < c[s].ncurve ? a + g : c[s].ncurve;
            double t = 0;
            for (size_t j = a; j < b; j++) t += c[s].curve[j];
            y[s][i] = t / (double)(b - a);
        }
    }
    svg_xy(o, "active flows over time (mean over captures)", "seconds since the capture's first packet", "active flows", names,
           ns < 8 ? ns : 8, (const double *const *)y, n, dx, 0);
    for (int s = 0; s < 8; s++) free(y[s]);
    svg_series ser[8];
    for (int s = 0; s < ns && s < 8; s++) { ser[s].name = names[s]; ser[s].v = c[s].active; ser[s].n = c[s].n; }
    svg_cdf(o, "active flows per bin", "active flows", 0, ser, ns < 8 ? ns : 8);
}
