/* nn_sgemm against a naive double-precision product: all four transpose cases, strides,
 * edge tiles (sizes not multiples of the 8 x 32 tile), K across several 256 blocks,
 * alpha/beta, and called inside a parallel region (as attention does). */
#include "test.h"
#include "nn/nn.h"
#include "util/util.h"
#include <omp.h>

static uint64_t rng = 9;
static void fill(float *p, size_t n) { for (size_t i = 0; i < n; i++) p[i] = (float)(rng_uniform(&rng) * 2 - 1); }

static double check_case(int ta, int tb, int M, int N, int K, float alpha, float beta, int pad) {
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
    float *A = nn_alloc(na), *B = nn_alloc(nb), *C = nn_alloc(nc), *C0 = nn_alloc(nc);
    fill(A, na); fill(B, nb); fill(C, nc);
    memcpy(C0, C, nc * sizeof(float));
    nn_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    double worst = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc; j++) {
            double ref;
            if (j >= N) ref = C0[(size_t)i * ldc + j];   /* padding untouched */
            else {
                double s = 0;
                for (int k = 0; k < K; k++)
                    s += (double)(ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]) *
                         (tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j]);
                ref = alpha * s + (beta == 0 ? 0 : beta * C0[(size_t)i * ldc + j]);
            }
            double e = fabs(ref - C[(size_t)i * ldc + j]) / (1 + fabs(ref));
            if (e > worst) worst = e;
        }
    nn_free(A); nn_free(B); nn_free(C); nn_free(C0);
    return worst;
}

static void test_shapes(void) {
    int shapes[][3] = { { 1, 1, 1 }, { 8, 32, 5 }, { 13, 37, 19 }, { 64, 96, 32 }, { 70, 33, 300 }, { 9, 100, 520 }, { 3, 17, 0 } };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                double e = check_case(ta, tb, M, N, K, 1.0f, 0.0f, 0);
                CHECKF(e < 5e-5, "ta %d tb %d %dx%dx%d err %g", ta, tb, M, N, K, e);
                e = check_case(ta, tb, M, N, K, 0.5f, 1.0f, 3);
                CHECKF(e < 5e-5, "beta=1 stride ta %d tb %d %dx%dx%d err %g", ta, tb, M, N, K, e);
                e = check_case(ta, tb, M, N, K, 2.0f, -0.5f, 1);
                CHECKF(e < 5e-5, "beta=-0.5 ta %d tb %d %dx%dx%d err %g", ta, tb, M, N, K, e);
            }
}

static void test_large_parallel(void) {
    int M = t_san() ? 100 : 300, N = 200, K = 260;
    CHECK(check_case(0, 1, M, N, K, 1.0f, 0.0f, 0) < 1e-5);
    CHECK(check_case(1, 0, M, N, K, 1.0f, 1.0f, 0) < 1e-5);
    /* many row blocks, B panels of a K block past L2, two K blocks */
    if (!t_san()) { double e = check_case(0, 1, 600, 300, 520, 1.0f, 0.0f, 1); CHECKF(e < 5e-5, "large err %g", e); }
    double worst = 0;
    #pragma omp parallel for reduction(max:worst) num_threads(2)
    for (int i = 0; i < 4; i++) {
        double e = check_case(i & 1, i >> 1, 40 + i, 50, 70, 1.0f, 1.0f, 2);
        if (e > worst) worst = e;
    }
    CHECK(worst < 1e-5);
}

/* nn_sgemm_bias must give the same bits as presetting C to the bias and accumulating
 * (K across two blocks, N with a partial panel, stride padding, A and B in every layout). */
static void test_bias(void) {
    int M = 37, N = 45, K = 600, ldc = N + 3;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int lda = ta ? M : K, ldb = tb ? K : N;
            float *A = nn_alloc((size_t)M * K), *B = nn_alloc((size_t)N * K), *bias = nn_alloc(N);
            float *C1 = nn_alloc((size_t)M * ldc), *C2 = nn_alloc((size_t)M * ldc);
            fill(A, (size_t)M * K); fill(B, (size_t)N * K); fill(bias, N);
            fill(C1, (size_t)M * ldc);
            memcpy(C2, C1, (size_t)M * ldc * sizeof(float));
            for (int i = 0; i < M; i++) memcpy(C1 + (size_t)i * ldc, bias, (size_t)N * sizeof(float));
            nn_sgemm(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 1.0f, C1, ldc);
            nn_sgemm_bias(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, bias, C2, ldc);
            int same = 1;
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) same &= C1[(size_t)i * ldc + j] == C2[(size_t)i * ldc + j];
            CHECKF(same, "bias ta %d tb %d", ta, tb);
            for (int i = 0; i < M; i++)   /* padding columns untouched */
                for (int j = N; j < ldc; j++) same &= C1[(size_t)i * ldc + j] == C2[(size_t)i * ldc + j];
            CHECKF(same, "bias padding ta %d tb %d", ta, tb);
            nn_free(A); nn_free(B); nn_free(bias); nn_free(C1); nn_free(C2);
        }
}

