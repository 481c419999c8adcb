/* Linear-attention backbone (src/models/linattn.c) against the PyTorch reference
 * (tools/torch_ref/linattn_ref.py -> tests/fixtures/linattn_ref.bin: 2 layers, 4 heads, T 150 =
 * two full chunks of the kernel and a partial one): logits, loss, every parameter gradient
 * (the head's bias included), the losses of AdamW steps with warm-up, cosine and clipping, bf16
 * gradients. Then, without torch: central finite differences through the backbone with dropout
 * on, the recurrent step against forward, and training end to end (loss falls, checkpoint and
 * bit-identical resume). The kernels themselves: tests/test_linattn.c. */
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

/* header [11] d_ff */
static model_config fixture_cfg(const fixture *f) {
    model_config c = { .arch = ARCH_LINATTN, .vocab = f->V, .ctx = f->ctx, .layers = f->L, .d_model = f->C,
                       .heads = f->NH, .d_ff = f->hdr[11] };
    return c;
}

static void test_config(void) {
    model_config c = { .arch = ARCH_LINATTN, .vocab = 300, .ctx = 1024, .layers = 8, .d_model = 256, .heads = 8 };
    model_config_defaults(&c);
    CHECK_EQ(c.kv_heads, 8);
    CHECK_EQ(c.d_ff, 1024);       /* tcpflowgen's dim_feedforward at d 256 */
    CHECK_EQ(c.tied, 0);
    const model_ops *ops = model_ops_for(ARCH_LINATTN);
    CHECK(ops && !strcmp(ops->name, "linattn") && ops->check(&c) == NULL);
    CHECK_EQ(model_arch_parse("linattn"), ARCH_LINATTN);
    /* tcpflowgen's layer: 723,968 parameters (with its 65,546-token vocabulary: 39,417,354 in all) */
    model_config t = c;
    t.vocab = 65536;
    size_t layer = 4 * 256 + 3 * 256 * 256 + 3 * 256 + 1024 * 256 + 1024 + 256 * 1024 + 256;
    CHECK_EQ(layer, 723968);
    CHECK_EQ(model_param_count(&t), 8 * layer + 2 * 256 + 2 * 65536 * 256 + 65536);
    c.tied = 1; CHECK(ops->check(&c) != NULL);
    c.tied = 0; c.kv_heads = 4; CHECK(ops->check(&c) != NULL);
    c.kv_heads = 8; c.d_model = 24; CHECK(ops->check(&c) != NULL);     /* head size 3: odd */
    model m;
    char err[256];
    c.d_model = 32; c.heads = 4; c.kv_heads = 4; c.vocab = 50;
    CHECK(model_create(&m, &c, err, sizeof err) == 0);
    CHECK(m.head_bias == model_find_tensor(&m, "lm_head.bias") && m.head_bias > m.head);
    CHECK_EQ(m.cfg.chunk, 64);   /* the training kernel's default chunk */
    model_free(&m);
}

/* The recurrent step (model_run) at positions 0..T-1 reproduces forward's logits row by row
 * (T 150 crosses two chunk boundaries of the training kernel), with the LM head's bias; the
 * two sequences run in swapped slots at offset positions (sequence 1 starts 7 steps later),
 * so rows of different positions share a step; a reset slot starts over; bf16 weights stay
 * close. */
