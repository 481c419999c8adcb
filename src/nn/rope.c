/* Rotary position embedding: see rope.h. */
#include "nn/rope.h"
#include <math.h>
#include <stddef.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

void rope_angles(float *cs, int pos, int hs, double theta) {
    int h2 = hs / 2;
    for (int i = 0; i < h2; i++) {
        double a = pos * pow(theta, -2.0 * i / hs);
        cs[i] = (float)cos(a); cs[h2 + i] = (float)sin(a);
    }
}

void rope_row(float *x, int nh, int hs, const float *cs, int pairing, int inverse) {
    const int h2 = hs / 2;
    const float sg = inverse ? -1.0f : 1.0f;
    /* the two elements of pair i: (i, i + h2) or (2i, 2i + 1) */
#ifdef __AVX512F__
    if (pairing == ROPE_INTERLEAVED && hs % 16 == 0 && hs <= 256) {
        /* 8 pairs per vector: cos and +-sin duplicated into both lanes of a pair, the pair
         * swapped in register; a*co + b*(-si) is the scalar loop's a*co - b*si, bit for bit */
        const __m512i dup = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
        const __m512 sign = _mm512_mul_ps(_mm512_set1_ps(sg), _mm512_set_ps(1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1));
        __m512 c[16], s[16];
        const int nv = hs / 16;
        for (int j = 0; j < nv; j++) {
            c[j] = _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(_mm256_loadu_ps(cs + 8 * j)));
            s[j] = _mm512_mul_ps(sign, _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(_mm256_loadu_ps(cs + h2 + 8 * j))));
        }
        for (int h = 0; h < nh; h++)
            for (int j = 0; j < nv; j++) {
                float *p = x + (size_t)h * hs + 16 * j;
                __m512 a = _mm512_loadu_ps(p);
                _mm512_storeu_ps(p, _mm512_add_ps(_mm512_mul_ps(a, c[j]), _mm512_mul_ps(_mm512_permute_ps(a, 0xB1), s[j])));
            }
        return;
    }
#endif
    const int step = pairing == ROPE_INTERLEAVED ? 2 : 1, other = pairing == ROPE_INTERLEAVED ? 1 : h2;
    for (int h = 0; h < nh; h++) {
        float *p = x + (size_t)h * hs;
        for (int i = 0; i < h2; i++) {
            float *u = p + step * i, *w = u + other;
            float co = cs[i], si = sg * cs[h2 + i], a = *u, b = *w;
            *u = a * co - b * si;
            *w = b * co + a * si;
        }
    }
}

void rope_rows(float *x, int ld, int nh, int hs, const float *cs, int N, int T, int pairing, int inverse) {
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) rope_row(x + (size_t)n * ld, nh, hs, cs + (size_t)(n % T) * hs, pairing, inverse);
}
