/* Decoding through the backbone interface (model.h: model_run), for EVERY registered backbone:
 *  - the step equals the training forward (the plain reference path): each row's logits are
 *    forward's logits at its position within 1e-5 relative (fp32), with rows in shuffled slots
 *    that start at different times, end, are reset and start a new sequence in the same slot;
 *  - a row's logits do not depend on the other rows or the batch (bit-identical alone);
 *  - bf16 weights stay close (1e-2 of the logits' scale);
 *  - prefill (the backbone's or the front's token-by-token one) leaves the slot as steps do;
 * and the kernels themselves: the panel product against a plain triple loop (fp32 exact order
 * is not promised: 1e-5 relative), nn_attend against the plain attention_step. */
#include "test.h"
#include "models/model.h"
#include "nn/decode.h"
#include "nn/nn.h"
#include "nn/attention.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* a small model of backbone a whose every term matters (perturbed from its init) */
static int make(model *m, int arch, int vocab, int ctx, int d_model, int heads) {
    model_config c = { 0 };
    c.arch = arch; c.vocab = vocab; c.ctx = ctx; c.layers = 2; c.d_model = d_model; c.heads = heads;
    if (arch == ARCH_QWEN2) { c.kv_heads = 2; c.rope_theta = 5000; }
    if (arch == ARCH_MAMBA2) { c.head_dim = 16; c.d_state = 16; c.chunk = 8; }   /* heads of 16, chunks < ctx */
    model_config_defaults(&c);
    char err[256];
    if (model_create(m, &c, err, sizeof err) != 0) { printf("  %s\n", err); return -1; }
    model_init_weights(m, 3);
    uint64_t r = 9;
    for (size_t i = 0; i < m->nparams; i++) m->params[i] += 0.05f * nn_randn(&r);
    return 0;
}

/* forward's logits at every position of seq (filled to ctx): forward is causal, so row p
 * depends on seq[0..p] only and is what a step at position p must give */
static void ref_logits(model *m, const int *seq, float *out) {
    const int T = m->cfg.ctx;
    model_alloc_acts(m, 1, T);
    model_forward(m, seq, NULL, 1, T);
    memcpy(out, m->logits, sizeof(float) * T * m->cfg.vocab);
}

enum { NB = 7, MAXT = 40 };

