/* Mamba-2 backbone (src/models/mamba2.c) against the PyTorch reference
 * (tools/torch_ref/mamba2_ref.py -> tests/fixtures/mamba2_ref.bin: 2 layers, 4 heads in 2
 * groups of B/C, T 40 = two chunks of 16 and a partial one): logits, loss, every parameter
 * gradient, the losses of AdamW steps with warm-up, cosine and clipping, bf16 products.
 * Without torch: the output and gradients do not depend on the chunk length, the recurrent
 * step equals forward, dropout's backward regenerates its masks, and training at ctx 4096
 * stays inside the memory the model says it needs. */
#include "test.h"
#include "reffix.h"
#include "models/model.h"
#include "models/checkpoint.h"
#include "util/util.h"
#include <stdint.h>
#include <sys/resource.h>
#include <omp.h>

/* header [11] d_state, [12] head_dim, [13] expand, [14] d_conv, [15] groups */
static model_config fixture_cfg(const fixture *f, int chunk) {
    model_config c = { .arch = ARCH_MAMBA2, .vocab = f->V, .ctx = f->ctx, .layers = f->L, .d_model = f->C,
                       .d_state = f->hdr[11], .head_dim = f->hdr[12], .expand = f->hdr[13], .d_conv = f->hdr[14],
                       .groups = f->hdr[15], .chunk = chunk };
    model_config_defaults(&c);
    return c;
}
static model_config cfg16(const fixture *f) { return fixture_cfg(f, 16); }
static int load_fixture(fixture *f) { return load_fixture_of(f, "tests/fixtures/mamba2_ref.bin", cfg16); }
static int make_model(model *m, const fixture *f, int chunk) { return make_model_of(m, f, fixture_cfg(f, chunk)); }

static void test_config(void) {
    model_config c = { .arch = ARCH_MAMBA2, .vocab = 272, .ctx = 100000, .layers = 24, .d_model = 768 };
    model_config_defaults(&c);
    CHECK(c.d_state == 128 && c.head_dim == 64 && c.expand == 2 && c.d_conv == 4 && c.chunk == 256 && c.groups == 1);
    CHECK(c.tied == 1 && c.heads == 0);   /* an attention field: not read, so 0 */
    const model_ops *ops = model_ops_for(ARCH_MAMBA2);
    CHECK(ops && !strcmp(ops->name, "mamba2") && ops->check(&c) == NULL);
    /* NetSSM's size (research notes: 3,765,320 per layer, 90,577,344 with vocabulary 272) */
    CHECK_EQ(model_param_count(&c), 90577344);
    c.groups = 5; CHECK(ops->check(&c) != NULL);          /* must divide 24 heads */
    c.groups = 8; CHECK(ops->check(&c) == NULL);
    c.head_dim = 100; CHECK(ops->check(&c) != NULL);      /* must divide 1536 */
    c.head_dim = 64; c.tied = 0; CHECK(ops->check(&c) != NULL);
    CHECK_EQ(model_arch_parse("mamba2"), ARCH_MAMBA2);
}

/* The embedding padded to a multiple of 16 rows (NetSSM's layout, so its weights import as
 * they are): the pad rows change no logit, get no gradient, and are never a logit (so never
 * sampled); a checkpoint written before the field existed (0 in its slot) loads unpadded. */
