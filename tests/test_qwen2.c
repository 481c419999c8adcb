/* Qwen2 backbone (src/models/qwen2.c) against the PyTorch reference
 * (tools/torch_ref/qwen2_ref.py -> tests/fixtures/qwen2_ref.bin: untied head, 4 heads on 2 KV
 * heads, T 72): logits, loss, every parameter gradient, the losses of AdamW steps with warm-up,
 * cosine and clipping, bf16 gradients. Then, without torch: central finite differences through
 * the backbone (RMSNorm, RoPE attention with GQA at 1, 2 and 4 KV heads, SwiGLU, tied head),
 * the KV-cache step against forward, and training end to end (loss falls, checkpoint and
 * bit-identical resume). */
#include "test.h"
#include "reffix.h"
#include "toycorpus.h"
#include "models/model.h"
#include "train/pretrain.h"
#include "train/checkpoint.h"
#include "corpus/shard.h"
#include "util/util.h"
#include <stdint.h>
#include <sys/stat.h>

/* header [11] kv heads, [12] d_ff */
static model_config fixture_cfg(const fixture *f) {
    model_config c = { .arch = ARCH_QWEN2, .vocab = f->V, .ctx = f->ctx, .layers = f->L, .d_model = f->C,
                       .heads = f->NH, .kv_heads = f->hdr[11], .d_ff = f->hdr[12], .tied = 0 };
    return c;
}
static int load_fixture(fixture *f) { return load_fixture_of(f, "tests/fixtures/qwen2_ref.bin", fixture_cfg); }
static int make_model(model *m, const fixture *f) { return make_model_of(m, f, fixture_cfg(f)); }

static void test_config(void) {
    model_config c = { .arch = ARCH_QWEN2, .vocab = 300, .ctx = 64, .layers = 2, .d_model = 256, .heads = 8 };
    model_config_defaults(&c);
    CHECK_EQ(c.kv_heads, 8);
    CHECK_EQ(c.d_ff, 704);        /* 8C/3 = 682.7, rounded up to a multiple of 32 */
    CHECK_EQ(c.tied, 0);
    const model_ops *ops = model_ops_for(ARCH_QWEN2);
    CHECK(ops && !strcmp(ops->name, "qwen2") && ops->check(&c) == NULL);
    c.kv_heads = 3; CHECK(ops->check(&c) != NULL);       /* must divide heads */
    c.kv_heads = 16; CHECK(ops->check(&c) != NULL);
    c.kv_heads = 2; c.heads = 32; CHECK(ops->check(&c) == NULL);   /* head size 8 */
    c.heads = 64; c.kv_heads = 2; CHECK(ops->check(&c) == NULL);   /* head size 4 */
    c.heads = 8; c.d_model = 24; c.kv_heads = 1; CHECK(ops->check(&c) != NULL);  /* head size 3: odd */
    CHECK_EQ(model_arch_parse("qwen2"), ARCH_QWEN2);
}

/* RoPE's base is the config's rope_theta (Qwen2.5: 1e6): position 0 is not rotated, so its
 * logits are the same for any base; later positions differ; the fixture's 10000 is the default
 * (and what a checkpoint written before the field existed reads as: test_formats). */
static void test_rope_theta(void) {
    fixture f;
    if (load_fixture(&f) != 0) { CHECK(!"fixture missing"); return; }
    model a, b;
    CHECK(make_model(&a, &f) == 0);
    CHECK(a.cfg.rope_theta == 10000.0f);
    model_config c = a.cfg;
    c.rope_theta = 1e6f;
    char err[256];
    CHECK_EQ(model_create(&b, &c, err, sizeof err), 0);
    memcpy(b.params, a.params, a.nparams * 4);
    CHECK_EQ(model_alloc_acts(&b, 1, f.T), 0);
    model_alloc_acts(&a, 1, f.T);
    model_forward(&a, f.tok, NULL, 1, f.T);
    model_forward(&b, f.tok, NULL, 1, f.T);
    const size_t V = (size_t)f.V;
    CHECK(memcmp(a.logits, b.logits, V * 4) == 0);
    CHECKF(rel_err(b.logits + (f.T - 1) * V, a.logits + (f.T - 1) * V, V) > 1e-3, "theta changes nothing at T-1");
    check_step_vs_forward(&b, f.tok, 1, f.T, 1e-5);   /* the decoding step uses the same base */
    model_free(&a); model_free(&b);
    free_fixture(&f);
}

