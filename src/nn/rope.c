/* Rotary position embedding: see rope.h. */
#include "nn/rope.h"
#include <math.h>
#include <stddef.h>

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
