/* Short rows in the causal attention: every kernel (fp32 forward and backward, their NN_BF16
 * counterparts, and the one-query KV-cache step) for every T from 1 to twice the head size,
 * against a float64 reference. Rows shorter than the head size once overflowed the packing
 * buffer of a query tile (sized by T where it holds head-size columns): a heap overflow in
 * pretrain, finetune and classify whenever a sequence was shorter than about the head size.
 * The sanitizer build sees any out-of-bounds access; both builds check the numbers. */
#include "test.h"
#include "nn/nn.h"
#include "nn/attention.h"

static float *randv(size_t n, unsigned seed) {
    float *x = nn_alloc(n);
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2 - 1);
    }
    return x;
}

/* float64 reference: out (B,T,C), and with dout the gradients dqkv (B,T,3C) */
static void ref_attention(double *out, double *dqkv, const float *qkv, const float *dout, int B, int T, int C,
                          int NH) {
    const int hs = C / NH, C3 = 3 * C;
    const double scale = 1.0 / sqrt((double)hs);
    double *P = malloc(sizeof(double) * T * T), *dS = malloc(sizeof(double) * T * T);
    for (size_t i = 0; i < (size_t)B * T * C3; i++) dqkv[i] = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            const float *q = qkv + (size_t)b * T * C3 + h * hs, *k = q + C, *v = q + 2 * C;
            const float *dO = dout + (size_t)b * T * C + h * hs;
            double *o = out + (size_t)b * T * C + h * hs, *dq = dqkv + (size_t)b * T * C3 + h * hs;
            double *dk = dq + C, *dv = dq + 2 * C;
            for (int i = 0; i < T; i++) {
                double mx = -1e300, sum = 0;
                for (int j = 0; j <= i; j++) {
                    double s = 0;
                    for (int d = 0; d < hs; d++) s += (double)q[(size_t)i * C3 + d] * k[(size_t)j * C3 + d];
                    P[i * T + j] = s * scale;
                    if (P[i * T + j] > mx) mx = P[i * T + j];
                }
                for (int j = 0; j <= i; j++) { P[i * T + j] = exp(P[i * T + j] - mx); sum += P[i * T + j]; }
                for (int j = 0; j <= i; j++) P[i * T + j] /= sum;
                for (int d = 0; d < hs; d++) {
                    double s = 0;
                    for (int j = 0; j <= i; j++) s += P[i * T + j] * v[(size_t)j * C3 + d];
                    o[(size_t)i * C + d] = s;
                }
                double dot = 0;
                for (int j = 0; j <= i; j++) {
                    double dp = 0;
                    for (int d = 0; d < hs; d++) dp += (double)dO[(size_t)i * C + d] * v[(size_t)j * C3 + d];
                    dS[i * T + j] = dp;
                    dot += P[i * T + j] * dp;
                }
                for (int j = 0; j <= i; j++) dS[i * T + j] = P[i * T + j] * (dS[i * T + j] - dot) * scale;
                for (int j = 0; j <= i; j++)
                    for (int d = 0; d < hs; d++) {
                        dq[(size_t)i * C3 + d] += dS[i * T + j] * k[(size_t)j * C3 + d];
                        dk[(size_t)j * C3 + d] += dS[i * T + j] * q[(size_t)i * C3 + d];
                        dv[(size_t)j * C3 + d] += P[i * T + j] * dO[(size_t)i * C + d];
                    }
            }
        }
    free(P); free(dS);
}

/* largest |a - b| over the largest |b| */
static double err64(const float *a, const double *b, size_t n) {
    double md = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= md)) md = d;   /* NaN counts as the worst */
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    return md / (mb > 1e-12 ? mb : 1e-12);
}

/* One (head size, T): forward and backward at both precisions, and the KV-cache step for
 * every position. Returns the worst error seen (fp32 and step), bf16 separately. */