/* head size 12 (the attention's scalar value sums) or 32 (its vector ones) */
static void check_backbone(int arch, int prec, int d_model, int heads) {
    model m;
    const int V = 37, ctx = 35;   /* >= the head size: see issue 13 (training attention, short rows) */
    if (make(&m, arch, V, ctx, d_model, heads) != 0) { CHECK(!"model"); return; }
    for (int B = 1; B <= NB; B += NB - 1) {
        model_run rs;
        char err[256];
        int rc = model_run_init(&rs, &m, B, prec, 0, err, sizeof err);
        if (prec == NN_BF16 && rc == -2) { model_free(&m); return; }   /* no AVX-512 in this build */
        CHECKF(rc == 0, "%s", err);
        if (rc) break;
        /* slot s runs sequences one after another: sequence j of slot s has length
         * len = 3 + (s * 5 + j * 7) % (ctx - 2) and starts after a pause of s % 3 steps */
        int seq[NB][MAXT], len[NB], pos[NB], wait[NB], nseq[NB];
        for (int s = 0; s < B; s++) { pos[s] = -1; wait[s] = s % 3; nseq[s] = 0; }
        float *lg = malloc(sizeof(float) * NB * V), *ref = malloc(sizeof(float) * NB * ctx * V);
        double worst = 0, scale = 0;
        int rows_checked = 0, resets = 0;
        for (int step = 0; step < 3 * ctx; step++) {
            int n = 0, slot[NB], tok[NB], ps[NB];
            for (int k = 0; k < B; k++) {
                int s = (k * 3 + 1) % B;   /* rows in shuffled slot order */
                if (pos[s] < 0) {
                    if (wait[s]-- > 0) continue;
                    model_run_reset(&rs, s);
                    resets++;
                    len[s] = 3 + (s * 5 + nseq[s]++ * 7) % (ctx - 2);
                    for (int i = 0; i < ctx; i++) seq[s][i] = (i * 31 + s * 7 + nseq[s] * 13) % V;
                    ref_logits(&m, seq[s], ref + (size_t)s * ctx * V);
                    pos[s] = 0;
                }
                slot[n] = s; tok[n] = seq[s][pos[s]]; ps[n] = pos[s]; n++;
            }
            if (!n) continue;
            model_run_step_all(&rs, n, slot, tok, ps, lg);
            for (int i = 0; i < n; i++) {
                int s = slot[i];
                const float *rf = ref + ((size_t)s * ctx + ps[i]) * V;
                for (int v = 0; v < V; v++) {
                    worst = fmax(worst, fabs(lg[(size_t)i * V + v] - rf[v]));
                    scale = fmax(scale, fabs(rf[v]));
                }
                rows_checked++;
                if (++pos[s] == len[s]) { pos[s] = -1; wait[s] = 1; }
            }
        }
        CHECK(rows_checked > 2 * ctx && resets > B);
        printf("  %s hs %d %s B=%d: %d rows, %d resets, largest difference %.2e of logits up to %.2f\n", model_arch_name(arch),
               d_model / heads, prec == NN_FP32 ? "fp32" : "bf16", B, rows_checked, resets, worst, scale);
        if (prec == NN_FP32)
            CHECKF(worst <= 1e-5 * scale, "%s B=%d: step vs forward largest difference %g (logits up to %g)",
                   model_arch_name(arch), B, worst, scale);
        else
            CHECKF(worst < 1e-2 * scale && worst > 0, "%s bf16 B=%d: largest difference %g (logits up to %g)",
                   model_arch_name(arch), B, worst, scale);
        if (B > 1) {
            /* one sequence alone (batch 1) and as row 3 among B: bit-identical logits */
            model_run r1;
            CHECK_EQ(model_run_init(&r1, &m, 1, prec, 0, err, sizeof err), 0);
            float *l1 = malloc(sizeof(float) * V);
            int s0 = 0, same = 1;
            for (int s = 0; s < B; s++) model_run_reset(&rs, s);
            model_run_reset(&r1, 0);
            for (int p = 0; p < ctx; p++) {
                int slot[NB], tok[NB], ps[NB], t1 = (p * 31 + 3 * 7) % V;
                for (int k = 0; k < B; k++) { slot[k] = k; ps[k] = p; tok[k] = (p * 31 + k * 7) % V; }
                model_run_step_all(&rs, B, slot, tok, ps, lg);
                model_run_step_all(&r1, 1, &s0, &t1, &p, l1);
                if (memcmp(l1, lg + 3 * V, sizeof(float) * V)) same = 0;
            }
            CHECKF(same, "%s prec %d: a row's logits depend on the other rows", model_arch_name(arch), prec);
            /* prefill of a prompt == the same tokens stepped (slot 2 of rs vs slot 0 of r1) */
            int prompt[12];
            for (int i = 0; i < 12; i++) prompt[i] = (i * 11 + 5) % V;
            model_run_reset(&r1, 0);
            model_run_reset(&rs, 2);
            for (int p = 0; p < 12; p++) model_run_step_all(&r1, 1, &s0, prompt + p, &p, l1);
            #pragma omp parallel num_threads(rs.nthreads)
            {
                #pragma omp single
                model_run_team(&rs, omp_get_num_threads());
                model_run_prefill(&rs, omp_get_thread_num(), omp_get_num_threads(), 2, prompt, 12, lg);
            }
            CHECKF(rel_err(lg, l1, (size_t)V) <= (prec == NN_FP32 ? 1e-5 : 1e-2), "%s prefill vs steps %g", model_arch_name(arch),
                   rel_err(lg, l1, (size_t)V));
            model_run_free(&r1);
            free(l1);
        }
        free(lg); free(ref);
        model_run_free(&rs);
    }
    model_free(&m);
}

static void test_step_matches_forward(void) {
    int n = 0;
    for (int a = 1; a < ARCH_MAX; a++)
        if (model_backbones[a].ops) {
            if (!t_san()) check_backbone(a, NN_FP32, 48, 4);   /* the sanitizer build: one shape */
            check_backbone(a, NN_FP32, 64, 2);
            n++;
        }
    CHECK(n >= 2);
}
static void test_step_bf16(void) {
    for (int a = 1; a < ARCH_MAX; a++)
        if (model_backbones[a].ops) {
            if (!t_san()) check_backbone(a, NN_BF16, 48, 4);
            check_backbone(a, NN_BF16, 64, 2);
        }
}

