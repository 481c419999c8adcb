/* pktlm's side of the Mamba-2 benchmark (bench/mamba2/run.sh): the same model as
 * torch_peer.py, through the library.
 *   bench train CTX BATCH STEPS   tokens/s of forward + backward + clipping + AdamW, peak RSS
 *   bench gen BATCH TOKENS        tokens/s of the recurrent step for BATCH sequences
 * Config from the environment as torch_peer.py's flags: M2_LAYERS (4), M2_DMODEL (256),
 * M2_DSTATE (128), M2_HEADDIM (64), M2_CHUNK (256), M2_VOCAB (272). Prints one JSON line. */
#include "models/model.h"
#include "util/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static int env(const char *k, int d) { const char *v = getenv(k); return v && *v ? atoi(v) : d; }
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static double peak_mib(void) { struct rusage u; getrusage(RUSAGE_SELF, &u); return u.ru_maxrss / 1024.0; }

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: bench train CTX BATCH STEPS | bench gen BATCH TOKENS\n"); return 2; }
    const int train = !strcmp(argv[1], "train");
    model_config c = { .arch = ARCH_MAMBA2, .vocab = env("M2_VOCAB", 272), .layers = env("M2_LAYERS", 4),
                       .d_model = env("M2_DMODEL", 256), .d_state = env("M2_DSTATE", 128),
                       .head_dim = env("M2_HEADDIM", 64), .chunk = env("M2_CHUNK", 256) };
    c.ctx = train ? atoi(argv[2]) : 4096;
    nn_set_threads(env("M2_THREADS", 2));
    model m;
    char err[256];
    if (model_create(&m, &c, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    model_init_weights(&m, 1);
    uint64_t rng = 3;
    if (train) {
        const int T = atoi(argv[2]), B = atoi(argv[3]), steps = argc > 4 ? atoi(argv[4]) : 3;
        if (model_alloc_training(&m) || model_alloc_acts(&m, B, T)) { fprintf(stderr, "out of memory\n"); return 1; }
        int *tok = malloc((size_t)B * T * sizeof(int)), *tgt = malloc((size_t)B * T * sizeof(int));
        for (int i = 0; i < B * T; i++) { tok[i] = (int)(splitmix64(&rng) % c.vocab); tgt[i] = (int)(splitmix64(&rng) % c.vocab); }
        adamw_params h = { .lr = 3e-4f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f };
        double tsum = 0;
        float loss = 0;
        for (int s = 0; s < 1 + steps; s++) {   /* one warm-up step */
            double t0 = now();
            loss = model_forward(&m, tok, tgt, B, T);
            model_zero_grad(&m);
            model_backward(&m, tok, tgt, B, T, 0);
            clip_grad_norm(m.grads, m.nparams, 1.0);
            model_adamw(&m, &h, s + 1);
            if (s > 0) tsum += now() - t0;
        }
        printf("{\"mode\":\"train\",\"ctx\":%d,\"batch\":%d,\"tok_per_s\":%.1f,\"peak_rss_mib\":%.1f,\"stated_mib\":%.1f,"
               "\"loss\":%.4f}\n", T, B, (double)B * T * steps / tsum, peak_mib(),
               model_memory_bytes(&m.cfg, B, T, 1) / 1048576.0, loss);
        free(tok); free(tgt);
    } else {
        const int B = atoi(argv[2]), N = atoi(argv[3]);
        model_run rs;
        if (model_run_init(&rs, &m, B, NN_FP32, 0, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
        float *logits = malloc((size_t)B * c.vocab * sizeof(float));
        int *tok = malloc((size_t)B * sizeof(int)), *slot = malloc((size_t)B * sizeof(int)), *pos = malloc((size_t)B * sizeof(int));
        for (int b = 0; b < B; b++) { tok[b] = b % c.vocab; slot[b] = b; }
        double t0 = 0;
        for (int i = 0; i < 5 + N; i++) {
            if (i == 5) t0 = now();
            for (int b = 0; b < B; b++) pos[b] = i;
            model_run_step_all(&rs, B, slot, tok, pos, logits);
            for (int b = 0; b < B; b++) {   /* greedy: the sampler is not what is measured */
                int best = 0;
                for (int v = 1; v < c.vocab; v++) if (logits[(size_t)b * c.vocab + v] > logits[(size_t)b * c.vocab + best]) best = v;
                tok[b] = best;
            }
        }
        printf("{\"mode\":\"gen\",\"batch\":%d,\"tok_per_s\":%.1f,\"peak_rss_mib\":%.1f}\n", B, (double)B * N / (now() - t0),
               peak_mib());
        model_run_free(&rs);
        free(logits); free(tok); free(slot); free(pos);
    }
    model_free(&m);
    return 0;
}
