/* Qwen2 backbone (src/models/qwen2.c) against the PyTorch reference
 * (tools/torch_ref/qwen2_ref.py -> tests/fixtures/qwen2_ref.bin: untied head, 4 heads on 2 KV
 * heads, T 72): logits, loss, every parameter gradient, the losses of AdamW steps with warm-up,
 * cosine and clipping, bf16 gradients. Then, without torch: central finite differences through
 * the backbone (RMSNorm, RoPE attention with GQA at 1, 2 and 4 KV heads, SwiGLU, tied head),
 * the KV-cache step against forward, and training end to end (loss falls, checkpoint and
 * bit-identical resume). */
#include "test.h"
#include "toycorpus.h"
#include "models/model.h"
#include "train/pretrain.h"
#include "train/checkpoint.h"
#include "corpus/shard.h"
#include "util/util.h"
#include <stdint.h>
#include <sys/stat.h>

typedef struct {
    int32_t hdr[256];
    float hp[8];
    int V, ctx, L, C, NH, KVH, F, B, T, nsteps, warmup;
    int *tok, *tgt;
    float *params, *logits, loss, *grads, *losses;
    size_t nparams;
} fixture;

static model_config fixture_cfg(const fixture *f) {
    model_config c = { .arch = ARCH_QWEN2, .vocab = f->V, .ctx = f->ctx, .layers = f->L, .d_model = f->C,
                       .heads = f->NH, .kv_heads = f->KVH, .d_ff = f->F, .tied = 0 };
    return c;
}

static int load_fixture(fixture *f) {
    memset(f, 0, sizeof *f);
    FILE *fp = fopen("tests/fixtures/qwen2_ref.bin", "rb");
    if (!fp) return -1;
    if (fread(f->hdr, 4, 256, fp) != 256 || f->hdr[0] != 0x46524b50 || f->hdr[1] != 1) { fclose(fp); return -1; }
    memcpy(f->hp, &f->hdr[16], sizeof f->hp);
    f->V = f->hdr[2]; f->ctx = f->hdr[3]; f->L = f->hdr[4]; f->C = f->hdr[5]; f->NH = f->hdr[6];
    f->B = f->hdr[7]; f->T = f->hdr[8]; f->nsteps = f->hdr[9]; f->warmup = f->hdr[10];
    f->KVH = f->hdr[11]; f->F = f->hdr[12];
    model_config c = fixture_cfg(f);
    f->nparams = model_param_count(&c);
    size_t BT = (size_t)f->B * f->T;
    f->tok = malloc(BT * sizeof(int)); f->tgt = malloc(BT * sizeof(int));
    f->params = malloc(f->nparams * 4); f->grads = malloc(f->nparams * 4);
    f->logits = malloc(BT * f->V * 4); f->losses = malloc((size_t)f->nsteps * 4);
    int ok = fread(f->tok, 4, BT, fp) == BT && fread(f->tgt, 4, BT, fp) == BT &&
             fread(f->params, 4, f->nparams, fp) == f->nparams && fread(f->logits, 4, BT * f->V, fp) == BT * f->V &&
             fread(&f->loss, 4, 1, fp) == 1 && fread(f->grads, 4, f->nparams, fp) == f->nparams &&
             fread(f->losses, 4, (size_t)f->nsteps, fp) == (size_t)f->nsteps && fgetc(fp) == EOF;
    fclose(fp);
    return ok ? 0 : -1;
}
static void free_fixture(fixture *f) {
    free(f->tok); free(f->tgt); free(f->params); free(f->grads); free(f->logits); free(f->losses);
}

static int make_model(model *m, const fixture *f) {
    model_config c = fixture_cfg(f);
    char err[256];
    if (model_create(m, &c, err, sizeof err) != 0) { printf("  %s\n", err); return -1; }
    if (m->nparams != f->nparams) return -1;
    memcpy(m->params, f->params, f->nparams * 4);
    if (model_alloc_training(m) || model_alloc_acts(m, f->B, f->T)) return -1;
    return 0;
}

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

static void test_forward_backward(void) {
    fixture f;
    if (load_fixture(&f) != 0) { CHECK(!"fixture tests/fixtures/qwen2_ref.bin missing or bad"); return; }
    model m;
    CHECK(make_model(&m, &f) == 0);
    CHECK_EQ(m.ntensors, 10);
    float loss = model_forward(&m, f.tok, f.tgt, f.B, f.T);
    double el = rel_err(m.logits, f.logits, (size_t)f.B * f.T * f.V);
    printf("  logits rel err %.2e, loss %.7f vs torch %.7f\n", el, loss, f.loss);
    CHECKF(el < 1e-5, "logits rel err %g", el);
    CHECK_NEAR(loss, f.loss, 1e-5 * f.loss);
    model_zero_grad(&m);
    model_backward(&m, f.tok, f.tgt, f.B, f.T, 0);
    double worst = 0;
    for (int i = 0; i < m.ntensors; i++) {
        double e = rel_err(model_grad(&m, i), f.grads + m.offset[i], m.spec[i].size);
        if (e > worst) worst = e;
        CHECKF(e < 1e-5, "grad %s rel err %g", m.spec[i].name, e);
    }
    printf("  gradients: worst rel err %.2e over %d tensors\n", worst, m.ntensors);
    model_free(&m);
    free_fixture(&f);
}

