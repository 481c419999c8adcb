/* `pktlm compare --html` (compare.h): a self-contained page, the report's tables and SVG plots
 * (CDFs of the continuous fields, bars of the largest categories, JSD per header byte). */
#include "eval/compare.h"
#include "eval/svgplot.h"
#include <stdlib.h>
#include <string.h>

/* Bin names of the categorical fields, for bar charts. */
static void bin_name(int field, int b, char *buf, size_t n) {
    switch (field) {
    case FC_PROTO: {
        const char *s = b == 6 ? "tcp" : b == 17 ? "udp" : b == 1 ? "icmp" : b == 58 ? "icmpv6" : NULL;
        if (s) snprintf(buf, n, "%s", s); else snprintf(buf, n, "%d", b);
        break;
    }
    case FC_FLAGS_A: case FC_FLAGS_B: {
        static const char fl[] = "FSRPAUEC";
        size_t k = 0;
        for (int i = 0; i < 8 && k + 1 < n; i++) if (b >> i & 1) buf[k++] = fl[i];
        if (!k && n > 1) buf[k++] = '-';
        buf[k] = 0;
        break;
    }
    case FC_IPVER: snprintf(buf, n, "IPv%d", b); break;
    case FC_DIRPAT: {
        int len = b / 256, bits = b % 256;
        size_t k = 0;
        for (int i = 0; i < len && k + 1 < n; i++) buf[k++] = (bits >> i & 1) ? 'b' : 'a';
        buf[k] = 0;
        break;
    }
    default: snprintf(buf, n, "%d", b);
    }
}

/* Categories of a field worth a bar: the `max` largest by REAL + SYNTH share. */
typedef struct { double v; int b; } binval;
static int cmp_binval(const void *x, const void *y) {
    const binval *a = x, *b = y;
    return a->v > b->v ? -1 : a->v < b->v ? 1 : a->b - b->b;
}
static int top_bins(const fid_side *sd, int field, int *bins, int max) {
    int nb = fid_cat_bins(field), nt = 0;
    double tot[2] = { 0, 0 };
    for (int s = 0; s < 2; s++) for (int b = 0; b < nb; b++) tot[s] += sd[s].cat[field][b];
    binval *v = malloc((size_t)nb * sizeof *v);
    for (int b = 0; b < nb; b++) {
        double x = (tot[0] ? sd[0].cat[field][b] / tot[0] : 0) + (tot[1] ? sd[1].cat[field][b] / tot[1] : 0);
        if (x > 0) v[nt++] = (binval){ x, b };
    }
    qsort(v, (size_t)nt, sizeof *v, cmp_binval);
    if (nt > max) nt = max;
    for (int i = 0; i < nt; i++) bins[i] = v[i].b;
    free(v);
    return nt;
}

static void html_table_row(FILE *o, const char *name, const double *v, int from, int pct) {
    fputs("<tr><td>", o); svg_text(o, name); fputs("</td>", o);
    for (int s = from; s < CMP_NSIDE; s++) {
        if (isnan(v[s])) fputs("<td>n/a</td>", o);
        else if (pct) fprintf(o, "<td>%.2f%%</td>", v[s]);
        else fprintf(o, "<td>%.4f</td>", v[s]);
    }
    fputs("</tr>\n", o);
}

