/* Causal-LM pretraining loop: see pretrain.h. */
#include "train/pretrain.h"
#include "train/checkpoint.h"
#include "train/data.h"
#include "train/dist.h"
#include "train/resume.h"
#include "corpus/vocab.h"
#include "corpus/manifest.h"
#include "corpus/prep.h"
#include "util/util.h"
#include "util/outlock.h"
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void pretrain_defaults(pretrain_opts *o) {
    memset(o, 0, sizeof *o);
    o->cfg.arch = ARCH_GPT2;
    o->cfg.layers = 6; o->cfg.d_model = 256; o->cfg.heads = 8; o->cfg.ctx = 256;
    o->batch = 8; o->accum = 1; o->warmup = 100; o->pack = 1;
    o->lr = 6e-4f; o->min_frac = 0.1f; o->weight_decay = 0.1f;
    o->beta1 = 0.9f; o->beta2 = 0.95f; o->eps = 1e-8f; o->clip = 1.0f;
    o->seed = 1337; o->val_batches = 20;
    o->prec = -1;
}

static size_t mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    size_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %zu kB", &kb) == 1) break;
    fclose(f);
    return kb * 1024;
}

/* ---- CSV log and SVG plot ---- */
#define CSV_HEADER "step,tokens,lr,loss,val_loss,grad_norm,tok_per_s,elapsed_s\n"

typedef struct { char *s; size_t len, cap; } strbuf;
static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    if (b->len + (size_t)k + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->len + (size_t)k + 1) nc *= 2;
        char *n = realloc(b->s, nc);
        if (!n) return;
        b->s = n; b->cap = nc;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)k;
}

/* The log is kept in memory and written with each checkpoint (log first, then checkpoint):
 * a run that fails or is killed before its first save leaves the previous MODEL.csv/.svg as
 * they were, beside the checkpoint they describe.
 * csv_kept: the rows of steps <= keep_step of an existing log (a resumed run rewrites what
 * came after its checkpoint, which a crash between log and checkpoint may have left), without
 * a last row missing its newline. Appends to b; no log yet: nothing. */
static void csv_kept(const char *path, long keep_step, strbuf *b) {
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        long st;
        size_t l = strlen(line);
        if (l == 0 || line[l - 1] != '\n') continue;
        if (sscanf(line, "%ld,", &st) == 1 && st > keep_step) continue;
        sb_printf(b, "%s", line);
    }
    fclose(f);
}

/* the log, then its plot, as one more file each replaced atomically; 0 ok */
static void write_svg(const char *csv, const char *svg);
static int log_commit(const strbuf *b, const char *csv, const char *svg) {
    if (write_file_atomic(csv, b->s ? b->s : "", b->len) != 0) return -1;
    write_svg(csv, svg);
    return 0;
}

typedef struct { double *x, *y; int n, cap; } series;
static void series_add(series *s, double x, double y) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->x = realloc(s->x, s->cap * sizeof(double)); s->y = realloc(s->y, s->cap * sizeof(double));
    }
    s->x[s->n] = x; s->y[s->n] = y; s->n++;
}

