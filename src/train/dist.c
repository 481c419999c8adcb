/* Data-parallel training over MPI: see dist.h and docs/distributed.md. Built with MPI when the
 * Makefile finds Open MPI (PKTLM_MPI), else the stub at the end. */
#include "train/dist.h"
#include "util/util.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dist_rows(int B, int rank, int size, int *r0, int *n) {
    if (size < 1) size = 1;
    long a = (long)B * rank / size, b = (long)B * (rank + 1) / size;
    *r0 = (int)a;
    *n = (int)(b - a);
}

/* started by a launcher: Open MPI's mpirun (OMPI_COMM_WORLD_SIZE), or a PMI/PMIx one (srun) */
static int launched_size(void) {
    const char *v[] = { "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE" };
    for (int i = 0; i < 3; i++) {
        const char *s = getenv(v[i]);
        if (s && atoi(s) > 0) return atoi(s);
    }
    return getenv("PMIX_RANK") || getenv("PMI_RANK") ? 2 : 1;
}

#ifdef PKTLM_MPI
#include <mpi.h>

int dist_init(dist *d, char *err, size_t errlen) {
    memset(d, 0, sizeof *d);
    d->size = 1;
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        /* a single process never starts MPI: no launcher, no network probing, as before */
        if (launched_size() <= 1) return 0;
        int provided = 0;
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
            snprintf(err, errlen, "MPI_Init_thread failed");
            return -1;
        }
        if (provided < MPI_THREAD_FUNNELED) {
            snprintf(err, errlen, "this MPI library gives no MPI_THREAD_FUNNELED (OpenMP threads beside MPI calls)");
            return -1;
        }
        /* an MPI error ends the whole job (MPI_ERRORS_ARE_FATAL, the default), never a hang */
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    d->bucket_bytes = DIST_BUCKET_BYTES;
    const char *mb = getenv("PKTLM_BUCKET_MB");
    if (mb && *mb) {
        char *end;
        double v = strtod(mb, &end);
        if (*end || !(v >= 0) || v > 1e6) { snprintf(err, errlen, "PKTLM_BUCKET_MB=%s: not a size in MB (0 .. 1e6)", mb); return -1; }
        d->bucket_bytes = (size_t)(v * 1048576.0);
    }
    return 0;
}

void dist_free(dist *d) {
    free(d->req);
    d->req = NULL;
    d->nreq = d->req_cap = 0;
}

/* MPI counts are int: larger buffers go in pieces of 2^30 elements */
#define DIST_CHUNK ((size_t)1 << 30)

void dist_bcast(dist *d, void *p, size_t bytes) {
    if (d->size <= 1 || !p) return;
    double t = now_sec();
    for (size_t o = 0; o < bytes; o += DIST_CHUNK) {
        size_t n = bytes - o < DIST_CHUNK ? bytes - o : DIST_CHUNK;
        MPI_Bcast((char *)p + o, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD);
    }
    d->wait_s += now_sec() - t;
}

void dist_sum(dist *d, double *v, int n) {
    if (d->size <= 1) return;
    double t = now_sec();
    MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    d->wait_s += now_sec() - t;
}