static void test_bf16_round(void) {
    /* 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to even (1); just above goes up */
    CHECK(nn_bf16_round(1.0f + 0x1p-8f) == 1.0f);
    CHECK(nn_bf16_round(1.0f + 0x1p-8f + 0x1p-20f) == 1.0f + 0x1p-7f);
    CHECK(nn_bf16_round(1.0f + 3 * 0x1p-8f) == 1.0f + 0x1p-6f);   /* tie, odd below: up to even */
    CHECK(nn_bf16_round(-3.0f) == -3.0f);
    CHECK(nn_bf16_round(0x1p-130f) == 0.0f);                       /* denormal: flushed */
    CHECK(isinf(nn_bf16_round(INFINITY)) && isnan(nn_bf16_round(NAN)));
    CHECK(isinf(nn_bf16_round(3.4e38f)));                          /* rounds past the largest bf16 */
    uint64_t r = 5;
    for (int i = 0; i < 10000; i++) {   /* on the bf16 grid, within half a bf16 ulp (2^(e-8) for x in [2^e, 2^(e+1))) */
        float x = (float)((rng_uniform(&r) * 2 - 1) * 1e3), y = nn_bf16_round(x);
        union { float f; uint32_t u; } v = { y };
        CHECKF((v.u & 0xffff) == 0 && fabsf(y - x) <= ldexpf(1.0f, ilogbf(x) - 8), "%g -> %g", x, y);
        if (t_cur_fail) break;
    }
}

/* NN_BF16 products against a float64 product of the bf16-rounded inputs: each product of two
 * bf16 is exact, so only the fp32 summation differs: bounded by ~K * 2^-24 * sum |a b|. The
 * error is measured against that sum, and must stay far below bf16's own 2^-9 (which a kernel
 * that truncated, or rounded differently from nn_bf16_round, would show). */
static double check_bf16(int ta, int tb, int M, int N, int K, float alpha, float beta, int pad, int bias) {
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
    float *A = nn_alloc(na), *B = nn_alloc(nb), *C = nn_alloc(nc), *C0 = nn_alloc(nc), *bv = nn_alloc(N);
    fill(A, na); fill(B, nb); fill(C, nc); fill(bv, N);
    memcpy(C0, C, nc * sizeof(float));
    if (bias) nn_gemm_bias(NN_BF16, ta, tb, M, N, K, alpha, A, lda, B, ldb, bv, C, ldc);
    else nn_gemm(NN_BF16, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    double worst = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc; j++) {
            double ref, mag = 1;
            if (j >= N) ref = C0[(size_t)i * ldc + j];
            else {
                double s = 0, sa = 0;
                for (int k = 0; k < K; k++) {
                    double p = (double)nn_bf16_round(ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]) *
                               nn_bf16_round(tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j]);
                    s += p; sa += fabs(p);
                }
                ref = alpha * s + (bias ? bv[j] : beta == 0 ? 0 : beta * C0[(size_t)i * ldc + j]);
                mag = fabs(alpha) * sa + fabs(ref);
            }
            double e = fabs(ref - C[(size_t)i * ldc + j]) / (mag > 1e-30 ? mag : 1);
            if (e > worst) worst = e;
        }
    nn_free(A); nn_free(B); nn_free(C); nn_free(C0); nn_free(bv);
    return worst;
}

static void test_bf16_gemm(void) {
    /* odd K (a pair with no partner), K across two 512 blocks, edge tiles, every layout */
    int shapes[][3] = { { 1, 1, 1 }, { 8, 32, 5 }, { 13, 37, 19 }, { 70, 33, 300 }, { 9, 100, 521 }, { 30, 64, 1030 } };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                double e = check_bf16(ta, tb, M, N, K, 1.0f, 0.0f, 0, 0);
                CHECKF(e < 1e-6, "bf16 ta %d tb %d %dx%dx%d err %g", ta, tb, M, N, K, e);
                e = check_bf16(ta, tb, M, N, K, 0.5f, 1.0f, 3, 0);
                CHECKF(e < 1e-6, "bf16 beta=1 ta %d tb %d %dx%dx%d err %g", ta, tb, M, N, K, e);
                e = check_bf16(ta, tb, M, N, K, 2.0f, 0.0f, 1, 1);
                CHECKF(e < 1e-6, "bf16 bias ta %d tb %d %dx%dx%d err %g", ta, tb, M, N, K, e);
            }
    /* large enough to run on all threads; and nested in a parallel region (one thread) */
    CHECK(check_bf16(1, 0, t_san() ? 60 : 200, 150, 700, 1.0f, 1.0f, 0, 0) < 1e-6);
    CHECK(check_bf16(0, 1, t_san() ? 60 : 300, 200, 260, 1.0f, 0.0f, 0, 1) < 1e-6);
    if (!t_san()) CHECK(check_bf16(0, 0, 1010, 520, 600, 1.0f, 0.0f, 1, 1) < 1e-6);   /* many row blocks */
    double worst = 0;
    #pragma omp parallel for reduction(max:worst) num_threads(2)
    for (int i = 0; i < 4; i++) {
        double e = check_bf16(i & 1, i >> 1, 40 + i, 50, 70, 1.0f, 1.0f, 2, 0);
        if (e > worst) worst = e;
    }
    CHECK(worst < 1e-6);
    printf("  bf16 products: %s\n", nn_bf16_native() ? "avx512_bf16 kernel" : "emulated (no avx512_bf16 on this CPU)");
}

int main(void) {
    (void)t_shared; (void)t_tmpdir;
    RUN(test_shapes);
    RUN(test_large_parallel);
    RUN(test_bias);
    RUN(test_bf16_round);
    RUN(test_bf16_gemm);
    return t_done();
}