static void one_case(int hs, int T, double *worst32, double *worst16) {
    const int B = 2, NH = 2, C = hs * NH, C3 = 3 * C;
    const size_t N = (size_t)B * T;
    float *qkv = randv(N * C3, (unsigned)(hs * 1000 + T)), *dout = randv(N * C, (unsigned)(hs * 7 + T));
    float *att = nn_alloc((size_t)B * NH * T * T), *out = nn_alloc(N * C), *dq = nn_alloc(N * C3);
    int nt = 64;   /* scratch for up to 64 threads, as the models allocate it */
    float *scr = nn_alloc(attention_scratch_floats(T) * nt);
    double *ro = malloc(sizeof(double) * N * C), *rd = malloc(sizeof(double) * N * C3);
    ref_attention(ro, rd, qkv, dout, B, T, C, NH);
    for (int prec = NN_FP32; prec <= NN_BF16; prec++) {
        for (size_t i = 0; i < N * C; i++) out[i] = NAN;    /* both are overwritten */
        for (size_t i = 0; i < N * C3; i++) dq[i] = NAN;
        attention_forward_prec(out, att, qkv, B, T, C, NH, prec);
        attention_backward_prec(dq, dout, qkv, att, scr, B, T, C, NH, prec);
        double e = err64(out, ro, N * C), g = err64(dq, rd, N * C3);
        double *w = prec == NN_FP32 ? worst32 : worst16;
        if (e > *w) *w = e;
        if (g > *w) *w = g;
    }
    /* KV-cache step: K, V are the cache (B, T, C) of this qkv; query at pos sees 0..pos */
    float *K = nn_alloc(N * C), *V = nn_alloc(N * C), *q = nn_alloc((size_t)B * C), *so = nn_alloc((size_t)B * C);
    float *scores = nn_alloc((size_t)B * NH * T);
    for (size_t r = 0; r < N; r++) {
        memcpy(K + r * C, qkv + r * C3 + C, sizeof(float) * C);
        memcpy(V + r * C, qkv + r * C3 + 2 * C, sizeof(float) * C);
    }
    for (int pos = 0; pos < T; pos++) {
        double ref[2 * 128];
        for (int b = 0; b < B; b++) {
            memcpy(q + (size_t)b * C, qkv + ((size_t)b * T + pos) * C3, sizeof(float) * C);
            for (int c = 0; c < C; c++) ref[b * C + c] = ro[((size_t)b * T + pos) * C + c];
        }
        attention_step(so, q, C, K, V, C, B, NH, NH, hs, pos, T, scores);
        double e = err64(so, ref, (size_t)B * C);
        if (e > *worst32) *worst32 = e;
    }
    nn_free(K); nn_free(V); nn_free(q); nn_free(so); nn_free(scores);
    nn_free(qkv); nn_free(dout); nn_free(att); nn_free(out); nn_free(dq); nn_free(scr);
    free(ro); free(rd);
}

/* head sizes: one and two panels of 32, a partial second panel (40), and the models' 64 */
static void sweep(int hs) {
    double w32 = 0, w16 = 0;
    int bad_t = 0;
    for (int T = 1; T <= 2 * hs; T++) {
        double a = 0, b = 0;
        one_case(hs, T, &a, &b);
        if ((a > 1e-4 || !(b <= 3e-2)) && !bad_t) bad_t = T;
        if (a > w32) w32 = a;
        if (b > w16) w16 = b;
    }
    CHECKF(w32 <= 1e-4, "hs %d: fp32/step worst relative error %.3g (first bad T %d)", hs, w32, bad_t);
    CHECKF(w16 <= 3e-2, "hs %d: bf16 worst relative error %.3g (first bad T %d)", hs, w16, bad_t);
}
static void test_attention_short_hs8(void) { sweep(8); }
static void test_attention_short_hs16(void) { sweep(16); }
static void test_attention_short_hs32(void) { sweep(32); }
static void test_attention_short_hs40(void) { sweep(40); }
static void test_attention_short_hs64(void) { sweep(64); }

int main(void) {
    RUN(test_attention_short_hs8);
    RUN(test_attention_short_hs16);
    RUN(test_attention_short_hs32);
    RUN(test_attention_short_hs40);
    RUN(test_attention_short_hs64);
    return t_done();
}