/* ---- finite differences through the backbone (no torch): objective sum(hidden * R), the
 * analytic gradient from ops->backward with dhidden = R. Every tensor's gradient runs through
 * one of the layers under test: norms (RMSNorm), qkv_proj weight and bias (RoPE, GQA expand /
 * collapse, attention), gate_up (SwiGLU), embed_tokens (all of them, down the residual). ---- */
static uint64_t rng = 99;

static double objective(model *m, const int *tok, int B, int T, const float *R) {
    m->ops->forward(m, tok, B, T);
    double s = 0;
    for (size_t i = 0; i < (size_t)B * T * m->cfg.d_model; i++) s += (double)m->hidden[i] * R[i];
    return s;
}

/* tail > 0: R only on the last tail positions (fewer summed terms: less float32 noise in the
 * objective, while those rows still attend over every key block) */
static void fd_model(const char *what, int kvh, int T, int tail, float h) {
    model_config c = { .arch = ARCH_QWEN2, .vocab = 23, .ctx = T, .layers = 2, .d_model = 16, .heads = 4,
                       .kv_heads = kvh, .d_ff = 24 };
    const int B = 2, N = B * T;
    model m;
    char err[256];
    CHECK(model_create(&m, &c, err, sizeof err) == 0);
    CHECK(model_alloc_training(&m) == 0 && model_alloc_acts(&m, B, T) == 0);
    for (int i = 0; i < m.ntensors; i++) {
        float *p = model_tensor(&m, i);
        int norm = strstr(m.spec[i].name, "norm") != NULL;
        for (size_t k = 0; k < m.spec[i].size; k++) p[k] = (norm ? 1.0f : 0.0f) + 0.2f * nn_randn(&rng);
    }
    int *tok = malloc((size_t)N * sizeof(int));
    for (int i = 0; i < N; i++) tok[i] = (int)(splitmix64(&rng) % 23);
    float *R = nn_alloc((size_t)N * c.d_model);
    for (size_t i = 0; i < (size_t)N * c.d_model; i++) {
        int t = (int)(i / c.d_model) % T;
        R[i] = tail && t < T - tail ? 0.0f : nn_randn(&rng);
    }
    m.ops->forward(&m, tok, B, T);
    memcpy(m.dhidden, R, (size_t)N * c.d_model * 4);
    model_zero_grad(&m);
    m.ops->backward(&m, tok, B, T);
    int bad = 0, total = 0;
    double worst = 0;   /* |numeric - analytic| / tolerance: 1 fails */
    for (int j = 0; j < m.ntensors; j++) {
        if (!strcmp(m.spec[j].name, "lm_head.weight")) continue;   /* not in the backbone */
        float *p = model_tensor(&m, j), *g = model_grad(&m, j);
        size_t n = m.spec[j].size;
        for (int s = 0; s < 16; s++) {
            size_t i = (size_t)(splitmix64(&rng) % n);
            if (j == 0) i = (size_t)tok[s % N] * c.d_model + (size_t)(splitmix64(&rng) % c.d_model);  /* used rows */
            float keep = p[i];
            p[i] = keep + h; double fp = objective(&m, tok, B, T, R);
            p[i] = keep - h; double fm = objective(&m, tok, B, T, R);
            p[i] = keep;
            double num = (fp - fm) / (2.0 * h), ana = g[i];
            total++;
            double r = fabs(num - ana) / (5e-3 + 2e-2 * fabs(ana));
            if (r > worst) worst = r;
            if (r > 1) {
                if (bad++ < 5) printf("  %s: %s[%zu]: analytic %.6g numeric %.6g\n", what, m.spec[j].name, i, ana, num);
            }
        }
    }
    printf("  %s: %d coordinates, worst error %.2f of the tolerance\n", what, total, worst);
    CHECKF(bad == 0, "%s: %d of %d mismatches", what, bad, total);
    model_free(&m); free(tok); nn_free(R);
}

