/* Data-parallel training's pieces that need no MPI (src/train/dist.c, docs/distributed.md):
 * the row split, the data loader's shares (the union of every rank's rows is the one-process
 * batch, in order, whatever the number of ranks), the layer hook's contract for every backbone
 * (called once per layer from L-1 down, and the layer's gradient slices are final when it is
 * called), the sum of the ranks' gradients being the global batch's, and a process started
 * without mpirun being one rank of one. The runs under mpirun are tests/cli_mpi.sh. */
#include "test.h"
#include "toycorpus.h"
#include "train/data.h"
#include "train/dist.h"
#include "models/model.h"

static void test_rows_split(void) {
    for (int B = 1; B <= 20; B++)
        for (int N = 1; N <= 8; N++) {
            int next = 0, lo = B, hi = 0;
            for (int r = 0; r < N; r++) {
                int r0, n;
                dist_rows(B, r, N, &r0, &n);
                CHECKF(r0 == next, "B %d N %d rank %d starts at %d, not %d", B, N, r, r0, next);
                next = r0 + n;
                if (n < lo) lo = n;
                if (n > hi) hi = n;
            }
            CHECK_EQ(next, B);
            CHECK(hi - lo <= 1);
            CHECK(lo >= 1 || B < N);
        }
}

/* every rank's loader, shared, against one loader of the whole batch: same rows, same targets,
 * same counted targets in total, same position afterwards (pack and pad layouts) */
static void test_data_shares(void) {
    char dir[256], p[300], err[256];
    snprintf(dir, sizeof dir, "%s/dist_corpus", t_tmpdir());
    make_toy_corpus(dir, 40, 60, 5);
    snprintf(p, sizeof p, "%s/train.tok", dir);
    const int B = 5, T = 12;
    for (int pack = 0; pack <= 1; pack++)
        for (int N = 1; N <= 5; N++) {
            dataloader one, part[5];
            CHECK(data_open(&one, p, B, T, pack, 1, 9, err, sizeof err) == 0);
            for (int r = 0; r < N; r++) {
                int r0, n;
                dist_rows(B, r, N, &r0, &n);
                CHECK(data_open(&part[r], p, B, T, pack, 1, 9, err, sizeof err) == 0);
                data_share(&part[r], r0, n);
            }
            for (int k = 0; k < 40; k++) {   /* past an epoch: the reshuffle too */
                int c1 = data_next(&one), cs = 0;
                for (int r = 0; r < N; r++) {
                    cs += data_next(&part[r]);
                    size_t off = (size_t)part[r].r0 * T, len = (size_t)part[r].nb * T;
                    CHECK(!memcmp(part[r].tok, one.tok + off, len * sizeof(int)));
                    CHECK(!memcmp(part[r].tgt, one.tgt + off, len * sizeof(int)));
                    CHECK(!memcmp(&part[r].pos, &one.pos, sizeof one.pos));
                }
                CHECK_EQ(cs, c1);
            }
            data_close(&one);
            for (int r = 0; r < N; r++) data_close(&part[r]);
        }
}

static void test_single_process(void) {
    dist d;
    char err[256];
    CHECK(dist_init(&d, err, sizeof err) == 0);
    CHECK_EQ(d.rank, 0);
    CHECK_EQ(d.size, 1);
    double v[2] = { 1.5, -2 };
    dist_sum(&d, v, 2);
    CHECK(v[0] == 1.5 && v[1] == -2);
    CHECK(dist_any(&d, 0) == 0 && dist_any(&d, 3) == 1);
    CHECK(dist_max(&d, 4.25) == 4.25);
    model m = { 0 };
    float g[4] = { 1, 2, 3, 4 };
    m.grads = g; m.nparams = 4;
    dist_grads_begin(&d, &m);
    CHECK(m.layer_done == NULL);   /* one process: the backward pass is left exactly as it was */
    dist_grads_end(&d, &m, g, 4);
    CHECK(g[0] == 1 && g[3] == 4 && d.wait_s == 0 && d.bytes == 0);
    dist_free(&d);
}

/* ---- the layer hook ---- */
typedef struct { model *m; int calls, next, order_ok; float *snap; } hook_rec;

