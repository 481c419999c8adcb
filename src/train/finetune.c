/* Fine-tuning for classification: see finetune.h. */
#include "train/finetune.h"
#include "corpus/vocab.h"
#include "train/checkpoint.h"
#include "train/dist.h"
#include "corpus/tokens.h"
#include "corpus/manifest.h"
#include "corpus/bpe.h"
#include "util/util.h"
#include "util/outlock.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

void finetune_defaults(finetune_opts *o) {
    memset(o, 0, sizeof *o);
    o->cfg.arch = ARCH_GPT2;
    o->cfg.layers = 2; o->cfg.d_model = 128; o->cfg.heads = 4; o->cfg.ctx = 256;
    o->pooling = POOL_MEAN; o->balance = BAL_WEIGHT; o->batch = 16; o->patience = 3;
    o->epochs = 10; o->lr = 0; /* 0: 3e-4 fine-tuning all weights, 3e-3 frozen */
    o->weight_decay = 0.01f; o->clip = 1.0f; o->warmup = 20; o->seed = 1337;
}

double cm_macro_f1(const long *cm, int K, double *accuracy) {
    long tot = 0, diag = 0;
    double f1 = 0;
    int n = 0;
    for (int k = 0; k < K; k++) {
        long tp = cm[(size_t)k * K + k], sup = 0, pred = 0;
        for (int j = 0; j < K; j++) { sup += cm[(size_t)k * K + j]; pred += cm[(size_t)j * K + k]; }
        tot += sup; diag += tp;
        if (sup == 0 && pred == 0) continue;
        f1 += sup + pred ? 2.0 * tp / (double)(sup + pred) : 0;
        n++;
    }
    if (accuracy) *accuracy = tot ? (double)diag / tot : 0;
    return n ? f1 / n : 0;
}

/* labelled sequences of a shard, as indices */
static uint32_t *labelled(const shard *s, int K, size_t *n) {
    uint32_t *ix = malloc((s->n_seqs + 1) * sizeof *ix);
    *n = 0;
    for (uint64_t i = 0; i < s->n_seqs; i++)
        if (s->seqs[i].label >= 0 && s->seqs[i].label < K) ix[(*n)++] = (uint32_t)i;
    return ix;
}

/* The order in which training sequences are drawn into batches: shuffled epochs, or a class
 * drawn uniformly then one of its sequences (--balance sample), optionally in length buckets.
 * (Not gen/sampler.h, which samples tokens from logits.) */
typedef struct {
    const shard *s;
    const uint32_t *ix; size_t n;
    uint32_t **byclass; size_t *ncls;   /* for balanced sampling */
    uint32_t *perm; size_t pos;
    int K, balance;
    uint64_t rng;
    /* length buckets (--bucket G): G batches are drawn at once, sorted by row length and
     * handed out as batches of similar length in random order */
    int G, B, T;
    uint64_t *pool;
    int *order; int order_n, order_pos;
} batcher;

static void batcher_init(batcher *bt, const shard *s, const uint32_t *ix, size_t n, int K, int balance, uint64_t seed) {
    memset(bt, 0, sizeof *bt);
    bt->s = s; bt->ix = ix; bt->n = n; bt->K = K; bt->balance = balance; bt->rng = seed;
    bt->perm = malloc((n + 1) * sizeof *bt->perm);
    for (size_t i = 0; i < n; i++) bt->perm[i] = (uint32_t)i;
    bt->pos = n;   /* shuffle on first draw */
    bt->byclass = calloc((size_t)K, sizeof *bt->byclass);
    bt->ncls = calloc((size_t)K, sizeof *bt->ncls);
    for (int k = 0; k < K; k++) bt->byclass[k] = malloc((n + 1) * sizeof(uint32_t));
    for (size_t i = 0; i < n; i++) { int y = s->seqs[ix[i]].label; bt->byclass[y][bt->ncls[y]++] = ix[i]; }
}
static void batcher_free(batcher *bt) {
    for (int k = 0; k < bt->K; k++) free(bt->byclass[k]);
    free(bt->byclass); free(bt->ncls); free(bt->perm); free(bt->pool); free(bt->order);
}
/* next training example (a sequence index); balanced: a class uniformly among the present
 * ones, then one of its sequences */
