/* A flow classifier on worker threads behind a bounded queue (live classify, docs/live.md).
 *
 * The capture thread must never wait for the model: a burst of new flows would stall it and
 * the kernel would drop packets. So it only queues a decision request (the flow's tokens and
 * identity) and goes back to the interface; each worker holds its own copy of the classifier
 * (weights and activations: no locks around the forward pass), takes whatever is queued (up
 * to its batch), runs it in one forward pass and hands each result to the caller's callback.
 * When the queue is full the request is dropped and counted, never waited for: a decision
 * lost is reported, a capture stalled is not visible at all.
 *
 * Rows are built by cls_make_row() as in fine-tuning, eval and file classify. */
#ifndef PKTLM_CLSWORKERS_H
#define PKTLM_CLSWORKERS_H
#include <stdint.h>
#include <stddef.h>
#include "corpus/tokens.h"
#include "flow/flow.h"
#include "models/clshead.h"

typedef struct {
    flow_key key;
    uint64_t id;             /* flow id (flow table order) */
    uint64_t flow_pkts;      /* packets of the flow seen when it was decided */
    int reason;              /* STREAM_AT_K or END_* (corpus/stream.h) */
    int64_t ts_ns;           /* capture time of the deciding packet */
    double queued;           /* now_sec() when queued */
    tok_t *tok;              /* owned by the queue */
    size_t n;
} cls_job;

/* Called on a worker thread, one call at a time (the pool serialises them, so output lines
 * never interleave). probs: K class probabilities of the job's flow. */
typedef void (*cls_result_fn)(void *ctx, const cls_job *j, const float *probs, int K);

typedef struct {
    int workers;             /* threads running the model; default 1 */
    int threads;             /* nn threads (OpenMP) inside each worker; default 1 */
    int batch;               /* most flows per forward pass; default 32 */
    int queue;               /* most requests waiting; default 4096 */
    int max_pkts;            /* packets per row (the decision point K) */
    int tokens;              /* token format of the classifier's corpus (TOKFMT_*) */
    const tok_format *tf;    /* bpe: its ids (tokfmt_bpe; the caller's, kept while the pool runs); NULL: tokfmt_get(tokens) */
} cls_workers_cfg;

typedef struct {
    uint64_t queued, done, dropped_full;   /* dropped_full: the queue was full */
    int queue_peak;
    double model_s;                         /* time in forward passes, all workers */
} cls_workers_stats;

typedef struct cls_workers cls_workers;

/* Load the classifier at path once per worker and start the workers. NULL with err set. */
cls_workers *cls_workers_start(const char *path, const cls_workers_cfg *cfg, cls_result_fn fn, void *ctx,
                               char *err, size_t errlen);
/* Queue one flow (tokens copied). 0 queued, -1 dropped (queue full or out of memory; counted). */
int cls_workers_submit(cls_workers *w, const cls_job *j);
/* Wait until everything queued is done, stop the workers, free. stats may be NULL. */
void cls_workers_finish(cls_workers *w, cls_workers_stats *stats);
void cls_workers_get_stats(cls_workers *w, cls_workers_stats *stats);
#endif
