/* The method of `pktlm compare`: see compare.h (and docs/compare.md for every number). */
#include "eval/compare.h"
#include "eval/forest.h"
#include "eval/shallow.h"
#include <stdlib.h>
#include <string.h>

const char *const compare_side_name[CMP_NSIDE] = { "real", "synth", "replay", "sampler" };

/* Give every set the same label ids (by name), in the order names are first met. */
static void unify_labels(ff_set **sets, int ns, char ***names, int *nn) {
    char **g = NULL;
    int n = 0;
    for (int k = 0; k < ns; k++) {
        ff_set *s = sets[k];
        int *map = malloc((size_t)(s->nlabels + 1) * sizeof *map);
        for (int i = 0; i < s->nlabels; i++) {
            int j = 0;
            while (j < n && strcmp(g[j], s->labels[i])) j++;
            if (j == n) { g = realloc(g, (size_t)(n + 1) * sizeof *g); g[n++] = strdup(s->labels[i]); }
            map[i] = j;
        }
        for (size_t i = 0; i < s->n; i++) if (s->fl[i].label >= 0) s->fl[i].label = map[s->fl[i].label];
        free(map);
    }
    for (int k = 0; k < ns; k++) {
        ff_set *s = sets[k];
        for (int i = 0; i < s->nlabels; i++) free(s->labels[i]);
        free(s->labels);
        s->labels = malloc((size_t)(n ? n : 1) * sizeof *s->labels);
        for (int i = 0; i < n; i++) s->labels[i] = strdup(g[i]);
        s->nlabels = n;
    }
    *names = g;
    *nn = n;
}

/* Split src into the first half of each capture's flows (by first packet) and the rest,
 * so both halves hold every capture, and so every label. */
static void split_halves(ff_set *first, ff_set *second, const ff_set *src) {
    ff_set *out[2] = { first, second };
    for (int k = 0; k < 2; k++) {
        ff_set_init(out[k], 0, src->hdr_len);
        for (int i = 0; i < src->nlabels; i++) ff_label_id(out[k], src->labels[i]);
        for (int i = 0; i < src->nfiles; i++) {
            out[k]->files = realloc(out[k]->files, (size_t)(out[k]->nfiles + 1) * sizeof *out[k]->files);
            out[k]->files[out[k]->nfiles++] = strdup(src->files[i]);
        }
    }
    for (size_t lo = 0; lo < src->n;) {   /* flows of one file are contiguous */
        size_t hi = lo;
        while (hi < src->n && src->fl[hi].file == src->fl[lo].file) hi++;
        size_t mid = lo + (hi - lo) / 2;
        for (size_t i = lo; i < hi; i++) ff_copy_flow(out[i >= mid], src, &src->fl[i], src->fl[i].file, src->fl[i].label);
        lo = hi;
    }
    for (int k = 0; k < 2; k++) out[k]->cnt.packets = out[k]->cnt.ip = out[k]->cnt.in_flows = out[k]->npk;
}

static const ff_feat_cfg TSTR_FEAT = { 1, 1, 20 };

/* Train a forest on `train`, test on `test`: C classes (the unified labels). */
static void tstr_run(compare_tstr *r, const ff_set *train, const ff_set *test, int C, int trees, uint64_t seed) {
    memset(r, 0, sizeof *r);
    if (C < 2) return;
    /* Meaningful only when the training flows carry at least two of the test labels
     * (a SYNTH labelled by another folder name would score 0 and say nothing). */
    char *in_test = calloc((size_t)C, 1), *in_train = calloc((size_t)C, 1);
    for (size_t i = 0; i < test->n; i++) if (test->fl[i].label >= 0) in_test[test->fl[i].label] = 1;
    for (size_t i = 0; i < train->n; i++) if (train->fl[i].label >= 0) in_train[train->fl[i].label] = 1;
    int shared = 0;
    for (int k = 0; k < C; k++) shared += in_test[k] && in_train[k];
    free(in_test); free(in_train);
    if (shared < 2) return;
    rf_cfg c;
    rf_cfg_default(&c);
    c.n_trees = trees;
    c.balanced = 1;
    c.seed = seed;
    shallow_model m;
    if (shallow_train(&m, train, NULL, 0, &TSTR_FEAT, &c, C) != 0) { shallow_free(&m); return; }
    for (size_t i = 0; i < train->n; i++) r->n_train += train->fl[i].label >= 0;
    r->cm = calloc((size_t)C * C, sizeof *r->cm);
    r->n_test = shallow_confusion(&m, test, NULL, 0, r->cm);
    shallow_free(&m);
    cls_report_compute(&r->rep, r->cm, C);
    r->done = 1;
}

