/* Kernels of the state-space backbone (src/nn/ssm.h) without torch: central finite
 * differences through every backward (the SSD scan with groups, strides, a partial last chunk
 * and an initial state; the causal conv + SiLU; softplus; plain and gated RMSNorm), the scan
 * against its plain recurrence (ssd_step token by token), independence of the chunk length,
 * strong decay (exp of a cumulative sum far below float's range), and the decay-free running
 * sums of causal linear attention. */
#include "test.h"
#include "nn/nn.h"
#include "nn/ssm.h"
#include "util/util.h"
#include <stdint.h>

static uint64_t rng = 7;
static float *randv(size_t n, float sd) {
    float *p = nn_alloc(n);
    for (size_t i = 0; i < n; i++) p[i] = sd * nn_randn(&rng);
    return p;
}

/* A kernel under test: fwd() writes its output from the current inputs; the check perturbs
 * sampled coordinates of each input and compares (f(x+h) - f(x-h)) / 2h of sum(out * R) with
 * the analytic gradient. */
typedef struct {
    void (*fwd)(void *ctx, float *out);
    void *ctx;
    size_t nout;
    int nin;
    float *in[8];
    size_t n_in[8];
    const float *grad[8];
    const char *name[8];
} fd_case;

static double objective(fd_case *k, const float *R) {
    float *out = nn_alloc(k->nout);
    k->fwd(k->ctx, out);
    double s = 0;
    for (size_t i = 0; i < k->nout; i++) s += (double)out[i] * R[i];
    nn_free(out);
    return s;
}
static void fd_check(const char *what, fd_case *k, const float *R, float h) {
    int bad = 0;
    for (int j = 0; j < k->nin; j++) {
        size_t n = k->n_in[j];
        int samples = n < 32 ? (int)n : 32;
        for (int s = 0; s < samples; s++) {
            size_t i = n < 32 ? (size_t)s : (size_t)(splitmix64(&rng) % n);
            float keep = k->in[j][i];
            k->in[j][i] = keep + h;
            double fp = objective(k, R);
            k->in[j][i] = keep - h;
            double fm = objective(k, R);
            k->in[j][i] = keep;
            double num = (fp - fm) / (2.0 * h), ana = k->grad[j][i];
            if (fabs(num - ana) > 3e-3 + 2e-2 * fabs(ana)) {
                if (bad++ < 6) printf("  %s %s[%zu]: analytic %.6g numeric %.6g\n", what, k->name[j], i, ana, num);
            }
        }
    }
    CHECKF(bad == 0, "%s: %d mismatches", what, bad);
}

/* ---- the scan: x, B, C packed in one row as Mamba-2's conv output (strides), dt (N,H) ---- */
typedef struct {
    ssd_dims d;
    float *xbc, *dt, *A, *D, *h0, *work;
    int Cd;
} scan_case;
static ssd_in scan_in(scan_case *s) {
    const ssd_dims d = s->d;
    ssd_in in = { .x = s->xbc, .B = s->xbc + d.H * d.P, .C = s->xbc + d.H * d.P + d.G * d.N, .dt = s->dt, .A = s->A,
                  .D = s->D, .xs = s->Cd, .bs = s->Cd, .cs = s->Cd, .dts = d.H };
    return in;
}
static void scan_case_init(scan_case *s, ssd_dims d, int with_h0) {
    s->d = d;
    s->Cd = d.H * d.P + 2 * d.G * d.N;
    size_t N = (size_t)d.B * d.T;
    s->xbc = randv(N * s->Cd, 1);
    s->dt = nn_alloc(N * d.H);
    for (size_t i = 0; i < N * d.H; i++) s->dt[i] = 0.1f + 0.6f * fabsf(nn_randn(&rng));
    s->A = nn_alloc(d.H);
    for (int h = 0; h < d.H; h++) s->A[h] = -(0.2f + 0.5f * h);
    s->D = randv(d.H, 1);
    s->h0 = with_h0 ? randv((size_t)d.B * d.H * d.P * d.N, 0.5f) : NULL;
    s->work = nn_alloc(ssd_work_floats(d, 1));
}
static void scan_case_free(scan_case *s) {
    nn_free(s->xbc); nn_free(s->dt); nn_free(s->A); nn_free(s->D); nn_free(s->h0); nn_free(s->work);
}
static void scan_fwd(void *ctx, float *out) {
    scan_case *s = ctx;
    ssd_in in = scan_in(s);
    ssd_forward(out, NULL, &in, s->h0, s->work, s->d);
}

