/* The causal linear-attention kernels (src/nn/linattn.c), without torch: the chunked forward
 * against the quadratic definition computed in double, for several chunk sizes (1, odd, a
 * divisor, larger than T); central finite differences of the chunked backward and of the
 * feature map; the backward's chunk-size invariance; the recurrent step against the chunked
 * forward row by row; the exact GELU of the model's MLP. The whole backbone is checked against PyTorch in test_linattn_model.c. */
#include "test.h"
#include "nn/nn.h"
#include "nn/linattn.h"
#include "nn/rope.h"
#include "util/util.h"
#include <stdint.h>

static uint64_t rng = 7;
static float *randv(size_t n, float sd) {
    float *p = nn_alloc(n);
    for (size_t i = 0; i < n; i++) p[i] = sd * nn_randn(&rng);
    return p;
}
/* (B,T,3C) rows with positive features (phi of normals) for q and k, normal values */
static float *rand_qkv(int B, int T, int C) {
    float *x = randv((size_t)B * T * 3 * C, 1);
    linattn_phi(x, B * T, 2 * C, 3 * C);
    return x;
}

/* out_i = sum_{j<=i} (fq_i.fk_j) v_j / (sum_{j<=i} fq_i.fk_j + eps), in double */
static void reference(double *out, const float *qkv, int B, int T, int C, int NH) {
    const int hs = C / NH, ld = 3 * C;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int i = 0; i < T; i++) {
                const float *q = qkv + ((size_t)b * T + i) * ld + h * hs;
                double num[64] = { 0 }, den = LINATTN_EPS;
                for (int j = 0; j <= i; j++) {
                    const float *k = qkv + ((size_t)b * T + j) * ld + C + h * hs, *v = k + C;
                    double a = 0;
                    for (int e = 0; e < hs; e++) a += (double)q[e] * k[e];
                    den += a;
                    for (int m = 0; m < hs; m++) num[m] += a * v[m];
                }
                for (int m = 0; m < hs; m++) out[((size_t)b * T + i) * C + h * hs + m] = num[m] / den;
            }
}

/* head sizes 4, 32 (two whole vectors of the chunk products) and 40 (a masked third) */
static void forward_chunks(int C, int NH) {
    const int B = 2, T = 70;
    const size_t NC = (size_t)B * T * C;
    float *qkv = rand_qkv(B, T, C), *out = nn_alloc(NC), *den = nn_alloc((size_t)B * T * NH);
    double *ref = malloc(NC * sizeof(double));
    reference(ref, qkv, B, T, C, NH);
    const int chunks[] = { 1, 5, 7, 16, 35, 64, 70, 200 };
    double worst = 0;
    for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
        linattn_forward(out, den, qkv, B, T, C, NH, chunks[c], NN_FP32);
        double md = 0, mr = 0;
        for (size_t i = 0; i < NC; i++) {
            if (fabs(out[i] - ref[i]) > md) md = fabs(out[i] - ref[i]);
            if (fabs(ref[i]) > mr) mr = fabs(ref[i]);
        }
        CHECKF(md / mr < 1e-5, "chunk %d: rel err %g against the quadratic definition", chunks[c], md / mr);
        if (md / mr > worst) worst = md / mr;
    }
    printf("  forward vs quadratic definition (double), head size %d: worst rel err %.2e over %zu chunk sizes\n",
           C / NH, worst, sizeof chunks / sizeof *chunks);
    nn_free(qkv); nn_free(out); nn_free(den); free(ref);
}
static void test_forward_chunks(void) {
    forward_chunks(12, 3);
    forward_chunks(64, 2);
    forward_chunks(80, 2);
}

/* interleaved rotary positions (the vector path at head sizes 16k, the scalar one otherwise)
 * against the rotation in double, and the inverse undoing it */
static void test_rope(void) {
    const int sizes[] = { 6, 32, 48 };
    double worst = 0;
    for (int z = 0; z < 3; z++) {
        const int hs = sizes[z], nh = 3;
        float cs[48], x[3 * 48], y[3 * 48];
        rope_angles(cs, 777, hs, 10000.0);
        for (int i = 0; i < nh * hs; i++) x[i] = y[i] = (float)nn_randn(&rng);
        rope_row(y, nh, hs, cs, ROPE_INTERLEAVED, 0);
        for (int h = 0; h < nh; h++)
            for (int i = 0; i < hs / 2; i++) {
                double a = 777.0 * pow(10000.0, -2.0 * i / hs), u = x[h * hs + 2 * i], w = x[h * hs + 2 * i + 1];
                double e0 = fabs(y[h * hs + 2 * i] - (u * cos(a) - w * sin(a)));
                double e1 = fabs(y[h * hs + 2 * i + 1] - (w * cos(a) + u * sin(a)));
                worst = fmax(worst, fmax(e0, e1));
            }
        rope_row(y, nh, hs, cs, ROPE_INTERLEAVED, 1);
        for (int i = 0; i < nh * hs; i++) worst = fmax(worst, fabs(y[i] - x[i]) / 2);
    }
    printf("  rope (interleaved), head sizes 6, 32, 48: worst error %.2e\n", worst);
    CHECKF(worst < 1e-5, "rope error %g", worst);
}

