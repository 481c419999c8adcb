#include "util/sha256.h"
#include "util/util.h"
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <unistd.h>
#include <errno.h>

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t ror(uint32_t x, int n) { return x >> n | x << (32 - n); }

static void block(uint32_t h[8], const uint8_t *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++) w[i] = rd32be(p + 4 * i);
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = k + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#include <cpuid.h>
#define HAVE_SHANI 1
/* The SHA extensions do two rounds per sha256rnds2 on the state split as (A,B,E,F)
 * and (C,D,G,H); sha256msg1/msg2 extend the message schedule four words at a time.
 * About 5x the plain C rounds, which keeps input hashing off prep's critical path. */
__attribute__((target("sha,sse4.1,ssse3")))
static void blocks_ni(uint32_t h[8], const uint8_t *p, size_t nblocks) {
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bll, 0x0405060700010203ll);
    __m128i t = _mm_loadu_si128((const __m128i *)h);             /* A B C D */
    __m128i s1 = _mm_loadu_si128((const __m128i *)(h + 4));      /* E F G H */
    t = _mm_shuffle_epi32(t, 0xB1);                               /* B A D C */
    s1 = _mm_shuffle_epi32(s1, 0x1B);                             /* H G F E */
    __m128i s0 = _mm_alignr_epi8(t, s1, 8);                       /* ABEF */
    s1 = _mm_blend_epi16(s1, t, 0xF0);                            /* CDGH */
    for (; nblocks; nblocks--, p += 64) {
        __m128i save0 = s0, save1 = s1, m[4];
        for (int g = 0; g < 16; g++) {
            if (g < 4) m[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * g)), bswap);
            else {   /* W[4g..4g+3] from the four previous groups */
                __m128i x = _mm_sha256msg1_epu32(m[g & 3], m[(g + 1) & 3]);
                x = _mm_add_epi32(x, _mm_alignr_epi8(m[(g + 3) & 3], m[(g + 2) & 3], 4));
                m[g & 3] = _mm_sha256msg2_epu32(x, m[(g + 3) & 3]);
            }
            __m128i msg = _mm_add_epi32(m[g & 3], _mm_loadu_si128((const __m128i *)(K + 4 * g)));
            s1 = _mm_sha256rnds2_epu32(s1, s0, msg);
            msg = _mm_shuffle_epi32(msg, 0x0E);
            s0 = _mm_sha256rnds2_epu32(s0, s1, msg);
        }
        s0 = _mm_add_epi32(s0, save0);
        s1 = _mm_add_epi32(s1, save1);
    }
    t = _mm_shuffle_epi32(s0, 0x1B);                              /* F E B A */
    s1 = _mm_shuffle_epi32(s1, 0xB1);                             /* D C H G */
    s0 = _mm_blend_epi16(t, s1, 0xF0);                            /* D C B A */
    s1 = _mm_alignr_epi8(s1, t, 8);                               /* H G F E */
    _mm_storeu_si128((__m128i *)h, s0);
    _mm_storeu_si128((__m128i *)(h + 4), s1);
}
static int cpu_has_sha(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b >> 29) & 1;
}
#else
#define HAVE_SHANI 0
static void blocks_ni(uint32_t h[8], const uint8_t *p, size_t nblocks) { (void)h; (void)p; (void)nblocks; }
static int cpu_has_sha(void) { return 0; }
#endif

static void blocks(sha256_ctx *c, const uint8_t *p, size_t nblocks) {
    if (c->ni) blocks_ni(c->h, p, nblocks);
    else for (; nblocks; nblocks--, p += 64) block(c->h, p);
}

void sha256_init(sha256_ctx *c) {
    static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    memcpy(c->h, iv, sizeof iv);
    c->nbytes = 0; c->nbuf = 0;
    c->ni = cpu_has_sha();
}

void sha256_update(sha256_ctx *c, const void *data, size_t n) {
    const uint8_t *p = data;
    c->nbytes += n;
    if (c->nbuf) {
        size_t k = 64 - c->nbuf < n ? 64 - c->nbuf : n;
        memcpy(c->buf + c->nbuf, p, k);
        c->nbuf += k; p += k; n -= k;
        if (c->nbuf < 64) return;
        blocks(c, c->buf, 1);
        c->nbuf = 0;
    }
    blocks(c, p, n / 64);
    p += n / 64 * 64;
    n %= 64;
    memcpy(c->buf, p, n);
    c->nbuf = n;
}

void sha256_final(sha256_ctx *c, uint8_t out[32]) {
    uint64_t bits = c->nbytes * 8;
    uint8_t pad[72] = { 0x80 };
    size_t np = (c->nbuf < 56 ? 56 : 120) - c->nbuf;
    for (int i = 0; i < 8; i++) pad[np + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha256_update(c, pad, np + 8);
    for (int i = 0; i < 8; i++) wr32be(out + 4 * i, c->h[i]);
}

int sha256_file(const char *path, char hex[65]) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    size_t cap = 1 << 20;
    uint8_t *buf = malloc(cap);
    if (!buf) { close(fd); return -1; }
    sha256_ctx c;
    sha256_init(&c);
    ssize_t k;
    while ((k = read(fd, buf, cap)) > 0) sha256_update(&c, buf, (size_t)k);
    free(buf);
    close(fd);
    if (k < 0) return -1;
    uint8_t d[32];
    sha256_final(&c, d);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return 0;
}

int sha256_fd(int fd, char hex[65]) {
    size_t cap = 1 << 20;
    uint8_t *buf = malloc(cap);
    if (!buf) return -1;
    sha256_ctx c;
    sha256_init(&c);
    ssize_t k;
    off_t off = 0;
    while ((k = pread(fd, buf, cap, off)) != 0) {
        if (k < 0) { if (errno == EINTR) continue; break; }
        sha256_update(&c, buf, (size_t)k);
        off += k;
    }
    free(buf);
    if (k < 0) return -1;
    uint8_t d[32];
    sha256_final(&c, d);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return 0;
}