static void test_ssd_fd(void) {
    /* 2 groups of 2 heads; T = 11 with chunks of 4: the last chunk has 3 tokens */
    ssd_dims d = { .B = 2, .T = 11, .H = 4, .P = 3, .G = 2, .N = 5, .Q = 4 };
    scan_case s;
    scan_case_init(&s, d, 1);
    const size_t N = (size_t)d.B * d.T, ny = N * d.H * d.P, nh = (size_t)d.B * d.H * d.P * d.N;
    float *R = randv(ny, 1), *y = nn_alloc(ny);
    float *dxbc = nn_alloc(N * s.Cd), *ddt = nn_alloc(N * d.H), *dA = nn_alloc(d.H), *dD = nn_alloc(d.H);
    float *dh0 = nn_alloc(nh);
    scan_fwd(&s, y);
    ssd_in in = scan_in(&s);
    ssd_grad g = { .x = dxbc, .B = dxbc + d.H * d.P, .C = dxbc + d.H * d.P + d.G * d.N, .dt = ddt, .A = dA, .D = dD,
                   .xs = s.Cd, .bs = s.Cd, .cs = s.Cd, .dts = d.H, .h0 = dh0 };
    ssd_backward(&g, R, &in, s.h0, s.work, d);
    fd_case k = { .fwd = scan_fwd, .ctx = &s, .nout = ny, .nin = 5,
                  .in = { s.xbc, s.dt, s.A, s.D, s.h0 }, .n_in = { N * s.Cd, N * d.H, (size_t)d.H, (size_t)d.H, nh },
                  .grad = { dxbc, ddt, dA, dD, dh0 }, .name = { "x|B|C", "dt", "A", "D", "h0" } };
    fd_check("ssd", &k, R, 1e-2f);
    /* the same without an initial state (chunk 0 skips the state term) */
    nn_free(s.h0); s.h0 = NULL;
    nn_zero(dA, d.H); nn_zero(dD, d.H);
    scan_fwd(&s, y);
    g.h0 = NULL;
    ssd_backward(&g, R, &in, NULL, s.work, d);
    k.nin = 4;
    fd_check("ssd (h0 = 0)", &k, R, 1e-2f);
    nn_free(R); nn_free(y); nn_free(dxbc); nn_free(ddt); nn_free(dA); nn_free(dD); nn_free(dh0);
    scan_case_free(&s);
}

/* y from token-by-token steps (the definition) */
static void scan_by_steps(float *y, float *hT, scan_case *s) {
    const ssd_dims d = s->d;
    const size_t HPN = (size_t)d.H * d.P * d.N;
    float *st = nn_alloc(HPN), *Bc = nn_alloc(2 * (size_t)d.G * d.N), *xr = nn_alloc((size_t)d.H * d.P);
    for (int b = 0; b < d.B; b++) {
        if (s->h0) memcpy(st, s->h0 + b * HPN, HPN * sizeof *st);
        else nn_zero(st, HPN);
        for (int t = 0; t < d.T; t++) {
            const float *row = s->xbc + ((size_t)b * d.T + t) * s->Cd;
            ssd_step(y + ((size_t)b * d.T + t) * d.H * d.P, st, row, s->dt + ((size_t)b * d.T + t) * d.H, s->A,
                     row + d.H * d.P, row + d.H * d.P + d.G * d.N, s->D, d.H, d.P, d.G, d.N);
        }
        if (hT) memcpy(hT + b * HPN, st, HPN * sizeof *st);
    }
    nn_free(st); nn_free(Bc); nn_free(xr);
}

