/* The reference point of the ingest benchmark: the smallest useful libpcap program.
 * Reads every packet with pcap_next_ex and sums caplen (and one byte of each packet, so
 * the data is really touched). Prints: packets captured_bytes seconds.
 *   cc -O2 -o pcap_loop pcap_loop.c -lpcap */
#define _GNU_SOURCE
#include <pcap/pcap.h>
#include <stdio.h>
#include <time.h>

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: pcap_loop FILE\n"); return 2; }
    char err[PCAP_ERRBUF_SIZE];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pcap_t *p = pcap_open_offline(argv[1], err);
    if (!p) { fprintf(stderr, "pcap_loop: %s\n", err); return 1; }
    struct pcap_pkthdr *h;
    const u_char *d;
    unsigned long long n = 0, bytes = 0, x = 0;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &d)) == 1) {
        n++;
        bytes += h->caplen;
        if (h->caplen) x += d[h->caplen - 1];
    }
    if (rc == PCAP_ERROR) { fprintf(stderr, "pcap_loop: %s\n", pcap_geterr(p)); return 1; }
    pcap_close(p);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%llu %llu %.6f %llu\n", n, bytes, (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec), x & 1);
    return 0;
}