static void test_vocab_pad(void) {
    model_config c = { .arch = ARCH_MAMBA2, .vocab = 50, .ctx = 32, .layers = 2, .d_model = 32, .d_state = 8, .head_dim = 16,
                       .chunk = 8 };
    model_config_defaults(&c);
    CHECK_EQ(c.vocab_pad, 16);
    CHECK_EQ(model_vocab_rows(&c), 64);
    model_config c1 = c;
    c1.vocab_pad = 1;
    CHECK_EQ(model_param_count(&c) - model_param_count(&c1), 14 * 32);
    model a, b;
    char err[256];
    CHECK(model_create(&a, &c, err, sizeof err) == 0);
    CHECK(model_create(&b, &c1, err, sizeof err) == 0);
    model_init_weights(&b, 3);
    /* a = b's weights, the 14 pad rows filled with large values */
    for (int i = 0; i < a.ntensors; i++) {
        float *pa = model_tensor(&a, i), *pb = model_tensor(&b, i);
        memcpy(pa, pb, b.spec[i].size * 4);
        for (size_t k = b.spec[i].size; k < a.spec[i].size; k++) pa[k] = 5.0f;
    }
    CHECK(model_alloc_training(&a) == 0 && model_alloc_training(&b) == 0);
    CHECK(model_alloc_acts(&a, 2, 24) == 0 && model_alloc_acts(&b, 2, 24) == 0);
    int tok[48], tgt[48];
    for (int i = 0; i < 48; i++) { tok[i] = (i * 7 + 3) % 50; tgt[i] = (i * 11 + 1) % 50; }
    float la = model_forward(&a, tok, tgt, 2, 24), lb = model_forward(&b, tok, tgt, 2, 24);
    CHECK(la == lb);
    CHECK(memcmp(a.logits, b.logits, sizeof(float) * 48 * 50) == 0);
    model_zero_grad(&a); model_zero_grad(&b);
    model_backward(&a, tok, tgt, 2, 24, 0);
    model_backward(&b, tok, tgt, 2, 24, 0);
    for (int i = 0; i < a.ntensors; i++) {
        CHECK(memcmp(model_grad(&a, i), model_grad(&b, i), b.spec[i].size * 4) == 0);
        for (size_t k = b.spec[i].size; k < a.spec[i].size; k++) CHECK(model_grad(&a, i)[k] == 0);
    }
    /* the decoding head: 50 logits, equal to the unpadded model's */
    model_run ra, rb;
    CHECK(model_run_init(&ra, &a, 1, NN_FP32, 1, err, sizeof err) == 0);
    CHECK(model_run_init(&rb, &b, 1, NN_FP32, 1, err, sizeof err) == 0);
    float ga[50], gb[50];
    int slot = 0, pos = 0, t0 = 7;
    model_run_step_all(&ra, 1, &slot, &t0, &pos, ga);
    model_run_step_all(&rb, 1, &slot, &t0, &pos, gb);
    CHECK(memcmp(ga, gb, sizeof ga) == 0);
    model_run_free(&ra); model_run_free(&rb);
    /* checkpoints: the padded one round-trips; an unpadded one with its slot 71 zeroed (a file
     * of before the field, header checksum 0 as then) loads as unpadded */
    char p1[256], p2[256];
    snprintf(p1, sizeof p1, "%s/m2pad.ckpt", t_tmpdir());
    snprintf(p2, sizeof p2, "%s/m2old.ckpt", t_tmpdir());
    model_vocab v = { .pad_id = 0, .bos_id = 1, .eos_id = 2 };
    CHECK(ckpt_save_model(p1, &a, &v, NULL, 0, err, sizeof err) == 0);
    CHECK(ckpt_save_model(p2, &b, &v, NULL, 0, err, sizeof err) == 0);
    FILE *f = fopen(p2, "r+b");
    uint8_t z[8] = { 0 };
    CHECK(f && fseek(f, 4 * 71, SEEK_SET) == 0 && fwrite(z, 1, 4, f) == 4 && fseek(f, 4 * 61, SEEK_SET) == 0 && fwrite(z, 1, 8, f) == 8);
    if (f) fclose(f);
    model l1, l2;
    CHECKF(ckpt_load_model(p1, &l1, NULL, NULL, 0, err, sizeof err) == 0, "%s", err);
    CHECK_EQ(l1.cfg.vocab_pad, 16);
    CHECK(l1.nparams == a.nparams && memcmp(l1.params, a.params, a.nparams * 4) == 0);
    CHECKF(ckpt_load_model(p2, &l2, NULL, NULL, 0, err, sizeof err) == 0, "%s", err);
    CHECK_EQ(l2.cfg.vocab_pad, 1);
    CHECK(l2.nparams == b.nparams && memcmp(l2.params, b.params, b.nparams * 4) == 0);
    model_free(&l1); model_free(&l2);
    model_free(&a); model_free(&b);
}