static void test_ssd_step_equals_chunked(void) {
    ssd_dims d = { .B = 2, .T = 150, .H = 4, .P = 8, .G = 1, .N = 16, .Q = 64 };
    scan_case s;
    scan_case_init(&s, d, 1);
    const size_t ny = (size_t)d.B * d.T * d.H * d.P, nh = (size_t)d.B * d.H * d.P * d.N;
    float *y1 = nn_alloc(ny), *y2 = nn_alloc(ny), *h1 = nn_alloc(nh), *h2 = nn_alloc(nh);
    ssd_in in = scan_in(&s);
    ssd_forward(y1, h1, &in, s.h0, s.work, d);
    scan_by_steps(y2, h2, &s);
    double ey = rel_err(y1, y2, ny), eh = rel_err(h1, h2, nh);
    printf("  chunked vs steps: y rel err %.2e, final state %.2e\n", ey, eh);
    CHECKF(ey < 1e-5 && eh < 1e-5, "y %g state %g", ey, eh);
    nn_free(y1); nn_free(y2); nn_free(h1); nn_free(h2);
    scan_case_free(&s);
}

/* outputs and every gradient at chunk 1, 64, 256 and the full length agree */
static void test_ssd_chunk_invariance(void) {
    ssd_dims d = { .B = 1, .T = 300, .H = 2, .P = 8, .G = 2, .N = 16, .Q = 64 };
    scan_case s;
    scan_case_init(&s, d, 0);
    const size_t N = (size_t)d.B * d.T, ny = N * d.H * d.P;
    float *R = randv(ny, 1), *y0 = NULL, *g0 = NULL, *dt0 = NULL;
    const int Qs[] = { 64, 1, 256, 300 };
    for (int qi = 0; qi < 4; qi++) {
        d.Q = Qs[qi];
        s.d = d;
        nn_free(s.work);
        s.work = nn_alloc(ssd_work_floats(d, 1));
        float *y = nn_alloc(ny), *dxbc = nn_alloc(N * s.Cd), *ddt = nn_alloc(N * d.H), *dA = nn_alloc(d.H);
        ssd_in in = scan_in(&s);
        ssd_forward(y, NULL, &in, NULL, s.work, d);
        ssd_grad g = { .x = dxbc, .B = dxbc + d.H * d.P, .C = dxbc + d.H * d.P + d.G * d.N, .dt = ddt, .A = dA,
                       .xs = s.Cd, .bs = s.Cd, .cs = s.Cd, .dts = d.H };
        ssd_backward(&g, R, &in, NULL, s.work, d);
        if (qi == 0) { y0 = y; g0 = dxbc; dt0 = ddt; nn_free(dA); continue; }
        double ey = rel_err(y, y0, ny), eg = rel_err(dxbc, g0, N * s.Cd), et = rel_err(ddt, dt0, N * d.H);
        printf("  chunk %d vs 64: y %.2e, d(x|B|C) %.2e, ddt %.2e\n", d.Q, ey, eg, et);
        CHECKF(ey < 1e-5 && eg < 1e-5 && et < 1e-4, "chunk %d: y %g grads %g dt %g", d.Q, ey, eg, et);
        nn_free(y); nn_free(dxbc); nn_free(ddt); nn_free(dA);
    }
    nn_free(y0); nn_free(g0); nn_free(dt0); nn_free(R);
    scan_case_free(&s);
}

/* dt A summed over a chunk reaches -2000: exp of the cumulative sum alone would be 0 (and its
 * inverse inf); only differences are exponentiated, so the outputs stay finite and equal to
 * the recurrence's, and the gradients stay finite */