static void test_adamw_steps(void) {
    fixture f;
    if (load_fixture(&f) != 0) { CHECK(!"fixture missing"); return; }
    model m;
    CHECK(make_model(&m, &f) == 0);
    adamw_params h = { .beta1 = f.hp[1], .beta2 = f.hp[2], .eps = f.hp[3], .weight_decay = f.hp[4] };
    for (int s = 0; s < f.nsteps; s++) {
        h.lr = lr_schedule(s, f.hp[0], f.warmup, f.nsteps, f.hp[6]);
        float loss = model_forward(&m, f.tok, f.tgt, f.B, f.T);
        model_zero_grad(&m);
        model_backward(&m, f.tok, f.tgt, f.B, f.T, 0);
        clip_grad_norm(m.grads, m.nparams, f.hp[5]);
        model_adamw(&m, &h, s + 1);
        CHECKF(fabs(loss - f.losses[s]) < 1e-5 * f.losses[s], "step %d loss %.7f vs torch %.7f", s, loss, f.losses[s]);
    }
    model_free(&m);
    free_fixture(&f);
}

/* Mixed precision (products on bf16-rounded inputs; RMSNorm, RoPE, SwiGLU, softmax fp32)
 * against the float64 reference, with gpt2's tolerances (test_gpt2.c says why). */
static void test_bf16_gradients(void) {
    fixture f;
    if (load_fixture(&f) != 0) { CHECK(!"fixture missing"); return; }
    model m;
    CHECK(make_model(&m, &f) == 0);
    m.prec = NN_BF16;
    float loss = model_forward(&m, f.tok, f.tgt, f.B, f.T);
    double el = rel_err(m.logits, f.logits, (size_t)f.B * f.T * f.V);
    CHECKF(el < 2e-2 && el > 1e-5, "bf16 logits rel err %g (above 1e-5: the products were rounded)", el);
    CHECK_NEAR(loss, f.loss, 2e-3 * f.loss);
    model_zero_grad(&m);
    model_backward(&m, f.tok, f.tgt, f.B, f.T, 0);
    double worst = 0, worst_cos = 1;
    for (int i = 0; i < m.ntensors; i++) {
        double e = rel_err(model_grad(&m, i), f.grads + m.offset[i], m.spec[i].size);
        double cs = cosine(model_grad(&m, i), f.grads + m.offset[i], m.spec[i].size);
        if (e > worst) worst = e;
        if (cs < worst_cos) worst_cos = cs;
        CHECKF(e < 3e-2 && cs > 0.9998, "bf16 grad %s rel err %g cosine %.7f", m.spec[i].name, e, cs);
    }
    printf("  bf16: logits rel err %.2e, gradients worst rel err %.2e, worst cosine %.6f\n", el, worst, worst_cos);
    model_free(&m);
    free_fixture(&f);
}

/* The decoding step (model_run) at positions 0..T-1 reproduces forward's logits row by row. */
static void check_step(model *m, const int *tok, int B, int T, double tol) {
    const model_config *c = &m->cfg;
    model_forward(m, tok, NULL, B, T);
    model_run rs;
    char e[256];
    CHECK_EQ(model_run_init(&rs, m, B, NN_FP32, 0, e, sizeof e), 0);
    float *lg = malloc((size_t)B * c->vocab * 4);
    int *tk = malloc((size_t)B * sizeof(int)), *sl = malloc((size_t)B * sizeof(int)), *ps = malloc((size_t)B * sizeof(int));
    double worst_lg = 0;
    for (int t = 0; t < T; t++) {
        for (int b = 0; b < B; b++) { tk[b] = tok[b * T + t]; sl[b] = b; ps[b] = t; }
        model_run_step_all(&rs, B, sl, tk, ps, lg);
        for (int b = 0; b < B; b++) {
            double er = rel_err(lg + (size_t)b * c->vocab, m->logits + ((size_t)b * T + t) * c->vocab, (size_t)c->vocab);
            if (er > worst_lg) worst_lg = er;
        }
    }
    CHECKF(worst_lg < tol, "step vs forward logits rel err %g", worst_lg);
    model_run_free(&rs);
    free(lg); free(tk); free(sl); free(ps);
}