/* chunk 7 (a partial last chunk), 40 (the whole sequence in one) and 256 against 16 */
static void test_chunk_invariance(void) {
    fixture f;
    if (load_fixture(&f) != 0) { CHECK(!"fixture missing"); return; }
    model a;
    CHECK(make_model(&a, &f, 16) == 0);
    model_forward(&a, f.tok, f.tgt, f.B, f.T);
    model_zero_grad(&a);
    model_backward(&a, f.tok, f.tgt, f.B, f.T, 0);
    const int chunks[] = { 7, 40, 256, 1 };
    for (int k = 0; k < 4; k++) {
        model b;
        CHECK(make_model(&b, &f, chunks[k]) == 0);
        model_forward(&b, f.tok, f.tgt, f.B, f.T);
        model_zero_grad(&b);
        model_backward(&b, f.tok, f.tgt, f.B, f.T, 0);
        double el = rel_err(b.logits, a.logits, (size_t)f.B * f.T * f.V), eg = 0;
        for (int i = 0; i < a.ntensors; i++) {
            double e = rel_err(model_grad(&b, i), model_grad(&a, i), a.spec[i].size);
            if (e > eg) eg = e;
        }
        printf("  chunk %d vs 16: logits %.2e, gradients %.2e\n", chunks[k], el, eg);
        CHECKF(el < 2e-6 && eg < 5e-5, "chunk %d: logits %g grads %g", chunks[k], el, eg);
        model_free(&b);
    }
    model_free(&a);
    free_fixture(&f);
}

/* The run state's step (model_run, conv window + SSM state per slot) reproduces forward's
 * logits: two sequences in slots started at different times (rows at different positions in
 * one step), a third slot that first decodes other tokens and is then reset. Each row's logits
 * are the same whatever the batch (bit for bit). bf16 weights within 2e-2. */
static void run_case(int prec, double tol) {
    fixture f;
    model m;
    if (open_ref(&f, &m) != 0) return;
    const int T = f.T, V = f.V;
    model_forward(&m, f.tok, NULL, f.B, T);
    model_run rs, solo;
    char err[256];
    int rc = model_run_init(&rs, &m, 3, prec, 2, err, sizeof err);
    if (rc == -2) { model_free(&m); free_fixture(&f); SKIP("%s", err); }
    CHECK(rc == 0);
    CHECK(model_run_init(&solo, &m, 1, prec, 1, err, sizeof err) == 0);
    float *lg = malloc((size_t)3 * V * 4), *l1 = malloc((size_t)V * 4);
    const int *s0 = f.tok, *s1 = f.tok + T;
    double worst = 0;
    int same = 1, junk = 3;
    for (int s = 0; s < T + 5; s++) {
        int slot[3], tok[3], pos[3], ref[3], n = 0;   /* ref: b*T+t of the forward row, -1 none */
        if (s < T) { slot[n] = 2; tok[n] = s0[s]; pos[n] = s; ref[n++] = s; }
        if (s >= 5) { slot[n] = 0; tok[n] = s1[s - 5]; pos[n] = s - 5; ref[n++] = T + s - 5; }
        if (s == junk) model_run_reset(&rs, 1);
        if (s < T + junk) {   /* slot 1: other tokens, then from the reset on sequence 0 again */
            int p = s < junk ? s : s - junk;
            slot[n] = 1; tok[n] = s < junk ? (7 * s + 1) % V : s0[p]; pos[n] = p; ref[n++] = s < junk ? -1 : p;
        }
        model_run_step_all(&rs, n, slot, tok, pos, lg);
        for (int r = 0; r < n; r++) {
            if (ref[r] < 0) continue;
            double e = rel_err(lg + (size_t)r * V, m.logits + (size_t)ref[r] * V, (size_t)V);
            if (e > worst) worst = e;
        }
        if (s < T) {   /* sequence 0 alone, one thread: the same bits as in the batch */
            int z = 0, t0 = s0[s], p0 = s;
            model_run_step_all(&solo, 1, &z, &t0, &p0, l1);
            same &= !memcmp(l1, lg, (size_t)V * 4);
        }
    }
    printf("  %s: run step vs forward logits rel err %.2e, batch-independent %s\n", prec == NN_BF16 ? "bf16" : "fp32",
           worst, same ? "yes" : "NO");
    CHECKF(worst < tol, "run step vs forward %g", worst);
    CHECK(same);
    free(lg); free(l1);
    model_run_free(&rs); model_run_free(&solo);
    model_free(&m);
    free_fixture(&f);
}
static void test_run_fp32(void) { run_case(NN_FP32, 1e-5); }
static void test_run_bf16(void) { run_case(NN_BF16, 2e-2); }

