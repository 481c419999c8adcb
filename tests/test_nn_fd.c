/* Finite-difference checks of every layer's backward (no torch needed): for a random
 * projection R, objective = sum(out * R); the analytic gradient of each input and
 * parameter must match central differences on sampled coordinates. */
#include "test.h"
#include "nn/nn.h"
#include "nn/attention.h"
#include "util/util.h"
#include <stdint.h>

/* A layer under test: forward into out from the current inputs. */
typedef struct fd_case fd_case;
struct fd_case {
    void (*fwd)(fd_case *k, float *out);
    float *in[4];          /* inputs / parameters the check perturbs */
    size_t n_in[4];
    float *grad[4];        /* analytic gradients (from backward with dout = R) */
    int nin;
    size_t nout;
    int B, T, C, OC, NH, V;
    int *tok;
    float *aux[4];
};

static uint64_t rng = 42;
static float *randv(size_t n, float sd) {
    float *p = nn_alloc(n);
    for (size_t i = 0; i < n; i++) p[i] = sd * nn_randn(&rng);
    return p;
}
static double objective(fd_case *k, const float *R) {
    float *out = nn_alloc(k->nout);
    k->fwd(k, out);
    double s = 0;
    for (size_t i = 0; i < k->nout; i++) s += (double)out[i] * R[i];
    nn_free(out);
    return s;
}
/* Check sampled coordinates of every input. */
static void fd_check(const char *what, fd_case *k, const float *R, float h) {
    int bad = 0;
    for (int j = 0; j < k->nin; j++) {
        size_t n = k->n_in[j];
        int samples = n < 24 ? (int)n : 24;
        for (int s = 0; s < samples; s++) {
            size_t i = n < 24 ? (size_t)s : (size_t)(splitmix64(&rng) % n);
            float keep = k->in[j][i];
            k->in[j][i] = keep + h;
            double fp = objective(k, R);
            k->in[j][i] = keep - h;
            double fm = objective(k, R);
            k->in[j][i] = keep;
            double num = (fp - fm) / (2.0 * h), ana = k->grad[j][i];
            if (fabs(num - ana) > 2e-3 + 2e-2 * fabs(ana)) {
                if (bad++ < 5) printf("  %s input %d [%zu]: analytic %.6g numeric %.6g\n", what, j, i, ana, num);
            }
        }
    }
    CHECKF(bad == 0, "%s: %d mismatches", what, bad);
}

/* ---- layernorm ---- */
static void ln_fwd(fd_case *k, float *out) {
    layernorm_forward(out, k->aux[0], k->aux[1], k->in[0], k->in[1], k->in[2], k->B * k->T, k->C);
}
static void test_layernorm(void) {
    fd_case k = { .fwd = ln_fwd, .B = 2, .T = 3, .C = 10, .nin = 3 };
    size_t N = 6, C = 10;
    k.in[0] = randv(N * C, 1); k.in[1] = randv(C, 1); k.in[2] = randv(C, 1);
    k.n_in[0] = N * C; k.n_in[1] = C; k.n_in[2] = C;
    k.aux[0] = nn_alloc(N); k.aux[1] = nn_alloc(N);
    k.nout = N * C;
    float *R = randv(k.nout, 1), *out = nn_alloc(k.nout);
    for (int j = 0; j < 3; j++) k.grad[j] = nn_alloc(k.n_in[j]);
    ln_fwd(&k, out);
    layernorm_backward(k.grad[0], k.grad[1], k.grad[2], R, k.in[0], k.in[1], k.aux[0], k.aux[1], (int)N, (int)C);
    fd_check("layernorm", &k, R, 1e-2f);
    for (int j = 0; j < 3; j++) { nn_free(k.in[j]); nn_free(k.grad[j]); }
    nn_free(k.aux[0]); nn_free(k.aux[1]); nn_free(R); nn_free(out);
}

