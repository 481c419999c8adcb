/* `pktlm compare --json` (compare.h): every number of the report; NaN and infinities as null.
 * The keys are documented in docs/compare.md. */
#include "eval/compare.h"
#include "util/util.h"

static void jnum(FILE *o, double v) { if (isnan(v) || isinf(v)) fputs("null", o); else fprintf(o, "%.6g", v); }

static void jstr(FILE *o, const char *s) { fputc('"', o); json_escape(o, s); fputc('"', o); }

/* ", "key": share" for each measure of the list, as a fraction (0..1) */
typedef struct { const char *key; int m; } jkey;
static void jmeasures(FILE *o, const fid_side *s, const jkey *k, int n) {
    for (int i = 0; i < n; i++) {
        fprintf(o, ", \"%s\": ", k[i].key);
        jnum(o, compare_measure(s, k[i].m) / 100);
    }
}

static void json_side_counts(FILE *o, const fid_side *s) {
    static const jkey bytes[] = { { "frames_parse", CMP_M_PARSE }, { "ip_packets", CMP_M_IP }, { "truncated", CMP_M_TRUNCATED },
                                  { "lengths_consistent", CMP_M_LEN_OK }, { "checksums_valid", CMP_M_CSUM_OK },
                                  { "checksums_checkable", CMP_M_CSUM_CHECKABLE } };
    static const jkey tcp[] = { { "handshake", CMP_M_HANDSHAKE }, { "seq_continuity", CMP_M_SEQ }, { "ack_continuity", CMP_M_ACK },
                                { "teardown", CMP_M_TEARDOWN }, { "rst", CMP_M_RST }, { "midstream", CMP_M_MIDSTREAM } };
    static const jkey order[] = { { "time_order", CMP_M_TIME_ORDER } };
    fprintf(o, "{\"flows\": %llu, \"packets\": %llu, \"records\": %llu", (unsigned long long)s->flows, (unsigned long long)s->packets,
            (unsigned long long)s->records);
    if (s->has_bytes) {
        if (s->files) {
            fprintf(o, ", \"files\": %llu, \"files_bad\": %llu", (unsigned long long)s->files, (unsigned long long)s->files_bad);
            jmeasures(o, s, order, 1);
        }
        jmeasures(o, s, bytes, 6);
    }
    fprintf(o, ", \"tcp_flows\": %llu", (unsigned long long)s->tcp_flows);
    jmeasures(o, s, tcp, 6);
    fputc('}', o);
}

