/* The PyTorch reference fixtures of the backbones (tools/torch_ref/<arch>_ref.py, the layout of
 * gpt2_ref.py's train_and_write -> tests/fixtures/<arch>_ref.bin) and the checks every
 * backbone's test runs on them: logits, loss and every parameter gradient in fp32 and in bf16,
 * and the losses of AdamW steps with warm-up, cosine decay and clipping; and the decoding step
 * (model_run) against forward.
 *
 * Header: 256 int32, [0] magic "PKRF", [1] version 1, [2] V, [3] ctx, [4] layers, [5] C,
 * [6] heads, [7] B, [8] T, [9] AdamW steps, [10] warm-up steps, [11..15] the backbone's own
 * fields (read by its cfg function from hdr), [16..22] float lr, beta1, beta2, eps, weight
 * decay, clip, min lr fraction. Then tokens, targets, parameters, logits, loss, gradients, the
 * losses of the steps, and nothing after. */
#ifndef PKTLM_TESTS_REFFIX_H
#define PKTLM_TESTS_REFFIX_H
#include "test.h"
#include "models/model.h"
#include <stdint.h>

typedef struct {
    int32_t hdr[256];
    float hp[8];
    int V, ctx, L, C, NH, B, T, nsteps, warmup;
    int *tok, *tgt;
    float *params, *logits, loss, *grads, *losses;
    size_t nparams;
} fixture;

__attribute__((unused)) static void free_fixture(fixture *f) {
    free(f->tok); free(f->tgt); free(f->params); free(f->grads); free(f->logits); free(f->losses);
}

/* Reads path; cfg gives the backbone's config from the header (it sizes the parameters).
 * 0 ok, -1 when the file is missing, short, longer than it should be or not a fixture. */
__attribute__((unused)) static int load_fixture_of(fixture *f, const char *path, model_config (*cfg)(const fixture *)) {
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    if (fread(f->hdr, 4, 256, fp) != 256 || f->hdr[0] != 0x46524b50 || f->hdr[1] != 1) { fclose(fp); return -1; }
    memcpy(f->hp, &f->hdr[16], sizeof f->hp);
    f->V = f->hdr[2]; f->ctx = f->hdr[3]; f->L = f->hdr[4]; f->C = f->hdr[5]; f->NH = f->hdr[6];
    f->B = f->hdr[7]; f->T = f->hdr[8]; f->nsteps = f->hdr[9]; f->warmup = f->hdr[10];
    model_config c = cfg(f);
    f->nparams = model_param_count(&c);
    size_t BT = (size_t)f->B * f->T;
    f->tok = malloc(BT * sizeof(int)); f->tgt = malloc(BT * sizeof(int));
    f->params = malloc(f->nparams * 4); f->grads = malloc(f->nparams * 4);
    f->logits = malloc(BT * f->V * 4); f->losses = malloc((size_t)f->nsteps * 4);
    int ok = f->tok && f->tgt && f->params && f->grads && f->logits && f->losses &&
             fread(f->tok, 4, BT, fp) == BT && fread(f->tgt, 4, BT, fp) == BT &&
             fread(f->params, 4, f->nparams, fp) == f->nparams && fread(f->logits, 4, BT * f->V, fp) == BT * f->V &&
             fread(&f->loss, 4, 1, fp) == 1 && fread(f->grads, 4, f->nparams, fp) == f->nparams &&
             fread(f->losses, 4, (size_t)f->nsteps, fp) == (size_t)f->nsteps && fgetc(fp) == EOF;
    fclose(fp);
    if (!ok) free_fixture(f);
    return ok ? 0 : -1;
}

/* A model of config c holding the fixture's weights, with training buffers and activations
 * for (B, T). 0 ok, -1 (with the reason printed when model_create refuses c). */
__attribute__((unused)) static int make_model_of(model *m, const fixture *f, model_config c) {
    char err[256];
    if (model_create(m, &c, err, sizeof err) != 0) { printf("  %s\n", err); return -1; }
    if (m->nparams != f->nparams) return -1;
    memcpy(m->params, f->params, f->nparams * 4);
    if (model_alloc_training(m) || model_alloc_acts(m, f->B, f->T)) return -1;
    return 0;
}

/* fp32 forward and backward against torch: logits, loss and every gradient within 1e-5
 * (max-relative) */
__attribute__((unused)) static void check_fp32_vs_torch(model *m, const fixture *f) {
    float loss = model_forward(m, f->tok, f->tgt, f->B, f->T);
    double el = rel_err(m->logits, f->logits, (size_t)f->B * f->T * f->V);
    printf("  logits rel err %.2e, loss %.7f vs torch %.7f\n", el, loss, f->loss);
    CHECKF(el < 1e-5, "logits rel err %g", el);
    CHECK_NEAR(loss, f->loss, 1e-5 * f->loss);
    model_zero_grad(m);
    model_backward(m, f->tok, f->tgt, f->B, f->T, 0);
    double worst = 0;
    for (int i = 0; i < m->ntensors; i++) {
        double e = rel_err(model_grad(m, i), f->grads + m->offset[i], m->spec[i].size);
        if (e > worst) worst = e;
        CHECKF(e < 1e-5, "grad %s rel err %g", m->spec[i].name, e);
    }
    printf("  gradients: worst rel err %.2e over %d tensors\n", worst, m->ntensors);
}

