/* Builds the seed corpora for the fuzz targets from capture files (examples/ and, when
 * present, small files of ../shared/data/parser_robustness/; the seeds are never committed).
 *   mkseeds READER_DIR PACKET_DIR FILE...
 * Reader seeds: each capture cut after its first 8 packets (a valid, small capture).
 * Packet seeds: the first 16 frames of each capture, prefixed with the 2-byte link type. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "capture/capture.h"

static int copy_prefix(const char *src, const char *dst, unsigned long long n) {
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    if (!in || !out) { if (in) fclose(in); if (out) fclose(out); return -1; }
    char b[65536];
    while (n > 0) {
        size_t want = n < sizeof b ? (size_t)n : sizeof b;
        size_t got = fread(b, 1, want, in);
        if (got == 0) break;
        fwrite(b, 1, got, out);
        n -= got;
    }
    fclose(in);
    fclose(out);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: mkseeds READER_DIR PACKET_DIR FILE...\n"); return 2; }
    int nr = 0, np = 0;
    for (int i = 3; i < argc; i++) {
        cap_reader r;
        if (cap_open(&r, argv[i]) != 0) { cap_close(&r); continue; }
        cap_pkt p;
        int k = 0, rc;
        unsigned long long cut = 0;
        while ((rc = cap_next(&r, &p)) == 1) {
            if (k < 16) {
                char path[4096];
                snprintf(path, sizeof path, "%s/f%05d_%d", argv[2], np++, k);
                FILE *f = fopen(path, "wb");
                if (f) {
                    unsigned char lt[2] = { (unsigned char)(p.linktype >> 8), (unsigned char)p.linktype };
                    fwrite(lt, 1, 2, f);
                    fwrite(p.data, 1, p.caplen, f);
                    fclose(f);
                }
            }
            if (k == 8) { cut = p.offset; }
            if (++k > 16) break;
        }
        if (cut == 0) cut = r.file_size ? r.file_size : 0;   /* 8 packets or fewer: whole file */
        cap_close(&r);
        if (cut == 0 || cut > 65536) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/r%05d", argv[1], nr++);
        copy_prefix(argv[i], path, cut);
    }
    fprintf(stderr, "mkseeds: %d reader seeds, %d packet seeds\n", nr, np);
    return 0;
}
