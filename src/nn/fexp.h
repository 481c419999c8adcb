/* A fast exp for vector loops (nn.c, ssd.c, conv1d.c, rmsnorm.c): Cephes-style polynomial on
 * [-ln2/2, ln2/2], the exponent by a bit shift; ~1 ulp, clamped to [-87, 88]. Inline, so a loop
 * that calls it vectorises (nn_expf, the out-of-line copy, would stay scalar). */
#ifndef PKTLM_NN_FEXP_H
#define PKTLM_NN_FEXP_H
#include <stdint.h>

typedef union { int32_t i; float f; } nn_f32_bits;
static inline float nn_fexp(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    /* round to nearest by the 1.5*2^23 trick: floorf() would stop gcc from vectorising */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500E-4f;
    p = p * r + 1.3981999507E-3f;
    p = p * r + 8.3334519073E-3f;
    p = p * r + 4.1665795894E-2f;
    p = p * r + 1.6666665459E-1f;
    p = p * r + 5.0000001201E-1f;
    p = p * r * r + r + 1.0f;
    nn_f32_bits u;
    u.i = ((int32_t)n + 127) << 23;   /* 2^n; a union (not memcpy) so gcc vectorises it */
    return p * u.f;
}
#endif
