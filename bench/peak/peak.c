/* The fp32 FMA peak of this CPU, measured: every thread runs independent chains of fused
 * multiply-adds on the widest vectors the build targets (AVX-512: 16 lanes, AVX2: 8), enough
 * chains to cover the FMA latency on two ports. A constant (lanes x FMA units x clock) would be
 * wrong on a CPU with another clock, half-width 512-bit units (Zen 4) or full-width ones
 * (Zen 5), or turbo under two busy cores; the benchmarks divide by what this prints.
 * Prints one JSON line: {"threads": N, "gflops_fp32": G, "vector_bits": B}.
 * Build: cc -O2 -march=native -fopenmp bench/peak/peak.c -o peak; run: ./peak [threads] */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__AVX512F__)
typedef __m512 vec;
#define VBITS 512
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ADD _mm512_add_ps
static float hsum(vec v) { return _mm512_reduce_add_ps(v); }
#elif defined(__AVX2__) && defined(__FMA__)
typedef __m256 vec;
#define VBITS 256
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ADD _mm256_add_ps
static float hsum(vec v) { float t[8]; _mm256_storeu_ps(t, v); return t[0]+t[1]+t[2]+t[3]+t[4]+t[5]+t[6]+t[7]; }
#else
#error "bench/peak needs AVX2+FMA or AVX-512"
#endif

#define CHAINS 12   /* 2 FMA ports x latency 4-6 cycles: 12 independent accumulators keep both busy */

static double run(long iters, float *sink) {
    double t0 = omp_get_wtime();
    float total = 0;
    #pragma omp parallel reduction(+:total)
    {
        /* twelve named accumulators: an array would be kept in memory by the compiler and
         * the loop would time store-to-load forwarding instead of the FMA units */
        vec a = SET1(0.999999f), b = SET1(1e-7f);
        vec c0 = SET1(0), c1 = SET1(1), c2 = SET1(2), c3 = SET1(3), c4 = SET1(4), c5 = SET1(5);
        vec c6 = SET1(6), c7 = SET1(7), c8 = SET1(8), c9 = SET1(9), c10 = SET1(10), c11 = SET1(11);
        for (long i = 0; i < iters; i++) {
            c0 = FMA(c0, a, b); c1 = FMA(c1, a, b); c2 = FMA(c2, a, b); c3 = FMA(c3, a, b);
            c4 = FMA(c4, a, b); c5 = FMA(c5, a, b); c6 = FMA(c6, a, b); c7 = FMA(c7, a, b);
            c8 = FMA(c8, a, b); c9 = FMA(c9, a, b); c10 = FMA(c10, a, b); c11 = FMA(c11, a, b);
        }
        vec s = ADD(ADD(ADD(c0, c1), ADD(c2, c3)), ADD(ADD(c4, c5), ADD(c6, c7)));
        s = ADD(s, ADD(ADD(c8, c9), ADD(c10, c11)));
        total += hsum(s);
    }
    *sink += total;
    return omp_get_wtime() - t0;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    omp_set_num_threads(threads);
    float sink = 0;
    long iters = 1000000;
    run(iters, &sink);                       /* warm-up: clocks up, threads started */
    double best = 1e30;
    for (int r = 0; r < 5; r++) { double t = run(iters * 20, &sink); if (t < best) best = t; }
    double flops = (double)threads * iters * 20 * CHAINS * (VBITS / 32) * 2;
    printf("{\"threads\": %d, \"gflops_fp32\": %.1f, \"vector_bits\": %d, \"sink\": %g}\n",
           threads, flops / best / 1e9, VBITS, (double)sink);
    return 0;
}