static uint32_t batcher_next(batcher *bt) {
    if (bt->balance == BAL_SAMPLE) {
        for (;;) {
            int k = (int)(splitmix64(&bt->rng) % (uint64_t)bt->K);
            if (bt->ncls[k]) return bt->byclass[k][splitmix64(&bt->rng) % bt->ncls[k]];
        }
    }
    if (bt->pos >= bt->n) {
        for (size_t i = bt->n; i > 1; i--) {
            size_t j = (size_t)(splitmix64(&bt->rng) % i);
            uint32_t t = bt->perm[i - 1]; bt->perm[i - 1] = bt->perm[j]; bt->perm[j] = t;
        }
        bt->pos = 0;
    }
    return bt->ix[bt->perm[bt->pos++]];
}

/* the next batch of B sequence indices; with buckets, B of one pool's length-sorted run */
static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}
static void batcher_draw(batcher *bt, uint32_t *out) {
    if (bt->G <= 1) { for (int b = 0; b < bt->B; b++) out[b] = batcher_next(bt); return; }
    if (bt->order_pos >= bt->order_n) {
        /* key = (row length, draw position, sequence): sorted by length, ties in draw order */
        size_t n = (size_t)bt->G * bt->B;
        for (size_t i = 0; i < n; i++) {
            uint32_t q = batcher_next(bt), L = bt->s->seqs[q].len;
            if (L > (uint32_t)bt->T) L = (uint32_t)bt->T;
            bt->pool[i] = (uint64_t)L << 48 | (uint64_t)i << 32 | q;
        }
        qsort(bt->pool, n, sizeof *bt->pool, cmp_u64);
        bt->order_n = bt->G;
        for (int g = 0; g < bt->G; g++) bt->order[g] = g;
        for (int g = bt->G; g > 1; g--) {
            int j = (int)(splitmix64(&bt->rng) % (uint64_t)g), t = bt->order[g - 1];
            bt->order[g - 1] = bt->order[j]; bt->order[j] = t;
        }
        bt->order_pos = 0;
    }
    const uint64_t *p = bt->pool + (size_t)bt->order[bt->order_pos++] * bt->B;
    for (int b = 0; b < bt->B; b++) out[b] = (uint32_t)p[b];
}


/* validation: macro-F1 and accuracy of the head on pooled features (frozen) or the model;
 * with several ranks each predicts its share of the batches and the confusion matrices are
 * added up, so that every rank takes the same early-stopping decision */
static double val_score(model *m, cls_head *h, const shard *va, const uint32_t *vix, size_t nv, const float *vfeat,
                        int T, int max_pkts, int B, int K, double *acc, dist *dd) {
    long *cm = calloc((size_t)K * K, sizeof(long));
    if (!cm) return -1;
    if (vfeat) {
        for (size_t i0 = 0; i0 < nv; i0 += (size_t)B) {
            int nb = (int)(nv - i0 < (size_t)B ? nv - i0 : (size_t)B);
            cls_head_forward(h, vfeat + i0 * h->C, NULL, NULL, nb);
            for (int b = 0; b < nb; b++) {
                int best;
                cls_top(h->probs + (size_t)b * K, K, &best, 1);
                cm[(size_t)va->seqs[vix[i0 + (size_t)b]].label * K + best]++;
            }
        }
    } else {
        int *pred = malloc((va->n_seqs + 1) * sizeof(int));
        if (!pred) { free(cm); return -1; }
        for (uint64_t i = 0; i < va->n_seqs; i++) pred[i] = -1;   /* another rank's */
        if (cls_predict_shard(m, h, va, T, max_pkts, B, dd->rank, dd->size, pred, NULL) != 0) { free(pred); free(cm); return -1; }
        for (size_t i = 0; i < nv; i++)
            if (pred[vix[i]] >= 0) cm[(size_t)va->seqs[vix[i]].label * K + pred[vix[i]]]++;
        free(pred);
        if (dd->size > 1) {
            double *c = malloc((size_t)K * K * sizeof(double));
            if (!c) { free(cm); return -1; }
            for (size_t i = 0; i < (size_t)K * K; i++) c[i] = (double)cm[i];
            dist_sum(dd, c, K * K);
            for (size_t i = 0; i < (size_t)K * K; i++) cm[i] = (long)c[i];
            free(c);
        }
    }
    double f1 = cm_macro_f1(cm, K, acc);
    free(cm);
    return f1;
}

