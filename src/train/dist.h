/* Data-parallel training over MPI (Open MPI from Debian): the one place that talks to other
 * processes. docs/distributed.md describes the scheme and its costs.
 *
 * `mpirun -np N pktlm pretrain ...` starts N copies of the same command. Each copy (a rank)
 * holds the whole model, reads its own rows of every global batch (train/data.h: data_share),
 * and the training loops call this layer at a few fixed points:
 *   dist_init          who am I (rank, size); MPI_Init only when started by mpirun
 *   dist_bcast         rank 0's weights, optimizer state and train_state to every rank
 *   dist_grads_begin   before the backward pass that completes the step's gradients: the
 *                      backbone's per-layer hook (model.h: layer_done) then posts a non-blocking
 *                      sum (MPI_Iallreduce) of each bucket of final layers, and progresses the
 *                      posted ones between layers
 *   dist_grads_end     posts what is left (embedding, final norm, heads), waits for all
 *   dist_sum           small blocking sums: token counts, loss sums, stop flags, scores
 * A process started without mpirun never calls MPI (size 1, every call returns at once), so a
 * single process trains exactly as before; a build without MPI (make MPI=0) has the same
 * functions with nothing behind them, and refuses to run under mpirun.
 *
 * Only the main thread calls MPI (MPI_THREAD_FUNNELED): the hooks run between the OpenMP
 * regions of the layers. */
#ifndef PKTLM_DIST_H
#define PKTLM_DIST_H
#include <stddef.h>
#include <stdint.h>
#include "models/model.h"

/* Gradients are summed in buckets of at least this many bytes of whole layers (the layers
 * finished since the last bucket): big enough that per-message latency is small beside the
 * transfer even at 10 Gbit/s, small enough that the first bucket leaves while most of the
 * backward pass is still to run. docs/distributed.md, "Bucket size". The environment variable
 * PKTLM_BUCKET_MB overrides it (0: everything after the backward pass, no overlap). */
#define DIST_BUCKET_BYTES ((size_t)4 << 20)

typedef struct {
    int rank, size;            /* 0, 1 without mpirun */
    size_t bucket_bytes;       /* DIST_BUCKET_BYTES or PKTLM_BUCKET_MB; 0: no buckets during backward */
    /* the armed gradient reduction (dist_grads_begin .. dist_grads_end) */
    model *m;
    int next_layer;            /* the highest layer whose gradients are not posted yet */
    size_t pending;            /* floats of finished layers not posted yet */
    void *req;                 /* MPI_Request[nreq] (opaque: this header needs no mpi.h) */
    int nreq, req_cap;
    /* what it cost (this rank) */
    double wait_s;             /* seconds blocked in MPI: waiting for gradients and small sums */
    double grad_wait_s;        /* of which waiting for the gradient buckets after the backward */
    uint64_t bytes;            /* gradient bytes this rank summed with the others */
    long buckets;              /* gradient buckets posted during backward passes */
} dist;

/* With several ranks: "pktlm VERB: N ranks: W s of EL s waiting for other ranks (gradients G s)"
 * on stderr, this rank's waits over the run's el seconds. Nothing with one process. */
void dist_report_waits(const dist *d, const char *verb, double el);
/* 0 ok; -1 with a message (MPI failed to start, or a build without MPI started by mpirun). */
int dist_init(dist *d, char *err, size_t errlen);
void dist_free(dist *d);
/* The start of a training run: OpenMP threads (0 = all cores), dist_init, and every rank but
 * rank 0 quiet (only rank 0 writes files and talks). 0 ok; -1 with dist_init's message. */
int dist_start(dist *d, int threads, int *quiet, char *err, size_t errlen);
/* rank 0's bytes at p to every rank (blocking); nothing with one process */
void dist_bcast(dist *d, void *p, size_t bytes);
/* v[0..n) summed over the ranks, in place (blocking) */
void dist_sum(dist *d, double *v, int n);
/* the same for a float buffer (feature tables: each rank fills its rows, zeros elsewhere) */
void dist_sum_floats(dist *d, float *v, size_t n);
/* the largest x of all ranks, on every rank */
double dist_max(dist *d, double x);
/* 1 when any rank passes flag != 0 (a stop request), on every rank */
int dist_any(dist *d, int flag);

/* Arm m's backward: its layer hook posts buckets of final layers. Nothing with one process. */
void dist_grads_begin(dist *d, model *m);
/* Post m's remaining gradients (m may be NULL: no backbone gradients, e.g. a frozen encoder)
 * and extra[0..n) (a head's gradients, may be NULL), wait until every sum is complete: then
 * every rank holds the sum over all ranks. Disarms the hook. Nothing with one process. */
void dist_grads_end(dist *d, model *m, float *extra, size_t n_extra);

/* rows [r0, r0 + n) of a batch of B rows that rank `rank` of `size` takes: contiguous, sizes
 * differing by at most one; n = 0 when B < size */
void dist_rows(int B, int rank, int size, int *r0, int *n);

/* End of the process (src/cli/main.c, after the verb): MPI_Finalize when the verb succeeded,
 * else MPI_Abort, which ends every rank (a rank that failed alone would leave the others
 * waiting in a collective). Returns rc. */
int dist_exit(int rc);
#endif