/* ---- matmul ---- */
static void mm_fwd(fd_case *k, float *out) { matmul_forward(out, k->in[0], k->in[1], k->in[2], k->B * k->T, k->C, k->OC); }
static void test_matmul(void) {
    fd_case k = { .fwd = mm_fwd, .B = 2, .T = 5, .C = 7, .OC = 9, .nin = 3 };
    size_t N = 10;
    k.in[0] = randv(N * 7, 1); k.in[1] = randv(9 * 7, 1); k.in[2] = randv(9, 1);
    k.n_in[0] = N * 7; k.n_in[1] = 63; k.n_in[2] = 9;
    k.nout = N * 9;
    float *R = randv(k.nout, 1);
    for (int j = 0; j < 3; j++) k.grad[j] = nn_alloc(k.n_in[j]);
    matmul_backward(k.grad[0], k.grad[1], k.grad[2], R, k.in[0], k.in[1], (int)N, 7, 9);
    fd_check("matmul", &k, R, 1e-2f);
    for (int j = 0; j < 3; j++) { nn_free(k.in[j]); nn_free(k.grad[j]); }
    nn_free(R);
}

/* ---- attention (T > 64 so several query blocks and the diagonal block are covered) ---- */
static void att_fwd(fd_case *k, float *out) {
    attention_forward(out, k->aux[0], k->in[0], k->B, k->T, k->C, k->NH);
}
static void test_attention(void) {
    int B = 2, T = t_san() ? 70 : 90, C = 8, NH = 2;
    fd_case k = { .fwd = att_fwd, .B = B, .T = T, .C = C, .NH = NH, .nin = 1 };
    size_t N = (size_t)B * T;
    k.in[0] = randv(N * 3 * C, 1); k.n_in[0] = N * 3 * C;
    k.aux[0] = nn_alloc((size_t)B * NH * T * T);
    k.nout = N * C;
    float *R = randv(k.nout, 1), *out = nn_alloc(k.nout);
    float *scratch = nn_alloc(attention_scratch_floats(T) * 64);
    k.grad[0] = nn_alloc(k.n_in[0]);
    for (size_t i = 0; i < k.n_in[0]; i++) k.grad[0][i] = NAN;   /* overwritten, every element */
    att_fwd(&k, out);
    attention_backward(k.grad[0], R, k.in[0], k.aux[0], scratch, B, T, C, NH);
    fd_check("attention", &k, R, 1e-2f);
    /* causality: changing the last position's k/v leaves earlier outputs unchanged */
    float *out2 = nn_alloc(k.nout);
    k.in[0][(size_t)(T - 1) * 3 * C + C] += 1.0f;
    att_fwd(&k, out2);
    int same = 1;
    for (size_t i = 0; i < (size_t)(T - 1) * C; i++) same &= out[i] == out2[i];
    CHECK(same);
    nn_free(k.in[0]); nn_free(k.grad[0]); nn_free(k.aux[0]); nn_free(R); nn_free(out); nn_free(out2); nn_free(scratch);
}

/* NN_BF16 attention against a float64 model of its rounding: bf16(Q) bf16(K)^T, softmax in
 * full precision, bf16(P) bf16(V); backward dP = bf16(dO) bf16(V)^T, dS = P (dP - rowsum P dP)
 * * scale, dQ = bf16(dS) bf16(K), dK = bf16(dS)^T bf16(Q), dV = bf16(P)^T bf16(dO). The
 * implementation rounds its fp32 P and dS where the model rounds float64 ones, so an element
 * next to a rounding boundary may land one bf16 step away: the bound, 2e-3 of each output's
 * sum of |terms|, allows for that and is 5x below bf16's own 2^-9 (what a product left in
 * fp32, or rounded at another point, shows). Odd T (a pair without partner) and hs = 40 (two
 * panels, the second partial). Without avx512_bf16 the _prec functions must equal fp32. */
