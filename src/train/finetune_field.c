/* Header-field prediction: see finetune_field.h and docs/field.md. */
#include "train/finetune_field.h"
#include "train/checkpoint.h"
#include "train/dist.h"
#include "corpus/tokens.h"
#include "util/util.h"
#include "util/outlock.h"
#include "corpus/vocab.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void field_defaults(field_opts *o) {
    memset(o, 0, sizeof *o);
    o->cfg.arch = ARCH_GPT2;
    o->cfg.layers = 2; o->cfg.d_model = 128; o->cfg.heads = 4; o->cfg.ctx = 256;
    o->batch = 16; o->epochs = 10; o->patience = 3; o->warmup = 20;
    o->lr = 3e-4f; o->weight_decay = 0.01f; o->clip = 1.0f; o->seed = 1337;
}

/* Occurrences wholly inside the first T+1 tokens: scanning only that prefix finds exactly
 * them, because a field is located from the bytes before it (field_locate checks that all
 * its bytes are present). A packet costs at least 2 tokens, so (T+1)/2+1 is room enough. */
static int scan_prefix(int field, const tok_t *tok, size_t n, int T, field_occ **buf, int *cap) {
    size_t L = n < (size_t)T + 1 ? n : (size_t)T + 1;
    int need = (int)(L / 2) + 2;
    if (need > *cap) {
        field_occ *b = realloc(*buf, (size_t)need * sizeof *b);
        if (!b) return -1;
        *buf = b; *cap = need;
    }
    int k = field_scan(field, tok, L, *buf, *cap);
    return k < *cap ? k : *cap;
}

int field_make_row(int field, const tok_t *tok, size_t n, int T, int pad_id, int *row, int *tgt) {
    size_t L = n < (size_t)T ? n : (size_t)T;
    for (int t = 0; t < T; t++) row[t] = (size_t)t < L ? tok[t] : pad_id;
    /* the label token is the answer to another task: the model never sees it */
    if (L > 1 && row[0] == TOK_BOS && tok_is_label(row[1])) row[1] = TOK_UNLABELLED;
    if (tgt) for (int t = 0; t < T; t++) tgt[t] = -1;
    const field_def *f = field_by_id(field);
    if (!f) return 0;
    field_occ *occ = NULL;
    int cap = 0, k = scan_prefix(field, tok, n, T, &occ, &cap);
    if (k < 0) return 0;
    for (int j = 0; tgt && j < k; j++)
        for (int b = 0; b < f->width; b++) tgt[occ[j].pos + (uint32_t)b - 1] = tok[occ[j].pos + (uint32_t)b];
    free(occ);
    return k;
}

static int argmax_byte(const float *l) {
    int best = 0;
    for (int v = 1; v < 256; v++) if (l[v] > l[best]) best = v;
    return best;
}

int field_exact(const float *logits, int V, uint32_t pos, int w, uint32_t value) {
    for (int k = 0; k < w; k++) {
        int want = (int)(value >> (8 * (w - 1 - k)) & 255);
        if (argmax_byte(logits + (size_t)(pos - 1 + (uint32_t)k) * (size_t)V) != want) return 0;
    }
    return 1;
}