static void test_step_slots(void) {
    fixture f;
    model m;
    if (open_ref(&f, &m) != 0) return;
    const int T = f.T, V = f.V, lag = 7;
    model_forward(&m, f.tok, NULL, f.B, T);
    model_run rs;
    char e[256];
    CHECK_EQ(model_run_init(&rs, &m, 3, NN_FP32, 0, e, sizeof e), 0);
    CHECK_EQ(rs.slot_bytes, (size_t)f.L * f.NH * (8 * 8 + 8) * 4);   /* hs 8: S and z per head */
    float *lg = malloc((size_t)2 * V * 4);
    double worst = 0;
    for (int t = 0; t < T + lag; t++) {
        int tk[2], sl[2], ps[2], n = 0, who[2];
        if (t < T) { who[n] = 0; sl[n] = 2; ps[n] = t; tk[n] = f.tok[t]; n++; }
        if (t >= lag) { who[n] = 1; sl[n] = 0; ps[n] = t - lag; tk[n] = f.tok[T + t - lag]; n++; }
        model_run_step_all(&rs, n, sl, tk, ps, lg);
        for (int r = 0; r < n; r++) {
            double er = rel_err(lg + (size_t)r * V, m.logits + ((size_t)who[r] * T + ps[r]) * V, (size_t)V);
            if (er > worst) worst = er;
        }
    }
    printf("  step vs forward over %d positions, 2 slots at offset positions: logits rel err %.2e\n", T, worst);
    CHECKF(worst < 1e-5, "step vs forward logits rel err %g", worst);
    /* slot 2 reset: position 0 again gives row 0's logits */
    model_run_reset(&rs, 2);
    int sl = 2, ps = 0;
    model_run_step_all(&rs, 1, &sl, f.tok, &ps, lg);
    CHECK(rel_err(lg, m.logits, (size_t)V) < 1e-5);
    model_run_free(&rs);
    if (model_run_init(&rs, &m, 1, NN_BF16, 0, e, sizeof e) == 0) {
        double wb = 0;
        for (int t = 0; t < 20; t++) {
            sl = 0; ps = t;
            model_run_step_all(&rs, 1, &sl, f.tok + t, &ps, lg);
            double er = rel_err(lg, m.logits + (size_t)t * V, (size_t)V);
            if (er > wb) wb = er;
        }
        printf("  bf16 weights: logits rel err %.2e over 20 positions\n", wb);
        CHECKF(wb < 3e-2, "bf16 step rel err %g", wb);
        model_run_free(&rs);
    }
    free(lg);
    model_free(&m);
    free_fixture(&f);
}

/* ---- finite differences through the backbone (no torch), dropout ON with a fixed seed (so
 * the masks are part of the function): objective sum(hidden * R). Covers LayerNorm, the
 * fused qkv with bias, RoPE, phi, the chunked kernel across chunks (T 70 > 64), exact GELU,
 * the four dropout sites and the embedding scatter. ---- */
static uint64_t rng = 99;
static double objective(model *m, const int *tok, int B, int T, const float *R) {
    m->ops->forward(m, tok, B, T);
    double s = 0;
    for (size_t i = 0; i < (size_t)B * T * m->cfg.d_model; i++) s += (double)m->hidden[i] * R[i];
    return s;
}
static void fd_model(const char *what, int T, int tail, float drop, float h) {
    model_config c = { .arch = ARCH_LINATTN, .vocab = 23, .ctx = T, .layers = 2, .d_model = 16, .heads = 4,
                       .d_ff = 24, .dropout = drop };
    const int B = 2, N = B * T;
    model m;
    char err[256];
    CHECK(model_create(&m, &c, err, sizeof err) == 0);
    CHECK(model_alloc_training(&m) == 0 && model_alloc_acts(&m, B, T) == 0);
    m.training = 1;
    m.dropout_seed = 12345;
    for (int i = 0; i < m.ntensors; i++) {
        float *p = model_tensor(&m, i);
        int norm = strstr(m.spec[i].name, "norm") != NULL && strstr(m.spec[i].name, "weight") != NULL;
        for (size_t k = 0; k < m.spec[i].size; k++) p[k] = (norm ? 1.0f : 0.0f) + 0.3f * nn_randn(&rng);
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
        if (j == m.head || j == m.head_bias) continue;   /* not in the backbone */
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
            if (r > 1 && bad++ < 5) printf("  %s: %s[%zu]: analytic %.6g numeric %.6g\n", what, m.spec[j].name, i, ana, num);
        }
    }
    printf("  %s: %d coordinates, worst error %.2f of the tolerance\n", what, total, worst);
    CHECKF(bad == 0, "%s: %d of %d mismatches", what, bad, total);
    model_free(&m); free(tok); nn_free(R);
}
static void test_fd_backbone(void) {
    fd_model("T 9, no dropout", 9, 0, 0.0f, 3e-3f);
    fd_model("T 9, dropout 0.2", 9, 0, 0.2f, 3e-3f);
    fd_model("T 70 (two chunks), dropout 0.1", 70, 6, 0.1f, 1e-3f);
}

static void test_training(void) {
    const model_config shape = { .arch = ARCH_LINATTN, .layers = 2, .d_model = 32, .heads = 4, .ctx = 32 };
    check_toy_training(&shape, 128, "la");
}

int main(void) {
    spec = (ref_spec){ "tests/fixtures/linattn_ref.bin", fixture_cfg, 15, 2e-3, 3e-2, 0.9998 };
    (void)t_shared;
    RUN(test_config);
    RUN(test_forward_backward);
    RUN(test_adamw_steps);
    RUN(test_bf16_gradients);
    RUN(test_step_slots);
    RUN(test_fd_backbone);
    RUN(test_training);
    return t_done();
}