static int stacked(const model *m, int i) {
    const char *s = m->spec[i].name;
    return m->spec[i].size % (size_t)m->cfg.layers == 0 && (!strncmp(s, "h.", 2) || !strncmp(s, "layers.", 7));
}
static void on_layer(void *ctx, int l) {
    hook_rec *h = ctx;
    model *m = h->m;
    if (l != h->next) h->order_ok = 0;
    h->next = l - 1;
    h->calls++;
    for (int i = 0; i < m->ntensors; i++) {
        if (!stacked(m, i)) continue;
        size_t s = m->spec[i].size / (size_t)m->cfg.layers, o = m->offset[i] + (size_t)l * s;
        memcpy(h->snap + o, m->grads + o, s * sizeof(float));
    }
}

static void make_model(model *m, int arch, int B, int T) {
    model_config c = { .arch = arch, .vocab = 40, .ctx = 16, .layers = 3, .d_model = 32, .heads = 4 };
    if (arch == ARCH_QWEN2) c.kv_heads = 2;
    if (arch == ARCH_MAMBA2) { c.heads = 0; c.d_state = 16; c.head_dim = 16; c.chunk = 8; }
    model_config_defaults(&c);
    char err[256];
    CHECKF(model_create(m, &c, err, sizeof err) == 0, "%s", err);
    model_init_weights(m, 7);
    CHECK(model_alloc_training(m) == 0);
    CHECK(model_alloc_acts(m, B, T) == 0);
}

static void test_hook_and_split(void) {
    const int archs[] = { ARCH_GPT2, ARCH_QWEN2, ARCH_MAMBA2, ARCH_LINATTN };
    const int B = 4, T = 16;
    int tok[4 * 16], tgt[4 * 16];
    uint64_t s = 3;
    for (int i = 0; i < B * T; i++) { tok[i] = 3 + (int)(splitmix64(&s) % 37); tgt[i] = i % 7 == 0 ? -1 : 3 + (int)(splitmix64(&s) % 37); }
    for (size_t a = 0; a < sizeof archs / sizeof archs[0]; a++) {
        if (!model_ops_for(archs[a])) continue;
        model m = { 0 };
        make_model(&m, archs[a], B, T);
        /* the whole batch, hooked: calls L-1 .. 0, each layer's slices final when called */
        hook_rec h = { &m, 0, m.cfg.layers - 1, 1, calloc(m.nparams, sizeof(float)) };
        m.layer_done = on_layer; m.layer_ctx = &h;
        model_zero_grad(&m);
        model_forward(&m, tok, tgt, B, T);
        int counted = m.counted;
        model_backward(&m, tok, tgt, B, T, 1.0f);
        m.layer_done = NULL;
        CHECKF(h.calls == m.cfg.layers && h.order_ok, "%s: %d calls, order %d", model_arch_name(archs[a]), h.calls, h.order_ok);
        int final = 1, nst = 0;
        for (int i = 0; i < m.ntensors; i++) {
            if (!stacked(&m, i)) continue;
            nst++;
            final &= !memcmp(h.snap + m.offset[i], m.grads + m.offset[i], m.spec[i].size * sizeof(float));
        }
        CHECKF(final && nst > 0, "%s: a layer's gradient changed after its hook (%d stacked tensors)", model_arch_name(archs[a]), nst);
        /* two ranks' shares (rows 0..0 and 1..3: uneven): their gradient sums add up to the batch's */
        float *whole = malloc(m.nparams * sizeof(float));
        memcpy(whole, m.grads, m.nparams * sizeof(float));
        model_zero_grad(&m);
        int c2 = 0;
        model_forward(&m, tok, tgt, 1, T);
        c2 += m.counted;
        model_backward(&m, tok, tgt, 1, T, 1.0f);
        model_forward(&m, tok + T, tgt + T, 3, T);
        c2 += m.counted;
        model_backward(&m, tok + T, tgt + T, 3, T, 1.0f);
        CHECK_EQ(c2, counted);
        double e = rel_err(m.grads, whole, m.nparams);
        CHECKF(e < 1e-5, "%s: shares' gradient sum vs the batch's: %.3g", model_arch_name(archs[a]), e);
        free(whole); free(h.snap);
        model_free(&m);
    }
}

int main(void) {
    RUN(test_rows_split);
    RUN(test_data_shares);
    RUN(test_single_process);
    RUN(test_hook_and_split);
    return t_done();
}
