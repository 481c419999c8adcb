/* Prefill against stepping a prompt token by token (docs/model.md "Prefill"): process CPU time
 * of one thread, so the figure holds on a loaded machine too. A 6-layer, d-256 model of backbone
 * ARCH (random weights; vocab 356, ctx 1024), batch 1, a prompt of LEN tokens; twice.
 * Build and run (after `make`):
 *   gcc -std=c11 -D_GNU_SOURCE -O2 -march=native -fopenmp -Isrc bench/generate/prefill.c build/rel/libpktlm.a \
 *     -L/usr/lib/x86_64-linux-gnu/blis-openmp -Wl,-rpath,/usr/lib/x86_64-linux-gnu/blis-openmp -lblis -lcjson -lm -o /tmp/prefill
 *   /tmp/prefill gpt2 512 */
#include "models/model.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <omp.h>
static double cpu(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: prefill ARCH LEN\n"); return 2; }
    model_config c = { .arch = model_arch_parse(argv[1]), .ctx = 1024, .layers = 6, .d_model = 256, .heads = 8, .vocab = 356 };
    int len = atoi(argv[2]);
    model m; char err[256];
    if (model_create(&m, &c, err, sizeof err)) { puts(err); return 1; }
    model_init_weights(&m, 1);
    model_run rs;
    if (model_run_init(&rs, &m, 1, NN_FP32, 1, err, sizeof err)) { puts(err); return 1; }
    int *tok = malloc(sizeof(int) * len); for (int i = 0; i < len; i++) tok[i] = (i * 37) % 356;
    float *lg = malloc(sizeof(float) * 356);
    for (int rep = 0; rep < 2; rep++) {
        model_run_reset(&rs, 0);
        double t0 = cpu();
        model_run_step_all(&rs, 1, (int[]){0}, tok, (int[]){0}, lg);
        for (int p = 1; p < len; p++) { int s = 0; model_run_step_all(&rs, 1, &s, tok + p, &p, lg); }
        double t1 = cpu();
        model_run_reset(&rs, 0);
        #pragma omp parallel num_threads(1)
        { model_run_team(&rs, 1); model_run_prefill(&rs, 0, 1, 0, tok, len, lg); }
        double t2 = cpu();
        printf("%s prompt %d: steps %.3f s CPU, prefill %.3f s CPU (%.1fx)\n", argv[1], len, t1 - t0, t2 - t1, (t1 - t0) / (t2 - t1));
    }
    return 0;
}