void dist_sum_floats(dist *d, float *v, size_t n) {
    if (d->size <= 1 || !v) return;
    double t = now_sec();
    for (size_t o = 0; o < n; o += DIST_CHUNK) {
        size_t k = n - o < DIST_CHUNK ? n - o : DIST_CHUNK;
        MPI_Allreduce(MPI_IN_PLACE, v + o, (int)k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
    d->wait_s += now_sec() - t;
}

double dist_max(dist *d, double x) {
    if (d->size <= 1) return x;
    MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return x;
}

int dist_any(dist *d, int flag) {
    double v = flag != 0;
    dist_sum(d, &v, 1);
    return v > 0;
}

/* ---- gradient buckets ----
 * Backbones stack each per-layer tensor as (L, ...) (model.h) and name it "h.*" (GPT-2) or
 * "layers.*" (Qwen2, Mamba-2, linear attention): layer l of tensor i is the range
 * offset[i] + l * size/L of length size/L in the flat gradient buffer, written only while the
 * backward pass runs layer l. Layers finish from L-1 down, so the layers l..next_layer are
 * final together and each stacked tensor holds them as one contiguous range: a bucket is one
 * (offset, length) range per stacked tensor. Everything else (embeddings, final norm, an
 * untied LM head) is posted at the end. */
static int stacked(const model *m, int i) {
    const char *s = m->spec[i].name;
    int L = m->cfg.layers;
    return L > 0 && m->spec[i].size % (size_t)L == 0 && (!strncmp(s, "h.", 2) || !strncmp(s, "layers.", 7));
}

static void post(dist *d, float *p, size_t n) {
    for (size_t o = 0; o < n; o += DIST_CHUNK) {
        size_t k = n - o < DIST_CHUNK ? n - o : DIST_CHUNK;
        if (d->nreq == d->req_cap) {
            int cap = d->req_cap ? 2 * d->req_cap : 64;
            MPI_Request *r = realloc(d->req, (size_t)cap * sizeof *r);
            if (!r) {   /* the other ranks have posted this sum: no way on but the end */
                fprintf(stderr, "pktlm: rank %d: out of memory for %d MPI requests\n", d->rank, cap);
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
            d->req = r; d->req_cap = cap;
        }
        MPI_Iallreduce(MPI_IN_PLACE, p + o, (int)k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, (MPI_Request *)d->req + d->nreq++);
        d->bytes += k * sizeof(float);
    }
}

/* post layers lo..d->next_layer of every stacked tensor */
static void post_layers(dist *d, int lo) {
    model *m = d->m;
    int L = m->cfg.layers;
    if (lo > d->next_layer) return;
    for (int i = 0; i < m->ntensors; i++) {
        if (!stacked(m, i)) continue;
        size_t stride = m->spec[i].size / (size_t)L;
        post(d, m->grads + m->offset[i] + (size_t)lo * stride, (size_t)(d->next_layer - lo + 1) * stride);
    }
    d->next_layer = lo - 1;
    d->pending = 0;
}

/* Open MPI moves a non-blocking collective forward only inside MPI calls: a test of the posted
 * requests between layers is what lets the sums run behind the backward pass */
static void test_posted(dist *d) {
    int done = 0;
    if (d->nreq) MPI_Testall(d->nreq, (MPI_Request *)d->req, &done, MPI_STATUSES_IGNORE);
}

static void layer_done(void *ctx, int l) {
    dist *d = ctx;
    model *m = d->m;
    for (int i = 0; i < m->ntensors; i++)
        if (stacked(m, i)) d->pending += m->spec[i].size / (size_t)m->cfg.layers;
    if (d->bucket_bytes && d->pending * sizeof(float) >= d->bucket_bytes) { post_layers(d, l); d->buckets++; }
    test_posted(d);
}

void dist_grads_begin(dist *d, model *m) {
    if (d->size <= 1 || !m || !m->grads) return;
    d->m = m;
    d->next_layer = m->cfg.layers - 1;
    d->pending = 0;
    d->nreq = 0;
    m->layer_done = layer_done;
    m->layer_ctx = d;
}

void dist_grads_end(dist *d, model *m, float *extra, size_t n_extra) {
    if (d->size <= 1) return;
    if (m && m->grads) {
        if (d->m != m) dist_grads_begin(d, m);   /* no backward ran armed: everything now */
        post_layers(d, 0);
        /* the rest, adjacent tensors merged into one range */
        for (int i = 0; i < m->ntensors; i++) {
            if (stacked(m, i)) continue;
            size_t off = m->offset[i], n = m->spec[i].size;
            while (i + 1 < m->ntensors && !stacked(m, i + 1) && m->offset[i + 1] == off + n) n += m->spec[++i].size;
            post(d, m->grads + off, n);
        }
        m->layer_done = NULL;
        m->layer_ctx = NULL;
    }
    if (extra && n_extra) post(d, extra, n_extra);
    double t = now_sec();
    if (d->nreq) MPI_Waitall(d->nreq, (MPI_Request *)d->req, MPI_STATUSES_IGNORE);
    t = now_sec() - t;
    d->grad_wait_s += t;
    d->wait_s += t;
    d->nreq = 0;
    d->m = NULL;
}

int dist_exit(int rc) {
    int inited = 0, fin = 0;
    MPI_Initialized(&inited);
    if (!inited) return rc;
    MPI_Finalized(&fin);
    if (fin) return rc;
    if (rc != 0) MPI_Abort(MPI_COMM_WORLD, rc);
    MPI_Finalize();
    return rc;
}

#else /* ---- a build without MPI (make MPI=0): one process ---- */

int dist_init(dist *d, char *err, size_t errlen) {
    memset(d, 0, sizeof *d);
    d->size = 1;
    if (launched_size() > 1) {
        /* N copies training alone would each write the same output */
        snprintf(err, errlen, "started by mpirun, but this pktlm was built without MPI (make MPI=0): "
                              "install libopenmpi-dev and rebuild to train on several processes");
        return -1;
    }
    return 0;
}
void dist_free(dist *d) { (void)d; }
void dist_bcast(dist *d, void *p, size_t bytes) { (void)d; (void)p; (void)bytes; }
void dist_sum(dist *d, double *v, int n) { (void)d; (void)v; (void)n; }
void dist_sum_floats(dist *d, float *v, size_t n) { (void)d; (void)v; (void)n; }
double dist_max(dist *d, double x) { (void)d; return x; }
int dist_any(dist *d, int flag) { (void)d; return flag != 0; }
void dist_grads_begin(dist *d, model *m) { (void)d; (void)m; }
void dist_grads_end(dist *d, model *m, float *extra, size_t n_extra) { (void)d; (void)m; (void)extra; (void)n_extra; }
int dist_exit(int rc) { return rc; }
#endif

/* the start of every training run (pretrain, the finetune tasks) */
int dist_start(dist *d, int threads, int *quiet, char *err, size_t errlen) {
    nn_set_threads(threads);
    if (dist_init(d, err, errlen) != 0) return -1;
    if (d->rank) *quiet = 1;
    return 0;
}

void dist_report_waits(const dist *d, const char *verb, double el) {
    if (d->size > 1)
        fprintf(stderr, "pktlm %s: %d ranks: %.2f s of %.2f s waiting for other ranks (gradients %.2f s)\n", verb, d->size, d->wait_s,
                el, d->grad_wait_s);
}