static void test_ssd_strong_decay(void) {
    ssd_dims d = { .B = 1, .T = 200, .H = 2, .P = 4, .G = 1, .N = 8, .Q = 128 };
    scan_case s;
    scan_case_init(&s, d, 1);
    s.A[0] = -20; s.A[1] = -0.01f;
    const size_t N = (size_t)d.B * d.T, ny = N * d.H * d.P;
    float *y1 = nn_alloc(ny), *y2 = nn_alloc(ny), *R = randv(ny, 1);
    float *dxbc = nn_alloc(N * s.Cd), *ddt = nn_alloc(N * d.H), *dA = nn_alloc(d.H);
    ssd_in in = scan_in(&s);
    ssd_forward(y1, NULL, &in, s.h0, s.work, d);
    scan_by_steps(y2, NULL, &s);
    double e = rel_err(y1, y2, ny);
    CHECKF(e < 1e-5, "strong decay: rel err %g", e);
    ssd_grad g = { .x = dxbc, .B = dxbc + d.H * d.P, .C = dxbc + d.H * d.P + d.G * d.N, .dt = ddt, .A = dA,
                   .xs = s.Cd, .bs = s.Cd, .cs = s.Cd, .dts = d.H };
    ssd_backward(&g, R, &in, s.h0, s.work, d);
    int finite = isfinite(dA[0]) && isfinite(dA[1]);
    for (size_t i = 0; i < N * s.Cd; i++) finite &= isfinite(dxbc[i]) != 0;
    for (size_t i = 0; i < N * d.H; i++) finite &= isfinite(ddt[i]) != 0;
    CHECK(finite);
    nn_free(y1); nn_free(y2); nn_free(R); nn_free(dxbc); nn_free(ddt); nn_free(dA);
    scan_case_free(&s);
}

/* A = 0, dt = 1 (stride 0), no D: y_t = sum_{s<=t} (C_t . B_s) x_s, causal linear attention's
 * numerator; with x = 1 (stride 0, P = 1) its denominator sum_s C_t . B_s */
static void test_ssd_linear_attention(void) {
    const int T = 37, H = 2, P = 3, N = 4;
    ssd_dims d = { .B = 1, .T = T, .H = H, .P = P, .G = H, .N = N, .Q = 16 };
    float *v = randv((size_t)T * H * P, 1), *k = randv((size_t)T * H * N, 1), *q = randv((size_t)T * H * N, 1);
    float zeros[2] = { 0, 0 }, ones[2] = { 1, 1 };
    float *y = nn_alloc((size_t)T * H * P), *work = nn_alloc(ssd_work_floats(d, 0));
    ssd_in in = { .x = v, .B = k, .C = q, .dt = ones, .A = zeros, .xs = H * P, .bs = H * N, .cs = H * N, .dts = 0 };
    ssd_forward(y, NULL, &in, NULL, work, d);
    double worst = 0;
    for (int t = 0; t < T; t++)
        for (int h = 0; h < H; h++)
            for (int p = 0; p < P; p++) {
                double ref = 0;
                for (int s = 0; s <= t; s++) {
                    double qk = 0;
                    for (int n = 0; n < N; n++) qk += (double)q[(t * H + h) * N + n] * k[(s * H + h) * N + n];
                    ref += qk * v[(s * H + h) * P + p];
                }
                double e = fabs(ref - y[(t * H + h) * P + p]) / (1 + fabs(ref));
                if (e > worst) worst = e;
            }
    CHECKF(worst < 1e-5, "numerator err %g", worst);
    ssd_dims d1 = d;
    d1.P = 1;
    float *z = nn_alloc((size_t)T * H), *w1 = nn_alloc(ssd_work_floats(d1, 0));
    ssd_in in1 = { .x = ones, .B = k, .C = q, .dt = ones, .A = zeros, .xs = 0, .bs = H * N, .cs = H * N, .dts = 0 };
    ssd_forward(z, NULL, &in1, NULL, w1, d1);
    double ref = 0;
    for (int s = 0; s <= T - 1; s++)
        for (int n = 0; n < N; n++) ref += (double)q[((T - 1) * H + 1) * N + n] * k[(s * H + 1) * N + n];
    CHECK_NEAR(z[(T - 1) * H + 1], ref, 1e-4 * (1 + fabs(ref)));
    nn_free(v); nn_free(k); nn_free(q); nn_free(y); nn_free(work); nn_free(z); nn_free(w1);
}