/* the panel product against a plain loop, for sizes that use partial panels, odd IN, every
 * row-tile size, a worker's panel range, bias and the three modes */
static void test_panels(void) {
    uint64_t r = 5;
    const int OUT = 45, IN = 37, n = 8;
    float *W = malloc(sizeof(float) * OUT * IN), *x = malloc(sizeof(float) * n * IN), *b = malloc(sizeof(float) * OUT);
    float *y = malloc(sizeof(float) * n * OUT), *ref = malloc(sizeof(float) * n * OUT);
    for (int i = 0; i < OUT * IN; i++) W[i] = nn_randn(&r);
    for (int i = 0; i < n * IN; i++) x[i] = nn_randn(&r);
    for (int i = 0; i < OUT; i++) b[i] = nn_randn(&r);
    for (int bf = 0; bf <= 1; bf++) {
        if (bf && !nn_panels_bf16_ok()) continue;
        nn_panels P;
        void *mem = NULL;
        CHECK(posix_memalign(&mem, 64, nn_panels_bytes(OUT, IN, bf)) == 0);
        nn_panels_pack(&P, mem, W, (size_t)IN, OUT, IN, bf);
        for (int mode = NN_PM_STORE; mode <= NN_PM_GELU; mode++)
            for (int rows = 1; rows <= n; rows++) {
                for (int i = 0; i < rows * OUT; i++) y[i] = ref[i] = 0.5f;
                for (int i = 0; i < rows; i++)
                    for (int o = 0; o < OUT; o++) {
                        double s = b[o];
                        for (int k = 0; k < IN; k++)
                            s += (double)x[i * IN + k] * (bf ? nn_bf16_round(W[o * IN + k]) : W[o * IN + k]);
                        float v = (float)s;
                        ref[i * OUT + o] = mode == NN_PM_ADD ? ref[i * OUT + o] + v : mode == NN_PM_GELU ? nn_gelu1(v) : v;
                    }
                /* two workers' ranges */
                nn_panels_matmul(y, (size_t)OUT, x, (size_t)IN, &P, b, rows, 0, 1, mode);
                nn_panels_matmul(y, (size_t)OUT, x, (size_t)IN, &P, b, rows, 1, nn_panels_count(OUT), mode);
                CHECKF(rel_err(y, ref, (size_t)rows * OUT) < 1e-5, "bf16 %d mode %d rows %d: %g", bf, mode, rows,
                       rel_err(y, ref, (size_t)rows * OUT));
            }
        free(mem);
    }
    free(W); free(x); free(b); free(y); free(ref);
}

/* nn_attend over a cache filled by nn_kv_store against attention_step (grouped heads) */
static void test_attend(void) {
    uint64_t r = 11;
    const int hs = 24, ctx = 37, P = 33;
    float *k = malloc(sizeof(float) * ctx * hs), *v = malloc(sizeof(float) * ctx * hs), q[24], out[24], ref[24];
    float *sc = malloc(sizeof(float) * nn_kv_tp(ctx)), *scores = malloc(sizeof(float) * ctx);
    for (int i = 0; i < ctx * hs; i++) { k[i] = nn_randn(&r); v[i] = nn_randn(&r); }
    for (int i = 0; i < hs; i++) q[i] = nn_randn(&r);
    void *kv = NULL;
    CHECK(posix_memalign(&kv, 64, nn_kv_bytes(hs, ctx, 0)) == 0);
    for (int p = 0; p <= P; p++) nn_kv_store(kv, hs, ctx, 0, p, k + p * hs, v + p * hs);
    nn_attend(out, q, kv, hs, ctx, 0, P, 1.0f / sqrtf((float)hs), sc);
    attention_step(ref, q, hs, k, v, hs, 1, 1, 1, hs, P, ctx, scores);
    CHECKF(rel_err(out, ref, (size_t)hs) < 1e-5, "attend vs attention_step %g", rel_err(out, ref, (size_t)hs));
    free(kv); free(k); free(v); free(sc); free(scores);
}

int main(void) {
    (void)t_shared; (void)t_tmpdir; (void)cosine;
    RUN(test_panels);
    RUN(test_attend);
    RUN(test_step_matches_forward);
    RUN(test_step_bf16);
    return t_done();
}
