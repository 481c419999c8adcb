/* Training and generation throughput of one backbone, through the library (bench/linattn/run.sh
 * compiles it against build/rel/libpktlm.a). Prints one JSON line:
 *   {"arch":..., "T":..., "B":..., "train_tok_s":..., "gen_tok_s":..., "mem_gib":...}
 * Training: steps of model_forward + model_backward + clipping + AdamW on random tokens (one
 * warm-up step untimed), tokens/s = B*T per step. Generation, timed first (before training
 * has allocated anything): batch 1, model_step at the positions T-G .. T-1 (the attention cost
 * of a KV cache grows with the position, the recurrent state's does not), after 8 untimed
 * tokens, 3 passes from a reset slot, tokens/s of the median pass; every backbone through its
 * decoding step (model_run, what `pktlm generate` runs). Either is skipped (-1) when its memory
 * (model_memory_bytes) exceeds --max-gib.
 *
 *   bench_linattn ARCH T B STEPS G THREADS MAX_GIB [layers d heads d_ff vocab] */
#include "models/model.h"
#include "util/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 8) { fprintf(stderr, "usage: %s ARCH T B STEPS G THREADS MAX_GIB [L C NH F V]\n", argv[0]); return 2; }
    model_config c = { .arch = model_arch_parse(argv[1]), .ctx = atoi(argv[2]), .layers = 8, .d_model = 256,
                       .heads = 8, .d_ff = 1024, .vocab = 300 };
    const int T = c.ctx, B = atoi(argv[3]), steps = atoi(argv[4]), G = atoi(argv[5]);
    const double max_gib = atof(argv[7]);
    if (argc >= 13) {
        c.layers = atoi(argv[8]); c.d_model = atoi(argv[9]); c.heads = atoi(argv[10]); c.d_ff = atoi(argv[11]);
        c.vocab = atoi(argv[12]);
    }
    if (c.arch == ARCH_GPT2) c.tied = 1;
    nn_set_threads(atoi(argv[6]));
    model m;
    char err[256];
    if (model_create(&m, &c, err, sizeof err) != 0) { fprintf(stderr, "%s\n", err); return 1; }
    model_init_weights(&m, 1);
    double need = model_memory_bytes(&m.cfg, B, T, 1) / 1073741824.0;
    double train = -1, gen = -1;
    uint64_t rng = 3;
    /* generation first, in a process that has allocated nothing else yet: a few untimed tokens,
     * then 3 passes over the same G positions from a reset state; the median pass */
    const double slot_mib = m.ops->slot_bytes(&m.cfg, NN_FP32) / 1048576.0;
    double gneed = model_memory_bytes(&m.cfg, 1, 1, 0) / 1073741824.0 + slot_mib / 1024.0;
    if (G > 0 && gneed <= max_gib) {
        float *logits = malloc((size_t)c.vocab * sizeof(float));
        model_run rs;
        if (model_run_init(&rs, &m, 1, NN_FP32, 0, err, sizeof err) != 0) { fprintf(stderr, "%s\n", err); return 1; }
        int tk = 1, slot = 0;
        double pass[3];
        for (int r = -1; r < 3; r++) {
            model_run_reset(&rs, slot);
            const int p0 = r < 0 ? (T - 8 > 0 ? T - 8 : 0) : T - G;   /* r = -1: warm-up */
            double t0 = now();
            for (int p = p0; p < T; p++) {
                model_run_step_all(&rs, 1, &slot, &tk, &p, logits);
                tk = (int)(splitmix64(&rng) % c.vocab);
            }
            if (r >= 0) pass[r] = G / (now() - t0);
        }
        double lo = pass[0] < pass[1] ? pass[0] : pass[1], hi = pass[0] < pass[1] ? pass[1] : pass[0];
        gen = pass[2] < lo ? lo : (pass[2] > hi ? hi : pass[2]);
        model_run_free(&rs);
        free(logits);
    }
    if (need <= max_gib && steps > 0) {
        int *tok = malloc((size_t)B * (T + 1) * sizeof(int)), *tgt = malloc((size_t)B * T * sizeof(int));
        for (int i = 0; i < B * (T + 1); i++) tok[i] = (int)(splitmix64(&rng) % c.vocab);
        for (int i = 0; i < B * T; i++) tgt[i] = tok[i + 1];
        if (model_alloc_training(&m) || model_alloc_acts(&m, B, T)) { fprintf(stderr, "out of memory\n"); return 1; }
        m.training = 1;
        adamw_params h = { .lr = 1e-4f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f };
        double t0 = 0;
        for (int s = 0; s <= steps; s++) {
            if (s == 1) t0 = now();
            model_forward(&m, tok, tgt, B, T);
            model_zero_grad(&m);
            model_backward(&m, tok, tgt, B, T, 0);
            clip_grad_norm(m.grads, m.nparams, 1.0);
            model_adamw(&m, &h, s + 1);
        }
        train = (double)B * T * steps / (now() - t0);
        free(tok); free(tgt);
    }
    printf("{\"arch\":\"%s\",\"T\":%d,\"B\":%d,\"layers\":%d,\"d_model\":%d,\"heads\":%d,\"d_ff\":%d,\"vocab\":%d,"
           "\"params\":%zu,\"train_tok_s\":%.1f,\"gen_tok_s\":%.1f,\"train_mem_gib\":%.3f,\"gen_state_mib\":%.3f}\n",
           argv[1], T, B, c.layers, c.d_model, c.heads, c.d_ff, c.vocab, m.nparams, train, gen, need,
           slot_mib);
    model_free(&m);
    return 0;
}
