/* The fuzz input as a file: the bytes written to a memfd (an in-memory file, so the reader's
 * real open/read path runs), path set to its /proc/self/fd name. Returns the fd (close it
 * after), or -1 when it cannot be made (the input is skipped). */
#ifndef PKTLM_FUZZ_MEMFD_H
#define PKTLM_FUZZ_MEMFD_H
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

static int fuzz_memfd(const char *name, const uint8_t *data, size_t size, char path[64]) {
    int fd = memfd_create(name, 0);
    if (fd < 0) return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, data + done, size - done);
        if (w <= 0) { close(fd); return -1; }
        done += (size_t)w;
    }
    snprintf(path, 64, "/proc/self/fd/%d", fd);
    return fd;
}
#endif
