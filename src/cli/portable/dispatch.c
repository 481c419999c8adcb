/* pktlm-portable: one binary for every x86-64 CPU (the packaged-binary case).
 *
 * The whole program (library and CLI) is compiled three times, for x86-64-v4 (AVX-512),
 * x86-64-v3 (AVX2 + FMA) and plain x86-64 (SSE2), and each copy's global symbols are renamed
 * with a prefix (v4_, v3_, v1_: see the Makefile's `portable` rules). This file is the only
 * code that is not copied: it asks the CPU what it has and calls that copy's main(). Why whole
 * copies rather than dispatch per kernel: every hot loop of pktlm (gemm packing, attention,
 * the scans, layer norms, the samplers, the ingest path) is written once in plain C and left to
 * the compiler to vectorise for the target, so per-kernel dispatch would mean a function-pointer
 * table over hundreds of functions, and a loop forgotten in it would silently run at SSE2
 * speed. A whole copy per level is ~3 MB each and runs exactly what the native build of that
 * level runs. The AVX512_BF16 paths are chosen at run time inside the v4 copy, as in the native
 * build.
 *
 * PKTLM_CPU=avx512|avx2|generic forces a copy (tests use it to run the AVX2 and SSE2 code on
 * an AVX-512 machine); a forced copy the CPU cannot run is refused. The copy that runs is put
 * in PKTLM_CPU_RUNNING for `pktlm --version`. */
#include <cpuid.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int v4_main(int argc, char **argv);
int v3_main(int argc, char **argv);
int v1_main(int argc, char **argv);

static int has_v4(void) {   /* x86-64-v4: AVX-512 F, BW, CD, DQ, VL on top of v3 */
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
}
static int has_v3(void) {   /* x86-64-v3: AVX, AVX2, FMA, BMI1/2, F16C, MOVBE, LZCNT */
    unsigned a, b, c, d;     /* F16C and MOVBE from CPUID leaf 1 (ECX bits 29, 22): clang's
                                __builtin_cpu_supports does not know their names */
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 29)) || !(c & (1u << 22))) return 0;
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
}

int main(int argc, char **argv) {
    __builtin_cpu_init();
    const char *force = getenv("PKTLM_CPU");
    int level = has_v4() ? 4 : has_v3() ? 3 : 1;
    if (force && *force) {
        int want = !strcmp(force, "avx512") ? 4 : !strcmp(force, "avx2") ? 3 : !strcmp(force, "generic") ? 1 : 0;
        if (!want) {
            fprintf(stderr, "pktlm: PKTLM_CPU=%s: expected avx512, avx2 or generic\n", force);
            return 2;
        }
        if (want > level) {
            fprintf(stderr, "pktlm: PKTLM_CPU=%s: this CPU cannot run that code (it has %s)\n", force,
                    level == 4 ? "avx512" : level == 3 ? "avx2" : "generic only");
            return 2;
        }
        level = want;
    }
    setenv("PKTLM_CPU_RUNNING", level == 4 ? "avx512 (x86-64-v4)" : level == 3 ? "avx2 (x86-64-v3)" : "generic (x86-64)", 1);
    return level == 4 ? v4_main(argc, argv) : level == 3 ? v3_main(argc, argv) : v1_main(argc, argv);
}