static void test_step_matches_forward(void) {
    fixture f;
    if (load_fixture(&f) != 0) { CHECK(!"fixture missing"); return; }
    model m;
    CHECK(make_model(&m, &f) == 0);
    check_step(&m, f.tok, f.B, f.T, 1e-5);
    model_free(&m);
    free_fixture(&f);
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
    check_step(&b, f.tok, 1, f.T, 1e-5);   /* the decoding step uses the same base */
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
    check_step(&t, f.tok, f.B, f.T, 1e-5);
    model_free(&u); model_free(&t);
    /* multi-query (one KV head) tied, random weights: the cache indexes KV heads right */
    c.kv_heads = 1; c.tied = 1;
    CHECK(model_create(&t, &c, err, sizeof err) == 0);
    model_init_weights(&t, 7);
    CHECK(model_alloc_acts(&t, f.B, f.T) == 0);
    check_step(&t, f.tok, f.B, f.T, 1e-5);
    model_free(&t);
    free_fixture(&f);
}

/* ---- training end to end through pretrain_run: the toy corpus of toycorpus.h, loss falls,
 * checkpoint records the config, resume is exact ---- */
static char dir[512];
static void opts(pretrain_opts *o, const char *out, long steps) {
    pretrain_defaults(o);
    o->data_dir = dir; o->out_path = out;
    o->cfg.arch = ARCH_QWEN2;
    o->cfg.layers = 2; o->cfg.d_model = 32; o->cfg.heads = 4; o->cfg.kv_heads = 2; o->cfg.ctx = 32;
    o->batch = 4; o->accum = 2; o->steps = steps; o->warmup = 2; o->lr = 3e-3f;
    o->eval_every = 2; o->val_batches = 2; o->quiet = 1; o->seed = 5;
    o->threads = 1;
}

static void test_training(void) {
    snprintf(dir, sizeof dir, "%s/qcorpus", t_tmpdir());
    make_toy_corpus(dir, 40, 200, 7);
    char out[600], part[600], err[512];
    snprintf(out, sizeof out, "%s/q.ckpt", t_tmpdir());
    snprintf(part, sizeof part, "%s/qpart.ckpt", t_tmpdir());
    long steps = t_san() ? 15 : 60;
    pretrain_opts o;
    opts(&o, out, steps);
    CHECK(pretrain_run(&o) == 0);
    if (o.err[0]) printf("  %s\n", o.err);
    printf("  %ld steps: val loss %.3f nats (uniform ln 40 = %.3f), unigram %.3f bits\n", o.final_step, o.final_val,
           log(40.0), o.unigram_val_bits);
    CHECKF(o.final_val < (t_san() ? 3.3 : 2.0), "val loss %.3f", o.final_val);
    CHECKF(o.final_val / log(2.0) < o.unigram_val_bits - (t_san() ? 0.2 : 1.0), "val %.3f bits vs unigram %.3f",
           o.final_val / log(2.0), o.unigram_val_bits);
    model_config c;
    train_state st;
    uint64_t np;
    CHECK(ckpt_peek(out, &c, &st, &np, err, sizeof err) == 0);
    CHECK_EQ(c.arch, ARCH_QWEN2); CHECK_EQ(c.kv_heads, 2); CHECK_EQ(c.d_ff, 96); CHECK_EQ(c.tied, 0);
    CHECK_EQ(st.step, steps);
    /* interrupted at 3 and resumed: bit-identical to the straight run (with dropout on) */
    long rs = t_san() ? 5 : 8;
    opts(&o, out, rs); o.cfg.dropout = 0.1f;
    CHECK(pretrain_run(&o) == 0);
    float full = o.final_loss;
    opts(&o, part, rs); o.cfg.dropout = 0.1f; o.stop_after = 3;
    CHECK(pretrain_run(&o) == 0 && o.interrupted);
    pretrain_opts r;
    opts(&r, part, 0);
    r.data_dir = NULL; r.resume_path = part;
    CHECK(pretrain_run(&r) == 0);
    if (r.err[0]) printf("  %s\n", r.err);
    CHECK_EQ(r.final_step, rs);
    CHECKF(r.final_loss == full, "resumed %.9g vs uninterrupted %.9g", r.final_loss, full);
    model a, b;
    train_state sa, sb;
    CHECK(ckpt_load(out, &a, &sa, 1, err, sizeof err) == 0);
    CHECK(ckpt_load(part, &b, &sb, 1, err, sizeof err) == 0);
    CHECK(a.cfg.arch == ARCH_QWEN2 && a.nparams == b.nparams && !memcmp(a.params, b.params, a.nparams * 4));
    model_free(&a); model_free(&b);
}

int main(void) {
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