void compare_write_json(FILE *o, const compare_report *r) {
    fputs("{\n  \"real\": ", o); jstr(o, r->real_name);
    fputs(",\n  \"synth\": ", o); jstr(o, r->synth_name);
    fprintf(o, ",\n  \"baseline_source\": \"%s\",\n  \"baseline_source_flows\": %zu,\n", r->has_train ? "train" : "real_first_half", r->bsrc->n);
    fputs("  \"sides\": {", o);
    for (int s = 0; s < CMP_NSIDE; s++) { fprintf(o, "%s\n    \"%s\": ", s ? "," : "", compare_side_name[s]); json_side_counts(o, &r->side[s]); }
    fputs("\n  },\n  \"jsd\": {", o);
    for (int k = 0; k < NFC; k++) {
        fprintf(o, "%s\n    \"%s\": {", k ? "," : "", fid_cat_name[k]);
        for (int s = CMP_SYNTH; s < CMP_NSIDE; s++) { fprintf(o, "%s\"%s\": ", s > CMP_SYNTH ? ", " : "", compare_side_name[s]); jnum(o, r->dist[s].jsd[k]); }
        fputc('}', o);
    }
    fputs("\n  },\n  \"emd\": {", o);
    for (int k = 0; k < NFN; k++) {
        fprintf(o, "%s\n    \"%s\": {", k ? "," : "", fid_cont_name[k]);
        for (int s = CMP_SYNTH; s < CMP_NSIDE; s++) { fprintf(o, "%s\"%s\": ", s > CMP_SYNTH ? ", " : "", compare_side_name[s]); jnum(o, r->dist[s].emd[k]); }
        fputc('}', o);
    }
    fputs("\n  },\n  \"emd_raw\": {", o);
    for (int k = 0; k < NFN; k++) {
        fprintf(o, "%s\n    \"%s\": {\"unit\": \"%s\"", k ? "," : "", fid_cont_name[k], fid_cont_unit[k]);
        for (int s = CMP_SYNTH; s < CMP_NSIDE; s++) { fprintf(o, ", \"%s\": ", compare_side_name[s]); jnum(o, r->dist[s].emd_raw[k]); }
        fputc('}', o);
    }
    fputs("\n  },\n  \"header_byte_jsd\": {", o);
    for (int s = CMP_SYNTH; s < CMP_NSIDE; s++) {
        fprintf(o, "%s\n    \"%s\": {\"mean\": ", s > CMP_SYNTH ? "," : "", compare_side_name[s]);
        jnum(o, r->dist[s].bytepos_mean);
        fputs(", \"per_position\": [", o);
        for (int i = 0; i < r->dist[s].hdr_len; i++) { if (i) fputs(", ", o); jnum(o, r->dist[s].bytepos[i]); }
        fputs("]}", o);
    }
    fputs("\n  },\n  \"tstr\": ", o);
    if (!r->labelled) fputs("null", o);
    else {
        fprintf(o, "{\n    \"test\": \"%s\",\n    \"labels\": [", r->has_train ? "real" : "real_second_half");
        for (int i = 0; i < r->nnames; i++) { if (i) fputs(", ", o); jstr(o, r->names[i]); }
        fputs("]", o);
        for (int s = 0; s < CMP_NSIDE; s++) {
            const compare_tstr *t = &r->tstr[s];
            fprintf(o, ",\n    \"%s\": ", s == CMP_REAL ? (r->has_train ? "train" : "real_first_half") : compare_side_name[s]);
            if (!t->done) { fputs("null", o); continue; }
            fprintf(o, "{\"n_train\": %zu, \"n_test\": %zu, \"accuracy\": ", t->n_train, t->n_test); jnum(o, t->rep.accuracy);
            fputs(", \"macro_f1\": ", o); jnum(o, t->rep.macro_f1);
            fputs(", \"weighted_f1\": ", o); jnum(o, t->rep.weighted_f1);
            fputs(", \"per_class\": [", o);
            for (int c = 0; c < t->rep.C; c++)
                fprintf(o, "%s{\"precision\": %.6g, \"recall\": %.6g, \"f1\": %.6g, \"support\": %ld}", c ? ", " : "", t->rep.precision[c],
                        t->rep.recall[c], t->rep.f1[c], t->rep.support[c]);
            fputs("], \"confusion\": [", o);
            for (int a = 0; a < t->rep.C; a++) {
                fputs(a ? ", [" : "[", o);
                for (int b = 0; b < t->rep.C; b++) fprintf(o, "%s%ld", b ? ", " : "", t->cm[a * t->rep.C + b]);
                fputc(']', o);
            }
            fputs("]}", o);
        }
        fputs("\n  }", o);
    }
    fputs(",\n  \"memorisation\": ", o);
    if (!r->memo_done) fputs("null", o);
    else {
        fprintf(o, "{\"near_threshold\": %g, \"packets_compared\": %d", FID_NEAR, FID_MEMO_PKTS);
        for (int s = 0; s < CMP_NSIDE; s++) {
            const fid_memo *m = &r->memo[s];
            fprintf(o, ",\n    \"%s\": {\"flows\": %zu, \"exact\": %zu, \"near\": %zu, \"addresses\": %zu, \"train_addresses\": %zu, "
                    "\"flows_with_train_address\": %zu, \"examples\": [", compare_side_name[s], m->flows, m->exact, m->near, m->addrs, m->addrs_in_train,
                    m->flows_with_train_addr);
            for (int i = 0; i < m->nleaked; i++) { if (i) fputs(", ", o); jstr(o, m->leaked[i]); }
            fputs("]}", o);
        }
        fputs("\n  }", o);
    }
    fputs(",\n  ", o);
    fid_conc_json(o, r->conc, (char **)compare_side_name, CMP_NSIDE);
    fprintf(o, ",\n  \"seconds\": %.3f,\n  \"peak_rss_bytes\": %zu\n}\n", r->seconds, r->rss);
}