/* prefill (the chunked scan over a prompt) leaves a slot as stepping the prompt does: the
 * logits of its last position and of every step after it match forward's */
static void test_prefill(void) {
    fixture f;
    model m;
    if (open_ref(&f, &m) != 0) return;
    const int T = f.T, V = f.V;
    model_forward(&m, f.tok, NULL, f.B, T);
    model_run rs;
    char err[256];
    CHECK(model_run_init(&rs, &m, 2, NN_FP32, 2, err, sizeof err) == 0);
    float *lg = malloc((size_t)V * 4);
    double worst = 0;
    const int lens[] = { 1, 2, 17, 33 };   /* shorter than the conv window, and several chunks */
    for (int k = 0; k < 4; k++) {
        const int len = lens[k], slot = k % 2, *seq = f.tok + (size_t)(k % 2) * T;
        model_run_reset(&rs, slot);
        #pragma omp parallel num_threads(2)
        {
            #pragma omp single
            model_run_team(&rs, omp_get_num_threads());
            model_run_prefill(&rs, omp_get_thread_num(), omp_get_num_threads(), slot, seq, len, lg);
        }
        double e = rel_err(lg, m.logits + ((size_t)(k % 2) * T + len - 1) * V, (size_t)V);
        if (e > worst) worst = e;
        for (int p = len; p < len + 4; p++) {
            int tk = seq[p];
            model_run_step_all(&rs, 1, &slot, &tk, &p, lg);
            e = rel_err(lg, m.logits + ((size_t)(k % 2) * T + p) * V, (size_t)V);
            if (e > worst) worst = e;
        }
    }
    printf("  prefill then steps vs forward: logits rel err %.2e\n", worst);
    CHECKF(worst < 1e-5, "prefill %g", worst);
    free(lg);
    model_run_free(&rs);
    model_free(&m);
    free_fixture(&f);
}

/* Dropout: the backward recomputes each layer, so it must regenerate the same masks; the
 * gradient then matches central differences of the loss with dropout on. */
static void test_dropout_fd(void) {
    fixture f;
    model m;
    if (open_ref(&f, &m) != 0) return;
    m.cfg.dropout = 0.2f; m.training = 1; m.dropout_seed = 77;
    float l0 = model_forward(&m, f.tok, f.tgt, f.B, f.T);
    CHECK(fabs(l0 - f.loss) > 1e-4);   /* dropout is on */
    model_zero_grad(&m);
    model_backward(&m, f.tok, f.tgt, f.B, f.T, 0);
    uint64_t rng = 5;
    int bad = 0;
    const float h = 1e-2f;
    for (int i = 1; i < m.ntensors; i++) {
        float *p = model_tensor(&m, i), *g = model_grad(&m, i);
        for (int s = 0; s < 3; s++) {
            size_t k = (size_t)(splitmix64(&rng) % m.spec[i].size);
            float keep = p[k];
            p[k] = keep + h; double fp = model_forward(&m, f.tok, f.tgt, f.B, f.T);
            p[k] = keep - h; double fm = model_forward(&m, f.tok, f.tgt, f.B, f.T);
            p[k] = keep;
            double num = (fp - fm) / (2 * h);
            if (fabs(num - g[k]) > 2e-4 + 3e-2 * fabs(g[k])) {
                if (bad++ < 5) printf("  %s[%zu]: analytic %.6g numeric %.6g\n", m.spec[i].name, k, g[k], num);
            }
        }
    }
    CHECKF(bad == 0, "%d mismatches", bad);
    model_free(&m);
    free_fixture(&f);
}