static double r16(double x) { return nn_bf16_round((float)x); }
static void test_attention_bf16(void) {
    const int B = 2, T = t_san() ? 47 : 91, C = 80, NH = 2, hs = C / NH, C3 = 3 * C;
    const size_t N = (size_t)B * T;
    float *qkv = randv(N * C3, 1), *dout = randv(N * C, 1), *att = nn_alloc((size_t)B * NH * T * T);
    float *out = nn_alloc(N * C), *dq = nn_alloc(N * C3), *scr = nn_alloc(attention_scratch_floats(T) * 64);
    for (size_t i = 0; i < N * C; i++) out[i] = NAN;      /* both are overwritten */
    for (size_t i = 0; i < N * C3; i++) dq[i] = NAN;
    attention_forward_prec(out, att, qkv, B, T, C, NH, NN_BF16);
    attention_backward_prec(dq, dout, qkv, att, scr, B, T, C, NH, NN_BF16);
    if (!nn_bf16_native()) {
        float *o2 = nn_alloc(N * C), *d2 = nn_alloc(N * C3);
        attention_forward(o2, att, qkv, B, T, C, NH);
        attention_backward(d2, dout, qkv, att, scr, B, T, C, NH);
        CHECK(!memcmp(out, o2, N * C * 4) && !memcmp(dq, d2, N * C3 * 4));
        nn_free(o2); nn_free(d2);
        nn_free(qkv); nn_free(dout); nn_free(att); nn_free(out); nn_free(dq); nn_free(scr);
        SKIP("no avx512_bf16: bf16 attention is the fp32 one (checked equal)");
    }
    const double scale = 1.0 / sqrt((double)hs);
    double *P = malloc(sizeof(double) * T * T), *dS = malloc(sizeof(double) * T * T);
    double worst_o = 0, worst_d = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            const float *q = qkv + (size_t)b * T * C3 + h * hs, *k = q + C, *v = q + 2 * C;
            const float *dO = dout + (size_t)b * T * C + h * hs;
            const float *o = out + (size_t)b * T * C + h * hs, *gq = dq + (size_t)b * T * C3 + h * hs;
            for (int i = 0; i < T; i++) {   /* forward */
                double mx = -1e300, sum = 0;
                for (int j = 0; j <= i; j++) {
                    double sc = 0;
                    for (int d = 0; d < hs; d++) sc += r16(q[(size_t)i * C3 + d]) * r16(k[(size_t)j * C3 + d]);
                    P[i * T + j] = sc * scale;
                    if (P[i * T + j] > mx) mx = P[i * T + j];
                }
                for (int j = 0; j <= i; j++) { P[i * T + j] = exp(P[i * T + j] - mx); sum += P[i * T + j]; }
                for (int j = 0; j <= i; j++) P[i * T + j] /= sum;
                for (int d = 0; d < hs; d++) {
                    double s = 0, mag = 0;
                    for (int j = 0; j <= i; j++) {
                        double t = r16(P[i * T + j]) * r16(v[(size_t)j * C3 + d]);
                        s += t; mag += fabs(t);
                    }
                    double e = fabs(o[(size_t)i * C + d] - s) / (mag + 1e-6);
                    if (e > worst_o) worst_o = e;
                }
            }
            for (int i = 0; i < T; i++) {   /* dS */
                double dot = 0;
                for (int j = 0; j <= i; j++) {
                    double dp = 0;
                    for (int d = 0; d < hs; d++) dp += r16(dO[(size_t)i * C + d]) * r16(v[(size_t)j * C3 + d]);
                    dS[i * T + j] = dp;
                    dot += P[i * T + j] * dp;
                }
                for (int j = 0; j <= i; j++) dS[i * T + j] = P[i * T + j] * (dS[i * T + j] - dot) * scale;
            }
            for (int i = 0; i < T; i++)     /* dQ[i], dK[i], dV[i] */
                for (int d = 0; d < hs; d++) {
                    double g[3] = { 0, 0, 0 }, mag[3] = { 0, 0, 0 };
                    for (int j = 0; j <= i; j++) {
                        double t = r16(dS[i * T + j]) * r16(k[(size_t)j * C3 + d]);
                        g[0] += t; mag[0] += fabs(t);
                    }
                    for (int j = i; j < T; j++) {
                        double t1 = r16(dS[j * T + i]) * r16(q[(size_t)j * C3 + d]);
                        double t2 = r16(P[j * T + i]) * r16(dO[(size_t)j * C + d]);
                        g[1] += t1; mag[1] += fabs(t1); g[2] += t2; mag[2] += fabs(t2);
                    }
                    for (int w = 0; w < 3; w++) {
                        double e = fabs(gq[(size_t)i * C3 + w * C + d] - g[w]) / (mag[w] + 1e-6);
                        if (e > worst_d) worst_d = e;
                    }
                }
        }
    printf("  bf16 attention vs its float64 model: out %.2e, dqkv %.2e (of the sum of |terms|)\n", worst_o, worst_d);
    CHECKF(worst_o < 2e-3 && worst_d < 2e-3, "out %g dqkv %g", worst_o, worst_d);
    free(P); free(dS);
    nn_free(qkv); nn_free(dout); nn_free(att); nn_free(out); nn_free(dq); nn_free(scr);
}