uint32_t field_greedy(model *m, int *row, int T, uint32_t pos, int w) {
    uint32_t v = 0;
    int was = m->training;
    m->training = 0;
    for (int k = 0; k < w; k++) {
        /* causal: the logits at pos-1+k depend only on row[0 .. pos-1+k], so the rest of
         * the row (true tokens or padding) does not matter */
        model_forward(m, row, NULL, 1, T);
        int b = argmax_byte(m->logits + (size_t)(pos - 1 + (uint32_t)k) * (size_t)m->cfg.vocab);
        row[pos + (uint32_t)k] = b;
        v = v << 8 | (uint32_t)b;
    }
    m->training = was;
    return v;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

uint32_t field_majority(int field, const shard *s, int T, long *count) {
    size_t n = 0, cap = 1024;
    uint32_t *v = malloc(cap * sizeof *v);
    field_occ *occ = NULL;
    int ocap = 0;
    for (uint64_t i = 0; v && i < s->n_seqs; i++) {
        int k = scan_prefix(field, s->tokens + s->seqs[i].off, s->seqs[i].len, T, &occ, &ocap);
        for (int j = 0; j < k; j++) {
            if (n == cap) {
                uint32_t *v2 = realloc(v, 2 * cap * sizeof *v);
                if (!v2) { free(v); v = NULL; break; }
                v = v2; cap *= 2;
            }
            v[n++] = occ[j].value;
        }
    }
    free(occ);
    *count = (long)n;
    if (!v || n == 0) { free(v); *count = 0; return 0; }
    qsort(v, n, sizeof *v, cmp_u32);
    uint32_t best = v[0];
    size_t run = 0, best_run = 0;
    for (size_t i = 0; i < n; i++) {
        run = i && v[i] == v[i - 1] ? run + 1 : 1;
        if (run > best_run) { best_run = run; best = v[i]; }   /* strictly longer: ties keep the smaller */
    }
    free(v);
    return best;
}

void field_score_shard(model *m, int field, const shard *s, int T, int B, uint32_t maj, field_score *out) {
    field_score_part(m, field, s, T, B, maj, 0, 1, out);
}

void field_score_part(model *m, int field, const shard *s, int T, int B, uint32_t maj, int part, int nparts, field_score *out) {
    memset(out, 0, sizeof *out);
    out->majority_value = maj;
    const field_def *f = field_by_id(field);
    if (!f) return;
    field_occ *occ = NULL;
    int ocap = 0;
    /* the sequences that have an occurrence: only they need the model */
    uint32_t *ix = malloc((s->n_seqs + 1) * sizeof *ix);
    size_t nix = 0;
    for (uint64_t i = 0; ix && i < s->n_seqs; i++)
        if (scan_prefix(field, s->tokens + s->seqs[i].off, s->seqs[i].len, T, &occ, &ocap) > 0) ix[nix++] = (uint32_t)i;
    int *rows = m ? malloc((size_t)B * T * sizeof(int)) : NULL;
    int was = m ? m->training : 0;
    if (m) m->training = 0;
    for (size_t i0 = (size_t)part * B; ix && i0 < nix; i0 += (size_t)B * nparts) {
        int nb = (int)(nix - i0 < (size_t)B ? nix - i0 : (size_t)B);
        if (m && rows) {
            for (int b = 0; b < B; b++) {
                const shard_seq *q = &s->seqs[ix[i0 + (size_t)(b < nb ? b : 0)]];
                field_make_row(field, s->tokens + q->off, q->len, T, s->pad_id, rows + (size_t)b * T, NULL);
            }
            model_forward(m, rows, NULL, B, T);
        }
        for (int b = 0; b < nb; b++) {
            const shard_seq *q = &s->seqs[ix[i0 + (size_t)b]];
            int k = scan_prefix(field, s->tokens + q->off, q->len, T, &occ, &ocap);
            uint32_t prev[3] = { 0, 0, 0 };
            int have[3] = { 0, 0, 0 };
            for (int j = 0; j < k; j++) {
                const field_occ *e = &occ[j];
                int d = e->dir + 1, first = !have[d];
                int hit = m && rows ? field_exact(m->logits + (size_t)b * T * (size_t)m->cfg.vocab, m->cfg.vocab, e->pos,
                                                  f->width, e->value) : 0;
                uint32_t cp = have[d] ? prev[d] : maj;
                out->n++;
                out->model += hit;
                out->majority += e->value == maj;
                out->copy += e->value == cp;
                if (first) { out->first_n++; out->first_model += hit; out->first_copy += e->value == cp; }
                prev[d] = e->value; have[d] = 1;
            }
        }
    }
    if (m) m->training = was;
    free(rows); free(ix); free(occ);
}

/* ---- training ---- */


static double ratio(long a, long b) { return b ? (double)a / (double)b : 0; }

/* scores of the whole validation shard: each rank its share of the batches, counts added up */
static void score_val(model *m, int field, const shard *s, int T, int B, uint32_t maj, dist *dd, field_score *out) {
    field_score_part(m, field, s, T, B, maj, dd->rank, dd->size, out);
    if (dd->size <= 1) return;
    double v[8] = { out->n, out->model, out->majority, out->copy, out->first_n, out->first_model, out->first_copy, 0 };
    dist_sum(dd, v, 7);
    out->n = (long)v[0]; out->model = (long)v[1]; out->majority = (long)v[2]; out->copy = (long)v[3];
    out->first_n = (long)v[4]; out->first_model = (long)v[5]; out->first_copy = (long)v[6];
}

int field_finetune_run(field_opts *o) {
    /* under mpirun: each rank its rows of every batch; only rank 0 writes (train/dist.h) */
    dist dd;
    if (dist_start(&dd, o->threads, &o->quiet, o->err, sizeof o->err) != 0) return -1;
    int r0 = 0, nb = 0;
    shard tr = { 0 }, va = { 0 };
    model m = { 0 };
    train_state st;
    memset(&st, 0, sizeof st);
    char path[1200], err[512], csv[1200];
    int rc = -1, have_val = 0, ocap = 0;
    uint32_t *tix = NULL;
    int *rows = NULL, *tgt = NULL;
    field_occ *occ = NULL;
    FILE *log = NULL;
    out_lock lock = { -1, NULL };
    const field_def *f = field_by_id(o->field);
    if (!f) return OPT_FAIL(o, "no field to predict (--field NAME)");
    if (!o->data_dir || !o->out_path) return OPT_FAIL(o, "need --data CORPUS_DIR and -o FIELD.ckpt");
    snprintf(path, sizeof path, "%s/train.tok", o->data_dir);
    if (shard_load(&tr, path, err, sizeof err) != 0) {
        OPT_FAIL(o, "%s%s", err, access(path, R_OK) ? " (is this a corpus directory made by `pktlm prep`?)" : "");
        goto done;
    }
    /* one run per output, and never into its own corpus */
    if (dd.rank == 0 && out_guard_take(&lock, o->out_path, o->data_dir, err, sizeof err) != 0) { OPT_FAIL(o, "%s", err); goto done; }
    /* the corpus's vocab.json must be there and agree with its shards (every verb checks it) */
    char **lnames = corpus_labels(o->data_dir, &tr, err, sizeof err);
    if (!lnames) { OPT_FAIL(o, "%s", err); goto done; }
    corpus_labels_free(lnames, tr.n_labels);
    if (tr.format == TOKFMT_BPE) {   /* docs/field.md "Token formats" */
        OPT_FAIL(o, "%s holds 'bpe' tokens: header-field prediction scores a field's bytes at their offset, and a BPE token is not "
                    "a byte (it may hold the field's hex digits with its neighbours', cut where the values decide), so the task "
                    "has no sound per-token target there; use a `pktlm prep --tokens bytes` corpus and `--init M.ckpt "
                    "--new-embeddings` to keep an imported model's body (docs/field.md)", path);
        goto done;
    }
    if (tr.format != TOKFMT_BYTES) {
        OPT_FAIL(o, "%s holds '%s' tokens: header-field prediction reads the fields' bytes, it needs a `pktlm prep --tokens bytes` corpus",
             path, tokfmt_get(tr.format)->name);
        goto done;
    }
    /* val.tok is optional, but one that is there must load and match train.tok */
    snprintf(path, sizeof path, "%s/val.tok", o->data_dir);
    if (access(path, F_OK) != 0) {
        if (!o->quiet) fprintf(stderr, "pktlm finetune: %s missing: keeping the last model\n", path);
    } else {
        if (shard_load(&va, path, err, sizeof err) != 0) { OPT_FAIL(o, "%s", err); goto done; }
        have_val = 1;
        if (shard_check_same_format(&tr, &va, path, err, sizeof err) != 0) { OPT_FAIL(o, "%s", err); goto done; }
    }

    /* model */
    if ((o->init_path && o->new_embeddings ? ckpt_backbone_new_vocab(o->init_path, &tr, o->data_dir, o->seed, &m, &st, err, sizeof err)
                                           : ckpt_backbone(o->init_path, &tr, o->data_dir, &o->cfg, o->seed, &m, &st, err, sizeof err)) != 0) {
        OPT_FAIL(o, "%s", err);
        goto done;
    }
    if (o->init_path) m.cfg.dropout = o->cfg.dropout;
    st.task = CKPT_TASK_FIELD; st.task_field = o->field; st.task_pretrained = o->init_path != NULL;
    st.task_best = -1; st.task_best_step = 0;

    /* rows: the longest training sequence, at most the context (or --seq-len) */
    int T = 2;
    for (uint64_t i = 0; i < tr.n_seqs; i++) if ((int)tr.seqs[i].len > T) T = (int)tr.seqs[i].len;
    if (T > m.cfg.ctx) T = m.cfg.ctx;
    if (o->seq_len > 1 && o->seq_len < T) T = o->seq_len;
    const int B = o->batch;
    dist_rows(B, dd.rank, dd.size, &r0, &nb);
    if (nb < 1) { OPT_FAIL(o, "a batch of %d rows cannot be shared by %d processes: each needs at least one (--batch >= %d)", B, dd.size, dd.size); goto done; }
    /* training sequences: those with an occurrence inside the row */
    tix = malloc((tr.n_seqs + 1) * sizeof *tix);
    size_t nt = 0;
    long occ_train = 0;
    for (uint64_t i = 0; tix && i < tr.n_seqs; i++) {
        int k = scan_prefix(o->field, tr.tokens + tr.seqs[i].off, tr.seqs[i].len, T, &occ, &ocap);
        if (k > 0) { tix[nt++] = (uint32_t)i; occ_train += k; }
    }
    if (nt == 0) { OPT_FAIL(o, "%s/train.tok: no packet has the field %s within the first %d tokens of its sequence", o->data_dir, f->name, T + 1); goto done; }
    if (model_alloc_training(&m) != 0 || model_alloc_acts(&m, B, T) != 0) { OPT_FAIL(o, "out of memory for batch %d x %d", B, T); goto done; }
    if (dd.size > 1) {
        /* the same run on every rank (checked), from rank 0's weights */
        uint64_t mine[3] = { m.nparams, nt, (uint64_t)T }, r0v[3];
        memcpy(r0v, mine, sizeof mine);
        dist_bcast(&dd, r0v, sizeof r0v);
        if (memcmp(mine, r0v, sizeof mine)) {
            OPT_FAIL(o, "rank %d: this run (%llu parameters, %llu sequences, rows of %llu) differs from rank 0's (%llu, %llu, %llu): "
                    "every rank must run the same command", dd.rank, (unsigned long long)mine[0], (unsigned long long)mine[1],
                 (unsigned long long)mine[2], (unsigned long long)r0v[0], (unsigned long long)r0v[1], (unsigned long long)r0v[2]);
            goto done;
        }
        dist_bcast(&dd, m.params, m.nparams * sizeof(float));
    }
    rows = malloc((size_t)B * T * sizeof(int)); tgt = malloc((size_t)B * T * sizeof(int));
    if (!rows || !tgt) { OPT_FAIL(o, "out of memory"); goto done; }
    long count;
    const uint32_t maj = field_majority(o->field, &tr, T, &count);
    field_score vbase = { 0 };
    if (have_val) field_score_shard(NULL, o->field, &va, T, B, maj, &vbase);   /* no model: cheap, on every rank */
    o->val_n = vbase.n;
    o->val_majority = ratio(vbase.majority, vbase.n); o->val_copy = ratio(vbase.copy, vbase.n);
    if (have_val && vbase.n == 0 && !o->quiet) fprintf(stderr, "pktlm finetune: no occurrence of %s in val.tok: keeping the last model\n", f->name);

    const long spe = (long)((nt + (size_t)B - 1) / (size_t)B);
    long total = (long)(o->epochs * (double)spe + 0.5);
    if (o->max_steps > 0 && o->max_steps < total) total = o->max_steps;
    if (total < 1) total = 1;
    const long eval_every = o->eval_every > 0 ? o->eval_every : spe;
    if (!o->quiet)
        fprintf(stderr, "pktlm finetune: field %s (%d byte%s), %s%s, %d layers, d %d, ctx %d (rows of %d tokens), %zu parameters; "
                        "%zu training sequences with %ld occurrences, %ld validation occurrences (majority %.4f, copy %.4f); "
                        "lr %.1e, up to %ld steps of batch %d\n",
                f->name, f->width, f->width > 1 ? "s" : "", model_arch_name(m.cfg.arch),
                o->init_path ? " from a pretrained checkpoint" : " from scratch", m.cfg.layers, m.cfg.d_model, m.cfg.ctx, T,
                m.nparams, nt, occ_train, vbase.n, ratio(vbase.majority, vbase.n), ratio(vbase.copy, vbase.n), o->lr, total, B);

    ckpt_side_path(csv, sizeof csv, o->out_path, ".csv");
    if (dd.rank == 0) {
        log = fopen(csv, "w");
        if (!log) { OPT_FAIL(o, "%s: %s", csv, strerror(errno)); goto done; }
        fputs("epoch,step,lr,train_loss,val_exact,val_majority,val_copy,val_occurrences,elapsed_s\n", log);
        fflush(log);
    }

    st.batch = B; st.accum = 1; st.seq_len = T; st.warmup = o->warmup; st.pack = 0; st.total_steps = total;
    st.lr = o->lr; st.min_frac = 0.1f; st.weight_decay = o->weight_decay; st.beta1 = 0.9f; st.beta2 = 0.999f;
    st.eps = 1e-8f; st.clip = o->clip; st.seed = o->seed;
    adamw_params hp = { .beta1 = st.beta1, .beta2 = st.beta2, .eps = st.eps, .weight_decay = o->weight_decay };
    uint64_t rng = o->seed ^ 0xd1b54a32d192ed03ull, prng = o->seed ^ 0x3c6ef372fe94f82aull;
    progress pg;
    progress_init(&pg, "fine-tuning", "rows", 1);
    if (dd.rank) pg.enabled = 0;
    char ranks_note[48] = "";
    if (dd.size > 1) snprintf(ranks_note, sizeof ranks_note, " (%d ranks)", dd.size);
    double t0 = now_sec(), lsum = 0;
    long lcount = 0, step = 0, bad = 0, saved = 0;
    size_t pos = nt;   /* shuffle on the first draw */
    o->best_val = -1;
    for (;;) {
        /* one optimizer step */
        hp.lr = lr_schedule((int)step, o->lr, o->warmup, (int)total, 0.1f);
        for (int b = 0; b < B; b++) {
            if (pos >= nt) {   /* next epoch: Fisher-Yates from SplitMix64 */
                for (size_t i = nt; i > 1; i--) {
                    size_t j = (size_t)(splitmix64(&prng) % i);
                    uint32_t t = tix[i - 1]; tix[i - 1] = tix[j]; tix[j] = t;
                }
                pos = 0;
            }
            const shard_seq *q = &tr.seqs[tix[pos++]];
            if (b >= r0 && b < r0 + nb)   /* this rank's rows of the global batch */
                field_make_row(o->field, tr.tokens + q->off, q->len, T, tr.pad_id, rows + (size_t)(b - r0) * T,
                               tgt + (size_t)(b - r0) * T);
        }
        m.training = 1;
        m.dropout_seed = splitmix64(&rng) + (uint64_t)dd.rank * 0x9E3779B97F4A7C15ull;   /* each rank its own masks */
        model_zero_grad(&m);
        model_forward(&m, rows, tgt, nb, T);
        /* the gradient is the mean over the field bytes of the global batch: with several ranks,
         * their count (and the loss, and any stop request) is summed before the backward pass */
        double agg[3] = { (double)m.loss * m.counted, m.counted, o->interrupt && *o->interrupt };
        dist_sum(&dd, agg, 3);
        float loss = dd.size > 1 ? (agg[1] > 0 ? (float)(agg[0] / agg[1]) : 0) : m.loss;
        dist_grads_begin(&dd, &m);
        model_backward(&m, rows, tgt, nb, T, dd.size > 1 && agg[1] > 0 ? (float)(1.0 / agg[1]) : 0);
        dist_grads_end(&dd, &m, NULL, 0);
        clip_grad_norm(m.grads, m.nparams, o->clip);
        model_adamw(&m, &hp, (int)step + 1);
        lsum += (double)loss; lcount++;
        step++;
        double el = now_sec() - t0;
        int stop = agg[2] > 0 || (o->time_limit > 0 && dist_any(&dd, el > o->time_limit));
        int last = step >= total || stop;
        if (!o->quiet) {
            char extra[200];
            snprintf(extra, sizeof extra, "step %ld/%ld  loss %.4f  best val exact %.4f", step, total, lsum / (double)lcount,
                     o->best_val < 0 ? 0 : o->best_val);
            progress_update(&pg, (double)step * B, (double)total * B, extra);
        }
        if (step % eval_every == 0 || last) {
            field_score vs = { 0 };
            if (have_val && vbase.n) score_val(&m, o->field, &va, T, B, maj, &dd, &vs);
            double ve = ratio(vs.model, vs.n);
            el = now_sec() - t0;
            int epoch = (int)((step - 1) / spe) + 1;
            if (log) {
                fprintf(log, "%d,%ld,%.6g,%.6f,%.6f,%.6f,%.6f,%ld,%.2f\n", epoch, step, hp.lr, lsum / (double)lcount, ve,
                        ratio(vbase.majority, vbase.n), ratio(vbase.copy, vbase.n), vs.n, el);
                fflush(log);
            }
            int better = !vbase.n || ve > o->best_val;
            if (better) {
                o->best_val = vbase.n ? ve : -1; o->best_step = step; bad = 0;
                st.task_best = (float)o->best_val; st.task_best_step = step;
                st.step = step; st.last_loss = (float)(lsum / (double)lcount); st.last_val = (float)ve;
                st.tokens = (uint64_t)step * (uint64_t)B * (uint64_t)T;
                if (dd.rank == 0 && ckpt_save(o->out_path, &m, &st, err, sizeof err) != 0) { OPT_FAIL(o, "%s", err); goto done; }
                saved = 1;
            } else bad++;
            if (!o->quiet) {
                char eta[32];
                fmt_duration(eta, sizeof eta, el / (double)step * (double)(total - step));
                progress_end(&pg);
                fprintf(stderr, "epoch %d  step %ld/%ld  loss %.4f  val exact %.4f (%ld of %ld)%s  %.0f rows/s%s  ETA %s\n",
                        epoch, step, total, lsum / (double)lcount, ve, vs.model, vs.n, better ? "  (best, saved)" : "",
                        (double)step * B / (el > 0 ? el : 1e-9), ranks_note, eta);
            }
            lsum = 0; lcount = 0;
            o->epochs_run = epoch;
            if (o->patience > 0 && bad >= o->patience) {
                if (!o->quiet) fprintf(stderr, "pktlm finetune: early stop: no better validation exact match in %ld evaluations\n", bad);
                break;
            }
        }
        if (last) {
            if (!o->quiet && o->interrupt && *o->interrupt) fprintf(stderr, "pktlm finetune: interrupted\n");
            else if (!o->quiet && stop) fprintf(stderr, "pktlm finetune: time limit %.0fs reached\n", o->time_limit);
            break;
        }
    }
    progress_end(&pg);
    o->steps = step;
    if (!o->quiet) dist_report_waits(&dd, "finetune", now_sec() - t0);
    rc = saved ? 0 : OPT_FAIL(o, "no model saved");
done:
    if (log) fclose(log);
    out_lock_release(&lock);
    free(tix); free(rows); free(tgt); free(occ);
    model_free(&m);
    shard_free(&tr);
    if (have_val) shard_free(&va);
    dist_free(&dd);
    return rc;
}