/* ---- conv1d + SiLU ---- */
typedef struct { float *inp, *w, *b; int B, T, Cd, W, is; } conv_case;
static void conv_fwd(void *ctx, float *out) {
    conv_case *c = ctx;
    conv1d_silu_forward(out, c->inp, c->is, c->w, c->b, c->B, c->T, c->Cd, c->W);
}
static void test_conv1d(void) {
    /* 70 channels: two thread blocks, the second partial; rows strided (is = Cd + 5) */
    conv_case c = { .B = 2, .T = 9, .Cd = 70, .W = 4 };
    c.is = c.Cd + 5;
    size_t N = (size_t)c.B * c.T, no = N * c.Cd;
    c.inp = randv(N * c.is, 1); c.w = randv((size_t)c.Cd * c.W, 0.5f); c.b = randv(c.Cd, 0.5f);
    float *R = randv(no, 1), *din = nn_alloc(N * c.is), *dw = nn_alloc((size_t)c.Cd * c.W), *db = nn_alloc(c.Cd);
    conv1d_silu_backward(din, c.is, dw, db, R, c.inp, c.is, c.w, c.b, c.B, c.T, c.Cd, c.W);
    for (size_t n = 0; n < N; n++)   /* the padding columns are not inputs: no gradient */
        for (int j = c.Cd; j < c.is; j++) din[n * c.is + j] = 0;
    fd_case k = { .fwd = conv_fwd, .ctx = &c, .nout = no, .nin = 3, .in = { c.inp, c.w, c.b },
                  .n_in = { N * c.is, (size_t)c.Cd * c.W, (size_t)c.Cd }, .grad = { din, dw, db },
                  .name = { "inp", "w", "bias" } };
    fd_check("conv1d", &k, R, 1e-2f);
    /* the step with its window equals the forward */
    float *out = nn_alloc(no), *win = nn_alloc((size_t)(c.W - 1) * c.Cd), *o1 = nn_alloc(c.Cd);
    conv_fwd(&c, out);
    double worst = 0;
    for (int b = 0; b < c.B; b++) {
        nn_zero(win, (size_t)(c.W - 1) * c.Cd);
        for (int t = 0; t < c.T; t++) {
            size_t n = (size_t)b * c.T + t;
            conv1d_silu_step(o1, win, c.inp + n * c.is, c.w, c.b, c.Cd, c.W);
            double e = rel_err(o1, out + n * c.Cd, c.Cd);
            if (e > worst) worst = e;
        }
    }
    CHECKF(worst < 1e-6, "conv step vs forward %g", worst);
    nn_free(c.inp); nn_free(c.w); nn_free(c.b); nn_free(R); nn_free(din); nn_free(dw); nn_free(db);
    nn_free(out); nn_free(win); nn_free(o1);
}

/* ---- softplus(raw + bias) ---- */
typedef struct { float *raw, *bias; int N, H, rs; } sp_case;
static void sp_fwd(void *ctx, float *out) {
    sp_case *s = ctx;
    softplus_bias_forward(out, s->raw, s->rs, s->bias, s->N, s->H);
}
static void test_softplus(void) {
    sp_case s = { .N = 7, .H = 3, .rs = 5 };
    s.raw = randv((size_t)s.N * s.rs, 3); s.bias = randv(s.H, 1);
    s.raw[0] = 30;   /* the linear branch */
    float *R = randv((size_t)s.N * s.H, 1), *draw = nn_alloc((size_t)s.N * s.rs), *db = nn_alloc(s.H);
    softplus_bias_backward(draw, s.rs, db, R, s.raw, s.rs, s.bias, s.N, s.H);
    fd_case k = { .fwd = sp_fwd, .ctx = &s, .nout = (size_t)s.N * s.H, .nin = 2, .in = { s.raw, s.bias },
                  .n_in = { (size_t)s.N * s.rs, (size_t)s.H }, .grad = { draw, db }, .name = { "raw", "bias" } };
    for (int n = 0; n < s.N; n++) for (int j = s.H; j < s.rs; j++) draw[(size_t)n * s.rs + j] = 0;
    fd_check("softplus", &k, R, 1e-2f);
    float out[21];
    sp_fwd(&s, out);
    CHECK_NEAR(out[0], 30 + s.bias[0], 1e-5);
    nn_free(s.raw); nn_free(s.bias); nn_free(R); nn_free(draw); nn_free(db);
}