/* pooled backbone features of the sequences ix[0..n) (frozen encoder: computed once); with
 * several ranks each computes every size-th batch and the tables are added up (zeros
 * elsewhere), the same batches as one process computes, so the same numbers */
static float *features(model *m, cls_head *h, const shard *s, const uint32_t *ix, size_t n, int T, int max_pkts, int B,
                       dist *dd) {
    int C = m->cfg.d_model;
    float *out = calloc((n + 1) * (size_t)C, sizeof(float));
    int *rows = malloc((size_t)B * T * sizeof(int)), *len = malloc((size_t)B * sizeof(int));
    m->training = 0;
    for (size_t i0 = (size_t)dd->rank * B; i0 < n; i0 += (size_t)B * dd->size) {
        int nb = (int)(n - i0 < (size_t)B ? n - i0 : (size_t)B);
        for (int b = 0; b < B; b++) {
            const shard_seq *q = &s->seqs[ix[i0 + (size_t)(b < nb ? b : 0)]];
            tok_format tfb;   /* bpe: the ids of the corpus's tokenizer */
            len[b] = cls_make_row(rows + (size_t)b * T, s->tokens + q->off, q->len, T, max_pkts, shard_format(s, &tfb));
        }
        int Tb = cls_trim_rows(rows, len, B, T);
        m->ops->forward(m, rows, B, Tb);
        cls_pool_forward(h->pooled, m->hidden, len, B, Tb, C, h->pooling);
        memcpy(out + i0 * C, h->pooled, (size_t)nb * C * sizeof(float));
    }
    free(rows); free(len);
    dist_sum_floats(dd, out, n * (size_t)C);
    return out;
}

