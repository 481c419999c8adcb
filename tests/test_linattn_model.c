/* Linear-attention backbone (src/models/linattn.c) against the PyTorch reference
 * (tools/torch_ref/linattn_ref.py -> tests/fixtures/linattn_ref.bin: 2 layers, 4 heads, T 150 =
 * two full chunks of the kernel and a partial one): logits, loss, every parameter gradient
 * (the head's bias included), the losses of AdamW steps with warm-up, cosine and clipping, bf16
 * gradients. Then, without torch: central finite differences through the backbone with dropout
 * on, the recurrent step against forward, and training end to end (loss falls, checkpoint and
 * bit-identical resume). The kernels themselves: tests/test_linattn.c. */
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
    int V, ctx, L, C, NH, F, B, T, nsteps, warmup;
    int *tok, *tgt;
    float *params, *logits, loss, *grads, *losses;
    size_t nparams;
} fixture;

static model_config fixture_cfg(const fixture *f) {
    model_config c = { .arch = ARCH_LINATTN, .vocab = f->V, .ctx = f->ctx, .layers = f->L, .d_model = f->C,
                       .heads = f->NH, .d_ff = f->F };
    return c;
}

static int load_fixture(fixture *f) {
    memset(f, 0, sizeof *f);
    FILE *fp = fopen("tests/fixtures/linattn_ref.bin", "rb");
    if (!fp) return -1;
    if (fread(f->hdr, 4, 256, fp) != 256 || f->hdr[0] != 0x46524b50 || f->hdr[1] != 1) { fclose(fp); return -1; }
    memcpy(f->hp, &f->hdr[16], sizeof f->hp);
    f->V = f->hdr[2]; f->ctx = f->hdr[3]; f->L = f->hdr[4]; f->C = f->hdr[5]; f->NH = f->hdr[6];
    f->B = f->hdr[7]; f->T = f->hdr[8]; f->nsteps = f->hdr[9]; f->warmup = f->hdr[10]; f->F = f->hdr[11];
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
    model_free(&m);
}

static void test_forward_backward(void) {
    fixture f;
    if (load_fixture(&f) != 0) { CHECK(!"fixture tests/fixtures/linattn_ref.bin missing or bad"); return; }
    model m;
    CHECK(make_model(&m, &f) == 0);
    CHECK_EQ(m.ntensors, 15);
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
    double worst = 0;
    for (int s = 0; s < f.nsteps; s++) {
        h.lr = lr_schedule(s, f.hp[0], f.warmup, f.nsteps, f.hp[6]);
        float loss = model_forward(&m, f.tok, f.tgt, f.B, f.T);
        model_zero_grad(&m);
        model_backward(&m, f.tok, f.tgt, f.B, f.T, 0);
        clip_grad_norm(m.grads, m.nparams, f.hp[5]);
        model_adamw(&m, &h, s + 1);
        double e = fabs(loss - f.losses[s]) / f.losses[s];
        if (e > worst) worst = e;
        CHECKF(e < 1e-5, "step %d loss %.7f vs torch %.7f", s, loss, f.losses[s]);
    }
    printf("  %d AdamW steps: loss %.5f -> %.5f, worst rel err %.2e\n", f.nsteps, f.losses[0], f.losses[f.nsteps - 1],
           worst);
    model_free(&m);
    free_fixture(&f);
}

/* Mixed precision: the Linear products on bf16-rounded inputs (the attention kernel, norms,
 * GELU stay fp32), against the float64 reference with the tolerances of test_qwen2.c */
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

/* The recurrent decoding step (model_run) at positions 0..T-1 reproduces forward's logits row
 * by row (T 150 crosses two chunk boundaries of the training kernel); a reset slot restarts at
 * position 0. (tests/test_decode.c runs every backbone's step across slots and resets too.) */
static void test_step_matches_forward(void) {
    fixture f;
    if (load_fixture(&f) != 0) { CHECK(!"fixture missing"); return; }
    model m;
    CHECK(make_model(&m, &f) == 0);
    const int B = f.B, T = f.T, V = f.V;
    model_forward(&m, f.tok, NULL, B, T);
    model_run rs;
    char err[256];
    CHECK_EQ(model_run_init(&rs, &m, B, NN_FP32, 0, err, sizeof err), 0);
    float *lg = malloc((size_t)B * V * 4);
    int tk[8], sl[8], ps[8];
    double worst_lg = 0;
    for (int b = 0; b < B; b++) model_run_reset(&rs, b);
    for (int t = 0; t < T; t++) {
        for (int b = 0; b < B; b++) { tk[b] = f.tok[b * T + t]; sl[b] = b; ps[b] = t; }
        model_run_step_all(&rs, B, sl, tk, ps, lg);
        for (int b = 0; b < B; b++) {
            double el = rel_err(lg + (size_t)b * V, m.logits + ((size_t)b * T + t) * V, (size_t)V);
            if (el > worst_lg) worst_lg = el;
        }
    }
    printf("  step vs forward over %d positions: logits rel err %.2e\n", T, worst_lg);
    CHECKF(worst_lg < 1e-5, "step vs forward logits rel err %g", worst_lg);
    /* the state is all a sequence carries: a reset slot restarts at position 0 */
    model_run_reset(&rs, 0);
    int p0 = 0;
    sl[0] = 0;
    model_run_step_all(&rs, 1, sl, f.tok, &p0, lg);
    CHECK(rel_err(lg, m.logits, (size_t)V) < 1e-5);
    model_run_free(&rs);
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

/* ---- training end to end through pretrain_run on the toy corpus ---- */
static char dir[512];
static void opts(pretrain_opts *o, const char *out, long steps) {
    pretrain_defaults(o);
    o->data_dir = dir; o->out_path = out;
    o->cfg.arch = ARCH_LINATTN;
    o->cfg.layers = 2; o->cfg.d_model = 32; o->cfg.heads = 4; o->cfg.ctx = 32;
    o->batch = 4; o->accum = 2; o->steps = steps; o->warmup = 2; o->lr = 3e-3f;
    o->eval_every = 2; o->val_batches = 2; o->quiet = 1; o->seed = 5;
    o->threads = 1;
}

static void test_training(void) {
    snprintf(dir, sizeof dir, "%s/lacorpus", t_tmpdir());
    make_toy_corpus(dir, 40, 200, 7);
    char out[600], part[600], err[512];
    snprintf(out, sizeof out, "%s/la.ckpt", t_tmpdir());
    snprintf(part, sizeof part, "%s/lapart.ckpt", t_tmpdir());
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
    CHECK_EQ(c.arch, ARCH_LINATTN); CHECK_EQ(c.d_ff, 128); CHECK_EQ(c.tied, 0);
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
    CHECK(a.cfg.arch == ARCH_LINATTN && a.nparams == b.nparams && !memcmp(a.params, b.params, a.nparams * 4));
    CHECK(a.head_bias >= 0);
    model_free(&a); model_free(&b);
}

int main(void) {
    (void)t_shared;
    RUN(test_config);
    RUN(test_forward_backward);
    RUN(test_adamw_steps);
    RUN(test_bf16_gradients);
    RUN(test_step_matches_forward);
    RUN(test_fd_backbone);
    RUN(test_training);
    return t_done();
}