/* ---- RMSNorm, plain and gated ---- */
typedef struct { float *x, *z, *w, *rstd; int N, C, G, zs; } rn_case;
static void rn_fwd(void *ctx, float *out) {
    rn_case *r = ctx;
    rmsnorm_forward_eps(out, r->rstd, r->x, r->w, r->N, r->C, 1e-5f);
}
static void rng_fwd(void *ctx, float *out) {
    rn_case *r = ctx;
    rmsnorm_gated_forward(out, r->rstd, r->x, r->z, r->zs, r->w, r->N, r->C, r->G, 1e-5f);
}
static void test_rmsnorm(void) {
    rn_case r = { .N = 5, .C = 12, .G = 3, .zs = 20 };
    size_t NC = (size_t)r.N * r.C;
    r.x = randv(NC, 1); r.w = randv(r.C, 1); r.z = randv((size_t)r.N * r.zs, 1.5f);
    r.rstd = nn_alloc((size_t)r.N * r.G);
    float *R = randv(NC, 1), *out = nn_alloc(NC), *dx = nn_alloc(NC), *dw = nn_alloc(r.C);
    float *dz = nn_alloc((size_t)r.N * r.zs);
    rn_fwd(&r, out);
    rmsnorm_backward_eps(dx, dw, R, r.x, r.w, r.rstd, r.N, r.C);
    fd_case k = { .fwd = rn_fwd, .ctx = &r, .nout = NC, .nin = 2, .in = { r.x, r.w }, .n_in = { NC, (size_t)r.C },
                  .grad = { dx, dw }, .name = { "x", "w" } };
    fd_check("rmsnorm", &k, R, 1e-2f);
    nn_zero(dw, r.C);
    rng_fwd(&r, out);
    rmsnorm_gated_backward(dx, dz, r.zs, dw, R, r.x, r.z, r.zs, r.w, r.rstd, r.N, r.C, r.G);
    for (int n = 0; n < r.N; n++) for (int j = r.C; j < r.zs; j++) dz[(size_t)n * r.zs + j] = 0;
    fd_case kg = { .fwd = rng_fwd, .ctx = &r, .nout = NC, .nin = 3, .in = { r.x, r.z, r.w },
                   .n_in = { NC, (size_t)r.N * r.zs, (size_t)r.C }, .grad = { dx, dz, dw }, .name = { "y", "z", "w" } };
    fd_check("rmsnorm gated", &kg, R, 1e-2f);
    /* each group is normalised on its own: scaling one group's y leaves the others unchanged */
    float *o2 = nn_alloc(NC);
    for (int n = 0; n < r.N; n++) for (int i = 0; i < 4; i++) r.x[(size_t)n * r.C + i] *= 3;
    rng_fwd(&r, o2);
    CHECK(rel_err(o2 + 4, out + 4, 8) < 1e-6);
    nn_free(r.x); nn_free(r.w); nn_free(r.z); nn_free(r.rstd); nn_free(R); nn_free(out); nn_free(dx); nn_free(dw);
    nn_free(dz); nn_free(o2);
}

int main(void) {
    RUN(test_ssd_fd);
    RUN(test_ssd_step_equals_chunked);
    RUN(test_ssd_chunk_invariance);
    RUN(test_ssd_strong_decay);
    RUN(test_ssd_linear_attention);
    RUN(test_conv1d);
    RUN(test_softplus);
    RUN(test_rmsnorm);
    return t_done();
}