/* Memory: one training step at ctx 4096 (B 1) in a fresh process (this binary run again:
 * OpenMP's threads do not survive fork); its peak resident memory grows by no more than
 * model_memory_bytes says (plus 24 MiB for thread stacks, BLIS and the products' packing
 * buffers). Recomputing layers shows in the figure: each further layer adds its parameters
 * (x4: AdamW) and its saved input (T C floats), not its internals (~T (Dp + Cd + 2 Di) floats). */
static const model_config mem_cfg = { .arch = ARCH_MAMBA2, .vocab = 272, .ctx = 4096, .layers = 4, .d_model = 64,
                                      .d_state = 32, .head_dim = 16, .chunk = 256 };
static long rss_kib(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}
static int memory_child(void) {
    model_config c = mem_cfg;
    const int T = c.ctx;
    long before = rss_kib();
    model m;
    char err[256];
    if (model_create(&m, &c, err, sizeof err) || model_alloc_training(&m) || model_alloc_acts(&m, 1, T)) return 1;
    model_init_weights(&m, 3);
    int *tok = malloc(T * sizeof(int));
    for (int i = 0; i < T; i++) tok[i] = (i * 7) % 272;
    model_forward(&m, tok, tok, 1, T);
    model_zero_grad(&m);
    model_backward(&m, tok, tok, 1, T, 0);
    printf("%ld\n", rss_kib() - before);
    return 0;
}
static void test_memory_bound(void) {
    if (t_san()) SKIP("the sanitizer's shadow memory is not the model's");
    model_config c = mem_cfg, c8 = mem_cfg;
    c8.layers = 8;
    model_config_defaults(&c); model_config_defaults(&c8);
    const int T = c.ctx;
    size_t stated = model_memory_bytes(&c, 1, T, 1), per_layer = (model_memory_bytes(&c8, 1, T, 1) - stated) / 4;
    size_t layer_params = (model_param_count(&c8) - model_param_count(&c)) / 4;
    size_t Di = 2 * 64, Dp = 2 * Di + 2 * 32 + Di / 16, Cd = Di + 64;
    printf("  ctx %d: stated %.1f MiB for 4 layers, %.2f MiB per further layer (a layer's internals: %.1f MiB)\n", T,
           stated / 1048576.0, per_layer / 1048576.0, (double)T * (Dp + Cd + 2 * Di) * 4 / 1048576.0);
    CHECK_EQ(per_layer, (layer_params * 4 + (size_t)T * 64) * 4);
    char self[512], cmd[600];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) { CHECK(!"readlink /proc/self/exe"); return; }
    self[n] = 0;
    snprintf(cmd, sizeof cmd, "'%s' --memory-child", self);
    FILE *p = popen(cmd, "r");
    long grown = -1;
    CHECK(p && fscanf(p, "%ld", &grown) == 1);
    if (p) CHECK(pclose(p) == 0);
    printf("  peak RSS grew by %.1f MiB\n", grown / 1024.0);
    CHECK(grown > 0);
    CHECKF((size_t)grown * 1024 <= stated + (24u << 20), "grew %ld KiB, stated %zu bytes", grown, stated);
}

int main(int argc, char **argv) {
    spec = (ref_spec){ "tests/fixtures/mamba2_ref.bin", cfg16, 11, 3e-3, 0, 0.999 };
    (void)t_shared; (void)t_tmpdir;
    if (argc > 1 && !strcmp(argv[1], "--memory-child")) return memory_child();
    RUN(test_config);
    RUN(test_vocab_pad);
    RUN(test_forward_backward);
    RUN(test_adamw_steps);
    RUN(test_bf16_gradients);
    RUN(test_chunk_invariance);
    RUN(test_run_fp32);
    RUN(test_run_bf16);
    RUN(test_prefill);
    RUN(test_dropout_fd);
    RUN(test_memory_bound);
    return t_done();
}
