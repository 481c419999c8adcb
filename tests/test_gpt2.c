/* GPT-2 against the PyTorch reference (tools/torch_ref/gpt2_ref.py -> tests/fixtures/gpt2_ref.bin):
 * logits, loss, every parameter gradient, and the losses of several AdamW steps with warm-up,
 * cosine decay and clipping. Also: the generation step (KV cache) reproduces forward logits. */
#include "test.h"
#include "models/model.h"
#include "util/util.h"
#include <stdint.h>

typedef struct {
    int32_t hdr[256];
    float hp[8];
    int V, ctx, L, C, NH, B, T, nsteps, warmup;
    int *tok, *tgt;
    float *params, *logits, loss, *grads, *losses;
    size_t nparams;
} fixture;

static int load_fixture(fixture *f) {
    memset(f, 0, sizeof *f);
    FILE *fp = fopen("tests/fixtures/gpt2_ref.bin", "rb");
    if (!fp) return -1;
    if (fread(f->hdr, 4, 256, fp) != 256 || f->hdr[0] != 0x46524b50 || f->hdr[1] != 1) { fclose(fp); return -1; }
    memcpy(f->hp, &f->hdr[16], sizeof f->hp);
    f->V = f->hdr[2]; f->ctx = f->hdr[3]; f->L = f->hdr[4]; f->C = f->hdr[5]; f->NH = f->hdr[6];
    f->B = f->hdr[7]; f->T = f->hdr[8]; f->nsteps = f->hdr[9]; f->warmup = f->hdr[10];
    model_config c = { .arch = ARCH_GPT2, .vocab = f->V, .ctx = f->ctx, .layers = f->L, .d_model = f->C, .heads = f->NH };
    model_config_defaults(&c);
    f->nparams = model_param_count(&c);
    size_t BT = (size_t)f->B * f->T;
    f->tok = malloc(BT * sizeof(int)); f->tgt = malloc(BT * sizeof(int));
    f->params = malloc(f->nparams * 4); f->grads = malloc(f->nparams * 4);
    f->logits = malloc(BT * f->V * 4); f->losses = malloc((size_t)f->nsteps * 4);
    int ok = fread(f->tok, 4, BT, fp) == BT && fread(f->tgt, 4, BT, fp) == BT &&
             fread(f->params, 4, f->nparams, fp) == f->nparams && fread(f->logits, 4, BT * f->V, fp) == BT * f->V &&
             fread(&f->loss, 4, 1, fp) == 1 && fread(f->grads, 4, f->nparams, fp) == f->nparams &&
             fread(f->losses, 4, (size_t)f->nsteps, fp) == (size_t)f->nsteps;
    fclose(fp);
    return ok ? 0 : -1;
}
static void free_fixture(fixture *f) {
    free(f->tok); free(f->tgt); free(f->params); free(f->grads); free(f->logits); free(f->losses);
}

static int make_model(model *m, const fixture *f) {
    model_config c = { .arch = ARCH_GPT2, .vocab = f->V, .ctx = f->ctx, .layers = f->L, .d_model = f->C, .heads = f->NH };
    char err[256];
    if (model_create(m, &c, err, sizeof err) != 0) { printf("  %s\n", err); return -1; }
    if (m->nparams != f->nparams) return -1;
    memcpy(m->params, f->params, f->nparams * 4);
    if (model_alloc_training(m) || model_alloc_acts(m, f->B, f->T)) return -1;
    return 0;
}