/* ---- gelu, residual, dropout, encoder ---- */
static void gelu_fwd(fd_case *k, float *out) { gelu_forward(out, k->in[0], k->nout); }
static void test_gelu(void) {
    fd_case k = { .fwd = gelu_fwd, .nin = 1, .nout = 64 };
    k.in[0] = randv(64, 2); k.n_in[0] = 64;
    k.in[0][0] = 0; k.in[0][1] = 1e-4f; k.in[0][2] = -5;   /* around tanh's small-argument switch */
    float *R = randv(64, 1);
    k.grad[0] = nn_alloc(64);
    gelu_backward(k.grad[0], k.in[0], R, 64);
    fd_check("gelu", &k, R, 1e-3f);
    /* value check against the closed form with libm tanh */
    float out[64];
    gelu_forward(out, k.in[0], 64);
    double worst = 0;
    for (int i = 0; i < 64; i++) {
        double x = k.in[0][i], ref = 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
        double e = fabs(out[i] - ref);
        if (e > worst) worst = e;
    }
    CHECKF(worst < 1e-6, "gelu value err %g", worst);
    /* the overwriting, in-place variant gives the same bits as accumulating into zeros */
    float d[64];
    memcpy(d, R, sizeof d);
    gelu_backward_set(d, k.in[0], d, 64);
    int same = 1;
    for (int i = 0; i < 64; i++) same &= d[i] == k.grad[0][i];
    CHECK(same);
    nn_free(k.in[0]); nn_free(k.grad[0]); nn_free(R);
}

static void res_fwd(fd_case *k, float *out) { residual_forward(out, k->in[0], k->in[1], k->nout); }
static void test_residual(void) {
    fd_case k = { .fwd = res_fwd, .nin = 2, .nout = 20 };
    k.in[0] = randv(20, 1); k.in[1] = randv(20, 1); k.n_in[0] = k.n_in[1] = 20;
    float *R = randv(20, 1);
    k.grad[0] = nn_alloc(20); k.grad[1] = nn_alloc(20);
    residual_backward(k.grad[0], k.grad[1], R, 20);
    fd_check("residual", &k, R, 1e-2f);
    for (int j = 0; j < 2; j++) { nn_free(k.in[j]); nn_free(k.grad[j]); }
    nn_free(R);
}

static void drop_fwd(fd_case *k, float *out) { dropout_forward(out, k->in[0], 0.3f, 99, k->nout); }
static void test_dropout(void) {
    fd_case k = { .fwd = drop_fwd, .nin = 1, .nout = 200 };
    k.in[0] = randv(200, 1); k.n_in[0] = 200;
    float *R = randv(200, 1), out[200];
    k.grad[0] = nn_alloc(200);
    dropout_backward(k.grad[0], R, 0.3f, 99, 200);
    fd_check("dropout", &k, R, 1e-2f);
    drop_fwd(&k, out);
    int zeros = 0;
    for (int i = 0; i < 200; i++) zeros += out[i] == 0;
    CHECK(zeros > 30 && zeros < 90);   /* about 30% dropped */
    nn_free(k.in[0]); nn_free(k.grad[0]); nn_free(R);
}

static void enc_fwd(fd_case *k, float *out) { encoder_forward(out, k->tok, k->in[0], k->in[1], k->B, k->T, k->C); }
static void test_encoder(void) {
    int B = 2, T = 4, C = 3, V = 5;
    int tok[8] = { 1, 2, 1, 4, 0, 1, 3, 1 };   /* repeated tokens accumulate */
    fd_case k = { .fwd = enc_fwd, .B = B, .T = T, .C = C, .V = V, .nin = 2, .tok = tok, .nout = (size_t)B * T * C };
    k.in[0] = randv((size_t)V * C, 1); k.in[1] = randv((size_t)T * C, 1);
    k.n_in[0] = (size_t)V * C; k.n_in[1] = (size_t)T * C;
    float *R = randv(k.nout, 1);
    k.grad[0] = nn_alloc(k.n_in[0]); k.grad[1] = nn_alloc(k.n_in[1]);
    encoder_backward(k.grad[0], k.grad[1], R, tok, B, T, C);
    fd_check("encoder", &k, R, 1e-2f);
    for (int j = 0; j < 2; j++) { nn_free(k.in[j]); nn_free(k.grad[j]); }
    nn_free(R);
}