/* NN_BF16: the chunk products on bf16-rounded inputs, states and normaliser fp32: close to the
 * definition, but visibly rounded; gradients close to fp32's */
static void test_bf16(void) {
    const int B = 1, T = 150, C = 32, NH = 2;
    const size_t NC = (size_t)B * T * C, N3 = 3 * NC;
    float *qkv = rand_qkv(B, T, C), *out = nn_alloc(NC), *den = nn_alloc((size_t)B * T * NH), *R = randv(NC, 1);
    float *o32 = nn_alloc(NC), *d32 = nn_alloc(N3), *d16 = nn_alloc(N3);
    double *ref = malloc(NC * sizeof(double));
    reference(ref, qkv, B, T, C, NH);
    linattn_forward(o32, den, qkv, B, T, C, NH, 64, NN_FP32);
    linattn_backward(d32, R, qkv, o32, den, B, T, C, NH, 64, NN_FP32);
    linattn_forward(out, den, qkv, B, T, C, NH, 64, NN_BF16);
    linattn_backward(d16, R, qkv, out, den, B, T, C, NH, 64, NN_BF16);
    double md = 0, mr = 0;
    for (size_t i = 0; i < NC; i++) {
        if (fabs(out[i] - ref[i]) > md) md = fabs(out[i] - ref[i]);
        if (fabs(ref[i]) > mr) mr = fabs(ref[i]);
    }
    double eg = rel_err(d16, d32, N3), cs = cosine(d16, d32, N3);
    printf("  bf16: output rel err %.2e, gradient rel err %.2e (cosine %.6f) against fp32\n", md / mr, eg, cs);
    CHECKF(md / mr < 2e-2 && md / mr > 1e-6, "bf16 output rel err %g", md / mr);
    CHECKF(eg < 5e-2 && cs > 0.999, "bf16 gradient rel err %g cosine %g", eg, cs);
    nn_free(qkv); nn_free(out); nn_free(den); nn_free(R); nn_free(o32); nn_free(d32); nn_free(d16); free(ref);
}

/* central differences of sum(out * R) against the backward, sampled coordinates of qkv */
static double objective(const float *qkv, const float *R, int B, int T, int C, int NH, int chunk) {
    size_t NC = (size_t)B * T * C;
    float *out = nn_alloc(NC), *den = nn_alloc((size_t)B * T * NH);
    linattn_forward(out, den, qkv, B, T, C, NH, chunk, NN_FP32);
    double s = 0;
    for (size_t i = 0; i < NC; i++) s += (double)out[i] * R[i];
    nn_free(out); nn_free(den);
    return s;
}
static void test_backward_fd(void) {
    const int B = 2, T = 23, C = 8, NH = 2, chunk = 6;
    const size_t NC = (size_t)B * T * C, N3 = 3 * NC;
    float *qkv = rand_qkv(B, T, C), *R = randv(NC, 1), *out = nn_alloc(NC), *den = nn_alloc((size_t)B * T * NH);
    float *dqkv = nn_alloc(N3);
    linattn_forward(out, den, qkv, B, T, C, NH, chunk, NN_FP32);
    linattn_backward(dqkv, R, qkv, out, den, B, T, C, NH, chunk, NN_FP32);
    int bad = 0, tried = 0;
    const float hstep = 1e-2f;
    for (int s = 0; s < 240; s++) {
        size_t i = s < 48 ? (size_t)s * 7 % N3 : (size_t)(splitmix64(&rng) % N3);
        float keep = qkv[i];
        qkv[i] = keep + hstep; double fp = objective(qkv, R, B, T, C, NH, chunk);
        qkv[i] = keep - hstep; double fm = objective(qkv, R, B, T, C, NH, chunk);
        qkv[i] = keep;
        double num = (fp - fm) / (2.0 * hstep), ana = dqkv[i];
        tried++;
        if (fabs(num - ana) > 2e-3 + 2e-2 * fabs(ana))
            if (bad++ < 5) printf("  [%zu] analytic %.6g numeric %.6g\n", i, ana, num);
    }
    CHECKF(bad == 0, "%d of %d coordinates differ from central differences", bad, tried);
    nn_free(qkv); nn_free(R); nn_free(out); nn_free(den); nn_free(dqkv);
}