static void test_forward_backward(void) {
    fixture f;
    if (load_fixture(&f) != 0) { CHECK(!"fixture tests/fixtures/gpt2_ref.bin missing or bad"); return; }
    model m;
    CHECK(make_model(&m, &f) == 0);
    float loss = model_forward(&m, f.tok, f.tgt, f.B, f.T);
    double el = rel_err(m.logits, f.logits, (size_t)f.B * f.T * f.V);
    CHECKF(el < 1e-5, "logits rel err %g", el);
    CHECK_NEAR(loss, f.loss, 1e-5 * f.loss);
    model_zero_grad(&m);
    model_backward(&m, f.tok, f.tgt, f.B, f.T, 0);
    for (int i = 0; i < m.ntensors; i++) {
        double e = rel_err(model_grad(&m, i), f.grads + m.offset[i], m.spec[i].size);
        CHECKF(e < 1e-5, "grad %s rel err %g", m.spec[i].name, e);
    }
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

/* Gradient accumulation: two half batches with the shared 1/count scale give the full
 * batch's gradient. */
static void test_accumulation(void) {
    fixture f;
    if (load_fixture(&f) != 0) { CHECK(!"fixture missing"); return; }
    model m;
    CHECK(make_model(&m, &f) == 0);
    int count = 0;
    for (int i = 0; i < f.B * f.T; i++) count += f.tgt[i] >= 0;
    model_zero_grad(&m);
    model_config c = m.cfg;
    (void)c;
    CHECK(model_alloc_acts(&m, 1, f.T) == 0);
    for (int b = 0; b < f.B; b++) {
        model_forward(&m, f.tok + b * f.T, f.tgt + b * f.T, 1, f.T);
        model_backward(&m, f.tok + b * f.T, f.tgt + b * f.T, 1, f.T, 1.0f / count);
    }
    for (int i = 0; i < m.ntensors; i++) {
        double e = rel_err(model_grad(&m, i), f.grads + m.offset[i], m.spec[i].size);
        CHECKF(e < 1e-5, "accumulated grad %s rel err %g", m.spec[i].name, e);
    }
    model_free(&m);
    free_fixture(&f);
}

/* Mixed precision (NN_BF16: matrix products on bf16-rounded inputs, fp32 accumulation) against
 * the float64 reference. bf16 keeps 8 significant bits (relative rounding 2^-9 = 0.2%), so
 * logits and gradients differ from fp32 at the 1e-3..1e-2 level (measured: logits 5.7e-3, worst
 * gradient 1.0e-2 max-relative, cosine >= 0.99997). Tolerances: 3e-2 max-relative and cosine
 * 0.9998 per tensor, far above fp32's 1e-5 and far below what a wrong gradient gives. Runs on any CPU: without
 * avx512_bf16 the products are emulated with the same rounding. */
static void test_bf16_gradients(void) {
    fixture f;
    if (load_fixture(&f) != 0) { CHECK(!"fixture missing"); return; }
    model m;
    CHECK(make_model(&m, &f) == 0);
    m.prec = NN_BF16;
    float loss = model_forward(&m, f.tok, f.tgt, f.B, f.T);
    double el = rel_err(m.logits, f.logits, (size_t)f.B * f.T * f.V);
    printf("  bf16: logits rel err %.2e, loss %.6f vs %.6f\n", el, loss, f.loss);
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
    printf("  bf16 gradients: worst rel err %.2e, worst cosine %.6f\n", worst, worst_cos);
    model_free(&m);
    free_fixture(&f);
}

/* The decoding step (model_run) reproduces the training forward's logits position by position. */
static void test_step_matches_forward(void) {
    fixture f;
    if (load_fixture(&f) != 0) { CHECK(!"fixture missing"); return; }
    model m;
    CHECK(make_model(&m, &f) == 0);
    model_forward(&m, f.tok, NULL, f.B, f.T);
    model_run rs;
    char rerr[256];
    CHECK_EQ(model_run_init(&rs, &m, f.B, NN_FP32, 0, rerr, sizeof rerr), 0);
    float *lg = malloc((size_t)f.B * f.V * 4);
    int *tk = malloc((size_t)f.B * sizeof(int)), *sl = malloc((size_t)f.B * sizeof(int)), *ps = malloc((size_t)f.B * sizeof(int));
    double worst = 0;
    for (int t = 0; t < f.T; t++) {
        for (int b = 0; b < f.B; b++) { tk[b] = f.tok[b * f.T + t]; sl[b] = b; ps[b] = t; }
        model_run_step_all(&rs, f.B, sl, tk, ps, lg);
        for (int b = 0; b < f.B; b++) {
            double e = rel_err(lg + (size_t)b * f.V, m.logits + ((size_t)b * f.T + t) * f.V, (size_t)f.V);
            if (e > worst) worst = e;
        }
    }
    CHECKF(worst < 1e-5, "step vs forward rel err %g", worst);
    model_run_free(&rs);
    free(lg); free(tk); free(sl); free(ps);
    model_free(&m);
    free_fixture(&f);
}

int main(void) {
    (void)t_shared; (void)t_tmpdir; (void)t_san;
    RUN(test_forward_backward);
    RUN(test_adamw_steps);
    RUN(test_accumulation);
    RUN(test_bf16_gradients);
    RUN(test_step_matches_forward);
    return t_done();
}
