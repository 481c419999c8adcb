/* Classifier worker threads behind a bounded queue: see clsworkers.h. */
#include "models/clsworkers.h"
#include "corpus/tokfmt.h"
#include "util/util.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    struct cls_workers *pool;
    pthread_t th;
    int started;
    model m;
    cls_head h;
    cls_info info;
    int B, T;
    int *rows, *len;
    cls_job *jobs;           /* the batch taken from the queue */
} worker;

struct cls_workers {
    cls_workers_cfg cfg;
    cls_result_fn fn;
    void *ctx;
    const tok_format *tf;
    pthread_mutex_t mu, out_mu;
    pthread_cond_t ready, idle;
    cls_job *ring;
    int head, count, busy, stopping;
    cls_workers_stats st;
    worker *w;
    int nw;
};

static void *run(void *arg) {
    worker *me = arg;
    cls_workers *p = me->pool;
    pthread_mutex_lock(&p->mu);          /* nn_set_threads keeps a static default: one at a time */
    nn_set_threads(p->cfg.threads);      /* this thread's OpenMP team size, denormals flushed */
    for (;;) {
        while (!p->count && !p->stopping) pthread_cond_wait(&p->ready, &p->mu);
        if (!p->count) break;            /* stopping and nothing left */
        int nb = 0;
        while (p->count && nb < me->B) {
            me->jobs[nb++] = p->ring[p->head];
            p->head = (p->head + 1) % p->cfg.queue;
            p->count--;
        }
        p->busy++;
        pthread_mutex_unlock(&p->mu);

        for (int b = 0; b < nb; b++)
            me->len[b] = cls_make_row(me->rows + (size_t)b * me->T, me->jobs[b].tok, me->jobs[b].n, me->T, p->cfg.max_pkts, p->tf);
        double t0 = now_sec();
        cls_predict_batch(&me->m, &me->h, me->rows, me->len, nb, me->T);
        double dt = now_sec() - t0;
        pthread_mutex_lock(&p->out_mu);
        for (int b = 0; b < nb; b++) p->fn(p->ctx, &me->jobs[b], me->h.probs + (size_t)b * me->h.K, me->h.K);
        pthread_mutex_unlock(&p->out_mu);
        for (int b = 0; b < nb; b++) free(me->jobs[b].tok);

        pthread_mutex_lock(&p->mu);
        p->busy--;
        p->st.done += (uint64_t)nb;
        p->st.model_s += dt;
        if (!p->count && !p->busy) pthread_cond_broadcast(&p->idle);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void worker_free(worker *w) {
    free(w->rows); free(w->len); free(w->jobs);
    cls_info_free(&w->info); cls_head_free(&w->h); model_free(&w->m);
}

cls_workers *cls_workers_start(const char *path, const cls_workers_cfg *cfg, cls_result_fn fn, void *ctx,
                               char *err, size_t errlen) {
    cls_workers *p = calloc(1, sizeof *p);
    if (!p) { snprintf(err, errlen, "out of memory"); return NULL; }
    p->cfg = *cfg;
    if (p->cfg.workers < 1) p->cfg.workers = 1;
    if (p->cfg.threads < 1) p->cfg.threads = 1;
    if (p->cfg.batch < 1) p->cfg.batch = 32;
    if (p->cfg.queue < 1) p->cfg.queue = 4096;
    p->fn = fn; p->ctx = ctx;
    p->tf = p->cfg.tf ? p->cfg.tf : tokfmt_get(p->cfg.tokens);
    p->ring = calloc((size_t)p->cfg.queue, sizeof *p->ring);
    p->w = calloc((size_t)p->cfg.workers, sizeof *p->w);
    if (!p->tf || !p->ring || !p->w) {
        snprintf(err, errlen, p->tf ? "out of memory" : "unknown token format %d", p->cfg.tokens);
        free(p->ring); free(p->w); free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL); pthread_mutex_init(&p->out_mu, NULL);
    pthread_cond_init(&p->ready, NULL); pthread_cond_init(&p->idle, NULL);
    /* every worker's own copy of the classifier: weights are small next to the activations of
     * a batch, and nothing is shared that a forward pass writes */
    for (int i = 0; i < p->cfg.workers; i++) {
        worker *w = &p->w[i];
        w->pool = p;
        if (cls_load(path, &w->m, NULL, &w->h, &w->info, err, errlen) != 0) goto fail;
        w->B = p->cfg.batch;
        w->T = w->info.seq_len < w->m.cfg.ctx ? w->info.seq_len : w->m.cfg.ctx;
        w->rows = malloc((size_t)w->B * w->T * sizeof *w->rows);
        w->len = malloc((size_t)w->B * sizeof *w->len);
        w->jobs = calloc((size_t)w->B, sizeof *w->jobs);
        if (!w->rows || !w->len || !w->jobs || model_alloc_acts(&w->m, w->B, w->T) != 0 || cls_head_alloc_batch(&w->h, w->B) != 0) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        p->nw = i + 1;
    }
    for (int i = 0; i < p->nw; i++) {
        if (pthread_create(&p->w[i].th, NULL, run, &p->w[i]) != 0) { snprintf(err, errlen, "cannot start a worker thread"); goto fail; }
        p->w[i].started = 1;
    }
    return p;
fail:
    p->nw = p->cfg.workers;   /* free what the failed one holds too */
    cls_workers_finish(p, NULL);
    return NULL;
}

int cls_workers_submit(cls_workers *p, const cls_job *j) {
    pthread_mutex_lock(&p->mu);
    if (p->count == p->cfg.queue) { p->st.dropped_full++; pthread_mutex_unlock(&p->mu); return -1; }
    pthread_mutex_unlock(&p->mu);
    /* copy outside the lock: only this (the capture) thread adds, so room cannot vanish */
    cls_job c = *j;
    c.tok = malloc((j->n ? j->n : 1) * sizeof *c.tok);
    if (!c.tok) { pthread_mutex_lock(&p->mu); p->st.dropped_full++; pthread_mutex_unlock(&p->mu); return -1; }
    memcpy(c.tok, j->tok, j->n * sizeof *c.tok);
    pthread_mutex_lock(&p->mu);
    p->ring[(p->head + p->count) % p->cfg.queue] = c;
    p->count++;
    p->st.queued++;
    if (p->count > p->st.queue_peak) p->st.queue_peak = p->count;
    pthread_cond_signal(&p->ready);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

void cls_workers_get_stats(cls_workers *p, cls_workers_stats *st) {
    pthread_mutex_lock(&p->mu);
    *st = p->st;
    pthread_mutex_unlock(&p->mu);
}

void cls_workers_finish(cls_workers *p, cls_workers_stats *st) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->ready);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nw; i++) if (p->w[i].started) pthread_join(p->w[i].th, NULL);
    /* left in the queue only when no worker ever started */
    for (int k = 0; k < p->count; k++) free(p->ring[(p->head + k) % p->cfg.queue].tok);
    if (st) *st = p->st;
    for (int i = 0; i < p->nw; i++) worker_free(&p->w[i]);
    pthread_mutex_destroy(&p->mu); pthread_mutex_destroy(&p->out_mu);
    pthread_cond_destroy(&p->ready); pthread_cond_destroy(&p->idle);
    free(p->ring); free(p->w); free(p);
}