/* The SVG redraws the whole CSV (so resumed runs plot their full history). */
static void write_svg(const char *csv, const char *svg) {
    FILE *f = fopen(csv, "r");
    if (!f) return;
    series tr = { 0 }, va = { 0 };
    char line[512];
    while (fgets(line, sizeof line, f)) {
        long step; unsigned long long tok; double lr, loss; char vbuf[64] = "";
        if (sscanf(line, "%ld,%llu,%lf,%lf,%63[^,]", &step, &tok, &lr, &loss, vbuf) < 4) continue;
        series_add(&tr, (double)step, loss);
        if (vbuf[0]) series_add(&va, (double)step, atof(vbuf));
    }
    fclose(f);
    if (tr.n == 0) { free(tr.x); free(tr.y); return; }
    double x0 = tr.x[0], x1 = tr.x[tr.n - 1], y0 = 1e30, y1 = -1e30;
    for (int i = 0; i < tr.n; i++) { if (tr.y[i] < y0) y0 = tr.y[i]; if (tr.y[i] > y1) y1 = tr.y[i]; }
    for (int i = 0; i < va.n; i++) { if (va.y[i] < y0) y0 = va.y[i]; if (va.y[i] > y1) y1 = va.y[i]; }
    if (x1 <= x0) x1 = x0 + 1;
    if (y1 <= y0) y1 = y0 + 1;
    const double W = 720, H = 420, L = 60, R = 20, T = 30, Bm = 45;
    strbuf sb = { 0 };
#define EMIT(...) sb_printf(&sb, __VA_ARGS__)
#define PX(x) (L + ((x) - x0) / (x1 - x0) * (W - L - R))
#define PY(y) (T + (1 - ((y) - y0) / (y1 - y0)) * (H - T - Bm))
    EMIT("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    EMIT("<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    EMIT("<text x=\"%.0f\" y=\"18\">loss (nats/token) vs step</text>\n", L);
    EMIT("<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n", L, H - Bm, W - R, H - Bm);
    EMIT("<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n", L, T, L, H - Bm);
    for (int i = 0; i <= 4; i++) {
        double yv = y0 + (y1 - y0) * i / 4, xv = x0 + (x1 - x0) * i / 4;
        EMIT("<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">%.3g</text>\n", L - 4, PY(yv) + 4, yv);
        EMIT("<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">%.0f</text>\n", PX(xv), H - Bm + 16, xv);
    }
    EMIT("<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">step</text>\n", (L + W - R) / 2, H - 8);
    series *ss[2] = { &tr, &va };
    const char *col[2] = { "#1f77b4", "#ff7f0e" }, *name[2] = { "train", "validation" };
    for (int k = 0; k < 2; k++) {
        if (!ss[k]->n) continue;
        EMIT("<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", col[k]);
        for (int i = 0; i < ss[k]->n; i++) EMIT("%.1f,%.1f ", PX(ss[k]->x[i]), PY(ss[k]->y[i]));
        EMIT("\"/>\n");
        EMIT("<text x=\"%.0f\" y=\"%d\" fill=\"%s\">%s</text>\n", W - R - 110, 18 + 14 * k, col[k], name[k]);
    }
    EMIT("</svg>\n");
#undef EMIT
#undef PX
#undef PY
    if (sb.s) write_file_atomic(svg, sb.s, sb.len);
    free(sb.s);
    free(tr.x); free(tr.y); free(va.x); free(va.y);
}

/* Unigram baseline in bits/token: entropy of the training tokens (pad excluded) and the
 * cross-entropy of the validation tokens under that distribution (add-one smoothed), the
 * number a language model's validation loss must clearly beat. */
static void unigram_baseline(const shard *tr, const shard *va, double *h_train, double *h_val) {
    int V = tr->vocab_size;
    double *cnt = calloc((size_t)V, sizeof(double)), tot = 0;
    if (!cnt) { *h_train = *h_val = NAN; return; }
    for (uint64_t i = 0; i < tr->n_tokens; i++)
        if (tr->tokens[i] != tr->pad_id) { cnt[tr->tokens[i]] += 1; tot += 1; }
    double h = 0;
    for (int v = 0; v < V; v++) if (cnt[v] > 0) h -= cnt[v] / tot * log2(cnt[v] / tot);
    *h_train = h;
    *h_val = NAN;
    if (va) {
        double s = 0, n = 0;
        for (uint64_t i = 0; i < va->n_tokens; i++) {
            tok_t t = va->tokens[i];
            if (t == va->pad_id || t >= V) continue;
            s -= log2((cnt[t] + 1) / (tot + V));
            n += 1;
        }
        if (n > 0) *h_val = s / n;
    }
    free(cnt);
}

/* Copy the weights of o->init_path into m (model_copy_weights): a tensor whose size differs
 * keeps the common prefix, so for the (V, C) token embedding the rows of the shared ids (bytes,
 * specials, the labels both corpora have) come over and rows of new label tokens keep their
 * fresh initialisation; with o->new_embeddings the embedding and head stay fresh (QwenNet). */
static int init_from(const pretrain_opts *o, model *m, char *err, size_t errlen) {
    model src = { 0 };
    train_state s2;
    if (ckpt_load(o->init_path, &src, &s2, 0, err, errlen) != 0) return -1;
    int copied = model_copy_weights(m, &src, o->new_embeddings);
    model_free(&src);
    if (copied != m->ntensors) { snprintf(err, errlen, "%s: only %d of %d tensors match", o->init_path, copied, m->ntensors); return -1; }
    return 0;
}

/* the mean loss over nb validation batches; each process scores its rows of every batch and
 * the sums are added up, so every process gets the same number */
static float evaluate(model *m, dataloader *va, int nb, dist *dd) {
    data_seek(va, (data_pos){ 0, 0, 0 });
    double s[2] = { 0, 0 };
    m->training = 0;
    for (int k = 0; k < nb; k++) {
        data_next(va);
        model_forward(m, va->tok, va->tgt, va->nb, data_trim(va));
        s[0] += (double)m->loss * m->counted;
        s[1] += m->counted;
    }
    m->training = 1;
    dist_sum(dd, s, 2);
    return s[1] > 0 ? (float)(s[0] / s[1]) : NAN;
}


int pretrain_run(pretrain_opts *o) {
    /* under mpirun: one of several processes (ranks) training the same model on their rows of
     * every batch; only rank 0 writes files and talks (train/dist.h) */
    dist dd;
    if (dist_start(&dd, o->threads, &o->quiet, o->err, sizeof o->err) != 0) return -1;
    int r0, nrows;
    model m = { 0 };
    train_state st;
    dataloader tr = { 0 }, va = { 0 };
    out_lock lock = { -1, NULL };
    int have_val = 0, rc = -1;
    char path[1200], err[512], csv[1200], svg[1200];
    memset(&st, 0, sizeof st);
    if (!o->out_path) return OPT_FAIL(o, "no output checkpoint (-o MODEL.ckpt)");
    /* found out now, not when the first checkpoint is written at the end of the run */
    struct stat ob;
    size_t ol = strlen(o->out_path);
    if (ol == 0 || o->out_path[ol - 1] == '/' || (stat(o->out_path, &ob) == 0 && S_ISDIR(ob.st_mode)))
        return OPT_FAIL(o, "%s: is a directory; -o names the checkpoint file (e.g. %s%smodel.ckpt)", o->out_path, o->out_path,
                    ol && o->out_path[ol - 1] == '/' ? "" : "/");

    /* 1. model and training state: from the checkpoint or from the options */
    if (o->resume_path) {
        if (ckpt_load(o->resume_path, &m, &st, 1, err, sizeof err) != 0) return OPT_FAIL(o, "%s", err);
        /* the config fields a resumed run may change (the table's resume column: dropout), when given */
        pretrain_opts d;
        pretrain_defaults(&d);
        for (int i = 0; i < model_nfields; i++)
            if (model_fields[i].resume && model_field_get(&o->cfg, &model_fields[i]) != model_field_get(&d.cfg, &model_fields[i]))
                model_field_set(&m.cfg, &model_fields[i], model_field_get(&o->cfg, &model_fields[i]));
        if (!o->data_dir) o->data_dir = st.data_dir;
        if (o->steps > 0) st.total_steps = o->steps;
        /* checked whatever the header checksum says (a file may predate it) */
        if (train_state_check(&st, m.cfg.ctx, o->resume_path, err, sizeof err) != 0) { OPT_FAIL(o, "%s", err); goto done; }
    } else {
        st.batch = o->batch; st.accum = o->accum; st.warmup = o->warmup; st.pack = o->pack;
        st.seq_len = o->cfg.ctx; st.lr = o->lr; st.min_frac = o->min_frac; st.weight_decay = o->weight_decay;
        st.beta1 = o->beta1; st.beta2 = o->beta2; st.eps = o->eps; st.clip = o->clip; st.seed = o->seed;
        st.rng = o->seed ^ 0x5DEECE66Dull; st.has_opt = 1;
    }
    if (!o->data_dir) { OPT_FAIL(o, "no corpus directory (--data CORPUS_DIR)"); goto done; }
    struct stat sb;
    if (stat(o->data_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        { OPT_FAIL(o, "corpus directory %s: %s", o->data_dir, stat(o->data_dir, &sb) ? strerror(errno) : "not a directory"); goto done; }
    if (st.batch < 1 || st.accum < 1 || st.seq_len < 2) { OPT_FAIL(o, "batch, accum must be >= 1 and ctx >= 2"); goto done; }
    dist_rows(st.batch, dd.rank, dd.size, &r0, &nrows);
    if (nrows < 1) {
        OPT_FAIL(o, "a batch of %d rows cannot be shared by %d processes: each needs at least one row (--batch >= %d)",
             st.batch, dd.size, dd.size);
        goto done;
    }

    /* 2. data */
    snprintf(path, sizeof path, "%s/train.tok", o->data_dir);
    if (data_open(&tr, path, st.batch, st.seq_len, st.pack, 1, st.seed, err, sizeof err) != 0) {
        OPT_FAIL(o, "%s%s", err, access(path, R_OK) ? " (is this a corpus directory made by `pktlm prep`?)" : "");
        goto done;
    }
    /* one run per output, and never into its own corpus (-o CORPUS/train.tok); before anything
     * is written, after the corpus is known to be one */
    if (dd.rank == 0 && out_guard_take(&lock, o->out_path, o->data_dir, err, sizeof err) != 0) { OPT_FAIL(o, "%s", err); goto done; }
    data_share(&tr, r0, nrows);
    /* a corpus's vocab.json must be there, parse, and agree with its shards (every verb checks
     * it, docs/tokens.md); the hash below covers its bytes too */
    char **lnames = corpus_labels(o->data_dir, &tr.sh, err, sizeof err);
    if (!lnames) { OPT_FAIL(o, "%s", err); goto done; }
    corpus_labels_free(lnames, tr.sh.n_labels);
    uint64_t vh = corpus_vocab_hash(o->data_dir, tr.sh.vocab_size, tr.sh.pad_id, tr.sh.bos_id, tr.sh.eos_id,
                                    tr.sh.n_labels, tr.sh.label_base);
    if (o->resume_path) {
        /* another token format is named as such; the same format with other ids is a vocabulary mismatch */
        if (st.tok_format != tr.sh.format && ckpt_check_format(&st, m.cfg.vocab, &tr.sh, o->resume_path, path, err, sizeof err) != 0) {
            OPT_FAIL(o, "%s", err);
            goto done;
        }
        if (tr.sh.vocab_size != m.cfg.vocab || vh != st.vocab_hash) {
            OPT_FAIL(o, "vocabulary mismatch: %s was trained on a vocabulary of %d tokens (hash %016llx), %s has %d (hash %016llx)",
                 o->resume_path, m.cfg.vocab, (unsigned long long)st.vocab_hash, o->data_dir, tr.sh.vocab_size,
                 (unsigned long long)vh);
            goto done;
        }
    } else {
        model_config c = o->cfg;
        train_state ist;
        uint64_t inp;
        if (o->init_path) {   /* fine-tuning: the initial model's architecture */
            if (ckpt_peek(o->init_path, &c, &ist, &inp, err, sizeof err) != 0) { OPT_FAIL(o, "%s", err); goto done; }
            /* --new-embeddings: another token format on purpose (an imported model; the body is kept) */
            if (!o->new_embeddings && ckpt_check_format(&ist, c.vocab, &tr.sh, o->init_path, path, err, sizeof err) != 0) {
                OPT_FAIL(o, "%s", err);
                goto done;
            }
            for (int i = 0; i < model_nfields; i++)   /* this run's options for what a new run may change */
                if (model_fields[i].resume) model_field_set(&c, &model_fields[i], model_field_get(&o->cfg, &model_fields[i]));
        }
        c.vocab = tr.sh.vocab_size;
        model_config_defaults(&c);
        const model_ops *ops = model_ops_for(c.arch);
        if (!ops) { OPT_FAIL(o, "architecture %s is not built into this pktlm", model_arch_name(c.arch)); goto done; }
        char msg[160];
        const char *why = model_config_check_fields(&c, msg, sizeof msg);
        if (!why) why = ops->check(&c);
        if (why) { OPT_FAIL(o, "bad model config: %s", why); goto done; }
        /* memory: say how much the config needs before allocating it */
        size_t need = model_memory_bytes(&c, nrows, st.seq_len, 1) + tr.sh.n_tokens * sizeof(tok_t) + tr.sh.n_seqs * 36;
        size_t avail = o->mem_limit ? o->mem_limit : mem_available();
        if (avail && need > avail) {
            OPT_FAIL(o, "this config needs %.2f GiB (%zu parameters x 4 copies, activations for batch %d x ctx %d) "
                    "but %.2f GiB is available; reduce --batch, --ctx, --layers or --d-model",
                 need / 1073741824.0, model_param_count(&c), st.batch, st.seq_len, avail / 1073741824.0);
            goto done;
        }
        if (model_create(&m, &c, err, sizeof err) != 0) { OPT_FAIL(o, "%s", err); goto done; }
        model_init_weights(&m, st.seed);
        if (o->init_path && init_from(o, &m, err, sizeof err) != 0) { OPT_FAIL(o, "%s", err); goto done; }
        if (model_alloc_training(&m) != 0) { OPT_FAIL(o, "out of memory for gradients and optimizer state"); goto done; }
        st.pad_id = tr.sh.pad_id; st.bos_id = tr.sh.bos_id; st.eos_id = tr.sh.eos_id;
        st.n_labels = tr.sh.n_labels; st.label_base = tr.sh.label_base; st.vocab_hash = vh; st.tok_format = tr.sh.format; st.tok_hash = tr.sh.tok_hash;
        {   /* what a sequence is (a flow, or a capture window): generate writes captures from the latter */
            prep_cfg pc;
            int secret;
            char e2[256];
            st.unit = prep_cfg_from_manifest(o->data_dir, &pc, &secret, e2, sizeof e2) == 0 ? pc.unit : PREP_UNIT_FLOW;
        }
        snprintf(st.data_dir, sizeof st.data_dir, "%s", o->data_dir);
        if (o->steps > 0) st.total_steps = o->steps;
        else {
            double e = o->epochs > 0 ? o->epochs : 1.0;
            double n = ceil(e * (double)data_batches_per_epoch(&tr) / st.accum);
            /* the schedule counts steps in an int */
            if (n > INT_MAX - 1) { OPT_FAIL(o, "--epochs %g is %.0f optimizer steps, more than %d", e, n, INT_MAX - 1); goto done; }
            st.total_steps = (int64_t)n;
        }
    }
    if (st.seq_len > m.cfg.ctx) { OPT_FAIL(o, "sequence length %d exceeds the model context %d", st.seq_len, m.cfg.ctx); goto done; }
    /* precision: the option, else the checkpoint's on resume, else fp32 */
    if (o->prec >= 0) st.precision = o->prec;
    else if (!o->resume_path) st.precision = NN_FP32;
    if (st.precision != NN_FP32 && st.precision != NN_BF16) { OPT_FAIL(o, "%s: unknown precision %d", o->resume_path, st.precision); goto done; }
    if (st.precision == NN_BF16 && !nn_bf16_native()) {
        OPT_FAIL(o, "bf16 training needs a CPU with AVX512_BF16 instructions, which this one lacks; train in fp32 %s",
             o->resume_path && o->prec < 0 ? "(this checkpoint was trained with --bf16: resume with --fp32)" : "(without --bf16)");
        goto done;
    }
    m.prec = st.precision;
    data_seek(&tr, st.data);
    snprintf(path, sizeof path, "%s/val.tok", o->data_dir);
    if (access(path, R_OK) == 0) {
        if (data_open(&va, path, st.batch, st.seq_len, st.pack, 0, 0, err, sizeof err) != 0) { OPT_FAIL(o, "%s", err); goto done; }
        have_val = 1;
        data_share(&va, r0, nrows);
        /* a val.tok from another prep run would index the embedding with ids it does not have */
        if (shard_check_same_format(&tr.sh, &va.sh, path, err, sizeof err) != 0) { OPT_FAIL(o, "%s", err); goto done; }
    } else if (!o->quiet) fprintf(stderr, "pktlm pretrain: %s missing: no validation loss\n", path);
    unigram_baseline(&tr.sh, have_val ? &va.sh : NULL, &o->unigram_bits, &o->unigram_val_bits);
    int val_batches = o->val_batches > 0 ? o->val_batches : 20;
    if (have_val && (uint64_t)val_batches > data_batches_per_epoch(&va)) val_batches = (int)data_batches_per_epoch(&va);
    if (model_alloc_acts(&m, nrows, st.seq_len) != 0) {
        OPT_FAIL(o, "out of memory for activations (batch %d x ctx %d needs %.2f GiB)", nrows, st.seq_len,
             model_memory_bytes(&m.cfg, nrows, st.seq_len, 1) / 1073741824.0);
        goto done;
    }
    m.training = 1;
    if (dd.size > 1) {
        /* every rank must run the same command: compare the shape of the run with rank 0's */
        uint64_t mine[5] = { m.nparams, (uint64_t)st.batch, (uint64_t)st.seq_len, (uint64_t)st.total_steps, (uint64_t)st.step },
                 r0v[5];
        memcpy(r0v, mine, sizeof mine);
        dist_bcast(&dd, r0v, sizeof r0v);
        if (memcmp(mine, r0v, sizeof mine)) {
            OPT_FAIL(o, "rank %d: this run (%llu parameters, batch %llu x %llu, step %llu of %llu) differs from rank 0's "
                    "(%llu parameters, batch %llu x %llu, step %llu of %llu): every rank must run the same command",
                 dd.rank, (unsigned long long)mine[0], (unsigned long long)mine[1], (unsigned long long)mine[2],
                 (unsigned long long)mine[4], (unsigned long long)mine[3], (unsigned long long)r0v[0],
                 (unsigned long long)r0v[1], (unsigned long long)r0v[2], (unsigned long long)r0v[4], (unsigned long long)r0v[3]);
            goto done;
        }
        /* identical weights, optimizer state and progress on every rank: rank 0's (fresh, --init
         * or --resume alike) */
        dist_bcast(&dd, m.params, m.nparams * sizeof(float));
        dist_bcast(&dd, m.adam_m, m.nparams * sizeof(float));
        dist_bcast(&dd, m.adam_v, m.nparams * sizeof(float));
        dist_bcast(&dd, &st, sizeof st);
        data_seek(&tr, st.data);
    }

    /* 3. logs */
    ckpt_side_path(csv, sizeof csv, o->out_path, ".csv");
    ckpt_side_path(svg, sizeof svg, o->out_path, ".svg");
    strbuf logb = { 0 };
    if (o->resume_path) csv_kept(csv, (long)st.step, &logb);
    /* the header on a new log (a resumed run written to another -o starts its log afresh) */
    if (logb.len == 0) sb_printf(&logb, "%s", CSV_HEADER);

    const long total = (long)st.total_steps, start = (long)st.step;
    /* --eval-every is part of the run: given, else the checkpoint's on resume, else 20 per run */
    if (o->eval_every > 0) st.eval_every = o->eval_every;
    else if (!o->resume_path) st.eval_every = 0;
    const int eval_every = st.eval_every > 0 ? st.eval_every : (total >= 20 ? (int)(total / 20) : 1);
    const size_t tokens_per_step = (size_t)st.batch * st.seq_len * st.accum;   /* of all ranks together */
    adamw_params hp = { .beta1 = st.beta1, .beta2 = st.beta2, .eps = st.eps, .weight_decay = st.weight_decay };
    char ranks_note[48] = "", ranks_x[48] = "";   /* " (2 ranks)" after a rate, " x 2 ranks" after threads */
    if (dd.size > 1) {
        snprintf(ranks_note, sizeof ranks_note, " (%d ranks)", dd.size);
        snprintf(ranks_x, sizeof ranks_x, " x %d ranks", dd.size);
    }
    if (!o->quiet)
        fprintf(stderr, "pktlm pretrain: %s %d layers, d %d, %d heads (%d kv), d_ff %d, ctx %d, vocab %d: %zu parameters; "
                        "%ld steps of %zu tokens (batch %d x accum %d), %d thread%s%s, %s%s\n",
                model_arch_name(m.cfg.arch), m.cfg.layers, m.cfg.d_model, m.cfg.heads, m.cfg.kv_heads, m.cfg.d_ff,
                m.cfg.ctx, m.cfg.vocab,
                m.nparams, total, tokens_per_step, st.batch, st.accum, nn_threads(), nn_threads() == 1 ? "" : "s", ranks_x,
                m.prec == NN_BF16 ? "bf16 products" : "fp32", start ? ", resumed" : "");
    progress pg;
    progress_init(&pg, "training", "tok", 1);
    if (dd.rank) pg.enabled = 0;
    double t0 = now_sec();
    float loss = st.last_loss, vloss = st.last_val;
    for (long step = start; step < total; step++) {
        double ts = now_sec();
        hp.lr = lr_schedule((int)step, st.lr, st.warmup, (int)total, st.min_frac);
        model_zero_grad(&m);
        double lsum = 0;
        long count = 0;
        for (int a = 0; a < st.accum; a++) {
            data_next(&tr);   /* this rank's rows of the global batch */
            const int Tr = data_trim(&tr);   /* --pad: the rows' longest, not the context */
            /* each rank its own dropout masks (rank 0: the single-process ones) */
            m.dropout_seed = splitmix64(&st.rng) + (uint64_t)dd.rank * 0x9E3779B97F4A7C15ull;
            model_forward(&m, tr.tok, tr.tgt, tr.nb, Tr);
            /* the last micro-step completes the gradients: sum them with the other ranks' layer
             * by layer while the backward pass goes on */
            if (a == st.accum - 1) dist_grads_begin(&dd, &m);
            model_backward(&m, tr.tok, tr.tgt, tr.nb, Tr, 1.0f);
            lsum += (double)m.loss * m.counted;
            count += m.counted;
        }
        dist_grads_end(&dd, &m, NULL, 0);
        /* the loss and target count of the global batch, and whether any rank was asked to stop */
        double agg[3] = { lsum, (double)count, o->interrupt && *o->interrupt };
        dist_sum(&dd, agg, 3);
        lsum = agg[0]; count = (long)agg[1];
        const int asked = agg[2] > 0;
        /* gradients were summed over every counted target of the accumulated global batch (and
         * are the same on every rank: so is their norm): their mean,
         * clipped to norm st.clip, in one parallel scaling pass (a serial pass for the mean and
         * another for clipping cost ~1.5% of a step on the 25 M parameters of config B) */
        double gn = global_norm(m.grads, m.nparams);
        if (count > 0) {
            float k = 1.0f / (float)count;
            gn *= k;
            nn_scale(m.grads, m.nparams, st.clip > 0 && gn > st.clip ? (float)(st.clip / (gn + 1e-6)) * k : k);
        }
        model_adamw(&m, &hp, (int)step + 1);
        st.step = step + 1;
        st.tokens += tokens_per_step;
        st.data = tr.pos;
        loss = count ? (float)(lsum / count) : NAN;
        st.last_loss = loss;
        int last = st.step == total;
        int stop = asked || (o->stop_after && st.step >= o->stop_after);
        int do_eval = have_val && (st.step % eval_every == 0 || last);
        double tps = (double)tokens_per_step / (now_sec() - ts);   /* the training step alone */
        if (do_eval) { vloss = evaluate(&m, &va, val_batches, &dd); st.last_val = vloss; }
        double now = now_sec(), el = now - t0;
        double avg_tps = (double)(st.step - start) * tokens_per_step / (el > 0 ? el : 1e-9);
        char vb[32] = "";
        if (do_eval) snprintf(vb, sizeof vb, "%.6f", vloss);
        sb_printf(&logb, "%ld,%llu,%.6g,%.6f,%s,%.4f,%.1f,%.2f\n", (long)st.step, (unsigned long long)st.tokens, hp.lr, loss,
                  vb, gn, tps, el);
        char extra[200], eta[32];
        fmt_duration(eta, sizeof eta, (double)(total - st.step) * tokens_per_step / (avg_tps > 0 ? avg_tps : 1));
        snprintf(extra, sizeof extra, "step %ld/%ld  loss %.4f  val %.4f  lr %.2e%s", (long)st.step, total, loss, vloss, hp.lr,
                 ranks_note);
        progress_update(&pg, (double)(st.step - start) * tokens_per_step, (double)(total - start) * tokens_per_step, extra);
        if (!o->quiet && (do_eval || last)) {
            progress_end(&pg);
            fprintf(stderr, "step %ld/%ld  loss %.4f  val %s  lr %.2e  %.0f tok/s%s  ETA %s\n", (long)st.step, total, loss,
                    have_val ? vb : "-", hp.lr, avg_tps, ranks_note, eta);
        }
        int save = dd.rank == 0 && (last || stop || (o->save_every > 0 && st.step % o->save_every == 0));
        if (save && log_commit(&logb, csv, svg) != 0) {
            OPT_FAIL(o, "cannot write the training log %s: %s", csv, strerror(errno));
            free(logb.s); goto done;
        }
        if (save && ckpt_save(o->out_path, &m, &st, err, sizeof err) != 0) { free(logb.s); OPT_FAIL(o, "%s", err); goto done; }
        if (stop && !last) {
            progress_end(&pg);
            if (!o->quiet)
                fprintf(stderr, "pktlm pretrain: interrupted at step %ld; checkpoint saved to %s (continue with --resume %s)\n",
                        (long)st.step, o->out_path, o->out_path);
            o->interrupted = 1;
            break;
        }
    }
    progress_end(&pg);
    free(logb.s);
    if (!o->quiet)
        fprintf(stderr, "pktlm pretrain: validation loss %.4f bits/token; unigram baseline: %.4f bits/token on "
                        "validation (training-token entropy %.4f)\n", vloss / 0.6931471805599453, o->unigram_val_bits,
                o->unigram_bits);
    if (start >= total && !o->quiet) fprintf(stderr, "pktlm pretrain: already at step %ld of %ld\n", start, total);
    if (dd.size > 1) {
        /* what communication cost: rank 0's figures and the slowest rank's wait */
        double w[2] = { dd.wait_s, dd.grad_wait_s }, el = now_sec() - t0, mx = dist_max(&dd, dd.wait_s);
        if (!o->quiet)
            fprintf(stderr, "pktlm pretrain: %d ranks: %.2f s of %.2f s waiting for other ranks (%.1f%%; gradients %.2f s; "
                            "slowest rank %.2f s); per step %.1f MB of gradients summed, %.0f bucket(s) of them during the backward pass\n",
                    dd.size, w[0], el, 100 * w[0] / (el > 0 ? el : 1), w[1], mx,
                    st.step > start ? dd.bytes / 1e6 / (double)(st.step - start) : 0.0,
                    st.step > start ? (double)dd.buckets / (double)(st.step - start) : 0.0);
    }
    o->final_loss = loss; o->final_val = vloss; o->final_step = (long)st.step;
    rc = 0;
done:
    data_close(&tr);
    if (have_val) data_close(&va);
    model_free(&m);
    out_lock_release(&lock);
    dist_free(&dd);
    return rc;
}
