/* `pktlm compare`'s text summary (compare.h): the tables a person reads on stdout. */
#include "eval/compare.h"

static void pr_pct(FILE *o, double v) { if (isnan(v)) fprintf(o, " %10s", "n/a"); else fprintf(o, " %9.2f%%", v); }

void compare_write_text(FILE *o, const compare_report *r) {
    const fid_side *sd = r->side;
    fprintf(o, "REAL   %s: %llu flows, %llu packets\n", r->real_name, (unsigned long long)sd[CMP_REAL].flows, (unsigned long long)sd[CMP_REAL].packets);
    fprintf(o, "SYNTH  %s: %llu flows, %llu packets\n", r->synth_name, (unsigned long long)sd[CMP_SYNTH].flows, (unsigned long long)sd[CMP_SYNTH].packets);
    fprintf(o, "baselines drawn from %s (%zu flows): replay %llu flows, sampler %llu flows\n",
            r->has_train ? "TRAIN" : "the first half of each REAL capture's flows", r->bsrc->n,
            (unsigned long long)sd[CMP_REPLAY].flows, (unsigned long long)sd[CMP_SAMPLER].flows);
    fprintf(o, "\nDistances to REAL (0 = same; JSD base 2 in [0,1]; EMD normalised by REAL's range,\n"
               "log10 scale for times and flow sizes; docs/compare.md)\n");
    fprintf(o, "  %-26s %10s %10s %10s\n", "field", "SYNTH", "replay", "sampler");
    for (int k = 0; k < NFC; k++) {
        fprintf(o, "  %-20s (JSD)", fid_cat_name[k]);
        for (int s = CMP_SYNTH; s < CMP_NSIDE; s++) fprintf(o, " %10.4f", r->dist[s].jsd[k]);
        fputc('\n', o);
    }
    for (int k = 0; k < NFN; k++) {
        fprintf(o, "  %-20s (EMD)", fid_cont_name[k]);
        for (int s = CMP_SYNTH; s < CMP_NSIDE; s++) fprintf(o, " %10.4f", r->dist[s].emd[k]);
        fputc('\n', o);
    }
    if (r->dist[CMP_SYNTH].hdr_len) {
        fprintf(o, "  %-20s (JSD)", "header bytes, mean");
        for (int s = CMP_SYNTH; s < CMP_NSIDE; s++) fprintf(o, " %10.4f", r->dist[s].bytepos_mean);
        fprintf(o, "   (%d positions from the IP header)\n", r->dist[CMP_SYNTH].hdr_len);
    }
    fprintf(o, "\nValidity (packets)          %10s %10s %10s %10s\n", "REAL", "SYNTH", "replay", "sampler");
    fprintf(o, "  %-26s", "records");
    for (int s = 0; s < CMP_NSIDE; s++) fprintf(o, " %10llu", (unsigned long long)sd[s].records);
    static const struct { int m; const char *name; } vrows[] = {
        { CMP_M_FILES_READ, "files read to the end" }, { CMP_M_TIME_ORDER, "records in time order" },
        { CMP_M_PARSE, "frames that parse" }, { CMP_M_IP, "IP packets" }, { CMP_M_LEN_OK, "lengths consistent" },
        { CMP_M_CSUM_OK, "checksums valid" }, { CMP_M_CSUM_CHECKABLE, "checksums checkable" },
        { CMP_M_TRUNCATED, "cut short by snaplen" },
    };
    for (size_t k = 0; k < sizeof vrows / sizeof vrows[0]; k++) {
        fprintf(o, "\n  %-26s", vrows[k].name);
        for (int s = 0; s < CMP_NSIDE; s++) pr_pct(o, compare_measure(&sd[s], vrows[k].m));
    }
    fprintf(o, "\n\nTCP state (share of TCP flows) %7s %10s %10s %10s\n", "REAL", "SYNTH", "replay", "sampler");
    fprintf(o, "  %-26s", "TCP flows");
    for (int s = 0; s < CMP_NSIDE; s++) fprintf(o, " %10llu", (unsigned long long)sd[s].tcp_flows);
    const char *rows[6] = { "handshake", "seq continuity", "ack continuity", "FIN both ways, no RST", "RST", "mid-stream start" };
    for (int k = 0; k < 6; k++) {   /* CMP_M_HANDSHAKE .. CMP_M_MIDSTREAM in this order */
        fprintf(o, "\n  %-26s", rows[k]);
        for (int s = 0; s < CMP_NSIDE; s++) pr_pct(o, compare_measure(&sd[s], CMP_M_HANDSHAKE + k));
    }
    fputc('\n', o);
    char *up[CMP_NSIDE] = { "REAL", "SYNTH", "replay", "sampler" };
    fid_conc_text(o, r->conc, up, CMP_NSIDE);
    fprintf(o, "\nUtility: random forest on flow features, trained on each column, tested on %s\n",
            r->has_train ? "REAL" : "the second half of each REAL capture");
    if (!r->labelled) fprintf(o, "  skipped: fewer than 2 labels in REAL (labels: --labels)\n");
    else {
        fprintf(o, "  %-26s %10s %10s %10s %10s\n", "trained on", r->has_train ? "TRAIN" : "REAL 1st", "SYNTH", "replay", "sampler");
        const char *m[3] = { "accuracy", "macro-F1", "weighted-F1" };
        for (int k = 0; k < 3; k++) {
            fprintf(o, "  %-26s", m[k]);
            for (int s = 0; s < CMP_NSIDE; s++) {
                const compare_tstr *t = &r->tstr[s];
                if (!t->done) fprintf(o, " %10s", "n/a");
                else fprintf(o, " %10.4f", k == 0 ? t->rep.accuracy : k == 1 ? t->rep.macro_f1 : t->rep.weighted_f1);
            }
            fputc('\n', o);
        }
        fprintf(o, "  %-26s", "training flows");
        for (int s = 0; s < CMP_NSIDE; s++) fprintf(o, " %10zu", r->tstr[s].n_train);
        fputc('\n', o);
        if (r->tstr[CMP_SYNTH].done) {
            fprintf(o, "  TSTR per class (train SYNTH, test REAL):\n");
            cls_report_print(o, &r->tstr[CMP_SYNTH].rep, r->tstr[CMP_SYNTH].cm, r->names);
        }
    }
    fprintf(o, "\nMemorisation of TRAIN flows (exact: same first %d packets' direction, size, flags and\n"
               "packet count; near: flow distance <= %.2f; docs/compare.md)\n", FID_MEMO_PKTS, FID_NEAR);
    if (!r->memo_done) fprintf(o, "  skipped: needs --train\n");
    else {
        fprintf(o, "  %-26s %10s %10s %10s %10s\n", "", "REAL", "SYNTH", "replay", "sampler");
        fprintf(o, "  %-26s", "exact copies");
        for (int s = 0; s < CMP_NSIDE; s++) pr_pct(o, compare_pct(r->memo[s].exact, r->memo[s].flows));
        fprintf(o, "\n  %-26s", "near copies");
        for (int s = 0; s < CMP_NSIDE; s++) pr_pct(o, compare_pct(r->memo[s].near, r->memo[s].flows));
        fprintf(o, "\n  %-26s", "training addresses");
        for (int s = 0; s < CMP_NSIDE; s++) fprintf(o, " %10zu", r->memo[s].addrs_in_train);
        fprintf(o, "\n  %-26s", "flows with one");
        for (int s = 0; s < CMP_NSIDE; s++) pr_pct(o, compare_pct(r->memo[s].flows_with_train_addr, r->memo[s].flows));
        fputc('\n', o);
        if (r->memo[CMP_SYNTH].nleaked) {
            fprintf(o, "  training addresses in SYNTH:");
            for (int i = 0; i < r->memo[CMP_SYNTH].nleaked; i++) fprintf(o, " %s", r->memo[CMP_SYNTH].leaked[i]);
            fprintf(o, "%s\n", r->memo[CMP_SYNTH].addrs_in_train > (size_t)r->memo[CMP_SYNTH].nleaked ? " ..." : "");
        }
    }
    fprintf(o, "\ntime %.2f s, peak RSS %.1f MB\n", r->seconds, r->rss / 1e6);
}