/* The same with bf16 products (m->prec = NN_BF16: matrix products on bf16-rounded inputs, fp32
 * accumulation; runs on any CPU: without avx512_bf16 the products are emulated with the same
 * rounding): logits within 2e-2 but above 1e-5 (the products were rounded), the loss within
 * loss_tol (relative), every gradient's cosine above min_cos and, when grad_tol > 0, its
 * max-relative error below grad_tol. bf16 keeps 8 significant bits (relative rounding 2^-9 =
 * 0.2%), so logits and gradients differ from fp32 at the 1e-3..1e-2 level (GPT-2 measured:
 * logits 5.7e-3, worst gradient 1.0e-2 max-relative, cosine >= 0.99997); 3e-2 and 0.9998 per
 * tensor are far above fp32's 1e-5 and far below what a wrong gradient gives. */
__attribute__((unused)) static void check_bf16_vs_torch(model *m, const fixture *f, double loss_tol, double grad_tol,
                                                        double min_cos) {
    m->prec = NN_BF16;
    float loss = model_forward(m, f->tok, f->tgt, f->B, f->T);
    double el = rel_err(m->logits, f->logits, (size_t)f->B * f->T * f->V);
    CHECKF(el < 2e-2 && el > 1e-5, "bf16 logits rel err %g (above 1e-5: the products were rounded)", el);
    CHECK_NEAR(loss, f->loss, loss_tol * f->loss);
    model_zero_grad(m);
    model_backward(m, f->tok, f->tgt, f->B, f->T, 0);
    double worst = 0, worst_cos = 1;
    for (int i = 0; i < m->ntensors; i++) {
        double e = rel_err(model_grad(m, i), f->grads + m->offset[i], m->spec[i].size);
        double cs = cosine(model_grad(m, i), f->grads + m->offset[i], m->spec[i].size);
        if (e > worst) worst = e;
        if (cs < worst_cos) worst_cos = cs;
        CHECKF((grad_tol <= 0 || e < grad_tol) && cs > min_cos, "bf16 grad %s rel err %g cosine %.7f", m->spec[i].name, e, cs);
    }
    printf("  bf16: logits rel err %.2e, loss %.6f vs %.6f, gradients worst rel err %.2e, worst cosine %.6f\n", el, loss,
           f->loss, worst, worst_cos);
}

/* The fixture's AdamW steps (schedule, clipping): each step's loss within 1e-5 of torch's. */
__attribute__((unused)) static void check_adamw_vs_torch(model *m, const fixture *f) {
    adamw_params h = { .beta1 = f->hp[1], .beta2 = f->hp[2], .eps = f->hp[3], .weight_decay = f->hp[4] };
    double worst = 0;
    for (int s = 0; s < f->nsteps; s++) {
        h.lr = lr_schedule(s, f->hp[0], f->warmup, f->nsteps, f->hp[6]);
        float loss = model_forward(m, f->tok, f->tgt, f->B, f->T);
        model_zero_grad(m);
        model_backward(m, f->tok, f->tgt, f->B, f->T, 0);
        clip_grad_norm(m->grads, m->nparams, f->hp[5]);
        model_adamw(m, &h, s + 1);
        double e = fabs(loss - f->losses[s]) / f->losses[s];
        if (e > worst) worst = e;
        CHECKF(e < 1e-5, "step %d loss %.7f vs torch %.7f", s, loss, f->losses[s]);
    }
    printf("  %d AdamW steps: loss %.5f -> %.5f, worst rel err %.2e\n", f->nsteps, f->losses[0], f->losses[f->nsteps - 1], worst);
}

/* The decoding step (model_run) at positions 0..T-1 reproduces forward's logits row by row. */
__attribute__((unused)) static void check_step_vs_forward(model *m, const int *tok, int B, int T, double tol) {
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

/* ---- the test cases every backbone's test runs on its fixture ---- */

/* What the backbone's test sets (in main, before RUN) for the cases below. */
typedef struct {
    const char *path;                     /* tests/fixtures/<arch>_ref.bin */
    model_config (*cfg)(const fixture *); /* the backbone's config from the header */
    int ntensors;                         /* the tensors its model has (0: not checked) */
    double bf16_loss, bf16_grad, bf16_cos;   /* check_bf16_vs_torch's tolerances */
} ref_spec;
static ref_spec spec;

/* The fixture of spec and a model holding its weights; -1 (a failed check) when either fails. */
__attribute__((unused)) static int open_ref(fixture *f, model *m) {
    if (load_fixture_of(f, spec.path, spec.cfg) != 0) { CHECKF(0, "fixture %s missing or bad", spec.path); return -1; }
    if (make_model_of(m, f, spec.cfg(f)) != 0) { CHECKF(0, "no model of the fixture's config"); free_fixture(f); return -1; }
    return 0;
}
__attribute__((unused)) static void close_ref(fixture *f, model *m) { model_free(m); free_fixture(f); }

__attribute__((unused)) static void test_forward_backward(void) {
    fixture f;
    model m;
    if (open_ref(&f, &m) != 0) return;
    if (spec.ntensors) CHECK_EQ(m.ntensors, spec.ntensors);
    check_fp32_vs_torch(&m, &f);
    close_ref(&f, &m);
}
__attribute__((unused)) static void test_adamw_steps(void) {
    fixture f;
    model m;
    if (open_ref(&f, &m) != 0) return;
    check_adamw_vs_torch(&m, &f);
    close_ref(&f, &m);
}
__attribute__((unused)) static void test_bf16_gradients(void) {
    fixture f;
    model m;
    if (open_ref(&f, &m) != 0) return;
    check_bf16_vs_torch(&m, &f, spec.bf16_loss, spec.bf16_grad, spec.bf16_cos);
    close_ref(&f, &m);
}
/* the decoding step (model_run) reproduces forward's logits, position by position */
__attribute__((unused)) static void test_step_matches_forward(void) {
    fixture f;
    model m;
    if (open_ref(&f, &m) != 0) return;
    check_step_vs_forward(&m, f.tok, f.B, f.T, 1e-5);
    close_ref(&f, &m);
}
#endif
