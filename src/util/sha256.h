/* SHA-256 (FIPS 180-4), for the input file hashes of corpus manifests. */
#ifndef PKTLM_SHA256_H
#define PKTLM_SHA256_H
#include <stdint.h>
#include <stddef.h>

typedef struct {
    uint32_t h[8];
    uint64_t nbytes;
    uint8_t buf[64];
    size_t nbuf;
    int ni;          /* use the x86 SHA extensions (set by init when the CPU has them) */
} sha256_ctx;
void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
void sha256_final(sha256_ctx *c, uint8_t out[32]);
/* Hash a whole file; hex gets 64 characters + NUL. 0 ok, -1 cannot read. */
int sha256_file(const char *path, char hex[65]);
/* Hash all of fd with pread() (its file offset is not touched, so a reader may use fd at the
 * same time on another thread). 0 ok, -1 read error. */
int sha256_fd(int fd, char hex[65]);
#endif