void compare_write_html(FILE *o, const compare_report *r) {
    const fid_side *sd = r->side;
    char *sn[CMP_NSIDE] = { "REAL", "SYNTH", "replay", "sampler" };
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>pktlm compare</title>\n<style>"
          "body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}table{border-collapse:collapse;margin:1em 0}"
          "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}th{background:#f3f3f3}"
          "svg{display:block;margin:1em 0}code{font-family:monospace,monospace}.note{color:#666;font-size:90%}</style></head><body>\n<h1>pktlm compare</h1>\n<p>REAL: <code>", o);
    svg_text(o, r->real_name);
    fprintf(o, "</code> (%llu flows, %llu packets)<br>SYNTH: <code>", (unsigned long long)sd[CMP_REAL].flows, (unsigned long long)sd[CMP_REAL].packets);
    svg_text(o, r->synth_name);
    fprintf(o, "</code> (%llu flows, %llu packets)<br>Baselines drawn from %s (%zu flows).</p>\n", (unsigned long long)sd[CMP_SYNTH].flows,
            (unsigned long long)sd[CMP_SYNTH].packets, r->has_train ? "TRAIN" : "the first half of each REAL capture's flows", r->bsrc->n);
    fputs("<h2>Distances to REAL</h2><p class=\"note\">0 = same distribution. JSD in bits (0..1). EMD: 1-D Wasserstein distance of the "
          "values (log10 scale for times and flow sizes) divided by the range of REAL's values. Definitions: docs/compare.md.</p>\n"
          "<table><tr><th>field</th><th>SYNTH</th><th>replay</th><th>sampler</th></tr>\n", o);
    double v[CMP_NSIDE];
    char nm[64];
    for (int k = 0; k < NFC; k++) {
        for (int s = 0; s < CMP_NSIDE; s++) v[s] = r->dist[s].jsd[k];
        snprintf(nm, sizeof nm, "%s (JSD)", fid_cat_name[k]);
        html_table_row(o, nm, v, CMP_SYNTH, 0);
    }
    for (int k = 0; k < NFN; k++) {
        for (int s = 0; s < CMP_NSIDE; s++) v[s] = r->dist[s].emd[k];
        snprintf(nm, sizeof nm, "%s (EMD)", fid_cont_name[k]);
        html_table_row(o, nm, v, CMP_SYNTH, 0);
    }
    for (int s = 0; s < CMP_NSIDE; s++) v[s] = r->dist[s].bytepos_mean;
    html_table_row(o, "header bytes (mean JSD)", v, CMP_SYNTH, 0);
    fputs("</table>\n<h2>Validity and TCP state</h2>\n<table><tr><th></th><th>REAL</th><th>SYNTH</th><th>replay</th><th>sampler</th></tr>\n", o);
    static const struct { int m; const char *name; } vrows[] = {
        { CMP_M_FILES_READ, "files read to the end" }, { CMP_M_TIME_ORDER, "records in time order" },
        { CMP_M_PARSE, "frames that parse" }, { CMP_M_IP, "IP packets" }, { CMP_M_LEN_OK, "lengths consistent" },
        { CMP_M_CSUM_OK, "checksums valid" }, { CMP_M_HANDSHAKE, "TCP handshake" }, { CMP_M_SEQ, "TCP seq continuity" },
        { CMP_M_ACK, "TCP ack continuity" }, { CMP_M_TEARDOWN, "TCP teardown (FIN both ways, no RST)" },
        { CMP_M_RST, "TCP RST" },
    };
    for (size_t k = 0; k < sizeof vrows / sizeof vrows[0]; k++) {
        for (int s = 0; s < CMP_NSIDE; s++) v[s] = compare_measure(&sd[s], vrows[k].m);
        html_table_row(o, vrows[k].name, v, 0, 1);
    }
    fputs("</table>\n", o);
    if (r->labelled) {
        fprintf(o, "<h2>Utility (TSTR)</h2><p class=\"note\">Random forest on flow features, trained on each column, tested on %s.</p>\n"
                   "<table><tr><th>trained on</th><th>%s</th><th>SYNTH</th><th>replay</th><th>sampler</th></tr>\n",
                r->has_train ? "REAL" : "the second half of each REAL capture", r->has_train ? "TRAIN" : "REAL first halves");
        for (int k = 0; k < 2; k++) {
            for (int s = 0; s < CMP_NSIDE; s++) v[s] = r->tstr[s].done ? (k ? r->tstr[s].rep.macro_f1 : r->tstr[s].rep.accuracy) : NAN;
            html_table_row(o, k ? "macro-F1" : "accuracy", v, 0, 0);
        }
        fputs("</table>\n", o);
        if (r->tstr[CMP_SYNTH].done) cm_svg(o, r->tstr[CMP_SYNTH].cm, r->nnames, r->names, "TSTR: trained on SYNTH, tested on REAL");
        if (r->tstr[CMP_REAL].done) cm_svg(o, r->tstr[CMP_REAL].cm, r->nnames, r->names, "trained on real, tested on REAL");
    }
    if (r->memo_done) {
        fputs("<h2>Memorisation</h2><table><tr><th></th><th>REAL</th><th>SYNTH</th><th>replay</th><th>sampler</th></tr>\n", o);
        for (int s = 0; s < CMP_NSIDE; s++) v[s] = compare_pct(r->memo[s].exact, r->memo[s].flows);
        html_table_row(o, "exact copies of TRAIN flows", v, 0, 1);
        for (int s = 0; s < CMP_NSIDE; s++) v[s] = compare_pct(r->memo[s].near, r->memo[s].flows);
        html_table_row(o, "near copies", v, 0, 1);
        for (int s = 0; s < CMP_NSIDE; s++) v[s] = compare_pct(r->memo[s].flows_with_train_addr, r->memo[s].flows);
        html_table_row(o, "flows with a TRAIN address", v, 0, 1);
        fputs("</table>\n", o);
    }
    fid_conc_html(o, r->conc, sn, CMP_NSIDE);
    fputs("<h2>Distributions</h2>\n", o);
    static const struct { int f1, f2; const char *title, *xl; int logx; } cdfs[] = {
        { FN_SIZE_A, FN_SIZE_B, "packet size (IP length), both directions", "bytes", 0 },
        { FN_IAT_A, FN_IAT_B, "inter-arrival time within a flow and direction", "seconds", 1 },
        { FN_FLOW_BYTES, -1, "flow size", "bytes", 1 },
        { FN_FLOW_PKTS, -1, "packets per flow", "packets", 1 },
        { FN_DURATION, -1, "flow duration", "seconds", 1 },
    };
    for (size_t c = 0; c < sizeof cdfs / sizeof cdfs[0]; c++) {
        svg_series ser[CMP_NSIDE];
        double *tmp[CMP_NSIDE] = { 0 };
        for (int s = 0; s < CMP_NSIDE; s++) {
            ser[s].name = sn[s];
            if (cdfs[c].f2 < 0) { ser[s].v = sd[s].cont[cdfs[c].f1]; ser[s].n = sd[s].ncont[cdfs[c].f1]; continue; }
            size_t na = sd[s].ncont[cdfs[c].f1], nb = sd[s].ncont[cdfs[c].f2];
            tmp[s] = malloc((na + nb + 1) * sizeof(double));
            if (na) memcpy(tmp[s], sd[s].cont[cdfs[c].f1], na * sizeof(double));
            if (nb) memcpy(tmp[s] + na, sd[s].cont[cdfs[c].f2], nb * sizeof(double));
            ser[s].v = tmp[s]; ser[s].n = na + nb;
        }
        svg_cdf(o, cdfs[c].title, cdfs[c].xl, cdfs[c].logx, ser, CMP_NSIDE);
        for (int s = 0; s < CMP_NSIDE; s++) free(tmp[s]);
    }
    static const int bars[] = { FC_PROTO, FC_PORT, FC_FLAGS_A, FC_FLAGS_B, FC_TTL_A, FC_TTL_B, FC_IPVER, FC_DIRPAT };
    for (size_t b = 0; b < sizeof bars / sizeof bars[0]; b++) {
        int f = bars[b], bins[12];
        int nt = top_bins(sd, f, bins, 12);
        char *cats[12], cbuf[12][24];
        double sh[CMP_NSIDE * 12];
        for (int i = 0; i < nt; i++) { bin_name(f, bins[i], cbuf[i], sizeof cbuf[i]); cats[i] = cbuf[i]; }
        for (int s = 0; s < CMP_NSIDE; s++) {
            double tot = 0;
            for (int i = 0; i < fid_cat_bins(f); i++) tot += sd[s].cat[f][i];
            for (int i = 0; i < nt; i++) sh[s * nt + i] = tot ? sd[s].cat[f][bins[i]] / tot : 0;
        }
        char title[96];
        snprintf(title, sizeof title, "%s: share of the largest categories", fid_cat_name[f]);
        svg_bars(o, title, cats, nt, sn, CMP_NSIDE, sh);
    }
    if (r->dist[CMP_SYNTH].hdr_len) {
        const double *ys[3] = { r->dist[CMP_SYNTH].bytepos, r->dist[CMP_REPLAY].bytepos, r->dist[CMP_SAMPLER].bytepos };
        char *ln[3] = { "SYNTH", "replay", "sampler" };
        int n = r->dist[CMP_SYNTH].hdr_len;
        if (ys[1] && ys[2] && r->dist[CMP_REPLAY].hdr_len == n && r->dist[CMP_SAMPLER].hdr_len == n)
            svg_lines(o, "JSD to REAL per header byte position", "byte offset from the IP header", "JSD", ln, 3, ys, n, CMP_SYNTH);
    }
    fprintf(o, "<p class=\"note\">pktlm compare, %.2f s, peak RSS %.1f MB.</p>\n</body></html>\n", r->seconds, r->rss / 1e6);
}

