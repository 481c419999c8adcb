#include "util/input.h"
#include "util/sha256.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

/* Copy fd (a stream) into an unlinked temporary file, hashing it on the way. */
static int spool(input_file *in, int src, const char *path, char *err, size_t errlen) {
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/pktlm-input.XXXXXX", dir);
    int fd = mkstemp(tmpl);
    if (fd < 0) { int e = errno; snprintf(err, errlen, "%s: cannot copy to a temporary file in %s: %s", path, dir, strerror(e)); errno = e; return -1; }
    unlink(tmpl);   /* gone when closed, even after a crash */
    size_t cap = 1 << 20;
    unsigned char *buf = malloc(cap);
    if (!buf) { close(fd); snprintf(err, errlen, "%s: out of memory", path); errno = ENOMEM; return -1; }
    sha256_ctx c;
    sha256_init(&c);
    uint64_t total = 0;
    int e = 0;
    for (;;) {
        ssize_t k = read(src, buf, cap);
        if (k == 0) break;
        if (k < 0) {   /* EINTR: a stop signal (cli_catch_interrupt's handlers do not restart reads) */
            e = errno;
            snprintf(err, errlen, e == EINTR ? "%s: interrupted" : "%s: read error: %s", path, strerror(e));
            break;
        }
        sha256_update(&c, buf, (size_t)k);
        for (ssize_t o = 0; o < k;) {
            ssize_t w = write(fd, buf + o, (size_t)(k - o));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) { e = w < 0 ? errno : ENOSPC; break; }
            o += w;
        }
        if (e) { snprintf(err, errlen, "%s: cannot copy to a temporary file in %s: %s", path, dir, strerror(e)); break; }
        total += (uint64_t)k;
    }
    free(buf);
    if (e) { close(fd); errno = e; return -1; }
    uint8_t d[32];
    sha256_final(&c, d);
    for (int i = 0; i < 32; i++) snprintf(in->sha + 2 * i, 3, "%02x", d[i]);
    in->fd = fd; in->open = 1; in->spooled = 1; in->size = total;
    if (lseek(fd, 0, SEEK_SET) != 0) { e = errno; input_close(in); snprintf(err, errlen, "%s: %s", path, strerror(e)); errno = e; return -1; }
    return 0;
}

int input_open(input_file *in, const char *path, char *err, size_t errlen) {
    memset(in, 0, sizeof *in);
    in->fd = -1;
    int fd = 0;
    if (strcmp(path, "-") != 0) {
        /* a FIFO without a writer blocks here; a stop signal makes open() fail with EINTR */
        fd = open(path, O_RDONLY);
        if (fd < 0) { int e = errno; snprintf(err, errlen, e == EINTR ? "%s: interrupted" : "%s: %s", path, strerror(e)); errno = e; return -1; }
    }
    struct stat st;
    if (fstat(fd, &st) != 0) { int e = errno; snprintf(err, errlen, "%s: %s", path, strerror(e)); if (fd) close(fd); errno = e; return -1; }
    if (S_ISDIR(st.st_mode)) { snprintf(err, errlen, "%s: is a directory", path); if (fd) close(fd); errno = EISDIR; return -1; }
    if (S_ISREG(st.st_mode) && lseek(fd, 0, SEEK_CUR) == 0) {   /* "-" redirected from a file at its start: as a file */
        in->fd = fd; in->open = fd != 0; in->size = (uint64_t)st.st_size;
        return 0;
    }
    int rc = spool(in, fd, path, err, errlen);
    if (fd) { int e = errno; close(fd); errno = e; }
    return rc;
}

int input_rewind(input_file *in) { return lseek(in->fd, 0, SEEK_SET) == 0 ? 0 : -1; }

void input_close(input_file *in) {
    if (in->open && in->fd >= 0) close(in->fd);
    in->fd = -1; in->open = 0;
}