/* the same gradients whatever the chunk (up to rounding) */
static void backward_chunks(int C, int NH) {
    const int B = 1, T = 130;
    const size_t NC = (size_t)B * T * C, N3 = 3 * NC;
    float *qkv = rand_qkv(B, T, C), *R = randv(NC, 1), *out = nn_alloc(NC), *den = nn_alloc((size_t)B * T * NH);
    float *d0 = nn_alloc(N3), *d1 = nn_alloc(N3);
    linattn_forward(out, den, qkv, B, T, C, NH, 1, NN_FP32);
    linattn_backward(d0, R, qkv, out, den, B, T, C, NH, 1, NN_FP32);   /* chunk 1: the pure recurrence */
    const int chunks[] = { 3, 64, 128, 130, 1000 };
    double worst = 0;
    for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
        linattn_forward(out, den, qkv, B, T, C, NH, chunks[c], NN_FP32);
        linattn_backward(d1, R, qkv, out, den, B, T, C, NH, chunks[c], NN_FP32);
        double e = rel_err(d1, d0, N3);
        CHECKF(e < 1e-5, "chunk %d: gradient rel err %g against chunk 1", chunks[c], e);
        if (e > worst) worst = e;
    }
    printf("  backward, head size %d, chunks 3..1000 against chunk 1: worst rel err %.2e\n", C / NH, worst);
    nn_free(qkv); nn_free(R); nn_free(out); nn_free(den); nn_free(d0); nn_free(d1);
}
static void test_backward_chunks(void) {
    backward_chunks(32, 2);
    backward_chunks(64, 2);
    backward_chunks(80, 2);
}

static void test_step_equals_forward(void) {
    const int T = 90, C = 24, NH = 3, hs = C / NH;
    float *qkv = rand_qkv(1, T, C), *out = nn_alloc((size_t)T * C), *den = nn_alloc((size_t)T * NH);
    float *state = nn_alloc(linattn_state_floats(NH, hs)), *o = nn_alloc(C);
    linattn_forward(out, den, qkv, 1, T, C, NH, 32, NN_FP32);
    double worst = 0;
    for (int t = 0; t < T; t++) {
        const float *row = qkv + (size_t)t * 3 * C;
        linattn_step(o, state, row, row + C, row + 2 * C, NH, hs);
        double e = rel_err(o, out + (size_t)t * C, C);
        if (e > worst) worst = e;
    }
    CHECKF(worst < 1e-5, "step vs chunked forward rel err %g", worst);
    printf("  recurrent step vs chunked forward: worst rel err %.2e over %d positions\n", worst, T);
    nn_free(qkv); nn_free(out); nn_free(den); nn_free(state); nn_free(o);
}

/* phi = elu + 1 and its backward taken from phi's output, on both branches and near 0 */
static void test_feature_map(void) {
    const int n = 64;
    float x[64], f[64], d[64];
    for (int i = 0; i < n; i++) x[i] = (i - 32) * 0.17f + (i == 32 ? 1e-9f : 0);
    memcpy(f, x, sizeof x);
    linattn_phi(f, 1, n, n);
    for (int i = 0; i < n; i++) d[i] = 1.0f;
    linattn_phi_backward(d, f, 1, n, n);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        double want = x[i] > 0 ? x[i] + 1.0 : exp(x[i]);
        double h = 1e-3, num = ((x[i] + h > 0 ? x[i] + h + 1 : exp(x[i] + h)) - (x[i] - h > 0 ? x[i] - h + 1 : exp(x[i] - h))) / (2 * h);
        if (fabs(f[i] - want) > 1e-6 * (1 + want) || f[i] <= 0) bad++;
        if (fabs(x[i]) > 2e-3 && fabs(d[i] - num) > 1e-4) bad++;
    }
    CHECKF(bad == 0, "%d feature-map values or derivatives wrong", bad);
}

/* exact GELU (nn.c, used by the linear-attention MLP): values against erf in double, the
 * derivative against central differences of the double formula */
static void test_gelu_erf(void) {
    enum { n = 4001 };
    static float x[n], y[n], d[n], one[n];
    for (int i = 0; i < n; i++) { x[i] = -10.0f + 5e-3f * i; one[i] = 1.0f; }
    gelu_erf_forward(y, x, n);
    gelu_erf_backward_set(d, x, one, n);
    double wv = 0, wd = 0;
    for (int i = 0; i < n; i++) {
        double xd = x[i], g = 0.5 * xd * (1 + erf(xd / sqrt(2.0))), h = 1e-4;
        double gp = 0.5 * (xd + h) * (1 + erf((xd + h) / sqrt(2.0))), gm = 0.5 * (xd - h) * (1 + erf((xd - h) / sqrt(2.0)));
        double ev = fabs(y[i] - g) / (1 + fabs(g)), ed = fabs(d[i] - (gp - gm) / (2 * h));
        if (ev > wv) wv = ev;
        if (ed > wd) wd = ed;
    }
    printf("  gelu (erf): worst value error %.2e, derivative %.2e on [-10, 10]\n", wv, wd);
    CHECKF(wv < 1e-6 && wd < 1e-5, "gelu erf value err %g derivative err %g", wv, wd);
}

int main(void) {
    (void)t_shared; (void)t_tmpdir;
    RUN(test_forward_chunks);
    RUN(test_rope);
    RUN(test_backward_fd);
    RUN(test_backward_chunks);
    RUN(test_step_equals_forward);
    RUN(test_bf16);
    RUN(test_feature_map);
    RUN(test_gelu_erf);
    return t_done();
}