int finetune_classify_run(finetune_opts *o) {
    /* under mpirun: each rank its rows of every batch; only rank 0 writes (train/dist.h) */
    dist dd;
    if (dist_start(&dd, o->threads, &o->quiet, o->err, sizeof o->err) != 0) return -1;
    shard tr = { 0 }, va = { 0 };
    model m = { 0 };
    cls_head h = { 0 };
    train_state st;
    memset(&st, 0, sizeof st);
    char path[1200], err[512], csv[1200];
    int rc = -1, K = 0, have_val = 0;
    char **names = NULL;
    uint32_t *tix = NULL, *vix = NULL, *bix = NULL;
    float *tfeat = NULL, *vfeat = NULL, *cw = NULL;
    int *rows = NULL, *len = NULL, *y = NULL;
    FILE *log = NULL;
    out_lock lock = { -1, NULL };
    batcher bt = { 0 };
    if (!o->data_dir || !o->out_path) return OPT_FAIL(o, "need --data CORPUS_DIR and -o CLASSIFIER.ckpt");
    snprintf(path, sizeof path, "%s/train.tok", o->data_dir);
    if (shard_load(&tr, path, err, sizeof err) != 0) { OPT_FAIL(o, "%s", err); goto done; }
    /* one run per output, and never into its own corpus */
    if (dd.rank == 0 && out_guard_take(&lock, o->out_path, o->data_dir, err, sizeof err) != 0) { OPT_FAIL(o, "%s", err); goto done; }
    /* val.tok is optional, but one that is there must load and match train.tok */
    snprintf(path, sizeof path, "%s/val.tok", o->data_dir);
    if (access(path, F_OK) == 0) {
        if (shard_load(&va, path, err, sizeof err) != 0) { OPT_FAIL(o, "%s", err); goto done; }
        have_val = 1;
        if (shard_check_same_format(&tr, &va, path, err, sizeof err) != 0) { OPT_FAIL(o, "%s", err); goto done; }
    }
    K = tr.n_labels;
    if (K < 2) { OPT_FAIL(o, "%s has %d labels: classification needs at least 2 (prep with --file-labels / --flow-labels)", o->data_dir, K); goto done; }
    /* the class names: the corpus's vocab.json (never labels.txt: docs/tokens.md) */
    if (!(names = corpus_labels(o->data_dir, &tr, err, sizeof err))) { OPT_FAIL(o, "%s", err); goto done; }
    /* the corpus's prep options, recorded in the classifier so that classify builds tokens the same way */
    prep_cfg pcfg;
    int psecret = 0, pr = prep_cfg_from_manifest(o->data_dir, &pcfg, &psecret, err, sizeof err), pknown = pr == 0;
    if (pr < 0) { OPT_FAIL(o, "%s", err); goto done; }
    if (pr > 0 && !o->quiet)
        fprintf(stderr, "pktlm finetune: warning: %s: the classifier will not record the corpus's prep options; "
                        "give `pktlm classify` the same --payload, --max-bytes, --no-anon as prep\n", err);
    size_t nt, nv = 0;
    tix = labelled(&tr, K, &nt);
    if (have_val) vix = labelled(&va, K, &nv);
    if (nt == 0) { OPT_FAIL(o, "%s/train.tok has no labelled sequences", o->data_dir); goto done; }
    if (nv == 0 && !o->quiet) fprintf(stderr, "pktlm finetune: no labelled validation sequences: keeping the last epoch\n");

    /* model */
    if ((o->init_path && o->new_embeddings ? ckpt_backbone_new_vocab(o->init_path, &tr, o->data_dir, o->seed, &m, &st, err, sizeof err)
                                           : ckpt_backbone(o->init_path, &tr, o->data_dir, &o->cfg, o->seed, &m, &st, err, sizeof err)) != 0) {
        OPT_FAIL(o, "%s", err);
        goto done;
    }
    if (o->prec != NN_FP32 && o->prec != NN_BF16) { OPT_FAIL(o, "unknown precision %d", o->prec); goto done; }
    if (o->prec == NN_BF16 && !nn_bf16_native()) {
        OPT_FAIL(o, "bf16 training needs a CPU with AVX512_BF16 instructions, which this one lacks; fine-tune in fp32 (without --bf16)");
        goto done;
    }
    /* training products at o->prec (the embedded backbone records it, as pretrain's checkpoints
     * do); validation switches back to fp32 so that the epoch kept is chosen on the numbers
     * `pktlm eval` reproduces */
    m.prec = o->prec;
    st.precision = o->prec;
    /* row length: what the longest (cut) training sequence needs, at most the context */
    int T = 2;
    for (size_t i = 0; i < nt; i++) {
        const shard_seq *q = &tr.seqs[tix[i]];
        int L = (int)q->len;
        if (L > T) T = L;
    }
    if (T > m.cfg.ctx) T = m.cfg.ctx;
    if (o->seq_len > 1 && o->seq_len < T) T = o->seq_len;
    const int B = o->batch, C = m.cfg.d_model;
    int r0, nb;   /* this rank's rows of each batch of B */
    dist_rows(B, dd.rank, dd.size, &r0, &nb);
    if (nb < 1) { OPT_FAIL(o, "a batch of %d flows cannot be shared by %d processes: each needs at least one (--batch >= %d)", B, dd.size, dd.size); goto done; }
    if (!o->freeze && model_alloc_training(&m) != 0) { OPT_FAIL(o, "out of memory"); goto done; }
    if (model_alloc_acts(&m, B, T) != 0 || cls_head_init(&h, C, K, o->pooling, o->seed ^ 0x9e37) != 0 ||
        cls_head_alloc_batch(&h, B) != 0) { OPT_FAIL(o, "out of memory for batch %d x %d", B, T); goto done; }
    float lr = o->lr > 0 ? o->lr : (o->freeze ? 3e-3f : 3e-4f);
    if (dd.size > 1) {
        /* the same run on every rank (checked), from rank 0's weights */
        uint64_t mine[4] = { m.nparams, h.nparams, nt, (uint64_t)T }, r0v[4];
        memcpy(r0v, mine, sizeof mine);
        dist_bcast(&dd, r0v, sizeof r0v);
        if (memcmp(mine, r0v, sizeof mine)) {
            OPT_FAIL(o, "rank %d: this run (%llu + %llu parameters, %llu flows, rows of %llu) differs from rank 0's "
                    "(%llu + %llu, %llu, %llu): every rank must run the same command", dd.rank,
                 (unsigned long long)mine[0], (unsigned long long)mine[1], (unsigned long long)mine[2], (unsigned long long)mine[3],
                 (unsigned long long)r0v[0], (unsigned long long)r0v[1], (unsigned long long)r0v[2], (unsigned long long)r0v[3]);
            goto done;
        }
        dist_bcast(&dd, m.params, m.nparams * sizeof(float));
        dist_bcast(&dd, h.params, h.nparams * sizeof(float));
    }

    /* class weights n / (K n_c) over the training labels (BAL_WEIGHT) */
    cw = malloc((size_t)K * sizeof(float));
    {
        long *cnt = calloc((size_t)K, sizeof(long));
        for (size_t i = 0; i < nt; i++) cnt[tr.seqs[tix[i]].label]++;
        for (int k = 0; k < K; k++) cw[k] = o->balance == BAL_WEIGHT && cnt[k] ? (float)nt / ((float)K * cnt[k]) : 1.0f;
        free(cnt);
    }
    batcher_init(&bt, &tr, tix, nt, K, o->balance, o->seed);
    bt.G = o->bucket; bt.B = B; bt.T = T;
    if (bt.G > 1) { bt.pool = malloc((size_t)bt.G * B * sizeof *bt.pool); bt.order = malloc((size_t)bt.G * sizeof *bt.order); }
    bix = malloc((size_t)B * sizeof *bix);
    rows = malloc((size_t)B * T * sizeof(int)); len = malloc((size_t)B * sizeof(int)); y = malloc((size_t)B * sizeof(int));

    const long steps_per_epoch = (long)((nt + (size_t)B - 1) / (size_t)B);
    const int max_epochs = (int)ceil(o->epochs);
    long total = (long)(o->epochs * steps_per_epoch + 0.5);
    if (o->max_steps > 0 && o->max_steps < total) total = o->max_steps;
    if (total < 1) total = 1;
    if (!o->quiet)
        fprintf(stderr, "pktlm finetune: %s%s, %d layers, d %d, ctx %d (rows of %d tokens, packets kept: %d (0 = all)), %zu parameters; "
                        "%d classes, %zu training / %zu validation flows; %s, pooling %s, balance %s, lr %.1e, "
                        "up to %ld steps of batch %d%s\n",
                model_arch_name(m.cfg.arch), o->init_path ? " from a pretrained checkpoint" : " from scratch", m.cfg.layers,
                m.cfg.d_model, m.cfg.ctx, T, o->max_pkts, m.nparams,
                K, nt, nv, o->freeze ? "encoder frozen (head only)" : "all weights", cls_pool_name(o->pooling),
                o->balance == BAL_SAMPLE ? "sampling" : o->balance == BAL_WEIGHT ? "loss weights" : "none", lr, total, B,
                o->prec == NN_BF16 ? ", bf16 products" : "");
    if (o->freeze) {
        double t0 = now_sec();
        tfeat = features(&m, &h, &tr, tix, nt, T, o->max_pkts, B, &dd);
        m.prec = NN_FP32;   /* validation in fp32 (above) */
        if (nv) vfeat = features(&m, &h, &va, vix, nv, T, o->max_pkts, B, &dd);
        m.prec = o->prec;
        if (!o->quiet) fprintf(stderr, "pktlm finetune: encoder features of %zu flows in %.1fs\n", nt + nv, now_sec() - t0);
    }

    ckpt_side_path(csv, sizeof csv, o->out_path, ".csv");
    if (dd.rank == 0) {
        log = fopen(csv, "w");
        if (!log) { OPT_FAIL(o, "%s: %s", csv, strerror(errno)); goto done; }
        fputs("epoch,step,lr,train_loss,val_accuracy,val_macro_f1,elapsed_s\n", log);
    }

    cls_info info = { .K = K, .pooling = o->pooling, .max_pkts = o->max_pkts, .seq_len = T, .frozen = o->freeze,
                      .pretrained = o->init_path != NULL, .names = names, .best_val_f1 = -1 };
    if (o->init_path) snprintf(info.init_path, sizeof info.init_path, "%s", o->init_path);
    info.prep = pcfg; info.prep_known = pknown; info.prep_secret = psecret;
    if (tr.format == TOKFMT_BPE) {   /* the classifier carries its tokenizer: classify encodes captures from the file alone */
        if (corpus_tokenizer(o->data_dir, &tr, err, sizeof err) != 0) { OPT_FAIL(o, "%s", err); goto done; }
        info.tokenizer = (char *)bpe_json(tr.bpe, &info.tokenizer_len);
    }
    adamw_params hp = { .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = o->weight_decay };
    uint64_t rng = o->seed ^ 0xd1b54a32d192ed03ull;
    progress pg;
    progress_init(&pg, "fine-tuning", "flows", 1);
    if (dd.rank) pg.enabled = 0;
    char ranks_note[48] = "";
    if (dd.size > 1) snprintf(ranks_note, sizeof ranks_note, " (%d ranks)", dd.size);
    double t0 = now_sec();
    long step = 0;
    int bad_epochs = 0, stopped = 0;
    o->best_f1 = -1;
    for (int ep = 1; ep <= max_epochs && step < total; ep++) {
        double lsum = 0; long lcount = 0;
        for (long s = 0; s < steps_per_epoch && step < total; s++, step++) {
            hp.lr = lr_schedule((int)step, lr, o->warmup, (int)total, 0.1f);
            batcher_draw(&bt, bix);   /* the global batch (every rank draws the same) */
            /* class weights of the global batch and of this rank's rows nb, from r0: each rank's
             * share of the gradient is weighted by its part of the global batch's loss */
            double wall = 0, wloc = 0;
            for (int b = 0; b < B; b++) {
                double w = o->balance == BAL_WEIGHT ? cw[tr.seqs[bix[b]].label] : 1.0;
                wall += w;
                if (b >= r0 && b < r0 + nb) wloc += w;
            }
            const float share = (float)(wloc / wall);
            for (int b = 0; b < nb; b++) {
                uint32_t i = bix[r0 + b];
                y[b] = tr.seqs[i].label;
                if (o->freeze) {
                    /* feature row: position of i in tix (tix is increasing: binary search) */
                    size_t lo = 0, hi = nt;
                    while (lo + 1 < hi) { size_t mid = (lo + hi) / 2; if (tix[mid] <= i) lo = mid; else hi = mid; }
                    memcpy(h.pooled + (size_t)b * C, tfeat + lo * C, (size_t)C * sizeof(float));
                } else {
                    const shard_seq *q = &tr.seqs[i];
                    tok_format tfb;   /* bpe: the ids of the corpus's tokenizer */
                    len[b] = cls_make_row(rows + (size_t)b * T, tr.tokens + q->off, q->len, T, o->max_pkts, shard_format(&tr, &tfb));
                }
            }
            const float *cwp = o->balance == BAL_WEIGHT ? cw : NULL;
            cls_head_zero_grad(&h);
            float loss;
            if (o->freeze) {
                loss = cls_head_forward(&h, h.pooled, y, cwp, nb);
                cls_head_backward(&h, h.pooled, y, cwp, nb);
                if (dd.size > 1) {
                    for (size_t i = 0; i < h.nparams; i++) h.grads[i] *= share;
                    dist_grads_end(&dd, NULL, h.grads, h.nparams);
                }
                clip_grad_norm(h.grads, h.nparams, o->clip);
            } else {
                m.training = 1;
                m.dropout_seed = splitmix64(&rng);
                if (dd.rank) m.dropout_seed += (uint64_t)dd.rank * 0x9E3779B97F4A7C15ull;   /* own masks */
                int Tb = cls_trim_rows(rows, len, nb, T);   /* the batch's longest row: same result, less work */
                m.ops->forward(&m, rows, nb, Tb);
                cls_pool_forward(h.pooled, m.hidden, len, nb, Tb, C, h.pooling);
                loss = cls_head_forward(&h, h.pooled, y, cwp, nb);
                model_zero_grad(&m);
                cls_head_backward(&h, h.pooled, y, cwp, nb);
                if (dd.size > 1) {
                    for (size_t i = 0; i < (size_t)nb * C; i++) h.dpooled[i] *= share;
                    for (size_t i = 0; i < h.nparams; i++) h.grads[i] *= share;
                }
                cls_pool_backward(m.dhidden, h.dpooled, len, nb, Tb, C, h.pooling);
                dist_grads_begin(&dd, &m);   /* summed with the other ranks' layer by layer */
                m.ops->backward(&m, rows, nb, Tb);
                dist_grads_end(&dd, &m, h.grads, h.nparams);
                /* one global norm over backbone and head */
                double g1 = global_norm(m.grads, m.nparams), g2 = global_norm(h.grads, h.nparams);
                double gn = sqrt(g1 * g1 + g2 * g2);
                if (gn > o->clip && o->clip > 0) {
                    float k = (float)(o->clip / gn);
                    for (size_t i = 0; i < m.nparams; i++) m.grads[i] *= k;
                    for (size_t i = 0; i < h.nparams; i++) h.grads[i] *= k;
                }
                model_adamw(&m, &hp, (int)step + 1);
            }
            cls_head_adamw(&h, &hp, (int)step + 1);
            if (dd.size > 1) {   /* the global batch's loss; a stop request on any rank stops all */
                double agg[2] = { loss * share, o->interrupt && *o->interrupt };
                dist_sum(&dd, agg, 2);
                loss = (float)agg[0];
                stopped = agg[1] > 0;
            } else stopped = o->interrupt && *o->interrupt;
            lsum += loss; lcount++;
            char extra[160];
            snprintf(extra, sizeof extra, "epoch %d  step %ld/%ld  loss %.4f  best val F1 %.3f", ep, step + 1, total,
                     lsum / lcount, o->best_f1 < 0 ? 0 : o->best_f1);
            if (!o->quiet) progress_update(&pg, (double)(step + 1) * B, (double)total * B, extra);
            if (stopped) break;
        }
        m.prec = NN_FP32;
        double acc = 0, f1 = nv ? val_score(&m, &h, &va, vix, nv, vfeat, T, o->max_pkts, B, K, &acc, &dd) : 0;
        m.prec = o->prec;
        if (f1 < 0) { OPT_FAIL(o, "out of memory (validation)"); goto done; }
        double el = now_sec() - t0;
        o->epochs_run = ep;
        if (log) {
            fprintf(log, "%d,%ld,%.6g,%.6f,%.6f,%.6f,%.2f\n", ep, step, hp.lr, lcount ? lsum / lcount : NAN, acc, f1, el);
            fflush(log);
        }
        int better = !nv || f1 > o->best_f1;
        if (better) {
            o->best_f1 = (float)f1; o->best_acc = (float)acc; o->best_epoch = ep; bad_epochs = 0;
            info.best_val_f1 = (float)f1; info.best_epoch = ep;
            if (dd.rank == 0 && cls_save(o->out_path, &m, &st, &h, &info, err, sizeof err) != 0) { OPT_FAIL(o, "%s", err); goto done; }
        } else bad_epochs++;
        if (!o->quiet) {
            char eta[32];
            fmt_duration(eta, sizeof eta, el / (double)step * (double)(total - step));
            progress_end(&pg);
            fprintf(stderr, "epoch %d  step %ld/%ld  loss %.4f  val acc %.4f  macro-F1 %.4f%s  %.0f flows/s%s  ETA %s\n", ep, step,
                    total, lcount ? lsum / lcount : NAN, acc, f1, better ? "  (best, saved)" : "",
                    (double)step * B / (el > 0 ? el : 1e-9), ranks_note, eta);
        }
        if (o->patience > 0 && bad_epochs >= o->patience) {
            if (!o->quiet) fprintf(stderr, "pktlm finetune: early stop: no better validation macro-F1 in %d epochs\n", o->patience);
            break;
        }
        if (stopped) { if (!o->quiet) fprintf(stderr, "pktlm finetune: interrupted\n"); break; }
        if (o->time_limit > 0 && dist_any(&dd, el > o->time_limit)) {   /* the clocks of all ranks: one decision */
            if (!o->quiet) fprintf(stderr, "pktlm finetune: time limit %.0fs reached\n", o->time_limit);
            break;
        }
    }
    progress_end(&pg);
    o->steps = step;
    if (!o->quiet) dist_report_waits(&dd, "finetune", now_sec() - t0);
    rc = 0;
done:
    if (log) fclose(log);
    out_lock_release(&lock);
    if (bt.perm) batcher_free(&bt);
    free(bix); free(rows); free(len); free(y); free(cw); free(tix); free(vix); free(tfeat); free(vfeat);
    corpus_labels_free(names, K);
    cls_head_free(&h);
    model_free(&m);
    shard_free(&tr);
    if (have_val) shard_free(&va);
    dist_free(&dd);
    return rc;
}