void compare_run(compare_report *r, ff_set *real, ff_set *synth, ff_set *train, const compare_cfg *cfg) {
    memset(r, 0, sizeof *r);
    ff_set *replay = &r->own[0], *sampler = &r->own[1], *bsrc_half = &r->own[2], *test_half = &r->own[3];
    for (int i = 0; i < 4; i++) ff_set_init(&r->own[i], 0, real->hdr_len);
    r->set[CMP_REAL] = real; r->set[CMP_SYNTH] = synth; r->set[CMP_REPLAY] = replay; r->set[CMP_SAMPLER] = sampler;
    r->has_train = train != NULL;
    {
        ff_set *all[3] = { real, synth, train };
        unify_labels(all, train ? 3 : 2, &r->names, &r->nnames);
    }
    if (train) { r->bsrc = train; r->test = real; }
    else {
        split_halves(bsrc_half, test_half, real);
        r->bsrc = bsrc_half; r->test = test_half;
    }
    size_t nb = synth->n ? synth->n : real->n;
    fid_replay(replay, r->bsrc, nb, cfg->seed * 7919 + 1);
    fid_sampler(sampler, r->bsrc, nb, cfg->seed * 7919 + 2);
    for (int s = 0; s < CMP_NSIDE; s++) fid_side_build(&r->side[s], r->set[s], s != CMP_SAMPLER);
    for (int s = CMP_SYNTH; s < CMP_NSIDE; s++) fid_distance(&r->dist[s], &r->side[CMP_REAL], &r->side[s]);
    double cbin = fid_conc_bin(real);   /* out of memory: that side's figure is left empty (n/a) */
    for (int s = 0; s < CMP_NSIDE; s++) fid_conc_build(&r->conc[s], r->set[s], cbin);
    for (int s = CMP_SYNTH; s < CMP_NSIDE; s++) fid_conc_compare(&r->conc[CMP_REAL], &r->conc[s]);

    /* TSTR: labels present in the test flows, at least two of them */
    int *seen = calloc((size_t)(r->nnames + 1), sizeof *seen), nl = 0;
    for (size_t i = 0; i < r->test->n; i++) if (r->test->fl[i].label >= 0 && !seen[r->test->fl[i].label]++) nl++;
    free(seen);
    r->labelled = nl >= 2;
    if (r->labelled) {
        tstr_run(&r->tstr[CMP_REAL], r->bsrc, r->test, r->nnames, cfg->trees, cfg->seed);
        for (int s = CMP_SYNTH; s < CMP_NSIDE; s++) tstr_run(&r->tstr[s], r->set[s], r->test, r->nnames, cfg->trees, cfg->seed);
    }
    if (train) {
        fid_train_index *x = fid_train_index_new(train);
        for (int s = 0; s < CMP_NSIDE; s++) fid_memorisation(&r->memo[s], x, r->set[s]);
        fid_train_index_free(x);
        r->memo_done = 1;
    }
}

double compare_measure(const fid_side *s, int k) {
    const int bytes = s->has_bytes, files = s->has_bytes && s->files;
    switch (k) {
    case CMP_M_FILES_READ: return files ? compare_pct(s->files - s->files_bad, s->files) : NAN;
    case CMP_M_TIME_ORDER: return files ? compare_pct(s->records - s->ts_backwards, s->records) : NAN;
    case CMP_M_PARSE: return bytes ? compare_pct(s->records - s->not_parsed, s->records) : NAN;
    case CMP_M_IP: return bytes ? compare_pct(s->ip, s->records) : NAN;
    case CMP_M_LEN_OK: return bytes ? compare_pct(s->len_ok, s->kept) : NAN;
    case CMP_M_CSUM_OK: return bytes ? compare_pct(s->csum_ok, s->csum_checked) : NAN;
    case CMP_M_CSUM_CHECKABLE: return bytes ? compare_pct(s->csum_checked, s->kept) : NAN;
    case CMP_M_TRUNCATED: return bytes ? compare_pct(s->truncated, s->kept) : NAN;
    case CMP_M_HANDSHAKE: return compare_pct(s->handshake, s->tcp_flows);
    case CMP_M_SEQ: return s->has_seq ? compare_pct(s->seq_ok, s->tcp_flows) : NAN;
    case CMP_M_ACK: return s->has_seq ? compare_pct(s->ack_ok, s->tcp_flows) : NAN;
    case CMP_M_TEARDOWN: return compare_pct(s->teardown, s->tcp_flows);
    case CMP_M_RST: return compare_pct(s->rst, s->tcp_flows);
    case CMP_M_MIDSTREAM: return compare_pct(s->midstream, s->tcp_flows);
    }
    return NAN;
}

void compare_free(compare_report *r) {
    for (int s = 0; s < CMP_NSIDE; s++) {
        fid_conc_free(&r->conc[s]);
        fid_side_free(&r->side[s]);
        if (s) fid_dist_free(&r->dist[s]);
        if (r->tstr[s].done) cls_report_free(&r->tstr[s].rep);
        free(r->tstr[s].cm);
    }
    for (int i = 0; i < r->nnames; i++) free(r->names[i]);
    free(r->names);
    for (int i = 0; i < 4; i++) ff_set_free(&r->own[i]);
    memset(r, 0, sizeof *r);
}
