/* Inputs read more than once. prep reads a capture twice (the addresses of its headers
 * first, then the tokens) and hashes it; classify and generate go through prep. A regular
 * file can be read again from the start; standard input, a FIFO or the pipe behind a
 * process substitution (`<(zcat x.pcap.gz)`, /dev/fd/63) cannot: a second open() of a FIFO
 * waits for a writer that is gone, a second read of /dev/fd/N starts where the first
 * stopped. input_open() opens a path once and hands back a descriptor that can be read
 * from the start as often as needed: the file itself when it is regular, otherwise an
 * unlinked temporary file in $TMPDIR (default /tmp) holding a copy made in one pass of the
 * input, hashed on the way. */
#ifndef PKTLM_INPUT_H
#define PKTLM_INPUT_H
#include <stdint.h>
#include <stddef.h>

typedef struct {
    int fd;             /* read from offset 0: input_rewind(), or pread() */
    int open;           /* fd is ours to close */
    int spooled;        /* 1: fd is a temporary copy of a stream */
    uint64_t size;      /* bytes (of the copy, for a stream) */
    char sha[65];       /* sha256 of a stream, computed while copying ("" for a regular file) */
} input_file;

/* "-" is standard input. 0 ok; -1 with err set ("PATH: No such file or directory", or
 * "PATH: cannot copy to a temporary file in DIR: No space left on device"). errno is EINTR
 * when a signal (Ctrl-C, SIGTERM: the handlers of cli_catch_interrupt do not restart
 * system calls) interrupted a blocked open() or read(), e.g. of a FIFO nobody writes to. */
int input_open(input_file *in, const char *path, char *err, size_t errlen);
/* Back to the first byte. 0 ok, -1 (errno). */
int input_rewind(input_file *in);
void input_close(input_file *in);   /* harmless on a closed or zeroed input */
#endif