static void test_fd_gqa(void) {
    /* steps h measured: at 1e-2 curvature puts some coordinates 5% off (T 70: 3x), at 1e-3
     * float32 noise of the objective is near the tolerance unless few rows are summed */
    fd_model("kv_heads 2 (GQA)", 2, 9, 0, 3e-3f);
    fd_model("kv_heads 1 (MQA)", 1, 9, 0, 3e-3f);
    fd_model("kv_heads 4 (MHA)", 4, 9, 0, 3e-3f);
    fd_model("T 70 (several attention blocks)", 2, 70, 6, 1e-3f);
}

/* Tied head: the embedding's gradient is the untied model's embedding + head gradients when
 * the head holds the embedding's values; step agrees with forward for GQA 1 and tied. */
static void test_tied(void) {
    fixture f;
    if (load_fixture(&f) != 0) { CHECK(!"fixture missing"); return; }
    model u, t;
    CHECK(make_model(&u, &f) == 0);
    int E = model_find_tensor(&u, "embed_tokens"), H = model_find_tensor(&u, "lm_head.weight");
    CHECK(E == 0 && H == u.head);
    memcpy(model_tensor(&u, H), model_tensor(&u, E), u.spec[E].size * 4);
    model_config c = fixture_cfg(&f);
    c.tied = 1;
    char err[256];
    CHECK(model_create(&t, &c, err, sizeof err) == 0);
    CHECK(t.ntensors == u.ntensors - 1 && t.head == E && t.nparams == u.nparams - u.spec[H].size);
    memcpy(t.params, u.params, t.nparams * 4);     /* same layout up to lm_head */
    CHECK(model_alloc_training(&t) == 0 && model_alloc_acts(&t, f.B, f.T) == 0);
    float lu = model_forward(&u, f.tok, f.tgt, f.B, f.T), lt = model_forward(&t, f.tok, f.tgt, f.B, f.T);
    CHECK(lu == lt);
    model_zero_grad(&u); model_zero_grad(&t);
    model_backward(&u, f.tok, f.tgt, f.B, f.T, 0);
    model_backward(&t, f.tok, f.tgt, f.B, f.T, 0);
    float *sum = malloc(u.spec[E].size * 4);
    for (size_t i = 0; i < u.spec[E].size; i++) sum[i] = model_grad(&u, E)[i] + model_grad(&u, H)[i];
    double e = rel_err(model_grad(&t, E), sum, u.spec[E].size);
    CHECKF(e < 1e-6, "tied embedding gradient rel err %g", e);
    for (int i = 1; i < t.ntensors; i++) CHECK(rel_err(model_grad(&t, i), model_grad(&u, i), t.spec[i].size) < 1e-6);
    free(sum);
    check_step_vs_forward(&t, f.tok, f.B, f.T, 1e-5);
    model_free(&u); model_free(&t);
    /* multi-query (one KV head) tied, random weights: the cache indexes KV heads right */
    c.kv_heads = 1; c.tied = 1;
    CHECK(model_create(&t, &c, err, sizeof err) == 0);
    model_init_weights(&t, 7);
    CHECK(model_alloc_acts(&t, f.B, f.T) == 0);
    check_step_vs_forward(&t, f.tok, f.B, f.T, 1e-5);
    model_free(&t);
    free_fixture(&f);
}

static void test_training(void) {
    const model_config shape = { .arch = ARCH_QWEN2, .layers = 2, .d_model = 32, .heads = 4, .kv_heads = 2, .ctx = 32 };
    check_toy_training(&shape, 96, "q");
}

int main(void) {
    spec = (ref_spec){ "tests/fixtures/qwen2_ref.bin", fixture_cfg, 10, 2e-3, 3e-2, 0.9998 };
    (void)t_shared;
    RUN(test_config);
    RUN(test_forward_backward);
    RUN(test_adamw_steps);
    RUN(test_bf16_gradients);
    RUN(test_step_matches_forward);
    RUN(test_rope_theta);
    RUN(test_fd_gqa);
    RUN(test_tied);
    RUN(test_training);
    return t_done();
}