/* ---- cross-entropy: objective = mean loss over counted targets ---- */
static int xe_tgt[12] = { 3, -1, 0, 6, 6, 2, -1, 1, 5, 4, 0, 3 };
static void xe_fwd(fd_case *k, float *out) {
    float losses[12];
    int n = crossentropy_forward(losses, NULL, k->in[0], xe_tgt, 12, k->V, 0);
    double s = 0;
    for (int i = 0; i < 12; i++) s += losses[i];
    out[0] = (float)(s / n);
}
static void test_crossentropy(void) {
    fd_case k = { .fwd = xe_fwd, .V = 7, .nin = 1, .nout = 1 };
    k.in[0] = randv(12 * 7, 2); k.n_in[0] = 84;
    float R[1] = { 1 }, losses[12];
    k.grad[0] = nn_alloc(84);
    int n = crossentropy_forward(losses, k.grad[0], k.in[0], xe_tgt, 12, 7, 1.0f / 10);
    CHECK_EQ(n, 10);
    CHECK(losses[1] == 0 && losses[6] == 0);
    fd_check("crossentropy", &k, R, 1e-2f);
    /* value vs a double-precision log-softmax */
    double worst = 0;
    for (int i = 0; i < 12; i++) {
        if (xe_tgt[i] < 0) continue;
        const float *l = k.in[0] + i * 7;
        double mx = l[0], s = 0;
        for (int j = 1; j < 7; j++) mx = l[j] > mx ? l[j] : mx;
        for (int j = 0; j < 7; j++) s += exp(l[j] - mx);
        double ref = mx + log(s) - l[xe_tgt[i]];
        if (fabs(ref - losses[i]) > worst) worst = fabs(ref - losses[i]);
    }
    CHECKF(worst < 1e-5, "loss err %g", worst);
    nn_free(k.in[0]); nn_free(k.grad[0]);
}

/* ---- optimizer pieces ---- */
static void test_schedule_and_clip(void) {
    CHECK_NEAR(lr_schedule(0, 1.0f, 4, 100, 0.1f), 0.25, 1e-7);
    CHECK_NEAR(lr_schedule(3, 1.0f, 4, 100, 0.1f), 1.0, 1e-7);
    CHECK_NEAR(lr_schedule(4, 1.0f, 4, 100, 0.1f), 1.0, 1e-7);
    CHECK_NEAR(lr_schedule(52, 1.0f, 4, 100, 0.1f), 0.55, 1e-6);
    CHECK_NEAR(lr_schedule(100, 1.0f, 4, 100, 0.1f), 0.1, 1e-6);
    float g[3] = { 3, 4, 0 };
    CHECK_NEAR(global_norm(g, 3), 5, 1e-12);
    CHECK_NEAR(clip_grad_norm(g, 3, 1.0), 5, 1e-12);
    CHECK_NEAR(global_norm(g, 3), 1, 1e-6);
    /* AdamW first step moves each weight by about lr (sign of g), decay shrinks it first */
    float p[2] = { 1, 1 }, gg[2] = { 0.5f, -2 }, m[2] = { 0 }, v[2] = { 0 };
    adamw_params h = { .lr = 0.1f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.5f };
    adamw_update(p, gg, m, v, 2, &h, 1, 1);
    CHECK_NEAR(p[0], 1 - 0.05 - 0.1, 1e-6);
    CHECK_NEAR(p[1], 1 - 0.05 + 0.1, 1e-6);
    CHECK_NEAR(nn_expf(1.0f), 2.718281828, 3e-7);
    CHECK_NEAR(nn_expf(-20.0f), 2.0611536e-9, 1e-15);
}

int main(void) {
    (void)t_shared; (void)t_tmpdir;
    RUN(test_layernorm);
    RUN(test_matmul);
    RUN(test_attention);
    RUN(test_attention_bf16);
    RUN(test_gelu);
    RUN(test_residual);
    RUN(test_dropout);
    RUN(test_encoder);
    RUN(test_crossentropy);
    RUN(test_schedule_and_clip);
    return t_done();
}
